//! Open-loop schedule, pure: the intended send time of every request.
//!
//! Requests are numbered globally `k = 0, 1, 2, ...` and request `k` is due at
//! `start + k / rate`, computed in integer nanoseconds (rate kept in micro-requests per second,
//! so there is no floating-point drift however long the run). Worker `w` of `W` owns the indices
//! `k ≡ w (mod W)`, so the workers together send exactly the target rate with no coordination.
//! Within a worker, any free connection claims the next index. Never reads the clock: callers
//! pass `now`. With a [`Profile`] (a plan's stages), request `k` is due when the integral of
//! the profile's rate reaches `k` instead.

use std::sync::Arc;

use crate::engine::profile::Profile;

/// When request `k` is due, `k` counted from the start of the run.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// A constant rate, in requests per 10^6 seconds (the rate × 10^6, rounded, at least 1).
    Constant { rate_micro: u128 },
    /// A rate that changes over time (a plan's stages): due when its integral reaches `k`;
    /// past its end no request is ever due.
    Profile(Arc<Profile>),
}

/// The schedule of one worker.
#[derive(Clone, Debug)]
pub struct Pacer {
    start_ns: u64,
    schedule: Schedule,
    stride: u64,
    next_index: u64,
}

impl Pacer {
    /// `rate_per_s` is the total rate of all `workers`; this pacer is worker `worker`'s share.
    pub fn new(start_ns: u64, rate_per_s: f64, workers: u64, worker: u64) -> Pacer {
        let rate_micro = ((rate_per_s * 1e6).round() as u128).max(1);
        Pacer::with_schedule(start_ns, Schedule::Constant { rate_micro }, workers, worker)
    }

    /// A schedule that follows `profile` (requests per second over time); past its end no
    /// request is ever due.
    pub fn with_profile(start_ns: u64, profile: Arc<Profile>, workers: u64, worker: u64) -> Pacer {
        Pacer::with_schedule(start_ns, Schedule::Profile(profile), workers, worker)
    }

    fn with_schedule(start_ns: u64, schedule: Schedule, workers: u64, worker: u64) -> Pacer {
        let workers = workers.max(1);
        Pacer { start_ns, schedule, stride: workers, next_index: worker % workers }
    }

    /// Intended send time of global request `index`, in clock nanoseconds.
    pub fn intended(&self, index: u64) -> u64 {
        match &self.schedule {
            Schedule::Profile(p) => {
                let t = p.time_of(index as f64).unwrap_or(u64::MAX - self.start_ns);
                self.start_ns.saturating_add(t)
            }
            Schedule::Constant { rate_micro } => {
                let offset = (index as u128 * 1_000_000_000_000_000u128) / rate_micro;
                self.start_ns.saturating_add(offset.min(u64::MAX as u128) as u64)
            }
        }
    }

    /// Intended time of the next request this worker will claim.
    pub fn peek(&self) -> u64 {
        self.intended(self.next_index)
    }

    /// Claims the next request: returns its intended send time.
    pub fn claim(&mut self) -> u64 {
        let t = self.peek();
        self.next_index += self.stride;
        t
    }

    /// Claims the next request only if it is already due at `now`.
    pub fn claim_due(&mut self, now: u64) -> Option<u64> {
        (self.peek() <= now).then(|| self.claim())
    }
}

/// Splits a count into shares that differ by at most one (defined with the config it divides).
pub use crate::config::share;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_is_evenly_spaced_and_exact() {
        let mut p = Pacer::new(1_000, 1000.0, 1, 0);
        let times: Vec<u64> = (0..5).map(|_| p.claim()).collect();
        assert_eq!(times, vec![1_000, 1_001_000, 2_001_000, 3_001_000, 4_001_000]);
        // a rate with no exact nanosecond period: the millionth request lands exactly on time
        let p = Pacer::new(0, 3.0, 1, 0);
        assert_eq!(p.intended(3_000_000), 1_000_000_000_000_000);
        assert_eq!(p.intended(1), 333_333_333);
    }

    #[test]
    fn workers_interleave_to_the_total_rate() {
        let mut a = Pacer::new(0, 100.0, 2, 0);
        let mut b = Pacer::new(0, 100.0, 2, 1);
        let mut all: Vec<u64> = (0..50).flat_map(|_| [a.claim(), b.claim()]).collect();
        all.sort_unstable();
        for (k, t) in all.iter().enumerate() {
            assert_eq!(*t, k as u64 * 10_000_000);
        }
    }

    #[test]
    fn claim_due_only_returns_due_requests() {
        let mut p = Pacer::new(0, 10.0, 1, 0);
        assert_eq!(p.claim_due(0), Some(0));
        assert_eq!(p.claim_due(99_999_999), None);
        assert_eq!(p.claim_due(100_000_000), Some(100_000_000));
        // a late caller gets every overdue request, one by one, with its own intended time
        assert_eq!(p.claim_due(450_000_000), Some(200_000_000));
        assert_eq!(p.claim_due(450_000_000), Some(300_000_000));
        assert_eq!(p.claim_due(450_000_000), Some(400_000_000));
        assert_eq!(p.claim_due(450_000_000), None);
    }

    #[test]
    fn a_profile_paces_a_ramp_across_workers() {
        use crate::engine::profile::Segment;
        // 100 -> 300/s over 2 s: 400 requests, shared by 2 workers
        let p = Arc::new(Profile::new(vec![Segment { dur_ns: 2_000_000_000, v0: 100.0, v1: 300.0 }]));
        let mut a = Pacer::with_profile(5, Arc::clone(&p), 2, 0);
        let mut b = Pacer::with_profile(5, p, 2, 1);
        let mut all: Vec<u64> = (0..200).flat_map(|_| [a.claim(), b.claim()]).collect();
        assert!(all.iter().all(|&t| t < 5 + 2_000_000_000), "all 400 within the ramp");
        all.sort_unstable();
        assert_eq!(all[0], 5);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        // the next claim is past the end of the profile: never due within the run
        assert!(a.claim() > 4_000_000_000);
    }

    #[test]
    fn fractional_rates_work() {
        let p = Pacer::new(0, 0.5, 1, 0);
        assert_eq!(p.intended(1), 2_000_000_000);
    }

    #[test]
    fn shares_add_up() {
        for (total, parts) in [(10, 3), (7, 7), (3, 5), (0, 2), (100_001, 4)] {
            let v: Vec<u64> = (0..parts).map(|i| share(total, parts, i)).collect();
            assert_eq!(v.iter().sum::<u64>(), total);
            assert!(v.iter().max().unwrap() - v.iter().min().unwrap() <= 1);
        }
    }
}
