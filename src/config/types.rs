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
}

impl Drive {
    /// A plan's stages, if the run follows one.
    pub fn staged(&self) -> Option<&Staged> {
        match self {
            Drive::Closed | Drive::Open { .. } => None,
            Drive::RatePlan(st) | Drive::CountPlan { staged: st, .. } => Some(st),
        }
    }

    /// The constant open-loop rate, if there is one.
    pub fn constant_rate(&self) -> Option<f64> {
        match self {
            Drive::Open { rate_per_s } => Some(*rate_per_s),
            Drive::CountPlan { rate_per_s, .. } => *rate_per_s,
            Drive::Closed | Drive::RatePlan(_) => None,
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
        }
    }
}

/// Options applied to every client socket.
#[derive(Clone, Copy, Debug)]
pub struct ConnectOpts {
    pub nodelay: bool,
    /// `SO_LINGER 0`: close with RST, leaving no TIME_WAIT behind (for connection churn tests).
    pub linger_zero: bool,
    pub timeout: Duration,
}

impl Default for ConnectOpts {
    fn default() -> Self {
        ConnectOpts { nodelay: true, linger_zero: false, timeout: Duration::from_secs(5) }
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
    /// `None`: run until the request budget is spent.
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub threads: usize,
    /// CPUs the workers are pinned to, round-robin (empty: no pinning).
    pub cpus: Vec<usize>,
    pub drive: Drive,
    /// Connections opened per second in total (`None`: all at once).
    pub connect_rate: Option<f64>,
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
    /// `--seq`: each request carries its own number.
    pub seq: Option<SeqConfig>,
    pub load: LoadConfig,
}

/// `raw --seq`: the message (and `--expect`) with `{seq}` replaced per request. A worker numbers
/// its requests `n = 0, 1, 2...`; the request carries `(n × workers + worker) × parts + part + 1`,
/// unique across the workers of a process and the processes or shards of a run.
#[derive(Clone, Debug)]
pub struct SeqConfig {
    pub message: crate::proto::raw::SeqMessage,
    /// `--expect` with `{seq}`: the text each answer must contain, with its request's number.
    pub expect: Option<crate::proto::raw::SeqMessage>,
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

/// An ASR server's streaming protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsrPreset {
    /// `{"config": {"sample_rate": R}}`, PCM frames, `{"eof" : 1}`; partials `{"partial": ...}`,
    /// the final `{"result": ..., "text": ...}`.
    Vosk,
    /// A JSON start message (mode, chunk_size, wav_name, is_speaking), PCM frames,
    /// `{"is_speaking": false}`; results carry `is_final`.
    FunAsr,
    /// User messages; a text message containing `final_match` is the final.
    Custom { start: String, end: String, final_match: String },
}

impl AsrPreset {
    /// The start and end messages of a session.
    pub fn messages(&self, sample_rate: u32, path: &str) -> (String, String) {
        match self {
            AsrPreset::Vosk => (format!("{{\"config\": {{\"sample_rate\": {sample_rate}}}}}"), "{\"eof\" : 1}".to_string()),
            AsrPreset::FunAsr => {
                let name = path.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("stampede");
                (
                    format!("{{\"mode\": \"2pass\", \"chunk_size\": [5, 10, 5], \"chunk_interval\": 10, \"wav_name\": \"{name}\", \"is_speaking\": true, \"audio_fs\": {sample_rate}}}"),
                    "{\"is_speaking\": false}".to_string(),
                )
            }
            AsrPreset::Custom { start, end, .. } => (start.clone(), end.clone()),
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
