//! The embedded server's WebSocket side: `/ws/echo` echoes every message, answers pings and
//! the close handshake. Frames from clients must be masked (RFC 6455 §5.1); a protocol error
//! closes with 1002, an oversized message with 1009. Echoes may meet a fault (`server::fault`).

use super::fault::{self, Picker, WsAnswer, WsFault};
use super::ServerConn;
use crate::net::Loan;
use crate::proto::ws::frame::{close_payload, encode_frame, DecodeError, Decoder, Event, FrameError, Opcode, Role};

/// Largest frame and message the server accepts.
pub const MAX_FRAME: u64 = 1 << 20;
pub const MAX_MESSAGE: usize = 4 << 20;

/// Echoes until the client closes. `rbuf` holds bytes that came after the upgrade request.
/// Each echo meets the fault `fixed` (a `/fault/ws-*` route) or one drawn by `faults`.
/// Its buffers are lent by the worker while it has bytes to read or answer (`read_lent`): an
/// idle connection holds none.
pub(crate) async fn echo<S: ServerConn>(mut stream: S, mut rbuf: Loan<'_>, faults: &Picker, fixed: Option<WsFault>) {
    let mut dec = Decoder::new(Role::Server, MAX_FRAME, MAX_MESSAGE);
    let mut wbuf = Loan::new(rbuf.lender());
    loop {
        // Lent for echoes only: pongs and closes are a few bytes in a `Vec` of the connection's
        // own, dropped once written (every client closing at once, or pinging at once, would
        // otherwise borrow 4 KiB each while the writes are out).
        let mut pos = 0;
        let mut closing = false;
        let mut tail = 0u64;
        loop {
            match dec.decode(&rbuf[pos..]) {
                Ok((0, _)) => break,
                Ok((n, ev)) => {
                    pos += n;
                    match ev {
                        None | Some(Event::Pong(_)) => {}
                        Some(Event::Message { opcode, payload }) => match faults.for_message(fixed) {
                            None => {
                                wbuf.lend(super::LEND);
                                encode_frame(&mut wbuf, true, opcode, None, payload)
                            }
                            Some(f) => match fault::ws_answer(f, &mut wbuf, opcode, payload) {
                                WsAnswer::Written => {}
                                WsAnswer::Close => {
                                    closing = true;
                                    break;
                                }
                                WsAnswer::Stream(n) => {
                                    tail = n;
                                    break;
                                }
                            },
                        },
                        Some(Event::Ping(p)) => encode_frame(&mut wbuf, true, Opcode::Pong, None, p),
                        Some(Event::Close { code, .. }) => {
                            encode_frame(&mut wbuf, true, Opcode::Close, None, &close_payload(code.unwrap_or(1000), ""));
                            closing = true;
                            break;
                        }
                    }
                }
                Err(e) => {
                    let code = match e {
                        DecodeError::MessageTooLarge | DecodeError::Frame(FrameError::TooLarge) => 1009,
                        DecodeError::BadUtf8 => 1007,
                        DecodeError::Frame(
                            FrameError::ReservedBits
                            | FrameError::BadOpcode
                            | FrameError::ControlTooLong
                            | FrameError::FragmentedControl
                            | FrameError::BadLength
                            | FrameError::MaskExpected
                            | FrameError::MaskUnexpected,
                        )
                        | DecodeError::UnexpectedContinuation
                        | DecodeError::ExpectedContinuation
                        | DecodeError::BadClosePayload => 1002,
                    };
                    encode_frame(&mut wbuf, true, Opcode::Close, None, &close_payload(code, ""));
                    closing = true;
                    break;
                }
            }
        }
        rbuf.drain(..pos);
        if !super::flush(&mut stream, &mut wbuf).await || closing {
            return;
        }
        if tail > 0 && !fault::ws_stream(&mut stream, tail).await {
            return;
        }
        wbuf.settle();
        if !super::read_lent(&mut stream, &mut rbuf, super::LEND, READ_MAX).await {
            return;
        }
    }
}

/// Largest read buffer of a WebSocket connection: one largest frame (and its header) beyond a
/// lent buffer's worth of remainder.
pub(crate) const READ_MAX: usize = MAX_FRAME as usize + 14 + super::LEND;

/// Answers with a close frame of `code` after what `wbuf` already holds, and writes it all (the
/// connection ends after this).
pub(crate) async fn close_with<S: ServerConn>(stream: &mut S, mut wbuf: Vec<u8>, code: u16) {
    encode_frame(&mut wbuf, true, Opcode::Close, None, &close_payload(code, ""));
    let _ = monoio::io::AsyncWriteRentExt::write_all(stream, wbuf).await;
}
