//! `stampede preflight`, and the same checks run before every load (edge layer: it prints).
//!
//! The checks themselves live in `preflight/` and only read a /proc root; this module builds
//! the plan from the command line or the run's config, prints the table, and decides.

use std::path::Path;

use crate::cli::PreflightArgs;
use crate::config::{self, LoadConfig, Target};
use crate::error::{exit, Error, Result};
use crate::preflight::{self, Plan, Status};
use crate::units::parse_count;

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

/// `stampede preflight --verify URL`: a 2 s connect burst of `connections`, all at once, with the
/// kernel's counters around it — run it before and after tuning to see the difference.
fn verify(a: &PreflightArgs, url: &str, connections: u64) -> Result<i32> {
    let target = config::parse_target(url)?;
    // Built through the parser, so the burst gets every default of a normal run.
    let mut argv = vec!["stampede".to_string(), "http".into(), url.into(), "-c".into(), connections.to_string()];
    argv.extend(["-d", "2s", "--timeout", "5s", "--connect-timeout", "5s", "--quiet", "--no-preflight"].map(String::from));
    if let Some(t) = a.threads {
        argv.extend(["-t".to_string(), t.to_string()]);
    }
    let crate::cli::Command::Http(h) =
        <crate::cli::Cli as clap::Parser>::try_parse_from(&argv).map_err(|e| Error::usage(format!("--verify: {}", e.kind())))?.command
    else {
        return Err(Error::usage("--verify: internal command line"));
    };
    let load = config::load_config(&h.load)?;
    let req = h.request;
    let cfg = config::build_http(target, &req, load)?;
    let _ = preflight::raise_nofile_soft_limit();
    let before = preflight::BurstCounters::read(&a.root);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = cfg.load.clone();
    let out = crate::engine::run(std::sync::Arc::new(crate::scenario::http::HttpScenario::http(cfg)), &load, stop, None)?;
    let after = preflight::BurstCounters::read(&a.root);
    let s = &out.shard;
    let q =
        |p: f64| if s.connect.is_empty() { "-".to_string() } else { crate::stats::report::human(s.connect.value_at_quantile(p) as f64) };
    println!("connect burst: {connections} connections at once to {url}");
    println!("  established {} of {} attempts; connect p50 {} p99 {} max {}", s.connects_ok, s.connects_attempted, q(0.5), q(0.99), q(1.0));
    let failed: Vec<String> = crate::stats::ErrorClass::ALL
        .iter()
        .filter(|c| s.errors_of(**c) > 0)
        .map(|c| format!("{}: {}", c.name(), s.errors_of(*c)))
        .collect();
    println!("  failures: {}", if failed.is_empty() { "none".into() } else { failed.join(", ") });
    match (before, after) {
        (Some(b), Some(a)) => {
            let d = a.since(&b);
            println!(
                "  kernel during the burst: ListenOverflows +{}, ListenDrops +{}, TCPSynRetrans +{}",
                d.listen_overflows, d.listen_drops, d.syn_retrans
            );
            if d.listen_overflows + d.listen_drops + d.syn_retrans > 0 {
                println!("  the accept queue overflowed: raise net.core.somaxconn and the server's backlog, then run this again");
            }
        }
        _ => println!("  kernel counters: /proc/net/netstat is not readable here"),
    }
    Ok(exit::OK)
}

/// `stampede preflight`.
pub fn preflight(a: &PreflightArgs) -> Result<i32> {
    if let Some(url) = &a.verify {
        let n = parse_count(&a.connections).map_err(|e| Error::usage(format!("-c/--connections: {e}")))?;
        return verify(a, url, n);
    }
    if let Some(saved) = &a.revert {
        let rows = preflight::revert(&a.root, saved)?;
        for (key, before, after) in rows {
            println!("{key}: {before} -> {after}");
        }
        return Ok(exit::OK);
    }
    let connections = parse_count(&a.connections).map_err(|e| Error::usage(format!("-c/--connections: {e}")))?;
    if connections == 0 {
        return Err(Error::usage("-c/--connections must be at least 1"));
    }
    if a.threads == Some(0) {
        return Err(Error::usage("-t/--threads must be at least 1"));
    }
    if let Some(p) = &a.json {
        crate::app::check_writable("--json", p)?;
    }
    let source_addrs = match &a.source {
        Some(s) => crate::net::parse_sources(s).map_err(|e| Error::usage(format!("--source: {e}")))?.len() as u64,
        None => 1,
    };
    let target_is_local = match &a.target {
        Some(t) => config::parse_target(t)?.addr.ip().is_loopback(),
        None => true,
    };
    if a.processes == 0 {
        return Err(Error::usage("--processes must be at least 1"));
    }
    let plan = Plan {
        connections,
        processes: a.processes,
        threads: a.threads.unwrap_or_else(|| (config::usable_cpus().len() / a.processes.max(1) as usize).max(1)),
        source_addrs,
        destinations: 1,
        target_is_local,
        serve_backlog: None,
        uses_io_uring: Some(crate::engine::runtime::io_uring_usable()),
        unix: false,
    };
    let report = preflight::run(&a.root, &plan);
    print!("{}", report.render_text());
    if let Some(p) = &a.json {
        let json = serde_json::to_vec_pretty(&report.to_json()).map_err(|e| Error::run(format!("cannot encode JSON: {e}")))?;
        std::fs::write(p, json).map_err(|e| Error::io(format!("cannot write {}", p.display()), e))?;
    }
    if a.apply {
        let rows = preflight::apply(&a.root, &report, &a.save)?;
        for (key, before, after) in &rows {
            println!("applied {key}: {before} -> {after}");
        }
        println!("old values saved to {}; undo with: stampede preflight --revert {}", a.save.display(), a.save.display());
    }
    Ok(if report.fatal().is_empty() { exit::OK } else { exit::RUN_FAILED })
}
