//! Every client transport, and the only client code that awaits I/O.
//!
//! - [`conn`]: the one transport type scenarios use, [`Conn`]: TCP, a Unix socket, or TLS over
//!   TCP, split into read and write halves.
//! - [`connect`](mod@connect): TCP sockets created by hand, options set (`TCP_NODELAY`,
//!   `IP_BIND_ADDRESS_NO_PORT`, optional `SO_LINGER 0`), connected non-blocking, handed to monoio.
//! - [`dial`](mod@dial): a run's target dialed (Unix, TCP from the source pool, then TLS) with retry and
//!   backoff ([`backoff`]), each attempt counted.
//! - [`io`]: reads under a deadline, writes of a connection's own bytes or of slices of a run's
//!   [`Shared`] buffer (zero-copy), and a protocol's opening exchange.
//! - [`iov`]: vectored writes of own bytes and ranges of shared buffers ([`IoVecs`]): a
//!   message's shared bytes are never copied per message.
//! - [`lend`]: buffers a worker lends its connections ([`Lender`]), and waiting for bytes
//!   without a buffer ([`Readable`]): an idle connection holds none.
//! - [`source`]: the source-address pool (`--source`).
//! - [`tls`]: rustls driven on owned buffers, for the client and the embedded server.
//!
//! It never parses application bytes: protocols decide what the bytes mean.

pub mod backoff;
pub mod conn;
pub mod connect;
pub mod dial;
pub mod io;
pub mod iov;
pub mod lend;
pub mod source;
pub mod tls;

pub use backoff::Backoff;
pub use conn::{Conn, Waiting};
pub use connect::{connect, ConnectOpts};
pub use dial::{dial, Run};
pub use io::{open_with, read_done, read_into, read_some, shared, within, write_all, write_until, Deadline, Handle, ReadOutcome, Shared};
pub use iov::{writev_all, writev_until, IoVecs};
pub use lend::{Lender, Loan, Readable};
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
