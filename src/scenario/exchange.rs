//! Request/response traffic on one connection, generic over the wire protocol.
//!
//! Owns the life of a connection task: dial (through `net`, with backoff), the protocol's
//! opening (the WebSocket handshake), then batches of up to the pipelining depth — claim from
//! the schedule or the budget, write a slice of the shared pre-encoded batch, read and feed the
//! protocol's parser until every answer of the batch is in — with the per-request timeout, the
//! run's end and all accounting (`sent = ok + errors + in flight`). The protocol ([`Wire`]) only
//! says how bytes frame into answers; it never touches the socket or the stats. Every await on
//! the socket goes through `net`.
//!
//! Closed loop: a connection sends its next batch when the previous one is answered (and its
//! think time passed). Stages that choose their drive (`plan::drive`): each batch in its mode.
//! Open loop: a free connection claims the next scheduled request, sleeps until it is due (or
//! sends at once when it is late), and adds every other request already due up to the depth;
//! latency counts from each request's intended time, so waiting for a free connection shows.
//!
//! Nothing the peer sends is credited to a request that did not ask for it: where every answer
//! has a request (HTTP, raw), bytes past a batch's answers, or sent while the connection was
//! idle, close it as `unsolicited`; WebSocket messages with nothing in flight count as pushed.

use std::rc::Rc;
use std::sync::Arc;

use monoio::io::{AsyncReadRent, AsyncWriteRent};

use crate::clock;
use crate::net::{self, Backoff, Handle, ReadOutcome};
use crate::scenario::{Mode, Scenario, WorkerCtx};
use crate::stats::{ErrorClass, ProtocolReason};

pub use crate::scenario::wire::{Fed, Wire, READ_BUF};

/// A connection's first read buffer; it doubles up to [`Wire::read_buf`] when a unit needs more.
/// Thousands of connections waiting for their first answer at once then hold 4 KiB each.
const FIRST_READ: usize = 4 * 1024;
/// A connection idle for longer than this checks, before it sends, that the peer sent nothing
/// meanwhile (one `FIONREAD`): bytes then were asked for by no request. Back-to-back batches
/// skip the check; answers beyond a batch that arrive with it are caught in the buffer.
const IDLE_CHECK_NS: u64 = 1_000_000;
/// Batches larger than this are written under the request timeout: a peer that stops reading
/// can fill the socket buffers (smaller ones follow a complete answer, so the peer has read).
const TIMED_WRITE_ABOVE: usize = 64 * 1024;

/// A scenario that exchanges requests and answers with protocol `W`.
pub struct Exchange<W: Wire> {
    pub wire: W,
}

impl<W: Wire> Scenario for Exchange<W> {
    fn name(&self) -> &'static str {
        self.wire.name()
    }

    fn target(&self) -> String {
        self.wire.target().url.clone()
    }

    fn stages_by_send(&self) -> bool {
        true
    }

    fn spawn_connection(self: &Arc<Self>, ctx: Rc<WorkerCtx>, slot: u64) {
        let me = Arc::clone(self);
        ctx.spawn_counted(move |ctx| async move { me.connection(&ctx, slot).await });
    }
}

/// Why a connection's request loop returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// The run is over for this worker (time, budget or stop): do not reconnect.
    RunOver,
    /// A plan took this connection slot out of the run for now: closed, not failed.
    Parked,
    /// The connection closed or failed; `served` answers came back on it.
    Closed { served: u64 },
}

/// Per-connection buffers, allocated once when the task starts.
struct ConnState<P> {
    parser: P,
    rbuf: Vec<u8>,
    /// True while `rbuf` is lent by the worker (from the first read of a batch until its
    /// answers are in): an idle connection holds no read buffer.
    lent: bool,
    intended: Vec<u64>,
    /// The connection's handle on the wire's shared bytes.
    out: Handle,
    /// Answers to the peer's control messages, waiting to be written (empty nearly always).
    reply: Vec<u8>,
    /// The batch in flight was claimed in open loop (intended times from the schedule).
    open: bool,
    stage: usize, // the plan stage the batch was claimed in: its request (a stage's own)
}

/// What claiming a batch gave (`Again`: the open stage ended with nothing more due in it).
enum Claimed {
    Batch,
    Again,
    RunOver,
}

impl<W: Wire> Exchange<W> {
    pub fn new(wire: W) -> Exchange<W> {
        Exchange { wire }
    }

    async fn connection(&self, ctx: &WorkerCtx, slot: u64) {
        let mut backoff = Backoff::new(clock::now_ns() ^ ((ctx.index as u64) << 48) ^ slot.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let load = self.wire.load();
        let mut st = ConnState {
            parser: self.wire.new_parser(),
            // Allocated at the first successful connect: a slot that never connects costs no buffer.
            rbuf: Vec::new(),
            lent: false,
            intended: Vec::with_capacity(load.pipeline as usize),
            out: Handle::default(),
            reply: Vec::new(),
            open: false,
            stage: 0,
        };
        self.wire.attach(&mut st.parser, ctx.global_conn(slot));
        if !ctx.ramp(slot, load.connect_rate).await {
            return;
        }
        loop {
            if ctx.finished(clock::now_ns()) || !ctx.wait_active(slot).await {
                return;
            }
            // Connect and opening are boxed for the same reason as the read below: their futures
            // (with timers) would otherwise be part of every idle connection's task.
            let Some(mut stream) = Box::pin(net::dial(ctx.run(), self.wire.target(), load, &mut backoff)).await else {
                return;
            };
            let ended = self.session(ctx, slot, &mut stream, &mut st).await;
            ctx.shard.borrow_mut().on_close();
            self.wire.reset(&mut st.parser);
            st.rbuf.clear();
            settle(ctx, &mut st);
            st.reply.clear();
            match ended {
                Ended::RunOver => return,
                Ended::Closed { served: 0 } => {
                    // Accepted and dropped without an answer: back off as for a refusal.
                    if !ctx.sleep_for(backoff.next_delay()).await {
                        return;
                    }
                }
                Ended::Closed { .. } => backoff.reset(),
                Ended::Parked => {}
            }
        }
    }

    /// One connection's life after connect: the opening, then requests until it ends.
    async fn session<S: AsyncReadRent + AsyncWriteRent + net::Waiting + net::Readable>(
        &self,
        ctx: &WorkerCtx,
        slot: u64,
        stream: &mut S,
        st: &mut ConnState<W::Parser>,
    ) -> Ended {
        match Box::pin(self.open(ctx, stream, st)).await {
            Ok(()) => {
                let ended = self.requests(ctx, slot, stream, st).await;
                if matches!(ended, Ended::RunOver) {
                    // Boxed: a timer, once per connection, not part of every idle task.
                    Box::pin(ctx.close_turn(slot, self.wire.load().connect.close_rate)).await;
                }
                if matches!(ended, Ended::RunOver | Ended::Parked) {
                    Box::pin(self.farewell(ctx, stream, st)).await; // boxed: once per connection
                }
                ended
            }
            Err(None) => Ended::RunOver,
            Err(Some(class)) => {
                // The connect was counted (established): only the opening failed.
                ctx.shard.borrow_mut().on_open_error(class);
                Ended::Closed { served: 0 }
            }
        }
    }

    /// Runs the protocol's opening. `Err(None)`: the run ended meanwhile; `Err(Some)`: failed.
    async fn open<S: AsyncReadRent + AsyncWriteRent + net::Readable>(
        &self,
        ctx: &WorkerCtx,
        stream: &mut S,
        st: &mut ConnState<W::Parser>,
    ) -> Result<(), Option<ErrorClass>> {
        let Some(range) = self.wire.opening() else {
            return Ok(());
        };
        let bytes = monoio::buf::Slice::new(Arc::clone(self.wire.shared()), range.start, range.end);
        let timeout = self.wire.load().connect.timeout;
        // The answer to an opening is small: a small buffer, taken when the answer comes
        // (`open_with`), that grows if it must, not a read buffer per connection (10,000
        // handshakes at once would hold 10,000 of them).
        let mut buf = std::mem::take(&mut st.rbuf);
        let parser = &mut st.parser;
        let res = net::open_with(ctx.run(), stream, &mut buf, bytes, timeout, |input| self.wire.opened(parser, input)).await;
        if !buf.is_empty() {
            st.rbuf = buf; // early data after the opening; requests() grows it when it must
        }
        res
    }

    /// Claims the next batch in the mode of the moment; fills `st.intended`. `answered`: this
    /// connection came free from an answer (not from its connect).
    async fn claim_batch(&self, ctx: &WorkerCtx, st: &mut ConnState<W::Parser>, answered: bool) -> Claimed {
        st.intended.clear();
        let depth = self.wire.load().pipeline as u64;
        let free_at = clock::now_ns();
        let mode = ctx.enter(free_at);
        st.open = matches!(mode, Mode::Open { .. });
        st.stage = ctx.stage();
        let Mode::Open { until } = mode else {
            let k = ctx.claim(depth);
            st.intended.resize(k as usize, 0);
            return if k > 0 { Claimed::Batch } else { Claimed::RunOver };
        };
        let claimed = if until == u64::MAX { ctx.claim_scheduled() } else { ctx.claim_before(until) };
        let Some(first) = claimed else {
            let again = until != u64::MAX && ctx.sleep_until(until).await; // at the open stage's end
            return if again { Claimed::Again } else { Claimed::RunOver };
        };
        if first > clock::now_ns() && !ctx.sleep_until(first).await {
            return Claimed::RunOver;
        }
        let now = clock::now_ns();
        if ctx.past_end(now) {
            ctx.release(1); // woke past the run's end (the worker waits for closes): send nothing new
            return Claimed::RunOver;
        }
        st.intended.push(first);
        // The batch's request (a stage's own) is its first send's stage's, switched to now if
        // the supervisor has not yet.
        ctx.catch_up(first);
        st.stage = ctx.stage();
        // Due now and before `until` (t <= now < until): never a request of a later stage.
        while (st.intended.len() as u64) < depth && now < until {
            match ctx.claim_due(now) {
                Some(t) => st.intended.push(t),
                None => break,
            }
        }
        // Requests due before this connection came free: no connection was (free ones claim
        // ahead, sleeping until their request is due), every one waiting for an answer or, when
        // this is the connection's first batch, still opening.
        let due_before = st.intended.iter().take_while(|t| **t < free_at).count() as u64;
        if due_before > 0 {
            ctx.shard_at(first).due.record(due_before, answered);
        }
        Claimed::Batch
    }

    /// Encodes `k` requests for this connection ([`Wire::encode`]), writes them (a large batch
    /// under the request timeout, as below) and hands the buffer back. Returns the bytes sent.
    async fn send_own<S: AsyncWriteRent>(
        &self,
        ctx: &WorkerCtx,
        stream: &mut S,
        parser: &mut W::Parser,
        k: usize,
        timeout_ns: u64,
    ) -> (Sent, usize) {
        let buf = self.wire.encode(ctx, parser, k);
        let len = buf.len();
        let (res, buf) = if len > TIMED_WRITE_ABOVE {
            let deadline = clock::now_ns().saturating_add(timeout_ns);
            match net::write_until(stream, buf, ctx.end_ns.map_or(deadline, |e| e.min(deadline))).await {
                Some(done) => done,
                None => return (Sent::TimedOut { deadline }, len),
            }
        } else {
            net::write_all(stream, buf).await
        };
        self.wire.encoded(parser, buf);
        (Sent::Done(res), len)
    }

    /// The request timeout in nanoseconds.
    fn timeout_ns(&self) -> u64 {
        self.wire.load().timeout.as_nanos() as u64
    }

    /// Drives one open connection until it closes or the run ends.
    async fn requests<S: AsyncReadRent + AsyncWriteRent + net::Waiting>(
        &self,
        ctx: &WorkerCtx,
        slot: u64,
        stream: &mut S,
        st: &mut ConnState<W::Parser>,
    ) -> Ended {
        let mut served = 0u64;
        // The reads' deadline, kept across them on the worker's timer. Without one, or in spin
        // pacing (the timer spins up to 50 µs toward each deadline it serves: not worth it for
        // a timeout), a timer per read on the runtime's wheel. Boxed, once per connection: the
        // task stays small.
        let sleeps = ctx.timer.as_deref().filter(|t| t.mode() == crate::config::Pacing::Sleep);
        let mut watch = sleeps.map(|t| Box::new(net::Deadline::new(t)));
        // The clock is read once after each write and once after each read; the end-of-run
        // check reuses the last of those readings instead of reading it again.
        let mut last_ns = clock::now_ns();
        loop {
            if ctx.slots.is_some() && ctx.slot_state(slot, last_ns) != crate::scenario::SlotState::Active {
                return Ended::Parked; // the plan has fewer connections now: close this one
            }
            if ctx.finished(last_ns) {
                return Ended::RunOver;
            }
            match self.claim_batch(ctx, st, served > 0).await {
                Claimed::Batch => {}
                Claimed::Again => {
                    last_ns = clock::now_ns();
                    continue;
                }
                Claimed::RunOver => return Ended::RunOver,
            }
            // An open-loop batch may have waited for its time, the connection idle: the peer
            // must have sent nothing meanwhile (the requests claimed then go back to the budget
            // unsent; their schedule slots pass). Closed-loop batches follow each other at once; answers beyond a
            // batch are caught in the buffer when it completes.
            if st.open && self.sent_while_idle(stream, st, last_ns) {
                // Boxed and rare: only a peer that sent something while idle pays for it.
                if let Err(ended) = Box::pin(self.idle_input(ctx, stream, st, served)).await {
                    ctx.release(st.intended.len() as u64);
                    return ended;
                }
            }
            // (The request timeout is read from the load at each use: one word less in the task.)
            let sent_ns = match self.send(ctx, stream, st, self.timeout_ns(), served).await {
                Ok(t) => t,
                Err(ended) => return ended,
            };
            last_ns = match self.answers(ctx, stream, st, (sent_ns, self.timeout_ns()), &mut watch, &mut served).await {
                Ok(t) => t,
                Err(ended) => return ended,
            };
            settle(ctx, st); // idle until the next batch: the read buffer goes back
            if let Some(t) = ctx.think_until(last_ns).filter(|_| !st.open) {
                if !ctx.sleep_until(t).await {
                    return Ended::RunOver;
                }
                last_ns = clock::now_ns();
            }
        }
    }

    /// True when, with nothing in flight, the peer sent something: after an idle spell (over
    /// [`IDLE_CHECK_NS`]) bytes waiting in the socket, or (HTTP, raw) bytes already buffered.
    fn sent_while_idle<S: net::Waiting>(&self, stream: &S, st: &ConnState<W::Parser>, last_ns: u64) -> bool {
        (self.wire.solicited_only() && !st.rbuf.is_empty())
            || (clock::now_ns().saturating_sub(last_ns) > IDLE_CHECK_NS && stream.bytes_waiting())
    }

    /// What the peer sent while nothing was in flight ([`Exchange::sent_while_idle`]). HTTP, raw:
    /// asked for by no request, `unsolicited`, the connection closes. WebSocket: read now and
    /// counted as pushed (a ping's pong is written at once, before the batch; a close is
    /// answered and ends the connection). `Err`: how the connection ended.
    async fn idle_input<S: AsyncReadRent + AsyncWriteRent>(
        &self,
        ctx: &WorkerCtx,
        stream: &mut S,
        st: &mut ConnState<W::Parser>,
        served: u64,
    ) -> Result<(), Ended> {
        let closed = |class: Option<ErrorClass>| {
            if let Some(class) = class {
                ctx.shard.borrow_mut().on_error(class);
            }
            Err(Ended::Closed { served })
        };
        if self.wire.solicited_only() {
            return closed(Some(ErrorClass::Unsolicited));
        }
        if !self.room_to_read(ctx, st) {
            return closed(Some(ErrorClass::Protocol(ProtocolReason::TooLong)));
        }
        // Bytes are waiting: the read returns at once (the timeout only bounds the unexpected).
        let until = clock::now_ns().saturating_add(self.wire.load().timeout.as_nanos() as u64);
        match net::read_some(stream, &mut st.rbuf, until, &ctx.shard).await {
            ReadOutcome::Data => {}
            ReadOutcome::Eof | ReadOutcome::TimedOut => return closed(None),
            ReadOutcome::Failed(class) => return closed(Some(class)),
        }
        // Parsed with no request in flight: every complete message is a push.
        let claimed = std::mem::take(&mut st.intended);
        let (mut done, mut served_too) = (0, served);
        let now = clock::now_ns();
        let parsed = self.parse_buffered(ctx, st, now, now, &mut done, &mut served_too);
        st.intended = claimed;
        if !st.reply.is_empty() {
            let written = write_reply(ctx, stream, &mut st.reply, until).await;
            if let (Parsed::More | Parsed::Complete, Some(Err(_)) | None) = (&parsed, written) {
                return closed(Some(ErrorClass::ClosedEarly)); // the pong could not go out
            }
        }
        settle(ctx, st);
        match parsed {
            Parsed::More | Parsed::Complete => Ok(()),
            // The server's close before the end (1011 keepalive, 1008 policy...): an error, and its code.
            Parsed::Ends(ErrorClass::ClosedEarly) => closed(Some(ErrorClass::ClosedEarly)),
            Parsed::Ends(class) => closed(Some(class)),
            Parsed::Unsolicited => closed(Some(ErrorClass::Unsolicited)),
        }
    }

    /// Writes the claimed batch (`st.intended`). `Ok(the time it was sent)`, or how the
    /// connection ended.
    async fn send<S: AsyncWriteRent>(
        &self,
        ctx: &WorkerCtx,
        stream: &mut S,
        st: &mut ConnState<W::Parser>,
        timeout_ns: u64,
        served: u64,
    ) -> Result<u64, Ended> {
        let k = st.intended.len();
        // The send time is when the bytes are handed to the kernel, not when the write returns:
        // on loopback the write runs the peer's receive path and wakes it (tens of µs in a VM),
        // which is transmission, not the pacer's lateness.
        let sent_ns = clock::now_ns();
        if !st.open {
            // A closed-loop request counts in the stage of its send time: one claimed just
            // before a stage boundary and sent after it is that next stage's request, its bytes too.
            ctx.catch_up(sent_ns);
            st.stage = ctx.stage();
        }
        let (res, len) = if self.wire.per_request() {
            // Boxed: only `raw --seq` sends per-connection bytes; the shared path below
            // keeps the connection task as small as it was.
            let (sent, len) = Box::pin(self.send_own(ctx, stream, &mut st.parser, k, timeout_ns)).await;
            match sent {
                Sent::Done(res) => (res, len),
                Sent::TimedOut { deadline } => {
                    ctx.on_sent_at(&st.intended, len as u64);
                    return Err(timed_out(ctx, deadline, &st.intended, served));
                }
            }
        } else {
            let range = self.wire.stage_batch(k, st.stage); // (an open batch may wake past its stage)
            let len = range.len();
            let res = if len > TIMED_WRITE_ABOVE {
                // A large batch can fill the socket buffers of a peer that stopped reading: the
                // request timeout bounds the write too (small ones pay for no timer).
                let deadline = clock::now_ns().saturating_add(timeout_ns);
                let until = ctx.end_ns.map_or(deadline, |e| e.min(deadline));
                match Box::pin(st.out.write_until(stream, self.wire.shared(), range, until)).await {
                    Some(res) => res,
                    None => {
                        ctx.on_sent_at(&st.intended, len as u64);
                        return Err(timed_out(ctx, deadline, &st.intended, served));
                    }
                }
            } else {
                st.out.write_all(stream, self.wire.shared(), range).await
            };
            (res, len)
        };
        if !st.open {
            st.intended.fill(sent_ns);
        }
        ctx.on_sent_at(&st.intended, len as u64);
        res.map_err(|e| fail_rest(ctx, ErrorClass::from_io(&e), &st.intended, served))?;
        Ok(sent_ns)
    }

    /// Reads and feeds the parser until every answer of the batch sent at `sent_ns` is in, each
    /// read under `timeout_ns` from then (on the connection's deadline `watch` when there is one).
    /// `Ok(the time of the last read)`, or how the connection ended.
    async fn answers<S: AsyncReadRent + AsyncWriteRent>(
        &self,
        ctx: &WorkerCtx,
        stream: &mut S,
        st: &mut ConnState<W::Parser>,
        (sent_ns, timeout_ns): (u64, u64),
        watch: &mut Option<Box<net::Deadline<'_>>>,
        served: &mut u64,
    ) -> Result<u64, Ended> {
        let deadline = sent_ns.saturating_add(timeout_ns);
        let read_until = ctx.end_ns.map_or(deadline, |e| e.min(deadline));
        let mut done = 0usize;
        let mut read_ns = sent_ns;
        loop {
            // Parse whatever is buffered (pipelined answers may already be here).
            let parsed = self.parse_buffered(ctx, st, sent_ns, read_ns, &mut done, served);
            if !st.reply.is_empty() {
                let written = Box::pin(write_reply(ctx, stream, &mut st.reply, read_until)).await;
                match (&parsed, written) {
                    (_, Some(Ok(()))) | (Parsed::Ends(_) | Parsed::Unsolicited, _) => {} // a closing connection's reply is best effort
                    (Parsed::More | Parsed::Complete, Some(Err(e))) => {
                        return Err(fail_rest(ctx, ErrorClass::from_io(&e), &st.intended[done..], *served))
                    }
                    (Parsed::More | Parsed::Complete, None) => return Err(timed_out(ctx, deadline, &st.intended[done..], *served)),
                }
            }
            match parsed {
                Parsed::Complete => return Ok(read_ns),
                Parsed::Ends(class) => return Err(fail_rest(ctx, class, &st.intended[done..], *served)),
                Parsed::Unsolicited => {
                    ctx.shard.borrow_mut().on_error(ErrorClass::Unsolicited);
                    return Err(Ended::Closed { served: *served });
                }
                Parsed::More => {}
            }
            if !self.room_to_read(ctx, st) {
                return Err(fail_rest(ctx, ErrorClass::Protocol(ProtocolReason::TooLong), &st.intended[done..], *served));
            }
            // On the connection's deadline the read is a small future, inline (no allocation per
            // read). Without the worker's timer it is boxed: a read with monoio's timer is ~1 KiB
            // of future (its timer entry is cache-padded); inline, every idle connection's task
            // would carry it.
            let read = match watch {
                Some(d) => {
                    let cap = st.rbuf.capacity();
                    let mut read = std::pin::pin!(net::read_into(stream, &mut st.rbuf));
                    let done = net::within(read.as_mut(), d, read_until).await.map(|(res, buf)| (res, buf.into_inner()));
                    net::read_done(done, &mut st.rbuf, cap, &ctx.shard)
                }
                None => Box::pin(net::read_some(stream, &mut st.rbuf, read_until, &ctx.shard)).await,
            };
            match read {
                ReadOutcome::Data => read_ns = clock::now_ns(),
                ReadOutcome::TimedOut => return Err(timed_out(ctx, deadline, &st.intended[done..], *served)),
                ReadOutcome::Eof => {
                    if let Some(status) = self.wire.eof(&mut st.parser) {
                        let judged = self.wire.judge(&mut st.parser, status, st.stage);
                        ctx.shard_at(st.intended[done]).on_answer(status, judged, st.intended[done], sent_ns, clock::now_ns());
                        done += 1;
                        *served += 1;
                    }
                    return Err(fail_rest(ctx, ErrorClass::ClosedEarly, &st.intended[done..], *served));
                }
                ReadOutcome::Failed(class) => return Err(fail_rest(ctx, class, &st.intended[done..], *served)),
            }
        }
    }
}

/// Writes the replies to the peer's control messages (pongs, a close) before clock time
/// `until_ns`; `None` when it came first. The buffer is handed back empty for the next ones.
async fn write_reply<S: AsyncWriteRent>(
    ctx: &WorkerCtx,
    stream: &mut S,
    reply: &mut Vec<u8>,
    until_ns: u64,
) -> Option<std::io::Result<()>> {
    let n = reply.len() as u64;
    let (res, mut buf) = net::write_until(stream, std::mem::take(reply), until_ns).await?;
    buf.clear();
    *reply = buf;
    if res.is_ok() {
        ctx.shard.borrow_mut().on_bytes_written(n);
    }
    Some(res)
}

/// A read or write gave up with the requests intended at `n` in flight: when the run ended before their
/// `deadline` they stay in flight (the report says so), else they timed out.
fn timed_out(ctx: &WorkerCtx, deadline: u64, n: &[u64], served: u64) -> Ended {
    let now = clock::now_ns();
    if now < deadline && ctx.past_end(now) {
        return Ended::RunOver;
    }
    fail_rest(ctx, ErrorClass::RequestTimeout, n, served)
}

/// How writing a batch of [`Exchange::send_own`] went.
enum Sent {
    Done(std::io::Result<()>),
    /// The request timeout (from the write's start, at `deadline`) or the run's end came first.
    TimedOut {
        deadline: u64,
    },
}

/// Counts the requests still in flight on a closing connection (intended at `intended`) as
/// failed, each in the stage it was sent in.
fn fail_rest(ctx: &WorkerCtx, class: ErrorClass, intended: &[u64], served: u64) -> Ended {
    ctx.failed_at(class, intended);
    Ended::Closed { served }
}

#[path = "exchange_close.rs"]
mod close;

#[path = "exchange_buf.rs"]
mod buf;
use buf::settle;

#[path = "exchange_parse.rs"]
mod parse;
use parse::Parsed;

#[cfg(test)]
#[path = "exchange_tests.rs"]
mod tests;
