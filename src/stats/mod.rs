//! Per-worker stats shards: latency histograms and counters, merged after the workers stop;
//! and the run result built from them.
//!
//! Owns: what is counted and how. A `Shard` belongs to one worker thread and is never shared
//! (no `Arc`, no atomics, no locks); recording is a few array increments and histogram adds.
//! Histograms count nanoseconds from 1 ns to 1 h at 3 significant figures; they are allocated
//! when the shard is made (a scenario's own part, `parts`, when the shard is made for its
//! scenario, else on its first record). Never reads the clock: callers pass the times.
//!
//! Files: `parts` (TLS, WebSocket and per-scenario parts of a shard), `report` (the run result
//! in memory and its derived figures), `result` (the JSON schema, serde types), `convert`
//! (result ⇄ schema), `merge` (results of several processes), `codec` (histogram encoding),
//! `text` (the text report and live line), `timeline` (per-second records, stages, monitor),
//! `hlog` (the HdrHistogram log).

mod checks;
mod codec;
mod convert;
mod errors;
pub mod hlog;
mod merge;
pub mod parts;
pub mod report;
pub mod result;
pub mod setup;
mod text;
pub mod timeline;

use hdrhistogram::Histogram;

pub use checks::{CheckCounts, Judged};
pub use errors::{Classified, ErrorClass, ProtocolReason};
pub use parts::{close_slot, close_slot_name, Arrival, AsrStats, ChatStats, DueUnsent, ScenarioStats, TlsStats, WsStats, CLOSE_SLOTS};
use result::ScenarioKind;

/// `sent = ok + errors + in flight`: what became of every request (message, session) sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accounting {
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub in_flight: u64,
}

impl Accounting {
    /// True when every request sent is answered, failed or still in flight, once.
    pub fn balanced(&self) -> bool {
        self.ok.checked_add(self.errors).and_then(|n| n.checked_add(self.in_flight)) == Some(self.sent)
    }
}

/// Highest latency a histogram holds; larger values are recorded as this.
pub const LATENCY_MAX_NS: u64 = 3_600_000_000_000;
const SIGFIG: u8 = 3;
/// Every three-digit status code has its own counter; slot 0 counts answers that carry no
/// status (WebSocket messages) and is never reported as a status.
const STATUS_SLOTS: usize = 1000;

/// A latency histogram with the crate's bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_NS, SIGFIG).expect("static histogram bounds are valid")
}

pub(crate) fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.clamp(1, LATENCY_MAX_NS));
}

/// One worker's measurements.
#[derive(Clone, Debug)]
pub struct Shard {
    /// done − intended (open loop); equal to `service` in closed loop.
    pub corrected: Histogram<u64>,
    /// done − sent.
    pub service: Histogram<u64>,
    /// sent − intended (open loop only).
    pub lateness: Histogram<u64>,
    /// Time to establish a connection.
    pub connect: Histogram<u64>,
    /// Time of the protocol's opening after connect (the WebSocket handshake).
    pub handshake: Histogram<u64>,
    /// TLS handshakes (any scenario may run over TLS).
    pub tls: TlsStats,
    /// WebSocket closes by the server.
    pub ws: WsStats,
    /// The scenario's own figures (streaming sessions, chat), or none.
    pub ext: ScenarioStats,
    pub sent: u64,
    pub responses: u64,
    /// Answers by status, failed ones included.
    pub status: Box<[u64; STATUS_SLOTS]>,
    /// Answers whose status failed the request (`status` errors by code; a part of `status`).
    pub status_failed: Box<[u64; STATUS_SLOTS]>,
    /// Checks on answers (`--expect-*`).
    pub checks: CheckCounts,
    pub errors: [u64; ErrorClass::COUNT],
    /// Protocol errors by reason (they add up to the `protocol` slot of `errors`).
    pub protocol: [u64; ProtocolReason::COUNT],
    /// Messages the server pushed that no request asked for (WebSocket), never answers.
    pub pushed: u64,
    /// The part of `errors` that were failed connects or openings (not requests).
    pub connect_errors: [u64; ErrorClass::COUNT],
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub connects_attempted: u64,
    pub connects_ok: u64,
    /// Connection attempts that failed (`attempted - ok - failed` were still pending at the end).
    pub connects_failed: u64,
    /// TLS handshakes started and failed (completed ones are `tls.handshakes`).
    pub tls_started: u64,
    pub tls_failed: u64,
    /// Protocol openings (WebSocket upgrades) started and failed (completed: `handshake`).
    pub opens_started: u64,
    pub opens_failed: u64,
    pub open_now: u64,
    pub open_peak: u64,
    pub open_samples_sum: u64,
    pub open_samples: u64,
    /// From the end of `-d` to the last connection closed (`--close-rate`), slowest worker's; 0: not measured.
    pub teardown_ns: u64,
    pub in_flight: u64,
    /// Open loop: requests that came due before any connection was free to claim them.
    pub due: DueUnsent,
    /// Requests that were sent and failed (connect failures are not requests).
    pub failed: u64,
    interval: Interval,
}

/// What happened in one interval (a second), for the live line and time series.
#[derive(Clone, Debug)]
pub struct Interval {
    pub sent: u64,
    pub responses: u64,
    pub errors: u64,
    pub open: u64,
    pub latency: Histogram<u64>,
}

impl Interval {
    fn new() -> Interval {
        Interval { sent: 0, responses: 0, errors: 0, open: 0, latency: new_histogram() }
    }

    pub fn merge(&mut self, other: &Interval) {
        self.sent += other.sent;
        self.responses += other.responses;
        self.errors += other.errors;
        self.open += other.open;
        let _ = self.latency.add(&other.latency);
    }

    pub fn p99_ns(&self) -> u64 {
        self.latency.value_at_quantile(0.99)
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::new()
    }
}

impl Shard {
    /// A shard for a run of `kind`: its scenario's part is allocated now, not on the hot path.
    pub fn for_kind(kind: Option<ScenarioKind>) -> Shard {
        Shard { ext: ScenarioStats::for_kind(kind), ..Shard::new() }
    }

    /// A plain shard (request/response figures; a scenario's part is made on its first record).
    pub fn new() -> Shard {
        Shard {
            corrected: new_histogram(),
            service: new_histogram(),
            lateness: new_histogram(),
            connect: new_histogram(),
            handshake: new_histogram(),
            tls: TlsStats::new(),
            ws: WsStats::default(),
            ext: ScenarioStats::Plain,
            sent: 0,
            responses: 0,
            status: Box::new([0; STATUS_SLOTS]),
            status_failed: Box::new([0; STATUS_SLOTS]),
            checks: CheckCounts::default(),
            errors: [0; ErrorClass::COUNT],
            protocol: [0; ProtocolReason::COUNT],
            pushed: 0,
            connect_errors: [0; ErrorClass::COUNT],
            bytes_read: 0,
            bytes_written: 0,
            connects_attempted: 0,
            connects_ok: 0,
            connects_failed: 0,
            tls_started: 0,
            tls_failed: 0,
            opens_started: 0,
            opens_failed: 0,
            open_now: 0,
            open_peak: 0,
            open_samples_sum: 0,
            open_samples: 0,
            teardown_ns: 0,
            in_flight: 0,
            due: DueUnsent::default(),
            failed: 0,
            interval: Interval::new(),
        }
    }

    /// `requests` were written (`bytes` in all): they are now in flight.
    pub fn on_sent(&mut self, requests: u64, bytes: u64) {
        self.sent += requests;
        self.in_flight += requests;
        self.bytes_written += bytes;
        self.interval.sent += requests;
    }

    /// A complete response that is a success. Times are clock nanoseconds.
    pub fn on_response(&mut self, status: u16, intended_ns: u64, sent_ns: u64, done_ns: u64) {
        self.on_answer(status, Judged::OK, intended_ns, sent_ns, done_ns);
    }

    /// A complete answer as its scenario judged it: its latency and status are recorded either
    /// way; a failed one (a status not expected, a failed check) counts as a failed request.
    #[inline]
    pub fn on_answer(&mut self, status: u16, judged: Judged<'_>, intended_ns: u64, sent_ns: u64, done_ns: u64) {
        if !judged.checks.is_empty() {
            self.checks.record(judged.checks, judged.checks_failed);
        }
        match judged.failed {
            None => {
                self.responses += 1;
                self.interval.responses += 1;
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            Some(class) => self.on_request_error(class, 1),
        }
        let slot = if (100..1000).contains(&status) { status as usize } else { 0 };
        self.status[slot] += 1;
        let corrected = done_ns.saturating_sub(intended_ns);
        record(&mut self.corrected, corrected);
        record(&mut self.service, done_ns.saturating_sub(sent_ns));
        if sent_ns > intended_ns {
            record(&mut self.lateness, sent_ns - intended_ns);
        } else {
            record(&mut self.lateness, 1);
        }
        record(&mut self.interval.latency, corrected);
    }

    pub fn on_bytes_read(&mut self, n: u64) {
        self.bytes_read += n;
    }

    /// Bytes written that are not requests (WebSocket pongs and close replies).
    pub fn on_bytes_written(&mut self, n: u64) {
        self.bytes_written += n;
    }

    /// `requests` in flight failed with `class`.
    pub fn on_request_error(&mut self, class: ErrorClass, requests: u64) {
        self.count_error(class, requests);
        self.failed += requests;
        self.in_flight = self.in_flight.saturating_sub(requests);
        self.interval.errors += requests;
    }

    /// `n` failures of `class`, and of its reason for a protocol error.
    fn count_error(&mut self, class: ErrorClass, n: u64) {
        self.errors[class.index()] += n;
        if let ErrorClass::Protocol(reason) = class {
            self.protocol[reason.index()] += n;
        }
        if let ErrorClass::Status(code) = class {
            self.status_failed[(code as usize).min(STATUS_SLOTS - 1)] += n;
        }
    }

    /// A connection attempt (TCP or Unix connect, then TLS if any) starts.
    pub fn on_connect_start(&mut self) {
        self.connects_attempted += 1;
    }

    /// A connection attempt failed (not a request).
    pub fn on_connect_error(&mut self, class: ErrorClass) {
        self.count_error(class, 1);
        self.connect_errors[class.index()] += 1;
        self.connects_failed += 1;
        self.interval.errors += 1;
    }

    /// Attempts started and neither established nor failed: still pending when the run ended.
    pub fn connects_pending(&self) -> u64 {
        self.connects_attempted.saturating_sub(self.connects_ok + self.connects_failed)
    }

    /// A TLS handshake starts (after its TCP connect).
    pub fn on_tls_start(&mut self) {
        self.tls_started += 1;
    }

    /// A TLS handshake failed (the attempt fails too: [`Shard::on_connect_error`]).
    pub fn on_tls_error(&mut self) {
        self.tls_failed += 1;
    }

    pub fn tls_pending(&self) -> u64 {
        self.tls_started.saturating_sub(self.tls.handshakes.len() + self.tls_failed)
    }

    /// A protocol opening (the WebSocket upgrade) starts; its request is `bytes` long.
    pub fn on_open_start(&mut self, bytes: u64) {
        self.opens_started += 1;
        self.bytes_written += bytes;
    }

    /// A protocol opening failed on an established connection (not a connect, not a request).
    pub fn on_open_error(&mut self, class: ErrorClass) {
        self.count_error(class, 1);
        self.connect_errors[class.index()] += 1;
        self.opens_failed += 1;
        self.interval.errors += 1;
    }

    /// A chat member's join (`--on-open`, `--on-open-expect`) failed after the upgrade
    /// succeeded: a connect error of `class` (the opening itself is counted as done).
    pub fn on_join_error(&mut self, class: ErrorClass) {
        self.count_error(class, 1);
        self.connect_errors[class.index()] += 1;
        self.interval.errors += 1;
    }

    pub fn opens_pending(&self) -> u64 {
        self.opens_started.saturating_sub(self.handshake.len() + self.opens_failed)
    }

    /// The server pushed a message no request asked for (WebSocket).
    pub fn on_pushed(&mut self) {
        self.pushed += 1;
    }

    /// A connection was established after `latency_ns`.
    pub fn on_connect(&mut self, latency_ns: u64) {
        self.connects_ok += 1;
        self.open_now += 1;
        self.open_peak = self.open_peak.max(self.open_now);
        record(&mut self.connect, latency_ns);
    }

    /// A TLS handshake completed after `latency_ns`; `resumed`: without a full handshake.
    pub fn on_tls(&mut self, latency_ns: u64, resumed: bool) {
        record(&mut self.tls.handshakes, latency_ns);
        self.tls.resumed += resumed as u64;
    }

    /// The protocol's opening completed after `latency_ns`.
    pub fn on_handshake(&mut self, latency_ns: u64) {
        record(&mut self.handshake, latency_ns);
    }

    /// A streaming frame went out `lag_ns` after its deadline.
    pub fn on_frame(&mut self, lag_ns: u64) {
        record(&mut self.ext.asr_mut().frame_lag, lag_ns);
    }

    /// A streaming session's first partial came `ns` after its first audio byte.
    pub fn on_first_partial(&mut self, ns: u64) {
        record(&mut self.ext.asr_mut().first_partial, ns);
    }

    /// A streaming session completed: `partials` received, `elapsed_ns` from the first audio byte to the final, for `audio_ns` of audio.
    pub fn on_session(&mut self, partials: u64, elapsed_ns: u64, audio_ns: u64) {
        self.ext.asr_mut().on_session(partials, elapsed_ns, audio_ns);
    }

    /// Streaming: a completed session's segments (mid-stream completed results).
    pub fn on_segments(&mut self, n: u64) {
        self.ext.asr_mut().segments += n;
    }

    /// Streaming: a segment arrived `ns` after the due time of its last audio.
    pub fn on_segment_latency(&mut self, ns: u64) {
        record(&mut self.ext.asr_mut().segment_latency, ns);
    }

    /// Chat: a message went out to a room (`bytes` on the wire); no answer is expected.
    pub fn on_broadcast(&mut self, bytes: u64) {
        self.ext.chat_mut().broadcasts += 1;
        self.bytes_written += bytes;
        self.interval.sent += 1;
    }

    /// Chat: a marked message went out to a room whose other live members number `expected`.
    pub fn on_marked_broadcast(&mut self, bytes: u64, expected: u64) {
        self.on_broadcast(bytes);
        let chat = self.ext.chat_mut();
        chat.marked = true;
        chat.expected += expected;
    }

    /// Chat: a room message arrived, `latency_ns` after its sender meant to send it.
    pub fn on_delivery(&mut self, latency_ns: u64) {
        self.on_arrival(Arrival::Other { corrected_ns: latency_ns, service_ns: latency_ns, late: false });
    }

    /// Chat: a frame arrived at a member (see [`Arrival`]).
    pub fn on_arrival(&mut self, a: Arrival) {
        let chat = self.ext.chat_mut();
        match a {
            Arrival::Other { corrected_ns, service_ns, late } => {
                chat.deliveries += 1;
                if late {
                    chat.late += 1;
                } else {
                    chat.delivered += 1;
                }
                record(&mut chat.delivery, corrected_ns);
                record(&mut chat.delivery_service, service_ns);
                self.interval.responses += 1;
                record(&mut self.interval.latency, corrected_ns);
            }
            Arrival::Duplicate => {
                chat.deliveries += 1;
                chat.duplicated += 1;
            }
            Arrival::ToSelf => {
                chat.deliveries += 1;
                chat.self_deliveries += 1;
            }
            Arrival::BeforeJoin => {
                chat.deliveries += 1;
                chat.before_join += 1;
            }
            Arrival::Unmarked => chat.unmarked += 1,
        }
    }

    /// A failure outside any request or connect (a chat connection's malformed frame).
    pub fn on_error(&mut self, class: ErrorClass) {
        self.count_error(class, 1);
        self.interval.errors += 1;
    }

    /// The server sent a WebSocket close frame.
    pub fn on_close_code(&mut self, code: Option<u16>) {
        self.ws.close_codes[close_slot(code)] += 1;
    }

    pub fn on_close(&mut self) {
        self.open_now = self.open_now.saturating_sub(1);
    }

    /// Called periodically (every 100 ms) by the worker: feeds the mean of open connections.
    pub fn sample_open(&mut self) {
        self.open_samples_sum += self.open_now;
        self.open_samples += 1;
    }

    /// The interval since the last call; starts a new one.
    pub fn take_interval(&mut self) -> Interval {
        self.interval.open = self.open_now;
        let out = self.interval.clone();
        self.interval.sent = 0;
        self.interval.responses = 0;
        self.interval.errors = 0;
        self.interval.latency.reset();
        out
    }

    /// Ends a stage: returns the shard for the next stage, which carries on what is still
    /// open (connections, requests in flight, the current second). This shard keeps its
    /// `in_flight` as "in flight at the end of the stage", so its accounting still balances.
    pub fn split_stage(&mut self) -> Shard {
        let mut next = Shard { ext: self.ext.empty_like(), ..Shard::new() };
        next.open_now = self.open_now;
        next.open_peak = self.open_now;
        next.in_flight = self.in_flight;
        std::mem::swap(&mut next.interval, &mut self.interval);
        next
    }

    /// Appends the shard of a later stage of the same worker (see [`Shard::split_stage`]):
    /// events add; what is open is the later shard's; the peak is the larger.
    pub fn append(&mut self, later: &Shard) {
        let (open_now, in_flight) = (later.open_now, later.in_flight);
        let peak = self.open_peak.max(later.open_peak);
        let (samples, sum) = (self.open_samples + later.open_samples, self.open_samples_sum + later.open_samples_sum);
        self.merge(later);
        self.open_now = open_now;
        self.in_flight = in_flight;
        self.open_peak = peak;
        self.open_samples = samples;
        self.open_samples_sum = sum;
    }

    /// Adds another shard. Histograms and counters add exactly. Workers sample open connections
    /// at the same seconds, so their sample sums add and the sample count is the largest one;
    /// peaks are summed (an upper bound of the true simultaneous peak).
    pub fn merge(&mut self, o: &Shard) {
        let _ = self.corrected.add(&o.corrected);
        let _ = self.service.add(&o.service);
        let _ = self.lateness.add(&o.lateness);
        let _ = self.connect.add(&o.connect);
        let _ = self.handshake.add(&o.handshake);
        self.tls.merge(&o.tls);
        self.ws.merge(&o.ws);
        self.ext.merge(&o.ext);
        self.sent += o.sent;
        self.responses += o.responses;
        for (a, b) in self.status.iter_mut().zip(o.status.iter()) {
            *a += b;
        }
        for (a, b) in self.status_failed.iter_mut().zip(o.status_failed.iter()) {
            *a += b;
        }
        self.checks.merge(&o.checks);
        for (a, b) in self.errors.iter_mut().zip(o.errors.iter()) {
            *a += b;
        }
        for (a, b) in self.protocol.iter_mut().zip(o.protocol.iter()) {
            *a += b;
        }
        self.pushed += o.pushed;
        self.connects_failed += o.connects_failed;
        self.tls_started += o.tls_started;
        self.tls_failed += o.tls_failed;
        self.opens_started += o.opens_started;
        self.opens_failed += o.opens_failed;
        for (a, b) in self.connect_errors.iter_mut().zip(o.connect_errors.iter()) {
            *a += b;
        }
        self.bytes_read += o.bytes_read;
        self.bytes_written += o.bytes_written;
        self.connects_attempted += o.connects_attempted;
        self.connects_ok += o.connects_ok;
        self.open_now += o.open_now;
        self.open_peak += o.open_peak;
        self.open_samples_sum += o.open_samples_sum;
        self.open_samples = self.open_samples.max(o.open_samples);
        self.teardown_ns = self.teardown_ns.max(o.teardown_ns);
        self.in_flight += o.in_flight;
        self.due.merge(&o.due);
        self.failed += o.failed;
    }

    /// The streaming part, when this shard recorded sessions.
    pub fn asr(&self) -> Option<&AsrStats> {
        match &self.ext {
            ScenarioStats::Asr(a) => Some(a),
            ScenarioStats::Plain | ScenarioStats::Chat(_) => None,
        }
    }

    /// The chat part, when this shard recorded chat messages.
    pub fn chat(&self) -> Option<&ChatStats> {
        match &self.ext {
            ScenarioStats::Chat(c) => Some(c),
            ScenarioStats::Plain | ScenarioStats::Asr(_) => None,
        }
    }

    /// Chat messages sent (0 outside chat).
    pub fn broadcasts(&self) -> u64 {
        self.chat().map_or(0, |c| c.broadcasts)
    }

    /// What a chat run got back: its deliveries, or, when its messages carry no mark, the
    /// frames it received (0 outside chat).
    pub fn chat_answers(&self) -> u64 {
        self.chat().map_or(0, |c| if c.marked { c.deliveries } else { c.deliveries + c.unmarked })
    }

    /// Chat messages delivered (0 outside chat).
    pub fn deliveries(&self) -> u64 {
        self.chat().map_or(0, |c| c.deliveries)
    }

    pub fn errors_of(&self, class: ErrorClass) -> u64 {
        self.errors[class.index()]
    }

    /// (reason, count) for every protocol-error reason seen.
    pub fn protocol_reasons(&self) -> impl Iterator<Item = (ProtocolReason, u64)> + '_ {
        ProtocolReason::ALL.into_iter().map(|r| (r, self.protocol[r.index()])).filter(|(_, n)| *n > 0)
    }

    /// Failed connects and openings of this class (a part of [`Shard::errors_of`]).
    pub fn connect_errors_of(&self, class: ErrorClass) -> u64 {
        self.connect_errors[class.index()]
    }

    /// Every request accounted for: sent, answered, failed, still in flight.
    pub fn accounting(&self) -> Accounting {
        Accounting { sent: self.sent, ok: self.responses, errors: self.failed, in_flight: self.in_flight }
    }

    /// Responses + failed requests.
    pub fn requests_total(&self) -> u64 {
        self.responses + self.failed
    }

    /// Count of responses with this status.
    pub fn status_count(&self, status: u16) -> u64 {
        self.status.get(status as usize).copied().unwrap_or(0)
    }

    /// (status, count) for every status that failed its request (`status` errors by code).
    pub fn failed_statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.status_failed.iter().enumerate().skip(1).filter(|(_, n)| **n > 0).map(|(s, n)| (s as u16, *n))
    }

    /// Answers, failed ones included (a status not expected, a failed check): the base of a
    /// status share. (From the counters, not the status slots: answers without a status, as
    /// WebSocket messages, are not in a result's `status`.)
    pub fn answers(&self) -> u64 {
        self.responses + self.errors_of(ErrorClass::Status(0)) + self.errors_of(ErrorClass::Check) + self.errors_of(ErrorClass::Throttled)
    }

    /// (status, count) for every HTTP status seen (answers without a status are left out).
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.status.iter().enumerate().skip(1).filter(|(_, n)| **n > 0).map(|(s, n)| (s as u16, *n))
    }

    pub fn mean_open(&self) -> f64 {
        if self.open_samples == 0 {
            return 0.0;
        }
        self.open_samples_sum as f64 / self.open_samples as f64
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
