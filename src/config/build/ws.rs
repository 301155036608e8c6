//! `stampede ws` flags -> [`WsConfig`]: the payload, echo, ping or chat.

use std::sync::Arc;

use crate::cli::WsArgs;
use crate::config::{
    parse_url, share, unknown_name, Captures, ChatConfig, Drive, Heartbeat, LoadConfig, WsConfig, WsMode, MAX_NAMES, MAX_WS_BATCH,
    MAX_WS_MESSAGE,
};
use crate::error::{Error, Result};

use super::load::{attach_tls, load_config, parse_headers, parse_part};

pub fn ws_config(a: &WsArgs) -> Result<WsConfig> {
    ws_config_captured(a, Arc::default())
}

/// [`ws_config`] for a plan whose `[[setup]]` captured values: with `--rooms`, their names are
/// placeholders of the URL, `--on-open` and `--message` (a list handed out by room).
pub fn ws_config_captured(a: &WsArgs, captures: Arc<Captures>) -> Result<WsConfig> {
    let target = parse_url(&a.url, "ws")?;
    let mut load = load_config(&a.load)?;
    load.captures = captures;
    attach_tls(&target, &mut load)?;
    let (headers, protocols) = upgrade_headers(&a.headers, &a.subprotocols)?;
    let (payload, looks_text) = match &a.message {
        Some(m) => match m.strip_prefix('@') {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| Error::usage(format!("--message @{path}: {e}")))?;
                let text = std::str::from_utf8(&bytes).is_ok();
                (bytes, text)
            }
            None => (m.clone().into_bytes(), true),
        },
        None => {
            let n = a.size;
            if n > MAX_WS_MESSAGE {
                return Err(Error::usage(format!("--size: at most {MAX_WS_MESSAGE} bytes")));
            }
            ((0..n).map(|i| b'a' + (i % 26) as u8).collect(), false)
        }
    };
    if payload.len() as u64 > MAX_WS_MESSAGE {
        return Err(Error::usage(format!("--message: at most {MAX_WS_MESSAGE} bytes")));
    }
    if a.text && std::str::from_utf8(&payload).is_err() {
        return Err(Error::usage("--text: the message is not valid UTF-8; send it with --binary"));
    }
    let text = a.text || (looks_text && !a.binary);
    // Pipelined batches are written whole before answers are read: past what socket buffers
    // hold, client and server would both block writing.
    if load.pipeline > 1 && payload.len() as u64 * u64::from(load.pipeline) > MAX_WS_BATCH {
        return Err(Error::usage(format!(
            "--pipeline {} × {} B messages is more than {} KiB in flight per connection; lower --pipeline or the message size",
            load.pipeline,
            payload.len(),
            MAX_WS_BATCH / 1024
        )));
    }
    let mode = match a.ping_interval {
        Some(every) => {
            if every.is_zero() {
                return Err(Error::usage("--ping-interval must be greater than 0"));
            }
            // One ping per connection per interval, spread evenly: an open loop at c / interval.
            load.drive = Drive::Open { rate_per_s: load.connections as f64 / every.as_secs_f64() };
            if payload.len() > 125 {
                return Err(Error::usage("--ping-interval: a ping carries at most 125 bytes; lower --size or --message"));
            }
            WsMode::Ping
        }
        None => match a.rooms {
            Some(0) => return Err(Error::usage("--rooms must be at least 1")),
            Some(rooms) => {
                if a.load.duration.is_none() && a.load.requests.is_some() {
                    return Err(Error::usage("--rooms: give the run a -d duration (deliveries keep arriving after the last send)"));
                }
                if matches!(load.drive, Drive::Closed) {
                    load.drive = Drive::Open { rate_per_s: load.connections as f64 };
                }
                WsMode::Chat { rooms, text: false }
            }
            None => WsMode::Echo { text },
        },
    };
    let chat = match mode {
        WsMode::Chat { rooms, .. } => Some(chat_config(a, rooms, &payload, &target.path, &load)?),
        WsMode::Echo { .. } | WsMode::Ping => None,
    };
    let mode = match (mode, &chat) {
        (WsMode::Chat { rooms, .. }, Some(c)) => WsMode::Chat { rooms, text: c.text },
        (m, _) => m,
    };
    let heartbeat = match a.heartbeat {
        Some(every) if every.is_zero() => return Err(Error::usage("--heartbeat must be greater than 0")),
        Some(every) => Some(Heartbeat { every, pong_timeout: every.min(load.timeout) }),
        None => None,
    };
    Ok(WsConfig { target, mode, payload, headers, protocols, load, chat, heartbeat })
}

/// The chat part of `ws --rooms`: templates checked, membership numbered across the run.
fn chat_config(a: &WsArgs, rooms: u64, payload: &[u8], path: &str, load: &LoadConfig) -> Result<ChatConfig> {
    use crate::proto::template::{Kind, Template, MARK_LEN};
    if a.rooms_per_conn == 0 || a.rooms_per_conn > rooms {
        return Err(Error::usage(format!("--rooms-per-conn must be between 1 and --rooms ({rooms})")));
    }
    let caps = &load.captures;
    let names: Vec<&str> = caps.names().iter().map(String::as_str).collect();
    if names.len() > MAX_NAMES {
        return Err(Error::usage(format!("--rooms: at most {MAX_NAMES} captured values ({} given)", names.len())));
    }
    let template = |flag: &str, t: &str| {
        if !names.is_empty() {
            // With captures in play, `{grup_id}` for `{group_id}` would otherwise go out as typed.
            if let Some(word) = unknown_name(t.as_bytes(), &names) {
                return Err(Error::usage(format!(
                    "{flag} '{t}': {{{word}}} is not a placeholder or a captured value; names known: {}; write {{{{{word}}} for a literal brace",
                    names.join(", ")
                )));
            }
        }
        let parsed = Template::parse(t.as_bytes(), &names).map_err(|e| Error::usage(format!("{flag} '{t}': {e}")))?;
        if parsed.uses(Kind::Name) {
            short_lists(flag, t, caps, rooms);
        }
        Ok(parsed)
    };
    let path = template("the URL", path)?;
    let path_template = path.uses(Kind::Conn) || path.uses(Kind::Room) || path.uses(Kind::Name);
    let message = match &a.message {
        Some(_) => {
            let text = std::str::from_utf8(payload)
                .map_err(|_| Error::usage("--rooms --message: the message is a template and must be UTF-8 text"))?;
            template("--message", text)?;
            Some(text.to_string())
        }
        None => {
            if (payload.len()) < MARK_LEN {
                return Err(Error::usage(format!(
                    "--rooms: each message carries a {MARK_LEN}-byte mark (sender, number, send times) where the 16-byte timestamp was; use --size {MARK_LEN} or more"
                )));
            }
            None
        }
    };
    for m in &a.on_open {
        template("--on-open", m)?;
    }
    if a.rooms_per_conn > 1 && a.on_open.is_empty() && !path_template {
        return Err(Error::usage(
            "--rooms-per-conn: a member joins its rooms with --on-open messages using {room} (the ?room= of /ws/chat names one room)",
        ));
    }
    let (first, len) = match (&a.load.out.shard, &a.load.out.process_part) {
        (Some(s), _) => part_of(a.load.connections, parse_part("--shard", s)?),
        (None, Some(p)) => part_of(a.load.connections, parse_part("--process-part", p)?),
        (None, None) => (0, load.connections),
    };
    Ok(ChatConfig {
        rooms,
        rooms_per_conn: a.rooms_per_conn,
        total: a.load.connections,
        first,
        len,
        text: a.message.is_some() && !a.binary,
        message,
        path_template,
        on_open: a.on_open.clone(),
        on_open_expect: a.on_open_expect.as_ref().map(|t| t.as_bytes().to_vec()),
    })
}

/// A warning when a captured list that `t` names has fewer values than there are rooms: room k
/// takes value k mod len, so rooms share a value (a group) the delivery accounting counts apart.
fn short_lists(flag: &str, t: &str, caps: &Captures, rooms: u64) {
    for (i, name) in caps.names().iter().enumerate() {
        let len = caps.values(i).len() as u64;
        if len > 1 && len < rooms && t.contains(&format!("{{{name}}}")) {
            eprintln!(
                "stampede: warning: {flag}: {{{name}}} has {len} captured values for {rooms} rooms: room k takes value k mod {len}, so rooms share \
                 a value and the delivery accounting (per room) does not match the server's; capture as many values as --rooms"
            );
        }
    }
}

/// The first member and the number of members of part `i` of `n` of `total`.
fn part_of(total: u64, (i, n): (u64, u64)) -> (u64, u64) {
    ((0..i).map(|j| share(total, n, j)).sum(), share(total, n, i))
}

/// Extra request headers, `(name, value)`.
type Headers = Vec<(String, String)>;

/// `-H` and `--subprotocol` of a WebSocket command, validated once: headers as `Name: value`
/// without line breaks, subprotocols as tokens (duplicates dropped), and no
/// `Sec-WebSocket-Protocol` through `-H` (the answer could not be checked against it).
pub(super) fn upgrade_headers(headers: &[String], subprotocols: &[String]) -> Result<(Headers, Vec<String>)> {
    let headers = parse_headers(headers)?;
    if headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol")) {
        return Err(Error::usage(
            "-H Sec-WebSocket-Protocol: offer subprotocols with --subprotocol NAME (the answer is checked against them)",
        ));
    }
    let mut protocols: Vec<String> = Vec::with_capacity(subprotocols.len());
    for p in subprotocols.iter().map(|p| p.trim()) {
        if !crate::proto::ws::handshake::is_protocol_token(p) {
            return Err(Error::usage(format!(
                "--subprotocol '{p}': a subprotocol is a token (letters, digits, !#$%&'*+-.^_`|~), e.g. binary"
            )));
        }
        if !protocols.iter().any(|q| q == p) {
            protocols.push(p.to_string());
        }
    }
    Ok((headers, protocols))
}
