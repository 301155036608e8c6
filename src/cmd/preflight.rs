//! `stampede preflight`: the kernel and limit checks as a table, `--apply`/`--revert`, and
//! `--verify URL` (a connect burst with the kernel's counters around it). The checks before
//! every load run in `cmd/run`.

use std::time::Duration;

use super::check_writable;
use crate::cli::{Cli, Command, PreflightArgs};
use crate::config;
use crate::error::{exit, Error, Result};
use crate::preflight::{self, Plan};

/// `stampede preflight --verify URL`: a 2 s connect burst of `connections`, all at once, with the
/// kernel's counters around it — run it before and after tuning to see the difference.
fn verify(a: &PreflightArgs, url: &str, connections: u64) -> Result<i32> {
    let target = config::parse_target(url)?;
    // Built through the parser, so the burst gets every default of a normal run.
    // The flags of `stampede http URL` (every default of a normal run), then the burst's own.
    let argv = ["stampede", "http", url];
    let Command::Http(mut h) =
        <Cli as clap::Parser>::try_parse_from(argv).map_err(|e| Error::usage(format!("--verify: {}", e.kind())))?.command
    else {
        return Err(Error::usage("--verify: internal command line"));
    };
    h.load.connections = connections;
    h.load.duration = Some(Duration::from_secs(2));
    (h.load.timeout, h.load.connect_timeout) = (Duration::from_secs(5), Duration::from_secs(5));
    (h.load.out.quiet, h.load.out.no_preflight) = (true, true);
    if a.threads.is_some() {
        h.load.threads = a.threads;
    }
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
pub(super) fn preflight(a: &PreflightArgs) -> Result<i32> {
    if let Some(url) = &a.verify {
        return verify(a, url, a.connections);
    }
    if let Some(saved) = &a.revert {
        let rows = preflight::revert(&a.root, saved)?;
        for (key, before, after) in rows {
            println!("{key}: {before} -> {after}");
        }
        return Ok(exit::OK);
    }
    let connections = a.connections;
    if connections == 0 {
        return Err(Error::usage("-c/--connections must be at least 1"));
    }
    if a.threads == Some(0) {
        return Err(Error::usage("-t/--threads must be at least 1"));
    }
    if let Some(p) = &a.json {
        check_writable("--json", p)?;
    }
    // `auto` (--processes, --source): what this machine's fd limit and port range require.
    let host = preflight::Host::read(&a.root);
    let source_addrs = match &a.source {
        Some(s) if s.eq_ignore_ascii_case("auto") => preflight::auto_sources(&host, connections),
        Some(s) => crate::net::parse_sources(s).map_err(|e| Error::usage(format!("--source: {e}")))?.len() as u64,
        None => 1,
    };
    let target_is_local = match &a.target {
        Some(t) => config::parse_target(t)?.addr.ip().is_loopback(),
        None => true,
    };
    let processes = match a.processes {
        0 => preflight::auto_processes(&host, connections),
        n => n,
    };
    let plan = Plan {
        connections,
        processes,
        threads: a.threads.unwrap_or_else(|| (config::usable_cpus().len() / processes as usize).max(1)),
        source_addrs,
        destinations: 1,
        target_is_local,
        serve_backlog: None,
        uses_io_uring: Some(crate::engine::runtime::io_uring_usable()),
        unix: false,
        client_bytes_per_conn: crate::scenario::wire::IDLE_CONN_BYTES,
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
