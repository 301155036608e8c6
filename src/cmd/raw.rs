//! `stampede raw`: framed messages over TCP, TLS or a Unix socket.

use std::sync::Arc;

use super::run::{plan_for, run_scenario};
use crate::cli::RawArgs;
use crate::config;
use crate::error::Result;
use crate::scenario::raw::RawScenario;

/// `stampede raw`.
pub(super) fn raw(a: &RawArgs) -> Result<i32> {
    let cfg = config::raw_config(a)?;
    let what = match &cfg.seq {
        // A rendered message's size varies with its values: the bounds, framing included.
        Some(seq) => match seq.message.len_bounds() {
            (min, max) if min == max => format!("{min} B messages numbered by {{seq}} to {}", cfg.target.url),
            (min, max) => format!("{min}-{max} B messages numbered by {{seq}} to {}", cfg.target.url),
        },
        None => format!("{} B messages to {}", cfg.message.len(), cfg.target.url),
    };
    let plan = plan_for(&cfg.target, &cfg.load);
    let load = cfg.load.clone();
    run_scenario(Arc::new(RawScenario::raw(cfg)), &load, plan, &what, "", None)
}
