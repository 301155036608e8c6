//! Validated configuration: the only input the engine and the server accept.
//!
//! `cli` hands over strings; this module parses units, resolves the target, encodes the request
//! once, checks every limit, and splits the work per worker. Every error here is a usage error
//! (exit 2) whose message says what to change.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{HttpArgs, LoadArgs, RequestArgs, ServeArgs};
use crate::engine::pacer::share;
use crate::error::{Error, Result};
use crate::net::{parse_sources, ConnectOpts};
use crate::plan::Staged;
use crate::proto::http::request::{encode_request, RequestSpec};
pub use crate::server::AsrMock;
use crate::server::ServeConfig;
use crate::units::{parse_count, parse_duration};

/// Default run length when neither `-d` nor `-n` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Largest pipelining depth accepted.
pub const MAX_PIPELINE: u32 = 1024;

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

/// Parses and resolves `http://host[:port][/path]`.
pub fn parse_target(url: &str) -> Result<Target> {
    parse_url(url, "http")
}

/// Parses and resolves `SCHEME://host[:port][/path]` for a plain-text scheme (`http`, `ws`,
/// `tcp`) or its TLS twin (`https`, `wss`, `tls`; default port 443).
pub fn parse_url(url: &str, scheme: &str) -> Result<Target> {
    let secure = match scheme {
        "http" => "https",
        "ws" => "wss",
        _ => "tls",
    };
    let (rest, tls) = if let Some(r) = url.strip_prefix(&format!("{scheme}://")) {
        (r, false)
    } else if let Some(r) = url.strip_prefix(&format!("{secure}://")) {
        (r, true)
    } else if url.contains("://") {
        return Err(Error::usage(format!("'{url}': only {scheme}:// and {secure}:// URLs are supported here")));
    } else {
        return Err(Error::usage(format!(
            "'{url}' is not a URL; write it as {scheme}://HOST[:PORT]/PATH, e.g. {scheme}://127.0.0.1:8080/"
        )));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() {
        return Err(Error::usage(format!("'{url}' has no host")));
    }
    if authority.contains('@') {
        return Err(Error::usage(format!("'{url}': credentials in the URL are not supported; send an Authorization header with -H")));
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) =
        split_host_port(authority, default_port).ok_or_else(|| Error::usage(format!("'{url}': bad host or port '{authority}'")))?;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::usage(format!("cannot resolve '{host}': {e}")))?
        .next()
        .ok_or_else(|| Error::usage(format!("'{host}' resolves to no address")))?;
    if path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(Error::usage(format!("'{url}': the path must not contain spaces or control characters (percent-encode them)")));
    }
    Ok(Target { url: url.to_string(), addr, host_header: authority.to_string(), path, host: host.to_string(), tls })
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, p.parse().ok()?)),
        Some(_) => None,
        None => Some((authority, default_port)),
    }
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
    pub thresholds: Vec<crate::thresholds::Threshold>,
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
    /// TLS flags as given; [`attach_tls`] turns them into `tls` for a TLS target.
    pub tls_args: crate::cli::TlsArgs,
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

/// A validated `stampede http` run.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub target: Target,
    pub method: String,
    /// One request, encoded once at start-up.
    pub request: Vec<u8>,
    /// HEAD responses carry no body: the parser must know.
    pub head_request: bool,
    pub load: LoadConfig,
}

/// CPUs this process may run on (respects `taskset`).
pub fn usable_cpus() -> Vec<usize> {
    core_affinity::get_core_ids().map(|ids| ids.into_iter().map(|c| c.id).collect()).unwrap_or_default()
}

/// Most connections one run (all its processes) may plan.
const MAX_CONNECTIONS: u64 = 10_000_000;

/// A TLS target's client set-up: one configuration (and session cache) for every connection.
#[derive(Clone, Debug)]
pub struct ClientTls {
    pub config: std::sync::Arc<rustls::ClientConfig>,
    pub server_name: rustls::pki_types::ServerName<'static>,
}

/// Sets `load.tls` for a TLS target from the TLS flags (which plain targets ignore).
pub fn attach_tls(target: &Target, load: &mut LoadConfig) -> Result<()> {
    if !target.tls {
        return Ok(());
    }
    if load.unix.is_some() {
        return Err(Error::usage(format!("'{}': TLS over --unix-socket is not supported; use a plain scheme", target.url)));
    }
    let a = &load.tls_args;
    let name = a.server_name.clone().unwrap_or_else(|| target.host.clone());
    let server_name = rustls::pki_types::ServerName::try_from(name.clone())
        .map_err(|_| Error::usage(format!("'{name}' is not a valid TLS server name (give one with --tls-server-name)")))?;
    // One TLS 1.3 ticket per connection reconnecting at once (rustls's own cache keeps 8).
    let tickets = if a.no_resume { 0 } else { load.connections.clamp(8, 65_536) as usize };
    let config =
        crate::net::tls::client_config(a.insecure, a.cacert.as_deref(), tickets).map_err(|e| Error::usage(format!("--cacert: {e}")))?;
    load.tls = Some(ClientTls { config, server_name });
    Ok(())
}

pub fn load_config(a: &LoadArgs) -> Result<LoadConfig> {
    let connections = parse_count(&a.connections).map_err(|e| Error::usage(format!("-c/--connections: {e}")))?;
    if connections == 0 {
        return Err(Error::usage("-c/--connections must be at least 1"));
    }
    // Each connection is a task and a socket: past this, memory runs out before the kernel
    // says no (preflight would refuse it too, but it can be skipped).
    if connections > MAX_CONNECTIONS {
        return Err(Error::usage(format!(
            "-c/--connections {connections}: at most {MAX_CONNECTIONS} in one run; spread more over machines with --shard"
        )));
    }
    let requests = a.requests.as_deref().map(|s| parse_count(s).map_err(|e| Error::usage(format!("-n/--requests: {e}")))).transpose()?;
    if requests == Some(0) {
        return Err(Error::usage("-n/--requests must be at least 1"));
    }
    let duration = match (&a.duration, requests) {
        (Some(d), _) => Some(parse_duration(d).map_err(|e| Error::usage(format!("-d/--duration: {e}")))?),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_DURATION),
    };
    if duration == Some(Duration::ZERO) {
        return Err(Error::usage("-d/--duration must be greater than 0"));
    }
    let drive = match &a.rate {
        None => Drive::Closed,
        Some(r) => Drive::Open { rate_per_s: parse_rate(r)? },
    };
    if a.pipeline == 0 || a.pipeline > MAX_PIPELINE {
        return Err(Error::usage(format!("--pipeline must be between 1 and {MAX_PIPELINE}")));
    }
    let timeout = parse_duration(&a.timeout).map_err(|e| Error::usage(format!("--timeout: {e}")))?;
    let connect_timeout = parse_duration(&a.connect_timeout).map_err(|e| Error::usage(format!("--connect-timeout: {e}")))?;
    if timeout.is_zero() || connect_timeout.is_zero() {
        return Err(Error::usage("--timeout and --connect-timeout must be greater than 0"));
    }
    let sources = match &a.source {
        Some(s) => parse_sources(s).map_err(|e| Error::usage(format!("--source: {e}")))?,
        None => Vec::new(),
    };
    let cpus = usable_cpus();
    let threads = match a.threads {
        Some(0) => return Err(Error::usage("-t/--threads must be at least 1")),
        Some(t) => t,
        None => cpus.len().max(1),
    };
    // A worker with no connection would only idle: never run more workers than connections.
    let threads = threads.min(connections.min(4096) as usize);
    if let Some(n) = requests {
        if duration.is_none() && n == 0 {
            return Err(Error::usage("-n/--requests must be at least 1"));
        }
    }
    Ok(LoadConfig {
        connections,
        duration,
        requests,
        threads,
        cpus,
        drive,
        connect_rate: a
            .connect_rate
            .as_deref()
            .map(|r| parse_rate(r).map_err(|e| Error::usage(e.to_string().replace("-R/--rate", "--connect-rate"))))
            .transpose()?,
        pipeline: a.pipeline,
        timeout,
        connect: ConnectOpts { nodelay: true, linger_zero: a.linger_zero, timeout: connect_timeout },
        sources,
        json: a.out.json.clone(),
        hlog: a.out.hlog.clone(),
        unix: a.unix_socket.clone(),
        tls_args: a.tls.clone(),
        tls: None,
        metrics_listen: a
            .out
            .metrics_listen
            .as_deref()
            .map(|m| m.parse().map_err(|_| Error::usage(format!("--metrics-listen '{m}': give IP:PORT, e.g. 127.0.0.1:9464"))))
            .transpose()?,
        abort_after: if a.out.abort_on_fail {
            Some(parse_duration(&a.out.abort_grace).map_err(|e| Error::usage(format!("--abort-grace: {e}")))?)
        } else {
            None
        },
        monitor_pids: a
            .out
            .monitor_pids
            .iter()
            .map(|&pid| {
                if crate::monitor::read(pid).is_some() {
                    Ok(pid)
                } else {
                    Err(Error::usage(format!("--monitor-pid {pid}: no such process here (it must run on this machine)")))
                }
            })
            .collect::<Result<_>>()?,
        junit: a.out.junit.clone(),
        latency: a.out.latency,
        quiet: a.out.quiet,
        preflight: !a.out.no_preflight,
        thresholds: parse_rules("--threshold", &a.out.thresholds)?,
        processes: a.out.processes,
        start_at: a
            .out
            .start_at
            .as_deref()
            .map(|t| crate::units::parse_start_at(t, std::time::SystemTime::now()).map_err(|e| Error::usage(format!("--start-at {e}"))))
            .transpose()?,
    })
    .and_then(|load| {
        if a.out.processes == 0 || a.out.processes > 1024 {
            return Err(Error::usage("--processes must be between 1 and 1024"));
        }
        let part = match (&a.out.shard, &a.out.process_part) {
            (Some(s), _) => Some((parse_part("--shard", s)?, false)),
            (None, Some(p)) => Some((parse_part("--process-part", p)?, true)),
            (None, None) => None,
        };
        match part {
            Some(((i, n), split_cpus)) => take_part(load, i, n, split_cpus),
            None => Ok(load),
        }
    })
}

/// Threshold rules given with `flag`; the first bad one is a usage error naming it.
pub fn parse_rules<S: AsRef<str>>(flag: &str, texts: &[S]) -> Result<Vec<crate::thresholds::Threshold>> {
    texts.iter().map(|t| crate::thresholds::parse(t.as_ref()).map_err(|e| Error::usage(format!("{flag} {e}")))).collect()
}

/// `I/N` with 0 ≤ I < N.
pub(crate) fn parse_part(flag: &str, s: &str) -> Result<(u64, u64)> {
    let bad = || Error::usage(format!("{flag} '{s}': write it as I/N with 0 <= I < N, e.g. 0/4"));
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Part `i` of `n` of a run: connections, requests and rate divided (shares differ by at most
/// one), the source pool rotated, and, for a process of a `--processes` run, the CPUs divided.
pub fn take_part(mut load: LoadConfig, i: u64, n: u64, split_cpus: bool) -> Result<LoadConfig> {
    load.connections = share(load.connections, n, i);
    if load.connections == 0 {
        return Err(Error::usage(format!("part {i}/{n} would have no connection: use fewer parts than connections")));
    }
    load.requests = load.requests.map(|r| share(r, n, i));
    if load.requests == Some(0) {
        return Err(Error::usage(format!("part {i}/{n} would have no request: use fewer parts than requests")));
    }
    load.drive = load.drive.share(n);
    if let Some(rate) = load.connect_rate {
        load.connect_rate = Some(rate / n as f64);
    }
    if !load.sources.is_empty() {
        let k = (i as usize) % load.sources.len();
        load.sources.rotate_left(k);
    }
    if split_cpus && load.cpus.len() >= n as usize {
        let per = load.cpus.len() / n as usize;
        load.cpus = load.cpus[i as usize * per..(i as usize + 1) * per].to_vec();
        load.threads = load.threads.min(load.cpus.len()).max(1);
    }
    load.threads = load.threads.min(load.connections as usize).max(1);
    load.processes = 1;
    Ok(load)
}

fn parse_rate(r: &str) -> Result<f64> {
    let rate = match parse_count(r) {
        Ok(v) => v as f64,
        Err(_) => r.trim().parse::<f64>().map_err(|_| Error::usage(format!("-R/--rate: '{r}' is not a rate (examples: 500, 20k, 0.5)")))?,
    };
    if !(rate.is_finite() && rate > 0.0 && rate <= 1e9) {
        return Err(Error::usage(format!("-R/--rate: '{r}' must be between 0 and 1G requests per second")));
    }
    Ok(rate)
}

pub fn http_config(a: &HttpArgs) -> Result<HttpConfig> {
    let target = parse_target(&a.url)?;
    let load = load_config(&a.load)?;
    build_http(target, &a.request, load)
}

/// Builds an HTTP run from a resolved target and request flags (also used by `demo`).
pub fn build_http(target: Target, r: &RequestArgs, mut load: LoadConfig) -> Result<HttpConfig> {
    attach_tls(&target, &mut load)?;
    let method = r.method.trim().to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_') {
        return Err(Error::usage(format!("-m/--method: '{}' is not an HTTP method (GET, POST, PUT, ...)", r.method)));
    }
    let headers = parse_headers(&r.headers)?;
    let body = match (&r.body, &r.body_file) {
        (Some(b), _) => b.clone().into_bytes(),
        (None, Some(p)) => std::fs::read(p).map_err(|e| Error::usage(format!("--body-file {}: {e}", p.display())))?,
        (None, None) => Vec::new(),
    };
    let request =
        encode_request(&RequestSpec { method: &method, host: &target.host_header, path: &target.path, headers: &headers, body: &body });
    Ok(HttpConfig { head_request: method == "HEAD", target, method, request, load })
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

pub fn raw_config(a: &crate::cli::RawArgs) -> Result<RawConfig> {
    use crate::proto::raw::{parse_delimiter, Framing, Prefix};
    let mut load = load_config(&a.load)?;
    let target = if let Some(path) = a.url.strip_prefix("unix://") {
        // unix:///run/daemon.sock: the path is the target; the address is never used.
        if !path.starts_with('/') {
            return Err(Error::usage(format!("'{}': write a Unix socket as unix:///ABSOLUTE/PATH", a.url)));
        }
        if load.unix.is_some() {
            return Err(Error::usage("give the Unix socket once: unix:///PATH or --unix-socket"));
        }
        load.unix = Some(PathBuf::from(path));
        Target {
            url: a.url.clone(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            host_header: "localhost".into(),
            path: "/".into(),
            host: "localhost".into(),
            tls: false,
        }
    } else {
        let Some(rest) = a.url.strip_prefix("tcp://").or_else(|| a.url.strip_prefix("tls://")) else {
            return Err(Error::usage(format!(
                "'{}': write the target as tcp://HOST:PORT (e.g. tcp://127.0.0.1:9000), tls://HOST:PORT or unix:///PATH",
                a.url
            )));
        };
        let authority = rest.split('/').next().unwrap_or("");
        if !authority.contains(':') || authority.ends_with(':') {
            return Err(Error::usage(format!("'{}': give the port, e.g. tcp://127.0.0.1:9000", a.url)));
        }
        parse_url(&a.url, "tcp")?
    };
    attach_tls(&target, &mut load)?;
    let mut message = match (&a.message, &a.message_file) {
        (Some(m), None) => m.as_bytes().to_vec(),
        (None, Some(f)) => std::fs::read(f).map_err(|e| Error::usage(format!("--message-file {}: {e}", f.display())))?,
        _ => return Err(Error::usage("give the request with --message TEXT or --message-file FILE")),
    };
    let framing = match (&a.delimiter, &a.length_prefix, &a.fixed_size) {
        (_, Some(p), None) => Framing::LengthPrefix(match p.as_str() {
            "u16be" => Prefix::U16Be,
            "u32be" => Prefix::U32Be,
            "u32le" => Prefix::U32Le,
            other => return Err(Error::usage(format!("--length-prefix '{other}': choose u16be, u32be or u32le"))),
        }),
        (_, None, Some(n)) => {
            let n = crate::units::parse_size(n).map_err(|e| Error::usage(format!("--fixed-size: {e}")))?;
            if n == 0 {
                return Err(Error::usage("--fixed-size must be at least 1"));
            }
            Framing::Fixed(n as usize)
        }
        (d, None, None) => {
            Framing::Delimiter(parse_delimiter(d.as_deref().unwrap_or("\\n")).map_err(|e| Error::usage(format!("--delimiter {e}")))?)
        }
        (_, Some(_), Some(_)) => return Err(Error::usage("give one of --delimiter, --length-prefix or --fixed-size")),
    };
    // `--seq` frames each request anew; the template is the message as given.
    let unframed = a.seq.then(|| message.clone());
    // The request is framed like the answers: the delimiter appended, the length prefixed.
    match &framing {
        Framing::Delimiter(d) if !message.ends_with(d) => message.extend_from_slice(d),
        Framing::LengthPrefix(p) => {
            let prefix = p.encode(message.len()).ok_or_else(|| Error::usage("--message is too long for its --length-prefix"))?;
            message.splice(0..0, prefix);
        }
        _ => {}
    }
    if message.is_empty() {
        return Err(Error::usage("--message is empty"));
    }
    let max_response = crate::units::parse_size(&a.max_response).map_err(|e| Error::usage(format!("--max-response: {e}")))? as usize;
    if max_response == 0 || max_response > 64 << 20 {
        return Err(Error::usage("--max-response must be between 1 B and 64 MiB"));
    }
    let expect = a.expect.as_ref().map(|e| e.as_bytes().to_vec());
    let seq = if let Some(unframed) = unframed {
        let template = crate::proto::raw::SeqMessage::new(&unframed, &framing)
            .ok_or_else(|| Error::usage("--seq: the message has no {seq} to replace (e.g. --message '{\"id\":{seq}}')"))?
            .map_err(|e| Error::usage(format!("--seq: {e}")))?;
        let expect = expect.as_deref().and_then(|e| crate::proto::raw::SeqMessage::new(e, &Framing::Fixed(1))).transpose();
        let expect = expect.map_err(|e| Error::usage(format!("--expect: {e}")))?;
        let part = match (&a.load.out.shard, &a.load.out.process_part) {
            (Some(s), _) => parse_part("--shard", s)?,
            (None, Some(p)) => parse_part("--process-part", p)?,
            (None, None) => (0, 1),
        };
        Some(SeqConfig { message: template, expect, part: part.0, parts: part.1 })
    } else {
        None
    };
    Ok(RawConfig { target, message, framing, max_response, expect, seq, load })
}

/// Largest message `stampede ws` sends (the frame is built once, in memory).
pub const MAX_WS_MESSAGE: u64 = 16 << 20;
/// Most message bytes in flight per connection when pipelining.
pub const MAX_WS_BATCH: u64 = 256 << 10;

pub fn ws_config(a: &crate::cli::WsArgs) -> Result<WsConfig> {
    let target = parse_url(&a.url, "ws")?;
    let mut load = load_config(&a.load)?;
    attach_tls(&target, &mut load)?;
    let headers = parse_headers(&a.headers)?;
    let (payload, looks_text) = match &a.message {
        Some(m) => match m.strip_prefix('@') {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| Error::usage(format!("--message @{path}: {e}")))?;
                let text = std::str::from_utf8(&bytes).is_ok();
                (bytes, text)
            }
            None => (m.clone().into_bytes(), true),
        },
        None => {
            let n = crate::units::parse_size(&a.size).map_err(|e| Error::usage(format!("--size: {e}")))?;
            if n > MAX_WS_MESSAGE {
                return Err(Error::usage(format!("--size: at most {MAX_WS_MESSAGE} bytes")));
            }
            ((0..n).map(|i| b'a' + (i % 26) as u8).collect(), false)
        }
    };
    if payload.len() as u64 > MAX_WS_MESSAGE {
        return Err(Error::usage(format!("--message: at most {MAX_WS_MESSAGE} bytes")));
    }
    if a.text && std::str::from_utf8(&payload).is_err() {
        return Err(Error::usage("--text: the message is not valid UTF-8; send it with --binary"));
    }
    let text = a.text || (looks_text && !a.binary);
    // Pipelined batches are written whole before answers are read: past what socket buffers
    // hold, client and server would both block writing.
    if load.pipeline > 1 && payload.len() as u64 * u64::from(load.pipeline) > MAX_WS_BATCH {
        return Err(Error::usage(format!(
            "--pipeline {} × {} B messages is more than {} KiB in flight per connection; lower --pipeline or the message size",
            load.pipeline,
            payload.len(),
            MAX_WS_BATCH / 1024
        )));
    }
    let mode = match &a.ping_interval {
        Some(p) => {
            let every = parse_duration(p).map_err(|e| Error::usage(format!("--ping-interval: {e}")))?;
            if every.is_zero() {
                return Err(Error::usage("--ping-interval must be greater than 0"));
            }
            // One ping per connection per interval, spread evenly: an open loop at c / interval.
            load.drive = Drive::Open { rate_per_s: load.connections as f64 / every.as_secs_f64() };
            if payload.len() > 125 {
                return Err(Error::usage("--ping-interval: a ping carries at most 125 bytes; lower --size or --message"));
            }
            WsMode::Ping
        }
        None => match a.rooms {
            Some(0) => return Err(Error::usage("--rooms must be at least 1")),
            Some(rooms) => {
                if a.load.duration.is_none() && a.load.requests.is_some() {
                    return Err(Error::usage("--rooms: give the run a -d duration (deliveries keep arriving after the last send)"));
                }
                if payload.len() < 16 {
                    return Err(Error::usage("--rooms: messages carry a 16-byte timestamp and sender; use --size 16 or more"));
                }
                if matches!(load.drive, Drive::Closed) {
                    load.drive = Drive::Open { rate_per_s: load.connections as f64 };
                }
                WsMode::Chat { rooms, text: false }
            }
            None => WsMode::Echo { text },
        },
    };
    Ok(WsConfig { target, mode, payload, headers, load })
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
    pub load: LoadConfig,
}

/// Longest run of `asr --loop` without `-d`.
pub const ASR_LOOP_DEFAULT: Duration = Duration::from_secs(600);

pub fn asr_config(a: &crate::cli::AsrArgs) -> Result<AsrConfig> {
    let target = parse_url(&a.url, "ws")?;
    let audio = match &a.audio {
        Some(p) => crate::audio::read_wav(p).map_err(Error::usage)?,
        None => {
            let len = parse_duration(&a.signal_length).map_err(|e| Error::usage(format!("--signal-length: {e}")))?;
            if len < Duration::from_millis(1) || len > Duration::from_secs(3600) {
                return Err(Error::usage("--signal-length must be between 1 ms and 1 h"));
            }
            crate::audio::speech_like(16_000, len.as_secs_f64())
        }
    };
    if audio.pcm.is_empty() {
        return Err(Error::usage("the audio is empty"));
    }
    if a.chunk_ms == 0 || a.chunk_ms > 10_000 {
        return Err(Error::usage("--chunk-ms must be between 1 and 10000"));
    }
    if !(a.speed.is_finite() && (0.0..=1000.0).contains(&a.speed)) {
        return Err(Error::usage("--speed must be between 0 (as fast as possible) and 1000"));
    }
    let preset = match a.preset.as_str() {
        "vosk" => AsrPreset::Vosk,
        "funasr" => AsrPreset::FunAsr,
        "custom" => match (&a.start_message, &a.end_message, &a.final_match) {
            (Some(s), Some(e), Some(f)) if !f.is_empty() => AsrPreset::Custom { start: s.clone(), end: e.clone(), final_match: f.clone() },
            _ => return Err(Error::usage("--preset custom needs --start-message, --end-message and --final-match")),
        },
        other => return Err(Error::usage(format!("--preset '{other}': choose vosk, funasr or custom"))),
    };
    let streams = parse_count(&a.streams).map_err(|e| Error::usage(format!("--streams: {e}")))?;
    if streams == 0 {
        return Err(Error::usage("--streams must be at least 1"));
    }
    let load_args = LoadArgs {
        connections: streams.to_string(),
        duration: a.duration.clone(),
        requests: None,
        threads: a.threads,
        rate: None,
        pipeline: 1,
        connect_rate: None,
        timeout: a.timeout.clone(),
        connect_timeout: a.connect_timeout.clone(),
        source: None,
        unix_socket: None,
        linger_zero: false,
        tls: a.tls.clone(),
        out: a.out.clone(),
    };
    let mut load = load_config(&load_args)?;
    attach_tls(&target, &mut load)?;
    if a.duration.is_none() {
        // Without -d: one session per stream (its budget), or a bounded soak with --loop.
        load.duration = a.loop_audio.then_some(ASR_LOOP_DEFAULT);
        load.requests = (!a.loop_audio).then_some(load.connections); // this part's streams
    }
    if let Some(r) = &a.ramp {
        let ramp = parse_duration(r).map_err(|e| Error::usage(format!("--ramp: {e}")))?;
        if !ramp.is_zero() {
            load.connect_rate = Some(load.connections as f64 / ramp.as_secs_f64());
        }
    }
    Ok(AsrConfig {
        target,
        audio,
        chunk_ms: a.chunk_ms,
        speed: a.speed,
        loop_audio: a.loop_audio,
        preset,
        transcripts: a.transcripts.clone(),
        load,
    })
}

/// Parses repeated `-H "Name: value"` flags.
fn parse_headers(raw: &[String]) -> Result<Vec<(String, String)>> {
    let mut headers = Vec::with_capacity(raw.len());
    for h in raw {
        let (name, value) = h.split_once(':').ok_or_else(|| Error::usage(format!("-H '{h}': write headers as 'Name: value'")))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(Error::usage(format!("-H '{h}': '{name}' is not a valid header name")));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(Error::usage(format!("-H '{h}': header values cannot contain line breaks")));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(headers)
}

/// A validated `stampede serve`.
pub fn serve_settings(a: &ServeArgs) -> Result<ServeConfig> {
    let listen: SocketAddr = a
        .listen
        .parse()
        .map_err(|_| Error::usage(format!("--listen '{}': write an address as IP:PORT, e.g. 127.0.0.1:8080 or [::1]:0", a.listen)))?;
    let count = |flag: &str, v: &Option<String>| -> Result<Option<u64>> {
        v.as_deref().map(|s| parse_count(s).map_err(|e| Error::usage(format!("{flag}: {e}")))).transpose()
    };
    let max_connections = count("--max-connections", &a.max_connections)?;
    let max_rps = count("--max-rps", &a.max_rps)?;
    if max_rps == Some(0) || max_connections == Some(0) {
        return Err(Error::usage("--max-connections and --max-rps must be at least 1"));
    }
    if a.backlog <= 0 {
        return Err(Error::usage("--backlog must be at least 1"));
    }
    let cpus = usable_cpus();
    let threads = match a.threads {
        Some(0) => return Err(Error::usage("-t/--threads must be at least 1")),
        Some(t) => t,
        None => cpus.len().max(1),
    };
    if !(a.asr_rtf.is_finite() && (0.0..=100.0).contains(&a.asr_rtf)) {
        return Err(Error::usage("--asr-rtf must be between 0 and 100"));
    }
    if a.asr_partial_ms == 0 {
        return Err(Error::usage("--asr-partial-ms must be at least 1"));
    }
    if a.processes == 0 || a.processes > 256 {
        return Err(Error::usage("--processes must be between 1 and 256"));
    }
    let asr = AsrMock { partial_ms: a.asr_partial_ms, rtf: a.asr_rtf, max_sessions: a.asr_max_sessions };
    let faults = crate::server::fault::FaultPlan::parse(&a.faults).map_err(|e| Error::usage(format!("--fault {e}")))?;
    let raw_listen = a
        .raw_listen
        .as_deref()
        .map(|r| r.parse::<SocketAddr>().map_err(|_| Error::usage(format!("--raw-listen '{r}': give IP:PORT, e.g. 127.0.0.1:9000"))))
        .transpose()?;
    if a.unix.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        return Err(Error::usage("--unix: give the socket's path, e.g. /tmp/stampede.sock"));
    }
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => {
            let chain = crate::net::tls::read_certs(cert).map_err(|e| Error::usage(format!("--tls-cert: {e}")))?;
            let key = crate::net::tls::read_key(key).map_err(|e| Error::usage(format!("--tls-key: {e}")))?;
            Some(crate::net::tls::server_config(chain, key).map_err(|e| Error::usage(format!("--tls-cert/--tls-key: {e}")))?)
        }
        _ => None,
    };
    Ok(ServeConfig {
        listen,
        threads,
        cpus,
        max_connections,
        max_rps,
        backlog: a.backlog,
        asr,
        faults,
        raw_listen,
        unix: a.unix.clone(),
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_numbers_are_unique_over_workers_and_parts() {
        let template = crate::proto::raw::SeqMessage::new(b"{seq}", &crate::proto::raw::Framing::Fixed(1)).unwrap().unwrap();
        let mut all = std::collections::HashSet::new();
        for part in 0..2 {
            let seq = SeqConfig { message: template.clone(), expect: None, part, parts: 2 };
            for worker in 0..3 {
                for n in 0..50 {
                    assert!(all.insert(seq.number(n, worker, 3)), "part {part} worker {worker} n {n}");
                    assert_eq!(seq.number(n + 1, worker, 3) - seq.number(n, worker, 3), seq.stride(3));
                }
            }
        }
        assert_eq!((all.len(), all.iter().min(), all.iter().max()), (300, Some(&1), Some(&300)), "1..=300, none skipped");
    }

    fn load(c: u64, n: Option<u64>, rate: Option<f64>) -> LoadConfig {
        LoadConfig {
            connections: c,
            duration: None,
            requests: n,
            threads: 2,
            cpus: vec![0, 1, 2, 3],
            drive: rate.map_or(Drive::Closed, |r| Drive::Open { rate_per_s: r }),
            connect_rate: Some(100.0),
            pipeline: 1,
            timeout: Duration::from_secs(1),
            connect: ConnectOpts::default(),
            sources: vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap(), "127.0.0.4".parse().unwrap()],
            json: None,
            junit: None,
            latency: false,
            quiet: true,
            preflight: false,
            thresholds: Vec::new(),
            processes: 3,
            start_at: None,
            hlog: None,
            monitor_pids: Vec::new(),
            metrics_listen: None,
            abort_after: None,
            unix: None,
            tls_args: Default::default(),
            tls: None,
        }
    }

    #[test]
    fn tls_schemes_parse_with_port_443_by_default() {
        let t = parse_target("https://localhost/x").unwrap();
        assert!(t.tls);
        assert_eq!((t.addr.port(), t.host.as_str(), t.host_header.as_str(), t.path.as_str()), (443, "localhost", "localhost", "/x"));
        let t = parse_url("wss://[::1]:9443/ws", "ws").unwrap();
        assert!(t.tls);
        assert_eq!((t.addr.port(), t.host.as_str()), (9443, "::1"));
        let t = parse_target("http://localhost/").unwrap();
        assert!(!t.tls);
        assert_eq!(t.addr.port(), 80);
        let e = parse_url("https://127.0.0.1/", "ws").unwrap_err().to_string();
        assert!(e.contains("only ws:// and wss://"), "{e}");
    }

    #[test]
    fn a_tls_target_gets_a_client_config_and_a_plain_one_none() {
        let mut l = load(1, None, None);
        attach_tls(&parse_target("http://127.0.0.1:1/").unwrap(), &mut l).unwrap();
        assert!(l.tls.is_none());
        attach_tls(&parse_target("https://127.0.0.1:1/").unwrap(), &mut l).unwrap();
        let tls = l.tls.take().unwrap();
        assert_eq!(tls.server_name.to_str(), "127.0.0.1");
        assert_eq!(tls.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        l.tls_args.cacert = Some(PathBuf::from("/nonexistent/ca.pem"));
        let e = attach_tls(&parse_target("https://127.0.0.1:1/").unwrap(), &mut l).unwrap_err().to_string();
        assert!(e.contains("--cacert") && e.contains("/nonexistent/ca.pem"), "{e}");
        l.tls_args.cacert = None;
        l.unix = Some(PathBuf::from("/tmp/x.sock"));
        assert!(attach_tls(&parse_target("https://127.0.0.1:1/").unwrap(), &mut l).is_err());
    }

    #[test]
    fn parts_divide_the_plan_exactly() {
        // 10 connections, 1001 requests, 300 req/s over 3 parts
        let parts: Vec<LoadConfig> = (0..3).map(|i| take_part(load(10, Some(1001), Some(300.0)), i, 3, true).unwrap()).collect();
        assert_eq!(parts.iter().map(|p| p.connections).collect::<Vec<_>>(), vec![4, 3, 3]);
        assert_eq!(parts.iter().map(|p| p.requests.unwrap()).sum::<u64>(), 1001);
        assert!(parts.iter().all(|p| p.drive.constant_rate() == Some(100.0) && p.processes == 1));
        assert_eq!(parts.iter().map(|p| p.sources[0].to_string()).collect::<Vec<_>>(), vec!["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
        // CPUs split only for processes of one machine: 4 CPUs over 3 parts -> one each
        assert_eq!(parts[2].cpus, vec![2]);
        assert_eq!(parts[2].threads, 1);
        let shard = take_part(load(10, None, None), 1, 3, false).unwrap();
        assert_eq!(shard.cpus, vec![0, 1, 2, 3]);
        assert!(take_part(load(2, None, None), 2, 3, false).unwrap_err().to_string().contains("fewer parts"));
        for bad in ["3/3", "1", "a/b", "0/0"] {
            assert!(parse_part("--shard", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_part("--shard", "2/5").unwrap(), (2, 5));
    }

    #[test]
    fn targets_parse_and_resolve() {
        let t = parse_target("http://127.0.0.1:8080/a/b?c=1").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.host_header, "127.0.0.1:8080");
        assert_eq!(t.path, "/a/b?c=1");
        let t = parse_target("http://127.0.0.1").unwrap();
        assert_eq!((t.addr.port(), t.path.as_str()), (80, "/"));
        let t = parse_target("http://[::1]:9000?x").unwrap();
        assert_eq!((t.addr, t.path.as_str()), ("[::1]:9000".parse().unwrap(), "/?x"));
        let t = parse_target("http://localhost:81/").unwrap();
        assert!(t.addr.ip().is_loopback());
    }

    #[test]
    fn bad_targets_are_usage_errors_that_say_what_to_do() {
        for (url, needle) in [
            ("127.0.0.1:8080", "http://HOST"),
            ("ftp://x/", "only http://"),
            ("http:///x", "no host"),
            ("http://127.0.0.1:99999/", "bad host or port"),
            ("http://u:p@127.0.0.1/", "Authorization"),
            ("http://127.0.0.1/a b", "spaces"),
        ] {
            let e = parse_target(url).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{url}");
            assert!(e.to_string().contains(needle), "{url}: {e}");
        }
    }
}
