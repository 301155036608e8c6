//! Validated configuration: the only input the engine, the scenarios and the server accept.
//!
//! `types` holds the plain validated types (no clap in them; every layer may read them);
//! `target` parses and resolves URLs; `build` is the edge that turns clap arguments into those
//! types: it parses units, resolves the target, encodes the request once, checks every limit,
//! and splits the work per part. Every error there is a usage error (exit 2) whose message says
//! what to change.

mod build;
mod dynamic;
mod expect;
mod target;
mod types;

pub use build::{
    asr_config, attach_tls, build_http, http_config, http_config_captured, load_config, parse_part, parse_rules, raw_config,
    serve_settings, take_part, usable_cpus, ws_config, ws_config_captured,
};
pub use dynamic::*;
pub use expect::{Check, Expect, OkStatus, BODY_CHECK_BOUND, MAX_CHECKS};
pub use target::{parse_target, parse_url};
pub use types::*;

#[cfg(test)]
mod tests;
