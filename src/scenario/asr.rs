//! Real-time audio streaming to a speech-recognition (ASR) WebSocket server: `stampede asr`.
//!
//! One task per stream runs sessions back to back: connect, WebSocket handshake, the preset's
//! start message, then the audio in `chunk_ms` frames paced against absolute deadlines
//! (`session start + k × chunk / speed`, never "sleep a chunk after the last send", so lateness
//! does not accumulate), the end message, and the wait for the final transcript. A second task
//! per session reads the server's messages while frames go out: partials and the final.
//!
//! All frames of the audio are framed and masked once per run into one shared buffer; each
//! session writes slices of it. Measured per session: handshake, time to first partial (from the
//! first audio byte), final latency from the end of the audio (corrected: from when the last
//! frame was due; service: from when it was sent), real-time factor, and the send lag of every
//! frame (proof that pacing held).

use std::cell::Cell;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use monoio::io::AsyncWriteRentExt;

use crate::clock;
use crate::config::{AsrConfig, AsrPreset};
use crate::net::Backoff;
use crate::proto::ws::frame::{encode_frame, Decoder, Event, Opcode, Role};
use crate::proto::ws::handshake::{encode_request, parse_response};
use crate::scenario::exchange::{connect_stream, open_with, read_some, ReadOutcome};
use crate::scenario::{Scenario, WorkerCtx};
use crate::stats::ErrorClass;

/// Largest server message accepted (a final transcript with word timings can be long).
const MAX_SERVER_MESSAGE: usize = 1 << 20;
const READ_BUF: usize = 64 * 1024;

pub struct AsrScenario {
    cfg: AsrConfig,
    key: String,
    opening: &'static [u8],
    start: &'static [u8],
    end: &'static [u8],
    /// Every audio chunk as a masked binary frame, back to back.
    frames: &'static [u8],
    /// Where each frame lies in `frames`.
    spans: Vec<Range<usize>>,
    chunk_ns: u64,
    audio_ns: u64,
}

/// What the reader task saw during one session.
#[derive(Default)]
struct Seen {
    first_partial: Cell<Option<u64>>,
    partials: Cell<u64>,
    final_at: Cell<Option<u64>>,
    /// The final message, kept only with `--transcripts`.
    transcript: std::cell::RefCell<String>,
    failed: Cell<Option<ErrorClass>>,
}

impl Seen {
    /// Records why the session failed; the first cause wins.
    fn fail(&self, class: ErrorClass) {
        if self.failed.get().is_none() {
            self.failed.set(Some(class));
        }
    }
}

impl AsrScenario {
    pub fn new(cfg: AsrConfig, nonce: [u8; 16]) -> AsrScenario {
        let key = crate::proto::ws::handshake::client_key(nonce);
        let mask = [nonce[1], nonce[5], nonce[9], nonce[13]];
        let text = |s: &str| -> &'static [u8] {
            let mut f = Vec::with_capacity(s.len() + 14);
            encode_frame(&mut f, true, Opcode::Text, Some(mask), s.as_bytes());
            Box::leak(f.into_boxed_slice())
        };
        let (start, end) = cfg.preset.messages(cfg.audio.sample_rate, &cfg.target.path);
        let mut frames = Vec::with_capacity(cfg.audio.pcm.len() + 16 * cfg.audio.pcm.len() / cfg.audio.chunk_bytes(cfg.chunk_ms).max(1));
        let mut spans = Vec::new();
        for r in cfg.audio.chunks(cfg.chunk_ms) {
            let at = frames.len();
            encode_frame(&mut frames, true, Opcode::Binary, Some(mask), &cfg.audio.pcm[r]);
            spans.push(at..frames.len());
        }
        let speed = if cfg.speed > 0.0 { cfg.speed } else { f64::INFINITY };
        let chunk_ns = (f64::from(cfg.chunk_ms) * 1e6 / speed) as u64;
        let opening = encode_request(&cfg.target.host_header, &cfg.target.path, &key, &[]);
        AsrScenario {
            key,
            opening: Box::leak(opening.into_boxed_slice()),
            start: text(&start),
            end: text(&end),
            frames: Box::leak(frames.into_boxed_slice()),
            spans,
            chunk_ns,
            audio_ns: cfg.audio.duration_ms() * 1_000_000,
            cfg,
        }
    }

    /// One stream: sessions back to back until the run ends (one session unless `--loop`).
    async fn stream(&self, ctx: &Rc<WorkerCtx>, slot: u64) {
        if !ctx.ramp(slot, self.cfg.load.connect_rate).await {
            return;
        }
        let mut backoff = Backoff::new(clock::now_ns() ^ slot.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ctx.index as u64);
        loop {
            if ctx.finished(clock::now_ns()) || !ctx.wait_active(slot).await || ctx.claim(1) == 0 {
                return;
            }
            match self.session(ctx, &mut backoff).await {
                Some(true) => backoff.reset(),
                Some(false) => {
                    if !ctx.sleep_for(backoff.next_delay()).await {
                        return;
                    }
                }
                None => return,
            }
            // Under a plan that drives streams, an active slot starts session after session.
            if !self.cfg.loop_audio && ctx.slots.is_none() {
                return;
            }
        }
    }

    /// One session. `Some(completed)` when it ran to an end; `None` when the run ended first.
    async fn session(&self, ctx: &Rc<WorkerCtx>, backoff: &mut Backoff) -> Option<bool> {
        let stream = connect_stream(ctx, &self.cfg.target, &self.cfg.load, backoff).await?;
        let out = self.speak(ctx, stream).await;
        ctx.shard.borrow_mut().on_close();
        out
    }

    async fn speak(&self, ctx: &Rc<WorkerCtx>, mut stream: crate::net::Conn) -> Option<bool> {
        let mut rbuf = Vec::with_capacity(READ_BUF);
        let timeout = self.cfg.load.connect.timeout;
        match open_with(ctx, &mut stream, &mut rbuf, self.opening, timeout, |i| {
            parse_response(i, &self.key, 16 * 1024).map_err(|_| ErrorClass::Handshake)
        })
        .await
        {
            Ok(()) => {}
            Err(None) => return None,
            Err(Some(class)) => {
                ctx.shard.borrow_mut().on_connect_error(class);
                return Some(false);
            }
        }
        ctx.shard.borrow_mut().on_sent(1, (self.start.len() + self.frames.len() + self.end.len()) as u64);
        let begin = clock::now_ns();
        let session_ns = self.chunk_ns * self.spans.len() as u64;
        let give_up = begin + session_ns + self.cfg.load.timeout.as_nanos() as u64;
        let give_up = ctx.end_ns.map_or(give_up, |e| e.min(give_up));
        let seen = Rc::new(Seen::default());
        let (rd, mut wr) = stream.into_split();
        let keep = self.cfg.transcripts.is_some();
        let reader = monoio::spawn(read_messages(rd, rbuf, Rc::clone(&seen), self.cfg.preset.clone(), give_up, Rc::clone(ctx), keep));
        let (res, _) = wr.write_all(self.start).await;
        if let Err(e) = res {
            seen.fail(ErrorClass::from_io(&e));
        }
        let mut first_sent = None;
        let mut last = (begin, begin);
        for (k, span) in self.spans.iter().enumerate() {
            if seen.failed.get().is_some() || seen.final_at.get().is_some() {
                break;
            }
            let due = begin + self.chunk_ns * k as u64;
            if due > clock::now_ns() && !ctx.sleep_until(due).await {
                return None; // the run ended mid-session: the session stays in flight
            }
            let (res, _) = wr.write_all(&self.frames[span.clone()]).await;
            let sent = clock::now_ns();
            if let Err(e) = res {
                seen.fail(ErrorClass::from_io(&e));
                break;
            }
            ctx.shard.borrow_mut().on_frame(sent.saturating_sub(due));
            first_sent.get_or_insert(sent);
            last = (due, sent);
        }
        if seen.failed.get().is_none() {
            let (res, _) = wr.write_all(self.end).await;
            if let Err(e) = res {
                seen.fail(ErrorClass::from_io(&e));
            }
        }
        // The reader ends by `give_up` at the latest; dropping both halves closes the socket.
        let rd = reader.await;
        drop((rd, wr));
        let mut shard = ctx.shard.borrow_mut();
        match (seen.final_at.get(), seen.failed.get()) {
            (Some(done), _) => {
                let (due, sent) = last;
                shard.on_response(0, due, sent, done);
                let first = first_sent.unwrap_or(begin);
                if let Some(p) = seen.first_partial.get() {
                    shard.on_first_partial(p.saturating_sub(first));
                }
                shard.on_session(seen.partials.get(), done.saturating_sub(first), self.audio_ns);
                if keep {
                    let line = serde_json::json!({"worker": ctx.index, "final_ms": done.saturating_sub(due) as f64 / 1e6, "message": seen.transcript.take()});
                    ctx.notes.borrow_mut().push(line.to_string());
                }
                Some(true)
            }
            (None, _) if ctx.past_end(clock::now_ns()) || ctx.stop.get() => None,
            (None, Some(class)) => {
                shard.on_request_error(class, 1);
                Some(false)
            }
            (None, None) => {
                shard.on_request_error(ErrorClass::RequestTimeout, 1);
                Some(false)
            }
        }
    }
}

impl Scenario for AsrScenario {
    fn name(&self) -> &'static str {
        "asr"
    }

    fn target(&self) -> String {
        self.cfg.target.url.clone()
    }

    fn spawn_connection(self: &Arc<Self>, ctx: Rc<WorkerCtx>, slot: u64) {
        let me = Arc::clone(self);
        ctx.spawn_counted(move |ctx| async move { me.stream(ctx.rc(), slot).await });
    }
}

/// What a server message means under a preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Said {
    Partial,
    Final,
    Nothing,
}

impl AsrPreset {
    /// Classifies one text message from the server.
    pub fn classify(&self, text: &str) -> Said {
        match self {
            AsrPreset::Vosk => {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else { return Said::Nothing };
                if v.get("text").is_some() || v.get("result").is_some() {
                    Said::Final
                } else if v.get("partial").and_then(|p| p.as_str()).is_some_and(|p| !p.is_empty()) {
                    Said::Partial
                } else {
                    Said::Nothing
                }
            }
            AsrPreset::FunAsr => {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else { return Said::Nothing };
                if v.get("is_final").and_then(|f| f.as_bool()) == Some(true) {
                    Said::Final
                } else if v.get("text").and_then(|t| t.as_str()).is_some_and(|t| !t.is_empty()) {
                    Said::Partial
                } else {
                    Said::Nothing
                }
            }
            AsrPreset::Custom { final_match, .. } => {
                if text.contains(final_match.as_str()) {
                    Said::Final
                } else {
                    Said::Partial
                }
            }
        }
    }
}

/// Reads the server's messages until the final, a close, an error or `give_up`.
async fn read_messages<R: monoio::io::AsyncReadRent>(
    mut rd: R,
    mut rbuf: Vec<u8>,
    seen: Rc<Seen>,
    preset: AsrPreset,
    give_up: u64,
    ctx: Rc<WorkerCtx>,
    keep_transcript: bool,
) -> R {
    let mut dec = Decoder::new(Role::Client, MAX_SERVER_MESSAGE as u64, MAX_SERVER_MESSAGE);
    loop {
        loop {
            match dec.decode(&rbuf) {
                Ok((0, _)) => break,
                Ok((n, ev)) => {
                    let now = clock::now_ns();
                    let said = match ev {
                        Some(Event::Message { opcode: Opcode::Text, payload }) => {
                            preset.classify(std::str::from_utf8(payload).unwrap_or(""))
                        }
                        Some(Event::Close { code, .. }) => {
                            ctx.shard.borrow_mut().on_close_code(code);
                            // The server's close is the real cause, whatever a write saw first.
                            seen.failed.set(Some(ErrorClass::ClosedEarly));
                            return rd;
                        }
                        Some(Event::Message { .. } | Event::Ping(_) | Event::Pong(_)) | None => Said::Nothing,
                    };
                    rbuf.drain(..n);
                    match said {
                        Said::Partial => {
                            seen.partials.set(seen.partials.get() + 1);
                            if seen.first_partial.get().is_none() {
                                seen.first_partial.set(Some(now));
                            }
                        }
                        Said::Final => {
                            seen.final_at.set(Some(now));
                            if keep_transcript {
                                if let Some(Event::Message { payload, .. }) = &ev {
                                    *seen.transcript.borrow_mut() = String::from_utf8_lossy(payload).into_owned();
                                }
                            }
                            return rd;
                        }
                        Said::Nothing => {}
                    }
                }
                Err(_) => {
                    seen.fail(ErrorClass::Protocol);
                    return rd;
                }
            }
        }
        if rbuf.len() == rbuf.capacity() {
            seen.fail(ErrorClass::Protocol);
            return rd;
        }
        match read_some(&mut rd, &mut rbuf, give_up, &ctx).await {
            ReadOutcome::Data => {}
            ReadOutcome::TimedOut => return rd,
            ReadOutcome::Eof => {
                seen.fail(ErrorClass::ClosedEarly);
                return rd;
            }
            ReadOutcome::Failed(class) => {
                seen.fail(class);
                return rd;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_classify_server_messages() {
        let vosk = AsrPreset::Vosk;
        assert_eq!(vosk.classify(r#"{"partial" : "hello wor"}"#), Said::Partial);
        assert_eq!(vosk.classify(r#"{"partial" : ""}"#), Said::Nothing);
        assert_eq!(vosk.classify(r#"{"result" : [{"word": "hello"}], "text" : "hello world"}"#), Said::Final);
        assert_eq!(vosk.classify(r#"{"text" : ""}"#), Said::Final);
        assert_eq!(vosk.classify("not json"), Said::Nothing);
        let fun = AsrPreset::FunAsr;
        assert_eq!(fun.classify(r#"{"mode": "2pass-online", "text": "ni hao", "is_final": false}"#), Said::Partial);
        assert_eq!(fun.classify(r#"{"mode": "2pass-offline", "text": "ni hao shi jie", "is_final": true}"#), Said::Final);
        assert_eq!(fun.classify(r#"{"text": "", "is_final": false}"#), Said::Nothing);
        let custom = AsrPreset::Custom { start: "s".into(), end: "e".into(), final_match: "\"final\":true".into() };
        assert_eq!(custom.classify(r#"{"final":true,"t":"x"}"#), Said::Final);
        assert_eq!(custom.classify(r#"{"final":false}"#), Said::Partial);
    }

    #[test]
    fn preset_messages() {
        assert_eq!(AsrPreset::Vosk.messages(8000, "/"), (r#"{"config": {"sample_rate": 8000}}"#.to_string(), r#"{"eof" : 1}"#.to_string()));
        let (start, end) = AsrPreset::FunAsr.messages(16000, "/asr/a.wav");
        let v: serde_json::Value = serde_json::from_str(&start).unwrap();
        assert_eq!((v["wav_name"].as_str(), v["is_speaking"].as_bool(), v["audio_fs"].as_u64()), (Some("a.wav"), Some(true), Some(16000)));
        assert_eq!(end, r#"{"is_speaking": false}"#);
    }
}
