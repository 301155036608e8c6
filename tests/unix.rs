//! `--unix-socket PATH` (as curl): HTTP and raw load over a Unix socket, against small
//! independent servers written here with std (the embedded server listens on TCP only).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{stampede, u};

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
