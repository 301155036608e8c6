//! Targets: `SCHEME://host[:port][/path]` parsed and resolved, for every scenario.

use std::net::ToSocketAddrs;

use super::Target;
use crate::error::{Error, Result};

/// Parses and resolves `http://host[:port][/path]`.
pub fn parse_target(url: &str) -> Result<Target> {
    parse_url(url, "http")
}

/// Parses and resolves `SCHEME://host[:port][/path]` for a plain-text scheme (`http`, `ws`,
/// `tcp`) or its TLS twin (`https`, `wss`, `tls`; default port 443).
pub fn parse_url(url: &str, scheme: &str) -> Result<Target> {
    let secure = match scheme {
        "http" => "https",
        "ws" => "wss",
        _ => "tls",
    };
    let (rest, tls) = if let Some(r) = url.strip_prefix(&format!("{scheme}://")) {
        (r, false)
    } else if let Some(r) = url.strip_prefix(&format!("{secure}://")) {
        (r, true)
    } else if url.contains("://") {
        return Err(Error::usage(format!("'{url}': only {scheme}:// and {secure}:// URLs are supported here")));
    } else {
        return Err(Error::usage(format!(
            "'{url}' is not a URL; write it as {scheme}://HOST[:PORT]/PATH, e.g. {scheme}://127.0.0.1:8080/"
        )));
    };
    // A fragment (`#...`) belongs to the client alone (RFC 3986 §3.5): never sent.
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() {
        return Err(Error::usage(format!("'{url}' has no host")));
    }
    if authority.contains('@') {
        return Err(Error::usage(format!("'{url}': credentials in the URL are not supported; send an Authorization header with -H")));
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) =
        split_host_port(authority, default_port).ok_or_else(|| Error::usage(format!("'{url}': bad host or port '{authority}'")))?;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::usage(format!("cannot resolve '{host}': {e}")))?
        .next()
        .ok_or_else(|| Error::usage(format!("'{host}' resolves to no address")))?;
    if path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(Error::usage(format!("'{url}': the path must not contain spaces or control characters (percent-encode them)")));
    }
    Ok(Target { url: url.to_string(), addr, host_header: authority.to_string(), path, host: host.to_string(), tls })
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, p.parse().ok()?)),
        Some(_) => None,
        None => Some((authority, default_port)),
    }
}
