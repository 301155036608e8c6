//! The embedded mock speech recogniser at `/asr`, speaking the vosk WebSocket protocol:
//! `{"config": {"sample_rate": R}}`, binary 16-bit PCM, `{"eof" : 1}`. As vosk-server it answers
//! every audio message (`{"partial"}`, a new word every `partial_ms` of audio; `{"text",
//! "result"}` with the word's end time when speech is followed by 500 ms of silence) and, after the end
//! of audio, the final result once a processing cost of `rtf` × audio length has passed, then
//! closes (1000); it pings every second of audio and closes with 1011 when the pong has not come
//! by the next — so gateway capacity and recogniser
//! latency can be reproduced. Over `max_sessions` it closes with 1013 (try again later).
//! At `/asr/funasr/FLAVOUR` it speaks FunASR's protocol instead ([`funasr`]).

mod funasr;

pub use funasr::Flavour;

use std::sync::atomic::Ordering;
use std::time::Duration;

use monoio::io::AsyncWriteRentExt;

use super::{ServerConn, Shared};
use crate::net::Loan;
use crate::proto::ws::frame::{close_payload, encode_frame, Decoder, Event, Opcode, Role};

const MAX_FRAME: u64 = 1 << 20;
/// What a session borrows for a read or its answers (audio messages are a few KiB); between
/// messages it holds no buffer.
pub(super) const LEND: usize = 4 * super::LEND;

/// Counts a session against `max_sessions`; uncounts it on drop.
struct SessionGuard<'a>(&'a Shared);

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.0.asr_sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Audio bytes in `ms` milliseconds at `rate` (16-bit mono).
fn bytes_for(ms: u64, rate: u64) -> u64 {
    (rate * 2 * ms / 1000).max(2)
}

/// One `/asr` session: vosk's protocol, or FunASR's in `funasr` flavour.
pub(crate) async fn session<S: ServerConn>(mut stream: S, mut rbuf: Loan<'_>, shared: &Shared, funasr: Option<Flavour>) {
    let now_open = shared.asr_sessions.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = SessionGuard(shared);
    let mock = shared.asr;
    let mut wbuf = Loan::new(rbuf.lender());
    wbuf.lend(LEND);
    if mock.max_sessions.is_some_and(|m| now_open > m) {
        encode_frame(&mut wbuf, true, Opcode::Close, None, &close_payload(1013, "try again later"));
        let _ = stream.write_all(std::mem::take(&mut *wbuf)).await;
        linger(stream, std::mem::take(&mut *rbuf)).await;
        return;
    }
    if let Some(flavour) = funasr {
        return funasr::session(stream, rbuf, mock, flavour).await;
    }
    let mut dec = Decoder::new(Role::Server, MAX_FRAME, MAX_FRAME as usize);
    let mut rate: u64 = 16_000;
    let mut audio: u64 = 0;
    let mut next_partial = bytes_for(u64::from(mock.partial_ms), rate);
    let mut partials = 0u64;
    let mut pause = Pause::default();
    // Keepalive as websockets' (vosk-server keeps its defaults), counted in audio received: a
    // ping every `KEEPALIVE_MS` of audio; unanswered when the next is due: close 1011.
    let mut next_ping = bytes_for(KEEPALIVE_MS, rate);
    let mut ping_out = false;
    loop {
        let mut pos = 0;
        let mut eof = false;
        loop {
            match dec.decode(&rbuf[pos..]) {
                Ok((0, _)) => break,
                Ok((n, ev)) => {
                    pos += n;
                    match ev {
                        Some(Event::Message { opcode: Opcode::Text, payload }) => {
                            let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
                            if let Some(r) = v.pointer("/config/sample_rate").and_then(|r| r.as_f64()) {
                                rate = (r as u64).clamp(1000, 384_000);
                                next_partial = bytes_for(u64::from(mock.partial_ms), rate);
                                next_ping = bytes_for(KEEPALIVE_MS, rate);
                            }
                            eof |= v.get("eof").is_some();
                        }
                        Some(Event::Message { payload, .. }) => {
                            audio += payload.len() as u64;
                            if audio >= next_ping {
                                if ping_out {
                                    encode_frame(&mut wbuf, true, Opcode::Close, None, &close_payload(1011, "keepalive ping timeout"));
                                    let (res, b) = stream.write_all(std::mem::take(&mut *wbuf)).await;
                                    if res.is_ok() {
                                        linger(stream, b).await;
                                    }
                                    return;
                                }
                                encode_frame(&mut wbuf, true, Opcode::Ping, None, b"keepalive");
                                (ping_out, next_ping) = (true, next_ping + bytes_for(KEEPALIVE_MS, rate));
                            }
                            while audio >= next_partial {
                                partials += 1;
                                next_partial += bytes_for(u64::from(mock.partial_ms), rate);
                            }
                            // As vosk-server: exactly one answer per audio message; a result
                            // (a segment) when an utterance ends in silence.
                            let msg = match pause.feed(payload, audio, rate) {
                                Some(end_s) => format!("{{\"result\" : [{{\"conf\" : 1.0, \"end\" : {end_s:.3}, \"word\" : \"word{partials}\"}}], \"text\" : \"word{partials}\"}}"),
                                None if partials == 0 => "{\"partial\" : \"\"}".to_string(),
                                None => format!("{{\"partial\" : \"word{partials}\"}}"),
                            };
                            encode_frame(&mut wbuf, true, Opcode::Text, None, msg.as_bytes());
                        }
                        Some(Event::Ping(p)) => encode_frame(&mut wbuf, true, Opcode::Pong, None, p),
                        Some(Event::Pong(_)) => ping_out = false,
                        None => {}
                        Some(Event::Close { code, .. }) => {
                            super::ws::close_with(&mut stream, std::mem::take(&mut *wbuf), code.unwrap_or(1000)).await;
                            return;
                        }
                    }
                }
                Err(_) => {
                    super::ws::close_with(&mut stream, std::mem::take(&mut *wbuf), 1002).await;
                    return;
                }
            }
        }
        rbuf.drain(..pos);
        if !super::flush(&mut stream, &mut wbuf).await {
            return;
        }
        if eof {
            let audio_ms = audio * 1000 / (rate * 2);
            monoio::time::sleep(Duration::from_secs_f64(audio_ms as f64 / 1000.0 * mock.rtf)).await;
            let msg = format!("{{\"result\" : [], \"text\" : \"{partials} words in {audio_ms} ms of audio\"}}");
            encode_frame(&mut wbuf, true, Opcode::Text, None, msg.as_bytes());
            // As vosk-server: the handler returns after the eof's answer and the server closes.
            encode_frame(&mut wbuf, true, Opcode::Close, None, &close_payload(1000, ""));
            let (res, b) = stream.write_all(std::mem::take(&mut *wbuf)).await;
            if res.is_ok() {
                linger(stream, b).await;
            }
            return;
        }
        wbuf.settle();
        if !super::read_lent(&mut stream, &mut rbuf, LEND, super::ws::READ_MAX).await {
            return;
        }
        wbuf.lend(LEND);
    }
}

/// Audio between two keepalive pings.
const KEEPALIVE_MS: u64 = 1000;

/// Speech followed by [`PAUSE_MS`] of silence ends an utterance (as Kaldi's endpointing does).
const PAUSE_MS: u64 = 500;
/// A frame below this RMS (of full scale, 1/100) is silence.
const SILENCE_RMS_SQ: u64 = (32768 / 100) * (32768 / 100);

#[derive(Default)]
struct Pause {
    in_speech: bool,
    /// Audio bytes received when the current silence began.
    silence_from: u64,
}

impl Pause {
    /// One audio message (16-bit PCM), `total` bytes received with it: the end of the utterance
    /// in seconds of audio when this message completes a pause after speech.
    fn feed(&mut self, payload: &[u8], total: u64, rate: u64) -> Option<f64> {
        let n = (payload.len() / 2).max(1) as u64;
        let energy: u64 = payload.chunks_exact(2).map(|s| i64::from(i16::from_le_bytes([s[0], s[1]])).unsigned_abs().pow(2)).sum();
        if energy / n > SILENCE_RMS_SQ {
            self.in_speech = true;
            self.silence_from = total;
            return None;
        }
        if self.in_speech && total - self.silence_from >= bytes_for(PAUSE_MS, rate) {
            self.in_speech = false;
            return Some(self.silence_from as f64 / (rate * 2) as f64);
        }
        None
    }
}

/// After sending a close frame: stop writing, then read (and drop) what the client still sends
/// until it closes, for at most a second, so the client reads our close frame instead of a reset.
async fn linger<S: ServerConn>(mut stream: S, mut rbuf: Vec<u8>) {
    let _ = stream.shutdown().await;
    rbuf.reserve(1024); // a lent buffer's `Vec` may have been moved out
    let until = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        rbuf.clear();
        let left = until.saturating_duration_since(std::time::Instant::now());
        let Ok((Ok(1..), b)) = monoio::time::timeout(left, crate::net::read_more(&mut stream, rbuf)).await else {
            return; // the client closed, failed, or the second is over
        };
        rbuf = b;
    }
}
