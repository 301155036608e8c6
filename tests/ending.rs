//! Every run ends by itself, and a split run never hides a missing part (issue 17, points 2
//! and 3): `-n` without `-d` against a target where nothing can be sent stops on its
//! no-progress deadline with exit 1 and the reason; `--processes` refuses work it cannot split,
//! names a child that was killed and marks the result partial; signals never orphan children.
//! Loopback only; every process started here is bounded in time and killed by its PID.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{children_of, temp_json, u, url};
use serde_json::Value;

/// No test run here may take longer than this; past it, it is killed by its PID and fails.
const LIMIT: Duration = Duration::from_secs(40);

/// A run of the binary, bounded by LIMIT, with its wall time.
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    json: Option<Value>,
    took: Duration,
}

fn spawn(args: &[&str], json: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .arg("--no-preflight")
        .arg("--json")
        .arg(json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stampede")
}

/// Waits for `child` (killed by its PID past LIMIT) and reads what it left.
fn finish(mut child: Child, json: &std::path::Path, started: Instant) -> Ended {
    let code = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st.code();
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    let _ = child.stdout.take().map(|mut s| s.read_to_string(&mut stdout));
    let _ = child.stderr.take().map(|mut s| s.read_to_string(&mut stderr));
    let parsed = std::fs::read(json).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let _ = std::fs::remove_file(json);
    Ended { code, stdout, stderr, json: parsed, took }
}

fn run(args: &[&str]) -> Ended {
    let json = temp_json("ending");
    let started = Instant::now();
    let child = spawn(args, &json);
    finish(child, &json, started)
}

/// A loopback port where nothing listens (bound, then closed).
fn refused_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

/// The no-progress limit of these runs: --timeout 1s + the 2 s back-off ceiling +
/// --connect-timeout 1s.
const STALL: Duration = Duration::from_secs(4);
const QUICK: [&str; 4] = ["--timeout", "1s", "--connect-timeout", "1s"];

#[test]
fn a_budget_against_a_refused_port_stops_on_its_no_progress_deadline() {
    let addr = refused_port();
    let (http, ws, tcp) = (url(addr, "/"), format!("ws://{addr}/"), format!("tcp://{addr}"));
    let cases: [Vec<&str>; 4] = [
        vec!["http", &http, "-n", "5", "-c", "2"],
        vec!["ws", &ws, "-n", "5", "-c", "2"],
        vec!["raw", &tcp, "--message", "ping", "-n", "5", "-c", "2"],
        vec!["asr", &ws, "--streams", "2", "--signal-length", "200ms"],
    ];
    for case in cases {
        let r = run(&[&case[..], &QUICK].concat());
        let what = case[0];
        assert_eq!(r.code, Some(1), "{what}: {}", r.stderr);
        assert!(r.took >= STALL && r.took < STALL + Duration::from_secs(6), "{what}: ended after {:?}", r.took);
        assert!(r.stderr.contains("stampede: stopped: no progress for 4s: every connect was refused ("), "{what}: {}", r.stderr);
        assert!(r.stderr.contains("; pending: 2 connections not established, 0 open, 0 requests in flight"), "{what}: {}", r.stderr);
        assert!(r.stdout.contains("*** STOPPED: no progress for 4s"), "{what}: {}", r.stdout);
        // Failed connects are not requests: the request line stays clean.
        assert!(r.stdout.contains("\nErrors     none\n"), "{what}: {}", r.stdout);
        assert!(r.stdout.contains("\nConnect errors refused: "), "{what}: {}", r.stdout);
        let v = r.json.unwrap_or_else(|| panic!("{what}: the JSON result is still written"));
        assert!(v["stalled"].as_str().unwrap().starts_with("no progress for 4s: every connect was refused"), "{what}: {v}");
        let attempts = u(&v, &["connections", "attempted"]);
        assert!(attempts >= 2, "{what}: {v}");
        assert_eq!(u(&v, &["connect_errors", "refused"]), attempts, "{what}: every attempt refused: {v}");
        assert_eq!(u(&v, &["errors", "refused"]), attempts, "{what}: {v}");
        assert_eq!(u(&v, &["requests", "sent"]), 0, "{what}: {v}");
        assert!(v["partial"].is_null(), "{what}: {v}");
        eprintln!("{what}: exit 1 after {:?}, {attempts} connects refused", r.took);
    }
}

/// A WebSocket server that answers every upgrade with 400 and counts them.
fn refusing_ws() -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let answered = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&answered);
    std::thread::spawn(move || {
        for sock in l.incoming() {
            let Ok(mut sock) = sock else { return };
            let count = Arc::clone(&count);
            std::thread::spawn(move || {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                if sock.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").is_ok() {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (addr, answered)
}

#[test]
fn a_budget_against_a_websocket_server_that_refuses_every_upgrade_stops() {
    let (addr, answered) = refusing_ws();
    let r = run(&[&["ws", &format!("ws://{addr}/"), "-n", "5", "-c", "2"][..], &QUICK].concat());
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.took >= STALL && r.took < STALL + Duration::from_secs(6), "ended after {:?}", r.took);
    assert!(r.stderr.contains("stampede: stopped: no progress for 4s: every opening failed ("), "{}", r.stderr);
    let v = r.json.expect("the JSON result is still written");
    let refused = u(&v, &["connect_errors", "handshake"]);
    let served = answered.load(Ordering::SeqCst);
    // Each 400 the server sent is one failed opening; at most one per connection can still be
    // on its way when the run stops.
    assert!(refused >= 2 && refused <= served && served <= refused + 2, "server answered {served} upgrades, report: {v}");
    assert!(r.stderr.contains(&format!("({refused} handshakes refused")), "{}", r.stderr);
    assert_eq!(u(&v, &["requests", "sent"]), 0, "{v}");
    assert!(r.stdout.contains("\nErrors     none\n"), "{}", r.stdout);
    eprintln!("ws 400: exit 1 after {:?}, server answered {served} upgrades with 400, report {refused} handshakes refused", r.took);
}

/// Waits (bounded) until `pid` has `n` children; returns them.
fn wait_children(pid: u32, n: usize) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let c = children_of(pid);
        if c.len() >= n {
            return c;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{pid} has children {c:?}, expected {n}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn progress_dir(pid: u32) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("stampede-processes-{pid}"))
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).expect("signal");
}

#[test]
fn a_killed_child_makes_the_run_partial_and_exit_1() {
    let srv = common::embedded(None, None);
    let target = url(srv.local_addr(), "/");
    let json = temp_json("partial");
    let started = Instant::now();
    let child = spawn(&["http", &target, "-c", "4", "-t", "1", "-d", "3s", "--processes", "2"], &json);
    let parent = child.id();
    let kids = wait_children(parent, 2);
    std::thread::sleep(Duration::from_millis(500));
    signal(kids[0] as i32, nix::sys::signal::Signal::SIGKILL);
    let r = finish(child, &json, started);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(15), "{:?}", r.took);
    let v = r.json.expect("the merged result of the other part is written");
    let p = &v["partial"];
    assert_eq!(u(p, &["processes"]), 2, "{v}");
    assert_eq!(u(p, &["connections_planned"]), 4, "{v}");
    let missing = p["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{p}");
    assert_eq!(u(&missing[0], &["pid"]), u64::from(kids[0]), "{p}");
    assert_eq!(missing[0]["status"], "killed by signal 9 (SIGKILL)", "{p}");
    assert_eq!(u(&v, &["connections", "planned"]), 2, "the figures are the surviving part's: {v}");
    assert!(u(&v, &["requests", "ok"]) > 0, "{v}");
    assert!(r.stdout.contains("*** PARTIAL: 1 of 2 processes produced no result"), "{}", r.stdout);
    assert!(r.stdout.contains("closed loop, 2 of 4 planned connections,"), "the header never claims the whole plan: {}", r.stdout);
    assert!(
        r.stderr.contains(&format!(
            "part {} (pid {}) produced no result: killed by signal 9 (SIGKILL)",
            u(&missing[0], &["part"]),
            kids[0]
        )),
        "{}",
        r.stderr
    );
    assert!(!kids.iter().any(|k| alive(*k)), "no child left behind");
    assert!(!progress_dir(parent).exists(), "progress directory removed");
    eprintln!("killed child {}: exit 1 after {:?}, {} ok from the other part", kids[0], r.took, u(&v, &["requests", "ok"]));
    srv.stop();
}

#[test]
fn work_that_cannot_be_split_is_refused_before_any_child_starts() {
    let srv = common::embedded(None, None);
    let r = run(&["http", &url(srv.local_addr(), "/"), "-c", "2", "-n", "100", "--processes", "3"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--processes 3 with -c/--connections 2: each process needs at least one connection"), "{}", r.stderr);
    assert!(!r.stderr.contains("running as"), "no child started: {}", r.stderr);
    assert!(r.json.is_none());
    srv.stop();
}

#[test]
fn two_signals_10ms_apart_leave_no_child_and_no_progress_directory() {
    use std::os::unix::process::CommandExt;
    let srv = common::embedded(None, None);
    let target = url(srv.local_addr(), "/");
    let json = temp_json("signals");
    let started = Instant::now();
    // Its own process group, as under `timeout`: the second signal goes to the whole group.
    let child = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["http", &target, "-c", "4", "-t", "1", "-d", "30s", "--processes", "2", "--no-preflight", "--json"])
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let parent = child.id();
    let kids = wait_children(parent, 2);
    // Until the children run their load (their progress files appear each second).
    let dir = progress_dir(parent);
    while !(0..2).all(|k| dir.join(format!("part-{k}.progress")).exists()) {
        assert!(started.elapsed() < Duration::from_secs(15), "children never reported progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(parent as i32, nix::sys::signal::Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(10));
    signal(-(parent as i32), nix::sys::signal::Signal::SIGINT);
    let r = finish(child, &json, started);
    assert!(r.took < Duration::from_secs(20), "the 30 s run stopped at the signals: {:?}", r.took);
    assert_eq!(r.code, Some(0), "both parts stopped and reported: {}", r.stderr);
    assert!(!kids.iter().any(|k| alive(*k)), "no child left running: {kids:?}");
    assert!(!dir.exists(), "progress directory removed");
    let v = r.json.expect("result written");
    assert_eq!(v["interrupted"], true, "{v}");
    assert!(v["partial"].is_null(), "both parts reported: {v}");
    assert_eq!(u(&v, &["connections", "planned"]), 4, "{v}");
    assert!(u(&v, &["requests", "ok"]) > 0, "{v}");
    eprintln!("two signals: exit 0 after {:?}, {} ok, children {kids:?} gone", r.took, u(&v, &["requests", "ok"]));
    srv.stop();
}

/// A server that records each request line and answers 200, keep-alive.
fn recording_server() -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let rec = Arc::clone(&lines);
    std::thread::spawn(move || {
        for sock in l.incoming() {
            let Ok(mut sock) = sock else { return };
            let rec = Arc::clone(&rec);
            std::thread::spawn(move || {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut b = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        rec.lock().unwrap().push(head.lines().next().unwrap_or_default().to_string());
                        if sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
                            return;
                        }
                    }
                    match sock.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&b[..n]),
                    }
                }
            });
        }
    });
    (addr, lines)
}

#[test]
fn a_url_fragment_never_reaches_the_server() {
    let (addr, lines) = recording_server();
    for (target, want) in [(format!("http://{addr}/p?q=1#frag"), "GET /p?q=1 HTTP/1.1"), (format!("http://{addr}#top"), "GET / HTTP/1.1")] {
        lines.lock().unwrap().clear();
        let r = run(&["http", &target, "-n", "3", "-c", "1", "-t", "1"]);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let v = r.json.unwrap();
        assert_eq!(u(&v, &["requests", "ok"]), 3, "{v}");
        let seen = lines.lock().unwrap().clone();
        assert_eq!(seen, vec![want.to_string(); 3], "{target}");
    }
}

#[test]
fn a_stopped_child_is_killed_at_the_parents_own_deadline() {
    let srv = common::embedded(None, None);
    let target = url(srv.local_addr(), "/");
    let json = temp_json("overrun");
    let started = Instant::now();
    let child = spawn(&["http", &target, "-c", "2", "-t", "1", "-d", "2s", "--processes", "2"], &json);
    let parent = child.id();
    let kids = wait_children(parent, 2);
    std::thread::sleep(Duration::from_millis(500));
    // Stopped, it neither ends nor reports: only the parent's deadline (-d + 10 s grace, or
    // 10 s without a progress update) can end the run.
    signal(kids[1] as i32, nix::sys::signal::Signal::SIGSTOP);
    let r = finish(child, &json, started);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.took >= Duration::from_secs(10) && r.took < Duration::from_secs(20), "{:?}", r.took);
    let v = r.json.expect("the other part's result is written");
    let missing = v["partial"]["missing"].as_array().unwrap_or_else(|| panic!("partial: {v}"));
    assert_eq!(missing.len(), 1, "{v}");
    assert_eq!(u(&missing[0], &["pid"]), u64::from(kids[1]), "{v}");
    let status = missing[0]["status"].as_str().unwrap();
    assert!(status.starts_with("overran: ") && status.ends_with("; killed"), "{status}");
    assert!(!kids.iter().any(|k| alive(*k)), "no child left behind");
    assert!(!progress_dir(parent).exists(), "progress directory removed");
    eprintln!("stopped child {}: exit 1 after {:?}, {status}", kids[1], r.took);
    srv.stop();
}
