//! Non-blocking connect on a socket we build ourselves, then handed to monoio.
//!
//! The socket is created non-blocking, options are set, it is bound to the chosen source address
//! with `IP_BIND_ADDRESS_NO_PORT` (the port is picked at connect time per 4-tuple, so each source
//! address has its own ephemeral range), `connect(2)` is started, and monoio waits for
//! writability; `SO_ERROR` then says whether it worked. Failures come back as an
//! [`ErrorClass`], ready to be counted.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use monoio::net::TcpStream;
use nix::errno::Errno;
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};

use crate::stats::ErrorClass;

/// Options applied to every client socket (a validated config type).
pub use crate::config::ConnectOpts;

/// Opens one TCP connection to `addr`, from `source` when given.
pub async fn connect(addr: SocketAddr, source: Option<IpAddr>, opts: &ConnectOpts) -> Result<TcpStream, ErrorClass> {
    let fd = start_connect(addr, source, opts).map_err(|e| ErrorClass::from_io(&e))?;
    let std_stream = std::net::TcpStream::from(fd);
    let stream = TcpStream::from_std(std_stream).map_err(|e| ErrorClass::from_io(&e))?;
    match monoio::time::timeout(opts.timeout, stream.writable(false)).await {
        Err(_elapsed) => return Err(ErrorClass::ConnectTimeout),
        Ok(Err(e)) => return Err(ErrorClass::from_io(&e)),
        Ok(Ok(())) => {}
    }
    match crate::sys::take_socket_error(stream.as_raw_fd()) {
        Ok(None) => Ok(stream),
        Ok(Some(e)) | Err(e) => Err(ErrorClass::from_io(&e)),
    }
}

/// Creates the socket, sets options, binds the source and starts the connect.
fn start_connect(addr: SocketAddr, source: Option<IpAddr>, opts: &ConnectOpts) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)?;
    if opts.nodelay {
        socket::setsockopt(&fd, sockopt::TcpNoDelay, &true)?;
    }
    if opts.linger_zero {
        socket::setsockopt(&fd, sockopt::Linger, &libc::linger { l_onoff: 1, l_linger: 0 })?;
    }
    if let Some(ip) = source {
        if ip.is_ipv4() != addr.is_ipv4() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "source and target address families differ"));
        }
        if ip.is_ipv4() {
            // Best effort: without it the source bind still works, with a smaller port space.
            let _ = socket::setsockopt(&fd, sockopt::IpBindAddressNoPort, &true);
        }
        socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(SocketAddr::new(ip, 0)))?;
    }
    match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(addr)) {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(fd),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::runtime::block_on;

    #[test]
    fn connects_from_a_chosen_source_and_classifies_refusal() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (_, (ok, refused)) = block_on(|| async move {
            let opts = ConnectOpts::default();
            let ok = connect(addr, Some("127.0.0.3".parse().unwrap()), &opts).await.map(|s| s.local_addr().unwrap());
            let refused = connect(closed, None, &opts).await.map(|_| ());
            (ok, refused)
        })
        .unwrap();
        let local = ok.expect("connect to a live listener");
        assert_eq!(local.ip().to_string(), "127.0.0.3");
        let (_conn, peer) = listener.accept().unwrap();
        assert_eq!(peer, local);
        assert_eq!(refused.unwrap_err(), ErrorClass::Refused);
    }
}
