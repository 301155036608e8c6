//! The chat servers of tests/peers/ (issue 15 point 8) proven with a client no one here wrote
//! the server for (tests/peers/chat_client.py, Python `websockets`), and `stampede ws --rooms`
//! checked against them: the Python websockets JSON chat app (chat_server.py) and the Node `ws`
//! relay (ws_relay.js). The embedded server's JSON chat is proven by the same client.

mod common;

use common::pypeer::{chat_client, chat_peer, events, node_relay, sessions, stop};
use common::{stampede, u};
use serde_json::Value;

fn stats_file(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("stampede-chatpeers-{}-{tag}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// The frame of the `k`-th `recv` step, parsed as JSON.
fn recv(lines: &[Value], k: usize) -> Value {
    let f = lines.iter().filter(|l| l["step"] == "recv").nth(k).unwrap_or_else(|| panic!("no recv #{k}: {lines:?}"));
    serde_json::from_str(f["frame"].as_str().unwrap_or_else(|| panic!("recv #{k} got nothing: {lines:?}"))).unwrap()
}

fn step<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["step"] == name).collect()
}

/// The JSON protocol as both servers (and the embedded one) speak it: join, envelope to every
/// member, errors for a non-member and for garbage, and a member that never pongs closed 1011.
fn json_protocol_holds(port: u16, base: &str) -> Option<Vec<Value>> {
    let a = format!("ws://127.0.0.1:{port}{base}u1");
    let b = format!("ws://127.0.0.1:{port}{base}u2");
    let s = format!("ws://127.0.0.1:{port}{base}u3");
    let join = r#"{"type":"join","group_id":"g1"}"#;
    let lines = chat_client(&[
        "open",
        "a",
        &a,
        "open",
        "b",
        &b,
        "send",
        "a",
        join,
        "recv",
        "a",
        "send",
        "b",
        join,
        "recv",
        "b",
        "send",
        "a",
        r#"{"type":"message","group_id":"g1","content":"hello {x}"}"#,
        "recv",
        "a",
        "recv",
        "b",
        "send",
        "b",
        "not json",
        "recv",
        "b",
        "send",
        "b",
        r#"{"type":"message","group_id":"g9","content":"x"}"#,
        "recv",
        "b",
        "silent",
        "s",
        &s,
        "closed",
        "s",
    ])?;
    assert_eq!(recv(&lines, 0), serde_json::json!({"type": "joined", "group_id": "g1", "members": 1}), "{lines:?}");
    assert_eq!(recv(&lines, 1), serde_json::json!({"type": "joined", "group_id": "g1", "members": 2}), "{lines:?}");
    for k in [2, 3] {
        let env = recv(&lines, k);
        assert_eq!(
            (&env["type"], &env["group_id"], &env["from"], &env["content"]),
            (&"message".into(), &"g1".into(), &"u1".into(), &"hello {x}".into()),
            "{env}"
        );
        assert!(env["ts"].as_u64().unwrap() > 1_600_000_000_000, "server ms: {env}");
    }
    assert_eq!(recv(&lines, 4)["type"], "error", "{lines:?}");
    assert_eq!(recv(&lines, 5), serde_json::json!({"type": "error", "detail": "not a member of g9"}), "{lines:?}");
    let closed = step(&lines, "closed");
    assert_eq!((&closed[0]["code"], &closed[0]["reason"]), (&1011.into(), &"keepalive ping timeout".into()), "{lines:?}");
    Some(lines)
}

/// The session line of `user` (the last one).
fn of<'a>(s: &'a [Value], user: &str) -> &'a Value {
    s.iter().rev().find(|l| l["user"] == user).unwrap_or_else(|| panic!("no session of {user}: {s:?}"))
}

fn server_counts_agree(s: &[Value]) {
    let (u1, u2, u3) = (of(s, "u1"), of(s, "u2"), of(s, "u3"));
    assert_eq!((u(u1, &["frames_rcvd"]), u(u1, &["relayed"]), u(u1, &["deliveries"])), (2, 1, 1), "{u1}");
    assert_eq!((u(u2, &["frames_rcvd"]), u(u2, &["relayed"]), u(u2, &["deliveries"]), u(u2, &["errors_sent"])), (3, 0, 1, 2), "{u2}");
    assert_eq!((u(u3, &["pongs_rcvd"]), u(u3, &["close_sent"])), (0, 1011), "{u3}");
    assert!(u(u3, &["pings_sent"]) >= 1 && u(u1, &["pongs_rcvd"]) >= 1, "pings went and the client answered: {s:?}");
    assert_eq!((&u1["close_rcvd"], &u1["close_sent"]), (&1000.into(), &1000.into()), "{u1}");
}

#[test]
fn python_chat_app_speaks_the_json_protocol_and_its_http_api() {
    let stats = stats_file("py-json");
    let Some((peer, port)) = chat_peer(&["--ping-interval", "0.5", "--ping-timeout", "0.5"], &stats) else { return };
    let http = format!("http://127.0.0.1:{port}");
    let Some(lines) = chat_client(&[
        "http",
        "POST",
        &format!("{http}/groups"),
        r#"{"name":"lobby"}"#,
        "http",
        "POST",
        &format!("{http}/groups"),
        "",
        "http",
        "POST",
        &format!("{http}/login"),
        r#"{"user":"u1","password":"x"}"#,
        "http",
        "GET",
        &format!("{http}/groups/g1"),
        "",
        "http",
        "GET",
        &format!("{http}/groups/nope"),
        "",
    ]) else {
        return;
    };
    let h = step(&lines, "http");
    assert_eq!((&h[0]["status"], &h[0]["body"]), (&201.into(), &serde_json::json!({"group_id": "g1"})), "{lines:?}");
    assert_eq!(h[1]["body"]["group_id"], "g2", "{lines:?}");
    assert!(h[2]["body"]["token"].as_str().is_some_and(|t| t.len() >= 16), "{lines:?}");
    assert_eq!((&h[3]["status"], &h[3]["body"]["name"], &h[3]["body"]["members"]), (&200.into(), &"lobby".into(), &0.into()), "{lines:?}");
    assert_eq!(h[4]["status"], 404, "{lines:?}");

    json_protocol_holds(port, "/ws/").unwrap();
    server_counts_agree(&sessions(&stats, 3));
    // `/ws/chat?user=NAME` names the user too.
    let lines = chat_client(&[
        "open",
        "a",
        &format!("ws://127.0.0.1:{port}/ws/chat?user=ann"),
        "send",
        "a",
        r#"{"type":"join","group_id":"g2"}"#,
        "recv",
        "a",
        "send",
        "a",
        r#"{"type":"message","group_id":"g2","content":"hi"}"#,
        "recv",
        "a",
    ])
    .unwrap();
    assert_eq!(recv(&lines, 1)["from"], "ann", "{lines:?}");
    stop(peer);
    let summary = events(&stats, "summary", 1);
    assert_eq!(u(&summary[0], &["sessions"]), 4, "{summary:?}");
}

#[test]
fn python_chat_app_requires_a_token_when_asked() {
    let stats = stats_file("py-token");
    let Some((peer, port)) = chat_peer(&["--require-token"], &stats) else { return };
    let Some(lines) = chat_client(&["http", "POST", &format!("http://127.0.0.1:{port}/login"), r#"{"user":"u1","password":"x"}"#]) else {
        return;
    };
    let token = step(&lines, "http")[0]["body"]["token"].as_str().unwrap().to_string();
    let ws = format!("ws://127.0.0.1:{port}/ws/u1");
    let lines = chat_client(&["open401", &ws, "open401", &format!("{ws}?token=wrong"), "open401", &format!("{ws}?token={token}")]).unwrap();
    let codes: Vec<u64> = step(&lines, "open401").iter().map(|l| u(l, &["status"])).collect();
    assert_eq!(codes, [401, 401, 101], "{lines:?}");
    stop(peer);
}

/// Three members of g1; `a` sends 10 messages; the sender gets no copy (`--no-echo-self`), so
/// 20 deliveries are tried and `--drop-every 4` drops exactly 5 of them.
fn drops_are_exact(port: u16) -> Option<Vec<Value>> {
    let url = |u: &str| format!("ws://127.0.0.1:{port}/ws/{u}");
    let (a, b, c) = (url("u1"), url("u2"), url("u3"));
    let join = r#"{"type":"join","group_id":"g1"}"#;
    let mut steps: Vec<String> = Vec::new();
    for (n, u) in [("a", &a), ("b", &b), ("c", &c)] {
        steps.extend(["open", n, u, "send", n, join, "recv", n].map(String::from));
    }
    for k in 0..10 {
        steps.extend(["send".to_string(), "a".to_string(), format!(r#"{{"type":"message","group_id":"g1","content":"m{k}"}}"#)]);
    }
    steps.extend(["count", "b", "1", "count", "c", "0.5", "count", "a", "0.2"].map(String::from));
    let refs: Vec<&str> = steps.iter().map(String::as_str).collect();
    let lines = chat_client(&refs)?;
    let counts = step(&lines, "count");
    let got: Vec<u64> = counts.iter().map(|l| u(l, &["messages"])).collect();
    assert_eq!(got.iter().sum::<u64>(), 15, "20 deliveries less 5 dropped: {lines:?}");
    assert_eq!(got[2], 0, "no copy to the sender: {lines:?}");
    Some(lines)
}

#[test]
fn python_chat_app_drops_exactly_every_nth_delivery() {
    let stats = stats_file("py-drop");
    let Some((peer, port)) = chat_peer(&["--drop-every", "4", "--no-echo-self"], &stats) else { return };
    if drops_are_exact(port).is_none() {
        return;
    }
    let s = sessions(&stats, 3);
    let sum = |k: &str| s.iter().map(|l| u(l, &[k])).sum::<u64>();
    assert_eq!((sum("relayed"), sum("deliveries"), sum("dropped")), (10, 15, 5), "{s:?}");
    stop(peer);
}

#[test]
fn node_relay_speaks_the_json_protocol_and_drops_exactly() {
    let stats = stats_file("node-json");
    let Some((peer, port)) = node_relay(&["--json", "--ping-interval", "0.5", "--ping-timeout", "0.5"], &stats) else { return };
    if json_protocol_holds(port, "/ws/").is_none() {
        return;
    }
    server_counts_agree(&sessions(&stats, 3));
    stop(peer);

    let stats = stats_file("node-drop");
    let (peer, port) = node_relay(&["--json", "--drop-every", "4", "--no-echo-self"], &stats).unwrap();
    drops_are_exact(port).unwrap();
    let s = sessions(&stats, 3);
    let sum = |k: &str| s.iter().map(|l| u(l, &[k])).sum::<u64>();
    assert_eq!((sum("relayed"), sum("deliveries"), sum("dropped")), (10, 15, 5), "{s:?}");
    stop(peer);
}

/// A chat plan: `[[setup]]` tables and `[options]` as given, `rate` messages/s for `secs`
/// seconds, then a quiet second while the members keep reading: every relay of the last
/// messages arrives before the members close, however slow the server or the machine, so the
/// server's counts and stampede's agree exactly.
fn chat_plan(tag: &str, url: &str, options: &str, setup: &str, rate: &str, secs: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("stampede-chatpeers-{}-{tag}.toml", std::process::id()));
    let text = format!(
        "scenario = \"ws\"\nurl = \"{url}\"\n[options]\n{options}\n{setup}\n[[stage]]\nname = \"load\"\nduration = \"{secs}s\"\n\
         rate = {rate}\n[[stage]]\nname = \"quiet\"\nduration = \"1s\"\nrate = 0\n"
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// `stampede ws --rooms 1` with 4 members (raw relay, sender included), compared with the
/// server's own counts, exactly: members join at different times (a message sent before a
/// member joined does not reach it, and is not expected of it), so the fan-out is not 4 per
/// message, but every message stampede sent was relayed, every copy the server wrote was
/// received, each sender got its own copy back, and every copy expected arrived.
fn rooms_counts_match(port: u16, stats: &std::path::Path, tag: &str) {
    let plan = chat_plan(tag, &format!("ws://127.0.0.1:{port}/ws/chat"), "connections = 4\nthreads = 1\nrooms = 1", "", "20", "2");
    let r = stampede(&["run", plan.to_str().unwrap()]);
    let _ = std::fs::remove_file(&plan);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    let a = &v["chat"]["accounting"];
    let (sent, delivered) = (u(&v, &["chat", "messages_sent"]), u(&v, &["chat", "deliveries"]));
    let s = sessions(stats, 4);
    assert_eq!(s.len(), 4, "{s:?}");
    let sum = |k: &str| s.iter().map(|l| u(l, &[k])).sum::<u64>();
    assert!(sent >= 35, "{v}");
    assert_eq!(sum("relayed"), sent, "the server relayed every message stampede sent: {s:?} {v}");
    assert_eq!(sum("deliveries"), delivered, "stampede received every copy the server wrote: {s:?} {v}");
    assert!(delivered <= 4 * sent, "{v}");
    assert_eq!(u(a, &["self_deliveries"]), sent, "the relay sends each message back to its sender: {v}");
    assert_eq!(delivered - sent, u(a, &["delivered"]) + u(a, &["before_join"]), "{v}");
    assert_eq!(u(a, &["expected"]), u(a, &["delivered"]), "{v}");
    assert_eq!((u(a, &["lost"]), u(a, &["late"]), u(a, &["duplicated"]), u(a, &["unmarked"])), (0, 0, 0, 0), "{v}");
    for one in &s {
        assert_eq!((&one["close_rcvd"], &one["close_sent"]), (&1000.into(), &1000.into()), "{one}");
    }
}

#[test]
fn stampede_rooms_against_the_node_relay() {
    let stats = stats_file("node-rooms");
    let Some((peer, port)) = node_relay(&[], &stats) else { return };
    rooms_counts_match(port, &stats, "node-rooms");
    stop(peer);
}

#[test]
fn stampede_rooms_against_the_python_apps_raw_relay() {
    let stats = stats_file("py-rooms");
    let Some((peer, port)) = chat_peer(&[], &stats) else { return };
    rooms_counts_match(port, &stats, "py-rooms");
    stop(peer);
}

/// Use case 004's flow as a plan (issue 15 point 3): `[[setup]]` creates 4 groups through the
/// Python app's HTTP API (`POST /groups` -> `{"group_id":"g<k>"}`), then 12 members join them by
/// room (`{group_id}` of room k is the k-th captured id) and chat in them. Exact: every message
/// relayed, every copy received, every expected delivery made, none lost; the server's own
/// groups are exactly the 4 created, each with the 3 members stampede put in its room.
#[test]
fn a_plan_creates_groups_by_setup_and_members_join_them_by_room() {
    let stats = stats_file("py-setup");
    let Some((peer, port)) = chat_peer(&[], &stats) else { return };
    let options = r#"connections = 12
threads = 2
rooms = 4
on-open = ['{"type":"join","group_id":"{group_id}"}']
on-open-expect = '"joined"'
message = '{"type":"message","group_id":"{group_id}","content":"{mark} from {conn}"}'"#;
    let setup = r#"[[setup]]
name = "groups"
method = "POST"
path = "/groups"
header = ["Content-Type: application/json"]
body = '{"name":"room-{seq}"}'
count = 4
capture = { group_id = "/group_id" }"#;
    let plan = chat_plan("py-setup", &format!("ws://127.0.0.1:{port}/ws/u{{conn}}"), options, setup, "{ from = 10, to = 30 }", "2");
    let r = stampede(&["run", plan.to_str().unwrap(), "--threshold", "delivered>=100%"]);
    let _ = std::fs::remove_file(&plan);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("captured: {group_id} (4 values)"), "{}", r.stdout);
    let v = r.json.unwrap();
    assert_eq!((&v["setup"][0]["ok"], &v["setup"][0]["failed"]), (&4.into(), &0.into()), "{v}");
    let a = &v["chat"]["accounting"];
    let sent = u(&v, &["chat", "messages_sent"]);
    assert!(sent >= 35, "a ramp from 10 to 30/s over 2 s: 40 messages: {v}");
    let s = sessions(&stats, 12);
    assert_eq!(s.len(), 12, "{s:?}");
    let sum = |k: &str| s.iter().map(|l| u(l, &[k])).sum::<u64>();
    assert_eq!(sum("errors_sent"), 0, "every join named a group and every message a group its sender is in: {s:?}");
    assert_eq!(sum("relayed"), sent, "{s:?} {v}");
    assert_eq!(sum("deliveries"), u(&v, &["chat", "deliveries"]), "every copy the app wrote was received: {s:?} {v}");
    assert_eq!(u(a, &["self_deliveries"]), sent, "the app echoes to the sender: {v}");
    assert_eq!(sum("deliveries") - sent, u(a, &["delivered"]) + u(a, &["before_join"]), "{v}");
    assert_eq!(u(a, &["expected"]), u(a, &["delivered"]), "{v}");
    assert!(u(a, &["expected"]) <= 2 * sent, "2 others in each group: {v}");
    assert_eq!((u(a, &["lost"]), u(a, &["late"]), u(a, &["duplicated"]), u(a, &["unmarked"])), (0, 0, 0, 0), "{v}");
    stop(peer);
    let summary = events(&stats, "summary", 1);
    let groups = summary[0]["groups"].as_object().unwrap_or_else(|| panic!("{summary:?}"));
    let peaks: Vec<(&str, u64)> = groups.iter().map(|(k, n)| (k.as_str(), n.as_u64().unwrap())).collect();
    assert_eq!(peaks, [("g1", 3), ("g2", 3), ("g3", 3), ("g4", 3)], "the created groups, 3 members each (12 in 4 rooms): {summary:?}");
}

#[test]
fn chat_plans_take_rate_stages_and_name_what_works() {
    let plan = chat_plan("refuse", "ws://127.0.0.1:1/ws/chat", "rooms = 2", "", "5", "1").with_extension("ramp.toml");
    std::fs::write(
        &plan,
        "scenario = \"ws\"\nurl = \"ws://127.0.0.1:1/ws/chat\"\n[options]\nrooms = 2\n[[stage]]\nduration = \"1s\"\nconnections = { from = 2, to = 8 }\n",
    )
    .unwrap();
    let r = common::stampede_raw(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("take rate stages") && r.stderr.contains("one count"), "{}", r.stderr);
    // A captured name misspelt in a chat template is refused before anything is sent (the setup
    // would go to port 1).
    let setup = "[[setup]]\nname = \"groups\"\npath = \"/groups\"\ncapture = { group_id = \"/group_id\" }";
    let typo = chat_plan("typo", "ws://127.0.0.1:1/ws/chat", "rooms = 2\non-open = ['{\"group_id\":\"{grup_id}\"}']", setup, "5", "1");
    let r = common::stampede_raw(&["run", typo.to_str().unwrap()]);
    let _ = (std::fs::remove_file(&plan), std::fs::remove_file(&typo));
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("{grup_id} is not a placeholder") && r.stderr.contains("group_id"), "{}", r.stderr);
}

fn embedded_chat(ping: Option<std::time::Duration>) -> stampede::server::ServerHandle {
    let chat = stampede::server::ChatSettings { ping_interval: ping, ping_timeout: ping.unwrap_or(std::time::Duration::from_secs(20)) };
    stampede::server::start(&stampede::server::ServeConfig { chat, ..common::loopback() }).expect("embedded server starts")
}

#[test]
fn embedded_server_speaks_the_same_json_protocol() {
    // One worker thread (groups live per worker), pings every 0.5 s, 0.5 s for the pong.
    let srv = embedded_chat(Some(std::time::Duration::from_millis(500)));
    let port = srv.local_addr().port();
    if json_protocol_holds(port, "/ws/").is_none() {
        return;
    }
    // `/ws/chat/json?user=NAME`, a leave, and a message after it is refused.
    let lines = chat_client(&[
        "open",
        "a",
        &format!("ws://127.0.0.1:{port}/ws/chat/json?user=ann"),
        "send",
        "a",
        r#"{"type":"join","group_id":7}"#,
        "recv",
        "a",
        "send",
        "a",
        r#"{"type":"message","group_id":"7","content":{"nested":[1,2]}}"#,
        "recv",
        "a",
        "send",
        "a",
        r#"{"type":"leave","group_id":"7"}"#,
        "recv",
        "a",
        "send",
        "a",
        r#"{"type":"message","group_id":"7","content":"late"}"#,
        "recv",
        "a",
        "sleep",
        "1.2",
        "send",
        "a",
        "[1]",
        "recv",
        "a",
    ])
    .unwrap();
    assert_eq!(recv(&lines, 0), serde_json::json!({"type": "joined", "group_id": "7", "members": 1}), "{lines:?}");
    let env = recv(&lines, 1);
    assert_eq!((&env["from"], &env["content"]), (&"ann".into(), &serde_json::json!({"nested": [1, 2]})), "{env}");
    assert_eq!(recv(&lines, 2), serde_json::json!({"type": "left", "group_id": "7", "members": 0}), "{lines:?}");
    assert_eq!(recv(&lines, 3), serde_json::json!({"type": "error", "detail": "not a member of 7"}), "{lines:?}");
    // websockets answered the server's pings while it slept: still a member, still answered.
    assert_eq!(recv(&lines, 4)["type"], "error", "{lines:?}");
    srv.stop();
}

#[test]
fn stampede_rooms_keep_up_with_the_embedded_servers_pings() {
    // The raw rooms with a 0.5 s keepalive: stampede's members answer every ping, so nobody is
    // closed with 1011 and every message still reaches the 4 members of its room.
    let srv = embedded_chat(Some(std::time::Duration::from_millis(500)));
    let url = format!("ws://{}/ws/chat", srv.local_addr());
    let r = stampede(&["ws", &url, "-c", "4", "-t", "1", "--rooms", "1", "-R", "20", "-d", "2s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    let (sent, delivered) = (u(&v, &["chat", "messages_sent"]), u(&v, &["chat", "deliveries"]));
    assert!(sent >= 35 && delivered <= 4 * sent && delivered + 8 >= 4 * sent, "{delivered} of {}: {v}", 4 * sent);
    assert!(!r.stdout.contains("1011"), "{}", r.stdout);
    srv.stop();
}

#[test]
fn python_chat_app_closes_members_with_the_code_asked() {
    let stats = stats_file("py-close");
    let Some((peer, port)) = chat_peer(&["--close-after-ms", "300", "--close-code", "1013"], &stats) else { return };
    let Some(lines) = chat_client(&["open", "a", &format!("ws://127.0.0.1:{port}/ws/u1"), "closed", "a"]) else { return };
    assert_eq!(step(&lines, "closed")[0]["code"], 1013, "{lines:?}");
    let s = sessions(&stats, 1);
    assert_eq!((&s[0]["close_sent"], &s[0]["close_rcvd"]), (&1013.into(), &1013.into()), "the client answered the close: {s:?}");
    stop(peer);
}
