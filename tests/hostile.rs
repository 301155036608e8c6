//! End to end against servers that misbehave on purpose (`common::hostile`, plain `std::net`,
//! written apart from the project's parser and server): the report's counts must match what the
//! server itself counted.

mod common;

use std::time::Duration;

use common::hostile::{self, Behaviour};
use common::{assert_accounted, f, stampede, u};

/// A server answering every request twice: the extra answer is `unsolicited`, never an answer
/// of the next request (no 503 charged, ok never above what the server handled, no 0 µs).
#[test]
fn two_answers_per_request_are_unsolicited_not_ok() {
    let srv = hostile::start(Behaviour::TwoAnswers { second: 503 });
    let r = stampede(&["http", &srv.url("/"), "-c", "2", "-t", "1", "-d", "1s"]);
    let v = r.json.expect("json result");
    assert_accounted(&v);
    let ok = u(&v, &["requests", "ok"]);
    println!(
        "two answers: server read {} requests, wrote {} responses; ok {ok}, unsolicited {}",
        srv.requests(),
        srv.responses(),
        u(&v, &["errors", "unsolicited"])
    );
    assert!(ok > 0, "{v}");
    assert!(ok <= srv.requests(), "ok {ok} > requests the server read {}: {v}", srv.requests());
    assert_eq!(u(&v, &["status", "503"]), 0, "no extra answer is charged to a request: {v}");
    assert_eq!(u(&v, &["status", "200"]), ok, "{v}");
    assert_eq!(u(&v, &["errors", "unsolicited"]), ok, "each answer came with an extra one (one write): {v}");
    assert!(f(&v, &["latency_ms", "p50"]) > 0.0, "p50 is not 0: {v}");
    assert!(r.stdout.contains("unsolicited: "), "{}", r.stdout);
}

/// A push after an idle spell on a keep-alive connection is `unsolicited`, and the request sent
/// after it is not answered by it.
#[test]
fn a_push_while_idle_is_unsolicited() {
    let srv = hostile::start(Behaviour::PushAfterIdle { after: Duration::from_millis(100), pushes: 1 });
    let r = stampede(&["http", &srv.url("/"), "-c", "1", "-t", "1", "--rate", "4", "-d", "2s"]);
    let v = r.json.expect("json result");
    assert_accounted(&v);
    println!("push: server read {} requests, wrote {} responses: {}", srv.requests(), srv.responses(), v["errors"]);
    // Each connection gets one push (the server's thread per connection): each push closes its
    // connection, every answer is one request's, every push is unsolicited.
    let (ok, unsolicited) = (u(&v, &["requests", "ok"]), u(&v, &["errors", "unsolicited"]));
    assert!(unsolicited >= 1, "{v}");
    assert_eq!(ok, srv.requests(), "{v}");
    assert_eq!(ok + unsolicited, srv.responses(), "every answer, then the pushes: {v}");
    assert_eq!(u(&v, &["connections", "established"]), srv.accepted(), "{v}");
}

/// 70 `Set-Cookie` fields are ok by default; over `--max-headers 50` they are a protocol error
/// named by its reason.
#[test]
fn many_header_fields_pass_by_default_and_fail_over_the_limit() {
    let srv = hostile::start(Behaviour::ManyHeaders { fields: 70 });
    let r = stampede(&["http", &srv.url("/"), "-c", "1", "-t", "1", "-n", "20"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.expect("json result");
    assert_eq!(u(&v, &["requests", "ok"]), 20, "{v}");
    assert_eq!(u(&v, &["requests", "errors"]), 0, "{v}");
    let r = stampede(&["http", &srv.url("/"), "-c", "1", "-t", "1", "-n", "5", "--max-headers", "50"]);
    let v = r.json.expect("json result");
    assert_accounted(&v);
    assert_eq!(u(&v, &["requests", "ok"]), 0, "{v}");
    let errors = u(&v, &["errors", "protocol"]);
    assert!(errors > 0, "{v}");
    assert_eq!(u(&v, &["protocol_errors", "too many headers"]), errors, "{v}");
    assert!(r.stdout.contains("protocol: too many headers: "), "{}", r.stdout);
    let r = stampede(&["http", &srv.url("/"), "-c", "1", "-n", "5", "--max-head", "1KiB"]);
    let v = r.json.expect("json result");
    assert!(u(&v, &["protocol_errors", "head too large"]) > 0, "{v}");
}

/// Chunk sizes with 20 leading zeros are legal.
#[test]
fn chunk_sizes_with_leading_zeros_are_ok() {
    let srv = hostile::start(Behaviour::LeadingZeroChunks { zeros: 20 });
    let r = stampede(&["http", &srv.url("/"), "-c", "1", "-t", "1", "-n", "10"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.expect("json result");
    assert_eq!(u(&v, &["requests", "ok"]), 10, "{v}");
    assert_eq!(srv.requests(), 10);
}

/// A 101 to a plain GET is a protocol error, not an ok.
#[test]
fn a_101_to_a_plain_request_is_a_protocol_error() {
    let srv = hostile::start(Behaviour::Upgrade101);
    let r = stampede(&["http", &srv.url("/"), "-c", "1", "-t", "1", "-n", "3"]);
    let v = r.json.expect("json result");
    assert_accounted(&v);
    assert_eq!(u(&v, &["requests", "ok"]), 0, "{v}");
    assert_eq!(u(&v, &["status", "101"]), 0, "{v}");
    assert_eq!(u(&v, &["errors", "protocol"]), 3, "{v}");
    assert_eq!(u(&v, &["protocol_errors", "unexpected 1xx"]), 3, "{v}");
    assert_eq!(srv.requests(), 3);
}

/// A WebSocket upgrade refused with a 400: each connection attempted and established once, each
/// opening started and failed once, its request bytes written.
#[test]
fn a_refused_websocket_upgrade_counts_each_attempt_once() {
    let srv = hostile::start(Behaviour::Refuse);
    let url = format!("ws://{}/", srv.addr);
    let r = stampede(&["ws", &url, "-c", "1", "-t", "1", "-d", "1s"]);
    let v = r.json.expect("json result");
    std::thread::sleep(Duration::from_millis(100));
    let accepted = srv.accepted();
    println!("refused: accepted {accepted}, requests {}, bytes in {}: {}", srv.requests(), srv.bytes_in(), v["connections"]);
    assert!(accepted > 0);
    assert_eq!(u(&v, &["connections", "attempted"]), accepted, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), accepted, "{v}");
    assert_eq!(u(&v, &["openings", "started"]), srv.requests(), "{v}");
    assert_eq!(u(&v, &["openings", "failed"]), srv.requests(), "{v}");
    assert_eq!(u(&v, &["errors", "handshake"]), srv.requests(), "{v}");
    assert_eq!(u(&v, &["requests", "sent"]), 0, "{v}");
    assert_eq!(u(&v, &["bytes", "written"]), srv.bytes_in(), "upgrade requests count as written: {v}");
}

/// A server that accepts and never answers the upgrade: the opening is still pending at the end,
/// and the report says so.
#[test]
fn an_unanswered_websocket_upgrade_is_reported_pending() {
    let srv = hostile::start(Behaviour::Silent);
    let url = format!("ws://{}/", srv.addr);
    let r = stampede(&["ws", &url, "-c", "2", "-t", "1", "-d", "1s", "--connect-timeout", "10s"]);
    let v = r.json.expect("json result");
    println!("silent: accepted {}, requests {}, bytes in {}: {}", srv.accepted(), srv.requests(), srv.bytes_in(), v["openings"]);
    assert_eq!(srv.accepted(), 2);
    assert_eq!(u(&v, &["connections", "attempted"]), 2, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 2, "{v}");
    assert_eq!(u(&v, &["openings", "started"]), 2, "{v}");
    assert_eq!(u(&v, &["openings", "pending"]), 2, "{v}");
    assert_eq!(u(&v, &["openings", "failed"]), 0, "{v}");
    assert_eq!(u(&v, &["bytes", "written"]), srv.bytes_in(), "{v}");
    assert!(r.stdout.contains("Pending    at the end: 2 openings"), "{}", r.stdout);
}

/// A WebSocket server that pushes a message after each pong: the pushes are counted as pushed,
/// never as answers (the pongs are).
#[test]
fn websocket_pushes_are_counted_not_answers() {
    let srv = hostile::start(Behaviour::WsPushOnPing);
    let url = format!("ws://{}/", srv.addr);
    let r = stampede(&["ws", &url, "-c", "2", "-t", "1", "--ping-interval", "100ms", "-d", "1s"]);
    let v = r.json.expect("json result");
    assert_accounted(&v);
    let (ok, pushed) = (u(&v, &["requests", "ok"]), u(&v, &["pushed"]));
    println!("ws push: server read {} pings, pushed {}; ok {ok}, pushed {pushed}", srv.requests(), srv.responses());
    assert!(ok > 0 && ok <= srv.requests(), "{v}");
    // the last push of a connection may still be on its way when the run ends
    assert!(pushed <= srv.responses() && pushed + 2 >= srv.responses(), "{v}");
    assert_eq!(u(&v, &["requests", "errors"]), 0, "{v}");
    assert!(r.stdout.contains("Pushed     "), "{}", r.stdout);
}

/// TLS to a server that never answers the ClientHello: each connection attempted once, its TLS
/// handshake started once, both still pending at the end and said so.
#[test]
fn an_unanswered_tls_handshake_is_reported_pending() {
    let srv = hostile::start(Behaviour::Silent);
    let url = format!("https://{}/", srv.addr);
    let t0 = std::time::Instant::now();
    let r = stampede(&["http", &url, "-c", "2", "-t", "1", "-d", "1s", "--connect-timeout", "10s", "--insecure"]);
    let took = t0.elapsed();
    let v = r.json.expect("json result");
    println!("tls silent: accepted {}, took {took:?}: {} {}", srv.accepted(), v["connections"], v["tls"]);
    assert_eq!(srv.accepted(), 2);
    assert_eq!(u(&v, &["connections", "attempted"]), 2, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 0, "{v}");
    assert_eq!(u(&v, &["connections", "pending"]), 2, "{v}");
    assert_eq!(u(&v, &["tls", "handshakes"]), 0, "{v}");
    assert_eq!(u(&v, &["tls", "pending"]), 2, "{v}");
    assert!(v["errors"].as_object().is_some_and(|e| e.is_empty()), "nothing failed: {v}");
    assert!(r.stdout.contains("Pending    at the end: 2 connects, 2 TLS handshakes"), "{}", r.stdout);
}

/// A closed port: every attempt is counted once and fails once (`attempted = established +
/// failed + pending`); no request is sent.
#[test]
fn refused_connects_are_counted_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/");
    let r = stampede(&["http", &url, "-c", "2", "-t", "1", "-d", "1s"]);
    let v = r.json.expect("json result");
    let (attempted, refused, pending) =
        (u(&v, &["connections", "attempted"]), u(&v, &["errors", "refused"]), u(&v, &["connections", "pending"]));
    println!("refused: attempted {attempted}, refused {refused}, pending {pending}");
    assert!(refused > 0, "{v}");
    assert_eq!(attempted, refused + pending, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 0, "{v}");
    assert_eq!(u(&v, &["requests", "sent"]), 0, "{v}");
}

/// raw: every answer has a request too; bytes beyond a batch's answers are unsolicited.
#[test]
fn raw_answers_beyond_the_batch_are_unsolicited() {
    let srv = hostile::start(Behaviour::TwoAnswers { second: 503 });
    let url = format!("tcp://{}", srv.addr);
    let r = stampede(&["raw", &url, "--message", "GET / HTTP/1.1", "--delimiter", "\\r\\n\\r\\n", "-c", "1", "-t", "1", "-d", "1s"]);
    let v = r.json.expect("json result");
    assert_accounted(&v);
    let (ok, unsolicited) = (u(&v, &["requests", "ok"]), u(&v, &["errors", "unsolicited"]));
    println!("raw two answers: server read {} requests; ok {ok}, unsolicited {unsolicited}", srv.requests());
    assert!(ok > 0 && ok <= srv.requests(), "{v}");
    assert_eq!(unsolicited, ok, "each answer came with an extra one: {v}");
}

/// WebSocket echo in open loop against a server that pushes while the connection is idle: the
/// pushes are read before the next message goes out and counted as pushed, never as an echo.
#[test]
fn websocket_pushes_while_idle_are_counted_not_answers() {
    let srv = hostile::start(Behaviour::WsPushWhileIdle { after: Duration::from_millis(50) });
    let url = format!("ws://{}/", srv.addr);
    let r = stampede(&["ws", &url, "-c", "1", "-t", "1", "-R", "5", "-d", "2s"]);
    let v = r.json.expect("json result");
    assert_accounted(&v);
    let (ok, pushed) = (u(&v, &["requests", "ok"]), u(&v, &["pushed"]));
    println!(
        "ws idle push: server read {} messages, pushed {}; ok {ok}, pushed {pushed}: {}",
        srv.requests(),
        srv.responses(),
        v["errors"]
    );
    assert!(ok > 0 && ok <= srv.requests(), "{v}");
    assert_eq!(u(&v, &["requests", "errors"]), 0, "no push is taken for an echo: {v}");
    // the last push may come after the run's last message
    assert!(pushed > 0 && pushed <= srv.responses() && pushed + 1 >= srv.responses(), "{v}");
}

/// The parser's limits are validated at the edge and say their real range.
#[test]
fn parser_limits_out_of_range_are_usage_errors() {
    for (flag, value, says) in
        [("--max-headers", "0", "1 to 256"), ("--max-headers", "300", "1 to 256"), ("--max-head", "100", "256 bytes to 16MiB")]
    {
        let r = common::stampede_raw(&["http", "http://127.0.0.1:9/", flag, value, "-n", "1"]);
        assert_eq!(r.code, 2, "{flag} {value}: {}", r.stderr);
        assert!(r.stderr.contains(flag) && r.stderr.contains(says), "{flag} {value}: {}", r.stderr);
    }
}
