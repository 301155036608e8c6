//! The shared executor of the load commands (not a command itself): preflight, `--processes`,
//! the run, the report. `http`, `ws`, `asr`, `raw`, `run` plans, `hold`, `demo` and `capacity`
//! call it; it calls none of them.

mod output;
mod processes;
mod setup;

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{check_writable, nonce, stop_on_signals};
use crate::config::{AsrConfig, Drive, HttpConfig, LoadConfig, Target, WsConfig, WsMode};
use crate::engine::{self, Tick};
use crate::error::{exit, Error, Result};
use crate::preflight::{self, Plan, Status};
use crate::scenario::asr::AsrScenario;
use crate::scenario::chat::ChatScenario;
use crate::scenario::http::HttpScenario;
use crate::scenario::ws::WsScenario;
use crate::scenario::Scenario;
use crate::stats::report::{grouped, RunMeta, RunResult};

use output::report;
pub(crate) use output::write_junit;
use processes::{run_processes, wait_for_start, PROGRESS_ENV};
pub(crate) use setup::{setup_phase, tls_options, SetupContext, SetupDone};

/// Runs an HTTP load and reports it. `banner` is printed before the run (demo).
pub fn run_http(cfg: HttpConfig, banner: &str) -> Result<i32> {
    let what = format!("{} {}", cfg.method, cfg.target.url);
    let plan = plan_for(&cfg.target, &cfg.load);
    let load = cfg.load.clone();
    run_scenario(Arc::new(HttpScenario::http(cfg)), &load, plan, &what, banner, None)
}

/// Runs a WebSocket load (echo, ping or chat) and reports it.
pub fn run_ws(cfg: WsConfig) -> Result<i32> {
    let what = match cfg.mode {
        WsMode::Echo { text } => format!("{} B {} echo {}", cfg.payload.len(), if text { "text" } else { "binary" }, cfg.target.url),
        WsMode::Ping => format!("ping {}", cfg.target.url),
        WsMode::Chat { rooms, .. } => format!("{} B chat messages in {rooms} rooms at {}", cfg.payload.len(), cfg.target.url),
    };
    let plan = plan_for(&cfg.target, &cfg.load);
    let load = cfg.load.clone();
    match cfg.mode {
        WsMode::Chat { .. } => run_scenario(Arc::new(ChatScenario::new(cfg, nonce()?)), &load, plan, &what, "", None),
        WsMode::Echo { .. } | WsMode::Ping => run_scenario(Arc::new(WsScenario::ws(cfg, nonce()?)), &load, plan, &what, "", None),
    }
}

/// Runs an ASR streaming load and reports it (transcripts to their file when asked).
pub fn run_asr(cfg: AsrConfig) -> Result<i32> {
    let what = format!(
        "{} streams of {:.1} s audio ({} Hz, {} ch) in {} ms frames at {}x to {}",
        cfg.load.connections,
        cfg.audio.duration_ms() as f64 / 1000.0,
        cfg.audio.sample_rate,
        cfg.audio.channels,
        cfg.chunk_ms,
        cfg.speed,
        cfg.target.url
    );
    if let Some(c) = &cfg.conversion {
        eprintln!("stampede: {c}");
    }
    let plan = plan_for(&cfg.target, &cfg.load);
    let load = cfg.load.clone();
    let transcripts = cfg.transcripts.clone();
    run_scenario(Arc::new(AsrScenario::new(cfg, nonce()?)), &load, plan, &what, "", transcripts.as_deref())
}

/// Runs a scenario and reports it. With `--junit`, a run that cannot be carried out still
/// leaves a JUnit file with one failed case saying why.
pub(crate) fn run_scenario<S: Scenario>(
    scenario: Arc<S>,
    load: &LoadConfig,
    plan: crate::preflight::Plan,
    what: &str,
    banner: &str,
    notes_to: Option<&Path>,
) -> Result<i32> {
    let Some(junit) = &load.junit else { return run_and_report(scenario, load, plan, what, banner, notes_to) };
    check_writable("--junit", junit)?;
    let outcome = run_and_report(scenario, load, plan, what, banner, notes_to);
    if let Err(e @ Error::Run { .. }) = &outcome {
        write_junit(junit, None, Some(&e.to_string()))?;
    }
    outcome
}

/// Runs a scenario and reports it: the JSON path (and `notes_to`, where the scenario's side
/// lines such as ASR transcripts go) is checked and preflight runs first.
fn run_and_report<S: Scenario>(
    scenario: Arc<S>,
    load: &LoadConfig,
    plan: crate::preflight::Plan,
    what: &str,
    banner: &str,
    notes_to: Option<&Path>,
) -> Result<i32> {
    if let Some(p) = &load.json {
        check_writable("--json", p)?;
    }
    if let Some(p) = &load.hlog {
        check_writable("--hlog", p)?;
    }
    if let Some(p) = notes_to {
        check_writable("--transcripts", p)?;
    }
    if load.preflight && !check_before_run(&plan)? {
        if let Some(p) = &load.junit {
            write_junit(p, None, Some("preflight: the run is impossible as planned (see the fixes it printed)"))?;
        }
        return Ok(exit::RUN_FAILED);
    }
    if load.processes > 1 {
        return run_processes(load);
    }
    let stop = stop_on_signals()?;
    if let Some(at) = load.start_at {
        if !wait_for_start(at, &stop) {
            eprintln!("stampede: interrupted before the start time; nothing was sent");
            return Ok(exit::RUN_FAILED);
        }
    }
    let live = !load.quiet && std::io::stderr().is_terminal();
    let threads = load.threads;
    if !banner.is_empty() {
        println!("{banner}");
    }
    let mode = match &load.drive {
        Drive::Closed | Drive::CountPlan { rate_per_s: None, .. } => "closed loop".to_string(),
        Drive::Open { rate_per_s } | Drive::CountPlan { rate_per_s: Some(rate_per_s), .. } => {
            format!("open loop at {} req/s", grouped(*rate_per_s))
        }
        Drive::RatePlan(st) => format!("open loop at {} req/s", grouped(st.profile.peak())),
        Drive::MixedPlan { mixed, .. } => format!("closed or open loop by stage (rates up to {} req/s)", grouped(mixed.rates.peak())),
    };
    let span = match (load.duration, load.requests) {
        (Some(d), Some(n)) => format!("{:.1?} or {n} requests", d),
        (Some(d), None) => format!("{:.1?}", d),
        (None, Some(n)) => format!("{n} requests"),
        (None, None) => String::new(),
    };
    eprintln!("stampede: {what} for {span}, {} connections, {threads} threads, {mode}", load.connections);
    let monitor = crate::monitor::Monitor::start(&load.monitor_pids);
    let ran = execute(scenario, load, stop, live);
    let series = monitor.finish();
    let mut ran = ran?;
    ran.result.monitor = series;
    let busiest = (ran.busiest >= 0.9).then_some(ran.busiest);
    report(ran.result, load, busiest, notes_to.map(|p| (p, ran.notes)))
}

/// One run of the load, without preflight or report.
pub(crate) struct Executed {
    pub result: RunResult,
    /// CPU share of the busiest worker thread.
    pub busiest: f64,
    /// Scenario side lines (ASR transcripts).
    pub notes: Vec<String>,
}

/// Runs `scenario` once with `load` and returns its result (time series and stages included).
pub(crate) fn execute<S: Scenario>(scenario: Arc<S>, load: &LoadConfig, stop: Arc<AtomicBool>, live: bool) -> Result<Executed> {
    // Every second each worker sends its interval: the collector adds them up into the time
    // series (and prints the live line on a terminal).
    let (tx, rx) = mpsc::channel::<Tick>();
    let metrics_done = Arc::new(AtomicBool::new(false));
    let opts = collector_opts(load, live, Arc::clone(&stop), Arc::clone(&metrics_done))?;
    let collector = std::thread::spawn(move || crate::live::collect(rx, opts));
    let started_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let out = engine::run(Arc::clone(&scenario), load, stop, Some(tx));
    let (intervals, aborted) = collector.join().unwrap_or_default();
    metrics_done.store(true, Ordering::Relaxed);
    let out = out?;
    let meta = run_meta(scenario.as_ref(), load, &out, started_unix_ms);
    let mut result = RunResult::new(meta, out.shard);
    result.intervals = intervals;
    result.aborted = aborted;
    result.stalled = out.stalled.map(|st| stall_reason(&st, &result.shard));
    result.by_name = scenario.group_names().into_iter().zip(out.groups).collect();
    if let Some(st) = load.drive.staged() {
        // CPU is measured for the whole run: each stage gets its share of the run's time.
        let (run_s, user, sys) = (result.meta.duration_s.max(1e-9), result.meta.cpu_user_s, result.meta.cpu_sys_s);
        let cpu = |start: u64, end: u64, of: f64| of * ((end - start) as f64 / 1e9 / run_s).min(1.0);
        result.stages = out
            .stages
            .into_iter()
            .zip(&st.bounds)
            .zip(&st.shapes)
            .enumerate()
            .map(|(i, ((shard, (name, start, end)), shape))| crate::stats::timeline::StageResult {
                name: name.clone(),
                start_s: *start as f64 / 1e9,
                end_s: *end as f64 / 1e9,
                shape: shape.clone(),
                target_rate: load.drive.stage_rate(i),
                cpu_user_s: cpu(*start, *end, user),
                cpu_sys_s: cpu(*start, *end, sys),
                shard,
            })
            .collect();
    }
    Ok(Executed { result, busiest: out.busiest_worker, notes: out.notes })
}

/// Why a run without an end time stopped by itself, and what was still pending, in one line:
/// "no progress for 4s: every connect was refused (38 attempts); pending: 2 connections not
/// established, 0 open, 0 requests in flight".
fn stall_reason(st: &engine::Stalled, s: &crate::stats::Shard) -> String {
    use crate::stats::ErrorClass;
    let failed_connects = s.connects_attempted.saturating_sub(s.connects_ok);
    let what = if s.connects_ok == 0 && failed_connects > 0 && s.errors_of(ErrorClass::Refused) == failed_connects {
        format!("every connect was refused ({failed_connects} attempts)")
    } else if s.connects_ok == 0 && failed_connects > 0 {
        let classes: Vec<String> =
            ErrorClass::ALL.iter().filter(|c| s.errors_of(**c) > 0).map(|c| format!("{}: {}", c.name(), s.errors_of(*c))).collect();
        format!("no connect succeeded ({failed_connects} attempts; {})", classes.join(", "))
    } else if s.sent == 0 && s.errors_of(ErrorClass::Handshake) > 0 {
        format!(
            "every opening failed ({} handshakes refused, e.g. a WebSocket upgrade answered without 101)",
            s.errors_of(ErrorClass::Handshake)
        )
    } else if s.sent == 0 {
        "nothing could be sent".to_string()
    } else {
        "nothing was sent, answered or failed".to_string()
    };
    format!(
        "no progress for {}s: {what}; pending: {} connections not established, {} open, {} requests in flight",
        st.idle_s, st.unconnected, s.open_now, s.in_flight
    )
}

/// What the collector of the per-second intervals does: the live line, the metrics endpoint
/// (`--metrics-listen`), `--abort-on-fail`, the stages, the progress file of a child process.
fn collector_opts(
    load: &LoadConfig,
    live: bool,
    stop: Arc<AtomicBool>,
    metrics_done: Arc<AtomicBool>,
) -> Result<crate::live::CollectorOpts> {
    let totals = match load.metrics_listen {
        Some(addr) => {
            let (totals, local) = crate::live::serve_metrics(addr, metrics_done)
                .map_err(|e| Error::io(format!("--metrics-listen {addr}: cannot listen"), e))?;
            eprintln!("stampede: live metrics on http://{local}/metrics");
            Some(totals)
        }
        None => None,
    };
    // --abort-on-fail judges the rules the per-second figures can answer.
    let abort: Vec<crate::thresholds::Threshold> = match load.abort_after {
        Some(_) => load.thresholds.iter().filter(|t| t.live_judged()).cloned().collect(),
        None => Vec::new(),
    };
    Ok(crate::live::CollectorOpts {
        workers: load.threads,
        live_line: live,
        totals,
        abort,
        abort_after: load.abort_after.map_or(0, |d| d.as_secs().max(1)),
        stop,
        stages: load.drive.staged().map_or(Vec::new(), |st| st.bounds.iter().map(|(n, _, e)| (n.clone(), *e as f64 / 1e9)).collect()),
        progress_file: std::env::var_os(PROGRESS_ENV).map(std::path::PathBuf::from),
    })
}

/// The share of the run in which its open-loop schedule sends: all of it, or for `hold` (sends
/// from the end of the `--connect-rate` ramp) what is left after the ramp.
fn sending_share(load: &LoadConfig) -> f64 {
    match (load.sends_after_ramp, load.connect_rate, load.duration) {
        (true, Some(rate), Some(d)) if rate > 0.0 && !d.is_zero() => {
            let ramp_s = load.connections as f64 / rate;
            ((d.as_secs_f64() - ramp_s) / d.as_secs_f64()).clamp(0.0, 1.0)
        }
        (true, _, _) | (false, _, _) => 1.0,
    }
}

/// What the report says about the run itself.
fn run_meta<S: Scenario>(scenario: &S, load: &LoadConfig, out: &engine::RunOutput, started_unix_ms: u64) -> RunMeta {
    RunMeta {
        scenario: scenario.name().to_string(),
        target: scenario.target(),
        driver: out.driver.name().to_string(),
        threads: out.threads,
        connections: load.connections,
        pipeline: load.pipeline,
        duration_s: out.elapsed_ns as f64 / 1e9,
        target_rate: match &load.drive {
            // A plan's rate changes: the target is its mean (what its schedule sends in all).
            Drive::RatePlan(st) => Some(st.profile.integral_to(u64::MAX) / st.total().as_secs_f64().max(1e-9)),
            // `hold` sends only after its ramp: what it asks over the run is the rate for the
            // rest of it (else a full rate would be "not reached" by the ramp's share).
            Drive::Closed | Drive::Open { .. } | Drive::CountPlan { .. } => load.drive.constant_rate().map(|r| r * sending_share(load)),
            // Closed-loop stages have no target: the stages' own figures tell.
            Drive::MixedPlan { .. } => None,
        },
        cpu_user_s: out.cpu_user_s,
        cpu_sys_s: out.cpu_sys_s,
        interrupted: out.interrupted,
        started_unix_ms,
        rss_start: out.rss_start,
        rss_peak: out.rss_peak,
        audio_conversion: scenario.audio_conversion(),
        pacing: Some(load.pacing.name().to_string()),
        pacing_polled_s: out.pacing_polled_s,
    }
}

/// The preflight plan of a run.
pub fn plan_for(target: &Target, load: &LoadConfig) -> Plan {
    Plan {
        connections: load.connections,
        processes: 1,
        threads: load.threads,
        source_addrs: load.sources.len().max(1) as u64,
        destinations: 1,
        target_is_local: target.addr.ip().is_loopback() || load.unix.is_some(),
        serve_backlog: None,
        uses_io_uring: None,
        unix: load.unix.is_some(),
        client_bytes_per_conn: crate::scenario::wire::IDLE_CONN_BYTES,
    }
}

/// Runs the checks for a planned run. Prints warnings and failures on stderr; returns false
/// (after printing the fixes) when a failure makes the run impossible.
pub fn check_before_run(plan: &Plan) -> Result<bool> {
    let _ = preflight::raise_nofile_soft_limit();
    let report = preflight::run(Path::new("/"), plan);
    let fatal = report.fatal();
    let worth_saying: Vec<_> = report.checks.iter().filter(|c| c.status != Status::Pass).collect();
    if worth_saying.is_empty() {
        return Ok(true);
    }
    for c in &worth_saying {
        let tag = match c.status {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        eprintln!("preflight {tag} {}: {} (needed: {})", c.name, c.observed, c.needed);
        if let Some(fix) = &c.fix {
            eprintln!("    fix: {fix}");
        }
    }
    if !fatal.is_empty() {
        eprintln!("stampede: this run cannot work on this machine as configured (see FAIL above); fix it, split it with fewer connections per process, or pass --no-preflight to try anyway");
        return Ok(false);
    }
    Ok(true)
}
