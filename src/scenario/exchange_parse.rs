//! Framing a batch's answers out of a connection's read buffer: the buffered bytes are fed to
//! the protocol's parser until the batch is complete or more input is needed; each answer is
//! recorded (in the stage of its request), replies to control messages collect in the
//! connection's reply buffer, and what no request asked for is told apart.

use super::{ConnState, Exchange, Fed, Wire};
use crate::scenario::WorkerCtx;
use crate::stats::ErrorClass;

impl<W: Wire> Exchange<W> {
    /// Feeds the buffered bytes to the parser until the batch is complete or more input is
    /// needed; records each answer and drops the bytes used. Replies land in `st.reply`.
    pub(super) fn parse_buffered(
        &self,
        ctx: &WorkerCtx,
        st: &mut ConnState<W::Parser>,
        sent_ns: u64,
        read_ns: u64,
        done: &mut usize,
        served: &mut u64,
    ) -> Parsed {
        let k = st.intended.len();
        let mut pos = 0;
        let mut parsed = Parsed::More;
        // Past the batch's answers only what the server may push is read; with nothing left
        // buffered the batch is complete.
        while *done < k || pos < st.rbuf.len() {
            if *done == k && self.wire.solicited_only() {
                parsed = Parsed::Unsolicited; // more answers than requests
                break;
            }
            let fed = match self.wire.feed(&mut st.parser, &st.rbuf[pos..], &mut st.reply) {
                Ok(fed) => fed,
                Err(class) => {
                    parsed = Parsed::Ends(class);
                    break;
                }
            };
            match fed {
                Fed::Answer { consumed, .. } | Fed::Failed { consumed, .. } | Fed::Pushed { consumed } if *done == k => {
                    pos += consumed;
                    ctx.shard.borrow_mut().on_pushed();
                }
                Fed::Pushed { consumed } => {
                    pos += consumed;
                    ctx.shard.borrow_mut().on_pushed();
                }
                Fed::Answer { consumed, status, keep_alive } => {
                    pos += consumed;
                    let judged = self.wire.judge(&mut st.parser, status, st.stage);
                    ctx.shard_at(st.intended[*done]).on_answer(status, judged, st.intended[*done], sent_ns, read_ns);
                    *done += 1;
                    *served += 1;
                    if !keep_alive {
                        parsed = Parsed::Ends(ErrorClass::ClosedEarly);
                        break;
                    }
                }
                Fed::Failed { consumed, class } => {
                    pos += consumed;
                    ctx.shard_at(st.intended[*done]).on_request_error(class, 1);
                    *done += 1;
                    *served += 1;
                }
                Fed::Partial { consumed } => {
                    pos += consumed;
                    break;
                }
                Fed::Skipped { consumed } | Fed::Reply { consumed } => {
                    pos += consumed;
                    if consumed == 0 {
                        break; // a parser that made no progress needs more input
                    }
                }
                Fed::Closing { consumed, code } => {
                    pos += consumed;
                    ctx.shard.borrow_mut().on_close_code(code);
                    parsed = Parsed::Ends(ErrorClass::ClosedEarly);
                    break;
                }
            }
        }
        st.rbuf.drain(..pos);
        if matches!(parsed, Parsed::More) && *done == k {
            return Parsed::Complete;
        }
        parsed
    }
}

/// What parsing the buffered bytes of a batch came to.
pub(super) enum Parsed {
    /// Answers are still missing: read more.
    More,
    /// Every answer of the batch is in.
    Complete,
    /// The connection ends; the answers still missing count as `class`.
    Ends(ErrorClass),
    /// Bytes beyond the batch's answers where every answer has a request: the connection
    /// closes and they count once as `unsolicited`, never as an answer.
    Unsolicited,
}
