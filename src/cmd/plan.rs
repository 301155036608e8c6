//! `stampede run` (a load plan or a preset, staged over time) and `stampede plan` (print a
//! preset's TOML).

use std::sync::Arc;
use std::time::Duration;

use super::parse_completed;
use super::run::{plan_for, run_asr, run_http, run_scenario, run_ws, setup_phase, tls_options, SetupContext, SetupDone};
use crate::cli::{AsrArgs, Command, HttpArgs, LoadArgs, PlanArgs, RunArgs, ScenarioArgs, ThrottleArgs};
use crate::config::{self, Drive, HttpConfig, LoadConfig, RawConfig, WsMode};
use crate::error::{exit, Error, Result};
use crate::plan::drive::Mixed;
use crate::plan::{Drive as PlanDrive, Plan};
use crate::proto::raw::RawTemplate;
use crate::proto::template::{Rendered, Rng, Values};
use crate::scenario::http::HttpScenario;
use crate::scenario::raw::RawScenario;
use crate::thresholds::Metric;

/// The TOML of a preset for `url`; the throttle preset's knobs (`think`: from `--think`).
fn preset_text(name: &str, url: &str, limit: Option<&str>, knobs: &ThrottleArgs, think: Option<Duration>) -> Result<String> {
    if limit.is_some() {
        return Err(Error::usage(
            "--limit is retired: the throttle preset takes the target's limits as --concurrent-limit N and --rate-limit N/PERIOD \
             (e.g. --concurrent-limit 100 --rate-limit 2000/min; either may be left out)",
        ));
    }
    let scenario = match url.split_once("://").map(|(scheme, _)| scheme) {
        Some("ws" | "wss") => "ws",
        // A daemon over a Unix socket or TCP: `raw` (its --message and framing on the command line).
        Some("unix" | "tcp" | "tls") => "raw",
        _ => "http",
    };
    let given =
        knobs.concurrent_limit.is_some() || knobs.rate_limit.is_some() || knobs.stage_duration.is_some() || knobs.payload_message.is_some();
    if name != "throttle" {
        if given {
            return Err(Error::usage("--concurrent-limit, --rate-limit, --stage-duration and --payload-message go with --preset throttle"));
        }
        return crate::plan::preset(name, scenario, url).map_err(|e| Error::usage(format!("--preset: {e}")));
    }
    if knobs.concurrent_limit == Some(0) {
        return Err(Error::usage("--concurrent-limit must be at least 1"));
    }
    if knobs.stage_duration.is_some_and(|d| d.is_zero()) {
        return Err(Error::usage("--stage-duration must be greater than 0"));
    }
    let rate = knobs
        .rate_limit
        .as_deref()
        .map(crate::server::limit::RateLimit::parse)
        .transpose()
        .map_err(|e| Error::usage(format!("--rate-limit {e}")))?
        .map(|r| (r.count, Duration::from_nanos(r.period_ns)));
    let t = crate::plan::throttle::Throttle {
        concurrent: knobs.concurrent_limit,
        rate,
        stage: knobs.stage_duration,
        think,
        payload_message: knobs.payload_message.clone(),
    };
    crate::plan::throttle::throttle(&t, scenario, url).map_err(|e| Error::usage(format!("--preset throttle: {e}")))
}

/// `stampede plan`: a preset's TOML on stdout, to copy and edit.
pub(super) fn print_plan(a: &PlanArgs) -> Result<i32> {
    print!("{}", preset_text(&a.preset, &a.url, a.limit.as_deref(), &a.throttle, None)?);
    Ok(exit::OK)
}

/// `--think TIME` among the scenario flags of `stampede run` (the throttle preset's least think).
fn think_in(extra: &[String]) -> Result<Option<Duration>> {
    let mut it = extra.iter();
    while let Some(w) = it.next() {
        let value = match w.strip_prefix("--think=") {
            Some(v) => Some(v.to_string()),
            None if w == "--think" => it.next().cloned(),
            None => continue,
        };
        let v = value.ok_or_else(|| Error::usage("--think needs a duration, e.g. 75ms"))?;
        return crate::units::parse_duration(&v).map(Some).map_err(|e| Error::usage(format!("--think: {e}")));
    }
    Ok(None)
}

/// `stampede run`: the plan's options and the user's flags are parsed as the scenario's command
/// line (so every flag and check applies); the plan's length, peak level and thresholds are set
/// on the parsed flags, then the stages are attached to the load.
pub(super) fn run_plan(a: &RunArgs) -> Result<i32> {
    let (text, origin) = plan_text(a)?;
    let plan = crate::plan::parse(&text).map_err(|e| Error::usage(format!("{origin}: {e}")))?;
    let staged = plan.staged();
    let mut argv = vec!["stampede".to_string()];
    argv.extend(plan.argv());
    argv.extend(a.extra.iter().cloned());
    let command = parse_scenario(&argv, &plan, &origin)?;
    if a.check {
        print!("{}", describe(&plan, &origin, &argv));
        return Ok(exit::OK);
    }
    let levels = Levels { duration: Duration::from_millis(staged.total().as_millis() as u64), peak: staged.profile.peak() };
    // A part of a split run carries its share of every level.
    let attach = |load: &mut LoadConfig, mixed: Option<Mixed>, parts: [(&str, &Option<String>); 2]| -> Result<()> {
        let mut st = staged.clone();
        let mut mixed = mixed;
        for (flag, spec) in parts {
            if let Some(spec) = spec {
                let n = config::parse_part(flag, spec)?.1;
                st = st.share(n);
                mixed = mixed.map(|m| m.share(n));
            }
        }
        let st = Arc::new(st);
        load.drive = match (plan.drive, mixed) {
            (crate::plan::Drive::Rate, _) => Drive::RatePlan(st),
            (crate::plan::Drive::Connections | crate::plan::Drive::Streams, _) => {
                Drive::CountPlan { staged: st, rate_per_s: load.drive.constant_rate() }
            }
            (crate::plan::Drive::Mixed, Some(m)) => Drive::MixedPlan { staged: st, mixed: Arc::new(m) },
            (crate::plan::Drive::Mixed, None) => {
                return Err(Error::usage(format!("{origin}: stages that mix drives are for http, ws and raw")))
            }
        };
        Ok(())
    };
    let command = match command {
        Command::Raw(mut r) => {
            let mixed = levels.set_on(&mut r.load, &plan, &origin)?;
            let mut cfg = config::raw_config(&r)?;
            attach(&mut cfg.load, mixed, [("--shard", &r.load.out.shard), ("--process-part", &r.load.out.process_part)])?;
            return run_raw_plan(&plan, cfg, &origin);
        }
        other => other,
    };
    match command.into_scenario() {
        Some(ScenarioArgs::Http(mut h)) => {
            let mixed = levels.set_on(&mut h.load, &plan, &origin)?;
            let setup = setup_phase(&plan.setups, setup_context(&origin, &h.load))?;
            let mut cfg = config::http_config_captured(&h, std::sync::Arc::clone(&setup.captures))?;
            cfg.load.setup = setup.steps.clone();
            attach(&mut cfg.load, mixed, [("--shard", &h.load.out.shard), ("--process-part", &h.load.out.process_part)])?;
            if plan.stages.iter().any(|s| s.request.is_some() || s.ok_status.is_some()) {
                let requests = stage_requests(&plan, &h, &origin)?;
                let expects = stage_expects(&plan, &cfg.expect, &origin)?;
                let (pf, load) = (plan_for(&cfg.target, &cfg.load), cfg.load.clone());
                let what = format!("{} {} (and the stages' own requests)", cfg.method, cfg.target.url);
                return run_scenario(Arc::new(HttpScenario::http_staged(cfg, &requests, expects)), &load, pf, &what, "", None);
            }
            if plan.requests.is_empty() {
                return run_http(cfg, "");
            }
            run_mix(&plan, cfg, &h, &origin, &setup)
        }
        Some(ScenarioArgs::Ws(mut w)) => {
            let mixed = levels.set_on(&mut w.load, &plan, &origin)?;
            // The chat's templates checked against the names the setups will capture, before
            // any setup request goes out.
            let mut names = config::Captures::default();
            for (name, _) in plan.setups.iter().flat_map(|s| &s.capture) {
                names.insert(name, vec![String::new()]);
            }
            let staged = match config::ws_config_captured(&w, Arc::new(names))?.mode {
                WsMode::Chat { .. } => chat_follows(&plan, &origin)?,
                WsMode::Echo { .. } | WsMode::Ping => true,
            };
            let setup = setup_phase(&plan.setups, setup_context(&origin, &w.load))?;
            let mut cfg = config::ws_config_captured(&w, Arc::clone(&setup.captures))?;
            cfg.load.setup = setup.steps.clone();
            if !staged {
                // Members held for the whole plan at the stages' one count, messages at --rate.
                return run_ws(cfg);
            }
            attach(&mut cfg.load, mixed, [("--shard", &w.load.out.shard), ("--process-part", &w.load.out.process_part)])?;
            run_ws(cfg)
        }
        Some(ScenarioArgs::Asr(mut x)) => {
            levels.set_on_asr(&mut x, &plan, &origin)?;
            let cx = SetupContext { origin: &origin, tls: tls_options(&x.tls), timeout: x.timeout, child: false, processes: 1 };
            let setup = setup_phase(&plan.setups, cx)?;
            let mut cfg = config::asr_config(&x)?;
            (cfg.load.captures, cfg.load.setup) = (setup.captures.clone(), setup.steps.clone());
            attach(&mut cfg.load, None, [("--shard", &None), ("--process-part", &None)])?;
            run_asr(cfg)
        }
        None => Err(Error::usage(format!("{origin}: scenario must be http, ws, asr or raw"))),
    }
}

/// `run --check`: the plan as it would run.
fn describe(plan: &Plan, origin: &str, argv: &[String]) -> String {
    let mut out = format!("plan {origin}: {} {}\n", plan.scenario, plan.url);
    for s in &plan.setups {
        out.push_str(&format!("  setup {}\n", s.describe()));
    }
    for r in &plan.requests {
        out.push_str(&format!("  request {} (weight {}) {} {}\n", r.name, r.weight, r.method, r.url));
        for (flag, v) in r.checks.flags() {
            out.push_str(&format!("    check --{flag} {}\n", v.join(" ")));
        }
    }
    for s in &plan.stages {
        out.push_str(&format!("  stage {} {:?}: {}\n", s.name, s.duration, s.describe(plan.drive)));
    }
    if !plan.threshold_texts.is_empty() {
        out.push_str(&format!("  thresholds {}\n", plan.threshold_texts.join(", ")));
    }
    out.push_str(&format!("  command {}\n", argv.join(" ")));
    out
}

/// Which stages a chat plan (`ws --rooms`) takes: rate stages of any shape (the messages per
/// second of all members: true, attach them) or connections stages that all hold one count
/// (the members, held for the plan's length: false, the flags say it all). Members joining and
/// leaving by stage would change the rooms under the delivery accounting: refused.
fn chat_follows(plan: &Plan, origin: &str) -> Result<bool> {
    let held = |s: &crate::plan::Stage| s.shape == crate::plan::Shape::Constant && plan.stages.first().is_some_and(|f| f.to == s.to);
    match plan.drive {
        PlanDrive::Rate => Ok(true),
        PlanDrive::Connections if plan.stages.iter().all(held) => Ok(false),
        PlanDrive::Connections | PlanDrive::Mixed | PlanDrive::Streams => Err(Error::usage(format!(
            "{origin}: chat rooms (--rooms) take rate stages (messages per second, any shape: constant, ramp, steps, spike) \
             or connections stages that all hold one count (the members, with messages at --rate); members joining and leaving \
             by stage, or stages mixing drives, are not supported"
        ))),
    }
}

/// How a plan's setup phase runs for a scenario with these load flags.
fn setup_context<'a>(origin: &'a str, load: &LoadArgs) -> SetupContext<'a> {
    SetupContext {
        origin,
        tls: tls_options(&load.tls),
        timeout: load.timeout,
        child: load.out.process_part.is_some(),
        processes: load.out.processes,
    }
}

/// The plan's TOML and where it came from (a preset's name or the file's path).
fn plan_text(a: &RunArgs) -> Result<(String, String)> {
    match &a.preset {
        Some(name) => Ok((preset_text(name, &a.plan, a.limit.as_deref(), &a.throttle, think_in(&a.extra)?)?, format!("preset {name}"))),
        None => {
            if a.limit.is_some() {
                return Err(Error::usage("--limit is retired: the throttle preset takes --concurrent-limit N and --rate-limit N/PERIOD"));
            }
            let t = &a.throttle;
            if t.concurrent_limit.is_some() || t.rate_limit.is_some() || t.stage_duration.is_some() || t.payload_message.is_some() {
                return Err(Error::usage(
                    "--concurrent-limit, --rate-limit, --stage-duration and --payload-message go with --preset throttle",
                ));
            }
            let text = std::fs::read_to_string(&a.plan).map_err(|e| {
                Error::usage(format!("{}: cannot read the plan ({e}); for a preset: stampede run --preset load URL", a.plan))
            })?;
            Ok((text, a.plan.clone()))
        }
    }
}

/// What a plan's stages set on its scenario's flags: the run's length and the peak level.
struct Levels {
    duration: Duration,
    peak: f64,
}

impl Levels {
    /// `-d`, `--rate` or `--connections`, and the plan's thresholds (before the user's). A
    /// mixed plan: its drive over the given `--connections` (the pool of its rate stages), and
    /// as many connections as its busiest stage uses.
    fn set_on(&self, load: &mut LoadArgs, plan: &Plan, origin: &str) -> Result<Option<Mixed>> {
        load.duration = Some(self.duration);
        let mut mixed = None;
        match plan.drive {
            PlanDrive::Rate => {
                let rate = self.peak.max(0.001);
                if !(rate.is_finite() && rate <= 1e9) {
                    return Err(Error::usage(format!(
                        "{origin}: -R/--rate: '{rate}' must be greater than 0 and at most 1G (10^9) requests per second"
                    )));
                }
                load.rate = Some(rate);
            }
            PlanDrive::Connections => load.connections = self.count(),
            PlanDrive::Streams => return Err(Error::usage(format!("{origin}: streams are for scenario = \"asr\""))),
            PlanDrive::Mixed => {
                let m = plan.mixed(load.connections, load.think.filter(|t| !t.is_zero()));
                load.connections = m.as_ref().map_or(1, Mixed::peak_slots).max(1);
                load.think = None; // carried by the stages
                mixed = m;
            }
        }
        load.out.thresholds.splice(0..0, plan.threshold_texts.iter().cloned());
        Ok(mixed)
    }

    /// `-d`, `--streams` and the plan's thresholds of an asr plan.
    fn set_on_asr(&self, x: &mut AsrArgs, plan: &Plan, origin: &str) -> Result<()> {
        x.duration = Some(self.duration);
        match plan.drive {
            PlanDrive::Streams => x.streams = self.count(),
            PlanDrive::Rate | PlanDrive::Connections | PlanDrive::Mixed => {
                return Err(Error::usage(format!("{origin}: an asr plan drives streams")))
            }
        }
        x.out.thresholds.splice(0..0, plan.threshold_texts.iter().cloned());
        Ok(())
    }

    /// The peak as a connection or stream count.
    fn count(&self) -> u64 {
        self.peak.ceil().max(1.0) as u64
    }
}

/// The plan's scenario command, parsed; a flag the stages set may not be given again.
fn parse_scenario(argv: &[String], plan: &Plan, origin: &str) -> Result<Command> {
    let level = match plan.drive {
        PlanDrive::Rate => ("rate", "-R/--rate"),
        PlanDrive::Connections => ("connections", "-c/--connections"),
        PlanDrive::Streams => ("streams", "--streams"),
        // --connections stays: the pool of the rate stages without their own.
        PlanDrive::Mixed => ("rate", "-R/--rate"),
    };
    let context = format!("{origin}: the plan's options do not make a valid command");
    parse_completed(argv, &context, &[("duration", "-d/--duration"), level], |flag| {
        format!("{origin}: the plan's stages set {flag}; remove it from the flags")
    })
}

/// Each stage's own expected statuses (`ok_status`), with the run's checks; `None`: the run's.
fn stage_expects(plan: &Plan, run: &config::Expect, origin: &str) -> Result<Vec<Option<config::Expect>>> {
    let one = |s: &crate::plan::Stage, spec: &str| {
        let fail = |e: String| Error::usage(format!("{origin}: stage {}: ok_status: {e}", s.name));
        let ok = config::OkStatus::parse(spec).map_err(fail)?;
        config::Expect::new(ok, run.checks.clone()).map_err(fail)
    };
    plan.stages.iter().map(|s| s.ok_status.as_deref().map(|spec| one(s, spec)).transpose()).collect()
}

/// Each stage's own request, encoded once with the plan's flags (`None`: the plan's request),
/// its body rendered by the template engine (`{payload:N}`).
fn stage_requests(plan: &Plan, base: &HttpArgs, origin: &str) -> Result<Vec<Option<Vec<u8>>>> {
    let scheme_end = base.url.find("://").map_or(0, |i| i + 3);
    let host_end = base.url[scheme_end..].find(['/', '?']).map_or(base.url.len(), |j| scheme_end + j);
    let mut out = Vec::with_capacity(plan.stages.len());
    for s in &plan.stages {
        let Some(r) = &s.request else {
            out.push(None);
            continue;
        };
        let fail = |e: String| Error::usage(format!("{origin}: stage {}: {e}", s.name));
        let mut hr = base.clone();
        if let Some(m) = &r.method {
            hr.request.method = m.clone();
        }
        if let Some(p) = &r.path {
            hr.url = format!("{}{p}", &base.url[..host_end]);
        }
        hr.request.headers.extend(r.headers.iter().cloned());
        if r.body.is_some() || r.body_file.is_some() {
            hr.request.body = r.body.clone();
            hr.request.body_file = r.body_file.as_ref().map(std::path::PathBuf::from);
        }
        let c = config::http_config(&hr).map_err(|e| fail(e.to_string()))?;
        if c.dynamic.is_some() {
            return Err(fail("its request is encoded once: it may hold {payload:N} but no per-request placeholder".into()));
        }
        out.push(Some(c.request));
    }
    Ok(out)
}

/// A raw plan: each stage's own message framed once (`None`: the plan's); a `throttled` rule
/// needs `--throttled-match`, which says what a throttled answer carries.
fn run_raw_plan(plan: &Plan, cfg: RawConfig, origin: &str) -> Result<i32> {
    let rules = plan.thresholds.iter().chain(plan.stages.iter().flat_map(|s| s.thresholds.iter())).chain(cfg.load.thresholds.iter());
    if cfg.throttled.is_none() && rules.clone().any(|t| t.metric == Metric::Throttled) {
        let rule = rules.filter(|t| t.metric == Metric::Throttled).map(|t| t.expr.as_str()).next().unwrap_or("throttled");
        return Err(Error::usage(format!(
            "{origin}: '{rule}' counts answers that say the target throttled the request: give --throttled-match TEXT \
             (e.g. --throttled-match '\"error\":\"rate_limited\"'), or throttled_match in the plan's [options]"
        )));
    }
    let own = plan.stages.iter().any(|s| s.message.is_some());
    if own && cfg.seq.is_some() {
        return Err(Error::usage(format!("{origin}: --seq numbers the plan's message; stages with their own message do not take it")));
    }
    let mut messages = Vec::with_capacity(plan.stages.len());
    for s in &plan.stages {
        let Some(m) = &s.message else {
            messages.push(None);
            continue;
        };
        let fail = |e: String| Error::usage(format!("{origin}: stage {}: message: {e}", s.name));
        let t = RawTemplate::new(m.as_bytes(), &cfg.framing).map_err(fail)?;
        let mut out = Vec::new();
        t.encode(&Values::default(), &mut Rng::new(0), &mut Rendered::default(), &mut out);
        messages.push(Some(out));
    }
    let what = match own {
        true => format!("{} B messages (and the stages' own) to {}", cfg.message.len(), cfg.target.url),
        false => format!("{} B messages to {}", cfg.message.len(), cfg.target.url),
    };
    let (pf, load) = (plan_for(&cfg.target, &cfg.load), cfg.load.clone());
    run_scenario(Arc::new(RawScenario::raw_staged(cfg, &messages)), &load, pf, &what, "", None)
}

/// A mix: each named request of the plan is its own scenario, over its share of the connections.
fn run_mix(plan: &Plan, cfg: HttpConfig, base: &HttpArgs, origin: &str, setup: &SetupDone) -> Result<i32> {
    let groups = plan.requests.len() as u64;
    if cfg.load.connections < groups * cfg.load.threads as u64 {
        return Err(Error::usage(format!(
            "{origin}: {groups} requests on {} threads need at least {} connections (each request has its own)",
            cfg.load.threads,
            groups * cfg.load.threads as u64
        )));
    }
    let mut members = Vec::new();
    for r in &plan.requests {
        let mut hr = base.clone();
        hr.url = r.url.clone();
        hr.request.method = r.method.clone();
        hr.request.headers.extend(r.headers.iter().cloned());
        if r.ok_status.is_some() {
            hr.request.ok_status.clone_from(&r.ok_status);
        }
        // The request's own checks, kind by kind, replace the plan's.
        if r.checks.status.is_some() {
            hr.request.expect_status.clone_from(&r.checks.status);
        }
        if !r.checks.body.is_empty() {
            hr.request.expect_body.clone_from(&r.checks.body);
        }
        if !r.checks.header.is_empty() {
            hr.request.expect_header.clone_from(&r.checks.header);
        }
        if r.body.is_some() || r.body_file.is_some() {
            if hr.request.body.is_some() || hr.request.body_file.is_some() {
                return Err(Error::usage(format!("{origin}: request {}: the plan's options already give a body", r.name)));
            }
            hr.request.body = r.body.clone();
            hr.request.body_file = r.body_file.as_ref().map(std::path::PathBuf::from);
        }
        let mut c = config::http_config_captured(&hr, std::sync::Arc::clone(&setup.captures))
            .map_err(|e| Error::usage(format!("{origin}: request {}: {e}", r.name)))?;
        c.load = cfg.load.clone();
        members.push((r.name.clone(), r.weight, HttpScenario::http(c)));
    }
    let pf = plan_for(&cfg.target, &cfg.load);
    let what = format!("a mix of {groups} requests ({})", plan.requests.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", "));
    let load = cfg.load.clone();
    run_scenario(Arc::new(crate::scenario::mix::MixScenario::new(members)), &load, pf, &what, "", None)
}
