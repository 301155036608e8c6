//! End to end: `stampede ws` against the embedded server and against tungstenite.

mod common;

use common::ws_server::{self, Behaviour};
use common::{assert_accounted, f, stampede, u};

fn ws_url(addr: std::net::SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

#[test]
fn echo_against_the_embedded_server() {
    let srv = common::embedded(None, None);
    for extra in [
        vec!["--size", "5KiB"],
        vec!["--message", "héllo wörld", "--text"],
        vec!["--size", "200000"],
        vec!["--size", "60000", "--pipeline", "4"],
    ] {
        let mut args = vec!["ws", "-c", "4", "-t", "1", "-n", "2000"];
        let target = ws_url(srv.local_addr(), "/ws/echo");
        args.insert(1, &target);
        args.extend(extra.iter());
        let r = stampede(&args);
        assert_eq!(r.code, 0, "{extra:?}: {}", r.stderr);
        let v = r.json.unwrap();
        assert_eq!(v["scenario"], "ws");
        assert_eq!(u(&v, &["requests", "ok"]), 2000, "{extra:?}: {v}");
        assert_eq!(u(&v, &["requests", "errors"]), 0, "{v}");
        assert!(f(&v, &["handshake_ms", "p50"]) > 0.0, "handshake latency measured: {v}");
        assert_eq!(u(&v, &["connections", "established"]), 4);
        assert!(v["status"].as_object().unwrap().is_empty(), "messages carry no HTTP status: {v}");
        assert_accounted(&v);
    }
    srv.stop();
}

#[test]
fn heartbeat_pings_get_pongs() {
    let srv = common::embedded(None, None);
    // 20 connections, one ping each every 200 ms, for 1 s: about 100 pongs.
    let r = stampede(&["ws", &ws_url(srv.local_addr(), "/ws/echo"), "-c", "20", "-t", "1", "--ping-interval", "200ms", "-d", "1s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    let pongs = u(&v, &["requests", "ok"]);
    assert!((90..=102).contains(&pongs), "{pongs} pongs: {v}");
    assert_eq!(f(&v, &["rate", "target_per_s"]), 100.0);
    srv.stop();
}

#[test]
fn independent_server_echo_pings_and_close() {
    let echo = ws_server::start(Behaviour::Echo);
    let r = stampede(&["ws", &ws_url(echo, "/"), "-c", "2", "-t", "1", "-n", "500", "--message", "exact echo"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(u(r.json.as_ref().unwrap(), &["requests", "ok"]), 500);

    // The server pings before every echo: stampede answers and keeps counting echoes only.
    let ping = ws_server::start(Behaviour::PingThenEcho);
    let r = stampede(&["ws", &ws_url(ping, "/"), "-c", "2", "-t", "1", "-n", "300"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    assert_eq!((u(&v, &["requests", "ok"]), u(&v, &["requests", "errors"])), (300, 0), "{v}");

    // Server-initiated close after 5 messages: the in-flight message fails as closed_early and
    // stampede reconnects (no backoff: the connection had served).
    let close = ws_server::start(Behaviour::CloseAfter(5));
    let r = stampede(&["ws", &ws_url(close, "/"), "-c", "1", "-t", "1", "-n", "30", "-d", "20s"]);
    let v = r.json.expect("json");
    assert_eq!(u(&v, &["requests", "ok"]), 25, "{v}");
    assert_eq!(u(&v, &["errors", "closed_early"]), 5, "{v}");
    assert_eq!(u(&v, &["close_codes", "1001"]), 5, "each close's code is counted: {v}");
    // 30 messages, 6 per connection (5 echoed, the 6th cut by the close): 5 connections.
    assert_eq!(u(&v, &["connections", "established"]), 5, "{v}");
    assert_accounted(&v);

    // An echo that differs from what was sent is a protocol error.
    let corrupt = ws_server::start(Behaviour::Corrupt);
    let r = stampede(&["ws", &ws_url(corrupt, "/"), "-c", "1", "-t", "1", "-n", "3", "-d", "5s"]);
    let v = r.json.expect("json");
    assert_eq!(u(&v, &["errors", "protocol"]), 3, "{v}");
}

#[test]
fn a_refused_upgrade_is_a_handshake_error() {
    let srv = common::embedded(None, None);
    // `/` is plain HTTP: the upgrade gets a 200, not a 101.
    let r = stampede(&["ws", &ws_url(srv.local_addr(), "/"), "-c", "2", "-t", "1", "-d", "1s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json.unwrap();
    assert!(u(&v, &["errors", "handshake"]) >= 2, "{v}");
    srv.stop();
}

#[test]
fn ws_misuse_exits_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["ws", "http://127.0.0.1:1/"], "ws://"),
        (&["ws", "ws://127.0.0.1:1/", "--size", "huge"], "--size"),
        (&["ws", "ws://127.0.0.1:1/", "--message", "@/nonexistent/x"], "--message"),
        (&["ws", "ws://127.0.0.1:1/", "--ping-interval", "0s"], "--ping-interval"),
        (&["ws", "ws://127.0.0.1:1/", "--ping-interval", "1s", "--size", "200"], "125"),
        (&["ws", "wss://127.0.0.1:1/", "--cacert", "/nonexistent/ca.pem"], "--cacert"),
        (&["ws", "ws://127.0.0.1:1/", "--size", "100KiB", "--pipeline", "8"], "--pipeline"),
        (&["ws", "ws://127.0.0.1:1/", "--rooms", "0"], "--rooms"),
        (&["ws", "ws://127.0.0.1:1/", "--rooms", "2", "--size", "8"], "16-byte"),
        (&["ws", "ws://127.0.0.1:1/", "--rooms", "2", "-n", "100"], "-d"),
    ];
    for (args, needle) in cases {
        let r = common::stampede_raw(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn chat_members_answer_the_servers_pings() {
    // The server pings each member once and echoes its messages (a room of one) only after the
    // pong: without pongs there would be no delivery at all.
    let addr = ws_server::start(Behaviour::RequirePong);
    let r = stampede(&["ws", &format!("ws://{addr}/chat"), "-c", "2", "-t", "1", "--rooms", "1", "-R", "20", "-d", "2s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    let (sent, delivered) = (u(&v, &["chat", "messages_sent"]), u(&v, &["chat", "deliveries"]));
    assert!(sent >= 35, "{sent} sent: {v}");
    // Every message comes back (the pong is written before the member's first message), but the
    // last few may still be on their way when the run ends.
    assert!(delivered + 4 >= sent && delivered <= sent, "{delivered} deliveries for {sent} messages: {v}");
}

#[test]
fn chat_rooms_fan_out_to_every_member() {
    let srv = common::embedded(None, None); // one server thread: rooms span every connection
                                            // 20 connections in 2 rooms of 10; 100 messages/s in total for 2 s.
    let r = stampede(&["ws", &ws_url(srv.local_addr(), "/ws/chat"), "-c", "20", "-t", "1", "--rooms", "2", "-R", "100", "-d", "2s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    let sent = u(&v, &["chat", "messages_sent"]);
    let delivered = u(&v, &["chat", "deliveries"]);
    assert!((190..=201).contains(&sent), "{sent} sent: {v}");
    // every message reaches the 10 members of its room (a few sent at the very end may not)
    assert!(delivered <= sent * 10 && delivered >= sent * 10 - 50, "{delivered} deliveries for {sent} messages: {v}");
    assert!(f(&v, &["chat", "delivery_latency_ms", "p50"]) > 0.0, "{v}");
    assert!(r.stdout.contains("Chat") && r.stdout.contains("delivered"), "{}", r.stdout);
    srv.stop();
}

/// Headers of the upgrade requests `seen` holds with `name` (lowercase).
fn header_values(seen: &ws_server::Seen, name: &str) -> Vec<String> {
    seen.lock().unwrap().iter().flat_map(|h| h.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone()).collect::<Vec<_>>()).collect()
}

#[test]
fn subprotocols_and_headers_reach_an_independent_server() {
    // tungstenite refuses (400) an upgrade that does not offer `binary`, like FunASR's 2026 server.
    let (addr, seen) = ws_server::start_recording(Behaviour::Subprotocol { require: "binary", answer: Some("binary") });
    let url = ws_url(addr, "/");
    let r = stampede(&["ws", &url, "-c", "2", "-t", "1", "-d", "1s"]);
    assert_eq!(r.code, 1, "refused without the offer: {}", r.stderr);
    assert!(u(r.json.as_ref().unwrap(), &["errors", "handshake"]) >= 2, "{:?}", r.json);
    assert!(header_values(&seen, "sec-websocket-protocol").is_empty(), "nothing offered without the flag");

    let r = stampede(&["ws", &url, "-c", "2", "-t", "1", "-n", "200", "--subprotocol", "v2.asr,binary", "-H", "X-Api-Key: s3cret"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    assert_eq!((u(&v, &["requests", "ok"]), u(&v, &["requests", "errors"])), (200, 0), "{v}");
    assert!(header_values(&seen, "sec-websocket-protocol").iter().any(|p| p == "v2.asr, binary"), "{:?}", seen.lock().unwrap());
    assert!(header_values(&seen, "x-api-key").iter().any(|p| p == "s3cret"), "{:?}", seen.lock().unwrap());

    // An answer without a protocol is accepted (FunASR's server may answer so).
    let quiet = ws_server::start(Behaviour::Subprotocol { require: "binary", answer: None });
    let r = stampede(&["ws", &ws_url(quiet, "/"), "-c", "1", "-t", "1", "-n", "50", "--subprotocol", "binary"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(u(r.json.as_ref().unwrap(), &["requests", "ok"]), 50);

    // A protocol answered that was not offered fails the handshake (RFC 6455 §4.1).
    let rogue = ws_server::start(Behaviour::Subprotocol { require: "binary", answer: Some("chat") });
    let r = stampede(&["ws", &ws_url(rogue, "/"), "-c", "2", "-t", "1", "-d", "1s", "--subprotocol", "binary"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json.unwrap();
    assert!(u(&v, &["errors", "handshake"]) >= 2, "{v}");
    assert_eq!(u(&v, &["requests", "ok"]), 0, "{v}");

    // Chat rooms offer it too.
    let r = stampede(&[
        "ws",
        &format!("ws://{addr}/chat"),
        "-c",
        "2",
        "-t",
        "1",
        "--rooms",
        "1",
        "-R",
        "10",
        "-d",
        "1s",
        "--subprotocol",
        "binary",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(u(r.json.as_ref().unwrap(), &["chat", "deliveries"]) > 0);
}

#[test]
fn upgrade_flags_are_validated() {
    let cases: &[(&[&str], &str)] = &[
        (&["ws", "ws://127.0.0.1:1/", "--subprotocol", "a b"], "token"),
        (&["ws", "ws://127.0.0.1:1/", "--subprotocol", ""], "token"),
        (&["ws", "ws://127.0.0.1:1/", "-H", "Sec-WebSocket-Protocol: x"], "--subprotocol"),
        (&["ws", "ws://127.0.0.1:1/", "-H", "X-A: a\r\nX-B: b"], "line breaks"),
        (&["asr", "ws://127.0.0.1:1/", "--subprotocol", "a;b"], "token"),
        (&["asr", "ws://127.0.0.1:1/", "-H", "X-A: a\nb"], "line breaks"),
        (&["asr", "ws://127.0.0.1:1/", "-H", "noColon"], "Name: value"),
    ];
    for (args, needle) in cases {
        let r = common::stampede_raw(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn a_ws_plan_sends_its_headers_and_subprotocols() {
    let (addr, seen) = ws_server::start_recording(Behaviour::Subprotocol { require: "binary", answer: Some("binary") });
    let plan = std::env::temp_dir().join(format!("stampede-ws-plan-{}.toml", std::process::id()));
    std::fs::write(
        &plan,
        format!(
            "scenario = \"ws\"\nurl = \"ws://{addr}/\"\n[options]\nthreads = 1\nconnections = 2\n\
             header = [\"X-Tenant: blue\", \"X-Trace: 7\"]\nsubprotocol = [\"v2\", \"binary\"]\n\
             [[stage]]\nduration = \"1s\"\nrate = 50\n"
        ),
    )
    .unwrap();
    let r = stampede(&["run", plan.to_str().unwrap()]);
    let _ = std::fs::remove_file(&plan);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    assert!(u(&v, &["requests", "ok"]) >= 45, "{v}");
    let offered = header_values(&seen, "sec-websocket-protocol");
    assert!(!offered.is_empty() && offered.iter().all(|p| p == "v2, binary"), "{offered:?}");
    assert!(header_values(&seen, "x-tenant").iter().any(|p| p == "blue"));
    assert!(header_values(&seen, "x-trace").iter().any(|p| p == "7"));
}

/// The Python `websockets` echo server of tests/peers/ (see `common::pypeer`).
fn python_echo(args: &[&str], stats: &std::path::Path) -> Option<(std::process::Child, u16)> {
    let server = format!("{}/tests/peers/ws_echo_server.py", env!("CARGO_MANIFEST_DIR"));
    let all: Vec<&str> = std::iter::once(server.as_str()).chain(args.iter().copied()).collect();
    common::pypeer::python_peer(&all, stats)
}

#[test]
fn every_connection_ends_with_a_close_1000_that_python_websockets_sees() {
    let stats = std::env::temp_dir().join(format!("stampede-ws-close-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&stats);
    let Some((mut peer, port)) = python_echo(&[], &stats) else { return };
    let url = format!("ws://127.0.0.1:{port}/");
    // Closed loop for a duration, then open loop: each connection says goodbye with a close.
    for (i, extra) in [vec![], vec!["-R", "200"]].iter().enumerate() {
        let mut args = vec!["ws", &url, "-c", "4", "-t", "1", "-d", "1s"];
        args.extend(extra.iter());
        let r = stampede(&args);
        assert_eq!(r.code, 0, "{extra:?}: {}", r.stderr);
        let v = r.json.unwrap();
        assert!(u(&v, &["requests", "ok"]) > 0, "{v}");
        assert_eq!(u(&v, &["connections", "established"]), 4, "{v}");
        let all = common::pypeer::sessions(&stats, 4 * (i + 1));
        let s = &all[4 * i..];
        assert_eq!(s.len(), 4, "one session per connection: {all:?}");
        for one in s {
            assert_eq!(one["close_rcvd"], 1000, "the server saw our close (1000), not 1006: {one}");
            assert_eq!(one["close_sent"], 1000, "and answered it: {one}");
        }
    }
    let _ = peer.kill();
    let _ = peer.wait();
}
