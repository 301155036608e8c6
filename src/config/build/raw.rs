//! `stampede raw` flags -> [`RawConfig`]: the target (tcp, tls, unix), the framing, `--seq`.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::cli::RawArgs;
use crate::config::{parse_url, LoadConfig, RawConfig, SeqConfig, Target};
use crate::error::{Error, Result};
use crate::proto::raw::{parse_delimiter, Framing, Prefix, RawTemplate};
use crate::proto::template::{Kind, Template};

use super::load::{attach_tls, load_config, parse_part};

/// A validated `stampede raw` run.
pub fn raw_config(a: &RawArgs) -> Result<RawConfig> {
    let mut load = load_config(&a.load)?;
    let target = raw_target(a, &mut load)?;
    attach_tls(&target, &mut load)?;
    let mut message = match (&a.message, &a.message_file) {
        (Some(m), None) => m.as_bytes().to_vec(),
        (None, Some(f)) => std::fs::read(f).map_err(|e| Error::usage(format!("--message-file {}: {e}", f.display())))?,
        _ => return Err(Error::usage("give the request with --message TEXT or --message-file FILE")),
    };
    let framing = framing(a)?;
    // `--seq` frames each request anew; the template is the message as given.
    let unframed = a.seq.then(|| message.clone());
    // The request is framed like the answers: the delimiter appended, the length prefixed.
    match &framing {
        Framing::Delimiter(d) => {
            if !message.ends_with(d) {
                message.extend_from_slice(d);
            }
        }
        Framing::LengthPrefix(p) => {
            let prefix = p.encode(message.len()).ok_or_else(|| Error::usage("--message is too long for its --length-prefix"))?;
            message.splice(0..0, prefix);
        }
        Framing::Fixed(_) => {}
    }
    if message.is_empty() {
        return Err(Error::usage("--message is empty"));
    }
    let max_response = a.max_response as usize;
    if max_response == 0 || max_response > 64 << 20 {
        return Err(Error::usage("--max-response must be between 1 B and 64 MiB"));
    }
    let expect = a.expect.as_ref().map(|e| e.as_bytes().to_vec());
    let throttled = match a.throttled_match.as_deref() {
        Some("") => return Err(Error::usage("--throttled-match is empty: give the text a throttled answer carries")),
        m => m.map(|m| m.as_bytes().to_vec()),
    };
    let seq = if let Some(unframed) = unframed {
        let template = RawTemplate::new(&unframed, &framing).map_err(|e| Error::usage(format!("--seq: {e}")))?;
        if !template.template().uses(Kind::Seq) {
            return Err(Error::usage("--seq: the message has no {seq} to replace (e.g. --message '{\"id\":{seq}}')"));
        }
        for (kind, name) in [(Kind::Room, "{room}"), (Kind::Mark, "{mark}")] {
            if template.template().uses(kind) {
                return Err(Error::usage(format!("--seq: {name} is not available in raw messages")));
            }
        }
        let expect = match expect.as_deref().map(|e| Template::parse(e, &[])).transpose() {
            // Without placeholders the text is matched as typed (`expect` below).
            Ok(Some(t)) if t.is_literal() => None,
            Ok(Some(t)) if t.uses_only(&[Kind::Seq, Kind::Conn]) => Some(t),
            Ok(Some(_)) => return Err(Error::usage("--expect: only {seq} and {conn} can vary in the expected text")),
            Ok(None) => None,
            Err(e) => return Err(Error::usage(format!("--expect: {e}"))),
        };
        let part = match (&a.load.out.shard, &a.load.out.process_part) {
            (Some(s), _) => parse_part("--shard", s)?,
            (None, Some(p)) => parse_part("--process-part", p)?,
            (None, None) => (0, 1),
        };
        Some(SeqConfig { message: template, expect, part: part.0, parts: part.1 })
    } else {
        None
    };
    Ok(RawConfig { target, message, framing, max_response, expect, throttled, seq, load })
}

/// `tcp://HOST:PORT`, `tls://HOST:PORT` or `unix:///PATH` (which sets `load.unix`).
fn raw_target(a: &RawArgs, load: &mut LoadConfig) -> Result<Target> {
    if let Some(path) = a.url.strip_prefix("unix://") {
        // unix:///run/daemon.sock: the path is the target; the address is never used.
        if !path.starts_with('/') {
            return Err(Error::usage(format!("'{}': write a Unix socket as unix:///ABSOLUTE/PATH", a.url)));
        }
        if load.unix.is_some() {
            return Err(Error::usage("give the Unix socket once: unix:///PATH or --unix-socket"));
        }
        load.unix = Some(PathBuf::from(path));
        Ok(Target {
            url: a.url.clone(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            host_header: "localhost".into(),
            path: "/".into(),
            host: "localhost".into(),
            tls: false,
        })
    } else {
        let Some(rest) = a.url.strip_prefix("tcp://").or_else(|| a.url.strip_prefix("tls://")) else {
            return Err(Error::usage(format!(
                "'{}': write the target as tcp://HOST:PORT (e.g. tcp://127.0.0.1:9000), tls://HOST:PORT or unix:///PATH",
                a.url
            )));
        };
        let authority = rest.split('/').next().unwrap_or("");
        if !authority.contains(':') || authority.ends_with(':') {
            return Err(Error::usage(format!("'{}': give the port, e.g. tcp://127.0.0.1:9000", a.url)));
        }
        parse_url(&a.url, "tcp")
    }
}

/// How answers (and so the request) are framed.
fn framing(a: &RawArgs) -> Result<Framing> {
    let framing = match (&a.delimiter, &a.length_prefix, &a.fixed_size) {
        (_, Some(p), None) => Framing::LengthPrefix(match p.as_str() {
            "u16be" => Prefix::U16Be,
            "u32be" => Prefix::U32Be,
            "u32le" => Prefix::U32Le,
            other => return Err(Error::usage(format!("--length-prefix '{other}': choose u16be, u32be or u32le"))),
        }),
        (_, None, Some(n)) => {
            let n = *n;
            if n == 0 {
                return Err(Error::usage("--fixed-size must be at least 1"));
            }
            Framing::Fixed(n as usize)
        }
        (d, None, None) => {
            Framing::Delimiter(parse_delimiter(d.as_deref().unwrap_or("\\n")).map_err(|e| Error::usage(format!("--delimiter {e}")))?)
        }
        (_, Some(_), Some(_)) => return Err(Error::usage("give one of --delimiter, --length-prefix or --fixed-size")),
    };
    Ok(framing)
}
