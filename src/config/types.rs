//! The validated configuration types: the only input the engine, the scenarios and the server
//! accept. Plain data at the bottom of the ladder: no clap, nothing from engine/, net/, server/
//! or cli; every layer may read them. The builders in `config/build` fill them from the command
//! line (or a plan, a capacity step).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::plan::Staged;
use crate::thresholds::Threshold;

/// Default run length when neither `-d` nor `-n` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Largest pipelining depth accepted.
pub const MAX_PIPELINE: u32 = 1024;
/// Largest message `stampede ws` sends (the frame is built once, in memory).
pub const MAX_WS_MESSAGE: u64 = 16 << 20;
/// Most message bytes in flight per connection when pipelining.
pub const MAX_WS_BATCH: u64 = 256 << 10;
/// Longest run of `asr --loop` without `-d`.
pub const ASR_LOOP_DEFAULT: Duration = Duration::from_secs(600);

/// A resolved `http://` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    /// Value of the Host header: host[:port] as written in the URL.
    pub host_header: String,
    /// Path and query, starting with '/'.
    pub path: String,
    /// The host as written in the URL (brackets removed): the TLS server name.
    pub host: String,
    /// An https://, wss:// or tls:// target.
    pub tls: bool,
}

/// How the run decides when a request is sent, and what a plan's stages change over time.
#[derive(Clone, Debug)]
pub enum Drive {
    /// Each connection sends its next request when the previous response arrived.
    Closed,
    /// Requests are due at `start + k / rate`, whatever the responses do.
    Open { rate_per_s: f64 },
    /// A plan's stages set the rate over time (open loop): request `k` is due when the integral
    /// of the rate reaches `k`.
    RatePlan(Arc<Staged>),
    /// A plan's stages set how many connections (http, ws) or streams (asr) are active; each
    /// active one sends closed-loop, or paced at `rate_per_s` in all when a rate was given.
    CountPlan { staged: Arc<Staged>, rate_per_s: Option<f64> },
    /// A plan whose stages each choose: connections (closed loop), a rate (open loop over a
    /// pool), or a rate capped by connections (`plan::drive`).
    MixedPlan { staged: Arc<Staged>, mixed: Arc<crate::plan::drive::Mixed> },
}

impl Drive {
    /// A plan's stages, if the run follows one.
    pub fn staged(&self) -> Option<&Staged> {
        match self {
            Drive::Closed | Drive::Open { .. } => None,
            Drive::RatePlan(st) | Drive::CountPlan { staged: st, .. } | Drive::MixedPlan { staged: st, .. } => Some(st),
        }
    }

    /// The constant open-loop rate, if there is one.
    pub fn constant_rate(&self) -> Option<f64> {
        match self {
            Drive::Open { rate_per_s } => Some(*rate_per_s),
            Drive::CountPlan { rate_per_s, .. } => *rate_per_s,
            Drive::Closed | Drive::RatePlan(_) | Drive::MixedPlan { .. } => None,
        }
    }

    /// The rate stage `i` of the plan asks for, in requests (chat: messages) per second: the
    /// mean of its own level (a ramp's average), not the plan's. `None`: closed loop (a stage of
    /// connections), or no stage `i`.
    pub fn stage_rate(&self, i: usize) -> Option<f64> {
        let (_, start, end) = self.staged()?.bounds.get(i)?;
        let secs = ((end - start) as f64 / 1e9).max(1e-9);
        match self {
            Drive::Closed | Drive::Open { .. } => None,
            Drive::RatePlan(st) => Some((st.profile.integral_to(*end) - st.profile.integral_to(*start)) / secs),
            Drive::CountPlan { rate_per_s, .. } => *rate_per_s,
            Drive::MixedPlan { mixed, .. } => match mixed.modes.mode_at(*start) {
                crate::plan::drive::Mode::Open { .. } => Some((mixed.rates.integral_to(*end) - mixed.rates.integral_to(*start)) / secs),
                crate::plan::drive::Mode::Closed { .. } => None,
            },
        }
    }

    /// The same drive carrying a `1/parts` share (a process or a machine of a split run).
    pub fn share(&self, parts: u64) -> Drive {
        let n = parts.max(1) as f64;
        match self {
            Drive::Closed => Drive::Closed,
            Drive::Open { rate_per_s } => Drive::Open { rate_per_s: rate_per_s / n },
            Drive::RatePlan(st) => Drive::RatePlan(Arc::new(st.share(parts))),
            Drive::CountPlan { staged, rate_per_s } => {
                Drive::CountPlan { staged: Arc::new(staged.share(parts)), rate_per_s: rate_per_s.map(|r| r / n) }
            }
            Drive::MixedPlan { staged, mixed } => {
                Drive::MixedPlan { staged: Arc::new(staged.share(parts)), mixed: Arc::new(mixed.share(parts)) }
            }
        }
    }
}

/// How a worker waits for a scheduled send (`--pacing`): its precise timer wakes it at the
/// deadline (`Sleep`), or a little before it and the worker spins the rest (`Spin`: tighter
/// send times for a busy core).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pacing {
    #[default]
    Sleep,
    Spin,
}

impl Pacing {
    pub fn name(self) -> &'static str {
        match self {
            Pacing::Sleep => "sleep",
            Pacing::Spin => "spin",
        }
    }

    /// The mode named `name` (`--pacing`).
    pub fn from_name(name: &str) -> Option<Pacing> {
        [Pacing::Sleep, Pacing::Spin].into_iter().find(|p| p.name() == name)
    }
}

/// Options applied to every client socket.
#[derive(Clone, Copy, Debug)]
pub struct ConnectOpts {
    pub nodelay: bool,
    /// `SO_LINGER 0`: close with RST, leaving no TIME_WAIT behind (for connection churn tests).
    pub linger_zero: bool,
    pub timeout: Duration,
    /// Connections closed per second at the end of `-d` (this process's part; `None`: all at once).
    pub close_rate: Option<f64>,
}

/// `--close-rate` when not given: connections closed per second in total at the end of `-d`
/// (100,000 in 2 s; a million in 20 s).
pub const DEFAULT_CLOSE_RATE: f64 = 50_000.0;

impl Default for ConnectOpts {
    fn default() -> Self {
        ConnectOpts { nodelay: true, linger_zero: false, timeout: Duration::from_secs(5), close_rate: None }
    }
}

/// The TLS flags, checked: what a TLS target's client set-up is built from (plain targets
/// ignore them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Do not check the server's certificate.
    pub insecure: bool,
    /// Trust these CA certificates (PEM) instead of the built-in roots.
    pub cacert: Option<PathBuf>,
    /// SNI and the name checked in the certificate (default: the URL's host).
    pub server_name: Option<String>,
    /// Resume TLS sessions on reconnect.
    pub resume: bool,
}

/// Load shape and limits shared by every scenario.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub connections: u64,
    /// Closed loop: each connection's pause after each answer (`--think`).
    pub think: Option<Duration>,
    /// `None`: run until the request budget is spent.
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub threads: usize,
    /// CPUs the workers are pinned to, round-robin (empty: no pinning).
    pub cpus: Vec<usize>,
    pub drive: Drive,
    /// Connections opened per second in total (`None`: all at once).
    pub connect_rate: Option<f64>,
    /// Open loop (`hold`): the schedule starts when the `connect_rate` ramp ends, so the
    /// connections opened first do not send a backlog of heartbeats due meanwhile in a burst;
    /// from then on each interval's sends are spread over it.
    pub sends_after_ramp: bool,
    pub pipeline: u32,
    pub timeout: Duration,
    pub connect: ConnectOpts,
    pub sources: Vec<IpAddr>,
    pub json: Option<PathBuf>,
    /// Where the thresholds go as JUnit XML.
    pub junit: Option<PathBuf>,
    pub latency: bool,
    pub quiet: bool,
    pub preflight: bool,
    pub thresholds: Vec<Threshold>,
    /// Processes to split the run over (the parent spawns them; 1: run here).
    pub processes: u32,
    /// Wall-clock time at which the load starts (`--start-at`); `None`: at once.
    pub start_at: Option<std::time::SystemTime>,
    /// `--hlog FILE`: the HdrHistogram interval log.
    pub hlog: Option<PathBuf>,
    /// `--monitor-pid`: local target processes sampled each second.
    pub monitor_pids: Vec<u32>,
    /// `--unix-socket PATH`: connect there instead of the URL's host and port.
    pub unix: Option<PathBuf>,
    /// The TLS flags; `config::attach_tls` turns them into `tls` for a TLS target.
    pub tls_options: TlsOptions,
    /// The client TLS set-up of an https://, wss:// or tls:// target.
    pub tls: Option<ClientTls>,
    /// `--metrics-listen`: where live Prometheus metrics are served.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `--abort-on-fail`: stop at the first breach of a live-judged threshold after this grace.
    pub abort_after: Option<Duration>,
    /// `--pacing`: how workers wait for scheduled sends.
    pub pacing: Pacing,
    /// This process's part of a split run (`--shard`, `--process-part`) and the number of parts
    /// (0 and 1 for a whole run): global connection and request numbers include them.
    pub part: u64,
    pub parts: u64,
    /// Values captured by the plan's `[[setup]]` (template names for every scenario).
    pub captures: Arc<super::Captures>,
    /// The `[[setup]]` requests as measured, for the report (none without setup).
    pub setup: Option<Arc<Vec<crate::stats::setup::SetupStepDoc>>>,
}

impl LoadConfig {
    /// Connections owned by worker `w`.
    pub fn connections_of(&self, w: usize) -> u64 {
        share(self.connections, self.threads as u64, w as u64)
    }

    /// Request budget of worker `w` (`None`: unlimited).
    pub fn requests_of(&self, w: usize) -> Option<u64> {
        self.requests.map(|n| share(n, self.threads as u64, w as u64))
    }
}

/// A TLS target's client set-up: one configuration (and session cache) for every connection.
#[derive(Clone, Debug)]
pub struct ClientTls {
    pub config: std::sync::Arc<rustls::ClientConfig>,
    pub server_name: rustls::pki_types::ServerName<'static>,
}

/// A validated `stampede http` run.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub target: Target,
    pub method: String,
    /// One request, encoded once at start-up.
    pub request: Vec<u8>,
    /// HEAD responses carry no body: the parser must know.
    pub head_request: bool,
    /// Most header fields, and largest head in bytes, accepted in a response.
    pub max_headers: usize,
    pub max_head: usize,
    /// The statuses that are a success and the checks on every answer.
    pub expect: crate::config::Expect,
    /// Placeholders in the URL, headers or body: the request is rendered per request (`None`:
    /// `request` is sent as it is, zero-copy).
    pub dynamic: Option<Arc<super::DynamicHttp>>,
    pub load: LoadConfig,
}

/// What each WebSocket connection sends and what answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsMode {
    /// Send a message, wait for its echo.
    Echo { text: bool },
    /// Send a ping, wait for the pong.
    Ping,
    /// Join one of `rooms` rooms, send timestamped messages, measure fan-out delivery.
    Chat { rooms: u64, text: bool },
}

/// A validated `stampede ws` run.
#[derive(Clone, Debug)]
pub struct WsConfig {
    pub target: Target,
    pub mode: WsMode,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Subprotocols offered on the upgrade (validated tokens, in order).
    pub protocols: Vec<String>,
    pub load: LoadConfig,
    /// `--rooms`: what each member sends and how deliveries are matched.
    pub chat: Option<ChatConfig>,
    /// `--heartbeat`: a client ping this often; a pong missing after the pong timeout fails.
    pub heartbeat: Option<Heartbeat>,
}

/// `--heartbeat INTERVAL`: pings every `every`, each answered within `pong_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub every: Duration,
    pub pong_timeout: Duration,
}

/// A chat run (`ws --rooms`): the members' rooms and messages.
#[derive(Clone, Debug)]
pub struct ChatConfig {
    pub rooms: u64,
    /// `--rooms-per-conn`: rooms each member joins (messages rotate over them).
    pub rooms_per_conn: u64,
    /// Members in the whole run, and this process's part of them (`first..first + len`).
    pub total: u64,
    pub first: u64,
    pub len: u64,
    /// The message template (`--message`); `None`: the raw relay's default payload with a mark
    /// at its start.
    pub message: Option<String>,
    /// Text frames (binary with `--binary`, or the default payload).
    pub text: bool,
    /// The URL path names the member (`{conn}`, `{room}`): no `?room=` is added.
    pub path_template: bool,
    /// `--on-open`: sent after the upgrade (once per room when they use `{room}`).
    pub on_open: Vec<String>,
    /// `--on-open-expect`: a frame containing this answers each on-open message.
    pub on_open_expect: Option<Vec<u8>>,
}

/// A validated `stampede raw` run.
#[derive(Clone, Debug)]
pub struct RawConfig {
    pub target: Target,
    /// The request as written on the wire (framed like the responses).
    pub message: Vec<u8>,
    pub framing: crate::proto::raw::Framing,
    pub max_response: usize,
    pub expect: Option<Vec<u8>>,
    /// `--throttled-match`: an answer containing this is a request the target throttled.
    pub throttled: Option<Vec<u8>>,
    /// `--seq`: each request carries its own number.
    pub seq: Option<SeqConfig>,
    pub load: LoadConfig,
}

/// `raw --seq`: the message (and `--expect`) with `{seq}` replaced per request. A worker numbers
/// its requests `n = 0, 1, 2...`; the request carries `(n × workers + worker) × parts + part + 1`,
/// unique across the workers of a process and the processes or shards of a run.
#[derive(Clone, Debug)]
pub struct SeqConfig {
    pub message: crate::proto::raw::RawTemplate,
    /// `--expect` with `{seq}`: the text each answer must contain, with its request's number.
    pub expect: Option<crate::proto::template::Template>,
    /// This process's part (`--shard`, `--processes`) and the number of parts.
    pub part: u64,
    pub parts: u64,
}

impl SeqConfig {
    /// The number of a worker's `n`-th request.
    pub fn number(&self, n: u64, worker: usize, workers: usize) -> u64 {
        n.wrapping_mul(workers as u64).wrapping_add(worker as u64).wrapping_mul(self.parts).wrapping_add(self.part).wrapping_add(1)
    }

    /// How much the number grows from one request of a worker to its next.
    pub fn stride(&self, workers: usize) -> u64 {
        (workers as u64).wrapping_mul(self.parts)
    }
}

/// An ASR server's streaming protocol: what a session sends and how its replies are read
/// (the rules themselves live in `scenario/asr_rules.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsrPreset {
    /// alphacep/vosk-server `websocket/asr_server.py`: `{"config": {"sample_rate": R}}`, PCM16
    /// frames, `{"eof" : 1}`; one answer per message: `{"partial"}`, `{"text", "result"}` (or
    /// `{"alternatives"}`) when an utterance ends; the final is the answer to the eof.
    Vosk,
    /// modelscope/FunASR websocket servers: the reference client's JSON start message, PCM16
    /// frames, `{"is_speaking": false, "is_end": true}`; results carry `mode` and `is_final`.
    FunAsr { mode: FunAsrMode },
    /// collabora/WhisperLive: options JSON, wait for `SERVER_READY`, float32 frames, binary
    /// `END_OF_AUDIO`; `{"segments"}` results; the server's close answers the end.
    WhisperLive,
    /// k2-fsa/sherpa-onnx `streaming_server.py`: float32 frames, text `Done`; `{"text",
    /// "segment"}` results; the last one before the server's close is the final.
    Sherpa,
    /// Messages and rules from flags.
    Custom(CustomAsr),
}

/// FunASR's `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunAsrMode {
    TwoPass,
    Online,
    Offline,
}

impl FunAsrMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FunAsrMode::TwoPass => "2pass",
            FunAsrMode::Online => "online",
            FunAsrMode::Offline => "offline",
        }
    }
}

/// A protocol given by flags (`--preset custom`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomAsr {
    /// First text message; empty: none.
    pub start: String,
    /// Audio waits for a server message containing this.
    pub ready: Option<String>,
    pub end: EndMessage,
    pub sample_format: SampleFormat,
    pub final_rule: FinalRule,
    /// A mid-stream message containing this is a segment (a completed result).
    pub segment_match: Option<String>,
}

/// The message that ends the audio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndMessage {
    Text(String),
    Binary(Vec<u8>),
}

/// How the audio samples go on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// 16-bit little-endian integers, as in the WAV.
    S16le,
    /// 32-bit little-endian floats in [-1, 1].
    F32le,
}

/// Which message, after the end message was sent, is the final.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinalRule {
    /// The server answers every message after the start: the answer to the end message.
    ReplyToEnd,
    /// A message containing this text.
    Match(String),
    /// The last message before the server's close.
    LastBeforeClose,
    /// The server's close itself (no final message).
    Close,
}

impl AsrPreset {
    /// The sample format the server expects.
    pub fn sample_format(&self) -> SampleFormat {
        match self {
            AsrPreset::Vosk | AsrPreset::FunAsr { .. } => SampleFormat::S16le,
            AsrPreset::WhisperLive | AsrPreset::Sherpa => SampleFormat::F32le,
            AsrPreset::Custom(c) => c.sample_format,
        }
    }

    /// The frame length the server's reference client sends, in milliseconds.
    pub fn default_chunk_ms(&self) -> u32 {
        match self {
            AsrPreset::FunAsr { .. } => 60,
            AsrPreset::Vosk | AsrPreset::WhisperLive | AsrPreset::Sherpa | AsrPreset::Custom(_) => 20,
        }
    }

    /// The server message audio waits for, if any.
    pub fn ready(&self) -> Option<&str> {
        match self {
            AsrPreset::WhisperLive => Some("SERVER_READY"),
            AsrPreset::Custom(c) => c.ready.as_deref(),
            AsrPreset::Vosk | AsrPreset::FunAsr { .. } | AsrPreset::Sherpa => None,
        }
    }

    /// The start message (empty: none) and the end message of a session with `chunk_ms` frames.
    pub fn messages(&self, sample_rate: u32, path: &str, chunk_ms: u32) -> (String, EndMessage) {
        match self {
            AsrPreset::Vosk => {
                (format!("{{\"config\": {{\"sample_rate\": {sample_rate}}}}}"), EndMessage::Text("{\"eof\" : 1}".to_string()))
            }
            AsrPreset::FunAsr { mode } => {
                let name = path.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("stampede");
                // funasr_wss_client.py: chunk_size [5, 10, 5] (600 ms of audio per online step),
                // chunk_interval frames per step: each frame is 60 * 10 / chunk_interval ms.
                let interval = (600 / chunk_ms.max(1)).max(1);
                let start = serde_json::json!({
                    "mode": mode.as_str(),
                    "chunk_size": [5, 10, 5],
                    "chunk_interval": interval,
                    "encoder_chunk_look_back": 4,
                    "decoder_chunk_look_back": 0,
                    "audio_fs": sample_rate,
                    "wav_name": name,
                    "wav_format": "pcm",
                    "is_speaking": true,
                    "hotwords": "",
                    "itn": true,
                });
                (start.to_string(), EndMessage::Text("{\"is_speaking\": false, \"is_end\": true}".to_string()))
            }
            AsrPreset::WhisperLive => {
                let start = serde_json::json!({
                    "uid": "stampede",
                    "language": "en",
                    "task": "transcribe",
                    "model": "small",
                    "use_vad": true,
                    "send_last_n_segments": 10,
                    "no_speech_thresh": 0.45,
                    "clip_audio": false,
                    "same_output_threshold": 10,
                });
                (start.to_string(), EndMessage::Binary(b"END_OF_AUDIO".to_vec()))
            }
            AsrPreset::Sherpa => (String::new(), EndMessage::Text("Done".to_string())),
            AsrPreset::Custom(c) => (c.start.clone(), c.end.clone()),
        }
    }
}

/// A validated `stampede asr` run. `load.connections` is the stream count.
#[derive(Clone, Debug)]
pub struct AsrConfig {
    pub target: Target,
    pub audio: crate::audio::Audio,
    pub chunk_ms: u32,
    /// 1.0 real time; 0 as fast as possible.
    pub speed: f64,
    pub loop_audio: bool,
    pub preset: AsrPreset,
    /// Where to save final transcripts.
    pub transcripts: Option<PathBuf>,
    /// Extra headers on the upgrade request (validated: no CR/LF).
    pub headers: Vec<(String, String)>,
    /// Subprotocols offered on the upgrade (validated tokens, in order).
    pub protocols: Vec<String>,
    /// What was done to the file's audio so it is what the server is told (none: sent as read).
    pub conversion: Option<crate::audio::Conversion>,
    pub load: LoadConfig,
}

/// Splits `total` into `parts` shares that differ by at most one (the first ones get the extra).
pub fn share(total: u64, parts: u64, index: u64) -> u64 {
    let parts = parts.max(1);
    total / parts + u64::from(index < total % parts)
}
