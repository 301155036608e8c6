//! Kernel and limit checks: will this machine carry the planned run?
//!
//! Owns: reading limits and sysctls from a root directory (default `/`; tests pass fake
//! `/proc` trees), judging them against a [`Plan`], and saying the exact fix for each problem.
//! Pure reporting: it never changes the system, except [`apply`] and [`revert`], which write
//! sysctl files under the given root (root privileges needed for the real one) and keep the old
//! values so they can be restored. Never prints: callers render the [`Report`].

mod checks;
mod read;
mod scale;

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::{Error, Result};

pub use read::{BurstCounters, Host};
pub use scale::{auto_processes, auto_source_addrs, auto_sources, serve_plan, shape, thousands, ServePlan, Shape, SERVE_IDLE_CONN_BYTES};

/// The run being planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Client connections in total.
    pub connections: u64,
    /// Processes the run is split into (each has its own file-descriptor limit).
    pub processes: u32,
    /// Worker threads per process.
    pub threads: usize,
    /// Size of the source-address pool (1 when none is given).
    pub source_addrs: u64,
    /// Distinct target address:port pairs.
    pub destinations: u64,
    /// The target is on this machine: its sockets, backlog and memory count too.
    pub target_is_local: bool,
    /// Listen backlog, when checking for `stampede serve`.
    pub serve_backlog: Option<u32>,
    /// Result of a real io_uring runtime probe (`None`: not probed).
    pub uses_io_uring: Option<bool>,
    /// Connections go to a Unix socket: no ephemeral ports, no TIME_WAIT.
    pub unix: bool,
    /// User memory one idle client connection is expected to hold (the caller knows its
    /// scenario's buffers; preflight does not import them).
    pub client_bytes_per_conn: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One row of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub observed: String,
    pub needed: String,
    /// The exact command or file line that fixes it.
    pub fix: Option<String>,
    /// A sysctl this check recommends (key with dots, value), for `--apply`.
    pub sysctl: Option<(&'static str, String)>,
    /// A failure here makes the run impossible (descriptors, ports, memory).
    pub fatal: bool,
}

pub struct Report {
    pub checks: Vec<Check>,
    pub host: Host,
}

/// The values `tuning/sysctl.conf` recommends; `--apply` writes these (a test keeps the two in
/// step).
pub const RECOMMENDED: &[(&str, &str)] = &[
    ("fs.file-max", "4194304"),
    ("fs.nr_open", "4194304"),
    ("net.core.somaxconn", "65535"),
    ("net.ipv4.tcp_max_syn_backlog", "65535"),
    ("net.core.netdev_max_backlog", "65536"),
    ("net.ipv4.ip_local_port_range", "1024 65535"),
    ("net.ipv4.tcp_tw_reuse", "1"),
    ("net.ipv4.tcp_fin_timeout", "15"),
    ("net.ipv4.tcp_max_tw_buckets", "2000000"),
    ("net.netfilter.nf_conntrack_max", "2097152"),
];

/// The recommended value of a sysctl (dotted name).
pub fn recommended(key: &str) -> &'static str {
    RECOMMENDED.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| v)
}

/// Runs every check for `plan` against the tree under `root`. Never fails: a value that cannot
/// be read becomes a WARN row saying so.
pub fn run(root: &Path, plan: &Plan) -> Report {
    let host = Host::read(root);
    let checks = checks::all(&host, plan);
    Report { checks, host }
}

impl Report {
    pub fn worst(&self) -> Status {
        self.checks.iter().map(|c| c.status).max().unwrap_or(Status::Pass)
    }

    /// FAIL rows that make the run impossible as planned.
    pub fn fatal(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail && c.fatal).collect()
    }

    /// Processes needed so that each one's file-descriptor hard limit fits its share.
    pub fn processes_needed(&self, plan: &Plan) -> u32 {
        checks::processes_needed(&self.host, plan)
    }

    pub fn render_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "stampede preflight — kernel {}, {} CPUs online",
            self.host.kernel,
            self.host.cpus_online.map_or("?".into(), |n| n.to_string())
        );
        let w = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(8);
        for c in &self.checks {
            let _ = writeln!(o, "{}  {:<w$}  {}", c.status.name(), c.name, c.observed);
            if c.status != Status::Pass || !c.needed.is_empty() {
                let _ = writeln!(o, "      {:<w$}  needed: {}", "", c.needed);
            }
            if let (Some(fix), true) = (&c.fix, c.status != Status::Pass) {
                let _ = writeln!(o, "      {:<w$}  fix: {fix}", "");
            }
        }
        let (warn, fail) = (self.count(Status::Warn), self.count(Status::Fail));
        let _ = writeln!(o, "\n{} checks: {} pass, {warn} warn, {fail} fail", self.checks.len(), self.count(Status::Pass));
        if !self.fatal().is_empty() {
            let _ = writeln!(o, "The run cannot work as planned: fix the FAIL rows first (tuning/ has the settings).");
        }
        o
    }

    fn count(&self, s: Status) -> usize {
        self.checks.iter().filter(|c| c.status == s).count()
    }

    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| json!({"name": c.name, "status": c.status.name(), "observed": c.observed, "needed": c.needed, "fix": c.fix, "fatal": c.fatal}))
            .collect();
        json!({"schema": "stampede.preflight/1", "worst": self.worst().name(), "checks": checks, "host": self.host.to_json()})
    }
}

/// Writes the sysctls recommended by the report's WARN/FAIL rows under `root/proc/sys`, saving
/// the old values to `save_to` (sysctl.conf format). Returns (key, before, after) per value.
pub fn apply(root: &Path, report: &Report, save_to: &Path) -> Result<Vec<(String, String, String)>> {
    let wanted: Vec<(&str, String)> = report.checks.iter().filter(|c| c.status != Status::Pass).filter_map(|c| c.sysctl.clone()).collect();
    let mut saved = String::from("# written by stampede preflight --apply; restore with: stampede preflight --revert THIS_FILE\n");
    let mut rows = Vec::new();
    for (key, value) in &wanted {
        let before = read::sysctl(root, key).ok_or_else(|| Error::run(format!("cannot read {key}")))?;
        let _ = writeln!(saved, "{key} = {before}");
        rows.push((key.to_string(), before, value.clone()));
    }
    std::fs::write(save_to, &saved).map_err(|e| Error::io(format!("cannot save the old values to {}", save_to.display()), e))?;
    for (key, _, value) in &rows {
        read::write_sysctl(root, key, value).map_err(|e| Error::io(format!("cannot write {key} (needs root)"), e))?;
    }
    Ok(rows)
}

/// Restores values saved by [`apply`]. Returns (key, before, after) per value.
///
/// The whole file is checked before anything is written: every line is `key = value` with a
/// sysctl name (letters, digits, `_`, `-`, dots between them) that exists here; a malformed
/// file is a usage error and changes nothing.
pub fn revert(root: &Path, saved: &Path) -> Result<Vec<(String, String, String)>> {
    let text = std::fs::read_to_string(saved).map_err(|e| Error::usage(format!("--revert {}: cannot read it ({e})", saved.display())))?;
    let mut wanted = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (key, value) =
            line.split_once('=').ok_or_else(|| Error::usage(format!("{}: '{line}' is not 'key = value'", saved.display())))?;
        let (key, value) = (key.trim(), value.trim());
        let name_ok = !key.is_empty()
            && key.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        if !name_ok {
            return Err(Error::usage(format!("{}: '{key}' is not a sysctl name (like net.core.somaxconn)", saved.display())));
        }
        let before = read::sysctl(root, key)
            .ok_or_else(|| Error::usage(format!("{}: there is no sysctl '{key}' on this machine", saved.display())))?;
        wanted.push((key.to_string(), before, value.to_string()));
    }
    for (key, _, value) in &wanted {
        read::write_sysctl(root, key, value).map_err(|e| Error::io(format!("cannot write {key} (needs root)"), e))?;
    }
    Ok(wanted)
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit; returns (soft, hard) after.
pub fn raise_nofile_soft_limit() -> std::io::Result<(u64, u64)> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok((hard.max(soft), hard))
}

#[cfg(test)]
mod tests;
