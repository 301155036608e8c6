//! A throttled daemon: the embedded server's whole-server limits (`--max-concurrent`,
//! `--max-rate N/PERIOD`) counted exactly, and plans that drive a target through them.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use stampede::server::limit::{Limits, OverLimit, RateLimit};
use stampede::server::{self, ServeConfig, ServerHandle};

fn limited(threads: usize, limits: Limits) -> ServerHandle {
    server::start(&ServeConfig { threads, limits, ..common::loopback() }).expect("embedded server starts")
}

/// Opens a connection and sends one request for `path` (not waiting for the answer).
fn send(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    s
}

/// The status of the answer on `s` (read to its close).
fn status(mut s: TcpStream) -> u16 {
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"))
}

fn tally(statuses: &[u16], code: u16) -> usize {
    statuses.iter().filter(|&&s| s == code).count()
}

#[test]
fn max_concurrent_refuses_exactly_the_requests_beyond_it_across_threads() {
    // 150 requests that each stay 2 s in progress, on two server threads: 100 are served, 50
    // refused, whichever thread took them (one shared count).
    let srv = limited(2, Limits { max_concurrent: Some(100), ..Default::default() });
    let conns: Vec<TcpStream> = (0..150).map(|_| send(srv.local_addr(), "/delay/2000")).collect();
    let statuses: Vec<u16> = conns.into_iter().map(status).collect();
    assert_eq!((tally(&statuses, 200), tally(&statuses, 429)), (100, 50), "{statuses:?}");
    // All of them done: the count is back to 0, a new request is served.
    assert_eq!(status(send(srv.local_addr(), "/")), 200);
    let c = srv.stop();
    assert_eq!((c.served, c.refused_concurrent, c.refused_rate, c.peak_in_progress), (101, 50, 0, 100), "{c:?}");
}

#[test]
fn max_concurrent_can_answer_503_and_counts_pipelined_requests() {
    let srv = limited(1, Limits { max_concurrent: Some(3), over_limit_status: OverLimit::Unavailable, ..Default::default() });
    let held: Vec<TcpStream> = (0..3).map(|_| send(srv.local_addr(), "/delay/1500")).collect();
    std::thread::sleep(Duration::from_millis(300));
    // Two pipelined requests on a fourth connection while three are in progress: both refused.
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert_eq!(answer.matches("HTTP/1.1 503 ").count(), 2, "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");
    let statuses: Vec<u16> = held.into_iter().map(status).collect();
    assert_eq!(statuses, vec![200, 200, 200]);
    let c = srv.stop();
    assert_eq!((c.served, c.refused_concurrent), (3, 2), "{c:?}");
}

#[test]
fn max_rate_is_a_sliding_window_for_the_whole_server() {
    // 5 per 3 s on two threads: of 12 requests at once exactly 5 are served; the window slides
    // from the first admission, so 3 s later 5 more fit, and no more.
    let srv = limited(2, Limits { max_rate: Some(RateLimit { count: 5, period_ns: 3_000_000_000 }), ..Default::default() });
    let first: Vec<u16> = (0..12).map(|_| send(srv.local_addr(), "/")).map(status).collect();
    assert_eq!((tally(&first, 200), tally(&first, 429)), (5, 7), "{first:?}");
    std::thread::sleep(Duration::from_millis(3200));
    let second: Vec<u16> = (0..8).map(|_| send(srv.local_addr(), "/")).map(status).collect();
    assert_eq!((tally(&second, 200), tally(&second, 429)), (5, 3), "{second:?}");
    let c = srv.stop();
    assert_eq!((c.served, c.refused_concurrent, c.refused_rate), (10, 0, 10), "{c:?}");
}

#[test]
fn serve_limit_flags_are_validated_and_summarised() {
    for (args, want) in [
        (&["--max-concurrent", "0"][..], "--max-concurrent must be at least 1"),
        (&["--max-rate", "2000"][..], "write N/PERIOD"),
        (&["--max-rate", "10/0s"][..], "the period must be"),
        (&["--over-limit-status", "500"][..], "give 429 or 503"),
        (&["--max-rate", "5/s", "--processes", "2"][..], "drop --processes"),
    ] {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let r = common::stampede_raw(&all);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}

fn write_plan(tag: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("stampede-throttle-{}-{tag}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn stage<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no stage {name}: {v}"))
}

fn n(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

#[test]
fn a_mixed_plan_runs_closed_loop_with_think_then_a_rate_then_closed_with_nothing_lost_at_the_boundaries() {
    let srv = common::embedded(None, None);
    let plan = write_plan(
        "mixed",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\n[options]\nconnections = 16\nthreads = 1\n\
             [[stage]]\nname = \"closed\"\nduration = \"2s\"\nconnections = 5\nthink = \"75ms\"\n\
             [[stage]]\nname = \"open\"\nduration = \"2s\"\nrate = 200\n\
             [[stage]]\nname = \"closed-again\"\nduration = \"1s\"\nconnections = 3\n",
            common::url(srv.local_addr(), "/")
        ),
    );
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    let (closed, open, again) = (stage(&v, "closed"), stage(&v, "open"), stage(&v, "closed-again"));
    // The schedule holds exactly 2 s × 200/s = 400 requests, all in the open stage (the
    // supervisor switches stage shards within its 10 ms tick: ±1 %).
    assert!((396..=404).contains(&n(open, "sent")), "{open}");
    // 5 connections, each pausing 75 ms after every answer for 2 s: at most 5 × (2 s / 75 ms
    // + 1) = 138 (without the pause, thousands), and on loopback not far below.
    assert!((50..=138).contains(&n(closed, "sent")), "{closed}");
    assert_eq!(closed["shape"], "constant connections 5, think 75ms");
    // Nothing lost or counted twice: every request sent is answered, in one stage or the next.
    let sent = common::u(&v, &["requests", "sent"]);
    // Back to closed loop at once: 3 connections without think send as fast as answered.
    assert!(n(again, "sent") > n(open, "sent"), "{again}");
    assert_eq!(sent, n(closed, "sent") + n(open, "sent") + n(again, "sent"));
    // Answered, or in flight at the run's end (reads stop at the end to the microsecond: the
    // last stage's 3 connections may each have one on its way; before, a 1 ms timer let them in).
    let in_flight = common::u(&v, &["requests", "in_flight"]);
    assert!(in_flight <= 3, "{v}");
    assert_eq!(common::u(&v, &["requests", "ok"]) + in_flight, sent, "{v}");
    assert_eq!(n(closed, "ok") + n(open, "ok") + n(again, "ok") + in_flight, sent);
    common::assert_accounted(&v);
    let _ = std::fs::remove_file(&plan);
    srv.stop();
}

#[test]
fn think_paces_each_closed_loop_connection_and_is_refused_with_a_rate() {
    let srv = common::embedded(None, None);
    let url = common::url(srv.local_addr(), "/");
    let r = common::stampede(&["http", &url, "-c", "2", "-t", "1", "-d", "1s", "--think", "100ms"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    // 2 connections, 100 ms after each answer, for 1 s: at most 2 × (1 s / 100 ms + 1) = 22.
    let sent = common::u(&v, &["requests", "sent"]);
    assert!((6..=22).contains(&sent), "sent {sent}");
    assert_eq!(common::u(&v, &["requests", "ok"]), sent);
    let r = common::stampede_raw(&["http", &url, "-R", "10", "--think", "100ms"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--think is for closed loop"), "{}", r.stderr);
    srv.stop();
}

#[test]
fn a_stage_sends_its_own_request_with_a_one_megabyte_payload_from_one_shared_buffer() {
    let srv = common::embedded(None, None);
    let plan = write_plan(
        "payload",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\n[options]\nthreads = 1\n\
             [[stage]]\nname = \"small\"\nduration = \"1s\"\nconnections = 2\n\
             [[stage]]\nname = \"big\"\nduration = \"1s\"\nconnections = 2\nmethod = \"POST\"\npath = \"/echo\"\n\
             headers = [\"Content-Type: application/json\"]\nbody = '{{\"data\":\"{{payload:1MB}}\"}}'\n\
             thresholds = [\"status_200>99%\"]\n",
            common::url(srv.local_addr(), "/")
        ),
    );
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    let (small, big) = (stage(&v, "small"), stage(&v, "big"));
    // POST /echo answers the 1 MB body: every request of the stage carried the megabyte, and
    // every answer but the 2 small ones of the first stage's last sends (in flight at the
    // boundary, answered in this stage) brought it back.
    assert!(n(big, "ok") > 2 && big["status"]["200"] == big["ok"], "{big}");
    let (written, read) = (n(&big["result"]["bytes"], "written"), n(&big["result"]["bytes"], "read"));
    // (a write still going at the end of the run is counted sent, its bytes as far as they went)
    assert!(written >= (n(big, "sent") - n(big, "in_flight_at_end")) * 1_000_000, "{written} for {big}");
    assert!(read >= (n(big, "ok") - 2) * 1_000_000, "{read} for {big}");
    let small_written = n(&small["result"]["bytes"], "written");
    assert!(small_written < n(small, "sent") * 200, "the first stage sends the plan's GET: {small_written}");
    let _ = std::fs::remove_file(&plan);
    srv.stop();
}

#[test]
fn the_throttle_preset_sees_concurrency_throttling_exactly_over_the_limit() {
    // The server allows 20 requests in progress, each taking 600 ms. The preset for that
    // concurrency limit alone, phases of 2 s, connections thinking 75 ms: 2, 10, 16, 20
    // connections never have more than 20 requests in progress (exactly none refused); 30 want
    // about 27 in progress (refused); the payload phase starts while over-limit requests are
    // still in progress (not judged on throttling); recovery's 2 connections are never refused.
    // (Answers count in the phase of their send: a phase of 1 s could end before its first
    // 600 ms request, sent after the payload phase's last ones, is answered: no data.)
    let srv = limited(1, Limits { max_concurrent: Some(20), ..Default::default() });
    let target = common::url(srv.local_addr(), "/delay/600");
    let r = common::stampede(&["run", "--preset", "throttle", &target, "--concurrent-limit", "20", "--stage-duration", "2s", "-t", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    let throttled = |name: &str| stage(&v, name)["status"]["429"].as_u64().unwrap_or(0);
    let names: Vec<&str> = v["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["baseline", "moderate", "warning", "at-limit", "over-limit", "payload", "recovery"]);
    for calm in ["baseline", "moderate", "warning", "at-limit", "recovery"] {
        assert_eq!(throttled(calm), 0, "{calm}: {}", stage(&v, calm));
        assert!(n(stage(&v, calm), "ok") > 0, "{calm}");
    }
    assert!(throttled("over-limit") > 0, "{}", stage(&v, "over-limit"));
    for s in v["stages"].as_array().unwrap() {
        assert!(s["thresholds"].as_array().is_none_or(|t| t.iter().all(|x| x["passed"] == true)), "{s}");
    }
    // The 1 MB payloads went out (POST /delay/600 reads and drops them).
    let payload = stage(&v, "payload");
    let done = n(payload, "sent") - n(payload, "in_flight_at_end");
    assert!(n(&payload["result"]["bytes"], "written") >= done * 1_000_000, "{payload}");
    let c = srv.stop();
    assert!(c.peak_in_progress <= 20 && c.refused_concurrent == throttled("over-limit") + throttled("payload"), "{c:?}");
}
