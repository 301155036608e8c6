//! Chat messages as templates, and the mark that matches a delivery to its send.
//!
//! A message template is text with placeholders: `{conn}` (the member's connection index in the
//! run), `{room}` (the room the message goes to), `{seq}` (a number unique in the run),
//! `{payload:N}` (N filler bytes) and `{mark}`; any other `{...}` stays as typed (JSON is full
//! of braces) and `{{` writes `{`. The template is parsed once; a message is rendered into the
//! member's own reused buffer.
//!
//! A [`Mark`] is 34 ASCII bytes (`~m` and 32 base64url characters, nothing a JSON string
//! escapes): the sender, its message number, the intended and actual send times (relative to
//! the run's start) and a check word. [`Mark::find`] finds it anywhere in a received frame
//! (text or binary, inside an envelope), so a server may wrap it as it likes; bytes that only
//! look like a mark fail the check and are not deliveries.
//!
//! Pure: no I/O, no clock (times are parameters), no stats.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Bytes of an encoded mark.
pub const MARK_LEN: usize = 34;
const PREFIX: &[u8; 2] = b"~m";
const BODY: usize = 24;

/// What a message tells its receivers about its send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The sender's connection index in the run.
    pub conn: u32,
    /// The sender's message number (per sender, from 0).
    pub n: u32,
    /// Intended send time, ns after the run's start.
    pub intended_ns: u64,
    /// Actual send time − intended, ns (saturating at about 4.3 s).
    pub late_ns: u32,
}

fn check(b: &[u8; 20]) -> u32 {
    // FNV-1a, then a final mix: random bytes pass with odds of 1 in 2^32.
    let mut h: u32 = 0x811c_9dc5;
    for x in b {
        h = (h ^ u32::from(*x)).wrapping_mul(0x0100_0193);
    }
    h ^ (h >> 15) ^ 0x5bd1_e995
}

impl Mark {
    /// The message's identity for duplicate detection.
    pub fn id(&self) -> u64 {
        (u64::from(self.conn) << 32) | u64::from(self.n)
    }

    /// Actual send time, ns after the run's start.
    pub fn sent_ns(&self) -> u64 {
        self.intended_ns.saturating_add(u64::from(self.late_ns))
    }

    /// Appends the 34 mark bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut b = [0u8; BODY];
        b[..4].copy_from_slice(&self.conn.to_le_bytes());
        b[4..8].copy_from_slice(&self.n.to_le_bytes());
        b[8..16].copy_from_slice(&self.intended_ns.to_le_bytes());
        b[16..20].copy_from_slice(&self.late_ns.to_le_bytes());
        let head: [u8; 20] = b[..20].try_into().unwrap_or([0; 20]);
        b[20..].copy_from_slice(&check(&head).to_le_bytes());
        out.extend_from_slice(PREFIX);
        let at = out.len();
        out.resize(at + 32, 0);
        let _ = URL_SAFE_NO_PAD.encode_slice(b, &mut out[at..]);
    }

    /// Reads a mark from exactly [`MARK_LEN`] bytes.
    pub fn decode(bytes: &[u8]) -> Option<Mark> {
        let body = bytes.strip_prefix(PREFIX.as_slice())?;
        if body.len() != 32 {
            return None;
        }
        let mut b = [0u8; BODY];
        match URL_SAFE_NO_PAD.decode_slice(body, &mut b) {
            Ok(BODY) => {}
            Ok(_) | Err(_) => return None,
        }
        let head: [u8; 20] = b[..20].try_into().ok()?;
        if b[20..] != check(&head).to_le_bytes() {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[8..16]);
        Some(Mark { conn: u32_at(0), n: u32_at(4), intended_ns: u64::from_le_bytes(t), late_ns: u32_at(16) })
    }

    /// The first valid mark anywhere in `frame`.
    pub fn find(frame: &[u8]) -> Option<Mark> {
        let mut from = 0;
        while from + MARK_LEN <= frame.len() {
            let at = from + frame[from..].windows(2).position(|w| w == PREFIX)?;
            if let Some(m) = frame.get(at..at + MARK_LEN).and_then(Mark::decode) {
                return Some(m);
            }
            from = at + 1;
        }
        None
    }
}

/// One piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(Vec<u8>),
    Conn,
    Room,
    Seq,
    Mark,
    Payload(usize),
}

/// What a rendered message needs besides its template.
#[derive(Clone, Copy, Debug)]
pub struct Fill {
    pub conn: u64,
    pub room: u64,
    pub seq: u64,
    pub mark: Option<Mark>,
}

/// A parsed message template (or a URL path, an on-open message).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Largest `{payload:N}`.
pub const MAX_PAYLOAD: usize = 16 << 20;

impl Template {
    /// Parses `text`; an unknown `{...}` stays as typed, `{{` writes `{`.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find('{') {
            lit.extend_from_slice(&rest.as_bytes()[..i]);
            rest = &rest[i..];
            if let Some(after) = rest.strip_prefix("{{") {
                lit.push(b'{');
                rest = after;
                continue;
            }
            let Some(end) = rest.find('}') else { break };
            let name = &rest[1..end];
            let part = match name {
                "conn" => Some(Part::Conn),
                "room" => Some(Part::Room),
                "seq" => Some(Part::Seq),
                "mark" => Some(Part::Mark),
                n => match n.strip_prefix("payload:") {
                    Some(size) => {
                        let size = crate::units::parse_size(size).map_err(|e| format!("{{{name}}}: {e}"))? as usize;
                        if size > MAX_PAYLOAD {
                            return Err(format!("{{{name}}}: at most {MAX_PAYLOAD} bytes"));
                        }
                        Some(Part::Payload(size))
                    }
                    None => None,
                },
            };
            match part {
                Some(p) => {
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    parts.push(p);
                    rest = &rest[end + 1..];
                }
                // Not a placeholder: the brace is text, and what follows may hold one.
                None => {
                    lit.push(b'{');
                    rest = &rest[1..];
                }
            }
        }
        lit.extend_from_slice(rest.as_bytes());
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Template { parts })
    }

    /// True when the template writes a mark.
    pub fn has_mark(&self) -> bool {
        self.parts.contains(&Part::Mark)
    }

    /// True when the template uses `{room}`.
    pub fn has_room(&self) -> bool {
        self.parts.contains(&Part::Room)
    }

    /// True when the template uses `{conn}` or `{room}` (a URL path that names its member).
    pub fn is_per_member(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Conn | Part::Room))
    }

    /// The longest rendering (numbers at 20 digits): the size to reserve once.
    pub fn max_len(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.len(),
                Part::Conn | Part::Room | Part::Seq => 20,
                Part::Mark => MARK_LEN,
                Part::Payload(n) => *n,
            })
            .sum()
    }

    /// Appends the rendering to `out` (a mark is written only when `fill` has one).
    pub fn render(&self, out: &mut Vec<u8>, fill: &Fill) {
        use std::io::Write;
        for p in &self.parts {
            match p {
                Part::Text(t) => out.extend_from_slice(t),
                Part::Conn => {
                    let _ = write!(out, "{}", fill.conn);
                }
                Part::Room => {
                    let _ = write!(out, "{}", fill.room);
                }
                Part::Seq => {
                    let _ = write!(out, "{}", fill.seq);
                }
                Part::Mark => {
                    if let Some(m) = fill.mark {
                        m.encode(out);
                    }
                }
                Part::Payload(n) => out.extend((0..*n).map(|i| b'a' + (i % 26) as u8)),
            }
        }
    }

    /// The rendering as a string (URL paths, on-open messages: cold path).
    pub fn render_string(&self, fill: &Fill) -> String {
        let mut out = Vec::with_capacity(self.max_len());
        self.render(&mut out, fill);
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(mark: Option<Mark>) -> Fill {
        Fill { conn: 7, room: 3, seq: 42, mark }
    }

    #[test]
    fn a_mark_round_trips_and_is_found_anywhere() {
        let m = Mark { conn: 123_456, n: 9, intended_ns: 5_000_000_123, late_ns: 77 };
        let mut b = Vec::new();
        m.encode(&mut b);
        assert_eq!(b.len(), MARK_LEN);
        assert!(b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'~' | b'-' | b'_')), "{b:?}");
        assert_eq!(Mark::decode(&b), Some(m));
        assert_eq!(m.sent_ns(), 5_000_000_200);
        // inside a JSON envelope, after a lookalike, in binary noise
        let text = String::from_utf8(b.clone()).unwrap();
        let env = format!(r#"{{"type":"message","from":"u3","content":"~m~mxx{text}aaaa","ts":1}}"#);
        assert_eq!(Mark::find(env.as_bytes()), Some(m));
        let mut bin = vec![0u8, 255, b'~', b'm', 1];
        bin.extend_from_slice(&b);
        assert_eq!(Mark::find(&bin), Some(m));
        // at the very end, and cut short
        assert_eq!(Mark::find(&b), Some(m));
        assert_eq!(Mark::find(&b[..MARK_LEN - 1]), None);
        // one character changed: the check fails
        for i in 2..MARK_LEN {
            let mut bad = b.clone();
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            assert_eq!(Mark::decode(&bad), None, "changed at {i}");
        }
        assert_eq!(Mark::find(br#"{"type":"error","detail":"bad json"}"#), None);
    }

    #[test]
    fn templates_fill_their_placeholders_and_keep_the_rest() {
        let t = Template::parse(
            r#"{"type":"message","group_id":"g{room}","content":"{mark}{payload:5}","x":{seq},"y":"{{conn}}","z":"{nope}"}"#,
        )
        .unwrap();
        assert!(t.has_mark() && t.has_room());
        let m = Mark { conn: 7, n: 1, intended_ns: 10, late_ns: 0 };
        let mut out = Vec::new();
        t.render(&mut out, &fill(Some(m)));
        let s = String::from_utf8(out.clone()).unwrap();
        assert!(s.starts_with(r#"{"type":"message","group_id":"g3","content":"~m"#), "{s}");
        assert!(s.ends_with(r#"abcde","x":42,"y":"{conn}}","z":"{nope}"}"#), "{s}");
        assert_eq!(Mark::find(&out), Some(m));
        assert!(out.len() <= t.max_len());
        let path = Template::parse("/ws/u{conn}").unwrap();
        assert!(path.is_per_member() && !path.has_mark());
        assert_eq!(path.render_string(&fill(None)), "/ws/u7");
        assert_eq!(Template::parse("a{b").unwrap().render_string(&fill(None)), "a{b");
        assert!(Template::parse("{payload:huge}").is_err());
    }
}
