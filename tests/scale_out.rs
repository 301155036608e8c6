//! Scale-out beyond one machine: the Kubernetes manifests of `scripts/k8s/run.sh` are rendered
//! and their commands run here as the Indexed Job would run them (one process per completion
//! index, against the embedded server), then the merge Job's command: one exact result.

mod common;

use std::process::Command;

use common::{u, url};
use serde_json::Value;

/// The `args: [...]` lines of the rendered manifests, in order (load Job, merge Job).
fn rendered_args(yaml: &str) -> Vec<Vec<String>> {
    yaml.lines()
        .filter_map(|l| l.trim().strip_prefix("args: "))
        .map(|a| serde_json::from_str::<Vec<String>>(a).expect("args are a JSON-compatible flow sequence"))
        .collect()
}

#[test]
fn the_indexed_job_commands_run_and_merge_into_one_result() {
    let srv = common::embedded(None, None);
    let dir = std::env::temp_dir().join(format!("stampede-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = url(srv.local_addr(), "/");
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/k8s/run.sh"))
        .args(["--render", "http", &target, "-c", "6", "-t", "1", "-n", "600"])
        .env("SHARDS", "3")
        .env("NAME", "t")
        .env("START_DELAY", "1")
        .env("THRESHOLDS", "errors<1%;p99<10s")
        .output()
        .expect("bash runs");
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for needle in ["completionMode: Indexed", "completions: 3", "parallelism: 3", "claimName: stampede-results", "name: t-merge"] {
        assert!(yaml.contains(needle), "{needle} missing from:\n{yaml}");
    }
    let args = rendered_args(&yaml);
    assert_eq!(args.len(), 2, "{yaml}");
    let results = dir.to_str().unwrap();
    let local = |a: &[String], index: usize| -> Vec<String> {
        a.iter().map(|s| s.replace("$(JOB_COMPLETION_INDEX)", &index.to_string()).replace("/results", results)).collect()
    };
    // Three "pods" at once, each with its own completion index.
    let spawned: Vec<_> = (0..3)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_stampede"))
                .args(local(&args[0], i))
                .arg("--no-preflight")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let shards: Vec<_> = spawned.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for (i, s) in shards.iter().enumerate() {
        assert!(s.status.success(), "shard {i}: {}", String::from_utf8_lossy(&s.stderr));
    }
    let part: Value = serde_json::from_slice(&std::fs::read(dir.join("t-1.json")).unwrap()).unwrap();
    assert_eq!(u(&part, &["requests", "ok"]), 200, "each shard carries a third: {part}");
    let merged = Command::new(env!("CARGO_BIN_EXE_stampede")).args(local(&args[1], 0)).output().unwrap();
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    let stdout = String::from_utf8_lossy(&merged.stdout);
    assert!(stdout.contains("PASS"), "thresholds judged on the whole: {stdout}");
    let all: Value = serde_json::from_slice(&std::fs::read(dir.join("t.json")).unwrap()).unwrap();
    assert_eq!(u(&all, &["requests", "ok"]), 600, "{all}");
    assert_eq!(u(&all, &["connections", "planned"]), 6, "{all}");
    let _ = std::fs::remove_dir_all(&dir);
    srv.stop();
}

#[test]
fn the_k8s_script_refuses_bad_input() {
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/k8s/run.sh"))
        .args(["--render", "http", "http://127.0.0.1:1/"])
        .env("SHARDS", "zero")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SHARDS"));
}
