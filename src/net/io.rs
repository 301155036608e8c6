//! Awaited reads and writes of a client connection: reads into a connection's buffer under a
//! deadline, writes of its own bytes or of slices of a run's shared buffer, and the opening
//! exchange of a protocol (write, then read until the answer parses).
//!
//! Bytes a run encodes once (requests, masked frames, upgrade requests) are a [`Shared`]
//! buffer: each connection writes slices of it without a copy. A connection's [`Handle`] on it
//! moves into each write and comes back with the result, so a write costs no reference count
//! (no atomic per request); only a write abandoned at a deadline loses it, and the next write
//! of that connection takes a new one.

use std::cell::RefCell;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use monoio::buf::{IoBuf, Slice, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::BufResult;

use crate::clock;
use crate::engine::timer::{Sleep, Timer};
use crate::net::Run;
use crate::stats::{ErrorClass, ProtocolReason, Shard};

/// Bytes encoded once per run and written by every connection of every worker.
pub type Shared = Arc<Box<[u8]>>;

/// Makes `bytes` a [`Shared`] buffer.
pub fn shared(bytes: Vec<u8>) -> Shared {
    Arc::new(bytes.into_boxed_slice())
}

/// A connection's handle on one [`Shared`] buffer (always the same one).
#[derive(Default)]
pub struct Handle(Option<Shared>);

impl Handle {
    fn slice(&mut self, of: &Shared, range: Range<usize>) -> Slice<Shared> {
        let buf = self.0.take().unwrap_or_else(|| Arc::clone(of));
        debug_assert!(Arc::ptr_eq(&buf, of), "a handle serves one shared buffer");
        Slice::new(buf, range.start, range.end)
    }

    /// Writes `of[range]` in full. One `write` at a time in this loop, not monoio's
    /// `write_all` around a slice: its future holds a slice of a slice and a second loop, and
    /// this future sits in every connection task (the largest thing an idle task carries).
    pub async fn write_all<S: AsyncWriteRent>(&mut self, stream: &mut S, of: &Shared, range: Range<usize>) -> std::io::Result<()> {
        let mut buf = self.0.take().unwrap_or_else(|| Arc::clone(of));
        debug_assert!(Arc::ptr_eq(&buf, of), "a handle serves one shared buffer");
        let (mut at, end) = (range.start, range.end);
        while at < end {
            let (res, slice) = stream.write(Slice::new(buf, at, end)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    self.0 = Some(buf);
                    return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "failed to write whole buffer"));
                }
                Ok(n) => at += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.0 = Some(buf);
                    return Err(e);
                }
            }
        }
        self.0 = Some(buf);
        Ok(())
    }

    /// Writes `of[range]` unless clock time `until_ns` comes first (`None`: see [`write_until`]).
    pub async fn write_until<S: AsyncWriteRent>(
        &mut self,
        stream: &mut S,
        of: &Shared,
        range: Range<usize>,
        until_ns: u64,
    ) -> Option<std::io::Result<()>> {
        let (res, slice) = write_until(stream, self.slice(of, range), until_ns).await?;
        self.0 = Some(slice.into_inner());
        Some(res)
    }
}

/// Writes all of `bytes` unless clock time `until_ns` comes first (`None`; the connection
/// must then be closed: part of the bytes may be out). Hands the buffer back when done.
pub async fn write_until<S: AsyncWriteRent, T: IoBuf>(stream: &mut S, bytes: T, until_ns: u64) -> Option<(std::io::Result<()>, T)> {
    let until = monoio::time::Instant::from_std(clock::instant_at(until_ns));
    monoio::time::timeout_at(until, stream.write_all(bytes)).await.ok().map(|(res, buf)| (res.map(drop), buf))
}

/// Writes all of `bytes` (a connection's own, reused buffer) and hands it back.
pub async fn write_all<S: AsyncWriteRent, T: IoBuf>(stream: &mut S, bytes: T) -> (std::io::Result<()>, T) {
    let (res, buf) = stream.write_all(bytes).await;
    (res.map(drop), buf)
}

/// The outcome of one read into a connection's buffer.
pub enum ReadOutcome {
    Data,
    Eof,
    /// The deadline passed: the read op may still own the old buffer.
    TimedOut,
    Failed(ErrorClass),
}

/// Reads more bytes after those `rbuf` holds, unless clock time `until_ns` comes first; the
/// bytes read are counted in `shard`. After a timeout `rbuf` is a new, empty buffer of the same
/// capacity (the connection must be closed: the read may have consumed bytes).
pub async fn read_some<R: AsyncReadRent>(stream: &mut R, rbuf: &mut Vec<u8>, until_ns: u64, shard: &RefCell<Shard>) -> ReadOutcome {
    let cap = rbuf.capacity();
    let buf = std::mem::take(rbuf);
    let until = monoio::time::Instant::from_std(clock::instant_at(until_ns));
    let done = monoio::time::timeout_at(until, crate::net::read_more(stream, buf)).await.ok();
    read_done(done, rbuf, cap, shard)
}

/// What a read came to (`None`: its deadline passed first); `rbuf` gets its buffer back, or a
/// new, empty one of capacity `cap` (the capacity before the read) when it was abandoned.
pub fn read_done(done: Option<(std::io::Result<usize>, Vec<u8>)>, rbuf: &mut Vec<u8>, cap: usize, shard: &RefCell<Shard>) -> ReadOutcome {
    match done {
        None => {
            *rbuf = Vec::with_capacity(cap);
            ReadOutcome::TimedOut
        }
        Some((Ok(0), buf)) => {
            *rbuf = buf;
            ReadOutcome::Eof
        }
        Some((Ok(n), buf)) => {
            *rbuf = buf;
            shard.borrow_mut().on_bytes_read(n as u64);
            ReadOutcome::Data
        }
        Some((Err(e), buf)) => {
            *rbuf = buf;
            ReadOutcome::Failed(ErrorClass::from_io(&e))
        }
    }
}

/// Waits, holding no buffer, until `stream` has bytes to read (or its end, or an error: the
/// read that follows reports it), unless clock time `until_ns` comes first (false).
pub async fn readable_until<R: crate::net::Readable>(stream: &R, until_ns: u64) -> bool {
    let until = monoio::time::Instant::from_std(clock::instant_at(until_ns));
    monoio::time::timeout_at(until, stream.readable()).await.is_ok()
}

/// A connection's read deadline, kept from one read to the next on the worker's precise
/// [`Timer`] instead of a timer made per read: registered at the first read's deadline, and left
/// alone while reads complete before it (the next deadline is only later). When it passes, the
/// connection's task is woken (once per request timeout at most, whatever it is doing); the
/// read waiting then, if any, re-registers it at its own deadline, or finds that deadline passed.
/// Per read it costs a check of the registration, not an insert and a removal in a timer wheel
/// nor an allocation (a read with monoio's timer is ~1 KiB of future and must be boxed out of
/// the connection's task; this one is not).
pub struct Deadline<'a> {
    timer: &'a Timer,
    /// The deadline registered (clock ns) and its wait.
    armed: Option<(u64, Sleep<'a>)>,
}

impl<'a> Deadline<'a> {
    pub fn new(timer: &'a Timer) -> Deadline<'a> {
        Deadline { timer, armed: None }
    }

    /// True when clock time `until_ns` has passed (or the timer closed: the worker is done).
    /// Otherwise the task is woken at the latest at `until_ns`.
    fn poll_passed(&mut self, cx: &mut Context<'_>, until_ns: u64) -> bool {
        if let Some((at, sleep)) = &mut self.armed {
            if *at <= until_ns {
                if Pin::new(sleep).poll(cx).is_pending() {
                    return false;
                }
                // An earlier read's deadline (or a stop that woke every sleeper): this read's?
                if clock::now_ns() >= until_ns {
                    self.armed = None;
                    return true;
                }
            }
        }
        let mut sleep = self.timer.sleep_until(until_ns);
        // Ready at once: the deadline passed, or the timer closed (it then wakes no one).
        let passed = Pin::new(&mut sleep).poll(cx).is_ready();
        self.armed = (!passed).then_some((until_ns, sleep));
        passed
    }
}

/// The read of [`read_some`] without its deadline: more bytes after those `rbuf` holds, which
/// must have spare capacity (its buffer moves into the read; [`read_done`] puts it back). Pin
/// it in the caller's frame and await it through [`within`]: no timer is made and nothing is
/// allocated per read.
pub fn read_into<'s, R: AsyncReadRent>(
    stream: &'s mut R,
    rbuf: &mut Vec<u8>,
) -> impl Future<Output = BufResult<usize, SliceMut<Vec<u8>>>> + 's {
    let (len, cap) = (rbuf.len(), rbuf.capacity());
    debug_assert!(len < cap, "a read needs room (a full buffer would read 0 bytes, as at EOF)");
    stream.read(SliceMut::new(std::mem::take(rbuf), len, cap))
}

/// A future under a connection's [`Deadline`]: `Some(its output)`, or `None` when clock time
/// `until_ns` passed first (the future, pinned by the caller, is then dropped by it).
pub fn within<'f, 'd, F: Future>(fut: Pin<&'f mut F>, deadline: &'f mut Deadline<'d>, until_ns: u64) -> Within<'f, 'd, F> {
    Within { fut, deadline, until_ns }
}

/// See [`within`].
pub struct Within<'f, 'd, F> {
    fut: Pin<&'f mut F>,
    deadline: &'f mut Deadline<'d>,
    until_ns: u64,
}

impl<F: Future> Future for Within<'_, '_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = &mut *self;
        match this.fut.as_mut().poll(cx) {
            Poll::Ready(out) => Poll::Ready(Some(out)),
            Poll::Pending if this.deadline.poll_passed(cx, this.until_ns) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// First buffer for the answer to an opening (a WebSocket handshake), taken when the answer
/// starts to arrive; it doubles as needed.
pub const OPEN_BUF: usize = 1024;
/// Longest answer to an opening that is accepted.
const MAX_OPENING: usize = 64 * 1024;

/// Writes a protocol's opening bytes and reads until `parse` accepts the answer (it returns the
/// answer's length; the bytes after it stay in `rbuf`). Counts the opening when it starts (its
/// bytes as written) and records the handshake time when it completes.
/// `Err(None)`: the run ended meanwhile; `Err(Some(class))`: the opening failed.
pub async fn open_with<S: AsyncReadRent + AsyncWriteRent + crate::net::Readable, T: IoBuf>(
    run: Run<'_>,
    stream: &mut S,
    rbuf: &mut Vec<u8>,
    bytes: T,
    timeout: std::time::Duration,
    mut parse: impl FnMut(&[u8]) -> Result<Option<usize>, ErrorClass>,
) -> Result<(), Option<ErrorClass>> {
    let t0 = clock::now_ns();
    run.shard.borrow_mut().on_open_start(bytes.bytes_init() as u64);
    let (res, _) = stream.write_all(bytes).await;
    res.map_err(|e| Some(ErrorClass::from_io(&e)))?;
    let deadline = t0.saturating_add(timeout.as_nanos() as u64);
    let until = run.end_ns.map_or(deadline, |e| e.min(deadline));
    loop {
        if let Some(n) = parse(rbuf).map_err(Some)? {
            rbuf.drain(..n);
            run.shard.borrow_mut().on_handshake(clock::now_ns().saturating_sub(t0));
            return Ok(());
        }
        // Nothing in yet: wait for the answer holding no buffer (a ramp of thousands of
        // handshakes that a slow server answers late held 1 KiB each meanwhile).
        if rbuf.is_empty() && rbuf.capacity() == 0 && !readable_until(stream, until).await {
            return Err(if run.past_end(clock::now_ns()) { None } else { Some(ErrorClass::ConnectTimeout) });
        }
        if rbuf.len() == rbuf.capacity() {
            if rbuf.len() >= MAX_OPENING {
                return Err(Some(ErrorClass::Protocol(ProtocolReason::TooLong)));
            }
            rbuf.reserve_exact(rbuf.len().max(OPEN_BUF).min(MAX_OPENING - rbuf.len()));
        }
        match read_some(stream, rbuf, until, run.shard).await {
            ReadOutcome::Data => {}
            ReadOutcome::Eof => return Err(Some(ErrorClass::ClosedEarly)),
            ReadOutcome::Failed(class) => return Err(Some(class)),
            ReadOutcome::TimedOut if run.past_end(clock::now_ns()) => return Err(None),
            ReadOutcome::TimedOut => return Err(Some(ErrorClass::ConnectTimeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Slices of one shared buffer go out through one handle, which comes back after each write:
    /// the buffer is referenced by the scenario and the handle only (no clone per write).
    #[test]
    fn a_handle_writes_slices_of_a_shared_buffer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let buf = shared(b"openingABCDEFGH".to_vec());
        let sent = Arc::clone(&buf);
        let (_, counts) = crate::engine::runtime::block_on(move || async move {
            let mut stream = monoio::net::TcpStream::connect(addr).await.unwrap();
            let mut out = Handle::default();
            let mut counts = Vec::new();
            for range in [7..11, 11..15, 0..7] {
                out.write_all(&mut stream, &sent, range).await.unwrap();
                counts.push(Arc::strong_count(&sent));
            }
            counts
        })
        .unwrap();
        assert_eq!(counts, [3, 3, 3], "the test's, the closure's and the handle's");
        let (mut peer, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"ABCDEFGHopening");
        assert_eq!(Arc::strong_count(&buf), 1);
    }

    /// One deadline serves a connection's reads: each read that completes in time leaves it
    /// registered (later reads only move it later), and a read whose own deadline passes times
    /// out, on both drivers' runtime (here the default one) and the worker's timer.
    #[test]
    fn a_deadline_serves_many_reads_and_times_out_the_stalled_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut b = [0u8; 1];
            for _ in 0..3 {
                s.read_exact(&mut b).unwrap(); // one answer per request
                std::io::Write::write_all(&mut s, b"answer").unwrap();
            }
            let _ = done_rx.recv(); // the fourth goes unanswered; the socket stays open until the test ends
        });
        let (_, outcomes) = crate::engine::runtime::block_on(move || async move {
            let timer = crate::engine::timer::Timer::start(crate::config::Pacing::Sleep).unwrap();
            let mut stream = monoio::net::TcpStream::connect(addr).await.unwrap();
            let shard = RefCell::new(Shard::new());
            let mut deadline = Deadline::new(&timer);
            let mut outcomes = Vec::new();
            let mut rbuf = Vec::with_capacity(64);
            for _ in 0..4 {
                rbuf.clear();
                let (res, _) = stream.write_all(b"q".to_vec()).await;
                res.unwrap();
                let until = clock::now_ns() + 300_000_000;
                let cap = rbuf.capacity();
                let mut read = std::pin::pin!(read_into(&mut stream, &mut rbuf));
                let done = within(read.as_mut(), &mut deadline, until).await.map(|(res, buf)| (res, buf.into_inner()));
                let outcome = read_done(done, &mut rbuf, cap, &shard);
                let timed_out = matches!(outcome, ReadOutcome::TimedOut);
                outcomes.push((matches!(outcome, ReadOutcome::Data), timed_out, !timed_out || clock::now_ns() >= until));
            }
            timer.close();
            let bytes = shard.borrow().bytes_read;
            (outcomes, bytes)
        })
        .unwrap();
        drop(done_tx);
        peer.join().unwrap();
        let (outcomes, bytes) = outcomes;
        assert_eq!(&outcomes[..3], [(true, false, true); 3], "three answers read in time");
        assert_eq!(outcomes[3], (false, true, true), "the stalled read times out at its deadline, not before");
        assert_eq!(bytes, 18);
    }
}
