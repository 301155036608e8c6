//! `stampede preflight` and the check every run makes first, through the binary.

mod common;

use std::path::PathBuf;

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
