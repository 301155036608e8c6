//! `stampede serve` flags -> the server's [`ServeConfig`].

use std::net::SocketAddr;

use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::server::limit::{Limits, OverLimit, RateLimit};
use crate::server::{AsrMock, ChatSettings, ServeConfig};

use super::load::usable_cpus;

/// A validated `stampede serve`.
pub fn serve_settings(a: &ServeArgs) -> Result<ServeConfig> {
    let listen: SocketAddr = a
        .listen
        .parse()
        .map_err(|_| Error::usage(format!("--listen '{}': write an address as IP:PORT, e.g. 127.0.0.1:8080 or [::1]:0", a.listen)))?;
    let (max_connections, max_rps) = (a.max_connections, a.max_rps);
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
    if a.processes > 256 {
        return Err(Error::usage("--processes must be between 1 and 256 (or auto)"));
    }
    if a.processes == 0 && a.connections.is_none() {
        return Err(Error::usage("--processes auto: give the connections to plan for, e.g. -c 1M"));
    }
    if a.connections == Some(0) {
        return Err(Error::usage("-c/--connections must be at least 1"));
    }
    let limits = limits(a)?;
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
    let chat = match (a.ws_ping_interval, a.ws_ping_timeout) {
        (Some(i), _) if i.is_zero() => return Err(Error::usage("--ws-ping-interval must be above 0")),
        (_, Some(t)) if t.is_zero() => return Err(Error::usage("--ws-ping-timeout must be above 0")),
        (None, Some(_)) => return Err(Error::usage("--ws-ping-timeout needs --ws-ping-interval")),
        (interval, timeout) => {
            ChatSettings { ping_interval: interval, ping_timeout: timeout.or(interval).unwrap_or(ChatSettings::default().ping_timeout) }
        }
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
        chat,
        limits,
    })
}

/// `--max-concurrent`, `--over-limit-status`, `--max-rate`: whole-server limits, so one process.
fn limits(a: &ServeArgs) -> Result<Limits> {
    if a.max_concurrent == Some(0) {
        return Err(Error::usage("--max-concurrent must be at least 1"));
    }
    let over_limit_status = OverLimit::parse(&a.over_limit_status).map_err(|e| Error::usage(format!("--over-limit-status {e}")))?;
    let max_rate = a.max_rate.as_deref().map(RateLimit::parse).transpose().map_err(|e| Error::usage(format!("--max-rate {e}")))?;
    let limits = Limits { max_concurrent: a.max_concurrent, over_limit_status, max_rate };
    if a.processes != 1 && (limits.max_concurrent.is_some() || limits.max_rate.is_some()) {
        return Err(Error::usage(
            "--max-concurrent and --max-rate are limits of one server process (shared by its threads): drop --processes",
        ));
    }
    Ok(limits)
}
