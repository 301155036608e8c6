//! End to end: answers a k6 user would call failed. A status outside 200–399 (or `--ok-status`)
//! fails its request as `status`, counted per code; `--expect-*` checks fail it as
//! `check_failed`, counted per check; `errors<1%` and `checks>99%` judge them. Each rule
//! against the embedded server and against hyper (tests/common/hyper_server.rs).

mod common;

use std::net::SocketAddr;

use common::{assert_accounted, hyper_server, stampede, u, url};
use serde_json::Value;

/// The two servers: (name, address). The embedded one is stopped by the caller's handle.
fn servers() -> (stampede::server::ServerHandle, Vec<(&'static str, SocketAddr)>) {
    let srv = common::embedded(None, None);
    let addr = srv.local_addr();
    (srv, vec![("embedded", addr), ("hyper", hyper_server::start(None))])
}

fn run(addr: SocketAddr, path: &str, extra: &[&str]) -> (i32, String, Value) {
    let target = url(addr, path);
    let mut args = vec!["http", target.as_str(), "-c", "2", "-t", "1", "-n", "200", "-d", "20s"];
    args.extend_from_slice(extra);
    let r = stampede(&args);
    let v = r.json.unwrap_or_else(|| panic!("no json: {}{}", r.stdout, r.stderr));
    assert_accounted(&v);
    (r.code, r.stdout, v)
}

#[test]
fn a_503_fails_its_request_and_errors_threshold_exits_3() {
    let (srv, servers) = servers();
    for (name, addr) in servers {
        let (code, out, v) = run(addr, "/status/503", &["--threshold", "errors<1%"]);
        assert_eq!(code, 3, "{name}: {out}");
        assert!(out.contains("Failed     200 (status 503: 200)"), "{name}: {out}");
        assert!(out.contains("FAIL  errors<1%"), "{name}: {out}");
        assert_eq!(u(&v, &["requests", "ok"]), 0, "{name}: {v}");
        assert_eq!(u(&v, &["requests", "errors"]), 200, "{name}: {v}");
        assert_eq!(u(&v, &["errors", "status"]), 200, "{name}: {v}");
        assert_eq!(u(&v, &["status_errors", "503"]), 200, "{name}: {v}");
        // Still answers: their status and latency are recorded.
        assert_eq!(u(&v, &["status", "503"]), 200, "{name}: {v}");
        assert!(v["latency_ms"]["p50"].as_f64().is_some(), "{name}: {v}");
        // A status share counts every answer of that status, failed or not.
        let (code, out, _) = run(addr, "/status/503", &["--threshold", "status_503>99%"]);
        assert_eq!(code, 0, "{name}: {out}");

        // --ok-status makes 503 a success; 200 is then a failure.
        let (code, out, v) = run(addr, "/status/503", &["--ok-status", "200-299,503", "--threshold", "errors<1%"]);
        assert_eq!(code, 0, "{name}: {out}");
        assert_eq!(u(&v, &["requests", "ok"]), 200, "{name}: {v}");
        assert!(v["status_errors"].is_null(), "{name}: {v}");
        let (_, _, v) = run(addr, "/status/204", &["--ok-status", "503"]);
        assert_eq!(u(&v, &["status_errors", "204"]), 200, "{name}: {v}");
        // A 404 is a failure by default, and a 301 a success (200–399).
        let (_, _, v) = run(addr, "/status/404", &[]);
        assert_eq!(u(&v, &["errors", "status"]), 200, "{name}: {v}");
        let (code, _, v) = run(addr, "/status/301", &["--threshold", "errors<1%"]);
        assert_eq!((code, u(&v, &["requests", "ok"])), (0, 200), "{name}: {v}");
    }
    srv.stop();
}

#[test]
fn checks_pass_and_fail_counted_per_check() {
    let (srv, servers) = servers();
    let h = hyper_server::start(None);
    // (server, path, a body text it sends, a header it sends)
    let cases: Vec<(&str, SocketAddr, &str, &str, &str)> = vec![
        ("embedded", servers[0].1, "/", "from stampede", "content-length: 20"),
        // The text crosses a chunk boundary: checks read the decoded body.
        ("embedded chunked", servers[0].1, "/chunked/10000", "xxxxxxxx", "transfer-encoding: chunked"),
        ("hyper", h, "/status/200", "status 200", "Content-Type: text/plain"),
        ("hyper chunked", h, "/chunked", "f0123", "transfer-encoding: chunked"),
    ];
    for (name, addr, path, body, header) in cases {
        let pass = ["--expect-status", "200", "--expect-body", body, "--expect-header", header, "--threshold", "checks>99%"];
        let (code, out, v) = run(addr, path, &pass);
        assert_eq!(code, 0, "{name}: {out}");
        assert_eq!(u(&v, &["checks", "checked"]), 200, "{name}: {v}");
        assert_eq!(u(&v, &["checks", "passed"]), 200, "{name}: {v}");
        assert_eq!(u(&v, &["requests", "ok"]), 200, "{name}: {v}");
        assert!(out.contains("Checks     200 of 200 answers passed every check"), "{name}: {out}");

        let fail = ["--expect-body", "no such text", "--expect-header", "x-missing", "--threshold", "checks>99%"];
        let (code, out, v) = run(addr, path, &fail);
        assert_eq!(code, 3, "{name}: {out}");
        assert_eq!(u(&v, &["checks", "passed"]), 0, "{name}: {v}");
        assert_eq!(u(&v, &["checks", "failed", "body contains \"no such text\""]), 200, "{name}: {v}");
        assert_eq!(u(&v, &["checks", "failed", "header x-missing present"]), 200, "{name}: {v}");
        assert_eq!(u(&v, &["errors", "check_failed"]), 200, "{name}: {v}");
        assert!(out.contains("Failed     200 (check_failed: 200)") && out.contains("FAIL  checks>99%"), "{name}: {out}");

        let (_, _, v) = run(addr, path, &["--expect-status", "201", "--expect-header", &format!("{header}-not")]);
        assert_eq!(u(&v, &["checks", "failed", "status in 201"]), 200, "{name}: {v}");
        assert_eq!(u(&v, &["errors", "check_failed"]), 200, "{name}: {v}");
    }
    srv.stop();
}

#[test]
fn bad_check_and_status_flags_are_usage_errors() {
    for (flag, value) in [("--ok-status", "2xx"), ("--ok-status", "299-200"), ("--expect-status", "1000"), ("--expect-header", ": x")] {
        let r = common::stampede_raw(&["http", "http://127.0.0.1:9/", flag, value, "-n", "1"]);
        assert_eq!(r.code, 2, "{flag} {value}: {}", r.stderr);
        assert!(r.stderr.contains(flag), "{flag}: {}", r.stderr);
    }
}

#[test]
fn failed_statuses_and_checks_reach_the_html_page_and_survive_a_merge() {
    let srv = common::embedded(None, None);
    let (_, _, v) = run(srv.local_addr(), "/status/503", &["--expect-body", "x"]);
    let json = common::temp_json("status-page");
    std::fs::write(&json, serde_json::to_vec(&v).unwrap()).unwrap();
    let html = json.with_extension("html");
    let r = common::stampede_raw(&["report", json.to_str().unwrap(), "-o", html.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("data-key=\"status_errors\">503: 200<"), "{page}");
    assert!(page.contains("data-key=\"checks.passed\">0 of 200"), "{page}");
    // Two results merge: per-code failures and per-check counts add.
    let merged = common::temp_json("status-merged");
    let r = common::stampede_raw(&["merge", json.to_str().unwrap(), json.to_str().unwrap(), "-o", merged.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let m: Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    assert_eq!(u(&m, &["status_errors", "503"]), 400, "{m}");
    assert_eq!(u(&m, &["checks", "checked"]), 400, "{m}");
    assert_eq!(u(&m, &["checks", "failed", "body contains \"x\""]), 400, "{m}");
    assert_eq!(u(&m, &["errors", "status"]), 400, "{m}");
    assert_accounted(&m);
    for p in [json, html, merged] {
        let _ = std::fs::remove_file(p);
    }
    srv.stop();
}
