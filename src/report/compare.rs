//! `stampede compare A.json B.json`: two results side by side (rate, latency percentiles,
//! errors, the generator's CPU per request, and per stage when both runs have the same stages)
//! with the absolute and relative difference and which run is better on each line.
//!
//! "Better" only says which side the number is on (higher rate, lower latency, fewer errors,
//! less CPU); whether a difference is more than noise is for the reader (rounds on a shared
//! machine vary by several percent).

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::view::{self, int, ms};
use crate::stats::result::{Latency, Loop, ResultDoc};

/// Which direction of a metric is an improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    Higher,
    Lower,
}

/// How a metric's values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Count,
    Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub metric: String,
    pub unit: &'static str,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub goal: Goal,
    pub kind: Kind,
}

/// Which run a row favours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Winner {
    A,
    B,
    Same,
}

impl Winner {
    pub fn name(self) -> &'static str {
        match self {
            Winner::A => "A",
            Winner::B => "B",
            Winner::Same => "same",
        }
    }
}

impl Row {
    /// B − A.
    pub fn diff(&self) -> Option<f64> {
        Some(self.b? - self.a?)
    }

    /// (B − A) / A; `None` when A is 0 or missing.
    pub fn relative(&self) -> Option<f64> {
        let (a, b) = (self.a?, self.b?);
        (a != 0.0).then(|| (b - a) / a.abs())
    }

    pub fn winner(&self) -> Option<Winner> {
        let (a, b) = (self.a?, self.b?);
        Some(if a == b {
            Winner::Same
        } else if (b > a) == (self.goal == Goal::Higher) {
            Winner::B
        } else {
            Winner::A
        })
    }
}

/// One side's identity line.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    pub label: String,
    pub scenario: String,
    pub target: String,
    pub mode: String,
    pub duration_s: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub a: Side,
    pub b: Side,
    pub notes: Vec<String>,
    pub rows: Vec<Row>,
    /// Per stage, when both runs have the same stage names in the same order.
    pub stages: Vec<(String, Vec<Row>)>,
}

fn side(label: &str, v: &ResultDoc) -> Side {
    let mode = match (v.rate.target_per_s, v.loop_mode) {
        (Some(r), Loop::Open) => format!("open loop at {} req/s", crate::stats::report::grouped(r)),
        (None, Loop::Open) | (_, Loop::Closed) => "closed loop".to_string(),
    };
    Side { label: label.to_string(), scenario: v.scenario.clone(), target: v.target.clone(), mode, duration_s: v.duration_s }
}

/// All failures by class, connect failures included.
fn errors(v: &ResultDoc) -> f64 {
    v.errors.values().sum::<u64>() as f64
}

/// Failures over all attempts, in % (as the `errors<1%` threshold counts them).
fn error_rate(v: &ResultDoc) -> Option<f64> {
    let c = &v.connections;
    let attempts = v.requests.total + c.attempted.saturating_sub(c.established);
    (attempts > 0).then(|| 100.0 * errors(v) / attempts as f64)
}

/// One figure of a latency summary.
type LatencyOf = fn(&Latency) -> Option<f64>;

/// The whole-run rows.
fn rows(a: &ResultDoc, b: &ResultDoc) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = |metric: &str, unit: &'static str, goal: Goal, kind: Kind, get: &dyn Fn(&ResultDoc) -> Option<f64>| {
        rows.push(Row { metric: metric.to_string(), unit, a: get(a), b: get(b), goal, kind });
    };
    row("rate (ok/s)", "/s", Goal::Higher, Kind::Value, &|v| Some(v.rate.achieved_per_s));
    let latencies: [(&str, LatencyOf); 6] =
        [("p50", |l| l.p50), ("p90", |l| l.p90), ("p99", |l| l.p99), ("p99.9", |l| l.p999), ("max", |l| l.max), ("mean", |l| l.mean)];
    for (name, get) in latencies {
        row(&format!("latency {name} (ms)"), "ms", Goal::Lower, Kind::Value, &|v| get(&v.latency_ms));
    }
    row("requests ok", "", Goal::Higher, Kind::Count, &|v| Some(v.requests.ok as f64));
    row("errors", "", Goal::Lower, Kind::Count, &|v| Some(errors(v)));
    row("error rate (%)", "%", Goal::Lower, Kind::Value, &error_rate);
    row("not 2xx/3xx", "", Goal::Lower, Kind::Count, &|v| Some(v.non_2xx_3xx as f64));
    row("CPU per request (µs)", "µs", Goal::Lower, Kind::Value, &|v| v.generator.cpu_us_per_request);
    rows
}

/// The rows of one stage present in both runs.
fn stage_rows(x: &view::Part, y: &view::Part) -> Vec<Row> {
    let mut r = vec![Row { metric: "rate (ok/s)".into(), unit: "/s", a: x.rps, b: y.rps, goal: Goal::Higher, kind: Kind::Value }];
    for (name, ga, gb) in [
        ("p50", x.latency.p50, y.latency.p50),
        ("p90", x.latency.p90, y.latency.p90),
        ("p99", x.latency.p99, y.latency.p99),
        ("max", x.latency.max, y.latency.max),
    ] {
        r.push(Row { metric: format!("latency {name} (ms)"), unit: "ms", a: ga, b: gb, goal: Goal::Lower, kind: Kind::Value });
    }
    r.push(Row {
        metric: "errors".into(),
        unit: "",
        a: Some(x.errors as f64),
        b: Some(y.errors as f64),
        goal: Goal::Lower,
        kind: Kind::Count,
    });
    r
}

/// Compares two results.
pub fn compare(a: &ResultDoc, b: &ResultDoc, a_label: &str, b_label: &str) -> Comparison {
    let rows = rows(a, b);
    let (sa, sb) = (side(a_label, a), side(b_label, b));
    let mut notes = Vec::new();
    if sa.scenario != sb.scenario || sa.target != sb.target {
        notes.push(format!("the runs differ in scenario or target ({} {} vs {} {})", sa.scenario, sa.target, sb.scenario, sb.target));
    }
    if sa.mode != sb.mode {
        notes.push(format!("the runs differ in load shape ({} vs {})", sa.mode, sb.mode));
    }
    let (st_a, st_b) = (view::stages(a), view::stages(b));
    let names = |s: &[view::StageRow]| s.iter().map(|s| s.part.name.clone()).collect::<Vec<_>>();
    let mut stages = Vec::new();
    if !st_a.is_empty() || !st_b.is_empty() {
        if names(&st_a) == names(&st_b) {
            stages = st_a.iter().zip(&st_b).map(|(x, y)| (x.part.name.clone(), stage_rows(&x.part, &y.part))).collect();
        } else {
            notes.push(format!(
                "the runs have different stages ({} vs {}): compared as wholes only",
                if st_a.is_empty() { "none".into() } else { names(&st_a).join(", ") },
                if st_b.is_empty() { "none".into() } else { names(&st_b).join(", ") }
            ));
        }
    }
    Comparison { a: sa, b: sb, notes, rows, stages }
}

fn value(x: Option<f64>, kind: Kind) -> String {
    match (x, kind) {
        (None, _) => "-".into(),
        (Some(x), Kind::Count) if x >= 0.0 => int(x.round() as u64),
        (Some(x), _) => {
            if x < 0.0 {
                format!("-{}", ms(-x))
            } else {
                ms(x)
            }
        }
    }
}

fn signed(x: Option<f64>, kind: Kind) -> String {
    match x {
        None => "-".into(),
        Some(x) if x > 0.0 => format!("+{}", value(Some(x), kind)),
        Some(x) if x < 0.0 => format!("-{}", value(Some(-x), kind)),
        Some(_) => "0".into(),
    }
}

fn table(o: &mut String, rows: &[Row]) {
    let _ = writeln!(o, "  {:<24} {:>12} {:>12} {:>12} {:>9}  better", "metric", "A", "B", "B-A", "change");
    for r in rows {
        let rel = r.relative().map_or("-".to_string(), |x| format!("{:+.1}%", x * 100.0));
        let _ = writeln!(
            o,
            "  {:<24} {:>12} {:>12} {:>12} {:>9}  {}",
            r.metric,
            value(r.a, r.kind),
            value(r.b, r.kind),
            signed(r.diff(), r.kind),
            rel,
            r.winner().map_or("-", Winner::name)
        );
    }
}

pub fn render_text(c: &Comparison) -> String {
    let mut o = String::from("stampede compare\n");
    for (who, s) in [("A", &c.a), ("B", &c.b)] {
        let _ = writeln!(o, "  {who}: {}  ({} {}, {}, {:.2}s)", s.label, s.scenario, s.target, s.mode, s.duration_s);
    }
    for n in &c.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    let _ = writeln!(o);
    table(&mut o, &c.rows);
    for (name, rows) in &c.stages {
        let _ = writeln!(o, "\nStage {name}");
        table(&mut o, rows);
    }
    let (mut a, mut b) = (0, 0);
    for r in c.rows.iter().chain(c.stages.iter().flat_map(|s| &s.1)) {
        match r.winner() {
            Some(Winner::A) => a += 1,
            Some(Winner::B) => b += 1,
            Some(Winner::Same) | None => {}
        }
    }
    let _ = writeln!(o, "\nbetter: A on {a} line(s), B on {b} (direction only; judge the size against the noise of your machine)");
    o
}

fn rows_json(rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "metric": r.metric,
                    "unit": r.unit,
                    "better_when": if r.goal == Goal::Higher { "higher" } else { "lower" },
                    "a": r.a,
                    "b": r.b,
                    "diff": r.diff(),
                    "relative": r.relative(),
                    "better": r.winner().map(Winner::name),
                })
            })
            .collect(),
    )
}

pub fn to_json(c: &Comparison) -> Value {
    let side = |s: &Side| json!({"file": s.label, "scenario": s.scenario, "target": s.target, "mode": s.mode, "duration_s": s.duration_s});
    json!({
        "schema": "stampede.compare/1",
        "a": side(&c.a),
        "b": side(&c.b),
        "notes": c.notes,
        "metrics": rows_json(&c.rows),
        "stages": c.stages.iter().map(|(name, rows)| json!({"name": name, "metrics": rows_json(rows)})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rps: f64, p99: f64, errors: u64, stages: &[&str]) -> ResultDoc {
        crate::stats::result::doc_from_partial(json!({
            "scenario": "http", "target": "http://127.0.0.1:1/", "loop": "closed", "duration_s": 10.0,
            "rate": {"achieved_per_s": rps, "target_per_s": null},
            "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": p99, "p999": 9.0, "max": 10.0, "mean": 1.2},
            "requests": {"ok": 1000, "total": 1000 + errors},
            "connections": {"attempted": 10, "established": 10},
            "errors": if errors > 0 { json!({"reset": errors}) } else { json!({}) },
            "non_2xx_3xx": 0,
            "generator": {"cpu_us_per_request": 10.0},
            "stages": stages.iter().map(|s| json!({"name": s, "rps": rps, "latency_ms": {"p50": 1.0, "p99": p99}, "errors": errors})).collect::<Vec<_>>(),
        }))
    }

    #[test]
    fn differences_and_winners() {
        let c = compare(&result(1000.0, 5.0, 0, &["a", "b"]), &result(1100.0, 4.0, 10, &["a", "b"]), "a.json", "b.json");
        let get = |m: &str| c.rows.iter().find(|r| r.metric == m).unwrap();
        let rate = get("rate (ok/s)");
        assert_eq!(rate.diff(), Some(100.0));
        assert!((rate.relative().unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(rate.winner(), Some(Winner::B));
        assert_eq!(get("latency p99 (ms)").winner(), Some(Winner::B), "lower latency is better");
        assert_eq!(get("errors").winner(), Some(Winner::A), "fewer errors is better");
        assert_eq!(get("errors").relative(), None, "relative to zero is undefined");
        assert_eq!(get("latency p50 (ms)").winner(), Some(Winner::Same));
        assert!((get("error rate (%)").b.unwrap() - 100.0 * 10.0 / 1010.0).abs() < 1e-9);
        assert_eq!(c.stages.len(), 2);
        assert!(c.notes.is_empty(), "{:?}", c.notes);
        let text = render_text(&c);
        assert!(text.contains("rate (ok/s)") && text.contains("+100") && text.contains("+10.0%"), "{text}");
        assert!(text.contains("Stage a") && text.contains("Stage b"), "{text}");
        let j = to_json(&c);
        assert_eq!(j["metrics"][0]["better"], "B");
        assert_eq!(j["stages"][1]["name"], "b");
    }

    #[test]
    fn different_stages_are_noted_not_compared() {
        let c = compare(&result(1.0, 1.0, 0, &["a"]), &result(1.0, 1.0, 0, &[]), "x", "y");
        assert!(c.stages.is_empty());
        assert!(c.notes.iter().any(|n| n.contains("different stages (a vs none)")), "{:?}", c.notes);
    }
}
