//! Peers of tests/peers/ started through their launcher scripts (scripts/peers-asr.sh: the
//! cached venv of Python `websockets`; scripts/peers-node.sh: Node with `ws`), and the JSON
//! lines they write.

use std::path::Path;
use std::process::Child;

/// A peer of tests/peers/ (Python `websockets`) started through scripts/peers-asr.sh: its child
/// and port, or `None` when the peers are unavailable here (the script says SKIPPED; under
/// CI=true it fails instead, and so does this test).
pub fn python_peer(args: &[&str], stats: &Path) -> Option<(Child, u16)> {
    launch("scripts/peers-asr.sh", "python", args, stats, "the Python websockets peers")
}

/// tests/peers/chat_server.py (the Python websockets JSON chat app) with `args` (e.g.
/// `--ping-interval 0.5`, `--drop-every 100`, `--no-echo-self`, `--require-token`).
pub fn chat_peer(args: &[&str], stats: &Path) -> Option<(Child, u16)> {
    let script = format!("{}/tests/peers/chat_server.py", env!("CARGO_MANIFEST_DIR"));
    let all: Vec<&str> = std::iter::once(script.as_str()).chain(args.iter().copied()).collect();
    python_peer(&all, stats)
}

/// tests/peers/ws_relay.js (the Node `ws` relay) through scripts/peers-node.sh with `args`
/// (e.g. `--json`, `--ping-interval 0.5`, `--drop-every 100`, `--no-echo-self`).
pub fn node_relay(args: &[&str], stats: &Path) -> Option<(Child, u16)> {
    let script = format!("{}/tests/peers/ws_relay.js", env!("CARGO_MANIFEST_DIR"));
    let all: Vec<&str> = std::iter::once(script.as_str()).chain(args.iter().copied()).collect();
    launch("scripts/peers-node.sh", "node", &all, stats, "the Node ws peers")
}

/// Runs `LAUNCHER RUNNER ARGS... --port 0 --stats STATS` and reads the `listening` line for the
/// port; `None` (and a SKIPPED line, or a panic under CI=true) when the launcher exits 2.
pub fn launch(launcher: &str, runner: &str, args: &[&str], stats: &Path, what: &str) -> Option<(Child, u16)> {
    use std::io::BufRead;
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = std::process::Command::new(format!("{root}/{launcher}"))
        .arg(runner)
        .args(args)
        .arg("--port")
        .arg("0")
        .arg("--stats")
        .arg(stats)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null()) // tracebacks of closed sessions
        .spawn()
        .unwrap_or_else(|e| panic!("run {launcher}: {e}"));
    let mut first = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let _ = out.read_line(&mut first);
    if first.is_empty() {
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(2), "{launcher} failed");
        super::peer::missing(what, launcher);
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&first).expect("the listening line");
    // Keep draining stdout so the peer never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    Some((child, v["port"].as_u64().unwrap() as u16))
}

/// The `session` events the peer has written to `stats` once `n` are there (5 s at most).
pub fn sessions(stats: &Path, n: usize) -> Vec<serde_json::Value> {
    events(stats, "session", n)
}

/// The events named `event` the peer has written to `stats` once `n` are there (5 s at most).
pub fn events(stats: &Path, event: &str, n: usize) -> Vec<serde_json::Value> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(stats).unwrap_or_default();
        let found: Vec<serde_json::Value> =
            text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).filter(|v| v["event"] == event).collect();
        if found.len() >= n || std::time::Instant::now() > until {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Stops a peer with SIGTERM (it writes its `summary` line) and waits for it (5 s, then kill).
pub fn stop(mut child: Child) {
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs tests/peers/chat_client.py with `steps` (see its docstring) and returns its JSON lines;
/// `None` when the Python peers are unavailable (SKIPPED, or a panic under CI=true).
pub fn chat_client(steps: &[&str]) -> Option<Vec<serde_json::Value>> {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(format!("{root}/scripts/peers-asr.sh"))
        .arg("python")
        .arg(format!("{root}/tests/peers/chat_client.py"))
        .args(steps)
        .output()
        .expect("run scripts/peers-asr.sh");
    if out.status.code() == Some(2) && out.stdout.is_empty() {
        super::peer::missing("the Python websockets peers", "scripts/peers-asr.sh");
        return None;
    }
    assert!(out.status.success(), "chat_client.py {steps:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect())
}
