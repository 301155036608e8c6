//! End to end: the `stampede http` binary against the embedded server and against hyper.

mod common;

use std::time::Duration;

use common::{assert_accounted, f, hyper_server, stampede, u, url};

#[test]
fn embedded_server_bodies_of_every_framing() {
    let srv = common::embedded(None, None);
    let addr = srv.local_addr();
    // (path, requests, must reconnect after each response)
    for (path, n, closes) in
        [("/", 300, false), ("/bytes/70000", 100, false), ("/chunked/10000", 100, false), ("/eof/500", 40, true), ("/close", 40, true)]
    {
        let r = stampede(&["http", &url(addr, path), "-c", "4", "-t", "1", "-n", &n.to_string(), "-d", "20s"]);
        assert_eq!(r.code, 0, "{path}: {}", r.stderr);
        let v = r.json.expect("json result");
        assert_eq!(u(&v, &["status", "200"]), n, "{path}: {v}");
        assert_eq!(u(&v, &["requests", "errors"]), 0, "{path}: {v}");
        assert_accounted(&v);
        if closes {
            assert!(u(&v, &["connections", "established"]) >= n, "{path}: one connection per response: {v}");
        } else {
            assert!(u(&v, &["connections", "established"]) <= 4, "{path}: keep-alive reuses connections: {v}");
        }
    }
    srv.stop();
}

#[test]
fn pipelined_requests_all_come_back() {
    let srv = common::embedded(None, None);
    let r = stampede(&["http", &url(srv.local_addr(), "/"), "-c", "2", "-t", "1", "--pipeline", "16", "-n", "3200"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["status", "200"]), 3200, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 2, "{v}");
    assert_accounted(&v);
    srv.stop();
}

#[test]
fn throttling_limits_show_up_as_statuses() {
    let srv = common::embedded(None, Some(100));
    let r = stampede(&["http", &url(srv.local_addr(), "/"), "-c", "4", "-t", "1", "-d", "2s"]);
    let v = r.json.expect("json");
    assert!(u(&v, &["status", "429"]) > 0, "{v}");
    let ok = u(&v, &["status", "200"]);
    assert!(ok > 0 && ok <= 100 * 4, "200s are limited to ~100/s: {v}");
    srv.stop();

    let srv = common::embedded(Some(2), None);
    let r = stampede(&["http", &url(srv.local_addr(), "/"), "-c", "6", "-t", "1", "-d", "1s"]);
    let v = r.json.expect("json");
    assert!(u(&v, &["status", "503"]) > 0, "connections over the limit get 503: {v}");
    assert!(u(&v, &["status", "200"]) > 0, "{v}");
    srv.stop();
}

#[test]
fn independent_server_hyper() {
    let addr = hyper_server::start(None);
    for (path, args) in [
        ("/cl", vec!["-n", "500"]),
        ("/chunked", vec!["-n", "300"]),
        ("/cl", vec!["-n", "800", "--pipeline", "8"]),
        ("/close", vec!["-n", "40"]),
    ] {
        let mut all = vec!["http", "-c", "2", "-t", "1", "-d", "20s"];
        let target = url(addr, path);
        all.insert(1, &target);
        all.extend(args.iter());
        let r = stampede(&all);
        assert_eq!(r.code, 0, "{path} {args:?}: {}", r.stderr);
        let v = r.json.unwrap();
        let n: u64 = args[1].parse().unwrap();
        assert_eq!(u(&v, &["status", "200"]), n, "{path} {args:?}: {v}");
        assert_eq!(u(&v, &["requests", "errors"]), 0, "{path}: {v}");
        assert_accounted(&v);
    }
}

#[test]
fn open_loop_hits_the_rate_and_corrects_for_a_stall() {
    // Achieved rate within 2 % of -R over a short run.
    let srv = common::embedded(None, None);
    let r = stampede(&["http", &url(srv.local_addr(), "/"), "-c", "8", "-t", "1", "-R", "200", "-d", "3s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    let achieved = f(&v, &["rate", "achieved_per_s"]);
    assert!((achieved - 200.0).abs() <= 4.0, "achieved {achieved} req/s for -R 200: {v}");
    assert_eq!(f(&v, &["rate", "target_per_s"]), 200.0);
    srv.stop();

    // One connection, one 400 ms stall: the requests queued behind it are late by up to 400 ms
    // (corrected latency), though each was served fast once sent (service latency).
    let addr = hyper_server::start(Some((30, Duration::from_millis(400))));
    let r = stampede(&["http", &url(addr, "/stall"), "-c", "1", "-t", "1", "-R", "100", "-d", "2s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    let corrected_p90 = f(&v, &["latency_ms", "p90"]);
    let corrected_max = f(&v, &["latency_ms", "max"]);
    let service_p90 = f(&v, &["service_latency_ms", "p90"]);
    assert!(corrected_max >= 350.0, "corrected max {corrected_max} ms: {v}");
    assert!(corrected_p90 >= 50.0, "corrected p90 {corrected_p90} ms includes the queue: {v}");
    assert!(service_p90 < 50.0, "service p90 {service_p90} ms excludes it: {v}");
    assert!(f(&v, &["send_lateness_ms", "max"]) >= 300.0, "{v}");
}

#[test]
fn a_closed_port_is_retried_with_backoff_not_spun_on() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let target = format!("http://127.0.0.1:{port}/");
    let r = stampede(&["http", &target, "-c", "8", "-t", "1", "-d", "2s"]);
    assert_eq!(r.code, 1, "nothing answered: exit 1; {}", r.stderr);
    let v = r.json.expect("the report is still written");
    let attempted = u(&v, &["connections", "attempted"]);
    let refused = u(&v, &["errors", "refused"]);
    assert_eq!(attempted, refused, "every attempt counted as refused: {v}");
    // 50 ms base, doubling, jittered ±50 %: at most ~8 attempts per connection in 2 s.
    assert!((8..=8 * 9).contains(&attempted), "{attempted} attempts: {v}");
    let cpu = f(&v, &["generator", "cpu_user_s"]) + f(&v, &["generator", "cpu_sys_s"]);
    assert!(cpu < 0.5, "a refused target must not burn CPU: {cpu} s");
    assert!(r.stdout.contains("refused"), "{}", r.stdout);
}

#[test]
fn cli_misuse_exits_2_with_a_hint() {
    let cases: &[(&[&str], &str)] = &[
        (&["http", "127.0.0.1:8080"], "http://"),
        (&["http", "http://127.0.0.1:1/", "-c", "0"], "at least 1"),
        (&["http", "http://127.0.0.1:1/", "-c", "lots"], "not a count"),
        (&["http", "http://127.0.0.1:1/", "-d", "forever"], "not a duration"),
        (&["http", "http://127.0.0.1:1/", "--pipeline", "0"], "--pipeline"),
        (&["http", "http://127.0.0.1:1/", "-R", "fast"], "not a rate"),
        (&["http", "http://127.0.0.1:1/", "-H", "NoColon"], "Name: value"),
        (&["http", "http://127.0.0.1:1/", "--body-file", "/nonexistent/stampede"], "--body-file"),
        (&["http", "http://127.0.0.1:1/", "--json", "/nonexistent/dir/out.json"], "--json"),
        (&["http", "https://127.0.0.1/", "--cacert", "/nonexistent/ca.pem"], "--cacert"),
        (&["http", "http://127.0.0.1:1/", "--bogus"], "--bogus"),
        (&["serve", "--listen", "nowhere"], "IP:PORT"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let r = common::stampede_raw(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: stderr lacks {needle:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}");
    }
}

#[test]
fn connect_rate_ramps_connections_up() {
    let srv = common::embedded(None, None);
    // 40 connections at 20/s: after 1 s only about 20 of them are open.
    let r = stampede(&["http", &url(srv.local_addr(), "/"), "-c", "40", "-t", "2", "--connect-rate", "20", "-d", "1s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    let established = u(&v, &["connections", "established"]);
    assert!((15..=22).contains(&established), "{established} established in 1 s at 20/s: {v}");
    srv.stop();
}

/// A server that dribbles each response in pieces with pauses, so the client must keep the
/// unconsumed part of a head (or of a chunk-size line) across reads.
fn dribbling_server(pieces: &'static [&'static [u8]], responses: usize) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let _ = s.set_nodelay(true);
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = [0u8; 4096];
        for _ in 0..responses {
            // one request in (they are small and sent one at a time)
            if s.read(&mut buf).unwrap_or(0) == 0 {
                return;
            }
            for p in pieces {
                if s.write_all(p).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(15));
            }
        }
    });
    addr
}

#[test]
fn responses_split_across_reads_keep_their_unconsumed_bytes() {
    let cl: &[&[u8]] = &[b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 5\r\n\r\nhel", b"lo"];
    let chunked: &[&[u8]] = &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1", b"0\r\n0123456789abcdef\r\n0\r", b"\n\r\n"];
    for (name, pieces) in [("content-length", cl), ("chunked", chunked)] {
        let addr = dribbling_server(pieces, 5);
        let r = stampede(&["http", &url(addr, "/"), "-c", "1", "-t", "1", "-n", "5", "-d", "10s"]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let v = r.json.unwrap();
        assert_eq!(u(&v, &["status", "200"]), 5, "{name}: {v}");
        assert_eq!(u(&v, &["requests", "errors"]), 0, "{name}: {v}");
    }
}

#[test]
fn thresholds_pass_or_exit_3_with_the_breach() {
    let srv = common::embedded(None, None);
    let target = url(srv.local_addr(), "/delay/20");
    let ok = stampede(&[
        "http",
        &target,
        "-c",
        "4",
        "-t",
        "1",
        "-n",
        "40",
        "--threshold",
        "p50<2s",
        "--threshold",
        "errors<1%",
        "--threshold",
        "status_200>=100%",
    ]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("PASS  p50<2s"), "{}", ok.stdout);
    let bad = stampede(&["http", &target, "-c", "4", "-t", "1", "-n", "40", "--threshold", "p99<5ms", "--threshold", "rps>1M"]);
    assert_eq!(bad.code, 3, "{}{}", bad.stdout, bad.stderr);
    assert!(bad.stdout.contains("FAIL  p99<5ms") && bad.stdout.contains("off by"), "{}", bad.stdout);
    let v = bad.json.unwrap();
    assert_eq!(v["thresholds"][0]["passed"], false, "{v}");
    let misuse = common::stampede_raw(&["http", &target, "--threshold", "p99=5ms"]);
    assert_eq!(misuse.code, 2);
    assert!(misuse.stderr.contains("METRIC OP VALUE"), "{}", misuse.stderr);
    srv.stop();
}

#[test]
fn results_of_two_processes_merge_into_one() {
    let srv = common::embedded(None, None);
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let (a, b, all) = (
        dir.join(format!("stampede-m-{pid}-a.json")),
        dir.join(format!("stampede-m-{pid}-b.json")),
        dir.join(format!("stampede-m-{pid}-all.json")),
    );
    let target = url(srv.local_addr(), "/");
    for (file, n) in [(&a, "300"), (&b, "500")] {
        let r = common::stampede_raw(&[
            "http",
            &target,
            "-c",
            "2",
            "-t",
            "1",
            "-n",
            n,
            "-q",
            "--no-preflight",
            "--json",
            file.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let r = common::stampede_raw(&["merge", a.to_str().unwrap(), b.to_str().unwrap(), "-o", all.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&all).unwrap()).unwrap();
    assert_eq!(u(&v, &["requests", "ok"]), 800, "{v}");
    assert_eq!(u(&v, &["connections", "planned"]), 4, "{v}");
    assert_accounted(&v);
    // thresholds are judged on the merged whole: 800 answers pass "rps>0", fail "errors>50%"
    let r = common::stampede_raw(&["merge", a.to_str().unwrap(), b.to_str().unwrap(), "--threshold", "rps>0", "--threshold", "errors>50%"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("PASS") && r.stdout.contains("FAIL"), "{}", r.stdout);
    // a result of another target is refused
    let other = hyper_server::start(None);
    let c = dir.join(format!("stampede-m-{pid}-c.json"));
    let _ = common::stampede_raw(&[
        "http",
        &url(other, "/cl"),
        "-c",
        "1",
        "-t",
        "1",
        "-n",
        "10",
        "-q",
        "--no-preflight",
        "--json",
        c.to_str().unwrap(),
    ]);
    let r = common::stampede_raw(&["merge", a.to_str().unwrap(), c.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("different plans"), "{}", r.stderr);
    for f in [a, b, c, all] {
        let _ = std::fs::remove_file(f);
    }
    srv.stop();
}

#[test]
fn sigint_stops_the_run_and_still_writes_an_interrupted_report() {
    let srv = common::embedded(None, None);
    let json = common::temp_json("sigint");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args([
            "http",
            &url(srv.local_addr(), "/"),
            "-c",
            "4",
            "-t",
            "1",
            "-d",
            "30s",
            "-q",
            "--no-preflight",
            "--json",
            json.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("INTERRUPTED"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["interrupted"], true, "{v}");
    assert!(f(&v, &["duration_s"]) < 10.0, "stopped long before -d: {v}");
    assert!(u(&v, &["requests", "ok"]) > 0, "{v}");
    assert_accounted(&v);
    let _ = std::fs::remove_file(&json);
    srv.stop();
}

#[test]
fn processes_split_the_run_and_merge_one_report() {
    let srv = common::embedded(None, None);
    let r = stampede(&["http", &url(srv.local_addr(), "/"), "-c", "4", "-n", "1000", "--processes", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.expect("the parent writes the merged result");
    assert_eq!(u(&v, &["requests", "ok"]), 1000, "{v}");
    assert_eq!(u(&v, &["connections", "planned"]), 4, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 4, "{v}");
    assert!(r.stderr.contains("running as 2 processes"), "{}", r.stderr);
    assert_accounted(&v);
    srv.stop();
}

#[test]
fn hold_keeps_a_few_thousand_connections_and_counts_them_exactly() {
    let srv = common::embedded(None, None);
    let r =
        stampede(&["hold", &url(srv.local_addr(), "/"), "-c", "3000", "-t", "1", "--connect-rate", "6000", "--every", "10s", "-d", "2s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["connections", "established"]), 3000, "{v}");
    assert_eq!(u(&v, &["connections", "peak_open"]), 3000, "{v}");
    assert_eq!(u(&v, &["connections", "attempted"]), 3000, "{v}");
    assert!(v["errors"].as_object().unwrap().is_empty(), "{v}");
    // about 3000 / 10 s = 300 requests/s, for the 2 s
    assert!(u(&v, &["requests", "ok"]) > 0, "{v}");
    assert!(f(&v, &["generator", "bytes_per_connection"]) > 0.0, "{v}");
    assert_accounted(&v);
    srv.stop();
}

#[test]
fn serve_processes_share_one_port_and_stop_together() {
    use std::io::{BufRead, BufReader};
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["serve", "--listen", "127.0.0.1:0", "-t", "1", "--processes", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("× 3 process(es)"), "{line}");
    let addr: std::net::SocketAddr = line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let r = stampede(&["http", &url(addr, "/"), "-c", "30", "-t", "1", "-n", "3000"]);
    assert_eq!(u(r.json.as_ref().unwrap(), &["requests", "ok"]), 3000, "{}", r.stderr);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(serve.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    assert_eq!(serve.wait().unwrap().code(), Some(0));
    // every process is gone: nothing listens on the port any more
    // Nothing listens on the port any more. The kernel tears io_uring rings down asynchronously,
    // and a ring with a pending accept keeps its listener alive a moment after the process is
    // gone, so allow up to 2 s.
    let gone = (0..40).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(addr).is_err()
    });
    assert!(gone, "a server process outlived the parent");
}

#[test]
fn processes_wait_for_a_common_start_time() {
    let srv = common::embedded(None, None);
    let at_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 + 1500;
    let at = format!("{:.3}", at_ms as f64 / 1000.0);
    let r = stampede(&["http", &url(srv.local_addr(), "/"), "-c", "2", "-n", "100", "--processes", "2", "--start-at", &at]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    // Both parts started no earlier than the common time (the merged start is the earliest).
    assert!(u(&v, &["started_unix_ms"]) >= at_ms, "started {} before {at_ms}", u(&v, &["started_unix_ms"]));
    assert_eq!(u(&v, &["requests", "ok"]), 100, "{v}");
    srv.stop();
}

#[test]
fn monitor_pid_samples_the_target_and_feeds_thresholds() {
    // The embedded server runs in this test process: monitor ourselves.
    let srv = common::embedded(None, None);
    let me = std::process::id().to_string();
    let r = stampede(&[
        "http",
        &url(srv.local_addr(), "/"),
        "-c",
        "4",
        "-t",
        "1",
        "-d",
        "2500ms",
        "--monitor-pid",
        &me,
        "--threshold",
        "target_cpu>0%",
        "--threshold",
        "target_rss<64GiB",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    let m = &v["monitor"][0];
    assert_eq!(m["pid"].as_u64().unwrap().to_string(), me, "{v}");
    assert!(m["samples"].as_array().unwrap().len() >= 2, "{m}");
    assert!(m["cpu_mean_pct"].as_f64().unwrap() > 0.0, "the server answered: {m}");
    assert!(m["rss_peak_bytes"].as_u64().unwrap() > 1 << 20, "{m}");
    assert!(r.stdout.contains(&format!("Target     pid {me}")), "{}", r.stdout);
    let r = common::stampede_raw(&["http", &url(srv.local_addr(), "/"), "--monitor-pid", "4294967294"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no such process"), "{}", r.stderr);
    srv.stop();
}

/// After `stop()` the embedded server's ports are closed: a connect is refused, on the HTTP
/// listeners (one per worker, `SO_REUSEPORT`) and the raw one alike, also after the workers had
/// connections of their own.
#[test]
fn a_stopped_server_refuses_connections() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let mut cfg = common::loopback();
    cfg.threads = 2;
    cfg.raw_listen = Some("127.0.0.1:0".parse().unwrap());
    let srv = stampede::server::start(&cfg).unwrap();
    let (addr, raw) = (srv.local_addr(), srv.raw_addr().unwrap());
    let mut held = TcpStream::connect(addr).unwrap();
    held.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = [0u8; 12];
    held.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"HTTP/1.1 200");
    srv.stop();
    for a in [addr, raw] {
        for _ in 0..4 {
            let e = TcpStream::connect_timeout(&a, Duration::from_secs(2)).map(|_| ()).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{a}: {e}");
        }
    }
    drop(held);
}
