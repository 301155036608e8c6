//! `stampede http`: an HTTP/1.1 load.

use super::run::run_http;
use crate::cli::HttpArgs;
use crate::config;
use crate::error::Result;

/// `stampede http`.
pub(super) fn http(a: &HttpArgs) -> Result<i32> {
    run_http(config::http_config(a)?, "")
}
