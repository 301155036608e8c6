//! The run result in memory: the merged shard plus the run's facts ([`RunMeta`]), its stages,
//! named requests, time series and monitored processes, and the figures derived from them
//! (achieved rate, CPU per request, saturation).
//!
//! Its JSON form is the schema in `result.rs` (converted in `convert.rs`); merging lives in
//! `merge.rs`, the histogram codec in `codec.rs`, the text report and live line in `text.rs`.
//! Pure: no I/O, no clock. Saturation (was the generator itself the limit?) is decided here
//! from the figures, so it can be tested on hand-built inputs.

use serde_json::Value;

use super::result::{ResultDoc, ScenarioKind};
use super::timeline::{IntervalRec, MonitorSeries, StageResult};
use super::Shard;

pub use super::result::SCHEMA;
pub use super::text::{accounting_line, grouped, human, human_bytes, live_line, render_distribution, verdict_headline};

/// Facts about the run that the shard does not hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunMeta {
    pub scenario: String,
    pub target: String,
    pub driver: String,
    pub threads: usize,
    pub connections: u64,
    pub pipeline: u32,
    /// Measured wall time of the load phase.
    pub duration_s: f64,
    /// Open loop: total requests per second asked for. `None`: closed loop.
    pub target_rate: Option<f64>,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    pub interrupted: bool,
    pub started_unix_ms: u64,
    /// Resident memory of the generator when the run started, and at its peak (0: unknown).
    pub rss_start: u64,
    pub rss_peak: u64,
    /// ASR: how the audio was made what the server is told ("audio: 44.1 kHz stereo → 16 kHz
    /// mono (mixed down, resampled)"); `None`: sent as it is.
    pub audio_conversion: Option<String>,
    /// How the workers waited for scheduled sends (`--pacing`: "sleep", "spin"); `None`: not
    /// recorded (results written before it existed).
    pub pacing: Option<String>,
    /// Wall time the workers' timers spent polling for near send times (part of the CPU above:
    /// waiting, not working); 0 when they never polled or for results written before it existed.
    pub pacing_polled_s: f64,
}

pub struct RunResult {
    pub meta: RunMeta,
    pub shard: Shard,
    /// The plan's stages, in order (empty without a plan).
    pub stages: Vec<StageResult>,
    /// One record per second.
    pub intervals: Vec<IntervalRec>,
    /// Target processes sampled during the run (`--monitor-pid`).
    pub monitor: Vec<MonitorSeries>,
    /// Per named request of a mix, in the plan's order.
    pub by_name: Vec<(String, Shard)>,
    /// Why `--abort-on-fail` stopped the run early.
    pub aborted: Option<String>,
    /// Why a run without an end time stopped by itself (no progress), with what was pending.
    pub stalled: Option<String>,
    /// A `--processes` run with parts missing.
    pub partial: Option<super::result::PartialDoc>,
    /// Every threshold of the run (run, stage, named request) judged: (total, failed), for the
    /// report's headline; set by the command that judged them.
    pub verdict: Option<(usize, usize)>,
}

/// Whether the generator, not the target, limited the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Saturation {
    /// Generator CPU (user + sys) over wall time × threads.
    pub cpu_busy: f64,
    pub saturated: bool,
    pub reasons: Vec<String>,
}

/// A part's counts in its scenario's terms ([`RunResult::part_figures`]).
pub struct PartFigures<'a> {
    /// Requests (chat: messages) sent.
    pub sent: u64,
    /// Answered ok (chat: copies delivered to members, the sender's own included).
    pub ok: u64,
    /// Corrected latency (chat: fan-out, from the intended send to each delivery).
    pub latency: &'a hdrhistogram::Histogram<u64>,
}

/// CPU share above which the generator's threads count as saturated.
pub const BUSY_LIMIT: f64 = 0.90;

const NS_PER_MS: f64 = 1e6;
/// Send lateness (p99) above which open-loop pacing counts as not held. The runtime's timer
/// ticks in 1 ms steps, so a millisecond or two of lateness is the floor, not saturation.
pub const LATE_NS: u64 = 5_000_000;
/// The share of sends that came due with every connection busy from which the pacing note and
/// the saturation reason say so: at 1 % they reach the p99.
pub const DUE_BUSY_NOTE: f64 = 0.01;

pub(crate) fn ms(ns: u64) -> f64 {
    ns as f64 / NS_PER_MS
}

impl RunResult {
    pub fn new(meta: RunMeta, shard: Shard) -> RunResult {
        RunResult {
            meta,
            shard,
            stages: Vec::new(),
            intervals: Vec::new(),
            monitor: Vec::new(),
            by_name: Vec::new(),
            aborted: None,
            stalled: None,
            partial: None,
            verdict: None,
        }
    }

    /// Stage `i` as a result of its own (for its thresholds and its report lines): judged
    /// against the rate it asked for itself (not the plan's mean), with its own CPU time.
    pub fn stage_result(&self, i: usize) -> Option<RunResult> {
        let st = self.stages.get(i)?;
        let meta = RunMeta {
            duration_s: (st.end_s - st.start_s).max(1e-9),
            target_rate: st.target_rate,
            cpu_user_s: st.cpu_user_s,
            cpu_sys_s: st.cpu_sys_s,
            ..self.meta.clone()
        };
        let mut r = RunResult::new(meta, st.shard.clone());
        // The target's samples taken during this stage.
        r.monitor = self
            .monitor
            .iter()
            .map(|m| MonitorSeries {
                samples: m.samples.iter().filter(|x| x.t_s > st.start_s && x.t_s <= st.end_s + 0.5).copied().collect(),
                ..m.clone()
            })
            .collect();
        Some(r)
    }

    /// The named request `name` of a mix as a result of its own.
    pub fn named_result(&self, name: &str) -> Option<RunResult> {
        let (_, shard) = self.by_name.iter().find(|(n, _)| n == name)?;
        let share = shard.sent as f64 / self.shard.sent.max(1) as f64;
        let meta = RunMeta { target_rate: self.meta.target_rate.map(|r| r * share), ..self.meta.clone() };
        Some(RunResult::new(meta, shard.clone()))
    }

    /// The name of the stage running `t_s` seconds into the run.
    pub(crate) fn stage_name_at(&self, t_s: f64) -> Option<&str> {
        self.stages.iter().find(|s| t_s > s.start_s && t_s <= s.end_s + 1e-9).map(|s| s.name.as_str())
    }

    /// The scenario that produced the result (`None`: a name this version does not know).
    pub fn kind(&self) -> Option<ScenarioKind> {
        ScenarioKind::from_name(&self.meta.scenario)
    }

    pub fn open_loop(&self) -> bool {
        self.meta.target_rate.is_some()
    }

    /// Answers per second (chat: messages sent per second, as nothing answers them).
    pub fn achieved_rate(&self) -> f64 {
        let done = match self.kind() {
            Some(ScenarioKind::WsChat) => self.shard.broadcasts(),
            Some(ScenarioKind::Http | ScenarioKind::Ws | ScenarioKind::Asr | ScenarioKind::Raw) | None => self.shard.responses,
        };
        if self.meta.duration_s > 0.0 {
            done as f64 / self.meta.duration_s
        } else {
            0.0
        }
    }

    /// Answers per second, failed ones included (a 429 is an answer): how fast the target
    /// answered, whatever it answered. Chat: messages sent per second, as [`Self::achieved_rate`].
    pub fn answered_rate(&self) -> f64 {
        let done = match self.kind() {
            Some(ScenarioKind::WsChat) => self.shard.broadcasts(),
            Some(ScenarioKind::Http | ScenarioKind::Ws | ScenarioKind::Asr | ScenarioKind::Raw) | None => self.shard.answers(),
        };
        done as f64 / self.meta.duration_s.max(1e-9)
    }

    /// What the report's per-part tables (stages, named requests) count, in this scenario's
    /// terms: (sent, ok, the latency histogram), with the column names. Requests sent, answered
    /// ok, corrected latency; chat: messages sent, copies delivered, fan-out latency (corrected).
    pub fn part_figures(&self) -> PartFigures<'_> {
        let s = &self.shard;
        match (self.kind(), s.chat()) {
            (Some(ScenarioKind::WsChat), Some(c)) => PartFigures { sent: c.broadcasts, ok: c.deliveries, latency: &c.delivery },
            (Some(ScenarioKind::WsChat), None)
            | (Some(ScenarioKind::Http | ScenarioKind::Ws | ScenarioKind::Asr | ScenarioKind::Raw) | None, _) => {
                PartFigures { sent: s.sent, ok: s.responses, latency: &s.corrected }
            }
        }
    }

    /// The unit of [`Self::achieved_rate`]: "req/s", "msg/s" (WebSocket and chat messages),
    /// "sessions/s" (ASR).
    pub fn rate_unit(&self) -> &'static str {
        match self.kind() {
            Some(ScenarioKind::Ws | ScenarioKind::WsChat) => "msg/s",
            Some(ScenarioKind::Asr) => "sessions/s",
            Some(ScenarioKind::Http | ScenarioKind::Raw) | None => "req/s",
        }
    }

    pub fn cpu_us_per_request(&self) -> Option<f64> {
        let n = self.shard.requests_total();
        (n > 0).then(|| (self.meta.cpu_user_s + self.meta.cpu_sys_s) * 1e6 / n as f64)
    }

    /// Generator memory growth per connection open at the peak, in bytes; only from 1,000
    /// connections on (below that, the run's own buffers and histograms dominate the growth).
    pub fn bytes_per_connection(&self) -> Option<f64> {
        (self.meta.rss_peak > 0 && self.shard.open_peak >= 1000)
            .then(|| self.meta.rss_peak.saturating_sub(self.meta.rss_start) as f64 / self.shard.open_peak as f64)
    }

    pub fn non_2xx_3xx(&self) -> u64 {
        self.shard.statuses().filter(|(s, _)| !(200..400).contains(s)).map(|(_, n)| n).sum()
    }

    pub fn saturation(&self) -> Saturation {
        let wall = self.meta.duration_s.max(1e-9) * self.meta.threads.max(1) as f64;
        // Polling for send times is CPU spent waiting: the CPU reason counts the rest (late sends,
        // below, tell when the work itself fell behind).
        let cpu_busy = (self.meta.cpu_user_s + self.meta.cpu_sys_s - self.meta.pacing_polled_s).max(0.0) / wall;
        let mut reasons = Vec::new();
        if cpu_busy >= BUSY_LIMIT {
            reasons.push(format!(
                "the generator used {:.0}% of its {} thread(s)' CPU time: it may be the bottleneck; add threads (-t) or processes, or move it to a larger machine",
                cpu_busy * 100.0,
                self.meta.threads
            ));
        }
        if let Some(rate) = self.meta.target_rate {
            let late = &self.shard.lateness;
            if !late.is_empty() {
                let p99 = late.value_at_quantile(0.99);
                let p50 = self.shard.corrected.value_at_quantile(0.5);
                if p99 > LATE_NS && p99 as f64 > 0.1 * p50 as f64 {
                    let late = human(p99 as f64);
                    match self.due_unsent_shares() {
                        Some((busy, _)) if busy >= DUE_BUSY_NOTE => reasons.push(format!(
                            "open-loop sends ran late (p99 send lateness {late}): {:.1}% came due while every connection was busy: add -c, unless the generator could not keep up",
                            busy * 100.0
                        )),
                        // A connect burst, not the generator: the pacing note says so.
                        Some((_, opening)) if opening >= DUE_BUSY_NOTE => {}
                        Some(_) => reasons.push(format!("open-loop sends ran late (p99 send lateness {late}) with connections free: the generator could not keep up")),
                        // a result written before the waits were counted
                        None => reasons.push(format!(
                            "open-loop sends ran late (p99 send lateness {late}): either every connection was busy (add -c) or the generator could not keep up"
                        )),
                    }
                }
            }
            // Answers of any status: a target that refuses fast (429) is not a slow generator.
            let achieved = self.answered_rate();
            if self.meta.duration_s >= 1.0 && achieved < 0.95 * rate && !self.meta.interrupted {
                let unit = self.rate_unit();
                reasons.push(format!("achieved {achieved:.0} {unit} of the {rate:.0} asked for ({:.0}%)", 100.0 * achieved / rate));
            }
        }
        Saturation { cpu_busy, saturated: !reasons.is_empty(), reasons }
    }

    /// Open loop: when sends left later than a tenth of the service time (p99 send lateness above
    /// a tenth of the service p50), latencies of that order measure the generator's own pacing,
    /// not the target. The note that says so, for the text, the HTML and the JSON. Only for
    /// results that record their pacing mode: one written before it existed reads back as it was.
    pub fn pacing_note(&self) -> Option<String> {
        let late = &self.shard.lateness;
        if !self.open_loop() || self.meta.pacing.is_none() || late.is_empty() || self.shard.service.is_empty() {
            return None;
        }
        let (p99, p50) = (late.value_at_quantile(0.99), self.shard.service.value_at_quantile(0.5));
        (p99 as f64 > 0.1 * p50 as f64).then(|| {
            let (p99, p50) = (human(p99 as f64), human(p50 as f64));
            match self.due_unsent_shares() {
                // One send in a hundred or more waited for a connection: that is in the p99.
                Some((busy, _)) if busy >= DUE_BUSY_NOTE => format!(
                    "send lateness p99 {p99} is above a tenth of the service p50 {p50}: latency below {p99} is the generator's own: {:.1}% of sends came due while all {} connections were busy (add -c)",
                    busy * 100.0,
                    self.meta.connections
                ),
                Some((_, opening)) if opening >= DUE_BUSY_NOTE => format!(
                    "send lateness p99 {p99} is above a tenth of the service p50 {p50}: latency below {p99} is the generator's own: {:.1}% of sends came due while their connections were still opening (connect p99 {})",
                    opening * 100.0,
                    human(self.shard.connect.value_at_quantile(0.99) as f64)
                ),
                Some(_) | None => format!(
                    "send lateness p99 {p99} is above a tenth of the service p50 {p50}: latency below {p99} is the generator's own pacing"
                ),
            }
        })
    }

    /// Open loop: the shares of sends that came due with no connection free, every one waiting
    /// for an answer and with the connections still opening (a connect burst, a ramp), so that
    /// part of their lateness was a wait for a connection, not the timer's. `None` in closed
    /// loop or before anything was sent.
    pub fn due_unsent_shares(&self) -> Option<(f64, f64)> {
        let (sent, due) = (self.shard.sent as f64, &self.shard.due);
        (self.open_loop() && self.shard.sent > 0 && due.known).then(|| (due.busy as f64 / sent, due.opening as f64 / sent))
    }

    /// The result as its JSON document (`stampede.result/1`).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.to_doc()).unwrap_or(Value::Null)
    }

    /// Reads a result written by [`RunResult::to_json`] (or by an earlier version) back,
    /// histograms included.
    pub fn from_json(v: &Value) -> Result<RunResult, String> {
        RunResult::from_doc(&ResultDoc::from_value(v)?)
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
