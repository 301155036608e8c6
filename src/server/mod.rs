//! The embedded target server: thread-per-core on the same runtime as the generator.
//!
//! Owns: listeners (one `SO_REUSEPORT` socket per worker, so the kernel spreads connections;
//! an optional Unix socket whose one listening socket every worker accepts from), worker threads
//! and their stop flag, and the throttles that reproduce a busy daemon (`max_connections` →
//! 503 and close, `max_rps` → 429 per worker share, and the whole-server `--max-concurrent` and
//! `--max-rate N/PERIOD` of `server::limit`). What each connection says lives in `server::http`; the fault
//! modes (`--fault`) in `server::fault`. Never used by the load engine itself.
//!
//! The per-connection code is generic over the transport ([`ServerConn`]): TCP, Unix sockets and
//! any wrapper (TLS) that reads and writes monoio's owned buffers; it is monomorphised per
//! transport, so nothing on the hot path is boxed or dynamic.

pub mod asr;
pub mod chat;
mod chat_json;
pub mod fault;
pub mod http;
pub mod limit;
pub mod raw;
pub mod unix;
pub mod ws;

pub use chat::ChatSettings;

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};

use crate::engine::runtime::{self, DriverKind};
use crate::error::{Error, Result};
use crate::net::tls::TlsStream;

/// How often a server worker checks its stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub threads: usize,
    /// Pin worker i to `cpus[i % len]` when non-empty.
    pub cpus: Vec<usize>,
    pub max_connections: Option<u64>,
    pub max_rps: Option<u64>,
    pub backlog: i32,
    pub asr: AsrMock,
    /// Fault modes (`--fault`); empty: a healthy server.
    pub faults: fault::FaultPlan,
    /// A second address for a raw echo (`--raw-listen`), one listener per worker.
    pub raw_listen: Option<SocketAddr>,
    /// Also serve every route on this Unix socket (`--unix`); one listening socket that every
    /// worker accepts from.
    pub unix: Option<PathBuf>,
    /// Serve TLS (https, wss) on `listen` with this configuration; the Unix socket and the raw
    /// echo stay plain.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Chat keepalive (`--ws-ping-interval`, `--ws-ping-timeout`).
    pub chat: ChatSettings,
    /// Whole-server limits: requests in progress, requests per sliding window.
    pub limits: limit::Limits,
}

/// A stream the server speaks over: TCP, a Unix socket, or a wrapper such as TLS. The server's
/// connection code is generic over it (monomorphised: no boxing, no dynamic dispatch).
pub trait ServerConn: AsyncReadRent + AsyncWriteRent + crate::net::Readable + Sized + 'static {
    /// The halves a chat member's reader and writer tasks own (see [`ServerConn::split`]).
    type ReadHalf: AsyncReadRent + 'static;
    type WriteHalf: AsyncWriteRent + 'static;

    /// Halves that read and write at the same time (a chat member reads its messages while its
    /// writer task sends the room's). `Err(self)`: this transport cannot be split; chat members
    /// on it are then closed with 1011 after the upgrade. A wrapper whose reads and writes share
    /// state (TLS) may answer `Err` or share that state between its halves.
    fn split(self) -> std::result::Result<(Self::ReadHalf, Self::WriteHalf), Self>;

    /// Makes dropping the stream an abortive close (TCP: `SO_LINGER 0`, an RST), for the `reset`
    /// fault. The default does nothing: the close stays an ordinary one (a Unix socket has no
    /// reset). A wrapper delegates to the stream it wraps.
    fn abort_on_close(&mut self) {}
}

impl ServerConn for monoio::net::TcpStream {
    type ReadHalf = monoio::io::OwnedReadHalf<Self>;
    type WriteHalf = monoio::io::OwnedWriteHalf<Self>;

    fn split(self) -> std::result::Result<(Self::ReadHalf, Self::WriteHalf), Self> {
        Ok(self.into_split())
    }

    fn abort_on_close(&mut self) {
        let _ = crate::sys::set_linger_zero(self.as_raw_fd());
    }
}

impl ServerConn for monoio::net::UnixStream {
    type ReadHalf = monoio::io::OwnedReadHalf<Self>;
    type WriteHalf = monoio::io::OwnedWriteHalf<Self>;

    fn split(self) -> std::result::Result<(Self::ReadHalf, Self::WriteHalf), Self> {
        Ok(self.into_split())
    }
}

/// What a connection's task does before HTTP: nothing, or a TLS handshake. Runs in the
/// connection's own task, so a slow handshake never holds up the accept loop.
pub(crate) trait Establish<S>: 'static {
    type Conn: ServerConn;
    async fn establish(&self, stream: S) -> Option<Self::Conn>;
}

/// Plain: the accepted stream is the connection.
#[derive(Clone, Copy)]
pub(crate) struct Plain;

impl<S: ServerConn> Establish<S> for Plain {
    type Conn = S;
    async fn establish(&self, stream: S) -> Option<S> {
        Some(stream)
    }
}

/// TLS: a server handshake first, bounded by [`TLS_HANDSHAKE_TIMEOUT`]; a failed one is dropped.
pub(crate) struct Tls(pub Arc<rustls::ServerConfig>);

/// Longest a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Establish<monoio::net::TcpStream> for Tls {
    type Conn = TlsStream<monoio::net::TcpStream>;
    async fn establish(&self, stream: monoio::net::TcpStream) -> Option<Self::Conn> {
        let handshake = TlsStream::accept(stream, Arc::clone(&self.0));
        monoio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await.ok()?.ok()
    }
}

impl ServerConn for TlsStream<monoio::net::TcpStream> {
    type ReadHalf = crate::net::tls::TlsReadHalf<monoio::io::OwnedReadHalf<monoio::net::TcpStream>>;
    type WriteHalf = crate::net::tls::TlsWriteHalf<monoio::io::OwnedWriteHalf<monoio::net::TcpStream>>;

    fn split(self) -> std::result::Result<(Self::ReadHalf, Self::WriteHalf), Self> {
        Ok(self.into_split())
    }

    fn abort_on_close(&mut self) {
        let _ = crate::sys::set_linger_zero(self.get_ref().as_raw_fd());
    }
}

/// A listening socket the HTTP accept loop takes connections from.
pub(crate) trait Listener: 'static {
    type Conn: ServerConn;
    /// The next connection, with its transport's options set.
    async fn accept_conn(&self) -> std::io::Result<Self::Conn>;
}

impl Listener for monoio::net::TcpListener {
    type Conn = monoio::net::TcpStream;

    async fn accept_conn(&self) -> std::io::Result<Self::Conn> {
        let (stream, _) = self.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

impl Listener for monoio::net::UnixListener {
    type Conn = monoio::net::UnixStream;

    async fn accept_conn(&self) -> std::io::Result<Self::Conn> {
        Ok(self.accept().await?.0)
    }
}

/// Writes all of `buf` (if any) and clears it for reuse; false when the write failed.
pub(crate) async fn flush<S: AsyncWriteRent>(stream: &mut S, buf: &mut Vec<u8>) -> bool {
    if buf.is_empty() {
        return true;
    }
    let (res, mut b) = stream.write_all(std::mem::take(buf)).await;
    b.clear();
    *buf = b;
    res.is_ok()
}

/// How much a connection borrows for a read, and the remainder below which it gives the buffer
/// back while it waits for the next bytes.
pub(crate) const LEND: usize = 4096;

/// Reads more of the client's bytes into `rbuf`. A connection with nothing buffered, or only a
/// small remainder (under `cap` bytes), gives its buffer back and waits for bytes holding only
/// that remainder, then borrows one of `cap` for the read; one deep in a large message keeps its
/// buffer (more is on its way), doubling it up to `max` when full. False when the client is
/// gone (end of stream, an error) or the buffer is full at `max`.
pub(crate) async fn read_lent<S: ServerConn>(stream: &mut S, rbuf: &mut crate::net::Loan<'_>, cap: usize, max: usize) -> bool {
    if rbuf.len() < cap {
        rbuf.settle();
        stream.readable().await;
    }
    rbuf.lend(cap);
    if rbuf.len() == rbuf.capacity() {
        if rbuf.capacity() >= max {
            return false;
        }
        let grow = rbuf.capacity().min(max - rbuf.capacity());
        rbuf.reserve_exact(grow);
    }
    let (res, b) = crate::net::read_more(stream, std::mem::take(&mut **rbuf)).await;
    **rbuf = b;
    matches!(res, Ok(n) if n > 0)
}

/// The mock recogniser behind `/asr` (vosk protocol).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AsrMock {
    /// A partial result every this many milliseconds of audio received.
    pub partial_ms: u32,
    /// Processing cost after the end of audio: seconds per second of audio.
    pub rtf: f64,
    /// Sessions at once; over it the upgrade is answered and closed with 1013.
    pub max_sessions: Option<u64>,
}

impl Default for AsrMock {
    fn default() -> Self {
        AsrMock { partial_ms: 200, rtf: 0.1, max_sessions: None }
    }
}

/// State shared by the server's workers (touched per connection, never per request).
pub(crate) struct Shared {
    pub stop: AtomicBool,
    pub open: AtomicU64,
    pub max_connections: Option<u64>,
    /// This worker's share of `max_rps`.
    pub rps_share: Option<u64>,
    pub asr: AsrMock,
    pub asr_sessions: AtomicU64,
    pub faults: fault::FaultPlan,
    pub chat: chat::ChatSettings,
    pub limiter: limit::Limiter,
    /// Buffers the workers' connections hold on loan ([`crate::net::Lender`]), as each worker
    /// last published it (every `STOP_POLL`).
    pub lent: AtomicU64,
}

/// What one worker's accept loops share (its rate window and fault draws): a worker that accepts
/// on TCP and on a Unix socket still answers `max_rps` and `--fault` rates as one.
pub(crate) struct Worker {
    pub shared: Arc<Shared>,
    pub window: http::RateWindow,
    pub faults: fault::Picker,
    /// What this worker answered under the limits (added to the shared totals when it stops).
    pub counts: limit::WorkerCounts,
    /// Read and write buffers, lent to connections while they have something to read or write.
    pub lender: crate::net::Lender,
}

/// A running server. Dropping it without `stop` leaves the threads running (and removes the Unix
/// socket's file, so no new client finds them there).
pub struct ServerHandle {
    addr: SocketAddr,
    raw_addr: Option<SocketAddr>,
    unix: Option<unix::Bound>,
    driver: DriverKind,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the raw echo listens (`--raw-listen`), with the port chosen for port 0.
    pub fn raw_addr(&self) -> Option<SocketAddr> {
        self.raw_addr
    }

    /// The Unix socket every route is also served on (`--unix`).
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix.as_ref().map(unix::Bound::path)
    }

    pub fn driver(&self) -> DriverKind {
        self.driver
    }

    /// Read and write buffers the connections hold now, summed over the workers (each publishes
    /// its count every 20 ms): 0 when every connection is idle.
    pub fn buffers_lent(&self) -> u64 {
        self.shared.lent.load(Ordering::Relaxed)
    }

    /// Stops every worker and waits for them (each notices within `STOP_POLL`), then removes
    /// the Unix socket's file. Returns what the server answered under its limits.
    pub fn stop(self) -> limit::ServeCounts {
        self.shared.stop.store(true, Ordering::Relaxed);
        let shared = Arc::clone(&self.shared);
        self.wait();
        shared.limiter.counts()
    }

    /// Waits until the workers stop.
    fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Binds one listener per worker on the same address (and the Unix socket, once) and starts the
/// workers.
pub fn start(cfg: &ServeConfig) -> Result<ServerHandle> {
    let threads = cfg.threads.max(1);
    let first = bind_reuseport(cfg.listen, cfg.backlog).map_err(|e| listen_error(cfg.listen, e))?;
    let addr = first.local_addr().map_err(|e| Error::io("cannot read the listening address", e))?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(bind_reuseport(addr, cfg.backlog).map_err(|e| listen_error(addr, e))?);
    }
    let mut raw_listeners: Vec<Option<TcpListener>> = (0..threads).map(|_| None).collect();
    let mut raw_addr = None;
    if let Some(raw) = cfg.raw_listen {
        let first = bind_reuseport(raw, cfg.backlog).map_err(|e| listen_error(raw, e))?;
        let at = first.local_addr().map_err(|e| Error::io("cannot read the raw listening address", e))?;
        raw_listeners[0] = Some(first);
        for slot in raw_listeners.iter_mut().skip(1) {
            *slot = Some(bind_reuseport(at, cfg.backlog).map_err(|e| listen_error(at, e))?);
        }
        raw_addr = Some(at);
    }
    // Bound last: an error above leaves no socket file behind (and dropping `unix` removes it).
    let unix = cfg.unix.as_deref().map(|p| unix::bind(p, cfg.backlog)).transpose()?;
    let mut unix_listeners = Vec::with_capacity(threads);
    for _ in 0..threads {
        let dup = unix.as_ref().map(unix::Bound::for_worker).transpose();
        unix_listeners.push(dup.map_err(|e| Error::io("cannot share the Unix socket with a worker", e))?);
    }
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        open: AtomicU64::new(0),
        max_connections: cfg.max_connections,
        rps_share: cfg.max_rps.map(|r| (r / threads as u64).max(1)),
        asr: cfg.asr,
        asr_sessions: AtomicU64::new(0),
        faults: cfg.faults.clone(),
        chat: cfg.chat,
        limiter: limit::Limiter::new(cfg.limits),
        lent: AtomicU64::new(0),
    });
    // block_on picks io_uring exactly when this probe succeeds, so the probe names the driver.
    let driver = if runtime::io_uring_usable() { DriverKind::IoUring } else { DriverKind::Epoll };
    let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<(), String>>();
    let mut handles = Vec::with_capacity(threads);
    let per_worker = listeners.into_iter().zip(raw_listeners).zip(unix_listeners);
    for (i, ((listener, raw_listener), unix_listener)) in per_worker.enumerate() {
        let shared_w = Arc::clone(&shared);
        let tls = cfg.tls.clone();
        let ready = ready_tx.clone();
        let cpu = (!cfg.cpus.is_empty()).then(|| cfg.cpus[i % cfg.cpus.len()]);
        let spawned = std::thread::Builder::new().name(format!("stampede-serve{i}")).spawn(move || {
            if let Some(id) = cpu {
                core_affinity::set_for_current(core_affinity::CoreId { id });
            }
            let ready_inner = ready.clone();
            let result = runtime::block_on(move || async move {
                let closers = match closers(&listener, raw_listener.as_ref(), unix_listener.as_ref()) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_inner.send(Err(e));
                        return;
                    }
                };
                let registered = register(listener, raw_listener, unix_listener);
                let (listener, raw_listener, unix_listener) = match registered {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_inner.send(Err(e));
                        return;
                    }
                };
                let worker = Rc::new(Worker {
                    window: http::RateWindow::default(),
                    faults: fault::Picker::new(&shared_w.faults),
                    shared: Arc::clone(&shared_w),
                    counts: limit::WorkerCounts::default(),
                    lender: crate::net::Lender::new(),
                });
                // `no-accept`: the listeners stay open and are never accepted from.
                let _parked = if shared_w.faults.no_accept() {
                    Some((listener, unix_listener))
                } else {
                    match tls {
                        None => drop(monoio::spawn(http::accept_loop(listener, Rc::clone(&worker), Plain))),
                        Some(config) => drop(monoio::spawn(http::accept_loop(listener, Rc::clone(&worker), Tls(config)))),
                    }
                    if let Some(l) = unix_listener {
                        monoio::spawn(http::accept_loop(l, Rc::clone(&worker), Plain));
                    }
                    None
                };
                if let Some(raw) = raw_listener {
                    monoio::spawn(raw::accept_loop(raw, Arc::clone(&shared_w)));
                }
                let _ = ready_inner.send(Ok(()));
                let mut published = 0u64;
                while !shared_w.stop.load(Ordering::Relaxed) {
                    monoio::time::sleep(STOP_POLL).await;
                    let lent = worker.lender.lent();
                    shared_w.lent.fetch_add(lent.wrapping_sub(published), Ordering::Relaxed);
                    published = lent;
                }
                stop_listening(closers);
                worker.counts.add_to(&shared_w.limiter);
            });
            if let Err(e) = result {
                let _ = ready.send(Err(format!("cannot build a runtime: {e}")));
            }
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                shared.stop.store(true, Ordering::Relaxed);
                return Err(Error::io("cannot spawn a server thread", e));
            }
        }
    }
    drop(ready_tx);
    for _ in 0..threads {
        let failure = match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => format!("server worker failed: {e}"),
            Err(_) => "server workers did not start".to_string(),
        };
        shared.stop.store(true, Ordering::Relaxed);
        for t in handles {
            let _ = t.join();
        }
        return Err(Error::run(failure));
    }
    Ok(ServerHandle { addr, raw_addr, unix, driver, shared, threads: handles })
}

/// Duplicates of a worker's listening sockets, to stop them listening at `stop()`: the accept
/// loops are tasks parked in an accept when the worker's main future returns, and the socket
/// outlives them (the task is not dropped with the run queue, and an in-flight io_uring accept
/// holds the file until the kernel tears the ring down, asynchronously), so the port would go on
/// completing handshakes into the backlog.
fn closers(
    listener: &TcpListener,
    raw: Option<&TcpListener>,
    unix: Option<&std::os::unix::net::UnixListener>,
) -> std::result::Result<Vec<OwnedFd>, String> {
    let mut fds = vec![listener.try_clone().map(OwnedFd::from)];
    fds.extend(raw.map(|l| l.try_clone().map(OwnedFd::from)));
    fds.extend(unix.map(|l| l.try_clone().map(OwnedFd::from)));
    fds.into_iter().collect::<std::io::Result<_>>().map_err(|e| format!("cannot duplicate a listener: {e}"))
}

/// Stops the listening sockets: `shutdown(2)` on a listening socket ends its listen state (the
/// kernel refuses new connections at once, queued ones are reset) and fails the accept waiting
/// on it, whatever task owns the socket.
fn stop_listening(closers: Vec<OwnedFd>) {
    for fd in closers {
        let _ = socket::shutdown(fd.as_raw_fd(), socket::Shutdown::Both);
    }
}

/// One worker's listeners, registered with its runtime.
type Registered = (monoio::net::TcpListener, Option<monoio::net::TcpListener>, Option<monoio::net::UnixListener>);

fn register(
    listener: TcpListener,
    raw: Option<TcpListener>,
    unix: Option<std::os::unix::net::UnixListener>,
) -> std::result::Result<Registered, String> {
    let listener = monoio::net::TcpListener::from_std(listener).map_err(|e| format!("cannot register the listener: {e}"))?;
    let raw = raw.map(monoio::net::TcpListener::from_std).transpose().map_err(|e| format!("cannot register the raw listener: {e}"))?;
    let unix =
        unix.map(monoio::net::UnixListener::from_std).transpose().map_err(|e| format!("cannot register the Unix socket listener: {e}"))?;
    Ok((listener, raw, unix))
}

fn listen_error(addr: SocketAddr, e: std::io::Error) -> Error {
    let hint = match e.raw_os_error() {
        Some(libc::EADDRINUSE) => " (something already listens there: pick another port, or port 0 for a free one)",
        Some(libc::EACCES) => " (ports below 1024 need root)",
        Some(libc::EADDRNOTAVAIL) => " (that address is not on this machine)",
        _ => "",
    };
    Error::io(format!("cannot listen on {addr}{hint}"), e)
}

/// Refuses `addr` when another process already listens there. Our listeners set
/// `SO_REUSEPORT`, so binding over another `SO_REUSEPORT` listener of the same user succeeds
/// silently and the two servers share the port's connections: probe with a socket that does not
/// set it, which the kernel refuses while anyone listens (`SO_REUSEADDR` lets it past sockets in
/// TIME_WAIT). Port 0 is always free; other probe errors are left to the real bind to report.
pub fn ensure_unclaimed(addr: SocketAddr) -> Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let Ok(fd) = socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None) else { return Ok(()) };
    let _ = socket::setsockopt(&fd, sockopt::ReuseAddr, &true);
    match socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr)) {
        Err(nix::errno::Errno::EADDRINUSE) => Err(Error::usage(format!(
            "cannot listen on {addr}: another process already listens there (pick another port, or port 0 for a free one)"
        ))),
        Ok(()) | Err(_) => Ok(()),
    }
}

/// A listening socket with `SO_REUSEPORT`, ready for monoio.
fn bind_reuseport(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::setsockopt(&fd, sockopt::ReusePort, &true)?;
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    crate::sys::listen(&fd, backlog)?;
    Ok(TcpListener::from(fd))
}
