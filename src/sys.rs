//! The only module with `unsafe`: operations on raw file descriptors that monoio owns.
//!
//! Everything else in the crate is safe code; each block here carries a `// SAFETY:` line.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{self, getsockopt, sockopt, Backlog};

/// Reads and clears `SO_ERROR` on a socket whose fd is owned elsewhere (by a monoio stream).
///
/// Returns `Ok(None)` when the socket has no pending error (a non-blocking connect succeeded).
pub fn take_socket_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    // SAFETY: the caller passes the fd of a live stream it holds a reference to for the whole
    // call; the borrow does not outlive this function and the fd is not closed here.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let code = getsockopt(&fd, sockopt::SocketError).map_err(io::Error::from)?;
    Ok((code != 0).then(|| io::Error::from_raw_os_error(code)))
}

/// True when a socket whose fd is owned elsewhere has bytes in its receive queue (`FIONREAD`):
/// the peer sent something nobody has read yet.
pub fn bytes_waiting(fd: RawFd) -> io::Result<bool> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points at a live local; the
    // caller passes the fd of a live stream it holds a reference to for the whole call.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n as *mut libc::c_int) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n > 0)
}

/// A non-blocking `recv` on a socket whose fd is owned elsewhere, appended to `buf`'s spare
/// capacity (which must not be empty): the bytes read, 0 at the end of the stream, `WouldBlock`
/// when nothing is waiting.
pub fn recv_now(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    // SAFETY: recv writes at most `spare.len()` bytes into the spare capacity, which `buf` owns
    // and which lives across the call; the caller passes the fd of a live stream it holds.
    let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), spare.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: the kernel initialised the first `n` bytes of the spare capacity (n <= its length).
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// A non-blocking `send` of `buf` on a socket whose fd is owned elsewhere: the bytes the kernel
/// took (`WouldBlock` when none fit). `MSG_NOSIGNAL`: a closed peer is an error, not SIGPIPE.
pub fn send_now(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: send reads at most `buf.len()` bytes from `buf`, which lives across the call; the
    // caller passes the fd of a live stream it holds.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Sets `SO_LINGER` to 0 on a socket whose fd is owned elsewhere: its close then sends an RST
/// (the embedded server's `reset` fault).
pub fn set_linger_zero(fd: RawFd) -> io::Result<()> {
    // SAFETY: the caller passes the fd of a live stream it holds a reference to for the whole
    // call; the borrow does not outlive this function and the fd is not closed here.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    nix::sys::socket::setsockopt(&fd, sockopt::Linger, &libc::linger { l_onoff: 1, l_linger: 0 }).map_err(io::Error::from)
}

/// `listen(2)`. nix's `Backlog` takes values below `SOMAXCONN` (4096) and `SOMAXCONN` itself;
/// a larger one asks for the kernel's own limit (`-1`: `net.core.somaxconn`, which caps any
/// backlog anyway), so it is honoured up to that limit.
pub fn listen(fd: &impl AsFd, backlog: i32) -> io::Result<()> {
    let backlog = match backlog.max(1) {
        b if b == i32::from(Backlog::MAXCONN) => Backlog::MAXCONN,
        b => Backlog::new(b).unwrap_or(Backlog::MAXALLOWABLE),
    };
    socket::listen(fd, backlog).map_err(io::Error::from)
}

extern "C" {
    /// mimalloc's option setter (the allocator `main` installs; linked in by the `mimalloc` crate).
    fn mi_option_set(option: libc::c_int, value: libc::c_long);
}

/// `mi_option_purge_delay` in the mimalloc v3 that `libmimalloc-sys` 0.1.49 builds (its
/// `extended.rs` numbers the options around it: 14 `eager_commit_delay`, 16 `use_numa_nodes`).
const MI_OPTION_PURGE_DELAY: libc::c_int = 15;

/// Keeps resident memory close to what is allocated (issue 21: memory per connection), for
/// this process and the processes it starts: no transparent huge pages (mimalloc asks for them
/// on its arenas, and a 2 MiB page half used is 2 MiB resident: each worker's stats and
/// buffers then cost megabytes, ~45 of 53 MB resident in a 16,000-connection run), and freed
/// pages given back at once rather than after mimalloc's 1 s delay (the connect ramp's
/// transient buffers otherwise count at the peak). `MIMALLOC_ALLOW_THP` and
/// `MIMALLOC_PURGE_DELAY` in the environment keep mimalloc's own reading of them.
pub fn lean_memory() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) takes integers only and sets a flag of
        // this process (inherited by its children); it touches no memory of ours.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set stores an integer in mimalloc's option table (any thread, any
        // time); the option number is a valid `mi_option_t` of the linked mimalloc (above).
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

/// Resident memory of this process in bytes (from /proc/self/statm).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().filter(|&p| p > 0);
    Some(pages * page.map_or(4096, |p| p as u64))
}

/// CPU time (user, system) in seconds used so far by the calling thread.
pub fn thread_cpu() -> (f64, f64) {
    rusage(nix::sys::resource::UsageWho::RUSAGE_THREAD)
}

fn rusage(who: nix::sys::resource::UsageWho) -> (f64, f64) {
    match nix::sys::resource::getrusage(who) {
        Ok(u) => (tv_secs(u.user_time()), tv_secs(u.system_time())),
        Err(_) => (0.0, 0.0),
    }
}

fn tv_secs(tv: nix::sys::time::TimeVal) -> f64 {
    tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6
}

/// The initialised bytes of a buffer monoio writes from (a TLS stream encrypts them).
pub fn io_buf_bytes<T: monoio::buf::IoBuf>(buf: &T) -> &[u8] {
    // SAFETY: the `IoBuf` contract: `read_ptr` points to `bytes_init` initialised bytes that stay
    // valid and unchanged while the buffer is borrowed, and the slice borrows `buf`.
    unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) }
}

/// Copies as much of `src` as fits into a buffer monoio reads into (a TLS stream's decrypted
/// bytes) and marks them initialised; returns how many were copied.
pub fn fill_io_buf<T: monoio::buf::IoBufMut>(buf: &mut T, src: &[u8]) -> usize {
    let n = src.len().min(buf.bytes_total());
    // SAFETY: the `IoBufMut` contract: `write_ptr` is valid for writes of `bytes_total` bytes and
    // `n` is at most that; `src` is a shared borrow of other memory than the owned `buf`, so the
    // ranges do not overlap; `set_init(n)` follows the write of exactly `n` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), buf.write_ptr(), n);
        buf.set_init(n);
    }
    n
}

/// A timerfd on `CLOCK_MONOTONIC`, non-blocking and close-on-exec, disarmed: the worker's
/// precise timer (see `engine::timer`), armed with [`timerfd_arm`].
pub fn timerfd() -> io::Result<OwnedFd> {
    // SAFETY: timerfd_create takes no pointers; a non-negative result is a new fd this process
    // owns and nothing else refers to, so the `OwnedFd` is its only owner.
    unsafe {
        let fd = libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Arms a timerfd to expire once at `CLOCK_MONOTONIC` time `at_ns` (absolute,
/// `TFD_TIMER_ABSTIME`; a time already past expires at once); `None` disarms it. Either way its
/// expiration count goes back to 0: the fd is not readable until the new time.
pub fn timerfd_arm(fd: RawFd, at_ns: Option<u64>) -> io::Result<()> {
    // An it_value of zero disarms: a time to arm is at least 1 ns.
    let at = at_ns.map_or(0, |t| t.max(1));
    let spec = libc::itimerspec {
        it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
        it_value: libc::timespec { tv_sec: (at / 1_000_000_000) as libc::time_t, tv_nsec: (at % 1_000_000_000) as libc::c_long },
    };
    // SAFETY: `spec` is a live local read by the call; the old value pointer is null (allowed);
    // the caller passes the fd of a timerfd it owns for the whole call.
    let r = unsafe { libc::timerfd_settime(fd, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock a timerfd is armed against (the `Instant` behind
/// `clock::now_ns` reads the same clock; `engine::timer` maps one onto the other once).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the pointer, which points at a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sets the calling thread's timer slack (`PR_SET_TIMERSLACK`, the kernel's default is 50 µs):
/// how late the kernel may fire the thread's timed waits to batch wake-ups.
pub fn set_timer_slack(ns: u64) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes the slack as an unsigned long by value; no pointers.
    let r = unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns.max(1) as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's timer slack in nanoseconds (`PR_GET_TIMERSLACK`).
pub fn timer_slack() -> io::Result<u64> {
    // SAFETY: PR_GET_TIMERSLACK takes no argument and returns the slack; no pointers.
    let r = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as u64)
}

/// Makes the process `cmd` starts receive `SIGKILL` when the thread that starts it ends (its
/// parent died): a `--processes` child never outlives its parent, however the parent ends.
pub fn kill_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the child between fork and exec, where only async-signal-safe
    // calls are allowed: it calls prctl(2) and getppid(2) (both are) and allocates nothing.
    // PR_SET_PDEATHSIG takes a signal number in an unsigned long, as passed.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then the signal never comes.
            if libc::getppid() == 1 {
                return Err(io::Error::other("the parent process is gone"));
            }
            Ok(())
        });
    }
}

/// The stream behind a monoio read half, for a call that takes `&self` (a readiness wait, which
/// only clones the stream's fd handle).
pub fn read_half_stream<T>(half: &monoio::io::OwnedReadHalf<T>) -> &T {
    // SAFETY: the runtime is single-threaded and the halves share the stream through this
    // `UnsafeCell`; the shared reference lives for the borrow of `half` and is only used for
    // `&self` calls that touch no state the write half mutates (monoio's own halves hand out
    // `&mut` to the same cell the same way).
    unsafe { &*half.0.get() }
}

/// A vectored write's buffer for monoio: `iovecs` point into heap memory `owner` owns (a move
/// of `owner` moves none of it), which nothing mutates or frees while monoio owns this value
/// (`net::iov` builds them so).
pub struct IovBuf<T> {
    pub iovecs: Vec<libc::iovec>,
    pub owner: T,
}

// SAFETY: per the type's contract the `iovecs` point into memory `owner` keeps alive and
// unchanged; monoio owns both for the whole write, and moving this value moves no heap bytes,
// so the pointers and the `iovecs` array itself stay valid and unchanged.
unsafe impl<T: Unpin + 'static> monoio::buf::IoVecBuf for IovBuf<T> {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iovecs.as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.iovecs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn listen_takes_small_and_large_backlogs() {
        for backlog in [1, 128, 4096, 65535] {
            let fd = socket::socket(socket::AddressFamily::Inet, socket::SockType::Stream, socket::SockFlag::SOCK_CLOEXEC, None).unwrap();
            let any = socket::SockaddrStorage::from(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
            socket::bind(fd.as_raw_fd(), &any).unwrap();
            listen(&fd, backlog).unwrap();
        }
        assert!(rss_bytes().unwrap() > 0);
    }

    #[test]
    fn socket_error_is_none_on_a_healthy_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        assert!(take_socket_error(s.as_raw_fd()).unwrap().is_none());
    }

    #[test]
    fn io_buffers_are_filled_and_read_within_their_bounds() {
        // A slice over the spare capacity after 2 kept bytes: the copy lands after them and stops
        // at the slice's end.
        let mut v = Vec::with_capacity(8);
        v.extend_from_slice(b"ab");
        let mut slice = monoio::buf::SliceMut::new(v, 2, 6);
        assert_eq!(fill_io_buf(&mut slice, b"cdefgh"), 4);
        let v = slice.into_inner();
        assert_eq!(&v, b"abcdef");
        assert_eq!(io_buf_bytes(&v), b"abcdef");
        let mut empty = Vec::new();
        assert_eq!(fill_io_buf(&mut empty, b"x"), 0);
        assert!(io_buf_bytes(&empty).is_empty());
    }

    #[test]
    fn a_timerfd_fires_at_its_absolute_time_and_rearming_clears_it() {
        let fd = timerfd().unwrap();
        let raw = fd.as_raw_fd();
        let readable = || {
            let mut p = libc::pollfd { fd: raw, events: libc::POLLIN, revents: 0 };
            // SAFETY: one pollfd, a live local; zero timeout.
            unsafe { libc::poll(&mut p, 1, 0) == 1 }
        };
        assert!(!readable(), "a new timerfd is disarmed");
        timerfd_arm(raw, Some(monotonic_ns().saturating_sub(1_000))).unwrap();
        let mut waited = 0;
        while !readable() && waited < 1000 {
            std::thread::sleep(std::time::Duration::from_micros(100));
            waited += 1;
        }
        assert!(readable(), "a time in the past fires at once");
        timerfd_arm(raw, Some(monotonic_ns() + 3_600_000_000_000)).unwrap();
        assert!(!readable(), "re-arming resets the expiration count");
        timerfd_arm(raw, None).unwrap();
        assert!(!readable());
        set_timer_slack(20_000).unwrap();
        assert_eq!(timer_slack().unwrap(), 20_000);
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let (u0, s0) = thread_cpu();
        // Busy for 50 ms of wall time (bounded), with the work kept opaque to the optimiser.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(50) {
            for i in 0..10_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        let (u1, s1) = thread_cpu();
        assert!(u1 + s1 > u0 + s0, "{u0}+{s0} -> {u1}+{s1}");
    }
}
