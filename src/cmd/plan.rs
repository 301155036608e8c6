//! `stampede run` (a load plan or a preset, staged over time) and `stampede plan` (print a
//! preset's TOML).

use std::sync::Arc;
use std::time::Duration;

use super::parse_completed;
use super::run::{plan_for, run_asr, run_http, run_scenario, run_ws, setup_phase, tls_options, SetupContext, SetupDone};
use crate::cli::{AsrArgs, Command, HttpArgs, LoadArgs, PlanArgs, RunArgs, ScenarioArgs};
use crate::config::{self, Drive, HttpConfig, LoadConfig, WsMode};
use crate::error::{exit, Error, Result};
use crate::plan::{Drive as PlanDrive, Plan};
use crate::scenario::http::HttpScenario;

/// The TOML of a preset for `url` (`--limit` fills the throttle preset's shares).
fn preset_text(name: &str, url: &str, limit: Option<u64>) -> Result<String> {
    let scenario = if url.starts_with("ws://") || url.starts_with("wss://") { "ws" } else { "http" };
    let text = crate::plan::preset(name, scenario, url).map_err(|e| Error::usage(format!("--preset: {e}")))?;
    let limit = match limit {
        Some(l) => l as f64,
        None => 100.0,
    };
    if limit <= 0.0 {
        return Err(Error::usage("--limit must be greater than 0"));
    }
    Ok(crate::plan::with_limit(&text, limit))
}

/// `stampede plan`: a preset's TOML on stdout, to copy and edit.
pub(super) fn print_plan(a: &PlanArgs) -> Result<i32> {
    print!("{}", preset_text(&a.preset, &a.url, a.limit)?);
    Ok(exit::OK)
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
    let attach = |load: &mut LoadConfig, parts: [(&str, &Option<String>); 2]| -> Result<()> {
        let mut st = staged.clone();
        for (flag, spec) in parts {
            if let Some(spec) = spec {
                st = st.share(config::parse_part(flag, spec)?.1);
            }
        }
        let st = Arc::new(st);
        load.drive = match plan.drive {
            crate::plan::Drive::Rate => Drive::RatePlan(st),
            crate::plan::Drive::Connections | crate::plan::Drive::Streams => {
                Drive::CountPlan { staged: st, rate_per_s: load.drive.constant_rate() }
            }
        };
        Ok(())
    };
    match command.into_scenario() {
        Some(ScenarioArgs::Http(mut h)) => {
            levels.set_on(&mut h.load, &plan, &origin)?;
            let setup = setup_phase(&plan.setups, setup_context(&origin, &h.load))?;
            let mut cfg = config::http_config_captured(&h, std::sync::Arc::clone(&setup.captures))?;
            cfg.load.setup = setup.steps.clone();
            attach(&mut cfg.load, [("--shard", &h.load.out.shard), ("--process-part", &h.load.out.process_part)])?;
            if plan.requests.is_empty() {
                return run_http(cfg, "");
            }
            run_mix(&plan, cfg, &h, &origin, &setup)
        }
        Some(ScenarioArgs::Ws(mut w)) => {
            levels.set_on(&mut w.load, &plan, &origin)?;
            let setup = setup_phase(&plan.setups, setup_context(&origin, &w.load))?;
            let mut cfg = config::ws_config(&w)?;
            (cfg.load.captures, cfg.load.setup) = (setup.captures.clone(), setup.steps.clone());
            if matches!(cfg.mode, WsMode::Chat { .. }) {
                return Err(Error::usage(format!("{origin}: chat rooms (--rooms) do not take stages yet")));
            }
            attach(&mut cfg.load, [("--shard", &w.load.out.shard), ("--process-part", &w.load.out.process_part)])?;
            run_ws(cfg)
        }
        Some(ScenarioArgs::Asr(mut x)) => {
            levels.set_on_asr(&mut x, &plan, &origin)?;
            let cx = SetupContext { origin: &origin, tls: tls_options(&x.tls), timeout: x.timeout, child: false, processes: 1 };
            let setup = setup_phase(&plan.setups, cx)?;
            let mut cfg = config::asr_config(&x)?;
            (cfg.load.captures, cfg.load.setup) = (setup.captures.clone(), setup.steps.clone());
            attach(&mut cfg.load, [("--shard", &None), ("--process-part", &None)])?;
            run_asr(cfg)
        }
        None => Err(Error::usage(format!("{origin}: scenario must be http, ws or asr"))),
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
        Some(name) => Ok((preset_text(name, &a.plan, a.limit)?, format!("preset {name}"))),
        None => {
            if a.limit.is_some() {
                return Err(Error::usage("--limit goes with --preset throttle"));
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
    /// `-d`, `--rate` or `--connections`, and the plan's thresholds (before the user's).
    fn set_on(&self, load: &mut LoadArgs, plan: &Plan, origin: &str) -> Result<()> {
        load.duration = Some(self.duration);
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
        }
        load.out.thresholds.splice(0..0, plan.threshold_texts.iter().cloned());
        Ok(())
    }

    /// `-d`, `--streams` and the plan's thresholds of an asr plan.
    fn set_on_asr(&self, x: &mut AsrArgs, plan: &Plan, origin: &str) -> Result<()> {
        x.duration = Some(self.duration);
        match plan.drive {
            PlanDrive::Streams => x.streams = self.count(),
            PlanDrive::Rate | PlanDrive::Connections => return Err(Error::usage(format!("{origin}: an asr plan drives streams"))),
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
    };
    let context = format!("{origin}: the plan's options do not make a valid command");
    parse_completed(argv, &context, &[("duration", "-d/--duration"), level], |flag| {
        format!("{origin}: the plan's stages set {flag}; remove it from the flags")
    })
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
