//! `stampede preflight` (wired when the preflight checks land).

use crate::cli::PreflightArgs;
use crate::config::HttpConfig;
use crate::error::{Error, Result};

pub fn preflight(_a: &PreflightArgs) -> Result<i32> {
    Err(Error::run("preflight is not available in this build"))
}

pub fn check_before_run(_cfg: &HttpConfig) -> Result<bool> {
    Ok(true)
}
