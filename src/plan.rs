//! Load plans: a TOML file (or a preset) naming the scenario, the target and a list of stages
//! that hold or change the request rate, the connection count or the stream count over time.
//! Pure: parsing and validation only; errors name the line and the field. The engine runs a
//! plan through [`Staged`]: a [`Profile`] and the stage boundaries.
//!
//! ```toml
//! scenario = "http"                     # http | ws | asr | raw
//! url = "http://127.0.0.1:8080/"
//! thresholds = ["p95<500ms", "errors<1%"]
//!
//! [options]                             # any long flag of `stampede http`
//! connections = 200
//!
//! [[stage]]
//! name = "ramp"
//! duration = "1m"
//! rate = { from = 100, to = 200 }       # or connections = ..., or streams = ... (asr)
//!
//! [[stage]]                             # stages may choose their own drive (plan::drive)
//! duration = "30s"
//! connections = 10                      # closed loop, each connection pausing `think`
//! think = "75ms"                        # between requests (or --think)
//! ```
//!
//! A `raw` plan (`url = "unix:///run/d.sock"` or `tcp://HOST:PORT`, framing and `--message` in
//! `[options]`) gives a stage its own `message = '{"op":"ping"}'`: a template (`{payload:1M}`;
//! `{{` for a literal `{`), rendered once and framed like the plan's message.
//!
//! A level is a number (constant), `{ from, to }` (linear ramp), `{ from, to, steps = N }`
//! (N equal steps from `from` to `to`) or `{ from, to, rise = "10s" }` (a spike: up to `to`
//! within `rise`, then held).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::engine::profile::{Profile, Segment};
use crate::thresholds::Threshold;
use level::parse_level;

pub mod drive;
mod level;
mod preset;
pub mod request;
pub mod throttle;

pub use preset::{preset, with_limit, PRESETS};
mod setup;
pub use setup::{PlanSetup, MAX_SETUP_COUNT};

/// What the stages drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drive {
    /// Requests (or messages) per second: open loop.
    Rate,
    /// Connections at once: closed loop, each connection sending as fast as it is answered.
    Connections,
    /// ASR streams at once.
    Streams,
    /// Each stage chooses: connections (closed loop), rate (open loop over a pool), or a rate
    /// capped by its connections; see [`drive`].
    Mixed,
}

impl Drive {
    pub fn name(self) -> &'static str {
        match self {
            Drive::Rate => "rate",
            Drive::Connections => "connections",
            Drive::Streams => "streams",
            Drive::Mixed => "mixed",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Constant,
    Ramp,
    Step(u32),
    Spike { rise: Duration },
}

#[derive(Clone, Debug)]
pub struct Stage {
    pub name: String,
    pub duration: Duration,
    pub from: f64,
    pub to: f64,
    pub shape: Shape,
    pub thresholds: Vec<Threshold>,
    /// What this stage's level is (in a mixed plan, stages differ).
    pub drive: Drive,
    /// A rate stage's own connections (`rate` with `connections`: a rate capped by them).
    pub pool: Option<u64>,
    /// Closed loop: each connection's pause after each answer.
    pub think: Option<Duration>,
    /// The stage's own request (http): `None` sends the plan's.
    pub request: Option<request::StageRequest>,
    /// The stage's own message (raw): a template rendered once; `None` sends the plan's.
    pub message: Option<String>,
    /// The statuses that are a success for this stage's requests (http; checked where the run
    /// is built, `config::OkStatus`): `None` keeps the run's.
    pub ok_status: Option<String>,
}

impl Stage {
    /// The stage as linear pieces of the profile.
    fn segments(&self) -> Vec<Segment> {
        let d = self.duration.as_nanos() as u64;
        match self.shape {
            Shape::Constant => vec![Segment { dur_ns: d, v0: self.to, v1: self.to }],
            Shape::Ramp => vec![Segment { dur_ns: d, v0: self.from, v1: self.to }],
            Shape::Step(n) => {
                let n = n.max(1) as u64;
                (0..n)
                    .map(|i| {
                        let v = if n == 1 { self.to } else { self.from + (self.to - self.from) * i as f64 / (n - 1) as f64 };
                        let dur = d / n + u64::from(i < d % n);
                        Segment { dur_ns: dur, v0: v, v1: v }
                    })
                    .collect()
            }
            Shape::Spike { rise } => {
                let r = (rise.as_nanos() as u64).min(d);
                vec![Segment { dur_ns: r, v0: self.from, v1: self.to }, Segment { dur_ns: d - r, v0: self.to, v1: self.to }]
            }
        }
    }

    /// "ramp rate 100 -> 200/s" and the like, for the report.
    pub fn describe(&self, drive: Drive) -> String {
        // A mixed plan's stage says what its own level is.
        let drive = if drive == Drive::Mixed { self.drive } else { drive };
        let unit = if drive == Drive::Rate { "/s" } else { "" };
        let what = drive.name();
        let mut text = match &self.shape {
            Shape::Constant => format!("constant {what} {}{unit}", num(self.to)),
            Shape::Ramp => format!("ramp {what} {} -> {}{unit}", num(self.from), num(self.to)),
            Shape::Step(n) => format!("{n} steps {what} {} -> {}{unit}", num(self.from), num(self.to)),
            Shape::Spike { rise } => format!("spike {what} {} -> {}{unit} within {rise:?}", num(self.from), num(self.to)),
        };
        if let Some(p) = self.pool {
            text += &format!(" over {p} connections");
        }
        if let Some(t) = self.think {
            text += &format!(", think {t:?}");
        }
        text
    }

    /// The stage as the mixed drive sees it.
    pub fn as_drive(&self) -> drive::StageDrive {
        drive::StageDrive {
            segments: self.segments(),
            duration: self.duration,
            open: self.drive == Drive::Rate,
            pool: self.pool,
            think: self.think,
        }
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A parsed plan.
#[derive(Clone, Debug)]
pub struct Plan {
    pub scenario: String,
    pub url: String,
    /// Flags of the scenario command, by long name, as command-line words.
    pub options: Vec<(String, Vec<String>)>,
    pub thresholds: Vec<Threshold>,
    pub threshold_texts: Vec<String>,
    pub drive: Drive,
    pub stages: Vec<Stage>,
    /// A request mix (`[[request]]`): empty for the scenario's single request.
    pub requests: Vec<PlanRequest>,
    /// `[[setup]]` requests run before the load, in order.
    pub setups: Vec<PlanSetup>,
}

/// One named request of a mix.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanRequest {
    pub name: String,
    pub weight: f64,
    pub method: String,
    /// Absolute URL (the plan's origin joined with `path`, or the request's own `url`).
    pub url: String,
    pub headers: Vec<String>,
    pub body: Option<String>,
    pub body_file: Option<String>,
    /// `ok_status` of this request (`--ok-status`), else the plan's.
    pub ok_status: Option<String>,
    /// This request's own checks (a kind given replaces the plan's).
    pub checks: request::Checks,
}

/// A plan as the engine runs it.
#[derive(Clone, Debug)]
pub struct Staged {
    pub profile: Arc<Profile>,
    /// (name, start, end) of each stage, ns from the start of the run.
    pub bounds: Vec<(String, u64, u64)>,
    pub shapes: Vec<String>,
    pub thresholds: Vec<Vec<Threshold>>,
}

impl Staged {
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.profile.total_ns())
    }

    /// The same plan carrying a `1/parts` share (a process or a machine of a split run).
    pub fn share(&self, parts: u64) -> Staged {
        Staged { profile: Arc::new(self.profile.scaled(1.0 / parts.max(1) as f64)), ..self.clone() }
    }

    /// Index of the stage running at `t_ns` from the start (the last one past the end).
    pub fn stage_at(&self, t_ns: u64) -> usize {
        self.bounds.iter().position(|(_, _, end)| t_ns < *end).unwrap_or(self.bounds.len().saturating_sub(1))
    }
}

impl Plan {
    pub fn staged(&self) -> Staged {
        let mut segs = Vec::new();
        let mut bounds = Vec::new();
        let mut t = 0u64;
        for s in &self.stages {
            segs.extend(s.segments());
            let end = t + s.duration.as_nanos() as u64;
            bounds.push((s.name.clone(), t, end));
            t = end;
        }
        Staged {
            profile: Arc::new(Profile::new(segs)),
            bounds,
            shapes: self.stages.iter().map(|s| s.describe(self.drive)).collect(),
            thresholds: self.stages.iter().map(|s| s.thresholds.clone()).collect(),
        }
    }

    /// A mixed plan's run-time drive over a pool of `pool` connections (rate stages without
    /// their own) with `think` for closed-loop stages without their own; `None` otherwise.
    pub fn mixed(&self, pool: u64, think: Option<Duration>) -> Option<drive::Mixed> {
        let stages: Vec<drive::StageDrive> = self.stages.iter().map(Stage::as_drive).collect();
        (self.drive == Drive::Mixed).then(|| drive::Mixed::new(&stages, pool, think))
    }

    /// The command line (after `stampede`) that runs the plan's scenario, less the stages.
    pub fn argv(&self) -> Vec<String> {
        let mut v = vec![self.scenario.clone(), self.url.clone()];
        for (flag, words) in &self.options {
            v.push(format!("--{flag}"));
            v.extend(words.iter().cloned());
        }
        v
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    scenario: Spanned<String>,
    url: Spanned<String>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
    #[serde(default)]
    options: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    stage: Vec<Spanned<RawStage>>,
    #[serde(default)]
    request: Vec<Spanned<RawRequest>>,
    #[serde(default)]
    setup: Vec<Spanned<setup::RawSetup>>,
    /// Stop at the first breach of a plan threshold (latency, errors, rate) after `abort_grace`.
    #[serde(default)]
    abort_on_fail: bool,
    abort_grace: Option<Spanned<String>>,
    /// Statuses that count as success (`200-299,429`): `--ok-status` of the run.
    ok_status: Option<Spanned<String>>,
    /// The checks of every request (`--expect-*`): see `plan::request::Checks`.
    expect_status: Option<String>,
    expect_body: Option<request::Texts>,
    expect_header: Option<request::Texts>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    name: Spanned<String>,
    weight: Option<Spanned<f64>>,
    method: Option<String>,
    path: Option<String>,
    url: Option<String>,
    #[serde(default)]
    headers: Vec<String>,
    body: Option<String>,
    body_file: Option<String>,
    /// Statuses that count as success for this request (else the plan's).
    ok_status: Option<String>,
    /// This request's checks (each kind given replaces the plan's).
    expect_status: Option<String>,
    expect_body: Option<request::Texts>,
    expect_header: Option<request::Texts>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: Option<String>,
    duration: Spanned<String>,
    rate: Option<Spanned<toml::Value>>,
    connections: Option<Spanned<toml::Value>>,
    streams: Option<Spanned<toml::Value>>,
    /// Closed loop: each connection's pause between an answer and its next request.
    think: Option<Spanned<String>>,
    /// The stage's own request (http): see `plan::request`.
    method: Option<String>,
    path: Option<String>,
    #[serde(default)]
    headers: Vec<String>,
    body: Option<String>,
    body_file: Option<String>,
    /// The stage's own message (raw): see `plan::request::check_message`.
    message: Option<Spanned<String>>,
    /// The statuses that are a success in this stage (http), e.g. "200-299,429".
    ok_status: Option<Spanned<String>>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
}

/// Options a plan may not set: the plan owns them, or they make no sense in a file.
const RESERVED: &[&str] = &["rate", "duration", "requests", "threshold", "processes", "shard", "process-part", "streams"];

/// Parses a plan. Errors read "line N: field: problem".
pub fn parse(text: &str) -> Result<Plan, String> {
    let raw: RawPlan = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(text, s.start));
        format!("line {line}: {}", e.message())
    })?;
    let at = |span: std::ops::Range<usize>, field: &str, msg: String| format!("line {}: {field}: {msg}", line_of(text, span.start));
    let scenario = raw.scenario.get_ref().clone();
    if !matches!(scenario.as_str(), "http" | "ws" | "asr" | "raw") {
        return Err(at(raw.scenario.span(), "scenario", format!("'{scenario}' is not one of http, ws, asr, raw")));
    }
    let options = parse_options(text, &raw)?;
    let rule = |t: &Spanned<String>, field: &str| crate::thresholds::parse(t.get_ref()).map_err(|e| at(t.span(), field, e));
    let thresholds = raw.thresholds.iter().map(|t| rule(t, "thresholds")).collect::<Result<Vec<_>, _>>()?;
    if raw.stage.is_empty() {
        return Err("the plan has no [[stage]]: add at least one, e.g.\n[[stage]]\nduration = \"30s\"\nrate = 100".into());
    }
    let (drive, stages) = parse_stages(text, &raw, &scenario)?;
    let drive = drive.unwrap_or(Drive::Rate);
    if drive == Drive::Connections || drive == Drive::Mixed {
        if let Some(v) = raw.options.get("connections") {
            if drive == Drive::Connections {
                return Err(at(v.span(), "options.connections", "the stages set the connections here; remove it".into()));
            }
        }
    }
    let requests = parse_requests(text, &raw, &scenario)?;
    let setups = setup::parse_setups(text, &raw.setup, raw.url.get_ref())?;
    // A threshold on `name.metric` must name a request of the mix.
    for t in thresholds.iter().chain(stages.iter().flat_map(|s| s.thresholds.iter())) {
        if let Some(scope) = &t.scope {
            if !requests.iter().any(|r| &r.name == scope) {
                return Err(format!("threshold '{}': no [[request]] is named '{scope}'", t.expr));
            }
        }
    }
    if drive == Drive::Rate && stages.iter().all(|s| s.from == 0.0 && s.to == 0.0) {
        return Err("every stage has a rate of 0: nothing would be sent".into());
    }
    Ok(Plan {
        scenario,
        url: raw.url.get_ref().clone(),
        options,
        threshold_texts: raw.thresholds.iter().map(|t| t.get_ref().clone()).collect(),
        thresholds,
        drive,
        stages,
        requests,
        setups,
    })
}

/// `[options]` as flags of the scenario command, with `abort_on_fail` and `abort_grace`.
fn parse_options(text: &str, raw: &RawPlan) -> Result<Vec<(String, Vec<String>)>, String> {
    let at = |span: std::ops::Range<usize>, field: &str, msg: String| format!("line {}: {field}: {msg}", line_of(text, span.start));
    let mut options = Vec::new();
    for (k, v) in &raw.options {
        let flag = k.replace('_', "-");
        if RESERVED.contains(&flag.as_str()) {
            return Err(at(v.span(), &format!("options.{k}"), "set by the plan itself (stages, thresholds); remove it".into()));
        }
        let words = match v.get_ref() {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Integer(i) => vec![i.to_string()],
            toml::Value::Float(f) => vec![f.to_string()],
            toml::Value::Boolean(true) => vec![],
            toml::Value::Boolean(false) => continue,
            toml::Value::Array(a) => {
                // a repeatable flag: --header A --header B
                for item in a {
                    let w = match item {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(i) => i.to_string(),
                        toml::Value::Float(f) => f.to_string(),
                        _ => return Err(at(v.span(), &format!("options.{k}"), "list items must be strings or numbers".into())),
                    };
                    options.push((flag.clone(), vec![w]));
                }
                continue;
            }
            _ => return Err(at(v.span(), &format!("options.{k}"), "must be a string, a number, true or a list".into())),
        };
        options.push((flag, words));
    }
    if raw.abort_on_fail {
        options.push(("abort-on-fail".to_string(), Vec::new()));
    }
    if let Some(g) = &raw.abort_grace {
        crate::units::parse_duration(g.get_ref()).map_err(|e| at(g.span(), "abort_grace", e))?;
        if !raw.abort_on_fail {
            return Err(at(g.span(), "abort_grace", "goes with abort_on_fail = true".into()));
        }
        options.push(("abort-grace".to_string(), vec![g.get_ref().clone()]));
    }
    if let Some(ok) = &raw.ok_status {
        if raw.options.contains_key("ok-status") || raw.options.contains_key("ok_status") {
            return Err(at(ok.span(), "ok_status", "given twice (also in [options]); keep one".into()));
        }
        options.push(("ok-status".to_string(), vec![ok.get_ref().clone()]));
    }
    options.extend(request::Checks::new(raw.expect_status.clone(), raw.expect_body.clone(), raw.expect_header.clone()).flags());
    Ok(options)
}

/// The `[[stage]]` tables, and what they drive (the same thing in every stage).
fn parse_stages(text: &str, raw: &RawPlan, scenario: &str) -> Result<(Option<Drive>, Vec<Stage>), String> {
    let at = |span: std::ops::Range<usize>, field: &str, msg: String| format!("line {}: {field}: {msg}", line_of(text, span.start));
    let rule = |t: &Spanned<String>, field: &str| crate::thresholds::parse(t.get_ref()).map_err(|e| at(t.span(), field, e));
    let mut drive = None;
    let mut stages = Vec::new();
    // The stages end to end: bounded like one duration, so that their nanoseconds add up in u64.
    let mut total = Duration::ZERO;
    for (i, st) in raw.stage.iter().enumerate() {
        let s = st.get_ref();
        let field = |f: &str| format!("stage {} ({}).{f}", i + 1, s.name.as_deref().unwrap_or("unnamed"));
        let levels = [(Drive::Rate, &s.rate), (Drive::Connections, &s.connections), (Drive::Streams, &s.streams)];
        let given: Vec<_> = levels.iter().filter_map(|(d, v)| v.as_ref().map(|v| (*d, v))).collect();
        let (d, level, pool) = match given.as_slice() {
            [one] => (one.0, one.1, None),
            // A rate capped by a concurrency: the rate over this stage's own connections.
            [(Drive::Rate, rate), (Drive::Connections, conns)] => {
                let n = conns.get_ref().as_integer().filter(|n| (1..=10_000_000).contains(n)).ok_or_else(|| {
                    at(conns.span(), &field("connections"), "with a rate, give the stage's connections as one whole number".into())
                })?;
                (Drive::Rate, *rate, Some(n as u64))
            }
            [] => return Err(at(st.span(), &field("rate"), "give one of rate, connections or streams".into())),
            _ => return Err(at(st.span(), &field("rate"), "give one of rate, connections or streams (or rate with connections)".into())),
        };
        let think = s
            .think
            .as_ref()
            .map(|t| crate::units::parse_duration(t.get_ref()).map_err(|e| at(t.span(), &field("think"), e)))
            .transpose()?;
        if let (Some(t), Drive::Rate | Drive::Streams) = (&s.think, d) {
            return Err(at(t.span(), &field("think"), "think is for closed-loop stages (connections = N)".into()));
        }
        // Stages that drive different things, or a pool or a think time: a mixed plan.
        let own = if pool.is_some() || think.is_some() { Drive::Mixed } else { d };
        drive = match drive {
            None => Some(own),
            Some(prev) if prev == own => Some(prev),
            Some(prev) if prev == Drive::Streams || d == Drive::Streams => {
                return Err(at(
                    level.span(),
                    &field(d.name()),
                    format!("streams do not mix with other drives; an earlier stage sets {}", prev.name()),
                ))
            }
            Some(_) => Some(Drive::Mixed),
        };
        if d == Drive::Streams && scenario != "asr" {
            return Err(at(level.span(), &field("streams"), "streams are for scenario = \"asr\"; use rate or connections".into()));
        }
        if d != Drive::Streams && scenario == "asr" {
            return Err(at(level.span(), &field(d.name()), "an asr plan drives streams".into()));
        }
        let duration = crate::units::parse_duration(s.duration.get_ref()).map_err(|e| at(s.duration.span(), &field("duration"), e))?;
        if duration.is_zero() {
            return Err(at(s.duration.span(), &field("duration"), "must be greater than 0".into()));
        }
        total += duration;
        if total > Duration::from_secs(1_000_000_000) {
            return Err(at(s.duration.span(), &field("duration"), "the stages add up to more than 10^9 s".into()));
        }
        let (from, to, shape) = parse_level(level.get_ref(), d).map_err(|e| at(level.span(), &field(d.name()), e))?;
        if let Shape::Spike { rise } = shape {
            if rise > duration {
                return Err(at(level.span(), &field(d.name()), format!("rise {rise:?} is longer than the stage ({duration:?})")));
            }
        }
        let thresholds = s.thresholds.iter().map(|t| rule(t, &field("thresholds"))).collect::<Result<Vec<_>, _>>()?;
        let name = s.name.clone().unwrap_or_else(|| format!("stage-{}", i + 1));
        let request = request::StageRequest::new(s.method.clone(), s.path.clone(), s.headers.clone(), s.body.clone(), s.body_file.clone())
            .map_err(|(f, e)| at(st.span(), &field(f), e))?;
        if request.is_some() && scenario != "http" {
            return Err(at(
                st.span(),
                &field("method"),
                "a stage's own request (method, path, headers, body) is for scenario = \"http\"".into(),
            ));
        }
        if request.is_some() && !raw.request.is_empty() {
            return Err(at(st.span(), &field("method"), "a plan with a [[request]] mix sends its requests in every stage".into()));
        }
        let message = match &s.message {
            Some(m) if scenario != "raw" => {
                return Err(at(m.span(), &field("message"), "a stage's own message is for scenario = \"raw\"".into()))
            }
            Some(m) => {
                request::check_message(m.get_ref()).map_err(|e| at(m.span(), &field("message"), e))?;
                Some(m.get_ref().clone())
            }
            None => None,
        };
        if let Some(o) = s.ok_status.as_ref().filter(|_| scenario != "http") {
            return Err(at(o.span(), &field("ok_status"), "a stage's own ok_status is for scenario = \"http\"".into()));
        }
        let ok_status = s.ok_status.as_ref().map(|o| o.get_ref().clone());
        stages.push(Stage { name, duration, from, to, shape, thresholds, drive: d, pool, think, request, message, ok_status });
    }
    Ok((drive, stages))
}

/// The `[[request]]` tables of a mix.
fn parse_requests(text: &str, raw: &RawPlan, scenario: &str) -> Result<Vec<PlanRequest>, String> {
    let at = |span: std::ops::Range<usize>, field: &str, msg: String| format!("line {}: {field}: {msg}", line_of(text, span.start));
    if !raw.request.is_empty() && scenario != "http" {
        return Err(at(raw.request[0].span(), "request", "a request mix is for scenario = \"http\"".into()));
    }
    let origin = raw.url.get_ref().find("://").map(|i| {
        let rest = &raw.url.get_ref()[i + 3..];
        let end = rest.find(['/', '?']).map_or(raw.url.get_ref().len(), |j| i + 3 + j);
        raw.url.get_ref()[..end].to_string()
    });
    let mut out: Vec<PlanRequest> = Vec::new();
    for (i, rq) in raw.request.iter().enumerate() {
        let r = rq.get_ref();
        let name = r.name.get_ref().clone();
        let field = |f: &str| format!("request {} ({name}).{f}", i + 1);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(at(r.name.span(), &field("name"), "use letters, digits, - and _ (thresholds name it: NAME.p95<300ms)".into()));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(at(r.name.span(), &field("name"), "another request has this name".into()));
        }
        let weight = r.weight.as_ref().map_or(1.0, |w| *w.get_ref());
        if !(weight.is_finite() && weight > 0.0) {
            let span = r.weight.as_ref().map_or(rq.span(), |w| w.span());
            return Err(at(span, &field("weight"), "must be a number greater than 0".into()));
        }
        let url = match (&r.path, &r.url) {
            (Some(_), Some(_)) => return Err(at(rq.span(), &field("url"), "give path or url, not both".into())),
            (None, Some(u)) => u.clone(),
            (Some(p), None) if p.starts_with('/') => format!("{}{p}", origin.clone().unwrap_or_default()),
            (Some(_), None) => return Err(at(rq.span(), &field("path"), "must start with /".into())),
            (None, None) => raw.url.get_ref().clone(),
        };
        if r.body.is_some() && r.body_file.is_some() {
            return Err(at(rq.span(), &field("body"), "give body or body_file, not both".into()));
        }
        out.push(PlanRequest {
            name,
            weight,
            method: r.method.clone().unwrap_or_else(|| "GET".into()),
            url,
            headers: r.headers.clone(),
            body: r.body.clone(),
            body_file: r.body_file.clone(),
            ok_status: r.ok_status.clone(),
            checks: request::Checks::new(r.expect_status.clone(), r.expect_body.clone(), r.expect_header.clone()),
        });
    }
    Ok(out)
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
