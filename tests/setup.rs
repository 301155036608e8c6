//! A plan's `[[setup]]` phase end to end: a login whose token an independent server (hyper)
//! then demands in the load's Authorization header; a list of created groups handed out by
//! `{conn}`; a setup run once for a `--processes` run; failures that stop the run with exit 1
//! naming the request and why; the embedded server's /echo as a capture source.

mod common;

use std::collections::BTreeSet;

use common::{hyper_app, stampede, u};

fn write_plan(tag: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("stampede-setup-{}-{tag}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

const LOGIN: &str = r#"
[[setup]]
name = "login"
method = "POST"
path = "/login"
header = ["Content-Type: application/json"]
body = '{"user":"alice","password":"PASSWORD"}'
capture = { token = "/token" }
"#;

const STAGE: &str = "\n[[stage]]\nduration = \"1s\"\nrate = 60\n";

fn login_plan(origin: &str, password: &str, pointer: &str) -> String {
    format!(
        "scenario = \"http\"\nurl = \"{origin}/private/data\"\n\n[options]\nconnections = 4\nheader = [\"Authorization: Bearer {{token}}\"]\n{}{STAGE}",
        LOGIN.replace("PASSWORD", password).replace("/token", pointer)
    )
}

#[test]
fn a_login_token_goes_into_the_load_header_and_the_server_accepts_it() {
    let (addr, app) = hyper_app::start();
    let plan = write_plan("login", &login_plan(&format!("http://{addr}"), "x", "/token"));
    let r = stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let v = r.json.expect("json");
    assert!(u(&v, &["status", "200"]) >= 50, "{v}");
    assert_eq!(u(&v, &["status", "401"]), 0, "every load request carried the token: {v}");
    let private = app.seen("/private");
    assert_eq!(private.len() as u64, u(&v, &["status", "200"]));
    assert!(private.iter().all(|s| s.authorization.as_deref() == Some("Bearer tok-alice")));
    assert_eq!(app.seen("/login").len(), 1, "the setup ran once");
    let setup = &v["setup"][0];
    assert_eq!((setup["name"].as_str(), u(setup, &["ok"]), u(setup, &["failed"])), (Some("login"), 1, 0), "{v}");
    assert_eq!(u(setup, &["captured", "token"]), 1);
    assert!(setup["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(r.stdout.contains("Setup\n  login") && r.stdout.contains("captured: {token}"), "{}", r.stdout);
    // `run --check` shows the setups and sends nothing.
    let r = common::stampede_raw(&["run", plan.to_str().unwrap(), "--check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&format!("setup login POST http://{addr}/login, capture {{token}} = /token")), "{}", r.stdout);
    assert!(r.stdout.contains("stage stage-1 1s: constant rate 60/s"), "{}", r.stdout);
    assert_eq!(app.seen("/login").len(), 1, "--check sends nothing");
}

#[test]
fn a_failed_setup_stops_the_run_with_exit_1_naming_the_request_and_why() {
    let (addr, app) = hyper_app::start();
    let origin = format!("http://{addr}");
    for (tag, password, pointer, want) in [
        ("401", "wrong", "/token", r#"setup "login": 401 from POST /login"#),
        ("pointer", "x", "/nope", r#"setup "login": capture token: /nope not in the answer"#),
    ] {
        let plan = write_plan(tag, &login_plan(&origin, password, pointer));
        let r = stampede(&["run", plan.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{tag}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{tag}: {}", r.stderr);
        assert!(r.stdout.contains("0 of 1 ok, 1 failed"), "{tag}: the setup is reported: {}", r.stdout);
    }
    assert!(app.seen("/private").is_empty(), "no load after a failed setup");
    // A refused connection is a failure too, and max_failed lets some through.
    let text = "scenario = \"http\"\nurl = \"http://127.0.0.1:1/\"\n[[setup]]\nname = \"warm\"\npath = \"/\"\ncount = 3\nmax_failed = 2\n"
        .to_string()
        + STAGE;
    let r = stampede(&["run", write_plan("refused", &text).to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(r#"setup "warm": refused on GET / (request 3 of 3); more than max_failed = 2"#), "{}", r.stderr);
}

#[test]
fn a_list_capture_is_handed_out_by_conn_round_robin() {
    let (addr, app) = hyper_app::start();
    let text = format!(
        "scenario = \"http\"\nurl = \"http://{addr}/g/{{group_id}}?c={{conn}}\"\n\n[options]\nconnections = 6\nthreads = 2\n\n\
         [[setup]]\nname = \"groups\"\nmethod = \"POST\"\npath = \"/groups\"\ncount = 4\nrate = 200\ncapture = {{ group_id = \"/group_id\" }}\n{STAGE}"
    );
    let r = stampede(&["run", write_plan("groups", &text).to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v["setup"][0], &["captured", "group_id"]), 4, "{v}");
    let seen = app.seen("/g/");
    assert!(seen.len() >= 50, "{}", seen.len());
    let mut groups = BTreeSet::new();
    for s in &seen {
        let (group, conn) = s.target["/g/".len()..].split_once("?c=").unwrap();
        let conn: u64 = conn.parse().unwrap();
        assert_eq!(group, format!("grp-{}", conn % 4 + 1), "connection k gets value k mod 4");
        groups.insert(group.to_string());
    }
    assert_eq!(groups.len(), 4, "{groups:?}");
}

#[test]
fn a_split_run_sets_up_once_and_every_process_uses_the_captures() {
    let (addr, app) = hyper_app::start();
    let text = login_plan(&format!("http://{addr}"), "x", "/token");
    let r = stampede(&["run", write_plan("split", &text).to_str().unwrap(), "--processes", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    assert_eq!(app.seen("/login").len(), 1, "the parent logs in once");
    assert_eq!(u(&v, &["status", "401"]), 0, "{v}");
    assert!(u(&v, &["status", "200"]) >= 50, "{v}");
    assert_eq!(u(&v["setup"][0], &["ok"]), 1, "{v}");
}

#[test]
fn the_embedded_echo_answers_a_capture_and_bad_setups_are_usage_errors() {
    let srv = common::embedded(None, None);
    let text = format!(
        "scenario = \"http\"\nurl = \"http://{}/echo\"\n[options]\nmethod = \"POST\"\nbody = '{{\"t\":\"{{token}}\"}}'\n\
         [[setup]]\nname = \"login\"\nmethod = \"POST\"\npath = \"/echo\"\nbody = '{{\"token\":\"abc{{seq}}\"}}'\ncapture = {{ token = \"/token\" }}\n{STAGE}",
        srv.local_addr()
    );
    let r = stampede(&["run", write_plan("echo", &text).to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("1 of 1 ok"), "{}", r.stdout);
    for (bad, want) in [
        ("capture = { seq = \"/a\" }", "built-in placeholder"),
        ("capture = { t = \"token\" }", "starts with /"),
        ("count = 0", "count: must be between 1"),
    ] {
        let text =
            format!("scenario = \"http\"\nurl = \"http://{}/\"\n[[setup]]\nname = \"s\"\npath = \"/\"\n{bad}\n{STAGE}", srv.local_addr());
        let r = stampede(&["run", write_plan("bad", &text).to_str().unwrap()]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains(want) && r.stderr.contains("line 6"), "{bad}: {}", r.stderr);
    }
    srv.stop();
}
