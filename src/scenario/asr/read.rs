//! The read side of an ASR session: the server's messages judged by the preset's rules
//! (`asr_rules`), pings answered and closes judged by the WebSocket session rules
//! (`ws_session`), until the server's close, an error or the session's deadline.

use std::rc::Rc;

use super::{Seen, MAX_SERVER_MESSAGE};
use crate::clock;
use crate::net::{self, Loan, ReadOutcome};
use crate::proto::ws::frame::{Decoder, Event, Opcode, Role};
use crate::scenario::asr_rules::{AtClose, Heard, Judge};
use crate::scenario::ws_session::{close_verdict, CloseVerdict, WsWriter, CLOSE_WAIT_NS};
use crate::scenario::WorkerCtx;
use crate::stats::{ErrorClass, ProtocolReason};

/// What a stream borrows for a read of the server's messages (transcripts are small).
const LEND: usize = 8 * 1024;

/// What the reader of one session holds.
pub(super) struct Reading<W> {
    pub(super) seen: Rc<Seen>,
    pub(super) writer: Rc<WsWriter<W>>,
    pub(super) judge: Judge,
    pub(super) ns_per_audio_ms: f64,
    pub(super) keep: bool,
}

impl<W: monoio::io::AsyncWriteRent> Reading<W> {
    /// One text message at clock time `now`.
    async fn text(&mut self, ctx: &WorkerCtx, text: &str, now: u64) {
        let seen = &self.seen;
        if !seen.ready.get() && self.judge.is_ready(text) {
            seen.ready.set(true);
            return;
        }
        let kept = if self.keep { text.to_string() } else { String::new() };
        match self.judge.hear(text, seen.ended()) {
            Heard::Nothing => {}
            Heard::Update => seen.update(now),
            Heard::Segment(end_ms) => {
                seen.update(now);
                seen.segments.set(seen.segments.get() + 1);
                // Arrival minus the due time of the segment's last audio.
                if let Some(ms) = end_ms.filter(|ms| *ms >= 0.0 && self.ns_per_audio_ms.is_finite()) {
                    let due = seen.begin.get() + (ms * self.ns_per_audio_ms) as u64;
                    if let Some(lat) = now.checked_sub(due) {
                        ctx.shard.borrow_mut().on_segment_latency(lat);
                    }
                }
            }
            Heard::Candidate => *seen.candidate.borrow_mut() = Some((now, kept)),
            Heard::Final => {
                if seen.heard_final(now, kept) {
                    self.writer.close(1000).await;
                }
            }
            Heard::Ack => {
                if seen.settle(now, kept) {
                    self.writer.close(1000).await;
                }
            }
        }
    }

    /// The server's close frame with `code`: the final where the preset says so, else normal
    /// after the final or our close and an error before them. Answered with ours (1000).
    async fn close(&mut self, ctx: &WorkerCtx, code: Option<u16>, now: u64) {
        ctx.shard.borrow_mut().on_close_code(code);
        let seen = &self.seen;
        if seen.ended() && !seen.answered() {
            match self.judge.at_close() {
                AtClose::IsFinal => {
                    seen.heard_final(now, String::new());
                }
                AtClose::SettlesCandidate => {
                    if seen.candidate.borrow().is_some() {
                        seen.settle(now, String::new());
                    }
                }
            }
        }
        match close_verdict(seen.answered(), self.writer.we_closed()) {
            CloseVerdict::Normal => {}
            CloseVerdict::Early => seen.closed(),
        }
        self.writer.close(1000).await;
    }
}

/// A server frame, copied out of the read buffer.
enum Got {
    Text(String),
    Ping(Vec<u8>),
    Close(Option<u16>),
    Other,
}

/// Reads the server's messages until its close (waited for a bounded time after the final),
/// an error or `give_up`; answers pings at once.
///
/// Between the server's messages the stream holds no read buffer: it waits for bytes, then
/// borrows one from the worker (`net::lend`); a message half in keeps only its bytes.
pub(super) async fn read_messages<R: monoio::io::AsyncReadRent + net::Readable, W: monoio::io::AsyncWriteRent>(
    mut rd: R,
    first: Vec<u8>,
    mut reading: Reading<W>,
    give_up: u64,
    ctx: Rc<WorkerCtx>,
) -> R {
    let mut dec = Decoder::new(Role::Client, MAX_SERVER_MESSAGE as u64, MAX_SERVER_MESSAGE);
    let mut deadline = give_up;
    let mut rbuf = Loan::new(ctx.lender());
    rbuf.extend_from_slice(&first); // what came after the handshake (not lent: nothing, nearly always)
    drop(first);
    loop {
        loop {
            let (n, ev) = match dec.decode(&rbuf) {
                Ok((0, _)) => break,
                Ok(x) => x,
                Err(_) => {
                    reading.seen.fail(ErrorClass::Protocol(ProtocolReason::BadFrame));
                    return rd;
                }
            };
            let now = clock::now_ns();
            let got = match ev {
                Some(Event::Message { opcode: Opcode::Text, payload }) => Got::Text(String::from_utf8_lossy(payload).into_owned()),
                Some(Event::Ping(p)) => Got::Ping(p.to_vec()),
                Some(Event::Close { code, .. }) => Got::Close(code),
                Some(Event::Message { .. } | Event::Pong(_)) | None => Got::Other,
            };
            rbuf.drain(..n);
            match got {
                Got::Text(t) => {
                    let was = reading.seen.answered();
                    reading.text(&ctx, &t, now).await;
                    if !was && reading.seen.answered() {
                        // The final: now the server's close, for a bounded time.
                        deadline = now + CLOSE_WAIT_NS;
                    }
                }
                Got::Ping(p) => reading.writer.pong(&p).await,
                Got::Close(code) => {
                    reading.close(&ctx, code, now).await;
                    return rd;
                }
                Got::Other => {}
            }
        }
        if rbuf.len() < LEND {
            // Between messages (or with a small part of one): wait for bytes with no buffer.
            rbuf.settle();
            let until = monoio::time::Instant::from_std(clock::instant_at(deadline));
            if monoio::time::timeout_at(until, rd.readable()).await.is_err() {
                return rd;
            }
        }
        rbuf.lend(LEND);
        if rbuf.len() == rbuf.capacity() {
            if rbuf.len() >= MAX_SERVER_MESSAGE + 14 {
                reading.seen.fail(ErrorClass::Protocol(ProtocolReason::TooLong));
                return rd;
            }
            let grow = rbuf.len().min(MAX_SERVER_MESSAGE + 14 - rbuf.len());
            rbuf.reserve_exact(grow);
        }
        match net::read_some(&mut rd, &mut rbuf, deadline, &ctx.shard).await {
            ReadOutcome::Data => {}
            ReadOutcome::TimedOut => return rd,
            ReadOutcome::Eof => {
                reading.seen.fail(ErrorClass::ClosedEarly);
                return rd;
            }
            ReadOutcome::Failed(class) => {
                reading.seen.fail(class);
                return rd;
            }
        }
    }
}
