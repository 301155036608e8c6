//! While a run goes on: the workers' per-second intervals are added up here into the time
//! series, printed as the live line, exposed to Prometheus (`--metrics-listen`), and judged
//! against the thresholds when the plan says `abort_on_fail`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::engine::Tick;
use crate::stats::report::{live_line, RunMeta, RunResult};
use crate::stats::timeline::{IntervalRec, SecondAcc};
use crate::stats::{new_histogram, ErrorClass, Shard};
use crate::thresholds::{self, Threshold};

/// Totals so far, for the metrics endpoint and the abort check.
#[derive(Clone)]
pub struct Totals {
    pub seconds: u64,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub open: u64,
    pub last_rps: u64,
    pub latency: Histogram<u64>,
    pub last_latency: Histogram<u64>,
    pub stage: Option<String>,
    pub aborted: Option<String>,
}

impl Totals {
    fn new() -> Totals {
        Totals {
            seconds: 0,
            sent: 0,
            ok: 0,
            errors: 0,
            open: 0,
            last_rps: 0,
            latency: new_histogram(),
            last_latency: new_histogram(),
            stage: None,
            aborted: None,
        }
    }

    fn add(&mut self, rec: &SecondAcc) {
        self.seconds = rec.t_s;
        self.sent += rec.sent;
        self.ok += rec.ok;
        self.errors += rec.errors;
        self.open = rec.open;
        self.last_rps = rec.ok;
        let _ = self.latency.add(&rec.latency);
        self.last_latency = rec.latency.clone();
    }

    /// The run so far as a result, for judging latency, error and rate thresholds.
    fn as_result(&self) -> RunResult {
        let mut shard = Shard::new();
        shard.corrected = self.latency.clone();
        shard.sent = self.sent;
        shard.responses = self.ok;
        shard.failed = self.errors;
        shard.errors[ErrorClass::Other.index()] = self.errors;
        let meta = RunMeta { threads: 1, pipeline: 1, duration_s: self.seconds.max(1) as f64, ..Default::default() };
        RunResult::new(meta, shard)
    }

    /// Prometheus text exposition (version 0.0.4).
    pub fn exposition(&self) -> String {
        let mut o = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            o.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
        };
        metric("stampede_requests_sent_total", "counter", "Requests (or messages) written.", self.sent.to_string());
        metric("stampede_responses_total", "counter", "Complete answers received.", self.ok.to_string());
        metric("stampede_errors_total", "counter", "Failed requests and connects.", self.errors.to_string());
        metric("stampede_open_connections", "gauge", "Connections open at the end of the last second.", self.open.to_string());
        metric("stampede_responses_per_second", "gauge", "Answers in the last complete second.", self.last_rps.to_string());
        metric("stampede_elapsed_seconds", "gauge", "Seconds of the run completed.", self.seconds.to_string());
        let mut summary = |name: &str, help: &str, h: &Histogram<u64>| {
            o.push_str(&format!("# HELP {name} {help}\n# TYPE {name} summary\n"));
            for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
                let v = if h.is_empty() { f64::NAN } else { h.value_at_quantile(q) as f64 / 1e9 };
                o.push_str(&format!("{name}{{quantile=\"{q}\"}} {v}\n"));
            }
            let sum = h.mean() * h.len() as f64 / 1e9;
            o.push_str(&format!("{name}_sum {sum}\n{name}_count {}\n", h.len()));
        };
        summary("stampede_latency_seconds", "Corrected latency of every answer so far.", &self.latency);
        summary("stampede_latency_last_second_seconds", "Corrected latency of the answers of the last second.", &self.last_latency);
        if let Some(stage) = &self.stage {
            let stage = stage.replace('\\', "\\\\").replace('"', "\\\"");
            o.push_str(&format!(
                "# HELP stampede_stage_info The plan stage running.\n# TYPE stampede_stage_info gauge\nstampede_stage_info{{stage=\"{stage}\"}} 1\n"
            ));
        }
        o
    }
}

/// What the collector needs to know besides the ticks.
pub struct CollectorOpts {
    pub workers: usize,
    pub live_line: bool,
    /// Shared with the metrics endpoint.
    pub totals: Option<Arc<Mutex<Totals>>>,
    /// `abort_on_fail`: rules checked every second once `abort_after` seconds have passed;
    /// a breach sets `stop` and says why.
    pub abort: Vec<Threshold>,
    pub abort_after: u64,
    pub stop: Arc<AtomicBool>,
    /// Stage names and their end (s), to label the metrics.
    pub stages: Vec<(String, f64)>,
    /// A child of a `--processes` run: the last complete second goes to this file for the
    /// parent's progress line.
    pub progress_file: Option<std::path::PathBuf>,
}

/// The progress file line of one second: `t_s ok errors open p99_ns`.
fn progress_line(rec: &IntervalRec) -> String {
    let p99 = rec.quantiles[2];
    format!("{} {} {} {} {p99}\n", rec.t_s, rec.ok, rec.errors, rec.open)
}

/// The parent's live line from its children's progress files (`None` before any second).
pub fn combined_progress(files: &[std::path::PathBuf]) -> Option<String> {
    let (mut t, mut ok, mut errors, mut open, mut p99, mut seen) = (0u64, 0u64, 0u64, 0u64, 0u64, 0usize);
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let v: Vec<u64> = text.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        if let [ts, o, e, op, p] = v[..] {
            t = t.max(ts);
            ok += o;
            errors += e;
            open += op;
            p99 = p99.max(p);
            seen += 1;
        }
    }
    let p99 = if p99 == 0 { "-".to_string() } else { crate::stats::report::human(p99 as f64) };
    (seen > 0).then(|| format!("[{t:>5}s] {ok:>9} req/s  {errors:>6} errors  {open:>6} open  p99 {p99} (worst of {seen} processes)"))
}

/// Adds the workers' intervals up, second by second; returns the time series and, when the
/// run was aborted by a threshold, why. Returns when the workers are done.
pub fn collect(rx: mpsc::Receiver<Tick>, opts: CollectorOpts) -> (Vec<IntervalRec>, Option<String>) {
    let mut pending: Vec<(u64, usize, SecondAcc)> = Vec::new();
    let mut done: Vec<IntervalRec> = Vec::new();
    let mut printed = false;
    let mut totals = Totals::new();
    let mut aborted = None;
    while let Ok(t) = rx.recv() {
        match pending.iter_mut().find(|(s, _, _)| *s == t.second) {
            Some((_, n, rec)) => {
                rec.add_interval(&t.interval);
                *n += 1;
            }
            None => {
                let mut acc = SecondAcc::new(t.second + 1);
                acc.add_interval(&t.interval);
                pending.push((t.second, 1, acc));
            }
        }
        pending.sort_by_key(|(s, _, _)| *s);
        while pending.first().is_some_and(|(_, n, _)| *n >= opts.workers) {
            let (_, _, acc) = pending.remove(0);
            let rec = acc.finish();
            if opts.live_line {
                eprint!("\r\x1b[2K{}", live_line(&rec));
                printed = true;
            }
            totals.add(&acc);
            totals.stage = opts.stages.iter().find(|(_, end)| (rec.t_s as f64) - 0.5 < *end).map(|(n, _)| n.clone());
            if aborted.is_none() && !opts.abort.is_empty() && rec.t_s >= opts.abort_after {
                let result = totals.as_result();
                let broken: Vec<String> = thresholds::judge(&opts.abort, &result)
                    .into_iter()
                    .filter(|v| !v.passed && v.actual.is_some())
                    .map(|v| format!("{} (actual {:.3})", v.expr, v.actual.unwrap_or(f64::NAN)))
                    .collect();
                if !broken.is_empty() {
                    let why = format!("abort_on_fail: {} breached {} s into the run", broken.join(", "), rec.t_s);
                    eprintln!("\nstampede: {why}; stopping");
                    opts.stop.store(true, Ordering::Relaxed);
                    totals.aborted = Some(why.clone());
                    aborted = Some(why);
                }
            }
            if let Some(f) = &opts.progress_file {
                let tmp = f.with_extension("tmp");
                if std::fs::write(&tmp, progress_line(&rec)).is_ok() {
                    let _ = std::fs::rename(&tmp, f);
                }
            }
            if let Some(shared) = &opts.totals {
                if let Ok(mut s) = shared.lock() {
                    *s = totals.clone();
                }
            }
            done.push(rec);
        }
    }
    // Seconds some worker did not finish (the run ended): kept as they are.
    done.extend(pending.into_iter().map(|(_, _, acc)| acc.finish()));
    if printed {
        eprintln!();
    }
    (done, aborted)
}

/// `--metrics-listen ADDR`: serves `GET /metrics` from a thread until `done` is set. Returns
/// the totals to update and the address it listens on.
pub fn serve_metrics(addr: SocketAddr, done: Arc<AtomicBool>) -> std::io::Result<(Arc<Mutex<Totals>>, SocketAddr)> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let totals = Arc::new(Mutex::new(Totals::new()));
    let shared = Arc::clone(&totals);
    std::thread::Builder::new().name("stampede-metrics".into()).spawn(move || {
        while !done.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut first = String::new();
                    let _ = BufReader::new(&s).read_line(&mut first);
                    let (status, body) = if first.starts_with("GET /metrics") || first.starts_with("GET / ") {
                        ("200 OK", shared.lock().map(|t| t.exposition()).unwrap_or_default())
                    } else {
                        ("404 Not Found", "try GET /metrics\n".to_string())
                    };
                    let _ = write!(
                        s,
                        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    })?;
    Ok((totals, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_is_prometheus_text() {
        let mut t = Totals::new();
        let mut rec = SecondAcc::new(1);
        rec.sent = 10;
        rec.ok = 9;
        rec.errors = 1;
        rec.open = 4;
        for v in 1..=9u64 {
            rec.latency.record(v * 1_000_000).unwrap();
        }
        t.add(&rec);
        t.stage = Some("ramp \"up\"".into());
        let text = t.exposition();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(value == "NaN" || value.parse::<f64>().is_ok(), "{line}");
            assert!(name.starts_with("stampede_"), "{line}");
        }
        assert!(text.contains("stampede_responses_total 9\n"), "{text}");
        assert!(text.contains("stampede_latency_seconds_count 9\n"), "{text}");
        assert!(text.contains("stampede_stage_info{stage=\"ramp \\\"up\\\"\"} 1"), "{text}");
    }

    #[test]
    fn children_progress_adds_up_into_one_line() {
        let dir = std::env::temp_dir().join(format!("stampede-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files: Vec<_> = (0..3).map(|k| dir.join(format!("p{k}"))).collect();
        assert_eq!(combined_progress(&files), None, "no second yet");
        let mut acc = SecondAcc::new(4);
        acc.ok = 100;
        acc.errors = 1;
        acc.open = 8;
        acc.latency.record(2_000_000).unwrap();
        std::fs::write(&files[0], progress_line(&acc.finish())).unwrap();
        acc.t_s = 5;
        std::fs::write(&files[1], progress_line(&acc.finish())).unwrap();
        let line = combined_progress(&files).unwrap();
        assert!(
            line.contains("[    5s]") && line.contains("200 req/s") && line.contains("16 open") && line.contains("of 2 processes"),
            "{line}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_run_so_far_is_judged_for_abort() {
        let mut t = Totals::new();
        let mut rec = SecondAcc::new(3);
        rec.sent = 100;
        rec.ok = 50;
        rec.errors = 50;
        t.add(&rec);
        let rules = vec![thresholds::parse("errors<10%").unwrap()];
        let v = thresholds::judge(&rules, &t.as_result());
        assert!(!v[0].passed);
        assert_eq!(v[0].actual, Some(50.0));
    }
}
