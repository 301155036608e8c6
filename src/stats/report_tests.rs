use super::*;
use crate::stats::ErrorClass;

const MS: u64 = 1_000_000;

fn meta(rate: Option<f64>, cpu: f64) -> RunMeta {
    RunMeta {
        scenario: "http".into(),
        target: "http://127.0.0.1:8080/".into(),
        driver: "io_uring".into(),
        threads: 2,
        connections: 10,
        pipeline: 1,
        duration_s: 10.0,
        target_rate: rate,
        cpu_user_s: cpu * 0.7,
        cpu_sys_s: cpu * 0.3,
        interrupted: false,
        started_unix_ms: 1_700_000_000_000,
        rss_start: 0,
        rss_peak: 0,
        audio_conversion: None,
        pacing: None,
        pacing_polled_s: 0.0,
    }
}

fn shard(n: u64, late_ns: u64) -> Shard {
    let mut s = Shard::new();
    s.on_connect(MS);
    s.on_connect_error(ErrorClass::Refused);
    s.on_close_code(Some(1001));
    s.on_close_code(None);
    for i in 0..n {
        let intended = i * MS;
        s.on_sent(1, 80);
        if i % 100 == 7 {
            s.on_request_error(ErrorClass::Reset, 1);
        } else {
            s.on_response(if i % 10 == 0 { 503 } else { 200 }, intended, intended + late_ns, intended + late_ns + 2 * MS);
            s.on_bytes_read(120);
        }
    }
    s.on_sent(2, 160);
    s
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

#[test]
fn json_has_every_documented_key() {
    let r = RunResult::new(meta(Some(1000.0), 1.0), shard(10_000, 0));
    let v = r.to_json();
    for key in [
        "schema",
        "scenario",
        "target",
        "driver",
        "threads",
        "pipeline",
        "duration_s",
        "interrupted",
        "loop",
        "requests.total",
        "requests.ok",
        "requests.errors",
        "requests.sent",
        "requests.in_flight",
        "rate.achieved_per_s",
        "rate.target_per_s",
        "latency_ms.min",
        "latency_ms.mean",
        "latency_ms.p50",
        "latency_ms.p90",
        "latency_ms.p99",
        "latency_ms.p999",
        "latency_ms.p9999",
        "latency_ms.max",
        "service_latency_ms.p50",
        "service_latency_ms.p99",
        "service_latency_ms.max",
        "send_lateness_ms.p50",
        "send_lateness_ms.p99",
        "send_lateness_ms.max",
        "connect_ms.p50",
        "connect_ms.p99",
        "connect_ms.max",
        "status.200",
        "status.503",
        "non_2xx_3xx",
        "close_codes.1001",
        "close_codes.none",
        "errors.refused",
        "errors.reset",
        "connections.planned",
        "connections.attempted",
        "connections.established",
        "connections.peak_open",
        "connections.mean_open",
        "bytes.read",
        "bytes.written",
        "generator.cpu_user_s",
        "generator.cpu_sys_s",
        "generator.cpu_us_per_request",
        "generator.cpu_busy",
        "generator.saturated",
        "generator.saturation_reasons",
        "histograms.corrected",
        "histograms.service",
        "histograms.lateness",
        "histograms.connect",
    ] {
        assert!(!at(&v, key).is_null(), "missing {key}");
    }
    assert_eq!(v["schema"], SCHEMA);
    assert_eq!(at(&v, "requests.sent").as_u64(), Some(10_002));
    assert_eq!(
        at(&v, "requests.ok").as_u64().unwrap()
            + at(&v, "requests.errors").as_u64().unwrap()
            + at(&v, "requests.in_flight").as_u64().unwrap(),
        10_002
    );
    assert_eq!(at(&v, "status.503").as_u64(), Some(1000));
    assert_eq!(at(&v, "non_2xx_3xx").as_u64(), Some(1000));
    assert_eq!(at(&v, "errors.reset").as_u64(), Some(100));
    // closed loop: no target rate, no lateness
    let closed = RunResult::new(meta(None, 1.0), shard(100, 0)).to_json();
    assert!(at(&closed, "rate.target_per_s").is_null());
    assert!(at(&closed, "send_lateness_ms").is_null());
}

#[test]
fn json_round_trip_is_exact() {
    let r = RunResult::new(meta(Some(1000.0), 2.0), shard(5000, 3 * MS));
    let back = RunResult::from_json(&r.to_json()).unwrap();
    assert_eq!(back.meta, r.meta);
    for q in [0.0, 0.5, 0.99, 0.9999, 1.0] {
        assert_eq!(back.shard.corrected.value_at_quantile(q), r.shard.corrected.value_at_quantile(q));
        assert_eq!(back.shard.lateness.value_at_quantile(q), r.shard.lateness.value_at_quantile(q));
    }
    assert_eq!(back.shard.corrected.len(), r.shard.corrected.len());
    assert_eq!(
        (back.shard.sent, back.shard.responses, back.shard.failed, back.shard.in_flight),
        (r.shard.sent, r.shard.responses, r.shard.failed, r.shard.in_flight)
    );
    assert_eq!(back.shard.errors, r.shard.errors);
    assert_eq!(back.shard.status[..], r.shard.status[..]);
    assert_eq!(back.to_json(), r.to_json());
    assert!(RunResult::from_json(&serde_json::json!({"schema": "other"})).is_err());
}

#[test]
fn shards_of_one_run_merge_to_the_whole() {
    // The same events, split over three "processes", written as JSON and merged back.
    let events = |keep: &dyn Fn(u64) -> bool| {
        let mut s = Shard::new();
        for i in (0..30_000u64).filter(|i| keep(*i)) {
            s.on_sent(1, 80);
            s.on_response(200, i * MS, i * MS + 10, i * MS + (i % 997 + 1) * 10_000);
        }
        s
    };
    let whole = RunResult::new(meta(None, 3.0), events(&|_| true));
    let mut parts = (0..3).map(|k| RunResult::from_json(&RunResult::new(meta(None, 1.0), events(&|i| i % 3 == k)).to_json()).unwrap());
    let mut merged = parts.next().unwrap();
    for p in parts {
        merged.merge(&p).unwrap();
    }
    for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(merged.shard.corrected.value_at_quantile(q), whole.shard.corrected.value_at_quantile(q), "q {q}");
    }
    assert_eq!(merged.shard.responses, 30_000);
    assert_eq!((merged.meta.threads, merged.meta.connections), (6, 30));
    assert!((merged.meta.cpu_user_s + merged.meta.cpu_sys_s - 3.0).abs() < 1e-9);
    let mut other = meta(None, 1.0);
    other.target = "http://elsewhere/".into();
    assert!(merged.merge(&RunResult::new(other, Shard::new())).unwrap_err().contains("different plans"));
}

#[test]
fn saturation_decisions() {
    let healthy = RunResult::new(meta(Some(1000.0), 2.0), shard(10_000, 0)).saturation();
    assert!(!healthy.saturated, "{healthy:?}");
    assert!((healthy.cpu_busy - 0.1).abs() < 1e-9);
    let busy = RunResult::new(meta(None, 19.0), shard(10_000, 0)).saturation();
    assert!(busy.saturated && busy.reasons[0].contains("95%"), "{busy:?}");
    let late = RunResult::new(meta(Some(1000.0), 1.0), shard(10_000, 50 * MS)).saturation();
    assert!(late.saturated && late.reasons.iter().any(|r| r.contains("late")), "{late:?}");
    let short = RunResult::new(meta(Some(5000.0), 1.0), shard(10_000, 0)).saturation();
    assert!(short.saturated && short.reasons.iter().any(|r| r.contains("asked for")), "{short:?}");
}

#[test]
fn cpu_spent_polling_for_send_times_is_not_called_saturation_and_is_named() {
    // 19 s of 20 thread-seconds, 15 of them polling for near send times, no late sends
    let mut m = meta(Some(1000.0), 19.0);
    m.pacing_polled_s = 15.0;
    let r = RunResult::new(m, shard(10_000, 0));
    let sat = r.saturation();
    assert!(!sat.saturated, "{sat:?}");
    assert!((sat.cpu_busy - 0.2).abs() < 1e-9, "{sat:?}");
    let t = r.render_text();
    assert!(t.contains("= 95% of 2 thread(s) (15.00s of it polling for send times)"), "{t}");
    // the JSON carries it and reads back
    let back = RunResult::from_doc(&r.to_doc()).unwrap();
    assert_eq!(back.meta.pacing_polled_s, 15.0);
    // without polling, the same CPU is saturation
    assert!(RunResult::new(meta(Some(1000.0), 19.0), shard(10_000, 0)).saturation().saturated);
}

#[test]
fn text_report_shows_the_key_figures() {
    let t = RunResult::new(meta(Some(1000.0), 1.0), shard(10_000, 0)).render_text();
    for needle in [
        "open loop at 1,000 req/s",
        "corrected",
        "service",
        "send late",
        "503: 1000",
        "reset: 100",
        "refused: 1",
        "driver io_uring",
        "µs CPU per request",
        "in flight",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
    let closed = RunResult::new(meta(None, 19.0), shard(100, 0)).render_text();
    assert!(closed.contains("closed loop: latency = service time"), "{closed}");
    assert!(closed.contains("WARNING"), "{closed}");
    let mut m = meta(None, 1.0);
    m.interrupted = true;
    assert!(RunResult::new(m, shard(10, 0)).render_text().contains("INTERRUPTED"));
}

#[test]
fn live_line_and_human_units() {
    let mut s = shard(1000, 0);
    let mut acc = crate::stats::timeline::SecondAcc::new(3);
    acc.add_interval(&s.take_interval());
    assert_eq!(acc.ok, s.responses);
    let line = live_line(&acc.finish());
    assert!(line.contains("req/s") && line.contains("p99"), "{line}");
    assert_eq!(human(1500.0), "1.50µs");
    assert_eq!(human(2.5e6), "2.50ms");
    assert_eq!(human(3e9), "3.00s");
}

#[test]
fn accounting_shows_the_equation_and_flags_a_gap() {
    // shard(10_000): 9_900 answered, 100 reset, and 2 more sent at the end.
    let r = RunResult::new(meta(None, 1.0), shard(10_000, 0));
    let t = r.render_text();
    assert!(t.contains("Accounting  10002 sent = 9900 ok + 100 errors + 2 in flight\n"), "{t}");
    let v = r.to_json();
    for (key, n) in [("sent", 10_002), ("ok", 9_900), ("errors", 100), ("in_flight", 2)] {
        assert_eq!(at(&v, &format!("accounting.{key}")).as_u64(), Some(n), "{key}");
    }
    assert_eq!(at(&v, "accounting.balanced"), &Value::Bool(true));
    // A shard whose counters do not add up (a bug) is shown as such, never hidden.
    let mut s = shard(10, 0);
    s.in_flight += 3;
    let r = RunResult::new(meta(None, 1.0), s);
    assert!(r.render_text().contains("UNBALANCED: 15 counted for 12 sent"), "{}", r.render_text());
    assert_eq!(at(&r.to_json(), "accounting.balanced"), &Value::Bool(false));
}

/// Protocol errors by reason, pushes, openings and pending connects survive JSON and merge
/// across processes; results without them (older writers) load with none.
#[test]
fn reasons_pushes_and_pending_round_trip_and_merge() {
    use crate::stats::ProtocolReason;
    let part = || {
        let mut s = Shard::new();
        for _ in 0..3 {
            s.on_connect_start();
        }
        s.on_connect(MS);
        s.on_connect_error(ErrorClass::Refused); // the third attempt is pending
        s.on_open_start(200);
        s.on_open_error(ErrorClass::Handshake);
        s.on_open_start(200); // pending
        s.on_sent(5, 100);
        s.on_request_error(ErrorClass::Protocol(ProtocolReason::TooManyHeaders), 3);
        s.on_request_error(ErrorClass::Protocol(ProtocolReason::BadChunkSize), 2);
        s.on_error(ErrorClass::Unsolicited);
        s.on_pushed();
        s
    };
    let one = RunResult::new(meta(None, 1.0), part());
    let v = one.to_json();
    assert_eq!(at(&v, "protocol_errors.too many headers"), 3);
    assert_eq!(at(&v, "protocol_errors.bad chunk size"), 2);
    assert_eq!(at(&v, "errors.protocol"), 5);
    assert_eq!(at(&v, "errors.unsolicited"), 1);
    assert_eq!(at(&v, "pushed"), 1);
    assert_eq!(at(&v, "connections.attempted"), 3);
    assert_eq!(at(&v, "connections.established"), 1);
    assert_eq!(at(&v, "connections.pending"), 1);
    assert_eq!(v["openings"], serde_json::json!({"started": 2, "ok": 0, "failed": 1, "pending": 1}));
    assert_eq!(at(&v, "bytes.written"), 500);
    let text = one.render_text();
    assert!(text.contains("protocol: too many headers: 3") && text.contains("protocol: bad chunk size: 2"), "{text}");
    assert!(text.contains("Pending    at the end: 1 connects, 1 openings") && text.contains("Pushed     1 messages"), "{text}");
    let mut merged = RunResult::from_json(&v).unwrap();
    merged.merge(&RunResult::from_json(&v).unwrap()).unwrap();
    let m = merged.to_json();
    assert_eq!(at(&m, "protocol_errors.too many headers"), 6);
    assert_eq!(at(&m, "connections.pending"), 2);
    assert_eq!(m["openings"], serde_json::json!({"started": 4, "ok": 0, "failed": 2, "pending": 2}));
    assert_eq!(at(&m, "pushed"), 2);
    // an older result: none of these fields
    let plain = RunResult::new(meta(None, 1.0), shard(100, 0)).to_json();
    for k in ["protocol_errors", "pushed", "openings"] {
        assert!(plain.get(k).is_none(), "{k} written without a value");
    }
    assert!(plain["connections"].get("pending").is_none());
}

#[test]
fn late_sends_against_a_fast_service_are_called_the_generators_own_pacing() {
    // service 2 ms each; sends 300 µs late: above a tenth of the service p50
    let mut m = meta(Some(1000.0), 1.0);
    m.pacing = Some("spin".into());
    let r = RunResult::new(m, shard(1_000, 300_000));
    let note = r.pacing_note().expect("a note");
    assert!(note.contains("latency below 300") && note.contains("generator's own pacing"), "{note}");
    let t = r.render_text();
    assert!(t.contains("open loop at 1,000 req/s (pacing spin)"), "{t}");
    assert!(t.contains(&format!("WARNING: {note}")), "{t}");
    let v = r.to_json();
    assert_eq!(at(&v, "pacing"), "spin");
    assert_eq!(at(&v, "generator.pacing_note").as_str(), Some(note.as_str()));
    let back = RunResult::from_json(&v).unwrap();
    assert_eq!(back.meta.pacing.as_deref(), Some("spin"));
    let html = crate::report::html::render(&back.to_doc(), &back);
    assert!(html.contains("id=\"pacing\"") && html.contains("own pacing"), "{html}");
    assert!(html.contains("(pacing spin)"), "{html}");
    // 100 µs late against 2 ms: within a tenth, no note; closed loop: never; a result without
    // its pacing mode (written before it existed): none, so that it reads back unchanged
    let mut m = meta(Some(1000.0), 1.0);
    m.pacing = Some("sleep".into());
    assert!(RunResult::new(m, shard(1_000, 100_000)).pacing_note().is_none());
    assert!(RunResult::new(meta(Some(1000.0), 1.0), shard(1_000, 300_000)).pacing_note().is_none());
    let closed = RunResult::new(meta(None, 1.0), shard(1_000, 0));
    assert!(closed.pacing_note().is_none());
    assert!(at(&closed.to_json(), "generator.pacing_note").is_null());
    // an old result without the field loads, with no mode
    assert!(at(&RunResult::new(meta(Some(10.0), 1.0), shard(10, 0)).to_json(), "pacing").is_null());
}

#[test]
fn sends_that_waited_for_a_free_connection_are_counted_named_and_kept() {
    let mut m = meta(Some(1000.0), 1.0);
    m.pacing = Some("sleep".into());
    let mut s = shard(1_000, 300_000);
    s.due.record(50, true); // of 1,002 sent: 5 %
    let r = RunResult::new(m.clone(), s);
    let note = r.pacing_note().expect("a note");
    assert!(
        note.contains("latency below 300") && note.contains("5.0% of sends came due while all 10 connections were busy (add -c)"),
        "{note}"
    );
    let t = r.render_text();
    assert!(t.contains("50 of 1,002 sends (5.0%) came due while every connection was waiting"), "{t}");
    let v = r.to_json();
    assert_eq!(at(&v, "requests.due_while_busy"), 50);
    let back = RunResult::from_json(&v).unwrap();
    assert_eq!(back.shard.due.busy, 50);
    let mut both = back.shard.clone();
    both.merge(&r.shard);
    assert_eq!(both.due.busy, 100, "parts add up");
    // below 1 %: counted and shown, the note stays the pacing one
    let mut s = shard(1_000, 300_000);
    s.due.record(5, true);
    let r = RunResult::new(m.clone(), s);
    assert!(r.pacing_note().expect("a note").contains("generator's own pacing"));
    assert!(r.render_text().contains("5 of 1,002 sends (0.5%) came due"));
    // due while the connections were still opening (a connect burst): said so, not "add -c"
    let mut s = shard(1_000, 300_000);
    s.due.record(30, false);
    let r = RunResult::new(m.clone(), s);
    let note = r.pacing_note().expect("a note");
    assert!(note.contains("3.0% of sends came due while their connections were still opening (connect p99 1.00ms)"), "{note}");
    assert!(r.render_text().contains("30 of 1,002 sends (3.0%) came due while their connections were still opening"));
    let back = RunResult::from_json(&r.to_json()).unwrap();
    assert_eq!((back.shard.due.opening, back.shard.due.busy), (30, 0));
    // none: no line, the keys say 0
    let r = RunResult::new(m, shard(1_000, 300_000));
    assert!(!r.render_text().contains("came due while"));
    assert_eq!(at(&r.to_json(), "requests.due_while_busy"), 0);
    assert_eq!(at(&r.to_json(), "requests.due_while_opening"), 0);
    // a result written before they were counted: unknown, not 0 (it reads back in its words)
    let mut v = r.to_json();
    v["requests"].as_object_mut().unwrap().retain(|k, _| !k.starts_with("due_"));
    let old = RunResult::from_json(&v).unwrap();
    assert!(!old.shard.due.known && old.due_unsent_shares().is_none());
    assert!(at(&old.to_json(), "requests.due_while_busy").is_null());
    // closed loop: never written
    assert!(at(&RunResult::new(meta(None, 1.0), shard(10, 0)).to_json(), "requests.due_while_busy").is_null());
}

#[test]
fn chat_accounting_round_trips_and_merges_losslessly() {
    use crate::stats::Arrival;
    let part = |others: u64| {
        let mut s = Shard::for_kind(Some(crate::stats::result::ScenarioKind::WsChat));
        s.on_marked_broadcast(100, others + 1);
        for i in 0..others {
            s.on_arrival(Arrival::Other { corrected_ns: (i + 1) * MS, service_ns: (i + 1) * MS / 2, late: i == 0 });
        }
        for a in [Arrival::ToSelf, Arrival::Duplicate, Arrival::BeforeJoin, Arrival::Unmarked] {
            s.on_arrival(a);
        }
        s
    };
    let (a, b) = (part(3), part(5));
    let doc = |s: &Shard| RunResult::new(meta(Some(10.0), 1.0), s.clone()).to_json();
    let merged = {
        let back = |s: &Shard| RunResult::from_json(&doc(s)).unwrap().shard;
        let mut m = back(&a);
        m.merge(&back(&b));
        m
    };
    let c = merged.chat().expect("the chat part");
    // 10 expected, 6 in time + 2 late, so 2 lost; counters add, histograms merge
    assert_eq!((c.broadcasts, c.expected, c.delivered, c.late, c.lost()), (2, 10, 6, 2, 2));
    assert_eq!((c.duplicated, c.self_deliveries, c.before_join, c.unmarked, c.deliveries), (2, 2, 2, 2, 14));
    assert_eq!((c.delivery.len(), c.delivery_service.len(), c.delivery.max() / MS), (8, 8, 5));
    assert!(c.marked);
    let v = RunResult::new(meta(Some(10.0), 1.0), merged.clone()).to_json();
    assert_eq!(at(&v, "chat.accounting.lost").as_u64(), Some(2), "{v}");
    assert_eq!(at(&v, "chat.accounting.delivered_pct").as_f64(), Some(60.0), "{v}");
    let text = RunResult::new(meta(Some(10.0), 1.0), merged).render_text();
    assert!(text.contains("Delivery   10 expected, 6 delivered to others (60.00%), 2 lost, 2 late, 2 duplicated"), "{text}");
    assert!(text.contains("2 frames without a mark"), "{text}");
}

/// A plan of a loaded stage and a quiet `rate = 0` one: each stage is judged against the rate
/// it asked for itself (the quiet one asked for none, so achieving none is not a shortfall),
/// and a chat stage's table counts its messages and deliveries.
#[test]
fn each_stage_is_judged_against_its_own_rate_and_chat_stages_count_messages() {
    use crate::stats::timeline::StageResult;
    let stage = |name: &str, start_s: f64, end_s: f64, rate: f64, shard: Shard| StageResult {
        name: name.into(),
        start_s,
        end_s,
        shape: format!("constant rate {rate}/s"),
        target_rate: Some(rate),
        // the run's 1 s of CPU in the stage's share of its 10 s
        cpu_user_s: 0.07 * (end_s - start_s),
        cpu_sys_s: 0.03 * (end_s - start_s),
        shard,
    };
    // HTTP: 10,000 answers in 8 s at 1,250/s asked, then 2 quiet seconds; the plan's mean is 1,000/s
    let mut r = RunResult::new(meta(Some(1000.0), 1.0), shard(10_000, 0));
    r.stages = vec![stage("load", 0.0, 8.0, 1250.0, shard(10_000, 0)), stage("quiet", 8.0, 10.0, 0.0, Shard::new())];
    for i in 0..2 {
        let s = r.stage_result(i).unwrap().saturation();
        assert!(!s.saturated, "stage {i}: {s:?}");
        assert!((s.cpu_busy - 0.05).abs() < 1e-9, "the stage's own CPU over its time: {s:?}");
    }
    // the same load stage asking for twice what it got is a shortfall, named in its unit
    r.stages[0].target_rate = Some(2500.0);
    let s = r.stage_result(0).unwrap().saturation();
    assert!(s.saturated && s.reasons.iter().any(|x| x.contains("of the 2500 asked for")), "{s:?}");
    // the stages' asked rates survive the JSON round trip
    let back = RunResult::from_doc(&r.to_doc()).unwrap();
    assert_eq!(back.stages.iter().map(|s| s.target_rate).collect::<Vec<_>>(), vec![Some(2500.0), Some(0.0)]);

    // chat: 100 messages, each delivered to 4 members, in the load stage; none in the quiet one
    let chat = || {
        let mut s = Shard::for_kind(Some(ScenarioKind::WsChat));
        for _ in 0..100 {
            s.on_marked_broadcast(64, 4);
            for _ in 0..4 {
                s.on_delivery(2 * MS);
            }
        }
        s
    };
    let mut m = meta(Some(50.0), 0.1);
    (m.scenario, m.duration_s) = ("ws-chat".into(), 3.0);
    let mut r = RunResult::new(m, chat());
    r.stages = vec![stage("load", 0.0, 2.0, 50.0, chat()), stage("quiet", 2.0, 3.0, 0.0, Shard::for_kind(Some(ScenarioKind::WsChat)))];
    for i in 0..2 {
        let s = r.stage_result(i).unwrap().saturation();
        assert!(!s.saturated, "stage {i}: {s:?}");
    }
    let table = r.render_stages();
    let load = table.lines().find(|l| l.trim_start().starts_with("load")).unwrap();
    let cells: Vec<&str> = load.split_whitespace().collect();
    assert!(table.contains("messages") && table.contains("delivered") && table.contains("msg/s"), "{table}");
    assert_eq!(&cells[cells.len() - 6..cells.len() - 2], ["100", "400", "0", "50"], "{table}");
    assert!(!load.ends_with("-         -"), "the fan-out latency: {table}");
    let doc = r.to_json();
    assert_eq!((at(&doc, "stages").get(0).map(|s| (s["sent"].clone(), s["ok"].clone()))), Some((100.into(), 400.into())), "{doc}");
    assert_eq!(at(&doc, "stages")[1]["result"]["generator"]["saturated"], false, "{doc}");
    assert_eq!(at(&doc, "stages")[1]["result"]["rate"]["target_per_s"], 0.0, "{doc}");
}
