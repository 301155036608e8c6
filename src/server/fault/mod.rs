//! Fault modes of the embedded server: a target that fails on purpose, so that a load
//! generator can be checked against it (does it classify, time out, stay bounded, keep count?).
//!
//! Owns: the fault kinds, the `--fault KIND[:RATE]` parser and which requests (connections,
//! messages) meet a fault; `answer` is what the server writes when one does. `server::http` and
//! `server::ws` only ask `Picker` and hand the stream over; they know no fault by name.
//!
//! Three scopes, each with its own rates: listener faults act per accepted connection
//! (`accept-close`, `no-accept`), HTTP faults per request (every plain request, never a WebSocket
//! upgrade), WebSocket faults per echoed message on `/ws/echo`. A rate is an exact fraction,
//! spread evenly and deterministically (10 % = every 10th request of a server thread), so tests
//! can count. The route `/fault/KIND` meets its fault on every request, whatever `--fault` says.
//!
//! Must never: panic on any input, buffer without bound (large answers are static slices or
//! streamed), or keep a connection after the client closed it.

use std::cell::Cell;
use std::time::Duration;

mod answer;

pub(crate) use answer::{http, ws_answer, ws_stream, After, WsAnswer};

/// Faults of the listener, per accepted connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnFault {
    /// Accept, then close at once.
    AcceptClose,
    /// Never accept: the kernel's accept queue fills, then connects time out.
    NoAccept,
}

/// Faults of one HTTP answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpFault {
    /// Part of a response, then RST (`SO_LINGER 0` and close).
    Reset,
    /// The head, then nothing; the connection stays open.
    Stall,
    /// The body one byte at a time, [`DRIP_DELAY`] apart.
    Drip,
    /// A malformed status line.
    BadStatus,
    /// A head of [`HUGE_HEAD`] bytes of headers.
    HugeHead,
    /// An invalid chunk size.
    BadChunk,
    /// Content-Length longer than the body, then close.
    ShortBody,
    /// Random bytes instead of a response.
    Garbage,
}

/// Faults of one WebSocket echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsFault {
    /// A frame with a reserved opcode (0x3).
    BadOpcode,
    /// A masked frame (servers must not mask, RFC 6455 §5.1).
    Masked,
    /// A frame of [`OVERSIZED`] bytes, larger than any client's limit.
    Oversized,
    /// A close frame without a status code.
    CloseNoStatus,
    /// [`PING_FLOOD`] pings before the echo.
    PingFlood,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Conn(ConnFault),
    Http(HttpFault),
    Ws(WsFault),
}

/// Every kind by its `--fault` name.
pub const KINDS: [(&str, Fault); 15] = [
    ("reset", Fault::Http(HttpFault::Reset)),
    ("stall", Fault::Http(HttpFault::Stall)),
    ("drip", Fault::Http(HttpFault::Drip)),
    ("bad-status", Fault::Http(HttpFault::BadStatus)),
    ("huge-head", Fault::Http(HttpFault::HugeHead)),
    ("bad-chunk", Fault::Http(HttpFault::BadChunk)),
    ("short-body", Fault::Http(HttpFault::ShortBody)),
    ("garbage", Fault::Http(HttpFault::Garbage)),
    ("accept-close", Fault::Conn(ConnFault::AcceptClose)),
    ("no-accept", Fault::Conn(ConnFault::NoAccept)),
    ("ws-bad-opcode", Fault::Ws(WsFault::BadOpcode)),
    ("ws-masked", Fault::Ws(WsFault::Masked)),
    ("ws-oversized", Fault::Ws(WsFault::Oversized)),
    ("ws-close-no-status", Fault::Ws(WsFault::CloseNoStatus)),
    ("ws-ping-flood", Fault::Ws(WsFault::PingFlood)),
];

/// `serve --help` for `--fault`; a test checks that it names every kind.
pub const HELP: &str = "Misbehave on purpose, to test a load generator against a failing server. Repeatable. \
RATE is a fraction (0.1) or a percentage (10%) of requests, connections or messages, spread evenly \
(10% = every 10th per server thread); default 1 (every one). The route /fault/KIND always misbehaves; \
other routes stay healthy unless a --fault applies.

HTTP (per plain request, not WebSocket upgrades):
  reset               part of a response, then RST (SO_LINGER 0, close; on --unix: a plain close)
  stall               the response head, then nothing; the connection stays open
  drip                the body (20 bytes) one byte every 10 ms
  bad-status          a malformed status line
  huge-head           a 64 KiB response head (16 headers of 4 KiB)
  bad-chunk           a chunked body with an invalid chunk size
  short-body          Content-Length: 100 but 10 bytes, then close
  garbage             64 KiB of random bytes instead of a response
Listener (per connection):
  accept-close        accept, then close at once
  no-accept           never accept (no rate): past --backlog, connects time out
WebSocket (per echoed message on /ws/echo):
  ws-bad-opcode       a frame with a reserved opcode
  ws-masked           a masked frame from the server
  ws-oversized        a 64 MiB frame, larger than any client's limit
  ws-close-no-status  a close frame without a status code
  ws-ping-flood       64 pings before each echo

Examples: --fault reset:10% --fault drip:0.05;  --fault no-accept --backlog 1";

/// Body bytes of a `drip` answer, and the pause before each.
pub const DRIP_BYTES: usize = 20;
pub const DRIP_DELAY: Duration = Duration::from_millis(10);
/// Size of a `huge-head` head: [`HUGE_HEADERS`] headers of [`HUGE_VALUE`] bytes.
pub const HUGE_HEADERS: usize = 16;
pub const HUGE_VALUE: usize = 4096;
pub const HUGE_HEAD: usize = HUGE_HEADERS * HUGE_VALUE;
/// Random bytes of a `garbage` answer.
pub const GARBAGE: usize = 64 * 1024;
/// Declared (and streamed) payload of a `ws-oversized` frame.
pub const OVERSIZED: u64 = 64 << 20;
/// Pings before each echo with `ws-ping-flood`.
pub const PING_FLOOD: usize = 64;

/// Parts per million: rates are exact integers.
const PPM: u64 = 1_000_000;

impl Fault {
    pub fn name(self) -> &'static str {
        KINDS.iter().find(|(_, f)| *f == self).map_or("?", |(n, _)| n)
    }

    pub fn from_name(s: &str) -> Option<Fault> {
        KINDS.iter().find(|(n, _)| *n == s).map(|(_, f)| *f)
    }

    fn scope(self) -> &'static str {
        match self {
            Fault::Conn(_) => "listener",
            Fault::Http(_) => "HTTP",
            Fault::Ws(_) => "WebSocket",
        }
    }
}

/// One `--fault`: a kind and the fraction (in parts per million) it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultSpec {
    pub fault: Fault,
    pub rate_ppm: u64,
}

/// The validated `--fault` flags of a server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    pub specs: Vec<FaultSpec>,
}

/// Parses one `KIND[:RATE]`.
pub fn parse_fault(spec: &str) -> Result<FaultSpec, String> {
    let (name, rate) = match spec.split_once(':') {
        Some((n, r)) => (n.trim(), Some(r.trim())),
        None => (spec.trim(), None),
    };
    let fault = Fault::from_name(name).ok_or_else(|| {
        let kinds: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
        format!("'{spec}': unknown fault kind '{name}' (kinds: {})", kinds.join(", "))
    })?;
    let rate_ppm = match rate {
        None => PPM,
        Some(r) => parse_rate(r).map_err(|e| format!("'{spec}': {e}"))?,
    };
    if fault == Fault::Conn(ConnFault::NoAccept) && rate_ppm != PPM {
        return Err(format!("'{spec}': no-accept stops the listener and takes no rate"));
    }
    Ok(FaultSpec { fault, rate_ppm })
}

/// A fraction `0..=1` or a percentage `0%..=100%`, in parts per million.
fn parse_rate(r: &str) -> Result<u64, String> {
    let (num, scale) = match r.strip_suffix('%') {
        Some(p) => (p.trim(), 100.0),
        None => (r, 1.0),
    };
    let hint = "write a fraction 0..1 (0.1) or a percentage (10%)";
    if num.is_empty() {
        return Err(format!("the rate is empty: {hint}"));
    }
    let v: f64 = num.parse().map_err(|_| format!("rate '{r}' is not a number: {hint}"))?;
    let frac = v / scale;
    if !frac.is_finite() || !(0.0..=1.0).contains(&frac) {
        return Err(format!("rate '{r}' is outside 0..1: {hint}"));
    }
    Ok((frac * PPM as f64).round() as u64)
}

impl FaultPlan {
    /// Validates every `--fault`: known kinds, rates in range, each kind once, and at most 100 %
    /// in each scope (one request meets one fault).
    pub fn parse(specs: &[String]) -> Result<FaultPlan, String> {
        let mut plan = FaultPlan::default();
        for s in specs {
            let spec = parse_fault(s)?;
            if plan.specs.iter().any(|p| p.fault == spec.fault) {
                return Err(format!("'{s}': {} is given twice", spec.fault.name()));
            }
            let scope_sum: u64 =
                plan.specs.iter().filter(|p| p.fault.scope() == spec.fault.scope()).map(|p| p.rate_ppm).sum::<u64>() + spec.rate_ppm;
            if scope_sum > PPM {
                return Err(format!(
                    "'{s}': the {} faults' rates add up to {:.1}%, over 100% (one request meets at most one fault)",
                    spec.fault.scope(),
                    scope_sum as f64 / 1e4
                ));
            }
            plan.specs.push(spec);
        }
        Ok(plan)
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// True when the listener must never accept.
    pub fn no_accept(&self) -> bool {
        self.specs.iter().any(|s| s.fault == Fault::Conn(ConnFault::NoAccept))
    }

    /// `reset:10%, stall` for banners.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .specs
            .iter()
            .map(
                |s| if s.rate_ppm == PPM { s.fault.name().to_string() } else { format!("{}:{}%", s.fault.name(), s.rate_ppm as f64 / 1e4) },
            )
            .collect();
        parts.join(", ")
    }
}

/// Exact fractions, evenly spread: smooth weighted round robin over the faults and "healthy"
/// (the rest of 100 %). Every draw adds each entry's rate to its credit and takes the entry
/// with the most credit (healthy on ties), which pays 100 %. After n draws each fault has been
/// taken n × rate times, to within one.
struct Lottery<T> {
    /// Healthy first (`None`), then the faults.
    entries: Vec<(Option<T>, i64, Cell<i64>)>,
}

impl<T: Copy> Lottery<T> {
    fn new(faults: impl Iterator<Item = (T, u64)>) -> Lottery<T> {
        let mut entries: Vec<(Option<T>, i64, Cell<i64>)> = faults.map(|(t, r)| (Some(t), r as i64, Cell::new(0))).collect();
        let healthy = PPM as i64 - entries.iter().map(|e| e.1).sum::<i64>();
        entries.insert(0, (None, healthy, Cell::new(0)));
        Lottery { entries }
    }

    fn draw(&self) -> Option<T> {
        if self.entries.len() == 1 {
            return None; // no fault in this scope
        }
        let mut best = 0;
        for (i, (_, rate, credit)) in self.entries.iter().enumerate() {
            credit.set(credit.get() + rate);
            if credit.get() > self.entries[best].2.get() {
                best = i;
            }
        }
        let (t, _, credit) = &self.entries[best];
        credit.set(credit.get() - PPM as i64);
        *t
    }
}

/// One server thread's draws (single thread: plain cells, no atomics).
pub(crate) struct Picker {
    conn: Lottery<ConnFault>,
    http: Lottery<HttpFault>,
    ws: Lottery<WsFault>,
}

impl Picker {
    pub fn new(plan: &FaultPlan) -> Picker {
        fn lottery<T: Copy>(plan: &FaultPlan, of: fn(Fault) -> Option<T>) -> Lottery<T> {
            Lottery::new(plan.specs.iter().filter_map(|s| of(s.fault).map(|k| (k, s.rate_ppm))))
        }
        Picker {
            conn: lottery(plan, |f| match f {
                Fault::Conn(ConnFault::AcceptClose) => Some(ConnFault::AcceptClose),
                Fault::Conn(ConnFault::NoAccept) | Fault::Http(_) | Fault::Ws(_) => None,
            }),
            http: lottery(plan, |f| match f {
                Fault::Http(k) => Some(k),
                Fault::Conn(_) | Fault::Ws(_) => None,
            }),
            ws: lottery(plan, |f| match f {
                Fault::Ws(k) => Some(k),
                Fault::Conn(_) | Fault::Http(_) => None,
            }),
        }
    }

    /// A connection was accepted: true when it must be closed at once.
    pub fn close_at_accept(&self) -> bool {
        self.conn.draw().is_some()
    }

    /// The fault a request meets: its route's (`/fault/KIND`), else one drawn at the `--fault`
    /// rates for plain requests (WebSocket faults are drawn per message, not per upgrade).
    /// `target` is the request target as sent (path and query).
    pub fn for_request(&self, target: &[u8], upgrade: bool) -> Option<Fault> {
        if let Some(rest) = target.strip_prefix(b"/fault/") {
            let name = rest.split(|b| *b == b'?').next().unwrap_or(b"");
            return std::str::from_utf8(name).ok().and_then(Fault::from_name);
        }
        if upgrade {
            return None;
        }
        self.http.draw().map(Fault::Http)
    }

    /// The fault an echoed message meets (`fixed`: the route's).
    pub fn for_message(&self, fixed: Option<WsFault>) -> Option<WsFault> {
        fixed.or_else(|| self.ws.draw())
    }
}

#[cfg(test)]
mod tests;
