//! `--junit FILE`: a run's threshold verdicts as JUnit XML, the format CI systems show as tests.
//! One test case per rule for the whole run and one per rule and stage (stage verdicts are read
//! from the result's `stages[].thresholds`); a breached rule is a `<failure>` whose message
//! gives the observed value and the limit. Without thresholds there is one case, "run
//! completed", which fails when the run failed.

use std::fmt::Write as _;

use super::view::{self, esc, VerdictRow};
use crate::stats::result::ResultDoc;

struct Case {
    class: String,
    name: String,
    /// The failure message, when the case failed.
    failure: Option<String>,
}

fn verdict_case(class: String, name: String, t: &VerdictRow) -> Case {
    let (observed, limit) = view::observed_and_limit(t);
    let failure = (!t.passed).then(|| match limit {
        Some(limit) => format!("{}: observed {observed}, limit {limit}", t.threshold),
        None => format!("{}: observed {observed}", t.threshold),
    });
    Case { class, name, failure }
}

/// The JUnit document for a finished run (`result`: the JSON result with its `thresholds`), or
/// for a run that produced no result (`None`). `run_failure` says why the run failed, if it did.
pub fn render(result: Option<&ResultDoc>, run_failure: Option<&str>) -> String {
    let mut cases = Vec::new();
    if let Some(v) = result {
        for t in view::verdicts(&v.thresholds) {
            cases.push(verdict_case("stampede.thresholds".into(), t.threshold.clone(), &t));
        }
        for s in view::stages(v) {
            for t in &s.thresholds {
                let name = format!("{} [stage {}]", t.threshold, s.part.name);
                cases.push(verdict_case(format!("stampede.stage.{}", s.part.name), name, t));
            }
        }
    }
    if cases.is_empty() {
        cases.push(Case { class: "stampede".into(), name: "run completed".into(), failure: run_failure.map(str::to_string) });
    }
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let suite = result.map_or("stampede".to_string(), |v| format!("stampede {} {}", v.scenario, v.target));
    let time = result.map_or(0.0, |v| v.duration_s);
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(o, "<testsuites name=\"stampede\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">", cases.len());
    let stamp = result.map(|v| v.started_unix_ms).filter(|t| *t > 0).map_or(String::new(), |t| {
        // JUnit wants ISO 8601 without a zone: 2026-11-23T12:04:05
        format!(" timestamp=\"{}\"", view::utc(t).trim_end_matches(" UTC").replace(' ', "T"))
    });
    let _ = writeln!(
        o,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\"{stamp}>",
        esc(&suite),
        cases.len()
    );
    if let Some(v) = result {
        let _ = writeln!(o, "    <properties>");
        for (name, value) in [
            ("scenario", v.scenario.clone()),
            ("target", v.target.clone()),
            ("requests_ok", v.requests.ok.to_string()),
            ("rate_per_s", format!("{:.1}", v.rate.achieved_per_s)),
        ] {
            let _ = writeln!(o, "      <property name=\"{name}\" value=\"{}\"/>", esc(&value));
        }
        let _ = writeln!(o, "    </properties>");
    }
    for c in &cases {
        let _ = write!(o, "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"", esc(&c.class), esc(&c.name));
        match &c.failure {
            None => o.push_str("/>\n"),
            Some(msg) => {
                let _ = writeln!(
                    o,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    esc(msg),
                    if result.is_some() && c.name != "run completed" { "threshold" } else { "run" },
                    esc(msg)
                );
            }
        }
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::result::doc_from_partial as doc;
    use serde_json::json;

    #[test]
    fn one_case_per_rule_and_stage() {
        let v = doc(json!({
            "scenario": "http", "target": "http://127.0.0.1:1/?a=<b>&c", "duration_s": 2.5, "started_unix_ms": 1_795_435_445_000u64,
            "thresholds": [{"threshold": "p99<50ms", "actual": 63.25, "passed": false}, {"threshold": "errors<1%", "actual": 0.0, "passed": true}],
            "stages": [{"name": "ramp", "thresholds": [{"threshold": "p99<50ms", "actual": null, "passed": false}]}, {"name": "flat"}],
        }));
        let x = render(Some(&v), None);
        assert!(x.contains(r#"<testsuites name="stampede" tests="3" failures="2""#), "{x}");
        assert!(x.contains(r#"timestamp="2026-11-23T12:04:05""#), "{x}");
        assert!(x.contains("http://127.0.0.1:1/?a=&lt;b&gt;&amp;c"), "{x}");
        assert!(x.contains(r#"name="p99&lt;50ms" time="0">"#), "{x}");
        assert!(x.contains(r#"message="p99&lt;50ms: observed 63.2 ms, limit &lt; 50.0 ms""#), "{x}");
        assert!(x.contains(r#"<testcase classname="stampede.thresholds" name="errors&lt;1%" time="0"/>"#), "{x}");
        assert!(x.contains(r#"classname="stampede.stage.ramp" name="p99&lt;50ms [stage ramp]""#), "{x}");
        assert!(x.contains("observed no data"), "{x}");
    }

    #[test]
    fn without_thresholds_one_case_says_whether_the_run_completed() {
        let v = doc(json!({"scenario": "ws", "target": "ws://127.0.0.1:1/", "duration_s": 1.0}));
        let ok = render(Some(&v), None);
        assert!(ok.contains(r#"<testcase classname="stampede" name="run completed" time="0"/>"#) && ok.contains(r#"failures="0""#), "{ok}");
        let failed = render(Some(&v), Some("no request got a response"));
        assert!(
            failed.contains(r#"failures="1""#) && failed.contains(r#"<failure message="no request got a response" type="run">"#),
            "{failed}"
        );
        let none = render(None, Some("cannot start: <oops>"));
        assert!(
            none.contains(r#"<testsuite name="stampede""#) && none.contains("cannot start: &lt;oops&gt;") && !none.contains("properties"),
            "{none}"
        );
    }
}
