//! HTTP/1.1 requests (RFC 9112 §3): encoded once at start-up on the client side, parsed
//! push-style on the server side (the embedded target).
//!
//! Owns: the request line and header section bytes we send, and the framing of requests we
//! receive (head via `httparse`, body by Content-Length). Never touches a socket. The server
//! parser consumes nothing until a whole request (head and body) is in the buffer; limits on
//! head and body size are checked at the first byte where they are known.

use std::ops::Range;

/// What to send; `encode_request` turns it into bytes once.
pub struct RequestSpec<'a> {
    pub method: &'a str,
    /// Value of the Host header (`host[:port]`).
    pub host: &'a str,
    /// Path and query, starting with '/'.
    pub path: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Encodes one request. A user `Host`, `User-Agent` or `Content-Length` header replaces ours.
pub fn encode_request(spec: &RequestSpec) -> Vec<u8> {
    let has = |name: &str| spec.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut out = Vec::with_capacity(128 + spec.body.len());
    out.extend_from_slice(spec.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(spec.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !has("host") {
        push_header(&mut out, "Host", spec.host);
    }
    if !has("user-agent") {
        push_header(&mut out, "User-Agent", concat!("stampede/", env!("CARGO_PKG_VERSION")));
    }
    for (n, v) in spec.headers {
        push_header(&mut out, n, v);
    }
    let wants_length = !spec.body.is_empty() || matches!(spec.method, "POST" | "PUT" | "PATCH");
    if wants_length && !has("content-length") && !has("transfer-encoding") {
        push_header(&mut out, "Content-Length", &spec.body.len().to_string());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(spec.body);
    out
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other,
}

/// A complete request found at the start of the input. Ranges index into that input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    pub path: Range<usize>,
    pub body: Range<usize>,
    pub keep_alive: bool,
    /// `Sec-WebSocket-Key` of a WebSocket upgrade request (`Upgrade: websocket`), if any.
    pub ws_key: Option<Range<usize>>,
    /// Bytes of head and body together.
    pub consumed: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    HeadTooLarge,
    TooManyHeaders,
    BadHead,
    BadContentLength,
    BodyTooLarge,
    ChunkedUnsupported,
}

const MAX_REQUEST_HEADERS: usize = 64;

/// Parses one request at the start of `input`. `Ok(None)`: incomplete, nothing consumed.
pub fn parse_request(input: &[u8], max_head: usize, max_body: usize) -> Result<Option<RequestHead>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    // Only the first max_head + 1 bytes decide the head: what lies past the limit must not, or
    // the outcome would depend on how the bytes were split into reads.
    let window = &input[..input.len().min(max_head.saturating_add(1))];
    let head_len = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if window.len() > max_head => return Err(RequestError::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(_) => return Err(RequestError::BadHead),
    };
    if head_len > max_head {
        return Err(RequestError::HeadTooLarge);
    }
    let method = match req.method.unwrap_or("") {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        _ => Method::Other,
    };
    let path_str = req.path.unwrap_or("/");
    // httparse hands out sub-slices of `input`: find the path's offset from the pointers.
    let path_start = (path_str.as_ptr() as usize).saturating_sub(input.as_ptr() as usize);
    let path = path_start..path_start + path_str.len();
    let http11 = req.version == Some(1);
    let mut content_length: Option<usize> = None;
    let (mut close, mut keep) = (false, false);
    let (mut upgrade_ws, mut ws_key) = (false, None);
    let offset = |v: &[u8]| {
        let start = (v.as_ptr() as usize).saturating_sub(input.as_ptr() as usize);
        start..start + v.len()
    };
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).ok().map(str::trim).filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
            let n: usize = v.and_then(|v| v.parse().ok()).ok_or(RequestError::BadContentLength)?;
            if content_length.is_some_and(|old| old != n) {
                return Err(RequestError::BadContentLength);
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(RequestError::ChunkedUnsupported);
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade_ws |= h.value.split(|b| *b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"websocket"));
        } else if h.name.eq_ignore_ascii_case("sec-websocket-key") {
            ws_key = Some(offset(h.value.trim_ascii()));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for t in h.value.split(|b| *b == b',') {
                let t = t.trim_ascii();
                close |= t.eq_ignore_ascii_case(b"close");
                keep |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let body_len = content_length.unwrap_or(0);
    if body_len > max_body {
        return Err(RequestError::BodyTooLarge);
    }
    if input.len() < head_len + body_len {
        return Ok(None);
    }
    Ok(Some(RequestHead {
        method,
        path,
        body: head_len..head_len + body_len,
        keep_alive: if http11 { !close } else { keep && !close },
        ws_key: ws_key.filter(|_| upgrade_ws && method == Method::Get),
        consumed: head_len + body_len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: usize = 8192;
    const BODY: usize = 1 << 20;

    #[test]
    fn encodes_once_with_defaults_and_overrides() {
        let h = vec![("X-A".to_string(), "1".to_string())];
        let r = encode_request(&RequestSpec { method: "GET", host: "127.0.0.1:8080", path: "/a?b", headers: &h, body: b"" });
        let s = String::from_utf8(r).unwrap();
        assert!(s.starts_with("GET /a?b HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: stampede/"), "{s}");
        assert!(s.ends_with("X-A: 1\r\n\r\n"), "{s}");
        assert!(!s.contains("Content-Length"));
        let h = vec![("host".to_string(), "example".to_string())];
        let r = encode_request(&RequestSpec { method: "POST", host: "x", path: "/echo", headers: &h, body: b"hi" });
        let s = String::from_utf8(r).unwrap();
        assert!(s.contains("host: example\r\n") && !s.contains("Host: x"), "{s}");
        assert!(s.ends_with("Content-Length: 2\r\n\r\nhi"), "{s}");
        let r = encode_request(&RequestSpec { method: "POST", host: "x", path: "/", headers: &[], body: b"" });
        assert!(String::from_utf8(r).unwrap().contains("Content-Length: 0\r\n"));
    }

    #[test]
    fn encoded_requests_parse_back() {
        let h = vec![("Connection".to_string(), "close".to_string())];
        let r = encode_request(&RequestSpec { method: "POST", host: "h", path: "/echo", headers: &h, body: b"payload" });
        let got = parse_request(&r, HEAD, BODY).unwrap().unwrap();
        assert_eq!(got.method, Method::Post);
        assert_eq!(&r[got.path.clone()], b"/echo");
        assert_eq!(&r[got.body.clone()], b"payload");
        assert!(!got.keep_alive);
        assert_eq!(got.consumed, r.len());
    }

    #[test]
    fn every_strict_prefix_is_incomplete_and_pipelines_split() {
        let one = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n".as_slice();
        let two = b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc".as_slice();
        let both = [one, two].concat();
        for cut in 0..one.len() {
            assert_eq!(parse_request(&one[..cut], HEAD, BODY), Ok(None), "cut {cut}");
        }
        for cut in 0..two.len() {
            assert_eq!(parse_request(&two[..cut], HEAD, BODY), Ok(None), "cut {cut}");
        }
        let a = parse_request(&both, HEAD, BODY).unwrap().unwrap();
        assert_eq!((a.method, a.consumed, a.keep_alive), (Method::Get, one.len(), true));
        let b = parse_request(&both[a.consumed..], HEAD, BODY).unwrap().unwrap();
        assert_eq!((b.method, b.consumed), (Method::Post, two.len()));
    }

    #[test]
    fn websocket_upgrades_expose_their_key() {
        let raw = b"GET /ws/echo HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key:  dGhlIHNhbXBsZSBub25jZQ== \r\n\r\n";
        let got = parse_request(raw, HEAD, BODY).unwrap().unwrap();
        assert_eq!(&raw[got.ws_key.unwrap()], b"dGhlIHNhbXBsZSBub25jZQ==");
        let plain = b"GET / HTTP/1.1\r\nSec-WebSocket-Key: x\r\n\r\n";
        assert_eq!(parse_request(plain, HEAD, BODY).unwrap().unwrap().ws_key, None);
    }

    #[test]
    fn versions_and_connection_tokens() {
        for (input, keep) in [
            (b"GET / HTTP/1.0\r\n\r\n".as_slice(), false),
            (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\n\r\n", true),
        ] {
            assert_eq!(parse_request(input, HEAD, BODY).unwrap().unwrap().keep_alive, keep);
        }
    }

    #[test]
    fn malformed_requests_get_the_right_error() {
        let big = [b"GET /".as_slice(), &[b'a'; 200]].concat();
        let table: &[(&[u8], RequestError)] = &[
            (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", RequestError::BadContentLength),
            (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", RequestError::BadContentLength),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", RequestError::ChunkedUnsupported),
            (b"POST / HTTP/1.1\r\nContent-Length: 999\r\n\r\n", RequestError::BodyTooLarge),
            (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", RequestError::BadHead),
            (b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", RequestError::BadHead),
            (&big, RequestError::HeadTooLarge),
        ];
        for (input, want) in table {
            assert_eq!(parse_request(input, 128, 100), Err(*want), "{:?}", String::from_utf8_lossy(input));
        }
        let many: Vec<u8> =
            [b"GET / HTTP/1.1\r\n".to_vec(), (0..70).flat_map(|i| format!("H{i}: v\r\n").into_bytes()).collect(), b"\r\n".to_vec()]
                .concat();
        assert_eq!(parse_request(&many, HEAD, BODY), Err(RequestError::TooManyHeaders));
    }

    /// Regression (found by the property test below): a bad byte or one header too many past
    /// the head limit gave BadHead / TooManyHeaders when the request arrived in one read and
    /// HeadTooLarge when it was split; now the limit decides however the bytes arrive.
    #[test]
    fn past_the_head_limit_only_the_limit_decides() {
        let bad = [b"GET / HTTP/1.1\r\nX-Pad: ".as_slice(), &[b'a'; 100], b"\r\nBad Header\r\n\r\n"].concat();
        for cut in 0..=bad.len() {
            let got = match parse_request(&bad[..cut], 64, 100) {
                Ok(None) => parse_request(&bad, 64, 100),
                decided => decided,
            };
            assert_eq!(got, Err(RequestError::HeadTooLarge), "split at {cut}");
        }
    }

    /// xorshift64 for the property test.
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Random bytes, mutated and truncated valid requests (and pipelines of them), small and
    /// default limits: the shared invariants hold (`crate::invariants::http_request`: a request
    /// fits the input and the limits, re-parses alone, its strict prefixes are incomplete, a
    /// decision on a prefix is the decision on the whole).
    #[test]
    fn random_mutated_and_truncated_requests_keep_the_invariants() {
        let valid: [&[u8]; 4] = [
            b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabcGET / HTTP/1.0\r\n\r\n",
            b"GET /ws/echo HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            b"PUT /a?b=c HTTP/1.1\nContent-Length: 0\n\n",
        ];
        let mut x = 0x5245_5155_4553_5431u64;
        for i in 0..1_500 {
            let mut input: Vec<u8> = match i % 3 {
                0 => (0..next(&mut x) % 120).map(|_| next(&mut x) as u8).collect(),
                _ => valid[(next(&mut x) % 4) as usize].to_vec(),
            };
            if i % 3 == 1 && !input.is_empty() {
                for _ in 0..1 + next(&mut x) % 3 {
                    let at = (next(&mut x) as usize) % input.len();
                    input[at] = next(&mut x) as u8;
                }
            }
            if i % 6 == 5 {
                input.truncate((next(&mut x) as usize) % (input.len() + 1));
            }
            let (head, body) = if i % 2 == 0 { (HEAD, BODY) } else { (16 + (next(&mut x) % 100) as usize, (next(&mut x) % 8) as usize) };
            let cut = (next(&mut x) as usize) % (input.len() + 1);
            crate::invariants::http_request(&input, head, body, &[cut]);
        }
    }
}
