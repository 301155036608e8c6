//! Idle connections hold no buffers (issue 21): the embedded server lends each connection its
//! read and write buffers only while it has bytes to read or answer, and memory per held
//! connection stays under its budget (RSS of separate generator and server processes, 10,000
//! connections, generous margins).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{embedded, u};

/// Polls `lent` until it reads `want` (the server's workers publish every 20 ms); bounded.
fn settles_at(lent: impl Fn() -> u64, want: u64) -> u64 {
    let mut now = lent();
    for _ in 0..250 {
        if now == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        now = lent();
    }
    now
}

fn read_until(s: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while !got.windows(end.len()).any(|w| w == end) {
        let n = match s.read(&mut b) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r.expect("the server answers"),
        };
        assert!(n > 0, "the server closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&b[..n]);
    }
    got
}

#[test]
fn idle_keep_alive_and_websocket_connections_hold_no_server_buffers() {
    let srv = embedded(None, None);
    let addr = srv.local_addr();
    let mut conns = Vec::new();
    for i in 0..60 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            read_until(&mut s, b"Hello from stampede\n");
        } else {
            let key = "dGhlIHNhbXBsZSBub25jZQ==";
            let up = format!("GET /ws/echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n");
            s.write_all(up.as_bytes()).unwrap();
            read_until(&mut s, b"\r\n\r\n");
            // A masked text frame "hi" (mask 0): echoed unmasked.
            s.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']).unwrap();
            assert_eq!(read_until(&mut s, b"hi"), [0x81, 0x02, b'h', b'i']);
        }
        conns.push(s);
    }
    assert_eq!(settles_at(|| srv.buffers_lent(), 0), 0, "answered and idle: no connection holds a buffer");
    // Half a request: its bytes are kept in a right-sized Vec, no lent buffer waits for the rest.
    for s in conns.iter_mut().step_by(2).take(10) {
        s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(settles_at(|| srv.buffers_lent(), 0), 0, "a partial request holds only its bytes");
    for s in conns.iter_mut().step_by(2).take(10) {
        s.write_all(b"st: t\r\n\r\n").unwrap();
        read_until(s, b"Hello from stampede\n");
    }
    drop(conns);
    srv.stop();
}

/// RSS in bytes of process `pid` (Linux).
fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// 10,000 connections held by `stampede hold` against `stampede serve`, each its own process:
/// user memory per connection (RSS growth / connections) on both sides, in bytes, or `None`
/// when the open-files limit is too low for the test. The server's RSS is sampled until the
/// hold ends (its teardown included).
fn held_memory(name: &str, path: &str) -> Option<(f64, f64)> {
    let limit = nofile_limit();
    if limit < 10_500 {
        eprintln!("SKIPPED: the open-files limit is {limit}; this test needs 10,500 per process (ulimit -n)");
        return None;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let bin = env!("CARGO_BIN_EXE_stampede");
    let mut serve = Command::new(bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "-t", "1", "--backlog", "16384"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = (0..250).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "stampede serve did not start");
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_of(serve.id());
    let json = common::temp_json(name);
    let url = format!("{}://127.0.0.1:{port}{path}", if path.starts_with("/ws") { "ws" } else { "http" });
    let mut hold = Command::new(bin)
        .args(["hold", &url, "-c", "10000", "--every", "10s", "-d", "6s", "-t", "1"])
        .args(["--connect-timeout", "20s", "--no-preflight", "--json"])
        .arg(&json)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = before;
    for _ in 0..600 {
        peak = peak.max(rss_of(serve.id()));
        if hold.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = hold.kill();
    let _ = hold.wait();
    let _ = serve.kill();
    let _ = serve.wait();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("hold wrote its result")).unwrap();
    let _ = std::fs::remove_file(&json);
    let open = u(&v, &["connections", "peak_open"]);
    assert!(open >= 9_900, "10,000 connections held: {open} at the peak; {v}");
    let gen = v["generator"]["bytes_per_connection"].as_f64().expect("the generator's memory per connection");
    let srv = (peak - before) as f64 / open as f64;
    eprintln!("{url}: per connection: generator {gen:.0} B, server {srv:.0} B");
    Some((gen, srv))
}

/// HTTP keep-alive: user memory per held connection under budget on both sides. Measured in
/// release (issue 21, 2026-12-03; one process each, 16,000 connections): generator 1.7 KiB,
/// server 1.2-1.5 KiB (before: 3.4 and 3.5 KiB at 100k, the server 11.6 KiB before it lent its
/// buffers). Here a debug build at 10k, whose futures are larger and whose fixed costs weigh
/// more (4.7 and 1.0-2.4 KiB measured): the bounds (1.5x, 2x) catch a connection that pins a
/// read buffer again (4 KiB or more each).
#[test]
fn memory_per_held_connection_stays_under_budget_at_10k() {
    let Some((gen, srv)) = held_memory("hold10k", "/") else { return };
    assert!(gen <= 7168.0, "generator: {gen:.0} bytes per idle connection (debug build; 4.7 KiB measured)");
    assert!(srv <= 4096.0, "server: {srv:.0} bytes per idle connection (debug build; 1.0-2.4 KiB measured)");
}

/// WebSocket echo (pings every 10 s, the closing handshake of every connection at the end):
/// the same at 10k, connections opened all at once. Release, 16,000 held: generator 3.4 KiB
/// (its handshakes in flight at the ramp count at the peak). The server's peak was its bursts:
/// 10,000 upgrades answered, or closes read, at once each held a lent 4 KiB buffer until
/// io_uring completed the op a round later (debug: 9.1 KiB per connection); it now reads and
/// writes what is there at once (`ServerConn::read_now`, `write_now`): 1.9 KiB. The bounds
/// (1.5x, 2x) catch a lent buffer per connection again.
#[test]
fn memory_per_held_websocket_stays_under_budget_at_10k() {
    let Some((gen, srv)) = held_memory("holdws10k", "/ws/echo") else { return };
    assert!(gen <= 8192.0, "generator: {gen:.0} bytes per idle WebSocket connection (debug build; 5.3 KiB measured)");
    assert!(
        srv <= 4096.0,
        "server: {srv:.0} bytes per idle WebSocket connection (debug build; 1.9 KiB measured, 9.1 KiB before it read and wrote at once)"
    );
}

fn nofile_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
