//! End to end: `stampede ws --rooms` and its delivery accounting, against the embedded raw
//! relay, a tungstenite server that never answers pings, and the independent chat servers of
//! tests/peers (the Python `websockets` JSON chat app and the Node `ws` relay).

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{stampede, stampede_raw, u};
use serde_json::Value;

fn acct(v: &Value) -> &Value {
    &v["chat"]["accounting"]
}

/// The accounting's own identities: what was delivered to others plus what was lost is what was
/// expected; every marked frame is one of delivered, late, duplicate, to the sender, before join.
fn assert_books_balance(v: &Value) {
    let a = acct(v);
    let n = |k: &str| a[k].as_u64().unwrap_or_else(|| panic!("accounting.{k} missing: {v}"));
    assert_eq!(n("expected"), n("delivered") + n("late") + n("lost"), "{v}");
    assert_eq!(
        u(v, &["chat", "deliveries"]),
        n("delivered") + n("late") + n("duplicated") + n("self_deliveries") + n("before_join"),
        "{v}"
    );
}

#[test]
fn the_raw_relay_is_accounted_exactly() {
    // One server thread: rooms span every connection. 20 members in 2 rooms of 10.
    let srv = common::embedded(None, None);
    let url = format!("ws://{}/ws/chat", srv.local_addr());
    let r = stampede(&["ws", &url, "-c", "20", "-t", "2", "--rooms", "2", "-R", "100", "-d", "2s", "--threshold", "delivered>=99.9%"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_books_balance(&v);
    let a = acct(&v);
    let sent = u(&v, &["chat", "messages_sent"]);
    assert_eq!(a["marked"], true, "{v}");
    // the relay sends each message back to its sender, and to the 9 others of its room
    assert_eq!(u(a, &["self_deliveries"]), sent, "{v}");
    assert_eq!((u(a, &["lost"]), u(a, &["late"]), u(a, &["duplicated"]), u(a, &["unmarked"])), (0, 0, 0, 0), "{v}");
    assert!(u(a, &["expected"]) <= sent * 9 && u(a, &["expected"]) + 9 * 20 >= sent * 9, "{v}");
    assert!(v["errors"].as_object().is_none_or(|e| e.values().all(|n| n == 0)), "{v}");
    assert_eq!(u(&v, &["close_codes", "1000"]), 20, "every member closed with 1000 and got the server's: {v}");
    assert!(r.stdout.contains("Delivery ") && r.stdout.contains("Fan-out    corrected p50"), "{}", r.stdout);
    srv.stop();
}

#[test]
fn a_message_without_a_mark_counts_frames_only() {
    let srv = common::embedded(None, None);
    let url = format!("ws://{}/ws/chat", srv.local_addr());
    let r = stampede(&["ws", &url, "-c", "4", "-t", "1", "--rooms", "1", "--message", "hello from {conn}", "-R", "20", "-d", "1s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    let a = acct(&v);
    assert_eq!(a["marked"], false, "{v}");
    assert_eq!((u(&v, &["chat", "deliveries"]), u(a, &["expected"])), (0, 0), "nothing can be matched: {v}");
    assert!(u(a, &["unmarked"]) >= u(&v, &["chat", "messages_sent"]), "every relayed frame is counted apart: {v}");
    assert!(r.stdout.contains("not matched"), "{}", r.stdout);
    // and a threshold on deliveries has no data: it fails
    let r = stampede(&[
        "ws",
        &url,
        "-c",
        "2",
        "-t",
        "1",
        "--rooms",
        "1",
        "--message",
        "hi",
        "-R",
        "10",
        "-d",
        "1s",
        "--threshold",
        "delivered>99%",
    ]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    srv.stop();
}

#[test]
fn chat_flags_are_checked() {
    let cases: &[(&[&str], &str)] = &[
        (&["ws", "ws://127.0.0.1:1/", "--rooms", "2", "--rooms-per-conn", "3", "-d", "1s"], "--rooms-per-conn"),
        (&["ws", "ws://127.0.0.1:1/", "--rooms", "4", "--rooms-per-conn", "2", "-d", "1s"], "--on-open"),
        (&["ws", "ws://127.0.0.1:1/", "--rooms", "2", "--heartbeat", "0s", "-d", "1s"], "--heartbeat"),
        (&["ws", "ws://127.0.0.1:1/", "--heartbeat", "1s", "--ping-interval", "1s"], "--heartbeat"),
        (&["ws", "ws://127.0.0.1:1/", "--on-open", "x"], "--rooms"),
        (&["ws", "ws://127.0.0.1:1/", "--rooms", "2", "--message", "{payload:huge}", "-d", "1s"], "--message"),
        (&["ws", "ws://127.0.0.1:1/", "--rooms", "2", "--size", "20", "-d", "1s"], "34-byte mark"),
    ];
    for (args, needle) in cases {
        let r = stampede_raw(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

/// A WebSocket server (tungstenite) that accepts members and never reads again: it answers no
/// ping. Ends when the test process does.
fn deaf_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().take(64).flatten() {
            if let Ok(ws) = tungstenite::accept(s) {
                held.push(ws);
            }
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    addr
}

#[test]
fn a_heartbeat_without_pongs_is_an_error() {
    let addr = deaf_server();
    let url = format!("ws://{addr}/room");
    let r = stampede(&["ws", &url, "-c", "2", "-t", "1", "--rooms", "1", "-R", "4", "-d", "2s", "--heartbeat", "300ms"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert!(u(&v, &["protocol_errors", "pong timeout"]) >= 2, "{v}");
    assert!(r.stdout.contains("pong timeout"), "{}", r.stdout);
    // the embedded relay answers them: no error
    let srv = common::embedded(None, None);
    let url = format!("ws://{}/ws/chat", srv.local_addr());
    let r = stampede(&["ws", &url, "-c", "2", "-t", "1", "--rooms", "1", "-R", "10", "-d", "2s", "--heartbeat", "200ms"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Errors     none"), "{}", r.stdout);
    srv.stop();
}

#[test]
fn ws_echo_sends_heartbeats_too() {
    // The embedded echo answers pings: the heartbeat costs no error and no echo.
    let srv = common::embedded(None, None);
    let url = format!("ws://{}/ws/echo", srv.local_addr());
    let r = stampede(&["ws", &url, "-c", "2", "-t", "1", "-R", "40", "-d", "1s", "--heartbeat", "100ms"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["requests", "errors"]), 0, "{v}");
    assert!(u(&v, &["requests", "ok"]) >= 35, "{v}");
    srv.stop();
}

#[test]
fn an_on_open_answer_that_never_comes_is_check_failed() {
    // The raw relay sends each member's on-open message back to its room: `hello` arrives,
    // `welcome` never does.
    let srv = common::embedded(None, None);
    let url = format!("ws://{}/ws/chat", srv.local_addr());
    let base = ["ws", &url, "-c", "2", "-t", "1", "--rooms", "1", "-R", "10", "-d", "2s", "--connect-timeout", "300ms"];
    let r = stampede(&[&base[..], &["--on-open", "hello {conn}", "--on-open-expect", "hello"]].concat());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(u(&r.json.unwrap(), &["chat", "accounting", "delivered"]) > 0);
    let r = stampede(&[&base[..], &["--on-open", "hello {conn}", "--on-open-expect", "welcome"]].concat());
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert!(u(&v, &["errors", "check_failed"]) >= 2, "{v}");
    assert_eq!(u(&v, &["chat", "messages_sent"]), 0, "no member joined, none sent: {v}");
    assert!(r.stdout.contains("Connect errors check_failed"), "{}", r.stdout);
    srv.stop();
}
