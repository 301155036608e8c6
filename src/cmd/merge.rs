//! `stampede merge`: adds results of the same plan from several processes or machines.

use super::{check_writable, write_atomically};
use crate::cli::MergeArgs;
use crate::config;
use crate::error::{exit, Error, Result};
use crate::stats::report::RunResult;

/// `stampede merge`: adds results of the same plan from several processes or machines.
pub(super) fn merge(a: &MergeArgs) -> Result<i32> {
    if let Some(out) = &a.output {
        check_writable("-o/--output", out)?;
    }
    let mut merged: Option<RunResult> = None;
    for p in &a.inputs {
        let bytes = std::fs::read(p).map_err(|e| Error::usage(format!("{}: {e}", p.display())))?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::usage(format!("{}: not JSON ({e})", p.display())))?;
        let r = RunResult::from_json(&v).map_err(|e| Error::usage(format!("{}: {e}", p.display())))?;
        match &mut merged {
            None => merged = Some(r),
            Some(m) => m.merge(&r).map_err(|e| Error::usage(format!("{}: {e}", p.display())))?,
        }
    }
    let merged = merged.ok_or_else(|| Error::usage("give at least one result to merge"))?;
    let rules = config::parse_rules("--threshold", &a.thresholds)?;
    let verdicts = crate::thresholds::judge(&rules, &merged);
    print!("{}", merged.render_text());
    if !verdicts.is_empty() {
        print!("{}", crate::thresholds::render(&rules, &verdicts));
    }
    if let Some(out) = &a.output {
        let mut value = merged.to_json();
        value["thresholds"] = crate::thresholds::to_json(&verdicts);
        let json = serde_json::to_vec_pretty(&value).map_err(|e| Error::run(format!("cannot encode JSON: {e}")))?;
        write_atomically(out, &json)?;
        eprintln!("stampede: merged {} results into {}", a.inputs.len(), out.display());
    }
    let breached = verdicts.iter().filter(|v| !v.passed).count();
    if breached > 0 {
        eprintln!("stampede: {breached} threshold(s) breached");
        return Ok(exit::THRESHOLDS);
    }
    Ok(exit::OK)
}
