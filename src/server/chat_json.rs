//! The embedded server's JSON group chat (issue 15 point 7), the protocol of the Python and Node
//! chat peers in tests/peers/ (chat_server.py, ws_relay.js --json):
//!
//! - connect `/ws/u{N}` (the user is `u{N}`) or `/ws/chat/json?user=NAME` (`anon` without one);
//! - `{"type":"join","group_id":"g7"}` -> `{"type":"joined","group_id":"g7","members":K}`;
//! - `{"type":"leave","group_id":"g7"}` -> `{"type":"left","group_id":"g7","members":K}`;
//! - `{"type":"message","group_id":"g7","content":C}` -> every member of g7, the sender included,
//!   gets `{"type":"message","group_id":"g7","from":"u3","content":C,"ts":<server ms>}`;
//!   from a non-member: `{"type":"error","detail":"not a member of g7"}`;
//! - anything else (binary, not JSON, unknown type) -> `{"type":"error","detail":...}`.
//!
//! Groups live per worker thread like the raw rooms (`serve -t 1` for groups across every
//! connection). This file is the protocol's text; chat.rs runs the members.

use serde::Deserialize;
use serde_json::Value;

/// What a member's frame asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Ask {
    Join(String),
    Leave(String),
    Message {
        group: String,
        content: Value,
    },
    /// Not a frame of the protocol: the error answer's detail.
    Bad(String),
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    group_id: Option<Value>,
    #[serde(default)]
    content: Value,
}

/// Reads one client message (`text`: a text frame).
pub(crate) fn parse(text: bool, payload: &[u8]) -> Ask {
    if !text {
        return Ask::Bad("binary frames are not JSON".into());
    }
    let Ok(m) = serde_json::from_slice::<Incoming>(payload) else {
        return Ask::Bad("not a JSON chat frame".into());
    };
    let group = match m.group_id {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        Some(_) | None => return Ask::Bad(format!("{}: group_id missing", m.kind)),
    };
    match m.kind.as_str() {
        "join" => Ask::Join(group),
        "leave" => Ask::Leave(group),
        "message" => Ask::Message { group, content: m.content },
        other => Ask::Bad(format!("unknown type {other:?}")),
    }
}

/// The user of a JSON chat path (`/ws/u7` -> `u7`, `/ws/chat/json?user=ann` -> `ann`), or
/// `None` when the path is not one.
pub(crate) fn user_of(path: &str, raw: &str) -> Option<String> {
    if path == "/ws/chat/json" {
        let user = raw.split_once('?').and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("user="))).filter(|u| !u.is_empty());
        return Some(user.unwrap_or("anon").to_string());
    }
    let name = path.strip_prefix("/ws/")?;
    (name.len() > 1 && name.starts_with('u') && !name.contains('/')).then(|| name.to_string())
}

pub(crate) fn joined(group: &str, members: usize) -> String {
    serde_json::json!({"type": "joined", "group_id": group, "members": members}).to_string()
}

pub(crate) fn left(group: &str, members: usize) -> String {
    serde_json::json!({"type": "left", "group_id": group, "members": members}).to_string()
}

pub(crate) fn envelope(group: &str, from: &str, content: &Value, ts_ms: u64) -> String {
    serde_json::json!({"type": "message", "group_id": group, "from": from, "content": content, "ts": ts_ms}).to_string()
}

pub(crate) fn error(detail: &str) -> String {
    serde_json::json!({"type": "error", "detail": detail}).to_string()
}

/// Wall-clock milliseconds since the Unix epoch (the envelope's `ts`).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read() {
        assert_eq!(parse(true, br#"{"type":"join","group_id":"g7"}"#), Ask::Join("g7".into()));
        assert_eq!(parse(true, br#"{"type":"leave","group_id":7}"#), Ask::Leave("7".into()));
        assert_eq!(
            parse(true, br#"{"type":"message","group_id":"g1","content":"hi {x}"}"#),
            Ask::Message { group: "g1".into(), content: "hi {x}".into() }
        );
        assert!(matches!(parse(true, b"hello"), Ask::Bad(_)));
        assert!(matches!(parse(false, br#"{"type":"join","group_id":"g7"}"#), Ask::Bad(_)));
        assert!(matches!(parse(true, br#"{"type":"dance","group_id":"g7"}"#), Ask::Bad(_)));
        assert!(matches!(parse(true, br#"{"type":"join"}"#), Ask::Bad(_)));
    }

    #[test]
    fn users_come_from_the_path() {
        assert_eq!(user_of("/ws/u7", "/ws/u7?token=x").as_deref(), Some("u7"));
        assert_eq!(user_of("/ws/chat/json", "/ws/chat/json?user=ann").as_deref(), Some("ann"));
        assert_eq!(user_of("/ws/chat/json", "/ws/chat/json").as_deref(), Some("anon"));
        assert_eq!(user_of("/ws/echo", "/ws/echo"), None);
        assert_eq!(user_of("/ws/chat", "/ws/chat?room=1"), None);
        assert_eq!(user_of("/ws/u", "/ws/u"), None);
    }

    #[test]
    fn answers_are_json() {
        let e: Value = serde_json::from_str(&envelope("g1", "u3", &"x\"y".into(), 5)).unwrap();
        assert_eq!(e, serde_json::json!({"type":"message","group_id":"g1","from":"u3","content":"x\"y","ts":5}));
        let j: Value = serde_json::from_str(&joined("g1", 2)).unwrap();
        assert_eq!(j, serde_json::json!({"type":"joined","group_id":"g1","members":2}));
        let e: Value = serde_json::from_str(&error("not a member of g9")).unwrap();
        assert_eq!(e, serde_json::json!({"type":"error","detail":"not a member of g9"}));
    }
}
