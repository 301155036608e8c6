//! `stampede raw` against the embedded server's raw echo (`serve --raw-listen`): every framing,
//! pipelined answers arriving several to a read, open loop, `--expect` failures, misuse; `--seq`
//! numbers (against the echo, and against a line server written here that records them).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{stampede, stampede_raw, u};
use stampede::server::{self, ServeConfig, ServerHandle};

fn echo_server() -> ServerHandle {
    server::start(&ServeConfig { raw_listen: Some("127.0.0.1:0".parse().unwrap()), ..common::loopback() }).expect("embedded server starts")
}

fn tcp(srv: &ServerHandle) -> String {
    format!("tcp://{}", srv.raw_addr().expect("raw echo listens"))
}

#[test]
fn every_framing_gets_its_answers() {
    let srv = echo_server();
    let url = tcp(&srv);
    for framing in [
        vec!["--message", "{\"op\":\"ping\"}"],
        vec!["--message", "PING", "--delimiter", "\\r\\n"],
        vec!["--message", "hello", "--length-prefix", "u16be"],
        vec!["--message", "hello", "--length-prefix", "u32le"],
        vec!["--message", "abcdefgh", "--fixed-size", "8"],
    ] {
        // Pipelined: 4 answers in flight per connection, so several arrive in one read.
        let mut args = vec!["raw", url.as_str(), "-c", "2", "-t", "1", "-n", "400", "--pipeline", "4"];
        args.extend(framing.iter().copied());
        let r = stampede(&args);
        assert_eq!(r.code, 0, "{framing:?}: {}{}", r.stdout, r.stderr);
        let v = r.json.unwrap();
        assert_eq!(u(&v, &["requests", "ok"]), 400, "{framing:?}: {v}");
        assert!(v["errors"].as_object().unwrap().is_empty(), "{framing:?}: {v}");
        common::assert_accounted(&v);
    }
    srv.stop();
}

#[test]
fn open_loop_and_expect_checks() {
    let srv = echo_server();
    let url = tcp(&srv);
    let r = stampede(&["raw", &url, "--message", "{\"op\":\"ping\"}", "--expect", "ping", "-c", "4", "-t", "1", "-R", "400", "-d", "1s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    assert!((395..=400).contains(&u(&v, &["requests", "ok"])), "{v}");
    // An answer without the expected text is a check failure; the connection goes on.
    let r = stampede(&["raw", &url, "--message", "hello", "--expect", "world", "-c", "1", "-t", "1", "-n", "50"]);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["errors", "check_failed"]), 50, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 1, "one connection carried every check: {v}");
    common::assert_accounted(&v);
    // An answer over --max-response is a protocol error.
    let r = stampede(&["raw", &url, "--message", &"x".repeat(100), "--max-response", "64", "-c", "1", "-t", "1", "-n", "5"]);
    let v = r.json.unwrap();
    assert!(u(&v, &["errors", "protocol"]) >= 1, "{v}");
    srv.stop();
}

#[test]
fn raw_misuse_exits_2() {
    let long_seq = format!("{}{{seq}}", "x".repeat(65_530));
    for (args, needle) in [
        (vec!["raw", "tcp://127.0.0.1/", "--message", "x"], "port"),
        (vec!["raw", "http://127.0.0.1:9/", "--message", "x"], "tcp://HOST:PORT"),
        (vec!["raw", "unix://relative.sock", "--message", "x"], "unix:///ABSOLUTE/PATH"),
        (vec!["raw", "tcp://127.0.0.1:9"], "--message"),
        (vec!["raw", "tcp://127.0.0.1:9", "--message", "x", "--length-prefix", "u64"], "--length-prefix"),
        (vec!["raw", "tcp://127.0.0.1:9", "--message", "x", "--delimiter", "\\q"], "--delimiter"),
        (vec!["raw", "tcp://127.0.0.1:9", "--message", "x", "--fixed-size", "0"], "--fixed-size"),
        (vec!["raw", "tcp://127.0.0.1:9", "--message", "x", "--max-response", "1GiB"], "--max-response"),
        (vec!["raw", "tcp://127.0.0.1:9", "--message", "x", "--message-file", "/nonexistent"], "--message"),
        (vec!["raw", "tcp://127.0.0.1:9", "--message-file", "/nonexistent/m"], "--message-file"),
        (vec!["raw", "tcp://127.0.0.1:9", "--message", "no number", "--seq"], "has no {seq}"),
        (vec!["raw", "tcp://127.0.0.1:9", "--message", &long_seq, "--seq", "--length-prefix", "u16be"], "--seq"),
    ] {
        let r = stampede_raw(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn seq_numbers_come_back_in_their_answers() {
    let srv = echo_server();
    let url = tcp(&srv);
    // Each answer must carry its own request's number: two workers, pipelined, two framings.
    for framing in [vec![], vec!["--length-prefix", "u16be"]] {
        let mut args = vec!["raw", url.as_str(), "--message", "{\"id\":{seq}}", "--seq", "--expect", "\"id\":{seq}}"];
        args.extend(["-c", "4", "-t", "2", "-n", "2000", "--pipeline", "4"]);
        args.extend(framing.iter().copied());
        let r = stampede(&args);
        assert_eq!(r.code, 0, "{framing:?}: {}{}", r.stdout, r.stderr);
        let v = r.json.unwrap();
        assert_eq!(u(&v, &["requests", "ok"]), 2000, "{framing:?}: {v}");
        assert!(v["errors"].as_object().unwrap().is_empty(), "{framing:?}: {v}");
        common::assert_accounted(&v);
    }
    // A batch over 64 KiB takes the timed write; the number still comes back.
    let big = format!("{}:{{seq}}", "x".repeat(70_000));
    let args =
        ["raw", &url, "--message", &big, "--seq", "--expect", ":{seq}", "--length-prefix", "u32be", "-c", "2", "-t", "1", "-n", "40"];
    let r = stampede(&args);
    assert_eq!(u(r.json.as_ref().unwrap(), &["requests", "ok"]), 40, "{}", r.stderr);
    // Without --seq, {seq} is sent as written (and --expect matches it literally).
    let r = stampede(&["raw", &url, "--message", "a{seq}", "--expect", "a{seq}", "-c", "1", "-t", "1", "-n", "20"]);
    assert_eq!(u(r.json.as_ref().unwrap(), &["requests", "ok"]), 20, "{}", r.stderr);
    srv.stop();
}

/// A line server on 127.0.0.1:0 that records every line it receives and answers each with the
/// line itself (`stale: false`) or with the first line it ever received (`stale: true`, an echo
/// that mixes answers up). Stops when the flag is set; bounded by 60 s regardless.
fn line_server(stale: bool) -> (SocketAddr, Arc<Mutex<Vec<String>>>, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (seen_l, stop_l) = (Arc::clone(&seen), Arc::clone(&stop));
    std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        while !stop_l.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(60) {
            let Ok((s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let seen = Arc::clone(&seen_l);
            std::thread::spawn(move || {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut w = s.try_clone().unwrap();
                for line in BufReader::new(s).lines() {
                    let Ok(line) = line else { return };
                    let answer = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(line.clone());
                        if stale {
                            seen[0].clone()
                        } else {
                            line
                        }
                    };
                    if w.write_all(format!("{answer}\n").as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen, stop)
}

#[test]
fn seq_numbers_are_unique_across_workers_and_processes() {
    for processes in ["1", "2"] {
        let (addr, seen, stop) = line_server(false);
        let url = format!("tcp://{addr}");
        let args = ["raw", &url, "--message", "req {seq} end", "--seq", "-c", "6", "-t", "3", "-n", "900", "--pipeline", "2"];
        let r = stampede(&[&args[..], &["--processes", processes]].concat());
        stop.store(true, Ordering::Relaxed);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert_eq!(u(r.json.as_ref().unwrap(), &["requests", "ok"]), 900);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 900, "the server saw every request");
        let mut numbers: Vec<u64> = seen
            .iter()
            .map(|l| {
                l.strip_prefix("req ").and_then(|l| l.strip_suffix(" end")).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{l}"))
            })
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), 900, "--processes {processes}: every request carried its own number");
    }
    // An echo that answers with the wrong number fails --expect {seq} for every answer but the first.
    let (addr, _seen, stop) = line_server(true);
    let url = format!("tcp://{addr}");
    let r = stampede(&["raw", &url, "--message", "n={seq}", "--seq", "--expect", "n={seq}", "-c", "1", "-t", "1", "-n", "50"]);
    stop.store(true, Ordering::Relaxed);
    let v = r.json.unwrap();
    assert_eq!((u(&v, &["requests", "ok"]), u(&v, &["errors", "check_failed"])), (1, 49), "{v}");
}
