//! Table tests: every case is fed whole, byte by byte, and split at every offset, and must give
//! the same responses and the same ending each way. Then a seeded property test.

use super::*;

/// How a fed stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Fed everything, then EOF: this is what `eof()` said (after any Complete it returned).
    Eof(Eof),
    Error(ParseError),
}

struct Case {
    name: &'static str,
    input: &'static [u8],
    head: bool,
    /// (status, body_len, keep_alive) of each response, in order.
    want: &'static [(u16, u64, bool)],
    end: End,
}

const IDLE: End = End::Eof(Eof::Idle);
const TRUNC: End = End::Eof(Eof::Truncated);

fn cases() -> Vec<Case> {
    vec![
        Case { name: "content-length", input: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", head: false, want: &[(200, 5, true)], end: IDLE },
        Case { name: "zero length", input: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", head: false, want: &[(200, 0, true)], end: IDLE },
        Case {
            name: "chunked with extension and trailers",
            input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
            head: false,
            want: &[(200, 15, true)],
            end: IDLE,
        },
        Case {
            name: "chunked beats content-length",
            input: b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            head: false,
            want: &[(200, 3, true)],
            end: IDLE,
        },
        Case { name: "close-delimited", input: b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of this until eof", head: false, want: &[(200, 21, false)], end: IDLE },
        Case { name: "head request has no body", input: b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", head: true, want: &[(200, 0, true)], end: IDLE },
        Case { name: "204 and 304 have no body", input: b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", head: false, want: &[(204, 0, true), (304, 0, true)], end: IDLE },
        Case {
            name: "100 continue is skipped",
            input: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
            head: false,
            want: &[(201, 2, true)],
            end: IDLE,
        },
        Case { name: "101 switching protocols", input: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", head: false, want: &[(101, 0, false)], end: IDLE },
        Case { name: "http/1.0 closes by default", input: b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", head: false, want: &[(200, 1, false)], end: IDLE },
        Case { name: "http/1.0 keep-alive", input: b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", head: false, want: &[(200, 1, true)], end: IDLE },
        Case { name: "connection close", input: b"HTTP/1.1 503 Busy\r\nConnection: foo, Close\r\nContent-Length: 0\r\n\r\n", head: false, want: &[(503, 0, false)], end: IDLE },
        Case {
            name: "three pipelined",
            input: b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 429 Too Many\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbc\r\n0\r\n\r\n",
            head: false,
            want: &[(200, 1, true), (429, 0, true), (200, 2, true)],
            end: IDLE,
        },
        Case { name: "bare LF line endings", input: b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n1\nz\n0\n\n", head: false, want: &[(200, 1, true)], end: IDLE },
        Case { name: "bad status line", input: b"HTTP/1.1 abc OK\r\n\r\n", head: false, want: &[], end: End::Error(ParseError::BadHead) },
        Case { name: "not http", input: b"SSH-2.0-OpenSSH\r\n\r\n", head: false, want: &[], end: End::Error(ParseError::BadHead) },
        Case { name: "bad content-length", input: b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", head: false, want: &[], end: End::Error(ParseError::BadContentLength) },
        Case { name: "negative content-length", input: b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", head: false, want: &[], end: End::Error(ParseError::BadContentLength) },
        Case {
            name: "conflicting content-length",
            input: b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            head: false,
            want: &[],
            end: End::Error(ParseError::BadContentLength),
        },
        Case { name: "repeated equal content-length", input: b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", head: false, want: &[(200, 1, true)], end: IDLE },
        Case { name: "bad chunk size", input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", head: false, want: &[], end: End::Error(ParseError::BadChunk) },
        Case { name: "empty chunk size", input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", head: false, want: &[], end: End::Error(ParseError::BadChunk) },
        Case {
            name: "missing CRLF after chunk data",
            input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n",
            head: false,
            want: &[],
            end: End::Error(ParseError::BadChunk),
        },
        Case { name: "chunk size overflow", input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n", head: false, want: &[], end: End::Error(ParseError::BadChunk) },
        Case { name: "truncated content-length body", input: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", head: false, want: &[], end: TRUNC },
        Case { name: "truncated head", input: b"HTTP/1.1 200 OK\r\nContent-Le", head: false, want: &[], end: TRUNC },
        Case { name: "truncated chunked body", input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", head: false, want: &[], end: TRUNC },
        Case { name: "truncated trailers", input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n", head: false, want: &[], end: TRUNC },
        Case { name: "one complete then truncated", input: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200", head: false, want: &[(200, 0, true)], end: TRUNC },
    ]
}

/// Feeds `pieces` in order through a caller-side buffer, as a connection would, then EOF.
fn drive(p: &mut ResponseParser, pieces: &[&[u8]], head: bool) -> (Vec<(u16, u64, bool)>, End) {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match p.feed(&buf, head) {
                Ok(Progress::Complete { consumed, response }) => {
                    assert!(consumed <= buf.len());
                    out.push((response.status, response.body_len, response.keep_alive));
                    buf.drain(..consumed);
                }
                Ok(Progress::Partial { consumed }) => {
                    assert!(consumed <= buf.len());
                    buf.drain(..consumed);
                    break;
                }
                Err(e) => {
                    p.reset(); // the caller closes the connection
                    return (out, End::Error(e));
                }
            }
        }
    }
    match p.eof() {
        Eof::Complete(r) => {
            out.push((r.status, r.body_len, r.keep_alive));
            (out, IDLE)
        }
        other => (out, End::Eof(other)),
    }
}

#[test]
fn every_case_whole_bytewise_and_split_everywhere() {
    for c in cases() {
        let mut p = ResponseParser::new(Limits::default());
        assert_eq!(drive(&mut p, &[c.input], c.head), (c.want.to_vec(), c.end), "{}: whole", c.name);
        let bytes: Vec<&[u8]> = c.input.chunks(1).collect();
        assert_eq!(drive(&mut p, &bytes, c.head), (c.want.to_vec(), c.end), "{}: byte by byte", c.name);
        for at in 0..=c.input.len() {
            let (a, b) = c.input.split_at(at);
            assert_eq!(drive(&mut p, &[a, b], c.head), (c.want.to_vec(), c.end), "{}: split at {at}", c.name);
        }
        assert!(p.is_idle(), "{}: eof resets", c.name);
    }
}

#[test]
fn limits_are_enforced_at_the_first_byte_they_are_known() {
    let limits = Limits { max_head_bytes: 64, max_headers: 2 };
    let mut p = ResponseParser::new(limits);
    let long = [b"HTTP/1.1 200 OK\r\nX-Long: ".as_slice(), &[b'a'; 100]].concat();
    assert_eq!(p.feed(&long[..64], false), Ok(Progress::Partial { consumed: 0 }));
    assert_eq!(p.feed(&long[..65], false), Err(ParseError::HeadTooLarge));
    p.reset();
    let many = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(p.feed(many, false), Err(ParseError::TooManyHeaders));
    p.reset();
    let mut trailers = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
    trailers.extend(std::iter::repeat_n(b"T: 1234567\r\n".as_slice(), 8).flatten());
    let r = drive(&mut p, &[&trailers], false);
    assert_eq!(r.1, End::Error(ParseError::HeadTooLarge));
    p.reset();
    let long_size = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;".as_slice(), &[b'x'; MAX_CHUNK_LINE]].concat();
    assert_eq!(drive(&mut p, &[&long_size], false).1, End::Error(ParseError::BadChunk));
}

#[test]
fn body_bytes_are_consumed_as_they_arrive() {
    let mut p = ResponseParser::new(Limits::default());
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
    assert_eq!(p.feed(head, false), Ok(Progress::Partial { consumed: head.len() }));
    let chunk = [7u8; 4096];
    let mut total = 0;
    while total + chunk.len() < 1_000_000 {
        assert_eq!(p.feed(&chunk, false), Ok(Progress::Partial { consumed: 4096 }));
        total += chunk.len();
    }
    let last = 1_000_000 - total;
    match p.feed(&chunk, false) {
        Ok(Progress::Complete { consumed, response }) => {
            assert_eq!(consumed, last);
            assert_eq!(response.body_len, 1_000_000);
        }
        other => panic!("{other:?}"),
    }
}

/// xorshift64*: deterministic inputs for the property test.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn random_mutated_and_truncated_inputs_never_panic() {
    let valid: Vec<&[u8]> = cases().iter().filter(|c| matches!(c.end, End::Eof(Eof::Idle))).map(|c| c.input).collect();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let limits = Limits { max_head_bytes: 256, max_headers: 8 };
    for i in 0..20_000 {
        let mut input: Vec<u8> = match i % 3 {
            0 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
            _ => valid[rng.below(valid.len())].to_vec(),
        };
        if i % 3 == 1 {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(input.len());
                if let Some(b) = input.get_mut(at) {
                    *b = rng.next() as u8;
                }
            }
        }
        let mut p = ResponseParser::new(limits);
        let mut buf = input.as_slice();
        for _ in 0..64 {
            match p.feed(buf, rng.next() % 5 == 0) {
                Ok(Progress::Complete { consumed, .. }) => {
                    assert!(consumed <= buf.len() && consumed > 0);
                    buf = &buf[consumed..];
                }
                Ok(Progress::Partial { consumed }) => {
                    assert!(consumed <= buf.len());
                    break;
                }
                Err(_) => break,
            }
        }
        let _ = p.eof();
    }
    // Every strict prefix of a length-framed message is partial: EOF there is never a completion.
    for c in cases().iter().filter(|c| c.end == IDLE && c.want.iter().all(|w| w.2)) {
        for cut in 0..c.input.len() {
            let mut p = ResponseParser::new(Limits::default());
            let (got, _end) = drive(&mut p, &[&c.input[..cut]], c.head);
            assert!(got.len() < c.want.len(), "{}: prefix {cut} completed everything", c.name);
        }
    }
}
