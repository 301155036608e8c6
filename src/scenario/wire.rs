//! The contract between a request/response protocol and the connection that drives it
//! ([`Exchange`](crate::scenario::exchange::Exchange)): how requests are encoded (once, into a
//! shared buffer, or per connection) and how answers are framed. A `Wire` never touches the
//! socket or the stats; what it needs written back it appends to a buffer the connection owns.

use std::ops::Range;

use crate::config::{LoadConfig, Target};
use crate::net::Shared;
use crate::scenario::WorkerCtx;
use crate::stats::{ErrorClass, Judged};

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
    /// One answer completed but failed a check (`--expect`, an echo that differs): counted as
    /// an error of `class`, the connection goes on. With nothing in flight (WebSocket), a push.
    Failed { consumed: usize, class: ErrorClass },
    /// A control message whose answer (a WebSocket pong) was appended to the reply buffer.
    Reply { consumed: usize },
    /// A message no request asked for (a WebSocket server's push): counted, never an answer.
    Pushed { consumed: usize },
    /// The peer is closing the connection (a WebSocket close frame with this code); the answer
    /// to it was appended to the reply buffer.
    Closing { consumed: usize, code: Option<u16> },
}

/// A wire protocol: how requests are encoded and answers framed.
pub trait Wire: Send + Sync + 'static {
    /// Per-connection parser state, made once per connection task.
    type Parser;
    fn name(&self) -> &'static str;
    fn target(&self) -> &Target;
    fn load(&self) -> &LoadConfig;
    fn new_parser(&self) -> Self::Parser;
    /// The bytes encoded once per run (requests, the opening), shared by every connection.
    fn shared(&self) -> &Shared;
    /// Where `k` requests back to back lie in [`Wire::shared`].
    fn batch(&self, k: usize) -> Range<usize>;
    /// Where `k` requests of plan stage `stage` lie (a stage of an http plan may send its own
    /// request); by default the run's one.
    fn stage_batch(&self, k: usize, _stage: usize) -> Range<usize> {
        self.batch(k)
    }
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
    /// Tells a connection's parser state its global index (`{conn}`,
    /// [`WorkerCtx::global_conn`]), once, when its task starts.
    fn attach(&self, _p: &mut Self::Parser, _conn: u64) {}
    /// Takes back the buffer of [`Wire::encode`] once it is written.
    fn encoded(&self, _p: &mut Self::Parser, _buf: Vec<u8>) {}
    /// Where the bytes that open the protocol after connect (the WebSocket upgrade request) lie
    /// in [`Wire::shared`], if there are any.
    fn opening(&self) -> Option<Range<usize>> {
        None
    }
    /// Feeds the reply to [`Wire::opening`]; `Ok(Some(n))` when it is complete after `n` bytes.
    fn opened(&self, _p: &mut Self::Parser, _input: &[u8]) -> Result<Option<usize>, ErrorClass> {
        Ok(Some(0))
    }
    /// True when every answer has a request (HTTP, raw): bytes that arrive with nothing in
    /// flight, or beyond the answers of a batch, are unsolicited and close the connection.
    /// False where the server may push messages (WebSocket): complete answers beyond a batch
    /// are then counted as pushed.
    fn solicited_only(&self) -> bool {
        true
    }
    /// Largest read buffer of a connection; it must hold the largest unit the parser keeps whole.
    fn read_buf(&self) -> usize {
        READ_BUF
    }
    /// Feeds buffered input; bytes to write back ([`Fed::Reply`], [`Fed::Closing`]) are appended
    /// to `reply`, a buffer the connection owns and reuses.
    fn feed(&self, p: &mut Self::Parser, input: &[u8], reply: &mut Vec<u8>) -> Result<Fed, ErrorClass>;
    /// The verdict on an answer that just completed with `status` (HTTP: `--ok-status` and the
    /// checks). The default: every answer is a success.
    #[inline]
    fn judge<'a>(&'a self, _p: &mut Self::Parser, _status: u16, _stage: usize) -> Judged<'a> {
        Judged::OK
    }
    /// The peer closed: an answer that ends at EOF completes here (status).
    fn eof(&self, p: &mut Self::Parser) -> Option<u16>;
    /// How a connection that ends with the run (or its plan slot) says goodbye: true when the
    /// protocol has a closing handshake (a WebSocket close frame, 1000), appended to `buf`; the
    /// connection then waits a bounded time for the peer's close. False, the default (HTTP,
    /// raw): the socket is simply closed.
    fn closing(&self, _buf: &mut Vec<u8>) -> bool {
        false
    }
    fn reset(&self, p: &mut Self::Parser);
}

/// Largest read buffer of a connection: larger than any head or frame limit of the protocols,
/// so a full buffer of this size always means the parser has already refused the input.
pub const READ_BUF: usize = 24 * 1024;

/// User memory an idle client connection holds (its task and state: an idle connection holds no
/// read buffer, see `net::lend`), for preflight's memory check: RSS growth / connections of
/// one generator process holding 16,000 (release, 2026-12-03, issue 21): HTTP keep-alive 1.7
/// KiB, WebSocket 3.4 KiB (its handshakes in flight during the ramp count at the peak); 2.5
/// KiB for the half-and-half mix of bench-1m. (3.4 KiB before transparent huge pages were
/// turned off, `sys::lean_memory`.)
pub const IDLE_CONN_BYTES: u64 = 2560;
