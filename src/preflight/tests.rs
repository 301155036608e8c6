use std::path::{Path, PathBuf};

use super::*;

/// A fake root with a typical machine's files; `set` overrides one.
struct FakeRoot(PathBuf);

impl FakeRoot {
    fn new(tag: &str) -> FakeRoot {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("stampede-preflight-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let f = FakeRoot(root);
        f.set("proc/self/limits", "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 1048576              files     \nMax locked memory         8388608              8388608              bytes     \n");
        f.set("proc/meminfo", "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n");
        f.set("proc/net/sockstat", "sockets: used 17\nTCP: inuse 4 orphan 0 tw 10 alloc 4 mem 150\n");
        f.set("sys/devices/system/cpu/online", "0-3\n");
        for (k, v) in [
            ("kernel.osrelease", "6.1.0-test"),
            ("fs.file-max", "2466193"),
            ("fs.nr_open", "1048576"),
            ("fs.file-nr", "516\t0\t2466193"),
            ("net.ipv4.ip_local_port_range", "32768\t60999"),
            ("net.ipv4.ip_local_reserved_ports", ""),
            ("net.ipv4.tcp_tw_reuse", "2"),
            ("net.ipv4.tcp_fin_timeout", "60"),
            ("net.ipv4.tcp_max_tw_buckets", "131072"),
            ("net.core.somaxconn", "4096"),
            ("net.ipv4.tcp_max_syn_backlog", "2048"),
            ("net.ipv4.tcp_syncookies", "1"),
            ("net.core.netdev_max_backlog", "1000"),
            ("net.ipv4.tcp_mem", "287901\t383869\t575802"),
            ("net.ipv4.tcp_rmem", "4096\t131072\t33554432"),
            ("net.ipv4.tcp_wmem", "4096\t16384\t4194304"),
            ("kernel.io_uring_disabled", "0"),
        ] {
            f.sysctl(k, v);
        }
        f
    }

    fn set(&self, rel: &str, content: &str) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn sysctl(&self, key: &str, value: &str) {
        self.set(&format!("proc/sys/{}", key.replace('.', "/")), &format!("{value}\n"));
    }

    fn remove(&self, rel: &str) {
        let _ = std::fs::remove_file(self.0.join(rel));
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for FakeRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn plan(connections: u64) -> Plan {
    Plan {
        connections,
        processes: 1,
        threads: 2,
        source_addrs: 1,
        destinations: 1,
        target_is_local: false,
        serve_backlog: None,
        uses_io_uring: Some(true),
        unix: false,
        client_bytes_per_conn: 25 * 1024,
    }
}

fn status(r: &Report, name: &str) -> Option<Status> {
    r.checks.iter().find(|c| c.name == name).map(|c| c.status)
}

#[test]
fn a_modest_run_passes() {
    let root = FakeRoot::new("modest");
    let r = run(root.path(), &plan(1000));
    assert_eq!(r.worst(), Status::Pass, "{}", r.render_text());
    assert!(r.fatal().is_empty());
    assert_eq!(r.host.nofile, Some(read::Limit { soft: Some(1024), hard: Some(1_048_576) }));
    assert_eq!(r.host.cpus_online, Some(4));
    assert_eq!(r.host.time_wait, Some(10));
}

#[test]
fn too_few_descriptors_fails_with_the_process_count() {
    let root = FakeRoot::new("nofile");
    root.set("proc/self/limits", "Max open files            20000                20000                files     \n");
    let p = plan(100_000);
    let r = run(root.path(), &p);
    assert_eq!(status(&r, "nofile"), Some(Status::Fail));
    assert!(r.fatal().iter().any(|c| c.name == "nofile"));
    assert_eq!(r.processes_needed(&p), 6); // 100000 / (20000 - 64) rounded up
    let fix = r.checks.iter().find(|c| c.name == "nofile").unwrap().fix.clone().unwrap();
    assert!(fix.contains("6 processes of at most 16667 connections") && fix.contains("limits.conf"), "{fix}");
    // split over 6 processes, each fits
    let r = run(root.path(), &Plan { processes: 6, ..p });
    assert_eq!(status(&r, "nofile"), Some(Status::Pass));
}

#[test]
fn ports_for_100k_need_more_sources() {
    let root = FakeRoot::new("ports");
    let p = plan(100_000);
    let r = run(root.path(), &p);
    assert_eq!(status(&r, "ephemeral ports"), Some(Status::Fail), "{}", r.render_text());
    let fix = r.checks.iter().find(|c| c.name == "ephemeral ports").unwrap().fix.clone().unwrap();
    assert!(fix.contains("--source 127.0.0.2-127.0.0.5"), "{fix}");
    let r = run(root.path(), &Plan { source_addrs: 8, ..p });
    assert_eq!(status(&r, "ephemeral ports"), Some(Status::Pass));
    // reserved ports shrink the range
    root.sysctl("net.ipv4.ip_local_reserved_ports", "40000-59999");
    let r = run(root.path(), &plan(10_000));
    assert_eq!(status(&r, "ephemeral ports"), Some(Status::Fail), "8232 usable < 10000");
}

#[test]
fn local_targets_check_the_backlog() {
    let root = FakeRoot::new("backlog");
    root.sysctl("net.core.somaxconn", "128");
    let remote = run(root.path(), &plan(5000));
    assert_eq!(status(&remote, "net.core.somaxconn"), None, "only checked for a local target");
    let local = run(root.path(), &Plan { target_is_local: true, ..plan(5000) });
    assert_eq!(status(&local, "net.core.somaxconn"), Some(Status::Warn));
    assert_eq!(status(&local, "net.ipv4.tcp_max_syn_backlog"), Some(Status::Warn));
    let c = local.checks.iter().find(|c| c.name == "net.core.somaxconn").unwrap();
    assert_eq!(c.sysctl, Some(("net.core.somaxconn", "65535".to_string())));
    assert!(local.fatal().is_empty(), "a small backlog slows a burst, it does not make the run impossible");
}

#[test]
fn conntrack_row_only_when_loaded() {
    let root = FakeRoot::new("conntrack");
    assert_eq!(status(&run(root.path(), &plan(10)), "nf_conntrack"), None);
    root.sysctl("net.netfilter.nf_conntrack_max", "1000");
    root.sysctl("net.netfilter.nf_conntrack_count", "900");
    assert_eq!(status(&run(root.path(), &plan(500)), "nf_conntrack"), Some(Status::Warn));
    assert_eq!(status(&run(root.path(), &plan(50)), "nf_conntrack"), Some(Status::Pass));
}

#[test]
fn memory_and_io_uring_and_cpus() {
    let root = FakeRoot::new("mem");
    root.set("proc/meminfo", "MemAvailable:   1000000 kB\n");
    let r = run(root.path(), &Plan { target_is_local: true, ..plan(100_000) });
    assert_eq!(status(&r, "memory"), Some(Status::Fail), "{}", r.render_text());
    root.sysctl("kernel.io_uring_disabled", "2");
    let r = run(root.path(), &Plan { threads: 8, ..plan(10) });
    assert_eq!(status(&r, "io_uring"), Some(Status::Warn));
    assert_eq!(status(&r, "CPUs"), Some(Status::Warn));
    let r = run(root.path(), &Plan { uses_io_uring: Some(false), ..plan(10) });
    assert!(r.checks.iter().find(|c| c.name == "io_uring").unwrap().fix.as_ref().unwrap().contains("epoll"));
    root.set("sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "powersave\n");
    assert_eq!(status(&run(root.path(), &plan(10)), "cpufreq governor"), Some(Status::Warn));
}

#[test]
fn missing_files_warn_instead_of_panicking() {
    let root = FakeRoot::new("missing");
    root.remove("proc/self/limits");
    root.remove("proc/sys/net/ipv4/ip_local_port_range");
    root.remove("proc/meminfo");
    let r = run(root.path(), &plan(100));
    for name in ["nofile", "ephemeral ports", "memory"] {
        assert_eq!(status(&r, name), Some(Status::Warn), "{name}");
    }
    let empty = std::env::temp_dir().join(format!("stampede-preflight-empty-{}", std::process::id()));
    let r = run(&empty, &plan(100));
    assert!(r.checks.iter().all(|c| c.status == Status::Warn || c.status == Status::Pass));
    assert!(r.render_text().contains("cannot read"));
}

#[test]
fn apply_then_revert_restores_every_value() {
    let root = FakeRoot::new("apply");
    root.sysctl("net.core.somaxconn", "128");
    root.sysctl("net.ipv4.tcp_max_syn_backlog", "256");
    let r = run(root.path(), &Plan { target_is_local: true, ..plan(100_000) });
    let saved = root.path().join("saved.conf");
    let rows = apply(root.path(), &r, &saved).unwrap();
    assert!(rows.contains(&("net.core.somaxconn".into(), "128".into(), "65535".into())), "{rows:?}");
    assert_eq!(read::sysctl(root.path(), "net.core.somaxconn").as_deref(), Some("65535"));
    assert_eq!(read::sysctl(root.path(), "net.ipv4.ip_local_port_range").as_deref(), Some("1024 65535"));
    let back = revert(root.path(), &saved).unwrap();
    assert_eq!(back.len(), rows.len());
    assert_eq!(read::sysctl(root.path(), "net.core.somaxconn").as_deref(), Some("128"));
    assert_eq!(read::sysctl(root.path(), "net.ipv4.tcp_max_syn_backlog").as_deref(), Some("256"));
    assert_eq!(read::sysctl(root.path(), "net.ipv4.ip_local_port_range").as_deref(), Some("32768 60999"));
}

#[test]
fn recommendations_match_tuning_sysctl_conf() {
    let conf = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/sysctl.conf")).unwrap();
    for (key, value) in RECOMMENDED {
        let line = conf.lines().find(|l| l.trim_start().starts_with(&format!("{key} ="))).unwrap_or_else(|| panic!("{key} missing"));
        assert_eq!(line.split_once('=').unwrap().1.trim(), *value, "{key}");
    }
}

#[test]
fn json_names_every_check_and_the_host() {
    let root = FakeRoot::new("json");
    let v = run(root.path(), &plan(100)).to_json();
    assert_eq!(v["schema"], "stampede.preflight/1");
    assert!(v["checks"].as_array().unwrap().len() >= 10);
    assert_eq!(v["host"]["sysctl"]["net.core.somaxconn"], 4096);
    assert_eq!(v["host"]["nofile"]["hard"], 1_048_576);
}

#[test]
fn the_real_machine_reads_without_panicking() {
    let r = run(Path::new("/"), &plan(100));
    assert!(!r.checks.is_empty());
    assert_ne!(r.host.kernel, "");
}

#[test]
fn cpu_lists() {
    assert_eq!(read::cpu_list_len("0-3,5,7-8\n"), Some(7));
    assert_eq!(read::cpu_list_len("0"), Some(1));
    assert_eq!(read::cpu_list_len("x"), None);
}

#[test]
fn a_unix_socket_needs_no_ephemeral_ports() {
    let root = FakeRoot::new("unix");
    // 200,000 connections over one TCP pair cannot fit; over a Unix socket ports do not apply.
    let tcp = run(root.path(), &plan(200_000));
    assert_eq!(status(&tcp, "ephemeral ports"), Some(Status::Fail));
    let unix = run(root.path(), &Plan { unix: true, ..plan(200_000) });
    let c = unix.checks.iter().find(|c| c.name == "ephemeral ports").unwrap();
    assert_eq!(c.status, Status::Pass);
    assert!(c.observed.contains("Unix socket"), "{}", c.observed);
    assert_eq!(status(&unix, "TIME_WAIT"), Some(Status::Pass));
}

/// This box: 20,000 fds a process, 28,232 ports, MemAvailable 23.1 GB, both ends local.
fn million_box(tag: &str) -> FakeRoot {
    let root = FakeRoot::new(tag);
    root.set("proc/self/limits", "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                20000                files     \n");
    root.set("proc/meminfo", "MemAvailable:   22558593 kB\n");
    root
}

fn million() -> Plan {
    Plan { target_is_local: true, client_bytes_per_conn: 2048, ..plan(1_000_000) }
}

fn row<'a>(r: &'a Report, name: &str) -> &'a Check {
    r.checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no {name} row: {}", r.render_text()))
}

#[test]
fn a_million_is_planned_in_processes_and_source_addresses() {
    let root = million_box("c1m");
    let r = run(root.path(), &million());
    let s = shape(&r.host, &million());
    assert_eq!((s.processes, s.fds_per_process), (51, 19_608), "20,000 - 64 fds a process");
    assert_eq!((s.sources, s.ports_per_source), (36, 27_778), "28,232 ports per source address");
    assert_eq!(s.kernel_bytes, 2_000_000 * 5325, "both ends' sockets");
    assert_eq!(s.user_bytes, 1_000_000 * (2048 + SERVE_IDLE_CONN_BYTES));
    let plan = row(&r, "plan");
    assert_eq!(plan.status, Status::Pass, "{}", r.render_text());
    assert!(
        plan.observed.starts_with("1,000,000 connections: 51 processes × 19,608 fds, 36 source addresses × 27,778 ports, kernel memory ~10.7 GB, user ~5.6 GB: fits in MemAvailable 23.1 GB"),
        "{}",
        plan.observed
    );
    assert!(plan.needed.contains("--processes 51 --source 127.0.0.2-127.0.0.37"), "{}", plan.needed);
}

#[test]
fn a_million_that_does_not_fit_is_refused_saying_by_how_much() {
    let root = million_box("c1m-short");
    root.set("proc/meminfo", "MemAvailable:   12000000 kB\n");
    let r = run(root.path(), &million());
    let plan = row(&r, "plan");
    assert_eq!((plan.status, plan.fatal), (Status::Fail, true), "{}", r.render_text());
    assert!(plan.observed.contains("does not fit in MemAvailable 12.3 GB"), "{}", plan.observed);
    let fix = plan.fix.as_deref().unwrap();
    assert!(fix.starts_with("4.0 GB short: plan at most ~754,698 connections"), "{fix}");
    assert!(r.fatal().iter().any(|c| c.name == "plan"));
}

#[test]
fn teardown_and_map_checks_for_a_million() {
    let root = million_box("c1m-teardown");
    root.sysctl("net.ipv4.tcp_max_orphans", "65536");
    root.sysctl("vm.max_map_count", "65530");
    let r = run(root.path(), &million());
    assert_eq!(row(&r, "net.ipv4.tcp_max_orphans").status, Status::Warn, "65,536 orphans for 1M closes");
    assert!(row(&r, "net.ipv4.tcp_max_orphans").fix.as_deref().unwrap().contains("tcp_max_orphans=1048576"));
    let tw = row(&r, "TIME_WAIT at teardown");
    assert_eq!(tw.status, Status::Warn, "131,072 buckets for 1M closes");
    assert_eq!(tw.sysctl, Some(("net.ipv4.tcp_max_tw_buckets", "2000000".to_string())));
    assert_eq!(row(&r, "vm.max_map_count").status, Status::Pass, "~40 MiB a process: few maps");
    root.sysctl("net.ipv4.tcp_max_orphans", "2097152");
    root.sysctl("net.ipv4.tcp_max_tw_buckets", "2000000");
    root.sysctl("vm.max_map_count", "100");
    let r = run(root.path(), &million());
    assert_eq!(row(&r, "net.ipv4.tcp_max_orphans").status, Status::Pass);
    assert_eq!(row(&r, "TIME_WAIT at teardown").status, Status::Pass);
    assert_eq!(row(&r, "vm.max_map_count").status, Status::Warn);
    assert_eq!(thousands(1_000_000), "1,000,000");
    assert_eq!(thousands(999), "999");
}

#[test]
fn tcp_mem_is_room_for_queued_data_not_for_idle_sockets() {
    // high 575,802 pages (2.2 GiB): a million pairs (2M sockets) need a page queued on a
    // quarter of them, 1.9 GiB; idle sockets hold none (slab is the memory row's)
    let root = million_box("c1m-tcpmem");
    let r = run(root.path(), &million());
    let c = row(&r, "net.ipv4.tcp_mem");
    assert_eq!(c.status, Status::Pass, "{} / {}", c.observed, c.needed);
    assert!(c.needed.contains("idle sockets hold none"), "{}", c.needed);
    let r = run(root.path(), &Plan { connections: 3_000_000, ..million() });
    let c = row(&r, "net.ipv4.tcp_mem");
    assert_eq!(c.status, Status::Warn, "6M sockets: 5.7 GiB: {}", c.needed);
    assert_eq!(c.fix.as_deref(), Some("raise net.ipv4.tcp_mem (pages): sysctl -w net.ipv4.tcp_mem=\"753664 1004884 1507328\""));
}

#[test]
fn memory_counts_a_local_server_too() {
    let root = million_box("c1m-mem");
    let local = run(root.path(), &million());
    let remote = run(root.path(), &Plan { target_is_local: false, ..million() });
    assert!(row(&local, "memory").needed.contains("local server"), "{}", row(&local, "memory").needed);
    assert!(!row(&remote, "memory").needed.contains("local server"));
}

#[test]
fn auto_processes_and_sources_follow_the_fd_limit_and_the_port_range() {
    let root = million_box("c1m-auto");
    let host = Host::read(root.path());
    assert_eq!(auto_processes(&host, 1_000_000), 51, "19,936 connections a process under 20,000 fds");
    assert_eq!(auto_processes(&host, 1_000), 1);
    assert_eq!(auto_sources(&host, 1_000_000), 71, "half of 28,232 ports an address");
    assert_eq!(auto_sources(&host, 20_000), 1, "one address is enough: the default source");
    assert!(auto_source_addrs(1).is_empty());
    let addrs = auto_source_addrs(3);
    assert_eq!(addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(), ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    assert_eq!(auto_source_addrs(1000).len(), 250, "at most 127.0.0.2-127.0.0.251");
}

#[test]
fn serve_plans_its_processes_from_the_fd_limit_or_refuses_with_the_fix() {
    let root = million_box("c1m-serve");
    let host = Host::read(root.path());
    let p = serve_plan(&host, 1_000_000, 0, None).unwrap();
    assert_eq!((p.processes, p.fds_per_process), (51, 19_608), "auto: 19,936 connections a process under 20,000 fds");
    assert_eq!((p.kernel_bytes, p.user_bytes), (1_000_000 * 5325, 1_000_000 * SERVE_IDLE_CONN_BYTES), "the server's ends only");
    assert_eq!(
        p.line,
        "1,000,000 connections: 51 processes × 19,608 fds, kernel memory ~5.3 GB, user ~3.6 GB: fits in MemAvailable 23.1 GB"
    );
    assert_eq!(serve_plan(&host, 1_000_000, 60, None).unwrap().processes, 60, "more than needed is fine");
    let few = serve_plan(&host, 1_000_000, 10, None).unwrap_err();
    assert!(few.starts_with("10 server processes hold at most 199,360 connections under the open-files hard limit of 20,000 per process; 1,000,000 need 51: use --processes 51 (or auto)"), "{few}");
    let budget = serve_plan(&host, 50, 0, Some(20)).unwrap();
    assert_eq!((budget.processes, budget.fds_per_process), (3, 17));
    let many = serve_plan(&host, 10_000_000, 0, None).unwrap_err();
    assert!(many.starts_with("10,000,000 connections need 502 server processes under the open-files hard limit of 20,000 per process; at most 256: raise the open-files hard limit"), "{many}");
    let big = serve_plan(&host, 5_000_000, 0, None).unwrap_err();
    assert!(big.contains("does not fit in MemAvailable 23.1 GB, 21.4 GB short: plan at most ~2,592,883 connections"), "{big}");
}
