//! Dynamic HTTP requests end to end, checked at an independent server (hyper, which frames
//! every body by its Content-Length): `{seq}` distinct across connections, workers and
//! processes; `{conn}` the run's global connection index; `--data` rows all used, in order or
//! at random; bad CSV files and unknown columns refused with the file and line.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{hyper_app, stampede, u, url};

fn temp_csv(tag: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("stampede-data-{}-{tag}.csv", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

/// `key=value` pairs of a request target's query.
fn query(target: &str) -> HashMap<String, String> {
    let q = target.split_once('?').map_or("", |(_, q)| q);
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn seq_is_distinct_at_the_server_and_bodies_carry_their_length() {
    for (tag, extra, n) in [
        ("one process", vec!["-c", "4", "-t", "2", "--pipeline", "4"], 600u64),
        ("two processes", vec!["-c", "4", "-t", "1", "--processes", "2"], 300),
    ] {
        let (addr, app) = hyper_app::start();
        let target = url(addr, "/items/{seq}?c={conn}&r={rand:1:5}");
        let body = r#"{"n":{seq},"id":"{uuid}","pad":"{payload:300}"}"#;
        let n_text = n.to_string();
        let mut args = vec!["http", &target, "-m", "POST", "-H", "X-Seq: {seq}", "--body", body, "-n", &n_text];
        args.extend(extra.iter().copied());
        let r = stampede(&args);
        assert_eq!(r.code, 0, "{tag}: {}\n{}", r.stderr, r.stdout);
        let v = r.json.expect("json");
        assert_eq!(u(&v, &["status", "200"]), n, "{tag}: {v}");
        let seen = app.seen("/items/");
        assert_eq!(seen.len() as u64, n, "{tag}");
        let mut seqs = BTreeSet::new();
        let mut conns = BTreeSet::new();
        for s in &seen {
            let seq: u64 = s.target["/items/".len()..].split('?').next().unwrap().parse().unwrap();
            assert!(seqs.insert(seq), "{tag}: {{seq}} {seq} sent twice");
            let q = query(&s.target);
            conns.insert(q["c"].clone());
            assert!((1..=5).contains(&q["r"].parse::<u32>().unwrap()), "{tag}: {}", s.target);
            let header = s.headers.iter().find(|(n, _)| n == "x-seq").map(|(_, v)| v.clone());
            assert_eq!(header, Some(seq.to_string()), "{tag}: the header has the request's own {{seq}}");
            let json: serde_json::Value = serde_json::from_slice(&s.body).expect("the body is whole JSON");
            assert_eq!(json["n"], seq, "{tag}");
            assert_eq!(json["pad"].as_str().unwrap().len(), 300);
            assert_eq!(json["id"].as_str().unwrap().len(), 36);
            let len = s.headers.iter().find(|(n, _)| n == "content-length").map(|(_, v)| v.parse::<usize>().unwrap());
            assert_eq!(len, Some(s.body.len()), "{tag}");
        }
        assert_eq!(seqs, (1..=n).collect(), "{tag}: {{seq}} runs 1..={n}, none skipped");
        let want: BTreeSet<String> = (0..4).map(|c| c.to_string()).collect();
        assert_eq!(conns, want, "{tag}: {{conn}} is the run's connection index 0..4, across workers and processes");
    }
}

#[test]
fn csv_rows_are_all_used_by_one_or_two_workers_or_at_random() {
    let rows: Vec<String> = (0..30).map(|i| format!("user{i:02}")).collect();
    let csv = temp_csv("users", &format!("user,pass\n{}\n", rows.iter().map(|r| format!("{r},pw-{r}")).collect::<Vec<_>>().join("\n")));
    for (tag, extra) in [
        ("1 worker", vec!["-c", "1", "-t", "1"]),
        ("2 workers", vec!["-c", "4", "-t", "2"]),
        ("2 processes", vec!["-c", "2", "--processes", "2"]),
    ] {
        let (addr, app) = hyper_app::start();
        let target = url(addr, "/u/{user}");
        let mut args = vec![
            "http",
            &target,
            "-m",
            "POST",
            "--body",
            r#"{"user":"{user}","pass":"{pass}"}"#,
            "--data",
            csv.to_str().unwrap(),
            "-n",
            "30",
        ];
        args.extend(extra.iter().copied());
        let r = stampede(&args);
        assert_eq!(r.code, 0, "{tag}: {}", r.stderr);
        let seen = app.seen("/u/");
        let mut users: Vec<String> = seen.iter().map(|s| s.target["/u/".len()..].to_string()).collect();
        for s in &seen {
            let json: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            assert_eq!(format!("/u/{}", json["user"].as_str().unwrap()), s.target, "{tag}: one row per request");
            assert_eq!(json["pass"].as_str().unwrap(), format!("pw-{}", json["user"].as_str().unwrap()));
        }
        if tag == "1 worker" {
            assert_eq!(users, rows, "{tag}: one worker goes through the rows in file order");
        }
        users.sort();
        assert_eq!(users, rows, "{tag}: 30 requests use each of the 30 rows once");
    }
    // At random: every value is a row's, and the order is not the file's.
    let (addr, app) = hyper_app::start();
    let target = url(addr, "/u/{user}");
    let r = stampede(&["http", &target, "--data", csv.to_str().unwrap(), "--data-order", "random", "-n", "300", "-c", "1", "-t", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let users: Vec<String> = app.seen("/u/").iter().map(|s| s.target["/u/".len()..].to_string()).collect();
    assert_eq!(users.len(), 300);
    assert!(users.iter().all(|x| rows.contains(x)), "{users:?}");
    let distinct: BTreeSet<&String> = users.iter().collect();
    assert!(distinct.len() > 20, "random rows cover the file: {}", distinct.len());
    assert_ne!(&users[..30], &rows[..], "random order is not the file's order");
    let _ = std::fs::remove_file(csv);
}

#[test]
fn bad_csv_files_and_unknown_columns_are_refused_with_the_file_and_line() {
    let srv = common::embedded(None, None);
    let target = url(srv.local_addr(), "/u/{user}");
    let bad = temp_csv("bad", "user,pass\nalice,a\nbob\n");
    let r = stampede(&["http", &target, "--data", bad.to_str().unwrap(), "-n", "5"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{}:3:", bad.display())), "names file:line: {}", r.stderr);
    let good = temp_csv("good", "user,pass\nalice,a\n");
    let typo = url(srv.local_addr(), "/u/{usr}");
    let r = stampede(&["http", &typo, "--data", good.to_str().unwrap(), "-n", "5"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("{usr}") && r.stderr.contains("columns user, pass"), "{}", r.stderr);
    let r = stampede(&["http", &target, "--data", good.to_str().unwrap(), "--data-order", "shuffle", "-n", "5"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = stampede(&["http", &url(srv.local_addr(), "/{rand:9:1}"), "-n", "5"]);
    assert!(r.code == 2 && r.stderr.contains("MIN is above MAX"), "{}", r.stderr);
    // Without placeholders the request is sent as typed, braces and all.
    let r = stampede(&["http", &url(srv.local_addr(), "/echo"), "-m", "POST", "--body", "{user}", "-n", "5"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    srv.stop();
    let _ = std::fs::remove_file(bad);
    let _ = std::fs::remove_file(good);
}

/// A line server written here: records each line it reads, answers it back.
fn line_server() -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&lines);
    std::thread::spawn(move || {
        for sock in listener.incoming().take(64).flatten() {
            let seen = std::sync::Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut out = sock.try_clone().unwrap();
                for line in std::io::BufReader::new(sock).lines().take(100_000) {
                    let Ok(line) = line else { break };
                    seen.lock().unwrap().push(line.clone());
                    if out.write_all(format!("{line}\n").as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, lines)
}

#[test]
fn raw_conn_is_the_runs_connection_index_across_processes() {
    let (addr, lines) = line_server();
    let target = format!("tcp://{addr}");
    let r = stampede(&[
        "raw",
        &target,
        "--message",
        "c={conn} s={seq}",
        "--seq",
        "--expect",
        "s={seq}",
        "-n",
        "80",
        "-c",
        "4",
        "-t",
        "1",
        "--processes",
        "2",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 80);
    let conns: BTreeSet<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(conns, BTreeSet::from(["c=0", "c=1", "c=2", "c=3"]), "{{conn}} unique over the two processes");
}

/// `{payload:N}` is the template engine's, wherever it is written: `--body` and a plan stage's
/// own `body` (the throttle preset's payload phase) send byte for byte the body the engine
/// renders (its filler, `[a-z0-9]` repeating), with its Content-Length, as seen by hyper.
#[test]
fn a_payload_body_is_the_template_engines_on_the_command_line_and_in_a_stage() {
    let (addr, app) = hyper_app::start();
    let body = r#"{"data":"{payload:1MB}","tail":"{payload:3}"}"#;
    let filler = |n: usize| b"abcdefghijklmnopqrstuvwxyz0123456789".iter().copied().cycle().take(n).collect::<Vec<u8>>();
    let want = [&b"{\"data\":\""[..], &filler(1_000_000), b"\",\"tail\":\"", &filler(3), b"\"}"].concat();
    let cli = url(addr, "/cli");
    let r =
        stampede(&["http", &cli, "-m", "POST", "--body", body, "-H", "Content-Type: application/json", "-n", "3", "-c", "1", "-t", "1"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let plan = std::env::temp_dir().join(format!("stampede-payload-{}.toml", std::process::id()));
    let text = format!(
        "scenario = \"http\"\nurl = \"{}\"\n[options]\nthreads = 1\n[[stage]]\nname = \"big\"\nduration = \"1s\"\nconnections = 1\n\
         method = \"POST\"\npath = \"/stage\"\nheaders = [\"Content-Type: application/json\"]\nbody = '{body}'\n",
        url(addr, "/")
    );
    std::fs::write(&plan, text).unwrap();
    let r = stampede(&["run", plan.to_str().unwrap()]);
    let _ = std::fs::remove_file(&plan);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    for path in ["/cli", "/stage"] {
        let seen = app.seen(path);
        assert!(!seen.is_empty(), "{path}");
        for s in &seen {
            assert_eq!((s.method.as_str(), s.body.len()), ("POST", want.len()), "{path}");
            assert!(s.body == want, "{path}: the body differs from the template's rendering");
            let len = s.headers.iter().find(|(n, _)| n == "content-length").map(|(_, v)| v.clone());
            assert_eq!(len, Some(want.len().to_string()), "{path}");
        }
    }
    // a stage's request is encoded once: a per-request placeholder in it is refused
    let plan = std::env::temp_dir().join(format!("stampede-payload-seq-{}.toml", std::process::id()));
    let text =
        format!("scenario = \"http\"\nurl = \"{}\"\n[[stage]]\nduration = \"1s\"\nconnections = 1\nbody = 'n={{seq}}'\n", url(addr, "/"));
    std::fs::write(&plan, text).unwrap();
    let r = common::stampede_raw(&["run", plan.to_str().unwrap()]);
    let _ = std::fs::remove_file(&plan);
    assert_eq!(r.code, 2, "{}\n{}", r.stderr, r.stdout);
    assert!(r.stderr.contains("rendered once") || r.stderr.contains("encoded once"), "{}", r.stderr);
}
