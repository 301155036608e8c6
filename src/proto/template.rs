//! The one template engine: a message with placeholders, parsed once, rendered per message.
//! Pure: the caller passes every varying value (numbers, a seeded [`Rng`], a [`Mark`], the
//! named values) and owns the output buffers.
//!
//! Placeholders: `{conn}` `{room}` `{seq}` (decimal `u64`s the caller chooses), `{rand:A:B}`
//! (a decimal integer in `A..=B`), `{uuid}` (a v4 UUID, 36 chars), `{payload:N}` (N filler bytes;
//! `5000`, `1k`/`1KiB` = 1024, `1KB` = 1000, `1M`/`1MiB`, `1MB`), `{mark}` (a [`Mark`], [`MARK_LEN`] alphanumerics), and
//! `{NAME}` for each name given to [`Template::parse`] (CSV columns, captured values).
//! Anything else in braces stays exactly as typed (`{"a":{"b":1}}` is literal). `{{` is a literal
//! `{`; `}}` is kept as two `}` (a lone `}` is never special). A known placeholder with bad
//! arguments (`{rand:5:1}`, `{payload:x}`, `{seq:3}`) is a parse error.
//!
//! Rendering writes only the varying parts into the caller's [`Rendered`] and describes the
//! message as [`Seg`]ments: ranges of its own bytes and ranges of the template's one shared
//! buffer (long literals and the `{payload}` filler), so a payload goes out by vectored write and
//! is never copied per message. Short literals (under [`SHARE_MIN`] bytes) are copied into the own
//! bytes: one more iovec costs more than copying them.

use std::ops::Range;
use std::sync::Arc;

pub use super::template_mark::{find_marks, Mark, MarkIter, MARK_LEN, MARK_PREFIX};

/// Literals at least this long are referenced in the shared buffer instead of copied.
pub const SHARE_MIN: usize = 64;
/// The largest `{payload:N}`.
pub const MAX_PAYLOAD: usize = 64 << 20;
/// Most bytes of a decimal `u64`.
const U64_DIGITS: usize = 20;
const BUILTINS: [&str; 7] = ["conn", "room", "seq", "rand", "uuid", "payload", "mark"];

/// What a placeholder is (for callers that allow only some, e.g. `raw --seq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Conn,
    Room,
    Seq,
    Rand,
    Uuid,
    Payload,
    Mark,
    Name,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    /// Literal bytes: a range of the shared buffer.
    Lit(Range<usize>),
    Conn,
    Room,
    Seq,
    Rand {
        lo: i64,
        hi: i64,
    },
    Uuid,
    /// `n` filler bytes (the first `n` of the shared filler).
    Payload(usize),
    Mark,
    /// The `i`-th given name.
    Name(usize),
}

impl Part {
    fn kind(&self) -> Option<Kind> {
        match self {
            Part::Lit(_) => None,
            Part::Conn => Some(Kind::Conn),
            Part::Room => Some(Kind::Room),
            Part::Seq => Some(Kind::Seq),
            Part::Rand { .. } => Some(Kind::Rand),
            Part::Uuid => Some(Kind::Uuid),
            Part::Payload(_) => Some(Kind::Payload),
            Part::Mark => Some(Kind::Mark),
            Part::Name(_) => Some(Kind::Name),
        }
    }
}

/// A parse error: what is wrong, and the placeholder as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

/// A parsed template: the parts, and one shared buffer holding the literals, then the filler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    shared: Arc<[u8]>,
    /// Where the filler starts in `shared` (it runs to the end).
    filler_at: usize,
    names: Vec<String>,
    /// Per name: the shortest and longest value the caller promises (default `0..=usize::MAX`).
    name_len: Vec<(usize, usize)>,
}

/// One piece of a rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A range of [`Rendered::bytes`].
    Own(Range<usize>),
    /// A range of [`Template::shared`].
    Shared(Range<usize>),
}

/// A rendered message, owned by the caller and reused: after the first renders its buffers
/// have their capacity and rendering allocates nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub segs: Vec<Seg>,
    /// Total length of the message (all segments).
    pub len: usize,
}

impl Rendered {
    /// The whole message as one contiguous copy appended to `out` (tests, `--expect`, framing).
    pub fn write_to(&self, shared: &[u8], out: &mut Vec<u8>) {
        for s in &self.segs {
            match s {
                Seg::Own(r) => out.extend_from_slice(&self.bytes[r.clone()]),
                Seg::Shared(r) => out.extend_from_slice(&shared[r.clone()]),
            }
        }
    }

    fn own(&mut self, from: usize) {
        let to = self.bytes.len();
        if to == from {
            return;
        }
        self.len += to - from;
        match self.segs.last_mut() {
            Some(Seg::Own(r)) if r.end == from => r.end = to,
            Some(Seg::Own(_) | Seg::Shared(_)) | None => self.segs.push(Seg::Own(from..to)),
        }
    }
}

/// The values of one render.
#[derive(Clone, Copy, Debug, Default)]
pub struct Values<'a> {
    pub conn: u64,
    pub room: u64,
    pub seq: u64,
    pub mark: Mark,
    /// One value per name given to [`Template::parse`], in that order (missing ones render empty).
    pub names: &'a [&'a [u8]],
}

/// A small fast RNG (xorshift64*), owned by the caller: seedable, deterministic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // SplitMix64 of the seed: nearby seeds give unrelated streams, and never the zero state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi` (`lo <= hi`).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.wrapping_sub(lo) as u64;
        if span == u64::MAX {
            return self.next_u64() as i64;
        }
        // Multiply-shift: bias below 2^-64 × span, irrelevant for load.
        let v = ((self.next_u64() as u128 * (span as u128 + 1)) >> 64) as u64;
        lo.wrapping_add(v as i64)
    }
}

impl Template {
    /// Parses `text`; `names` are the extra names the run knows (CSV columns, captures), in the
    /// order their values will be given to [`Template::render`]. A name may not be a builtin; a
    /// name with bytes outside `[A-Za-z0-9_.:-]` can never be referenced (its `{...}` is
    /// literal).
    pub fn parse(text: &[u8], names: &[&str]) -> Result<Template, TemplateError> {
        if let Some(n) = names.iter().find(|n| BUILTINS.contains(n)) {
            return Err(TemplateError(format!("the name '{n}' is a builtin placeholder: rename it")));
        }
        let mut lits = Vec::new();
        let mut parts = Vec::new();
        let mut filler = 0usize;
        let mut i = 0;
        let lit = |parts: &mut Vec<Part>, lits: &mut Vec<u8>, b: &[u8]| {
            if b.is_empty() {
                return;
            }
            if let Some(Part::Lit(r)) = parts.last_mut().filter(|p| matches!(p, Part::Lit(r) if r.end == lits.len())) {
                r.end += b.len();
            } else {
                parts.push(Part::Lit(lits.len()..lits.len() + b.len()));
            }
            lits.extend_from_slice(b);
        };
        while i < text.len() {
            let Some(at) = text[i..].iter().position(|&b| b == b'{') else {
                lit(&mut parts, &mut lits, &text[i..]);
                break;
            };
            lit(&mut parts, &mut lits, &text[i..i + at]);
            i += at;
            if text.get(i + 1) == Some(&b'{') {
                lit(&mut parts, &mut lits, b"{");
                i += 2;
                continue;
            }
            // A candidate runs to the next `}` with no `{` or byte outside the name set before it.
            let inner = text[i + 1..].iter().position(|&b| !is_name_byte(b));
            let part = match inner {
                Some(n) if text[i + 1 + n] == b'}' => placeholder(&text[i + 1..i + 1 + n], names)?.map(|p| (p, n + 2)),
                _ => None,
            };
            match part {
                Some((p, len)) => {
                    if let Part::Payload(n) = p {
                        filler = filler.max(n);
                    }
                    parts.push(p);
                    i += len;
                }
                None => {
                    lit(&mut parts, &mut lits, b"{");
                    i += 1;
                }
            }
        }
        let filler_at = lits.len();
        lits.extend(filler_bytes(filler));
        let name_len = vec![(0, usize::MAX); names.len()];
        Ok(Template { parts, shared: lits.into(), filler_at, names: names.iter().map(|s| s.to_string()).collect(), name_len })
    }

    /// Declares the shortest and longest value of name `i` (e.g. a CSV column's widths), so
    /// [`Template::min_len`]/[`Template::max_len`] are exact bounds. Values outside are a bug of
    /// the caller (they render as given, outside the bounds).
    pub fn bound_name(&mut self, i: usize, min: usize, max: usize) {
        if let Some(b) = self.name_len.get_mut(i) {
            *b = (min, max.max(min));
        }
    }

    /// The names given to [`Template::parse`].
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The shared buffer [`Seg::Shared`] ranges point into: long literals, then the filler
    /// (only `[a-z0-9]`, safe in JSON strings and URLs, never containing [`MARK_PREFIX`]).
    pub fn shared(&self) -> &Arc<[u8]> {
        &self.shared
    }

    /// Nothing varies per message (only literals and payloads): render once at set-up.
    pub fn is_fixed(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_) | Part::Payload(_)))
    }

    /// Whether some placeholder of this kind appears.
    pub fn uses(&self, kind: Kind) -> bool {
        self.parts.iter().any(|p| p.kind() == Some(kind))
    }

    /// Whether every placeholder is of one of these kinds (true for a literal template).
    pub fn uses_only(&self, allowed: &[Kind]) -> bool {
        self.parts.iter().all(|p| p.kind().is_none_or(|k| allowed.contains(&k)))
    }

    /// No placeholder at all: the text as parsed (with `{{` already made `{`).
    pub fn is_literal(&self) -> bool {
        self.uses_only(&[])
    }

    /// The shortest rendered message.
    pub fn min_len(&self) -> usize {
        self.parts.iter().fold(0usize, |a, p| a.saturating_add(self.bounds(p).0))
    }

    /// The longest rendered message (`usize::MAX` when a name without [`Template::bound_name`]
    /// appears).
    pub fn max_len(&self) -> usize {
        self.parts.iter().fold(0usize, |a, p| a.saturating_add(self.bounds(p).1))
    }

    fn bounds(&self, p: &Part) -> (usize, usize) {
        match p {
            Part::Lit(r) => (r.len(), r.len()),
            Part::Conn | Part::Room | Part::Seq => (1, U64_DIGITS),
            Part::Rand { lo, hi } => {
                let (a, b) = (int_len(*lo), int_len(*hi));
                let min = if *lo <= 0 && *hi >= 0 { 1 } else { a.min(b) };
                (min, a.max(b))
            }
            Part::Uuid => (36, 36),
            Part::Payload(n) => (*n, *n),
            Part::Mark => (MARK_LEN, MARK_LEN),
            Part::Name(i) => self.name_len.get(*i).copied().unwrap_or((0, usize::MAX)),
        }
    }

    /// Renders one message into `out` (cleared first). `out.len` is the total length, known
    /// before any byte is written to the wire.
    pub fn render(&self, v: &Values<'_>, rng: &mut Rng, out: &mut Rendered) {
        out.bytes.clear();
        out.segs.clear();
        out.len = 0;
        for p in &self.parts {
            let from = out.bytes.len();
            match p {
                Part::Lit(r) if r.len() >= SHARE_MIN => {
                    out.len += r.len();
                    out.segs.push(Seg::Shared(r.clone()));
                }
                Part::Lit(r) => out.bytes.extend_from_slice(&self.shared[r.clone()]),
                Part::Conn => push_u64(&mut out.bytes, v.conn),
                Part::Room => push_u64(&mut out.bytes, v.room),
                Part::Seq => push_u64(&mut out.bytes, v.seq),
                Part::Rand { lo, hi } => push_i64(&mut out.bytes, rng.range(*lo, *hi)),
                Part::Uuid => push_uuid(&mut out.bytes, rng),
                Part::Payload(n) => {
                    out.len += n;
                    out.segs.push(Seg::Shared(self.filler_at..self.filler_at + n));
                }
                Part::Mark => v.mark.encode(&mut out.bytes),
                Part::Name(i) => out.bytes.extend_from_slice(v.names.get(*i).copied().unwrap_or_default()),
            }
            out.own(from);
        }
    }

    /// Renders one message and appends it, contiguous, to `out` (for callers that need the
    /// bytes in one piece: framing with a length prefix, `--expect`). `scratch` is reused.
    pub fn render_to(&self, v: &Values<'_>, rng: &mut Rng, scratch: &mut Rendered, out: &mut Vec<u8>) {
        self.render(v, rng, scratch);
        scratch.write_to(&self.shared, out);
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')
}

/// The part `{inner}` stands for: `None` when it is no placeholder (kept literal).
fn placeholder(inner: &[u8], names: &[&str]) -> Result<Option<Part>, TemplateError> {
    let Ok(inner) = std::str::from_utf8(inner) else { return Ok(None) };
    if let Some(i) = names.iter().position(|n| *n == inner) {
        return Ok(Some(Part::Name(i)));
    }
    let (head, args) = match inner.split_once(':') {
        Some((h, a)) => (h, Some(a)),
        None => (inner, None),
    };
    let bad = |why: &str| Err(TemplateError(format!("{{{inner}}}: {why}")));
    let part = match (head, args) {
        ("conn", None) => Part::Conn,
        ("room", None) => Part::Room,
        ("seq", None) => Part::Seq,
        ("uuid", None) => Part::Uuid,
        ("mark", None) => Part::Mark,
        ("conn" | "room" | "seq" | "uuid" | "mark", Some(_)) => return bad("takes no argument"),
        ("rand", Some(a)) => {
            let Some((lo, hi)) = a.split_once(':') else { return bad("write {rand:MIN:MAX}, e.g. {rand:1:100}") };
            let (Ok(lo), Ok(hi)) = (lo.parse::<i64>(), hi.parse::<i64>()) else {
                return bad("MIN and MAX must be integers, e.g. {rand:1:100}");
            };
            if lo > hi {
                return bad("MIN is above MAX");
            }
            Part::Rand { lo, hi }
        }
        ("rand", None) => return bad("write {rand:MIN:MAX}, e.g. {rand:1:100}"),
        ("payload", Some(a)) => match parse_size(a) {
            Some(n) if n <= MAX_PAYLOAD => Part::Payload(n),
            Some(_) => return bad("at most 64 MiB"),
            None => return bad("write a size: 5000, 1k, 1KiB, 1KB, 2M, 2MiB, 1MB"),
        },
        ("payload", None) => return bad("write {payload:SIZE}, e.g. {payload:1k}"),
        _ => return Ok(None),
    };
    Ok(Some(part))
}

/// `5000`, `1k`/`1K`/`1KiB` (1024), `1KB` (1000), `1M`/`1MiB` (1024²), `1MB` (1000²): the
/// command line's sizes (`crate::units::parse_size`) up to mega, in whole numbers.
fn parse_size(s: &str) -> Option<usize> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: usize = s[..digits].parse().ok()?;
    let unit = match &s[digits..] {
        "" | "B" => 1,
        "k" | "K" | "KiB" => 1 << 10,
        "KB" => 1000,
        "m" | "M" | "MiB" => 1 << 20,
        "MB" => 1_000_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// `n` filler bytes: `[a-z0-9]` repeating (no quotes, braces, backslashes, no mark prefix).
fn filler_bytes(n: usize) -> impl Iterator<Item = u8> {
    b"abcdefghijklmnopqrstuvwxyz0123456789".iter().copied().cycle().take(n)
}

fn int_len(v: i64) -> usize {
    let digits = v.unsigned_abs().checked_ilog10().map_or(1, |d| d as usize + 1);
    digits + usize::from(v < 0)
}

/// `n` in decimal, without allocating.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; U64_DIGITS];
    let mut at = U64_DIGITS;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// A random (v4, RFC 9562) UUID as 36 lowercase chars.
fn push_uuid(out: &mut Vec<u8>, rng: &mut Rng) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    b[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[(x >> 4) as usize]);
        out.push(HEX[(x & 15) as usize]);
    }
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
