//! What the embedded server writes when a fault is met: the HTTP answers (stalls, resets, drips,
//! malformed heads and bodies, huge heads, garbage) and the WebSocket ones. Large answers are
//! static slices or streamed, never buffered.

use std::sync::OnceLock;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};

use super::super::http::{PATTERN, PATTERN_LEN};
use super::super::ServerConn;
use super::*;
use crate::proto::ws::frame::{encode_frame, FrameHeader, Opcode};

/// What a connection does after an HTTP fault.
pub(crate) enum After {
    /// Go on reading requests (the client decides to close).
    Read,
    /// Close the connection (for `reset`: with RST).
    Close,
}

pub(super) const STALL_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
pub(super) const RESET_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
pub(super) const DRIP_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n";
pub(super) const BAD_STATUS: &[u8] = b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n";
pub(super) const BAD_CHUNK: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nfault\r\n0\r\n\r\n";
pub(super) const SHORT_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";

/// The `huge-head` answer, built once.
pub(super) fn huge_head() -> &'static [u8] {
    static HEAD: OnceLock<Vec<u8>> = OnceLock::new();
    HEAD.get_or_init(|| {
        let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..HUGE_HEADERS {
            h.extend_from_slice(format!("X-Huge-{i:02}: ").as_bytes());
            h.extend(std::iter::repeat_n(b'h', HUGE_VALUE));
            h.extend_from_slice(b"\r\n");
        }
        h.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        h
    })
}

/// The `garbage` answer: xorshift bytes from a fixed seed, built once.
pub(super) fn garbage() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..GARBAGE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    })
}

/// Writes a static slice; false when the peer is gone.
async fn send<S: AsyncWriteRent>(stream: &mut S, bytes: &'static [u8]) -> bool {
    stream.write_all(bytes).await.0.is_ok()
}

/// Reads and drops whatever comes until the peer closes (bounded: one small buffer).
async fn drain<S: AsyncReadRent>(stream: &mut S) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let (res, b) = crate::net::read_more(stream, buf).await;
        buf = b;
        if !matches!(res, Ok(n) if n > 0) {
            return;
        }
    }
}

/// Writes `n` pattern bytes; false when the peer is gone.
async fn stream_pattern<S: AsyncWriteRent>(stream: &mut S, mut n: u64) -> bool {
    while n > 0 {
        let k = n.min(PATTERN_LEN as u64) as usize;
        if !send(stream, &PATTERN[..k]).await {
            return false;
        }
        n -= k as u64;
    }
    true
}

/// Answers one request with `fault` (the responses before it are already written).
pub(crate) async fn http<S: ServerConn>(stream: &mut S, fault: HttpFault) -> After {
    let ok = match fault {
        HttpFault::Reset => {
            if send(stream, RESET_HEAD).await && send(stream, &PATTERN[..100]).await {
                stream.abort_on_close();
            }
            // Dropping the stream closes it: over TCP an RST; over a Unix socket (no reset) an
            // end of stream in the middle of the body.
            return After::Close;
        }
        HttpFault::Stall => {
            if send(stream, STALL_HEAD).await {
                drain(stream).await;
            }
            return After::Close;
        }
        HttpFault::Drip => {
            let mut ok = send(stream, DRIP_HEAD).await;
            for i in 0..DRIP_BYTES {
                if !ok {
                    break;
                }
                monoio::time::sleep(DRIP_DELAY).await;
                ok = send(stream, &PATTERN[i..i + 1]).await;
            }
            ok
        }
        HttpFault::BadStatus => send(stream, BAD_STATUS).await,
        HttpFault::HugeHead => send(stream, huge_head()).await,
        HttpFault::BadChunk => send(stream, BAD_CHUNK).await,
        HttpFault::ShortBody => {
            // FIN (not RST) after the short body, then wait for the client to close.
            if send(stream, SHORT_HEAD).await && send(stream, &PATTERN[..10]).await && stream.shutdown().await.is_ok() {
                drain(stream).await;
            }
            return After::Close;
        }
        HttpFault::Garbage => send(stream, garbage()).await,
    };
    if ok {
        After::Read
    } else {
        After::Close
    }
}

/// What the echo loop does after a faulty answer to a message.
pub(crate) enum WsAnswer {
    /// Written into the buffer; go on.
    Written,
    /// A close frame was written: close after the write.
    Close,
    /// Write the buffer, then this many pattern bytes (an oversized frame's payload).
    Stream(u64),
}

/// Answers one echoed message with `fault` into `w`.
pub(crate) fn ws_answer(fault: WsFault, w: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) -> WsAnswer {
    match fault {
        WsFault::BadOpcode => {
            let start = w.len();
            encode_frame(w, true, opcode, None, payload);
            w[start] = (w[start] & 0xF0) | 0x3; // reserved non-control opcode
            WsAnswer::Written
        }
        WsFault::Masked => {
            encode_frame(w, true, opcode, Some([0x5A, 0xA5, 0x3C, 0xC3]), payload);
            WsAnswer::Written
        }
        WsFault::Oversized => {
            FrameHeader { fin: true, opcode: Opcode::Binary, mask: None, payload_len: OVERSIZED }.encode(w);
            WsAnswer::Stream(OVERSIZED)
        }
        WsFault::CloseNoStatus => {
            encode_frame(w, true, Opcode::Close, None, &[]);
            WsAnswer::Close
        }
        WsFault::PingFlood => {
            for i in 0..PING_FLOOD {
                encode_frame(w, true, Opcode::Ping, None, format!("flood-{i:02}").as_bytes());
            }
            encode_frame(w, true, opcode, None, payload);
            WsAnswer::Written
        }
    }
}

/// Writes the rest of a [`WsAnswer::Stream`]; false when the peer is gone.
pub(crate) async fn ws_stream<S: AsyncWriteRent>(stream: &mut S, n: u64) -> bool {
    stream_pattern(stream, n).await
}
