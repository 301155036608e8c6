//! [`TlsStream`]: TLS over any monoio stream, rustls driven on owned buffers.
//!
//! The stream owns the transport and two ciphertext buffers: bytes read from the socket are fed
//! to rustls, bytes rustls produces are written out with the same owned-buffer writes as the
//! plain path. It implements monoio's `AsyncReadRent`/`AsyncWriteRent`, so every scenario and the
//! embedded server run over it unchanged. Plaintext is copied once each way (into rustls to be
//! encrypted, out of rustls into the caller's buffer).

use std::cell::RefCell;
use std::io::{self, BufRead, Write};
use std::rc::Rc;
use std::sync::Arc;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut, IoVecWrapper, IoVecWrapperMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};
use monoio::BufResult;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

use super::verify::tls_error;

/// Largest ciphertext read buffer: one full TLS record (16 KiB of data plus header and tag).
const RX_BUF: usize = 16 * 1024 + 512;
/// First ciphertext read buffer; it grows to [`RX_BUF`] after a read that fills it. Small answers
/// never need more, and idle connections then hold 4 KiB here instead of 16.
const RX_FIRST: usize = 4 * 1024;

/// A TLS connection over the stream `S`.
pub struct TlsStream<S> {
    io: S,
    core: Core,
    /// Ciphertext read from `io`, not yet handed to rustls.
    rx: Vec<u8>,
    /// Ciphertext produced by rustls, not yet written to `io`.
    tx: Vec<u8>,
}

/// The rustls state and whether the transport reached its end.
pub struct Core {
    conn: rustls::Connection,
    eof: bool,
}

/// Access to the [`Core`]: owned by a whole stream, shared by the two halves of a split one.
/// Never held across an await, so the halves cannot both hold it.
trait WithCore {
    fn with<R>(&mut self, f: impl FnOnce(&mut Core) -> R) -> R;
}

impl WithCore for Core {
    fn with<R>(&mut self, f: impl FnOnce(&mut Core) -> R) -> R {
        f(self)
    }
}

impl WithCore for Rc<RefCell<Core>> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Core) -> R) -> R {
        f(&mut self.borrow_mut())
    }
}

/// What a completed client handshake was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The session was resumed (no certificate exchange).
    pub resumed: bool,
}

impl<S: AsyncReadRent + AsyncWriteRent> TlsStream<S> {
    /// Runs a client handshake over `io` for `name` (SNI and certificate check).
    pub async fn connect(io: S, config: Arc<ClientConfig>, name: ServerName<'static>) -> io::Result<(TlsStream<S>, Handshake)> {
        let conn = ClientConnection::new(config, name).map_err(tls_error)?;
        let mut s = TlsStream::new(io, conn.into());
        // The client's last flight (its Finished) stays queued: it leaves with the first request,
        // in the same segment, instead of a packet of its own.
        s.handshake(false).await?;
        let resumed = s.core.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        Ok((s, Handshake { resumed }))
    }

    /// Runs a server handshake over an accepted `io`.
    pub async fn accept(io: S, config: Arc<ServerConfig>) -> io::Result<TlsStream<S>> {
        let conn = ServerConnection::new(config).map_err(tls_error)?;
        let mut s = TlsStream::new(io, conn.into());
        s.handshake(true).await?;
        Ok(s)
    }

    fn new(io: S, conn: rustls::Connection) -> TlsStream<S> {
        TlsStream { io, core: Core { conn, eof: false }, rx: Vec::with_capacity(RX_FIRST), tx: Vec::new() }
    }

    /// The transport under the TLS layer.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The negotiated ALPN protocol, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.core.conn.alpn_protocol()
    }

    /// Drives the handshake to its end; `flush_last`: also write the last flight now.
    async fn handshake(&mut self, flush_last: bool) -> io::Result<()> {
        while self.core.conn.is_handshaking() {
            if self.core.conn.wants_write() {
                write_tx(&mut self.core, &mut self.io, &mut self.tx).await?;
            } else if !read_rx(&mut self.core, &mut self.io, &mut self.rx).await? {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed during the TLS handshake"));
            }
        }
        if flush_last {
            write_tx(&mut self.core, &mut self.io, &mut self.tx).await?;
        }
        Ok(())
    }
}

impl<S: AsyncReadRent + AsyncWriteRent + Splitable> TlsStream<S>
where
    S::OwnedRead: AsyncReadRent,
    S::OwnedWrite: AsyncWriteRent,
{
    /// A read half and a write half that can be used at once from two tasks (a streaming
    /// session's sender and receiver). The read half never writes: what rustls wants to send
    /// after reading (rare for a client), or a client's Finished when nothing was written since
    /// the handshake, goes out with the next write. Split after the first write.
    pub fn into_split(self) -> (TlsReadHalf<S::OwnedRead>, TlsWriteHalf<S::OwnedWrite>) {
        let (r, w) = self.io.into_split();
        let core = Rc::new(RefCell::new(self.core));
        (TlsReadHalf { io: r, core: Rc::clone(&core), rx: self.rx }, TlsWriteHalf { io: w, core, tx: self.tx })
    }
}

/// The read half of a split [`TlsStream`].
pub struct TlsReadHalf<R> {
    io: R,
    core: Rc<RefCell<Core>>,
    rx: Vec<u8>,
}

/// The write half of a split [`TlsStream`].
pub struct TlsWriteHalf<W> {
    io: W,
    core: Rc<RefCell<Core>>,
    tx: Vec<u8>,
}

/// Writes out everything rustls has queued.
async fn write_tx<C: WithCore, W: AsyncWriteRent>(core: &mut C, io: &mut W, tx: &mut Vec<u8>) -> io::Result<()> {
    core.with(|c| {
        while c.conn.wants_write() {
            c.conn.write_tls(tx)?;
        }
        Ok::<_, io::Error>(())
    })?;
    if tx.is_empty() {
        return Ok(());
    }
    let (res, mut buf) = io.write_all(std::mem::take(tx)).await;
    buf.clear();
    *tx = buf;
    res.map(|_| ())
}

/// Reads ciphertext and processes it. `Ok(false)`: the transport is at end of stream.
async fn read_rx<C: WithCore, R: AsyncReadRent>(core: &mut C, io: &mut R, rx: &mut Vec<u8>) -> io::Result<bool> {
    if rx.is_empty() {
        if core.with(|c| c.eof) {
            return Ok(false);
        }
        if rx.capacity() == 0 {
            rx.reserve_exact(RX_FIRST); // the buffer went with a cancelled read
        }
        let (res, buf) = crate::net::read_more(io, std::mem::take(rx)).await;
        *rx = buf;
        let n = res?;
        if n == rx.capacity() && n < RX_BUF {
            rx.reserve_exact(RX_BUF - n); // bulk data: read whole records from now on
        }
        if n == 0 {
            // Tells rustls the transport closed: its reader then reports the end.
            return core.with(|c| {
                c.eof = true;
                c.conn.read_tls(&mut io::empty())?;
                c.process().map(|_| false)
            });
        }
    }
    core.with(|c| {
        let mut input = &rx[..];
        let used = c.conn.read_tls(&mut input)?;
        rx.drain(..used);
        c.process().map(|_| true)
    })
}

impl Core {
    /// Processes received records; a failure is an error of its TLS class (the alert rustls
    /// queued for the peer is dropped with the connection).
    fn process(&mut self) -> io::Result<()> {
        self.conn.process_new_packets().map(|_| ()).map_err(tls_error)
    }

    /// Copies decrypted bytes into `buf`: `Some(n)` (0 at the end of the stream), or `None` when
    /// none are ready.
    fn take_plain<T: IoBufMut>(&mut self, buf: &mut T) -> Option<io::Result<usize>> {
        let mut reader = self.conn.reader();
        match reader.fill_buf() {
            Ok([]) => Some(Ok(0)), // close_notify
            Ok(chunk) => {
                let n = crate::sys::fill_io_buf(buf, chunk);
                reader.consume(n);
                Some(Ok(n))
            }
            // A peer that closes without close_notify: the end of the stream, as on plain TCP
            // (answers delimited by the close still complete).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Some(Ok(0)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Reads decrypted bytes into `buf`, reading and processing ciphertext until some are ready.
async fn read_plain<C: WithCore, R: AsyncReadRent, T: IoBufMut>(
    core: &mut C,
    io: &mut R,
    rx: &mut Vec<u8>,
    mut buf: T,
) -> BufResult<usize, T> {
    loop {
        if let Some(res) = core.with(|c| c.take_plain(&mut buf)) {
            return (res, buf);
        }
        if let Err(e) = read_rx(core, io, rx).await {
            return (Err(e), buf);
        }
    }
}

/// Encrypts what rustls takes of `buf` and writes it out.
async fn write_plain<C: WithCore, W: AsyncWriteRent, T: IoBuf>(core: &mut C, io: &mut W, tx: &mut Vec<u8>, buf: T) -> BufResult<usize, T> {
    let n = match core.with(|c| c.conn.writer().write(crate::sys::io_buf_bytes(&buf))) {
        Ok(n) => n,
        Err(e) => return (Err(e), buf),
    };
    (write_tx(core, io, tx).await.map(|_| n), buf)
}

impl<S: AsyncReadRent + AsyncWriteRent> AsyncReadRent for TlsStream<S> {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        // A client that reads first still sends its Finished before waiting for the server.
        if self.core.conn.wants_write() {
            if let Err(e) = write_tx(&mut self.core, &mut self.io, &mut self.tx).await {
                return (Err(e), buf);
            }
        }
        let (res, buf) = read_plain(&mut self.core, &mut self.io, &mut self.rx, buf).await;
        // A key update may want an answer.
        if res.is_ok() && self.core.conn.wants_write() {
            if let Err(e) = write_tx(&mut self.core, &mut self.io, &mut self.tx).await {
                return (Err(e), buf);
            }
        }
        (res, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        readv_first(self, buf).await
    }
}

impl<S: AsyncReadRent + AsyncWriteRent> AsyncWriteRent for TlsStream<S> {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        write_plain(&mut self.core, &mut self.io, &mut self.tx, buf).await
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        writev_first(self, buf).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        flush(&mut self.core, &mut self.io, &mut self.tx).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        shutdown(&mut self.core, &mut self.io, &mut self.tx).await
    }
}

impl<R: AsyncReadRent> AsyncReadRent for TlsReadHalf<R> {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        read_plain(&mut self.core, &mut self.io, &mut self.rx, buf).await
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        readv_first(self, buf).await
    }
}

impl<W: AsyncWriteRent> AsyncWriteRent for TlsWriteHalf<W> {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        write_plain(&mut self.core, &mut self.io, &mut self.tx, buf).await
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        writev_first(self, buf).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        flush(&mut self.core, &mut self.io, &mut self.tx).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        shutdown(&mut self.core, &mut self.io, &mut self.tx).await
    }
}

/// `readv` as a read into the first buffer of the vector (what a TLS reader can fill at once).
async fn readv_first<R: AsyncReadRent, T: IoVecBufMut>(r: &mut R, buf: T) -> BufResult<usize, T> {
    match IoVecWrapperMut::new(buf) {
        Ok(first) => {
            let (res, first) = r.read(first).await;
            (res, first.into_inner())
        }
        Err(buf) => (Ok(0), buf),
    }
}

/// `writev` as a write of the first buffer of the vector.
async fn writev_first<W: AsyncWriteRent, T: IoVecBuf>(w: &mut W, buf: T) -> BufResult<usize, T> {
    match IoVecWrapper::new(buf) {
        Ok(first) => {
            let (res, first) = w.write(first).await;
            (res, first.into_inner())
        }
        Err(buf) => (Ok(0), buf),
    }
}

async fn flush<C: WithCore, W: AsyncWriteRent>(core: &mut C, io: &mut W, tx: &mut Vec<u8>) -> io::Result<()> {
    write_tx(core, io, tx).await?;
    io.flush().await
}

/// Sends close_notify, then shuts the transport's write side.
async fn shutdown<C: WithCore, W: AsyncWriteRent>(core: &mut C, io: &mut W, tx: &mut Vec<u8>) -> io::Result<()> {
    core.with(|c| c.conn.send_close_notify());
    write_tx(core, io, tx).await?;
    io.shutdown().await
}
