//! `stampede hold`: many connections opened and held, each nudged every `--every`.

use super::run::{run_http, run_ws};
use crate::cli::{HoldArgs, RequestArgs, WsArgs};
use crate::config::{self, Drive};
use crate::error::{Error, Result};

/// `stampede hold`: connections opened at --connect-rate and held, each sending one request
/// (http) or ping (ws) every --every; the report shows established, failures, connect latency
/// and memory per connection.
pub(super) fn hold(a: &HoldArgs) -> Result<i32> {
    let every = a.every;
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
        let ws = WsArgs {
            url: a.url.clone(),
            size: 16,
            message: None,
            text: false,
            binary: false,
            ping_interval: Some(a.every),
            rooms: None,
            rooms_per_conn: 1,
            on_open: Vec::new(),
            on_open_expect: None,
            heartbeat: None,
            headers: Vec::new(),
            subprotocols: Vec::new(),
            load: a.load.clone(),
        };
        let mut cfg = config::ws_config(&ws)?;
        cfg.load.sends_after_ramp = true;
        return run_ws(cfg);
    }
    let mut load = config::load_config(&a.load)?;
    load.drive = Drive::Open { rate_per_s: load.connections as f64 / every.as_secs_f64() };
    // Each connection's first request comes after the ramp, spread over one --every.
    load.sends_after_ramp = true;
    let target = config::parse_target(&a.url)?;
    let req = RequestArgs::get();
    run_http(config::build_http(target, &req, load)?, "")
}
