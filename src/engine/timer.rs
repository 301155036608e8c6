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
//! [`Pacing::Spin`] arms the fd [`SPIN_NS`] early and the task spins (bounded) to the deadline:
//! send times then do not depend on how fast the kernel wakes an idle thread, at the price of
//! that spinning. Nothing here runs per request in closed loop or pipelined (they never wait);
//! never use it across threads.

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

/// The timer slack the worker threads ask for (the kernel's default is 50 µs).
pub const TIMER_SLACK_NS: u64 = 1_000;
/// Spin mode: how long before a deadline the fd wakes the worker, which spins the rest.
pub const SPIN_NS: u64 = 50_000;
/// Sleep mode: a deadline this close when the timer task runs is spun to, not re-armed (the
/// round trip through the kernel would take longer).
const NEAR_NS: u64 = 2_000;
/// A spin never lasts longer than this, whatever the clock does.
const SPIN_BOUND_NS: u64 = 2 * SPIN_NS;

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

    /// Marks every waiter due at `now` fired, earliest first, and hands its waker to `wake`.
    pub fn fire_due(&mut self, now: u64, mut wake: impl FnMut(W)) {
        while self.earliest().is_some_and(|d| d <= now) {
            self.fire_top(&mut wake);
        }
    }

    /// Fires every pending waiter, due or not (the run stopped).
    pub fn fire_all(&mut self, mut wake: impl FnMut(W)) {
        while self.earliest().is_some() {
            self.fire_top(&mut wake);
        }
    }

    fn fire_top(&mut self, wake: &mut impl FnMut(W)) {
        if let Some(Reverse((_, seq, slot))) = self.heap.pop() {
            if let Slot::Waiting { waker, .. } = std::mem::replace(&mut self.slots[slot], Slot::Fired { seq }) {
                wake(waker);
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
    mode: Pacing,
    waiters: RefCell<Timers<Waker>>,
    /// The deadline the fd is armed for (`u64::MAX`: none).
    armed: Cell<u64>,
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
            mode,
            waiters: RefCell::new(Timers::default()),
            armed: Cell::new(u64::MAX),
            offset_ns: monotonic_offset(),
            closed: Cell::new(false),
            due: RefCell::new(Vec::new()),
        });
        monoio::spawn(drive(Rc::clone(&timer)));
        Ok(timer)
    }

    pub fn mode(&self) -> Pacing {
        self.mode
    }

    /// A future ready at clock time `deadline_ns` (never before), or when [`Timer::wake_all`]
    /// runs.
    pub fn sleep_until(&self, deadline_ns: u64) -> Sleep<'_> {
        Sleep { timer: self, deadline: deadline_ns, key: None }
    }

    /// Wakes every waiter now (the run stopped): each finds its sleep over early.
    pub fn wake_all(&self) {
        let mut due = self.due.borrow_mut();
        self.waiters.borrow_mut().fire_all(|w| due.push(w));
        for w in due.drain(..) {
            w.wake();
        }
    }

    /// Wakes every waiter and ends the timer's task (the worker is done).
    pub fn close(&self) {
        self.closed.set(true);
        self.wake_all();
        self.arm(Some(0));
    }

    /// Arms the fd for `deadline` (clock ns; spin mode: [`SPIN_NS`] before it), `None` disarms.
    fn arm(&self, deadline: Option<u64>) {
        let early = match self.mode {
            Pacing::Spin => SPIN_NS,
            Pacing::Sleep => 0,
        };
        let at = deadline.map(|d| (d.saturating_sub(early) as i128 + self.offset_ns).max(1) as u64);
        // A failure leaves the fd as it was: sleepers then wake at the next arming, or at the
        // run's end (an fd this process owns does not fail to arm in practice).
        let _ = crate::sys::timerfd_arm(self.raw, at);
        self.armed.set(deadline.unwrap_or(u64::MAX));
    }

    /// The fd fired: wakes the due waiters (spinning first to a deadline close enough) and
    /// re-arms for the next one.
    fn on_fire(&self) {
        let mut due = self.due.borrow_mut();
        {
            let mut waiters = self.waiters.borrow_mut();
            let now = clock::now_ns();
            let next = waiters.earliest();
            let spin = match self.mode {
                Pacing::Spin => SPIN_NS,
                Pacing::Sleep => NEAR_NS,
            };
            let now = match next {
                Some(d) if d > now && d - now <= spin => spin_to(d, now),
                Some(_) | None => now,
            };
            waiters.fire_due(now, |w| due.push(w));
            // Armed even when the next deadline is already close: the waiters just woken run
            // first, then the fd fires again.
            self.arm(waiters.earliest());
        }
        for w in due.drain(..) {
            w.wake();
        }
    }

    /// A new waiter for `deadline`: the fd is re-armed when it is the earliest.
    fn register(&self, deadline: u64, waker: Waker) -> Key {
        let key = self.waiters.borrow_mut().insert(deadline, waker);
        if deadline < self.armed.get() {
            self.arm(Some(deadline));
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

/// The task that reads the timerfd through the runtime until the timer closes.
async fn drive(timer: Rc<Timer>) {
    while !timer.closed.get() {
        if timer.fd.readable(false).await.is_err() {
            // The fd cannot be polled: fall back to the runtime's millisecond wheel, so that
            // sleepers still wake, late, rather than never.
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        timer.on_fire();
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
        if clock::now_ns() >= self.deadline || timer.closed.get() {
            return Poll::Ready(());
        }
        self.key = Some(timer.register(self.deadline, cx.waker().clone()));
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
