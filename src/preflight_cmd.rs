//! `stampede preflight` and the check every run makes first (wired to `preflight/`).

use crate::cli::PreflightArgs;
use crate::config::HttpConfig;
use crate::error::Result;

pub fn preflight(_a: &PreflightArgs) -> Result<i32> {
    Err(crate::error::Error::run("preflight: not wired yet"))
}

pub fn check_before_run(_cfg: &HttpConfig) -> Result<bool> {
    Ok(true)
}
