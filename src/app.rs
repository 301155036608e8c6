//! The subcommands, end to end: validated config in, report out. Edge layer: the only place
//! that prints reports, installs signal handlers and writes result files.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cli::{AsrArgs, Command, DemoArgs, HttpArgs, RequestArgs, ServeArgs, WsArgs};
use crate::config::{self, HttpConfig, LoadConfig, Loop, Target, WsMode};
use crate::engine::{self, Tick};
use crate::error::{exit, Error, Result};
use crate::scenario::asr::AsrScenario;
use crate::scenario::chat::ChatScenario;
use crate::scenario::http::HttpScenario;
use crate::scenario::ws::WsScenario;
use crate::scenario::Scenario;
use crate::server::{self, ServeConfig};
use crate::stats::report::{RunMeta, RunResult};

/// Runs one subcommand; returns the process exit code.
pub fn dispatch(cmd: Command) -> Result<i32> {
    match cmd {
        Command::Http(a) => http(&a),
        Command::Ws(a) => ws(&a),
        Command::Asr(a) => asr(&a),
        Command::Serve(a) => serve(&a),
        Command::Demo(a) => demo(&a),
        Command::Hold(a) => hold(&a),
        Command::Preflight(a) => crate::preflight_cmd::preflight(&a),
        Command::Merge(a) => merge(&a),
        Command::Raw(a) => raw(&a),
        Command::Run(a) => run_plan(&a),
        Command::Plan(a) => print_plan(&a),
        Command::Capacity(a) => crate::capacity::capacity(&a),
        Command::Report(a) => crate::report_cmd::report(&a),
        Command::Compare(a) => crate::report_cmd::compare(&a),
    }
}

/// Installs SIGINT/SIGTERM handlers: the first sets `stop`, a second one exits at once (130).
/// True once SIGINT/SIGTERM was received.
pub(crate) fn stopped(stop: &AtomicBool) -> bool {
    stop.load(Ordering::Relaxed)
}

pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))
            .map_err(|e| Error::io("cannot install signal handler", e))?;
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(|e| Error::io("cannot install signal handler", e))?;
    }
    Ok(stop)
}

fn http(a: &HttpArgs) -> Result<i32> {
    let cfg = config::http_config(a)?;
    run_http(cfg, "")
}

/// Checks that the JSON result can be written, before any load is sent.
pub(crate) fn check_writable(flag: &str, path: &Path) -> Result<()> {
    let probe = path.with_extension("stampede-probe");
    std::fs::write(&probe, b"probe")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| Error::usage(format!("{flag} {}: cannot write there ({e}); choose a writable path", path.display())))?;
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::usage(format!("{flag} {}: exists and is not writable ({e})", path.display())))?;
    }
    Ok(())
}

/// Writes the file atomically (temp file, then rename).
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("stampede-tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Runs an HTTP load and reports it. `banner` is printed before the run (demo).
pub fn run_http(cfg: HttpConfig, banner: &str) -> Result<i32> {
    let what = format!("{} {}", cfg.method, cfg.target.url);
    let plan = crate::preflight_cmd::plan_for(&cfg.target, &cfg.load);
    let load = cfg.load.clone();
    run_scenario(Arc::new(HttpScenario::http(cfg)), &load, plan, &what, banner, None)
}

fn ws(a: &WsArgs) -> Result<i32> {
    run_ws(config::ws_config(a)?)
}

/// Runs a WebSocket load (echo, ping or chat) and reports it.
fn run_ws(cfg: config::WsConfig) -> Result<i32> {
    let what = match cfg.mode {
        WsMode::Echo { text } => format!("{} B {} echo {}", cfg.payload.len(), if text { "text" } else { "binary" }, cfg.target.url),
        WsMode::Ping => format!("ping {}", cfg.target.url),
        WsMode::Chat { rooms, .. } => format!("{} B chat messages in {rooms} rooms at {}", cfg.payload.len(), cfg.target.url),
    };
    let plan = crate::preflight_cmd::plan_for(&cfg.target, &cfg.load);
    let load = cfg.load.clone();
    match cfg.mode {
        WsMode::Chat { rooms, .. } => run_scenario(Arc::new(ChatScenario::new(cfg, rooms, nonce())), &load, plan, &what, "", None),
        WsMode::Echo { .. } | WsMode::Ping => run_scenario(Arc::new(WsScenario::ws(cfg, nonce())), &load, plan, &what, "", None),
    }
}

fn asr(a: &AsrArgs) -> Result<i32> {
    run_asr(config::asr_config(a)?)
}

/// Runs an ASR streaming load and reports it (transcripts to their file when asked).
fn run_asr(cfg: config::AsrConfig) -> Result<i32> {
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
    let plan = crate::preflight_cmd::plan_for(&cfg.target, &cfg.load);
    let load = cfg.load.clone();
    let transcripts = cfg.transcripts.clone();
    run_scenario(Arc::new(AsrScenario::new(cfg, nonce())), &load, plan, &what, "", transcripts.as_deref())
}

/// Parses a command line built by stampede itself (from a plan, a capacity step): a clap error
/// becomes a usage error that starts with `context` and quotes clap's first lines.
pub(crate) fn parse_generated(argv: &[String], context: &str) -> Result<crate::cli::Cli> {
    <crate::cli::Cli as clap::Parser>::try_parse_from(argv).map_err(|e| {
        let msg = e.render().to_string();
        Error::usage(format!("{context}:\n{}", msg.lines().take(3).collect::<Vec<_>>().join("\n")))
    })
}

/// The TOML of a preset for `url` (`--limit` fills the throttle preset's shares).
fn preset_text(name: &str, url: &str, limit: Option<&str>) -> Result<String> {
    let scenario = if url.starts_with("ws://") || url.starts_with("wss://") { "ws" } else { "http" };
    let text = crate::plan::preset(name, scenario, url).map_err(|e| Error::usage(format!("--preset: {e}")))?;
    let limit = match limit {
        Some(l) => crate::units::parse_count(l).map_err(|e| Error::usage(format!("--limit: {e}")))? as f64,
        None => 100.0,
    };
    if limit <= 0.0 {
        return Err(Error::usage("--limit must be greater than 0"));
    }
    Ok(crate::plan::with_limit(&text, limit))
}

fn print_plan(a: &crate::cli::PlanArgs) -> Result<i32> {
    print!("{}", preset_text(&a.preset, &a.url, a.limit.as_deref())?);
    Ok(exit::OK)
}

/// `stampede run`: a plan's scenario command line is built and parsed like any other (so every
/// flag and check applies), then the stages are attached to its load.
fn run_plan(a: &crate::cli::RunArgs) -> Result<i32> {
    let (text, origin) = match &a.preset {
        Some(name) => (preset_text(name, &a.plan, a.limit.as_deref())?, format!("preset {name}")),
        None => {
            if a.limit.is_some() {
                return Err(Error::usage("--limit goes with --preset throttle"));
            }
            let text = std::fs::read_to_string(&a.plan).map_err(|e| {
                Error::usage(format!("{}: cannot read the plan ({e}); for a preset: stampede run --preset load URL", a.plan))
            })?;
            (text, a.plan.clone())
        }
    };
    let plan = crate::plan::parse(&text).map_err(|e| Error::usage(format!("{origin}: {e}")))?;
    let staged = plan.staged();
    let mut argv = vec!["stampede".to_string()];
    argv.extend(plan.argv());
    argv.extend(["--duration".to_string(), format!("{}ms", staged.total().as_millis())]);
    let peak = staged.profile.peak();
    match plan.drive {
        crate::plan::Drive::Rate => argv.extend(["--rate".to_string(), format!("{}", peak.max(0.001))]),
        crate::plan::Drive::Connections => argv.extend(["--connections".to_string(), format!("{}", peak.ceil().max(1.0) as u64)]),
        crate::plan::Drive::Streams => argv.extend(["--streams".to_string(), format!("{}", peak.ceil().max(1.0) as u64)]),
    }
    for t in &plan.threshold_texts {
        argv.extend(["--threshold".to_string(), t.clone()]);
    }
    argv.extend(a.extra.iter().cloned());
    let cli = parse_generated(&argv, &format!("{origin}: the plan's options do not make a valid command"))?;
    // A part of a split run carries its share of every level.
    let attach = |load: &mut LoadConfig, parts: Option<(&Option<String>, &Option<String>)>| -> Result<()> {
        let mut st = staged.clone();
        if let Some((shard, part)) = parts {
            for (flag, spec) in [("--shard", shard), ("--process-part", part)] {
                if let Some(spec) = spec {
                    st = st.share(config::parse_part(flag, spec)?.1);
                }
            }
        }
        load.staged = Some(Arc::new(st));
        Ok(())
    };
    match cli.command {
        Command::Http(h) => {
            let mut cfg = config::http_config(&h)?;
            attach(&mut cfg.load, Some((&h.load.out.shard, &h.load.out.process_part)))?;
            if plan.requests.is_empty() {
                return run_http(cfg, "");
            }
            // A mix: each named request is its own scenario, over its share of the connections.
            let groups = plan.requests.len() as u64;
            if cfg.load.connections < groups * cfg.load.threads as u64 {
                return Err(Error::usage(format!(
                    "{origin}: {groups} requests on {} threads need at least {} connections (each request has its own)",
                    cfg.load.threads,
                    groups * cfg.load.threads as u64
                )));
            }
            let mut members = Vec::new();
            for r in &plan.requests {
                let mut argv = argv.clone();
                argv[2] = r.url.clone();
                argv.extend(["--method".to_string(), r.method.clone()]);
                for hdr in &r.headers {
                    argv.extend(["--header".to_string(), hdr.clone()]);
                }
                if let Some(b) = &r.body {
                    argv.extend(["--body".to_string(), b.clone()]);
                }
                if let Some(f) = &r.body_file {
                    argv.extend(["--body-file".to_string(), f.clone()]);
                }
                let Command::Http(hr) = parse_generated(&argv, &format!("{origin}: request {}", r.name))?.command else {
                    return Err(Error::usage(format!("{origin}: request {}: not an http command", r.name)));
                };
                let mut c = config::http_config(&hr).map_err(|e| Error::usage(format!("{origin}: request {}: {e}", r.name)))?;
                c.load = cfg.load.clone();
                members.push((r.name.clone(), r.weight, HttpScenario::http(c)));
            }
            let pf = crate::preflight_cmd::plan_for(&cfg.target, &cfg.load);
            let what =
                format!("a mix of {groups} requests ({})", plan.requests.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", "));
            let load = cfg.load.clone();
            run_scenario(Arc::new(crate::scenario::mix::MixScenario::new(members)), &load, pf, &what, "", None)
        }
        Command::Ws(w) => {
            let mut cfg = config::ws_config(&w)?;
            if matches!(cfg.mode, WsMode::Chat { .. }) {
                return Err(Error::usage(format!("{origin}: chat rooms (--rooms) do not take stages yet")));
            }
            attach(&mut cfg.load, Some((&w.load.out.shard, &w.load.out.process_part)))?;
            run_ws(cfg)
        }
        Command::Asr(x) => {
            let mut cfg = config::asr_config(&x)?;
            attach(&mut cfg.load, None)?;
            run_asr(cfg)
        }
        _ => Err(Error::usage(format!("{origin}: scenario must be http, ws or asr"))),
    }
}

fn raw(a: &crate::cli::RawArgs) -> Result<i32> {
    let cfg = config::raw_config(a)?;
    let numbered = if cfg.seq.is_some() { " numbered by {seq}" } else { "" };
    let what = format!("{} B messages{numbered} to {}", cfg.message.len(), cfg.target.url);
    let plan = crate::preflight_cmd::plan_for(&cfg.target, &cfg.load);
    let load = cfg.load.clone();
    run_scenario(Arc::new(crate::scenario::raw::RawScenario::raw(cfg)), &load, plan, &what, "", None)
}

/// `stampede merge`: adds results of the same plan from several processes or machines.
fn merge(a: &crate::cli::MergeArgs) -> Result<i32> {
    if let Some(out) = &a.output {
        check_writable("-o/--output", out)?;
    }
    let mut merged: Option<RunResult> = None;
    for p in &a.inputs {
        let bytes = std::fs::read(p).map_err(|e| Error::usage(format!("{}: {e}", p.display())))?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::usage(format!("{}: not JSON ({e})", p.display())))?;
        let r = RunResult::from_json(&v).map_err(|e| Error::usage(format!("{}: {e}", p.display())))?;
        match &mut merged {
            None => merged = Some(r),
            Some(m) => m.merge(&r).map_err(|e| Error::usage(format!("{}: {e}", p.display())))?,
        }
    }
    let merged = merged.ok_or_else(|| Error::usage("give at least one result to merge"))?;
    let rules = config::parse_rules("--threshold", &a.thresholds)?;
    let verdicts = crate::thresholds::judge(&rules, &merged);
    print!("{}", merged.render_text());
    if !verdicts.is_empty() {
        print!("{}", crate::thresholds::render(&rules, &verdicts));
    }
    if let Some(out) = &a.output {
        let mut value = merged.to_json();
        value["thresholds"] = crate::thresholds::to_json(&verdicts);
        let json = serde_json::to_vec_pretty(&value).map_err(|e| Error::run(format!("cannot encode JSON: {e}")))?;
        write_atomically(out, &json).map_err(|e| Error::io(format!("cannot write {}", out.display()), e))?;
        eprintln!("stampede: merged {} results into {}", a.inputs.len(), out.display());
    }
    let breached = verdicts.iter().filter(|v| !v.passed).count();
    if breached > 0 {
        eprintln!("stampede: {breached} threshold(s) breached");
        return Ok(exit::THRESHOLDS);
    }
    Ok(exit::OK)
}

/// 16 random bytes for the WebSocket key and mask (from the kernel; the clock if that fails).
pub(crate) fn nonce() -> [u8; 16] {
    let mut n = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut n));
    if read.is_err() {
        let t = crate::clock::now_ns() ^ u64::from(std::process::id()) << 32;
        n[..8].copy_from_slice(&t.to_le_bytes());
        n[8..].copy_from_slice(&t.rotate_left(29).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    }
    n
}

/// Runs a scenario and reports it. With `--junit`, a run that cannot be carried out still
/// leaves a JUnit file with one failed case saying why.
fn run_scenario<S: Scenario>(
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
        crate::report_cmd::write_junit(junit, None, Some(&e.to_string()))?;
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
    if load.preflight && !crate::preflight_cmd::check_before_run(&plan)? {
        if let Some(p) = &load.junit {
            crate::report_cmd::write_junit(p, None, Some("preflight: the run is impossible as planned (see the fixes it printed)"))?;
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
    let mode = match load.mode {
        Loop::Closed => "closed loop".to_string(),
        Loop::Open { rate_per_s } => format!("open loop at {rate_per_s} req/s"),
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
    let threads = load.threads;
    // Every second each worker sends its interval: the collector adds them up into the time
    // series (and prints the live line on a terminal).
    let (tx, rx) = mpsc::channel::<Tick>();
    let metrics_done = Arc::new(AtomicBool::new(false));
    let totals = match load.metrics_listen {
        Some(addr) => {
            let (totals, local) = crate::live::serve_metrics(addr, Arc::clone(&metrics_done))
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
    let opts = crate::live::CollectorOpts {
        workers: threads,
        live_line: live,
        totals,
        abort,
        abort_after: load.abort_after.map_or(0, |d| d.as_secs().max(1)),
        stop: Arc::clone(&stop),
        stages: load.staged.as_deref().map_or(Vec::new(), |st| st.bounds.iter().map(|(n, _, e)| (n.clone(), *e as f64 / 1e9)).collect()),
        progress_file: std::env::var_os(PROGRESS_ENV).map(std::path::PathBuf::from),
    };
    let collector = std::thread::spawn(move || crate::live::collect(rx, opts));
    let started_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let out = engine::run(Arc::clone(&scenario), load, stop, Some(tx));
    let (intervals, aborted) = collector.join().unwrap_or_default();
    metrics_done.store(true, Ordering::Relaxed);
    let out = out?;
    let meta = RunMeta {
        scenario: scenario.name().to_string(),
        target: scenario.target(),
        driver: out.driver.name().to_string(),
        threads: out.threads,
        connections: load.connections,
        pipeline: load.pipeline,
        duration_s: out.elapsed_ns as f64 / 1e9,
        target_rate: match (load.mode, load.staged.as_deref()) {
            (Loop::Closed, _) => None,
            // A plan's rate changes: the target is its mean (what its schedule sends in all).
            (Loop::Open { .. }, Some(st)) if st.drive == crate::plan::Drive::Rate => {
                Some(st.profile.integral_to(u64::MAX) / st.total().as_secs_f64().max(1e-9))
            }
            (Loop::Open { rate_per_s }, _) => Some(rate_per_s),
        },
        cpu_user_s: out.cpu_user_s,
        cpu_sys_s: out.cpu_sys_s,
        interrupted: out.interrupted,
        started_unix_ms,
        rss_start: out.rss_start,
        rss_peak: out.rss_peak,
    };
    let mut result = RunResult::new(meta, out.shard);
    result.intervals = intervals;
    result.aborted = aborted;
    result.by_name = scenario.group_names().into_iter().zip(out.groups).collect();
    if let Some(st) = &load.staged {
        result.stages = out
            .stages
            .into_iter()
            .zip(&st.bounds)
            .zip(&st.shapes)
            .map(|((shard, (name, start, end)), shape)| crate::stats::timeline::StageResult {
                name: name.clone(),
                start_s: *start as f64 / 1e9,
                end_s: *end as f64 / 1e9,
                shape: shape.clone(),
                shard,
            })
            .collect();
    }
    Ok(Executed { result, busiest: out.busiest_worker, notes: out.notes })
}

/// Prints the report, writes the JSON result (and side lines), judges thresholds; the exit code.
fn report(result: RunResult, load: &LoadConfig, busiest: Option<f64>, notes: Option<(&Path, Vec<String>)>) -> Result<i32> {
    let mut text = result.render_text();
    if let Some(b) = busiest.filter(|_| !result.saturation().saturated) {
        text.push_str(&format!(
            "\nWARNING: the busiest worker thread used {:.0}% of a CPU: the generator may be the bottleneck.\n",
            b * 100.0
        ));
    }
    if load.latency {
        text.push_str(&crate::stats::report::render_distribution(&result));
    }
    text.push_str(&result.render_monitor());
    text.push_str(&result.render_by_name());
    text.push_str(&result.render_stages());
    let verdicts = crate::thresholds::judge(&load.thresholds, &result);
    if !verdicts.is_empty() {
        text.push_str(&crate::thresholds::render(&load.thresholds, &verdicts));
    }
    // A plan's stage thresholds, judged on each stage alone.
    let mut stage_verdicts = Vec::new();
    if let Some(st) = &load.staged {
        for (i, rules) in st.thresholds.iter().enumerate() {
            let Some(r) = result.stage_result(i).filter(|_| !rules.is_empty()) else { continue };
            let v = crate::thresholds::judge(rules, &r);
            text.push_str(&crate::thresholds::render(rules, &v).replacen(
                "Thresholds",
                &format!("Thresholds of stage {}", st.bounds[i].0),
                1,
            ));
            stage_verdicts.push((i, v));
        }
    }
    print!("{text}");
    let _ = std::io::stdout().flush();
    let shard = &result.shard;
    let no_answer =
        // (an answer that failed a check is still an answer)
        shard.responses + shard.deliveries() + shard.errors_of(crate::stats::ErrorClass::Check) == 0
            && shard.requests_total() + shard.connects_attempted > 0
            && !result.meta.interrupted;
    if load.json.is_some() || load.junit.is_some() {
        let mut value = result.to_json();
        value["host"] = crate::preflight::Host::read(Path::new("/")).to_json();
        value["thresholds"] = crate::thresholds::to_json(&verdicts);
        for (i, v) in &stage_verdicts {
            value["stages"][*i]["thresholds"] = crate::thresholds::to_json(v);
        }
        if let Some(p) = &load.json {
            let json = serde_json::to_vec_pretty(&value).map_err(|e| Error::run(format!("cannot encode the JSON result: {e}")))?;
            write_atomically(p, &json).map_err(|e| Error::io(format!("cannot write {}", p.display()), e))?;
            eprintln!("stampede: result written to {}", p.display());
        }
        if let Some(p) = &load.junit {
            crate::report_cmd::write_junit(p, Some(&value), no_answer.then_some("no request got a response"))?;
        }
    }
    if let Some((p, lines)) = notes {
        let mut text = lines.join("\n");
        text.push('\n');
        write_atomically(p, text.as_bytes()).map_err(|e| Error::io(format!("cannot write {}", p.display()), e))?;
        eprintln!("stampede: {} lines written to {}", lines.len(), p.display());
    }
    if let Some(p) = &load.hlog {
        write_atomically(p, crate::stats::hlog::render(&result).as_bytes())
            .map_err(|e| Error::io(format!("cannot write {}", p.display()), e))?;
        eprintln!("stampede: HdrHistogram interval log written to {}", p.display());
    }
    if no_answer {
        eprintln!("stampede: no request got a response: see the error classes above");
        return Ok(exit::RUN_FAILED);
    }
    let breached = verdicts.iter().chain(stage_verdicts.iter().flat_map(|(_, v)| v)).filter(|v| !v.passed).count();
    if let Some(why) = &result.aborted {
        eprintln!("stampede: run aborted ({why})");
        return Ok(exit::THRESHOLDS);
    }
    if breached > 0 {
        eprintln!("stampede: {breached} threshold(s) breached");
        return Ok(exit::THRESHOLDS);
    }
    Ok(exit::OK)
}

/// `--processes N`: runs this same command line as N child processes, each with its part of
/// the plan (`--process-part K/N`: connections, rate and requests divided, CPUs divided), then
/// merges their results exactly and reports once. SIGINT/SIGTERM are passed on to the children.
/// Set by a `--processes` parent for each child: where the child writes its progress.
const PROGRESS_ENV: &str = "STAMPEDE_PROGRESS_FILE";

/// Sleeps until the wall-clock time `at` (`--start-at`); false when a signal came first. A start
/// time already past is reported (a late shard skews the merged time line) and the run starts.
fn wait_for_start(at: SystemTime, stop: &AtomicBool) -> bool {
    match at.duration_since(SystemTime::now()) {
        Err(late) => {
            let late = late.duration();
            if late > Duration::from_millis(100) {
                eprintln!("stampede: warning: started {late:.2?} after --start-at; check the clocks (NTP) and how long start-up took");
            }
        }
        Ok(wait) => {
            eprintln!("stampede: waiting {wait:.1?} for --start-at");
            while let Ok(left) = at.duration_since(SystemTime::now()) {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                std::thread::sleep(left.min(Duration::from_millis(50)));
            }
        }
    }
    !stop.load(Ordering::Relaxed)
}

fn run_processes(load: &LoadConfig) -> Result<i32> {
    use std::ffi::OsString;
    let n = load.processes;
    let exe = std::env::current_exe().map_err(|e| Error::io("cannot find the stampede executable", e))?;
    // The user's arguments, less the ones each child gets its own value of.
    let mut args: Vec<OsString> = Vec::new();
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        // Flags the parent keeps (or gives each child its own value of), in both spellings.
        const PARENT_ONLY: [&str; 6] = ["--processes", "--json", "--start-at", "--hlog", "--monitor-pid", "--junit"];
        if PARENT_ONLY.contains(&s.as_ref()) {
            it.next();
        } else if !(PARENT_ONLY.iter().any(|f| s.strip_prefix(f).is_some_and(|rest| rest.starts_with('=')))
            || matches!(s.as_ref(), "-q" | "--quiet" | "--no-preflight"))
        {
            args.push(a);
        }
    }
    // Every child gets the same absolute start time (a relative +30s would drift per child).
    if let Some(at) = load.start_at {
        let secs = at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        args.extend(["--start-at".into(), format!("{secs:.6}").into()]);
    }
    let dir = std::env::temp_dir().join(format!("stampede-processes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let stop = stop_on_signals()?;
    eprintln!("stampede: running as {n} processes");
    // The parent watches the target; its children do not (they get no --monitor-pid).
    let monitor = crate::monitor::Monitor::start(&load.monitor_pids);
    let mut children = Vec::with_capacity(n as usize);
    for k in 0..n {
        let json = dir.join(format!("part-{k}.json"));
        let err = std::fs::File::create(dir.join(format!("part-{k}.err"))).map_err(|e| Error::io("cannot create a temp file", e))?;
        let child = std::process::Command::new(&exe)
            .args(&args)
            .args(["--process-part", &format!("{k}/{n}"), "--quiet", "--no-preflight", "--json"])
            .arg(&json)
            .env(PROGRESS_ENV, dir.join(format!("part-{k}.progress")))
            .stdout(std::process::Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| Error::io("cannot start a child process", e))?;
        children.push((child, json));
    }
    let mut forwarded = false;
    // One progress line for all the children, from the files they update each second.
    let live = !load.quiet && std::io::stderr().is_terminal();
    let progress: Vec<std::path::PathBuf> = (0..n).map(|k| dir.join(format!("part-{k}.progress"))).collect();
    let (mut next_print, mut printed) = (std::time::Instant::now() + Duration::from_secs(1), false);
    loop {
        if live && std::time::Instant::now() >= next_print {
            next_print += Duration::from_secs(1);
            if let Some(line) = crate::live::combined_progress(&progress) {
                eprint!("\r\x1b[2K{line}");
                printed = true;
            }
        }
        let mut running = 0;
        for (c, _) in children.iter_mut() {
            running += usize::from(matches!(c.try_wait(), Ok(None)));
        }
        if running == 0 {
            break;
        }
        if stop.load(Ordering::Relaxed) && !forwarded {
            forwarded = true;
            for (c, _) in &children {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGINT);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if printed {
        eprintln!();
    }
    let mut merged: Option<RunResult> = None;
    let mut failures = Vec::new();
    for (k, (_, json)) in children.iter().enumerate() {
        let part =
            std::fs::read(json).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).map(|v| RunResult::from_json(&v));
        match (part, &mut merged) {
            (Some(Ok(r)), None) => merged = Some(r),
            (Some(Ok(r)), Some(m)) => m.merge(&r).map_err(Error::run)?,
            _ => failures
                .push(format!("part {k}: {}", std::fs::read_to_string(dir.join(format!("part-{k}.err"))).unwrap_or_default().trim())),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    for f in &failures {
        eprintln!("stampede: a child process wrote no result: {f}");
    }
    let Some(mut result) = merged else { return Err(Error::run("no child process produced a result")) };
    result.monitor = monitor.finish();
    report(result, load, None, None)
}

/// Prints one live line per second on stderr, merging all workers' snapshots of that second.
fn serve(a: &ServeArgs) -> Result<i32> {
    let mut s = config::serve_settings(a)?;
    // --tls-self-signed: one certificate for every process, in files the children and clients
    // read (the CA for --cacert); removed when the server stops.
    let self_signed = if a.tls_self_signed {
        let cert = crate::net::tls::SelfSigned::generate().map_err(Error::run)?;
        s.tls = Some(cert.server_config().map_err(Error::run)?);
        Some(SelfSignedFiles::write(&cert)?)
    } else {
        None
    };
    let stop = stop_on_signals()?;
    let plan = crate::preflight::Plan {
        connections: s.max_connections.unwrap_or(0),
        processes: 1,
        threads: s.threads,
        source_addrs: 1,
        destinations: 1,
        target_is_local: false,
        serve_backlog: Some(s.backlog.max(0) as u32),
        uses_io_uring: None,
        unix: false,
    };
    for c in crate::preflight::run(Path::new("/"), &plan).checks.iter().filter(|c| c.status != crate::preflight::Status::Pass) {
        if matches!(c.name, "net.core.somaxconn" | "net.ipv4.tcp_max_syn_backlog" | "net.ipv4.tcp_syncookies") {
            eprintln!(
                "preflight {} {}: {} (needed: {}){}",
                c.status.name(),
                c.name,
                c.observed,
                c.needed,
                c.fix.as_ref().map_or(String::new(), |f| format!("\n    fix: {f}"))
            );
        }
    }
    let _ = crate::preflight::raise_nofile_soft_limit();
    let handle = server::start(&s)?;
    // More processes on the same port (the port is known now, also when it was 0).
    let mut children = Vec::new();
    if a.processes > 1 {
        let exe = std::env::current_exe().map_err(|e| Error::io("cannot find the stampede executable", e))?;
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        let mut it = std::env::args_os().skip(1);
        while let Some(arg) = it.next() {
            let s = arg.to_string_lossy();
            // The first process alone serves the Unix socket (one path, one listening socket).
            if matches!(s.as_ref(), "--processes" | "--listen" | "--unix") {
                it.next();
            } else if s == "--tls-self-signed" {
                // The children serve the parent's certificate, not one of their own.
                if let Some(f) = &self_signed {
                    args.extend(["--tls-cert".into(), f.cert.clone().into(), "--tls-key".into(), f.key.clone().into()]);
                }
            } else if !["--processes=", "--listen=", "--unix="].iter().any(|p| s.starts_with(p)) {
                args.push(arg);
            }
        }
        for _ in 1..a.processes {
            let child = std::process::Command::new(&exe)
                .args(&args)
                .args(["--listen", &handle.local_addr().to_string()])
                .stdout(std::process::Stdio::null())
                .spawn()
                .map_err(|e| Error::io("cannot start a server process", e))?;
            children.push(child);
        }
    }
    let scheme = if s.tls.is_some() { "https" } else { "http" };
    println!(
        "stampede serve: listening on {scheme}://{} ({} threads × {} process(es), {})",
        handle.local_addr(),
        s.threads,
        a.processes,
        handle.driver().name()
    );
    if s.tls.is_some() {
        println!("stampede serve: TLS (https, wss) on that address; the raw echo and the Unix socket stay plain");
    }
    if let Some(f) = &self_signed {
        println!(
            "stampede serve: self-signed certificate for localhost, 127.0.0.1 and ::1; clients trust it with --cacert {} (or --insecure)",
            f.ca.display()
        );
    }
    if let Some(raw) = handle.raw_addr() {
        println!("stampede serve: raw echo on tcp://{raw}");
    }
    if let Some(path) = handle.unix_path() {
        let p = path.display();
        println!("stampede serve: also listening on the Unix socket {p} (every route: stampede http http://localhost/ --unix-socket {p})");
    }
    let _ = std::io::stdout().flush();
    if !s.faults.is_empty() {
        eprintln!("stampede serve: faults on: {}", s.faults.describe());
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in &children {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGINT);
    }
    for mut c in children {
        let _ = c.wait();
    }
    handle.stop();
    drop(self_signed);
    eprintln!("stampede serve: stopped");
    Ok(exit::OK)
}

/// The files of `serve --tls-self-signed`: the CA (for clients' --cacert), and the certificate
/// and key (for the other processes of `--processes`). Removed on drop.
struct SelfSignedFiles {
    ca: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl SelfSignedFiles {
    fn write(cert: &crate::net::tls::SelfSigned) -> Result<SelfSignedFiles> {
        let dir = std::env::temp_dir();
        let at = |what: &str| dir.join(format!("stampede-serve-{}-{what}.pem", std::process::id()));
        let files = SelfSignedFiles { ca: at("ca"), cert: at("cert"), key: at("key") };
        for (path, pem) in [(&files.ca, &cert.ca_pem), (&files.cert, &cert.cert_pem), (&files.key, &cert.key_pem)] {
            write_private(path, pem.as_bytes()).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        }
        Ok(files)
    }
}

impl Drop for SelfSignedFiles {
    fn drop(&mut self) {
        for p in [&self.ca, &self.cert, &self.key] {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Writes a file readable by its owner only (it may hold a private key).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

/// `stampede hold`: connections opened at --connect-rate and held, each sending one request
/// (http) or ping (ws) every --every; the report shows established, failures, connect latency
/// and memory per connection.
fn hold(a: &crate::cli::HoldArgs) -> Result<i32> {
    let every = crate::units::parse_duration(&a.every).map_err(|e| Error::usage(format!("--every: {e}")))?;
    if every.is_zero() {
        return Err(Error::usage("--every must be greater than 0"));
    }
    if a.load.rate.is_some() {
        return Err(Error::usage("hold paces itself with --every; -R is for http and ws"));
    }
    if !["http://", "ws://", "https://", "wss://"].iter().any(|s| a.url.starts_with(s)) {
        return Err(Error::usage(format!("'{}': hold takes an http(s):// or ws(s):// URL, e.g. http://127.0.0.1:8080/", a.url)));
    }
    if a.url.starts_with("ws://") || a.url.starts_with("wss://") {
        let ws = crate::cli::WsArgs {
            url: a.url.clone(),
            size: "16".into(),
            message: None,
            text: false,
            binary: false,
            ping_interval: Some(a.every.clone()),
            rooms: None,
            headers: Vec::new(),
            load: a.load.clone(),
        };
        return self::ws(&ws);
    }
    let mut load = config::load_config(&a.load)?;
    load.mode = Loop::Open { rate_per_s: load.connections as f64 / every.as_secs_f64() };
    let target = config::parse_target(&a.url)?;
    let req = RequestArgs { method: "GET".into(), headers: Vec::new(), body: None, body_file: None };
    run_http(config::build_http(target, &req, load)?, "")
}

fn demo(a: &DemoArgs) -> Result<i32> {
    let mut load = config::load_config(&a.load)?;
    if load.processes > 1 || a.load.out.shard.is_some() {
        return Err(Error::usage("demo runs in one process: --processes and --shard are for http and ws"));
    }
    if !a.path.starts_with('/') {
        return Err(Error::usage(format!("--path '{}': write a path starting with /, e.g. /bytes/1024", a.path)));
    }
    config::parse_target(&format!("http://127.0.0.1{}", a.path)).map_err(|e| Error::usage(format!("--path '{}': {e}", a.path)))?;
    let cpus = config::usable_cpus();
    // Server on the first CPU, generator on the others (shared when there is only one).
    let (server_cpus, client_cpus) = match cpus.split_first() {
        Some((first, rest)) if !rest.is_empty() => (vec![*first], rest.to_vec()),
        _ => (cpus.clone(), cpus.clone()),
    };
    if a.load.threads.is_none() {
        load.threads = client_cpus.len().max(1).min(load.connections as usize);
    }
    load.cpus = client_cpus;
    let settings = ServeConfig {
        listen: "127.0.0.1:0".parse().map_err(|_| Error::run("bad demo listen address"))?,
        threads: server_cpus.len().max(1),
        cpus: server_cpus,
        max_connections: None,
        max_rps: None,
        backlog: 4096,
        asr: Default::default(),
        faults: Default::default(),
        raw_listen: None,
        unix: None,
        tls: None,
    };
    let handle = server::start(&settings)?;
    let url = format!("http://{}{}", handle.local_addr(), a.path);
    let target: Target = config::parse_target(&url)?;
    let req = RequestArgs { method: "GET".into(), headers: Vec::new(), body: None, body_file: None };
    let cfg = config::build_http(target, &req, load)?;
    let banner = format!(
        "stampede demo: embedded server on {} ({} thread), load from {} thread(s)",
        handle.local_addr(),
        settings.threads,
        cfg.load.threads
    );
    let code = run_http(cfg, &banner);
    handle.stop();
    code
}
