//! One client connection's transport: TCP, a Unix socket, or TLS over TCP, behind one type so
//! scenarios are written once. Each call dispatches on the variant (a branch per read or write,
//! nothing boxed on the plain path). The TLS variant's futures are boxed: inline, they would
//! make every connection task (idle ones too, TLS or not) several hundred bytes larger.

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::{TcpStream, UnixStream};
use monoio::BufResult;

use crate::net::tls::{TlsReadHalf, TlsStream, TlsWriteHalf};

/// A client connection's transport.
pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// Boxed: rustls's connection state would make every connection task as large as a TLS one.
    Tls(Box<TlsStream<TcpStream>>),
}

/// The read half of a split [`Conn`].
pub enum ConnRead {
    Tcp(Half<TcpStream>),
    Unix(Half<UnixStream>),
    Tls(TlsReadHalf<Half<TcpStream>>),
}

/// The write half of a split [`Conn`].
pub enum ConnWrite {
    Tcp(WHalf<TcpStream>),
    Unix(WHalf<UnixStream>),
    Tls(TlsWriteHalf<WHalf<TcpStream>>),
}

type Half<T> = monoio::io::OwnedReadHalf<T>;
type WHalf<T> = monoio::io::OwnedWriteHalf<T>;

impl Conn {
    /// True when the peer sent bytes that are not read yet (checked without reading). Always
    /// false over TLS: its records (session tickets, alerts) are not answers.
    pub fn bytes_waiting(&self) -> bool {
        use std::os::fd::AsRawFd;
        match self {
            Conn::Tcp(s) => crate::sys::bytes_waiting(s.as_raw_fd()).unwrap_or(false),
            Conn::Unix(s) => crate::sys::bytes_waiting(s.as_raw_fd()).unwrap_or(false),
            Conn::Tls(_) => false,
        }
    }

    /// A read half and a write half usable at once from two tasks.
    pub fn into_split(self) -> (ConnRead, ConnWrite) {
        use monoio::io::Splitable;
        match self {
            Conn::Tcp(s) => {
                let (r, w) = s.into_split();
                (ConnRead::Tcp(r), ConnWrite::Tcp(w))
            }
            Conn::Unix(s) => {
                let (r, w) = s.into_split();
                (ConnRead::Unix(r), ConnWrite::Unix(w))
            }
            Conn::Tls(s) => {
                let (r, w) = s.into_split();
                (ConnRead::Tls(r), ConnWrite::Tls(w))
            }
        }
    }
}

/// A transport that can tell, without reading, whether the peer sent bytes not read yet.
pub trait Waiting {
    fn bytes_waiting(&self) -> bool;
}

impl Waiting for Conn {
    fn bytes_waiting(&self) -> bool {
        Conn::bytes_waiting(self)
    }
}

impl crate::net::Readable for Conn {
    async fn readable(&self) {
        match self {
            Conn::Tcp(s) => crate::net::Readable::readable(s).await,
            Conn::Unix(s) => crate::net::Readable::readable(s).await,
            Conn::Tls(_) => {} // the read waits (rustls holds its records)
        }
    }
}

impl crate::net::Readable for ConnRead {
    async fn readable(&self) {
        match self {
            ConnRead::Tcp(s) => s.readable().await,
            ConnRead::Unix(s) => s.readable().await,
            ConnRead::Tls(_) => {} // the read waits (rustls holds its records)
        }
    }
}

/// Runs `$call` on the stream of whichever variant `$self` is; the TLS variant's future is boxed.
macro_rules! on_stream {
    ($self:ident, $enum:ident, $s:ident => $call:expr) => {
        match $self {
            $enum::Tcp($s) => $call.await,
            $enum::Unix($s) => $call.await,
            $enum::Tls($s) => Box::pin($call).await,
        }
    };
}

/// monoio's read and write traits for a transport enum, each call passed to its stream.
macro_rules! transport {
    (read $enum:ident) => {
        impl AsyncReadRent for $enum {
            async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
                on_stream!(self, $enum, s => s.read(buf))
            }

            async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
                on_stream!(self, $enum, s => s.readv(buf))
            }
        }
    };
    (write $enum:ident) => {
        impl AsyncWriteRent for $enum {
            async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
                on_stream!(self, $enum, s => s.write(buf))
            }

            async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
                on_stream!(self, $enum, s => s.writev(buf))
            }

            async fn flush(&mut self) -> std::io::Result<()> {
                on_stream!(self, $enum, s => s.flush())
            }

            async fn shutdown(&mut self) -> std::io::Result<()> {
                on_stream!(self, $enum, s => s.shutdown())
            }
        }
    };
}

transport!(read Conn);
transport!(write Conn);
transport!(read ConnRead);
transport!(write ConnWrite);
