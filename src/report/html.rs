//! `stampede report`: one self-contained HTML page from a JSON result: the verdicts, the key
//! figures of the text report, time charts (throughput and errors, latency percentiles, open
//! connections) with the stages marked, the percentile spectrum of the whole run from its
//! HdrHistogram, the per-stage and per-name tables, and the watched processes' CPU and memory.
//!
//! No external resource and no script: inline CSS and SVG only, so the file can be mailed,
//! attached to a CI run or opened offline. Every text from the result is escaped. Value cells of
//! the summary carry `data-key` (the JSON path they show), which the tests use to check them.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::svg::{time_ticks, Band, Chart, Series};
use super::view::{self, bytes, esc, int, ms, ms_or_dash, num, IntervalRow, Part, VerdictRow};
use crate::stats::report::RunResult;
use crate::stats::result::{Latency, Loop, ResultDoc, ScenarioKind, Short};

const BLUE: &str = "#2563eb";
const GREEN: &str = "#16a34a";
const AMBER: &str = "#d97706";
const RED: &str = "#dc2626";
const PURPLE: &str = "#7c3aed";
const GRAY: &str = "#6b7280";
const PALETTE: [&str; 8] = [BLUE, RED, GREEN, AMBER, PURPLE, "#0891b2", "#db2777", "#4b5563"];

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #111827; margin: 24px auto; max-width: 1140px; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
.target { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 15px; margin: 0 0 4px; word-break: break-all; }
.meta { color: #4b5563; margin: 0; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 14px; }
th, td { border: 1px solid #e5e7eb; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f9fafb; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.grid { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
.pass, .fail { font-weight: bold; padding: 1px 8px; border-radius: 4px; color: #fff; }
.pass { background: #16a34a; }
.fail { background: #dc2626; }
.warning { background: #fef3c7; border: 1px solid #d97706; padding: 8px 14px; border-radius: 6px; margin: 14px 0; }
.interrupted { background: #fee2e2; border: 1px solid #dc2626; padding: 8px 14px; border-radius: 6px; margin: 14px 0; }
.note { color: #4b5563; font-style: italic; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 8px 0 16px; border: 1px solid #e5e7eb; }
footer { color: #6b7280; font-size: 12px; margin-top: 32px; }
"#;

/// The whole page.
pub fn render(v: &ResultDoc, r: &RunResult) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let (scenario, target) = (&v.scenario, &v.target);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>stampede {} {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(scenario),
        esc(target)
    );
    header(&mut o, v);
    thresholds(&mut o, v);
    summary(&mut o, v);
    let rows = view::intervals(v);
    time_charts(&mut o, v, &rows);
    spectrum(&mut o, r);
    stages(&mut o, v);
    by_name(&mut o, v);
    monitor(&mut o, v);
    let _ = write!(
        o,
        "<footer>Made by stampede {} from a {} result. Latencies are in milliseconds; corrected latency counts from the intended send time.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&v.schema)
    );
    o
}

fn open_loop(v: &ResultDoc) -> bool {
    v.loop_mode == Loop::Open
}

fn header(o: &mut String, v: &ResultDoc) {
    let _ = writeln!(o, "<header>\n<h1>stampede {}</h1>", esc(&v.scenario));
    let _ = writeln!(o, "<p class=\"target\">{}</p>", esc(&v.target));
    let mode = match (v.rate.target_per_s, v.loop_mode) {
        (Some(r), Loop::Open) => format!(
            "open loop at {} req/s{}",
            crate::stats::report::grouped(r),
            v.pacing.as_deref().map_or(String::new(), |p| format!(" (pacing {})", esc(p)))
        ),
        (None, Loop::Open) | (_, Loop::Closed) => "closed loop".to_string(),
    };
    let started = Some(v.started_unix_ms).filter(|t| *t > 0).map_or(String::new(), |t| format!("started {}, ", view::utc(t)));
    let _ = writeln!(
        o,
        "<p class=\"meta\">{started}{} s, {mode}, {} connections, {} threads, pipeline {}, driver {}</p>\n</header>",
        num(v.duration_s, 2),
        int(v.connections.planned),
        int(v.threads),
        int(v.pipeline),
        esc(&v.driver)
    );
    if v.interrupted {
        let _ = writeln!(
            o,
            "<p class=\"interrupted\" id=\"interrupted\"><b>Interrupted:</b> the run was stopped early; the figures cover what ran.</p>"
        );
    }
    if v.generator.saturated {
        let _ = writeln!(o, "<div class=\"warning\" id=\"saturation\"><b>WARNING: the generator itself may have limited this run:</b><ul>");
        for reason in &v.generator.saturation_reasons {
            let _ = writeln!(o, "<li>{}</li>", esc(reason));
        }
        let _ = writeln!(o, "</ul>The figures then describe stampede's limit, not the target's.</div>");
    }
    if let Some(note) = &v.generator.pacing_note {
        let _ = writeln!(o, "<div class=\"warning\" id=\"pacing\"><b>WARNING:</b> {}</div>", esc(note));
    }
}

fn badge(passed: bool) -> &'static str {
    if passed {
        "<span class=\"pass\">PASS</span>"
    } else {
        "<span class=\"fail\">FAIL</span>"
    }
}

/// Rows of a verdict table (rule, observed, limit, verdict).
fn verdict_rows(o: &mut String, list: &[VerdictRow]) {
    for t in list {
        let (observed, limit) = view::observed_and_limit(t);
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&t.threshold),
            esc(&observed),
            esc(&limit.unwrap_or_default()),
            badge(t.passed)
        );
    }
}

/// The verdict at the top of the page: every threshold (run, stages, named requests) counted,
/// as the text report and the exit code count them; then the run's own rules.
fn thresholds(o: &mut String, v: &ResultDoc) {
    let (total, failed) = view::verdict_count(v);
    if total == 0 {
        return;
    }
    let _ =
        writeln!(o, "<section id=\"thresholds\">\n<h2 id=\"verdict\">{}</h2>", esc(&crate::stats::report::verdict_headline(total, failed)));
    let list = view::verdicts(&v.thresholds);
    if list.len() < total {
        let _ = writeln!(o, "<p class=\"note\">Stage thresholds are listed with the stages below.</p>");
    }
    if !list.is_empty() {
        let _ = writeln!(o, "<table>\n<tr><th>rule</th><th>observed</th><th>limit</th><th>verdict</th></tr>");
        verdict_rows(o, &list);
        let _ = writeln!(o, "</table>");
    }
    let _ = writeln!(o, "</section>");
}

/// A `th` + value row whose value cell is tagged with the JSON path it shows.
fn kv(o: &mut String, label: &str, key: &str, value: &str) {
    let _ = writeln!(o, "<tr><th>{label}</th><td class=\"n\" data-key=\"{key}\">{value}</td></tr>");
}

/// `200: 1,234 · 429: 5`, or `none`.
fn counts(m: &std::collections::BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, n)| format!("{}: {}", esc(k), int(*n))).collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" · ")
    }
}

/// `p50 1.00 ms · p99 2.00 ms · max 3.00 ms`.
fn short(m: &Short) -> String {
    format!("p50 {} · p99 {} · max {}", ms_or_dash(m.p50), ms_or_dash(m.p99), ms_or_dash(m.max))
}

fn summary(o: &mut String, v: &ResultDoc) {
    let _ = writeln!(o, "<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"grid\">\n<table id=\"totals\">");
    totals(o, v);
    let _ = writeln!(o, "</table>\n<table id=\"connections\">");
    connections(o, v);
    generator(o, v);
    let _ = writeln!(o, "</table>");
    latency_table(o, v);
    extras(o, v);
    let _ = writeln!(o, "</div>\n</section>");
}

/// Counts, rate, statuses, errors and bytes.
fn totals(o: &mut String, v: &ResultDoc) {
    let (what, per) = match v.kind() {
        Some(ScenarioKind::Ws) => ("Messages", "msg/s"),
        Some(ScenarioKind::Asr) => ("Sessions", "sessions/s"),
        Some(ScenarioKind::Http | ScenarioKind::WsChat | ScenarioKind::Raw) | None => ("Requests", "req/s"),
    };
    let q = &v.requests;
    kv(o, &format!("{what} sent"), "requests.sent", &int(q.sent));
    kv(o, &format!("{what} ok"), "requests.ok", &int(q.ok));
    kv(o, &format!("{what} failed"), "requests.errors", &int(q.errors));
    kv(o, "In flight at the end", "requests.in_flight", &int(q.in_flight));
    let rate = crate::stats::report::grouped;
    kv(o, "Rate achieved", "rate.achieved_per_s", &format!("{} {per}", rate(v.rate.achieved_per_s)));
    if let Some(t) = v.rate.target_per_s {
        kv(o, "Rate asked for", "rate.target_per_s", &format!("{} {per}", rate(t)));
    }
    kv(o, "Status codes", "status", &counts(&v.status));
    kv(o, "Not 2xx/3xx", "non_2xx_3xx", &int(v.non_2xx_3xx));
    kv(o, "Errors by class", "errors", &counts(&v.errors));
    if !v.status_errors.is_empty() {
        kv(o, "Failed by status", "status_errors", &counts(&v.status_errors));
    }
    if let Some(c) = &v.checks {
        let pct = c.passed_pct.map_or("-".to_string(), |p| num(p, 2));
        kv(o, "Checks passed", "checks.passed", &format!("{} of {} ({pct} %)", int(c.passed), int(c.checked)));
        if !c.failed.is_empty() {
            kv(o, "Checks failed", "checks.failed", &counts(&c.failed));
        }
    }
    if !v.close_codes.is_empty() {
        kv(o, "Closes by the server", "close_codes", &counts(&v.close_codes));
    }
    kv(o, "Transfer", "bytes", &format!("{} read, {} written", bytes(v.bytes.read as f64), bytes(v.bytes.written as f64)));
}

/// Connections, connect and handshake latency, TLS.
fn connections(o: &mut String, v: &ResultDoc) {
    let c = &v.connections;
    kv(o, "Connections planned", "connections.planned", &int(c.planned));
    kv(o, "Connect attempts", "connections.attempted", &int(c.attempted));
    kv(o, "Established", "connections.established", &int(c.established));
    kv(o, "Peak open", "connections.peak_open", &int(c.peak_open));
    kv(o, "Mean open", "connections.mean_open", &num(c.mean_open, 1));
    kv(o, "Connect latency", "connect_ms", &short(&v.connect_ms));
    if v.handshake_ms.p50.is_some() {
        kv(o, "Handshake latency", "handshake_ms", &short(&v.handshake_ms));
    }
    if let Some(t) = v.tls.as_ref().filter(|t| t.handshake_ms.p50.is_some()) {
        kv(o, "TLS handshakes", "tls.handshakes", &format!("{} ({} resumed)", int(t.handshakes), int(t.resumed)));
        kv(o, "TLS handshake latency", "tls.handshake_ms", &short(&t.handshake_ms));
    }
}

/// The generator's CPU, memory and saturation.
fn generator(o: &mut String, v: &ResultDoc) {
    let g = &v.generator;
    kv(
        o,
        "Generator CPU",
        "generator.cpu_busy",
        &format!(
            "{} s user + {} s sys = {} % of {} thread(s)",
            num(g.cpu_user_s, 2),
            num(g.cpu_sys_s, 2),
            num(g.cpu_busy * 100.0, 0),
            int(v.threads)
        ),
    );
    kv(o, "CPU per request", "generator.cpu_us_per_request", &g.cpu_us_per_request.map_or("-".into(), |x| format!("{} µs", num(x, 2))));
    if g.rss_peak_bytes > 0 {
        let per = g.bytes_per_connection.map_or(String::new(), |b| format!(", {} per open connection", bytes(b)));
        let text = format!("{} peak ({} at start){per}", bytes(g.rss_peak_bytes as f64), bytes(g.rss_start_bytes as f64));
        kv(o, "Generator memory", "generator.rss_peak_bytes", &text);
    }
    kv(o, "Generator saturated", "generator.saturated", if g.saturated { "<b>yes</b> (see the warning)" } else { "no" });
}

/// A row of the latency table: its label, its JSON key, its figure in the full summary and
/// in the short one (send lateness has p50, p99 and max only).
struct LatencyRow {
    label: &'static str,
    key: &'static str,
    full: fn(&Latency) -> Option<f64>,
    short: Option<fn(&Short) -> Option<f64>>,
}

const LATENCY_ROWS: [LatencyRow; 8] = [
    LatencyRow { label: "min", key: "min", full: |l| l.min, short: None },
    LatencyRow { label: "mean", key: "mean", full: |l| l.mean, short: None },
    LatencyRow { label: "p50", key: "p50", full: |l| l.p50, short: Some(|s| s.p50) },
    LatencyRow { label: "p90", key: "p90", full: |l| l.p90, short: None },
    LatencyRow { label: "p99", key: "p99", full: |l| l.p99, short: Some(|s| s.p99) },
    LatencyRow { label: "p99.9", key: "p999", full: |l| l.p999, short: None },
    LatencyRow { label: "p99.99", key: "p9999", full: |l| l.p9999, short: None },
    LatencyRow { label: "max", key: "max", full: |l| l.max, short: Some(|s| s.max) },
];

fn latency_table(o: &mut String, v: &ResultDoc) {
    let open = open_loop(v);
    let _ = writeln!(o, "<table id=\"latency\">");
    if open {
        let _ = writeln!(o, "<tr><th>latency</th><th>corrected</th><th>service</th><th>send late</th></tr>");
    } else {
        let _ = writeln!(o, "<tr><th>latency</th><th>closed loop: latency = service time</th></tr>");
    }
    for row in &LATENCY_ROWS {
        let (label, key) = (row.label, row.key);
        let cell = |group: &str, x: Option<f64>| format!("<td class=\"n\" data-key=\"{group}.{key}\">{}</td>", ms_or_dash(x));
        let corrected = cell("latency_ms", (row.full)(&v.latency_ms));
        if open {
            let late = match row.short {
                Some(get) => cell("send_lateness_ms", v.send_lateness_ms.as_ref().and_then(get)),
                None => "<td class=\"n\"></td>".to_string(),
            };
            let service = cell("service_latency_ms", (row.full)(&v.service_latency_ms));
            let _ = writeln!(o, "<tr><th>{label}</th>{corrected}{service}{late}</tr>");
        } else {
            let _ = writeln!(o, "<tr><th>{label}</th>{corrected}</tr>");
        }
    }
    let _ = writeln!(o, "</table>");
}

/// Chat and streaming-session figures, when the result has them.
fn extras(o: &mut String, v: &ResultDoc) {
    if let Some(chat) = &v.chat {
        let _ = writeln!(o, "<table id=\"chat\">");
        kv(o, "Chat messages sent", "chat.messages_sent", &int(chat.messages_sent));
        kv(o, "Deliveries", "chat.deliveries", &int(chat.deliveries));
        kv(o, "Per message", "chat.deliveries_per_message", &num(chat.deliveries_per_message, 1));
        kv(o, "Fan-out latency", "chat.delivery_latency_ms", &short(&chat.delivery_latency_ms));
        let _ = writeln!(o, "</table>");
    }
    if let Some(asr) = &v.asr {
        let s = &asr.sessions;
        let _ = writeln!(o, "<table id=\"asr\">");
        let sessions = format!("{} started, {} completed, {} failed", int(s.started), int(s.completed), int(s.failed));
        kv(o, "Sessions", "asr.sessions", &sessions);
        if let Some(c) = &asr.audio_conversion {
            kv(o, "Audio conversion", "asr.audio_conversion", &esc(c.strip_prefix("audio: ").unwrap_or(c)));
        }
        kv(o, "First partial", "asr.time_to_first_partial_ms", &short(&asr.time_to_first_partial_ms));
        kv(o, "Final latency (corrected)", "asr.final_latency_ms.corrected", &short(&asr.final_latency_ms.corrected));
        kv(o, "Final latency (service)", "asr.final_latency_ms.service", &short(&asr.final_latency_ms.service));
        if let Some(g) = &asr.segments {
            kv(o, "Segments", "asr.segments.count", &format!("{} ({} per session)", int(g.count), num(g.per_session, 1)));
            kv(o, "Segment latency", "asr.segments.latency_ms", &short(&g.latency_ms));
        }
        kv(o, "Frames sent", "asr.frames_sent", &int(asr.frames_sent));
        kv(o, "Frame send lag", "asr.frame_send_lag_ms", &short(&asr.frame_send_lag_ms));
        let x = |r: Option<f64>| r.map_or("-".into(), |x| num(x, 3));
        kv(o, "Real-time factor", "asr.rtf", &format!("p50 {} · p99 {} · max {}", x(asr.rtf.p50), x(asr.rtf.p99), x(asr.rtf.max)));
        kv(o, "Transcript updates per session", "asr.partials_per_session", &num(asr.partials_per_session, 1));
        if let Some(us) = asr.cpu_us_per_audio_second {
            kv(o, "CPU per audio-second", "asr.cpu_us_per_audio_second", &format!("{} µs", num(us, 0)));
        }
        let _ = writeln!(o, "</table>");
    }
}

fn bands(v: &ResultDoc, rows: &[IntervalRow]) -> Vec<Band> {
    view::stage_spans(v, rows).into_iter().map(|(start, end, label)| Band { start, end, label }).collect()
}

fn time_chart(id: &str, title: &str, y_label: &str, x_max: f64, bands: &[Band], series: Vec<Series>) -> Chart {
    Chart {
        id: id.into(),
        title: title.into(),
        x_label: "time since the start of the run".into(),
        x_range: (0.0, x_max),
        x_ticks: Some(time_ticks(x_max)),
        y_label: y_label.into(),
        y2_label: String::new(),
        series,
        bands: bands.to_vec(),
    }
}

fn time_charts(o: &mut String, v: &ResultDoc, rows: &[IntervalRow]) {
    let _ = writeln!(o, "<section id=\"time-series\">\n<h2>Over time</h2>");
    if rows.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"note\" id=\"no-time-series\">This result has no time series (it was written by a stampede that did not record one per second), so there are no charts over time.</p>\n</section>"
        );
        return;
    }
    let last = rows.last().map_or(0.0, |r| r.t_s);
    let x_max = last.max(v.duration_s).max(1.0);
    let bands = bands(v, rows);
    let col = |get: fn(&IntervalRow) -> Option<f64>| rows.iter().map(|r| (r.t_s, get(r))).collect::<Vec<_>>();
    let mut tput =
        vec![Series::new("ok/s", BLUE, col(|r| Some(r.rps))), Series::new("errors/s", RED, col(|r| Some(r.errors_per_s))).right()];
    if let (Some(rate), true) = (v.rate.target_per_s, bands.is_empty() && open_loop(v)) {
        tput.push(Series::new("asked for", GRAY, vec![(0.0, Some(rate)), (x_max, Some(rate))]).dashed());
    }
    let mut chart = time_chart("chart-throughput", "Throughput (ok answers per second) and errors", "ok/s", x_max, &bands, tput);
    chart.y2_label = "errors/s".into();
    o.push_str(&chart.to_svg());
    let lat = vec![
        Series::new("p50", BLUE, col(|r| r.p50_ms)),
        Series::new("p90", GREEN, col(|r| r.p90_ms)),
        Series::new("p99", AMBER, col(|r| r.p99_ms)),
        Series::new("max", RED, col(|r| r.max_ms)),
    ];
    o.push_str(&time_chart("chart-latency", "Latency per second (corrected), percentiles", "ms", x_max, &bands, lat).to_svg());
    if rows.iter().any(|r| r.open.is_some()) {
        let open = vec![Series::new("open", PURPLE, col(|r| r.open.map(|n| n as f64)))];
        o.push_str(&time_chart("chart-open", "Open connections", "connections", x_max, &bands, open).to_svg());
    }
    let _ = writeln!(o, "</section>");
}

/// Highest `x` of the spectrum: `k` nines, where 10^k covers the sample count (2 to 6).
fn spectrum_nines(n: u64) -> u32 {
    ((n.max(1) as f64).log10().ceil() as u32).clamp(2, 6)
}

/// The percentile spectrum of a histogram (ns) as (x, ms) with x = log10(1 / (1 - q)),
/// clamped at `nines`: 0 is the 0th percentile, 1 the 90th, 2 the 99th, ...
pub fn spectrum_points(h: &Histogram<u64>, nines: u32) -> Vec<(f64, Option<f64>)> {
    if h.is_empty() {
        return Vec::new();
    }
    let cap = f64::from(nines);
    let mut pts = vec![(0.0, Some(h.min() as f64 / 1e6))];
    for it in h.iter_quantiles(5) {
        let q = it.quantile_iterated_to();
        let x = if q >= 1.0 { cap } else { (-(1.0 - q).log10()).min(cap) };
        pts.push((x, Some(h.highest_equivalent(it.value_iterated_to()).min(h.max()) as f64 / 1e6)));
    }
    pts.push((cap, Some(h.max() as f64 / 1e6)));
    pts
}

fn spectrum(o: &mut String, r: &RunResult) {
    let _ = writeln!(o, "<section id=\"spectrum\">\n<h2>Percentile spectrum of the whole run</h2>");
    let s = &r.shard;
    if s.corrected.is_empty() {
        let _ =
            writeln!(o, "<p class=\"note\" id=\"no-spectrum\">No answer was timed, so there is no latency distribution.</p>\n</section>");
        return;
    }
    let nines = spectrum_nines(s.corrected.len());
    let ticks: Vec<(f64, String)> = (0..=nines)
        .map(|k| {
            let label = match k {
                0 => "0%".to_string(),
                1 => "90%".to_string(),
                k => format!("99.{}%", "9".repeat(k as usize - 2)).replace("99.%", "99%"),
            };
            (f64::from(k), label)
        })
        .collect();
    let mut series = Vec::new();
    if r.open_loop() {
        series.push(Series::new("corrected", BLUE, spectrum_points(&s.corrected, nines)));
        series.push(Series::new("service", GREEN, spectrum_points(&s.service, nines)).dashed());
    } else {
        series.push(Series::new("latency", BLUE, spectrum_points(&s.corrected, nines)));
    }
    let chart = Chart {
        id: "chart-spectrum".into(),
        title: format!("Latency by percentile ({} answers)", int(s.corrected.len())),
        x_label: "percentile (log scale: each step one more nine)".into(),
        x_range: (0.0, f64::from(nines)),
        x_ticks: Some(ticks),
        y_label: "ms".into(),
        y2_label: String::new(),
        series,
        bands: Vec::new(),
    };
    o.push_str(&chart.to_svg());
    let _ = writeln!(o, "</section>");
}

fn part_cells(p: &Part) -> String {
    let l = &p.latency;
    let status: Vec<String> = p.status.iter().map(|(k, n)| format!("{}: {}", esc(k), int(*n))).collect();
    format!(
        "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td>",
        int(p.sent),
        int(p.ok),
        int(p.errors),
        p.rps.map_or("-".into(), |x| num(x, 1)),
        l.p50.map_or("-".into(), ms),
        l.p90.map_or("-".into(), ms),
        l.p95.map_or("-".into(), ms),
        l.p99.map_or("-".into(), ms),
        l.max.map_or("-".into(), ms),
        if status.is_empty() { "-".to_string() } else { status.join(" · ") }
    )
}

const PART_HEAD: &str = "<th>sent</th><th>ok</th><th>errors</th><th>ok/s</th><th>p50 ms</th><th>p90 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>status</th>";

const CHAT_PART_HEAD: &str = "<th>messages</th><th>delivered</th><th>errors</th><th>msg/s</th><th>p50 ms</th><th>p90 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>status</th>";

fn stages(o: &mut String, v: &ResultDoc) {
    let list = view::stages(v);
    if list.is_empty() {
        return;
    }
    // Chat stages count messages sent and copies delivered, with the fan-out latency.
    let head = if v.scenario == ScenarioKind::WsChat.name() { CHAT_PART_HEAD } else { PART_HEAD };
    let _ = writeln!(o, "<section id=\"stages\">\n<h2>Stages</h2>\n<table>\n<tr><th>stage</th><th>from–to</th><th>shape</th>{head}</tr>");
    for s in &list {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}–{} s</td><td>{}</td>{}</tr>",
            esc(&s.part.name),
            num(s.start_s, 1),
            num(s.end_s, 1),
            esc(s.shape.as_deref().unwrap_or("")),
            part_cells(&s.part)
        );
    }
    let _ = writeln!(o, "</table>");
    if list.iter().any(|s| !s.thresholds.is_empty()) {
        let _ = writeln!(o, "<h3>Thresholds per stage</h3>\n<table id=\"stage-thresholds\">\n<tr><th>stage</th><th>rule</th><th>observed</th><th>limit</th><th>verdict</th></tr>");
        for s in &list {
            for t in &s.thresholds {
                let mut row = String::new();
                verdict_rows(&mut row, std::slice::from_ref(t));
                let _ = write!(o, "{}", row.replacen("<tr>", &format!("<tr><td>{}</td>", esc(&s.part.name)), 1));
            }
        }
        let _ = writeln!(o, "</table>");
    }
    let _ = writeln!(o, "</section>");
}

fn by_name(o: &mut String, v: &ResultDoc) {
    let list = view::by_name(v);
    if list.is_empty() {
        return;
    }
    let _ = writeln!(o, "<section id=\"by-name\">\n<h2>By request name</h2>\n<table>\n<tr><th>name</th>{PART_HEAD}</tr>");
    for p in &list {
        let _ = writeln!(o, "<tr><td>{}</td>{}</tr>", esc(&p.name), part_cells(p));
    }
    let _ = writeln!(o, "</table>\n</section>");
}

fn monitor(o: &mut String, v: &ResultDoc) {
    let procs = view::monitor(v);
    if procs.is_empty() {
        return;
    }
    let x_max = procs.iter().flat_map(|p| p.samples.iter().map(|s| s.t_s)).fold(v.duration_s, f64::max).max(1.0);
    let rows = view::intervals(v);
    let bands = bands(v, &rows);
    let label = |p: &view::MonitorProc| if p.name.is_empty() { format!("pid {}", p.pid) } else { format!("{} ({})", p.name, p.pid) };
    let cpu: Vec<Series> = procs
        .iter()
        .enumerate()
        .map(|(i, p)| Series::new(&label(p), PALETTE[i % PALETTE.len()], p.samples.iter().map(|s| (s.t_s, s.cpu_pct)).collect()))
        .collect();
    let rss: Vec<Series> = procs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Series::new(
                &label(p),
                PALETTE[i % PALETTE.len()],
                p.samples.iter().map(|s| (s.t_s, s.rss_bytes.map(|b| b as f64 / 1048576.0))).collect(),
            )
        })
        .collect();
    let _ = writeln!(o, "<section id=\"monitor\">\n<h2>Watched processes</h2>");
    o.push_str(&time_chart("chart-monitor-cpu", "CPU of the watched processes (100 % = one core)", "CPU %", x_max, &bands, cpu).to_svg());
    o.push_str(&time_chart("chart-monitor-rss", "Resident memory of the watched processes", "MiB", x_max, &bands, rss).to_svg());
    let _ = writeln!(o, "</section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::new_histogram;

    #[test]
    fn spectrum_runs_from_min_to_max_on_a_log_axis() {
        let mut h = new_histogram();
        for i in 1..=10_000u64 {
            h.record(i * 1000).unwrap(); // 1 µs .. 10 ms
        }
        assert_eq!(spectrum_nines(h.len()), 4);
        assert_eq!(spectrum_nines(3), 2);
        assert_eq!(spectrum_nines(u64::MAX), 6);
        let pts = spectrum_points(&h, 4);
        let first = pts.first().unwrap();
        let last = pts.last().unwrap();
        assert_eq!(first.0, 0.0);
        assert!((first.1.unwrap() - 0.001).abs() < 1e-5, "{first:?}");
        assert_eq!(last.0, 4.0);
        assert!((last.1.unwrap() - 10.0).abs() < 0.01, "{last:?}");
        // x rises and so does the latency; the 99th percentile sits at x = 2
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1), "{pts:?}");
        let near_99 = pts.iter().find(|p| (p.0 - 2.0).abs() < 0.05).expect("a point near p99");
        assert!((near_99.1.unwrap() - 9.9).abs() < 0.1, "{near_99:?}");
        assert!(spectrum_points(&new_histogram(), 3).is_empty());
    }
}
