//! A throttled daemon: the embedded server's whole-server limits (`--max-concurrent`,
//! `--max-rate N/PERIOD`) counted exactly, and plans that drive a target through them.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use stampede::server::limit::{Limits, OverLimit, RateLimit};
use stampede::server::{self, ServeConfig, ServerHandle};

fn limited(threads: usize, limits: Limits) -> ServerHandle {
    server::start(&ServeConfig { threads, limits, ..common::loopback() }).expect("embedded server starts")
}

/// Opens a connection and sends one request for `path` (not waiting for the answer).
fn send(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    s
}

/// The status of the answer on `s` (read to its close).
fn status(mut s: TcpStream) -> u16 {
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"))
}

fn tally(statuses: &[u16], code: u16) -> usize {
    statuses.iter().filter(|&&s| s == code).count()
}

#[test]
fn max_concurrent_refuses_exactly_the_requests_beyond_it_across_threads() {
    // 150 requests that each stay 2 s in progress, on two server threads: 100 are served, 50
    // refused, whichever thread took them (one shared count).
    let srv = limited(2, Limits { max_concurrent: Some(100), ..Default::default() });
    let conns: Vec<TcpStream> = (0..150).map(|_| send(srv.local_addr(), "/delay/2000")).collect();
    let statuses: Vec<u16> = conns.into_iter().map(status).collect();
    assert_eq!((tally(&statuses, 200), tally(&statuses, 429)), (100, 50), "{statuses:?}");
    // All of them done: the count is back to 0, a new request is served.
    assert_eq!(status(send(srv.local_addr(), "/")), 200);
    let c = srv.stop();
    assert_eq!((c.served, c.refused_concurrent, c.refused_rate, c.peak_in_progress), (101, 50, 0, 100), "{c:?}");
}

#[test]
fn max_concurrent_can_answer_503_and_counts_pipelined_requests() {
    let srv = limited(1, Limits { max_concurrent: Some(3), over_limit_status: OverLimit::Unavailable, ..Default::default() });
    let held: Vec<TcpStream> = (0..3).map(|_| send(srv.local_addr(), "/delay/1500")).collect();
    std::thread::sleep(Duration::from_millis(300));
    // Two pipelined requests on a fourth connection while three are in progress: both refused.
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert_eq!(answer.matches("HTTP/1.1 503 ").count(), 2, "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");
    let statuses: Vec<u16> = held.into_iter().map(status).collect();
    assert_eq!(statuses, vec![200, 200, 200]);
    let c = srv.stop();
    assert_eq!((c.served, c.refused_concurrent), (3, 2), "{c:?}");
}

#[test]
fn max_rate_is_a_sliding_window_for_the_whole_server() {
    // 5 per 3 s on two threads: of 12 requests at once exactly 5 are served; the window slides
    // from the first admission, so 3 s later 5 more fit, and no more.
    let srv = limited(2, Limits { max_rate: Some(RateLimit { count: 5, period_ns: 3_000_000_000 }), ..Default::default() });
    let first: Vec<u16> = (0..12).map(|_| send(srv.local_addr(), "/")).map(status).collect();
    assert_eq!((tally(&first, 200), tally(&first, 429)), (5, 7), "{first:?}");
    std::thread::sleep(Duration::from_millis(3200));
    let second: Vec<u16> = (0..8).map(|_| send(srv.local_addr(), "/")).map(status).collect();
    assert_eq!((tally(&second, 200), tally(&second, 429)), (5, 3), "{second:?}");
    let c = srv.stop();
    assert_eq!((c.served, c.refused_concurrent, c.refused_rate), (10, 0, 10), "{c:?}");
}

#[test]
fn serve_limit_flags_are_validated_and_summarised() {
    for (args, want) in [
        (&["--max-concurrent", "0"][..], "--max-concurrent must be at least 1"),
        (&["--max-rate", "2000"][..], "write N/PERIOD"),
        (&["--max-rate", "10/0s"][..], "the period must be"),
        (&["--over-limit-status", "500"][..], "give 429 or 503"),
        (&["--max-rate", "5/s", "--processes", "2"][..], "drop --processes"),
    ] {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let r = common::stampede_raw(&all);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}
