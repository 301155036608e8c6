//! What one connection does, and the per-worker context its task sees.
//!
//! A scenario spawns one task per connection slot on the worker's runtime ("one task per
//! connection, never per request"). The task reads the schedule and the request budget from
//! [`WorkerCtx`] and records into the worker's own stats shard. Nothing here crosses threads:
//! `WorkerCtx` is `Rc`, its cells are plain `Cell`/`RefCell`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::engine::pacer::Pacer;
use crate::engine::timer::Timer;
use crate::net::{Lender, Run, SourcePool};
use crate::stats::Shard;

pub mod asr;
pub mod asr_rules;
pub mod chat;
pub mod chat_read;
pub mod chat_rooms;
pub mod checks;
pub mod exchange;
pub mod http;
pub mod http_template;
pub mod mix;
pub mod raw;
pub mod setup;
pub mod setup_client;
mod stages;
pub mod wire;
pub mod ws;
pub mod ws_session;

/// A connection that will wait longer than this before its next send gives its buffer back.
pub const PARK_AFTER_NS: u64 = 2_000_000;

/// A workload: how each connection behaves. Implementations are shared by all workers.
pub trait Scenario: Send + Sync + 'static {
    /// Short name for the report ("http").
    fn name(&self) -> &'static str;
    /// What the report calls the target (a URL).
    fn target(&self) -> String;
    /// How the audio was made what the server is told (ASR), for the report.
    fn audio_conversion(&self) -> Option<String> {
        None
    }
    /// Relative weights of the scenario's groups of connections (a request mix: one per named
    /// request, each with its share of connections, rate and budget, and its own stats).
    fn weights(&self) -> Vec<f64> {
        vec![1.0]
    }
    /// Names of the groups, for the report (empty: one unnamed group).
    fn group_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// Spawns the task of connection slot `slot` (of group `ctx.group`) on the current worker's runtime. The task must
    /// be spawned with [`WorkerCtx::spawn_counted`], which counts it live until it ends.
    fn spawn_connection(self: &Arc<Self>, ctx: Rc<WorkerCtx>, slot: u64);
    /// True when every request's answer or failure is recorded at its intended send time
    /// ([`WorkerCtx::shard_at`]): a plan's stages then count only the requests they sent.
    fn stages_by_send(&self) -> bool {
        false
    }
}

/// A connection task's handle on its worker's context: counts the task as live until dropped.
pub struct Live(Rc<WorkerCtx>);

impl Live {
    /// The shared context itself, for tasks that hand it on.
    pub fn rc(&self) -> &Rc<WorkerCtx> {
        &self.0
    }
}

impl std::ops::Deref for Live {
    type Target = WorkerCtx;
    fn deref(&self) -> &WorkerCtx {
        &self.0
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.task_done();
    }
}

/// Per-worker state shared by that worker's connection tasks (single thread).
pub struct WorkerCtx {
    pub index: usize,
    /// The group of connections this context drives (see [`Scenario::weights`]).
    pub group: usize,
    /// Number of workers in the run (for global slot numbering).
    pub workers: usize,
    /// The common start time of the run.
    pub start_ns: u64,
    /// Clock time at which the run ends (`None`: when the budget is spent).
    pub end_ns: Option<u64>,
    /// Set by the worker's supervisor on SIGINT/SIGTERM.
    pub stop: Cell<bool>,
    /// The current stage's shard (the run's, without a plan).
    pub shard: RefCell<Shard>,
    /// Stages of a plan that ended, with their start times, still receiving the answers to
    /// their requests (see `stages.rs`).
    earlier: RefCell<Vec<(u64, Shard)>>,
    /// Clock time the current stage started (0: the first stage, or no plan).
    stage_start: Cell<u64>,
    pacer: RefCell<Option<Pacer>>,
    /// Requests this worker may still send (`None`: unlimited).
    budget: Cell<Option<u64>>,
    pub sources: RefCell<SourcePool>,
    /// Text lines a scenario keeps for the report's side files (ASR transcripts).
    pub notes: RefCell<Vec<String>>,
    /// Read buffers lent to connections while they read (an answer is due, a message is half
    /// in): an idle connection holds none.
    buffers: Lender,
    live_tasks: Cell<usize>,
    /// A plan that drives connections or streams: slot `k` (global) is active while the
    /// profile's level is above `k`.
    pub slots: Option<Arc<crate::engine::profile::Profile>>,
    /// Requests numbered so far by this worker (`raw --seq`, templated requests).
    pub seq: Cell<u64>,
    /// A plan whose stages choose their drive: the mode of each instant (`plan::drive`).
    pub modes: Option<Arc<crate::plan::drive::StageModes>>,
    /// Closed loop without such a plan: each connection's pause after each answer (`--think`).
    pub think_ns: u64,
    /// A plan's stage ends (clock ns); the shards of the stages already over are in `earlier`.
    pub stage_ends: Vec<u64>,
    /// The scenario records each request in the stage of its intended send
    /// ([`Scenario::stages_by_send`]).
    pub by_send: bool,
    /// The worker's precise timer, shared by its groups (`None`: the runtime's 1 ms wheel).
    pub timer: Option<Rc<Timer>>,
    /// This process's part of a split run and the number of parts (0 and 1 when whole).
    pub part: u64,
    pub parts: u64,
}

/// How a connection claims its next batch at a given instant (see `plan::drive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// From the budget, sent at once; then pause until `think_until(answered)`.
    Closed { think_ns: u64, stage_end: u64 },
    /// From the schedule, only requests due before `until` (clock ns; `u64::MAX`: any).
    Open { until: u64 },
}

/// Whether a connection slot runs now, under a plan that drives connections or streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    Active,
    /// Inactive until this clock time.
    WaitUntil(u64),
    /// Never active again in this run.
    Done,
}

impl WorkerCtx {
    pub fn new(
        index: usize,
        workers: usize,
        start_ns: u64,
        end_ns: Option<u64>,
        pacer: Option<Pacer>,
        budget: Option<u64>,
        sources: SourcePool,
    ) -> WorkerCtx {
        WorkerCtx {
            index,
            group: 0,
            workers,
            start_ns,
            end_ns,
            stop: Cell::new(false),
            shard: RefCell::new(Shard::new()),
            earlier: RefCell::new(Vec::new()),
            stage_start: Cell::new(0),
            pacer: RefCell::new(pacer),
            budget: Cell::new(budget),
            sources: RefCell::new(sources),
            notes: RefCell::new(Vec::new()),
            buffers: Lender::new(),
            live_tasks: Cell::new(0),
            slots: None,
            seq: Cell::new(0),
            modes: None,
            think_ns: 0,
            stage_ends: Vec::new(),
            by_send: false,
            timer: None,
            part: 0,
            parts: 1,
        }
    }

    /// True once the run is over for this worker: stopped, past the end, or budget spent.
    pub fn finished(&self, now: u64) -> bool {
        self.stop.get() || self.end_ns.is_some_and(|e| now >= e) || self.budget.get() == Some(0)
    }

    /// True when the run has an end time and `now` is past it.
    pub fn past_end(&self, now: u64) -> bool {
        self.end_ns.is_some_and(|e| now >= e)
    }

    pub fn is_open_loop(&self) -> bool {
        self.pacer.borrow().is_some()
    }

    /// How the next batch is claimed at clock time `now`: the stage's mode in a mixed plan,
    /// else open loop exactly when there is a schedule.
    pub fn mode(&self, now: u64) -> Mode {
        let Some(m) = &self.modes else {
            return if self.is_open_loop() {
                Mode::Open { until: u64::MAX }
            } else {
                Mode::Closed { think_ns: self.think_ns, stage_end: u64::MAX }
            };
        };
        let t = now.saturating_sub(self.start_ns);
        match m.mode_at(t) {
            crate::plan::drive::Mode::Open { until } => Mode::Open { until: self.start_ns.saturating_add(until) },
            crate::plan::drive::Mode::Closed { think_ns } => {
                Mode::Closed { think_ns, stage_end: self.start_ns.saturating_add(m.stage_end(t)) }
            }
        }
    }

    /// The mode at `now` (see [`WorkerCtx::mode`]), first entering its stage in a mixed plan.
    pub fn enter(&self, now: u64) -> Mode {
        if self.modes.is_some() {
            self.advance_stage(now);
        }
        self.mode(now)
    }

    /// Closed loop: until when a connection answered at `answered` pauses (its think time, cut
    /// at the end of its stage); `None`: no pause.
    pub fn think_until(&self, answered: u64) -> Option<u64> {
        match self.mode(answered) {
            Mode::Closed { think_ns, stage_end } if think_ns > 0 => Some(answered.saturating_add(think_ns).min(stage_end)),
            Mode::Closed { .. } | Mode::Open { .. } => None,
        }
    }

    /// The plan stage this worker records into now (0 without a plan).
    pub fn stage(&self) -> usize {
        self.stages_ended()
    }

    /// Closes the shard of every stage that ended by `now`: what follows records into the next
    /// stage's. Called by the worker's supervisor each tick, and by a connection of a mixed plan
    /// before it claims (so that sends at a boundary count in their own stage, exactly).
    /// Ends every stage whose end is at or before `now`; each next one starts exactly at its
    /// boundary. Called by the worker's supervisor each tick, by a connection of a mixed plan
    /// as it claims, and before anything is recorded for a request intended at `now`
    /// ([`WorkerCtx::catch_up`]): so nothing intended at or after a boundary is ever recorded
    /// before the switch, and a request belongs to the stage of its intended send exactly, not
    /// within a supervisor tick (see `stages.rs`).
    pub fn advance_stage(&self, now: u64) {
        while self.stages_ended() + 1 < self.stage_ends.len() && now >= self.stage_ends[self.stages_ended()] {
            self.next_stage(self.stage_ends[self.stages_ended()], self.by_send);
        }
    }

    /// [`WorkerCtx::advance_stage`] for a request intended at `t`, at the cost of one length
    /// test outside plans.
    #[inline]
    pub fn catch_up(&self, t: u64) {
        if self.stage_ends.len() > 1 {
            self.advance_stage(t);
        }
    }

    /// Open loop in a mixed plan: claims the next scheduled request if it is due before
    /// `until` (the end of the open stage running now); `None` leaves it to a later stage.
    pub fn claim_before(&self, until: u64) -> Option<u64> {
        let due = self.pacer.borrow().as_ref().map(Pacer::peek)?;
        (due < until).then(|| self.claim_scheduled()).flatten()
    }

    /// Closed loop: takes up to `max` requests from the budget; returns how many were granted.
    pub fn claim(&self, max: u64) -> u64 {
        match self.budget.get() {
            None => max,
            Some(left) => {
                let k = left.min(max);
                self.budget.set(Some(left - k));
                k
            }
        }
    }

    /// Gives back `k` claimed requests that were not sent (their connection closed first), so a
    /// `-n` budget is still spent in full.
    pub fn release(&self, k: u64) {
        if let Some(left) = self.budget.get() {
            self.budget.set(Some(left + k));
        }
    }

    /// Open loop: claims the next request of the schedule; returns its intended send time.
    pub fn claim_scheduled(&self) -> Option<u64> {
        if self.claim(1) == 0 {
            return None;
        }
        self.pacer.borrow_mut().as_mut().map(Pacer::claim)
    }

    /// Open loop: claims the next request only if it is already due at `now`.
    pub fn claim_due(&self, now: u64) -> Option<u64> {
        if self.budget.get() == Some(0) {
            return None;
        }
        let t = self.pacer.borrow_mut().as_mut().and_then(|p| p.claim_due(now))?;
        self.claim(1);
        Some(t)
    }

    /// Spawns a connection task on this worker's runtime, counted as live until it ends.
    ///
    /// The task owns the [`Live`] handle it is given (its context), and the count drops with it.
    /// No wrapper future: an `async` block that awaits a captured future stores it twice, which
    /// doubled the memory of every idle connection.
    pub fn spawn_counted<F>(self: Rc<Self>, make: impl FnOnce(Live) -> F)
    where
        F: std::future::Future<Output = ()> + 'static,
    {
        self.task_started();
        monoio::spawn(make(Live(self)));
    }

    /// A read buffer of at least `cap` bytes, lent from the worker's pool.
    pub fn take_buffer(&self, cap: usize) -> Vec<u8> {
        self.buffers.take(cap)
    }

    /// Gives back a buffer of [`WorkerCtx::take_buffer`] (its bytes are dropped).
    pub fn give_buffer(&self, b: Vec<u8>) {
        self.buffers.give(b);
    }

    /// The worker's buffer lender: a connection task borrows its read (or write) buffer with
    /// [`crate::net::Loan::new`] and gives it back when it waits for bytes (see `net::lend`).
    pub fn lender(&self) -> &Lender {
        &self.buffers
    }

    pub fn task_started(&self) {
        self.live_tasks.set(self.live_tasks.get() + 1);
    }

    pub fn task_done(&self) {
        self.live_tasks.set(self.live_tasks.get().saturating_sub(1));
    }

    pub fn live_tasks(&self) -> usize {
        self.live_tasks.get()
    }

    /// Sleeps until clock time `t_ns`, or the end of the run if that comes first.
    /// Returns false when the run ended (or was stopped) before `t_ns`.
    pub async fn sleep_until(&self, t_ns: u64) -> bool {
        crate::net::dial::sleep_until(self.end_ns, &self.stop, self.timer.as_deref(), t_ns).await
    }

    /// What the transport layer needs of this worker's run (to dial, open, sleep).
    pub fn run(&self) -> Run<'_> {
        Run { end_ns: self.end_ns, stop: &self.stop, shard: &self.shard, sources: &self.sources, timer: self.timer.as_deref() }
    }

    /// Teardown in waves (`--close-rate`): global slot `k` (slot × workers + worker) closes at
    /// end + k / rate, where the ramp opened it at start + k / rate'. At once without an end or
    /// a rate, or before the end (the budget ran out first). The worker sets `stop` at the end itself (nothing new starts) and waits for the
    /// waves; on a signal it does not wait, and the connections close as its runtime ends.
    pub async fn close_turn(&self, slot: u64, rate: Option<f64>) {
        let (Some(end), Some(rate)) = (self.end_ns, rate) else { return };
        // A run that ended before its -d (its -n budget spent): each connection closes as it ends.
        if clock::now_ns() < end {
            return;
        }
        let k = slot * self.workers as u64 + self.index as u64;
        let turn = end.saturating_add((k as f64 * 1e9 / rate) as u64);
        let waiting = Cell::new(false);
        // The timer wakes every sleeper once at the end (`wake_all`): sleep again until the turn.
        while clock::now_ns() < turn {
            crate::net::dial::sleep_until(None, &waiting, self.timer.as_deref(), turn).await;
        }
    }

    /// Ramp-up: with a connect rate, global slot `k` (slot × workers + worker) opens at
    /// start + k / rate. Returns false when the run ended first.
    pub async fn ramp(&self, slot: u64, rate: Option<f64>) -> bool {
        let Some(rate) = rate else { return true };
        let k = slot * self.workers as u64 + self.index as u64;
        self.sleep_until(self.start_ns.saturating_add((k as f64 * 1e9 / rate) as u64)).await
    }

    /// Whether connection slot `slot` of this worker runs at `now` (always, without a plan that
    /// drives connections or streams).
    pub fn slot_state(&self, slot: u64, now: u64) -> SlotState {
        let Some(p) = &self.slots else { return SlotState::Active };
        let k = slot * self.workers as u64 + self.index as u64;
        match p.next_active(k, now.saturating_sub(self.start_ns)) {
            Some(t) if self.start_ns + t <= now => SlotState::Active,
            Some(t) => SlotState::WaitUntil(self.start_ns + t),
            None => SlotState::Done,
        }
    }

    /// Waits while the slot is inactive; false when it never runs again (or the run ended).
    pub async fn wait_active(&self, slot: u64) -> bool {
        loop {
            match self.slot_state(slot, clock::now_ns()) {
                SlotState::Active => return true,
                SlotState::Done => return false,
                SlotState::WaitUntil(t) => {
                    if !self.sleep_until(t).await {
                        return false;
                    }
                }
            }
        }
    }

    /// The run's one index of connection slot `slot` of this worker (`{conn}`): unique across
    /// the workers of a process and the processes or shards of a run,
    /// `(slot × workers + worker) × parts + part`, from 0.
    pub fn global_conn(&self, slot: u64) -> u64 {
        global(slot, self.index, self.workers, self.part, self.parts)
    }

    /// The run's number of this worker's `n`-th numbered request (`{seq}`): unique across the
    /// run like [`WorkerCtx::global_conn`], from 1.
    pub fn global_seq(&self, n: u64) -> u64 {
        global(n, self.index, self.workers, self.part, self.parts).wrapping_add(1)
    }

    /// Claims the numbers of the next `k` requests of this worker: the global number of the
    /// first, and the step from one to the next.
    pub fn take_seqs(&self, k: u64) -> (u64, u64) {
        let first = self.seq.get();
        self.seq.set(first + k);
        (self.global_seq(first), (self.workers as u64).wrapping_mul(self.parts.max(1)))
    }

    /// Sleeps for `d` (bounded by the end of the run); false when the run ended first.
    pub async fn sleep_for(&self, d: Duration) -> bool {
        self.sleep_until(clock::now_ns().saturating_add(d.as_nanos() as u64)).await
    }
}

/// `(n × workers + worker) × parts + part`.
fn global(n: u64, worker: usize, workers: usize, part: u64, parts: u64) -> u64 {
    n.wrapping_mul(workers as u64).wrapping_add(worker as u64).wrapping_mul(parts.max(1)).wrapping_add(part)
}
