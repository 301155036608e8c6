//! End to end: `stampede report` (HTML page with SVG charts), `stampede compare`, and `--junit`
//! on the scenario commands, from results of real runs against the embedded server (edited
//! where a test needs a time series, stages, request names or a process monitor).

mod common;

use std::path::{Path, PathBuf};

use common::{stampede, stampede_raw, temp_json, u, url};
use quick_xml::events::Event;
use serde_json::{json, Value};

/// One open-loop run against the embedded server: its JSON result (thresholds included).
fn real_result(thresholds: &[&str]) -> Value {
    let srv = common::embedded(None, None);
    let target = url(srv.local_addr(), "/");
    let mut args = vec!["http", &target, "-c", "4", "-t", "1", "-R", "400", "-n", "600", "-d", "20s"];
    for t in thresholds {
        args.extend(["--threshold", t]);
    }
    let r = stampede(&args);
    srv.stop();
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    let v = r.json.expect("json result");
    assert_eq!(u(&v, &["requests", "ok"]), 600, "{v}");
    v
}

fn write(tag: &str, v: &Value) -> PathBuf {
    let p = temp_json(tag);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p
}

/// Adds what newer results carry: a per-second time series with stages, per-stage verdicts,
/// request names and a process monitor; the target gets markup that must come out escaped.
fn enrich(v: &mut Value) {
    let secs = 6;
    let ok = u(v, &["requests", "ok"]);
    let lat = |k: &str| v["latency_ms"][k].clone();
    let intervals: Vec<Value> = (1..=secs)
        .map(|t| {
            let stage = if t <= 2 { "ramp <up>" } else { "steady" };
            let empty = t == 4; // a second with no answers: latencies are null
            json!({"t_s": t as f64, "stage": stage, "sent": ok / secs, "ok": if empty { 0 } else { ok / secs }, "errors": t % 2,
                   "rps": if empty { 0.0 } else { (ok / secs) as f64 },
                   "p50_ms": if empty { Value::Null } else { lat("p50") }, "p90_ms": if empty { Value::Null } else { lat("p90") },
                   "p99_ms": if empty { Value::Null } else { lat("p99") }, "max_ms": if empty { Value::Null } else { lat("max") }, "open": 4})
        })
        .collect();
    v["intervals"] = Value::Array(intervals);
    let stage = |name: &str, start: f64, end: f64, passed: bool| {
        json!({"name": name, "start_s": start, "end_s": end, "shape": "rate 400/s", "sent": 300, "ok": 300, "errors": 0, "rps": 150.0,
               "latency_ms": {"p50": 1.0, "p90": 2.0, "p95": 2.5, "p99": 3.0, "max": 4.0}, "status": {"200": 300},
               "thresholds": [{"threshold": "p99<2ms", "actual": 3.0, "passed": passed}]})
    };
    v["stages"] = json!([stage("ramp <up>", 0.0, 2.0, true), stage("steady", 2.0, 6.0, false)]);
    v["by_name"] = json!({"reads": {"sent": 400, "ok": 400, "errors": 0, "rps": 66.7, "latency_ms": {"p50": 1.0, "p99": 2.0}, "status": {"200": 400}},
                          "writes & co": {"sent": 200, "ok": 200, "errors": 0, "rps": 33.3, "latency_ms": {"p50": 1.5}, "status": {"200": 200}}});
    let samples: Vec<Value> =
        (1..=secs).map(|t| json!({"t_s": t as f64, "cpu_pct": 10.0 * t as f64, "rss_bytes": 1_000_000 * t})).collect();
    v["monitor"] = json!([{"pid": 4242, "name": "nginx", "samples": samples}]);
    v["target"] = json!("http://127.0.0.1:1/<script>alert(1)</script>?a=1&b=\"2\"");
}

/// The `<svg id="ID">…</svg>` element of the page.
fn svg<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<svg id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
    let len = html[start..].find("</svg>").expect("closed svg") + "</svg>".len();
    &html[start..start + len]
}

type Element = (String, Vec<(String, String)>, String);

fn element(e: &quick_xml::events::BytesStart) -> Element {
    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
    let attrs = e
        .attributes()
        .map(|a| {
            let a = a.expect("attribute");
            (String::from_utf8(a.key.as_ref().to_vec()).unwrap(), a.unescape_value().expect("escaped value").into_owned())
        })
        .collect();
    (name, attrs, String::new())
}

/// Elements of a well-formed XML document (panics otherwise): (name, attributes, text inside).
fn xml_elements(doc: &str) -> Vec<Element> {
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut out: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("not well-formed XML at {}: {e}\n{doc}", reader.buffer_position())) {
            Event::Eof => break,
            Event::Start(e) => {
                out.push(element(&e));
                open.push(out.len() - 1);
            }
            Event::Empty(e) => out.push(element(&e)),
            Event::End(_) => {
                open.pop().expect("balanced");
            }
            Event::Text(t) => {
                if let Some(i) = open.last() {
                    out[*i].2.push_str(&t.unescape().expect("escaped text"));
                }
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed elements in\n{doc}");
    out
}

fn attr<'a>(e: &'a Element, k: &str) -> Option<&'a str> {
    e.1.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// The text of the summary cell showing JSON path `key`, as a number (units and separators off).
fn cell_number(html: &str, key: &str) -> f64 {
    let at = html.find(&format!("data-key=\"{key}\">")).unwrap_or_else(|| panic!("no cell {key}"));
    let text = &html[at + key.len() + 12..];
    let text = &text[..text.find('<').unwrap()];
    let n: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',').filter(|c| *c != ',').collect();
    n.parse().unwrap_or_else(|_| panic!("{key}: '{text}' is not a number"))
}

fn render(input: &Path) -> String {
    let out = input.with_extension("html");
    let r = stampede_raw(&["report", input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let html = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    html
}

#[test]
fn html_report_draws_every_chart_and_shows_the_results_figures() {
    let mut v = real_result(&["p99<10s", "rps>1000000"]);
    enrich(&mut v);
    let input = write("enriched", &v);
    let html = render(&input);
    let _ = std::fs::remove_file(&input);

    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    // Self-contained, no script: nothing is fetched, nothing runs.
    for banned in ["<script", "src=", "href=", "<link", "@import", "url("] {
        assert!(!html.contains(banned), "the page must not contain {banned}");
    }
    // Text from the JSON is escaped (target, stage and request names).
    assert!(html.contains("http://127.0.0.1:1/&lt;script&gt;alert(1)&lt;/script&gt;?a=1&amp;b=&quot;2&quot;"), "target escaped");
    assert!(html.contains("ramp &lt;up&gt;") && !html.contains("ramp <up>"));
    assert!(html.contains("writes &amp; co"));

    // Every chart, with its series, and well-formed as XML.
    for (id, series) in [
        ("chart-throughput", &["ok/s", "errors/s"][..]),
        ("chart-latency", &["p50", "p90", "p99", "max"][..]),
        ("chart-open", &["open"][..]),
        ("chart-spectrum", &["corrected", "service"][..]),
        ("chart-monitor-cpu", &["nginx (4242)"][..]),
        ("chart-monitor-rss", &["nginx (4242)"][..]),
    ] {
        let chart = svg(&html, id);
        let elements = xml_elements(chart);
        let drawn: Vec<&str> = elements.iter().filter_map(|e| attr(e, "data-series")).collect();
        assert_eq!(drawn, series, "{id}");
        for s in series {
            let group = chart.split(&format!("data-series=\"{s}\">")).nth(1).unwrap().split("</g>").next().unwrap();
            assert!(group.contains("<path") || group.contains("<circle"), "{id}: series {s} draws something");
        }
    }
    // The null-latency second breaks the latency lines in two.
    let p99 = svg(&html, "chart-latency").split("data-series=\"p99\">").nth(1).unwrap().split("</g>").next().unwrap();
    assert_eq!(p99.matches("<path").count(), 2, "{p99}");
    // Stage boundaries and names on the time charts.
    for id in ["chart-throughput", "chart-latency", "chart-monitor-cpu"] {
        let labels: Vec<String> =
            xml_elements(svg(&html, id)).into_iter().filter(|e| attr(e, "class") == Some("stage-label")).map(|e| e.2).collect();
        assert_eq!(labels.len(), 2, "{id}: {labels:?}");
        assert!(labels[0].starts_with("ramp <up>") && labels[1].starts_with("steady"), "{id}: {labels:?}");
    }
    // The spectrum's axis: log-scaled percentiles.
    let spectrum_ticks: Vec<String> = xml_elements(svg(&html, "chart-spectrum")).into_iter().map(|e| e.2).collect();
    for tick in ["0%", "90%", "99%", "99.9%"] {
        assert!(spectrum_ticks.iter().any(|t| t == tick), "tick {tick} in {spectrum_ticks:?}");
    }

    // The summary shows the JSON's figures.
    for key in [
        "requests.sent",
        "requests.ok",
        "requests.errors",
        "requests.in_flight",
        "rate.achieved_per_s",
        "rate.target_per_s",
        "non_2xx_3xx",
        "connections.attempted",
        "connections.established",
        "connections.peak_open",
        "latency_ms.min",
        "latency_ms.mean",
        "latency_ms.p50",
        "latency_ms.p90",
        "latency_ms.p99",
        "latency_ms.p999",
        "latency_ms.max",
        "service_latency_ms.p99",
        "send_lateness_ms.p99",
        "generator.cpu_us_per_request",
    ] {
        let want = key.split('.').fold(&v, |v, k| &v[k]).as_f64().unwrap_or_else(|| panic!("{key} in the JSON"));
        let shown = cell_number(&html, key);
        assert!((shown - want).abs() <= want.abs() * 0.006 + 0.0015, "{key}: page shows {shown}, JSON has {want}");
    }
    assert!(html.contains(&format!("200: {}", stampede::report::view::int(u(&v, &["status", "200"])))), "status codes");

    // Thresholds: whole run and per stage, PASS and FAIL.
    let section = &html[html.find("<section id=\"thresholds\">").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(section.contains("Thresholds: 2 of 4 failed"), "run and stage thresholds counted together: {section}");
    assert!(section.contains("p99&lt;10s") && section.contains("PASS") && section.contains("rps&gt;1000000") && section.contains("FAIL"));
    assert!(section.contains("&gt; 1,000,000/s"), "the limit is shown: {section}");
    let per_stage = &html[html.find("id=\"stage-thresholds\"").expect("per-stage verdicts")..];
    assert!(per_stage.contains("ramp &lt;up&gt;</td><td>p99&lt;2ms"));
    // Stage and request-name tables.
    assert!(html.contains("<section id=\"stages\">") && html.contains("rate 400/s"));
    assert!(html.contains("<section id=\"by-name\">") && html.contains(">reads</td>"));
}

#[test]
fn a_result_without_time_series_renders_with_a_sentence_instead() {
    let v = real_result(&[]);
    let mut old = v.clone();
    if let Some(m) = old.as_object_mut() {
        for k in ["intervals", "stages", "by_name", "monitor"] {
            m.remove(k);
        }
    }
    let input = write("plain", &old);
    // Without -o the page goes beside the input.
    let r = stampede_raw(&["report", input.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = input.with_extension("html");
    let html = std::fs::read_to_string(&out).expect("RESULT.html beside the input");
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&input);
    assert!(html.contains("id=\"no-time-series\"") && html.contains("no time series"), "the sentence replaces the charts");
    for id in ["chart-throughput", "chart-latency", "chart-open", "chart-monitor-cpu"] {
        assert!(!html.contains(&format!("id=\"{id}\"")), "{id} drawn without data");
    }
    assert!(!html.contains("id=\"stages\"") && !html.contains("id=\"by-name\"") && !html.contains("id=\"thresholds\""));
    xml_elements(svg(&html, "chart-spectrum"));
    assert!(html.contains("data-key=\"requests.ok\">600<"), "closed figures still shown");
}

#[test]
fn report_and_compare_refuse_what_is_not_a_result() {
    let not_json = temp_json("notjson");
    std::fs::write(&not_json, b"hello").unwrap();
    let other_json = write("other", &json!({"schema": "something/else", "hello": 1}));
    let truncated = write("truncated", &json!({"schema": "stampede.result/1", "scenario": "http"}));
    let missing = std::env::temp_dir().join("stampede-test-does-not-exist.json");
    for p in [&not_json, &other_json, &truncated, &missing] {
        let r = stampede_raw(&["report", p.to_str().unwrap(), "-o", "/dev/null"]);
        assert_eq!(r.code, 2, "report {}: {}", p.display(), r.stderr);
        assert!(r.stderr.contains(p.to_str().unwrap()), "the error names the file: {}", r.stderr);
        let r = stampede_raw(&["compare", p.to_str().unwrap(), p.to_str().unwrap()]);
        assert_eq!(r.code, 2, "compare {}: {}", p.display(), r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    for p in [&not_json, &other_json, &truncated] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn compare_two_crafted_results() {
    let mut a = real_result(&[]);
    let mut b = a.clone();
    let stages = json!([{"name": "warm", "rps": 100.0, "errors": 0, "latency_ms": {"p50": 1.0, "p99": 4.0}},
                        {"name": "hot", "rps": 200.0, "errors": 2, "latency_ms": {"p50": 2.0, "p99": 8.0}}]);
    a["stages"] = stages.clone();
    b["stages"] = stages;
    b["stages"][1]["latency_ms"]["p99"] = json!(6.0);
    a["rate"]["achieved_per_s"] = json!(1000.0);
    b["rate"]["achieved_per_s"] = json!(1250.0);
    a["latency_ms"]["p99"] = json!(4.0);
    b["latency_ms"]["p99"] = json!(5.0);
    a["errors"] = json!({});
    b["errors"] = json!({"reset": 3, "refused": 2});
    let (pa, pb) = (write("cmp-a", &a), write("cmp-b", &b));

    let r = stampede_raw(&["compare", pa.to_str().unwrap(), pb.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = |name: &str| r.stdout.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{name}: {}", r.stdout));
    let rate = line("rate (ok/s)");
    assert!(
        rate.contains("1,000") && rate.contains("1,250") && rate.contains("+250") && rate.contains("+25.0%") && rate.ends_with('B'),
        "{rate}"
    );
    let p99 = line("latency p99 (ms)");
    assert!(p99.contains("+1.00") && p99.contains("+25.0%") && p99.ends_with('A'), "{p99}");
    let errors = line("errors ");
    assert!(errors.contains("+5") && errors.ends_with('A'), "{errors}");
    assert!(line("latency p50 (ms)").ends_with("same"));
    assert!(r.stdout.contains("Stage warm") && r.stdout.contains("Stage hot"), "{}", r.stdout);

    let r = stampede_raw(&["compare", pa.to_str().unwrap(), pb.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let c: Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(c["schema"], "stampede.compare/1");
    let metric = |m: &Value, name: &str| m.as_array().unwrap().iter().find(|x| x["metric"] == name).unwrap().clone();
    let rate = metric(&c["metrics"], "rate (ok/s)");
    assert_eq!((rate["a"].as_f64(), rate["b"].as_f64(), rate["diff"].as_f64()), (Some(1000.0), Some(1250.0), Some(250.0)));
    assert!((rate["relative"].as_f64().unwrap() - 0.25).abs() < 1e-12);
    assert_eq!(rate["better"], "B");
    assert_eq!(metric(&c["metrics"], "errors")["b"], 5.0);
    let hot = c["stages"].as_array().unwrap().iter().find(|s| s["name"] == "hot").unwrap();
    let hot_p99 = metric(&hot["metrics"], "latency p99 (ms)");
    assert_eq!((hot_p99["diff"].as_f64(), hot_p99["better"].as_str()), (Some(-2.0), Some("B")));

    // Different stages: compared as wholes, with a note.
    b["stages"] = json!([{"name": "other"}]);
    let pb2 = write("cmp-b2", &b);
    let r = stampede_raw(&["compare", pa.to_str().unwrap(), pb2.to_str().unwrap(), "--json"]);
    let c: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(c["stages"].as_array().unwrap().is_empty());
    assert!(c["notes"][0].as_str().unwrap().contains("different stages"), "{c}");
    for p in [pa, pb, pb2] {
        let _ = std::fs::remove_file(p);
    }
}

fn junit_path(tag: &str) -> PathBuf {
    temp_json(tag).with_extension("xml")
}

/// (name, failure message) of every test case.
fn cases(doc: &str) -> Vec<(String, Option<String>)> {
    let els = xml_elements(doc);
    assert_eq!(els[0].0, "testsuites", "{doc}");
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for e in &els {
        match e.0.as_str() {
            "testcase" => out.push((attr(e, "name").unwrap().to_string(), None)),
            "failure" => out.last_mut().expect("failure inside a testcase").1 = Some(attr(e, "message").unwrap().to_string()),
            _ => {}
        }
    }
    let failures: usize = attr(&els[0], "failures").unwrap().parse().unwrap();
    assert_eq!(failures, out.iter().filter(|c| c.1.is_some()).count(), "{doc}");
    assert_eq!(attr(&els[0], "tests").unwrap().parse::<usize>().unwrap(), out.len());
    out
}

#[test]
fn junit_has_one_case_per_threshold_with_the_failures() {
    let srv = common::embedded(None, None);
    let target = url(srv.local_addr(), "/");
    let xml = junit_path("thresholds");
    let r = stampede(&[
        "http",
        &target,
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "200",
        "--threshold",
        "p99<10s",
        "--threshold",
        "rps>1000000",
        "--threshold",
        "errors<1%",
        "--junit",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let doc = std::fs::read_to_string(&xml).expect("junit written");
    let got = cases(&doc);
    assert_eq!(got.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["p99<10s", "rps>1000000", "errors<1%"], "{doc}");
    assert!(got[0].1.is_none() && got[2].1.is_none(), "{doc}");
    let msg = got[1].1.as_deref().unwrap();
    let rate = r.json.as_ref().unwrap()["rate"]["achieved_per_s"].as_f64().unwrap();
    assert!(msg.starts_with("rps>1000000: observed ") && msg.ends_with("limit > 1,000,000/s"), "{msg}");
    let observed: f64 = msg["rps>1000000: observed ".len()..].split('/').next().unwrap().replace(',', "").parse().unwrap();
    assert!((observed - rate).abs() <= rate * 0.01 + 1.0, "observed {observed} vs rate {rate}");

    // ws too, and without thresholds: one "run completed" case that passed.
    let ws = format!("ws://{}/ws/echo", srv.local_addr());
    let r = stampede(&["ws", &ws, "-c", "2", "-t", "1", "-n", "50", "--junit", xml.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = std::fs::read_to_string(&xml).unwrap();
    assert_eq!(cases(&doc), vec![("run completed".to_string(), None)], "{doc}");
    srv.stop();

    // A run with no answer fails its one case (exit 1).
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let r = stampede(&[
        "http",
        &url(dead, "/"),
        "-c",
        "1",
        "-t",
        "1",
        "-d",
        "300ms",
        "--connect-timeout",
        "200ms",
        "--junit",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let doc = std::fs::read_to_string(&xml).unwrap();
    assert_eq!(cases(&doc), vec![("run completed".to_string(), Some("no request got a response".to_string()))], "{doc}");
    let _ = std::fs::remove_file(&xml);
}

#[test]
fn an_unwritable_junit_path_is_refused_before_the_run() {
    for cmd in [
        &["http", "http://127.0.0.1:9/"][..],
        &["ws", "ws://127.0.0.1:9/"][..],
        &["asr", "ws://127.0.0.1:9/"][..],
        &["hold", "http://127.0.0.1:9/"][..],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["-d", "5s", "--no-preflight", "--junit", "/nonexistent-stampede-dir/out.xml"]);
        let r = stampede_raw(&args);
        assert_eq!(r.code, 2, "{cmd:?}: {}", r.stderr);
        assert!(r.stderr.contains("--junit") && r.stderr.contains("cannot write"), "{cmd:?}: {}", r.stderr);
    }
}

// Results written by the previous writer (`stampede.result/1` by hand, before the schema became
// serde types): real runs against `stampede serve`, kept in tests/fixtures/v1.

const FIXTURES: [&str; 14] = [
    "http_closed",
    "http_open_errors",
    "https",
    "ws_echo",
    "ws_ping",
    "ws_chat",
    "asr",
    "raw",
    "plan_stages",
    "plan_mix",
    "http_processes2",
    "shard0",
    "shard1",
    "merged_shards",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1").join(format!("{name}.json"))
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Equal as results: floats within 1e-9 relative (JSON reading rounds the last digit), the
/// parts a command adds after the result (`host`, `thresholds`) left out.
fn same_result(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys =
                |m: &serde_json::Map<String, Value>| m.keys().filter(|k| *k != "host" && *k != "thresholds").cloned().collect::<Vec<_>>();
            assert_eq!(keys(x), keys(y), "keys at {at}");
            for k in keys(x) {
                same_result(&x[&k], &y[&k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "length at {at}");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                same_result(p, q, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (p, q) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((p - q).abs() <= 1e-9 * p.abs().max(q.abs()), "{at}: {p} vs {q}");
        }
        _ => assert_eq!(a, b, "at {at}"),
    }
}

#[test]
fn results_of_the_previous_writer_load_merge_and_render() {
    for name in FIXTURES {
        let input = fixture(name);
        let v = read_json(&input);
        // merge of one result rewrites it: the same result, in the same words
        let out = temp_json(name);
        let r = stampede_raw(&["merge", input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        same_result(&v, &read_json(&out), name);
        let _ = std::fs::remove_file(&out);
        // the text report says what ran and counts what the result counts
        assert!(
            r.stdout.contains(&format!("stampede {} {}", v["scenario"].as_str().unwrap(), v["target"].as_str().unwrap())),
            "{}",
            r.stdout
        );
        let html = render(&input);
        assert!(html.contains("<svg"), "{name}: the page draws");
        let r = stampede_raw(&["compare", input.to_str().unwrap(), input.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert!(r.stdout.contains("requests ok"), "{name}: {}", r.stdout);
    }
}

#[test]
fn previous_results_keep_their_scenario_sections() {
    let text = |name: &str| {
        let out = temp_json(name);
        let r = stampede_raw(&["merge", fixture(name).to_str().unwrap(), "-o", out.to_str().unwrap()]);
        let _ = std::fs::remove_file(&out);
        r.stdout
    };
    let asr = text("asr");
    assert!(asr.contains("Sessions   4 sent, 4 ok") && asr.contains("Streaming  sessions: 4 started, 4 completed"), "{asr}");
    let chat = text("ws_chat");
    assert!(chat.contains("Messages   50 sent") && chat.contains("Chat       50 messages sent, 200 delivered (4.0 per message)"), "{chat}");
    assert!(!chat.contains("Latency "), "chat has its fan-out latency on the Chat line: {chat}");
    let ws = text("ws_echo");
    assert!(ws.contains("Messages   ") && ws.contains("Handshake  p50"), "{ws}");
    let https = text("https");
    assert!(https.contains("TLS        2 handshakes"), "{https}");
    let plan = text("plan_stages");
    assert!(plan.contains("Latency    ") && plan.contains("send late"), "{plan}");
}

#[test]
fn parts_written_by_the_previous_writer_merge_to_their_merge() {
    let out = temp_json("v1-merge");
    let (a, b) = (fixture("shard0"), fixture("shard1"));
    let r = stampede_raw(&["merge", a.to_str().unwrap(), b.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    same_result(&read_json(&fixture("merged_shards")), &read_json(&out), "merged");
    let _ = std::fs::remove_file(&out);
    let mixed = stampede_raw(&["merge", a.to_str().unwrap(), fixture("ws_echo").to_str().unwrap(), "-o", "/dev/null"]);
    assert_ne!(mixed.code, 0, "results of different plans do not merge");
    assert!(mixed.stderr.contains("different plans"), "{}", mixed.stderr);
}

#[test]
fn the_audio_conversion_survives_a_merge_and_shows_in_text_and_html() {
    let mut v = read_json(&fixture("asr"));
    let said = "audio: 44.1 kHz stereo → 16 kHz mono (mixed down, resampled)";
    v["asr"]["audio_conversion"] = said.into();
    let input = temp_json("conversion-in");
    std::fs::write(&input, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = temp_json("conversion-out");
    let r = stampede_raw(&["merge", input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(read_json(&out)["asr"]["audio_conversion"], said);
    assert!(r.stdout.lines().any(|l| l.trim() == said), "{}", r.stdout);
    let html = render(&input);
    assert!(html.contains("data-key=\"asr.audio_conversion\">44.1 kHz stereo → 16 kHz mono (mixed down, resampled)<"), "{html}");
    let _ = (std::fs::remove_file(&input), std::fs::remove_file(&out));
}
