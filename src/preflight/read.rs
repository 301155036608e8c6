//! Reading the facts preflight judges: limits, sysctls, memory, sockets, CPUs — all from files
//! under a root directory, so tests can build fake trees. Missing values are `None`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// A resource limit pair; `None` in a field means "unlimited".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// Everything read from the host, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub kernel: String,
    pub cpus_online: Option<usize>,
    pub governor: Option<String>,
    pub nofile: Option<Limit>,
    pub memlock: Option<Limit>,
    pub file_max: Option<u64>,
    pub nr_open: Option<u64>,
    /// Allocated file handles now (first field of fs.file-nr).
    pub file_nr: Option<u64>,
    pub port_range: Option<(u64, u64)>,
    /// Count of ports in ip_local_reserved_ports.
    pub reserved_ports: u64,
    pub time_wait: Option<u64>,
    pub tw_reuse: Option<u64>,
    pub fin_timeout: Option<u64>,
    pub max_tw_buckets: Option<u64>,
    pub somaxconn: Option<u64>,
    pub syn_backlog: Option<u64>,
    pub syncookies: Option<u64>,
    pub netdev_backlog: Option<u64>,
    /// tcp_mem high threshold, in pages.
    pub tcp_mem_high: Option<u64>,
    /// Default (middle) values of tcp_rmem / tcp_wmem.
    pub rmem_default: Option<u64>,
    pub wmem_default: Option<u64>,
    pub mem_available_kib: Option<u64>,
    /// (max, count) when conntrack is loaded.
    pub conntrack: Option<(u64, Option<u64>)>,
    pub io_uring_disabled: Option<u64>,
    pub max_orphans: Option<u64>,
    pub max_map_count: Option<u64>,
}

fn file(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

fn text(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(file(root, rel)).ok()
}

/// A sysctl by dotted name (`net.core.somaxconn`), whitespace normalised.
pub fn sysctl(root: &Path, key: &str) -> Option<String> {
    let t = text(root, &format!("proc/sys/{}", key.replace('.', "/")))?;
    Some(t.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub fn write_sysctl(root: &Path, key: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(file(root, &format!("proc/sys/{}", key.replace('.', "/"))), format!("{value}\n"))
}

fn num(root: &Path, key: &str) -> Option<u64> {
    sysctl(root, key)?.split_whitespace().next()?.parse().ok()
}

fn nums(root: &Path, key: &str) -> Option<Vec<u64>> {
    sysctl(root, key)?.split_whitespace().map(|v| v.parse().ok()).collect()
}

/// A row of /proc/self/limits, e.g. "Max open files  1024  1048576  files".
fn limit(limits: &str, name: &str) -> Option<Limit> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    let mut fields = line[name.len()..].split_whitespace();
    let parse = |v: Option<&str>| -> Option<Option<u64>> {
        match v? {
            "unlimited" => Some(None),
            n => n.parse().ok().map(Some),
        }
    };
    Some(Limit { soft: parse(fields.next())?, hard: parse(fields.next())? })
}

/// Count of CPUs in a list such as "0-3,5,7-8".
pub fn cpu_list_len(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.trim().parse::<usize>().ok()?.checked_sub(a.trim().parse::<usize>().ok()?)? + 1,
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    Some(n)
}

/// Count of ports in a list such as "8080,9000-9010".
fn port_list_len(list: &str) -> u64 {
    list.split(',')
        .filter_map(|p| match p.trim().split_once('-') {
            Some((a, b)) => Some(b.trim().parse::<u64>().ok()?.saturating_sub(a.trim().parse().ok()?) + 1),
            None => p.trim().parse::<u64>().ok().map(|_| 1),
        })
        .sum()
}

impl Host {
    pub fn read(root: &Path) -> Host {
        let limits = text(root, "proc/self/limits").unwrap_or_default();
        let meminfo = text(root, "proc/meminfo").unwrap_or_default();
        let sockstat = text(root, "proc/net/sockstat").unwrap_or_default();
        let conntrack_max = num(root, "net.netfilter.nf_conntrack_max");
        Host {
            kernel: sysctl(root, "kernel.osrelease").unwrap_or_else(|| "unknown".into()),
            cpus_online: text(root, "sys/devices/system/cpu/online").and_then(|t| cpu_list_len(&t)),
            governor: text(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").map(|g| g.trim().to_string()),
            nofile: limit(&limits, "Max open files"),
            memlock: limit(&limits, "Max locked memory"),
            file_max: num(root, "fs.file-max"),
            nr_open: num(root, "fs.nr_open"),
            file_nr: num(root, "fs.file-nr"),
            port_range: nums(root, "net.ipv4.ip_local_port_range").and_then(|v| Some((*v.first()?, *v.get(1)?))),
            reserved_ports: sysctl(root, "net.ipv4.ip_local_reserved_ports").map_or(0, |l| port_list_len(&l)),
            time_wait: sockstat
                .lines()
                .find(|l| l.starts_with("TCP:"))
                .and_then(|l| l.split_whitespace().skip_while(|w| *w != "tw").nth(1)?.parse().ok()),
            tw_reuse: num(root, "net.ipv4.tcp_tw_reuse"),
            fin_timeout: num(root, "net.ipv4.tcp_fin_timeout"),
            max_tw_buckets: num(root, "net.ipv4.tcp_max_tw_buckets"),
            somaxconn: num(root, "net.core.somaxconn"),
            syn_backlog: num(root, "net.ipv4.tcp_max_syn_backlog"),
            syncookies: num(root, "net.ipv4.tcp_syncookies"),
            netdev_backlog: num(root, "net.core.netdev_max_backlog"),
            tcp_mem_high: nums(root, "net.ipv4.tcp_mem").and_then(|v| v.get(2).copied()),
            rmem_default: nums(root, "net.ipv4.tcp_rmem").and_then(|v| v.get(1).copied()),
            wmem_default: nums(root, "net.ipv4.tcp_wmem").and_then(|v| v.get(1).copied()),
            mem_available_kib: meminfo
                .lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok()),
            conntrack: conntrack_max.map(|m| (m, num(root, "net.netfilter.nf_conntrack_count"))),
            io_uring_disabled: num(root, "kernel.io_uring_disabled"),
            max_orphans: num(root, "net.ipv4.tcp_max_orphans"),
            max_map_count: num(root, "vm.max_map_count"),
        }
    }

    pub fn to_json(&self) -> Value {
        let lim = |l: &Option<Limit>| l.map(|l| json!({"soft": l.soft, "hard": l.hard}));
        json!({
            "kernel": self.kernel,
            "cpus_online": self.cpus_online,
            "cpufreq_governor": self.governor,
            "nofile": lim(&self.nofile),
            "memlock": lim(&self.memlock),
            "mem_available_kib": self.mem_available_kib,
            "sysctl": {
                "fs.file-max": self.file_max,
                "fs.nr_open": self.nr_open,
                "fs.file-nr": self.file_nr,
                "net.ipv4.ip_local_port_range": self.port_range.map(|(a, b)| format!("{a} {b}")),
                "net.ipv4.ip_local_reserved_ports_count": self.reserved_ports,
                "net.ipv4.tcp_tw_reuse": self.tw_reuse,
                "net.ipv4.tcp_fin_timeout": self.fin_timeout,
                "net.ipv4.tcp_max_tw_buckets": self.max_tw_buckets,
                "net.core.somaxconn": self.somaxconn,
                "net.ipv4.tcp_max_syn_backlog": self.syn_backlog,
                "net.ipv4.tcp_syncookies": self.syncookies,
                "net.core.netdev_max_backlog": self.netdev_backlog,
                "net.ipv4.tcp_mem_high_pages": self.tcp_mem_high,
                "net.ipv4.tcp_rmem_default": self.rmem_default,
                "net.ipv4.tcp_wmem_default": self.wmem_default,
                "net.netfilter.nf_conntrack_max": self.conntrack.map(|c| c.0),
                "net.netfilter.nf_conntrack_count": self.conntrack.and_then(|c| c.1),
                "kernel.io_uring_disabled": self.io_uring_disabled,
                "net.ipv4.tcp_max_orphans": self.max_orphans,
                "vm.max_map_count": self.max_map_count,
            },
            "time_wait_sockets": self.time_wait,
        })
    }
}

/// TCP counters that show a connect burst hurting: accept-queue overflows and drops, SYN
/// retransmits (from /proc/net/netstat, TcpExt).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BurstCounters {
    pub listen_overflows: u64,
    pub listen_drops: u64,
    pub syn_retrans: u64,
}

impl BurstCounters {
    pub fn read(root: &Path) -> Option<BurstCounters> {
        let t = text(root, "proc/net/netstat")?;
        let mut lines = t.lines().filter(|l| l.starts_with("TcpExt:"));
        let (names, values) = (lines.next()?, lines.next()?);
        let get = |key: &str| -> Option<u64> {
            let i = names.split_whitespace().position(|n| n == key)?;
            values.split_whitespace().nth(i)?.parse().ok()
        };
        Some(BurstCounters {
            listen_overflows: get("ListenOverflows")?,
            listen_drops: get("ListenDrops")?,
            syn_retrans: get("TCPSynRetrans").unwrap_or(0),
        })
    }

    pub fn since(&self, before: &BurstCounters) -> BurstCounters {
        BurstCounters {
            listen_overflows: self.listen_overflows.saturating_sub(before.listen_overflows),
            listen_drops: self.listen_drops.saturating_sub(before.listen_drops),
            syn_retrans: self.syn_retrans.saturating_sub(before.syn_retrans),
        }
    }
}
