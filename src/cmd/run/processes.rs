//! `--processes N`: this same command line as N child processes, each with its part of the plan
//! (`--process-part K/N`: connections, rate and requests divided, CPUs divided); their results
//! merged exactly and reported once.
//!
//! The parent never leaves a child behind and never reports a part that is missing as if the
//! plan ran whole: children run in their own process group and die with the parent; every
//! SIGINT/SIGTERM is forwarded (the first stops them gracefully; a later one, past a second,
//! stops them at once; duplicates within a second, as `timeout` sends, count once); a child
//! that overruns its deadline is killed: still running after a signal, or showing no sign of
//! life (no progress line, no line on stderr, no CPU time) for its no-progress limit, or past
//! `-d` + grace for that grace, or past `-d` + grace + its teardown allowance at all. A part that
//! ramps slowly on a loaded box still writes its progress each second and uses CPU: it is not
//! stuck. A killed part is named with what it last said. A child that died, failed or was killed is named with its exit status or signal and
//! the result is marked `partial` (exit 1). The progress directory is always removed.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;

use super::report;
use crate::cmd::{count_signals, SignalCount};
use crate::config::LoadConfig;
use crate::error::{Error, Result};
use crate::stats::report::RunResult;
use crate::stats::result::{MissingPartDoc, PartialDoc};

/// Time a child gets beyond its own end (`-d`, or its no-progress deadline) to start up, stop
/// and write its result before it counts as overrunning.
const GRACE: Duration = Duration::from_secs(10);
/// Time children get to stop and report after the first signal before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// A part showing no sign of life for this long (and its own no-progress limit) is stuck.
const QUIET_MIN: Duration = Duration::from_secs(30);
/// How often the parent looks at each part's signs of life.
const LOOK_EVERY: Duration = Duration::from_millis(500);
/// Signals closer than this to the first one are the same request (`timeout` signals the
/// process and its group).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(1);

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
    // From here the directory is removed and no child outlives this function, whatever happens.
    let mut parts = Parts { parts: Vec::with_capacity(n as usize), dir };
    let signals = count_signals()?;
    eprintln!("stampede: running as {n} processes");
    // The parent watches the target; its children do not (they get no --monitor-pid).
    let monitor = crate::monitor::Monitor::start(&load.monitor_pids);
    spawn_children(&args, n, &mut parts)?;
    let signalled = watch(&mut parts, load, &signals, !load.quiet && std::io::stderr().is_terminal());
    let (merged, missing) = merge_parts(&parts)?;
    let series = monitor.finish();
    drop(parts);
    for m in &missing {
        eprintln!("stampede: part {} (pid {}) produced no result: {}{}", m.part, m.pid, m.status, tail(&m.message));
    }
    let Some(mut result) = merged else {
        return Err(Error::run(format!("no child process produced a result ({} of {n} failed; see above)", missing.len())));
    };
    result.monitor = series;
    result.meta.interrupted |= signalled;
    if !missing.is_empty() {
        result.partial = Some(PartialDoc { processes: u64::from(n), connections_planned: load.connections, missing });
    }
    report(result, load, None, None)
}

fn tail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(" ({message})")
    }
}

/// One child process: its part, where it writes, what became of it.
struct Part {
    k: u32,
    child: Child,
    json: PathBuf,
    progress: PathBuf,
    err: PathBuf,
    spawned: SystemTime,
    fate: Fate,
    life: Life,
}

/// A part's signs of life as last seen, and when one last changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Signs {
    /// Its progress file's modification time (ns since the epoch; 0 before the first line).
    progress_ns: u128,
    /// Bytes it wrote to stderr.
    err_len: u64,
    /// Its CPU time, in clock ticks (user + system).
    cpu_ticks: u64,
}

struct Life {
    signs: Signs,
    changed: SystemTime,
}

impl Signs {
    fn read(p: &Part) -> Signs {
        let ns = |path: &PathBuf| {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos())
        };
        Signs {
            progress_ns: ns(&p.progress),
            err_len: std::fs::metadata(&p.err).map_or(0, |m| m.len()),
            cpu_ticks: cpu_ticks(p.child.id()).unwrap_or(0),
        }
    }
}

/// User + system CPU time of process `pid` in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: the fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The deadlines a part is judged by.
#[derive(Clone, Copy, Debug)]
struct Deadlines {
    /// The end of `-d` plus grace (`None` without `-d`).
    overrun_at: Option<SystemTime>,
    /// Silence that makes a part stuck before `overrun_at`.
    quiet: Duration,
    /// Past `overrun_at`, time a part still showing life gets to close its connections and
    /// write its result.
    teardown: Duration,
}

/// Why a running part must be killed at `now`, if it must: `quiet_for` is how long it has shown
/// no sign of life.
fn verdict(now: SystemTime, quiet_for: Duration, d: &Deadlines) -> Option<String> {
    match d.overrun_at.map(|t| now.duration_since(t).unwrap_or(Duration::ZERO)) {
        Some(past) if past >= d.teardown => Some(format!(
            "overran: still running {:.0?} past the end of -d ({GRACE:?} grace + {:.0?} for its teardown)",
            GRACE + past,
            d.teardown
        )),
        Some(past) if past > Duration::ZERO && quiet_for >= GRACE => {
            Some(format!("overran: still running {:.0?} past the end of -d, no sign of life for {quiet_for:.0?}", GRACE + past))
        }
        Some(_) | None if quiet_for >= d.quiet => {
            Some(format!("overran: no progress for {quiet_for:.0?} (no progress line, output or CPU time)"))
        }
        Some(_) | None => None,
    }
}

/// What a part last said: its last progress line and its last line on stderr.
fn last_said(p: &Part) -> String {
    let progress = std::fs::read_to_string(&p.progress).ok().and_then(|t| {
        let v: Vec<u64> = t.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        match v[..] {
            [t, ok, errors, open, _] => Some(format!("last progress at {t} s: {ok} ok, {errors} errors, {open} open")),
            _ => None,
        }
    });
    let err = std::fs::read_to_string(&p.err).unwrap_or_default();
    let said = err.lines().rev().find(|l| !l.trim().is_empty()).map(|l| format!("last said: {}", l.trim()));
    [progress.unwrap_or_else(|| "no progress line yet".into()), said.unwrap_or_else(|| "nothing on stderr".into())].join("; ")
}

/// What became of a child.
enum Fate {
    Running,
    /// It ended by itself (or on a forwarded signal).
    Ended(ExitStatus),
    /// The parent killed it, for this reason.
    Killed(String),
}

/// The children of a run and their directory: dropping it kills any child still running and
/// removes the directory.
struct Parts {
    parts: Vec<Part>,
    dir: PathBuf,
}

impl Drop for Parts {
    fn drop(&mut self) {
        for p in &mut self.parts {
            if matches!(p.fate, Fate::Running) {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
        } else if s == "--source" || s.starts_with("--source=") {
            // `auto` is resolved once, here: every child gets the same addresses (its own
            // rotation), not its own smaller count starting at the same address.
            let v = match s.strip_prefix("--source=") {
                Some(v) => v.to_string(),
                None => it.next().map(|v| v.to_string_lossy().into_owned()).unwrap_or_default(),
            };
            let spec =
                if v.eq_ignore_ascii_case("auto") { load.sources.iter().map(|ip| ip.to_string()).collect::<Vec<_>>().join(",") } else { v };
            if !spec.is_empty() {
                args.extend(["--source".into(), spec.into()]);
            }
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

/// Starts child `k` of `n` for each part, writing its result to `part-k.json`, in its own
/// process group (a signal to the parent's group reaches the parent alone, which forwards it)
/// and killed if the parent dies.
fn spawn_children(args: &[OsString], n: u32, parts: &mut Parts) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| Error::io("cannot find the stampede executable", e))?;
    for k in 0..n {
        let file = |ext: &str| parts.dir.join(format!("part-{k}.{ext}"));
        let (json, progress, err) = (file("json"), file("progress"), file("err"));
        let err_file = std::fs::File::create(&err).map_err(|e| Error::io("cannot create a temp file", e))?;
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(args)
            .args(["--process-part", &format!("{k}/{n}"), "--quiet", "--no-preflight", "--json"])
            .arg(&json)
            .env(PROGRESS_ENV, &progress)
            .stdout(std::process::Stdio::null())
            .stderr(err_file)
            .process_group(0);
        crate::sys::kill_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| Error::io("cannot start a child process", e))?;
        let life = Life { signs: Signs { progress_ns: 0, err_len: 0, cpu_ticks: 0 }, changed: SystemTime::now() };
        parts.parts.push(Part { k, child, json, progress, err, spawned: SystemTime::now(), fate: Fate::Running, life });
    }
    Ok(())
}

/// Sends `sig` to every child still running.
fn signal_running(parts: &[Part], sig: Signal) {
    for p in parts.iter().filter(|p| matches!(p.fate, Fate::Running)) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.child.id() as i32), sig);
    }
}

/// Waits for the children: forwards signals, kills those that overrun, prints one progress line
/// for all of them (on a terminal). Returns whether a signal came.
fn watch(parts: &mut Parts, load: &LoadConfig, signals: &SignalCount, live: bool) -> bool {
    let progress: Vec<PathBuf> = parts.parts.iter().map(|p| p.progress.clone()).collect();
    let begin = load.start_at.map_or(SystemTime::now(), |at| at.max(SystemTime::now()));
    // A part is judged by its signs of life: a progress line each second, output, CPU time.
    let deadlines = Deadlines {
        overrun_at: load.duration.map(|d| begin + d + GRACE),
        quiet: (crate::engine::stall_after(load).unwrap_or(Duration::ZERO) + GRACE).max(QUIET_MIN),
        teardown: teardown_allowance(load),
    };
    let (mut next_print, mut printed) = (Instant::now() + Duration::from_secs(1), false);
    let mut next_look = Instant::now();
    let mut first_signal: Option<Instant> = None;
    loop {
        if live && Instant::now() >= next_print {
            next_print += Duration::from_secs(1);
            if let Some(line) = crate::live::combined_progress(&progress) {
                eprint!("\r\x1b[2K{line}");
                printed = true;
            }
        }
        for p in parts.parts.iter_mut().filter(|p| matches!(p.fate, Fate::Running)) {
            if let Ok(Some(status)) = p.child.try_wait() {
                p.fate = Fate::Ended(status);
            }
        }
        if !parts.parts.iter().any(|p| matches!(p.fate, Fate::Running)) {
            break;
        }
        if signals.take() > 0 {
            match first_signal {
                None => {
                    first_signal = Some(Instant::now());
                    signal_running(&parts.parts, Signal::SIGINT);
                }
                // A second signal: the children stop at once (their own second signal).
                Some(t) if t.elapsed() >= DUPLICATE_WINDOW => signal_running(&parts.parts, Signal::SIGTERM),
                Some(_) => {}
            }
        }
        if Instant::now() < next_look && first_signal.is_none_or(|t| t.elapsed() < STOP_GRACE) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        next_look = Instant::now() + LOOK_EVERY;
        let now = SystemTime::now();
        for p in parts.parts.iter_mut().filter(|p| matches!(p.fate, Fate::Running)) {
            let signs = Signs::read(p);
            if signs != p.life.signs {
                p.life = Life { signs, changed: now };
            }
            // Waiting for --start-at is no silence.
            let quiet_for = now.duration_since(p.life.changed.max(begin).max(p.spawned)).unwrap_or(Duration::ZERO);
            let why = if first_signal.is_some_and(|t| t.elapsed() >= STOP_GRACE) {
                Some(format!("still running {STOP_GRACE:?} after the stop signal"))
            } else {
                verdict(now, quiet_for, &deadlines).map(|why| format!("{why}; {}", last_said(p)))
            };
            if let Some(why) = why {
                let _ = p.child.kill();
                let _ = p.child.wait();
                p.fate = Fate::Killed(why);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if printed {
        eprintln!();
    }
    first_signal.is_some()
}

/// Past `-d` + grace, time a part that still shows life gets to close its connections and
/// write its result: a minute, plus the waves of `--close-rate`.
fn teardown_allowance(load: &LoadConfig) -> Duration {
    // Each part closes its share at its share of the rate: all of them in connections / rate.
    let rate = load.connect.close_rate.unwrap_or(crate::config::DEFAULT_CLOSE_RATE);
    Duration::from_secs(60) + Duration::from_secs_f64((load.connections as f64 / rate).min(1e6))
}

/// What a child's exit status says: "exit status 2", "killed by signal 9 (SIGKILL)".
fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => match Signal::try_from(s) {
            Ok(sig) => format!("killed by signal {s} ({})", sig.as_str()),
            Err(_) => format!("killed by signal {s}"),
        },
        (None, None) => status.to_string(),
    }
}

/// The children's results merged, and the parts that have none. A part counts when its child
/// ended by itself with a run's exit code (0 ok, 1 run failed, 3 thresholds) and wrote a
/// result; a child that was killed, died on a signal or failed otherwise is missing.
fn merge_parts(parts: &Parts) -> Result<(Option<RunResult>, Vec<MissingPartDoc>)> {
    let mut merged: Option<RunResult> = None;
    let mut missing = Vec::new();
    for p in &parts.parts {
        let read = || {
            std::fs::read(&p.json)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| RunResult::from_json(&v).ok())
        };
        let status = match &p.fate {
            Fate::Ended(st) if matches!(st.code(), Some(0 | 1 | 3)) => match read() {
                Some(r) => {
                    match &mut merged {
                        None => merged = Some(r),
                        Some(m) => m.merge(&r).map_err(Error::run)?,
                    }
                    continue;
                }
                None => format!("{}, and wrote no result", describe(st)),
            },
            Fate::Ended(st) => describe(st),
            Fate::Killed(why) => format!("{why}; killed"),
            Fate::Running => "still running".to_string(),
        };
        // A child that failed by itself said why last (a killed one was only reporting progress).
        let err = match &p.fate {
            Fate::Ended(st) if st.code().is_some() => std::fs::read_to_string(&p.err).unwrap_or_default(),
            Fate::Ended(_) | Fate::Killed(_) | Fate::Running => String::new(),
        };
        let message = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_string();
        missing.push(MissingPartDoc { part: u64::from(p.k), pid: u64::from(p.child.id()), status, message });
    }
    Ok((merged, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn deadlines(with_d: bool) -> (SystemTime, Deadlines) {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        (t0, Deadlines { overrun_at: with_d.then(|| t0 + 60 * S), quiet: QUIET_MIN, teardown: 90 * S })
    }

    #[test]
    fn a_part_is_stuck_only_after_its_quiet_limit_of_silence() {
        for with_d in [false, true] {
            let (t0, d) = deadlines(with_d);
            // A loaded box: 12 s without a progress line, output or CPU time is not stuck (the
            // old rule killed at 10 s).
            assert_eq!(verdict(t0 + 20 * S, 12 * S, &d), None);
            assert_eq!(verdict(t0 + 20 * S, 29 * S, &d), None);
            let why = verdict(t0 + 40 * S, 30 * S, &d).expect("stuck");
            assert!(why.starts_with("overran: no progress for 30s"), "{why}");
        }
    }

    #[test]
    fn past_the_end_a_part_gets_its_teardown_while_it_shows_life() {
        let (t0, d) = deadlines(true);
        // Past -d + grace (t0 + 60 s): alive (quiet 1 s) through the teardown allowance.
        assert_eq!(verdict(t0 + 61 * S, S, &d), None);
        assert_eq!(verdict(t0 + 149 * S, S, &d), None);
        let why = verdict(t0 + 150 * S, S, &d).expect("past the teardown allowance");
        assert!(
            why.starts_with("overran: still running 1m 40s past the end of -d") || why.starts_with("overran: still running 100s"),
            "{why}"
        );
        // Silent past the end for the grace: killed then.
        assert_eq!(verdict(t0 + 60 * S, 20 * S, &d), None, "at the deadline itself: not yet past it");
        let why = verdict(t0 + 61 * S, GRACE, &d).expect("silent past the end");
        assert!(why.contains("past the end of -d, no sign of life for 10s"), "{why}");
    }

    #[test]
    fn cpu_time_is_read_from_proc_stat() {
        assert!(cpu_ticks(std::process::id()).is_some());
        assert_eq!(cpu_ticks(u32::MAX), None);
    }
}
