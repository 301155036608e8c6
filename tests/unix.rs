//! `--unix-socket PATH` (as curl): HTTP and raw load over a Unix socket, against small
//! independent servers written here with std, and against the embedded server's `serve --unix`
//! (HTTP, WebSocket echo and faults on the same routes; the socket file's life: a stale file
//! replaced, a live socket refused, the file removed on exit).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{stampede, stampede_raw, u};
use stampede::server::{self, fault::FaultPlan, ServeConfig, ServerHandle};

/// A Unix-socket server on a fresh path: `http` answers each GET with a 2-byte body, else echo.
/// Stops (and removes the socket) when the returned flag is set; bounded by 60 s regardless.
fn unix_server(tag: &str, http: bool) -> (PathBuf, Arc<AtomicBool>) {
    let path = std::env::temp_dir().join(format!("stampede-{}-{tag}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, p) = (Arc::clone(&stop), path.clone());
    std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        while !flag.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(60) {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        let mut pending = Vec::new();
                        while let Ok(n) = s.read(&mut buf) {
                            if n == 0 {
                                return;
                            }
                            if !http {
                                if s.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                                continue;
                            }
                            pending.extend_from_slice(&buf[..n]);
                            while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                                pending.drain(..end + 4);
                                if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
                                    return;
                                }
                            }
                        }
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let _ = std::fs::remove_file(p);
    });
    (path, stop)
}

#[test]
fn http_over_a_unix_socket() {
    let (path, stop) = unix_server("http", true);
    let r = stampede(&["http", "http://localhost/api", "--unix-socket", path.to_str().unwrap(), "-c", "4", "-t", "1", "-n", "2000"]);
    stop.store(true, Ordering::Relaxed);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["requests", "ok"]), 2000, "{v}");
    assert_eq!(u(&v, &["status", "200"]), 2000, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 4, "{v}");
    common::assert_accounted(&v);
}

#[test]
fn raw_over_a_unix_socket_and_a_missing_socket() {
    let (path, stop) = unix_server("raw", false);
    let p = path.to_str().unwrap();
    let r = stampede(&[
        "raw",
        "tcp://localhost:1",
        "--unix-socket",
        p,
        "--message",
        "ping",
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "500",
        "--pipeline",
        "4",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(u(&r.json.unwrap(), &["requests", "ok"]), 500);
    stop.store(true, Ordering::Relaxed);
    // No server there: every attempt is refused (or the path is gone), counted, backed off.
    let gone = std::env::temp_dir().join(format!("stampede-{}-none.sock", std::process::id()));
    let r = stampede(&["http", "http://localhost/", "--unix-socket", gone.to_str().unwrap(), "-c", "2", "-t", "1", "-d", "1s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["requests", "ok"]), 0, "{v}");
    assert!(u(&v, &["connections", "attempted"]) < 100, "backed off: {v}");
    assert_eq!(u(&v, &["errors", "refused"]), u(&v, &["connections", "attempted"]), "nothing listens: refused: {v}");
}

/// A fresh socket path in the temp dir (nothing there).
fn sock_path(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("stampede-{}-{tag}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// The embedded server on 127.0.0.1:0 and on a Unix socket at `path`, two workers sharing it.
fn embedded_unix(path: &Path, faults: &[&str]) -> ServerHandle {
    let faults = FaultPlan::parse(&faults.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let cfg = ServeConfig { unix: Some(path.to_path_buf()), threads: 2, faults, ..common::loopback() };
    server::start(&cfg).expect("embedded server starts")
}

#[test]
fn http_and_ws_echo_against_serve_unix() {
    let path = sock_path("serve");
    let srv = embedded_unix(&path, &[]);
    assert_eq!(srv.unix_path(), Some(path.as_path()));
    let p = path.to_str().unwrap();
    for (url, extra) in [("http://localhost/", vec![]), ("http://localhost/bytes/5000", vec!["--pipeline", "4"])] {
        let mut args = vec!["http", url, "--unix-socket", p, "-c", "8", "-t", "2", "-n", "4000"];
        args.extend(extra.iter().copied());
        let r = stampede(&args);
        assert_eq!(r.code, 0, "{url}: {}{}", r.stdout, r.stderr);
        let v = r.json.unwrap();
        assert_eq!(u(&v, &["requests", "ok"]), 4000, "{url}: {v}");
        assert_eq!(u(&v, &["status", "200"]), 4000, "{url}: {v}");
        assert_eq!(u(&v, &["requests", "errors"]), 0, "{url}: {v}");
        assert_eq!(u(&v, &["connections", "established"]), 8, "{url}: {v}");
        common::assert_accounted(&v);
    }
    let r = stampede(&["ws", "ws://localhost/ws/echo", "--unix-socket", p, "--size", "3000", "-c", "4", "-t", "1", "-n", "2000"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["requests", "ok"]), 2000, "{v}");
    assert_eq!(u(&v, &["requests", "errors"]), 0, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 4, "{v}");
    common::assert_accounted(&v);
    // raw over the embedded server's socket: an HTTP request as a fixed message, each answer
    // framed by its blank line (/bytes/0 has no body), pipelined so answers share reads.
    let unix_url = format!("unix://{p}");
    let msg = "GET /bytes/0 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let r = stampede(&[
        "raw",
        &unix_url,
        "--message",
        msg,
        "--delimiter",
        "\\r\\n\\r\\n",
        "--expect",
        "200 OK",
        "--pipeline",
        "8",
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "1600",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["requests", "ok"]), 1600, "{v}");
    assert_eq!(u(&v, &["errors", "check_failed"]), 0, "{v}");
    common::assert_accounted(&v);
    // The TCP listener serves alongside.
    let r = stampede(&["http", &common::url(srv.local_addr(), "/"), "-c", "2", "-t", "1", "-n", "200"]);
    assert_eq!(u(r.json.as_ref().unwrap(), &["requests", "ok"]), 200, "{}", r.stderr);
    srv.stop();
    assert!(!path.exists(), "the socket file is removed when the server stops");
}

#[test]
fn faults_apply_over_the_unix_socket() {
    // One connection, every second request meets `reset`. A Unix socket has no RST: the
    // connection closes in the middle of the body, which the client counts as closed early.
    let path = sock_path("fault");
    let faults = FaultPlan::parse(&["reset:50%".to_string()]).unwrap();
    let srv = server::start(&ServeConfig { unix: Some(path.clone()), faults, ..common::loopback() }).unwrap();
    let p = path.to_str().unwrap();
    let r = stampede(&["http", "http://localhost/", "--unix-socket", p, "-c", "1", "-t", "1", "-n", "40"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_eq!((u(&v, &["requests", "sent"]), u(&v, &["requests", "ok"])), (40, 20), "{v}");
    assert_eq!(u(&v, &["errors", "closed_early"]), 20, "{v}");
    assert_eq!(v["errors"].as_object().unwrap().len(), 1, "nothing else: {v}");
    assert_eq!(u(&v, &["connections", "established"]), 20, "one connection per fault: {v}");
    common::assert_accounted(&v);
    // A fault route answers over the socket as over TCP.
    let r = stampede(&["http", "http://localhost/fault/bad-status", "--unix-socket", p, "-c", "1", "-t", "1", "-n", "5"]);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["errors", "protocol"]), 5, "{v}");
    srv.stop();
}

#[test]
fn chat_rooms_work_over_the_unix_socket() {
    // Two tungstenite members, one room (one server thread: rooms live per thread).
    let path = sock_path("chat");
    let srv = server::start(&ServeConfig { unix: Some(path.clone()), ..common::loopback() }).unwrap();
    let member = || {
        let s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tungstenite::client("ws://localhost/ws/chat?room=u", s).expect("upgrade").0
    };
    let (mut a, mut b) = (member(), member());
    // Both have joined once each has had an answer: a ping round trip each.
    for m in [&mut a, &mut b] {
        m.send(tungstenite::Message::Ping(b"p".to_vec())).unwrap();
        assert!(matches!(m.read().unwrap(), tungstenite::Message::Pong(_)));
    }
    a.send(tungstenite::Message::text("hello room")).unwrap();
    for m in [&mut a, &mut b] {
        assert_eq!(m.read().unwrap(), tungstenite::Message::text("hello room"), "every member, the sender too");
    }
    drop((a, b));
    // The client's chat runs over the socket too: 8 connections in 2 rooms of 4, 40 messages/s
    // for 2 s; every message reaches the 4 members of its room (a few sent last may not).
    let p = path.to_str().unwrap();
    let r = stampede(&["ws", "ws://localhost/ws/chat", "--unix-socket", p, "-c", "8", "-t", "1", "--rooms", "2", "-R", "40", "-d", "2s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    let (sent, delivered) = (u(&v, &["chat", "messages_sent"]), u(&v, &["chat", "deliveries"]));
    assert!((70..=81).contains(&sent), "{sent} sent: {v}");
    assert!(delivered <= sent * 4 && delivered + 20 >= sent * 4, "{delivered} deliveries for {sent} messages: {v}");
    srv.stop();
}

/// Runs `stampede serve --unix PATH` until it has printed where it listens; returns the child and
/// the lines it printed.
fn serve_unix(path: &Path) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["serve", "--listen", "127.0.0.1:0", "-t", "2", "--unix", path.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    for _ in 0..4 {
        if out.read_line(&mut printed).unwrap() == 0 || printed.contains("Unix socket") {
            break;
        }
    }
    (child, printed)
}

#[test]
fn serve_unix_replaces_a_stale_file_and_removes_it_on_exit() {
    let path = sock_path("stale");
    drop(UnixListener::bind(&path).unwrap()); // a socket file nobody listens on, as after a crash
    assert!(UnixStream::connect(&path).is_err() && path.exists());
    let (mut child, printed) = serve_unix(&path);
    assert!(printed.contains(&format!("Unix socket {}", path.display())), "{printed}");
    let r = stampede(&["http", "http://localhost/", "--unix-socket", path.to_str().unwrap(), "-c", "4", "-t", "1", "-n", "1000"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(u(r.json.as_ref().unwrap(), &["requests", "ok"]), 1000);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(!path.exists(), "serve removes its socket file when it stops");
}

#[test]
fn serve_unix_refuses_a_live_socket_and_other_files() {
    let path = sock_path("live");
    let live = UnixListener::bind(&path).unwrap();
    let p = path.to_str().unwrap();
    let r = stampede_raw(&["serve", "--listen", "127.0.0.1:0", "--unix", p]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(p) && r.stderr.contains("already listening"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    // The live server keeps its socket.
    let _client = UnixStream::connect(&path).expect("the live socket is untouched");
    assert!(live.accept().is_ok());
    drop(live);
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"my data").unwrap();
    let r = stampede_raw(&["serve", "--listen", "127.0.0.1:0", "--unix", p]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("not a socket"), "{}", r.stderr);
    assert_eq!(std::fs::read(&path).unwrap(), b"my data", "a file that is not a socket is left alone");
    std::fs::remove_file(&path).unwrap();
}
