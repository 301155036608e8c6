//! The k6 plan of use case 003 (`examples/k6-003.toml`) run as written, shortened, against five
//! embedded servers standing in for its five services: the login's token reaches the requests,
//! each service has its own figures, checks and thresholds, and a service that is down fails
//! the run (exit 3) by name.

mod common;

use common::u;
use serde_json::Value;

const SERVICES: [(&str, &str); 5] = [
    ("knowledge", "127.0.0.1:8001"),
    ("content", "127.0.0.1:8002"),
    ("support", "127.0.0.1:8003"),
    ("analytics", "127.0.0.1:8004"),
    ("auth", "127.0.0.1:8005"),
];

/// The example plan with the servers' ports, stages of seconds instead of minutes, rates of a
/// test (10,000/s becomes 100/s) and latency limits ten times wider: a debug build on a shared
/// machine proves the plan's accounting here, not the services' latency.
fn short_plan(tag: &str, addrs: &[String]) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/k6-003.toml")).expect("the example plan");
    for ((_, port), addr) in SERVICES.iter().zip(addrs) {
        assert!(text.contains(port), "the example uses {port}");
        text = text.replace(port, addr);
    }
    for (from, to) in [
        ("duration = \"1m\"", "duration = \"1s\""),
        ("duration = \"2m\"", "duration = \"1s\""),
        ("duration = \"5m\"", "duration = \"2s\""),
        ("10000", "100"),
        ("rps>9500", "rps>80"),
        ("ms\"", "0ms\""),
        ("connections = 200", "connections = 20\nthreads = 1"),
    ] {
        assert!(text.contains(from), "the example has {from}");
        text = text.replace(from, to);
    }
    let p = std::env::temp_dir().join(format!("stampede-k6-{}-{tag}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn named<'a>(v: &'a Value, name: &str) -> &'a Value {
    let n = &v["by_name"][name];
    assert!(n.is_object(), "no request {name}: {}", v["by_name"]);
    n
}

#[test]
fn the_k6_plan_of_use_case_003_runs_against_five_services_and_names_a_broken_one() {
    let servers: Vec<_> = SERVICES.iter().map(|_| common::embedded(None, None)).collect();
    let addrs: Vec<String> = servers.iter().map(|s| s.local_addr().to_string()).collect();
    let plan = short_plan("ok", &addrs);
    let r = common::stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    // The login ran once and captured the token.
    assert_eq!(v["setup"][0]["name"], "login", "{}", v["setup"]);
    assert_eq!(v["setup"][0]["ok"], 1, "{}", v["setup"]);
    let mut sent = 0;
    for (name, _) in SERVICES {
        let n = named(&v, name);
        assert!(n["sent"].as_u64().unwrap() > 0 && n["ok"] == n["sent"], "{name}: {n}");
        assert_eq!(n["errors"], 0, "{name}: {n}");
        let checks = &n["result"]["checks"];
        assert_eq!(checks["checked"], n["ok"], "{name}: every answer checked: {checks}");
        assert_eq!(checks["passed"], n["ok"], "{name}: {checks}");
        sent += n["sent"].as_u64().unwrap();
    }
    assert_eq!(sent, u(&v, &["requests", "sent"]));
    // knowledge weighs 10 times auth (5000 : 500).
    let (k, a) = (named(&v, "knowledge")["sent"].as_u64().unwrap(), named(&v, "auth")["sent"].as_u64().unwrap());
    assert!(k >= 8 * a && k <= 12 * a, "knowledge {k}, auth {a}");
    // The token captured at login reached the requests: support's answers echo its body,
    // `"token":"{token}"`, and its check looks for the login's token there (every one passed
    // above). The embedded server has no route that refuses a missing Authorization header, so
    // the header itself is not asserted at the server.
    assert!(r.stdout.contains("captured: {token}"), "{}", r.stdout);
    let verdicts = v["thresholds"].as_array().unwrap();
    assert_eq!(verdicts.len(), 19, "{verdicts:?}");
    assert!(verdicts.iter().all(|t| t["passed"] == true), "{verdicts:?}");
    common::assert_accounted(&v);

    // The content service down (its port refuses connections): its requests fail, its
    // thresholds say so, exit 3. (A port bound and closed again: a stopped embedded server's
    // port may still complete handshakes for a while, which is a hung service, not a down one.)
    let mut servers = servers;
    servers.remove(1).stop();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let mut down = addrs.clone();
    down[1] = dead;
    let plan_down = short_plan("down", &down);
    let r = common::stampede(&["run", plan_down.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL  content.errors<1%"), "{}", r.stdout);
    assert!(r.stdout.contains("PASS  knowledge.errors<0.1%"), "{}", r.stdout);
    let v = r.json.unwrap();
    let content = named(&v, "content");
    assert_eq!(content["ok"], 0, "{content}");
    // Nothing reached it: its connections were refused (connect errors, in `content.errors`).
    assert!(content["result"]["connect_errors"]["refused"].as_u64().unwrap_or(0) > 0, "{content}");
    for p in [plan, plan_down] {
        let _ = std::fs::remove_file(p);
    }
    for s in servers {
        s.stop();
    }
}
