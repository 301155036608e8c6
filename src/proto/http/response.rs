//! HTTP/1.1 response parser: a push state machine (RFC 9112 §6, §7.1 chunked).
//!
//! Owns: framing of responses on a client connection — status line and header section (via
//! `httparse`), then the body by Content-Length, chunked coding (with extensions and trailers)
//! or until the connection closes; the 1xx interim responses a plain request can get (100
//! Continue, 103 Early Hints) are skipped, any other 1xx (a 101 upgrade nobody asked for) is an
//! error; HEAD, 204 and 304 carry no body. Never touches a socket, a clock or the stats: it is fed bytes and says how
//! many it consumed and whether a response completed.
//!
//! Contract with the caller: bytes not consumed must be fed again, followed by new ones. While
//! a head (or a chunk-size or trailer line) is incomplete nothing of it is consumed; body bytes
//! are consumed as they arrive, so a large body is never buffered. `feed` returns as soon as
//! one response completes, so pipelined responses come out one by one. Limits (head size,
//! header count, chunk-size line) are enforced at the first byte where they are known; no input
//! can make it panic.

/// Longest chunk-size line (size, extensions, CRLF) accepted.
pub const MAX_CHUNK_LINE: usize = 4096;
/// Upper bound for `Limits::max_headers` (the header array lives on the stack).
pub const MAX_HEADERS_CAP: usize = 256;
/// Default header-field count: what common servers send (dozens of `Set-Cookie` lines) fits.
pub const DEFAULT_MAX_HEADERS: usize = 128;
/// Default head size (status line and header section).
pub const DEFAULT_MAX_HEAD: usize = 64 * 1024;
/// Significant hex digits of a chunk size (leading zeros aside): sizes stay below 2^60.
const CHUNK_SIZE_DIGITS: usize = 15;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_head_bytes: usize,
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_head_bytes: DEFAULT_MAX_HEAD, max_headers: DEFAULT_MAX_HEADERS }
    }
}

/// Why a response could not be parsed. Counted as a protocol error by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    HeadTooLarge,
    TooManyHeaders,
    /// The status line (or the start of the input) is not an HTTP/1.x status line.
    BadHead,
    /// A header field that is not `name: value`.
    BadHeader,
    BadContentLength,
    /// A chunk-size line that is not a hex size below the value limit.
    BadChunk,
    /// Chunk data not followed by its line ending.
    BadChunkEnd,
    /// A 1xx other than 100 and 103 (a 101 upgrade) in answer to a plain request.
    Unexpected1xx,
}

/// One complete response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub head_len: usize,
    /// Payload bytes (decoded, for chunked bodies).
    pub body_len: u64,
    /// The connection may carry another response after this one.
    pub keep_alive: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// No response completed; `consumed` bytes were used (0 while a head is incomplete).
    Partial { consumed: usize },
    /// One response completed after `consumed` bytes of the input.
    Complete { consumed: usize, response: Response },
}

/// What the peer closing the connection means for the response in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eof {
    /// Between responses: a clean close.
    Idle,
    /// A close-delimited body ended here: the response is complete.
    Complete(Response),
    /// The response was cut short.
    Truncated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Size,
    Data { remaining: u64 },
    DataEnd,
    Trailers { seen: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for a head; `pending` is true when part of one was seen but not consumed.
    Head {
        pending: bool,
    },
    Length {
        remaining: u64,
        response: Response,
    },
    Chunked {
        chunk: Chunk,
        response: Response,
    },
    UntilEof {
        response: Response,
    },
}

/// Sees what a response carries as it is parsed (the checks of `--expect-*`): the final
/// head, then the decoded body in pieces. The parser's framing is the same with or without one;
/// `()` sees nothing and costs nothing.
pub trait Observe {
    /// The head of a final (non-1xx) response.
    fn head(&mut self, _status: u16, _headers: &[httparse::Header<'_>]) {}
    /// Payload bytes of the body (chunked coding removed), in order.
    fn body(&mut self, _bytes: &[u8]) {}
}

impl Observe for () {}

pub struct ResponseParser {
    limits: Limits,
    state: State,
}

/// How the body of a response is delimited (RFC 9112 §6.3), read from its header section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyKind {
    /// `Transfer-Encoding` whose last coding is `chunked` (any `Content-Length` is ignored).
    Chunked,
    /// `Content-Length` and no `Transfer-Encoding`.
    Length(u64),
    /// No length known (no framing header, or a last coding other than `chunked`): the body
    /// runs until the connection closes.
    UntilClose,
}

/// Framing facts read from the header section.
struct Framing {
    body: BodyKind,
    close: bool,
    keep_alive: bool,
}

impl ResponseParser {
    pub fn new(limits: Limits) -> Self {
        let limits = Limits { max_headers: limits.max_headers.clamp(1, MAX_HEADERS_CAP), ..limits };
        ResponseParser { limits, state: State::Head { pending: false } }
    }

    /// True between responses (nothing of the next response seen yet).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head { pending: false }
    }

    /// Forgets any partial state (new connection).
    pub fn reset(&mut self) {
        self.state = State::Head { pending: false };
    }

    /// The peer closed the connection. Resets the parser.
    pub fn eof(&mut self) -> Eof {
        let out = match self.state {
            State::Head { pending: false } => Eof::Idle,
            State::UntilEof { response } => Eof::Complete(response),
            State::Head { pending: true } | State::Length { .. } | State::Chunked { .. } => Eof::Truncated,
        };
        self.reset();
        out
    }

    /// Feeds bytes; `head_request` says the request this response answers was HEAD.
    pub fn feed(&mut self, input: &[u8], head_request: bool) -> Result<Progress, ParseError> {
        self.feed_observed(input, head_request, &mut ())
    }

    /// [`ResponseParser::feed`], showing the head and the body to `obs` as they are parsed.
    pub fn feed_observed<O: Observe>(&mut self, input: &[u8], head_request: bool, obs: &mut O) -> Result<Progress, ParseError> {
        let mut pos = 0usize;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Head { .. } => match self.parse_head(rest, head_request, obs)? {
                    HeadStep::Partial => {
                        self.state = State::Head { pending: !rest.is_empty() };
                        return Ok(Progress::Partial { consumed: pos });
                    }
                    HeadStep::Interim(len) => pos += len,
                    HeadStep::NoBody(response) => {
                        self.state = State::Head { pending: false };
                        return Ok(Progress::Complete { consumed: pos + response.head_len, response });
                    }
                    HeadStep::Body(len, state) => {
                        pos += len;
                        self.state = state;
                    }
                },
                State::Length { remaining, mut response } => {
                    let n = remaining.min(rest.len() as u64);
                    obs.body(&rest[..n as usize]);
                    pos += n as usize;
                    response.body_len += n;
                    if n == remaining {
                        self.state = State::Head { pending: false };
                        return Ok(Progress::Complete { consumed: pos, response });
                    }
                    self.state = State::Length { remaining: remaining - n, response };
                    return Ok(Progress::Partial { consumed: pos });
                }
                State::UntilEof { mut response } => {
                    obs.body(rest);
                    response.body_len += rest.len() as u64;
                    self.state = State::UntilEof { response };
                    return Ok(Progress::Partial { consumed: input.len() });
                }
                State::Chunked { chunk, mut response } => match chunk {
                    Chunk::Size => {
                        let Some(line) = take_line(rest, MAX_CHUNK_LINE).map_err(|()| ParseError::BadChunk)? else {
                            return Ok(Progress::Partial { consumed: pos });
                        };
                        let size = parse_chunk_size(&rest[..line.content])?;
                        pos += line.total;
                        let chunk = if size == 0 { Chunk::Trailers { seen: 0 } } else { Chunk::Data { remaining: size } };
                        self.state = State::Chunked { chunk, response };
                    }
                    Chunk::Data { remaining } => {
                        let n = remaining.min(rest.len() as u64);
                        obs.body(&rest[..n as usize]);
                        pos += n as usize;
                        response.body_len += n;
                        let chunk = if n == remaining { Chunk::DataEnd } else { Chunk::Data { remaining: remaining - n } };
                        self.state = State::Chunked { chunk, response };
                        if n < remaining {
                            return Ok(Progress::Partial { consumed: pos });
                        }
                    }
                    Chunk::DataEnd => match rest {
                        [b'\r', b'\n', ..] | [b'\n', ..] => {
                            pos += if rest[0] == b'\r' { 2 } else { 1 };
                            self.state = State::Chunked { chunk: Chunk::Size, response };
                        }
                        [] | [b'\r'] => return Ok(Progress::Partial { consumed: pos }),
                        _ => return Err(ParseError::BadChunkEnd),
                    },
                    Chunk::Trailers { seen } => {
                        let budget = self.limits.max_head_bytes.saturating_sub(seen);
                        let Some(line) = take_line(rest, budget).map_err(|()| ParseError::HeadTooLarge)? else {
                            return Ok(Progress::Partial { consumed: pos });
                        };
                        pos += line.total;
                        if line.content == 0 {
                            self.state = State::Head { pending: false };
                            return Ok(Progress::Complete { consumed: pos, response });
                        }
                        self.state = State::Chunked { chunk: Chunk::Trailers { seen: seen + line.total }, response };
                    }
                },
            }
        }
    }

    fn parse_head<O: Observe>(&self, input: &[u8], head_request: bool, obs: &mut O) -> Result<HeadStep, ParseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS_CAP];
        let mut r = httparse::Response::new(&mut headers[..self.limits.max_headers]);
        // Only the first max_head_bytes + 1 bytes are looked at: what lies past the limit (a bad
        // byte, one header too many) must not decide the error, or the outcome would depend on
        // how the bytes were split into reads.
        let window = &input[..input.len().min(self.limits.max_head_bytes.saturating_add(1))];
        let len = match r.parse(window) {
            Ok(httparse::Status::Partial) => {
                if window.len() > self.limits.max_head_bytes {
                    return Err(ParseError::HeadTooLarge);
                }
                return Ok(HeadStep::Partial);
            }
            Ok(httparse::Status::Complete(len)) => len,
            Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
            Err(httparse::Error::Status | httparse::Error::Version) => return Err(ParseError::BadHead),
            Err(httparse::Error::HeaderName | httparse::Error::HeaderValue | httparse::Error::NewLine | httparse::Error::Token) => {
                return Err(ParseError::BadHeader)
            }
        };
        if len > self.limits.max_head_bytes {
            return Err(ParseError::HeadTooLarge);
        }
        let status = r.code.ok_or(ParseError::BadHead)?;
        // httparse takes any three digits; below 100 there is no class (RFC 9110 §15), and the
        // stats would count it as an answer without a status.
        if status < 100 {
            return Err(ParseError::BadHead);
        }
        match status {
            100 | 103 => return Ok(HeadStep::Interim(len)),
            // Switching protocols (or anything else interim) was not asked for by a plain request.
            101..=199 => return Err(ParseError::Unexpected1xx),
            _ => {}
        }
        let f = framing(r.headers)?;
        let http11 = r.version == Some(1);
        let keep_alive = if http11 { !f.close } else { f.keep_alive && !f.close };
        let response = Response { status, head_len: len, body_len: 0, keep_alive };
        obs.head(status, r.headers);
        if head_request || status == 204 || status == 304 {
            return Ok(HeadStep::NoBody(response));
        }
        match f.body {
            BodyKind::Chunked => Ok(HeadStep::Body(len, State::Chunked { chunk: Chunk::Size, response })),
            BodyKind::Length(0) => Ok(HeadStep::NoBody(response)),
            BodyKind::Length(n) => Ok(HeadStep::Body(len, State::Length { remaining: n, response })),
            BodyKind::UntilClose => Ok(HeadStep::Body(len, State::UntilEof { response: Response { keep_alive: false, ..response } })),
        }
    }
}

enum HeadStep {
    Partial,
    /// A 1xx interim response of this many bytes: skip it.
    Interim(usize),
    NoBody(Response),
    Body(usize, State),
}

fn framing(headers: &[httparse::Header<'_>]) -> Result<Framing, ParseError> {
    // Every Content-Length is checked (two different ones are an error, chunked or not); the
    // last Transfer-Encoding header says whether the last coding is chunked.
    let mut length: Option<u64> = None;
    let mut last_coding_chunked: Option<bool> = None;
    let (mut close, mut keep_alive) = (false, false);
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = parse_content_length(h.value)?;
            if length.is_some_and(|old| old != v) {
                return Err(ParseError::BadContentLength);
            }
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or(b"");
            last_coding_chunked = Some(trim(last).eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',') {
                let token = trim(token);
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let body = match (last_coding_chunked, length) {
        (Some(true), _) => BodyKind::Chunked,
        (None, Some(n)) => BodyKind::Length(n),
        (Some(false), _) | (None, None) => BodyKind::UntilClose,
    };
    Ok(Framing { body, close, keep_alive })
}

fn parse_content_length(v: &[u8]) -> Result<u64, ParseError> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadContentLength);
    }
    Ok(v.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')))
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let end = line.iter().position(|b| *b == b';' || *b == b' ' || *b == b'\t').unwrap_or(line.len());
    let hex = &line[..end];
    // Leading zeros are legal (RFC 9112 §7.1: 1*HEXDIG): only the value is bounded.
    let significant = &hex[hex.iter().position(|b| *b != b'0').unwrap_or(hex.len())..];
    if hex.is_empty() || significant.len() > CHUNK_SIZE_DIGITS {
        return Err(ParseError::BadChunk);
    }
    hex.iter().try_fold(0u64, |acc, b| {
        let d = (*b as char).to_digit(16).ok_or(ParseError::BadChunk)?;
        Ok(acc * 16 + u64::from(d))
    })
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &v[start..end]
}

/// A line ending in LF (CR before it optional): `content` bytes before the line ending,
/// `total` bytes including it.
struct Line {
    content: usize,
    total: usize,
}

/// Finds the next line within `limit` bytes. `Ok(None)`: incomplete; `Err`: longer than `limit`.
fn take_line(input: &[u8], limit: usize) -> Result<Option<Line>, ()> {
    let window = &input[..input.len().min(limit)];
    match window.iter().position(|b| *b == b'\n') {
        Some(i) => Ok(Some(Line { content: if i > 0 && window[i - 1] == b'\r' { i - 1 } else { i }, total: i + 1 })),
        None if !input.is_empty() && input.len() >= limit => Err(()),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
