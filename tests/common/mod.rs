//! Shared helpers for the end-to-end tests: the embedded server in-process, an independent
//! hyper server, and the `stampede` binary run as a user would run it (JSON result parsed).
#![allow(dead_code)]

pub mod hostile;
pub mod hyper_app;
pub mod hyper_server;
pub mod peer;
pub mod pypeer;
pub mod ws_server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use stampede::server::{self, ServeConfig, ServerHandle};

/// The embedded server's settings for a test: 127.0.0.1:0, one worker thread, healthy.
pub fn loopback() -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        threads: 1,
        cpus: Vec::new(),
        max_connections: None,
        max_rps: None,
        backlog: 1024,
        asr: Default::default(),
        faults: Default::default(),
        raw_listen: None,
        unix: None,
        tls: None,
        chat: Default::default(),
        limits: Default::default(),
    }
}

/// Starts the embedded server on 127.0.0.1:0 with one worker thread and this mock recogniser.
pub fn embedded_asr(asr: stampede::server::AsrMock) -> ServerHandle {
    server::start(&ServeConfig { asr, ..loopback() }).expect("embedded server starts")
}

/// Starts the embedded server on 127.0.0.1:0 with one worker thread.
pub fn embedded(max_connections: Option<u64>, max_rps: Option<u64>) -> ServerHandle {
    server::start(&ServeConfig { max_connections, max_rps, ..loopback() }).expect("embedded server starts")
}

/// A fresh path in the temp dir for a JSON result.
pub fn temp_json(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("stampede-test-{}-{tag}-{n}.json", std::process::id()))
}

/// What one run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub json: Option<Value>,
}

/// Runs `stampede ARGS... --json TMP` and parses the result.
pub fn stampede(args: &[&str]) -> Run {
    let json = temp_json("run");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stampede"));
    cmd.args(args).arg("--json").arg(&json).arg("--no-preflight");
    let out: Output = cmd.output().expect("run stampede");
    let parsed = std::fs::read(&json).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let _ = std::fs::remove_file(&json);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        json: parsed,
    }
}

/// Runs `stampede ARGS...` without adding anything.
pub fn stampede_raw(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_stampede")).args(args).output().expect("run stampede");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        json: None,
    }
}

/// `v["a"]["b"]` as u64 (0 when missing).
pub fn u(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[*k]).as_u64().unwrap_or(0)
}

/// `v["a"]["b"]` as f64 (NaN when missing).
pub fn f(v: &Value, path: &[&str]) -> f64 {
    path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or(f64::NAN)
}

pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// The accounting equation every result must satisfy.
pub fn assert_accounted(v: &Value) {
    let sent = u(v, &["requests", "sent"]);
    let ok = u(v, &["requests", "ok"]);
    let errors = u(v, &["requests", "errors"]);
    let in_flight = u(v, &["requests", "in_flight"]);
    assert_eq!(sent, ok + errors + in_flight, "sent = ok + errors + in_flight: {v}");
}

/// The PIDs whose parent is `pid` (from /proc).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // pid (comm) state ppid ...: the comm may hold spaces, so read after its ')'.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|x| x.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}
