//! `stampede http` flags -> [`HttpConfig`]: the request encoded once.

use crate::cli::{HttpArgs, RequestArgs};
use crate::config::{Check, Expect, HttpConfig, LoadConfig, OkStatus, Target};
use crate::error::{Error, Result};
use crate::proto::http::request::{encode_request, RequestSpec};

use super::load::{attach_tls, load_config, parse_headers};
use crate::config::parse_target;

pub fn http_config(a: &HttpArgs) -> Result<HttpConfig> {
    let target = parse_target(&a.url)?;
    let load = load_config(&a.load)?;
    build_http(target, &a.request, load)
}

/// Builds an HTTP run from a resolved target and request flags (also used by `demo`).
pub fn build_http(target: Target, r: &RequestArgs, mut load: LoadConfig) -> Result<HttpConfig> {
    attach_tls(&target, &mut load)?;
    let method = r.method.trim().to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_') {
        return Err(Error::usage(format!("-m/--method: '{}' is not an HTTP method (GET, POST, PUT, ...)", r.method)));
    }
    let headers = parse_headers(&r.headers)?;
    let body = match (&r.body, &r.body_file) {
        (Some(b), _) => b.clone().into_bytes(),
        (None, Some(p)) => std::fs::read(p).map_err(|e| Error::usage(format!("--body-file {}: {e}", p.display())))?,
        (None, None) => Vec::new(),
    };
    let request =
        encode_request(&RequestSpec { method: &method, host: &target.host_header, path: &target.path, headers: &headers, body: &body });
    let cap = crate::proto::http::response::MAX_HEADERS_CAP;
    if r.max_headers == 0 || r.max_headers > cap {
        return Err(Error::usage(format!("--max-headers: {} is out of range (1 to {cap})", r.max_headers)));
    }
    if !(256..=16 * 1024 * 1024).contains(&r.max_head) {
        return Err(Error::usage(format!("--max-head: {} bytes is out of range (256 bytes to 16MiB)", r.max_head)));
    }
    let (max_headers, max_head) = (r.max_headers, r.max_head as usize);
    let expect = expect(r)?;
    Ok(HttpConfig { head_request: method == "HEAD", target, method, request, max_headers, max_head, expect, load })
}

/// `--ok-status` and the checks.
fn expect(r: &RequestArgs) -> Result<Expect> {
    let ok = match &r.ok_status {
        Some(spec) => OkStatus::parse(spec).map_err(|e| Error::usage(format!("--ok-status: {e}")))?,
        None => OkStatus::default(),
    };
    let mut checks = Vec::new();
    if let Some(spec) = &r.expect_status {
        checks.push(Check::Status(OkStatus::parse(spec).map_err(|e| Error::usage(format!("--expect-status: {e}")))?));
    }
    for b in &r.expect_body {
        if b.is_empty() || b.len() > crate::config::BODY_CHECK_BOUND {
            return Err(Error::usage("--expect-body: give a text of 1 byte to 64 KiB"));
        }
        checks.push(Check::Body(b.clone().into_bytes()));
    }
    for h in &r.expect_header {
        checks.push(Check::header(h).map_err(|e| Error::usage(format!("--expect-header: {e}")))?);
    }
    Expect::new(ok, checks).map_err(|e| Error::usage(format!("--expect-*: {e}")))
}
