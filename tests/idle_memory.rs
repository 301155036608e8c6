//! Idle connections hold no buffers (issue 21): the embedded server lends each connection its
//! read and write buffers only while it has bytes to read or answer, and memory per held
//! connection stays under its budget (RSS of separate generator and server processes, 10,000
//! connections, generous margins).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::embedded;

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
        let n = s.read(&mut b).expect("the server answers");
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
