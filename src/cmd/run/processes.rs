//! `--processes N`: this same command line as N child processes, each with its part of the plan
//! (`--process-part K/N`: connections, rate and requests divided, CPUs divided); their results
//! merged exactly and reported once. SIGINT/SIGTERM are passed on to the children.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::report;
use crate::cmd::stop_on_signals;
use crate::config::LoadConfig;
use crate::error::{Error, Result};
use crate::stats::report::RunResult;

/// Set by a `--processes` parent for each child: where the child writes its progress.
pub(super) const PROGRESS_ENV: &str = "STAMPEDE_PROGRESS_FILE";

/// Sleeps until the wall-clock time `at` (`--start-at`); false when a signal came first. A start
/// time already past is reported (a late shard skews the merged time line) and the run starts.
pub(super) fn wait_for_start(at: SystemTime, stop: &AtomicBool) -> bool {
    match at.duration_since(SystemTime::now()) {
        Err(late) => {
            let late = late.duration();
            if late > Duration::from_millis(100) {
                eprintln!("stampede: warning: started {late:.2?} after --start-at; check the clocks (NTP) and how long start-up took");
            }
        }
        Ok(wait) => {
            eprintln!("stampede: waiting {wait:.1?} for --start-at");
            while let Ok(left) = at.duration_since(SystemTime::now()) {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                std::thread::sleep(left.min(Duration::from_millis(50)));
            }
        }
    }
    !stop.load(Ordering::Relaxed)
}

/// Runs the command line as `load.processes` children and reports their merged result.
pub(super) fn run_processes(load: &LoadConfig) -> Result<i32> {
    let n = load.processes;
    let args = child_args(load);
    let dir = std::env::temp_dir().join(format!("stampede-processes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let stop = stop_on_signals()?;
    eprintln!("stampede: running as {n} processes");
    // The parent watches the target; its children do not (they get no --monitor-pid).
    let monitor = crate::monitor::Monitor::start(&load.monitor_pids);
    let mut children = spawn_children(&args, n, &dir)?;
    watch(&mut children, &dir, &stop, !load.quiet && std::io::stderr().is_terminal());
    let merged = merge_parts(&children, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let Some(mut result) = merged? else { return Err(Error::run("no child process produced a result")) };
    result.monitor = monitor.finish();
    report(result, load, None, None)
}

/// The user's arguments, less the ones each child gets its own value of, plus the shared start.
fn child_args(load: &LoadConfig) -> Vec<OsString> {
    // Flags the parent keeps (or gives each child its own value of), in both spellings.
    const PARENT_ONLY: [&str; 6] = ["--processes", "--json", "--start-at", "--hlog", "--monitor-pid", "--junit"];
    let mut args: Vec<OsString> = Vec::new();
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if PARENT_ONLY.contains(&s.as_ref()) {
            it.next();
        } else if !(PARENT_ONLY.iter().any(|f| s.strip_prefix(f).is_some_and(|rest| rest.starts_with('=')))
            || matches!(s.as_ref(), "-q" | "--quiet" | "--no-preflight"))
        {
            args.push(a);
        }
    }
    // Every child gets the same absolute start time (a relative +30s would drift per child).
    if let Some(at) = load.start_at {
        let secs = at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        args.extend(["--start-at".into(), format!("{secs:.6}").into()]);
    }
    args
}

/// Starts child `k` of `n` for each part, writing its result to `part-k.json` in `dir`.
fn spawn_children(args: &[OsString], n: u32, dir: &Path) -> Result<Vec<(Child, PathBuf)>> {
    let exe = std::env::current_exe().map_err(|e| Error::io("cannot find the stampede executable", e))?;
    let mut children = Vec::with_capacity(n as usize);
    for k in 0..n {
        let json = dir.join(format!("part-{k}.json"));
        let err = std::fs::File::create(dir.join(format!("part-{k}.err"))).map_err(|e| Error::io("cannot create a temp file", e))?;
        let child = std::process::Command::new(&exe)
            .args(args)
            .args(["--process-part", &format!("{k}/{n}"), "--quiet", "--no-preflight", "--json"])
            .arg(&json)
            .env(PROGRESS_ENV, dir.join(format!("part-{k}.progress")))
            .stdout(std::process::Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| Error::io("cannot start a child process", e))?;
        children.push((child, json));
    }
    Ok(children)
}

/// Waits for the children; passes a signal on once; one progress line for all of them (on a
/// terminal), from the files they update each second.
fn watch(children: &mut [(Child, PathBuf)], dir: &Path, stop: &AtomicBool, live: bool) {
    let progress: Vec<PathBuf> = (0..children.len()).map(|k| dir.join(format!("part-{k}.progress"))).collect();
    let (mut next_print, mut printed, mut forwarded) = (Instant::now() + Duration::from_secs(1), false, false);
    loop {
        if live && Instant::now() >= next_print {
            next_print += Duration::from_secs(1);
            if let Some(line) = crate::live::combined_progress(&progress) {
                eprint!("\r\x1b[2K{line}");
                printed = true;
            }
        }
        let mut running = 0;
        for (c, _) in children.iter_mut() {
            running += usize::from(matches!(c.try_wait(), Ok(None)));
        }
        if running == 0 {
            break;
        }
        if stop.load(Ordering::Relaxed) && !forwarded {
            forwarded = true;
            for (c, _) in children.iter() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGINT);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if printed {
        eprintln!();
    }
}

/// The children's results merged; each child that wrote none is reported with its stderr.
fn merge_parts(children: &[(Child, PathBuf)], dir: &Path) -> Result<Option<RunResult>> {
    let mut merged: Option<RunResult> = None;
    let mut failures = Vec::new();
    for (k, (_, json)) in children.iter().enumerate() {
        let part =
            std::fs::read(json).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).map(|v| RunResult::from_json(&v));
        match (part, &mut merged) {
            (Some(Ok(r)), None) => merged = Some(r),
            (Some(Ok(r)), Some(m)) => m.merge(&r).map_err(Error::run)?,
            (Some(Err(_)), _) | (None, _) => failures
                .push(format!("part {k}: {}", std::fs::read_to_string(dir.join(format!("part-{k}.err"))).unwrap_or_default().trim())),
        }
    }
    for f in &failures {
        eprintln!("stampede: a child process wrote no result: {f}");
    }
    Ok(merged)
}
