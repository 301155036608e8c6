//! Plans end to end against the embedded server: stages shape the load, each stage has its own
//! results and thresholds, a throttled target is driven through its limit and back.

mod common;

use common::{f, u, url};
use serde_json::Value;

fn write_plan(tag: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("stampede-plan-{}-{tag}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn stage<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no stage {name}: {v}"))
}

#[test]
fn a_rate_plan_sends_each_stage_its_share_and_judges_stage_thresholds() {
    let srv = common::embedded(None, None);
    let plan = write_plan(
        "rate",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\nthresholds = [\"errors<1%\"]\n[options]\nconnections = 16\nthreads = 1\n\
             [[stage]]\nname = \"ramp\"\nduration = \"2s\"\nrate = {{ from = 100, to = 300 }}\n\
             [[stage]]\nname = \"hold\"\nduration = \"1s\"\nrate = 500\nthresholds = [\"rps>400\", \"status_200>=99%\"]\n",
            url(srv.local_addr(), "/")
        ),
    );
    let hlog = std::env::temp_dir().join(format!("stampede-plan-{}.hlog", std::process::id()));
    let r = common::stampede(&["run", plan.to_str().unwrap(), "--hlog", hlog.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    // The schedule holds 2 s × 200/s + 1 s × 500/s = 900 requests.
    let sent = u(&v, &["requests", "sent"]);
    assert!((880..=900).contains(&sent), "sent {sent}");
    assert!((f(&v, &["rate", "target_per_s"]) - 300.0).abs() < 1e-6, "the target is the plan's mean rate: {v}");
    let (ramp, hold) = (stage(&v, "ramp"), stage(&v, "hold"));
    assert_eq!(ramp["shape"], "ramp rate 100 -> 300/s");
    assert!((390..=410).contains(&ramp["sent"].as_u64().unwrap()), "{ramp}");
    assert!((480..=510).contains(&hold["sent"].as_u64().unwrap()), "{hold}");
    assert_eq!(hold["thresholds"].as_array().unwrap().len(), 2, "{hold}");
    assert!(hold["thresholds"].as_array().unwrap().iter().all(|t| t["passed"] == true), "{hold}");
    // stage results add up to the whole
    assert_eq!(ramp["ok"].as_u64().unwrap() + hold["ok"].as_u64().unwrap(), u(&v, &["requests", "ok"]));
    // one record per second, named by stage
    let iv = v["intervals"].as_array().unwrap();
    assert_eq!(iv.len(), 3, "{iv:?}");
    assert_eq!(iv[0]["stage"], "ramp");
    assert_eq!(iv[2]["stage"], "hold");
    assert_eq!(iv.iter().map(|i| i["ok"].as_u64().unwrap()).sum::<u64>(), u(&v, &["requests", "ok"]));
    assert!(r.stdout.contains("Thresholds of stage hold"), "{}", r.stdout);
    let log = std::fs::read_to_string(&hlog).unwrap();
    assert!(log.contains("#[Histogram log format version 1.3]") && log.lines().filter(|l| l.contains("HISTF")).count() == 3, "{log}");
    let _ = std::fs::remove_file(&hlog);
    let _ = std::fs::remove_file(&plan);
    srv.stop();
}

#[test]
fn the_throttle_preset_drives_a_rate_limited_target_over_its_limit_and_back() {
    // The server admits 60 requests per sliding 2 s (30/s). The preset for that rate limit
    // alone, its phases shortened to 2 s: baseline (10 connections thinking 667 ms: 15/s at
    // most), the rate limit, a burst 50 % over it, 1 MB payloads, recovery. Throttling exactly
    // in the burst: at most 40 requests of the calm phases fall in any 2 s window.
    let limits = stampede::server::limit::Limits {
        max_rate: Some(stampede::server::limit::RateLimit { count: 60, period_ns: 2_000_000_000 }),
        ..Default::default()
    };
    let srv = stampede::server::start(&stampede::server::ServeConfig { limits, ..common::loopback() }).unwrap();
    let target = url(srv.local_addr(), "/delay/0");
    let r = common::stampede_raw(&["plan", "--preset", "throttle", &target, "--rate-limit", "60/2s", "--stage-duration", "2s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let p = stampede::plan::parse(&r.stdout).unwrap();
    assert_eq!(p.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["baseline", "rate-limit", "burst", "payload", "recovery"]);
    let plan = write_plan("throttle", &r.stdout.replacen("[options]\n", "[options]\nthreads = 1\n", 1));
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    let throttled = |name: &str| stage(&v, name)["status"]["429"].as_u64().unwrap_or(0);
    assert!(throttled("burst") >= 20, "90 sent against 60 per window: {}", stage(&v, "burst"));
    for calm in ["baseline", "recovery"] {
        assert_eq!(throttled(calm), 0, "{calm}: {}", stage(&v, calm));
    }
    for s in v["stages"].as_array().unwrap() {
        assert!(s["thresholds"].as_array().is_none_or(|t| t.iter().all(|x| x["passed"] == true)), "{s}");
    }
    let c = srv.stop();
    assert_eq!(c.refused_rate, v["stages"].as_array().unwrap().iter().map(|s| s["status"]["429"].as_u64().unwrap_or(0)).sum::<u64>());
    let srv = common::embedded(None, Some(100));
    let target = url(srv.local_addr(), "/");
    // Breaking a stage threshold exits 3 and says where.
    let strict = write_plan(
        "strict",
        &format!(
            "scenario = \"http\"\nurl = \"{target}\"\n[options]\nconnections = 8\nthreads = 1\n\
             [[stage]]\nname = \"over\"\nduration = \"1s\"\nrate = 400\nthresholds = [\"status_429<1%\"]\n"
        ),
    );
    let r = common::stampede(&["run", strict.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Thresholds of stage over") && r.stdout.contains("FAIL"), "{}", r.stdout);
    for p in [plan, strict] {
        let _ = std::fs::remove_file(p);
    }
    srv.stop();
}

#[test]
fn a_connections_plan_opens_and_closes_connections_by_stage() {
    let srv = common::embedded(None, None);
    let plan = write_plan(
        "conns",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\n[options]\nthreads = 1\n\
             [[stage]]\nname = \"up\"\nduration = \"1s\"\nconnections = {{ from = 1, to = 6 }}\n\
             [[stage]]\nname = \"hold\"\nduration = \"1s\"\nconnections = 6\n\
             [[stage]]\nname = \"down\"\nduration = \"1s\"\nconnections = 1\n",
            url(srv.local_addr(), "/delay/20")
        ),
    );
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["connections", "planned"]), 6, "{v}");
    assert_eq!(u(&v, &["connections", "peak_open"]), 6, "{v}");
    // 20 ms per answer: 6 connections give ~300/s, one gives ~50/s.
    let (hold, down) = (stage(&v, "hold")["ok"].as_u64().unwrap(), stage(&v, "down")["ok"].as_u64().unwrap());
    assert!(hold > 2 * down, "hold {hold} vs down {down}");
    common::assert_accounted(&v);
    let _ = std::fs::remove_file(plan);
    srv.stop();
}

#[test]
fn plan_errors_and_presets_from_the_command_line() {
    let bad = write_plan("bad", "scenario = \"http\"\nurl = \"http://127.0.0.1:9/\"\n[[stage]]\nduration = \"1s\"\nrate = { from = 1 }\n");
    let r = common::stampede_raw(&["run", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("line 5") && r.stderr.contains("rate") && r.stderr.contains("'to'"), "{}", r.stderr);
    let _ = std::fs::remove_file(bad);
    let r = common::stampede_raw(&["run", "/nonexistent/plan.toml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read the plan"), "{}", r.stderr);
    let r = common::stampede_raw(&["run", "--preset", "nope", "http://127.0.0.1:9/"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("smoke"), "{}", r.stderr);
    // a preset prints as a plan that runs as it is
    let r = common::stampede_raw(&[
        "plan",
        "--preset",
        "throttle",
        "http://127.0.0.1:9/",
        "--concurrent-limit",
        "200",
        "--rate-limit",
        "3000/min",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("name = \"over-limit\"\nduration = \"30s\"\nconnections = 300"), "{}", r.stdout);
    assert!(r.stdout.contains("name = \"burst\"\nduration = \"60s\"\nrate = 75\nconnections = 200"), "{}", r.stdout);
    let p = stampede::plan::parse(&r.stdout).unwrap();
    assert_eq!(p.stages.len(), 9, "the use case's nine phases");
    // --limit is retired, with the flags that replace it
    let r = common::stampede_raw(&["plan", "--preset", "throttle", "http://127.0.0.1:9/", "--limit", "200"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--limit is retired") && r.stderr.contains("--concurrent-limit") && r.stderr.contains("--rate-limit"),
        "{}",
        r.stderr
    );
    let r = common::stampede_raw(&["plan", "--preset", "smoke", "http://127.0.0.1:9/", "--rate-limit", "5/s"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("go with --preset throttle"), "{}", r.stderr);
    // the plan's options go through the scenario's own checks
    let opt = write_plan(
        "opt",
        "scenario = \"http\"\nurl = \"http://127.0.0.1:9/\"\n[options]\npipeline = \"deep\"\n[[stage]]\nduration = \"1s\"\nrate = 5\n",
    );
    let r = common::stampede_raw(&["run", opt.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("pipeline"), "{}", r.stderr);
    let _ = std::fs::remove_file(opt);
}

#[test]
fn a_request_mix_splits_the_load_by_weight_with_stats_and_thresholds_per_name() {
    let (a, b) = (common::embedded(None, None), common::embedded(None, None));
    let plan = write_plan(
        "mix",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\nthresholds = [\"reads.p99<10s\", \"writes.p99<1us\"]\n[options]\nconnections = 8\nthreads = 1\n\
             [[stage]]\nduration = \"2s\"\nrate = 400\n\
             [[request]]\nname = \"reads\"\nweight = 3\npath = \"/bytes/64\"\n\
             [[request]]\nname = \"writes\"\nmethod = \"POST\"\nurl = \"{}\"\nbody = \"x\"\nheaders = [\"Content-Type: text/plain\"]\n",
            url(a.local_addr(), "/"),
            url(b.local_addr(), "/echo"),
        ),
    );
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    // writes.p99<1us cannot hold: exit 3, and the report says which request broke it.
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL  writes.p99<1us") && r.stdout.contains("PASS  reads.p99<10s"), "{}", r.stdout);
    let v = r.json.unwrap();
    let (reads, writes) = (&v["by_name"]["reads"], &v["by_name"]["writes"]);
    // 400/s for 2 s: 600 reads and 200 writes, each on its own target.
    assert!((590..=600).contains(&reads["sent"].as_u64().unwrap()), "{reads}");
    assert!((195..=200).contains(&writes["sent"].as_u64().unwrap()), "{writes}");
    assert_eq!(reads["ok"].as_u64().unwrap() + writes["ok"].as_u64().unwrap(), u(&v, &["requests", "ok"]));
    assert_eq!(writes["status"]["200"].as_u64(), writes["ok"].as_u64(), "{writes}");
    assert!(r.stdout.contains("Requests by name"), "{}", r.stdout);
    common::assert_accounted(&v);
    let _ = std::fs::remove_file(plan);
    a.stop();
    b.stop();
}

#[test]
fn abort_on_fail_stops_the_run_at_the_first_breach_after_the_grace() {
    let srv = common::embedded(None, None);
    let plan = write_plan(
        "abort",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\nthresholds = [\"p99<5ms\"]\nabort_on_fail = true\nabort_grace = \"1s\"\n[options]\nthreads = 1\n\
             [[stage]]\nduration = \"20s\"\nconnections = 2\n",
            url(srv.local_addr(), "/delay/30")
        ),
    );
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert!(v["aborted"].as_str().unwrap().contains("p99<5ms"), "{v}");
    assert!(f(&v, &["duration_s"]) < 10.0, "stopped long before the 20 s plan: {v}");
    assert!(r.stdout.contains("*** ABORTED"), "{}", r.stdout);
    common::assert_accounted(&v);
    let _ = std::fs::remove_file(plan);
    srv.stop();
}

#[test]
fn metrics_listen_serves_prometheus_text_during_the_run() {
    use std::io::{Read, Write};
    let srv = common::embedded(None, None);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let target = url(srv.local_addr(), "/");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["http", &target, "-c", "2", "-t", "1", "-d", "3s", "-q", "--no-preflight", "--metrics-listen", &listen])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Poll until a complete second has been counted (bounded: 40 × 100 ms).
    let mut body = String::new();
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let Ok(mut s) = std::net::TcpStream::connect(&listen) else { continue };
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        if let Some((_, b)) = resp.split_once("\r\n\r\n") {
            if b.contains("stampede_elapsed_seconds 1") || b.contains("stampede_elapsed_seconds 2") {
                body = b.to_string();
                break;
            }
        }
    }
    let _ = child.wait();
    assert!(!body.is_empty(), "no metrics with a complete second");
    let mut seen = std::collections::HashSet::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let kind = rest.split_whitespace().nth(1).unwrap();
            assert!(["counter", "gauge", "summary"].contains(&kind), "{line}");
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line}"));
        assert!(value == "NaN" || value.parse::<f64>().is_ok(), "{line}");
        seen.insert(name.split('{').next().unwrap().to_string());
    }
    for m in [
        "stampede_requests_sent_total",
        "stampede_responses_total",
        "stampede_errors_total",
        "stampede_open_connections",
        "stampede_latency_seconds",
    ] {
        assert!(seen.contains(m), "{m} missing:\n{body}");
    }
    let ok: f64 = body.lines().find_map(|l| l.strip_prefix("stampede_responses_total ")).unwrap().parse().unwrap();
    assert!(ok > 0.0, "{body}");
    srv.stop();
}

#[test]
fn answers_belong_to_the_stage_that_sent_them() {
    // 100/s of 300 ms answers, then 10/s: some 30 requests of the first stage are answered
    // during the second. Counted where they were answered, the second stage would show about
    // 37 ok of 10 sent; a request belongs to the stage of its intended send time.
    let srv = common::embedded(None, None);
    let plan = write_plan(
        "by-send",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\n[options]\nconnections = 64\nthreads = 1\n\
             [[stage]]\nname = \"busy\"\nduration = \"1s\"\nrate = 100\n\
             [[stage]]\nname = \"calm\"\nduration = \"1s\"\nrate = 10\n\
             [[stage]]\nname = \"last\"\nduration = \"1s\"\nrate = 10\n",
            url(srv.local_addr(), "/delay/300")
        ),
    );
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    common::assert_accounted(&v);
    let mut sent = 0;
    for s in v["stages"].as_array().unwrap() {
        let (st_sent, ok, errors, left) = (u(s, &["sent"]), u(s, &["ok"]), u(s, &["errors"]), u(s, &["in_flight_at_end"]));
        assert!(ok + errors <= st_sent, "a stage answered more than it sent: {s}");
        assert_eq!(st_sent, ok + errors + left, "{s}");
        sent += st_sent;
    }
    assert_eq!(sent, u(&v, &["requests", "sent"]), "the stages add up to the run: {v}");
    // The stage ends when the supervisor sees its end (a 10 ms tick): a request or two more.
    assert!((95..=103).contains(&u(stage(&v, "busy"), &["ok"])), "{}", stage(&v, "busy"));
    assert!(u(stage(&v, "calm"), &["sent"]) <= 11, "{}", stage(&v, "calm"));
    let _ = std::fs::remove_file(plan);
    srv.stop();
}

#[test]
fn one_verdict_counts_run_and_stage_thresholds_in_text_json_and_html() {
    let srv = common::embedded(None, None);
    let plan = write_plan(
        "verdict",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\nthresholds = [\"errors<1%\", \"p99<10s\"]\n[options]\nconnections = 8\nthreads = 1\n\
             [[stage]]\nname = \"spike\"\nduration = \"1s\"\nrate = 200\nthresholds = [\"rps>1000000\"]\n",
            url(srv.local_addr(), "/")
        ),
    );
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    // The headline (under the target) and the end of the report say the same.
    assert_eq!(r.stdout.matches("Thresholds: 1 of 3 failed").count(), 2, "{}", r.stdout);
    assert!(r.stdout.contains("open loop at 200 req/s"), "{}", r.stdout);
    let v = r.json.unwrap();
    assert_eq!(v["verdict"], serde_json::json!({"thresholds": 3, "failed": 1, "passed": false}), "{v}");
    let json = common::temp_json("verdict");
    std::fs::write(&json, serde_json::to_vec(&v).unwrap()).unwrap();
    let html = json.with_extension("html");
    let rep = common::stampede_raw(&["report", json.to_str().unwrap(), "-o", html.to_str().unwrap()]);
    assert_eq!(rep.code, 0, "{}", rep.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    let top = &page[page.find("<section id=\"thresholds\">").expect("the verdict section")..];
    assert!(top[..top.find("</section>").unwrap()].contains("Thresholds: 1 of 3 failed"), "{top}");
    for p in [plan, json, html] {
        let _ = std::fs::remove_file(p);
    }
    srv.stop();
}

#[test]
fn ok_status_in_a_plan_and_per_named_request() {
    let srv = common::embedded(None, None);
    let plan = write_plan(
        "ok-status",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\nok_status = \"200-299,404\"\nthresholds = [\"errors<1%\"]\n[options]\nconnections = 8\nthreads = 1\n\
             [[stage]]\nduration = \"1s\"\nrate = 100\n\
             [[request]]\nname = \"missing\"\npath = \"/status/404\"\n\
             [[request]]\nname = \"busy\"\npath = \"/status/503\"\nok_status = \"503\"\n",
            url(srv.local_addr(), "/")
        ),
    );
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["requests", "errors"]), 0, "{v}");
    assert!(u(&v, &["by_name", "busy", "ok"]) > 0 && u(&v, &["by_name", "missing", "ok"]) > 0, "{v}");
    // Without them, both fail as `status`, counted per code.
    let strict = write_plan(
        "ok-status-strict",
        &std::fs::read_to_string(&plan).unwrap().replace("ok_status = \"200-299,404\"\n", "").replace("ok_status = \"503\"\n", ""),
    );
    let r = common::stampede(&["run", strict.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert!(u(&v, &["status_errors", "404"]) > 0 && u(&v, &["status_errors", "503"]) > 0, "{v}");
    assert!(r.stdout.contains("Failed ") && r.stdout.contains("status 404: ") && r.stdout.contains("status 503: "), "{}", r.stdout);
    for p in [plan, strict] {
        let _ = std::fs::remove_file(p);
    }
    srv.stop();
}

#[test]
fn checks_in_a_plan_and_per_named_request() {
    let srv = common::embedded(None, None);
    // The plan's checks apply to every request; a request's own replace them, kind by kind.
    let plan = write_plan(
        "checks",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\nexpect_status = \"200\"\nexpect_header = [\"Content-Length\"]\n\
             thresholds = [\"good.checks>99%\", \"echo.checks>99%\", \"bad.checks>99%\"]\n[options]\nconnections = 8\nthreads = 1\n\
             [[stage]]\nduration = \"1s\"\nrate = 90\n\
             [[request]]\nname = \"good\"\npath = \"/bytes/16\"\nexpect_header = \"Content-Length: 16\"\n\
             [[request]]\nname = \"echo\"\nmethod = \"POST\"\npath = \"/echo\"\nbody = \"id={{seq}}\"\nexpect_body = [\"id=\", \"=\"]\n\
             [[request]]\nname = \"bad\"\npath = \"/bytes/16\"\nexpect_body = \"nope\"\n",
            url(srv.local_addr(), "/")
        ),
    );
    let check = common::stampede_raw(&["run", plan.to_str().unwrap(), "--check"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(check.stdout.contains("check --expect-header Content-Length: 16"), "{}", check.stdout);
    assert!(check.stdout.contains("--expect-status 200 --expect-header Content-Length"), "{}", check.stdout);
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    // bad's body never has "nope": its checks fail, it alone breaks its threshold.
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("PASS  good.checks>99%") && r.stdout.contains("PASS  echo.checks>99%"), "{}", r.stdout);
    assert!(r.stdout.contains("FAIL  bad.checks>99%"), "{}", r.stdout);
    let v = r.json.unwrap();
    for name in ["good", "echo", "bad"] {
        let n = &v["by_name"][name];
        assert!(n["sent"].as_u64().unwrap() > 0, "{name}: {n}");
        assert_eq!(n["result"]["checks"]["checked"], n["sent"], "{name}: {n}");
    }
    let bad = &v["by_name"]["bad"]["result"]["checks"];
    assert_eq!(bad["passed"], 0, "{bad}");
    let failed = bad["failed"].as_object().unwrap();
    assert!(failed.keys().any(|k| k.contains("nope")), "the failed check is named: {bad}");
    assert_eq!(v["by_name"]["good"]["result"]["checks"]["passed"], v["by_name"]["good"]["sent"]);
    // Each request's checks: `good` has the plan's status check and its own header check.
    assert_eq!(v["by_name"]["echo"]["result"]["checks"]["passed"], v["by_name"]["echo"]["sent"]);
    common::assert_accounted(&v);
    let _ = std::fs::remove_file(plan);
    srv.stop();
}

#[test]
fn a_stage_judges_statuses_by_its_own_ok_status() {
    // The same 503 answers: failed in the first stage (the default 200-399), expected in the
    // second (its own ok_status); each stage's thresholds say so, and the run's exit with them.
    let srv = common::embedded(None, None);
    let plan = write_plan(
        "stage-ok-status",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\n[options]\nconnections = 4\nthreads = 1\n\
             [[stage]]\nname = \"strict\"\nduration = \"1s\"\nrate = 50\nthresholds = [\"errors>90%\"]\n\
             [[stage]]\nname = \"lenient\"\nduration = \"1s\"\nrate = 50\nok_status = \"200-299,503\"\nthresholds = [\"errors<1%\"]\n",
            url(srv.local_addr(), "/status/503")
        ),
    );
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    let (strict, lenient) = (stage(&v, "strict"), stage(&v, "lenient"));
    assert!(u(strict, &["ok"]) == 0 && u(strict, &["errors"]) > 0, "{strict}");
    assert!(u(lenient, &["ok"]) > 0 && u(lenient, &["errors"]) == 0, "{lenient}");
    // A stage's ok_status is for http, and must parse.
    let bad = write_plan("stage-ok-status-bad", &std::fs::read_to_string(&plan).unwrap().replace("200-299,503", "2xx"));
    let r = common::stampede(&["run", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("stage lenient: ok_status"), "{}", r.stderr);
    for p in [plan, bad] {
        let _ = std::fs::remove_file(p);
    }
    srv.stop();
}
