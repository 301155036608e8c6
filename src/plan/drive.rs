//! Plans whose stages each choose their drive: `connections` (closed loop), `rate` (open loop
//! over a connection pool), or both (a rate capped by a concurrency), with a per-connection
//! `think` pause in closed loop. Pure: what the engine and the connections read at run time.
//!
//! Design (one pool of slots, two claim paths):
//! - every stage runs connection *slots* from one pool; the slot profile says how many are
//!   active: a closed-loop stage's `connections`, an open-loop stage's pool (its own
//!   `connections`, else the run's `--connections`). Slots above the level park after their
//!   batch is answered (nothing in flight is dropped); slots below it keep their connection.
//! - open-loop requests follow one rate profile that is 0 in closed-loop stages, so its
//!   schedule (request `k` due when the integral reaches `k`) holds exactly each rate stage's
//!   requests and nothing else. A connection claims a scheduled request only when it falls in
//!   the open stage running now; otherwise it waits for the stage's end without claiming, so
//!   no claim crosses a closed-loop stage.
//! - each batch is claimed in the mode of the stage running at its claim (open: intended time
//!   from the schedule; closed: the send time), and a connection re-reads the mode before
//!   every batch: at a boundary a connection finishes the batch it has in flight, then goes on
//!   in the next stage's mode, with no gap (closed loop resumes at once; open loop follows the
//!   schedule from the boundary on).
//! - `think`: in a closed-loop stage a connection pauses this long after each answered batch,
//!   cut at the stage's end (the next stage's mode starts on time).

use std::sync::Arc;
use std::time::Duration;

use crate::engine::profile::{Profile, Segment};

/// How the stage running at each instant drives its connections.
#[derive(Clone, Debug, PartialEq)]
pub struct StageModes {
    /// End of each stage, ns from the start of the run.
    ends: Vec<u64>,
    /// True for an open-loop stage (a rate).
    open: Vec<bool>,
    /// Per-connection pause after each answered batch in closed loop, ns (0: none).
    think_ns: Vec<u64>,
}

/// What a connection does for its next batch at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Closed loop, pausing this long after each answered batch.
    Closed { think_ns: u64 },
    /// Open loop: claim scheduled requests due before `until` (ns from the start).
    Open { until: u64 },
}

impl StageModes {
    /// `stages`: (duration, open loop?, think) in order.
    pub fn new(stages: &[(Duration, bool, Option<Duration>)]) -> StageModes {
        let mut t = 0u64;
        let mut ends = Vec::with_capacity(stages.len());
        for (d, _, _) in stages {
            t = t.saturating_add(d.as_nanos() as u64);
            ends.push(t);
        }
        StageModes {
            ends,
            open: stages.iter().map(|s| s.1).collect(),
            think_ns: stages.iter().map(|s| s.2.map_or(0, |d| d.as_nanos() as u64)).collect(),
        }
    }

    /// The stage running at `t_ns` from the start (the last one past the end).
    pub fn stage_at(&self, t_ns: u64) -> usize {
        self.ends.partition_point(|&e| e <= t_ns).min(self.ends.len().saturating_sub(1))
    }

    /// The mode at `t_ns` from the start.
    pub fn mode_at(&self, t_ns: u64) -> Mode {
        let i = self.stage_at(t_ns);
        if self.open.get(i).copied().unwrap_or(false) {
            Mode::Open { until: self.ends[i] }
        } else {
            Mode::Closed { think_ns: self.think_ns.get(i).copied().unwrap_or(0) }
        }
    }

    /// End of the stage running at `t_ns` (ns from the start).
    pub fn stage_end(&self, t_ns: u64) -> u64 {
        self.ends.get(self.stage_at(t_ns)).copied().unwrap_or(0)
    }

    /// True when some stage is open loop.
    pub fn any_open(&self) -> bool {
        self.open.iter().any(|&o| o)
    }

    /// The same modes with `think` for closed-loop stages that set none (`--think`).
    pub fn with_default_think(&self, think: Option<Duration>) -> StageModes {
        let d = think.map_or(0, |d| d.as_nanos() as u64);
        StageModes { think_ns: self.think_ns.iter().map(|&t| if t == 0 { d } else { t }).collect(), ..self.clone() }
    }
}

/// The run-time view of a plan whose stages choose their drive.
#[derive(Clone, Debug)]
pub struct Mixed {
    /// Requests per second over time: a rate stage's level, 0 in closed-loop stages.
    pub rates: Arc<Profile>,
    /// Active connection slots over time (a closed-loop stage's connections, a rate stage's pool).
    pub slots: Arc<Profile>,
    pub modes: Arc<StageModes>,
}

/// One stage as the mixed drive sees it.
#[derive(Clone, Debug)]
pub struct StageDrive {
    /// The stage's level as pieces (a rate or a connection count).
    pub segments: Vec<Segment>,
    pub duration: Duration,
    /// Open loop (`rate`)?
    pub open: bool,
    /// Connections of an open-loop stage (`rate` with `connections`); `None`: the run's pool.
    pub pool: Option<u64>,
    pub think: Option<Duration>,
}

impl Mixed {
    /// Builds the profiles; `pool` is the run's `--connections` (rate stages without their own).
    pub fn new(stages: &[StageDrive], pool: u64, think: Option<Duration>) -> Mixed {
        let mut rates = Vec::new();
        let mut slots = Vec::new();
        for s in stages {
            let d = s.duration.as_nanos() as u64;
            if s.open {
                rates.extend(s.segments.iter().copied());
                let p = s.pool.unwrap_or(pool) as f64;
                slots.push(Segment { dur_ns: d, v0: p, v1: p });
            } else {
                rates.push(Segment { dur_ns: d, v0: 0.0, v1: 0.0 });
                slots.extend(s.segments.iter().copied());
            }
        }
        let modes = StageModes::new(&stages.iter().map(|s| (s.duration, s.open, s.think)).collect::<Vec<_>>());
        Mixed {
            rates: Arc::new(Profile::new(rates)),
            slots: Arc::new(Profile::new(slots)),
            modes: Arc::new(modes.with_default_think(think)),
        }
    }

    /// A `1/parts` share (a process or a machine of a split run): rates and slots divided.
    pub fn share(&self, parts: u64) -> Mixed {
        let f = 1.0 / parts.max(1) as f64;
        Mixed { rates: Arc::new(self.rates.scaled(f)), slots: Arc::new(self.slots.scaled(f)), modes: Arc::clone(&self.modes) }
    }

    /// The most connection slots active at once.
    pub fn peak_slots(&self) -> u64 {
        self.slots.peak().ceil() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn stage(secs: u64, level: f64, open: bool, pool: Option<u64>, think: Option<Duration>) -> StageDrive {
        StageDrive {
            segments: vec![Segment { dur_ns: secs * S, v0: level, v1: level }],
            duration: Duration::from_secs(secs),
            open,
            pool,
            think,
        }
    }

    #[test]
    fn rate_and_closed_stages_share_one_pool_and_one_schedule() {
        let m = Mixed::new(
            &[
                stage(2, 5.0, false, None, Some(Duration::from_millis(75))),
                stage(2, 200.0, true, None, None),
                stage(1, 10.0, false, None, None),
                stage(1, 50.0, true, Some(3), None),
            ],
            16,
            Some(Duration::from_millis(10)),
        );
        // the schedule holds 400 + 50 requests, none in closed-loop stages
        assert!((m.rates.integral_to(u64::MAX) - 450.0).abs() < 1e-9);
        assert_eq!(m.rates.time_of(0.0), Some(2 * S));
        assert_eq!(m.rates.time_of(400.0), Some(5 * S), "the 401st request is due when the second rate stage starts");
        // slots: 5, then the pool of 16, then 10, then the stage's own 3
        assert_eq!([1, 3, 4, 5].map(|s| m.slots.level_at(s * S)), [5.0, 16.0, 10.0, 3.0]);
        assert_eq!(m.peak_slots(), 16);
        // modes at instants: think from the stage, else from --think
        assert_eq!(m.modes.mode_at(0), Mode::Closed { think_ns: 75_000_000 });
        assert_eq!(m.modes.mode_at(2 * S), Mode::Open { until: 4 * S });
        assert_eq!(m.modes.mode_at(4 * S + 1), Mode::Closed { think_ns: 10_000_000 });
        assert_eq!(m.modes.mode_at(9 * S), Mode::Open { until: 6 * S }, "past the end: the last stage");
        assert_eq!(m.modes.stage_end(S), 2 * S);
        let half = m.share(2);
        assert_eq!(half.slots.level_at(S), 2.5);
        assert!((half.rates.integral_to(u64::MAX) - 225.0).abs() < 1e-9);
    }
}
