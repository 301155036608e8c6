//! The worker's precise timer: one timerfd per worker under the pacer, not one per connection.
//!
//! monoio 0.2.4's timer wheel has 1 ms resolution and rounds up, so due sends would leave in
//! 1 ms batches. Here every waiter registers its deadline (clock nanoseconds) and its waker in a
//! per-worker heap ([`Timers`], pure: time is a parameter); one timerfd (`CLOCK_MONOTONIC`,
//! `TFD_TIMER_ABSTIME`, non-blocking) is armed to the earliest pending deadline and read through
//! the runtime (an io_uring poll or an epoll registration, so both drivers work) by one task per
//! worker, which wakes the waiters that are due and re-arms the fd. The worker thread's timer
//! slack is lowered to [`TIMER_SLACK_NS`].
//!
//! When to wake, and how (poll a near deadline, sleep to a far one, how early), is decided by
//! [`super::wake::Waking`], which learns this machine's wake-up latency. The time spent polling is
//! counted ([`Timer::polled_ns`]) so that the report can tell waiting for send times from work.
//! Nothing here runs per request in closed loop or pipelined (they never wait); never use it
//! across threads.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::clock;
use crate::config::Pacing;

use super::wake::{Next, Waking};

/// The timer slack the worker threads ask for (the kernel's default is 50 µs).
pub const TIMER_SLACK_NS: u64 = 1_000;
/// A spin to a near deadline never lasts longer than this, whatever the clock does.
const SPIN_BOUND_NS: u64 = 100_000;

/// A waiter's handle in [`Timers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    slot: usize,
    seq: u64,
}

/// Where a registered waiter stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    Pending,
    /// Its deadline passed (or the timer woke everyone): it may go.
    Fired,
    /// Not registered (cancelled, or its handle is stale).
    Gone,
}

enum Slot<W> {
    Free,
    Waiting { seq: u64, waker: W },
    Fired { seq: u64 },
}

/// The pending deadlines of one worker, earliest first; equal deadlines in registration order.
/// Pure: callers pass `now`; `W` is what wakes a waiter (a `Waker` at run time, anything in
/// tests). A cancelled waiter's heap entry is dropped lazily, when it reaches the top.
pub struct Timers<W> {
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slots: Vec<Slot<W>>,
    free: Vec<usize>,
    next_seq: u64,
}

impl<W> Default for Timers<W> {
    fn default() -> Self {
        Timers { heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), next_seq: 0 }
    }
}

impl<W> Timers<W> {
    /// Registers a waiter for `deadline`.
    pub fn insert(&mut self, deadline: u64, waker: W) -> Key {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Slot::Waiting { seq, waker };
                i
            }
            None => {
                self.slots.push(Slot::Waiting { seq, waker });
                self.slots.len() - 1
            }
        };
        self.heap.push(Reverse((deadline, seq, slot)));
        Key { slot, seq }
    }

    pub fn state(&self, key: Key) -> Wait {
        match self.slots.get(key.slot) {
            Some(Slot::Waiting { seq, .. }) if *seq == key.seq => Wait::Pending,
            Some(Slot::Fired { seq }) if *seq == key.seq => Wait::Fired,
            Some(Slot::Free | Slot::Waiting { .. } | Slot::Fired { .. }) | None => Wait::Gone,
        }
    }

    /// Replaces a pending waiter's waker (a future polled again by another task's waker).
    pub fn set_waker(&mut self, key: Key, w: W) {
        if let Some(Slot::Waiting { seq, waker, .. }) = self.slots.get_mut(key.slot) {
            if *seq == key.seq {
                *waker = w;
            }
        }
    }

    /// Whether the pending waiter's waker satisfies `same` (to skip a needless clone).
    pub fn waker_is(&self, key: Key, same: impl FnOnce(&W) -> bool) -> bool {
        match self.slots.get(key.slot) {
            Some(Slot::Waiting { seq, waker, .. }) if *seq == key.seq => same(waker),
            Some(Slot::Free | Slot::Waiting { .. } | Slot::Fired { .. }) | None => false,
        }
    }

    /// Forgets a waiter, pending or fired (a dropped sleep).
    pub fn remove(&mut self, key: Key) {
        if self.state(key) != Wait::Gone {
            self.slots[key.slot] = Slot::Free;
            self.free.push(key.slot);
        }
    }

    /// The earliest pending deadline.
    pub fn earliest(&mut self) -> Option<u64> {
        while let Some(&Reverse((deadline, seq, slot))) = self.heap.peek() {
            match &self.slots[slot] {
                Slot::Waiting { seq: s, .. } if *s == seq => return Some(deadline),
                Slot::Free | Slot::Waiting { .. } | Slot::Fired { .. } => {
                    self.heap.pop();
                }
            }
        }
        None
    }

    /// Marks every waiter due at `now` fired, earliest first, and hands its deadline and waker
    /// to `wake`.
    pub fn fire_due(&mut self, now: u64, mut wake: impl FnMut(u64, W)) {
        while self.earliest().is_some_and(|d| d <= now) {
            self.fire_top(&mut wake);
        }
    }

    /// Fires every pending waiter, due or not (the run stopped).
    pub fn fire_all(&mut self, mut wake: impl FnMut(u64, W)) {
        while self.earliest().is_some() {
            self.fire_top(&mut wake);
        }
    }

    fn fire_top(&mut self, wake: &mut impl FnMut(u64, W)) {
        if let Some(Reverse((deadline, seq, slot))) = self.heap.pop() {
            if let Slot::Waiting { waker, .. } = std::mem::replace(&mut self.slots[slot], Slot::Fired { seq }) {
                wake(deadline, waker);
            }
        }
    }

    /// Waiters registered and not yet removed (pending or fired).
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One worker's precise timer (see the module text). Created on the worker's thread, inside its
/// runtime; shared by its connection tasks through `Rc`.
pub struct Timer {
    fd: monoio::net::UnixStream,
    raw: RawFd,
    waking: RefCell<Waking>,
    waiters: RefCell<Timers<Waker>>,
    /// The clock time the fd is armed for (`u64::MAX`: none).
    armed: Cell<u64>,
    /// The fd expired and was not re-armed since: it reads as ready until it is.
    expired: Cell<bool>,
    /// The driving task polls (yields and looks again) instead of waiting on the fd.
    polling: Cell<bool>,
    /// Since when it polls, and for how long it polled in all (wall time).
    poll_since: Cell<Option<u64>>,
    polled_ns: Cell<u64>,
    /// A registration wants the driving task to look again now.
    kick: Cell<bool>,
    drive_waker: RefCell<Option<Waker>>,
    /// The relay task (see [`Relay`]) is asked to wake the driving task, and its waker.
    relaying: Cell<bool>,
    relay_waker: RefCell<Option<Waker>>,
    /// `CLOCK_MONOTONIC` minus `clock::now_ns`, measured once.
    offset_ns: i128,
    closed: Cell<bool>,
    /// Wakers taken out of the heap, woken once its borrow ends (reused).
    due: RefCell<Vec<Waker>>,
}

impl Timer {
    /// Creates the timerfd, lowers the thread's timer slack and spawns the task that reads the
    /// fd. Must run inside the worker's runtime.
    pub fn start(mode: Pacing) -> io::Result<Rc<Timer>> {
        let fd = crate::sys::timerfd()?;
        let raw = fd.as_raw_fd();
        // The fd is no socket: monoio only polls it for readability, never reads or writes it.
        let fd = monoio::net::UnixStream::from_std(std::os::unix::net::UnixStream::from(fd))?;
        // Best effort: a kernel that refuses keeps its 50 µs default.
        let _ = crate::sys::set_timer_slack(TIMER_SLACK_NS);
        let timer = Rc::new(Timer {
            fd,
            raw,
            waking: RefCell::new(Waking::new(mode)),
            waiters: RefCell::new(Timers::default()),
            armed: Cell::new(u64::MAX),
            expired: Cell::new(false),
            polling: Cell::new(false),
            poll_since: Cell::new(None),
            polled_ns: Cell::new(0),
            kick: Cell::new(false),
            drive_waker: RefCell::new(None),
            relaying: Cell::new(false),
            relay_waker: RefCell::new(None),
            offset_ns: monotonic_offset(),
            closed: Cell::new(false),
            due: RefCell::new(Vec::new()),
        });
        monoio::spawn(Drive { timer: Rc::clone(&timer), wait: None, broken: false });
        monoio::spawn(Relay { timer: Rc::clone(&timer) });
        Ok(timer)
    }

    pub fn mode(&self) -> Pacing {
        self.waking.borrow().mode()
    }

    /// Wall time the timer spent polling for near deadlines (see [`super::wake`]): CPU the
    /// worker used waiting for send times, not working.
    pub fn polled_ns(&self) -> u64 {
        let open = self.poll_since.get().map_or(0, |s| clock::now_ns().saturating_sub(s));
        self.polled_ns.get() + open
    }

    /// A future ready at clock time `deadline_ns` (never before), or when [`Timer::wake_all`]
    /// runs.
    pub fn sleep_until(&self, deadline_ns: u64) -> Sleep<'_> {
        Sleep { timer: self, deadline: deadline_ns, key: None }
    }

    /// Wakes every waiter now (the run stopped): each finds its sleep over early.
    pub fn wake_all(&self) {
        let mut due = self.due.borrow_mut();
        self.waiters.borrow_mut().fire_all(|_, w| due.push(w));
        for w in due.drain(..) {
            w.wake();
        }
    }

    /// Wakes every waiter and ends the timer's task (the worker is done).
    pub fn close(&self) {
        self.closed.set(true);
        self.wake_all();
        self.stop_polling(clock::now_ns());
        self.kick_driver();
        if let Some(w) = self.relay_waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Arms the fd for clock time `at`; `None` disarms. Either way the fd reads as not ready.
    fn arm(&self, at: Option<u64>) {
        let mono = at.map(|d| (d as i128 + self.offset_ns).max(1) as u64);
        // A failure leaves the fd as it was: sleepers then wake at the next arming, or at the
        // run's end (an fd this process owns does not fail to arm in practice).
        let _ = crate::sys::timerfd_arm(self.raw, mono);
        self.armed.set(at.unwrap_or(u64::MAX));
        self.expired.set(false);
    }

    fn start_polling(&self, now: u64) {
        self.polling.set(true);
        if self.poll_since.get().is_none() {
            self.poll_since.set(Some(now));
        }
    }

    fn stop_polling(&self, now: u64) {
        self.polling.set(false);
        if let Some(s) = self.poll_since.take() {
            self.polled_ns.set(self.polled_ns.get() + now.saturating_sub(s));
        }
    }

    /// Stores the driving task's waker (unless it is the one stored).
    fn keep_drive_waker(&self, cx: &Context<'_>) {
        let mut w = self.drive_waker.borrow_mut();
        if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *w = Some(cx.waker().clone());
        }
    }

    fn kick_driver(&self) {
        self.kick.set(true);
        if let Some(w) = self.drive_waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Fires every due waiter (spinning first to a deadline close enough) and says what the
    /// driving task does next.
    fn step(&self) -> Next {
        let mut due = self.due.borrow_mut();
        let next = loop {
            let now = clock::now_ns();
            let mut waiters = self.waiters.borrow_mut();
            let mut waking = self.waking.borrow_mut();
            waiters.fire_due(now, |d, w| {
                waking.fired(d);
                due.push(w);
            });
            match waking.plan(now, waiters.earliest()) {
                Next::SpinTo(d) => {
                    spin_to(d, now);
                }
                next @ (Next::Idle | Next::Poll | Next::Sleep(_)) => break next,
            }
        };
        for w in due.drain(..) {
            w.wake();
        }
        next
    }

    /// A new waiter for `deadline` (`now`: the clock its sleep just read): when it is the earliest, the fd is re-armed for it, or the
    /// driving task told to poll.
    fn register(&self, deadline: u64, waker: Waker, now: u64) -> Key {
        let mut waiters = self.waiters.borrow_mut();
        let key = waiters.insert(deadline, waker);
        if !self.polling.get() && waiters.earliest() == Some(deadline) {
            match self.waking.borrow().plan(now, Some(deadline)) {
                Next::Sleep(at) if at < self.armed.get() && !self.expired.get() => self.arm(Some(at)),
                Next::Sleep(_) | Next::Idle => {}
                Next::SpinTo(_) | Next::Poll => self.kick_driver(),
            }
        }
        key
    }
}

/// Spins (bounded by [`SPIN_BOUND_NS`]) until the clock reaches `deadline`; returns the time read
/// last.
fn spin_to(deadline: u64, mut now: u64) -> u64 {
    let give_up = now.saturating_add(SPIN_BOUND_NS);
    while now < deadline && now < give_up {
        std::hint::spin_loop();
        now = clock::now_ns();
    }
    now
}

/// `CLOCK_MONOTONIC` minus `clock::now_ns()` (both read the same clock from different origins):
/// the reading bracketed most tightly of a few.
fn monotonic_offset() -> i128 {
    let mut best = (u64::MAX, 0i128);
    for _ in 0..5 {
        let a = clock::now_ns();
        let m = crate::sys::monotonic_ns();
        let b = clock::now_ns();
        if b - a < best.0 {
            best = (b - a, m as i128 - (a as i128 + (b - a) as i128 / 2));
        }
    }
    best.1
}

/// The task that drives the timer until it closes: fires due waiters, then polls (yields and
/// looks again), or waits on the fd armed for the next wake, or for a registration.
struct Drive {
    timer: Rc<Timer>,
    /// The fd's readiness being awaited (kept across a kick: cancelling it would cost an op).
    wait: Option<Pin<Box<dyn Future<Output = io::Result<()>>>>>,
    /// The fd cannot be polled: the runtime's millisecond wheel stands in, so that sleepers
    /// still wake, late, rather than never.
    broken: bool,
}

impl Drive {
    fn new_wait(&self) -> Pin<Box<dyn Future<Output = io::Result<()>>>> {
        if self.broken {
            return Box::pin(async {
                monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                Ok(())
            });
        }
        let t = Rc::clone(&self.timer);
        Box::pin(async move { t.fd.readable(false).await })
    }
}

impl Future for Drive {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let t = Rc::clone(&self.timer);
        // Whether this call already took a polling turn (see `Next::Poll` below).
        let mut turned = false;
        loop {
            if t.closed.get() {
                return Poll::Ready(());
            }
            if let Some(wait) = self.wait.as_mut() {
                match wait.as_mut().poll(cx) {
                    Poll::Ready(r) => {
                        self.wait = None;
                        self.broken |= r.is_err();
                        let armed = t.armed.replace(u64::MAX);
                        t.expired.set(true);
                        if !t.polling.get() && armed != u64::MAX {
                            t.waking.borrow_mut().woke(armed, clock::now_ns());
                        }
                    }
                    // Told to look again: on to the heap (the wait stays).
                    Poll::Pending => {
                        if !t.kick.get() {
                            t.keep_drive_waker(cx);
                            return Poll::Pending;
                        }
                    }
                }
            }
            t.kick.set(false);
            match t.step() {
                // A polling turn is a wait on the fd made ready at once: on io_uring the poll
                // completes as the runtime enters the kernel for its other I/O, which also
                // delivers the completions a DEFER_TASKRUN ring holds back until asked (a task
                // that merely yielded would keep the runtime from ever asking). When the fd
                // answers at once (epoll: its readiness is known), the turn yields through the
                // relay instead: a task that wakes itself is run again first (monoio queues it
                // in front), which would starve the connections; the relay wakes it behind them.
                Next::Poll => {
                    t.start_polling(clock::now_ns());
                    if turned {
                        t.keep_drive_waker(cx);
                        t.relaying.set(true);
                        match t.relay_waker.borrow_mut().take() {
                            Some(w) => w.wake(),
                            None => cx.waker().wake_by_ref(),
                        }
                        return Poll::Pending;
                    }
                    turned = true;
                    if !t.expired.get() && t.armed.get() != 0 {
                        t.arm(Some(0));
                    }
                }
                Next::Sleep(at) => {
                    t.stop_polling(clock::now_ns());
                    if t.armed.get() != at || t.expired.get() {
                        t.arm(Some(at));
                    }
                }
                Next::Idle => {
                    t.stop_polling(clock::now_ns());
                    if t.armed.get() != u64::MAX || t.expired.get() {
                        t.arm(None);
                    }
                }
                // step spins to near deadlines itself; look again
                Next::SpinTo(_) => continue,
            }
            if self.wait.is_none() {
                self.wait = Some(self.new_wait());
            }
        }
    }
}

/// The driving task's way to yield behind the other ready tasks: asked (`relaying`), it wakes
/// the driving task from outside, so that monoio queues it last.
struct Relay {
    timer: Rc<Timer>,
}

impl Future for Relay {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let t = &self.timer;
        if t.closed.get() {
            return Poll::Ready(());
        }
        if t.relaying.replace(false) {
            if let Some(w) = t.drive_waker.borrow_mut().take() {
                w.wake();
            }
        }
        let mut w = t.relay_waker.borrow_mut();
        if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *w = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A wait on the worker's [`Timer`] (see [`Timer::sleep_until`]); dropping it cancels the wait.
pub struct Sleep<'a> {
    timer: &'a Timer,
    deadline: u64,
    key: Option<Key>,
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let timer = self.timer;
        if let Some(key) = self.key {
            let state = timer.waiters.borrow().state(key);
            match state {
                Wait::Pending => {
                    let mut w = timer.waiters.borrow_mut();
                    if !w.waker_is(key, |old| old.will_wake(cx.waker())) {
                        w.set_waker(key, cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                Wait::Fired | Wait::Gone => {
                    timer.waiters.borrow_mut().remove(key);
                    self.key = None;
                    return Poll::Ready(());
                }
            }
        }
        let now = clock::now_ns();
        if now >= self.deadline || timer.closed.get() {
            return Poll::Ready(());
        }
        self.key = Some(timer.register(self.deadline, cx.waker().clone(), now));
        Poll::Pending
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.timer.waiters.borrow_mut().remove(key);
        }
    }
}

#[cfg(test)]
#[path = "timer_tests.rs"]
mod tests;
