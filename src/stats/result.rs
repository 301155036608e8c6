//! The result schema (`stampede.result/1`), defined once as serde types: what `--json` writes,
//! what `merge`, `--processes`, `report`, `compare` and `--junit` read back.
//!
//! The field names and meanings are the ones the hand-written JSON of earlier versions used, so
//! results written before these types existed load unchanged (`tests/fixtures/v1`). Fields that
//! older writers did not emit carry `#[serde(default)]`. Per-scenario sections (`asr`, `chat`,
//! `tls`) are typed and absent (`null`) when the run had none; the scenario itself is named by
//! [`ScenarioKind`].
//!
//! Pure: no I/O, no clock. Converting to and from the in-memory [`super::report::RunResult`]
//! lives in `convert.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version tag of the JSON result. Bump on an incompatible change.
pub const SCHEMA: &str = "stampede.result/1";

/// The scenarios a result can come from (the `scenario` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScenarioKind {
    Http,
    Ws,
    WsChat,
    Asr,
    Raw,
}

impl ScenarioKind {
    pub const ALL: [ScenarioKind; 5] = [ScenarioKind::Http, ScenarioKind::Ws, ScenarioKind::WsChat, ScenarioKind::Asr, ScenarioKind::Raw];

    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::Http => "http",
            ScenarioKind::Ws => "ws",
            ScenarioKind::WsChat => "ws-chat",
            ScenarioKind::Asr => "asr",
            ScenarioKind::Raw => "raw",
        }
    }

    /// The kind named `name` (`None` for a name this version does not know).
    pub fn from_name(name: &str) -> Option<ScenarioKind> {
        ScenarioKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Open loop (paced at a target rate) or closed loop (the next request when the answer is in).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loop {
    Open,
    #[default]
    Closed,
}

/// The whole result document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultDoc {
    pub schema: String,
    pub scenario: String,
    pub target: String,
    pub driver: String,
    pub threads: u64,
    pub pipeline: u64,
    pub duration_s: f64,
    pub started_unix_ms: u64,
    #[serde(default)]
    pub interrupted: bool,
    #[serde(default)]
    pub aborted: Option<String>,
    /// Why a run without an end time stopped by itself (nothing progressed for too long).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled: Option<String>,
    /// A `--processes` run with parts missing: the figures cover only the parts that reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<PartialDoc>,
    /// A plan's `[[setup]]` requests, measured apart from the load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<Vec<super::setup::SetupStepDoc>>,
    #[serde(rename = "loop", default)]
    pub loop_mode: Loop,
    /// How the workers waited for scheduled sends (`--pacing`: "sleep" or "spin"); absent in
    /// results written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing: Option<String>,
    pub requests: Requests,
    #[serde(default)]
    pub accounting: AccountingDoc,
    pub rate: Rate,
    #[serde(default)]
    pub latency_ms: Latency,
    #[serde(default)]
    pub service_latency_ms: Latency,
    #[serde(default)]
    pub send_lateness_ms: Option<Short>,
    #[serde(default)]
    pub connect_ms: Short,
    #[serde(default)]
    pub handshake_ms: Short,
    #[serde(default)]
    pub tls: Option<TlsDoc>,
    #[serde(default)]
    pub status: BTreeMap<String, u64>,
    #[serde(default)]
    pub non_2xx_3xx: u64,
    #[serde(default)]
    pub close_codes: BTreeMap<String, u64>,
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Protocol errors by reason (`"too many headers": 70`); they add up to `errors.protocol`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub protocol_errors: BTreeMap<String, u64>,
    /// Answers whose status failed the request, by code (`"503": 400`); they add up to
    /// `errors.status` and are counted in `status` too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_errors: BTreeMap<String, u64>,
    /// The checks on answers (`--expect-*`), when the run had any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<ChecksDoc>,
    /// Messages the server pushed that no request asked for (WebSocket).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pushed: u64,
    /// The protocol's openings (WebSocket upgrades), when the run had any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openings: Option<OpeningsDoc>,
    /// The part of `errors` that were failed connects or openings, not requests (absent in
    /// results written before it existed, and when there are none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connect_errors: BTreeMap<String, u64>,
    pub bytes: Bytes,
    pub generator: Generator,
    pub connections: Connections,
    pub histograms: Histograms,
    #[serde(default)]
    pub asr: Option<AsrDoc>,
    #[serde(default)]
    pub chat: Option<ChatDoc>,
    #[serde(default)]
    pub stages: Vec<StageDoc>,
    #[serde(default)]
    pub by_name: BTreeMap<String, PartDoc>,
    #[serde(default)]
    pub monitor: Vec<MonitorDoc>,
    #[serde(default)]
    pub intervals: Vec<IntervalDoc>,
    /// The verdicts of the run's thresholds (added by the command that judged them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<VerdictDoc>>,
    /// Every threshold judged (run, stages, named requests), counted: what the exit code says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<VerdictSummary>,
    /// The host the run ran on (the preflight's `Host`, added by the run command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Value>,
}

impl ResultDoc {
    pub fn kind(&self) -> Option<ScenarioKind> {
        ScenarioKind::from_name(&self.scenario)
    }

    /// Parses a document, checking the schema tag first (so the error names the schema).
    pub fn from_value(v: &Value) -> Result<ResultDoc, String> {
        if v["schema"] != SCHEMA {
            return Err(format!("not a {SCHEMA} result (schema: {})", v["schema"]));
        }
        // The histograms are what a result cannot do without: name the first one missing.
        for k in ["corrected", "service", "lateness", "connect", "handshake"] {
            if !v["histograms"][k].is_string() {
                return Err(format!("missing histogram {k}"));
            }
        }
        ResultDoc::deserialize(v).map_err(|e| format!("missing or bad field: {e}"))
    }
}

/// Checks on answers: `checked = passed + answers that failed at least one`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChecksDoc {
    pub checked: u64,
    pub passed: u64,
    /// Share of checked answers that passed every check, in % (`null`: nothing checked).
    pub passed_pct: Option<f64>,
    /// Answers that failed each check, by check name (`"body contains \"ok\"": 3`).
    pub failed: BTreeMap<String, u64>,
}

/// All thresholds of a run counted (`"thresholds": 3, "failed": 1, "passed": false`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VerdictSummary {
    pub thresholds: u64,
    pub failed: u64,
    pub passed: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    pub total: u64,
    pub ok: u64,
    pub errors: u64,
    pub sent: u64,
    pub in_flight: u64,
    /// Open loop: requests that came due while every connection was waiting for an answer (absent
    /// in closed loop, and in results written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_while_busy: Option<u64>,
    /// Open loop: requests that came due while the connections that could send them were still
    /// opening (a connect burst, a ramp); absent in closed loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_while_opening: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountingDoc {
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub in_flight: u64,
    pub balanced: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub achieved_per_s: f64,
    #[serde(default)]
    pub target_per_s: Option<f64>,
}

/// The full latency summary, in ms (`null` each when nothing was recorded).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub p9999: Option<f64>,
    pub max: Option<f64>,
}

/// p50 / p99 / max in ms (`null` each when nothing was recorded).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Short {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// The latency of a stage or a named request, in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartLatency {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

fn is_zero_f64(n: &f64) -> bool {
    *n == 0.0
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsDoc {
    /// Completed handshakes.
    pub handshakes: u64,
    pub resumed: u64,
    pub handshake_ms: Short,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: u64,
    /// Started and neither completed nor failed when the run ended.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending: u64,
}

/// Protocol openings (WebSocket upgrades): `started = ok + failed + pending`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpeningsDoc {
    pub started: u64,
    pub ok: u64,
    pub failed: u64,
    pub pending: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bytes {
    pub read: u64,
    pub written: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    #[serde(default)]
    pub cpu_us_per_request: Option<f64>,
    /// Wall time the timers polled for near send times (see `RunMeta::pacing_polled_s`).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub pacing_polled_s: f64,
    #[serde(default)]
    pub cpu_busy: f64,
    #[serde(default)]
    pub saturated: bool,
    #[serde(default)]
    pub saturation_reasons: Vec<String>,
    #[serde(default)]
    pub rss_start_bytes: u64,
    #[serde(default)]
    pub rss_peak_bytes: u64,
    #[serde(default)]
    pub bytes_per_connection: Option<f64>,
    /// Open loop: the warning that latencies below the p99 send lateness are the generator's own
    /// pacing (see `RunResult::pacing_note`); absent when pacing was tight enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing_note: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Connections {
    pub planned: u64,
    /// Connection attempts, each counted once when it starts:
    /// `attempted = established + failed + pending`.
    pub attempted: u64,
    pub established: u64,
    /// Attempts still connecting when the run ended (absent: none; the rest failed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending: u64,
    pub peak_open: u64,
    #[serde(default)]
    pub mean_open: f64,
    pub samples: u64,
    pub samples_sum: u64,
    /// Milliseconds from the end of `-d` until the last connection closed (`--close-rate`
    /// waves), the slowest worker's; absent when not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown_ms: Option<f64>,
}

/// The histograms, HdrHistogram V2 + deflate, base64. The first five exist in every result;
/// the others are absent from results written before they existed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    pub corrected: String,
    pub service: String,
    pub lateness: String,
    pub connect: String,
    pub handshake: String,
    #[serde(default)]
    pub tls: Option<String>,
    #[serde(default)]
    pub frame_lag: Option<String>,
    #[serde(default)]
    pub first_partial: Option<String>,
    #[serde(default)]
    pub rtf_permille: Option<String>,
    #[serde(default)]
    pub delivery: Option<String>,
    /// Chat fan-out from the actual send, in results written since the delivery accounting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_service: Option<String>,
    /// Streaming results written since segments were counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_latency: Option<String>,
}

/// Streaming-session (ASR) figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AsrDoc {
    pub sessions: Sessions,
    pub time_to_first_partial_ms: Short,
    pub final_latency_ms: FinalLatency,
    pub frame_send_lag_ms: Short,
    pub frames_sent: u64,
    /// Real-time factor (processing time over audio time).
    pub rtf: Short,
    /// Transcript updates (a partial with new text, or a segment), not every reply.
    pub partials: u64,
    pub partials_per_session: f64,
    /// The fields below are absent from results written before segments were counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Segments>,
    /// Audio of the completed sessions, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_seconds: Option<f64>,
    /// The generator's CPU time (user + sys) per second of audio streamed, in µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_audio_second: Option<f64>,
    /// How the audio was made what the server is told, e.g. "audio: 44.1 kHz stereo → 16 kHz
    /// mono (mixed down, resampled)"; absent when it was sent as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_conversion: Option<String>,
}

/// Completed mid-stream results (an utterance ended before the end of the audio).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Segments {
    pub count: u64,
    pub per_session: f64,
    /// Arrival − the due time of the segment's last audio (servers that give word timings).
    pub latency_ms: Short,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sessions {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub in_flight: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FinalLatency {
    pub corrected: Short,
    pub service: Short,
}

/// Chat rooms: messages sent, and delivered to room members.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatDoc {
    pub messages_sent: u64,
    /// Frames with a valid mark received by the members (their own messages included).
    pub deliveries: u64,
    pub deliveries_per_message: f64,
    /// Fan-out latency to the other members, from the sender's intended time (corrected).
    pub delivery_latency_ms: Short,
    /// The delivery accounting, in results written since messages carry a mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounting: Option<DeliveryDoc>,
}

/// Chat delivery accounting: every message expects one delivery per other live member of its
/// room; `lost` = expected − delivered − late.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryDoc {
    /// False when the messages carried no `{mark}`: deliveries could not be matched and only
    /// frames are counted (`unmarked`).
    pub marked: bool,
    pub expected: u64,
    /// First copies to other members within `--timeout`.
    pub delivered: u64,
    /// `delivered` over `expected`, in %.
    pub delivered_pct: Option<f64>,
    pub lost: u64,
    pub late: u64,
    pub duplicated: u64,
    pub self_deliveries: u64,
    /// Copies of messages sent before the receiving member had joined (not expected of it).
    #[serde(default)]
    pub before_join: u64,
    /// Frames without a valid mark (acks, notices, error replies).
    pub unmarked: u64,
    /// Fan-out latency from the actual send (service).
    pub service_latency_ms: Short,
}

/// A named request of a mix (`by_name`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartDoc {
    /// Requests sent (chat: messages sent).
    #[serde(default)]
    pub sent: u64,
    /// Answered ok (chat: copies delivered to members; `latency_ms` is then the fan-out's).
    #[serde(default)]
    pub ok: u64,
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub rps: Option<f64>,
    #[serde(default)]
    pub latency_ms: PartLatency,
    #[serde(default)]
    pub status: BTreeMap<String, u64>,
    /// The part as a full result (absent from hand-written JSON).
    #[serde(default)]
    pub result: Option<Box<ResultDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<VerdictDoc>>,
}

/// A stage of a plan (`stages[]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageDoc {
    /// Empty in hand-written JSON without one (the pages skip such a stage).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub start_s: f64,
    #[serde(default)]
    pub end_s: f64,
    #[serde(default)]
    pub shape: Option<String>,
    #[serde(default)]
    pub in_flight_at_end: u64,
    #[serde(flatten)]
    pub part: PartDoc,
}

/// One second of the run (`intervals[]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalDoc {
    pub t_s: f64,
    #[serde(default)]
    pub stage: Option<String>,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    #[serde(default)]
    pub rps: f64,
    #[serde(default)]
    pub p50_ms: Option<f64>,
    #[serde(default)]
    pub p90_ms: Option<f64>,
    #[serde(default)]
    pub p99_ms: Option<f64>,
    #[serde(default)]
    pub max_ms: Option<f64>,
    pub open: u64,
    /// V2 + deflate, base64 (empty when nothing was answered that second).
    #[serde(default)]
    pub histogram: String,
}

/// A target process sampled during the run (`monitor[]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorDoc {
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub exited_at_s: Option<f64>,
    #[serde(default)]
    pub cpu_mean_pct: Option<f64>,
    #[serde(default)]
    pub cpu_max_pct: Option<f64>,
    #[serde(default)]
    pub rss_peak_bytes: Option<u64>,
    #[serde(default)]
    pub samples: Vec<SampleDoc>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleDoc {
    #[serde(default)]
    pub t_s: f64,
    #[serde(default)]
    pub cpu_pct: f64,
    #[serde(default)]
    pub rss_bytes: u64,
}

/// A threshold verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VerdictDoc {
    pub threshold: String,
    #[serde(default)]
    pub actual: Option<f64>,
    #[serde(default)]
    pub passed: bool,
}

/// What a `--processes` run is missing: how many processes were planned, and each part that
/// produced no result (killed, failed or overran), with what became of its process.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartialDoc {
    pub processes: u64,
    /// Connections of the whole plan (the figures cover fewer).
    pub connections_planned: u64,
    pub missing: Vec<MissingPartDoc>,
}

/// One part of a `--processes` run without a result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MissingPartDoc {
    /// `K` of `--process-part K/N`.
    pub part: u64,
    pub pid: u64,
    /// What became of it: "exit status 2", "killed by signal 9 (SIGKILL)", "overran ...".
    pub status: String,
    /// The last line it wrote on stderr, if any.
    #[serde(default)]
    pub message: String,
}

/// Tests: a default document with the parts in `v` laid over it, key by key.
#[cfg(test)]
pub(crate) fn doc_from_partial(v: Value) -> ResultDoc {
    fn lay(into: &mut Value, v: Value) {
        match (into, v) {
            (Value::Object(into), Value::Object(v)) => {
                for (k, x) in v {
                    match into.get_mut(&k) {
                        Some(slot) if slot.is_object() && x.is_object() => lay(slot, x),
                        Some(_) | None => {
                            into.insert(k, x);
                        }
                    }
                }
            }
            (into, v) => *into = v,
        }
    }
    let mut d = serde_json::to_value(ResultDoc::default()).expect("a default document serializes");
    lay(&mut d, v);
    serde_json::from_value(d).expect("a partial document completes")
}
