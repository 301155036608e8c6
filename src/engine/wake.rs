//! When the worker's timer should wake, and how: the pure decision under [`super::timer::Timer`].
//!
//! Two costs shape it, both measured on this project's machine (a 2-vCPU VM): an idle thread
//! woken by a timer interrupt runs 50–200 µs after its deadline (p99 up to ~1.3 ms at 10 wakes
//! a second, the vCPU having halted), and each arm of the timerfd plus the wake that follows
//! costs several µs of kernel time (at 50,000 sends a second, one arm per send took 18 % of the
//! generator's CPU). So:
//! - a deadline closer than [`POLL_BELOW_NS`] is not slept for: the timer polls, yielding to the
//!   runtime between looks (the worker keeps reading answers meanwhile), which is both more
//!   precise and cheaper than a sleep that short;
//! - a farther one is slept for, but woken early by the recent wake-up latency (the highest of the
//!   last [`LATENCY_WINDOW`] wakes), and polled the rest of the way. How early is bounded by the
//!   mode's budget: `--pacing sleep` spends at most [`SLEEP_BUDGET`] of the time between
//!   deadlines and [`SLEEP_EARLY_MAX_NS`] polling; `--pacing spin` wakes at least [`SPIN_NS`]
//!   and at most [`SPIN_EARLY_MAX_NS`] early, whatever that costs.
//!
//! Pure: every time is a parameter (clock nanoseconds), so tests replay synthetic timelines.

use crate::config::Pacing;

/// Below this distance to the next deadline the timer polls instead of sleeping.
pub const POLL_BELOW_NS: u64 = 50_000;
/// A deadline this close is spun to on the spot (no runtime turn in between).
pub const SPIN_TO_NS: u64 = 2_000;
/// Spin mode: the least a sleep is cut short by.
pub const SPIN_NS: u64 = 50_000;
/// Spin mode: the most a sleep is cut short by.
pub const SPIN_EARLY_MAX_NS: u64 = 2_000_000;
/// Sleep mode: the most a sleep is cut short by.
pub const SLEEP_EARLY_MAX_NS: u64 = 500_000;
/// Sleep mode: the share of the time between deadlines that may be spent polling.
pub const SLEEP_BUDGET: f64 = 0.1;
/// How many recent wake-up latencies the early margin is taken from.
pub const LATENCY_WINDOW: usize = 32;

/// What the timer does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// No deadline pending: wait for a registration.
    Idle,
    /// Spin to this deadline now, then fire it.
    SpinTo(u64),
    /// Yield to the runtime and look again.
    Poll,
    /// Sleep on the fd until this clock time (the deadline less the early margin).
    Sleep(u64),
}

/// The wake-up decisions of one worker's timer, with what it learnt of this machine.
pub struct Waking {
    mode: Pacing,
    /// Recent wake-up latencies (fd armed for `w`, the task ran at `w + latency`), a ring.
    latencies: [u64; LATENCY_WINDOW],
    next_latency: usize,
    /// Mean time between fired deadlines (exponentially weighted, ns); `None` before two.
    gap_ns: Option<f64>,
    last_deadline: Option<u64>,
}

impl Waking {
    pub fn new(mode: Pacing) -> Waking {
        Waking { mode, latencies: [0; LATENCY_WINDOW], next_latency: 0, gap_ns: None, last_deadline: None }
    }

    pub fn mode(&self) -> Pacing {
        self.mode
    }

    /// How long before a deadline a sleep should end, from what was learnt so far.
    pub fn early_ns(&self) -> u64 {
        let seen = self.latencies.iter().copied().max().unwrap_or(0);
        match self.mode {
            Pacing::Spin => seen.saturating_add(seen / 4).clamp(SPIN_NS, SPIN_EARLY_MAX_NS),
            Pacing::Sleep => {
                let budget = self.gap_ns.map_or(SLEEP_EARLY_MAX_NS, |g| (g * SLEEP_BUDGET) as u64);
                seen.saturating_add(seen / 4).min(budget).min(SLEEP_EARLY_MAX_NS)
            }
        }
    }

    /// The decision at `now` with `next` the earliest pending deadline.
    pub fn plan(&self, now: u64, next: Option<u64>) -> Next {
        let Some(d) = next else { return Next::Idle };
        if d <= now.saturating_add(SPIN_TO_NS) {
            return Next::SpinTo(d);
        }
        let wake = d.saturating_sub(self.early_ns());
        if wake <= now.saturating_add(POLL_BELOW_NS) {
            Next::Poll
        } else {
            Next::Sleep(wake)
        }
    }

    /// The fd armed for `armed` woke the timer at `now`.
    pub fn woke(&mut self, armed: u64, now: u64) {
        self.latencies[self.next_latency] = now.saturating_sub(armed);
        self.next_latency = (self.next_latency + 1) % LATENCY_WINDOW;
    }

    /// A waiter due at `deadline` fired (deadlines fire in order).
    pub fn fired(&mut self, deadline: u64) {
        if let Some(last) = self.last_deadline {
            let gap = deadline.saturating_sub(last) as f64;
            self.gap_ns = Some(self.gap_ns.map_or(gap, |g| g + (gap - g) / 16.0));
        }
        self.last_deadline = Some(deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_deadlines_are_spun_to_or_polled_far_ones_slept_for() {
        let w = Waking::new(Pacing::Sleep);
        assert_eq!(w.plan(1_000_000, None), Next::Idle);
        assert_eq!(w.plan(1_000_000, Some(900_000)), Next::SpinTo(900_000));
        assert_eq!(w.plan(1_000_000, Some(1_001_000)), Next::SpinTo(1_001_000));
        assert_eq!(w.plan(1_000_000, Some(1_040_000)), Next::Poll);
        // nothing learnt yet: sleep to the deadline itself
        assert_eq!(w.plan(1_000_000, Some(2_000_000)), Next::Sleep(2_000_000));
    }

    #[test]
    fn sleep_mode_wakes_early_by_what_wakes_took_within_its_budget() {
        let mut w = Waking::new(Pacing::Sleep);
        // deadlines 1 ms apart: the budget is 10 % of that, 100 µs
        for k in 0..40 {
            w.fired(k * 1_000_000);
        }
        w.woke(0, 40_000);
        assert_eq!(w.early_ns(), 50_000);
        w.woke(0, 300_000);
        assert_eq!(w.early_ns(), 100_000, "capped by the budget");
        // deadlines far apart: capped by the mode's maximum
        let mut far = Waking::new(Pacing::Sleep);
        for k in 0..40 {
            far.fired(k * 100_000_000);
        }
        far.woke(0, 2_000_000);
        assert_eq!(far.early_ns(), SLEEP_EARLY_MAX_NS);
        // the margin forgets a slow wake after a window of fast ones
        for _ in 0..LATENCY_WINDOW {
            far.woke(0, 8_000);
        }
        assert_eq!(far.early_ns(), 10_000);
        assert_eq!(far.plan(0, Some(1_000_000)), Next::Sleep(990_000));
    }

    #[test]
    fn spin_mode_wakes_early_at_least_its_floor_and_at_most_its_ceiling() {
        let mut w = Waking::new(Pacing::Spin);
        assert_eq!(w.early_ns(), SPIN_NS);
        w.woke(0, 400_000);
        assert_eq!(w.early_ns(), 500_000);
        w.woke(0, 10_000_000);
        assert_eq!(w.early_ns(), SPIN_EARLY_MAX_NS);
        assert_eq!(w.plan(0, Some(2_040_000)), Next::Poll);
        assert_eq!(w.plan(0, Some(3_000_000)), Next::Sleep(1_000_000));
    }
}
