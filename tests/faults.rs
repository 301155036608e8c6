//! End to end: `stampede http` and `stampede ws` against the embedded server's fault modes
//! (`serve --fault`, `/fault/KIND`). For every fault: the right error class, every request
//! accounted for (`sent = ok + errors + in flight`, and the report says so), the run over on
//! time, the report written, no panic; for the connection faults, attempts bounded by the
//! backoff and little CPU. Runs are short (at most 1.5 s, a few connections).
//!
//! Rates are exact per server thread (one thread here): at 50 %, every second request (or
//! message) misbehaves, so with one connection the counts are exact.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{f, u, Run};
use serde_json::Value;
use stampede::server::fault::{FaultPlan, DRIP_BYTES, DRIP_DELAY, PING_FLOOD};
use stampede::server::{self, ServeConfig, ServerHandle};

/// Time the process may take past `-d` for start-up, the end of the run and the report. Generous
/// (the machine is shared): the run's own measured duration is held to `-d` + 0.5 s, and the
/// hangs this guards against (a stalled connection keeping the run alive) last the 30 s timeout.
const GRACE: Duration = Duration::from_secs(5);
/// Memory a run may grow by under faults that try to make it buffer (huge heads, garbage,
/// oversized frames): the read buffers are capped at 24 KiB per connection, far below this.
const RSS_BOUND: u64 = 32 << 20;

/// The embedded server on 127.0.0.1:0, one thread, with these `--fault` flags.
fn faulty(faults: &[&str], backlog: i32) -> ServerHandle {
    let faults = FaultPlan::parse(&faults.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("valid --fault");
    server::start(&ServeConfig { backlog, faults, ..common::loopback() }).expect("embedded server starts")
}

/// Runs stampede; checks what every run under faults must show: no panic, the report and the
/// JSON written, the accounting balanced (and printed), and the run over within `-d` + grace.
fn run(args: &[&str]) -> (Value, Run) {
    let t0 = Instant::now();
    let r = common::stampede(args);
    let wall = t0.elapsed();
    assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    assert!(matches!(r.code, 0 | 1), "{args:?}: exit {}: {}", r.code, r.stderr);
    let v = r.json.clone().unwrap_or_else(|| panic!("{args:?}: no JSON result: {}", r.stderr));
    common::assert_accounted(&v);
    let acc = &v["accounting"];
    assert_eq!(acc["balanced"], true, "{v}");
    let line = format!(
        "Accounting  {} sent = {} ok + {} errors + {} in flight",
        u(acc, &["sent"]),
        u(acc, &["ok"]),
        u(acc, &["errors"]),
        u(acc, &["in_flight"])
    );
    assert!(r.stdout.contains(&line), "{args:?}: the report lacks {line:?}:\n{}", r.stdout);
    let d = args.iter().position(|a| *a == "-d").map(|i| stampede::units::parse_duration(args[i + 1]).unwrap()).unwrap();
    assert!(f(&v, &["duration_s"]) <= (d + Duration::from_millis(500)).as_secs_f64(), "{args:?}: ran past -d: {v}");
    assert!(wall <= d + GRACE, "{args:?}: the process took {wall:?} for -d {d:?} (the run itself {} s)", f(&v, &["duration_s"]));
    (v, r)
}

/// The error classes with a count (the JSON lists non-zero ones only).
fn classes(v: &Value) -> Vec<String> {
    v["errors"].as_object().unwrap().keys().cloned().collect()
}

fn rss_growth(v: &Value) -> u64 {
    u(v, &["generator", "rss_peak_bytes"]).saturating_sub(u(v, &["generator", "rss_start_bytes"]))
}

fn http_url(srv: &ServerHandle, path: &str) -> String {
    format!("http://{}{path}", srv.local_addr())
}

fn ws_url(srv: &ServerHandle, path: &str) -> String {
    format!("ws://{}{path}", srv.local_addr())
}

/// One connection, 40 requests, every second one faulty: 20 ok and 20 of `class`, exactly.
fn half_faulty_http(fault: &str, class: &str) -> Value {
    let srv = faulty(&[&format!("{fault}:50%")], 1024);
    let (v, r) = run(&["http", &http_url(&srv, "/"), "-c", "1", "-t", "1", "-n", "40", "-d", "10s"]);
    assert_eq!(r.code, 0, "{fault}: {}", r.stderr);
    assert_eq!((u(&v, &["requests", "sent"]), u(&v, &["requests", "ok"])), (40, 20), "{fault}: {v}");
    assert_eq!(u(&v, &["errors", class]), 20, "{fault}: {v}");
    assert_eq!(classes(&v), [class], "{fault}: nothing else: {v}");
    assert_eq!(u(&v, &["status", "200"]), 20, "{fault}: {v}");
    srv.stop();
    v
}

/// The same over WebSocket echo: 40 messages, every second one meets the fault.
fn half_faulty_ws(fault: &str, class: &str) -> Value {
    let srv = faulty(&[&format!("{fault}:0.5")], 1024);
    let (v, r) = run(&["ws", &ws_url(&srv, "/ws/echo"), "-c", "1", "-t", "1", "-n", "40", "-d", "10s"]);
    assert_eq!(r.code, 0, "{fault}: {}", r.stderr);
    assert_eq!((u(&v, &["requests", "sent"]), u(&v, &["requests", "ok"])), (40, 20), "{fault}: {v}");
    assert_eq!(u(&v, &["errors", class]), 20, "{fault}: {v}");
    assert_eq!(classes(&v), [class], "{fault}: nothing else: {v}");
    srv.stop();
    v
}

#[test]
fn reset_mid_response_is_a_reset() {
    let v = half_faulty_http("reset", "reset");
    assert_eq!(u(&v, &["connections", "established"]), 20, "one connection per reset: {v}");
}

#[test]
fn stall_keeps_requests_in_flight_until_the_end_or_the_timeout() {
    // Timeout longer than the run: the stalled requests are in flight at the end, and the run
    // still ends at -d. Two connections, every second request stalls: 4 sent, 2 ok, 2 stalled.
    let srv = faulty(&["stall:50%"], 1024);
    let (v, r) = run(&["http", &http_url(&srv, "/"), "-c", "2", "-t", "1", "-d", "1s", "--timeout", "30s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = (u(&v, &["requests", "sent"]), u(&v, &["requests", "ok"]), u(&v, &["requests", "in_flight"]));
    assert_eq!(got, (4, 2, 2), "sent, ok, in flight: {v}");
    assert!(classes(&v).is_empty(), "{v}");
    srv.stop();

    // Timeout shorter than the run: each stalled request is a request_timeout, then the
    // connection backs off (it had no answer) before it tries again.
    let srv = faulty(&["stall"], 1024);
    let (v, r) = run(&["http", &http_url(&srv, "/"), "-c", "2", "-t", "1", "-d", "1500ms", "--timeout", "300ms"]);
    assert_eq!(r.code, 1, "nothing answered: exit 1; {}", r.stderr);
    let timeouts = u(&v, &["errors", "request_timeout"]);
    assert!((2..=2 * 5).contains(&timeouts), "{timeouts} timeouts of 300 ms on 2 connections in 1.5 s: {v}");
    assert_eq!(classes(&v), ["request_timeout"], "{v}");
    assert_eq!(u(&v, &["requests", "ok"]), 0, "{v}");
    srv.stop();
}

#[test]
fn drip_is_slow_but_whole_or_a_timeout() {
    let srv = faulty(&["drip"], 1024);
    let (v, r) = run(&["http", &http_url(&srv, "/"), "-c", "2", "-t", "1", "-d", "1s", "--timeout", "5s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(u(&v, &["requests", "ok"]) >= 2, "{v}");
    assert!(classes(&v).is_empty(), "a slow answer is not an error: {v}");
    // Each answer waited DRIP_BYTES pauses of DRIP_DELAY at least.
    let floor_ms = (DRIP_DELAY * DRIP_BYTES as u32).as_secs_f64() * 1e3;
    assert!(f(&v, &["latency_ms", "min"]) >= floor_ms * 0.99, "latency below {floor_ms} ms: {v}");
    srv.stop();

    let srv = faulty(&["drip"], 1024);
    let (v, _) = run(&["http", &http_url(&srv, "/"), "-c", "2", "-t", "1", "-d", "1s", "--timeout", "100ms"]);
    assert!(u(&v, &["errors", "request_timeout"]) >= 2, "{v}");
    assert_eq!(classes(&v), ["request_timeout"], "{v}");
    assert_eq!(u(&v, &["requests", "ok"]), 0, "{v}");
    srv.stop();
}

#[test]
fn bad_status_line_is_a_protocol_error() {
    half_faulty_http("bad-status", "protocol");
}

#[test]
fn huge_head_is_a_protocol_error_with_bounded_memory() {
    let v = half_faulty_http("huge-head", "protocol");
    assert!(rss_growth(&v) < RSS_BOUND, "memory grew by {} bytes: {v}", rss_growth(&v));
}

#[test]
fn bad_chunk_size_is_a_protocol_error() {
    half_faulty_http("bad-chunk", "protocol");
}

#[test]
fn garbage_is_a_protocol_error_with_bounded_memory() {
    let v = half_faulty_http("garbage", "protocol");
    assert!(rss_growth(&v) < RSS_BOUND, "memory grew by {} bytes: {v}", rss_growth(&v));
}

#[test]
fn short_body_is_closed_early_through_the_serve_command() {
    // This one goes through `stampede serve --fault` as a user would start it.
    use std::io::{BufRead, BufReader};
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["serve", "--listen", "127.0.0.1:0", "-t", "1", "--fault", "short-body:50%"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let (v, r) = run(&["http", &format!("http://{addr}/"), "-c", "1", "-t", "1", "-n", "40", "-d", "10s"]);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(serve.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let mut err = String::new();
    let _ = serve.stderr.take().unwrap().read_to_string(&mut err);
    assert_eq!(serve.wait().unwrap().code(), Some(0));
    assert!(err.contains("faults on: short-body:50%"), "{err}");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!((u(&v, &["requests", "ok"]), u(&v, &["errors", "closed_early"])), (20, 20), "{v}");
    assert_eq!(classes(&v), ["closed_early"], "{v}");
}

#[test]
fn accept_close_is_retried_with_backoff_not_spun_on() {
    let srv = faulty(&["accept-close"], 1024);
    let (v, r) = run(&["http", &http_url(&srv, "/"), "-c", "4", "-t", "1", "-d", "1500ms"]);
    assert_eq!(r.code, 1, "nothing answered: exit 1; {}", r.stderr);
    assert_eq!(u(&v, &["requests", "ok"]), 0, "{v}");
    // The request meets a close (EOF) or, when it reached the closed socket, an RST.
    assert!(classes(&v).iter().all(|c| c == "closed_early" || c == "reset"), "{v}");
    assert!(u(&v, &["requests", "errors"]) >= 4, "{v}");
    // 50 ms base, doubling, jittered ±50 %: at most ~7 attempts per connection in 1.5 s.
    let attempted = u(&v, &["connections", "attempted"]);
    assert!((4..=4 * 8).contains(&attempted), "{attempted} attempts: {v}");
    let cpu = f(&v, &["generator", "cpu_user_s"]) + f(&v, &["generator", "cpu_sys_s"]);
    assert!(cpu < 0.5, "a closing target must not burn CPU: {cpu} s");
    srv.stop();
}

#[test]
fn no_accept_times_out_connects_and_requests_with_backoff() {
    // Backlog 1: the kernel completes two handshakes on the listener's behalf (their requests
    // time out), then drops SYNs (connects time out).
    let srv = faulty(&["no-accept"], 1);
    let (v, r) =
        run(&["http", &http_url(&srv, "/"), "-c", "4", "-t", "1", "-d", "1500ms", "--timeout", "400ms", "--connect-timeout", "300ms"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(u(&v, &["requests", "ok"]), 0, "{v}");
    assert!(classes(&v).iter().all(|c| c == "connect_timeout" || c == "request_timeout"), "{v}");
    assert!(u(&v, &["errors", "connect_timeout"]) >= 1, "a full accept queue: {v}");
    assert!(u(&v, &["errors", "request_timeout"]) >= 1, "accepted by the kernel only: {v}");
    let attempted = u(&v, &["connections", "attempted"]);
    assert!((4..=4 * 8).contains(&attempted), "{attempted} attempts: {v}");
    let cpu = f(&v, &["generator", "cpu_user_s"]) + f(&v, &["generator", "cpu_sys_s"]);
    assert!(cpu < 0.5, "a silent target must not burn CPU: {cpu} s");
    srv.stop();
}

#[test]
fn a_request_the_target_never_reads_times_out_without_a_duration() {
    // -n and no -d: only the request timeout can end the run. A 16 MB body fills the socket
    // buffers of a listener that never accepts, so the write itself must give up.
    let srv = faulty(&["no-accept"], 1024);
    let body = std::env::temp_dir().join(format!("stampede-faults-{}.body", std::process::id()));
    std::fs::write(&body, vec![b'a'; 16 << 20]).unwrap();
    let json = common::temp_json("unread");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["http", &http_url(&srv, "/echo"), "-m", "POST", "--body-file", body.to_str().unwrap(), "-c", "1", "-t", "1"])
        .args(["-n", "2", "--timeout", "500ms", "-q", "--no-preflight", "--json", json.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Two timeouts of 500 ms; allow 15 s before calling it a hang (bounded wait, then kill).
    let exited = (0..150).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        child.try_wait().unwrap()
    });
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_file(&body);
    assert_eq!(exited.and_then(|s| s.code()), Some(1), "the run hung on a write the target never read");
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    assert_eq!(u(&v, &["errors", "request_timeout"]), 2, "{v}");
    assert_eq!(v["accounting"]["balanced"], true, "{v}");
    srv.stop();
}

#[test]
fn ws_bad_opcode_is_a_protocol_error() {
    half_faulty_ws("ws-bad-opcode", "protocol");
}

#[test]
fn ws_masked_server_frame_is_a_protocol_error() {
    half_faulty_ws("ws-masked", "protocol");
}

#[test]
fn ws_oversized_frame_is_a_protocol_error_with_bounded_memory() {
    let v = half_faulty_ws("ws-oversized", "protocol");
    assert!(rss_growth(&v) < RSS_BOUND, "memory grew by {} bytes: {v}", rss_growth(&v));
}

#[test]
fn ws_close_without_status_is_closed_early_and_counted() {
    let v = half_faulty_ws("ws-close-no-status", "closed_early");
    assert_eq!(u(&v, &["close_codes", "none"]), 20, "{v}");
}

#[test]
fn ws_ping_flood_is_answered_and_costs_no_message() {
    let srv = faulty(&["ws-ping-flood"], 1024);
    let (v, r) = run(&["ws", &ws_url(&srv, "/ws/echo"), "-c", "2", "-t", "1", "-n", "50", "-d", "10s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(u(&v, &["requests", "ok"]), 50, "{v}");
    assert!(classes(&v).is_empty(), "{v}");
    // Every ping was answered: a masked pong of an 8-byte payload is 14 bytes.
    let pongs = (50 * PING_FLOOD * 14) as u64;
    assert!(u(&v, &["bytes", "written"]) >= pongs, "{} bytes written, pongs alone are {pongs}: {v}", u(&v, &["bytes", "written"]));
    srv.stop();
}

#[test]
fn fault_routes_misbehave_while_other_routes_stay_healthy() {
    let srv = faulty(&[], 1024);
    let (v, _) = run(&["http", &http_url(&srv, "/fault/bad-chunk"), "-c", "1", "-t", "1", "-n", "3", "-d", "5s"]);
    assert_eq!(u(&v, &["errors", "protocol"]), 3, "{v}");
    let (v, _) = run(&["ws", &ws_url(&srv, "/fault/ws-close-no-status"), "-c", "1", "-t", "1", "-n", "3", "-d", "5s"]);
    assert_eq!((u(&v, &["errors", "closed_early"]), u(&v, &["close_codes", "none"])), (3, 3), "{v}");
    let (v, r) = run(&["http", &http_url(&srv, "/"), "-c", "2", "-t", "1", "-n", "100", "-d", "5s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(u(&v, &["status", "200"]), 100, "{v}");
    assert!(classes(&v).is_empty(), "{v}");
    let (v, _) = run(&["http", &http_url(&srv, "/fault/no-accept"), "-c", "1", "-t", "1", "-n", "1", "-d", "5s"]);
    assert_eq!(u(&v, &["status", "400"]), 1, "a listener fault is no route: {v}");
    srv.stop();
}

/// Reads one server frame: (first byte, payload).
fn read_frame(s: &mut std::net::TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert!(h[1] < 126 && h[1] & 0x80 == 0, "a short unmasked frame: {h:?}");
    let mut p = vec![0u8; h[1] as usize];
    s.read_exact(&mut p).unwrap();
    (h[0], p)
}

#[test]
fn the_server_closes_with_1002_on_an_unmasked_client_frame() {
    let srv = faulty(&[], 1024);
    let mut s = std::net::TcpStream::connect(srv.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!(
        "GET /ws/echo HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        srv.local_addr()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    // A masked frame is echoed...
    s.write_all(&[0x82, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]).unwrap();
    assert_eq!(read_frame(&mut s), (0x82, b"hi".to_vec()));
    // ...an unmasked one closes the connection with 1002 (protocol error).
    s.write_all(&[0x82, 0x02, b'h', b'i']).unwrap();
    let (op, payload) = read_frame(&mut s);
    assert_eq!((op, &payload[..2]), (0x88, &1002u16.to_be_bytes()[..]), "close 1002");
    // Then the server closes (a timeout here would mean it kept the connection).
    match s.read(&mut [0u8; 16]) {
        Ok(n) => assert_eq!(n, 0, "nothing after the close frame"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    srv.stop();
}

#[test]
fn bad_fault_flags_exit_2_naming_the_problem_and_help_lists_every_kind() {
    for (spec, needle) in [
        ("bogus", "unknown fault kind 'bogus'"),
        ("reset:2", "outside 0..1"),
        ("reset:lots", "not a number"),
        ("no-accept:50%", "takes no rate"),
    ] {
        let r = common::stampede_raw(&["serve", "--listen", "127.0.0.1:0", "--fault", spec]);
        assert_eq!(r.code, 2, "{spec}: {}", r.stderr);
        assert!(r.stderr.contains(needle) && r.stderr.contains("--fault"), "{spec}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{spec}");
    }
    let r = common::stampede_raw(&["serve", "--listen", "127.0.0.1:0", "--fault", "reset:60%", "--fault", "stall:0.5"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("over 100%"), "{}", r.stderr);
    let help = common::stampede_raw(&["serve", "--help"]);
    assert_eq!(help.code, 0);
    for (name, _) in stampede::server::fault::KINDS {
        assert!(help.stdout.contains(name), "serve --help lacks {name}: {}", help.stdout);
    }
}
