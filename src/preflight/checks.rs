//! The checks, each a pure function of the host facts and the plan.

use super::read::Host;
use super::scale::{self, SERVE_IDLE_CONN_BYTES};
use super::{recommended, Check, Plan, Status};

/// Descriptors a process keeps besides its sockets (stdio, runtime rings, eventfds...).
const FD_SLACK: u64 = 64;
/// Kernel memory of one idle TCP socket (socket, sock, file, dentry, epitem/poll), as measured
/// here: slab growth of 306 MiB for 30,000 loopback pairs, 5.2 KiB per socket (issue 21).
pub(super) const KERNEL_BYTES_PER_SOCKET: u64 = 5325;

fn row(name: &'static str, status: Status, observed: String, needed: String) -> Check {
    Check { name, status, observed, needed, fix: None, sysctl: None, fatal: false }
}

fn unreadable(name: &'static str, what: &str) -> Check {
    row(name, Status::Warn, format!("cannot read {what}"), "a readable value".into())
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    fn sysctl_fix(mut self, key: &'static str) -> Check {
        let v = recommended(key).to_string();
        self.fix = Some(format!("sysctl -w {key}=\"{v}\"  (or tuning/sysctl.conf)"));
        self.sysctl = Some((key, v));
        self
    }

    fn fatal(mut self) -> Check {
        self.fatal = true;
        self
    }
}

fn per_process(plan: &Plan) -> u64 {
    plan.connections.div_ceil(plan.processes.max(1) as u64)
}

/// Ephemeral ports usable per (source address, destination) pair (28,232 when unreadable).
pub(super) fn per_pair_ports(host: &Host) -> u64 {
    host.port_range.map_or(28_232, |(lo, hi)| (hi.saturating_sub(lo) + 1).saturating_sub(host.reserved_ports))
}

/// Sockets on this machine for the plan: the client's, plus the server's when it is local.
pub(super) fn sockets(plan: &Plan) -> u64 {
    plan.connections * if plan.target_is_local { 2 } else { 1 }
}

pub fn processes_needed(host: &Host, plan: &Plan) -> u32 {
    match host.nofile.and_then(|l| l.hard) {
        Some(hard) if hard > FD_SLACK => plan.connections.div_ceil(hard - FD_SLACK).max(1) as u32,
        Some(_) => u32::MAX,
        None => 1,
    }
}

pub fn all(host: &Host, plan: &Plan) -> Vec<Check> {
    let mut out = vec![nofile(host, plan)];
    if plan.target_is_local {
        out.push(nofile_target(host, plan));
    }
    out.extend([file_max(host, plan), nr_open(host, plan), ports(host, plan), time_wait(host, plan)]);
    if plan.target_is_local || plan.serve_backlog.is_some() {
        out.push(backlog(host, plan));
        out.push(syn_backlog(host, plan));
        out.push(syncookies(host));
    }
    out.push(netdev_backlog(host, plan));
    out.push(memory(host, plan));
    out.push(tcp_mem(host, plan));
    if let Some(c) = conntrack(host, plan) {
        out.push(c);
    }
    out.extend([scale::orphans(host, plan), scale::tw_buckets(host, plan), scale::map_count(host, plan)].into_iter().flatten());
    out.push(scale::plan_row(host, plan));
    out.push(io_uring(host, plan));
    out.push(cpus(host, plan));
    if let Some(g) = governor(host) {
        out.push(g);
    }
    out
}

fn nofile(host: &Host, plan: &Plan) -> Check {
    let name = "nofile";
    let Some(lim) = host.nofile else { return unreadable(name, "/proc/self/limits") };
    let need = per_process(plan) + FD_SLACK;
    let show = |v: Option<u64>| v.map_or("unlimited".to_string(), |v| v.to_string());
    let observed = format!("RLIMIT_NOFILE soft {} hard {} (stampede raises soft to hard)", show(lim.soft), show(lim.hard));
    let needed = format!("{need} per process ({} connections / {} process(es) + {FD_SLACK})", plan.connections, plan.processes.max(1));
    match lim.hard {
        Some(hard) if hard < need => {
            let p = processes_needed(host, plan);
            row(name, Status::Fail, observed, needed)
                .fix(format!(
                    "split the run over {p} processes of at most {per} connections each, or raise the hard limit: `ulimit -Hn {n}` as root, `* hard nofile {n}` in /etc/security/limits.conf (tuning/limits.conf), or LimitNOFILE={n} for a systemd unit (tuning/stampede-limits.conf)",
                    n = need.max(1_048_576),
                    per = plan.connections.div_ceil(p as u64)
                ))
                .fatal()
        }
        _ => row(name, Status::Pass, observed, needed),
    }
}

/// The local target holds one descriptor per connection too; if it runs under the same limits
/// as this process, a single target process cannot accept them all.
fn nofile_target(host: &Host, plan: &Plan) -> Check {
    let name = "nofile (local target)";
    let Some(hard) = host.nofile.map(|l| l.hard) else { return unreadable(name, "/proc/self/limits") };
    let need = plan.connections + FD_SLACK;
    let observed =
        format!("hard limit {} here; the target needs one descriptor per connection", hard.map_or("unlimited".into(), |h| h.to_string()));
    match hard {
        Some(h) if h < need => row(name, Status::Warn, observed, format!("{need} in the target process")).fix(format!(
            "run the target as several processes sharing its port (`stampede serve --processes auto -c {}`: {} here) or with a higher LimitNOFILE (tuning/stampede-limits.conf)",
            plan.connections,
            plan.connections.div_ceil(h.saturating_sub(FD_SLACK).max(1))
        )),
        _ => row(name, Status::Pass, observed, format!("{need} in the target process")),
    }
}

fn file_max(host: &Host, plan: &Plan) -> Check {
    let name = "fs.file-max";
    let Some(max) = host.file_max else { return unreadable(name, "fs.file-max") };
    let used = host.file_nr.unwrap_or(0);
    let need = sockets(plan) + FD_SLACK;
    let observed = format!("{max} system-wide, {used} in use (fs.file-nr)");
    let needed = format!("{need} more ({} sockets on this machine)", sockets(plan));
    if max.saturating_sub(used) < need {
        row(name, Status::Fail, observed, needed).sysctl_fix("fs.file-max").fatal()
    } else {
        row(name, Status::Pass, observed, needed)
    }
}

fn nr_open(host: &Host, plan: &Plan) -> Check {
    let name = "fs.nr_open";
    let Some(nr) = host.nr_open else { return unreadable(name, "fs.nr_open") };
    let need = per_process(plan) + FD_SLACK;
    let observed = format!("{nr} (the highest RLIMIT_NOFILE anyone can set)");
    if nr < need {
        row(name, Status::Warn, observed, format!("at least {need}")).sysctl_fix("fs.nr_open")
    } else {
        row(name, Status::Pass, observed, format!("at least {need}"))
    }
}

fn ports(host: &Host, plan: &Plan) -> Check {
    let name = "ephemeral ports";
    if plan.unix {
        return row(name, Status::Pass, "a Unix socket: no ports are used".into(), format!("{} connections", plan.connections));
    }
    let Some((lo, hi)) = host.port_range else { return unreadable(name, "net.ipv4.ip_local_port_range") };
    let per_pair = (hi.saturating_sub(lo) + 1).saturating_sub(host.reserved_ports);
    let capacity = per_pair * plan.source_addrs.max(1) * plan.destinations.max(1);
    let observed = format!(
        "{lo}-{hi} ({per_pair} usable) × {} source address(es) × {} destination(s) = {capacity}",
        plan.source_addrs.max(1),
        plan.destinations.max(1)
    );
    let needed = format!("{} connections", plan.connections);
    if capacity < plan.connections {
        let sources = plan.connections.div_ceil(per_pair.max(1) * plan.destinations.max(1));
        row(name, Status::Fail, observed, needed)
            .sysctl_fix("net.ipv4.ip_local_port_range")
            .fix(format!(
                "use {sources} source addresses: --source 127.0.0.2-127.0.0.{} (loopback), or widen the range: sysctl -w net.ipv4.ip_local_port_range=\"{}\"",
                (sources + 1).min(254),
                recommended("net.ipv4.ip_local_port_range")
            ))
            .fatal()
    } else if capacity < plan.connections * 2 {
        row(name, Status::Warn, observed, format!("{needed}; reconnects and TIME_WAIT need headroom"))
            .sysctl_fix("net.ipv4.ip_local_port_range")
    } else {
        row(name, Status::Pass, observed, needed)
    }
}

fn time_wait(host: &Host, plan: &Plan) -> Check {
    let name = "TIME_WAIT";
    if plan.unix {
        return row(name, Status::Pass, "a Unix socket: no TIME_WAIT".into(), String::new());
    }
    let observed = format!(
        "{} sockets in TIME_WAIT now; tcp_tw_reuse={}, tcp_fin_timeout={}, tcp_max_tw_buckets={}",
        host.time_wait.map_or("?".into(), |v| v.to_string()),
        host.tw_reuse.map_or("?".into(), |v| v.to_string()),
        host.fin_timeout.map_or("?".into(), |v| v.to_string()),
        host.max_tw_buckets.map_or("?".into(), |v| v.to_string())
    );
    let per_pair = host.port_range.map_or(28_232, |(lo, hi)| hi.saturating_sub(lo) + 1);
    let tw = host.time_wait.unwrap_or(0);
    if host.tw_reuse == Some(0) {
        row(name, Status::Warn, observed, "tcp_tw_reuse=1 so reconnects can reuse ports in TIME_WAIT".into())
            .sysctl_fix("net.ipv4.tcp_tw_reuse")
    } else if tw > per_pair / 2 && plan.source_addrs <= 1 {
        row(name, Status::Warn, observed, "fewer TIME_WAIT sockets: they hold ephemeral ports".into())
            .fix("wait for them to expire, use --linger-zero, or add --source addresses")
    } else {
        row(name, Status::Pass, observed, String::new())
    }
}

fn backlog(host: &Host, plan: &Plan) -> Check {
    let name = "net.core.somaxconn";
    let Some(v) = host.somaxconn else { return unreadable(name, "net.core.somaxconn") };
    let burst = plan.serve_backlog.map_or(plan.connections, u64::from).min(65_535);
    let observed = format!("{v} (caps every listen backlog)");
    let needed = format!("{burst} for a connect burst of that size to a local listener");
    if v < burst {
        row(name, Status::Warn, observed, needed).sysctl_fix("net.core.somaxconn")
    } else {
        row(name, Status::Pass, observed, needed)
    }
}

fn syn_backlog(host: &Host, plan: &Plan) -> Check {
    let name = "net.ipv4.tcp_max_syn_backlog";
    let Some(v) = host.syn_backlog else { return unreadable(name, name) };
    let burst = plan.serve_backlog.map_or(plan.connections, u64::from).min(65_535);
    if v < burst {
        row(name, Status::Warn, v.to_string(), format!("{burst} half-open connections during the burst"))
            .sysctl_fix("net.ipv4.tcp_max_syn_backlog")
    } else {
        row(name, Status::Pass, v.to_string(), format!("{burst}"))
    }
}

fn syncookies(host: &Host) -> Check {
    let name = "net.ipv4.tcp_syncookies";
    match host.syncookies {
        Some(0) => {
            row(name, Status::Warn, "0".into(), "1: a full SYN queue then drops nothing".into()).fix("sysctl -w net.ipv4.tcp_syncookies=1")
        }
        Some(v) => row(name, Status::Pass, v.to_string(), String::new()),
        None => unreadable(name, name),
    }
}

fn netdev_backlog(host: &Host, plan: &Plan) -> Check {
    let name = "net.core.netdev_max_backlog";
    let Some(v) = host.netdev_backlog else { return unreadable(name, name) };
    if plan.connections >= 10_000 && v < 16_384 {
        row(name, Status::Warn, v.to_string(), "16384 or more for bursts from 10k+ connections".into())
            .sysctl_fix("net.core.netdev_max_backlog")
    } else {
        row(name, Status::Pass, v.to_string(), String::new())
    }
}

fn memory(host: &Host, plan: &Plan) -> Check {
    let name = "memory";
    let Some(avail_kib) = host.mem_available_kib else { return unreadable(name, "MemAvailable in /proc/meminfo") };
    let kernel = sockets(plan) * KERNEL_BYTES_PER_SOCKET;
    let client = plan.connections * plan.client_bytes_per_conn;
    // A local target holds its connections' memory too (the embedded server's measured figure).
    let server = if plan.target_is_local { plan.connections * SERVE_IDLE_CONN_BYTES } else { 0 };
    let need = kernel + client + server;
    let avail = avail_kib * 1024;
    let observed = format!("MemAvailable {} MiB", avail / (1 << 20));
    let needed = format!(
        "~{} MiB = {} sockets × {:.1} KiB kernel + {} connections × ({:.1} KiB generator{}) (idle estimate)",
        need / (1 << 20),
        sockets(plan),
        KERNEL_BYTES_PER_SOCKET as f64 / 1024.0,
        plan.connections,
        plan.client_bytes_per_conn as f64 / 1024.0,
        if plan.target_is_local { format!(" + {:.1} KiB local server", SERVE_IDLE_CONN_BYTES as f64 / 1024.0) } else { String::new() }
    );
    if need > avail {
        row(name, Status::Fail, observed, needed).fix("fewer connections per machine, or more memory").fatal()
    } else if need > avail / 2 {
        row(name, Status::Warn, observed, needed).fix("leave headroom: socket buffers grow under load")
    } else {
        row(name, Status::Pass, observed, needed)
    }
}

/// `tcp_mem` bounds the memory of data waiting in socket buffers, not the sockets themselves: an
/// idle socket holds none of it (16,000 idle loopback sockets here: `mem 0` pages in
/// /proc/net/sockstat; their kernel memory is slab, counted under `memory`). A socket with data
/// queued is charged whole pages, so the check asks for room for a quarter of the sockets to hold
/// a page at once — more than heartbeats spread over time or a load at its depth queue.
fn tcp_mem(host: &Host, plan: &Plan) -> Check {
    let name = "net.ipv4.tcp_mem";
    let Some(high) = host.tcp_mem_high else { return unreadable(name, name) };
    let high_bytes = high * 4096;
    let need = sockets(plan) * 4096 / 4;
    let observed = format!(
        "high {high} pages ({} MiB); tcp_rmem default {} B, tcp_wmem default {} B",
        high_bytes >> 20,
        host.rmem_default.map_or("?".into(), |v| v.to_string()),
        host.wmem_default.map_or("?".into(), |v| v.to_string())
    );
    let needed = format!(
        "> {} MiB: a page of queued data on a quarter of {} sockets at once (idle sockets hold none of it)",
        need >> 20,
        sockets(plan)
    );
    if need > high_bytes {
        // high: the need in pages, up to a multiple of 65,536; pressure at 2/3 and low at 1/2 of it
        let pages = (need / 4096).div_ceil(65_536) * 65_536;
        row(name, Status::Warn, observed, needed).fix(format!(
            "raise net.ipv4.tcp_mem (pages): sysctl -w net.ipv4.tcp_mem=\"{} {} {pages}\"",
            pages / 2,
            pages / 3 * 2
        ))
    } else {
        row(name, Status::Pass, observed, needed)
    }
}

fn conntrack(host: &Host, plan: &Plan) -> Option<Check> {
    let (max, count) = host.conntrack?;
    let name = "nf_conntrack";
    let used = count.unwrap_or(0);
    let observed = format!("nf_conntrack_max {max}, {used} tracked now");
    let needed = format!("{} more entries (one per connection)", plan.connections);
    Some(if max.saturating_sub(used) < plan.connections {
        row(name, Status::Warn, observed, needed).sysctl_fix("net.netfilter.nf_conntrack_max")
    } else {
        row(name, Status::Pass, observed, needed)
    })
}

fn io_uring(host: &Host, plan: &Plan) -> Check {
    let name = "io_uring";
    let disabled = host.io_uring_disabled;
    let memlock = host.memlock.map_or("?".to_string(), |l| l.soft.map_or("unlimited".into(), |v| format!("{} KiB", v / 1024)));
    let observed = format!(
        "kernel.io_uring_disabled={}, RLIMIT_MEMLOCK {memlock}, probe {}",
        disabled.map_or("absent".into(), |v| v.to_string()),
        match plan.uses_io_uring {
            Some(true) => "ok",
            Some(false) => "failed",
            None => "not run",
        }
    );
    let needed = "io_uring for the fastest path; epoll works too".to_string();
    match (plan.uses_io_uring, disabled) {
        (Some(false), _) | (_, Some(2)) => row(name, Status::Warn, observed, needed).fix(
            "stampede falls back to epoll. To enable io_uring: sysctl -w kernel.io_uring_disabled=0; in containers allow io_uring_setup/io_uring_enter in the seccomp profile (Docker's default blocks them)",
        ),
        (_, Some(1)) => row(name, Status::Warn, observed, needed).fix("io_uring is limited to privileged users or kernel.io_uring_group; stampede may fall back to epoll"),
        // Before 5.12 the rings are charged to RLIMIT_MEMLOCK: one 4096-entry ring needs ~300 KiB.
        _ if kernel_before(&host.kernel, 5, 12) && host.memlock.and_then(|l| l.soft).is_some_and(|s| s < 512 * 1024 * plan.threads as u64) => {
            row(name, Status::Warn, observed, format!("RLIMIT_MEMLOCK of {} KiB for {} rings on this kernel", 512 * plan.threads, plan.threads))
                .fix("ulimit -l unlimited, or `* - memlock unlimited` in /etc/security/limits.conf")
        }
        _ => row(name, Status::Pass, observed, needed),
    }
}

/// True when the kernel release (e.g. "6.1.0-18-amd64") is older than major.minor.
fn kernel_before(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => (a, b) < (major, minor),
        _ => false,
    }
}

fn cpus(host: &Host, plan: &Plan) -> Check {
    let name = "CPUs";
    let Some(n) = host.cpus_online else { return unreadable(name, "/sys/devices/system/cpu/online") };
    let observed = format!("{n} online; {} worker thread(s) per process × {} process(es)", plan.threads, plan.processes.max(1));
    if plan.threads * plan.processes.max(1) as usize > n {
        row(name, Status::Warn, observed, format!("at most {n} threads in all: more threads than CPUs only add switching")).fix("lower -t")
    } else {
        row(name, Status::Pass, observed, String::new())
    }
}

fn governor(host: &Host) -> Option<Check> {
    let g = host.governor.as_ref()?;
    let name = "cpufreq governor";
    Some(if g == "performance" {
        row(name, Status::Pass, g.clone(), String::new())
    } else {
        row(name, Status::Warn, g.clone(), "performance, for stable numbers".into())
            .fix("cpupower frequency-set -g performance (or echo performance > /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)")
    })
}
