//! The WebSocket opening handshake (RFC 6455 §4): the client's upgrade request (with the
//! subprotocols it offers, §4.1 and §11.3.4, and extra headers), the check of the server's 101
//! answer (Sec-WebSocket-Accept; a subprotocol answered must be one offered, §4.1 step 6), and
//! the server's 101 for an upgrade request. Pure; SHA-1 comes from ring (already linked through
//! rustls). Header names and values arrive validated (no CR/LF) from the config layer.

use base64::Engine as _;

/// The GUID every accept key is derived with (§1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Key` from 16 random bytes.
pub fn client_key(nonce: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut input = key.trim().as_bytes().to_vec();
    input.extend_from_slice(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1(&input))
}

/// SHA-1 of `data` (FIPS 180-4), from ring: the handshake is its only legacy use.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut out = [0u8; 20];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The client's upgrade request. `protocols` (if any) are offered in one
/// `Sec-WebSocket-Protocol` header, in order of preference.
pub fn encode_request(host: &str, path: &str, key: &str, extra_headers: &[(String, String)], protocols: &[String]) -> Vec<u8> {
    let mut out = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: stampede/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if !protocols.is_empty() {
        out.push_str(&format!("Sec-WebSocket-Protocol: {}\r\n", protocols.join(", ")));
    }
    for (n, v) in extra_headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    BadHead,
    /// The server answered with this status instead of 101.
    NotSwitching(u16),
    MissingUpgrade,
    BadAccept,
    HeadTooLarge,
    /// The server answered a subprotocol the client did not offer, or more than one (§4.1:
    /// the client must fail the connection).
    UnofferedProtocol,
}

/// A 101 answer that passed every check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Bytes of the head (frames may follow).
    pub head: usize,
    /// The subprotocol the server chose: an index into the offered list; `None` when the server
    /// answered without one (accepted: the server may decline every offer, §4.2.2).
    pub protocol: Option<usize>,
}

/// Checks the server's answer to an upgrade that offered no subprotocol. `Ok(Some(n))`:
/// accepted, the head was `n` bytes (frames may follow); `Ok(None)`: incomplete.
pub fn parse_response(input: &[u8], key: &str, max_head: usize) -> Result<Option<usize>, HandshakeError> {
    Ok(parse_answer(input, key, max_head, &[])?.map(|a| a.head))
}

/// Checks the server's answer to an upgrade that offered `offered`: as [`parse_response`], and
/// the `Sec-WebSocket-Protocol` answered (at most one header, one value) must be one offered.
pub fn parse_answer(input: &[u8], key: &str, max_head: usize, offered: &[String]) -> Result<Option<Accepted>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    // Only the first max_head + 1 bytes decide (what lies past the limit must not, or the
    // outcome would depend on how the bytes were split into reads), and a complete head past
    // the limit is too large as well.
    let window = &input[..input.len().min(max_head.saturating_add(1))];
    let n = match r.parse(window) {
        Ok(httparse::Status::Complete(n)) if n > max_head => return Err(HandshakeError::HeadTooLarge),
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if window.len() > max_head => return Err(HandshakeError::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HandshakeError::BadHead),
    };
    let code = r.code.unwrap_or(0);
    if code != 101 {
        return Err(HandshakeError::NotSwitching(code));
    }
    let header = |name: &str| r.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
    if !header("upgrade").is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"websocket")) {
        return Err(HandshakeError::MissingUpgrade);
    }
    match header("sec-websocket-accept") {
        Some(v) if v.trim_ascii() == accept_key(key).as_bytes() => {}
        _ => return Err(HandshakeError::BadAccept),
    }
    let mut answered = r.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-protocol"));
    let protocol = match (answered.next(), answered.next()) {
        (None, _) => None,
        (Some(h), None) => {
            let chosen = h.value.trim_ascii();
            Some(offered.iter().position(|p| p.as_bytes() == chosen).ok_or(HandshakeError::UnofferedProtocol)?)
        }
        (Some(_), Some(_)) => return Err(HandshakeError::UnofferedProtocol),
    };
    Ok(Some(Accepted { head: n, protocol }))
}

/// Whether `name` may be offered as a subprotocol: an RFC 7230 token (§4.1: "each being a
/// token"), which also keeps it off the comma list's separators.
pub fn is_protocol_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The server's 101 answer for a request that carried `key`.
pub fn server_response(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha1_vectors() {
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(&sha1(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
        assert_eq!(hex(&sha1(&[b'a'; 1000])), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
    }

    #[test]
    fn accept_key_matches_rfc_6455() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(client_key(*b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn responses_are_checked() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = server_response(key);
        assert_eq!(parse_response(&ok, key, 4096), Ok(Some(ok.len())));
        for cut in 0..ok.len() {
            assert_eq!(parse_response(&ok[..cut], key, 4096), Ok(None), "prefix {cut}");
        }
        let mut with_frame = ok.clone();
        with_frame.extend_from_slice(b"\x81\x02hi");
        assert_eq!(parse_response(&with_frame, key, 4096), Ok(Some(ok.len())));
        assert_eq!(parse_response(b"HTTP/1.1 403 Forbidden\r\n\r\n", key, 4096), Err(HandshakeError::NotSwitching(403)));
        assert_eq!(parse_response(&server_response("other"), key, 4096), Err(HandshakeError::BadAccept));
        assert_eq!(parse_response(b"HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: x\r\n\r\n", key, 4096), Err(HandshakeError::MissingUpgrade));
        assert_eq!(parse_response(b"garbage\r\n\r\n", key, 4096), Err(HandshakeError::BadHead));
        assert_eq!(parse_response(&[b'H'; 100], key, 50), Err(HandshakeError::BadHead));
        assert_eq!(parse_response(b"HTTP/1.1 101 Switching", key, 10), Err(HandshakeError::HeadTooLarge));
    }

    /// Regression (found while writing the invariants): a complete head longer than the limit
    /// was accepted when it arrived in one read but refused (HeadTooLarge) when split, and a bad
    /// byte past the limit gave BadHead or HeadTooLarge depending on the split.
    #[test]
    fn the_limit_decides_however_the_answer_is_split() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = server_response(key);
        let limit = ok.len() - 1;
        let mut bad = ok[..ok.len() - 2].to_vec();
        bad.extend_from_slice(b"X-Pad: 1\r\n\x01\r\n\r\n");
        for input in [&ok, &bad] {
            for cut in 0..=input.len() {
                let got = match parse_response(&input[..cut], key, limit) {
                    Ok(None) => parse_response(input, key, limit),
                    decided => decided,
                };
                assert_eq!(got, Err(HandshakeError::HeadTooLarge), "split at {cut}");
            }
        }
        assert_eq!(parse_response(&ok, key, ok.len()), Ok(Some(ok.len())));
    }

    /// xorshift64 for the property test.
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Random, mutated and truncated answers, and valid ones with random extra headers: the
    /// shared invariants hold (`crate::invariants::ws_handshake`: an accepted head fits the
    /// input and the limit; every strict prefix of it is incomplete; a decision taken on a
    /// prefix is the decision on the whole).
    #[test]
    fn random_mutated_and_valid_answers_keep_the_invariants() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let mut x = 0x4A4D_5348_414B_4531u64;
        for i in 0..600 {
            let extra: Vec<String> =
                (0..next(&mut x) % 5).map(|h| format!("X-{h}: {}", "v".repeat((next(&mut x) % 40) as usize))).collect();
            let valid = crate::invariants::handshake_answer(key, &extra);
            let mut input = match i % 3 {
                0 => (0..next(&mut x) % 200).map(|_| next(&mut x) as u8).collect(),
                _ => valid.clone(),
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
            if i % 3 == 2 && input == valid {
                input.extend_from_slice(b"\x81\x02hi");
                assert_eq!(parse_response(&input, key, 4096), Ok(Some(valid.len())), "a valid answer is accepted");
            }
            let limit = if i % 2 == 0 { 4096 } else { 64 + (next(&mut x) % 256) as usize };
            let cut = (next(&mut x) as usize) % (input.len() + 1);
            crate::invariants::ws_handshake(&input, key, limit, &[cut]);
        }
    }

    #[test]
    fn the_request_is_an_upgrade() {
        let r = String::from_utf8(encode_request("h:1", "/ws/echo", "k==", &[("X-A".into(), "1".into())], &[])).unwrap();
        assert!(r.starts_with("GET /ws/echo HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\n"), "{r}");
        assert!(r.ends_with("X-A: 1\r\n\r\n"));
        assert!(!r.contains("Sec-WebSocket-Protocol"), "{r}");
        let offered = ["binary".to_string(), "v2.asr".to_string()];
        let r = String::from_utf8(encode_request("h", "/", "k==", &[], &offered)).unwrap();
        assert!(r.contains("\r\nSec-WebSocket-Protocol: binary, v2.asr\r\n"), "{r}");
    }

    /// §4.1 step 6: a subprotocol answered must be one offered; none answered is accepted.
    #[test]
    fn the_answered_subprotocol_is_checked() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let offered = ["binary".to_string(), "v2".to_string()];
        let with = |extra: &[&str]| {
            let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            crate::invariants::handshake_answer(key, &extra)
        };
        type Case<'a> = (&'a [&'a str], &'a [String], Result<Option<usize>, HandshakeError>);
        let cases: &[Case] = &[
            (&[], &offered, Ok(None)),
            (&[], &[], Ok(None)),
            (&["Sec-WebSocket-Protocol: binary"], &offered, Ok(Some(0))),
            (&["sec-websocket-protocol:  v2 "], &offered, Ok(Some(1))),
            (&["Sec-WebSocket-Protocol: chat"], &offered, Err(HandshakeError::UnofferedProtocol)),
            (&["Sec-WebSocket-Protocol: binary"], &[], Err(HandshakeError::UnofferedProtocol)),
            (&["Sec-WebSocket-Protocol: Binary"], &offered, Err(HandshakeError::UnofferedProtocol)),
            (&["Sec-WebSocket-Protocol: binary, v2"], &offered, Err(HandshakeError::UnofferedProtocol)),
            (&["Sec-WebSocket-Protocol: binary", "Sec-WebSocket-Protocol: v2"], &offered, Err(HandshakeError::UnofferedProtocol)),
        ];
        for (extra, offered, want) in cases {
            let answer = with(extra);
            let got = parse_answer(&answer, key, 4096, offered).map(|a| a.map(|a| a.protocol));
            let want = (*want).map(Some);
            assert_eq!(got, want, "{extra:?} offered {offered:?}");
            // Byte by byte: incomplete until the whole head is there.
            for cut in 0..answer.len() {
                assert_eq!(parse_answer(&answer[..cut], key, 4096, offered), Ok(None), "{extra:?} prefix {cut}");
            }
        }
        assert!(is_protocol_token("binary") && is_protocol_token("v2.asr-x_1"));
        for bad in ["", "a b", "a,b", "a\r\n", "é", "a;b"] {
            assert!(!is_protocol_token(bad), "{bad:?}");
        }
    }
}
