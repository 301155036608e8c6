//! `--monitor-pid PID`: samples a local target process's CPU and resident memory once a second
//! while the run goes on, so the report can say whether the target was busy, full or gone —
//! the figures our users judged "crashed or just full" by. Linux /proc only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::stats::timeline::{MonitorSample, MonitorSeries};

/// The sampler thread; [`Monitor::finish`] stops it and returns the series.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<MonitorSeries>>>,
}

/// CPU time (user + system) of a process in seconds, and its RSS in bytes.
pub fn read(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name and state.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let hz = clock_ticks();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks as f64 / hz, rss_kb * 1024))
}

fn clock_ticks() -> f64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100);
    hz.max(1) as f64
}

/// The process's name (`comm`), or an empty string.
pub fn name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_string()).unwrap_or_default()
}

impl Monitor {
    /// Starts sampling `pids` every second (no thread when there is none).
    pub fn start(pids: &[u32]) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        if pids.is_empty() {
            return Monitor { stop, handle: None };
        }
        let (flag, pids) = (Arc::clone(&stop), pids.to_vec());
        let handle = std::thread::Builder::new().name("stampede-monitor".into()).spawn(move || sample(&pids, &flag)).ok();
        Monitor { stop, handle }
    }

    pub fn finish(self) -> Vec<MonitorSeries> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

fn sample(pids: &[u32], stop: &AtomicBool) -> Vec<MonitorSeries> {
    let t0 = Instant::now();
    let mut series: Vec<MonitorSeries> =
        pids.iter().map(|&pid| MonitorSeries { pid, name: name(pid), samples: Vec::new(), exited_at_s: None }).collect();
    let mut last: Vec<Option<(f64, f64)>> = pids.iter().map(|&p| read(p).map(|(cpu, _)| (0.0, cpu))).collect();
    let mut next = t0 + Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        next += Duration::from_secs(1);
        let t = t0.elapsed().as_secs_f64();
        for (i, s) in series.iter_mut().enumerate() {
            if s.exited_at_s.is_some() {
                continue;
            }
            match (read(s.pid), last[i]) {
                (Some((cpu, rss)), Some((t_prev, cpu_prev))) => {
                    let pct = (cpu - cpu_prev) / (t - t_prev).max(1e-3) * 100.0;
                    s.samples.push(MonitorSample { t_s: t, cpu_pct: pct.max(0.0), rss_bytes: rss });
                    last[i] = Some((t, cpu));
                }
                (Some((cpu, _)), None) => last[i] = Some((t, cpu)),
                (None, _) => s.exited_at_s = Some(t),
            }
        }
    }
    series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_sees_its_cpu() {
        let me = std::process::id();
        let (cpu0, rss) = read(me).expect("/proc/self is readable");
        assert!(rss > 1024 * 1024, "{rss}");
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(300) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let (cpu1, _) = read(me).unwrap();
        assert!(cpu1 > cpu0, "{cpu0} -> {cpu1}");
        assert!(!name(me).is_empty());
        assert!(read(u32::MAX - 1).is_none(), "no such process");
    }
}
