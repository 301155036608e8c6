//! `stampede serve`: the embedded target server, in one process or several on one port, with
//! the certificate files of `--tls-self-signed`.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::stop_on_signals;
use crate::cli::ServeArgs;
use crate::config;
use crate::error::{exit, Error, Result};
use crate::server::{self, ServeConfig, ServerHandle};

/// `stampede serve`.
pub(super) fn serve(a: &ServeArgs) -> Result<i32> {
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
    warn_about_backlog(&s);
    let _ = crate::preflight::raise_nofile_soft_limit();
    // The processes of --processes share the first one's port on purpose; nobody else may.
    if !a.join_listener {
        server::ensure_unclaimed(s.listen)?;
        if let Some(raw) = s.raw_listen {
            server::ensure_unclaimed(raw)?;
        }
    }
    let processes = plan_processes(a)?;
    let handle = server::start(&s)?;
    // More processes on the same port (the port is known now, also when it was 0).
    let children = if processes > 1 { spawn_servers(processes, handle.local_addr(), self_signed.as_ref())? } else { Vec::new() };
    announce(&s, &handle, processes, self_signed.as_ref());
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in &children {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGINT);
    }
    for mut c in children {
        let _ = c.wait();
    }
    let counts = handle.stop();
    drop(self_signed);
    eprintln!("stampede serve: stopped");
    if s.limits.max_concurrent.is_some() || s.limits.max_rate.is_some() {
        eprintln!("{}", limits_summary(&s, &counts));
    }
    Ok(exit::OK)
}

/// Internal (tests): plan at most this many connections per process, below the fd limit.
const FD_BUDGET_ENV: &str = "STAMPEDE_SERVE_FD_BUDGET";

/// The processes to serve from: `--processes N`, or with `-c` the plan for that many connections
/// (auto: as many as the fd limit requires), printed; refused with the fix when it cannot fit.
/// A joining process (`--join-listener`) is one part of its parent's plan.
fn plan_processes(a: &ServeArgs) -> Result<u32> {
    let Some(connections) = a.connections.filter(|_| !a.join_listener) else { return Ok(a.processes.max(1)) };
    let host = crate::preflight::Host::read(Path::new("/"));
    // Tests force a small budget per process (well below the fd limit) through the environment.
    let budget = std::env::var(FD_BUDGET_ENV).ok().and_then(|v| v.parse::<u64>().ok()).filter(|b| *b > 0);
    let plan = crate::preflight::serve_plan(&host, connections, a.processes, budget)
        .map_err(|why| Error::run(format!("serve cannot hold this: {why}")))?;
    eprintln!("stampede serve: plan: {}", plan.line);
    Ok(plan.processes)
}

/// Preflight's accept-queue checks, the ones a server needs (warnings only).
fn warn_about_backlog(s: &ServeConfig) {
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
        client_bytes_per_conn: 0,
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
}

/// The other `processes - 1` server processes on `addr`: this command line, less what only the
/// first process does (the Unix socket), with the parent's certificate files.
fn spawn_servers(processes: u32, addr: SocketAddr, self_signed: Option<&SelfSignedFiles>) -> Result<Vec<Child>> {
    let exe = std::env::current_exe().map_err(|e| Error::io("cannot find the stampede executable", e))?;
    let mut args: Vec<OsString> = Vec::new();
    let mut it = std::env::args_os().skip(1);
    while let Some(arg) = it.next() {
        let s = arg.to_string_lossy();
        // The first process alone serves the Unix socket (one path, one listening socket).
        // The plan (-c) was the first process's to make.
        if matches!(s.as_ref(), "--processes" | "--listen" | "--unix" | "-c" | "--connections") {
            it.next();
        } else if s.starts_with("-c") {
            // -c1000: the short flag with its value attached.
        } else if s == "--tls-self-signed" {
            // The children serve the parent's certificate, not one of their own.
            if let Some(f) = self_signed {
                args.extend(["--tls-cert".into(), f.cert.clone().into(), "--tls-key".into(), f.key.clone().into()]);
            }
        } else if !["--processes=", "--listen=", "--unix=", "--connections="].iter().any(|p| s.starts_with(p)) {
            args.push(arg);
        }
    }
    let mut children = Vec::new();
    for _ in 1..processes {
        let child = std::process::Command::new(&exe)
            .args(&args)
            .args(["--listen", &addr.to_string(), "--join-listener"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| Error::io("cannot start a server process", e))?;
        children.push(child);
    }
    Ok(children)
}

/// The summary of `--max-concurrent` / `--max-rate`: what was served and refused, and why.
fn limits_summary(s: &ServeConfig, c: &server::limit::ServeCounts) -> String {
    let mut out =
        format!("stampede serve: {} requests under the limits: {} served", c.served + c.refused_concurrent + c.refused_rate, c.served);
    if let Some(max) = s.limits.max_concurrent {
        let status = s.limits.over_limit_status.status();
        out += &format!(", {} refused over {max} in progress ({status}; peak in progress {})", c.refused_concurrent, c.peak_in_progress);
    }
    if let Some(r) = s.limits.max_rate {
        out += &format!(", {} refused over {} (429)", c.refused_rate, r.describe());
    }
    out
}

/// What is served where, on stdout (scripts wait for the first line).
fn announce(s: &ServeConfig, handle: &ServerHandle, processes: u32, self_signed: Option<&SelfSignedFiles>) {
    let scheme = if s.tls.is_some() { "https" } else { "http" };
    println!(
        "stampede serve: listening on {scheme}://{} ({} threads × {} process(es), {})",
        handle.local_addr(),
        s.threads,
        processes,
        handle.driver().name()
    );
    if s.tls.is_some() {
        println!("stampede serve: TLS (https, wss) on that address; the raw echo and the Unix socket stay plain");
    }
    if let Some(f) = self_signed {
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
    if let Some(max) = s.limits.max_concurrent {
        eprintln!("stampede serve: at most {max} requests in progress (whole server); beyond: {}", s.limits.over_limit_status.status());
    }
    if let Some(r) = s.limits.max_rate {
        eprintln!(
            "stampede serve: at most {} requests per sliding window of {:?} (whole server); beyond: 429",
            r.count,
            std::time::Duration::from_nanos(r.period_ns)
        );
    }
}

/// The files of `serve --tls-self-signed`: the CA (for clients' --cacert), and the certificate
/// and key (for the other processes of `--processes`). Removed on drop.
struct SelfSignedFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
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
