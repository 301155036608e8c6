//! What became of answers judged beyond their framing: failed statuses (by code) and checks
//! (by name). The hot path passes a [`Judged`] per answer; without checks nothing is counted
//! here but a failed status.

use std::sync::Arc;

use super::ErrorClass;

/// How an answer was judged by its scenario (HTTP: `--ok-status` and the checks).
#[derive(Clone, Copy, Debug)]
pub struct Judged<'a> {
    /// Why the request failed although answered (`status`, `check_failed`), or `None`: ok.
    pub failed: Option<ErrorClass>,
    /// The names of the checks run on the answer (empty: no checks).
    pub checks: &'a [Arc<str>],
    /// Bit `i` set: check `i` failed.
    pub checks_failed: u32,
}

impl Judged<'static> {
    /// An answer that is a success, with no checks.
    pub const OK: Judged<'static> = Judged { failed: None, checks: &[], checks_failed: 0 };
}

/// Answers checked, passing every check, and failures per check name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckCounts {
    pub checked: u64,
    pub passed: u64,
    /// (check name, answers that failed it), in the order first seen.
    pub failed: Vec<(Arc<str>, u64)>,
}

impl CheckCounts {
    /// One answer went through `names`; bit `i` of `mask` set: check `i` failed.
    pub fn record(&mut self, names: &[Arc<str>], mask: u32) {
        self.checked += 1;
        if mask == 0 {
            self.passed += 1;
            return;
        }
        for (_, name) in names.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0) {
            self.add(name, 1);
        }
    }

    /// `n` more failures of the check `name` (its first failure in this shard clones the name).
    pub fn add(&mut self, name: &Arc<str>, n: u64) {
        match self.failed.iter_mut().find(|(k, _)| Arc::ptr_eq(k, name) || **k == **name) {
            Some((_, c)) => *c += n,
            None => self.failed.push((Arc::clone(name), n)),
        }
    }

    pub fn merge(&mut self, o: &CheckCounts) {
        self.checked += o.checked;
        self.passed += o.passed;
        for (name, n) in &o.failed {
            self.add(name, *n);
        }
    }

    /// Share of checked answers that passed every check, in %; `None` when nothing was checked.
    pub fn pass_pct(&self) -> Option<f64> {
        (self.checked > 0).then(|| 100.0 * self.passed as f64 / self.checked as f64)
    }
}
