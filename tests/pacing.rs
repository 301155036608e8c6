//! End to end: open-loop pacing (`--pacing sleep|spin`) on both I/O drivers, against hyper (an
//! independent server) and the embedded one. Checks that the send lateness figures and the pacing
//! mode are reported, never their size (timings are for scripts/bench-pacing.sh).

mod common;

use std::process::Command;

use common::{assert_accounted, f, hyper_server, temp_json, url};
use serde_json::Value;

/// Runs `stampede ARGS --json TMP --no-preflight`, the epoll driver forced when `epoll`.
fn run(args: &[&str], epoll: bool) -> (i32, String, Option<Value>) {
    let json = temp_json("pacing");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stampede"));
    cmd.args(args).arg("--json").arg(&json).arg("--no-preflight");
    if epoll {
        cmd.env("MONOIO_FORCE_LEGACY_DRIVER", "1");
    } else {
        cmd.env_remove("MONOIO_FORCE_LEGACY_DRIVER");
    }
    let out = cmd.output().expect("run stampede");
    let v = std::fs::read(&json).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let _ = std::fs::remove_file(&json);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text, v)
}

#[test]
fn open_loop_reports_send_lateness_and_its_pacing_mode_on_both_drivers() {
    let addr = hyper_server::start(None);
    let target = url(addr, "/cl");
    for (mode, epoll) in [("sleep", false), ("spin", false), ("sleep", true), ("spin", true)] {
        let (code, text, v) = run(&["http", &target, "-c", "4", "-t", "1", "-R", "400", "-d", "1s", "--pacing", mode], epoll);
        assert_eq!(code, 0, "{mode} epoll={epoll}: {text}");
        let v = v.expect("json result");
        assert_accounted(&v);
        assert!(v["requests"]["ok"].as_u64().unwrap_or(0) > 0, "{v}");
        assert_eq!(v["pacing"], mode, "{v}");
        assert_eq!(v["loop"], "open", "{v}");
        if epoll {
            assert_eq!(v["driver"], "epoll", "{v}");
        }
        for q in ["p50", "p99", "max"] {
            let late = f(&v, &["send_lateness_ms", q]);
            assert!(late.is_finite() && late >= 0.0, "send lateness {q} reported: {v}");
        }
        // the same figures in the text: the open-loop line names the mode, the table has the column
        assert!(text.contains(&format!("req/s (pacing {mode})")), "{text}");
        assert!(text.contains("send late"), "{text}");
        // the warning, when there is one, is in the JSON and the text alike
        if let Some(note) = v["generator"]["pacing_note"].as_str() {
            assert!(note.contains("generator's own") && text.contains(note), "{note}\n{text}");
        }
    }
}

#[test]
fn closed_loop_has_no_lateness_and_a_bad_mode_is_a_usage_error() {
    let srv = common::embedded(None, None);
    let target = url(srv.local_addr(), "/");
    let (code, text, v) = run(&["http", &target, "-c", "2", "-t", "1", "-n", "200", "--pacing", "spin"], false);
    assert_eq!(code, 0, "{text}");
    let v = v.expect("json result");
    assert!(v["send_lateness_ms"].is_null(), "{v}");
    assert!(v["generator"]["pacing_note"].is_null(), "{v}");
    assert_eq!(v["pacing"], "spin", "the mode is recorded in every run: {v}");
    srv.stop();

    let (code, text, _) = run(&["http", &target, "-c", "2", "-R", "10", "-d", "1s", "--pacing", "busy"], false);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--pacing") && text.contains("spin"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn sends_that_came_due_while_every_connection_was_busy_are_counted_on_both_drivers() {
    // hyper holds the 20th answer 400 ms: with one connection, the ~80 requests due meanwhile
    // (200/s) find it busy; with eight, the seven others send them on time.
    let stalled = |conns: &str, epoll: bool| {
        let addr = hyper_server::start(Some((20, std::time::Duration::from_millis(400))));
        let (code, text, v) = run(&["http", &url(addr, "/stall"), "-c", conns, "-t", "1", "-R", "200", "-d", "2s"], epoll);
        assert_eq!(code, 0, "{text}");
        let v = v.expect("json result");
        assert_accounted(&v);
        (v["requests"]["due_while_busy"].as_u64().unwrap_or(0), v["requests"]["sent"].as_u64().unwrap_or(0), text, v)
    };
    for epoll in [false, true] {
        let (busy, sent, text, v) = stalled("1", epoll);
        assert!((60..=sent).contains(&busy), "epoll={epoll}: {busy} of {sent} due while busy\n{text}");
        assert!(text.contains("came due while every connection was waiting for an answer"), "{text}");
        if let Some(note) = v["generator"]["pacing_note"].as_str() {
            assert!(note.contains("connections were busy (add -c)"), "{note}");
        }
    }
    let (busy, sent, text, _) = stalled("8", false);
    assert!(busy < 20, "{busy} of {sent} due while busy with seven connections free\n{text}");
}
