//! The load flags every scenario shares -> [`LoadConfig`]: units parsed, limits checked, the
//! TLS set-up of a TLS target, and a part of a split run (`--shard`, `--process-part`).

use std::time::Duration;

use crate::cli::LoadArgs;
use crate::config::{
    share, ClientTls, ConnectOpts, Drive, LoadConfig, Pacing, Target, TlsOptions, DEFAULT_CLOSE_RATE, DEFAULT_DURATION, MAX_PIPELINE,
};
use crate::error::{Error, Result};
use crate::net::parse_sources;

/// CPUs this process may run on (respects `taskset`).
pub fn usable_cpus() -> Vec<usize> {
    core_affinity::get_core_ids().map(|ids| ids.into_iter().map(|c| c.id).collect()).unwrap_or_default()
}

/// Most connections one run (all its processes) may plan.
const MAX_CONNECTIONS: u64 = 10_000_000;

/// Sets `load.tls` for a TLS target from the TLS flags (which plain targets ignore).
pub fn attach_tls(target: &Target, load: &mut LoadConfig) -> Result<()> {
    if !target.tls {
        return Ok(());
    }
    if load.unix.is_some() {
        return Err(Error::usage(format!("'{}': TLS over --unix-socket is not supported; use a plain scheme", target.url)));
    }
    let a = &load.tls_options;
    let name = a.server_name.clone().unwrap_or_else(|| target.host.clone());
    let server_name = rustls::pki_types::ServerName::try_from(name.clone())
        .map_err(|_| Error::usage(format!("'{name}' is not a valid TLS server name (give one with --tls-server-name)")))?;
    // One TLS 1.3 ticket per connection reconnecting at once (rustls's own cache keeps 8).
    let tickets = if !a.resume { 0 } else { load.connections.clamp(8, 65_536) as usize };
    let config =
        crate::net::tls::client_config(a.insecure, a.cacert.as_deref(), tickets).map_err(|e| Error::usage(format!("--cacert: {e}")))?;
    load.tls = Some(ClientTls { config, server_name });
    Ok(())
}

/// The load flags every scenario shares, checked; a part of a split run when asked.
pub fn load_config(a: &LoadArgs) -> Result<LoadConfig> {
    let (connections, requests, duration) = span(a)?;
    let drive = match a.rate {
        None => Drive::Closed,
        Some(rate_per_s) => Drive::Open { rate_per_s },
    };
    if a.rate.is_some() && a.think.is_some_and(|t| !t.is_zero()) {
        return Err(Error::usage(
            "--think is for closed loop: each connection pauses after its answer; with -R/--rate the schedule sets the pace",
        ));
    }
    if a.pipeline == 0 || a.pipeline > MAX_PIPELINE {
        return Err(Error::usage(format!("--pipeline must be between 1 and {MAX_PIPELINE}")));
    }
    let (timeout, connect_timeout) = (a.timeout, a.connect_timeout);
    if timeout.is_zero() || connect_timeout.is_zero() {
        return Err(Error::usage("--timeout and --connect-timeout must be greater than 0"));
    }
    // `auto` (both): what this machine's fd limit and port range require for -c (issue 21).
    let host = (a.out.processes == 0 || a.source.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("auto")))
        .then(|| crate::preflight::Host::read(std::path::Path::new("/")));
    let sources = match (&a.source, &host) {
        (Some(s), Some(h)) if s.eq_ignore_ascii_case("auto") => {
            crate::preflight::auto_source_addrs(crate::preflight::auto_sources(h, connections))
        }
        (Some(s), _) => parse_sources(s).map_err(|e| Error::usage(format!("--source: {e}")))?,
        (None, _) => Vec::new(),
    };
    let processes = match (a.out.processes, &host) {
        (0, Some(h)) => crate::preflight::auto_processes(h, connections),
        (n, _) => n,
    };
    let cpus = usable_cpus();
    let threads = match a.threads {
        Some(0) => return Err(Error::usage("-t/--threads must be at least 1")),
        Some(t) => t,
        None => cpus.len().max(1),
    };
    // A worker with no connection would only idle: never run more workers than connections.
    let threads = threads.min(connections.min(4096) as usize);
    let load = LoadConfig {
        connections,
        think: a.think.filter(|t| !t.is_zero()),
        duration,
        requests,
        threads,
        cpus,
        drive,
        connect_rate: a.connect_rate,
        sends_after_ramp: false,
        pipeline: a.pipeline,
        timeout,
        connect: ConnectOpts {
            nodelay: true,
            linger_zero: a.linger_zero,
            timeout: connect_timeout,
            close_rate: Some(a.close_rate.unwrap_or(DEFAULT_CLOSE_RATE)),
        },
        sources,
        json: a.out.json.clone(),
        hlog: a.out.hlog.clone(),
        unix: a.unix_socket.clone(),
        tls_options: TlsOptions {
            insecure: a.tls.insecure,
            cacert: a.tls.cacert.clone(),
            server_name: a.tls.server_name.clone(),
            resume: !a.tls.no_resume,
        },
        tls: None,
        metrics_listen: a
            .out
            .metrics_listen
            .as_deref()
            .map(|m| m.parse().map_err(|_| Error::usage(format!("--metrics-listen '{m}': give IP:PORT, e.g. 127.0.0.1:9464"))))
            .transpose()?,
        abort_after: a.out.abort_on_fail.then_some(a.out.abort_grace),
        pacing: Pacing::from_name(&a.out.pacing).ok_or_else(|| Error::usage(format!("--pacing '{}': give sleep or spin", a.out.pacing)))?,
        monitor_pids: monitor_pids(&a.out.monitor_pids)?,
        junit: a.out.junit.clone(),
        latency: a.out.latency,
        quiet: a.out.quiet,
        preflight: !a.out.no_preflight,
        thresholds: parse_rules("--threshold", &a.out.thresholds)?,
        processes,
        start_at: a
            .out
            .start_at
            .as_deref()
            .map(|t| crate::units::parse_start_at(t, std::time::SystemTime::now()).map_err(|e| Error::usage(format!("--start-at {e}"))))
            .transpose()?,
        part: 0,
        parts: 1,
        captures: Default::default(),
        setup: None,
    };
    split(load, a)
}

/// Connections, the request budget and the run length.
fn span(a: &LoadArgs) -> Result<(u64, Option<u64>, Option<Duration>)> {
    let connections = a.connections;
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
    let requests = a.requests;
    if requests == Some(0) {
        return Err(Error::usage("-n/--requests must be at least 1"));
    }
    let duration = match (a.duration, requests) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_DURATION),
    };
    if duration == Some(Duration::ZERO) {
        return Err(Error::usage("-d/--duration must be greater than 0"));
    }
    Ok((connections, requests, duration))
}

/// `--monitor-pid`: each must be a process on this machine.
fn monitor_pids(pids: &[u32]) -> Result<Vec<u32>> {
    pids.iter()
        .map(|&pid| {
            if crate::monitor::read(pid).is_some() {
                Ok(pid)
            } else {
                Err(Error::usage(format!("--monitor-pid {pid}: no such process here (it must run on this machine)")))
            }
        })
        .collect()
}

/// `--processes` checked; this part of a split run (`--shard`, `--process-part`).
fn split(load: LoadConfig, a: &LoadArgs) -> Result<LoadConfig> {
    if load.processes == 0 || load.processes > 1024 {
        return Err(Error::usage("--processes must be between 1 and 1024"));
    }
    let part = match (&a.out.shard, &a.out.process_part) {
        (Some(s), _) => Some((parse_part("--shard", s)?, false)),
        (None, Some(p)) => Some((parse_part("--process-part", p)?, true)),
        (None, None) => None,
    };
    // Every process needs a part of the work: refused here, before any child starts.
    let n = u64::from(load.processes);
    if part.is_none() && n > 1 {
        if load.connections < n {
            return Err(Error::usage(format!(
                "--processes {n} with -c/--connections {}: each process needs at least one connection; use --processes {} or fewer, or more connections",
                load.connections, load.connections
            )));
        }
        if let Some(r) = load.requests.filter(|r| *r < n) {
            return Err(Error::usage(format!(
                "--processes {n} with -n/--requests {r}: each process needs at least one request; use --processes {r} or fewer, or more requests"
            )));
        }
    }
    match part {
        Some(((i, n), split_cpus)) => take_part(load, i, n, split_cpus),
        None => Ok(load),
    }
}

/// Threshold rules given with `flag`; the first bad one is a usage error naming it.
pub fn parse_rules<S: AsRef<str>>(flag: &str, texts: &[S]) -> Result<Vec<crate::thresholds::Threshold>> {
    texts.iter().map(|t| crate::thresholds::parse(t.as_ref()).map_err(|e| Error::usage(format!("{flag} {e}")))).collect()
}

/// `I/N` with 0 ≤ I < N.
pub fn parse_part(flag: &str, s: &str) -> Result<(u64, u64)> {
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
    if let Some(rate) = load.connect.close_rate {
        load.connect.close_rate = Some(rate / n as f64);
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
    (load.part, load.parts) = (i, n);
    Ok(load)
}

/// Parses repeated `-H "Name: value"` flags.
pub(super) fn parse_headers(raw: &[String]) -> Result<Vec<(String, String)>> {
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
