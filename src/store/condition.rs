//! Condition variables. A condition works on a lock or rlock that lives in
//! the store as an object of its own; `LocalStore` lends it the lock for the
//! duration of one operation.
//!
//! `wait` is three steps, each a parked operation the hub retries: release
//! the lock and wait to be notified (`CondAwait`), then wait for the lock
//! (`CondReacquire`), then return whether it was notified (Python's `wait`
//! returns False on time-out, after taking the lock again).

use std::collections::{HashSet, VecDeque};

use super::Applied;
use super::locks::Mutex;
use crate::wire::{ObjectId, Op, ProcId, Value};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Condition {
    pub lock: ObjectId,
    waiting: VecDeque<ProcId>,
    notified: HashSet<ProcId>,
}

fn not_held(call: &str) -> Applied {
    Applied::invalid(format!(
        "{call}: the condition's lock is not held by this process"
    ))
}

impl Condition {
    pub fn new(lock: ObjectId) -> Self {
        Condition {
            lock,
            waiting: VecDeque::new(),
            notified: HashSet::new(),
        }
    }

    pub fn apply(&mut self, id: ObjectId, who: ProcId, op: Op, lock: &mut Mutex) -> Applied {
        let lock_id = self.lock;
        match op {
            Op::CondWait if !lock.is_held_by(who) => not_held("wait"),
            Op::CondWait => {
                let depth = lock.release_all();
                self.waiting.push_back(who);
                let mut applied = Applied::blocked(Op::CondAwait { depth }, id);
                applied.changed.push(lock_id);
                applied
            }
            Op::CondAwait { depth } if self.notified.remove(&who) => {
                reacquire(lock, lock_id, who, depth, true)
            }
            Op::CondAwait { depth } => Applied::blocked(Op::CondAwait { depth }, id),
            Op::Notify(_) if !lock.is_held_by(who) => not_held("notify"),
            Op::NotifyAll if !lock.is_held_by(who) => not_held("notify_all"),
            Op::Notify(n) => {
                let count = (n as usize).min(self.waiting.len());
                self.notified.extend(self.waiting.drain(..count));
                Applied::changed(Value::Unit, id)
            }
            Op::NotifyAll => {
                self.notified.extend(self.waiting.drain(..));
                Applied::changed(Value::Unit, id)
            }
            other => Applied::invalid(format!("a condition has no operation {other:?}")),
        }
    }

    /// A `CondAwait` reached its deadline: stop waiting for a notification,
    /// take the lock back, and answer false.
    pub fn timed_out(&mut self, who: ProcId, op: Op, lock: &mut Mutex) -> Applied {
        match op {
            Op::CondAwait { depth } => {
                self.waiting.retain(|&w| w != who);
                let notified = self.notified.remove(&who);
                reacquire(lock, self.lock, who, depth, notified)
            }
            Op::CondReacquire { depth, notified } => {
                reacquire(lock, self.lock, who, depth, notified)
            }
            other => Applied::invalid(format!("a condition has no time-out for {other:?}")),
        }
    }

    pub fn forget(&mut self, who: ProcId) {
        self.waiting.retain(|&w| w != who);
        self.notified.remove(&who);
    }
}

fn reacquire(
    lock: &mut Mutex,
    lock_id: ObjectId,
    who: ProcId,
    depth: u64,
    notified: bool,
) -> Applied {
    if lock.acquire_or_wait(who, depth) {
        Applied::done(Value::Bool(notified))
    } else {
        Applied::blocked(Op::CondReacquire { depth, notified }, lock_id)
    }
}
