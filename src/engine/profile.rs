//! A load profile over time, pure: a piecewise-linear function from time since the start of
//! the run to a level (a request rate per second, a connection count, a stream count), built
//! from a plan's stages. Open loop uses its integral: request `k` is due when the integral of
//! the rate reaches `k`, so a ramp from 100 to 200/s sends exactly 150 × its duration requests,
//! spread as the rate rises. Never reads the clock: times are nanoseconds from the start.

/// One linear piece: the level goes from `v0` to `v1` over `dur_ns`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub dur_ns: u64,
    pub v0: f64,
    pub v1: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    segs: Vec<Segment>,
    /// Start time of each segment, ns from the start.
    starts: Vec<u64>,
    /// Integral (level × seconds) at the start of each segment, and at the end (one more entry).
    cum: Vec<f64>,
}

impl Profile {
    pub fn new(segs: Vec<Segment>) -> Profile {
        let mut starts = Vec::with_capacity(segs.len());
        let mut cum = Vec::with_capacity(segs.len() + 1);
        let (mut t, mut c) = (0u64, 0.0f64);
        for s in &segs {
            starts.push(t);
            cum.push(c);
            t = t.saturating_add(s.dur_ns);
            c += (s.v0 + s.v1) / 2.0 * s.dur_ns as f64 / 1e9;
        }
        cum.push(c);
        Profile { segs, starts, cum }
    }

    /// A constant level for `dur_ns`.
    pub fn constant(level: f64, dur_ns: u64) -> Profile {
        Profile::new(vec![Segment { dur_ns, v0: level, v1: level }])
    }

    /// Every level multiplied by `f` (a share of a split run).
    pub fn scaled(&self, f: f64) -> Profile {
        Profile::new(self.segs.iter().map(|s| Segment { v0: s.v0 * f, v1: s.v1 * f, ..*s }).collect())
    }

    pub fn total_ns(&self) -> u64 {
        self.starts.last().zip(self.segs.last()).map_or(0, |(s, g)| s.saturating_add(g.dur_ns))
    }

    /// The highest level anywhere in the profile.
    pub fn peak(&self) -> f64 {
        self.segs.iter().map(|s| s.v0.max(s.v1)).fold(0.0, f64::max)
    }

    /// Index of the segment holding time `t_ns` (the last one past the end).
    fn seg_at(&self, t_ns: u64) -> usize {
        self.starts.partition_point(|&s| s <= t_ns).saturating_sub(1)
    }

    /// The level at `t_ns` (0 past the end).
    pub fn level_at(&self, t_ns: u64) -> f64 {
        if t_ns >= self.total_ns() || self.segs.is_empty() {
            return 0.0;
        }
        let i = self.seg_at(t_ns);
        let s = &self.segs[i];
        let f = (t_ns - self.starts[i]) as f64 / s.dur_ns.max(1) as f64;
        s.v0 + (s.v1 - s.v0) * f
    }

    /// The integral of the level from the start to `t_ns` (level × seconds).
    pub fn integral_to(&self, t_ns: u64) -> f64 {
        if self.segs.is_empty() {
            return 0.0;
        }
        if t_ns >= self.total_ns() {
            return *self.cum.last().unwrap_or(&0.0);
        }
        let i = self.seg_at(t_ns);
        let s = &self.segs[i];
        let x = (t_ns - self.starts[i]) as f64 / 1e9;
        let slope = (s.v1 - s.v0) / (s.dur_ns.max(1) as f64 / 1e9);
        self.cum[i] + s.v0 * x + slope * x * x / 2.0
    }

    /// The time (ns from the start) at which the integral reaches `k`; `None` when it never
    /// does within the profile. For a rate, this is when request `k` is due.
    pub fn time_of(&self, k: f64) -> Option<u64> {
        let total = *self.cum.last()?;
        if k >= total - 1e-9 || k < 0.0 {
            return None;
        }
        // The segment where the integral crosses k (segments at level 0 add nothing).
        let i = self.cum.partition_point(|&c| c <= k).saturating_sub(1).min(self.segs.len() - 1);
        let s = &self.segs[i];
        let d = s.dur_ns.max(1) as f64 / 1e9;
        let (a, b) = (s.v0, (s.v1 - s.v0) / d);
        let need = k - self.cum[i];
        // Solve a·x + b·x²/2 = need for x in [0, d].
        let x = if b.abs() < 1e-12 {
            need / a
        } else {
            let disc = (a * a + 2.0 * b * need).max(0.0);
            // The numerically stable root of the quadratic.
            2.0 * need / (a + disc.sqrt())
        };
        let x = if x.is_finite() { x.clamp(0.0, d) } else { d };
        Some(self.starts[i] + (x * 1e9).round() as u64)
    }

    /// The first time at or after `t_ns` when the level is above `slot` (a connection or stream
    /// slot is active while the level exceeds its number); `None`: never again.
    pub fn next_active(&self, slot: u64, t_ns: u64) -> Option<u64> {
        let want = slot as f64;
        if self.level_at(t_ns) > want {
            return Some(t_ns);
        }
        let first = self.seg_at(t_ns);
        for (i, s) in self.segs.iter().enumerate().skip(first) {
            let from = self.starts[i].max(t_ns);
            let end = self.starts[i] + s.dur_ns;
            if s.v1 > want && end > from {
                // Linear: find where the level first exceeds `want` in [from, end).
                if s.v0 > want || s.v1 == s.v0 {
                    return Some(from);
                }
                let f = (want - s.v0) / (s.v1 - s.v0);
                let t = self.starts[i] + (f * s.dur_ns as f64).ceil() as u64 + 1;
                return Some(t.max(from).min(end.saturating_sub(1)));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn ramp(from: f64, to: f64, secs: u64) -> Segment {
        Segment { dur_ns: secs * S, v0: from, v1: to }
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let p = Profile::constant(10.0, 2 * S);
        assert_eq!(p.time_of(0.0), Some(0));
        assert_eq!(p.time_of(1.0), Some(S / 10));
        assert_eq!(p.time_of(19.0), Some(19 * S / 10));
        assert_eq!(p.time_of(20.0), None, "the profile holds 20 requests");
        assert_eq!(p.level_at(S), 10.0);
        assert_eq!(p.level_at(2 * S), 0.0);
    }

    #[test]
    fn a_ramp_sends_its_mean_rate_and_speeds_up() {
        // 100 -> 200/s over 10 s: 1500 requests; the rate at each instant is linear.
        let p = Profile::new(vec![ramp(100.0, 200.0, 10)]);
        assert!((p.integral_to(10 * S) - 1500.0).abs() < 1e-9);
        assert_eq!(p.level_at(5 * S), 150.0);
        assert!((p.level_at(S / 2) - 105.0).abs() < 1e-9);
        // the first half of the time holds 100·5 + 50·5/2 = 625 requests
        assert!((p.integral_to(5 * S) - 625.0).abs() < 1e-9);
        let t625 = p.time_of(625.0).unwrap();
        assert!(t625.abs_diff(5 * S) <= 1, "{t625}");
        // spacing shrinks from 1/100 s to 1/200 s
        let first = p.time_of(1.0).unwrap() - p.time_of(0.0).unwrap();
        let last = p.time_of(1499.0).unwrap() - p.time_of(1498.0).unwrap();
        assert!(first.abs_diff(S / 100) < S / 10_000, "{first}");
        assert!(last.abs_diff(S / 200) < S / 10_000, "{last}");
        // every k maps back onto its integral
        for k in [0.0, 1.0, 333.0, 1000.0, 1499.0] {
            let t = p.time_of(k).unwrap();
            assert!((p.integral_to(t) - k).abs() < 1e-3, "k {k}");
        }
    }

    #[test]
    fn steps_and_spikes_are_pieces() {
        // a step 100 -> 300 in 3 steps of 1 s, then a spike to 1000 rising in 1 s
        let p = Profile::new(vec![
            ramp(100.0, 100.0, 1),
            ramp(200.0, 200.0, 1),
            ramp(300.0, 300.0, 1),
            ramp(300.0, 1000.0, 1),
            ramp(1000.0, 1000.0, 2),
        ]);
        assert_eq!(p.level_at(S + 1), 200.0);
        assert_eq!(p.level_at(2 * S + S / 2), 300.0);
        assert_eq!(p.level_at(3 * S + S / 2), 650.0);
        assert_eq!(p.level_at(5 * S), 1000.0);
        assert_eq!(p.peak(), 1000.0);
        assert!((p.integral_to(p.total_ns()) - (100.0 + 200.0 + 300.0 + 650.0 + 2000.0)).abs() < 1e-9);
        // the 150th request falls in the second step: 100 + 50 at 200/s = 1.25 s
        assert!(p.time_of(150.0).unwrap().abs_diff(S + S / 4) <= 1);
    }

    #[test]
    fn zero_level_pieces_send_nothing() {
        let p = Profile::new(vec![ramp(0.0, 0.0, 2), ramp(10.0, 10.0, 1)]);
        assert_eq!(p.time_of(0.0), Some(2 * S));
        assert_eq!(p.time_of(5.0), Some(2 * S + S / 2));
    }

    #[test]
    fn slots_become_active_as_the_level_rises() {
        // connections 0 -> 10 over 10 s, then 10 for 5 s, then 2
        let p = Profile::new(vec![ramp(0.0, 10.0, 10), ramp(10.0, 10.0, 5), ramp(2.0, 2.0, 5)]);
        assert_eq!(p.next_active(0, 0), Some(1), "slot 0 starts as soon as the level is above 0");
        let t = p.next_active(4, 0).unwrap();
        assert!(t.abs_diff(4 * S) <= 2 && p.level_at(t) > 4.0, "{t}");
        assert_eq!(p.next_active(9, 12 * S), Some(12 * S));
        assert_eq!(p.next_active(5, 16 * S), None, "after the drop to 2, slot 5 is never active again");
        assert_eq!(p.next_active(1, 16 * S), Some(16 * S));
    }
}
