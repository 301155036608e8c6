//! The run result: merged shard plus run facts, rendered as text (people) and versioned JSON
//! (machines), and read back from JSON so results of several processes or machines merge
//! without loss (histograms travel as HdrHistogram V2 + deflate, base64).
//!
//! Pure: no I/O, no clock. Saturation (was the generator itself the limit?) is decided here
//! from the figures, so it can be tested on hand-built inputs.

use std::fmt::Write as _;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use super::timeline::{merge_aligned, IntervalRec, MonitorSeries, StageResult};
use super::{new_histogram, ErrorClass, Shard};

/// Version tag of the JSON result. Bump on an incompatible change.
pub const SCHEMA: &str = "stampede.result/1";

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
}

/// Whether the generator, not the target, limited the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Saturation {
    /// Generator CPU (user + sys) over wall time × threads.
    pub cpu_busy: f64,
    pub saturated: bool,
    pub reasons: Vec<String>,
}

/// CPU share above which the generator's threads count as saturated.
pub const BUSY_LIMIT: f64 = 0.90;

const NS_PER_MS: f64 = 1e6;
/// Send lateness (p99) above which open-loop pacing counts as not held. The runtime's timer
/// ticks in 1 ms steps, so a millisecond or two of lateness is the floor, not saturation.
pub const LATE_NS: u64 = 5_000_000;

pub(crate) fn ms(ns: u64) -> f64 {
    ns as f64 / NS_PER_MS
}

/// Human duration from nanoseconds: µs below 1 ms, ms below 1 s, else s.
pub fn human(ns: f64) -> String {
    if ns < 1e6 {
        format!("{:.2}µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b < 1024.0 {
        format!("{b:.0} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} MiB", b / 1048576.0)
    } else {
        format!("{:.2} GiB", b / 1073741824.0)
    }
}

pub(crate) fn encode_hist(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
        Err(_) => String::new(),
    }
}

/// V2 + deflate bytes of a histogram (empty on failure).
pub(crate) fn pack_hist(h: &Histogram<u64>) -> Vec<u8> {
    let mut buf = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut buf) {
        Ok(_) => buf,
        Err(_) => Vec::new(),
    }
}

pub(crate) fn unpack_hist(bytes: &[u8]) -> Result<Histogram<u64>, String> {
    let h: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).map_err(|e| format!("histogram does not decode: {e:?}"))?;
    let mut out = new_histogram();
    out.add(&h).map_err(|e| format!("histogram out of range: {e:?}"))?;
    Ok(out)
}

pub(crate) fn decode_hist(s: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| format!("histogram is not base64: {e}"))?;
    let h: Histogram<u64> =
        Deserializer::new().deserialize(&mut bytes.as_slice()).map_err(|e| format!("histogram does not decode: {e:?}"))?;
    let mut out = new_histogram();
    out.add(&h).map_err(|e| format!("histogram out of range: {e:?}"))?;
    Ok(out)
}

/// p50 / p99 / max in ms, or nulls when nothing was recorded.
fn short_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"p50": null, "p99": null, "max": null});
    }
    json!({"p50": ms(h.value_at_quantile(0.5)), "p99": ms(h.value_at_quantile(0.99)), "max": ms(h.max())})
}

fn lat_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"min": null, "mean": null, "p50": null, "p90": null, "p99": null, "p999": null, "p9999": null, "max": null});
    }
    json!({
        "min": ms(h.min()),
        "mean": h.mean() / NS_PER_MS,
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "p9999": ms(h.value_at_quantile(0.9999)),
        "max": ms(h.max()),
    })
}

impl RunResult {
    pub fn new(meta: RunMeta, shard: Shard) -> RunResult {
        RunResult { meta, shard, stages: Vec::new(), intervals: Vec::new(), monitor: Vec::new(), by_name: Vec::new(), aborted: None }
    }

    /// Stage `i` as a result of its own (for its thresholds and its report lines).
    pub fn stage_result(&self, i: usize) -> Option<RunResult> {
        let st = self.stages.get(i)?;
        let meta = RunMeta { duration_s: (st.end_s - st.start_s).max(1e-9), ..self.meta.clone() };
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

    fn by_name_json(&self) -> Value {
        let mut m = Map::new();
        for (name, shard) in &self.by_name {
            let Some(r) = self.named_result(name) else { continue };
            let h = &shard.corrected;
            let q = |p: f64| (!h.is_empty()).then(|| ms(h.value_at_quantile(p)));
            m.insert(
                name.clone(),
                json!({
                    "sent": shard.sent,
                    "ok": shard.responses,
                    "errors": shard.failed,
                    "rps": r.achieved_rate(),
                    "latency_ms": {"p50": q(0.5), "p90": q(0.9), "p95": q(0.95), "p99": q(0.99), "max": (!h.is_empty()).then(|| ms(h.max()))},
                    "status": shard.statuses().map(|(c, n)| (c.to_string(), json!(n))).collect::<Map<String, Value>>(),
                    "result": r.to_json(),
                }),
            );
        }
        Value::Object(m)
    }

    /// One line per named request of a mix (empty without a mix).
    pub fn render_by_name(&self) -> String {
        if self.by_name.is_empty() {
            return String::new();
        }
        let mut o = String::from("\nRequests by name\n");
        let _ =
            writeln!(o, "  {:<16} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}", "name", "sent", "ok", "errors", "rps", "p50", "p95", "p99");
        for (name, shard) in &self.by_name {
            let Some(r) = self.named_result(name) else { continue };
            let h = &shard.corrected;
            let q = |p: f64| if h.is_empty() { "-".to_string() } else { human(h.value_at_quantile(p) as f64) };
            let _ = writeln!(
                o,
                "  {:<16} {:>9} {:>9} {:>7} {:>9.1} {:>9} {:>9} {:>9}",
                name,
                shard.sent,
                shard.responses,
                shard.failed,
                r.achieved_rate(),
                q(0.5),
                q(0.95),
                q(0.99)
            );
        }
        o
    }

    /// The name of the stage running `t_s` seconds into the run.
    fn stage_name_at(&self, t_s: f64) -> Option<&str> {
        self.stages.iter().find(|s| t_s > s.start_s && t_s <= s.end_s + 1e-9).map(|s| s.name.as_str())
    }

    fn stages_json(&self) -> Value {
        let stages: Vec<Value> = (0..self.stages.len())
            .filter_map(|i| {
                let st = &self.stages[i];
                let r = self.stage_result(i)?;
                let h = &st.shard.corrected;
                let q = |p: f64| (!h.is_empty()).then(|| ms(h.value_at_quantile(p)));
                Some(json!({
                    "name": st.name,
                    "start_s": st.start_s,
                    "end_s": st.end_s,
                    "shape": st.shape,
                    "sent": st.shard.sent,
                    "ok": st.shard.responses,
                    "errors": st.shard.failed,
                    "in_flight_at_end": st.shard.in_flight,
                    "rps": r.achieved_rate(),
                    "latency_ms": {"p50": q(0.5), "p90": q(0.9), "p95": q(0.95), "p99": q(0.99), "max": (!h.is_empty()).then(|| ms(h.max()))},
                    "status": st.shard.statuses().map(|(c, n)| (c.to_string(), json!(n))).collect::<Map<String, Value>>(),
                    "result": r.to_json(),
                }))
            })
            .collect();
        Value::Array(stages)
    }

    pub fn open_loop(&self) -> bool {
        self.meta.target_rate.is_some()
    }

    /// Answers per second (chat: messages sent per second, as nothing answers them).
    pub fn achieved_rate(&self) -> f64 {
        let done = if self.shard.broadcasts > 0 { self.shard.broadcasts } else { self.shard.responses };
        if self.meta.duration_s > 0.0 {
            done as f64 / self.meta.duration_s
        } else {
            0.0
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
        let cpu_busy = (self.meta.cpu_user_s + self.meta.cpu_sys_s) / wall;
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
                    reasons.push(format!(
                        "open-loop sends ran late (p99 send lateness {}): either every connection was busy (add -c) or the generator could not keep up",
                        human(p99 as f64)
                    ));
                }
            }
            let achieved = self.achieved_rate();
            if self.meta.duration_s >= 1.0 && achieved < 0.95 * rate && !self.meta.interrupted {
                reasons.push(format!("achieved {achieved:.0} req/s of the {rate:.0} asked for ({:.0}%)", 100.0 * achieved / rate));
            }
        }
        Saturation { cpu_busy, saturated: !reasons.is_empty(), reasons }
    }

    /// Streaming-session figures (`null` unless frames were streamed).
    fn asr_json(&self) -> Value {
        let s = &self.shard;
        if s.frame_lag.is_empty() {
            return Value::Null;
        }
        let rtf = |q: f64| (!s.rtf_permille.is_empty()).then(|| s.rtf_permille.value_at_quantile(q) as f64 / 1000.0);
        json!({
            "sessions": {"started": s.sent, "completed": s.responses, "failed": s.failed, "in_flight": s.in_flight},
            "time_to_first_partial_ms": short_json(&s.first_partial),
            "final_latency_ms": {"corrected": short_json(&s.corrected), "service": short_json(&s.service)},
            "frame_send_lag_ms": short_json(&s.frame_lag),
            "frames_sent": s.frame_lag.len(),
            "rtf": {"p50": rtf(0.5), "p99": rtf(0.99), "max": rtf(1.0)},
            "partials": s.partials,
            "partials_per_session": if s.responses > 0 { s.partials as f64 / s.responses as f64 } else { 0.0 },
        })
    }

    pub fn to_json(&self) -> Value {
        let s = &self.shard;
        let sat = self.saturation();
        let status: Map<String, Value> = s.statuses().map(|(code, n)| (code.to_string(), json!(n))).collect();
        let errors: Map<String, Value> =
            ErrorClass::ALL.iter().filter(|c| s.errors_of(**c) > 0).map(|c| (c.name().to_string(), json!(s.errors_of(*c)))).collect();
        let lateness = if self.open_loop() && !s.lateness.is_empty() {
            json!({"p50": ms(s.lateness.value_at_quantile(0.5)), "p99": ms(s.lateness.value_at_quantile(0.99)), "max": ms(s.lateness.max())})
        } else {
            Value::Null
        };
        let connect = short_json(&s.connect);
        let handshake = short_json(&s.handshake);
        let acc = s.accounting();
        json!({
            "schema": SCHEMA,
            "scenario": self.meta.scenario,
            "target": self.meta.target,
            "driver": self.meta.driver,
            "threads": self.meta.threads,
            "pipeline": self.meta.pipeline,
            "duration_s": self.meta.duration_s,
            "started_unix_ms": self.meta.started_unix_ms,
            "interrupted": self.meta.interrupted,
            "aborted": self.aborted,
            "loop": if self.open_loop() { "open" } else { "closed" },
            "requests": {"total": s.requests_total(), "ok": s.responses, "errors": s.failed, "sent": s.sent, "in_flight": s.in_flight},
            "accounting": {"sent": acc.sent, "ok": acc.ok, "errors": acc.errors, "in_flight": acc.in_flight, "balanced": acc.balanced()},
            "rate": {"achieved_per_s": self.achieved_rate(), "target_per_s": self.meta.target_rate},
            "latency_ms": lat_json(&s.corrected),
            "service_latency_ms": lat_json(&s.service),
            "send_lateness_ms": lateness,
            "connect_ms": connect,
            "handshake_ms": handshake,
            "tls": if s.tls.is_empty() { Value::Null } else { json!({
                "handshakes": s.tls.len(),
                "resumed": s.tls_resumed,
                "handshake_ms": short_json(&s.tls),
            }) },
            "status": status,
            "non_2xx_3xx": self.non_2xx_3xx(),
            "close_codes": s.close_codes.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| (super::close_slot_name(i), json!(n))).collect::<Map<String, Value>>(),
            "errors": errors,
            "bytes": {"read": s.bytes_read, "written": s.bytes_written},
            "generator": {
                "cpu_user_s": self.meta.cpu_user_s,
                "cpu_sys_s": self.meta.cpu_sys_s,
                "cpu_us_per_request": self.cpu_us_per_request(),
                "cpu_busy": sat.cpu_busy,
                "saturated": sat.saturated,
                "saturation_reasons": sat.reasons,
                "rss_start_bytes": self.meta.rss_start,
                "rss_peak_bytes": self.meta.rss_peak,
                "bytes_per_connection": self.bytes_per_connection(),
            },
            "connections": {"planned": self.meta.connections, "attempted": s.connects_attempted, "established": s.connects_ok, "peak_open": s.open_peak, "mean_open": s.mean_open(), "samples": s.open_samples, "samples_sum": s.open_samples_sum},
            "histograms": {
                "corrected": encode_hist(&s.corrected),
                "service": encode_hist(&s.service),
                "lateness": encode_hist(&s.lateness),
                "connect": encode_hist(&s.connect),
                "handshake": encode_hist(&s.handshake),
                "tls": encode_hist(&s.tls),
                "frame_lag": encode_hist(&s.frame_lag),
                "first_partial": encode_hist(&s.first_partial),
                "rtf_permille": encode_hist(&s.rtf_permille),
                "delivery": encode_hist(&s.delivery),
            },
            "asr": self.asr_json(),
            "chat": if s.broadcasts == 0 { Value::Null } else { json!({
                "messages_sent": s.broadcasts,
                "deliveries": s.deliveries,
                "deliveries_per_message": s.deliveries as f64 / s.broadcasts as f64,
                "delivery_latency_ms": short_json(&s.delivery),
            }) },
            "stages": self.stages_json(),
            "by_name": self.by_name_json(),
            "monitor": self.monitor.iter().map(MonitorSeries::to_json).collect::<Vec<_>>(),
            "intervals": self.intervals.iter().map(|r| r.to_json(self.stage_name_at(r.t_s as f64 - 0.5))).collect::<Vec<_>>(),
        })
    }

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

    /// Reads a result written by [`RunResult::to_json`] back, histograms included.
    pub fn from_json(v: &Value) -> Result<RunResult, String> {
        if v["schema"] != SCHEMA {
            return Err(format!("not a {SCHEMA} result (schema: {})", v["schema"]));
        }
        let num = |path: &[&str]| -> Result<u64, String> {
            path.iter().fold(v, |v, k| &v[*k]).as_u64().ok_or_else(|| format!("missing or bad field {}", path.join(".")))
        };
        let float = |path: &[&str]| -> Result<f64, String> {
            path.iter().fold(v, |v, k| &v[*k]).as_f64().ok_or_else(|| format!("missing or bad field {}", path.join(".")))
        };
        let text =
            |k: &str| -> Result<String, String> { v[k].as_str().map(str::to_string).ok_or_else(|| format!("missing or bad field {k}")) };
        let hist = |k: &str| -> Result<Histogram<u64>, String> {
            decode_hist(v["histograms"][k].as_str().ok_or_else(|| format!("missing histogram {k}"))?)
        };
        let mut s = Shard::new();
        s.corrected = hist("corrected")?;
        s.service = hist("service")?;
        s.lateness = hist("lateness")?;
        s.connect = hist("connect")?;
        s.handshake = hist("handshake")?;
        // Streaming figures are absent from results written before they existed.
        let optional = |k: &str| v["histograms"][k].as_str().map(decode_hist).transpose();
        s.frame_lag = optional("frame_lag")?.unwrap_or_else(new_histogram);
        s.tls = optional("tls")?.unwrap_or_else(new_histogram);
        s.tls_resumed = v["tls"]["resumed"].as_u64().unwrap_or(0);
        s.first_partial = optional("first_partial")?.unwrap_or_else(new_histogram);
        s.rtf_permille = optional("rtf_permille")?.unwrap_or_else(new_histogram);
        s.partials = v["asr"]["partials"].as_u64().unwrap_or(0);
        s.delivery = optional("delivery")?.unwrap_or_else(new_histogram);
        s.broadcasts = v["chat"]["messages_sent"].as_u64().unwrap_or(0);
        s.deliveries = v["chat"]["deliveries"].as_u64().unwrap_or(0);
        if let Some(map) = v["close_codes"].as_object() {
            for (name, n) in map {
                let slot = match name.as_str() {
                    "none" => 16,
                    "other" => 17,
                    code => super::close_slot(code.parse().ok()),
                };
                s.close_codes[slot] = n.as_u64().unwrap_or(0);
            }
        }
        s.sent = num(&["requests", "sent"])?;
        s.responses = num(&["requests", "ok"])?;
        s.failed = num(&["requests", "errors"])?;
        s.in_flight = num(&["requests", "in_flight"])?;
        if let Some(map) = v["status"].as_object() {
            for (code, n) in map {
                let code: usize = code.parse().map_err(|_| format!("bad status code {code}"))?;
                let slot = s.status.get_mut(code).ok_or_else(|| format!("bad status code {code}"))?;
                *slot = n.as_u64().ok_or("bad status count")?;
            }
        }
        if let Some(map) = v["errors"].as_object() {
            for (name, n) in map {
                let class = ErrorClass::from_name(name).ok_or_else(|| format!("unknown error class {name}"))?;
                s.errors[class as usize] = n.as_u64().ok_or("bad error count")?;
            }
        }
        s.bytes_read = num(&["bytes", "read"])?;
        s.bytes_written = num(&["bytes", "written"])?;
        s.connects_attempted = num(&["connections", "attempted"])?;
        s.connects_ok = num(&["connections", "established"])?;
        s.open_peak = num(&["connections", "peak_open"])?;
        s.open_samples = num(&["connections", "samples"])?;
        s.open_samples_sum = num(&["connections", "samples_sum"])?;
        let meta = RunMeta {
            scenario: text("scenario")?,
            target: text("target")?,
            driver: text("driver")?,
            threads: num(&["threads"])? as usize,
            connections: num(&["connections", "planned"])?,
            pipeline: num(&["pipeline"])? as u32,
            duration_s: float(&["duration_s"])?,
            target_rate: v["rate"]["target_per_s"].as_f64(),
            cpu_user_s: float(&["generator", "cpu_user_s"])?,
            cpu_sys_s: float(&["generator", "cpu_sys_s"])?,
            interrupted: v["interrupted"].as_bool().unwrap_or(false),
            started_unix_ms: num(&["started_unix_ms"])?,
            rss_start: v["generator"]["rss_start_bytes"].as_u64().unwrap_or(0),
            rss_peak: v["generator"]["rss_peak_bytes"].as_u64().unwrap_or(0),
        };
        let mut r = RunResult::new(meta, s);
        if let Some(ivs) = v["intervals"].as_array() {
            r.intervals = ivs.iter().map(IntervalRec::from_json).collect::<Result<_, _>>()?;
        }
        r.aborted = v["aborted"].as_str().map(String::from);
        if let Some(names) = v["by_name"].as_object() {
            for (name, entry) in names.iter().filter(|(_, e)| e["result"].is_object()) {
                let inner = RunResult::from_json(&entry["result"]).map_err(|e| format!("request {name}: {e}"))?;
                r.by_name.push((name.clone(), inner.shard));
            }
        }
        if let Some(m) = v["monitor"].as_array() {
            r.monitor = m.iter().map(MonitorSeries::from_json).collect();
        }
        if let Some(stages) = v["stages"].as_array() {
            // A stage without its full result (hand-written JSON) is left out.
            for st in stages.iter().filter(|st| st["result"].is_object()) {
                let inner = RunResult::from_json(&st["result"]).map_err(|e| format!("stage {}: {e}", st["name"]))?;
                r.stages.push(StageResult {
                    name: st["name"].as_str().unwrap_or("").to_string(),
                    start_s: st["start_s"].as_f64().unwrap_or(0.0),
                    end_s: st["end_s"].as_f64().unwrap_or(0.0),
                    shape: st["shape"].as_str().unwrap_or("").to_string(),
                    shard: inner.shard,
                });
            }
        }
        Ok(r)
    }

    /// The stage table: one line per stage of a plan (empty without stages).
    pub fn render_stages(&self) -> String {
        if self.stages.is_empty() {
            return String::new();
        }
        let mut o = String::from("\nStages\n");
        let _ = writeln!(
            o,
            "  {:<16} {:>13}  {:<34} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9}",
            "stage", "time", "shape", "sent", "ok", "errors", "rps", "p50", "p99"
        );
        for i in 0..self.stages.len() {
            let (st, Some(r)) = (&self.stages[i], self.stage_result(i)) else { continue };
            let h = &st.shard.corrected;
            let q = |p: f64| if h.is_empty() { "-".to_string() } else { human(h.value_at_quantile(p) as f64) };
            let _ = writeln!(
                o,
                "  {:<16} {:>13}  {:<34} {:>9} {:>9} {:>7} {:>9.1} {:>9} {:>9}",
                st.name,
                format!("{:.0}-{:.0}s", st.start_s, st.end_s),
                st.shape,
                st.shard.sent,
                st.shard.responses,
                st.shard.failed,
                r.achieved_rate(),
                q(0.5),
                q(0.99)
            );
        }
        o
    }

    /// One line per `--monitor-pid` target (empty without any).
    pub fn render_monitor(&self) -> String {
        let mut o = String::new();
        for m in &self.monitor {
            let cpu = match (m.cpu_mean(), m.cpu_max()) {
                (Some(a), Some(b)) => format!("CPU mean {a:.0}%, max {b:.0}% of a CPU"),
                _ => "no sample".to_string(),
            };
            let rss = m.rss_peak().map_or(String::new(), |b| format!("; RSS peak {}", human_bytes(b)));
            let gone = m.exited_at_s.map_or(String::new(), |t| format!("; EXITED {t:.1}s into the run"));
            let _ = writeln!(o, "Target     pid {} ({}): {cpu}{rss}{gone}", m.pid, m.name);
        }
        o
    }

    pub fn render_text(&self) -> String {
        let s = &self.shard;
        let m = &self.meta;
        let mut o = String::new();
        let mode = match m.target_rate {
            Some(r) => format!("open loop at {r} req/s"),
            None => "closed loop".to_string(),
        };
        let _ = writeln!(o);
        if let Some(why) = &self.aborted {
            let _ = writeln!(o, "*** ABORTED: {why}; figures cover {:.2}s ***", m.duration_s);
        } else if m.interrupted {
            let _ = writeln!(o, "*** INTERRUPTED: the run was stopped early; figures cover {:.2}s ***", m.duration_s);
        }
        let _ = writeln!(o, "stampede {} {}", m.scenario, m.target);
        let _ = writeln!(
            o,
            "  {mode}, {} connections, {} threads, pipeline {}, {:.2}s, driver {}",
            m.connections, m.threads, m.pipeline, m.duration_s, m.driver
        );
        let _ = writeln!(o);
        // WebSocket runs count messages; the figures mean the same.
        let (what, per) = match m.scenario.as_str() {
            "ws" => ("Messages", "msg/s"),
            "asr" => ("Sessions", "sessions/s"),
            _ => ("Requests", "req/s"),
        };
        let chat = s.broadcasts > 0;
        if chat {
            // Chat messages are not answered: they are sent, and delivered to room members.
            let per_s = |n: u64| n as f64 / m.duration_s.max(1e-9);
            let target = m.target_rate.map_or(String::new(), |r| format!(" (target {r})"));
            let _ = writeln!(
                o,
                "Messages   {} sent ({:.1}/s{target}), {} delivered ({:.1}/s)",
                s.broadcasts,
                per_s(s.broadcasts),
                s.deliveries,
                per_s(s.deliveries)
            );
        } else {
            let _ =
                writeln!(o, "{what:<10} {} sent, {} ok, {} failed, {} in flight at the end", s.sent, s.responses, s.failed, s.in_flight);
            let _ = writeln!(o, "{}", accounting_line(&s.accounting()));
            let _ = writeln!(
                o,
                "Rate       {:.1} {per} achieved{}",
                self.achieved_rate(),
                m.target_rate.map_or(String::new(), |r| format!(" (target {r})"))
            );
        }
        let _ = writeln!(o, "Transfer   {} read, {} written", human_bytes(s.bytes_read), human_bytes(s.bytes_written));
        let _ = writeln!(o);
        let pcts: [(&str, f64); 6] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("p99.99", 0.9999), ("max", 1.0)];
        let fmt_q = |h: &Histogram<u64>, q: f64| -> String {
            if h.is_empty() {
                "-".into()
            } else if q >= 1.0 {
                human(h.max() as f64)
            } else {
                human(h.value_at_quantile(q) as f64)
            }
        };
        if chat {
            // the fan-out latency is on the Chat line below
        } else if self.open_loop() {
            let _ = writeln!(o, "Latency    {:>12} {:>12} {:>12}", "corrected", "service", "send late");
            let _ = writeln!(o, "  {:<8} {:>12} {:>12} {:>12}", "min", fmt_min(&s.corrected), fmt_min(&s.service), fmt_min(&s.lateness));
            let _ =
                writeln!(o, "  {:<8} {:>12} {:>12} {:>12}", "mean", fmt_mean(&s.corrected), fmt_mean(&s.service), fmt_mean(&s.lateness));
            for (name, q) in pcts {
                let _ =
                    writeln!(o, "  {:<8} {:>12} {:>12} {:>12}", name, fmt_q(&s.corrected, q), fmt_q(&s.service, q), fmt_q(&s.lateness, q));
            }
            let _ = writeln!(o, "  (corrected: from the intended send time; service: from the actual send)");
        } else {
            let _ = writeln!(o, "Latency    (closed loop: latency = service time)");
            let _ = writeln!(o, "  {:<8} {:>12}", "min", fmt_min(&s.service));
            let _ = writeln!(o, "  {:<8} {:>12}", "mean", fmt_mean(&s.service));
            for (name, q) in pcts {
                let _ = writeln!(o, "  {:<8} {:>12}", name, fmt_q(&s.service, q));
            }
        }
        let _ = writeln!(o);
        let statuses: Vec<String> = s.statuses().map(|(c, n)| format!("{c}: {n}")).collect();
        let _ = writeln!(o, "Status     {}", if statuses.is_empty() { "none".to_string() } else { statuses.join(", ") });
        let nn = self.non_2xx_3xx();
        if nn > 0 {
            let _ = writeln!(o, "           {nn} responses were not 2xx/3xx");
        }
        let closes: Vec<String> =
            s.close_codes.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| format!("{}: {n}", super::close_slot_name(i))).collect();
        if !closes.is_empty() {
            let _ = writeln!(o, "Closes     by the server: {}", closes.join(", "));
        }
        let errors: Vec<String> =
            ErrorClass::ALL.iter().filter(|c| s.errors_of(**c) > 0).map(|c| format!("{}: {}", c.name(), s.errors_of(*c))).collect();
        let _ = writeln!(o, "Errors     {}", if errors.is_empty() { "none".to_string() } else { errors.join(", ") });
        for hint in ErrorClass::ALL.iter().filter(|c| s.errors_of(**c) > 0).filter_map(|c| c.hint().map(|h| (c.name(), h))) {
            let _ = writeln!(o, "           {}: {}", hint.0, hint.1);
        }
        let _ = writeln!(
            o,
            "Connections {} attempted, {} established, peak {} open, mean {:.1} open, connect p50 {} p99 {}",
            s.connects_attempted,
            s.connects_ok,
            s.open_peak,
            s.mean_open(),
            fmt_q(&s.connect, 0.5),
            fmt_q(&s.connect, 0.99)
        );
        if !s.tls.is_empty() {
            let _ = writeln!(
                o,
                "TLS        {} handshakes ({} resumed), p50 {} p99 {} max {}",
                s.tls.len(),
                s.tls_resumed,
                fmt_q(&s.tls, 0.5),
                fmt_q(&s.tls, 0.99),
                fmt_q(&s.tls, 1.0)
            );
        }
        if !s.handshake.is_empty() {
            let _ = writeln!(
                o,
                "Handshake  p50 {} p99 {} max {}",
                fmt_q(&s.handshake, 0.5),
                fmt_q(&s.handshake, 0.99),
                fmt_q(&s.handshake, 1.0)
            );
        }
        if s.broadcasts > 0 {
            let _ = writeln!(
                o,
                "Chat       {} messages sent, {} delivered ({:.1} per message), fan-out latency p50 {} p99 {} max {}",
                s.broadcasts,
                s.deliveries,
                s.deliveries as f64 / s.broadcasts as f64,
                fmt_q(&s.delivery, 0.5),
                fmt_q(&s.delivery, 0.99),
                fmt_q(&s.delivery, 1.0)
            );
        }
        if !s.frame_lag.is_empty() {
            let rtf = |q: f64| {
                if s.rtf_permille.is_empty() {
                    "-".to_string()
                } else {
                    format!("{:.3}", s.rtf_permille.value_at_quantile(q) as f64 / 1000.0)
                }
            };
            let _ = writeln!(o, "Streaming  sessions: {} started, {} completed, {} failed", s.sent, s.responses, s.failed);
            let _ =
                writeln!(o, "           time to first partial p50 {} p99 {}", fmt_q(&s.first_partial, 0.5), fmt_q(&s.first_partial, 0.99));
            let _ = writeln!(
                o,
                "           final latency (from the last frame's due time) p50 {} p99 {}",
                fmt_q(&s.corrected, 0.5),
                fmt_q(&s.corrected, 0.99)
            );
            let _ = writeln!(
                o,
                "           frame send lag p99 {} max {} over {} frames (pacing held if small)",
                fmt_q(&s.frame_lag, 0.99),
                fmt_q(&s.frame_lag, 1.0),
                s.frame_lag.len()
            );
            let _ = writeln!(
                o,
                "           real-time factor p50 {} p99 {}, {:.1} partials per session",
                rtf(0.5),
                rtf(0.99),
                if s.responses > 0 { s.partials as f64 / s.responses as f64 } else { 0.0 }
            );
        }
        let _ = writeln!(
            o,
            "Generator  CPU {:.2}s user + {:.2}s sys = {:.0}% of {} thread(s){}",
            m.cpu_user_s,
            m.cpu_sys_s,
            self.saturation().cpu_busy * 100.0,
            m.threads,
            self.cpu_us_per_request().map_or(String::new(), |us| format!(", {us:.2} µs CPU per request"))
        );
        if self.meta.rss_peak > 0 {
            let _ = writeln!(
                o,
                "Memory     RSS peak {} ({} at start){}",
                human_bytes(self.meta.rss_peak),
                human_bytes(self.meta.rss_start),
                self.bytes_per_connection().map_or(String::new(), |b| format!(", {:.1} KiB per open connection", b / 1024.0))
            );
        }
        let sat = self.saturation();
        if sat.saturated {
            let _ = writeln!(o);
            let _ = writeln!(o, "WARNING: the generator itself may have limited this run:");
            for r in &sat.reasons {
                let _ = writeln!(o, "  - {r}");
            }
        }
        o
    }
}

/// `Accounting  1000 sent = 900 ok + 95 errors + 5 in flight`, flagged when it does not add up.
pub fn accounting_line(a: &super::Accounting) -> String {
    let mut line = format!("Accounting  {} sent = {} ok + {} errors + {} in flight", a.sent, a.ok, a.errors, a.in_flight);
    if !a.balanced() {
        let counted = a.ok as i128 + a.errors as i128 + a.in_flight as i128;
        line.push_str(&format!("  UNBALANCED: {} counted for {} sent (a stampede bug: please report it)", counted, a.sent));
    }
    line
}

fn fmt_min(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        "-".into()
    } else {
        human(h.min() as f64)
    }
}

fn fmt_mean(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        "-".into()
    } else {
        human(h.mean())
    }
}

/// The full percentile distribution of the (corrected) latency, for `--latency`.
pub fn render_distribution(r: &RunResult) -> String {
    let h = &r.shard.corrected;
    let mut o = String::new();
    let _ = writeln!(o, "\nLatency distribution ({}):", if r.open_loop() { "corrected" } else { "service" });
    if h.is_empty() {
        let _ = writeln!(o, "  no responses");
        return o;
    }
    for q in [0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 0.99999, 1.0] {
        let v = if q >= 1.0 { h.max() } else { h.value_at_quantile(q) };
        let _ = writeln!(o, "  {:>9.3}%  {:>12}", q * 100.0, human(v as f64));
    }
    o
}

/// One line for the live display: elapsed time and the last second's figures.
pub fn live_line(rec: &IntervalRec) -> String {
    let p99 = if rec.answered == 0 { "-".to_string() } else { human(rec.quantiles[2] as f64) };
    format!("[{:>5}s] {:>9} req/s  {:>6} errors  {:>6} open  p99 {p99}", rec.t_s, rec.ok, rec.errors, rec.open)
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
