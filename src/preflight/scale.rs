//! What a very large run (C1M: a million connections on one box) needs beyond the basic checks:
//! the plan in one line (processes for the fd limit, source addresses for the port range, kernel
//! and user memory of both ends against MemAvailable), orphans and TIME_WAIT buckets at
//! teardown, and memory maps. Pure functions of the host facts and the plan.

use super::checks::{per_pair_ports, sockets, KERNEL_BYTES_PER_SOCKET};
use super::read::Host;
use super::{recommended, Check, Plan, Status};

/// User memory `stampede serve` holds per idle connection (keep-alive or WebSocket), measured by
/// bench-100k (RSS growth / connections over its processes, 3.5 KiB); used when the target is
/// local.
pub const SERVE_IDLE_CONN_BYTES: u64 = 3584;

/// Descriptors a process keeps besides its sockets; fds per process are planned below the hard
/// limit by this much.
const FD_SLACK: u64 = 64;

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// The run's shape as the machine requires it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Generator processes the fd hard limit requires, and connections (fds) per process.
    pub processes: u64,
    pub fds_per_process: u64,
    /// Source addresses the port range requires (per destination), and ports used per address.
    pub sources: u64,
    pub ports_per_source: u64,
    /// Kernel memory of every socket on this machine (both ends when the target is local).
    pub kernel_bytes: u64,
    /// User memory of the generator, plus the local target's when it is local.
    pub user_bytes: u64,
}

/// Works out the processes and source addresses `plan.connections` need on `host`, and the
/// memory they take.
pub fn shape(host: &Host, plan: &Plan) -> Shape {
    let n = plan.connections.max(1);
    let per_proc_max = host.nofile.and_then(|l| l.hard).map_or(n, |h| h.saturating_sub(FD_SLACK).max(1));
    let processes = n.div_ceil(per_proc_max).max(u64::from(plan.processes.max(1)));
    let per_pair = per_pair_ports(host).max(1);
    let sources = if plan.unix { 1 } else { n.div_ceil(per_pair * plan.destinations.max(1)).max(plan.source_addrs.max(1)) };
    let server = if plan.target_is_local { n * SERVE_IDLE_CONN_BYTES } else { 0 };
    Shape {
        processes,
        fds_per_process: n.div_ceil(processes),
        sources,
        ports_per_source: n.div_ceil(sources * plan.destinations.max(1)),
        kernel_bytes: sockets(plan) * KERNEL_BYTES_PER_SOCKET,
        user_bytes: n * plan.client_bytes_per_conn + server,
    }
}

/// `--processes auto`: processes whose fd hard limit holds `connections` (1 when unlimited),
/// at most 1024.
pub fn auto_processes(host: &Host, connections: u64) -> u32 {
    let per = host.nofile.and_then(|l| l.hard).map_or(u64::MAX, |h| h.saturating_sub(FD_SLACK).max(1));
    connections.div_ceil(per).clamp(1, 1024) as u32
}

/// `--source auto`: loopback source addresses the port range requires for `connections` to one
/// destination, using at most half of each address's ports: the kernel's search for a free port
/// in `connect()` grows steeply as the range fills (bench-1m, 200k connections over 8 addresses,
/// 88% full: ~300 µs of system CPU per connect, the ramp fell to ~1k/s and p50 connect took 36 s;
/// over 15 addresses, 47% full: all 200k in 13 s). Up to 90% of one address's ports, 1: the
/// default source (127.0.0.1, no pool).
pub fn auto_sources(host: &Host, connections: u64) -> u64 {
    let ports = per_pair_ports(host);
    if connections <= ports * 9 / 10 {
        return 1;
    }
    connections.div_ceil((ports / 2).max(1)).max(1)
}

/// The loopback addresses of `--source auto`: none for one (the default source), else
/// 127.0.0.2 onwards (at most 250).
pub fn auto_source_addrs(count: u64) -> Vec<std::net::IpAddr> {
    if count <= 1 {
        return Vec::new();
    }
    (0..count.min(250)).map(|i| std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2 + i as u8))).collect()
}

/// The plan in one line; FAIL (fatal) when its memory does not fit in MemAvailable, saying by
/// how much and what to do.
pub fn plan_row(host: &Host, plan: &Plan) -> Check {
    let s = shape(host, plan);
    let name = "plan";
    let what = format!(
        "{} connections: {} processes × {} fds, {} source addresses × {} ports, kernel memory ~{}, user ~{}",
        thousands(plan.connections),
        s.processes,
        thousands(s.fds_per_process),
        s.sources,
        thousands(s.ports_per_source),
        gb(s.kernel_bytes),
        gb(s.user_bytes)
    );
    let needed = format!(
        "--processes {} --source {} (or auto)",
        s.processes,
        if s.sources > 1 { format!("127.0.0.2-127.0.0.{}", (s.sources + 1).min(254)) } else { "127.0.0.1".into() }
    );
    let Some(avail_kib) = host.mem_available_kib else {
        return Check {
            name,
            status: Status::Warn,
            observed: format!("{what}; MemAvailable unreadable"),
            needed,
            fix: None,
            sysctl: None,
            fatal: false,
        };
    };
    let (avail, need) = (avail_kib * 1024, s.kernel_bytes + s.user_bytes);
    if need > avail {
        let short = need - avail;
        let fits = (plan.connections as f64 * avail as f64 / need as f64) as u64;
        return Check {
            name,
            status: Status::Fail,
            observed: format!("{what}: does not fit in MemAvailable {}", gb(avail)),
            needed,
            fix: Some(format!("{} short: plan at most ~{} connections here, or free memory", gb(short), thousands(fits))),
            sysctl: None,
            fatal: true,
        };
    }
    Check {
        name,
        status: Status::Pass,
        observed: format!("{what}: fits in MemAvailable {}", gb(avail)),
        needed,
        fix: None,
        sysctl: None,
        fatal: false,
    }
}

fn row(name: &'static str, status: Status, observed: String, needed: String) -> Check {
    Check { name, status, observed, needed, fix: None, sysctl: None, fatal: false }
}

/// At teardown every socket closed before its peer's FIN waits as an orphan (FIN_WAIT without a
/// descriptor); over `tcp_max_orphans` the kernel resets them ("too many orphaned sockets").
pub fn orphans(host: &Host, plan: &Plan) -> Option<Check> {
    let max = host.max_orphans?;
    let name = "net.ipv4.tcp_max_orphans";
    let need = plan.connections;
    let observed = format!("{} (sockets closed but not yet finished, at teardown)", thousands(max));
    Some(if plan.unix || max >= need {
        row(name, Status::Pass, observed, format!("{} for a teardown at once", thousands(need)))
    } else {
        let mut c = row(name, Status::Warn, observed, format!("{} for a teardown at once", thousands(need)));
        c.fix = Some(format!(
            "sysctl -w net.ipv4.tcp_max_orphans={}, or tear down in waves / with --linger-zero (an RST leaves no orphan)",
            need.next_power_of_two()
        ));
        c
    })
}

/// The side that closes first keeps each connection in TIME_WAIT; past `tcp_max_tw_buckets` the
/// kernel drops them early and logs an overflow for each.
pub fn tw_buckets(host: &Host, plan: &Plan) -> Option<Check> {
    let max = host.max_tw_buckets?;
    let name = "TIME_WAIT at teardown";
    let observed = format!("tcp_max_tw_buckets {}", thousands(max));
    let needed = format!("{} (one per connection closed)", thousands(plan.connections));
    Some(if plan.unix || max >= plan.connections {
        row(name, Status::Pass, observed, needed)
    } else {
        let mut c = row(name, Status::Warn, observed, needed);
        c.fix = Some(format!(
            "sysctl -w net.ipv4.tcp_max_tw_buckets={}, or --linger-zero (no TIME_WAIT): else \"time wait bucket table overflow\" floods the kernel log",
            recommended("net.ipv4.tcp_max_tw_buckets")
        ));
        c.sysctl = Some(("net.ipv4.tcp_max_tw_buckets", recommended("net.ipv4.tcp_max_tw_buckets").to_string()));
        c
    })
}

/// Memory maps: the allocator maps user memory in segments (mimalloc: 32 MiB per GB at worst,
/// 1 MiB each), so a process with gigabytes of connections needs a few thousand maps.
pub fn map_count(host: &Host, plan: &Plan) -> Option<Check> {
    let max = host.max_map_count?;
    let name = "vm.max_map_count";
    let s = shape(host, plan);
    let per_process = (plan.connections * plan.client_bytes_per_conn / s.processes.max(1)) >> 20;
    let need = 1024 + 2 * per_process;
    let observed = thousands(max);
    let needed = format!("{} maps per process (~{} MiB of user memory each)", thousands(need), per_process);
    Some(if max >= need {
        row(name, Status::Pass, observed, needed)
    } else {
        let mut c = row(name, Status::Warn, observed, needed);
        c.fix = Some(format!("sysctl -w vm.max_map_count={}", (need * 2).next_power_of_two()));
        c
    })
}

/// Most processes `stampede serve --processes` starts.
pub const SERVE_MAX_PROCESSES: u64 = 256;

/// `stampede serve -c N`: the processes sharing the port that hold `connections` (each under its
/// fd limit), and their memory; or why they cannot, with the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServePlan {
    pub processes: u32,
    pub fds_per_process: u64,
    pub kernel_bytes: u64,
    pub user_bytes: u64,
    /// The plan in one line.
    pub line: String,
}

/// Plans `stampede serve` for `connections`: `processes` 0 is `auto`. `fd_budget` caps the
/// connections one process takes below its fd hard limit (a test's small budget). Refused, with
/// the fix, when the processes asked for cannot hold them, when more than
/// [`SERVE_MAX_PROCESSES`] would be needed, or when the memory does not fit in MemAvailable.
pub fn serve_plan(host: &Host, connections: u64, processes: u32, fd_budget: Option<u64>) -> Result<ServePlan, String> {
    let hard = host.nofile.and_then(|l| l.hard);
    let per_max = hard.map_or(u64::MAX, |h| h.saturating_sub(FD_SLACK).max(1)).min(fd_budget.unwrap_or(u64::MAX)).max(1);
    let limit_text = match (fd_budget, hard) {
        (Some(b), _) => format!("a budget of {} connections per process", thousands(b)),
        (None, Some(h)) => format!("the open-files hard limit of {} per process", thousands(h)),
        (None, None) => "no open-files limit".to_string(),
    };
    let needed = connections.div_ceil(per_max).max(1);
    let fix_limit = "raise the open-files hard limit (ulimit -Hn, LimitNOFILE= in a unit, nofile in /etc/security/limits.conf)";
    if needed > SERVE_MAX_PROCESSES {
        return Err(format!(
            "{} connections need {needed} server processes under {limit_text}; at most {SERVE_MAX_PROCESSES}: {fix_limit}, or plan at most {} connections",
            thousands(connections),
            thousands(per_max * SERVE_MAX_PROCESSES)
        ));
    }
    let n = if processes == 0 { needed } else { u64::from(processes) };
    if n < needed {
        return Err(format!(
            "{n} server processes hold at most {} connections under {limit_text}; {} need {needed}: use --processes {needed} (or auto), or {fix_limit}",
            thousands(n * per_max),
            thousands(connections)
        ));
    }
    let kernel_bytes = connections * KERNEL_BYTES_PER_SOCKET;
    let user_bytes = connections * SERVE_IDLE_CONN_BYTES;
    let what = format!(
        "{} connections: {n} processes × {} fds, kernel memory ~{}, user ~{}",
        thousands(connections),
        thousands(connections.div_ceil(n)),
        gb(kernel_bytes),
        gb(user_bytes)
    );
    let line = match host.mem_available_kib.map(|k| k * 1024) {
        None => format!("{what}; MemAvailable unreadable"),
        Some(avail) if kernel_bytes + user_bytes > avail => {
            let need = kernel_bytes + user_bytes;
            let fits = (connections as f64 * avail as f64 / need as f64) as u64;
            return Err(format!(
                "{what}: does not fit in MemAvailable {}, {} short: plan at most ~{} connections here, or free memory",
                gb(avail),
                gb(need - avail),
                thousands(fits)
            ));
        }
        Some(avail) => format!("{what}: fits in MemAvailable {}", gb(avail)),
    };
    Ok(ServePlan { processes: n as u32, fds_per_process: connections.div_ceil(n), kernel_bytes, user_bytes, line })
}
