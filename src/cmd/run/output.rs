//! The end of a run: the text report, the JSON result, JUnit, side lines and the HdrHistogram
//! log written, thresholds judged, the exit code chosen.

use std::io::Write;
use std::path::Path;

use crate::cmd::write_atomically;
use crate::config::LoadConfig;
use crate::error::{exit, Error, Result};
use crate::stats::report::RunResult;
use crate::stats::ErrorClass::Check;
use crate::thresholds::{self, Verdict};

/// Prints the report, writes the JSON result (and side lines), judges thresholds; the exit code.
pub(super) fn report(mut result: RunResult, load: &LoadConfig, busiest: Option<f64>, notes: Option<(&Path, Vec<String>)>) -> Result<i32> {
    let verdicts = judge(&result, load);
    // One count of every threshold, in the headline, the JSON and the exit code alike.
    let total = verdicts.all().count();
    result.verdict = (total > 0).then(|| (total, verdicts.all().filter(|v| !v.passed).count()));
    let text = render(&result, load, busiest, &verdicts);
    print!("{text}");
    let _ = std::io::stdout().flush();
    let shard = &result.shard;
    let no_answer =
        // (an answer that failed a check, or whose status was not expected, is still an answer;
        // a chat join that did not get its expected answer is not)
        (shard.answers() + shard.chat_answers()).saturating_sub(shard.connect_errors_of(Check)) == 0
            && shard.requests_total() + shard.connects_attempted > 0
            && !result.meta.interrupted;
    // What makes the run fail, for JUnit's one failed case when no threshold says more.
    let failure = match (&result.partial, &result.stalled) {
        (Some(p), _) => Some(format!("{} of {} processes produced no result", p.missing.len(), p.processes)),
        (None, Some(why)) => Some(format!("stopped: {why}")),
        (None, None) => no_answer.then(|| "no request got a response".to_string()),
    };
    write_files(&result, load, &verdicts, failure.as_deref(), notes)?;
    if let Some(p) = &result.partial {
        eprintln!(
            "stampede: {} of {} processes produced no result: the figures cover only the others (see PARTIAL above)",
            p.missing.len(),
            p.processes
        );
        return Ok(exit::RUN_FAILED);
    }
    if let Some(why) = &result.stalled {
        eprintln!("stampede: stopped: {why}");
        return Ok(exit::RUN_FAILED);
    }
    if no_answer {
        eprintln!("stampede: no request got a response: see the error classes above");
        return Ok(exit::RUN_FAILED);
    }
    let breached = verdicts.all().filter(|v| !v.passed).count();
    if let Some(why) = &result.aborted {
        eprintln!("stampede: run aborted ({why})");
        return Ok(exit::THRESHOLDS);
    }
    if breached > 0 {
        eprintln!("stampede: {breached} threshold(s) breached");
        return Ok(exit::THRESHOLDS);
    }
    Ok(exit::OK)
}

/// The verdicts of a run: its thresholds, and a plan's stage thresholds (by stage index).
struct Verdicts {
    run: Vec<Verdict>,
    stages: Vec<(usize, Vec<Verdict>)>,
}

impl Verdicts {
    fn all(&self) -> impl Iterator<Item = &Verdict> {
        self.run.iter().chain(self.stages.iter().flat_map(|(_, v)| v))
    }
}

/// Judges the run's thresholds, and a plan's stage thresholds on each stage alone.
fn judge(result: &RunResult, load: &LoadConfig) -> Verdicts {
    let run = thresholds::judge(&load.thresholds, result);
    let mut stages = Vec::new();
    if let Some(st) = load.drive.staged() {
        for (i, rules) in st.thresholds.iter().enumerate() {
            let Some(r) = result.stage_result(i).filter(|_| !rules.is_empty()) else { continue };
            stages.push((i, thresholds::judge(rules, &r)));
        }
    }
    Verdicts { run, stages }
}

/// The text report with its verdicts.
fn render(result: &RunResult, load: &LoadConfig, busiest: Option<f64>, verdicts: &Verdicts) -> String {
    let mut text = result.render_text();
    if let Some(b) = busiest.filter(|_| !result.saturation().saturated) {
        text.push_str(&format!(
            "\nWARNING: the busiest worker thread used {:.0}% of a CPU: the generator may be the bottleneck.\n",
            b * 100.0
        ));
    }
    if load.latency {
        text.push_str(&crate::stats::report::render_distribution(result));
    }
    text.push_str(&result.render_monitor());
    text.push_str(&result.render_by_name());
    text.push_str(&result.render_stages());
    if !verdicts.run.is_empty() {
        text.push_str(&thresholds::render(&load.thresholds, &verdicts.run));
    }
    if let Some(st) = load.drive.staged() {
        for (i, v) in &verdicts.stages {
            let rules = &st.thresholds[*i];
            text.push_str(&thresholds::render(rules, v).replacen("Thresholds", &format!("Thresholds of stage {}", st.bounds[*i].0), 1));
        }
    }
    if let Some((total, failed)) = result.verdict {
        text.push_str(&format!("\n{}\n", crate::stats::report::verdict_headline(total, failed)));
    }
    text
}

/// Writes what the run was asked to leave: the JSON result, JUnit, side lines, the HdrHistogram log.
fn write_files(
    result: &RunResult,
    load: &LoadConfig,
    verdicts: &Verdicts,
    failure: Option<&str>,
    notes: Option<(&Path, Vec<String>)>,
) -> Result<()> {
    if load.json.is_some() || load.junit.is_some() {
        let mut doc = result.to_doc();
        doc.host = Some(crate::preflight::Host::read(Path::new("/")).to_json());
        doc.thresholds = Some(thresholds::to_docs(&verdicts.run));
        doc.verdict = result.verdict.map(|(total, failed)| crate::stats::result::VerdictSummary {
            thresholds: total as u64,
            failed: failed as u64,
            passed: failed == 0,
        });
        doc.setup = load.setup.as_ref().map(|s| s.to_vec());
        for (i, v) in &verdicts.stages {
            if let Some(stage) = doc.stages.get_mut(*i) {
                stage.part.thresholds = Some(thresholds::to_docs(v));
            }
        }
        if let Some(p) = &load.json {
            let json = serde_json::to_vec_pretty(&doc).map_err(|e| Error::run(format!("cannot encode the JSON result: {e}")))?;
            write_atomically(p, &json)?;
            eprintln!("stampede: result written to {}", p.display());
        }
        if let Some(p) = &load.junit {
            write_junit(p, Some(&doc), failure)?;
        }
    }
    if let Some((p, lines)) = notes {
        let mut text = lines.join("\n");
        text.push('\n');
        write_atomically(p, text.as_bytes())?;
        eprintln!("stampede: {} lines written to {}", lines.len(), p.display());
    }
    if let Some(p) = &load.hlog {
        write_atomically(p, crate::stats::hlog::render(result).as_bytes())?;
        eprintln!("stampede: HdrHistogram interval log written to {}", p.display());
    }
    Ok(())
}

/// Writes the JUnit file of a run: its verdicts (`result`), or one failed case when the run
/// produced no result or failed (`failure`).
pub(crate) fn write_junit(path: &Path, result: Option<&crate::stats::result::ResultDoc>, failure: Option<&str>) -> Result<()> {
    write_atomically(path, crate::report::junit::render(result, failure).as_bytes())?;
    eprintln!("stampede: JUnit written to {}", path.display());
    Ok(())
}
