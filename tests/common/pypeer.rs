//! Peers of tests/peers/ written with Python `websockets`, started through
//! scripts/peers-asr.sh (its cached venv), and the per-session lines they write.

/// A peer of tests/peers/ (Python `websockets`) started through scripts/peers-asr.sh: its child
/// and port, or `None` when the peers are unavailable here (the script says SKIPPED; under
/// CI=true it fails instead, and so does this test).
pub fn python_peer(args: &[&str], stats: &std::path::Path) -> Option<(std::process::Child, u16)> {
    use std::io::BufRead;
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = std::process::Command::new(format!("{root}/scripts/peers-asr.sh"))
        .arg("python")
        .args(args)
        .arg("--port")
        .arg("0")
        .arg("--stats")
        .arg(stats)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null()) // websockets' tracebacks of closed sessions
        .spawn()
        .expect("run scripts/peers-asr.sh");
    let mut first = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let _ = out.read_line(&mut first);
    if first.is_empty() {
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(2), "scripts/peers-asr.sh failed");
        super::peer::missing("the Python websockets peers", "scripts/peers-asr.sh");
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&first).expect("the listening line");
    // Keep draining stdout so the peer never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    Some((child, v["port"].as_u64().unwrap() as u16))
}

/// The `session` events the peer has written to `stats` once `n` are there (5 s at most).
pub fn sessions(stats: &std::path::Path, n: usize) -> Vec<serde_json::Value> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(stats).unwrap_or_default();
        let found: Vec<serde_json::Value> =
            text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).filter(|v| v["event"] == "session").collect();
        if found.len() >= n || std::time::Instant::now() > until {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
