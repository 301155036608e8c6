//! Views of the parts of a result document ([`ResultDoc`]) that the pages draw as rows (time
//! series, stages, request names, process monitor, threshold verdicts), and the text helpers
//! every page shares: escaping and number formatting.
//!
//! Absent parts give empty lists; a stage without a name and a monitored process without
//! samples are skipped rather than failing the whole page.

use crate::stats::result::{PartDoc, PartLatency, ResultDoc};

/// One interval of the time series (`intervals[]`).
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalRow {
    /// End of the interval, seconds since the run started.
    pub t_s: f64,
    pub stage: Option<String>,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    /// Ok answers per second in this interval.
    pub rps: f64,
    /// Errors per second in this interval.
    pub errors_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub open: Option<u64>,
}

/// Latency figures of a stage or a request name, in ms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// A threshold verdict: `{threshold, actual, passed}` (the schema's own type).
pub use crate::stats::result::VerdictDoc as VerdictRow;

/// Counters of a stage (`stages[]`) or of a request name (`by_name`).
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub name: String,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub rps: Option<f64>,
    pub latency: Latency,
    /// Responses by status, in the JSON's order.
    pub status: Vec<(String, u64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StageRow {
    pub part: Part,
    pub start_s: f64,
    pub end_s: f64,
    pub shape: Option<String>,
    pub thresholds: Vec<VerdictRow>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MonitorSample {
    pub t_s: f64,
    pub cpu_pct: Option<f64>,
    pub rss_bytes: Option<u64>,
}

/// One process watched during the run (`monitor[]`).
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorProc {
    pub pid: u64,
    pub name: String,
    pub samples: Vec<MonitorSample>,
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|x| x.is_finite())
}

fn latency(l: &PartLatency) -> Latency {
    Latency { p50: finite(l.p50), p90: finite(l.p90), p95: finite(l.p95), p99: finite(l.p99), max: finite(l.max) }
}

fn part(name: String, p: &PartDoc) -> Part {
    Part {
        name,
        sent: p.sent,
        ok: p.ok,
        errors: p.errors,
        rps: finite(p.rps),
        latency: latency(&p.latency_ms),
        status: p.status.iter().map(|(k, n)| (k.clone(), *n)).collect(),
    }
}

/// The time series, in time order (empty when the result has none).
pub fn intervals(d: &ResultDoc) -> Vec<IntervalRow> {
    let mut rows: Vec<IntervalRow> = d
        .intervals
        .iter()
        .filter(|i| i.t_s.is_finite())
        .map(|i| IntervalRow {
            t_s: i.t_s,
            stage: i.stage.clone(),
            sent: i.sent,
            ok: i.ok,
            errors: i.errors,
            rps: if i.rps.is_finite() { i.rps } else { 0.0 },
            errors_per_s: 0.0,
            p50_ms: finite(i.p50_ms),
            p90_ms: finite(i.p90_ms),
            p99_ms: finite(i.p99_ms),
            max_ms: finite(i.max_ms),
            open: Some(i.open),
        })
        .collect();
    rows.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    // Errors per second: over the interval's length (from `rps` when it tells, else the gap
    // to the previous interval; one second for the first).
    let mut prev = 0.0;
    for r in &mut rows {
        let gap = if r.t_s > prev { r.t_s - prev } else { 1.0 };
        let dt = if r.ok > 0 && r.rps > 0.0 { r.ok as f64 / r.rps } else { gap };
        r.errors_per_s = if dt > 0.0 { r.errors as f64 / dt } else { 0.0 };
        prev = r.t_s;
    }
    rows
}

/// Threshold verdicts (none when the result was not judged).
pub fn verdicts(list: &Option<Vec<VerdictRow>>) -> Vec<VerdictRow> {
    list.iter().flatten().map(|t| VerdictRow { actual: finite(t.actual), ..t.clone() }).collect()
}

/// The stages of a plan (a stage without a name is left out).
pub fn stages(d: &ResultDoc) -> Vec<StageRow> {
    d.stages
        .iter()
        .filter(|s| !s.name.is_empty())
        .map(|s| StageRow {
            part: part(s.name.clone(), &s.part),
            start_s: if s.start_s.is_finite() { s.start_s } else { 0.0 },
            end_s: if s.end_s.is_finite() { s.end_s } else { 0.0 },
            shape: s.shape.clone(),
            thresholds: verdicts(&s.part.thresholds),
        })
        .collect()
}

/// Stage boundaries for the time charts: the `stages` list, or (without one) the runs of equal
/// `stage` names in the time series.
pub fn stage_spans(d: &ResultDoc, rows: &[IntervalRow]) -> Vec<(f64, f64, String)> {
    let st = stages(d);
    if !st.is_empty() {
        return st.into_iter().map(|s| (s.start_s, s.end_s, s.part.name)).collect();
    }
    let mut spans: Vec<(f64, f64, String)> = Vec::new();
    let mut prev_t = 0.0;
    for r in rows {
        match (&r.stage, spans.last_mut()) {
            (Some(name), Some(last)) if last.2 == *name && last.1 == prev_t => last.1 = r.t_s,
            (Some(name), _) => spans.push((prev_t, r.t_s, name.clone())),
            (None, _) => {}
        }
        prev_t = r.t_s;
    }
    spans
}

/// Per-name counters of a request mix, by name.
pub fn by_name(d: &ResultDoc) -> Vec<Part> {
    d.by_name.iter().map(|(k, p)| part(k.clone(), p)).collect()
}

/// The watched processes that have samples.
pub fn monitor(d: &ResultDoc) -> Vec<MonitorProc> {
    d.monitor
        .iter()
        .map(|p| MonitorProc {
            pid: u64::from(p.pid),
            name: p.name.clone(),
            samples: p
                .samples
                .iter()
                .filter(|x| x.t_s.is_finite())
                .map(|x| MonitorSample { t_s: x.t_s, cpu_pct: finite(Some(x.cpu_pct)), rss_bytes: Some(x.rss_bytes) })
                .collect(),
        })
        .filter(|p| !p.samples.is_empty())
        .collect()
}

/// Every threshold of a result counted, (total, failed): the run's verdicts (named requests'
/// included) and each stage's, as the command that judged them counted them into `verdict`
/// and its exit code (counted here from the lists, so results written before `verdict` read
/// the same).
pub fn verdict_count(d: &ResultDoc) -> (usize, usize) {
    let all = || {
        d.thresholds
            .iter()
            .flatten()
            .chain(d.stages.iter().flat_map(|s| s.part.thresholds.iter().flatten()))
            .chain(d.by_name.values().flat_map(|p| p.thresholds.iter().flatten()))
    };
    (all().count(), all().filter(|t| !t.passed).count())
}

/// A verdict's observed value and its limit, with units (`63.2 ms`, `< 50 ms`), from the
/// threshold's own text; a rule this version cannot parse shows the bare number and no limit.
pub fn observed_and_limit(t: &VerdictRow) -> (String, Option<String>) {
    match crate::thresholds::parse(&t.threshold) {
        Ok(rule) => {
            let unit = rule.metric.unit();
            let fmt = ms; // three significant figures suit every metric
            let observed = t.actual.map_or("no data".to_string(), |a| format!("{}{unit}", fmt(a)));
            (observed, Some(format!("{} {}{unit}", rule.op.symbol(), fmt(rule.limit))))
        }
        Err(_) => (t.actual.map_or("no data".to_string(), |a| num(a, 3)), None),
    }
}

/// Escapes text for HTML and XML, in element content and in quoted attributes alike. Control
/// characters that XML 1.0 forbids are dropped.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => o.push(c),
        }
    }
    o
}

/// An integer with thousands separators: `1,234,567`.
pub fn int(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// A number with `decimals` decimals and thousands separators.
pub fn num(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let s = format!("{:.*}", decimals, x.abs());
    let (whole, frac) = s.split_once('.').map_or((s.as_str(), None), |(w, f)| (w, Some(f)));
    let mut o = String::new();
    if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        o.push('-');
    }
    o.push_str(&whole.parse::<u64>().map_or_else(|_| whole.to_string(), int));
    if let Some(f) = frac {
        o.push('.');
        o.push_str(f);
    }
    o
}

/// Milliseconds to about three significant figures (HdrHistogram keeps three): `0.123`, `1.23`,
/// `12.3`, `123`, `1,234`.
pub fn ms(x: f64) -> String {
    let d = if x < 1.0 {
        3
    } else if x < 10.0 {
        2
    } else if x < 100.0 {
        1
    } else {
        0
    };
    num(x, d)
}

/// `ms` with the unit, or `-` for no data.
pub fn ms_or_dash(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{} ms", ms(x)))
}

pub use crate::stats::report::human_bytes as bytes;

/// Unix milliseconds as `2026-11-23 10:04:05 UTC`.
pub fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::stats::result::doc_from_partial as doc;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(esc("<script>alert('x')</script> & \"q\""), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
        assert_eq!(esc("a\u{1}b\u{0}c\td"), "abc\td");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(num(12345.678, 1), "12,345.7");
        assert_eq!(num(-1234.5, 0), "-1,234");
        assert_eq!(num(-0.0001, 2), "0.00");
        assert_eq!(ms(0.12345), "0.123");
        assert_eq!(ms(1.2345), "1.23");
        assert_eq!(ms(12.345), "12.3");
        assert_eq!(ms(1234.5), "1,234");
        assert_eq!(ms_or_dash(None), "-");
        assert_eq!(bytes(2048.0), "2.00 KiB");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_435_445_000), "2026-11-23 12:04:05 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn reads_intervals_leniently() {
        // every interval has its time and counts (the schema requires them)
        let v = doc(json!({"intervals": [
            {"t_s": 2.0, "stage": "b", "sent": 10, "ok": 8, "errors": 2, "rps": 16.0, "p50_ms": null, "open": 3},
            {"t_s": 1.5, "stage": "a", "sent": 5, "ok": 5, "errors": 0, "rps": 10.0, "p50_ms": 1.0, "open": 1},
        ]}));
        let rows = intervals(&v);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].t_s, 1.5);
        assert_eq!(rows[0].p50_ms, Some(1.0));
        assert_eq!(rows[1].p50_ms, None);
        assert_eq!(rows[1].open, Some(3));
        // 8 ok at 16/s: a half-second interval, so 2 errors are 4/s
        assert!((rows[1].errors_per_s - 4.0).abs() < 1e-9);
        assert!(intervals(&ResultDoc::default()).is_empty());
        // stage spans from the series when there is no stages list
        assert_eq!(stage_spans(&v, &rows), vec![(0.0, 1.5, "a".to_string()), (1.5, 2.0, "b".to_string())]);
    }

    #[test]
    fn reads_stages_names_and_monitor() {
        let v = doc(json!({
            "stages": [{"name": "warm", "start_s": 0.0, "end_s": 5.0, "sent": 9, "ok": 8, "errors": 1, "rps": 1.6,
                        "latency_ms": {"p50": 1.0, "p99": 2.0}, "status": {"200": 8},
                        "thresholds": [{"threshold": "p99<1ms", "actual": 2.0, "passed": false}]}, {"start_s": 1}],
            "by_name": {"reads": {"sent": 3, "ok": 3, "errors": 0}},
            "monitor": [{"pid": 7, "name": "nginx", "samples": [{"t_s": 1.0, "cpu_pct": 12.5, "rss_bytes": 1000}]}, {"pid": 8, "samples": []}],
        }));
        let s = stages(&v);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].part.latency.p99, Some(2.0));
        assert_eq!(s[0].part.status, vec![("200".to_string(), 8)]);
        assert!(!s[0].thresholds[0].passed);
        assert_eq!(observed_and_limit(&s[0].thresholds[0]), ("2.00 ms".to_string(), Some("< 1.00 ms".to_string())));
        let rate = VerdictRow { threshold: "rps>9.5k".into(), actual: Some(9000.4), passed: false };
        assert_eq!(observed_and_limit(&rate), ("9,000/s".to_string(), Some("> 9,500/s".to_string())));
        let odd = VerdictRow { threshold: "future_metric<3".into(), actual: None, passed: false };
        assert_eq!(observed_and_limit(&odd), ("no data".to_string(), None));
        assert_eq!(by_name(&v)[0].name, "reads");
        let m = monitor(&v);
        assert_eq!(m.len(), 1, "a process without samples is left out");
        assert_eq!(m[0].samples[0].rss_bytes, Some(1000));
    }
}
