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
fn a_throttled_target_is_driven_over_its_limit_and_recovers() {
    // The server answers 429 above 100 requests/s; the plan goes under, over, and under again.
    let srv = common::embedded(None, Some(100));
    let plan = write_plan(
        "throttle",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\n[options]\nconnections = 16\nthreads = 1\n\
             [[stage]]\nname = \"baseline\"\nduration = \"2s\"\nrate = 50\nthresholds = [\"status_429<1%\"]\n\
             [[stage]]\nname = \"over-limit\"\nduration = \"2s\"\nrate = 300\nthresholds = [\"status_429>10%\"]\n\
             [[stage]]\nname = \"pause\"\nduration = \"1s\"\nrate = 1\n\
             [[stage]]\nname = \"recovery\"\nduration = \"2s\"\nrate = 50\nthresholds = [\"status_429<1%\"]\n",
            url(srv.local_addr(), "/")
        ),
    );
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    assert!(stage(&v, "over-limit")["status"]["429"].as_u64().unwrap_or(0) > 100, "{v}");
    assert_eq!(stage(&v, "recovery")["status"]["429"].as_u64().unwrap_or(0), 0, "{v}");
    // Breaking a stage threshold exits 3 and says where.
    let strict = write_plan(
        "strict",
        &format!(
            "scenario = \"http\"\nurl = \"{}\"\n[options]\nconnections = 8\nthreads = 1\n\
             [[stage]]\nname = \"over\"\nduration = \"1s\"\nrate = 400\nthresholds = [\"status_429<1%\"]\n",
            url(srv.local_addr(), "/")
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
    let r = common::stampede_raw(&["plan", "--preset", "throttle", "http://127.0.0.1:9/", "--limit", "200"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("name = \"over-limit\"") && r.stdout.contains("rate = 300"), "{}", r.stdout);
    let p = stampede::plan::parse(&r.stdout).unwrap();
    assert_eq!(p.stages.len(), 6);
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
