//! `stampede raw` against the embedded server's raw echo (`serve --raw-listen`): every framing,
//! pipelined answers arriving several to a read, open loop, `--expect` failures, misuse.

mod common;

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
    ] {
        let r = stampede_raw(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}
