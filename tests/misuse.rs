//! Malformed command lines and configuration files, for every subcommand: each must exit 2
//! (usage error) with a message naming the flag or the value at fault, before any load is sent
//! or any server is started, and never panic. (tests/http.rs and tests/ws.rs hold the first
//! cases for http and ws; this table fills the gaps.) Every run is bounded: a case that does
//! not stop within the time limit is killed by its PID and fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Longer than any validation takes (the asr cases build 5 s of audio in a debug build).
const LIMIT: Duration = Duration::from_secs(30);

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

/// Runs the binary with `args`; kills it (by its PID, through the child handle) after LIMIT.
fn run(args: &[&str]) -> Outcome {
    let dir = scratch();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let err_path = dir.join(format!("stderr-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("run stampede");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    Outcome { code, stderr }
}

/// A per-process scratch directory with the malformed files the cases refer to.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stampede-misuse-{}", std::process::id()));
    if !dir.join("fake-root/proc/sys/net/core").exists() {
        std::fs::create_dir_all(dir.join("fake-root/proc/sys/net/core")).unwrap();
        std::fs::write(dir.join("fake-root/proc/sys/net/core/somaxconn"), "4096\n").unwrap();
        std::fs::write(dir.join("not.json"), "nope").unwrap();
        std::fs::write(dir.join("empty.json"), "{}").unwrap();
        std::fs::write(dir.join("partial.json"), r#"{"schema": "stampede.result/1"}"#).unwrap();
        std::fs::write(dir.join("binary.bin"), [0xFFu8, 0xFE, 0x00]).unwrap();
        std::fs::write(dir.join("no-equals.conf"), "net.core.somaxconn 4096\n").unwrap();
        std::fs::write(dir.join("bad-name.conf"), "net.core.somaxconn = 1\nkernel/../x = 1\n").unwrap();
        std::fs::write(dir.join("unknown.conf"), "net.core.somaxconn = 1\nnet.core.no_such_thing = 1\n").unwrap();
        let stage = "[[stage]]\nduration = \"1000000000s\"\nrate = 1\n";
        std::fs::write(dir.join("long.toml"), format!("scenario = \"http\"\nurl = \"http://127.0.0.1:9/\"\n{}", stage.repeat(20))).unwrap();
        std::fs::write(dir.join("no-stage.toml"), "scenario = \"http\"\nurl = \"http://127.0.0.1:9/\"\n").unwrap();
    }
    dir
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

#[test]
fn every_subcommand_refuses_malformed_input_with_exit_2_and_names_the_problem() {
    let dir = scratch();
    let (not_json, empty, partial, binary) = (p(&dir, "not.json"), p(&dir, "empty.json"), p(&dir, "partial.json"), p(&dir, "binary.bin"));
    let root = p(&dir, "fake-root");
    let (no_eq, bad_name, unknown) = (p(&dir, "no-equals.conf"), p(&dir, "bad-name.conf"), p(&dir, "unknown.conf"));
    let asr = "ws://127.0.0.1:9/asr";
    let http = "http://127.0.0.1:9/";
    let ws = "ws://127.0.0.1:9/ws/echo";
    let serve = ["serve", "--listen", "127.0.0.1:0"];
    let with = |base: &[&str], more: &[&str]| -> Vec<String> { base.iter().chain(more).map(|s| s.to_string()).collect() };
    let cases: Vec<(Vec<String>, &str)> = vec![
        // asr
        (with(&["asr", "http://127.0.0.1:9/asr"], &[]), "ws://"),
        (with(&["asr", asr], &["--streams", "0"]), "--streams"),
        (with(&["asr", asr], &["--streams", "lots"]), "--streams"),
        (with(&["asr", asr], &["--signal-length", "0.01ms"]), "--signal-length"),
        (with(&["asr", asr], &["--signal-length", "2h"]), "--signal-length"),
        (with(&["asr", asr], &["--ramp", "soon"]), "--ramp"),
        (with(&["asr", asr], &["--timeout", "0s"]), "--timeout"),
        (with(&["asr", asr], &["--audio", "/nonexistent/stampede.wav"]), "/nonexistent/stampede.wav"),
        (with(&["asr", asr], &["--audio", &not_json]), "RIFF"),
        (with(&["asr", asr], &["--speed", "nan"]), "--speed"),
        (with(&["asr", asr], &["--chunk-ms", "20000"]), "--chunk-ms"),
        (with(&["asr", asr], &["--chunk-ms", "abc"]), "--chunk-ms"),
        (with(&["asr", asr], &["--preset", "custom", "--start-message", "a", "--end-message", "b", "--final-match", ""]), "--final-match"),
        (with(&["asr", asr], &["--threshold", "p99"]), "--threshold"),
        (with(&["asr", asr], &["-t", "0"]), "-t/--threads"),
        (with(&["asr", asr], &["-d", "0s"]), "-d/--duration"),
        (with(&["asr", asr], &["--transcripts", "/nonexistent/dir/t.jsonl"]), "--transcripts"),
        (with(&["asr"], &[]), "<URL>"),
        // serve (a case that passed validation would serve forever: the time limit catches it)
        (with(&["serve", "--listen", "127.0.0.1"], &[]), "IP:PORT"),
        (with(&serve, &["--max-connections", "0"]), "--max-connections"),
        (with(&serve, &["--max-rps", "lots"]), "--max-rps"),
        (with(&serve, &["--backlog", "0"]), "--backlog"),
        (with(&serve, &["--backlog=-5"]), "--backlog"),
        (with(&serve, &["--backlog", "99999999999"]), "--backlog"),
        (with(&serve, &["-t", "0"]), "-t/--threads"),
        (with(&serve, &["--asr-rtf=-1"]), "--asr-rtf"),
        (with(&serve, &["--asr-rtf", "nan"]), "--asr-rtf"),
        (with(&serve, &["--asr-partial-ms", "0"]), "--asr-partial-ms"),
        (with(&serve, &["--processes", "0"]), "--processes"),
        (with(&serve, &["--processes", "300"]), "--processes"),
        (with(&serve, &["--tls-cert", &not_json]), "--tls-key"),
        (with(&serve, &["--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"]), "/nonexistent/c.pem"),
        (with(&serve, &["--tls-cert", &not_json, "--tls-key", &not_json]), "--tls-cert"),
        (with(&serve, &["--tls-self-signed", "--tls-cert", &not_json, "--tls-key", &not_json]), "--tls-self-signed"),
        // TLS clients
        (with(&["http", "https://127.0.0.1:9/"], &["--cacert", "/nonexistent/ca.pem"]), "/nonexistent/ca.pem"),
        (with(&["http", "https://127.0.0.1:9/"], &["--cacert", &not_json]), "--cacert"),
        (with(&["http", "https://127.0.0.1:9/"], &["--cacert", &not_json, "--insecure"]), "--insecure"),
        (with(&["http", "https://127.0.0.1:9/"], &["--tls-server-name", "bad name!"]), "--tls-server-name"),
        (with(&["http", "https://127.0.0.1:9/"], &["--unix-socket", "/tmp/x.sock"]), "--unix-socket"),
        (with(&["ws", "https://127.0.0.1:9/ws"], &[]), "wss://"),
        (with(&["raw", "tls://127.0.0.1"], &["--message", "x", "--delimiter", "\\n"]), "port"),
        // hold
        (with(&["hold", http], &["--every", "0s"]), "--every"),
        (with(&["hold", http], &["--every", "soon"]), "--every"),
        (with(&["hold", ws], &["--every", "0s"]), "--every"),
        (with(&["hold", http], &["-R", "10"]), "-R"),
        (with(&["hold", "ftp://127.0.0.1/"], &[]), "http(s):// or ws(s)://"),
        (with(&["hold", "127.0.0.1:9"], &[]), "http(s):// or ws(s)://"),
        (with(&["hold", "https://127.0.0.1/"], &["--cacert", "/nonexistent/ca.pem"]), "--cacert"),
        (with(&["hold", http], &["-c", "0"]), "-c/--connections"),
        (with(&["hold", ws], &["-c", "0"]), "-c/--connections"),
        (with(&["http", http], &["-c", "10G", "--no-preflight"]), "at most 10000000"),
        (with(&["hold", http], &["--pipeline", "0"]), "--pipeline"),
        (with(&["hold", http], &["--shard", "3/2"]), "--shard"),
        (with(&["hold"], &[]), "<URL>"),
        // merge
        (with(&["merge"], &[]), "RESULT.json"),
        (with(&["merge", "/nonexistent/stampede.json"], &[]), "/nonexistent/stampede.json"),
        (with(&["merge", &not_json], &[]), "not JSON"),
        (with(&["merge", &empty], &[]), "stampede.result/1"),
        (with(&["merge", &partial], &[]), "missing histogram"),
        (with(&["merge", &empty], &["-o", "/nonexistent/dir/merged.json"]), "-o/--output"),
        // preflight (revert cases on a fake /proc root: nothing real is ever written)
        (with(&["preflight"], &["-c", "lots"]), "-c/--connections"),
        (with(&["preflight"], &["-c", "0"]), "-c/--connections"),
        (with(&["preflight"], &["-t", "0"]), "-t/--threads"),
        (with(&["preflight"], &["--source", "nonsense"]), "--source"),
        (with(&["preflight"], &["--target", "ftp://127.0.0.1/"]), "only http://"),
        (with(&["preflight"], &["--processes", "0"]), "--processes"),
        (with(&["preflight"], &["--json", "/nonexistent/dir/preflight.json"]), "--json"),
        (with(&["preflight", "--root", &root], &["--revert", "/nonexistent/stampede.conf"]), "--revert"),
        (with(&["preflight", "--root", &root], &["--revert", &no_eq]), "key = value"),
        (with(&["preflight", "--root", &root], &["--revert", &bad_name]), "not a sysctl name"),
        (with(&["preflight", "--root", &root], &["--revert", &unknown]), "net.core.no_such_thing"),
        (with(&["preflight", "--root", &root], &["--apply", "--revert", &unknown]), "--apply"),
        (with(&["preflight"], &["--verify", "notaurl"]), "http://HOST"),
        (with(&["preflight"], &["--verify", http, "-c", "lots"]), "-c/--connections"),
        (with(&["preflight"], &["--verify", http, "-c", "0"]), "-c/--connections"),
        // demo (checked before its server starts)
        (with(&["demo"], &["--processes", "2"]), "--processes"),
        (with(&["demo"], &["--shard", "0/2"]), "--shard"),
        (with(&["demo"], &["-c", "0"]), "-c/--connections"),
        (with(&["demo"], &["--path", "nopath"]), "--path"),
        (with(&["demo"], &["--path", "/a b"]), "--path"),
        (with(&["demo"], &["-R", "fast"]), "-R/--rate"),
        (with(&["demo"], &["--json", "/nonexistent/dir/demo.json"]), "--json"),
        (with(&["demo"], &["-t", "0"]), "-t/--threads"),
        (with(&["demo"], &["--threshold", "bogus"]), "--threshold"),
        (with(&["demo"], &["-d", "0s"]), "-d/--duration"),
        // run and plan (load plans; tests/plan.rs has the first cases)
        (with(&["run", &p(&dir, "long.toml")], &[]), "10^9 s"),
        (with(&["run", &p(&dir, "no-stage.toml")], &[]), "[[stage]]"),
        (with(&["run", &not_json], &[]), "line 1"),
        (with(&["run", "--preset", "qps", "ftp://127.0.0.1/"], &[]), "only http://"),
        (with(&["run", "--preset", "smoke", http], &["--limit", "lots"]), "--limit"),
        (with(&["plan", "--preset", "throttle"], &["--limit", "0"]), "--limit"),
        (with(&["plan", "--preset", "nope"], &[]), "nope"),
        (with(&["plan"], &[]), "--preset"),
        // report, compare, capacity
        (with(&["report", "/nonexistent/stampede.json"], &[]), "/nonexistent/stampede.json"),
        (with(&["report", &not_json], &[]), "not JSON"),
        (with(&["report", &empty], &[]), "stampede.result/1"),
        (with(&["compare", &not_json, &empty], &[]), "not JSON"),
        (with(&["compare", &empty], &[]), "B.json"),
        (with(&["capacity", http], &[]), "--slo"),
        (with(&["capacity", http], &["--slo", "bogus"]), "--slo"),
        (with(&["capacity", http], &["--slo", "p99<1s", "--scenario", "nope"]), "--scenario"),
        (with(&["capacity", http], &["--slo", "p99<1s", "--precision", "0%"]), "--precision"),
        (with(&["capacity", http], &["--slo", "p99<1s", "--max", "5", "--start", "10"]), "--max"),
        (with(&["capacity", http], &["--slo", "p99<1s", "--json", "/nonexistent/dir/capacity.json"]), "--json"),
        // http and ws: what tests/http.rs and tests/ws.rs do not cover yet
        (with(&["http", http], &["-n", "0"]), "-n/--requests"),
        (with(&["http", http], &["-t", "0"]), "-t/--threads"),
        (with(&["http", http], &["--timeout", "0s"]), "--timeout"),
        (with(&["http", http], &["--connect-rate", "0"]), "--connect-rate"),
        (with(&["http", http], &["--source", "10.0.0.9-10.0.0.1"]), "--source"),
        (with(&["http", http], &["--processes", "0"]), "--processes"),
        (with(&["http", http], &["--shard", "2/2"]), "--shard"),
        (with(&["http", http], &["--shard", "0/2", "--processes", "2"]), "--shard"),
        (with(&["http", http], &["-c", "2", "--processes", "3"]), "--processes 3 with -c/--connections 2"),
        (with(&["http", http], &["-c", "4", "-n", "2", "--processes", "3"]), "--processes 3 with -n/--requests 2"),
        (with(&["http", http], &["-R", "0"]), "'0' must be greater than 0 and at most 1G (10^9) per second"),
        (with(&["http", http], &["--connect-rate", "2G"]), "'2G' must be greater than 0 and at most 1G"),
        (with(&["http", http], &["-m", "GE T"]), "-m/--method"),
        (with(&["http", http], &["--body", "x", "--body-file", &binary]), "--body"),
        (with(&["http", http], &["--threshold", "p99<fast"]), "--threshold"),
        (with(&["http", http], &["-H", "Bad Name: v"]), "Bad Name"),
        (with(&["http", http], &["-H", "X: a\r\nY: b"]), "line breaks"),
        (with(&["ws", ws], &["--text", "--message", &format!("@{binary}")]), "--text"),
        (with(&["ws", ws], &["--text", "--binary"]), "--binary"),
        (with(&["ws", ws], &["--ping-interval", "1s", "-R", "5"]), "--ping-interval"),
        (with(&["ws", ws], &["--rooms", "2", "--ping-interval", "1s"]), "--ping-interval"),
        (with(&["ws", ws], &["--size", "17MiB"]), "--size"),
    ];
    let mut failures = Vec::new();
    for (args, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&args);
        if r.code != Some(2) || !r.stderr.contains(needle) || r.stderr.contains("panicked") {
            failures.push(format!("{args:?}: exit {:?}, wanted 2 and {needle:?} in: {}", r.code, r.stderr.trim()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), cases.len(), failures.join("\n"));
    // The malformed revert files changed nothing, not even their valid first line.
    assert_eq!(std::fs::read_to_string(dir.join("fake-root/proc/sys/net/core/somaxconn")).unwrap(), "4096\n");
    assert!(!dir.join("fake-root/proc/sys/net/core/no_such_thing").exists(), "revert created a sysctl");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A second `stampede serve` on a port another server already listens on: our listeners set
/// SO_REUSEPORT, so a plain bind would have shared the port silently (each server answering
/// some of the connections); it is refused instead, with exit 2 naming the address.
#[test]
fn serve_refuses_a_port_another_server_listens_on() {
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket::socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    socket::setsockopt(&fd, sockopt::ReusePort, &true).unwrap();
    socket::bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
    socket::listen(&fd, socket::Backlog::new(16).unwrap()).unwrap();
    let listener = std::net::TcpListener::from(fd);
    let addr = listener.local_addr().unwrap().to_string();
    let o = run(&["serve", "--listen", &addr]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains(&format!("cannot listen on {addr}: another process already listens there")), "{}", o.stderr);
}
