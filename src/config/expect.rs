//! What a run expects of an HTTP answer: the statuses that count as success ([`OkStatus`],
//! `--ok-status`, a plan's `ok_status`) and the checks on each answer ([`Check`],
//! `--expect-status`, `--expect-body`, `--expect-header`). Plain validated types: parsed once
//! at the boundary, read on the hot path as a bit test and a few byte comparisons.

use std::sync::Arc;

/// A set of HTTP status codes (100..=999), e.g. `200-299,404,429`: one bit per code.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OkStatus {
    bits: [u64; 16],
}

impl Default for OkStatus {
    /// 200–399: what k6's `http_req_failed` and wrk's "Non-2xx or 3xx responses" count as success.
    fn default() -> Self {
        let mut s = OkStatus { bits: [0; 16] };
        s.insert_range(200, 399);
        s
    }
}

impl std::fmt::Debug for OkStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OkStatus({self})")
    }
}

impl OkStatus {
    /// Parses `200-299,404,429` (ranges inclusive, codes 100 to 999, spaces allowed).
    pub fn parse(spec: &str) -> Result<OkStatus, String> {
        let mut s = OkStatus { bits: [0; 16] };
        let code = |t: &str| -> Result<u16, String> {
            let t = t.trim();
            match t.parse::<u16>() {
                Ok(c) if (100..=999).contains(&c) => Ok(c),
                _ => Err(format!("'{t}' is not a status code (100 to 999)")),
            }
        };
        for part in spec.split(',') {
            if part.trim().is_empty() {
                return Err(format!("'{spec}': an empty item; write codes and ranges like 200-299,404,429"));
            }
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (code(a)?, code(b)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if lo > hi {
                return Err(format!("'{}': the range runs backwards", part.trim()));
            }
            s.insert_range(lo, hi);
        }
        Ok(s)
    }

    fn insert_range(&mut self, lo: u16, hi: u16) {
        for c in lo..=hi {
            self.bits[c as usize / 64] |= 1 << (c % 64);
        }
    }

    /// True when an answer with this status is a success.
    #[inline]
    pub fn contains(&self, code: u16) -> bool {
        (code as usize) < 1024 && self.bits[code as usize / 64] & (1 << (code % 64)) != 0
    }
}

impl std::fmt::Display for OkStatus {
    /// The set as ranges: `200-299,404,429`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let mut c = 100u16;
        while c <= 999 {
            if self.contains(c) {
                let start = c;
                while c < 999 && self.contains(c + 1) {
                    c += 1;
                }
                parts.push(if start == c { start.to_string() } else { format!("{start}-{c}") });
            }
            c += 1;
        }
        f.write_str(&parts.join(","))
    }
}

/// Longest part of a decoded body `--expect-body` looks at: the text must appear in the first
/// 64 KiB of the body (after chunked decoding).
pub const BODY_CHECK_BOUND: usize = 64 * 1024;

/// Most checks one run carries (failed checks are a bit mask per answer).
pub const MAX_CHECKS: usize = 32;

/// One check on every answer (k6 `check`); a failed one fails the request as `check_failed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// The status is in the set.
    Status(OkStatus),
    /// The decoded body (its first [`BODY_CHECK_BOUND`] bytes) contains these bytes.
    Body(Vec<u8>),
    /// A header field of this name (ASCII case-insensitive) whose value contains this text
    /// (case-sensitive; an empty text: the field is present).
    Header { name: String, value: String },
}

impl Check {
    /// The name reports count failures under: `status in 200-299`, `body contains "ok"`,
    /// `header content-type contains "json"`.
    pub fn name(&self) -> String {
        match self {
            Check::Status(s) => format!("status in {s}"),
            Check::Body(b) => format!("body contains {:?}", String::from_utf8_lossy(b)),
            Check::Header { name, value } if value.is_empty() => format!("header {name} present"),
            Check::Header { name, value } => format!("header {name} contains {value:?}"),
        }
    }

    /// `--expect-header 'Name: value'`.
    pub fn header(spec: &str) -> Result<Check, String> {
        let (name, value) = spec.split_once(':').unwrap_or((spec, ""));
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) {
            return Err(format!("'{spec}': write 'Name: value' (a header name, then the text its value must contain)"));
        }
        Ok(Check::Header { name: name.to_ascii_lowercase(), value: value.trim().to_string() })
    }
}

/// What an HTTP run expects of its answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// Statuses that are a success; any other fails the request as `status`.
    pub ok: OkStatus,
    /// Checks on every answer (none: nothing is looked at beyond the status).
    pub checks: Vec<Check>,
    /// The checks' names, shared with the stats that count their failures.
    pub names: Arc<[Arc<str>]>,
}

impl Expect {
    pub fn new(ok: OkStatus, checks: Vec<Check>) -> Result<Expect, String> {
        if checks.len() > MAX_CHECKS {
            return Err(format!("{} checks: at most {MAX_CHECKS}", checks.len()));
        }
        let names = checks.iter().map(|c| Arc::from(c.name())).collect();
        Ok(Expect { ok, checks, names })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_status_parses_ranges_and_codes_and_refuses_the_rest() {
        let s = OkStatus::parse("200-299, 404,429").unwrap();
        for (c, ok) in [(199, false), (200, true), (299, true), (300, false), (404, true), (429, true), (503, false)] {
            assert_eq!(s.contains(c), ok, "{c}");
        }
        assert_eq!(s.to_string(), "200-299,404,429");
        assert_eq!(OkStatus::default().to_string(), "200-399");
        assert!(!OkStatus::default().contains(0) && !OkStatus::default().contains(1023));
        for bad in ["", "2xx", "200-", "299-200", "99", "1000", "200,,300"] {
            assert!(OkStatus::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checks_have_readable_names() {
        assert_eq!(Check::Body(b"ok".to_vec()).name(), "body contains \"ok\"");
        assert_eq!(Check::header("Content-Type: json").unwrap().name(), "header content-type contains \"json\"");
        assert_eq!(Check::header("X-Id").unwrap().name(), "header x-id present");
        assert_eq!(Check::Status(OkStatus::parse("200").unwrap()).name(), "status in 200");
        assert!(Check::header(": x").is_err() && Check::header("a b: x").is_err());
    }
}
