//! End to end: `stampede ws --rooms` and its delivery accounting, against the embedded raw
//! relay, a tungstenite server that never answers pings, and the independent chat servers of
//! tests/peers (the Python `websockets` JSON chat app and the Node `ws` relay).

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{f, stampede, stampede_raw, u};
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
    let r = stampede(&["ws", &url, "-c", "20", "-t", "2", "--rooms", "2", "-R", "100", "-d", "2s", "--threshold", "delivered>=99%"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_books_balance(&v);
    let a = acct(&v);
    let sent = u(&v, &["chat", "messages_sent"]);
    assert_eq!(a["marked"], true, "{v}");
    // the relay sends each message back to its sender, and to the 9 others of its room
    assert_eq!(u(a, &["self_deliveries"]), sent, "{v}");
    // The relay joins a member to its room just after its 101 has gone out: a message relayed
    // in that instant misses the member (seen once under a loaded CPU). Anything more is a bug.
    assert!(u(a, &["lost"]) <= 2, "{v}");
    assert_eq!((u(a, &["late"]), u(a, &["duplicated"]), u(a, &["unmarked"])), (0, 0, 0), "{v}");
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
        (&["ws", "ws://127.0.0.1:1/", "--rooms", "2", "--size", "20", "-d", "1s"], "40-byte mark"),
    ];
    for (args, needle) in cases {
        let r = stampede_raw(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

/// A plan's stages count the chat's own figures: messages sent and copies delivered (not the
/// requests and answers chat has none of), and a quiet `rate = 0` stage, having asked for no
/// message, is not flagged as falling short of the plan's mean rate.
#[test]
fn chat_stages_count_messages_and_a_quiet_stage_is_not_short() {
    let srv = common::embedded(None, None);
    let url = format!("ws://{}/ws/chat", srv.local_addr());
    let plan = quiet_tail_plan("stages", &url, "50", "2s");
    let r = stampede(&["run", plan.to_str().unwrap(), "-c", "10", "-t", "1", "--rooms", "2"]);
    let _ = std::fs::remove_file(&plan);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    let stages = v["stages"].as_array().unwrap();
    let (load, quiet) = (&stages[0], &stages[1]);
    let sent = u(load, &["result", "chat", "messages_sent"]);
    assert!(sent >= 90, "{v}");
    assert_eq!(u(load, &["sent"]), sent, "{v}");
    assert_eq!(u(load, &["ok"]), u(load, &["result", "chat", "deliveries"]), "{v}");
    assert!(u(load, &["ok"]) >= 4 * sent, "each message reaches its room of 5: {v}");
    assert!(f(load, &["latency_ms", "p50"]) > 0.0, "the fan-out latency: {v}");
    assert_eq!(f(load, &["result", "rate", "target_per_s"]), 50.0, "{v}");
    assert_eq!(f(quiet, &["result", "rate", "target_per_s"]), 0.0, "{v}");
    for st in stages {
        assert_eq!(st["result"]["generator"]["saturated"], false, "{v}");
    }
    let row = r.stdout.lines().find(|l| l.trim_start().starts_with("load ")).unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(row.contains(&format!(" {sent} ")), "{}", r.stdout);
    assert!(r.stdout.contains("messages") && r.stdout.contains("delivered"), "{}", r.stdout);
    srv.stop();
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

// ---------------------------------------------------------------------------------------------
// Against the independent chat servers of tests/peers (started by the tests, installed by
// scripts/test.sh): their own counts are the reference.

fn stats_file(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("stampede-chat-{}-{tag}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// A plan that sends at `rate` messages/s for `secs` (a duration), then nothing for a quiet second
/// while the members keep reading: every relay of the last messages is read before the members
/// close, however slow the server or the machine, so the server's counts and stampede's agree
/// exactly.
fn quiet_tail_plan(tag: &str, url: &str, rate: &str, secs: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("stampede-chat-{}-{tag}.toml", std::process::id()));
    let text = format!(
        "scenario = \"ws\"\nurl = \"{url}\"\n[[stage]]\nname = \"load\"\nduration = \"{secs}\"\nrate = {rate}\n\
         [[stage]]\nname = \"quiet\"\nduration = \"1s\"\nrate = 0\n"
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// The issue's example scaled to this machine: 10 members in 2 groups, each joining with a JSON
/// message and waiting for `joined`, 5000-byte messages in a JSON envelope, under a 0.5 s
/// keepalive ping; `d` seconds of messages at `rate`, then a quiet second (`quiet_tail_plan`).
fn example(port: u16, (c, rate, d): (&str, &str, &str), extra: &[&str]) -> common::Run {
    let url = format!("ws://127.0.0.1:{port}/ws/u{{conn}}");
    let plan = quiet_tail_plan(&format!("example-{port}"), &url, rate, d);
    let mut args = vec![
        "run",
        plan.to_str().unwrap(),
        "-c",
        c,
        "-t",
        "2",
        "--rooms",
        "2",
        "--on-open",
        r#"{"type":"join","group_id":"g{room}"}"#,
        "--on-open-expect",
        "joined",
        "--message",
        r#"{"type":"message","group_id":"g{room}","content":"{mark}{payload:5000}"}"#,
    ];
    args.extend_from_slice(extra);
    let r = stampede(&args);
    let _ = std::fs::remove_file(&plan);
    r
}

fn sum(s: &[Value], k: &str) -> u64 {
    s.iter().map(|l| u(l, &[k])).sum()
}

/// Every frame the server delivered was received and classified (the runs end with a quiet
/// second: no relay is still on its way when the members close).
fn assert_delivered_all(s: &[Value], v: &Value) {
    let (server, ours) = (sum(s, "deliveries"), u(v, &["chat", "deliveries"]));
    assert_eq!(server, ours, "server {server}, stampede {ours}: {s:?} {v}");
}

/// Exact delivery counts against a JSON chat server's own: every message the server relayed was
/// sent by stampede, every frame it delivered was received and classified, none lost; every
/// member answered the 0.5 s keepalive pings for 3 s and closed with 1000.
fn exact_against(port: u16, stats: &std::path::Path) {
    let r = example(port, ("10", "50", "3s"), &["--threshold", "delivered>=100%", "--threshold", "fanout.p99<2s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_books_balance(&v);
    let a = acct(&v);
    let s = common::pypeer::sessions(stats, 10);
    assert_eq!(s.len(), 10, "{s:?}");
    let sent = u(&v, &["chat", "messages_sent"]);
    assert!(sent >= 140, "{v}");
    assert_eq!(sum(&s, "relayed"), sent, "the server relayed every message sent: {s:?}");
    assert_delivered_all(&s, &v);
    assert_eq!(u(a, &["self_deliveries"]), sent, "the app echoes to the sender: {v}");
    assert_eq!((u(a, &["lost"]), u(a, &["late"]), u(a, &["duplicated"]), u(a, &["unmarked"])), (0, 0, 0, 0), "{v}");
    // 4 others per message once every member has joined (fewer before: joins take long on a
    // loaded machine). Exactly: the server's copies to others (all but the sender's own) are
    // the ones stampede expected, all delivered, and those to members that had not joined yet.
    assert!(u(a, &["expected"]) >= sent && u(a, &["expected"]) <= 4 * sent, "{v}");
    assert_eq!(u(a, &["expected"]), u(a, &["delivered"]), "{v}");
    assert_eq!(sum(&s, "deliveries") - sent, u(a, &["delivered"]) + u(a, &["before_join"]), "{s:?} {v}");
    assert_eq!(sum(&s, "errors_sent"), 0, "{s:?}");
    // keepalive: every ping answered (but one per member at most, sent as it closed), nobody
    // closed with 1011
    assert!(sum(&s, "pings_sent") >= 10 * 4, "{s:?}");
    assert!(sum(&s, "pongs_rcvd") + 10 >= sum(&s, "pings_sent"), "{s:?}");
    for one in &s {
        assert_eq!((&one["close_rcvd"], &one["close_sent"]), (&1000.into(), &1000.into()), "{one}");
    }
    assert_eq!(u(&v, &["close_codes", "1000"]), 10, "{v}");
    assert!(r.stdout.contains("Errors     none"), "{}", r.stdout);
}

#[test]
fn exact_deliveries_against_the_python_json_chat_app() {
    let stats = stats_file("py-exact");
    let Some((peer, port)) = common::pypeer::chat_peer(&["--ping-interval", "0.5", "--ping-timeout", "0.5"], &stats) else { return };
    exact_against(port, &stats);
    common::pypeer::stop(peer);
}

#[test]
fn exact_deliveries_against_the_node_ws_relay() {
    let stats = stats_file("node-exact");
    let Some((peer, port)) = common::pypeer::node_relay(&["--json", "--ping-interval", "0.5", "--ping-timeout", "0.5"], &stats) else {
        return;
    };
    exact_against(port, &stats);
    common::pypeer::stop(peer);
}

#[test]
fn one_relay_in_a_hundred_dropped_is_one_percent_lost() {
    let stats = stats_file("py-drop");
    let args = ["--drop-every", "100", "--no-echo-self", "--ping-interval", "0.5", "--ping-timeout", "0.5"];
    let Some((peer, port)) = common::pypeer::chat_peer(&args, &stats) else { return };
    let r = example(port, ("10", "100", "3s"), &["--threshold", "delivered>99.5%"]);
    assert_eq!(r.code, 3, "the threshold is breached: {}\n{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_books_balance(&v);
    let a = acct(&v);
    let s = common::pypeer::sessions(&stats, 10);
    let dropped = sum(&s, "dropped");
    assert!(dropped >= 10, "{s:?}");
    assert_delivered_all(&s, &v);
    // Every drop is a lost delivery, unless it was a copy of a message sent before the receiver
    // joined (not expected of it, never counted lost); nothing else is lost (the quiet second
    // at the end lets the last relays arrive). Every copy the server did send was received.
    let (lost, before) = (u(a, &["lost"]), u(a, &["before_join"]));
    assert!(lost <= dropped && lost + before >= dropped, "lost {lost}, dropped {dropped}: {v}");
    assert_eq!(sum(&s, "deliveries"), u(a, &["delivered"]) + before, "no copy to the sender (--no-echo-self): {s:?} {v}");
    let pct = f(a, &["delivered_pct"]);
    assert!((98.5..99.5).contains(&pct), "{pct}% delivered: {v}");
    assert!(r.stdout.contains(&format!("{lost} lost")), "{}", r.stdout);
    common::pypeer::stop(peer);
}

#[test]
fn a_member_closed_by_the_server_is_reported_by_its_code() {
    for code in ["1011", "1008"] {
        let stats = stats_file(&format!("py-close-{code}"));
        let Some((peer, port)) = common::pypeer::chat_peer(&["--close-after-ms", "700", "--close-code", code], &stats) else { return };
        let r = example(port, ("3", "15", "2s"), &[]);
        let v = r.json.unwrap();
        assert!(u(&v, &["close_codes", code]) >= 3, "{v}");
        assert!(u(&v, &["errors", "closed_early"]) >= 3, "{v}");
        assert!(r.stdout.contains(&format!("{code}: ")) && r.stdout.contains("closed_early"), "{}", r.stdout);
        assert!(!r.stdout.contains("Errors     none"), "{}", r.stdout);
        common::pypeer::stop(peer);
    }
}

#[test]
fn members_of_several_rooms_join_each_and_rotate_their_messages() {
    // 4 members, 6 groups, 3 groups each: 12 joins (one on-open per room), messages rotate over
    // a member's groups; the server's counts and stampede's agree exactly.
    let stats = stats_file("py-multi");
    let Some((peer, port)) = common::pypeer::chat_peer(&["--no-echo-self"], &stats) else { return };
    let url = format!("ws://127.0.0.1:{port}/ws/u{{conn}}");
    let plan = quiet_tail_plan("multi", &url, "40", "2s");
    let r = stampede(&[
        "run",
        plan.to_str().unwrap(),
        "-c",
        "4",
        "-t",
        "1",
        "--rooms",
        "6",
        "--rooms-per-conn",
        "3",
        "--on-open",
        r#"{"type":"join","group_id":"g{room}"}"#,
        "--on-open-expect",
        "joined",
        "--message",
        r#"{"type":"message","group_id":"g{room}","content":"{mark} #{seq}"}"#,
    ]);
    let _ = std::fs::remove_file(&plan);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_books_balance(&v);
    let s = common::pypeer::sessions(&stats, 4);
    assert_eq!(sum(&s, "errors_sent"), 0, "every message went to a group its sender had joined: {s:?}");
    assert_eq!(sum(&s, "relayed"), u(&v, &["chat", "messages_sent"]), "{s:?}");
    assert_delivered_all(&s, &v);
    assert_eq!(u(acct(&v), &["lost"]), 0, "{v}");
    // each group has 2 members: every message expects exactly one delivery once all joined
    assert!(u(acct(&v), &["expected"]) <= u(&v, &["chat", "messages_sent"]), "{v}");
    common::pypeer::stop(peer);
}

/// A WebSocket server (tungstenite) that echoes every message back to its sender and keeps a
/// copy; on TCP, or on a Unix socket when `unix` names one. Serves `conns` connections.
fn echo_server(unix: Option<&std::path::Path>, conns: usize) -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
    fn serve<S: std::io::Read + std::io::Write>(s: S, got: std::sync::mpsc::Sender<Vec<u8>>) {
        let Ok(mut ws) = tungstenite::accept(s) else { return };
        while let Ok(m) = ws.read() {
            match m {
                tungstenite::Message::Text(t) => {
                    let _ = got.send(t.as_bytes().to_vec());
                    if ws.send(tungstenite::Message::Text(t)).is_err() {
                        return;
                    }
                }
                tungstenite::Message::Close(_) => {
                    let _ = ws.flush();
                }
                _ => {}
            }
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    match unix {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            let l = std::os::unix::net::UnixListener::bind(path).unwrap();
            std::thread::spawn(move || {
                for s in l.incoming().take(conns).flatten() {
                    let tx = tx.clone();
                    std::thread::spawn(move || serve(s, tx));
                }
            });
            ("ws://localhost/chat".to_string(), rx)
        }
        None => {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("ws://{}/chat", l.local_addr().unwrap());
            std::thread::spawn(move || {
                for s in l.incoming().take(conns).flatten() {
                    let tx = tx.clone();
                    std::thread::spawn(move || serve(s, tx));
                }
            });
            (url, rx)
        }
    }
}

/// A templated message with a 5,000-byte `{payload}` (and a long literal) goes out by vectored
/// write from the pre-masked shared buffers: an independent server (tungstenite) unmasks it to
/// exactly the rendered text, on TCP and on a Unix socket, with io_uring and with epoll.
#[test]
fn a_large_payload_arrives_intact_over_tcp_and_unix() {
    let tail = "-a-long-literal-tail-kept-in-the-shared-buffer-of-the-template-".repeat(2);
    let message = format!("<{{seq}}>{{mark}}{{payload:5000}}{tail}");
    let filler: Vec<u8> = b"abcdefghijklmnopqrstuvwxyz0123456789".iter().copied().cycle().take(5000).collect();
    let sock = std::env::temp_dir().join(format!("stampede-vector-{}.sock", std::process::id()));
    for (unix, epoll) in [(None, false), (Some(sock.as_path()), false), (None, true), (Some(sock.as_path()), true)] {
        let (url, got) = echo_server(unix, 2);
        let mut args = vec!["ws", &url, "-c", "2", "-t", "1", "--rooms", "1", "--text", "--message", &message, "-R", "40", "-d", "1s"];
        let path = sock.to_string_lossy().into_owned();
        if unix.is_some() {
            args.extend(["--unix-socket", &path]);
        }
        let json = common::temp_json("vector");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"));
        cmd.args(&args).arg("--json").arg(&json).arg("--no-preflight");
        if epoll {
            cmd.env("MONOIO_FORCE_LEGACY_DRIVER", "1");
        }
        let out = cmd.output().unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap_or_default())
            .unwrap_or_else(|_| panic!("{unix:?} epoll {epoll}: {}", String::from_utf8_lossy(&out.stderr)));
        let _ = std::fs::remove_file(&json);
        assert_eq!(out.status.code(), Some(0), "{unix:?} epoll {epoll}: {v}");
        if epoll {
            assert_eq!(v["driver"], "epoll", "{v}");
        }
        let sent = u(&v, &["chat", "messages_sent"]);
        let mut msgs: Vec<Vec<u8>> = got.try_iter().collect();
        while (msgs.len() as u64) < sent {
            match got.recv_timeout(Duration::from_secs(5)) {
                Ok(m) => msgs.push(m),
                Err(_) => break,
            }
        }
        assert!(sent >= 10, "{unix:?}: {v}");
        assert_eq!(msgs.len() as u64, sent, "{unix:?}: every message arrived: {v}");
        let mut seqs = std::collections::BTreeSet::new();
        for m in &msgs {
            let close = m.iter().position(|&b| b == b'>').expect("<seq>");
            assert_eq!(m[0], b'<');
            seqs.insert(std::str::from_utf8(&m[1..close]).unwrap().parse::<u64>().expect("a seq"));
            let body = &m[close + 1 + stampede::proto::template::MARK_LEN..];
            assert_eq!(body.len(), 5000 + tail.len(), "{unix:?}");
            assert!(body[..5000] == filler[..], "{unix:?}: the payload unmasked");
            assert_eq!(&body[5000..], tail.as_bytes(), "{unix:?}");
        }
        assert_eq!(seqs.len(), msgs.len(), "{unix:?}: distinct messages");
        // Each echo is a delivery to its sender.
        assert_eq!(u(acct(&v), &["self_deliveries"]), sent, "{unix:?}: {v}");
    }
    let _ = std::fs::remove_file(&sock);
}
