//! Capacity search against a target with a known limit: the embedded server answers 429 above
//! 400 requests/s, so the highest rate with (almost) no 429 is 400/s.

mod common;

use common::url;

#[test]
fn capacity_search_converges_to_a_known_limit() {
    let srv = common::embedded(None, Some(400));
    let json = common::temp_json("capacity");
    let r = common::stampede_raw(&[
        "capacity",
        &url(srv.local_addr(), "/"),
        "--slo",
        "status_429<1%",
        "--start",
        "100",
        "--step",
        "2s",
        "--precision",
        "5%",
        "--json",
        json.to_str().unwrap(),
        "--",
        "-c",
        "16",
        "-t",
        "1",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let knee = v["knee"].as_f64().unwrap();
    assert!((360.0..=440.0).contains(&knee), "knee {knee} should be within 10 % of 400:\n{}", r.stdout);
    let steps = v["steps"].as_array().unwrap();
    assert!(steps.len() <= 12, "{} steps", steps.len());
    assert!(steps.iter().any(|s| s["passed"] == false), "a failing step bounds the knee");
    assert!(r.stdout.contains("Knee:") && r.stdout.contains("Capacity search"), "{}", r.stdout);
    let _ = std::fs::remove_file(json);
    srv.stop();
}

#[test]
fn capacity_with_an_error_slo_finds_a_rate_limit_because_429_fails() {
    // 429s are failed requests by default: `errors<1%` alone finds the limiter's rate.
    let srv = common::embedded(None, Some(3000));
    let json = common::temp_json("capacity-3000");
    let r = common::stampede_raw(&[
        "capacity",
        &url(srv.local_addr(), "/"),
        "--slo",
        "errors<1%",
        "--start",
        "1000",
        // 2 s: every step holds at least one whole second of the server's per-second window.
        "--step",
        "2s",
        "--precision",
        "5%",
        "--json",
        json.to_str().unwrap(),
        "--",
        "-c",
        "32",
        "-t",
        "1",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let knee = v["knee"].as_f64().unwrap();
    assert!((2700.0..=3300.0).contains(&knee), "knee {knee} should be within 10 % of 3000:\n{}{}", r.stdout, r.stderr);
    assert!(v["steps"].as_array().unwrap().len() <= 10, "{}", r.stdout);
    let _ = std::fs::remove_file(json);
    srv.stop();
}

#[test]
fn a_step_the_target_cannot_answer_fails_with_rate_not_reached() {
    // 2 connections to a 100 ms answer: at most 20 answers/s. A step asking far more does not
    // meet the SLO, whatever its latency says, and the search never goes past it.
    let srv = common::embedded(None, None);
    let json = common::temp_json("capacity-slow");
    let r = common::stampede_raw(&[
        "capacity",
        &url(srv.local_addr(), "/delay/100"),
        "--slo",
        "errors<1%",
        "--start",
        "10",
        "--step",
        "1s",
        "--precision",
        "20%",
        "--json",
        json.to_str().unwrap(),
        "--",
        "-c",
        "2",
        "-t",
        "1",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let steps = v["steps"].as_array().unwrap();
    let short: Vec<_> = steps.iter().filter(|s| s["rate_not_reached"] == "target").collect();
    assert!(!short.is_empty(), "{}{}", r.stdout, r.stderr);
    assert!(short.iter().all(|s| s["passed"] == false), "{}", r.stdout);
    // Too slow for the connections, or fewer answers than sends (near the limit): the target.
    assert!(r.stdout.contains("rate not reached: the target: answered"), "{}", r.stdout);
    let knee = v["knee"].as_f64().unwrap_or(0.0);
    assert!(knee <= 22.0, "knee {knee} beyond what 2 connections at 100 ms can answer:\n{}", r.stdout);
    assert!(steps.iter().all(|s| s["level"].as_f64().unwrap() <= 80.0), "{}", r.stdout);
    let _ = std::fs::remove_file(json);
    srv.stop();
}

#[test]
fn capacity_misuse_exits_2() {
    for (args, needle) in [
        (vec!["capacity", "http://127.0.0.1:9/", "--slo", ""], "--slo"),
        (vec!["capacity", "http://127.0.0.1:9/", "--slo", "p99<<1"], "--slo"),
        (vec!["capacity", "http://127.0.0.1:9/", "--slo", "p99<1s", "--precision", "0"], "--precision"),
        (vec!["capacity", "http://127.0.0.1:9/", "--slo", "p99<1s", "--start", "10", "--max", "5"], "--max"),
        (vec!["capacity", "http://127.0.0.1:9/", "--slo", "p99<1s", "--scenario", "ftp"], "--scenario"),
        (vec!["capacity", "http://127.0.0.1:9/", "--slo", "p99<1s", "--step", "0s"], "--step"),
        (vec!["capacity", "http://127.0.0.1:9/", "--slo", "p99<1s", "--start", "0"], "--start"),
        (vec!["capacity", "http://127.0.0.1:9/", "--slo", "p99<1s", "--", "--pipeline", "x"], "pipeline"),
        (vec!["capacity", "http://127.0.0.1:9/", "--slo", "p99<1s", "--start", "2000000000"], "--start"),
    ] {
        let r = common::stampede_raw(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn capacity_searches_ws_rates_and_asr_streams_too() {
    let srv = common::embedded_asr(stampede::server::AsrMock { partial_ms: 100, rtf: 0.1, max_sessions: None });
    let ws = format!("ws://{}/ws/echo", srv.local_addr());
    let r = common::stampede_raw(&[
        "capacity",
        &ws,
        "--slo",
        "errors<1%",
        "--start",
        "100",
        "--max",
        "400",
        "--step",
        "1s",
        "--",
        "-c",
        "8",
        "-t",
        "1",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Every step met") && r.stdout.contains("400 req/s"), "{}", r.stdout);
    let asr = format!("ws://{}/asr", srv.local_addr());
    let r = common::stampede_raw(&[
        "capacity",
        &asr,
        "--scenario",
        "asr",
        "--slo",
        "errors<1%",
        "--start",
        "1",
        "--max",
        "4",
        "--step",
        "1s",
        "--",
        "-t",
        "1",
        "--signal-length",
        "300ms",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("up to 4 streams"), "{}", r.stdout);
    srv.stop();
}
