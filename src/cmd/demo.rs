//! `stampede demo`: the embedded server and a load against it, in one process.

use super::run::run_http;
use crate::cli::{DemoArgs, RequestArgs};
use crate::config::{self, Target};
use crate::error::{Error, Result};
use crate::server::{self, ServeConfig};

/// `stampede demo`.
pub(super) fn demo(a: &DemoArgs) -> Result<i32> {
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
        chat: Default::default(),
    };
    let handle = server::start(&settings)?;
    let url = format!("http://{}{}", handle.local_addr(), a.path);
    let target: Target = config::parse_target(&url)?;
    let req = RequestArgs::get();
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
