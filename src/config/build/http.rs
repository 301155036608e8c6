//! `stampede http` flags -> [`HttpConfig`]: the request encoded once, or, with placeholders
//! (`{seq}`, `--data` columns, setup captures), its template.

use std::path::Path;
use std::sync::Arc;

use crate::cli::{HttpArgs, RequestArgs};
use crate::config::{
    template_names, unknown_name, Captures, Check, DataOrder, DataSet, DynamicHttp, Expect, HttpConfig, LoadConfig, OkStatus, Target,
    MAX_NAMES,
};
use crate::error::{Error, Result};
use crate::proto::csv::Csv;
use crate::proto::http::request::{encode_request, RequestSpec};
use crate::proto::http::request_template::RequestTemplate;

use super::load::{attach_tls, load_config, parse_headers};
use crate::config::parse_target;

pub fn http_config(a: &HttpArgs) -> Result<HttpConfig> {
    http_config_captured(a, Arc::default())
}

/// [`http_config`] for a plan whose `[[setup]]` captured values: their names are placeholders.
pub fn http_config_captured(a: &HttpArgs, captures: Arc<Captures>) -> Result<HttpConfig> {
    let target = parse_target(&a.url)?;
    let mut load = load_config(&a.load)?;
    load.captures = captures;
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
    let spec = RequestSpec { method: &method, host: &target.host_header, path: &target.path, headers: &headers, body: &body };
    let dynamic = dynamic_request(&spec, r, &load)?;
    // Encoded once, `{payload:N}` rendered (a templated request keeps it as typed: unused).
    let request = RequestTemplate::encode_fixed(&spec).unwrap_or_else(|_| encode_request(&spec));
    let cap = crate::proto::http::response::MAX_HEADERS_CAP;
    if r.max_headers == 0 || r.max_headers > cap {
        return Err(Error::usage(format!("--max-headers: {} is out of range (1 to {cap})", r.max_headers)));
    }
    if !(256..=16 * 1024 * 1024).contains(&r.max_head) {
        return Err(Error::usage(format!("--max-head: {} bytes is out of range (256 bytes to 16MiB)", r.max_head)));
    }
    let (max_headers, max_head) = (r.max_headers, r.max_head as usize);
    let expect = expect(r)?;
    Ok(HttpConfig { head_request: method == "HEAD", target, method, request, max_headers, max_head, expect, dynamic, load })
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

/// The request's template when something in it varies (`None`: sent as encoded, zero-copy).
fn dynamic_request(spec: &RequestSpec, r: &RequestArgs, load: &LoadConfig) -> Result<Option<Arc<DynamicHttp>>> {
    let data = r.data.as_deref().map(|p| data_set(p, &r.data_order)).transpose()?;
    let names = template_names(data.as_ref(), &load.captures);
    if names.len() > MAX_NAMES {
        return Err(Error::usage(format!("--data: at most {MAX_NAMES} columns and captured values in all ({} given)", names.len())));
    }
    if let Some(dup) = names.iter().enumerate().find_map(|(i, n)| names[..i].contains(n).then_some(n)) {
        return Err(Error::usage(format!("'{dup}' is both a --data column and a captured value: rename one")));
    }
    if !names.is_empty() {
        // With names in play, `{usr}` for `{user}` would otherwise go out as typed.
        let parts = std::iter::once(("the URL".to_string(), spec.path.as_bytes()))
            .chain(spec.headers.iter().map(|(n, v)| (format!("-H '{n}: {v}'"), v.as_bytes())))
            .chain(std::iter::once(("the body".to_string(), spec.body)));
        for (what, text) in parts {
            if let Some(word) = unknown_name(text, &names) {
                let known = if names.is_empty() { "none".to_string() } else { names.join(", ") };
                let src = data.as_ref().map_or(String::new(), |d| format!(" ({} has columns {})", d.path, d.csv.names().join(", ")));
                return Err(Error::usage(format!(
                    "{what}: {{{word}}} is not a placeholder, a --data column or a captured value{src}; names known: {known}; write {{{{{word}}} for a literal brace"
                )));
            }
        }
    }
    let template = RequestTemplate::parse(spec, &names).map_err(|e| Error::usage(format!("{}: {}", e.part, e.error)))?;
    let Some(mut template) = template else {
        return Ok(None);
    };
    let cols = data.as_ref().map_or(0, |d| d.csv.names().len());
    for i in 0..names.len() {
        let (lo, hi) = match &data {
            Some(d) if i < cols => d.csv.width(i),
            Some(_) | None => load.captures.width(i - cols),
        };
        template.bound_name(i, lo, hi);
    }
    Ok(Some(Arc::new(DynamicHttp { template, data })))
}

/// `--data FILE.csv`: read and parsed (errors name the file and the line).
fn data_set(path: &Path, order: &str) -> Result<DataSet> {
    let order = match order {
        "sequential" | "seq" | "in-order" => DataOrder::Sequential,
        "random" => DataOrder::Random,
        other => return Err(Error::usage(format!("--data-order '{other}': choose sequential or random"))),
    };
    let text = std::fs::read(path).map_err(|e| Error::usage(format!("--data {}: {e}", path.display())))?;
    let csv = Csv::parse(&text).map_err(|e| Error::usage(format!("--data {}:{}: {}", path.display(), e.line, e.message)))?;
    if csv.is_empty() {
        return Err(Error::usage(format!("--data {}: no rows after the header", path.display())));
    }
    Ok(DataSet { path: path.display().to_string(), csv: Arc::new(csv), order })
}
