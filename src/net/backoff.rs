//! Reconnect backoff: exponential with jitter, so a refused or dead target never makes
//! stampede spin. Pure: the caller sleeps for the returned duration.

use std::time::Duration;

/// First delay after a failure.
pub const BASE: Duration = Duration::from_millis(50);
/// Largest delay between two attempts of one connection.
pub const CAP: Duration = Duration::from_secs(2);

/// Per-connection backoff state with a small xorshift generator for jitter.
#[derive(Clone, Debug)]
pub struct Backoff {
    failures: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(seed: u64) -> Backoff {
        Backoff { failures: 0, rng: seed | 1 }
    }

    /// Records a failure and returns how long to wait before the next attempt:
    /// `min(CAP, BASE × 2^failures)` scaled by a jitter factor in [0.5, 1.5).
    pub fn next_delay(&mut self) -> Duration {
        let exp = BASE.saturating_mul(1u32 << self.failures.min(16));
        self.failures = self.failures.saturating_add(1);
        let capped = exp.min(CAP);
        let jitter = 0.5 + (self.next_rand() % 1000) as f64 / 1000.0;
        capped.mul_f64(jitter)
    }

    /// A success: the next failure starts from `BASE` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    fn next_rand(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(42);
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let nominal = BASE.saturating_mul(1 << i).min(CAP);
            assert!(*d >= nominal.mul_f64(0.5) && *d < nominal.mul_f64(1.5), "attempt {i}: {d:?}");
        }
        b.reset();
        assert!(b.next_delay() < BASE.mul_f64(1.5));
    }

    #[test]
    fn attempts_per_connection_are_bounded() {
        // However long the run, one connection makes at most ~1 attempt per CAP/2 once backed off.
        let mut b = Backoff::new(7);
        let mut t = Duration::ZERO;
        let mut attempts = 0;
        while t < Duration::from_secs(60) {
            t += b.next_delay();
            attempts += 1;
        }
        assert!(attempts <= 6 + 60, "{attempts} attempts in 60 s");
        assert!(attempts >= 60 / 3, "{attempts} attempts in 60 s");
    }
}
