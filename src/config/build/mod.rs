//! Builders at the edge: clap arguments -> the validated types of `config`. Every error here is
//! a usage error (exit 2) whose message names the flag and says what to change.

mod asr;
mod http;
mod load;
mod raw;
mod serve;
mod ws;

pub use asr::asr_config;
pub use http::{build_http, http_config, http_config_captured};
pub use load::{attach_tls, load_config, parse_part, parse_rules, take_part, usable_cpus};
pub use raw::raw_config;
pub use serve::serve_settings;
pub use ws::{ws_config, ws_config_captured};
