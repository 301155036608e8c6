//! A plan's stages as a worker's context records them: each stage has its own shard, and a
//! request belongs to the stage of its intended send time. When a stage ends its shard stays
//! here, still receiving the answers and failures of its requests; scenarios that know each
//! request's intended time ([`Scenario::stages_by_send`](crate::scenario::Scenario)) record
//! through [`WorkerCtx::shard_at`], so no stage counts answers it did not send.

use std::cell::RefMut;

use crate::scenario::WorkerCtx;
use crate::stats::{ErrorClass, Interval, Shard};

impl WorkerCtx {
    /// The shard of the stage a request intended at `intended_ns` belongs to.
    #[inline]
    pub fn shard_at(&self, intended_ns: u64) -> RefMut<'_, Shard> {
        self.catch_up(intended_ns);
        if intended_ns >= self.stage_start.get() {
            return self.shard.borrow_mut();
        }
        let earlier = self.earlier.borrow_mut();
        match earlier.iter().rposition(|(start, _)| *start <= intended_ns) {
            Some(i) => RefMut::map(earlier, |e| &mut e[i].1),
            // Before the first stage's recorded start: the first stage.
            None if !earlier.is_empty() => RefMut::map(earlier, |e| &mut e[0].1),
            None => {
                drop(earlier);
                self.shard.borrow_mut()
            }
        }
    }

    /// A batch of requests intended at `intended` (ascending) was written, `bytes` in all.
    pub fn on_sent_at(&self, intended: &[u64], bytes: u64) {
        if let Some(last) = intended.last() {
            self.catch_up(*last);
        }
        let k = intended.len() as u64;
        match intended.first() {
            Some(first) if *first < self.stage_start.get() => {
                for t in intended {
                    self.shard_at(*t).on_sent(1, 0);
                }
                self.shard.borrow_mut().on_bytes_written(bytes);
            }
            Some(_) | None => self.shard.borrow_mut().on_sent(k, bytes),
        }
    }

    /// The requests intended at `intended` failed with `class`.
    pub fn failed_at(&self, class: ErrorClass, intended: &[u64]) {
        if let Some(last) = intended.last() {
            self.catch_up(*last);
        }
        match intended.first() {
            Some(first) if *first < self.stage_start.get() => {
                for t in intended {
                    self.shard_at(*t).on_request_error(class, 1);
                }
            }
            Some(_) => self.shard.borrow_mut().on_request_error(class, intended.len() as u64),
            None => {}
        }
    }

    /// Ends the current stage; the next one starts at clock time `start_ns`, which must not be
    /// earlier than any intended time recorded so far ([`WorkerCtx::advance_stage`] passes the
    /// boundary, and every record by intended time catches up to it first). `by_send`: the
    /// scenario records through [`WorkerCtx::shard_at`] (the ended stage keeps its requests in
    /// flight and their answers); else the next stage carries them on (see
    /// [`Shard::split_stage`]).
    pub fn next_stage(&self, start_ns: u64, by_send: bool) {
        let mut shard = self.shard.borrow_mut();
        let mut next = shard.split_stage();
        if by_send {
            next.in_flight = 0;
        }
        let ended = std::mem::replace(&mut *shard, next);
        self.earlier.borrow_mut().push((self.stage_start.get(), ended));
        self.stage_start.set(start_ns);
    }

    /// Stages ended so far.
    pub fn stages_ended(&self) -> usize {
        self.earlier.borrow().len()
    }

    /// The second's figures since the last call, the answers to earlier stages' requests
    /// included (their open connections are the current stage's).
    pub fn take_interval(&self) -> Interval {
        let mut iv = self.shard.borrow_mut().take_interval();
        for (_, s) in self.earlier.borrow_mut().iter_mut() {
            let mut late = s.take_interval();
            late.open = 0;
            iv.merge(&late);
        }
        iv
    }

    /// Every stage's shard in order, the current one last (replaced by an empty shard).
    pub fn take_stages(&self) -> Vec<Shard> {
        let mut out: Vec<Shard> = self.earlier.take().into_iter().map(|(_, s)| s).collect();
        out.push(self.shard.replace(Shard::new()));
        out
    }
}
