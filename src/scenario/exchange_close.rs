//! The end of a connection that ends with the run or its plan slot: where the protocol has a
//! closing handshake ([`Wire::closing`], WebSocket), our close goes out and the connection waits
//! a bounded time for the peer's, by [`ws_session`](crate::scenario::ws_session)'s rules: at most
//! [`CLOSE_WAIT_NS`], and no later than [`CLOSE_AFTER_END_NS`] past the run's end (the worker
//! waits that long for its connections). What arrives meanwhile (late
//! answers of requests already counted in flight, pushes, pings) is read and dropped: after our
//! close nothing more is sent (no pong: RFC 6455 §5.5.1 forbids data, a pong is not needed). A close in answer to ours is normal, so it is not counted.

use monoio::io::{AsyncReadRent, AsyncWriteRent};

use super::{write_reply, ConnState, Exchange, Fed, Wire};
use crate::clock;
use crate::net::{self, ReadOutcome};
use crate::scenario::ws_session::{CLOSE_AFTER_END_NS, CLOSE_WAIT_NS};
use crate::scenario::WorkerCtx;

/// The first read of a closing connection: a close frame (2 + 2 + 123 bytes at most) fits.
const CLOSE_READ: usize = 128;

impl<W: Wire> Exchange<W> {
    /// Sends the protocol's close, if it has one, and waits for the peer's.
    pub(super) async fn farewell<S: AsyncReadRent + AsyncWriteRent>(&self, ctx: &WorkerCtx, stream: &mut S, st: &mut ConnState<W::Parser>) {
        st.reply.clear();
        if !self.wire.closing(&mut st.reply) {
            return;
        }
        let now = clock::now_ns();
        // After its --close-rate turn, a connection gets the same time as at the end itself.
        let until = ctx.end_ns.map_or(u64::MAX, |e| e.max(now).saturating_add(CLOSE_AFTER_END_NS)).min(now.saturating_add(CLOSE_WAIT_NS));
        if !matches!(write_reply(ctx, stream, &mut st.reply, until).await, Some(Ok(()))) {
            return;
        }
        loop {
            let mut pos = 0;
            while pos < st.rbuf.len() {
                match self.wire.feed(&mut st.parser, &st.rbuf[pos..], &mut st.reply) {
                    Ok(Fed::Closing { .. }) | Err(_) => return, // the server's close (or garbage)
                    Ok(Fed::Partial { consumed }) => {
                        pos += consumed;
                        break;
                    }
                    Ok(
                        Fed::Skipped { consumed }
                        | Fed::Answer { consumed, .. }
                        | Fed::Failed { consumed, .. }
                        | Fed::Reply { consumed }
                        | Fed::Pushed { consumed },
                    ) => {
                        pos += consumed;
                        if consumed == 0 {
                            break;
                        }
                    }
                }
            }
            st.rbuf.drain(..pos);
            st.reply.clear(); // no pong after our close (RFC 6455 §5.5.1)
            if st.rbuf.is_empty() {
                // Every connection of a run closes at its end, at once: each waiting for the
                // peer's close in a lent 4 KiB buffer, or borrowing one when readable (io_uring
                // reads complete a round later: all are borrowed first), held 4 KiB each
                // (16,000 WebSocket connections: +26 MB at the end). The close fits in a small
                // buffer of the connection's own; more bytes grow it into a lent one.
                super::buf::settle(ctx, st);
                st.rbuf = Vec::with_capacity(CLOSE_READ);
            } else if !self.room_to_read(ctx, st) {
                return;
            }
            match net::read_some(stream, &mut st.rbuf, until, &ctx.shard).await {
                ReadOutcome::Data => {}
                ReadOutcome::Eof | ReadOutcome::TimedOut | ReadOutcome::Failed(_) => return,
            }
        }
    }
}
