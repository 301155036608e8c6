//! `stampede preflight` and the check every run makes first, through the binary.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::stampede_raw;

fn fake_root(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("stampede-preflight-cli-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let files = [
        ("proc/self/limits", "Max open files            1024                 4096                 files     \n".to_string()),
        ("proc/meminfo", "MemAvailable:   20000000 kB\n".into()),
        ("proc/sys/net/core/somaxconn", "128\n".into()),
        ("proc/sys/net/ipv4/tcp_max_syn_backlog", "256\n".into()),
        ("proc/sys/net/ipv4/ip_local_port_range", "32768\t60999\n".into()),
        ("proc/sys/fs/file-max", "1000000\n".into()),
        ("proc/sys/fs/nr_open", "1048576\n".into()),
        ("sys/devices/system/cpu/online", "0-1\n".into()),
    ];
    for (rel, content) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    root
}

#[test]
fn preflight_reports_fixes_and_writes_json() {
    let root = fake_root("report");
    let json = root.join("out.json");
    let r = stampede_raw(&["preflight", "-c", "10000", "--root", root.to_str().unwrap(), "--json", json.to_str().unwrap()]);
    assert_eq!(r.code, 1, "a fatal FAIL exits 1: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL  nofile"), "{}", r.stdout);
    assert!(r.stdout.contains("sysctl -w net.core.somaxconn=\"65535\""), "{}", r.stdout);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["worst"], "FAIL");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn apply_and_revert_on_a_fake_root() {
    let root = fake_root("apply");
    let save = root.join("saved.conf");
    let r = stampede_raw(&["preflight", "-c", "1000", "--root", root.to_str().unwrap(), "--apply", "--save", save.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("applied net.core.somaxconn: 128 -> 65535"), "{}", r.stdout);
    assert_eq!(std::fs::read_to_string(root.join("proc/sys/net/core/somaxconn")).unwrap().trim(), "65535");
    let r = stampede_raw(&["preflight", "--root", root.to_str().unwrap(), "--revert", save.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(std::fs::read_to_string(root.join("proc/sys/net/core/somaxconn")).unwrap().trim(), "128");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_impossible_run_stops_before_sending_anything() {
    // 100k connections to one destination from one source address cannot fit any port range.
    let r = stampede_raw(&["http", "http://127.0.0.1:9/", "-c", "100000", "-d", "1s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("FAIL") && r.stderr.contains("--source"), "{}", r.stderr);
    assert!(!r.stdout.contains("Requests"), "no load was run: {}", r.stdout);
}

/// The hard RLIMIT_NOFILE of processes started from here (None: unlimited or unreadable).
fn hard_nofile() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(4)?.parse().ok()
}

/// The file limit the binary runs under in the fd-limit test: low enough to exceed cheaply,
/// never above the limit here (only root may raise a hard limit).
fn low_nofile() -> u64 {
    hard_nofile().unwrap_or(u64::MAX).min(2048)
}

/// The binary run with its soft and hard RLIMIT_NOFILE set to `nofile` (by the shell's
/// `ulimit -n`, then `exec`), so the check runs whatever this machine's own limit is.
fn stampede_with_nofile(nofile: u64, args: &[&str]) -> common::Run {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .output()
        .expect("run stampede under sh");
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        json: None,
    }
}

#[test]
fn a_run_beyond_the_fd_limit_is_refused_and_no_preflight_lets_it_try() {
    let nofile = low_nofile();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let target = format!("http://127.0.0.1:{port}/");
    let n = (nofile + 100).to_string();
    let r = stampede_with_nofile(nofile, &["http", &target, "-c", &n, "-t", "1", "-d", "1s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("FAIL nofile") && r.stderr.contains("processes of at most"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("hard {nofile}")), "the check read the lowered limit: {}", r.stderr);
    assert!(r.stderr.contains("--no-preflight"), "the refusal says how to override it: {}", r.stderr);
    // With --no-preflight the run goes ahead (against a closed port: every connect refused).
    let json = common::temp_json("nofile");
    let json_arg = json.to_str().unwrap();
    let r = stampede_with_nofile(nofile, &["http", &target, "-c", &n, "-t", "1", "-d", "3s", "--no-preflight", "--json", json_arg]);
    let v: serde_json::Value = std::fs::read(&json)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| panic!("the run went ahead and wrote its report: {}{}", r.stdout, r.stderr));
    let _ = std::fs::remove_file(&json);
    assert!(common::u(&v, &["connections", "attempted"]) > 0, "{v}");
}

#[test]
fn verify_runs_a_connect_burst_and_reads_the_kernel_counters() {
    let srv = common::embedded(None, None);
    let url = format!("http://{}/", srv.local_addr());
    let r = stampede_raw(&["preflight", "--verify", &url, "-c", "50", "-t", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("established 50 of 50"), "{}", r.stdout);
    assert!(r.stdout.contains("ListenOverflows +"), "{}", r.stdout);
    srv.stop();
}
