//! A connection's read buffer, lent by its worker: borrowed at the first read of a batch,
//! grown up to the protocol's largest unit, given back when the connection waits (see
//! `net::lend`). An idle connection holds no read buffer.

use super::{ConnState, Exchange, Wire, FIRST_READ};
use crate::scenario::WorkerCtx;

impl<W: Wire> Exchange<W> {
    /// Makes room in the read buffer for the next read: a buffer lent by the worker at the first
    /// read of a batch (holding what was kept), or a full one doubled up to the protocol's
    /// largest unit. False when the buffer is full at that size (the parser should have refused
    /// the input).
    pub(super) fn room_to_read(&self, ctx: &WorkerCtx, st: &mut ConnState<W::Parser>) -> bool {
        let rbuf = &mut st.rbuf;
        if !st.lent {
            ctx.lender().lend(rbuf, FIRST_READ.min(self.wire.read_buf()));
            st.lent = true;
        } else if rbuf.len() == rbuf.capacity() {
            let (cap, max) = (rbuf.capacity(), self.wire.read_buf());
            if cap >= max {
                return false;
            }
            rbuf.reserve_exact(cap.min(max - cap));
        }
        true
    }
}

/// Gives the read buffer back to the worker when the connection waits: its bytes (a pushed
/// message half in, rare) stay in a right-sized `Vec`.
pub(super) fn settle<P>(ctx: &WorkerCtx, st: &mut ConnState<P>) {
    if std::mem::take(&mut st.lent) {
        ctx.lender().settle(&mut st.rbuf);
    }
}
