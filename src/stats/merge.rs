//! Merging results of the same plan from several processes or machines: histograms and
//! counters add exactly, the time series align on the wall clock, stages and named requests
//! merge by name. Refuses results of different plans.
//!
//! Pure: no I/O, no clock.

use super::report::RunResult;
use super::timeline::merge_aligned;

impl RunResult {
    /// Adds another result of the same plan (another process or machine): histograms and
    /// counters add exactly; connections, threads, rates and CPU add; the duration is the
    /// longest. Refuses results of a different scenario or target.
    pub fn merge(&mut self, other: &RunResult) -> Result<(), String> {
        let (a, b) = (&self.meta, &other.meta);
        if a.scenario != b.scenario
            || a.target != b.target
            || a.pipeline != b.pipeline
            || a.target_rate.is_some() != b.target_rate.is_some()
        {
            return Err(format!(
                "results of different plans: {} {} (pipeline {}, {}) vs {} {} (pipeline {}, {})",
                a.scenario,
                a.target,
                a.pipeline,
                if a.target_rate.is_some() { "open loop" } else { "closed loop" },
                b.scenario,
                b.target,
                b.pipeline,
                if b.target_rate.is_some() { "open loop" } else { "closed loop" }
            ));
        }
        let (a0, b0) = (self.meta.started_unix_ms, other.meta.started_unix_ms);
        let m = &mut self.meta;
        m.threads += b.threads;
        m.connections += b.connections;
        m.duration_s = m.duration_s.max(b.duration_s);
        m.target_rate = m.target_rate.zip(b.target_rate).map(|(x, y)| x + y);
        m.cpu_user_s += b.cpu_user_s;
        m.cpu_sys_s += b.cpu_sys_s;
        m.interrupted |= b.interrupted;
        if self.aborted.is_none() {
            self.aborted = other.aborted.clone();
        }
        m.started_unix_ms = m.started_unix_ms.min(b.started_unix_ms);
        // Separate processes: their memory adds up.
        m.rss_start += b.rss_start;
        m.rss_peak += b.rss_peak;
        if !self.stages.is_empty() || !other.stages.is_empty() {
            let names = |r: &RunResult| r.stages.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
            if names(self) != names(other) {
                return Err(format!("results of different plans: stages {:?} vs {:?}", names(self), names(other)));
            }
            for (a, b) in self.stages.iter_mut().zip(&other.stages) {
                a.shard.merge(&b.shard);
            }
        }
        // Time series: align on the wall clock (parts started with --start-at line up exactly).
        if b0 >= a0 {
            merge_aligned(&mut self.intervals, &other.intervals, ((b0 - a0) as f64 / 1000.0).round() as u64);
        } else {
            let mut mine = std::mem::take(&mut self.intervals);
            let mut theirs = other.intervals.clone();
            merge_aligned(&mut theirs, &mine, ((a0 - b0) as f64 / 1000.0).round() as u64);
            std::mem::swap(&mut mine, &mut theirs);
            self.intervals = mine;
        }
        if !self.by_name.is_empty() || !other.by_name.is_empty() {
            let names = |r: &RunResult| r.by_name.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            let (mut a, mut b) = (names(self), names(other));
            a.sort();
            b.sort();
            if a != b {
                return Err(format!("results of different plans: requests {a:?} vs {b:?}"));
            }
            for (name, shard) in &other.by_name {
                if let Some((_, mine)) = self.by_name.iter_mut().find(|(n, _)| n == name) {
                    mine.merge(shard);
                }
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
}
