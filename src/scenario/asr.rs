//! Real-time audio streaming to a speech-recognition (ASR) WebSocket server: `stampede asr`.
//!
//! One task per stream runs sessions back to back: connect, WebSocket handshake, the preset's
//! start message, then the audio in `chunk_ms` frames paced against absolute deadlines
//! (`session start + k × chunk / speed`, never "sleep a chunk after the last send", so lateness
//! does not accumulate), the end message, and the wait for the final transcript. A second task
//! per session reads the server's messages while frames go out: partials and the final.
//!
//! The upgrade request, the start and end messages and all frames of the audio are framed and
//! masked once per run into one [`Shared`] buffer; each session writes slices of it. The
//! session's state (listening, final heard, failed) is one enum the reader and writer share. Measured per session: handshake, time to first partial (from the
//! first audio byte), final latency from the end of the audio (corrected: from when the last
//! frame was due; service: from when it was sent), real-time factor, and the send lag of every
//! frame (proof that pacing held).

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use crate::clock;
use crate::config::{AsrConfig, AsrPreset};
use crate::net::{self, Backoff, Handle, ReadOutcome, Shared};
use crate::proto::ws::frame::{encode_frame, Decoder, Event, Opcode, Role};
use crate::proto::ws::handshake::{encode_request, parse_answer};
use crate::scenario::{Scenario, WorkerCtx};
use crate::stats::{ErrorClass, ProtocolReason};

/// Largest server message accepted (a final transcript with word timings can be long).
const MAX_SERVER_MESSAGE: usize = 1 << 20;
const READ_BUF: usize = 64 * 1024;

pub struct AsrScenario {
    cfg: AsrConfig,
    key: String,
    /// The upgrade request, the start message, every audio chunk as a masked binary frame and
    /// the end message, back to back.
    shared: Shared,
    opening: Range<usize>,
    start: Range<usize>,
    end: Range<usize>,
    /// Where each audio frame lies in `shared`.
    spans: Vec<Range<usize>>,
    /// Bytes a whole session sends after the opening.
    session_bytes: u64,
    chunk_ns: u64,
    audio_ns: u64,
}

/// Where a session stands, as its reader and writer tasks see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum State {
    /// Audio goes out; no final transcript yet.
    #[default]
    Listening,
    /// The final transcript came at clock time `at`; its text is kept only with `--transcripts`.
    Final { at: u64, transcript: String },
    /// The session failed; the first cause is kept (a server's close replaces it).
    Failed(ErrorClass),
}

/// The partial transcripts of a session: when the first came and how many there were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Partials {
    first: u64,
    count: u64,
}

/// What the reader and writer of one session share.
#[derive(Default)]
struct Seen {
    state: RefCell<State>,
    /// Counted in any state: a final that follows a writer's failure still reports them.
    partials: Cell<Option<Partials>>,
}

impl Seen {
    fn listening(&self) -> bool {
        matches!(*self.state.borrow(), State::Listening)
    }

    /// Records why the session failed; the first cause wins, and a final already heard stays.
    fn fail(&self, class: ErrorClass) {
        let mut state = self.state.borrow_mut();
        match *state {
            State::Listening => *state = State::Failed(class),
            State::Final { .. } | State::Failed(_) => {}
        }
    }

    /// The server closed: that is the real cause, whatever a write saw first.
    fn closed(&self) {
        let mut state = self.state.borrow_mut();
        match *state {
            State::Listening | State::Failed(_) => *state = State::Failed(ErrorClass::ClosedEarly),
            State::Final { .. } => {}
        }
    }

    fn partial(&self, now: u64) {
        let p = self.partials.get().map_or(Partials { first: now, count: 1 }, |p| Partials { count: p.count + 1, ..p });
        self.partials.set(Some(p));
    }

    /// The final transcript: it completes the session even after a writer's failure.
    fn heard_final(&self, at: u64, transcript: String) {
        *self.state.borrow_mut() = State::Final { at, transcript };
    }
}

impl AsrScenario {
    pub fn new(cfg: AsrConfig, nonce: [u8; 16]) -> AsrScenario {
        let key = crate::proto::ws::handshake::client_key(nonce);
        let mask = [nonce[1], nonce[5], nonce[9], nonce[13]];
        let (start, end) = cfg.preset.messages(cfg.audio.sample_rate, &cfg.target.path);
        let mut buf = encode_request(&cfg.target.host_header, &cfg.target.path, &key, &cfg.headers, &cfg.protocols);
        buf.reserve(cfg.audio.pcm.len() + 16 * cfg.audio.pcm.len() / cfg.audio.chunk_bytes(cfg.chunk_ms).max(1));
        let opening = 0..buf.len();
        let frame = |buf: &mut Vec<u8>, opcode: Opcode, payload: &[u8]| {
            let at = buf.len();
            encode_frame(buf, true, opcode, Some(mask), payload);
            at..buf.len()
        };
        let start = frame(&mut buf, Opcode::Text, start.as_bytes());
        let spans: Vec<_> =
            cfg.audio.chunks(cfg.chunk_ms).into_iter().map(|r| frame(&mut buf, Opcode::Binary, &cfg.audio.pcm[r])).collect();
        let end = frame(&mut buf, Opcode::Text, end.as_bytes());
        let speed = if cfg.speed > 0.0 { cfg.speed } else { f64::INFINITY };
        let chunk_ns = (f64::from(cfg.chunk_ms) * 1e6 / speed) as u64;
        AsrScenario {
            key,
            shared: net::shared(buf),
            session_bytes: (end.end - start.start) as u64,
            opening,
            start,
            end,
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
        let stream = net::dial(ctx.run(), &self.cfg.target, &self.cfg.load, backoff).await?;
        let out = self.speak(ctx, stream).await;
        ctx.shard.borrow_mut().on_close();
        out
    }

    /// The handshake, then the audio against the reader of the server's messages; records the
    /// session's outcome.
    async fn speak(&self, ctx: &Rc<WorkerCtx>, mut stream: net::Conn) -> Option<bool> {
        let mut rbuf = Vec::with_capacity(READ_BUF);
        let timeout = self.cfg.load.connect.timeout;
        let opening = monoio::buf::Slice::new(Arc::clone(&self.shared), self.opening.start, self.opening.end);
        let opened = net::open_with(ctx.run(), &mut stream, &mut rbuf, opening, timeout, |i| {
            parse_answer(i, &self.key, 16 * 1024, &self.cfg.protocols).map(|a| a.map(|a| a.head)).map_err(|_| ErrorClass::Handshake)
        })
        .await;
        match opened {
            Ok(()) => {}
            Err(None) => return None,
            Err(Some(class)) => {
                ctx.shard.borrow_mut().on_open_error(class);
                return Some(false);
            }
        }
        ctx.shard.borrow_mut().on_sent(1, self.session_bytes);
        let begin = clock::now_ns();
        let session_ns = self.chunk_ns * self.spans.len() as u64;
        let give_up = begin + session_ns + self.cfg.load.timeout.as_nanos() as u64;
        let give_up = ctx.end_ns.map_or(give_up, |e| e.min(give_up));
        let seen = Rc::new(Seen::default());
        let (rd, mut wr) = stream.into_split();
        let keep = self.cfg.transcripts.is_some();
        let reader = monoio::spawn(read_messages(rd, rbuf, Rc::clone(&seen), self.cfg.preset.clone(), give_up, Rc::clone(ctx), keep));
        let Some(Sent { first, last_due, last_sent }) = self.send_audio(ctx, &mut wr, &seen, begin).await else {
            return None; // the run ended mid-session: the session stays in flight
        };
        // The reader ends by `give_up` at the latest; dropping both halves closes the socket.
        let rd = reader.await;
        drop((rd, wr));
        let state = seen.state.take();
        let mut shard = ctx.shard.borrow_mut();
        match state {
            State::Final { at, transcript } => {
                shard.on_response(0, last_due, last_sent, at);
                if let Some(p) = seen.partials.get() {
                    shard.on_first_partial(p.first.saturating_sub(first));
                }
                shard.on_session(seen.partials.get().map_or(0, |p| p.count), at.saturating_sub(first), self.audio_ns);
                if keep {
                    let line = serde_json::json!({"worker": ctx.index, "final_ms": at.saturating_sub(last_due) as f64 / 1e6, "message": transcript});
                    ctx.notes.borrow_mut().push(line.to_string());
                }
                Some(true)
            }
            State::Listening | State::Failed(_) if ctx.past_end(clock::now_ns()) || ctx.stop.get() => None,
            State::Failed(class) => {
                shard.on_request_error(class, 1);
                Some(false)
            }
            State::Listening => {
                shard.on_request_error(ErrorClass::RequestTimeout, 1);
                Some(false)
            }
        }
    }

    /// Sends the start message, the audio frames each at its due time, and the end message,
    /// until the session is no longer listening. `None` when the run ended meanwhile.
    async fn send_audio<W: monoio::io::AsyncWriteRent>(&self, ctx: &WorkerCtx, wr: &mut W, seen: &Seen, begin: u64) -> Option<Sent> {
        let mut out = Handle::default();
        if let Err(e) = out.write_all(wr, &self.shared, self.start.clone()).await {
            seen.fail(ErrorClass::from_io(&e));
        }
        let mut first = None;
        let (mut last_due, mut last_sent) = (begin, begin);
        for (k, span) in self.spans.iter().enumerate() {
            if !seen.listening() {
                break;
            }
            let due = begin + self.chunk_ns * k as u64;
            if due > clock::now_ns() && !ctx.sleep_until(due).await {
                return None;
            }
            let res = out.write_all(wr, &self.shared, span.clone()).await;
            let sent = clock::now_ns();
            if let Err(e) = res {
                seen.fail(ErrorClass::from_io(&e));
                break;
            }
            ctx.shard.borrow_mut().on_frame(sent.saturating_sub(due));
            first.get_or_insert(sent);
            (last_due, last_sent) = (due, sent);
        }
        if !matches!(*seen.state.borrow(), State::Failed(_)) {
            if let Err(e) = out.write_all(wr, &self.shared, self.end.clone()).await {
                seen.fail(ErrorClass::from_io(&e));
            }
        }
        Some(Sent { first: first.unwrap_or(begin), last_due, last_sent })
    }
}

/// When a session's audio went out: the first frame's send time, the last frame's due and send
/// times.
struct Sent {
    first: u64,
    last_due: u64,
    last_sent: u64,
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
                            seen.closed();
                            return rd;
                        }
                        Some(Event::Message { .. } | Event::Ping(_) | Event::Pong(_)) | None => Said::Nothing,
                    };
                    rbuf.drain(..n);
                    match said {
                        Said::Partial => seen.partial(now),
                        Said::Final => {
                            let transcript = match &ev {
                                Some(Event::Message { payload, .. }) if keep_transcript => String::from_utf8_lossy(payload).into_owned(),
                                Some(_) | None => String::new(),
                            };
                            seen.heard_final(now, transcript);
                            return rd;
                        }
                        Said::Nothing => {}
                    }
                }
                Err(_) => {
                    seen.fail(ErrorClass::Protocol(ProtocolReason::BadMessage));
                    return rd;
                }
            }
        }
        if rbuf.len() == rbuf.capacity() {
            seen.fail(ErrorClass::Protocol(ProtocolReason::BadMessage));
            return rd;
        }
        match net::read_some(&mut rd, &mut rbuf, give_up, &ctx.shard).await {
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
    fn a_session_state_keeps_its_first_failure_and_ends_at_its_final() {
        let seen = Seen::default();
        assert!(seen.listening());
        seen.partial(5);
        seen.fail(ErrorClass::Refused);
        seen.fail(ErrorClass::Protocol(ProtocolReason::BadMessage));
        assert_eq!(*seen.state.borrow(), State::Failed(ErrorClass::Refused));
        seen.closed(); // the server's close is the real cause
        assert_eq!(*seen.state.borrow(), State::Failed(ErrorClass::ClosedEarly));
        seen.partial(9);
        seen.heard_final(12, "done".into()); // a final after a writer's failure completes it
        seen.fail(ErrorClass::Protocol(ProtocolReason::BadMessage));
        seen.closed();
        assert_eq!(seen.state.take(), State::Final { at: 12, transcript: "done".into() });
        assert_eq!(seen.partials.get(), Some(Partials { first: 5, count: 2 }));
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
