//! Pass/fail thresholds on a run's result: `p99<50ms`, `errors<1%`, `rps>9500`,
//! `status_429>10%`, `checks>99%`. Pure: parsed once from the command line, judged against a `RunResult`.
//! A breached threshold makes the run exit 3, and the report says which, and by how much.
//! Verdicts are written into the result as the schema's `VerdictDoc`.

use serde_json::Value;

use crate::stats::report::RunResult;
use crate::stats::result::VerdictDoc;
use crate::units::parse_duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Lt => actual < limit,
            Op::Le => actual <= limit,
            Op::Gt => actual > limit,
            Op::Ge => actual >= limit,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// Corrected latency at this quantile (0..=1), in ms.
    Latency(f64),
    /// Mean corrected latency, in ms.
    MeanLatency,
    /// Failed requests and connects over all attempts, in %.
    ErrorRate,
    /// Achieved answers per second.
    Rate,
    /// Share of answers with this status (failed ones included), in %.
    StatusShare(u16),
    /// Share of checked answers that passed every check (`--expect-*`), in %.
    Checks,
    /// Requests whose answer said the target throttled them (`raw --throttled-match`), over
    /// all requests (answered or failed), in %.
    Throttled,
    /// Established over attempted connections, in %.
    ConnectSuccess,
    /// Mean CPU of the `--monitor-pid` targets (summed), in % of one CPU.
    TargetCpu,
    /// Peak resident memory of the `--monitor-pid` targets (summed), in bytes.
    TargetRss,
    /// Chat: deliveries to other members in time over those expected, in %.
    Delivered,
    /// Chat: fan-out latency (from the sender's intended time) at this quantile, in ms.
    Fanout(f64),
}

/// The unit a metric is measured in: how its limit is written, parsed and printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds (limits written as durations: `50ms`, `1s`).
    Ms,
    /// A percentage (`1%`).
    Percent,
    /// Bytes (limits written as sizes: `1GiB`).
    Bytes,
    /// Per second (`1000`, `10k`).
    PerSecond,
}

impl Unit {
    /// After a number in the reports: " ms", " %", " B", "/s".
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Ms => " ms",
            Unit::Percent => " %",
            Unit::Bytes => " B",
            Unit::PerSecond => "/s",
        }
    }

    /// After the limit in a rule's own text, in the unit the limit is kept in (`p99<50ms`,
    /// `errors<1%`, `target_rss<1024B`, `rps>100`).
    pub fn written(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Percent => "%",
            Unit::Bytes => "B",
            Unit::PerSecond => "",
        }
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.suffix())
    }
}

impl Metric {
    /// The unit of the measured value and of the limit: the one place that says it.
    pub fn unit(self) -> Unit {
        match self {
            Metric::Latency(_) | Metric::MeanLatency | Metric::Fanout(_) => Unit::Ms,
            Metric::ErrorRate
            | Metric::StatusShare(_)
            | Metric::Checks
            | Metric::Throttled
            | Metric::ConnectSuccess
            | Metric::TargetCpu
            | Metric::Delivered => Unit::Percent,
            Metric::TargetRss => Unit::Bytes,
            Metric::Rate => Unit::PerSecond,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub expr: String,
    /// `name.p95<300ms`: judged on the named request of a mix only.
    pub scope: Option<String>,
    pub metric: Metric,
    pub op: Op,
    pub limit: f64,
}

/// The judgement of one threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub expr: String,
    pub actual: Option<f64>,
    pub passed: bool,
}

const HELP: &str = "write thresholds as METRIC OP VALUE: p50|p90|p95|p99|p999|max|mean (durations: 50ms, 1s), errors (%, failed requests: transport, protocol, a status not expected, a failed check), rps, status_NNN (%), checks (% of answers passing every check), throttled (% of requests, raw --throttled-match), connect_ok (%), target_cpu (% of a CPU), target_rss (1GiB), chat: delivered (%), fanout.p50|p90|p95|p99|p999|max (durations); OP is <, <=, > or >=";

impl Threshold {
    /// Whether the per-second figures of a run in progress can judge it (latency, errors,
    /// rate; not status shares, connects, targets or a named request).
    pub fn live_judged(&self) -> bool {
        self.scope.is_none() && matches!(self.metric, Metric::Latency(_) | Metric::MeanLatency | Metric::ErrorRate | Metric::Rate)
    }
}

pub fn parse(expr: &str) -> Result<Threshold, String> {
    let s: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let at = s.find(['<', '>']).ok_or_else(|| format!("'{expr}': no comparison; {HELP}"))?;
    let (name, rest) = s.split_at(at);
    // `knowledge.p95`: a named request of a mix (but `p99.9` is a percentile).
    let (scope, name) = match name.split_once('.') {
        // `fanout.p99`: the chat fan-out latency, not a named request.
        Some(("fanout", _)) => (None, name),
        Some((scope, metric)) if name != "p99.9" && !scope.is_empty() => {
            if !scope.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(format!("'{expr}': '{scope}' is not a request name (letters, digits, - and _)"));
            }
            (Some(scope.to_string()), metric)
        }
        _ => (None, name),
    };
    let (op, value) = match rest.as_bytes() {
        [b'<', b'=', ..] => (Op::Le, &rest[2..]),
        [b'>', b'=', ..] => (Op::Ge, &rest[2..]),
        [b'<', ..] => (Op::Lt, &rest[1..]),
        _ => (Op::Gt, &rest[1..]),
    };
    let metric = match name {
        "p50" => Metric::Latency(0.5),
        "p90" => Metric::Latency(0.9),
        "p95" => Metric::Latency(0.95),
        "p99" => Metric::Latency(0.99),
        "p999" | "p99.9" => Metric::Latency(0.999),
        "max" => Metric::Latency(1.0),
        "mean" => Metric::MeanLatency,
        "errors" | "error_rate" => Metric::ErrorRate,
        "rps" | "rate" => Metric::Rate,
        "connect_ok" => Metric::ConnectSuccess,
        "checks" => Metric::Checks,
        "throttled" => Metric::Throttled,
        "target_cpu" => Metric::TargetCpu,
        "target_rss" => Metric::TargetRss,
        "delivered" => Metric::Delivered,
        "fanout.p50" => Metric::Fanout(0.5),
        "fanout.p90" => Metric::Fanout(0.9),
        "fanout.p95" => Metric::Fanout(0.95),
        "fanout.p99" => Metric::Fanout(0.99),
        "fanout.p999" | "fanout.p99.9" => Metric::Fanout(0.999),
        "fanout.max" => Metric::Fanout(1.0),
        n => match n.strip_prefix("status_").and_then(|c| c.parse::<u16>().ok()).filter(|c| (100..1000).contains(c)) {
            Some(code) => Metric::StatusShare(code),
            None => return Err(format!("'{expr}': unknown metric '{name}'; {HELP}")),
        },
    };
    let limit = match metric.unit() {
        Unit::Ms => parse_duration(value).map_err(|e| format!("'{expr}': {e}"))?.as_secs_f64() * 1000.0,
        Unit::Bytes => crate::units::parse_size(value).map_err(|e| format!("'{expr}': {e}"))? as f64,
        Unit::Percent => {
            let v = value.strip_suffix('%').ok_or_else(|| format!("'{expr}': give a percentage, e.g. 1%"))?;
            v.parse::<f64>().map_err(|_| format!("'{expr}': '{value}' is not a percentage"))?
        }
        Unit::PerSecond => crate::units::parse_count(value)
            .map(|v| v as f64)
            .or_else(|_| value.parse::<f64>())
            .map_err(|_| format!("'{expr}': '{value}' is not a rate"))?,
    };
    if !limit.is_finite() || limit < 0.0 {
        return Err(format!("'{expr}': the value must be a non-negative number"));
    }
    Ok(Threshold { expr: expr.trim().to_string(), scope, metric, op, limit })
}

fn actual(metric: Metric, r: &RunResult) -> Option<f64> {
    let s = &r.shard;
    let pct = |num: u64, den: u64| (den > 0).then(|| 100.0 * num as f64 / den as f64);
    match metric {
        Metric::Latency(q) if !s.corrected.is_empty() => {
            Some(if q >= 1.0 { s.corrected.max() } else { s.corrected.value_at_quantile(q) } as f64 / 1e6)
        }
        Metric::MeanLatency if !s.corrected.is_empty() => Some(s.corrected.mean() / 1e6),
        Metric::Latency(_) | Metric::MeanLatency => None,
        Metric::ErrorRate => {
            let errors: u64 = s.errors.iter().sum();
            pct(errors, s.requests_total() + s.connects_attempted - s.connects_ok)
        }
        Metric::Rate => Some(r.achieved_rate()),
        // Every answer of that status, whether its request failed or not.
        Metric::StatusShare(code) => pct(s.status_count(code), s.answers()),
        // No check ran: no data, which fails the threshold.
        Metric::Checks => s.checks.pass_pct(),
        Metric::Throttled => pct(s.errors_of(crate::stats::ErrorClass::Throttled), s.requests_total()),
        Metric::ConnectSuccess => pct(s.connects_ok, s.connects_attempted),
        // No monitored process, or one with no sample: no data, which fails the threshold.
        Metric::TargetCpu if !r.monitor.is_empty() => r.monitor.iter().map(|m| m.cpu_mean()).sum::<Option<f64>>(),
        Metric::TargetRss if !r.monitor.is_empty() => r.monitor.iter().map(|m| m.rss_peak().map(|b| b as f64)).sum::<Option<f64>>(),
        Metric::TargetCpu | Metric::TargetRss => None,
        // Only a run whose messages carry a mark can say what was delivered.
        Metric::Delivered => s.chat().filter(|c| c.marked).and_then(|c| c.delivered_pct()),
        Metric::Fanout(q) => s
            .chat()
            .map(|c| &c.delivery)
            .filter(|h| !h.is_empty())
            .map(|h| (if q >= 1.0 { h.max() } else { h.value_at_quantile(q) }) as f64 / 1e6),
    }
}

/// Judges every threshold; a metric with no data (no responses) fails.
pub fn judge(thresholds: &[Threshold], r: &RunResult) -> Vec<Verdict> {
    thresholds
        .iter()
        .map(|t| {
            let a = match &t.scope {
                None => actual(t.metric, r),
                Some(name) => r.named_result(name).and_then(|n| actual(t.metric, &n)),
            };
            Verdict { expr: t.expr.clone(), actual: a, passed: a.is_some_and(|a| t.op.holds(a, t.limit)) }
        })
        .collect()
}

/// The report section.
pub fn render(thresholds: &[Threshold], verdicts: &[Verdict]) -> String {
    let mut o = String::from("\nThresholds\n");
    for (t, v) in thresholds.iter().zip(verdicts) {
        // Memory reads in MiB; the rest in its own unit.
        let (unit, scale) = match t.metric.unit() {
            Unit::Bytes => (" MiB", 1.0 / 1048576.0),
            u @ (Unit::Ms | Unit::Percent | Unit::PerSecond) => (u.suffix(), 1.0),
        };
        let actual = v.actual.map_or("no data".to_string(), |a| format!("{:.3}{unit}", a * scale));
        let by = match v.actual {
            Some(a) if !v.passed => {
                format!(" (limit {} {:.3}{unit}, off by {:.3}{unit})", t.op.symbol(), t.limit * scale, (a - t.limit).abs() * scale)
            }
            _ => String::new(),
        };
        o.push_str(&format!("  {}  {:<18} actual {actual}{by}\n", if v.passed { "PASS" } else { "FAIL" }, t.expr));
    }
    o
}

/// The verdicts as the result schema writes them (`thresholds`, `stages[].thresholds`).
pub fn to_docs(verdicts: &[Verdict]) -> Vec<VerdictDoc> {
    verdicts.iter().map(|v| VerdictDoc { threshold: v.expr.clone(), actual: v.actual, passed: v.passed }).collect()
}

pub fn to_json(verdicts: &[Verdict]) -> Value {
    serde_json::to_value(to_docs(verdicts)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_thresholds_read_the_monitored_process() {
        use crate::stats::timeline::{MonitorSample, MonitorSeries};
        let meta = crate::stats::report::RunMeta { threads: 1, duration_s: 2.0, ..Default::default() };
        let mut r = RunResult::new(meta, crate::stats::Shard::new());
        let rules: Vec<Threshold> = ["target_cpu<200%", "target_rss<1GiB"].iter().map(|t| parse(t).unwrap()).collect();
        assert!(judge(&rules, &r).iter().all(|v| !v.passed && v.actual.is_none()), "no monitored process: no data");
        let s = |t_s: f64, cpu_pct: f64, rss_bytes: u64| MonitorSample { t_s, cpu_pct, rss_bytes };
        r.monitor.push(MonitorSeries {
            pid: 1,
            name: "x".into(),
            samples: vec![s(1.0, 150.0, 1 << 29), s(2.0, 350.0, 3 << 29)],
            exited_at_s: None,
        });
        let v = judge(&rules, &r);
        assert_eq!(v[0].actual, Some(250.0), "mean CPU");
        assert!(!v[0].passed);
        assert_eq!(v[1].actual, Some((3u64 << 29) as f64), "peak RSS");
        assert!(!v[1].passed);
        assert!(render(&rules, &v).contains("1536.000 MiB"), "{}", render(&rules, &v));
        assert!(parse("target_rss<lots").is_err());
    }
    use crate::stats::report::RunMeta;
    use crate::stats::{ErrorClass, Shard};

    #[test]
    fn chat_thresholds_read_the_delivery_accounting() {
        let rules: Vec<Threshold> =
            ["delivered>99%", "delivered>=99%", "fanout.p99<200ms", "fanout.max<5ms"].iter().map(|t| parse(t).unwrap()).collect();
        assert_eq!(rules[2].scope, None, "fanout is not a named request");
        let meta = RunMeta { threads: 1, duration_s: 1.0, ..Default::default() };
        let r = RunResult::new(meta.clone(), Shard::new());
        assert!(judge(&rules, &r).iter().all(|v| v.actual.is_none() && !v.passed), "no chat: no data");
        let mut s = Shard::new();
        s.on_marked_broadcast(100, 100);
        for i in 0..99u64 {
            s.on_arrival(crate::stats::Arrival::Other { corrected_ns: (i + 1) * 100_000, service_ns: 1, late: false });
        }
        s.on_arrival(crate::stats::Arrival::ToSelf);
        let v = judge(&rules, &RunResult::new(meta, s));
        assert_eq!(v[0].actual, Some(99.0));
        assert_eq!((v[0].passed, v[1].passed, v[2].passed, v[3].passed), (false, true, true, false), "{v:?}");
        assert!(render(&rules, &v).contains("FAIL  delivered>99%"), "{}", render(&rules, &v));
    }

    fn result() -> RunResult {
        let mut s = Shard::new();
        for _ in 0..10 {
            s.on_connect_start();
            s.on_connect(1_000_000);
        }
        for i in 0..1000u64 {
            s.on_sent(1, 10);
            if i % 100 == 0 {
                s.on_request_error(ErrorClass::Reset, 1);
            } else {
                let status = if i % 10 == 1 { 429 } else { 200 };
                s.on_response(status, 0, 0, (i % 100 + 1) * 1_000_000); // 1..100 ms
            }
        }
        let meta = RunMeta { threads: 1, connections: 10, duration_s: 10.0, ..Default::default() };
        RunResult::new(meta, s)
    }

    #[test]
    fn parses_every_form_and_refuses_bad_ones() {
        assert_eq!(
            parse("p99<50ms").unwrap(),
            Threshold { expr: "p99<50ms".into(), scope: None, metric: Metric::Latency(0.99), op: Op::Lt, limit: 50.0 }
        );
        assert_eq!(parse(" errors <= 1% ").unwrap().op, Op::Le);
        assert_eq!(parse("rps>9.5k").unwrap().limit, 9500.0);
        assert_eq!(parse("status_429>10%").unwrap().metric, Metric::StatusShare(429));
        assert_eq!(parse("throttled>1%").unwrap().metric, Metric::Throttled);
        assert!(parse("throttled>1").is_err(), "a percentage");
        assert_eq!(parse("max<2s").unwrap().limit, 2000.0);
        for bad in ["p99", "p98<1ms", "errors<1", "p99<fast", "status_42>1%", "rps>-3", "latency<5ms"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(bad.split(['<', '>']).next().unwrap()) || e.contains("comparison"), "{bad}: {e}");
        }
    }

    /// Random rules from the grammar's own pieces, mutated and cut, and random text: the shared
    /// invariants hold (`crate::invariants::threshold`: an accepted rule has a finite,
    /// non-negative limit, re-parses to itself and survives a canonical re-rendering; a refusal
    /// quotes the rule; judging and rendering never fail).
    #[test]
    fn random_and_mutated_rules_keep_the_invariants() {
        let names = [
            "p50",
            "p90",
            "p95",
            "p99",
            "p999",
            "p99.9",
            "max",
            "mean",
            "errors",
            "error_rate",
            "rps",
            "rate",
            "connect_ok",
            "throttled",
            "status_429",
            "status_99",
            "status_1000",
            "p98",
            "target_cpu",
            "target_rss",
            "",
        ];
        let ops = ["<", "<=", ">", ">=", "=", "<<", "=>", ""];
        let values = [
            "50ms", "1s", "2.5m", "1h", "100us", "0", "1%", "0.5%", "100%", "-1%", "9.5k", "1e3", "1e400", "NaN", "inf", "-0", "1G", "µs",
            "%", "", "3 ms", "1e-300", "1GiB", "512MiB", "80%",
        ];
        let mut x = 0x7448_5245_5348_4F4Cu64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as usize
        };
        let mut accepted = 0;
        for i in 0..3_000 {
            let mut rule = format!("{}{}{}", names[next() % names.len()], ops[next() % ops.len()], values[next() % values.len()]);
            match i % 4 {
                1 => rule = format!("  {rule} "),
                2 => {
                    let cut = next() % (rule.len() + 1);
                    rule = rule.char_indices().take_while(|(at, _)| *at < cut).map(|(_, c)| c).collect();
                }
                3 => rule = (0..next() % 12).map(|_| char::from_u32((next() % 0x250) as u32).unwrap_or('?')).collect(),
                _ => {}
            }
            accepted += usize::from(parse(&rule).is_ok());
            crate::invariants::threshold(&rule);
        }
        assert!(accepted > 100, "the generator makes valid rules too: {accepted}");
    }

    #[test]
    fn judges_against_the_result() {
        let r = result();
        let ts: Vec<Threshold> = ["p50<60ms", "p99<50ms", "errors<2%", "errors<0.5%", "rps>=99", "status_429>5%", "connect_ok>=100%"]
            .iter()
            .map(|e| parse(e).unwrap())
            .collect();
        let v = judge(&ts, &r);
        let passed: Vec<bool> = v.iter().map(|v| v.passed).collect();
        assert_eq!(passed, vec![true, false, true, false, true, true, true], "{v:?}");
        assert!((v[2].actual.unwrap() - 1.0).abs() < 1e-9, "10 errors of 1000 requests = 1 %");
        let text = render(&ts, &v);
        assert!(text.contains("FAIL  p99<50ms") && text.contains("off by"), "{text}");
        // no responses: latency thresholds fail for want of data
        let empty = RunResult::new(r.meta.clone(), Shard::new());
        assert!(!judge(&[parse("p99<1s").unwrap()], &empty)[0].passed);
    }
}
