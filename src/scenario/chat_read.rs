//! The read side of a chat member: the join (`--on-open`, waiting for `--on-open-expect`) and
//! the reader task that classifies every frame the rooms fan out to it ([`Receiver`]), answers
//! pings at once, notes pongs (`--heartbeat`), and counts a server close before the end as an
//! error with its code. A member's read buffer starts at the size its messages need, doubles
//! for a larger frame and shrinks back once empty: an idle member pins no 64 KiB.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use monoio::io::{AsyncReadRent, AsyncWriteRent};

use crate::clock;
use crate::net::{self, ReadOutcome};
use crate::proto::ws::frame::{encode_frame, Decoder, Event, Opcode, Role};
use crate::scenario::chat_rooms::{Receiver, RoomCount, Rooms};
use crate::scenario::ws_session::WsWriter;
use crate::scenario::WorkerCtx;
use crate::stats::{ErrorClass, ProtocolReason};

/// Largest frame a member accepts.
pub const MAX_FRAME: u64 = 1 << 20;

/// A member's place in its rooms' counts ([`RoomCount`]), from its join until dropped (its
/// close).
pub struct Membership {
    counts: Arc<[AtomicU64]>,
    rooms: Vec<u64>,
}

impl Membership {
    /// Joins `rooms`; also returns (room, this member's join number in it) for its [`Receiver`].
    pub fn join(counts: Arc<[AtomicU64]>, rooms: Vec<u64>) -> (Membership, Vec<(u64, u32)>) {
        let joins =
            rooms.iter().map(|r| (*r, RoomCount(counts[*r as usize].fetch_add(RoomCount::JOIN, Ordering::SeqCst)).next_join())).collect();
        (Membership { counts, rooms }, joins)
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        for r in &self.rooms {
            self.counts[*r as usize].fetch_sub(RoomCount::LEAVE, Ordering::SeqCst);
        }
    }
}

/// What the sender and the reader of one session share.
pub struct Session {
    /// The server closed (or broke) the session: the sender stops.
    pub gone: Cell<bool>,
    /// When the last pong arrived (clock ns).
    pub pong_ns: Cell<u64>,
}

/// Everything the reader task owns.
pub struct Reading<W> {
    pub ctx: Rc<WorkerCtx>,
    pub writer: Rc<WsWriter<W>>,
    pub session: Rc<Session>,
    pub receiver: Receiver,
    pub rooms: Rooms,
    pub timeout_ns: u64,
    pub read_start: usize,
    pub membership: Membership,
}

/// Sends the on-open frames (`count` messages) and, with `expect`, waits until as many frames
/// containing it have arrived (pings answered meanwhile), up to `timeout`; a room's marked
/// message arriving meanwhile counts as a copy before the join. `Err(None)`: the run ended
/// first.
#[allow(clippy::too_many_arguments)]
pub async fn join<S: AsyncReadRent + AsyncWriteRent>(
    ctx: &WorkerCtx,
    stream: &mut S,
    rbuf: &mut Vec<u8>,
    frames: Vec<u8>,
    count: usize,
    expect: Option<&[u8]>,
    mask: [u8; 4],
    timeout: std::time::Duration,
) -> Result<(), Option<ErrorClass>> {
    ctx.shard.borrow_mut().on_bytes_written(frames.len() as u64);
    let (res, _) = net::write_all(stream, frames).await;
    res.map_err(|e| Some(ErrorClass::from_io(&e)))?;
    let Some(expect) = expect else { return Ok(()) };
    let deadline = clock::now_ns().saturating_add(timeout.as_nanos() as u64);
    let until = ctx.end_ns.map_or(deadline, |e| e.min(deadline));
    let mut dec = Decoder::new(Role::Client, MAX_FRAME, MAX_FRAME as usize);
    let mut got = 0;
    loop {
        loop {
            let (n, pong) = match dec.decode(rbuf) {
                Ok((0, _)) => break,
                Ok((n, Some(Event::Message { payload, .. }))) => {
                    if payload.windows(expect.len().max(1)).any(|w| w == expect) {
                        got += 1;
                    } else if crate::proto::template::find_marks(payload).next().is_some() {
                        // A room's message relayed while the server was joining us, before
                        // its answer: a copy the message did not expect of this member.
                        ctx.shard.borrow_mut().on_arrival(crate::stats::Arrival::BeforeJoin);
                    }
                    (n, None)
                }
                Ok((n, Some(Event::Ping(p)))) => (n, Some(p.to_vec())),
                Ok((_, Some(Event::Close { code, .. }))) => {
                    ctx.shard.borrow_mut().on_close_code(code);
                    return Err(Some(ErrorClass::ClosedEarly));
                }
                Ok((n, Some(Event::Pong(_)) | None)) => (n, None),
                Err(_) => return Err(Some(ErrorClass::Protocol(ProtocolReason::BadFrame))),
            };
            rbuf.drain(..n);
            if let Some(p) = pong {
                let mut frame = Vec::with_capacity(p.len() + 6);
                encode_frame(&mut frame, true, Opcode::Pong, Some(mask), &p);
                let (res, _) = net::write_all(stream, frame).await;
                res.map_err(|e| Some(ErrorClass::from_io(&e)))?;
            }
        }
        if got >= count {
            return Ok(());
        }
        grow(rbuf)?;
        match net::read_some(stream, rbuf, until, &ctx.shard).await {
            ReadOutcome::Data => {}
            ReadOutcome::Eof => return Err(Some(ErrorClass::ClosedEarly)),
            ReadOutcome::Failed(class) => return Err(Some(class)),
            ReadOutcome::TimedOut if ctx.past_end(clock::now_ns()) => return Err(None),
            ReadOutcome::TimedOut => return Err(Some(ErrorClass::Check)),
        }
    }
}

/// Room for the next read: a full buffer doubles up to the largest frame.
fn grow(rbuf: &mut Vec<u8>) -> Result<(), Option<ErrorClass>> {
    if rbuf.len() == rbuf.capacity() {
        if rbuf.capacity() >= MAX_FRAME as usize + 14 {
            return Err(Some(ErrorClass::Protocol(ProtocolReason::TooLong)));
        }
        rbuf.reserve_exact(rbuf.capacity().max(1024));
    }
    Ok(())
}

/// Reads the rooms' frames until the server's close, an error or `give_up`; classifies each
/// data frame, answers pings at once, notes pongs. Returns the read half (to close the socket
/// with the write half).
pub async fn deliveries<R: AsyncReadRent, W: AsyncWriteRent>(mut rd: R, mut rbuf: Vec<u8>, mut r: Reading<W>, give_up: u64) -> R {
    let mut dec = Decoder::new(Role::Client, MAX_FRAME, MAX_FRAME as usize);
    let ctx = Rc::clone(&r.ctx);
    let failed = |class: ErrorClass, r: &Reading<W>| {
        r.session.gone.set(true);
        if !r.writer.we_closed() {
            ctx.shard.borrow_mut().on_error(class);
        }
    };
    loop {
        loop {
            let (n, ev) = match dec.decode(&rbuf) {
                Ok((0, _)) => break,
                Ok(x) => x,
                Err(_) => {
                    failed(ErrorClass::Protocol(ProtocolReason::BadFrame), &r);
                    return rd;
                }
            };
            match ev {
                Some(Event::Message { payload, .. }) => {
                    let now = clock::now_ns().saturating_sub(ctx.start_ns);
                    let a = r.receiver.classify(payload, now, r.timeout_ns, &r.rooms);
                    ctx.shard.borrow_mut().on_arrival(a);
                }
                Some(Event::Close { code, .. }) => {
                    ctx.shard.borrow_mut().on_close_code(code);
                    // Before our close: the server ended the session (1011 keepalive, 1008...).
                    failed(ErrorClass::ClosedEarly, &r);
                    Box::pin(r.writer.close(1000)).await;
                    return rd;
                }
                Some(Event::Ping(payload)) => {
                    let payload = payload.to_vec();
                    rbuf.drain(..n);
                    Box::pin(r.writer.pong(&payload)).await;
                    // A masked pong: 2 header bytes, 4 of mask, the payload (≤ 125).
                    ctx.shard.borrow_mut().on_bytes_written(6 + payload.len() as u64);
                    continue;
                }
                Some(Event::Pong(_)) => r.session.pong_ns.set(clock::now_ns()),
                None => {}
            }
            rbuf.drain(..n);
        }
        if rbuf.is_empty() && rbuf.capacity() > 4 * r.read_start {
            rbuf = Vec::with_capacity(r.read_start);
        }
        if let Err(Some(class)) = grow(&mut rbuf) {
            failed(class, &r);
            return rd;
        }
        match net::read_some(&mut rd, &mut rbuf, give_up, &ctx.shard).await {
            ReadOutcome::Data => {}
            ReadOutcome::Eof => {
                failed(ErrorClass::ClosedEarly, &r);
                return rd;
            }
            ReadOutcome::Failed(class) => {
                failed(class, &r);
                return rd;
            }
            ReadOutcome::TimedOut => {
                r.session.gone.set(true);
                return rd;
            }
        }
    }
}
