//! Use case 002 over its own transport: a daemon speaking JSON lines on a Unix socket, with a
//! concurrency limit and a sliding-window rate limit that answer `{"error":"rate_limited"}`
//! (written here with std, no stampede code), driven by raw plans: the throttle preset seeing
//! `throttled` (`--throttled-match`) exactly in the phases that expect it, and a mixed-drive
//! plan whose stages send their own messages, counted exactly on both sides.

mod common;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The daemon's limits and service time.
#[derive(Clone, Copy)]
struct Limits {
    concurrent: Option<u64>,
    /// At most `.0` admitted requests in any window of `.1`.
    rate: Option<(usize, Duration)>,
    service: Duration,
}

/// What the daemon saw: requests answered per `"op"`, refused per limit, peak in progress.
#[derive(Default)]
struct Seen {
    ops: Mutex<HashMap<String, u64>>,
    refused_concurrent: AtomicU64,
    refused_rate: AtomicU64,
    in_progress: AtomicU64,
    peak: AtomicU64,
    window: Mutex<VecDeque<Instant>>,
    /// Bytes of the longest request line.
    longest: AtomicU64,
}

struct Daemon {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
}

impl Daemon {
    fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    fn ops(&self, op: &str) -> u64 {
        self.seen.ops.lock().unwrap().get(op).copied().unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A JSON-lines daemon on a fresh Unix socket: each line `{"op":"NAME",...}` is answered
/// `{"ok":true,"op":"NAME"}` after `service`, or at once `{"error":"rate_limited"}` when it
/// would exceed a limit. A thread per connection; everything bounded by 90 s.
fn daemon(tag: &str, limits: Limits) -> Daemon {
    let path = std::env::temp_dir().join(format!("stampede-throttle-raw-{}-{tag}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let (flag, state, p) = (Arc::clone(&stop), Arc::clone(&seen), path.clone());
    std::thread::spawn(move || {
        let t0 = Instant::now();
        while !flag.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(90) {
            match listener.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || serve(s, &state, limits));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        let _ = std::fs::remove_file(p);
    });
    Daemon { path, stop, seen }
}

fn serve(s: std::os::unix::net::UnixStream, seen: &Seen, limits: Limits) {
    let mut out = s.try_clone().unwrap();
    let mut lines = BufReader::new(s);
    let mut line = String::new();
    // Bounded: the read timeout ends an idle connection; a run sends far fewer than this.
    for _ in 0..1_000_000 {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                seen.longest.fetch_max(n as u64, Ordering::Relaxed);
            }
        }
        let op = line.split("\"op\":\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?").to_string();
        let now = seen.in_progress.fetch_add(1, Ordering::SeqCst) + 1;
        let answer = if limits.concurrent.is_some_and(|c| now > c) {
            seen.refused_concurrent.fetch_add(1, Ordering::Relaxed);
            None
        } else if let Some((count, period)) = limits.rate {
            let mut w = seen.window.lock().unwrap();
            let t = Instant::now();
            while w.front().is_some_and(|&a| t.duration_since(a) >= period) {
                w.pop_front();
            }
            if w.len() >= count {
                seen.refused_rate.fetch_add(1, Ordering::Relaxed);
                None
            } else {
                w.push_back(t);
                Some(op)
            }
        } else {
            Some(op)
        };
        let reply = match answer {
            Some(op) => {
                seen.peak.fetch_max(now, Ordering::Relaxed);
                std::thread::sleep(limits.service);
                *seen.ops.lock().unwrap().entry(op.clone()).or_default() += 1;
                format!("{{\"ok\":true,\"op\":\"{op}\"}}\n")
            }
            None => "{\"error\":\"rate_limited\"}\n".to_string(),
        };
        seen.in_progress.fetch_sub(1, Ordering::SeqCst);
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn stage<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no stage {name}: {v}"))
}

fn n(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// Requests of a stage the daemon answered as throttled.
fn throttled(v: &serde_json::Value, name: &str) -> u64 {
    stage(v, name)["result"]["errors"]["throttled"].as_u64().unwrap_or(0)
}

#[test]
fn the_throttle_preset_over_a_unix_socket_sees_throttled_answers_exactly_where_expected() {
    // The daemon allows 20 requests in progress (each 600 ms) and 30 per sliding 2 s. The
    // preset for those limits, phases of 2 s: the calm phases' connections think at least
    // 2n / (15/s), so each sends at most once per 2 s window (at most 20 in any window, never
    // more than 20 in progress): none throttled. Over-limit's 30 connections want about 27 in
    // progress; the burst sends 22.5/s against 15/s: both throttled. The payload phase (100 KiB
    // messages) is not judged (the window still holds the burst); recovery starts one window
    // after the burst and is never throttled.
    let d =
        daemon("preset", Limits { concurrent: Some(20), rate: Some((30, Duration::from_secs(2))), service: Duration::from_millis(600) });
    let r = common::stampede(&[
        "run",
        "--preset",
        "throttle",
        &d.url(),
        "--concurrent-limit",
        "20",
        "--rate-limit",
        "30/2s",
        "--stage-duration",
        "2s",
        "--payload-message",
        "{\"op\":\"big\",\"data\":\"{payload:100k}\"}",
        "--message",
        "{\"op\":\"ping\"}",
        "--throttled-match",
        "\"error\":\"rate_limited\"",
        "-t",
        "1",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    let names: Vec<&str> = v["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["baseline", "moderate", "warning", "at-limit", "over-limit", "rate-limit", "burst", "payload", "recovery"]);
    for calm in ["baseline", "moderate", "warning", "at-limit", "recovery"] {
        assert_eq!(throttled(&v, calm), 0, "{calm}: {}", stage(&v, calm));
        assert!(n(stage(&v, calm), "ok") > 0, "{calm}");
    }
    assert!(throttled(&v, "over-limit") > 0, "{}", stage(&v, "over-limit"));
    assert!(throttled(&v, "burst") > 0, "{}", stage(&v, "burst"));
    for s in v["stages"].as_array().unwrap() {
        assert!(s["thresholds"].as_array().is_none_or(|t| t.iter().all(|x| x["passed"] == true)), "{s}");
    }
    assert!(r.stdout.contains("throttled"), "the report names the class: {}", r.stdout);
    // Both sides count the same: every throttled answer the daemon gave was counted as one
    // (the run's last answers may be cut by its end: at most the recovery's 2 in flight).
    let total = common::u(&v, &["errors", "throttled"]);
    let stages: u64 = names.iter().map(|s| throttled(&v, s)).sum();
    assert_eq!(total, stages, "{v}");
    let refused = d.seen.refused_concurrent.load(Ordering::Relaxed) + d.seen.refused_rate.load(Ordering::Relaxed);
    assert_eq!(total, refused, "stampede counted {total} throttled, the daemon refused {refused}");
    assert!(d.seen.peak.load(Ordering::Relaxed) <= 20);
    // The payload phase sent its own 100 KiB messages; every other phase the plan's ping.
    assert!(d.ops("big") > 0 && d.seen.longest.load(Ordering::Relaxed) >= 100 * 1024, "{}", stage(&v, "payload"));
    assert!(d.ops("ping") > 0);
    common::assert_accounted(&v);
}

#[test]
fn a_mixed_raw_plan_sends_each_stage_s_own_message_counted_exactly_on_both_sides() {
    let d = daemon("mixed", Limits { concurrent: None, rate: None, service: Duration::ZERO });
    let plan = std::env::temp_dir().join(format!("stampede-throttle-raw-{}-mixed.toml", std::process::id()));
    std::fs::write(
        &plan,
        format!(
            "scenario = \"raw\"\nurl = \"{}\"\nthresholds = [\"throttled<1%\"]\n[options]\nmessage = '{{\"op\":\"ping\"}}'\n\
             delimiter = '\\n'\nconnections = 8\nthreads = 1\nthrottled_match = '\"error\":\"rate_limited\"'\n\
             [[stage]]\nname = \"closed\"\nduration = \"2s\"\nconnections = 3\nthink = \"50ms\"\nmessage = '{{\"op\":\"a\"}}'\n\
             [[stage]]\nname = \"open\"\nduration = \"2s\"\nrate = 200\nmessage = '{{\"op\":\"b\",\"data\":\"{{payload:1k}}\"}}'\n\
             [[stage]]\nname = \"plain\"\nduration = \"1s\"\nconnections = 2\n",
            d.url()
        ),
    )
    .unwrap();
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    let _ = std::fs::remove_file(&plan);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    let (closed, open, plain) = (stage(&v, "closed"), stage(&v, "open"), stage(&v, "plain"));
    // Every message the daemon answered is a request some stage counted, exactly; per stage,
    // within the requests at a boundary: a request counts in the stage of its intended time
    // (a closed-loop one: its send), while its message is the stage's it was claimed in, so a
    // closed-loop batch claimed just before the boundary and written after it carries the
    // earlier stage's message into the later stage's count.
    assert_eq!(d.ops("a") + d.ops("b"), n(closed, "sent") + n(open, "sent"), "{v}");
    assert!(d.ops("a").abs_diff(n(closed, "sent")) <= 3 && d.ops("b").abs_diff(n(open, "sent")) <= 3, "{v}");
    for s in [closed, open] {
        assert_eq!(n(s, "ok") + n(s, "in_flight_at_end"), n(s, "sent"), "{s}");
    }
    let pings = d.ops("ping");
    assert!((n(plain, "sent") - n(plain, "in_flight_at_end")..=n(plain, "sent")).contains(&pings), "{pings} pings for {plain}");
    // The open stage's schedule holds exactly 2 s × 200/s; a request due at its very end is
    // left unsent when its connection wakes after the end (±2 % on a loaded box).
    assert!((392..=404).contains(&n(open, "sent")), "{open}");
    // 3 connections pausing 50 ms: at most 3 × (2 s / 50 ms + 1) = 123; without pause, thousands.
    assert!((20..=123).contains(&n(closed, "sent")), "{closed}");
    assert!(n(plain, "sent") > n(closed, "sent"), "back to closed loop without think: {plain}");
    // Each open-stage message carried its 1 KiB payload (and its 21 bytes of JSON and newline).
    assert!(n(&open["result"]["bytes"], "written") >= n(open, "sent") * (1024 + 21), "{open}");
    assert_eq!(common::u(&v, &["errors", "throttled"]), 0);
    assert_eq!(common::u(&v, &["requests", "sent"]), n(closed, "sent") + n(open, "sent") + n(plain, "sent"));
    common::assert_accounted(&v);
}

#[test]
fn raw_plans_refuse_what_they_cannot_honour() {
    let d = daemon("misuse", Limits { concurrent: None, rate: None, service: Duration::ZERO });
    let url = d.url();
    // A throttled rule without a match rule would judge nothing: refused, naming the flag.
    let r = common::stampede_raw(&[
        "run",
        "--preset",
        "throttle",
        &url,
        "--concurrent-limit",
        "4",
        "--stage-duration",
        "1s",
        "--message",
        "{\"op\":\"ping\"}",
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--throttled-match TEXT"), "{}", r.stderr);
    // A payload message is for raw targets.
    let r = common::stampede_raw(&["plan", "--preset", "throttle", "http://127.0.0.1:1/", "--payload-message", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("raw targets"), "{}", r.stderr);
    // `stampede plan` prints the raw form.
    let r = common::stampede_raw(&["plan", "--preset", "throttle", &url, "--concurrent-limit", "4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("scenario = \"raw\"") && r.stdout.contains("throttled>1%"), "{}", r.stdout);
    // --seq numbers the plan's message: stages with their own message do not take it.
    let plan = std::env::temp_dir().join(format!("stampede-throttle-raw-{}-seq.toml", std::process::id()));
    std::fs::write(
        &plan,
        format!(
            "scenario = \"raw\"\nurl = \"{url}\"\n[options]\nmessage = 'id={{seq}}'\nseq = true\n\
             [[stage]]\nduration = \"1s\"\nconnections = 1\nmessage = 'x'\n"
        ),
    )
    .unwrap();
    let r = common::stampede_raw(&["run", plan.to_str().unwrap()]);
    let _ = std::fs::remove_file(&plan);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--seq"), "{}", r.stderr);
    // --throttled-match on `stampede raw` itself: a matched answer is a throttled failure.
    let r = common::stampede(&["raw", &url, "--message", "{\"op\":\"ping\"}", "--throttled-match", "\"ok\":true", "-c", "1", "-n", "5"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_eq!((common::u(&v, &["errors", "throttled"]), common::u(&v, &["requests", "ok"])), (5, 0), "{v}");
    let r = common::stampede_raw(&["raw", &url, "--message", "x", "--throttled-match", ""]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--throttled-match is empty"), "{}", r.stderr);
}
