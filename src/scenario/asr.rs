//! Real-time audio streaming to a speech-recognition (ASR) WebSocket server: `stampede asr`.
//!
//! One task per stream runs sessions back to back: connect, WebSocket handshake, the preset's
//! start message (and, where the server has one, the wait for its ready message), then the
//! whole audio in `chunk_ms` frames paced against absolute deadlines (`audio start + k × chunk
//! / speed`, so lateness does not accumulate), the end message at the end of the audio's due
//! time, the final, and the closing handshake. A second task per session reads the server's
//! messages while frames go out: transcript updates, segments (completed mid-stream results),
//! pings (answered at once: `ws_session`) and the final, which is only ever the answer to the
//! end message (`asr_rules`): a mid-stream result never ends the audio.
//!
//! The upgrade request, the start and end messages and all frames of the audio are framed and
//! masked once per run into one [`Shared`] buffer; each session writes slices of it. Measured
//! per session: handshake, time to first transcript update (from the first audio byte), final
//! latency (corrected: from the end-of-audio due time; service: from when the end message went
//! out), segment latency (arrival − the due time of the segment's last audio, where the server
//! gives word timings), real-time factor, and the send lag of every frame.

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use crate::clock;
use crate::config::{AsrConfig, EndMessage, SampleFormat};
use crate::net::{self, Backoff, Handle, Shared};
use crate::proto::ws::frame::{encode_frame, Opcode};
use crate::proto::ws::handshake::{encode_request, parse_answer};
use crate::scenario::asr_rules::Judge;
use crate::scenario::ws_session::WsWriter;
use crate::scenario::{Scenario, WorkerCtx};
use crate::stats::ErrorClass;

mod read;

use read::{read_messages, Reading};

/// Largest server message accepted (a final transcript with word timings can be long).
const MAX_SERVER_MESSAGE: usize = 1 << 20;
/// How often the writer looks whether the server's ready message came.
const READY_POLL_MS: u64 = 2;

pub struct AsrScenario {
    cfg: AsrConfig,
    key: String,
    mask: [u8; 4],
    /// The upgrade request, the start message, every audio chunk as a masked binary frame and
    /// the end message, back to back.
    shared: Shared,
    opening: Range<usize>,
    /// Empty when the preset has no start message.
    start: Range<usize>,
    end: Range<usize>,
    /// Where each audio frame lies in `shared`.
    spans: Vec<Range<usize>>,
    /// Bytes a whole session sends after the opening.
    session_bytes: u64,
    chunk_ns: u64,
    /// Nanoseconds of wall time per millisecond of audio (1e6 / speed; 0 as fast as possible).
    ns_per_audio_ms: f64,
    audio_ns: u64,
}

/// Where a session stands, as its reader and writer tasks see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum State {
    /// Audio goes out; whatever the server says is mid-stream.
    #[default]
    Streaming,
    /// The end message is going out (from clock time `sent`): the final is looked for.
    Ending { sent: u64 },
    /// The final came at clock time `at`; its text is kept only with `--transcripts`.
    Final { at: u64, transcript: String },
    /// The session failed; the first cause is kept (a server's close replaces it).
    Failed(ErrorClass),
}

/// What the reader and writer of one session share.
#[derive(Default)]
struct Seen {
    state: RefCell<State>,
    /// The server's ready message came (presets that wait for one).
    ready: Cell<bool>,
    /// The clock time the audio started (its first frame's due time).
    begin: Cell<u64>,
    /// Transcript updates: when the first came, how many.
    first_update: Cell<Option<u64>>,
    updates: Cell<u64>,
    segments: Cell<u64>,
    /// When the end message went out.
    end_sent: Cell<Option<u64>>,
    /// A message that may be the final (time, text), settled by the server's close or ack.
    candidate: RefCell<Option<(u64, String)>>,
}

impl Seen {
    fn failed(&self) -> bool {
        matches!(*self.state.borrow(), State::Failed(_))
    }

    fn ended(&self) -> bool {
        match *self.state.borrow() {
            State::Streaming | State::Failed(_) => false,
            State::Ending { .. } | State::Final { .. } => true,
        }
    }

    fn answered(&self) -> bool {
        matches!(*self.state.borrow(), State::Final { .. })
    }

    /// Records why the session failed; the first cause wins, and a final already heard stays.
    fn fail(&self, class: ErrorClass) {
        let mut state = self.state.borrow_mut();
        match *state {
            State::Streaming | State::Ending { .. } => *state = State::Failed(class),
            State::Final { .. } | State::Failed(_) => {}
        }
    }

    /// The server closed before the final: that is the real cause, whatever a write saw first.
    fn closed(&self) {
        let mut state = self.state.borrow_mut();
        match *state {
            State::Streaming | State::Ending { .. } | State::Failed(_) => *state = State::Failed(ErrorClass::ClosedEarly),
            State::Final { .. } => {}
        }
    }

    /// The end message goes out now: from here on the final is looked for.
    fn ending(&self, sent: u64) {
        let mut state = self.state.borrow_mut();
        match *state {
            State::Streaming => {
                *state = State::Ending { sent };
                self.end_sent.set(Some(sent));
            }
            State::Ending { .. } | State::Final { .. } | State::Failed(_) => {}
        }
    }

    fn update(&self, now: u64) {
        if self.first_update.get().is_none() {
            self.first_update.set(Some(now));
        }
        self.updates.set(self.updates.get() + 1);
    }

    /// The final transcript: only after the end message went out (else nothing changes).
    fn heard_final(&self, at: u64, transcript: String) -> bool {
        let mut state = self.state.borrow_mut();
        match *state {
            State::Ending { sent } => {
                debug_assert!(at >= sent, "a final before the end message");
                *state = State::Final { at: at.max(sent), transcript };
                true
            }
            State::Streaming | State::Final { .. } | State::Failed(_) => false,
        }
    }

    /// The last candidate becomes the final (a server's close or ack settles it).
    fn settle(&self, now: u64, transcript: String) -> bool {
        let (at, text) = self.candidate.borrow_mut().take().unwrap_or((now, transcript));
        self.heard_final(at, text)
    }
}

impl AsrScenario {
    pub fn new(cfg: AsrConfig, nonce: [u8; 16]) -> AsrScenario {
        let key = crate::proto::ws::handshake::client_key(nonce);
        let mask = [nonce[1], nonce[5], nonce[9], nonce[13]];
        let (start, end) = cfg.preset.messages(cfg.audio.sample_rate, &cfg.target.path, cfg.chunk_ms);
        let mut buf = encode_request(&cfg.target.host_header, &cfg.target.path, &key, &cfg.headers, &cfg.protocols);
        let samples = samples(&cfg.audio.pcm, cfg.preset.sample_format());
        let per_sample = samples.len() / (cfg.audio.pcm.len() / 2).max(1);
        buf.reserve(samples.len() + 16 * cfg.audio.pcm.len() / cfg.audio.chunk_bytes(cfg.chunk_ms).max(1));
        let opening = 0..buf.len();
        let frame = |buf: &mut Vec<u8>, opcode: Opcode, payload: &[u8]| {
            let at = buf.len();
            encode_frame(buf, true, opcode, Some(mask), payload);
            at..buf.len()
        };
        let start = if start.is_empty() { buf.len()..buf.len() } else { frame(&mut buf, Opcode::Text, start.as_bytes()) };
        let spans: Vec<_> = cfg
            .audio
            .chunks(cfg.chunk_ms)
            .into_iter()
            .map(|r| frame(&mut buf, Opcode::Binary, &samples[r.start / 2 * per_sample..r.end / 2 * per_sample]))
            .collect();
        let end = match &end {
            EndMessage::Text(t) => frame(&mut buf, Opcode::Text, t.as_bytes()),
            EndMessage::Binary(b) => frame(&mut buf, Opcode::Binary, b),
        };
        let speed = if cfg.speed > 0.0 { cfg.speed } else { f64::INFINITY };
        let chunk_ns = (f64::from(cfg.chunk_ms) * 1e6 / speed) as u64;
        AsrScenario {
            key,
            mask,
            shared: net::shared(buf),
            session_bytes: (end.end - start.start) as u64,
            opening,
            start,
            end,
            spans,
            chunk_ns,
            ns_per_audio_ms: 1e6 / speed,
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
        let mut rbuf = Vec::new(); // grows as the handshake's answer needs (net::open_with)
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
        let now = clock::now_ns();
        let session_ns = self.chunk_ns * (self.spans.len() as u64 + 1);
        let budget = self.cfg.load.timeout.as_nanos() as u64;
        let give_up = now + session_ns + budget + if self.cfg.preset.ready().is_some() { budget } else { 0 };
        let give_up = ctx.end_ns.map_or(give_up, |e| e.min(give_up));
        let seen = Rc::new(Seen::default());
        let (rd, wr) = stream.into_split();
        let writer = Rc::new(WsWriter::new(wr, self.mask));
        let keep = self.cfg.transcripts.is_some();
        let judge = Judge::new(self.cfg.preset.clone(), self.spans.len() as u64);
        let reading = Reading { seen: Rc::clone(&seen), writer: Rc::clone(&writer), judge, ns_per_audio_ms: self.ns_per_audio_ms, keep };
        let reader = monoio::spawn(read_messages(rd, rbuf, reading, give_up, Rc::clone(ctx)));
        let Some(Sent { first, end_due }) = self.send_audio(ctx, &writer, &seen, give_up).await else {
            return None; // the run ended mid-session: the session stays in flight
        };
        // The reader ends by `give_up` (or a close wait after it) at the latest; dropping both
        // halves closes the socket.
        let rd = reader.await;
        drop((rd, Rc::try_unwrap(writer).ok().and_then(WsWriter::into_half)));
        let state = seen.state.take();
        let mut shard = ctx.shard.borrow_mut();
        match state {
            State::Final { at, transcript } => {
                // `at` is never before the end message went out, which is never before its due
                // time: the latency needs no clamp.
                let sent = seen_end_sent(&seen, at);
                shard.on_response(0, end_due, sent, at);
                if let Some(t) = seen.first_update.get() {
                    shard.on_first_partial(t.saturating_sub(first));
                }
                shard.on_session(seen.updates.get(), at.saturating_sub(first), self.audio_ns);
                shard.on_segments(seen.segments.get());
                if keep {
                    let line = serde_json::json!({"worker": ctx.index, "final_ms": (at - end_due) as f64 / 1e6, "message": transcript});
                    ctx.notes.borrow_mut().push(line.to_string());
                }
                Some(true)
            }
            State::Streaming | State::Ending { .. } | State::Failed(_) if ctx.past_end(clock::now_ns()) || ctx.stop.get() => None,
            State::Failed(class) => {
                shard.on_request_error(class, 1);
                Some(false)
            }
            State::Streaming | State::Ending { .. } => {
                shard.on_request_error(ErrorClass::RequestTimeout, 1);
                Some(false)
            }
        }
    }

    /// Sends the start message, waits for the server's ready message (where the preset has
    /// one), sends every audio frame at its due time and the end message at the end of the
    /// audio's due time. Stops early only when the session failed. `None` when the run ended.
    async fn send_audio<W: monoio::io::AsyncWriteRent>(
        &self,
        ctx: &WorkerCtx,
        wr: &WsWriter<W>,
        seen: &Seen,
        give_up: u64,
    ) -> Option<Sent> {
        let mut out = Handle::default();
        if !self.start.is_empty() {
            if let Err(e) = wr.write_shared(&mut out, &self.shared, self.start.clone()).await {
                seen.fail(ErrorClass::from_io(&e));
            }
        }
        if self.cfg.preset.ready().is_some() {
            while !seen.ready.get() && !seen.failed() {
                let now = clock::now_ns();
                if now >= give_up {
                    break;
                }
                if !ctx.sleep_until(now + READY_POLL_MS * 1_000_000).await {
                    return None;
                }
            }
        }
        let begin = clock::now_ns();
        seen.begin.set(begin);
        let mut first = None;
        for (k, span) in self.spans.iter().enumerate() {
            if seen.failed() {
                break;
            }
            let due = begin + self.chunk_ns * k as u64;
            if due > clock::now_ns() && !ctx.sleep_until(due).await {
                return None;
            }
            let sent = clock::now_ns(); // handed to the kernel (see Exchange::send)
            let res = wr.write_shared(&mut out, &self.shared, span.clone()).await;
            if let Err(e) = res {
                seen.fail(ErrorClass::from_io(&e));
                break;
            }
            ctx.shard.borrow_mut().on_frame(sent.saturating_sub(due));
            first.get_or_insert(sent);
        }
        let end_due = begin + self.chunk_ns * self.spans.len() as u64;
        if !seen.failed() {
            if end_due > clock::now_ns() && !ctx.sleep_until(end_due).await {
                return None;
            }
            seen.ending(clock::now_ns());
            if let Err(e) = wr.write_shared(&mut out, &self.shared, self.end.clone()).await {
                seen.fail(ErrorClass::from_io(&e));
            }
        }
        Some(Sent { first: first.unwrap_or(begin), end_due })
    }
}

/// When the end message went out (kept in the session's state until the final replaced it).
fn seen_end_sent(seen: &Seen, at: u64) -> u64 {
    seen.end_sent.get().unwrap_or(at)
}

/// The audio as the server wants its samples: the WAV's 16-bit PCM, or 32-bit floats.
fn samples(pcm: &[u8], format: SampleFormat) -> std::borrow::Cow<'_, [u8]> {
    match format {
        SampleFormat::S16le => std::borrow::Cow::Borrowed(pcm),
        SampleFormat::F32le => {
            let mut out = Vec::with_capacity(pcm.len() * 2);
            for s in pcm.chunks_exact(2) {
                let v = f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0;
                out.extend_from_slice(&v.to_le_bytes());
            }
            std::borrow::Cow::Owned(out)
        }
    }
}

/// When a session's audio went out: the first frame's send time, the end message's due time.
struct Sent {
    first: u64,
    end_due: u64,
}

impl Scenario for AsrScenario {
    fn name(&self) -> &'static str {
        "asr"
    }

    fn target(&self) -> String {
        self.cfg.target.url.clone()
    }

    fn audio_conversion(&self) -> Option<String> {
        self.cfg.conversion.as_ref().map(|c| c.to_string())
    }

    fn spawn_connection(self: &Arc<Self>, ctx: Rc<WorkerCtx>, slot: u64) {
        let me = Arc::clone(self);
        ctx.spawn_counted(move |ctx| async move { me.stream(ctx.rc(), slot).await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ProtocolReason;

    #[test]
    fn a_final_counts_only_after_the_end_message_and_never_before_it() {
        let seen = Seen::default();
        assert!(!seen.heard_final(5, String::new()), "a mid-stream result is not the final");
        assert_eq!(*seen.state.borrow(), State::Streaming);
        seen.ending(10);
        assert!(seen.ended());
        assert!(seen.heard_final(12, "done".into()));
        seen.fail(ErrorClass::Protocol(ProtocolReason::BadMessage));
        seen.closed();
        assert_eq!(seen.state.take(), State::Final { at: 12, transcript: "done".into() });
        assert_eq!(seen.end_sent.get(), Some(10));
    }

    #[test]
    fn a_session_keeps_its_first_failure_and_a_close_replaces_it() {
        let seen = Seen::default();
        seen.fail(ErrorClass::Refused);
        seen.fail(ErrorClass::Protocol(ProtocolReason::BadMessage));
        assert_eq!(*seen.state.borrow(), State::Failed(ErrorClass::Refused));
        seen.closed();
        assert_eq!(*seen.state.borrow(), State::Failed(ErrorClass::ClosedEarly));
        seen.ending(3);
        assert!(!seen.ended(), "a failed session sends no end message");
    }

    #[test]
    fn a_candidate_is_settled_by_the_close() {
        let seen = Seen::default();
        seen.ending(10);
        *seen.candidate.borrow_mut() = Some((15, "last".into()));
        assert!(seen.settle(20, String::new()));
        assert_eq!(seen.state.take(), State::Final { at: 15, transcript: "last".into() });
    }

    #[test]
    fn float_samples_scale_pcm16() {
        let pcm = [0x00, 0x40, 0x00, 0xC0];
        let f = samples(&pcm, SampleFormat::F32le);
        assert_eq!(f32::from_le_bytes([f[0], f[1], f[2], f[3]]), 0.5);
        assert_eq!(f32::from_le_bytes([f[4], f[5], f[6], f[7]]), -0.5);
    }
}
