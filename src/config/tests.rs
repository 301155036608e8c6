//! The builders and the types: parts, targets, TLS set-up, `--seq` numbering.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

#[test]
fn seq_numbers_are_unique_over_workers_and_parts() {
    let template = crate::proto::raw::RawTemplate::new(b"{seq}", &crate::proto::raw::Framing::Fixed(1)).unwrap();
    let mut all = std::collections::HashSet::new();
    for part in 0..2 {
        let seq = SeqConfig { message: template.clone(), expect: None, part, parts: 2 };
        for worker in 0..3 {
            for n in 0..50 {
                assert!(all.insert(seq.number(n, worker, 3)), "part {part} worker {worker} n {n}");
                assert_eq!(seq.number(n + 1, worker, 3) - seq.number(n, worker, 3), seq.stride(3));
            }
        }
    }
    assert_eq!((all.len(), all.iter().min(), all.iter().max()), (300, Some(&1), Some(&300)), "1..=300, none skipped");
}

fn load(c: u64, n: Option<u64>, rate: Option<f64>) -> LoadConfig {
    LoadConfig {
        connections: c,
        think: None,
        duration: None,
        requests: n,
        threads: 2,
        cpus: vec![0, 1, 2, 3],
        drive: rate.map_or(Drive::Closed, |r| Drive::Open { rate_per_s: r }),
        connect_rate: Some(100.0),
        sends_after_ramp: false,
        pipeline: 1,
        timeout: Duration::from_secs(1),
        connect: ConnectOpts::default(),
        sources: vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap(), "127.0.0.4".parse().unwrap()],
        json: None,
        junit: None,
        latency: false,
        quiet: true,
        preflight: false,
        thresholds: Vec::new(),
        processes: 3,
        start_at: None,
        hlog: None,
        monitor_pids: Vec::new(),
        metrics_listen: None,
        abort_after: None,
        pacing: crate::config::Pacing::Sleep,
        unix: None,
        tls_options: TlsOptions::default(),
        tls: None,
        part: 0,
        parts: 1,
        captures: Default::default(),
        setup: None,
    }
}

#[test]
fn tls_schemes_parse_with_port_443_by_default() {
    let t = parse_target("https://localhost/x").unwrap();
    assert!(t.tls);
    assert_eq!((t.addr.port(), t.host.as_str(), t.host_header.as_str(), t.path.as_str()), (443, "localhost", "localhost", "/x"));
    let t = parse_url("wss://[::1]:9443/ws", "ws").unwrap();
    assert!(t.tls);
    assert_eq!((t.addr.port(), t.host.as_str()), (9443, "::1"));
    let t = parse_target("http://localhost/").unwrap();
    assert!(!t.tls);
    assert_eq!(t.addr.port(), 80);
    let e = parse_url("https://127.0.0.1/", "ws").unwrap_err().to_string();
    assert!(e.contains("only ws:// and wss://"), "{e}");
}

#[test]
fn a_tls_target_gets_a_client_config_and_a_plain_one_none() {
    let mut l = load(1, None, None);
    attach_tls(&parse_target("http://127.0.0.1:1/").unwrap(), &mut l).unwrap();
    assert!(l.tls.is_none());
    attach_tls(&parse_target("https://127.0.0.1:1/").unwrap(), &mut l).unwrap();
    let tls = l.tls.take().unwrap();
    assert_eq!(tls.server_name.to_str(), "127.0.0.1");
    assert_eq!(tls.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    l.tls_options.cacert = Some(PathBuf::from("/nonexistent/ca.pem"));
    let e = attach_tls(&parse_target("https://127.0.0.1:1/").unwrap(), &mut l).unwrap_err().to_string();
    assert!(e.contains("--cacert") && e.contains("/nonexistent/ca.pem"), "{e}");
    l.tls_options.cacert = None;
    l.unix = Some(PathBuf::from("/tmp/x.sock"));
    assert!(attach_tls(&parse_target("https://127.0.0.1:1/").unwrap(), &mut l).is_err());
}

#[test]
fn parts_divide_the_plan_exactly() {
    // 10 connections, 1001 requests, 300 req/s over 3 parts
    let parts: Vec<LoadConfig> = (0..3).map(|i| take_part(load(10, Some(1001), Some(300.0)), i, 3, true).unwrap()).collect();
    assert_eq!(parts.iter().map(|p| p.connections).collect::<Vec<_>>(), vec![4, 3, 3]);
    assert_eq!(parts.iter().map(|p| p.requests.unwrap()).sum::<u64>(), 1001);
    assert!(parts.iter().all(|p| p.drive.constant_rate() == Some(100.0) && p.processes == 1));
    assert_eq!(parts.iter().map(|p| p.sources[0].to_string()).collect::<Vec<_>>(), vec!["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    // CPUs split only for processes of one machine: 4 CPUs over 3 parts -> one each
    assert_eq!(parts[2].cpus, vec![2]);
    assert_eq!(parts[2].threads, 1);
    let shard = take_part(load(10, None, None), 1, 3, false).unwrap();
    assert_eq!(shard.cpus, vec![0, 1, 2, 3]);
    assert!(take_part(load(2, None, None), 2, 3, false).unwrap_err().to_string().contains("fewer parts"));
    for bad in ["3/3", "1", "a/b", "0/0"] {
        assert!(parse_part("--shard", bad).is_err(), "{bad}");
    }
    assert_eq!(parse_part("--shard", "2/5").unwrap(), (2, 5));
}

#[test]
fn targets_parse_and_resolve() {
    let t = parse_target("http://127.0.0.1:8080/a/b?c=1").unwrap();
    assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(t.host_header, "127.0.0.1:8080");
    assert_eq!(t.path, "/a/b?c=1");
    let t = parse_target("http://127.0.0.1").unwrap();
    assert_eq!((t.addr.port(), t.path.as_str()), (80, "/"));
    let t = parse_target("http://[::1]:9000?x").unwrap();
    assert_eq!((t.addr, t.path.as_str()), ("[::1]:9000".parse().unwrap(), "/?x"));
    let t = parse_target("http://localhost:81/").unwrap();
    assert!(t.addr.ip().is_loopback());
}

#[test]
fn bad_targets_are_usage_errors_that_say_what_to_do() {
    for (url, needle) in [
        ("127.0.0.1:8080", "http://HOST"),
        ("ftp://x/", "only http://"),
        ("http:///x", "no host"),
        ("http://127.0.0.1:99999/", "bad host or port"),
        ("http://u:p@127.0.0.1/", "Authorization"),
        ("http://127.0.0.1/a b", "spaces"),
    ] {
        let e = parse_target(url).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{url}");
        assert!(e.to_string().contains(needle), "{url}: {e}");
    }
}
