//! Merging results of the same plan from several processes or machines: histograms and
//! counters add exactly, the time series align on the wall clock, stages and named requests
//! merge by name. Refuses results of different plans.
//!
//! Pure: no I/O, no clock.

use super::report::{RunMeta, RunResult};
use super::timeline::merge_aligned;

impl RunResult {
    /// Adds another result of the same plan (another process or machine): histograms and
    /// counters add exactly; connections, threads, rates and CPU add; the duration is the
    /// longest. Refuses results of a different scenario, target, stages or request names
    /// (and then changes nothing).
    pub fn merge(&mut self, other: &RunResult) -> Result<(), String> {
        self.same_plan(other)?;
        // the series first: it aligns on the starts, which merge_meta moves
        self.merge_intervals(other);
        self.merge_meta(other);
        for (a, b) in self.stages.iter_mut().zip(&other.stages) {
            a.shard.merge(&b.shard);
            a.target_rate = a.target_rate.zip(b.target_rate).map(|(x, y)| x + y);
            a.cpu_user_s += b.cpu_user_s;
            a.cpu_sys_s += b.cpu_sys_s;
        }
        for (name, shard) in &other.by_name {
            if let Some((_, mine)) = self.by_name.iter_mut().find(|(n, _)| n == name) {
                mine.merge(shard);
            }
        }
        for m in &other.monitor {
            if !self.monitor.iter().any(|x| x.pid == m.pid) {
                self.monitor.push(m.clone());
            }
        }
        self.shard.merge(&other.shard);
        Ok(())
    }

    /// Whether `other` ran the same plan: scenario, target, pipeline, loop, stages, names.
    fn same_plan(&self, other: &RunResult) -> Result<(), String> {
        let (a, b) = (&self.meta, &other.meta);
        let mode = |m: &RunMeta| if m.target_rate.is_some() { "open loop" } else { "closed loop" };
        if a.scenario != b.scenario || a.target != b.target || a.pipeline != b.pipeline || mode(a) != mode(b) {
            return Err(format!(
                "results of different plans: {} {} (pipeline {}, {}) vs {} {} (pipeline {}, {})",
                a.scenario,
                a.target,
                a.pipeline,
                mode(a),
                b.scenario,
                b.target,
                b.pipeline,
                mode(b)
            ));
        }
        let stages = |r: &RunResult| r.stages.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        if stages(self) != stages(other) {
            return Err(format!("results of different plans: stages {:?} vs {:?}", stages(self), stages(other)));
        }
        let names = |r: &RunResult| {
            let mut n = r.by_name.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            n.sort();
            n
        };
        if names(self) != names(other) {
            return Err(format!("results of different plans: requests {:?} vs {:?}", names(self), names(other)));
        }
        Ok(())
    }

    /// Threads, connections, rates, CPU and memory add (separate processes); the duration is
    /// the longest, the start the earliest.
    fn merge_meta(&mut self, other: &RunResult) {
        let (m, b) = (&mut self.meta, &other.meta);
        m.threads += b.threads;
        m.connections += b.connections;
        m.duration_s = m.duration_s.max(b.duration_s);
        m.target_rate = m.target_rate.zip(b.target_rate).map(|(x, y)| x + y);
        m.cpu_user_s += b.cpu_user_s;
        // The same plan converts the same file the same way: the first part that says so.
        if m.audio_conversion.is_none() {
            m.audio_conversion.clone_from(&b.audio_conversion);
        }
        if m.pacing.is_none() {
            m.pacing.clone_from(&b.pacing);
        }
        m.cpu_sys_s += b.cpu_sys_s;
        m.pacing_polled_s += b.pacing_polled_s;
        m.interrupted |= b.interrupted;
        m.started_unix_ms = m.started_unix_ms.min(b.started_unix_ms);
        m.rss_start += b.rss_start;
        m.rss_peak += b.rss_peak;
        if self.aborted.is_none() {
            self.aborted = other.aborted.clone();
        }
        if self.stalled.is_none() {
            self.stalled = other.stalled.clone();
        }
    }

    /// Time series: aligned on the wall clock (parts started with --start-at line up exactly).
    /// Runs before [`RunResult::merge_meta`] moves the start.
    fn merge_intervals(&mut self, other: &RunResult) {
        let (a0, b0) = (self.meta.started_unix_ms, other.meta.started_unix_ms);
        if b0 >= a0 {
            merge_aligned(&mut self.intervals, &other.intervals, ((b0 - a0) as f64 / 1000.0).round() as u64);
        } else {
            let mut theirs = other.intervals.clone();
            merge_aligned(&mut theirs, &self.intervals, ((a0 - b0) as f64 / 1000.0).round() as u64);
            self.intervals = theirs;
        }
    }
}
