//! Client sockets: created by hand, options set, connected non-blocking, handed to monoio.
//!
//! This is the only client code that awaits connects. It owns the source-address pool
//! (`--source`), the socket options (`TCP_NODELAY`, `IP_BIND_ADDRESS_NO_PORT`, optional
//! `SO_LINGER 0`) and the reconnect backoff, the TLS layer over a socket (`tls`: rustls driven on
//! owned buffers, for the client and the embedded server) and the one transport type scenarios
//! use (`conn`). It never parses application bytes.

pub mod backoff;
pub mod conn;
pub mod connect;
pub mod source;
pub mod tls;

pub use backoff::Backoff;
pub use conn::Conn;
pub use connect::{connect, ConnectOpts};
pub use source::{parse_sources, SourcePool};

/// Reads more bytes into the spare capacity of `buf`, after the bytes it already holds.
///
/// monoio's `read` on a plain `Vec` writes from index 0 and would overwrite unconsumed bytes;
/// reading through a `SliceMut` over `len..capacity` appends. A full buffer is an error here,
/// never a zero-length read that would look like end of stream.
pub async fn read_more<R: monoio::io::AsyncReadRent>(stream: &mut R, buf: Vec<u8>) -> (std::io::Result<usize>, Vec<u8>) {
    let (len, cap) = (buf.len(), buf.capacity());
    if len == cap {
        return (Err(std::io::Error::other("read buffer full")), buf);
    }
    let (res, slice) = stream.read(monoio::buf::SliceMut::new(buf, len, cap)).await;
    (res, slice.into_inner())
}
