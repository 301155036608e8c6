//! The subcommands, end to end: validated config in, report out. Edge layer: the only code that
//! prints reports, installs signal handlers and writes result files.
//!
//! One file per subcommand; `run` is not a command but the shared executor of `http`, `ws`,
//! `asr`, `raw`, `run` plans, `hold`, `demo` and `capacity` steps. No command imports another
//! command's module: what two commands share lives here or in `run`.

mod asr;
mod capacity;
mod compare;
mod demo;
mod hold;
mod http;
mod merge;
mod plan;
mod preflight;
mod raw;
mod report;
pub(crate) mod run;
mod serve;
mod ws;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};

/// Runs one subcommand; returns the process exit code.
pub fn dispatch(cmd: Command) -> Result<i32> {
    match cmd {
        Command::Http(a) => http::http(&a),
        Command::Ws(a) => ws::ws(&a),
        Command::Asr(a) => asr::asr(&a),
        Command::Serve(a) => serve::serve(&a),
        Command::Demo(a) => demo::demo(&a),
        Command::Hold(a) => hold::hold(&a),
        Command::Preflight(a) => preflight::preflight(&a),
        Command::Merge(a) => merge::merge(&a),
        Command::Raw(a) => raw::raw(&a),
        Command::Run(a) => plan::run_plan(&a),
        Command::Plan(a) => plan::print_plan(&a),
        Command::Capacity(a) => capacity::capacity(&a),
        Command::Report(a) => report::report(&a),
        Command::Compare(a) => compare::compare(&a),
    }
}

/// True once SIGINT/SIGTERM was received.
pub(crate) fn stopped(stop: &AtomicBool) -> bool {
    stop.load(Ordering::Relaxed)
}

/// Installs SIGINT/SIGTERM handlers: the first sets `stop`, a second one exits at once (130).
pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))
            .map_err(|e| Error::io("cannot install signal handler", e))?;
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(|e| Error::io("cannot install signal handler", e))?;
    }
    Ok(stop)
}

/// SIGINT/SIGTERM counted instead of acted on: a `--processes` parent forwards them to its
/// children and never exits before them (a second signal must not orphan them).
pub(crate) struct SignalCount(std::os::unix::net::UnixStream);

impl SignalCount {
    /// Signals received since the last call.
    pub(crate) fn take(&self) -> usize {
        use std::io::Read;
        let mut buf = [0u8; 64];
        let mut n = 0;
        while let Ok(k @ 1..) = (&self.0).read(&mut buf) {
            n += k;
        }
        n
    }
}

/// Installs SIGINT/SIGTERM handlers that only count (one byte per signal into a socket pair).
pub(crate) fn count_signals() -> Result<SignalCount> {
    let err = |e| Error::io("cannot install signal handler", e);
    let (rd, wr) = std::os::unix::net::UnixStream::pair().map_err(err)?;
    rd.set_nonblocking(true).map_err(err)?;
    wr.set_nonblocking(true).map_err(err)?;
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::low_level::pipe::register(sig, wr.try_clone().map_err(err)?).map_err(err)?;
    }
    Ok(SignalCount(rd))
}

/// Checks that a result file can be written, before any load is sent.
pub(crate) fn check_writable(flag: &str, path: &Path) -> Result<()> {
    let probe = path.with_extension("stampede-probe");
    std::fs::write(&probe, b"probe")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| Error::usage(format!("{flag} {}: cannot write there ({e}); choose a writable path", path.display())))?;
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::usage(format!("{flag} {}: exists and is not writable ({e})", path.display())))?;
    }
    Ok(())
}

/// Writes the file atomically: a temp file in the same directory, then a rename, so a reader
/// never sees half a file. The error names the path.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        // 0o666 less the umask, like `fs::write` (tempfile's own default is 0o600).
        let mut tmp = tempfile::Builder::new()
            .prefix(".stampede-")
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    write().map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// Parses a scenario's command line that stampede completes itself (a plan's stages, a capacity
/// step set the rest on the typed flags): a clap error becomes a usage error that starts with
/// `context` and quotes clap's first lines; a flag of `reserved` (its id and how to write it)
/// given on the line is refused with `taken(flag)`.
pub(crate) fn parse_completed(
    argv: &[String],
    context: &str,
    reserved: &[(&str, &str)],
    taken: impl Fn(&str) -> String,
) -> Result<Command> {
    use clap::{CommandFactory, FromArgMatches};
    let bad = |e: clap::Error| {
        let msg = e.render().to_string();
        Error::usage(format!("{context}:\n{}", msg.lines().take(3).collect::<Vec<_>>().join("\n")))
    };
    let matches = Cli::command().try_get_matches_from(argv).map_err(bad)?;
    let cli = Cli::from_arg_matches(&matches).map_err(bad)?;
    if let Some((_, sub)) = matches.subcommand() {
        for (id, flag) in reserved {
            // (an id this scenario does not have is not given)
            let given =
                sub.try_get_raw(id).is_ok_and(|v| v.is_some()) && sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
            if given {
                return Err(Error::usage(taken(flag)));
            }
        }
    }
    Ok(cli.command)
}

/// Reads a result file; anything that is not a result is a usage error (exit 2).
pub(crate) fn read_result(p: &Path) -> Result<(crate::stats::result::ResultDoc, crate::stats::report::RunResult)> {
    let bytes = std::fs::read(p).map_err(|e| Error::usage(format!("{}: {e}", p.display())))?;
    crate::report::parse_result(&bytes).map_err(|e| Error::usage(format!("{}: not a stampede result: {e}", p.display())))
}

/// 16 random bytes for the WebSocket key and mask, from the kernel.
pub(crate) fn nonce() -> Result<[u8; 16]> {
    let mut n = [0u8; 16];
    getrandom::getrandom(&mut n).map_err(|e| Error::run(format!("cannot read random bytes: {e}")))?;
    Ok(n)
}
