//! Command line (clap derive). Dumb on purpose: strings, numbers and units in, no validation
//! beyond parsing (the unit parsers of `units` are hooked in with `value_parser`, their errors
//! naming the flag); `config` turns these into validated config. Flags follow wrk/oha habits.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod asr;
mod units;

pub use asr::AsrArgs;
use units::{count, duration, processes_arg, rate, size};

#[derive(Parser, Debug)]
#[command(
    name = "stampede",
    version,
    about = "Thread-per-core HTTP/1.1 load generator on io_uring, with honest latency.",
    long_about = "Thread-per-core HTTP/1.1 load generator on io_uring (epoll fallback), with latency \
measured from the intended send time, error classes, the generator's own CPU, and an embedded \
target server.\n\nStart with `stampede demo`: it runs the embedded server and a 10 s load against it.",
    after_help = "Examples:\n  stampede demo\n  stampede serve --listen 127.0.0.1:8080\n  stampede http http://127.0.0.1:8080/ -c 64 -d 10s\n  stampede http http://127.0.0.1:8080/ -c 32 -R 20k -d 30s --json result.json\n  stampede http http://127.0.0.1:8080/echo -m POST --body-file payload.json -H 'Content-Type: application/json'"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// HTTP/1.1 keep-alive load against an http:// or https:// URL (closed loop; open loop with -R).
    Http(HttpArgs),
    /// Run the embedded target server (routes: /, /bytes/N, /delay/MS, /status/CODE, POST /echo, /chunked/N, /eof/N, /close, /fault/KIND); --fault makes it misbehave.
    Serve(ServeArgs),
    /// WebSocket load against a ws:// or wss:// URL: echo round trips (closed loop, or open loop with -R), or pings.
    Ws(WsArgs),
    /// Stream audio in real time to a speech-recognition WebSocket server (vosk, funasr or custom protocol).
    Asr(AsrArgs),
    /// Start the embedded server on loopback and run a 10 s HTTP load against it.
    Demo(DemoArgs),
    /// Open -c connections at --connect-rate and hold them: http:// sends one keep-alive request per connection every --every; ws:// pings.
    Hold(HoldArgs),
    /// Raw request/response load over TCP: a fixed message, answers framed by a delimiter, a length prefix or a size.
    Raw(RawArgs),
    /// Merge JSON results of several processes or machines into one exact result.
    Merge(MergeArgs),
    /// Render a JSON result as one self-contained HTML page with charts (no script, no external files).
    Report(ReportArgs),
    /// Two JSON results side by side: rate, latency, errors, CPU per request, with differences.
    Compare(CompareArgs),
    /// Check kernel limits and tuning for a planned run; print the exact fixes.
    Preflight(PreflightArgs),
    /// Run a load plan: stages that hold or ramp the rate, connections or streams (a TOML file, or --preset NAME URL).
    Run(RunArgs),
    /// Print a preset plan as TOML, to start a plan file from: stampede plan --preset load URL > plan.toml
    Plan(PlanArgs),
    /// Find the highest sustained rate (or ASR stream count) that meets an SLO: steps up, then bisects.
    Capacity(CapacityArgs),
}

/// The load scenarios a plan or a capacity search drives, taken out of a parsed [`Command`].
#[derive(Debug)]
pub enum ScenarioArgs {
    Http(HttpArgs),
    Ws(WsArgs),
    Asr(AsrArgs),
}

impl Command {
    /// The scenario this command runs; `None` for the subcommands that are not a load scenario.
    pub fn into_scenario(self) -> Option<ScenarioArgs> {
        match self {
            Command::Http(h) => Some(ScenarioArgs::Http(h)),
            Command::Ws(w) => Some(ScenarioArgs::Ws(w)),
            Command::Asr(a) => Some(ScenarioArgs::Asr(a)),
            Command::Serve(_)
            | Command::Demo(_)
            | Command::Hold(_)
            | Command::Preflight(_)
            | Command::Merge(_)
            | Command::Raw(_)
            | Command::Run(_)
            | Command::Plan(_)
            | Command::Capacity(_)
            | Command::Report(_)
            | Command::Compare(_) => None,
        }
    }
}

#[derive(Args, Debug, Clone)]
#[command(after_help = "Presets: smoke, load, stress, spike, soak, qps, throttle.\n\
Any other flag of the scenario's command follows the plan, e.g.\n  stampede run plan.toml --json out.json --hlog out.hlog")]
pub struct RunArgs {
    /// The plan file (TOML); or give --preset and a URL instead.
    #[arg(value_name = "PLAN.toml|URL")]
    pub plan: String,
    /// Run a built-in plan against the URL given in place of PLAN.
    #[arg(long = "preset", value_name = "NAME")]
    pub preset: Option<String>,
    /// Retired: the throttle preset takes --concurrent-limit and --rate-limit.
    #[arg(long = "limit", value_name = "N", hide = true)]
    pub limit: Option<String>,
    #[command(flatten)]
    pub throttle: ThrottleArgs,
    /// Check the plan and print what it would run (setups, stages, the scenario's command line), then exit without sending anything.
    #[arg(long = "check")]
    pub check: bool,
    /// Flags for the scenario command (--json, --hlog, --threshold, --processes, -H, ...).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "FLAGS")]
    pub extra: Vec<String>,
}

#[derive(Args, Debug, Clone)]
#[command(after_help = "Example:\n  stampede capacity http://127.0.0.1:8080/ --slo \"p99<50ms,errors<0.1%\" -- -c 200\n\
Flags after the options go to the scenario command (-c, -H, --size, --audio, ...).")]
pub struct CapacityArgs {
    /// Target (http://, https://, ws:// or wss://).
    pub url: String,
    /// Rules every step must meet, comma-separated, as --threshold: "p99<50ms,errors<0.1%".
    #[arg(long = "slo", value_name = "RULES")]
    pub slo: String,
    /// Scenario: http, ws or asr (asr searches a stream count) [default: from the URL].
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenario: Option<String>,
    /// First step (req/s, or streams for asr).
    #[arg(long = "start", default_value = "100", value_name = "N", value_parser = count())]
    pub start: u64,
    /// Highest level to try.
    #[arg(long = "max", value_name = "N", value_parser = count())]
    pub max: Option<u64>,
    /// Length of each step.
    #[arg(long = "step", default_value = "5s", value_name = "TIME")]
    pub step: String,
    /// Stop bisecting when the good and the bad level are this close.
    #[arg(long = "precision", default_value = "5%", value_name = "PCT")]
    pub precision: String,
    /// Write every step's result and the knee to FILE (JSON).
    #[arg(long = "json", value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Flags for the scenario command.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "FLAGS")]
    pub extra: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// One of smoke, load, stress, spike, soak, qps, throttle.
    #[arg(long = "preset", value_name = "NAME")]
    pub preset: String,
    /// Target the plan names (http://, https://, ws:// or wss://).
    #[arg(default_value = "http://127.0.0.1:8080/", value_name = "URL")]
    pub url: String,
    /// Retired: the throttle preset takes --concurrent-limit and --rate-limit.
    #[arg(long = "limit", value_name = "N", hide = true)]
    pub limit: Option<String>,
    #[command(flatten)]
    pub throttle: ThrottleArgs,
}

/// The throttle preset's knobs (`stampede run|plan --preset throttle`).
#[derive(Args, Debug, Clone, Default)]
pub struct ThrottleArgs {
    /// throttle preset: the target's concurrency limit (requests in progress); its phases run
    /// 10 %, 50 %, 80 %, 100 % and 150 % of it. Without either limit: 100 and 2000/min.
    #[arg(long = "concurrent-limit", value_name = "N", value_parser = count())]
    pub concurrent_limit: Option<u64>,
    /// throttle preset: the target's rate limit as N/PERIOD (2000/min, 333/10s); its phases run at it and 50 % over it.
    #[arg(long = "rate-limit", value_name = "N/PERIOD")]
    pub rate_limit: Option<String>,
    /// throttle preset: every phase this long (the use case's: 30 s, 60 s for the rate phases).
    #[arg(long = "stage-duration", value_name = "TIME", value_parser = duration())]
    pub stage_duration: Option<Duration>,
    /// throttle preset over raw (unix:///PATH, tcp://): the payload phase's message, a template
    /// with {payload:N}, e.g. '{"op":"ping","data":"{payload:1M}"}' [default: the run's --message].
    #[arg(long = "payload-message", value_name = "TEXT")]
    pub payload_message: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Concurrent connections (units allowed: 10k).
    #[arg(short = 'c', long = "connections", default_value = "50", value_name = "N", value_parser = count())]
    pub connections: u64,
    /// Run duration (500ms, 10s, 2m). Default 10s, or until -n requests when -n is given.
    #[arg(short = 'd', long = "duration", value_name = "TIME", value_parser = duration())]
    pub duration: Option<Duration>,
    /// Stop after N requests in total (units allowed: 100k).
    #[arg(short = 'n', long = "requests", value_name = "N", value_parser = count())]
    pub requests: Option<u64>,
    /// Worker threads, one pinned runtime each [default: every CPU this process may use].
    #[arg(short = 't', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Open loop: total requests per second over all connections (units allowed: 20k).
    #[arg(short = 'R', long = "rate", value_name = "RPS", value_parser = rate())]
    pub rate: Option<f64>,
    /// Closed loop: each connection pauses this long after each answer before its next request
    /// (a client's think time; a plan's stage may set its own with think = "75ms").
    #[arg(long = "think", value_name = "TIME", value_parser = duration())]
    pub think: Option<Duration>,
    /// Requests in flight per connection (HTTP pipelining depth).
    #[arg(long = "pipeline", default_value_t = 1, value_name = "D")]
    pub pipeline: u32,
    /// Open connections at this many per second in total (ramp-up) instead of all at once.
    #[arg(long = "connect-rate", value_name = "N", value_parser = rate())]
    pub connect_rate: Option<f64>,
    /// Per-request timeout: no complete response by then counts as request_timeout and the connection is closed.
    #[arg(long = "timeout", default_value = "10s", value_name = "TIME", value_parser = duration())]
    pub timeout: Duration,
    /// Connect timeout.
    #[arg(long = "connect-timeout", default_value = "5s", value_name = "TIME", value_parser = duration())]
    pub connect_timeout: Duration,
    /// Connect to this Unix socket instead of the URL's host and port (as curl); the URL still names the Host and path.
    #[arg(long = "unix-socket", value_name = "PATH", conflicts_with = "source")]
    pub unix_socket: Option<PathBuf>,
    /// Source addresses, round-robin: 127.0.0.2-127.0.0.9, 127.0.0.0/29 or a comma list.
    #[arg(long = "source", value_name = "ADDRS")]
    pub source: Option<String>,
    /// Close connections with RST (SO_LINGER 0), leaving no TIME_WAIT.
    #[arg(long = "linger-zero")]
    pub linger_zero: bool,
    /// At the end of -d, close connections in waves of N a second in total, not at once [default: 50k: 100,000 in 2 s].
    #[arg(long = "close-rate", value_name = "N", value_parser = rate())]
    pub close_rate: Option<f64>,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// TLS options; they apply to https://, wss:// and tls:// targets.
#[derive(Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// TLS: do not check the server's certificate (self-signed test servers).
    #[arg(short = 'k', long = "insecure")]
    pub insecure: bool,
    /// TLS: trust the CA certificates in FILE (PEM) instead of the built-in Mozilla roots.
    #[arg(long = "cacert", value_name = "FILE", conflicts_with = "insecure")]
    pub cacert: Option<PathBuf>,
    /// TLS: a full handshake on every connection (no session resumption on reconnect).
    #[arg(long = "no-tls-resume")]
    pub no_resume: bool,
    /// TLS: name sent in SNI and checked in the certificate [default: the URL's host].
    #[arg(long = "tls-server-name", value_name = "NAME")]
    pub server_name: Option<String>,
}

/// What every scenario command shares: outputs, thresholds, and how the run is split and started.
#[derive(Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Write the versioned JSON result to FILE (checked for writability before the run).
    #[arg(long = "json", value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Serve live Prometheus metrics on ADDR (GET /metrics) while the run goes on, e.g. 127.0.0.1:9464.
    #[arg(long = "metrics-listen", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Stop the run as soon as a latency, error or rate threshold is breached (checked each second after --abort-grace).
    #[arg(long = "abort-on-fail")]
    pub abort_on_fail: bool,
    /// With --abort-on-fail: seconds of run before thresholds are checked.
    #[arg(long = "abort-grace", default_value = "10s", value_name = "TIME", value_parser = duration())]
    pub abort_grace: Duration,
    /// Sample this local process's CPU and RSS every second into the report (repeatable); thresholds: target_cpu, target_rss.
    #[arg(long = "monitor-pid", value_name = "PID")]
    pub monitor_pids: Vec<u32>,
    /// Write the per-second latency histograms to FILE as an HdrHistogram interval log.
    #[arg(long = "hlog", value_name = "FILE")]
    pub hlog: Option<PathBuf>,
    /// Write the thresholds as JUnit XML test cases to FILE (without thresholds: one case, "run completed").
    #[arg(long = "junit", value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Open loop: how a worker waits for each send time. Both poll (yielding to the connections) for one under
    /// 50 us away, else sleep on one timerfd per worker, woken early by the wake-up latency they measure. sleep:
    /// at most 10% of the time between sends (and 500 us) spent polling; spin: woken 50 us to 2 ms early
    /// whatever it costs. The report names the CPU spent polling and does not count it as saturation.
    #[arg(long = "pacing", default_value = "sleep", value_name = "MODE", value_parser = ["sleep", "spin"])]
    pub pacing: String,
    /// Print the full latency percentile distribution.
    #[arg(long = "latency")]
    pub latency: bool,
    /// No live progress line on stderr.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Skip the kernel preflight checks before the run.
    #[arg(long = "no-preflight")]
    pub no_preflight: bool,
    /// Pass/fail rule, repeatable: "p99<50ms", "errors<1%", "rps>9500", "status_429>10%", "connect_ok>=99%". Breached: exit 3.
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// Split the run over N processes (connections, rate, requests and CPUs divided); one merged report. auto: as many as the open-files limit requires for -c.
    #[arg(long = "processes", default_value = "1", value_name = "N|auto", value_parser = processes_arg)]
    pub processes: u32,
    /// Run part I (0-based) of N equal parts of the plan, for several machines; merge with `stampede merge`.
    #[arg(long = "shard", value_name = "I/N", conflicts_with = "processes")]
    pub shard: Option<String>,
    /// Start the load at this wall-clock time (Unix seconds, UTC 2026-11-23T12:00:00Z, or +30s):
    /// shards on several machines start together. Needs synchronised clocks (NTP).
    #[arg(long = "start-at", value_name = "TIME")]
    pub start_at: Option<String>,
    /// Internal: this process runs part K/N of a --processes run (its CPUs are divided too).
    #[arg(long = "process-part", value_name = "K/N", hide = true)]
    pub process_part: Option<String>,
}

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Examples:\n  stampede serve --raw-listen 127.0.0.1:9000 &\n  stampede raw tcp://127.0.0.1:9000 --message '{\"op\":\"ping\"}' --expect ping -c 16 -d 10s\n  stampede raw tcp://127.0.0.1:9000 --message hello --length-prefix u32be -R 5k"
)]
pub struct RawArgs {
    /// Target, e.g. tcp://127.0.0.1:9000
    pub url: String,
    /// The request (sent framed like the answers: the delimiter appended, or the length prefixed).
    #[arg(long = "message", value_name = "TEXT", conflicts_with = "message_file")]
    pub message: Option<String>,
    /// The request, read from FILE.
    #[arg(long = "message-file", value_name = "FILE")]
    pub message_file: Option<PathBuf>,
    /// Answers end with this (escapes: \n \r \t \0 \xNN) [default: \n].
    #[arg(long = "delimiter", value_name = "BYTES", conflicts_with_all = ["length_prefix", "fixed_size"])]
    pub delimiter: Option<String>,
    /// Answers are a length prefix and that many bytes: u16be, u32be or u32le.
    #[arg(long = "length-prefix", value_name = "KIND", conflicts_with = "fixed_size")]
    pub length_prefix: Option<String>,
    /// Answers are exactly this many bytes.
    #[arg(long = "fixed-size", value_name = "SIZE", value_parser = size())]
    pub fixed_size: Option<u64>,
    /// Replace {seq} in the message with a number unique in the run, one per request (in
    /// --expect too: each answer must then carry its request's number). Without it, {seq} is sent as written.
    #[arg(long = "seq")]
    pub seq: bool,
    /// An answer without this text counts as check_failed (the connection goes on).
    #[arg(long = "expect", value_name = "TEXT")]
    pub expect: Option<String>,
    /// An answer containing this text says the target throttled the request (e.g.
    /// '"error":"rate_limited"'): counted as a failed request of class `throttled` (the raw
    /// counterpart of an HTTP 429), judged by thresholds such as throttled>1%.
    #[arg(long = "throttled-match", value_name = "TEXT")]
    pub throttled_match: Option<String>,
    /// Longest answer accepted; longer is a protocol error.
    #[arg(long = "max-response", default_value = "1MiB", value_name = "SIZE", value_parser = size())]
    pub max_response: u64,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Args, Debug, Clone)]
pub struct RequestArgs {
    /// HTTP method.
    #[arg(short = 'm', long = "method", default_value = "GET")]
    pub method: String,
    /// Extra header "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(long = "body", value_name = "TEXT", conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body read from FILE.
    #[arg(long = "body-file", value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// CSV file whose columns are placeholders in the URL, headers and body (`{user}`); its first
    /// row names the columns. Rows are dealt round-robin over every worker and process (request
    /// number `{seq}` takes row `seq - 1`, wrapping), so a run of at least as many requests as
    /// rows uses every row.
    #[arg(long = "data", value_name = "FILE.csv")]
    pub data: Option<PathBuf>,
    /// How `--data` rows are taken: `sequential` (dealt in file order) or `random`.
    #[arg(long = "data-order", value_name = "ORDER", default_value = "sequential", requires = "data")]
    pub data_order: String,
    /// Most header fields accepted in a response (1 to 256); more is a protocol error
    /// (`protocol: too many headers`).
    #[arg(long = "max-headers", value_name = "N", default_value_t = 128)]
    pub max_headers: usize,
    /// Largest response head accepted (status line and header fields; units allowed: 64KiB);
    /// larger is a protocol error (`protocol: head too large`).
    #[arg(long = "max-head", value_name = "SIZE", default_value = "64KiB", value_parser = size())]
    pub max_head: u64,
    /// Statuses that count as success, e.g. 200-299,404,429 [default: 200-399]; any other
    /// answer is a failed request (error class `status`, counted per code).
    #[arg(long = "ok-status", value_name = "LIST")]
    pub ok_status: Option<String>,
    /// Check: the status is in LIST (200-299,404); a failed check fails the request as
    /// `check_failed`, counted per check (`checks>99%` judges the share passing all checks).
    #[arg(long = "expect-status", value_name = "LIST")]
    pub expect_status: Option<String>,
    /// Check: the body contains TEXT (case-sensitive, looked for in the first 64 KiB of the
    /// decoded body, chunked or not). Repeatable.
    #[arg(long = "expect-body", value_name = "TEXT")]
    pub expect_body: Vec<String>,
    /// Check: a header 'Name: value' (name in any case) whose value contains the text
    /// (case-sensitive; 'Name' alone: the header is present). Repeatable.
    #[arg(long = "expect-header", value_name = "HEADER")]
    pub expect_header: Vec<String>,
}

impl RequestArgs {
    /// A plain GET with the default limits (commands that build their own request).
    pub fn get() -> RequestArgs {
        RequestArgs {
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            body_file: None,
            data: None,
            data_order: "sequential".into(),
            max_headers: 128,
            max_head: 64 * 1024,
            ok_status: None,
            expect_status: None,
            expect_body: Vec::new(),
            expect_header: Vec::new(),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct HttpArgs {
    /// Target, e.g. http://127.0.0.1:8080/path
    pub url: String,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Args, Debug, Clone)]
pub struct WsArgs {
    /// Target, e.g. ws://127.0.0.1:8080/ws/echo
    pub url: String,
    /// Message payload size in bytes (units allowed: 4KiB), filled with a fixed pattern.
    #[arg(long = "size", default_value = "64", value_name = "BYTES", conflicts_with = "message", value_parser = size())]
    pub size: u64,
    /// Message payload: TEXT, or @FILE to read it from a file. With --rooms, a template:
    /// {conn}, {room}, {seq}, {payload:N} (N filler bytes) and {mark} (what matches each
    /// delivery to its send; without it deliveries are not matched, frames only counted).
    #[arg(long = "message", value_name = "TEXT|@FILE")]
    pub message: Option<String>,
    /// Send text frames (payload must be UTF-8).
    #[arg(long = "text", conflicts_with = "binary")]
    pub text: bool,
    /// Send binary frames (the default, unless --message is text).
    #[arg(long = "binary")]
    pub binary: bool,
    /// Idle/heartbeat mode: hold the connections and send a ping on each every TIME; report pong latency.
    #[arg(long = "ping-interval", value_name = "TIME", conflicts_with = "rate", value_parser = duration())]
    pub ping_interval: Option<Duration>,
    /// Chat mode: connection C (0, 1, ... across the run) is a member of room C mod N, sends
    /// messages at -R in total (default 1 msg/s per member); deliveries are matched to their
    /// sends by a {mark} and fan-out latency is measured. Without --on-open or a {conn}/{room}
    /// in the URL, the room is joined with ?room=K (stampede serve's /ws/chat).
    #[arg(long = "rooms", value_name = "N", conflicts_with = "ping_interval", value_parser = count())]
    pub rooms: Option<u64>,
    /// Chat: each member joins K rooms (C·K+j mod N, j < K); its messages rotate over them and
    /// the --on-open messages that use {room} are sent once per room.
    #[arg(long = "rooms-per-conn", value_name = "K", default_value_t = 1, requires = "rooms")]
    pub rooms_per_conn: u64,
    /// Chat: a message sent after the upgrade, before the load (repeatable; a template like
    /// --message: {conn}, {room}, {seq}), e.g. '{"type":"join","group_id":"g{room}"}'.
    #[arg(long = "on-open", value_name = "MSG", requires = "rooms")]
    pub on_open: Vec<String>,
    /// Chat: each --on-open message waits (up to --connect-timeout) for a frame containing
    /// TEXT (e.g. joined); none is a connect error (check_failed). Membership counts from it.
    #[arg(long = "on-open-expect", value_name = "TEXT", requires = "on_open")]
    pub on_open_expect: Option<String>,
    /// Send a ping every INTERVAL (chat members on their own; echo connections before the next
    /// batch due); a pong missing after INTERVAL (or --timeout, if shorter) is an error
    /// (protocol: pong timeout) and closes the connection. Server pings are always answered.
    #[arg(long = "heartbeat", value_name = "INTERVAL", value_parser = duration(), conflicts_with = "ping_interval")]
    pub heartbeat: Option<Duration>,
    /// Extra header on the upgrade request "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Subprotocol offered in Sec-WebSocket-Protocol (repeatable or a comma list); an answer
    /// naming one not offered fails the handshake, an answer without one is accepted.
    #[arg(long = "subprotocol", value_name = "NAME", value_delimiter = ',')]
    pub subprotocols: Vec<String>,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Internal: a process of `--processes` joining the first one's port (no in-use check).
    #[arg(long = "join-listener", hide = true)]
    pub join_listener: bool,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long = "listen", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Also answer a raw echo here (every byte sent comes back): the target of `stampede raw`.
    #[arg(long = "raw-listen", value_name = "ADDR")]
    pub raw_listen: Option<String>,
    /// Also serve every route on this Unix socket (TCP stays on --listen); a stale socket file is
    /// replaced, a live one refused; removed on exit. Served by the first process only.
    #[arg(long = "unix", value_name = "PATH")]
    pub unix: Option<PathBuf>,
    /// Serve https:// and wss:// on --listen with a certificate generated at start for
    /// localhost, 127.0.0.1 and ::1 (its CA is written to a file, printed, for --cacert).
    #[arg(long = "tls-self-signed", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,
    /// Serve https:// and wss:// on --listen with this certificate chain (PEM); needs --tls-key.
    #[arg(long = "tls-cert", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long = "tls-key", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Worker threads, one SO_REUSEPORT listener each [default: every CPU this process may use].
    #[arg(short = 't', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Over this many open connections, answer 503 and close.
    #[arg(long = "max-connections", value_name = "N", value_parser = count())]
    pub max_connections: Option<u64>,
    /// Over this many requests per second (whole server), answer 429.
    #[arg(long = "max-rps", value_name = "N", value_parser = count())]
    pub max_rps: Option<u64>,
    /// Over this many requests in progress at once (whole server, all threads), answer
    /// --over-limit-status (a /delay/MS request is in progress through its delay).
    #[arg(long = "max-concurrent", value_name = "N", value_parser = count())]
    pub max_concurrent: Option<u64>,
    /// The status answered over --max-concurrent: 429 (Too Many Requests) or 503.
    #[arg(long = "over-limit-status", value_name = "429|503", default_value = "429")]
    pub over_limit_status: String,
    /// At most N requests in any window of PERIOD (a sliding window, whole server), e.g.
    /// 2000/min or 333/10s; beyond it answer 429. Refused requests do not count in the window.
    #[arg(long = "max-rate", value_name = "N/PERIOD")]
    pub max_rate: Option<String>,
    /// Listen backlog.
    #[arg(long = "backlog", default_value_t = 4096)]
    pub backlog: i32,
    /// Serve from N processes sharing the port (SO_REUSEPORT); auto (with -c): as many as the fd limit requires.
    #[arg(long = "processes", default_value = "1", value_name = "N|auto", value_parser = processes_arg)]
    pub processes: u32,
    /// Connections to plan for: checked against the fd limit and MemAvailable (plan printed, or refused with the fix).
    #[arg(short = 'c', long = "connections", value_name = "N", value_parser = count())]
    pub connections: Option<u64>,
    /// Mock ASR (/asr): a partial result every this much audio received.
    #[arg(long = "asr-partial-ms", default_value_t = 200)]
    pub asr_partial_ms: u32,
    /// Mock ASR: processing cost after the end of audio, in seconds per second of audio.
    #[arg(long = "asr-rtf", default_value_t = 0.1)]
    pub asr_rtf: f64,
    /// Mock ASR: sessions at once; over it the upgrade is closed with 1013 (try again later).
    #[arg(long = "asr-max-sessions", value_name = "N")]
    pub asr_max_sessions: Option<u64>,
    /// Chat (/ws/chat, /ws/u{N}, /ws/chat/json): ping every member this often (e.g. 500ms);
    /// a member whose pong is --ws-ping-timeout late is closed with 1011 [default: no pings].
    #[arg(long = "ws-ping-interval", value_name = "TIME", value_parser = duration())]
    pub ws_ping_interval: Option<Duration>,
    /// Chat keepalive: how long a pong may take [default: the --ws-ping-interval].
    #[arg(long = "ws-ping-timeout", value_name = "TIME", value_parser = duration())]
    pub ws_ping_timeout: Option<Duration>,
    /// Misbehave on purpose, repeatable: KIND or KIND:RATE (reset, stall, drip, bad-status, huge-head, bad-chunk, short-body, garbage, accept-close, no-accept, ws-*); --help lists them.
    #[arg(long = "fault", value_name = "KIND[:RATE]", long_help = crate::server::fault::HELP)]
    pub faults: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct HoldArgs {
    /// Target: http://... (keep-alive requests) or ws://... (pings).
    pub url: String,
    /// Each connection sends one request (or ping) this often while held.
    #[arg(long = "every", default_value = "30s", value_name = "TIME", value_parser = duration())]
    pub every: Duration,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// Results written with --json by runs of the same plan.
    #[arg(required = true, value_name = "RESULT.json")]
    pub inputs: Vec<PathBuf>,
    /// Where to write the merged result.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Pass/fail rule judged on the merged whole (as for http/ws): shards of a run carry a part
    /// of the rate each, so judge rates here, not per shard. Breached: exit 3.
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// A result written with --json (or by `stampede merge`).
    #[arg(value_name = "RESULT.json")]
    pub input: PathBuf,
    /// Where to write the page [default: RESULT.html beside the input].
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// The first (baseline) result.
    #[arg(value_name = "A.json")]
    pub a: PathBuf,
    /// The second result.
    #[arg(value_name = "B.json")]
    pub b: PathBuf,
    /// Print the comparison as JSON instead of a table.
    #[arg(long = "json")]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Path on the embedded server to load (/, /bytes/1024, /delay/5, ...).
    #[arg(long = "path", default_value = "/")]
    pub path: String,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Args, Debug, Clone)]
pub struct PreflightArgs {
    /// Planned connections.
    #[arg(short = 'c', long = "connections", default_value = "1000", value_name = "N", value_parser = count())]
    pub connections: u64,
    /// Planned target (a loopback target also needs server-side fds and backlog).
    #[arg(long = "target", value_name = "URL")]
    pub target: Option<String>,
    /// Planned source addresses (as for `http --source`).
    #[arg(long = "source", value_name = "ADDRS")]
    pub source: Option<String>,
    /// Processes the run will be split into (auto: as many as the open-files limit requires).
    #[arg(long = "processes", default_value = "1", value_name = "N|auto", value_parser = processes_arg)]
    pub processes: u32,
    /// Planned worker threads per process.
    #[arg(short = 't', long = "threads")]
    pub threads: Option<usize>,
    /// Write the checks as JSON to FILE.
    #[arg(long = "json", value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the recommended sysctl values (root only); old values are saved to --save FILE.
    #[arg(long = "apply")]
    pub apply: bool,
    /// Where --apply saves the old values.
    #[arg(long = "save", default_value = "stampede-sysctl-backup.conf", value_name = "FILE")]
    pub save: PathBuf,
    /// Restore sysctl values saved by --apply.
    #[arg(long = "revert", value_name = "FILE", conflicts_with = "apply")]
    pub revert: Option<PathBuf>,
    /// Show the effect of tuning: a short connect burst of -c connections against URL, with the
    /// kernel's accept-queue overflow, drop and SYN-retransmit counters before and after.
    #[arg(long = "verify", value_name = "URL", conflicts_with_all = ["apply", "revert"])]
    pub verify: Option<String>,
    /// Read /proc and /sys under this root (for testing).
    #[arg(long = "root", default_value = "/", hide = true)]
    pub root: PathBuf,
}
