//! `stampede ws`: a WebSocket load (echo, ping or chat).

use super::run::run_ws;
use crate::cli::WsArgs;
use crate::config;
use crate::error::Result;

/// `stampede ws`.
pub(super) fn ws(a: &WsArgs) -> Result<i32> {
    run_ws(config::ws_config(a)?)
}
