//! Monotonic time in nanoseconds since a process-wide epoch.
//!
//! This is the only module that reads the clock. Everything else takes `now` as a parameter,
//! so pure code (pacer, parsers, stats) is driven by synthetic time in tests. Workers read the
//! clock once per turn of their loop, never per byte.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The instant all `now_ns` values count from. Fixed at first use, shared by every thread.
pub fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`]. Monotonic and comparable across threads.
pub fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// The `Instant` that corresponds to `ns` nanoseconds after the epoch (for timers).
pub fn instant_at(ns: u64) -> Instant {
    epoch() + Duration::from_nanos(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_monotonic_and_maps_back_to_instants() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
        let at = instant_at(a);
        assert!(at <= Instant::now());
        assert_eq!((at - epoch()).as_nanos() as u64, a);
    }
}
