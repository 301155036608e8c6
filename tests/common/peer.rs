//! Independent peers the end-to-end tests need (openssl, python, ...): found on PATH, or the
//! test is skipped where that is allowed and fails where it is not.
//!
//! Under `CI=true` a missing peer fails the test with the command that installs it: CI must
//! test, not pass. Elsewhere the test prints `SKIPPED <test>: ...` and returns, and the line
//! is also appended to the file named by `STAMPEDE_SKIPPED_FILE` (scripts/test.sh sets it and
//! prints the count at the end), so a skip is never a silent pass.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where `program` is on PATH, or what to do about it missing: panics under `CI=true` with
/// `install` (the command that installs it), otherwise reports the test as skipped and
/// returns `None`.
pub fn peer(program: &str, install: &str) -> Option<PathBuf> {
    match on_path(program) {
        Some(p) => Some(p),
        None => {
            missing(&format!("`{program}` is not installed"), install);
            None
        }
    }
}

/// The one place a test decides it cannot run: panics under `CI=true` naming `install`,
/// elsewhere prints and records a SKIPPED line for the current test.
pub fn missing(what: &str, install: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    if in_ci() {
        panic!("{test}: {what}; CI=true requires it, install it with: {install}");
    }
    let line = format!("SKIPPED {test}: {what} (install it with: {install})");
    eprintln!("{line}");
    if let Some(file) = std::env::var_os("STAMPEDE_SKIPPED_FILE") {
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(file) {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// `CI` set to `true` (or `1`), as CI systems and .ci/run set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The first executable file named `program` in PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
