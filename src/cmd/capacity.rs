//! `stampede capacity`: the highest sustained load that meets an SLO. The load goes up in
//! steps (doubling from `--start`) until a step breaks the SLO, then bisects between the last
//! good and the first bad step until they are within `--precision`. Every step is a full run of
//! the scenario (open loop at a rate for http and ws, a number of streams for asr) judged with
//! the same thresholds as `--threshold`. A rate step whose answers (any status) fall below
//! 90 % of the asked rate fails too (`rate not reached`), saying whether the generator (its CPU
//! saturated, or it sent late) or the target (answered too slowly for the connections, or
//! answered fewer) held it back: the search never climbs past what a step showed reachable.
//! When the generator was the limit, the result is its ceiling on this machine, not a knee.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::run::execute;
use super::{check_writable, nonce, parse_completed, stop_on_signals, stopped};
use crate::cli::{AsrArgs, CapacityArgs, HttpArgs, ScenarioArgs, WsArgs};
use crate::config;
use crate::error::{exit, Error, Result};
use crate::scenario::asr::AsrScenario;
use crate::scenario::http::HttpScenario;
use crate::scenario::ws::WsScenario;
use crate::stats::report::{grouped, human, RunResult};
use crate::thresholds::{self, Threshold};

/// Most steps one search runs (doubling from 1 to 2^20 and 10 bisections fit).
const MAX_STEPS: usize = 32;

/// Below this share of the asked rate, a step did not run at the rate it was asked for.
const REACHED: f64 = 0.9;
/// The generator's CPU share (of its threads) past which it, not the target, is the limit.
const GENERATOR_BUSY: f64 = 0.9;
/// Highest rate a step may ask (what `-R/--rate` accepts).
const MAX_RATE: f64 = 1e9;

/// One probe of the search.
struct Step {
    level: f64,
    passed: bool,
    saturated: bool,
    result: RunResult,
    failed: Vec<String>,
    /// The step did not reach its rate: who held it back.
    short: Option<Limiter>,
}

/// Who held a step below its asked rate.
#[derive(Clone, Debug, PartialEq)]
enum Limiter {
    /// The generator: its CPU saturated, or it sent late. Answers per second it managed.
    Generator { why: String, answered: f64 },
    /// The target: it answered too slowly for the connections, or fewer than were sent.
    Target { why: String },
}

impl Limiter {
    fn describe(&self) -> String {
        match self {
            Limiter::Generator { why, .. } => format!("the generator: {why}"),
            Limiter::Target { why } => format!("the target: {why}"),
        }
    }
}

/// Whether a rate step of `step_s` seconds reached `level`: answers of any status over 90 %
/// of the requests the step asked for (a count, so the wait for the last answers after the
/// step does not dilute a short step's rate); and if not, who held it back.
fn rate_reached(level: f64, step_s: f64, r: &RunResult) -> Option<Limiter> {
    let secs = step_s.max(1e-9);
    let (sent, answered) = (r.shard.sent as f64 / secs, r.shard.answers() as f64 / secs);
    if answered >= REACHED * level {
        return None;
    }
    let figures = format!("{} of {} asked/s answered, {} sent", grouped(answered), grouped(level), grouped(sent));
    let cpu = r.saturation().cpu_busy;
    if cpu >= GENERATOR_BUSY {
        let why = format!("its CPU was saturated ({:.0} % of its threads; {figures})", cpu * 100.0);
        return Some(Limiter::Generator { why, answered });
    }
    if sent < REACHED * level {
        // Little's law: the asked rate times the time an answer takes is the number of
        // requests in flight it needs; past the connections open, sends wait for answers.
        let service_s = r.shard.service.mean() / 1e9;
        let needed = level * service_s * r.meta.pipeline.max(1) as f64;
        let conns = (r.meta.connections as f64).max(1.0);
        if needed >= REACHED * conns {
            return Some(Limiter::Target {
                why: format!(
                    "answered too slowly ({} mean: the rate needs ~{} requests in flight on {} connections; {figures})",
                    human(service_s * 1e9),
                    grouped(level * service_s),
                    r.meta.connections
                ),
            });
        }
        return Some(Limiter::Generator { why: format!("it sent late ({figures})"), answered });
    }
    Some(Limiter::Target { why: format!("answered fewer than were sent ({figures})") })
}

/// The search's settings, checked.
struct Search {
    rules: Vec<Threshold>,
    scenario: String,
    unit: &'static str,
    step: Duration,
    start: f64,
    max: f64,
    precision: f64,
}

/// `stampede capacity`.
pub(super) fn capacity(a: &CapacityArgs) -> Result<i32> {
    let s = settings(a)?;
    if let Some(p) = &a.json {
        check_writable("--json", p)?;
    }
    // Check the whole command line once, before any load is sent.
    let probe = Probe::parse(&s, a)?;
    let stop = stop_on_signals()?;
    eprintln!("stampede capacity: {} {} against {}, {} steps, SLO {}", s.scenario, s.unit, a.url, a.step, a.slo);
    let (steps, lo, hi) = search(&s, &probe, &stop)?;
    print!("{}", render(&steps, lo, hi, s.unit, &a.slo));
    if let Some(p) = &a.json {
        let v = to_json(&steps, lo, hi, s.unit, &a.slo);
        let bytes = serde_json::to_vec_pretty(&v).map_err(|e| Error::run(format!("cannot encode JSON: {e}")))?;
        std::fs::write(p, bytes).map_err(|e| Error::io(format!("cannot write {}", p.display()), e))?;
        eprintln!("stampede: capacity result written to {}", p.display());
    }
    Ok(if lo.is_some() { exit::OK } else { exit::THRESHOLDS })
}

/// The search's flags, checked.
fn settings(a: &CapacityArgs) -> Result<Search> {
    let rules: Vec<Threshold> = config::parse_rules("--slo", &a.slo.split(',').filter(|r| !r.trim().is_empty()).collect::<Vec<_>>())?;
    if rules.is_empty() {
        return Err(Error::usage("--slo needs at least one rule, e.g. --slo \"p99<50ms,errors<0.1%\""));
    }
    let scenario = match a.scenario.as_deref() {
        Some(s @ ("http" | "ws" | "asr")) => s.to_string(),
        Some(other) => return Err(Error::usage(format!("--scenario '{other}': choose http, ws or asr"))),
        None if a.url.starts_with("ws://") || a.url.starts_with("wss://") => "ws".to_string(),
        None => "http".to_string(),
    };
    if a.start == 0 {
        return Err(Error::usage("--start must be at least 1"));
    }
    let start = a.start as f64;
    // Never past what a step can ask: the search ends at the rate limit of -R/--rate.
    let max = a.max.map_or(MAX_RATE, |m| m as f64).min(MAX_RATE);
    if start > MAX_RATE {
        return Err(Error::usage(format!("--start: at most {MAX_RATE} requests/s")));
    }
    if max < start {
        return Err(Error::usage("--max must be at least --start"));
    }
    let precision = a.precision.strip_suffix('%').unwrap_or(&a.precision).parse::<f64>().ok().filter(|p| *p > 0.0 && *p < 100.0);
    let precision = precision.ok_or_else(|| Error::usage(format!("--precision '{}': give a percentage, e.g. 5%", a.precision)))? / 100.0;
    let step = crate::units::parse_duration(&a.step).map_err(|e| Error::usage(format!("--step: {e}")))?;
    if step.is_zero() {
        return Err(Error::usage("--step must be greater than 0"));
    }
    let unit = if scenario == "asr" { "streams" } else { "req/s" };
    Ok(Search { rules, scenario, unit, step, start, max, precision })
}

/// Doubles from the start until a step breaks the SLO (or the maximum, or a signal), then
/// bisects; the steps run, the highest good level and the lowest bad one.
fn search(s: &Search, probe: &Probe, stop: &Arc<AtomicBool>) -> Result<(Vec<Step>, Option<f64>, Option<f64>)> {
    let mut steps: Vec<Step> = Vec::new();
    let run = |level: f64, steps: &mut Vec<Step>| -> Result<bool> {
        let result = probe.run(level, Arc::clone(stop))?;
        let verdicts = thresholds::judge(&s.rules, &result);
        let mut failed: Vec<String> = verdicts
            .iter()
            .filter(|v| !v.passed)
            .map(|v| format!("{} ({})", v.expr, v.actual.map_or("no data".into(), |x| format!("{x:.3}"))))
            .collect();
        // Streams are not a rate: an asr step holds its streams or fails them.
        let short = if s.unit == "streams" || stopped(stop) { None } else { rate_reached(level, s.step.as_secs_f64(), &result) };
        if let Some(l) = &short {
            failed.insert(0, format!("rate not reached: {}", l.describe()));
        }
        let passed = failed.is_empty();
        let saturated = result.saturation().saturated;
        let verdict = match (&short, passed) {
            (Some(l), _) => format!("rate not reached, held back by {}", l.describe()),
            (None, true) => "meets the SLO".to_string(),
            (None, false) => "breaks the SLO".to_string(),
        };
        let sat = if saturated && short.is_none() { " (stampede itself was saturated)" } else { "" };
        eprintln!("  {:>10} {}: {verdict}{sat}", grouped(level), s.unit);
        steps.push(Step { level, passed, saturated, result, failed, short });
        Ok(passed)
    };
    // Up: double until a step fails, the maximum is reached, or the run is stopped.
    let (mut lo, mut hi) = (None::<f64>, None::<f64>);
    let mut level = s.start;
    while steps.len() < MAX_STEPS && !stopped(stop) {
        if run(level, &mut steps)? {
            lo = Some(level);
            if level >= s.max {
                break;
            }
            level = (level * 2.0).min(s.max);
        } else {
            hi = Some(level);
            break;
        }
    }
    // Then bisect between the last good and the first bad level.
    if let (Some(mut l), Some(mut h)) = (lo, hi) {
        while (h - l) / h > s.precision && steps.len() < MAX_STEPS && !stopped(stop) {
            let mid = if s.scenario == "asr" { ((l + h) / 2.0).round() } else { (l + h) / 2.0 };
            if mid <= l || mid >= h {
                break;
            }
            if run(mid, &mut steps)? {
                l = mid;
            } else {
                h = mid;
            }
        }
        lo = Some(l);
        hi = Some(h);
    }
    Ok((steps, lo, hi))
}

/// The stream count of an asr step.
fn streams(level: f64) -> u64 {
    level.round().max(1.0) as u64
}

/// The scenario of the search, parsed once (so every flag and check applies); each step sets
/// its own level on it.
enum Probe {
    Http(HttpArgs),
    Ws(WsArgs),
    Asr(AsrArgs),
}

impl Probe {
    /// The user's flags as the scenario's command; each step is `--step` long, quiet, without
    /// preflight, and sets its own rate (or streams, on a loop of the audio).
    fn parse(s: &Search, a: &CapacityArgs) -> Result<Probe> {
        let mut argv = vec!["stampede".to_string(), s.scenario.clone(), a.url.clone()];
        argv.extend(a.extra.iter().cloned());
        let context = format!("capacity: these flags do not make a valid {} command", s.scenario);
        let reserved = [("duration", "-d/--duration"), ("rate", "-R/--rate"), ("streams", "--streams")];
        let command =
            parse_completed(&argv, &context, &reserved, |flag| format!("capacity: each step sets {flag}; remove it from the flags"))?;
        let step = |load: &mut crate::cli::LoadArgs| {
            load.duration = Some(s.step);
            load.out.quiet = true;
            load.out.no_preflight = true;
        };
        match command.into_scenario() {
            Some(ScenarioArgs::Http(mut h)) => {
                step(&mut h.load);
                Ok(Probe::Http(h))
            }
            Some(ScenarioArgs::Ws(w)) if w.ping_interval.is_some() => {
                Err(Error::usage(format!("{context}: --ping-interval paces the pings itself; each step sets -R/--rate")))
            }
            Some(ScenarioArgs::Ws(mut w)) => {
                step(&mut w.load);
                Ok(Probe::Ws(w))
            }
            Some(ScenarioArgs::Asr(mut x)) => {
                x.duration = Some(s.step);
                x.out.quiet = true;
                x.out.no_preflight = true;
                x.loop_audio = true;
                x.streams = streams(s.start);
                Ok(Probe::Asr(x))
            }
            None => Err(Error::usage("capacity: scenario must be http, ws or asr")),
        }
    }

    /// Runs one step at `level` (req/s, or streams for asr).
    fn run(&self, level: f64, stop: Arc<AtomicBool>) -> Result<RunResult> {
        // The rate as `--rate {level:.3}` gave it.
        let rate = ((level * 1000.0).round() / 1000.0).max(0.001);
        let ran = match self {
            Probe::Http(h) => {
                let mut h = h.clone();
                h.load.rate = Some(rate);
                let cfg = config::http_config(&h)?;
                let load = cfg.load.clone();
                execute(Arc::new(HttpScenario::http(cfg)), &load, stop, false)?
            }
            Probe::Ws(w) => {
                let mut w = w.clone();
                w.load.rate = Some(rate);
                let cfg = config::ws_config(&w)?;
                let load = cfg.load.clone();
                execute(Arc::new(WsScenario::ws(cfg, nonce()?)), &load, stop, false)?
            }
            Probe::Asr(x) => {
                let mut x = x.clone();
                x.streams = streams(level);
                let cfg = config::asr_config(&x)?;
                let load = cfg.load.clone();
                execute(Arc::new(AsrScenario::new(cfg, nonce()?)), &load, stop, false)?
            }
        };
        Ok(ran.result)
    }
}

/// The generator's ceiling: the most it answered on a step it could not drive to its rate.
fn ceiling(steps: &[Step]) -> Option<f64> {
    steps
        .iter()
        .filter_map(|s| match &s.short {
            Some(Limiter::Generator { answered, .. }) => Some(*answered),
            Some(Limiter::Target { .. }) | None => None,
        })
        .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a))))
}

/// The table of steps and the verdict.
fn render(steps: &[Step], lo: Option<f64>, hi: Option<f64>, unit: &str, slo: &str) -> String {
    let mut o = String::from("\nCapacity search\n");
    o.push_str(&format!(
        "  {:>3} {:>12} {:>12} {:>9} {:>9} {:>8}  verdict\n",
        "#",
        format!("asked {unit}"),
        "achieved/s",
        "p50",
        "p99",
        "errors"
    ));
    for (i, s) in steps.iter().enumerate() {
        let r = &s.result;
        let h = &r.shard.corrected;
        let q = |p: f64| if h.is_empty() { "-".to_string() } else { human(h.value_at_quantile(p) as f64) };
        let errors = r.shard.errors.iter().sum::<u64>();
        let verdict = if s.passed { "pass".to_string() } else { format!("FAIL {}", s.failed.join(", ")) };
        o.push_str(&format!(
            "  {:>3} {:>12} {:>12} {:>9} {:>9} {:>8}  {verdict}{}\n",
            i + 1,
            grouped(s.level),
            grouped(r.achieved_rate()),
            q(0.5),
            q(0.99),
            errors,
            if s.saturated { "  [stampede saturated]" } else { "" }
        ));
    }
    let ceiling = ceiling(steps);
    let (l, h) = (lo.map(grouped), hi.map(grouped));
    match (l, h) {
        (Some(l), Some(h)) => {
            o.push_str(&format!("\nKnee: {l} {unit} meets \"{slo}\"; {h} {unit} does not.\n"));
            if ceiling.is_none() && steps.iter().any(|s| !s.passed && s.saturated) {
                o.push_str("WARNING: stampede itself was saturated on a failing step: the target may do more (add threads, processes or machines).\n");
            }
        }
        (Some(l), None) => o.push_str(&format!("\nEvery step met \"{slo}\", up to {l} {unit}: raise --max to look further.\n")),
        (None, _) => o.push_str(&format!("\nThe first step already breaks \"{slo}\": lower --start.\n")),
    }
    if let Some(c) = ceiling {
        o.push_str(&format!(
            "The generator's ceiling on this machine is ~{}/s: the target may go higher (add threads, processes or machines).\n",
            grouped(c)
        ));
    }
    o
}

/// The steps and the knee as JSON (`stampede.capacity/1`).
fn to_json(steps: &[Step], lo: Option<f64>, hi: Option<f64>, unit: &str, slo: &str) -> Value {
    json!({
        "schema": "stampede.capacity/1",
        "slo": slo,
        "unit": unit,
        "knee": lo,
        "first_failing": hi,
        "generator_ceiling_per_s": ceiling(steps),
        "steps": steps.iter().map(|s| json!({
            "level": s.level,
            "passed": s.passed,
            "saturated": s.saturated,
            "failed": s.failed,
            "rate_not_reached": s.short.as_ref().map(|l| match l {
                Limiter::Generator { .. } => "generator",
                Limiter::Target { .. } => "target",
            }),
            "result": s.result.to_json(),
        })).collect::<Vec<_>>(),
    })
}
