//! The checks of `--expect-status`, `--expect-body` and `--expect-header` on each HTTP answer,
//! and the verdict of `--ok-status`: what [`HttpWire`](crate::scenario::http::HttpWire) judges
//! once an answer is complete. The response parser shows this state the head and the decoded
//! body ([`Observe`]); a run without checks never builds one (`Option::None`) and pays only the
//! status bit test.

use crate::config::{Check, Expect, BODY_CHECK_BOUND};
use crate::proto::http::response::Observe;
use crate::stats::{ErrorClass, Judged};

/// One connection's check state for the answer being parsed.
pub struct CheckState {
    /// Bit `i`: header check `i` matched a field of the head.
    headers_seen: u32,
    /// The start of the decoded body, up to the longest `--expect-body` text's bound.
    body: Vec<u8>,
    /// Keep body bytes only when a check reads them.
    wants_body: bool,
}

impl CheckState {
    pub fn new(expect: &Expect) -> CheckState {
        let wants_body = expect.checks.iter().any(|c| matches!(c, Check::Body(_)));
        CheckState { headers_seen: 0, body: Vec::new(), wants_body }
    }

    /// Forgets the answer in progress (a new answer, a new connection).
    pub fn reset(&mut self) {
        self.headers_seen = 0;
        self.body.clear();
    }
}

/// The checks, looking at a head and a body as the parser passes them.
pub struct Observer<'a> {
    pub checks: &'a [Check],
    pub state: &'a mut CheckState,
}

impl Observe for Observer<'_> {
    fn head(&mut self, _status: u16, headers: &[httparse::Header<'_>]) {
        self.state.reset();
        for (i, c) in self.checks.iter().enumerate() {
            let Check::Header { name, value } = c else { continue };
            let hit = headers.iter().any(|h| h.name.eq_ignore_ascii_case(name) && contains(h.value, value.as_bytes()));
            if hit {
                self.state.headers_seen |= 1 << i;
            }
        }
    }

    fn body(&mut self, bytes: &[u8]) {
        if self.state.wants_body {
            let room = BODY_CHECK_BOUND - self.state.body.len();
            self.state.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
}

/// The verdict on a complete answer of `status`: its failure class (a status not expected
/// first, then a failed check) and the checks' outcome. Resets the state for the next answer.
pub fn judge<'a>(expect: &'a Expect, state: Option<&mut CheckState>, status: u16) -> Judged<'a> {
    let status_failed = (!expect.ok.contains(status)).then_some(ErrorClass::Status(status));
    let Some(state) = state else {
        return Judged { failed: status_failed, checks: &[], checks_failed: 0 };
    };
    let mut mask = 0u32;
    for (i, c) in expect.checks.iter().enumerate() {
        let pass = match c {
            Check::Status(set) => set.contains(status),
            Check::Body(text) => contains(&state.body, text),
            Check::Header { .. } => state.headers_seen & (1 << i) != 0,
        };
        if !pass {
            mask |= 1 << i;
        }
    }
    state.reset();
    let failed = status_failed.or((mask != 0).then_some(ErrorClass::Check));
    Judged { failed, checks: &expect.names, checks_failed: mask }
}

/// True when `needle` occurs in `hay` (an empty needle always does).
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OkStatus;
    use crate::proto::http::response::{Limits, Progress, ResponseParser};

    fn run(expect: &Expect, answer: &[u8]) -> (Option<ErrorClass>, u32) {
        let mut st = CheckState::new(expect);
        let mut p = ResponseParser::new(Limits::default());
        // Byte by byte: the checks see the same answer however it is split.
        let mut buf = Vec::new();
        for b in answer {
            buf.push(*b);
            let mut obs = Observer { checks: &expect.checks, state: &mut st };
            match p.feed_observed(&buf, false, &mut obs).unwrap() {
                Progress::Partial { consumed } => {
                    buf.drain(..consumed);
                }
                Progress::Complete { response, .. } => {
                    let j = judge(expect, Some(&mut st), response.status);
                    return (j.failed, j.checks_failed);
                }
            }
        }
        panic!("incomplete answer");
    }

    #[test]
    fn checks_read_the_decoded_body_and_headers_however_the_answer_is_split() {
        let checks = vec![
            Check::Body(b"hello world".to_vec()),
            Check::header("content-type: json").unwrap(),
            Check::Status(OkStatus::parse("200").unwrap()),
        ];
        let e = Expect::new(OkStatus::default(), checks).unwrap();
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(run(&e, chunked), (None, 0));
        let plain = b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
        assert_eq!(run(&e, plain), (Some(ErrorClass::Check), 0b111));
        let failed = b"HTTP/1.1 503 Busy\r\nContent-Length: 11\r\nContent-Type: json\r\n\r\nhello world";
        assert_eq!(run(&e, failed), (Some(ErrorClass::Status(503)), 0b100));
    }
}
