//! Building one monoio runtime on the current thread: io_uring first, epoll as the fallback.
//!
//! monoio's fusion driver falls back only when the io_uring probe fails, not when building the
//! ring fails (seccomp, `kernel.io_uring_disabled`, RLIMIT_MEMLOCK). Here both failures fall
//! back, and `MONOIO_FORCE_LEGACY_DRIVER=1` forces epoll. The caller learns which driver ran.

use std::future::Future;
use std::io;

use monoio::time::TimeDriver;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

/// Which I/O driver a runtime used. Every report names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverKind {
    IoUring,
    Epoll,
}

impl DriverKind {
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::IoUring => "io_uring",
            DriverKind::Epoll => "epoll",
        }
    }
}

/// io_uring submission queue size; monoio 0.2.4 must stay at or below 32768.
pub const RING_ENTRIES: u32 = 4096;

/// The io_uring setup flags a worker's ring is built with, best first; a kernel that refuses
/// a set (older kernels answer `EINVAL` to flags they do not know) gets the next one, and when
/// no ring can be built at all the worker runs on epoll.
///
/// - `Defer`: SINGLE_ISSUER + DEFER_TASKRUN (Linux 6.1+). Completions are posted only when
///   this thread enters the kernel asking for them (`IORING_ENTER_GETEVENTS`), in one batch,
///   never by an interrupt in the middle of its work. monoio 0.2.4 does so on every park: a
///   blocking park is `submit_and_wait(1)`, a park with a timeout (zero included) is
///   `submit_with_args(1, timeout)` or, without `EXT_ARG`, a timeout op and `submit_and_wait(1)`
///   — all with GETEVENTS; its only enter without it is the "cold path" submit while tasks are
///   still queued, after which the loop parks as soon as the queue is empty. The ring is built
///   and used on the worker's thread only (thread per core), as SINGLE_ISSUER requires.
/// - `Single`: SINGLE_ISSUER + COOP_TASKRUN (6.0+).
/// - `Coop`: COOP_TASKRUN (5.19+): completions are processed when the thread next enters the
///   kernel instead of by an inter-processor interrupt.
/// - `Plain`: no flags.
///
/// (TASKRUN_FLAG is not used: it only helps a program that peeks at the completion queue
/// without entering the kernel, which monoio never does.)
///
/// `STAMPEDE_URING_SETUP=defer|single|coop|plain` starts the list lower (for A/B measurements, see
/// scripts/PERF.md); unset or unknown: `defer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingSetup {
    Defer,
    Single,
    Coop,
    Plain,
}

impl RingSetup {
    /// The first set to try, from `STAMPEDE_URING_SETUP`.
    pub fn from_env() -> RingSetup {
        match std::env::var("STAMPEDE_URING_SETUP").as_deref() {
            Ok("single") => RingSetup::Single,
            Ok("coop") => RingSetup::Coop,
            Ok("plain") => RingSetup::Plain,
            Ok(_) | Err(_) => RingSetup::Defer,
        }
    }

    /// This set and every weaker one, in the order they are tried.
    pub fn fallbacks(self) -> impl Iterator<Item = RingSetup> {
        let all = [RingSetup::Defer, RingSetup::Single, RingSetup::Coop, RingSetup::Plain];
        let first = all.iter().position(|&s| s == self).unwrap_or(0);
        all.into_iter().skip(first)
    }

    /// The ring builder with this set's flags.
    pub fn builder(self) -> io_uring::Builder {
        let mut b = io_uring::IoUring::builder();
        match self {
            RingSetup::Defer => {
                b.setup_single_issuer().setup_defer_taskrun();
            }
            RingSetup::Single => {
                b.setup_single_issuer().setup_coop_taskrun();
            }
            RingSetup::Coop => {
                b.setup_coop_taskrun();
            }
            RingSetup::Plain => {}
        }
        b
    }
}

/// True when the environment asks for the epoll driver.
pub fn legacy_forced() -> bool {
    std::env::var("MONOIO_FORCE_LEGACY_DRIVER").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// True when an io_uring runtime can actually be built here (probe and ring), unless forced off.
pub fn io_uring_usable() -> bool {
    !legacy_forced() && monoio::utils::detect_uring() && RuntimeBuilder::<IoUringDriver>::new().with_entries(RING_ENTRIES).build().is_ok()
}

/// Builds a runtime on this thread and drives the future made by `make` to completion.
///
/// `make` is called after the runtime exists, so the future may create monoio sockets.
pub fn block_on<F, Fut>(make: F) -> io::Result<(DriverKind, Fut::Output)>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    block_on_from(RingSetup::from_env(), make)
}

/// [`block_on`] with the ring setups tried from `first` on.
pub fn block_on_from<F, Fut>(first: RingSetup, make: F) -> io::Result<(DriverKind, Fut::Output)>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    if !legacy_forced() && monoio::utils::detect_uring() {
        for setup in first.fallbacks() {
            let built =
                RuntimeBuilder::<IoUringDriver>::new().with_entries(RING_ENTRIES).uring_builder(setup.builder()).enable_timer().build();
            if let Ok(mut rt) = built {
                let out = rt.block_on(async move { make().await });
                return Ok((DriverKind::IoUring, out));
            }
        }
    }
    let mut rt: monoio::Runtime<TimeDriver<LegacyDriver>> =
        RuntimeBuilder::<LegacyDriver>::new().with_entries(RING_ENTRIES).enable_timer().build()?;
    let out = rt.block_on(async move { make().await });
    Ok((DriverKind::Epoll, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_future_with_a_timer() {
        let (kind, v) = block_on(|| async {
            monoio::time::sleep(std::time::Duration::from_millis(2)).await;
            7
        })
        .unwrap();
        assert_eq!(v, 7);
        assert!(matches!(kind, DriverKind::IoUring | DriverKind::Epoll));
    }

    /// Under every ring setup the kernel accepts (and its fallbacks where it refuses), reads,
    /// writes and timers complete: DEFER_TASKRUN's completions are reaped by monoio's parks.
    #[test]
    fn every_ring_setup_reaps_io_and_timers() {
        use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
        for first in RingSetup::Defer.fallbacks() {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let echo = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut b = [0u8; 64];
                for _ in 0..100 {
                    let n = std::io::Read::read(&mut s, &mut b).unwrap();
                    std::io::Write::write_all(&mut s, &b[..n]).unwrap();
                }
            });
            let (_, got) = block_on_from(first, move || async move {
                let mut s = monoio::net::TcpStream::connect(addr).await.unwrap();
                let mut buf = vec![0u8; 64];
                let mut total = 0;
                for i in 0..100u8 {
                    let (r, _) = s.write_all(vec![i; 8]).await;
                    r.unwrap();
                    let mut got = 0;
                    while got < 8 {
                        let (r, b) = s.read(buf).await;
                        buf = b;
                        let n = r.unwrap();
                        assert!(n > 0 && buf[..n].iter().all(|&x| x == i));
                        got += n;
                    }
                    total += got;
                    if i % 25 == 0 {
                        monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
                total
            })
            .unwrap();
            echo.join().unwrap();
            assert_eq!(got, 800, "{first:?}");
        }
    }
}
