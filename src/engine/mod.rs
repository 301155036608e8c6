//! Threads, pinning, one monoio runtime per core, start/stop, merging shards.
//!
//! `run` spawns one OS thread per worker, pins it, builds its runtime (io_uring, falling back to
//! epoll), releases all workers at one common start time, and lets each drive its share of the
//! connections, schedule and request budget. A worker's supervisor loop wakes every 10 ms to
//! check the stop flag, the end time and, for a run without one (`-n` alone), the no-progress
//! deadline shared by the workers ([`stall_after`]: nothing sent, answered or failed for that
//! long stops the run), samples open connections every 100 ms, and once a second
//! sends a snapshot for the live line; nothing per request crosses threads. When the workers
//! stop, their shards are merged here.
//!
//! A plan's stages drive a worker's connections through its [`WorkerCtx`]: a rate through the
//! pacer's schedule, connections through the slot profile, and a plan whose stages choose
//! their drive through both at once, each batch claimed in the mode of its stage (the design is
//! in `plan::drive`). Each stage records into its own shard, switched at the stage's end.

pub mod pacer;
pub mod profile;
pub mod runtime;
pub mod timer;
pub mod wake;

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::clock;
use crate::config::{Drive, LoadConfig};
use crate::error::{Error, Result};
use crate::net::SourcePool;
use crate::scenario::{Scenario, WorkerCtx};
use crate::stats::{Interval, Shard};
use pacer::Pacer;
use runtime::DriverKind;

/// How often a worker's supervisor checks the stop flag and the end time.
const SUPERVISOR_TICK: Duration = Duration::from_millis(10);
const SECOND_NS: u64 = 1_000_000_000;
/// How often open connections are sampled for their mean.
const OPEN_SAMPLE_NS: u64 = 100_000_000;

/// A per-second snapshot from one worker, for the live line.
pub struct Tick {
    pub worker: usize,
    pub second: u64,
    pub interval: Interval,
}

/// What a run produced, with the facts the report needs about the generator itself.
pub struct RunOutput {
    pub shard: Shard,
    /// Per stage of a plan (merged over workers), in order.
    pub stages: Vec<Shard>,
    /// Per named request of a mix (merged over workers), in the scenario's order.
    pub groups: Vec<Shard>,
    pub driver: DriverKind,
    /// Wall time from the common start to the last worker's stop.
    pub elapsed_ns: u64,
    /// CPU time of the worker threads (the generator itself, not the process: an embedded
    /// server in the same process is not counted).
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    /// Wall time the workers' precise timers polled for near send times (within the CPU above).
    pub pacing_polled_s: f64,
    /// Highest CPU share (user+sys over wall time) of any single worker thread.
    pub busiest_worker: f64,
    pub interrupted: bool,
    /// Set when the run stopped because nothing progressed for too long (see [`stall_after`]).
    pub stalled: Option<Stalled>,
    pub threads: usize,
    /// Side lines the scenario kept (ASR transcripts), all workers.
    pub notes: Vec<String>,
    /// Resident memory of the process when the workers started, and its peak during the run.
    pub rss_start: u64,
    pub rss_peak: u64,
}

/// A run without an end time (`-n` without `-d`) that stopped because nothing was sent,
/// answered or failed for [`stall_after`]: how long, and what was still pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stalled {
    /// How long nothing progressed, in whole seconds.
    pub idle_s: u64,
    /// Connection slots without a connection at the end (connecting, or backing off after a
    /// failed connect or opening), all workers.
    pub unconnected: u64,
}

/// How long a run without an end time may go without progress (a request or message sent,
/// answered or failed; an audio frame sent) before it stops: the request timeout, the connect
/// back-off ceiling and the connect timeout, plus the gap between two scheduled sends of one
/// worker in open loop. `None` for a run with a duration (it ends by itself).
pub fn stall_after(load: &LoadConfig) -> Option<Duration> {
    if load.duration.is_some() {
        return None;
    }
    let gap = load.drive.constant_rate().map_or(Duration::ZERO, |r| Duration::from_secs_f64((load.threads.max(1) as f64 / r).min(1e6)));
    Some(load.timeout + crate::net::backoff::CAP + load.connect.timeout + gap)
}

/// The last time any worker saw progress (clock ns), shared by the workers of a run. Touched
/// by each worker's supervisor once per tick, never per request.
struct Progress {
    last_ns: AtomicU64,
}

struct WorkerOut {
    shard: Shard,
    /// A plan's stages, in order (empty without a plan; fewer when the run was cut short).
    stages: Vec<Shard>,
    /// Per group of a request mix (empty for a single request).
    groups: Vec<Shard>,
    driver: DriverKind,
    end_ns: u64,
    busy: f64,
    user: f64,
    sys: f64,
    polled: f64,
    interrupted: bool,
    stalled: Option<Stalled>,
    notes: Vec<String>,
}

/// Runs `scenario` with `load` until the duration passes, the budget is spent, or `stop` is set.
/// `live`, when given, receives one [`Tick`] per worker per second.
pub fn run<S: Scenario>(scenario: Arc<S>, load: &LoadConfig, stop: Arc<AtomicBool>, live: Option<mpsc::Sender<Tick>>) -> Result<RunOutput> {
    let workers = load.threads.max(1);
    let gate = Arc::new(Barrier::new(workers + 1));
    let start_at = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Progress { last_ns: AtomicU64::new(0) });
    let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<(), String>>();

    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let shared = Shared {
            stop: Arc::clone(&stop),
            gate: Arc::clone(&gate),
            start_at: Arc::clone(&start_at),
            ready: ready_tx.clone(),
            progress: Arc::clone(&progress),
        };
        let spawned = spawn_worker(w, Arc::clone(&scenario), load.clone(), shared, live.clone());
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                // Workers already spawned wait on the gate: release them with a stop.
                stop.store(true, Ordering::Relaxed);
                let missing = workers - handles.len();
                for _ in 0..missing {
                    let _ = ready_tx.send(Err(format!("cannot spawn worker thread: {e}")));
                }
                let gate = Arc::clone(&gate);
                std::thread::spawn(move || {
                    for _ in 0..missing {
                        gate.wait();
                    }
                });
                break;
            }
        }
    }
    drop(ready_tx);

    let mut failure = None;
    for _ in 0..workers {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some("a worker thread died before starting".to_string())),
        }
    }
    if failure.is_some() {
        stop.store(true, Ordering::Relaxed);
    }
    let start_ns = clock::now_ns();
    progress.last_ns.store(start_ns, Ordering::Relaxed);
    start_at.store(start_ns, Ordering::Release);
    gate.wait();

    // Sample resident memory while the workers run: its growth over the open connections is
    // the generator's memory per connection.
    let rss_start = crate::sys::rss_bytes().unwrap_or(0);
    let mut rss_peak = rss_start;
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        rss_peak = rss_peak.max(crate::sys::rss_bytes().unwrap_or(0));
    }
    let mut outs = Vec::with_capacity(workers);
    for h in handles {
        match h.join() {
            Ok(Some(o)) => outs.push(o),
            Ok(None) => {}
            Err(_) => failure = failure.or(Some("a worker thread panicked".to_string())),
        }
    }
    if outs.is_empty() {
        return Err(Error::run(failure.unwrap_or_else(|| "no worker ran".to_string())));
    }
    if let Some(f) = &failure {
        eprintln!("stampede: warning: {f}; the report covers the workers that ran");
    }
    Ok(merge_outputs(outs, start_ns, rss_start, rss_peak))
}

/// What the workers share with the thread that starts them.
struct Shared {
    stop: Arc<AtomicBool>,
    /// Every worker and the starter meet here once all runtimes are built.
    gate: Arc<Barrier>,
    /// The common start time, set before the gate opens.
    start_at: Arc<AtomicU64>,
    /// Each worker says whether its runtime was built.
    ready: mpsc::Sender<std::result::Result<(), String>>,
    progress: Arc<Progress>,
}

/// Spawns worker `w` on its own thread, pinned to its CPU, in its own runtime.
fn spawn_worker<S: Scenario>(
    w: usize,
    scenario: Arc<S>,
    load: LoadConfig,
    shared: Shared,
    live: Option<mpsc::Sender<Tick>>,
) -> std::io::Result<std::thread::JoinHandle<Option<WorkerOut>>> {
    std::thread::Builder::new().name(format!("stampede-w{w}")).spawn(move || {
        if let Some(&cpu) = load.cpus.get(w % load.cpus.len().max(1)) {
            core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
        }
        let Shared { stop, gate, start_at, ready, progress } = shared;
        let (ready_ok, gate_in) = (ready.clone(), Arc::clone(&gate));
        let result = runtime::block_on(move || async move {
            let _ = ready_ok.send(Ok(()));
            gate_in.wait();
            worker(w, scenario, &load, start_at.load(Ordering::Acquire), Stops { stop, progress }, live).await
        });
        match result {
            Ok((driver, mut out)) => {
                out.driver = driver;
                Some(out)
            }
            Err(e) => {
                let _ = ready.send(Err(format!("worker {w} could not build its runtime: {e}")));
                gate.wait();
                None
            }
        }
    })
}

/// The workers' outputs as one: shards, stage and group shards merged, CPU and time summed.
fn merge_outputs(mut outs: Vec<WorkerOut>, start_ns: u64, rss_start: u64, rss_peak: u64) -> RunOutput {
    let mut shard = Shard::new();
    for o in &outs {
        shard.merge(&o.shard);
    }
    let mut stages: Vec<Shard> = Vec::new();
    let mut groups: Vec<Shard> = Vec::new();
    for o in &outs {
        for (i, s) in o.stages.iter().enumerate() {
            match stages.get_mut(i) {
                Some(m) => m.merge(s),
                None => stages.push(s.clone()),
            }
        }
        for (i, s) in o.groups.iter().enumerate() {
            match groups.get_mut(i) {
                Some(m) => m.merge(s),
                None => groups.push(s.clone()),
            }
        }
    }
    RunOutput {
        shard,
        stages,
        groups,
        driver: outs[0].driver,
        elapsed_ns: outs.iter().map(|o| o.end_ns).max().unwrap_or(start_ns).saturating_sub(start_ns),
        cpu_user_s: outs.iter().map(|o| o.user).sum(),
        cpu_sys_s: outs.iter().map(|o| o.sys).sum(),
        pacing_polled_s: outs.iter().map(|o| o.polled).sum(),
        busiest_worker: outs.iter().map(|o| o.busy).fold(0.0, f64::max),
        interrupted: outs.iter().any(|o| o.interrupted),
        stalled: outs
            .iter()
            .filter_map(|o| o.stalled)
            .reduce(|a, b| Stalled { idle_s: a.idle_s.max(b.idle_s), unconnected: a.unconnected + b.unconnected }),
        notes: outs.iter_mut().flat_map(|o| std::mem::take(&mut o.notes)).collect(),
        rss_start,
        rss_peak,
        threads: outs.len(),
    }
}

/// Splits `n` over `weights` by largest remainder (the parts add up to `n`).
pub fn apportion(n: u64, weights: &[f64]) -> Vec<u64> {
    let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let exact: Vec<f64> = weights.iter().map(|w| n as f64 * w / total).collect();
    let mut parts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = n.saturating_sub(parts.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    for &i in order.iter().cycle().take(weights.len() * 2) {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// One group of connections on a worker: a request of a mix, with its own share of the
/// connections, the rate and the budget, and its own stats.
struct Group {
    ctx: Rc<WorkerCtx>,
    connections: u64,
}

/// What ends a worker early: the signal flag, and the run's shared progress clock.
struct Stops {
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
}

/// What a worker has done so far that counts as progress: requests, messages and sessions
/// sent, answered or failed; chat messages; audio frames. Connect attempts and failed openings
/// are not progress (a refused port must not keep a run alive).
fn progress_count(groups: &[Group]) -> u64 {
    groups
        .iter()
        .map(|g| {
            let s = g.ctx.shard.borrow();
            let frames = s.asr().map_or(0, |a| a.frame_lag.len());
            s.sent + s.responses + s.failed + s.broadcasts() + s.deliveries() + frames
        })
        .sum()
}

/// One worker: spawns its connection tasks, then supervises until the run is over.
async fn worker<S: Scenario>(
    w: usize,
    scenario: Arc<S>,
    load: &LoadConfig,
    start_ns: u64,
    stops: Stops,
    live: Option<mpsc::Sender<Tick>>,
) -> WorkerOut {
    let Stops { stop, progress } = stops;
    let stall_ns = stall_after(load).map(|d| d.as_nanos() as u64);
    let mut seen = (0u64, start_ns);
    let mut stalled = None;
    let staged = load.drive.staged();
    let end_ns = load.duration.map(|d| start_ns.saturating_add(d.as_nanos() as u64));
    let by_send = scenario.stages_by_send();
    // One precise timer per worker; without one (no timerfd here) sleeps use the runtime's wheel.
    let timer = match timer::Timer::start(load.pacing) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("stampede: warning: worker {w}: no precise timer ({e}); open-loop sends keep 1 ms steps");
            None
        }
    };
    let mut groups = build_groups(w, scenario.weights(), by_send, load, (start_ns, end_ns), timer.as_ref());
    // Each stage of a plan records into its own shard: the supervisor switches at its end (or a
    // connection of a mixed plan first, as it claims in the new stage's mode).
    let stage_ends: Vec<u64> = staged.map_or(Vec::new(), |st| st.bounds.iter().map(|(_, _, e)| start_ns + e).collect());
    let cpu0 = crate::sys::thread_cpu();
    if !stop.load(Ordering::Relaxed) {
        for g in &groups {
            for slot in 0..g.connections {
                scenario.spawn_connection(Rc::clone(&g.ctx), slot);
            }
        }
    }
    let mut next_second = start_ns + SECOND_NS;
    let mut next_sample = start_ns + OPEN_SAMPLE_NS;
    let mut second = 0u64;
    let mut interrupted = false;
    let mut teardown_ns = 0;
    let take_interval = |groups: &[Group]| {
        let mut iv = groups[0].ctx.take_interval();
        for g in &groups[1..] {
            iv.merge(&g.ctx.shard.borrow_mut().take_interval());
        }
        iv
    };
    loop {
        let now = clock::now_ns();
        if stop.load(Ordering::Relaxed) {
            for g in &groups {
                g.ctx.stop.set(true);
            }
            if let Some(t) = &timer {
                t.wake_all();
            }
            interrupted = true;
            break;
        }
        if groups[0].ctx.past_end(now) || groups.iter().all(|g| g.ctx.live_tasks() == 0) {
            break;
        }
        if let Some(limit) = stall_ns {
            let count = progress_count(&groups);
            if count != seen.0 {
                seen = (count, now);
                progress.last_ns.fetch_max(now, Ordering::Relaxed);
            }
            let last = progress.last_ns.load(Ordering::Relaxed).max(seen.1);
            if now.saturating_sub(last) >= limit {
                let open: u64 = groups.iter().map(|g| g.ctx.shard.borrow().open_now).sum();
                let live: u64 = groups.iter().map(|g| g.ctx.live_tasks() as u64).sum();
                stalled = Some(Stalled { idle_s: now.saturating_sub(last) / SECOND_NS, unconnected: live.saturating_sub(open) });
                for g in &groups {
                    g.ctx.stop.set(true);
                }
                if let Some(t) = &timer {
                    t.wake_all();
                }
                break;
            }
        }
        for g in groups.iter_mut() {
            g.ctx.advance_stage(now);
        }
        if now >= next_sample {
            for g in &groups {
                g.ctx.shard.borrow_mut().sample_open();
            }
            next_sample += OPEN_SAMPLE_NS;
        }
        if now >= next_second {
            let interval = take_interval(&groups);
            if let Some(tx) = &live {
                let _ = tx.send(Tick { worker: w, second, interval });
            }
            second += 1;
            next_second += SECOND_NS;
        }
        let wake = end_ns.map_or(now + SUPERVISOR_TICK.as_nanos() as u64, |e| e.min(now + SUPERVISOR_TICK.as_nanos() as u64));
        monoio::time::sleep_until(monoio::time::Instant::from_std(clock::instant_at(wake))).await;
    }
    // The last, partial second still belongs to the time series.
    if let Some(tx) = &live {
        let interval = take_interval(&groups);
        let _ = tx.send(Tick { worker: w, second, interval });
    }
    let end = clock::now_ns();
    let cpu1 = crate::sys::thread_cpu();
    let wall = (end.saturating_sub(start_ns) as f64 / 1e9).max(1e-9);
    let (user, sys) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let polled = timer.as_ref().map_or(0.0, |t| t.polled_ns() as f64 / 1e9);
    if !interrupted && stalled.is_none() {
        // Connections that end with the run close their protocol (a WebSocket close and the
        // server's answer): a bounded wait for them, outside the run's time and CPU. Stopped
        // first, so that no connection starts anything new meanwhile.
        for g in &groups {
            g.ctx.stop.set(true);
        }
        if let Some(t) = &timer {
            t.wake_all();
        }
        // With an end and --close-rate, the connections close in waves: the last one's turn
        // is this process's connections / its rate after the end.
        let waves = match (end_ns, load.connect.close_rate) {
            (Some(_), Some(rate)) => (load.connections as f64 * 1e9 / rate) as u64,
            (None, _) | (_, None) => 0,
        };
        let ended = clock::now_ns();
        let settle = ended.saturating_add(crate::scenario::ws_session::CLOSE_AFTER_END_NS + waves);
        while groups.iter().any(|g| g.ctx.live_tasks() > 0) && clock::now_ns() < settle {
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        teardown_ns = end_ns.map_or(0, |e| clock::now_ns().saturating_sub(e.min(ended)));
    }
    if let Some(t) = &timer {
        t.close();
    }
    let (mut shard, stages, group_shards, notes) = collect_groups(&mut groups, !stage_ends.is_empty(), by_send);
    shard.teardown_ns = teardown_ns;
    WorkerOut {
        shard,
        stages,
        groups: group_shards,
        driver: DriverKind::Epoll,
        end_ns: end,
        busy: (user + sys - polled).max(0.0) / wall,
        user,
        sys,
        polled,
        interrupted,
        stalled,
        notes,
    }
}

/// Worker `w`'s groups (one per request of a mix, else one): each with its share of the
/// connections, the budget and the rate, its pacer and a plan's connection slots.
fn build_groups(
    w: usize,
    weights: Vec<f64>,
    by_send: bool,
    load: &LoadConfig,
    span: (u64, Option<u64>),
    timer: Option<&Rc<timer::Timer>>,
) -> Vec<Group> {
    let (start_ns, end_ns) = span;
    let workers = load.threads.max(1) as u64;
    // `hold`: heartbeats due from the end of the ramp on (none piled up while connecting).
    let sends_from = match (load.sends_after_ramp, load.connect_rate) {
        (true, Some(rate)) => start_ns.saturating_add((load.connections as f64 * 1e9 / rate) as u64),
        (false, _) | (_, None) => start_ns,
    };
    let total_weight: f64 = weights.iter().sum();
    let conns = apportion(load.connections_of(w), &weights);
    let budgets: Vec<Option<u64>> = match load.requests_of(w) {
        Some(n) => apportion(n, &weights).into_iter().map(Some).collect(),
        None => vec![None; weights.len()],
    };
    let mut groups: Vec<Group> = Vec::with_capacity(weights.len());
    for (g, weight) in weights.iter().enumerate() {
        let share = weight / total_weight;
        let pacer = match &load.drive {
            Drive::RatePlan(st) => Some(Pacer::with_profile(start_ns, Arc::new(st.profile.scaled(share)), workers, w as u64)),
            Drive::MixedPlan { mixed, .. } => Some(Pacer::with_profile(start_ns, Arc::new(mixed.rates.scaled(share)), workers, w as u64)),
            Drive::Closed | Drive::Open { .. } | Drive::CountPlan { .. } => {
                load.drive.constant_rate().map(|rate_per_s| Pacer::new(sends_from, rate_per_s * share, workers, w as u64))
            }
        };
        let mut ctx = WorkerCtx::new(w, workers as usize, start_ns, end_ns, pacer, budgets[g], SourcePool::new(load.sources.clone(), w));
        ctx.group = g;
        ctx.timer = timer.cloned();
        (ctx.part, ctx.parts) = (load.part, load.parts);
        ctx.slots = match &load.drive {
            Drive::CountPlan { staged, .. } => Some(Arc::new(staged.profile.scaled(share))),
            Drive::MixedPlan { mixed, .. } => Some(Arc::new(mixed.slots.scaled(share))),
            Drive::Closed | Drive::Open { .. } | Drive::RatePlan(_) => None,
        };
        // A mixed plan: each batch in the mode of its stage; else closed loop pauses --think.
        ctx.modes = match &load.drive {
            Drive::MixedPlan { mixed, .. } => Some(Arc::clone(&mixed.modes)),
            Drive::Closed | Drive::Open { .. } | Drive::RatePlan(_) | Drive::CountPlan { .. } => None,
        };
        ctx.think_ns = load.think.map_or(0, |t| t.as_nanos() as u64);
        ctx.by_send = by_send;
        ctx.stage_ends = load.drive.staged().map_or(Vec::new(), |st| st.bounds.iter().map(|(_, _, e)| start_ns + e).collect());
        groups.push(Group { ctx: Rc::new(ctx), connections: conns[g] });
    }
    groups
}

/// Per group: its stages in order, and its whole; the worker's figures add the groups up.
/// Returns the worker's shard, its stage shards, the groups' shards (none for a single group)
/// and the scenario's side lines.
fn collect_groups(groups: &mut [Group], staged: bool, by_send: bool) -> (Shard, Vec<Shard>, Vec<Shard>, Vec<String>) {
    let mut group_shards = Vec::with_capacity(groups.len());
    let mut stages: Vec<Shard> = Vec::new();
    let mut notes = Vec::new();
    for g in groups.iter_mut() {
        let mut own = g.ctx.take_stages();
        notes.extend(g.ctx.notes.take());
        let whole = if !staged {
            own.pop().unwrap_or_default()
        } else {
            let mut whole = Shard::new();
            for s in &own {
                whole.append(s);
            }
            if by_send {
                // Each stage keeps its own requests in flight: the run's are all of them.
                whole.in_flight = own.iter().map(|s| s.in_flight).sum();
            }
            for (i, s) in own.iter().enumerate() {
                match stages.get_mut(i) {
                    Some(m) => m.merge(s),
                    None => stages.push(s.clone()),
                }
            }
            whole
        };
        group_shards.push(whole);
    }
    let mut shard = Shard::new();
    for g in &group_shards {
        shard.merge(g);
    }
    if group_shards.len() == 1 {
        group_shards.clear(); // a single group is the whole: nothing to name
    }
    (shard, stages, group_shards, notes)
}

#[cfg(test)]
mod tests {
    use super::apportion;

    #[test]
    fn apportion_adds_up_and_follows_the_weights() {
        assert_eq!(apportion(10, &[8.0, 2.0]), vec![8, 2]);
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(apportion(3, &[0.8, 0.2]), vec![2, 1]);
        assert_eq!(apportion(0, &[1.0, 2.0]), vec![0, 0]);
        for n in [1u64, 7, 100, 1001] {
            assert_eq!(apportion(n, &[3.0, 5.0, 0.5]).iter().sum::<u64>(), n);
        }
    }
}
