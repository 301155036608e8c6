//! Request/response traffic on one connection, generic over the wire protocol.
//!
//! Owns the life of a connection task: connect (with backoff), the protocol's opening (the
//! WebSocket handshake), then batches of up to the pipelining depth — claim from the schedule
//! or the budget, write a slice of the shared pre-encoded batch, read and feed the protocol's
//! parser until every answer of the batch is in — with the per-request timeout, the run's end
//! and all accounting (`sent = ok + errors + in flight`). The protocol ([`Wire`]) only says how
//! bytes frame into answers; it never touches the socket or the stats.
//!
//! Closed loop: a connection sends its next batch when the previous one is answered.
//! Open loop: a free connection claims the next scheduled request, sleeps until it is due (or
//! sends at once when it is late), and adds every other request already due up to the depth;
//! latency counts from each request's intended time, so waiting for a free connection shows.

use std::rc::Rc;
use std::sync::Arc;

use std::sync::atomic::{AtomicBool, Ordering};

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};

use crate::clock;
use crate::config::{LoadConfig, Target};
use crate::net::tls::TlsStream;
use crate::net::{connect, Backoff, Conn};
use crate::scenario::{Scenario, WorkerCtx};
use crate::stats::ErrorClass;

/// What feeding buffered bytes to a protocol parser produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed {
    /// Nothing complete; `consumed` bytes were used; more input is needed.
    Partial { consumed: usize },
    /// Bytes were used without completing an answer (a fragment, an ignored control frame):
    /// feed the rest again.
    Skipped { consumed: usize },
    /// One answer completed. `status` is the HTTP status (0 where the protocol has none).
    Answer { consumed: usize, status: u16, keep_alive: bool },
    /// One answer completed but failed a check (`--expect`): counted as an error of `class`,
    /// the connection goes on.
    Failed { consumed: usize, class: ErrorClass },
    /// A control message that needs these bytes written back (a WebSocket pong).
    Reply { consumed: usize, bytes: Vec<u8> },
    /// The peer is closing the connection (a WebSocket close frame with this code).
    Closing { consumed: usize, code: Option<u16>, reply: Vec<u8> },
}

/// A wire protocol: how requests are encoded and answers framed.
pub trait Wire: Send + Sync + 'static {
    /// Per-connection parser state, made once per connection task.
    type Parser;
    fn name(&self) -> &'static str;
    fn target(&self) -> &Target;
    fn load(&self) -> &LoadConfig;
    fn new_parser(&self) -> Self::Parser;
    /// `k` requests back to back, a slice of one buffer shared by every connection.
    fn batch(&self, k: usize) -> &'static [u8];
    /// True when requests differ from one to the next (`raw --seq`): each batch is then made by
    /// [`Wire::encode`]. False, the default: [`Wire::batch`] is sent as it is (zero-copy).
    fn per_request(&self) -> bool {
        false
    }
    /// `k` requests for this connection, encoded into its own buffer (kept in its parser and
    /// handed back with [`Wire::encoded`], so it is reused).
    fn encode(&self, _ctx: &WorkerCtx, _p: &mut Self::Parser, _k: usize) -> Vec<u8> {
        Vec::new()
    }
    /// Takes back the buffer of [`Wire::encode`] once it is written.
    fn encoded(&self, _p: &mut Self::Parser, _buf: Vec<u8>) {}
    /// Bytes that open the protocol after connect (the WebSocket upgrade request), if any.
    fn opening(&self) -> Option<&'static [u8]> {
        None
    }
    /// Feeds the reply to [`Wire::opening`]; `Ok(Some(n))` when it is complete after `n` bytes.
    fn opened(&self, _p: &mut Self::Parser, _input: &[u8]) -> Result<Option<usize>, ErrorClass> {
        Ok(Some(0))
    }
    /// Largest read buffer of a connection; it must hold the largest unit the parser keeps whole.
    fn read_buf(&self) -> usize {
        READ_BUF
    }
    fn feed(&self, p: &mut Self::Parser, input: &[u8]) -> Result<Fed, ErrorClass>;
    /// The peer closed: an answer that ends at EOF completes here (status).
    fn eof(&self, p: &mut Self::Parser) -> Option<u16>;
    fn reset(&self, p: &mut Self::Parser);
}

/// Largest read buffer of a connection: larger than any head or frame limit of the protocols,
/// so a full buffer of this size always means the parser has already refused the input.
pub const READ_BUF: usize = 24 * 1024;
/// A connection's first read buffer; it doubles up to [`Wire::read_buf`] when a unit needs more.
/// Thousands of connections waiting for their first answer at once then hold 4 KiB each.
const FIRST_READ: usize = 4 * 1024;
/// First buffer for the answer to an opening (a WebSocket handshake); it doubles as needed.
const OPEN_BUF: usize = 1024;
/// Batches larger than this are written under the request timeout: a peer that stops reading
/// can fill the socket buffers (smaller ones follow a complete answer, so the peer has read).
const TIMED_WRITE_ABOVE: usize = 64 * 1024;
/// Longest answer to an opening that is accepted.
const MAX_OPENING: usize = 64 * 1024;

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
    intended: Vec<u64>,
}

/// The outcome of one read into the connection's buffer.
pub(crate) enum ReadOutcome {
    Data,
    Eof,
    /// The deadline passed: the read op may still own the old buffer.
    TimedOut,
    Failed(ErrorClass),
}

pub(crate) async fn read_some<R: monoio::io::AsyncReadRent>(
    stream: &mut R,
    rbuf: &mut Vec<u8>,
    until_ns: u64,
    ctx: &WorkerCtx,
) -> ReadOutcome {
    let cap = rbuf.capacity();
    let buf = std::mem::take(rbuf);
    let until = monoio::time::Instant::from_std(clock::instant_at(until_ns));
    match monoio::time::timeout_at(until, crate::net::read_more(stream, buf)).await {
        Err(_elapsed) => {
            *rbuf = Vec::with_capacity(cap);
            ReadOutcome::TimedOut
        }
        Ok((Ok(0), buf)) => {
            *rbuf = buf;
            ReadOutcome::Eof
        }
        Ok((Ok(n), buf)) => {
            *rbuf = buf;
            ctx.shard.borrow_mut().on_bytes_read(n as u64);
            ReadOutcome::Data
        }
        Ok((Err(e), buf)) => {
            *rbuf = buf;
            ReadOutcome::Failed(ErrorClass::from_io(&e))
        }
    }
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
            intended: Vec::with_capacity(load.pipeline as usize),
        };
        if !ctx.ramp(slot, load.connect_rate).await {
            return;
        }
        loop {
            if ctx.finished(clock::now_ns()) || !ctx.wait_active(slot).await {
                return;
            }
            // Connect and opening are boxed for the same reason as the read below: their futures
            // (with timers) would otherwise be part of every idle connection's task.
            let Some(mut stream) = Box::pin(connect_stream(ctx, self.wire.target(), load, &mut backoff)).await else {
                return;
            };
            let ended = self.session(ctx, slot, &mut stream, &mut st).await;
            ctx.shard.borrow_mut().on_close();
            self.wire.reset(&mut st.parser);
            st.rbuf.clear();
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
    async fn session<S: AsyncReadRent + AsyncWriteRent>(
        &self,
        ctx: &WorkerCtx,
        slot: u64,
        stream: &mut S,
        st: &mut ConnState<W::Parser>,
    ) -> Ended {
        match Box::pin(self.open(ctx, stream, st)).await {
            Ok(()) => self.requests(ctx, slot, stream, st).await,
            Err(None) => Ended::RunOver,
            Err(Some(class)) => {
                ctx.shard.borrow_mut().on_connect_error(class);
                Ended::Closed { served: 0 }
            }
        }
    }

    /// Runs the protocol's opening. `Err(None)`: the run ended meanwhile; `Err(Some)`: failed.
    async fn open<S: AsyncReadRent + AsyncWriteRent>(
        &self,
        ctx: &WorkerCtx,
        stream: &mut S,
        st: &mut ConnState<W::Parser>,
    ) -> Result<(), Option<ErrorClass>> {
        let Some(bytes) = self.wire.opening() else {
            return Ok(());
        };
        let timeout = self.wire.load().connect.timeout;
        // The answer to an opening is small: a small buffer that grows if it must, not a read
        // buffer per connection (10,000 handshakes at once would hold 10,000 of them).
        let mut buf = std::mem::take(&mut st.rbuf);
        buf.reserve_exact(OPEN_BUF);
        let parser = &mut st.parser;
        let res = open_with(ctx, stream, &mut buf, bytes, timeout, |input| self.wire.opened(parser, input)).await;
        if !buf.is_empty() {
            st.rbuf = buf; // early data after the opening; requests() grows it when it must
        }
        res
    }

    /// Claims the next batch; fills `st.intended`. Returns false when the run is over.
    async fn claim_batch(&self, ctx: &WorkerCtx, st: &mut ConnState<W::Parser>) -> bool {
        st.intended.clear();
        let depth = self.wire.load().pipeline as u64;
        if !ctx.is_open_loop() {
            let k = ctx.claim(depth);
            st.intended.resize(k as usize, 0);
            return k > 0;
        }
        let Some(first) = ctx.claim_scheduled() else {
            return false;
        };
        let wait = first.saturating_sub(clock::now_ns());
        if wait > 0 {
            // A long wait with nothing buffered: park without a read buffer (idle connections
            // then cost no user-space buffer; the pool hands one back when it is time to read).
            let park = wait > crate::scenario::PARK_AFTER_NS && st.rbuf.is_empty() && st.rbuf.capacity() > 0;
            if park {
                ctx.give_buffer(std::mem::take(&mut st.rbuf));
            }
            let on_time = ctx.sleep_until(first).await;
            if park {
                st.rbuf = ctx.take_buffer(self.wire.read_buf());
            }
            if !on_time {
                return false;
            }
        }
        st.intended.push(first);
        let now = clock::now_ns();
        while (st.intended.len() as u64) < depth {
            match ctx.claim_due(now) {
                Some(t) => st.intended.push(t),
                None => break,
            }
        }
        true
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
            match write_until(stream, buf, ctx.end_ns.map_or(deadline, |e| e.min(deadline))).await {
                Some(done) => done,
                None => return (Sent::TimedOut { deadline }, len),
            }
        } else {
            let (res, buf) = stream.write_all(buf).await;
            (res.map(|_| ()), buf)
        };
        self.wire.encoded(parser, buf);
        (Sent::Done(res), len)
    }

    /// Drives one open connection until it closes or the run ends.
    async fn requests<S: AsyncReadRent + AsyncWriteRent>(
        &self,
        ctx: &WorkerCtx,
        slot: u64,
        stream: &mut S,
        st: &mut ConnState<W::Parser>,
    ) -> Ended {
        let timeout_ns = self.wire.load().timeout.as_nanos() as u64;
        let mut served = 0u64;
        // The clock is read once after each write and once after each read; the end-of-run
        // check reuses the last of those readings instead of reading it again.
        let mut last_ns = clock::now_ns();
        loop {
            if ctx.slots.is_some() && ctx.slot_state(slot, last_ns) != crate::scenario::SlotState::Active {
                return Ended::Parked; // the plan has fewer connections now: close this one
            }
            if ctx.finished(last_ns) || !self.claim_batch(ctx, st).await {
                return Ended::RunOver;
            }
            let k = st.intended.len();
            let (res, len) = if self.wire.per_request() {
                // Boxed: only `raw --seq` sends per-connection bytes; the shared path below
                // keeps the connection task as small as it was.
                let (sent, len) = Box::pin(self.send_own(ctx, stream, &mut st.parser, k, timeout_ns)).await;
                match sent {
                    Sent::Done(res) => (res, len),
                    Sent::TimedOut { deadline } => {
                        ctx.shard.borrow_mut().on_sent(k as u64, len as u64);
                        return timed_out(ctx, deadline, k, served);
                    }
                }
            } else {
                let bytes = self.wire.batch(k);
                let res = if bytes.len() > TIMED_WRITE_ABOVE {
                    // A large batch can fill the socket buffers of a peer that stopped reading: the
                    // request timeout bounds the write too (small ones pay for no timer).
                    let deadline = clock::now_ns().saturating_add(timeout_ns);
                    match Box::pin(write_until(stream, bytes, ctx.end_ns.map_or(deadline, |e| e.min(deadline)))).await {
                        Some((res, _)) => res,
                        None => {
                            ctx.shard.borrow_mut().on_sent(k as u64, bytes.len() as u64);
                            return timed_out(ctx, deadline, k, served);
                        }
                    }
                } else {
                    stream.write_all(bytes).await.0.map(|_| ())
                };
                (res, bytes.len())
            };
            let sent_ns = clock::now_ns();
            if !ctx.is_open_loop() {
                st.intended.fill(sent_ns);
            }
            ctx.shard.borrow_mut().on_sent(k as u64, len as u64);
            if let Err(e) = res {
                return fail_rest(ctx, ErrorClass::from_io(&e), k, served);
            }

            let deadline = sent_ns.saturating_add(timeout_ns);
            let read_until = ctx.end_ns.map_or(deadline, |e| e.min(deadline));
            let mut done = 0usize;
            let mut read_ns = sent_ns;
            loop {
                // Parse whatever is buffered (pipelined answers may already be here).
                let mut pos = 0;
                while done < k {
                    match self.wire.feed(&mut st.parser, &st.rbuf[pos..]) {
                        Ok(Fed::Answer { consumed, status, keep_alive }) => {
                            pos += consumed;
                            ctx.shard.borrow_mut().on_response(status, st.intended[done], sent_ns, read_ns);
                            done += 1;
                            served += 1;
                            if !keep_alive {
                                return fail_rest(ctx, ErrorClass::ClosedEarly, k - done, served);
                            }
                        }
                        Ok(Fed::Failed { consumed, class }) => {
                            pos += consumed;
                            ctx.shard.borrow_mut().on_request_error(class, 1);
                            done += 1;
                            served += 1;
                        }
                        Ok(Fed::Partial { consumed }) => {
                            pos += consumed;
                            break;
                        }
                        Ok(Fed::Skipped { consumed }) => {
                            pos += consumed;
                            if consumed == 0 {
                                break; // a parser that made no progress needs more input
                            }
                        }
                        Ok(Fed::Reply { consumed, bytes }) => {
                            pos += consumed;
                            let n = bytes.len() as u64;
                            match Box::pin(write_until(stream, bytes, read_until)).await {
                                Some((Ok(()), _)) => ctx.shard.borrow_mut().on_bytes_written(n),
                                Some((Err(e), _)) => return fail_rest(ctx, ErrorClass::from_io(&e), k - done, served),
                                None => return timed_out(ctx, deadline, k - done, served),
                            }
                        }
                        Ok(Fed::Closing { consumed: _, code, reply }) => {
                            ctx.shard.borrow_mut().on_close_code(code);
                            let n = reply.len() as u64;
                            if let Some((Ok(()), _)) = Box::pin(write_until(stream, reply, read_until)).await {
                                ctx.shard.borrow_mut().on_bytes_written(n);
                            }
                            return fail_rest(ctx, ErrorClass::ClosedEarly, k - done, served);
                        }
                        Err(class) => return fail_rest(ctx, class, k - done, served),
                    }
                }
                st.rbuf.drain(..pos);
                if done == k {
                    last_ns = read_ns;
                    break;
                }
                if st.rbuf.capacity() == 0 {
                    // First read after a park: the connection takes a buffer only now.
                    st.rbuf = ctx.take_buffer(FIRST_READ.min(self.wire.read_buf()));
                } else if st.rbuf.len() == st.rbuf.capacity() {
                    // Full and still partial: double it, up to the protocol's largest unit.
                    let (cap, max) = (st.rbuf.capacity(), self.wire.read_buf());
                    if cap >= max {
                        return fail_rest(ctx, ErrorClass::Protocol, k - done, served);
                    }
                    st.rbuf.reserve_exact(cap.min(max - cap));
                }
                // Boxed: the read with its timer is ~1 KiB of future (monoio's timer entry is
                // cache-padded); inline, every idle connection's task would carry it. Measured:
                // no difference in CPU per request; with connect and opening boxed too, a task
                // shrinks from 1.9 to 0.8 KiB.
                match Box::pin(read_some(stream, &mut st.rbuf, read_until, ctx)).await {
                    ReadOutcome::Data => read_ns = clock::now_ns(),
                    ReadOutcome::TimedOut => return timed_out(ctx, deadline, k - done, served),
                    ReadOutcome::Eof => {
                        if let Some(status) = self.wire.eof(&mut st.parser) {
                            ctx.shard.borrow_mut().on_response(status, st.intended[done], sent_ns, clock::now_ns());
                            done += 1;
                            served += 1;
                        }
                        return fail_rest(ctx, ErrorClass::ClosedEarly, k - done, served);
                    }
                    ReadOutcome::Failed(class) => return fail_rest(ctx, class, k - done, served),
                }
            }
        }
    }
}

/// A read or write gave up with `n` requests in flight: when the run ended before their
/// `deadline` they stay in flight (the report says so), else they timed out.
fn timed_out(ctx: &WorkerCtx, deadline: u64, n: usize, served: u64) -> Ended {
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

/// Writes all of `bytes` unless clock time `until_ns` comes first (`None`; the connection
/// must then be closed: part of the bytes may be out). Hands the buffer back when done.
async fn write_until<S: AsyncWriteRent, T: monoio::buf::IoBuf + 'static>(
    stream: &mut S,
    bytes: T,
    until_ns: u64,
) -> Option<(std::io::Result<()>, T)> {
    let until = monoio::time::Instant::from_std(clock::instant_at(until_ns));
    monoio::time::timeout_at(until, stream.write_all(bytes)).await.ok().map(|(res, buf)| (res.map(|_| ()), buf))
}

/// Counts the `n` requests still in flight on a closing connection as failed.
fn fail_rest(ctx: &WorkerCtx, class: ErrorClass, n: usize, served: u64) -> Ended {
    if n > 0 {
        ctx.shard.borrow_mut().on_request_error(class, n as u64);
    }
    Ended::Closed { served }
}

/// Connects to the run's target: its Unix socket (`--unix-socket`), or TCP from the next source
/// address, then the TLS handshake for a TLS target. Backs off after each failure; every attempt
/// is counted, and a TLS failure counts as a failed connect of its class. `None` when the run
/// ended first.
pub(crate) async fn connect_stream(ctx: &WorkerCtx, target: &Target, load: &LoadConfig, backoff: &mut Backoff) -> Option<Conn> {
    let opts = &load.connect;
    if let Some(path) = &load.unix {
        return retry_connect(ctx, backoff, || async move {
            match monoio::time::timeout(opts.timeout, monoio::net::UnixStream::connect(path)).await {
                Ok(Ok(s)) => Ok((Conn::Unix(s), None)),
                Ok(Err(e)) => Err(ErrorClass::from_io(&e)),
                Err(_) => Err(ErrorClass::ConnectTimeout),
            }
        })
        .await;
    }
    retry_connect(ctx, backoff, || {
        let source = ctx.sources.borrow_mut().next_addr();
        async move {
            let t0 = clock::now_ns();
            let tcp = connect(target.addr, source, opts).await?;
            let Some(tls) = &load.tls else { return Ok((Conn::Tcp(tcp), None)) };
            let t1 = clock::now_ns();
            let hs = TlsStream::connect(tcp, Arc::clone(&tls.config), tls.server_name.clone());
            match monoio::time::timeout(opts.timeout, hs).await {
                Ok(Ok((stream, hs))) => {
                    let timing = TlsTiming { tcp_ns: t1 - t0, tls_ns: clock::now_ns().saturating_sub(t1), resumed: hs.resumed };
                    Ok((Conn::Tls(Box::new(stream)), Some(timing)))
                }
                Ok(Err(e)) => {
                    let class = ErrorClass::from_io(&e);
                    if matches!(class, ErrorClass::TlsCert | ErrorClass::Tls) && !TLS_FAILURE_SHOWN.swap(true, Ordering::Relaxed) {
                        eprintln!("stampede: TLS handshake with {} failed: {e}", target.host);
                    }
                    Err(class)
                }
                Err(_) => Err(ErrorClass::ConnectTimeout),
            }
        }
    })
    .await
}

/// The first TLS failure of a process is printed with its reason; later ones are only counted.
static TLS_FAILURE_SHOWN: AtomicBool = AtomicBool::new(false);

/// How long the TCP connect and the TLS handshake of a TLS connection took.
struct TlsTiming {
    tcp_ns: u64,
    tls_ns: u64,
    resumed: bool,
}

/// Runs `attempt` until it connects or the run ends, counting every attempt and backing off
/// after each failure. An attempt that ran a TLS handshake returns its timing: the connect time
/// recorded is then the TCP part alone.
async fn retry_connect<T, Fut>(ctx: &WorkerCtx, backoff: &mut Backoff, mut attempt: impl FnMut() -> Fut) -> Option<T>
where
    Fut: std::future::Future<Output = Result<(T, Option<TlsTiming>), ErrorClass>>,
{
    loop {
        let t0 = clock::now_ns();
        // Only the end of the run stops a connect: the caller decides about its budget.
        if ctx.stop.get() || ctx.past_end(t0) {
            return None;
        }
        match attempt().await {
            Ok((s, timing)) => {
                let mut shard = ctx.shard.borrow_mut();
                match timing {
                    None => shard.on_connect(clock::now_ns().saturating_sub(t0)),
                    Some(t) => {
                        shard.on_connect(t.tcp_ns);
                        shard.on_tls(t.tls_ns, t.resumed);
                    }
                }
                return Some(s);
            }
            Err(class) => {
                if ctx.past_end(clock::now_ns()) || ctx.stop.get() {
                    return None; // the run ended while connecting: not a failure of the target
                }
                ctx.shard.borrow_mut().on_connect_error(class);
                if !ctx.sleep_for(backoff.next_delay()).await {
                    return None;
                }
            }
        }
    }
}

/// Writes a protocol's opening bytes and reads until `parse` accepts the answer (it returns the
/// answer's length; the bytes after it stay in `rbuf`). Records the handshake time.
/// `Err(None)`: the run ended meanwhile; `Err(Some(class))`: the opening failed.
pub(crate) async fn open_with<S: AsyncReadRent + AsyncWriteRent>(
    ctx: &WorkerCtx,
    stream: &mut S,
    rbuf: &mut Vec<u8>,
    bytes: &'static [u8],
    timeout: std::time::Duration,
    mut parse: impl FnMut(&[u8]) -> Result<Option<usize>, ErrorClass>,
) -> Result<(), Option<ErrorClass>> {
    let t0 = clock::now_ns();
    let (res, _) = stream.write_all(bytes).await;
    res.map_err(|e| Some(ErrorClass::from_io(&e)))?;
    let deadline = t0.saturating_add(timeout.as_nanos() as u64);
    let until = ctx.end_ns.map_or(deadline, |e| e.min(deadline));
    loop {
        if let Some(n) = parse(rbuf).map_err(Some)? {
            rbuf.drain(..n);
            ctx.shard.borrow_mut().on_handshake(clock::now_ns().saturating_sub(t0));
            return Ok(());
        }
        if rbuf.len() == rbuf.capacity() {
            if rbuf.len() >= MAX_OPENING {
                return Err(Some(ErrorClass::Protocol));
            }
            rbuf.reserve_exact(rbuf.len().max(OPEN_BUF).min(MAX_OPENING - rbuf.len()));
        }
        match read_some(stream, rbuf, until, ctx).await {
            ReadOutcome::Data => {}
            ReadOutcome::Eof => return Err(Some(ErrorClass::ClosedEarly)),
            ReadOutcome::Failed(class) => return Err(Some(class)),
            ReadOutcome::TimedOut if ctx.past_end(clock::now_ns()) => return Err(None),
            ReadOutcome::TimedOut => return Err(Some(ErrorClass::ConnectTimeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    /// An idle connection costs its task and little else: the task must stay small (issue 6's
    /// budget is 4 KiB per idle connection). Timers and reads are boxed out of it; a future that
    /// holds one of monoio's cache-padded timer entries inline is 128-aligned and over 1.5 KiB.
    #[test]
    fn a_connection_task_stays_small() {
        let Command::Http(a) = Cli::try_parse_from(["stampede", "http", "http://127.0.0.1:9/"]).unwrap().command else {
            panic!("not http")
        };
        let load = crate::config::load_config(&a.load).unwrap();
        let cfg = crate::config::build_http(crate::config::parse_target(&a.url).unwrap(), &a.request, load).unwrap();
        let ex = Exchange::http(cfg);
        let ctx = WorkerCtx::new(0, 1, 0, None, None, None, crate::net::SourcePool::new(Vec::new(), 0));
        let task = ex.connection(&ctx, 0);
        let (size, align) = (std::mem::size_of_val(&task), std::mem::align_of_val(&task));
        println!("connection future: {size} bytes, aligned to {align}");
        assert!(size <= 1024 && align <= 16, "connection future is {size} bytes, aligned to {align}");
    }
}
