//! The WebSocket session rules every client scenario with a separate reader and writer follows
//! (RFC 6455 §5.5.2-3 pings and pongs, §7.1.2-5 the closing handshake):
//!
//! - a ping is answered at once from the read side, whatever the send side is doing: the
//!   write half is shared, and a pong queued while a frame is going out leaves right after it
//!   (never inside it);
//! - each session ends with our close frame (1000), after which the reader waits a bounded
//!   time ([`CLOSE_WAIT_NS`]) for the server's;
//! - a server close after the session's answer, or in answer to ours, is normal; one before it
//!   is an error counted with its close code ([`close_verdict`]).
//!
//! Owns no socket reads and no stats; the frames are encoded with `proto::ws::frame`.

use std::cell::{Cell, RefCell};
use std::ops::Range;

use monoio::io::AsyncWriteRent;

use crate::net::{self, Handle, Shared};
use crate::proto::ws::frame::{close_payload, encode_frame, Opcode};

/// How long a session waits for the server's close frame after sending its own.
pub const CLOSE_WAIT_NS: u64 = 2_000_000_000;

/// How long after the run's end a worker waits for its connections to finish their closing
/// handshakes; a session closing at the end waits no longer than this for the server's close.
pub const CLOSE_AFTER_END_NS: u64 = 500_000_000;

/// What a server's close frame means for the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseVerdict {
    /// After the answer, or in answer to our close.
    Normal,
    /// Before the answer: the session failed (1011: the server's keepalive timed out).
    Early,
}

/// A server close is normal once the session got its answer or sent its own close.
pub fn close_verdict(answered: bool, we_closed: bool) -> CloseVerdict {
    if answered || we_closed {
        CloseVerdict::Normal
    } else {
        CloseVerdict::Early
    }
}

/// The write half of a session, shared by its writer (frames) and reader (pongs, closes).
pub struct WsWriter<W> {
    half: RefCell<Option<W>>,
    /// Control frames waiting for the write half (queued while a frame goes out).
    pending: RefCell<Vec<u8>>,
    mask: [u8; 4],
    closed: Cell<bool>,
    failed: Cell<bool>,
}

impl<W: AsyncWriteRent> WsWriter<W> {
    pub fn new(half: W, mask: [u8; 4]) -> WsWriter<W> {
        WsWriter {
            half: RefCell::new(Some(half)),
            pending: RefCell::new(Vec::new()),
            mask,
            closed: Cell::new(false),
            failed: Cell::new(false),
        }
    }

    /// Whether our close frame has been queued or sent.
    pub fn we_closed(&self) -> bool {
        self.closed.get()
    }

    /// Writes `of[range]` (a frame of the run's shared buffer), then any control frame queued
    /// meanwhile. Fails when the half is busy (one data writer per session) or broken.
    pub async fn write_shared(&self, out: &mut Handle, of: &Shared, range: Range<usize>) -> std::io::Result<()> {
        let Some(mut half) = self.take_half().await else {
            return Err(std::io::Error::other("the write half stayed busy"));
        };
        let res = out.write_all(&mut half, of, range).await;
        let res = match res {
            Ok(()) => self.flush_pending(&mut half).await,
            Err(e) => Err(e),
        };
        if res.is_err() {
            self.failed.set(true);
        }
        *self.half.borrow_mut() = Some(half);
        res
    }

    /// Writes `buf` (a connection's own reused buffer), then any control frame queued
    /// meanwhile; hands the buffer back.
    pub async fn write_own(&self, buf: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        let Some(mut half) = self.take_half().await else {
            return (Err(std::io::Error::other("the write half stayed busy")), buf);
        };
        let (res, buf) = net::write_all(&mut half, buf).await;
        let res = match res {
            Ok(()) => self.flush_pending(&mut half).await,
            Err(e) => Err(e),
        };
        if res.is_err() {
            self.failed.set(true);
        }
        *self.half.borrow_mut() = Some(half);
        (res, buf)
    }

    /// Writes `iov` (a frame: a connection's own bytes and ranges of shared buffers, one
    /// vectored write), then any control frame queued meanwhile; hands it back.
    pub async fn write_iov(&self, iov: net::IoVecs) -> (std::io::Result<()>, net::IoVecs) {
        let Some(mut half) = self.take_half().await else {
            return (Err(std::io::Error::other("the write half stayed busy")), iov);
        };
        let (res, iov) = net::writev_all(&mut half, iov).await;
        let res = match res {
            Ok(()) => self.flush_pending(&mut half).await,
            Err(e) => Err(e),
        };
        if res.is_err() {
            self.failed.set(true);
        }
        *self.half.borrow_mut() = Some(half);
        (res, iov)
    }

    /// The write half, once no one else writes (a pong takes one short write).
    async fn take_half(&self) -> Option<W> {
        for _ in 0..5000 {
            if let Some(h) = self.half.borrow_mut().take() {
                return Some(h);
            }
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        None
    }

    /// A pong for `payload`: out now when the half is free, else right after the current write.
    pub async fn pong(&self, payload: &[u8]) {
        encode_frame(&mut self.pending.borrow_mut(), true, Opcode::Pong, Some(self.mask), payload);
        self.kick().await;
    }

    /// A ping carrying `payload` (a client heartbeat): out now when the half is free, else
    /// right after the current write.
    pub async fn ping(&self, payload: &[u8]) {
        encode_frame(&mut self.pending.borrow_mut(), true, Opcode::Ping, Some(self.mask), payload);
        self.kick().await;
    }

    /// Our close frame with `code` (once per session).
    pub async fn close(&self, code: u16) {
        if self.closed.replace(true) {
            return;
        }
        encode_frame(&mut self.pending.borrow_mut(), true, Opcode::Close, Some(self.mask), &close_payload(code, ""));
        self.kick().await;
    }

    /// Sends the queued control frames if no one else is writing (the writer sends them after
    /// its frame otherwise).
    async fn kick(&self) {
        if self.failed.get() {
            return;
        }
        let Some(mut half) = self.half.borrow_mut().take() else { return };
        if self.flush_pending(&mut half).await.is_err() {
            self.failed.set(true);
        }
        *self.half.borrow_mut() = Some(half);
    }

    async fn flush_pending(&self, half: &mut W) -> std::io::Result<()> {
        loop {
            let bytes = std::mem::take(&mut *self.pending.borrow_mut());
            if bytes.is_empty() {
                return Ok(());
            }
            let (res, _) = net::write_all(half, bytes).await;
            res?;
        }
    }

    /// The write half back, to drop it with the read half (closes the socket).
    pub fn into_half(self) -> Option<W> {
        self.half.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_is_early_only_before_the_answer_and_our_close() {
        assert_eq!(close_verdict(false, false), CloseVerdict::Early);
        assert_eq!(close_verdict(true, false), CloseVerdict::Normal);
        assert_eq!(close_verdict(false, true), CloseVerdict::Normal);
        assert_eq!(close_verdict(true, true), CloseVerdict::Normal);
    }
}
