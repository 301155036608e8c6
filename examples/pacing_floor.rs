//! The pacing floor of this machine: how late a pacer that does nothing but keep time would send.
//!
//! `cargo run --release --example pacing_floor -- RATE SECONDS [spin|sleep]`
//!
//! Sends nothing: it walks the same intended times as `stampede http -R RATE` with one thread
//! (`t0 + k / RATE`) and records, for each, how late the thread noticed it was due — the lateness
//! a perfect pacer would report on this CPU, with no I/O, no target and no runtime:
//! - `spin` reads the clock in a tight loop (what `--pacing spin` and the polling stretch of
//!   `--pacing sleep` do). Whatever it measures is time the thread did not run: the hypervisor
//!   taking the vCPU, interrupts, other tasks. Every gap between two clock reads above 20 µs is
//!   counted as a stall.
//! - `sleep` sleeps to each deadline (`clock_nanosleep`, timer slack 1 ns) with no early wake:
//!   the wake-up latency of an idle CPU, which is why stampede polls the last stretch.
//!
//! `scripts/bench-pacing.sh` runs it on the generator's CPU beside each rate and prints it as
//! the `floor` row, so stampede's own lateness is read against what the machine allows in the
//! same run. Prints one line: `floor MODE RATE/s sends N late_us p50 p99 p99.9 max stalls K
//! stall_ms S max_stall_us G`.
use hdrhistogram::Histogram;
use std::process::ExitCode;
use std::time::Duration;

use stampede::sys::{monotonic_ns, set_timer_slack};

/// A gap between two clock reads of the spin loop longer than this is a stall (the loop itself
/// reads the clock every ~20–50 ns).
const STALL_NS: u64 = 20_000;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Spin,
    Sleep,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [rate, secs] => parse(rate, secs, "spin"),
        [rate, secs, mode] => parse(rate, secs, mode),
        _ => Err("usage: pacing_floor RATE SECONDS [spin|sleep]".to_string()),
    };
    let (rate, secs, mode) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("pacing_floor: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = set_timer_slack(1) {
        eprintln!("pacing_floor: cannot lower the timer slack: {e}");
    }
    let period = (1e9 / rate) as u64;
    let start = monotonic_ns();
    let end = start + (secs * 1e9) as u64;
    let mut late = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    let (mut stalls, mut stall_ns, mut max_stall) = (0u64, 0u64, 0u64);
    let mut next = start + period;
    let mut last = start;
    while next < end {
        if mode == Mode::Sleep {
            let now = monotonic_ns();
            if next > now {
                std::thread::sleep(Duration::from_nanos(next - now));
            }
        }
        let now = monotonic_ns();
        let gap = now - last;
        last = now;
        if mode == Mode::Spin && gap > STALL_NS {
            stalls += 1;
            stall_ns += gap;
            max_stall = max_stall.max(gap);
        }
        // Every send due by now leaves now, as a pacer catching up would send them.
        while next <= now && next < end {
            late.saturating_record((now - next).max(1));
            next += period;
        }
    }
    let us = |q: f64| late.value_at_quantile(q) as f64 / 1e3;
    println!(
        "floor {} {rate}/s sends {} late_us {:.1} {:.1} {:.1} {:.1} stalls {stalls} stall_ms {:.1} max_stall_us {:.0}",
        if mode == Mode::Spin { "spin" } else { "sleep" },
        late.len(),
        us(0.5),
        us(0.99),
        us(0.999),
        late.max() as f64 / 1e3,
        stall_ns as f64 / 1e6,
        max_stall as f64 / 1e3,
    );
    ExitCode::SUCCESS
}

fn parse(rate: &str, secs: &str, mode: &str) -> Result<(f64, f64, Mode), String> {
    let rate: f64 = rate.parse().map_err(|_| format!("RATE must be a number of sends per second, got {rate:?}"))?;
    let secs: f64 = secs.parse().map_err(|_| format!("SECONDS must be a number, got {secs:?}"))?;
    let in_range = (0.1..=1e8).contains(&rate) && secs > 0.0 && secs <= 3600.0; // false for NaN
    if !in_range {
        return Err("RATE must be in 0.1..=1e8 and SECONDS in (0, 3600]".to_string());
    }
    let mode = match mode {
        "spin" => Mode::Spin,
        "sleep" => Mode::Sleep,
        other => return Err(format!("mode must be spin or sleep, got {other:?}")),
    };
    Ok((rate, secs, mode))
}
