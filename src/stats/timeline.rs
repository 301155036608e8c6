//! The run over time: one record per second (counts and a latency histogram, so records of
//! several workers, processes or machines add exactly), the target processes sampled during the
//! run, and the results of a plan's stages; each converts to and from its part of the result
//! schema (`result.rs`).

use hdrhistogram::Histogram;

use super::codec;
use super::result::{IntervalDoc, MonitorDoc, SampleDoc};
use super::{new_histogram, Interval, Shard};

/// One second of the run while its workers' intervals come in (a full histogram).
#[derive(Clone, Debug)]
pub struct SecondAcc {
    pub t_s: u64,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub open: u64,
    pub latency: Histogram<u64>,
}

impl SecondAcc {
    pub fn new(t_s: u64) -> SecondAcc {
        SecondAcc { t_s, sent: 0, ok: 0, errors: 0, open: 0, latency: new_histogram() }
    }

    pub fn add_interval(&mut self, iv: &Interval) {
        self.sent += iv.sent;
        self.ok += iv.responses;
        self.errors += iv.errors;
        self.open += iv.open;
        let _ = self.latency.add(&iv.latency);
    }

    /// The second as it is kept: counts, a few percentiles and the compressed histogram (a few
    /// hundred bytes instead of the ~256 KiB of a live histogram: an hour is 3,600 of them).
    pub fn finish(&self) -> IntervalRec {
        IntervalRec::from_histogram(self.t_s, [self.sent, self.ok, self.errors, self.open], &self.latency)
    }
}

/// One second of the run: what happened between `t_s - 1` and `t_s` seconds after the start.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalRec {
    pub t_s: u64,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub open: u64,
    /// Answers with a latency (the histogram's count).
    pub answered: u64,
    /// Corrected latency of the answers of this second: p50, p90, p99, max (ns; 0 when none).
    pub quantiles: [u64; 4],
    /// The same histogram, V2 + deflate: exact merging and the HdrHistogram log.
    packed: Vec<u8>,
}

impl IntervalRec {
    /// `counts` are sent, ok, errors, open.
    pub fn from_histogram(t_s: u64, counts: [u64; 4], h: &Histogram<u64>) -> IntervalRec {
        let quantiles =
            if h.is_empty() { [0; 4] } else { [h.value_at_quantile(0.5), h.value_at_quantile(0.9), h.value_at_quantile(0.99), h.max()] };
        let packed = if h.is_empty() { Vec::new() } else { codec::pack_hist(h) };
        let [sent, ok, errors, open] = counts;
        IntervalRec { t_s, sent, ok, errors, open, answered: h.len(), quantiles, packed }
    }

    /// The latency histogram of this second.
    pub fn latency(&self) -> Histogram<u64> {
        if self.packed.is_empty() {
            return new_histogram();
        }
        codec::unpack_hist(&self.packed).unwrap_or_else(|_| new_histogram())
    }

    pub fn add(&mut self, o: &IntervalRec) {
        let mut h = self.latency();
        let _ = h.add(o.latency());
        *self = IntervalRec::from_histogram(self.t_s, [self.sent + o.sent, self.ok + o.ok, self.errors + o.errors, self.open + o.open], &h);
    }

    pub fn to_doc(&self, stage: Option<&str>) -> IntervalDoc {
        let q = |i: usize| (self.answered > 0).then(|| self.quantiles[i] as f64 / 1e6);
        IntervalDoc {
            t_s: self.t_s as f64,
            stage: stage.map(str::to_string),
            sent: self.sent,
            ok: self.ok,
            errors: self.errors,
            rps: self.ok as f64,
            p50_ms: q(0),
            p90_ms: q(1),
            p99_ms: q(2),
            max_ms: q(3),
            open: self.open,
            histogram: codec::base64_text(&self.packed),
        }
    }

    pub fn from_doc(d: &IntervalDoc) -> Result<IntervalRec, String> {
        let latency = if d.histogram.is_empty() { new_histogram() } else { codec::decode_hist(&d.histogram)? };
        Ok(IntervalRec::from_histogram(d.t_s.round() as u64, [d.sent, d.ok, d.errors, d.open], &latency))
    }
}

/// Adds `other` (a result that started `offset_s` seconds after `into`'s start) second by second.
pub fn merge_aligned(into: &mut Vec<IntervalRec>, other: &[IntervalRec], offset_s: u64) {
    for rec in other {
        let t = rec.t_s + offset_s;
        match into.iter_mut().find(|r| r.t_s == t) {
            Some(r) => r.add(rec),
            None => {
                let mut r = rec.clone();
                r.t_s = t;
                into.push(r);
            }
        }
    }
    into.sort_by_key(|r| r.t_s);
}

/// A target process sampled during the run (`--monitor-pid`).
#[derive(Clone, Debug, Default)]
pub struct MonitorSeries {
    pub pid: u32,
    pub name: String,
    pub samples: Vec<MonitorSample>,
    /// The process was gone at this time (seconds into the run).
    pub exited_at_s: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonitorSample {
    pub t_s: f64,
    /// CPU over the last second, % of one CPU (200 = two CPUs busy).
    pub cpu_pct: f64,
    pub rss_bytes: u64,
}

impl MonitorSeries {
    pub fn cpu_mean(&self) -> Option<f64> {
        (!self.samples.is_empty()).then(|| self.samples.iter().map(|s| s.cpu_pct).sum::<f64>() / self.samples.len() as f64)
    }
    pub fn cpu_max(&self) -> Option<f64> {
        self.samples.iter().map(|s| s.cpu_pct).reduce(f64::max)
    }
    pub fn rss_peak(&self) -> Option<u64> {
        self.samples.iter().map(|s| s.rss_bytes).max()
    }

    pub fn to_doc(&self) -> MonitorDoc {
        MonitorDoc {
            pid: self.pid,
            name: self.name.clone(),
            exited_at_s: self.exited_at_s,
            cpu_mean_pct: self.cpu_mean(),
            cpu_max_pct: self.cpu_max(),
            rss_peak_bytes: self.rss_peak(),
            samples: self.samples.iter().map(|s| SampleDoc { t_s: s.t_s, cpu_pct: s.cpu_pct, rss_bytes: s.rss_bytes }).collect(),
        }
    }

    pub fn from_doc(d: &MonitorDoc) -> MonitorSeries {
        MonitorSeries {
            pid: d.pid,
            name: d.name.clone(),
            exited_at_s: d.exited_at_s,
            samples: d.samples.iter().map(|s| MonitorSample { t_s: s.t_s, cpu_pct: s.cpu_pct, rss_bytes: s.rss_bytes }).collect(),
        }
    }
}

/// One stage of a plan, as run.
#[derive(Clone, Debug)]
pub struct StageResult {
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
    pub shape: String,
    /// The rate this stage asked for (its own mean level; `None`: closed loop), which its
    /// achieved rate is judged against.
    pub target_rate: Option<f64>,
    /// The generator's CPU time in the stage (measured for the whole run only: its share in the
    /// stage's part of the run).
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    pub shard: Shard,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64, ok: u64, lat_ms: u64) -> IntervalRec {
        let mut r = SecondAcc::new(t);
        r.ok = ok;
        r.sent = ok;
        for _ in 0..ok {
            r.latency.record(lat_ms * 1_000_000).unwrap();
        }
        r.finish()
    }

    #[test]
    fn intervals_round_trip_and_align() {
        let a = vec![rec(1, 10, 1), rec(2, 20, 2)];
        let back: Vec<IntervalRec> = a.iter().map(|r| IntervalRec::from_doc(&r.to_doc(Some("s"))).unwrap()).collect();
        assert_eq!(back[1].ok, 20);
        assert_eq!(back[1].latency().len(), 20);
        assert_eq!(back, a, "a round trip through JSON is exact");
        assert!(a[1].packed.len() < 1024, "a second is kept small: {} bytes", a[1].packed.len());
        // a second process started one second later: its first second is our second
        let mut all = a.clone();
        merge_aligned(&mut all, &[rec(1, 5, 9), rec(2, 7, 9)], 1);
        assert_eq!(all.iter().map(|r| (r.t_s, r.ok)).collect::<Vec<_>>(), vec![(1, 10), (2, 25), (3, 7)]);
        assert_eq!(all[1].latency().max() / 1_000_000, 9);
        assert_eq!(all[1].quantiles[3] / 1_000_000, 9);
    }
}
