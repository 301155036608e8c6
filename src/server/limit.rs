//! The whole-server limits of a throttled daemon: `--max-concurrent N` (requests in progress)
//! and `--max-rate N/PERIOD` (a sliding window), shared by every worker thread, and the counts
//! `serve` prints when it stops.
//!
//! Exactness: both limits are exact for the whole server (all workers, TCP and Unix socket),
//! at the instant the server decides on a request (right after parsing it, by the server's
//! monotonic clock):
//! - concurrent: one atomic counter; a request is refused exactly when `N` admitted requests
//!   have not been answered yet (an answer counts as done once its bytes are written; a
//!   `/delay/MS` request stays in progress through its delay, a large body through its write);
//! - rate: a ring of the last `N` admission times under a mutex (one short lock per request,
//!   only when the limit is set); a request is admitted exactly when fewer than `N` requests
//!   were admitted in the `PERIOD` before it. Refused requests do not enter the window (the
//!   limit is on served requests), so a client over the limit keeps being served at `N/PERIOD`.
//!
//! Checked in that order: a request refused for concurrency never reaches the rate window.
//! These limits are per process: `serve --processes` refuses them (config). Pure except for
//! the atomics; time is a parameter.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Largest `N` of `--max-rate N/PERIOD` (the window keeps one timestamp per request).
pub const MAX_RATE_COUNT: u64 = 1_000_000;

/// `--max-rate N/PERIOD`: at most `count` requests in any `period_ns` window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u64,
    pub period_ns: u64,
}

impl RateLimit {
    /// `2000/min`, `333/10s`, `50/s`, `100/2m`, `1/h`. A period without a number is one unit.
    pub fn parse(s: &str) -> Result<RateLimit, String> {
        let hint = "write N/PERIOD, e.g. 2000/min, 333/10s or 50/s";
        let (n, p) = s.split_once('/').ok_or_else(|| format!("'{s}': {hint}"))?;
        let count = crate::units::parse_count(n.trim()).map_err(|_| format!("'{s}': '{n}' is not a count; {hint}"))?;
        if count == 0 || count > MAX_RATE_COUNT {
            return Err(format!("'{s}': N must be from 1 to {MAX_RATE_COUNT}"));
        }
        let p = p.trim();
        let p = match p {
            "min" => "1m",
            "sec" | "s" => "1s",
            "h" | "hour" => "1h",
            "m" => "1m",
            other => other,
        };
        let p = p.strip_suffix("min").map_or_else(|| p.to_string(), |n| format!("{n}m"));
        let period = crate::units::parse_duration(&p).map_err(|_| format!("'{s}': the period is not a duration; {hint}"))?;
        if period.as_millis() < 1 || period.as_secs() > 86_400 {
            return Err(format!("'{s}': the period must be from 1ms to 24h"));
        }
        Ok(RateLimit { count, period_ns: period.as_nanos() as u64 })
    }

    /// "2000/60s" for messages and the summary.
    pub fn describe(&self) -> String {
        format!("{}/{:?}", self.count, std::time::Duration::from_nanos(self.period_ns))
    }
}

/// The limits of `serve`, validated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests in progress at once, whole server.
    pub max_concurrent: Option<u64>,
    /// The status answered over `max_concurrent` (429 or 503).
    pub over_limit_status: OverLimit,
    /// Requests admitted per sliding window, whole server.
    pub max_rate: Option<RateLimit>,
}

/// What `--max-concurrent` answers beyond its limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OverLimit {
    #[default]
    TooMany,
    Unavailable,
}

impl OverLimit {
    pub fn parse(s: &str) -> Result<OverLimit, String> {
        match s.trim() {
            "429" => Ok(OverLimit::TooMany),
            "503" => Ok(OverLimit::Unavailable),
            other => Err(format!("'{other}': give 429 or 503")),
        }
    }

    pub fn status(self) -> u16 {
        match self {
            OverLimit::TooMany => 429,
            OverLimit::Unavailable => 503,
        }
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Concurrent,
    Rate,
}

/// The limits' state, shared by the workers.
pub struct Limiter {
    pub limits: Limits,
    in_progress: AtomicU64,
    window: Option<Mutex<Window>>,
    /// Totals, added by each worker when it stops.
    pub served: AtomicU64,
    pub refused_concurrent: AtomicU64,
    pub refused_rate: AtomicU64,
    pub peak_in_progress: AtomicU64,
}

impl Limiter {
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            in_progress: AtomicU64::new(0),
            window: limits.max_rate.map(|r| Mutex::new(Window::new(r))),
            served: AtomicU64::new(0),
            refused_concurrent: AtomicU64::new(0),
            refused_rate: AtomicU64::new(0),
            peak_in_progress: AtomicU64::new(0),
        }
    }

    /// True when either limit is set (otherwise nothing per request is shared).
    pub fn active(&self) -> bool {
        self.limits.max_concurrent.is_some() || self.limits.max_rate.is_some()
    }

    /// Decides on one request at `now_ns`. `Ok(permit)`: admitted, and in progress until the
    /// permit is released ([`Limiter::release`]) — `permit` is 1 when concurrency is counted.
    pub fn admit(&self, now_ns: u64) -> Result<u64, Refusal> {
        let mut permit = 0;
        if let Some(max) = self.limits.max_concurrent {
            let before = self.in_progress.fetch_add(1, Ordering::AcqRel);
            if before >= max {
                self.in_progress.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::Concurrent);
            }
            self.peak_in_progress.fetch_max(before + 1, Ordering::Relaxed);
            permit = 1;
        }
        if let Some(w) = &self.window {
            let admitted = w.lock().map(|mut w| w.admit(now_ns)).unwrap_or(true);
            if !admitted {
                self.release(permit);
                return Err(Refusal::Rate);
            }
        }
        Ok(permit)
    }

    /// Ends `n` requests in progress.
    pub fn release(&self, n: u64) {
        if n > 0 {
            self.in_progress.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// The totals so far (complete once the workers stopped).
    pub fn counts(&self) -> ServeCounts {
        ServeCounts {
            served: self.served.load(Ordering::Relaxed),
            refused_concurrent: self.refused_concurrent.load(Ordering::Relaxed),
            refused_rate: self.refused_rate.load(Ordering::Relaxed),
            peak_in_progress: self.peak_in_progress.load(Ordering::Relaxed),
        }
    }
}

/// What the server answered, for `serve`'s summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeCounts {
    /// Requests answered normally (admitted by the limits).
    pub served: u64,
    /// Refused over `--max-concurrent` (429 or 503).
    pub refused_concurrent: u64,
    /// Refused over `--max-rate` (429).
    pub refused_rate: u64,
    /// Most requests in progress at once (counted only with `--max-concurrent`).
    pub peak_in_progress: u64,
}

/// One worker's counts, added to the shared totals when it stops (nothing shared per request).
#[derive(Default)]
pub struct WorkerCounts {
    pub served: Cell<u64>,
    pub refused_concurrent: Cell<u64>,
    pub refused_rate: Cell<u64>,
}

impl WorkerCounts {
    pub fn count(&self, outcome: Result<u64, Refusal>) {
        let c = match outcome {
            Ok(_) => &self.served,
            Err(Refusal::Concurrent) => &self.refused_concurrent,
            Err(Refusal::Rate) => &self.refused_rate,
        };
        c.set(c.get() + 1);
    }

    pub fn add_to(&self, l: &Limiter) {
        l.served.fetch_add(self.served.get(), Ordering::Relaxed);
        l.refused_concurrent.fetch_add(self.refused_concurrent.get(), Ordering::Relaxed);
        l.refused_rate.fetch_add(self.refused_rate.get(), Ordering::Relaxed);
    }
}

/// The sliding window: the admission times of the last `count` admitted requests, a ring.
pub struct Window {
    period_ns: u64,
    times: Vec<u64>,
    /// Where the oldest of a full ring is (the next to overwrite).
    head: usize,
    cap: usize,
}

impl Window {
    pub fn new(r: RateLimit) -> Window {
        Window { period_ns: r.period_ns, times: Vec::with_capacity(r.count.min(4096) as usize), head: 0, cap: r.count as usize }
    }

    /// Admits a request at `now_ns` when fewer than `count` were admitted in `(now - period, now]`.
    pub fn admit(&mut self, now_ns: u64) -> bool {
        if self.times.len() < self.cap {
            self.times.push(now_ns);
            return true;
        }
        let oldest = self.times[self.head];
        if now_ns.saturating_sub(oldest) < self.period_ns {
            return false;
        }
        self.times[self.head] = now_ns;
        self.head = (self.head + 1) % self.cap;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn rate_limits_parse() {
        assert_eq!(RateLimit::parse("2000/min"), Ok(RateLimit { count: 2000, period_ns: 60 * S }));
        assert_eq!(RateLimit::parse("333/10s"), Ok(RateLimit { count: 333, period_ns: 10 * S }));
        assert_eq!(RateLimit::parse("50/s"), Ok(RateLimit { count: 50, period_ns: S }));
        assert_eq!(RateLimit::parse("100/2min"), Ok(RateLimit { count: 100, period_ns: 120 * S }));
        assert_eq!(RateLimit::parse("3k/500ms"), Ok(RateLimit { count: 3000, period_ns: S / 2 }));
        for bad in ["2000", "0/min", "x/min", "10/", "10/0s", "10/banana", "2000000/min"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_window_slides() {
        let mut w = Window::new(RateLimit { count: 3, period_ns: 10 * S });
        // three in the first second, the fourth refused until the first leaves the window
        assert!(w.admit(0) && w.admit(S / 2) && w.admit(S));
        assert!(!w.admit(2 * S));
        assert!(!w.admit(10 * S - 1));
        assert!(w.admit(10 * S), "the request at 0 left the window");
        assert!(!w.admit(10 * S), "the one at 0.5 s has not");
        assert!(w.admit(10 * S + S / 2) && w.admit(11 * S));
        assert!(!w.admit(11 * S + 1));
        // over a long steady stream, any 10 s window holds at most 3
        let mut w = Window::new(RateLimit { count: 3, period_ns: 10 * S });
        let admitted: Vec<u64> = (0..1000u64).map(|i| i * S / 10).filter(|&t| w.admit(t)).collect();
        assert_eq!(admitted.len(), 30, "100 s at 3 per 10 s");
        assert!(admitted.windows(4).all(|q| q[3] - q[0] >= 10 * S));
    }

    #[test]
    fn concurrency_is_counted_and_released() {
        let l = Limiter::new(Limits { max_concurrent: Some(2), ..Default::default() });
        assert_eq!(l.admit(0), Ok(1));
        assert_eq!(l.admit(0), Ok(1));
        assert_eq!(l.admit(0), Err(Refusal::Concurrent));
        l.release(1);
        assert_eq!(l.admit(0), Ok(1));
        assert_eq!(l.peak_in_progress.load(Ordering::Relaxed), 2);
        // a request refused for its rate gives its concurrency back
        let l =
            Limiter::new(Limits { max_concurrent: Some(5), max_rate: Some(RateLimit { count: 1, period_ns: S }), ..Default::default() });
        assert_eq!(l.admit(0), Ok(1));
        assert_eq!(l.admit(1), Err(Refusal::Rate));
        assert_eq!(l.in_progress.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn over_limit_statuses() {
        assert_eq!(OverLimit::parse("503").map(OverLimit::status), Ok(503));
        assert_eq!(OverLimit::parse("429").map(OverLimit::status), Ok(429));
        assert!(OverLimit::parse("500").is_err());
    }
}
