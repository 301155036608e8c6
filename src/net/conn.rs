//! One client connection's transport: TCP, a Unix socket, or TLS over TCP, behind one type so
//! scenarios are written once. Each call dispatches on the variant (a branch per read or write,
//! nothing boxed on the plain path). The TLS variant's futures are boxed: inline, they would
//! make every connection task (idle ones too, TLS or not) several hundred bytes larger.

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::{TcpStream, UnixStream};
use monoio::BufResult;

use crate::net::tls::{TlsReadHalf, TlsStream, TlsWriteHalf};

pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// Boxed: rustls's connection state would make every connection task as large as a TLS one.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncReadRent for Conn {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Conn::Tcp(s) => s.read(buf).await,
            Conn::Unix(s) => s.read(buf).await,
            Conn::Tls(s) => Box::pin(s.read(buf)).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Conn::Tcp(s) => s.readv(buf).await,
            Conn::Unix(s) => s.readv(buf).await,
            Conn::Tls(s) => Box::pin(s.readv(buf)).await,
        }
    }
}

impl AsyncWriteRent for Conn {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Conn::Tcp(s) => s.write(buf).await,
            Conn::Unix(s) => s.write(buf).await,
            Conn::Tls(s) => Box::pin(s.write(buf)).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Conn::Tcp(s) => s.writev(buf).await,
            Conn::Unix(s) => s.writev(buf).await,
            Conn::Tls(s) => Box::pin(s.writev(buf)).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.flush().await,
            Conn::Unix(s) => s.flush().await,
            Conn::Tls(s) => Box::pin(s.flush()).await,
        }
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.shutdown().await,
            Conn::Unix(s) => s.shutdown().await,
            Conn::Tls(s) => Box::pin(s.shutdown()).await,
        }
    }
}

impl Conn {
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

type Half<T> = monoio::io::OwnedReadHalf<T>;
type WHalf<T> = monoio::io::OwnedWriteHalf<T>;

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

impl AsyncReadRent for ConnRead {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ConnRead::Tcp(s) => s.read(buf).await,
            ConnRead::Unix(s) => s.read(buf).await,
            ConnRead::Tls(s) => Box::pin(s.read(buf)).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ConnRead::Tcp(s) => s.readv(buf).await,
            ConnRead::Unix(s) => s.readv(buf).await,
            ConnRead::Tls(s) => Box::pin(s.readv(buf)).await,
        }
    }
}

impl AsyncWriteRent for ConnWrite {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ConnWrite::Tcp(s) => s.write(buf).await,
            ConnWrite::Unix(s) => s.write(buf).await,
            ConnWrite::Tls(s) => Box::pin(s.write(buf)).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ConnWrite::Tcp(s) => s.writev(buf).await,
            ConnWrite::Unix(s) => s.writev(buf).await,
            ConnWrite::Tls(s) => Box::pin(s.writev(buf)).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            ConnWrite::Tcp(s) => s.flush().await,
            ConnWrite::Unix(s) => s.flush().await,
            ConnWrite::Tls(s) => Box::pin(s.flush()).await,
        }
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            ConnWrite::Tcp(s) => s.shutdown().await,
            ConnWrite::Unix(s) => s.shutdown().await,
            ConnWrite::Tls(s) => Box::pin(s.shutdown()).await,
        }
    }
}
