//! Invariants every decoder keeps on any input, checked by the seeded property tests
//! (`cargo test`) and by the fuzz targets under `tests/fuzz/` (feature `fuzzing`).
//!
//! Owns: one checker per decoder — the HTTP response parser, the WebSocket frame decoder and
//! opening-handshake check, the WAV reader, the threshold rule parser. A checker takes any bytes,
//! runs the decoder the ways a caller can (whole, split where the caller says, byte prefixes),
//! and panics with a message naming the broken invariant: consumed ≤ input, a completion is
//! the same however the bytes are split, every strict prefix of a complete message is partial
//! (never an error, never complete), errors are sticky as more bytes arrive, encoders round-trip.
//! Never compiled into the binary: only under `cfg(test)` or the `fuzzing` feature.

use crate::audio::{parse_wav, Audio, WavError};
use crate::proto::http::request::parse_request;
use crate::proto::http::response::{Eof, Limits, ParseError, Progress, Response, ResponseParser};
use crate::proto::ws::frame::{
    apply_mask, apply_mask_simple, decode_header, encode_frame, DecodeError, Decoder, Event, FrameError, FrameHeader, Opcode, Role,
};
use crate::proto::ws::handshake::{parse_response, server_response, HandshakeError};
use crate::thresholds::{self, Metric, Threshold};

/// Prefix checks are exhaustive up to this many bytes, sampled beyond (keeps each check O(n)).
const EXHAUSTIVE: usize = 512;

/// Cut points below `len`: all of them for short messages, else 64 spread evenly plus `extra`.
fn prefix_cuts(len: usize, extra: &[usize]) -> Vec<usize> {
    if len <= EXHAUSTIVE {
        return (0..len).collect();
    }
    let mut cuts: Vec<usize> = (0..64).map(|i| i * len / 64).chain([len - 1, len.saturating_sub(2)]).collect();
    cuts.extend(extra.iter().filter(|c| **c < len));
    cuts
}

/// Splits `input` at the (sorted, clamped) cut points into pieces.
fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::with_capacity(at.len() + 1);
    let mut start = 0;
    for c in at {
        out.push(&input[start..c]);
        start = c;
    }
    out.push(&input[start..]);
    out
}

// ---------------------------------------------------------------------------------------------
// HTTP responses

/// How a fed HTTP stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpEnd {
    /// Everything fed, then EOF: what `eof()` said (a close-delimited completion is in the list).
    Eof(Eof),
    Error(ParseError),
}

/// Feeds `pieces` in order as a connection does (bytes not consumed are fed again with the
/// next piece), then EOF. Checks the per-call invariants on the way.
pub fn http_drive(limits: Limits, pieces: &[&[u8]], head_request: bool) -> (Vec<Response>, HttpEnd) {
    let mut p = ResponseParser::new(limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match p.feed(&buf, head_request) {
                Ok(Progress::Complete { consumed, response }) => {
                    assert!(consumed <= buf.len(), "complete: consumed {consumed} of {} bytes", buf.len());
                    assert!(consumed > 0, "a response completed from no bytes");
                    check_response(&response);
                    assert!(p.is_idle(), "the parser is idle after a completion");
                    out.push(response);
                    buf.drain(..consumed);
                }
                Ok(Progress::Partial { consumed }) => {
                    assert!(consumed <= buf.len(), "partial: consumed {consumed} of {} bytes", buf.len());
                    buf.drain(..consumed);
                    break;
                }
                Err(e) => return (out, HttpEnd::Error(e)),
            }
        }
    }
    let end = match p.eof() {
        Eof::Complete(r) => {
            check_response(&r);
            assert!(!r.keep_alive, "a close-delimited response cannot keep the connection");
            out.push(r);
            HttpEnd::Eof(Eof::Idle)
        }
        other => HttpEnd::Eof(other),
    };
    assert!(p.is_idle(), "eof resets the parser");
    (out, end)
}

fn check_response(r: &Response) {
    assert!((100..=999).contains(&r.status), "status {}", r.status);
    assert!(r.status == 101 || !(100..200).contains(&r.status), "an interim {} came out as a response", r.status);
    assert!(r.head_len >= 12, "head of {} bytes", r.head_len);
    if r.status == 101 {
        assert!(!r.keep_alive && r.body_len == 0, "101 ends the HTTP exchange: {r:?}");
    }
}

/// Every HTTP-response invariant on `input`, for both values of `head_request`: the same
/// responses and the same ending whether fed whole, split at `cuts`, or in 7-byte pieces; every
/// strict prefix of the first completed response is partial; that response re-fed alone
/// completes identically.
pub fn http_response(input: &[u8], limits: Limits, cuts: &[usize]) {
    for head_request in [false, true] {
        let whole = http_drive(limits, &[input], head_request);
        let split = http_drive(limits, &pieces(input, cuts), head_request);
        assert_eq!(whole, split, "whole vs split at {cuts:?} (head_request {head_request})");
        if input.len() <= 1024 {
            let small: Vec<&[u8]> = input.chunks(7).collect();
            assert_eq!(whole, http_drive(limits, &small, head_request), "whole vs 7-byte pieces (head_request {head_request})");
        }
        // The first response that completed without EOF: its bytes, fed alone, complete the
        // same way, and every strict prefix of them is partial.
        let mut p = ResponseParser::new(limits);
        let Ok(Progress::Complete { consumed: end, response }) = p.feed(input, head_request) else { continue };
        let mut fresh = ResponseParser::new(limits);
        assert_eq!(
            fresh.feed(&input[..end], head_request),
            Ok(Progress::Complete { consumed: end, response }),
            "the first response re-fed alone (head_request {head_request})"
        );
        for cut in prefix_cuts(end, cuts) {
            let mut p = ResponseParser::new(limits);
            match p.feed(&input[..cut], head_request) {
                Ok(Progress::Partial { consumed }) => assert!(consumed <= cut),
                other => panic!("prefix of {cut} of a {end}-byte response: {other:?} (head_request {head_request})"),
            }
            assert!(matches!(p.eof(), Eof::Idle | Eof::Truncated), "EOF after a prefix completed a response");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP requests (the embedded server's parser)

/// Every request-parser invariant on `input`: a parsed request fits the input and the limits,
/// its ranges lie inside it, it re-parses alone to the same, and every strict prefix of it is
/// incomplete; any decision the server takes on a prefix (it parses after every read) is the
/// decision on the whole input.
pub fn http_request(input: &[u8], max_head: usize, max_body: usize, cuts: &[usize]) {
    let whole = parse_request(input, max_head, max_body);
    match &whole {
        Ok(Some(r)) => {
            let n = r.consumed;
            assert!(n <= input.len() && n <= max_head + max_body, "consumed {n} of {} (limits {max_head} + {max_body})", input.len());
            assert!(r.body.end == n && r.body.start <= n && r.body.start <= max_head, "body {:?} of {n}", r.body);
            assert!(r.body.len() <= max_body, "body of {} over {max_body}", r.body.len());
            assert!(r.path.end <= r.body.start && !r.path.is_empty(), "path {:?}, head {}", r.path, r.body.start);
            if let Some(k) = &r.ws_key {
                assert!(k.end <= r.body.start, "key {k:?} outside the head");
            }
            assert_eq!(parse_request(&input[..n], max_head, max_body).as_ref(), Ok(&Some(r.clone())), "the request re-parsed alone");
            for cut in prefix_cuts(n, cuts) {
                assert_eq!(parse_request(&input[..cut], max_head, max_body), Ok(None), "prefix {cut} of a {n}-byte request");
            }
        }
        Ok(None) => assert!(input.len() <= max_head + max_body, "{} bytes incomplete", input.len()),
        Err(_) => {}
    }
    let cuts = if input.len() <= 256 { (0..input.len()).collect() } else { prefix_cuts(input.len(), cuts) };
    for cut in cuts {
        let early = parse_request(&input[..cut], max_head, max_body);
        assert!(early == Ok(None) || early == whole, "decided {early:?} after {cut} bytes but {whole:?} on all {}", input.len());
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket frames

/// A decoded event, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsEvent {
    Message(Opcode, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

fn own(ev: Event<'_>) -> WsEvent {
    match ev {
        Event::Message { opcode, payload } => WsEvent::Message(opcode, payload.to_vec()),
        Event::Ping(p) => WsEvent::Ping(p.to_vec()),
        Event::Pong(p) => WsEvent::Pong(p.to_vec()),
        Event::Close { code, reason } => WsEvent::Close(code, reason.to_string()),
    }
}

/// Feeds `pieces` through a caller buffer; the events, the first error, and the bytes consumed.
pub fn ws_drive(role: Role, max_frame: u64, max_message: usize, pieces: &[&[u8]]) -> (Vec<WsEvent>, Option<DecodeError>, usize) {
    let mut d = Decoder::new(role, max_frame, max_message);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut used = 0;
    for p in pieces {
        buf.extend_from_slice(p);
        loop {
            match d.decode(&buf) {
                Ok((0, ev)) => {
                    assert!(ev.is_none(), "an event from no bytes");
                    break;
                }
                Ok((n, ev)) => {
                    assert!(n <= buf.len(), "consumed {n} of {} bytes", buf.len());
                    assert!(n >= 2, "a frame of {n} bytes");
                    if let Some(ev) = ev {
                        let ev = own(ev);
                        check_event(&ev, max_message);
                        out.push(ev);
                    }
                    buf.drain(..n);
                    used += n;
                }
                Err(e) => return (out, Some(e), used),
            }
        }
    }
    (out, None, used)
}

fn check_event(ev: &WsEvent, max_message: usize) {
    match ev {
        WsEvent::Message(op, payload) => {
            assert!(matches!(op, Opcode::Text | Opcode::Binary), "message with opcode {op:?}");
            assert!(payload.len() <= max_message, "message of {} bytes over the {max_message} limit", payload.len());
            if *op == Opcode::Text {
                assert!(std::str::from_utf8(payload).is_ok(), "a text message that is not UTF-8");
            }
        }
        WsEvent::Ping(p) | WsEvent::Pong(p) => assert!(p.len() <= 125, "control payload of {}", p.len()),
        WsEvent::Close(code, reason) => {
            assert!(reason.len() <= 123, "close reason of {}", reason.len());
            if let Some(c) = code {
                assert!((1000..5000).contains(c), "close code {c}");
            }
        }
    }
}

/// Every frame-codec invariant on `input`: the header decoder (sticky errors, partial prefixes,
/// re-encoding), the message decoder fed whole, split at `cuts` and byte by byte (same events,
/// same error), partial prefixes of the first frame, and the mask and encoder round trips.
pub fn ws_frames(input: &[u8], role: Role, max_frame: u64, max_message: usize, cuts: &[usize]) {
    // Header decoder.
    let header = decode_header(input, role, max_frame);
    match header {
        Ok(Some((h, n))) => {
            assert!(n <= input.len() && [2, 4, 6, 8, 10, 14].contains(&n), "header of {n} bytes");
            check_header(&h, role, max_frame);
            let mut again = Vec::new();
            h.encode(&mut again);
            assert_eq!(again.len(), h.encoded_len());
            assert!(again.len() <= n, "the minimal encoding is not longer than the one read");
            assert_eq!(decode_header(&again, role, max_frame), Ok(Some((h, again.len()))), "header re-encoded");
            for cut in 0..n {
                assert_eq!(decode_header(&input[..cut], role, max_frame), Ok(None), "header prefix of {cut} of {n}");
            }
        }
        Ok(None) => {
            for cut in 0..input.len() {
                assert_eq!(decode_header(&input[..cut], role, max_frame), Ok(None), "prefix of an incomplete header");
            }
        }
        Err(e) => {
            let mut longer = input.to_vec();
            longer.extend_from_slice(&[0xA5; 16]);
            assert_eq!(decode_header(&longer, role, max_frame), Err(e), "a header error is sticky as bytes arrive");
            for cut in 0..input.len().min(16) {
                let r = decode_header(&input[..cut], role, max_frame);
                assert!(r == Ok(None) || r == Err(e), "prefix {cut}: {r:?} vs {e:?}");
            }
        }
    }
    // Message decoder.
    let whole = ws_drive(role, max_frame, max_message, &[input]);
    assert_eq!(whole, ws_drive(role, max_frame, max_message, &pieces(input, cuts)), "whole vs split at {cuts:?}");
    if input.len() <= 2048 {
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(whole, ws_drive(role, max_frame, max_message, &bytes), "whole vs byte by byte");
    }
    let mut d = Decoder::new(role, max_frame, max_message);
    if let Ok((n, _)) = d.decode(input) {
        if n > 0 {
            for cut in prefix_cuts(n, cuts) {
                let mut fresh = Decoder::new(role, max_frame, max_message);
                assert_eq!(fresh.decode(&input[..cut]).map(|(n, ev)| (n, ev.is_some())), Ok((0, false)), "frame prefix {cut} of {n}");
            }
        }
    }
    // Masking and encoding round trips on the same bytes.
    let key = [input.first().copied().unwrap_or(1), input.get(1).copied().unwrap_or(2), 0x5A, 0xC3];
    for offset in 0..4 {
        let (mut a, mut b) = (input.to_vec(), input.to_vec());
        apply_mask(&mut a, key, offset);
        apply_mask_simple(&mut b, key, offset);
        assert_eq!(a, b, "fast mask vs simple at offset {offset}");
    }
    let (mask, peer) = match role {
        Role::Server => (Some(key), Role::Server),
        Role::Client => (None, Role::Client),
    };
    let mut framed = Vec::new();
    encode_frame(&mut framed, true, Opcode::Binary, mask, input);
    let got = ws_drive(peer, u64::MAX >> 1, usize::MAX, &[&framed]);
    assert_eq!(got, (vec![WsEvent::Message(Opcode::Binary, input.to_vec())], None, framed.len()), "encode then decode");
}

fn check_header(h: &FrameHeader, role: Role, max_frame: u64) {
    assert!(h.payload_len <= max_frame && h.payload_len >> 63 == 0, "payload length {}", h.payload_len);
    assert_eq!(h.mask.is_some(), role == Role::Server, "mask presence for {role:?}");
    if h.opcode.is_control() {
        assert!(h.fin && h.payload_len <= 125, "control frame {h:?}");
    }
}

/// The frame errors a valid stream can never produce (for tests that build valid streams).
pub fn is_frame_error(e: &DecodeError) -> bool {
    matches!(e, DecodeError::Frame(FrameError::ReservedBits | FrameError::BadOpcode))
}

// ---------------------------------------------------------------------------------------------
// WebSocket opening handshake

/// Every handshake-check invariant on `input`: an accepted head is at most `input` and
/// `max_head`, and re-checked alone gives the same; every strict prefix of it is incomplete;
/// any decision taken on a prefix (the caller checks after every read) is the decision on the
/// whole input.
pub fn ws_handshake(input: &[u8], key: &str, max_head: usize, cuts: &[usize]) {
    let whole = parse_response(input, key, max_head);
    match whole {
        Ok(Some(n)) => {
            assert!(n <= input.len() && n <= max_head, "accepted a head of {n} bytes (input {}, limit {max_head})", input.len());
            assert_eq!(parse_response(&input[..n], key, max_head), Ok(Some(n)), "the head re-checked alone");
            for cut in prefix_cuts(n, cuts) {
                assert_eq!(parse_response(&input[..cut], key, max_head), Ok(None), "prefix {cut} of an accepted {n}-byte head");
            }
        }
        Ok(None) => assert!(input.len() <= max_head, "{} bytes of incomplete head under a {max_head} limit", input.len()),
        Err(HandshakeError::NotSwitching(code)) => assert!(code != 101, "101 refused as not switching"),
        Err(_) => {}
    }
    let cuts = if input.len() <= 256 { (0..input.len()).collect() } else { prefix_cuts(input.len(), cuts) };
    for cut in cuts {
        let early = parse_response(&input[..cut], key, max_head);
        assert!(early == Ok(None) || early == whole, "decided {early:?} after {cut} bytes but {whole:?} on all {}", input.len());
    }
}

/// A valid 101 answer for `key`, with `extra` header lines ("Name: value") before the end.
pub fn handshake_answer(key: &str, extra: &[String]) -> Vec<u8> {
    let base = server_response(key);
    let mut out = base[..base.len() - 2].to_vec();
    for h in extra {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

// ---------------------------------------------------------------------------------------------
// WAV

/// Every WAV-reader invariant on `input`: what parses is streamable (rate, channels, whole
/// frames, fits in the file), re-encodes and re-parses to the same audio, every strict prefix of
/// that encoding is truncated, the chunking covers the audio once; every error has a fix.
pub fn wav(input: &[u8]) {
    match parse_wav(input) {
        Ok(a) => {
            check_audio(&a);
            assert!(a.pcm.len() + 44 <= input.len(), "{} PCM bytes out of a {}-byte file", a.pcm.len(), input.len());
            wav_round_trip(&a);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("ffmpeg"), "the message gives no conversion command: {msg}");
        }
    }
}

fn check_audio(a: &Audio) {
    assert!(a.sample_rate > 0, "rate 0");
    assert!((1..=2).contains(&a.channels), "{} channels", a.channels);
    let frame = usize::from(a.channels) * 2;
    assert!(!a.pcm.is_empty() && a.pcm.len() % frame == 0, "{} PCM bytes, {frame}-byte frames", a.pcm.len());
    let bps = u128::from(a.bytes_per_second());
    assert_eq!(u128::from(a.duration_ms()), a.pcm.len() as u128 * 1000 / bps);
    for ms in [1, 20, 333, 10_000] {
        let step = a.chunk_bytes(ms);
        assert!(step > 0 && step % frame == 0, "chunk of {step} bytes at {ms} ms");
        let mut next = 0;
        for r in a.chunks(ms) {
            assert_eq!(r.start, next, "chunks are contiguous");
            assert!(!r.is_empty() && r.len() <= step && r.len() % frame == 0, "chunk {r:?} of step {step}");
            next = r.end;
        }
        assert_eq!(next, a.pcm.len(), "chunks cover the audio");
    }
}

/// `a` re-encoded parses to itself; every strict prefix of the encoding is an error (truncated
/// once there is a byte).
pub fn wav_round_trip(a: &Audio) {
    let w = a.to_wav();
    assert_eq!(parse_wav(&w).as_ref(), Ok(a), "to_wav then parse_wav");
    for cut in prefix_cuts(w.len(), &[]) {
        let want = if cut == 0 { WavError::Empty } else { WavError::Truncated };
        assert_eq!(parse_wav(&w[..cut]).err(), Some(want), "prefix of {cut} of a {}-byte WAV", w.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Threshold rules

/// Every threshold-parser invariant on `expr`: what parses has a finite, non-negative limit,
/// is idempotent (its own `expr` parses to itself), and survives a canonical re-rendering; every
/// refusal quotes the rule; judging and rendering never fail.
pub fn threshold(expr: &str) {
    match thresholds::parse(expr) {
        Ok(t) => {
            assert!(t.limit.is_finite() && t.limit >= 0.0, "limit {}", t.limit);
            assert_eq!(t.expr, expr.trim());
            assert_eq!(thresholds::parse(&t.expr).as_ref(), Ok(&t), "re-parsing its own text");
            let canon = canonical(&t);
            let again = thresholds::parse(&canon).unwrap_or_else(|e| panic!("canonical form {canon:?} of {expr:?} refused: {e}"));
            assert_eq!((again.metric, again.op), (t.metric, t.op), "{canon:?}");
            let tol = 1e-6 + 1e-9 * t.limit;
            assert!((again.limit - t.limit).abs() <= tol, "{canon:?}: limit {} became {}", t.limit, again.limit);
            let r = crate::stats::report::RunResult::new(empty_meta(), crate::stats::Shard::new());
            let v = thresholds::judge(std::slice::from_ref(&t), &r);
            assert_eq!(v.len(), 1);
            let text = thresholds::render(std::slice::from_ref(&t), &v);
            assert!(text.contains(&t.expr));
            assert_eq!(thresholds::to_json(&v).as_array().map(Vec::len), Some(1));
        }
        Err(e) => assert!(e.starts_with(&format!("'{expr}'")), "the refusal does not quote the rule: {e}"),
    }
    // The unit parsers it builds on never panic either, and what they accept is in range.
    if let Ok(n) = crate::units::parse_count(expr) {
        assert_eq!(crate::units::parse_count(&n.to_string()), Ok(n));
    }
    let _ = crate::units::parse_size(expr);
    if let Ok(d) = crate::units::parse_duration(expr) {
        assert!(d.as_secs_f64() <= 1e9 + 1.0);
    }
}

fn canonical(t: &Threshold) -> String {
    let name = match t.metric {
        Metric::Latency(q) => match (q * 1000.0).round() as u32 {
            500 => "p50".into(),
            900 => "p90".into(),
            950 => "p95".into(),
            990 => "p99".into(),
            999 => "p999".into(),
            1000 => "max".into(),
            other => panic!("a latency threshold at quantile {other}/1000"),
        },
        Metric::Fanout(q) => match (q * 1000.0).round() as u32 {
            500 => "fanout.p50".into(),
            900 => "fanout.p90".into(),
            950 => "fanout.p95".into(),
            990 => "fanout.p99".into(),
            999 => "fanout.p999".into(),
            1000 => "fanout.max".into(),
            other => panic!("a fan-out threshold at quantile {other}/1000"),
        },
        Metric::Delivered => "delivered".into(),
        Metric::MeanLatency => "mean".into(),
        Metric::ErrorRate => "errors".into(),
        Metric::Rate => "rps".into(),
        Metric::StatusShare(c) => format!("status_{c}"),
        Metric::Checks => "checks".into(),
        Metric::ConnectSuccess => "connect_ok".into(),
        Metric::Throttled => "throttled".into(),
        Metric::TargetCpu => "target_cpu".into(),
        Metric::TargetRss => "target_rss".into(),
    };
    let (op, value) = (t.op.symbol(), format!("{}{}", t.limit, t.metric.unit().written()));
    format!("{name} {op} {value}")
}

fn empty_meta() -> crate::stats::report::RunMeta {
    crate::stats::report::RunMeta {
        scenario: "http".into(),
        threads: 1,
        connections: 1,
        pipeline: 1,
        duration_s: 1.0,
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Load plans

/// Every plan-parser invariant on `text`: a refusal that names a line names one of the text's;
/// an accepted plan is runnable (stages with positive durations, finite non-negative levels,
/// whole counts unless a rate, one drive, streams exactly for asr), and its staged form is
/// consistent: contiguous stage bounds that add up to the total, the stage found at each
/// boundary, levels within each stage's range, a non-decreasing integral, a share that keeps
/// the time line.
pub fn plan(text: &str) {
    use crate::plan::{Drive, Shape};
    let p = match crate::plan::parse(text) {
        Err(e) => {
            assert!(!e.is_empty());
            if let Some(rest) = e.strip_prefix("line ") {
                let n: usize = rest.split(':').next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("not 'line N:': {e}"));
                assert!(n >= 1 && n <= text.lines().count() + 1, "line {n} of a {}-line plan: {e}", text.lines().count());
            }
            return;
        }
        Ok(p) => p,
    };
    assert!(matches!(p.scenario.as_str(), "http" | "ws" | "asr" | "raw"), "scenario {}", p.scenario);
    assert!(!p.stages.is_empty());
    assert_eq!(p.scenario == "asr", p.drive == Drive::Streams, "asr plans and only they drive streams");
    if p.drive == Drive::Rate {
        assert!(p.stages.iter().any(|s| s.from > 0.0 || s.to > 0.0), "a rate plan that sends nothing");
    }
    for s in &p.stages {
        assert!(!s.duration.is_zero(), "stage {} of 0 s", s.name);
        for v in [s.from, s.to] {
            assert!(v.is_finite() && v >= 0.0, "stage {} level {v}", s.name);
            assert!(s.drive == Drive::Rate || v.fract() == 0.0, "stage {} count {v}", s.name);
            assert!(p.drive == Drive::Mixed || s.drive == p.drive, "stage {} drives {:?} in a {:?} plan", s.name, s.drive, p.drive);
        }
        match s.shape {
            Shape::Step(n) => assert!((1..=1000).contains(&n), "{n} steps"),
            Shape::Spike { rise } => assert!(rise <= s.duration, "rise {rise:?} past the stage"),
            Shape::Constant => assert_eq!(s.from, s.to),
            Shape::Ramp => {}
        }
        assert!(s.message.is_none() || p.scenario == "raw", "stage {}: a message outside raw", s.name);
        assert!(s.request.is_none() || p.scenario == "http", "stage {}: a request outside http", s.name);
        let _ = s.describe(p.drive);
    }
    let argv = p.argv();
    assert_eq!((argv[0].as_str(), argv[1].as_str()), (p.scenario.as_str(), p.url.as_str()));
    let staged = p.staged();
    let total: u128 = p.stages.iter().map(|s| s.duration.as_nanos()).sum();
    assert_eq!(u128::from(staged.profile.total_ns()), total, "profile length vs the stages");
    assert_eq!(staged.total().as_nanos(), total);
    let mut at = 0u64;
    for (i, ((name, start, end), s)) in staged.bounds.iter().zip(&p.stages).enumerate() {
        assert_eq!((name, *start), (&s.name, at), "stage {i} starts where the previous one ends");
        assert_eq!(u128::from(end - start), s.duration.as_nanos(), "stage {i} bounds vs its duration");
        assert_eq!(staged.stage_at(*start), i, "the stage at its own start");
        let (lo, hi) = (s.from.min(s.to), s.from.max(s.to));
        let mut last = staged.profile.integral_to(*start);
        for t in [*start, start + (end - start) / 3, start + (end - start) / 2, end - 1] {
            let level = staged.profile.level_at(t);
            let eps = 1e-9 * hi.max(1.0);
            assert!(level >= lo - eps && level <= hi + eps, "stage {i} level {level} at {t} outside {lo}..={hi}");
            let integral = staged.profile.integral_to(t);
            assert!(integral >= last - 1e-6 * last.abs().max(1.0), "the integral decreased at {t}: {last} -> {integral}");
            last = integral;
        }
        at = *end;
    }
    assert_eq!(staged.stage_at(at), p.stages.len() - 1, "past the end: the last stage");
    let half = staged.share(2);
    assert_eq!(half.profile.total_ns(), staged.profile.total_ns(), "a share keeps the time line");
    assert!(half.profile.peak() <= staged.profile.peak() / 2.0 * (1.0 + 1e-12) + 1e-300, "a share halves the peak");
}

// ---------------------------------------------------------------------------------------------
// Fuzzer input layout

/// Control bytes at the front of a fuzz input: read as needed, 0 once exhausted.
pub struct Control<'a> {
    bytes: &'a [u8],
}

impl<'a> Control<'a> {
    /// Splits `data` into `n` control bytes and the payload.
    pub fn split(data: &'a [u8], n: usize) -> (Control<'a>, &'a [u8]) {
        let n = n.min(data.len());
        (Control { bytes: &data[..n] }, &data[n..])
    }

    pub fn byte(&mut self) -> u8 {
        let Some((first, rest)) = self.bytes.split_first() else { return 0 };
        self.bytes = rest;
        *first
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
}
