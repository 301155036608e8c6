//! The embedded target server: thread-per-core on the same runtime as the generator.
//!
//! Owns: listeners (one `SO_REUSEPORT` socket per worker, so the kernel spreads connections),
//! worker threads and their stop flag, and the two throttles that reproduce a busy daemon
//! (`max_connections` → 503 and close, `max_rps` → 429). What each connection says lives in
//! `server::http`; the fault modes (`--fault`) in `server::fault`. Never used by the load engine
//! itself.

pub mod asr;
pub mod chat;
pub mod fault;
pub mod http;
pub mod raw;
pub mod ws;

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};

use crate::engine::runtime::{self, DriverKind};
use crate::error::{Error, Result};

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
}

/// A running server. Dropping it without `stop` leaves the threads running.
pub struct ServerHandle {
    addr: SocketAddr,
    raw_addr: Option<SocketAddr>,
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

    pub fn driver(&self) -> DriverKind {
        self.driver
    }

    /// Stops every worker and waits for them (each notices within `STOP_POLL`).
    pub fn stop(self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.wait();
    }

    /// Waits until the workers stop.
    fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Binds one listener per worker on the same address and starts the workers.
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
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        open: AtomicU64::new(0),
        max_connections: cfg.max_connections,
        rps_share: cfg.max_rps.map(|r| (r / threads as u64).max(1)),
        asr: cfg.asr,
        asr_sessions: AtomicU64::new(0),
        faults: cfg.faults.clone(),
    });
    // block_on picks io_uring exactly when this probe succeeds, so the probe names the driver.
    let driver = if runtime::io_uring_usable() { DriverKind::IoUring } else { DriverKind::Epoll };
    let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<(), String>>();
    let mut handles = Vec::with_capacity(threads);
    for (i, (listener, raw_listener)) in listeners.into_iter().zip(raw_listeners).enumerate() {
        let shared_w = Arc::clone(&shared);
        let ready = ready_tx.clone();
        let cpu = (!cfg.cpus.is_empty()).then(|| cfg.cpus[i % cfg.cpus.len()]);
        let spawned = std::thread::Builder::new().name(format!("stampede-serve{i}")).spawn(move || {
            if let Some(id) = cpu {
                core_affinity::set_for_current(core_affinity::CoreId { id });
            }
            let ready_inner = ready.clone();
            let result = runtime::block_on(move || async move {
                let listener = match monoio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_inner.send(Err(format!("cannot register the listener: {e}")));
                        return;
                    }
                };
                // `no-accept`: the listener stays open and is never accepted from.
                let _parked = if shared_w.faults.no_accept() {
                    Some(listener)
                } else {
                    monoio::spawn(http::accept_loop(listener, Arc::clone(&shared_w)));
                    None
                };
                if let Some(raw) = raw_listener {
                    match monoio::net::TcpListener::from_std(raw) {
                        Ok(l) => {
                            monoio::spawn(raw::accept_loop(l, Arc::clone(&shared_w)));
                        }
                        Err(e) => {
                            let _ = ready_inner.send(Err(format!("cannot register the raw listener: {e}")));
                            return;
                        }
                    }
                }
                let _ = ready_inner.send(Ok(()));
                while !shared_w.stop.load(Ordering::Relaxed) {
                    monoio::time::sleep(STOP_POLL).await;
                }
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
    Ok(ServerHandle { addr, raw_addr, driver, shared, threads: handles })
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
