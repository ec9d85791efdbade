//! Locks, rlocks and semaphores.
//!
//! A `Mutex` is a lock (`reentrant: false`: any process may release it, as in
//! Python) or an rlock (owned: only its owner releases, and it counts
//! re-entries). A semaphore remembers how many units each process holds, so
//! the units of a process that dies come back.

use std::collections::HashMap;

use super::Applied;
use crate::shm::{LockWord, Released, SharedWord};
use crate::wire::{ObjectId, Op, ProcId, Value};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Mutex {
    reentrant: bool,
    /// Kept as its value when the object is stored elsewhere (a cluster
    /// run's objects, in Redis): then it is the hub's own word.
    #[serde(with = "word_value")]
    word: SharedWord,
}

impl Mutex {
    pub fn new(reentrant: bool, word: SharedWord) -> Self {
        Mutex { reentrant, word }
    }

    fn noun(&self) -> &'static str {
        if self.reentrant { "rlock" } else { "lock" }
    }

    fn word(&self) -> LockWord<'_> {
        LockWord::new(&self.word, self.reentrant)
    }

    /// Takes the lock for `who` at `depth`; when someone else has it, marks
    /// that a process waits (the caller parks) and returns false.
    pub fn acquire_or_wait(&mut self, who: ProcId, depth: u64) -> bool {
        self.word().acquire_or_mark_waiting(who, depth)
    }

    /// True when `who` holds it.
    pub fn is_held_by(&self, who: ProcId) -> bool {
        self.word().is_held_by(who)
    }

    /// Frees it completely and says how deep it was held.
    pub fn release_all(&mut self) -> u64 {
        self.word().release_all()
    }

    /// Nobody is parked on it any more: holders may release it on their own.
    pub fn unwatched(&mut self) {
        self.word().clear_waiting();
    }

    pub fn apply(&mut self, id: ObjectId, who: ProcId, op: Op) -> Applied {
        match op {
            Op::Acquire if self.acquire_or_wait(who, 1) => Applied::done(Value::Bool(true)),
            Op::Acquire => Applied::blocked(Op::Acquire, id),
            Op::Release => self.release(id, who),
            Op::IsLocked => Applied::done(Value::Bool(self.word().is_locked())),
            // The last step of a condition's wait: take the lock back at the
            // depth it was held, then answer whether it was notified.
            Op::CondReacquire { depth, notified } if self.acquire_or_wait(who, depth) => {
                Applied::done(Value::Bool(notified))
            }
            op @ Op::CondReacquire { .. } => Applied::blocked(op, id),
            other => Applied::invalid(format!("a {} has no operation {other:?}", self.noun())),
        }
    }

    fn release(&mut self, id: ObjectId, who: ProcId) -> Applied {
        // The hub's release never answers `ThroughHub`.
        let released = self.word().release(who, true);
        match released.refusal(self.noun()) {
            Some(refusal) => Applied::invalid(refusal),
            None if released == Released::Free => Applied::changed(Value::Unit, id),
            None => Applied::done(Value::Unit),
        }
    }

    pub fn forget(&mut self, id: ObjectId, who: ProcId) -> Option<String> {
        if !self.is_held_by(who) {
            return None;
        }
        self.release_all();
        Some(format!("holding {} #{id}; it passes on", self.noun()))
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Semaphore {
    value: u64,
    initial: u64,
    bounded: bool,
    held: HashMap<ProcId, u64>,
}

impl Semaphore {
    pub fn new(value: u64, bounded: bool) -> Self {
        Semaphore {
            value,
            initial: value,
            bounded,
            held: HashMap::new(),
        }
    }

    pub fn apply(&mut self, id: ObjectId, who: ProcId, op: Op) -> Applied {
        match op {
            Op::Acquire if self.value > 0 => {
                self.value -= 1;
                *self.held.entry(who).or_default() += 1;
                Applied::done(Value::Bool(true))
            }
            Op::Acquire => Applied::blocked(Op::Acquire, id),
            Op::Release if self.bounded && self.value >= self.initial => Applied::invalid(format!(
                "release: a bounded semaphore cannot go above its initial value {}",
                self.initial
            )),
            Op::Release => {
                self.value += 1;
                // The unit comes from the releaser if it holds one, else from
                // some holder: a dead holder's units must not come back twice.
                let from = if self.held.contains_key(&who) {
                    Some(who)
                } else {
                    self.held.keys().min().copied()
                };
                if let Some(holder) = from
                    && let Some(n) = self.held.get_mut(&holder)
                {
                    *n -= 1;
                    if *n == 0 {
                        self.held.remove(&holder);
                    }
                }
                Applied::changed(Value::Unit, id)
            }
            Op::SemaphoreValue => Applied::done(Value::Int(self.value as i64)),
            other => Applied::invalid(format!("a semaphore has no operation {other:?}")),
        }
    }

    pub fn forget(&mut self, id: ObjectId, who: ProcId) -> Option<String> {
        let units = self.held.remove(&who)?;
        self.value += units;
        if self.bounded {
            self.value = self.value.min(self.initial);
        }
        Some(format!(
            "holding {units} unit(s) of semaphore #{id}; they are released"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Outcome;

    fn value(a: Applied) -> Value {
        match a.outcome {
            Ok(Outcome::Done(v)) => v,
            other => panic!("expected a value, got {other:?}"),
        }
    }

    #[test]
    fn an_rlock_counts_reentries_and_only_its_owner_releases() {
        let mut r = Mutex::new(true, SharedWord::Private(Box::default()));
        assert_eq!(value(r.apply(1, 10, Op::Acquire)), Value::Bool(true));
        assert_eq!(value(r.apply(1, 10, Op::Acquire)), Value::Bool(true));
        assert!(matches!(
            r.apply(1, 11, Op::Acquire).outcome,
            Ok(Outcome::Blocked { .. })
        ));
        assert!(r.apply(1, 11, Op::Release).outcome.is_err());
        assert!(
            r.apply(1, 10, Op::Release).changed.is_empty(),
            "still held once"
        );
        assert_eq!(r.apply(1, 10, Op::Release).changed, vec![1]);
        assert!(r.apply(1, 10, Op::Release).outcome.is_err());
    }

    #[test]
    fn a_dead_holders_semaphore_units_come_back() {
        let mut s = Semaphore::new(2, true);
        value(s.apply(1, 10, Op::Acquire));
        value(s.apply(1, 10, Op::Acquire));
        assert!(matches!(
            s.apply(1, 11, Op::Acquire).outcome,
            Ok(Outcome::Blocked { .. })
        ));
        assert!(s.forget(1, 10).unwrap().contains("2 unit"));
        assert_eq!(value(s.apply(1, 11, Op::SemaphoreValue)), Value::Int(2));
        assert!(
            s.apply(1, 11, Op::Release).outcome.is_err(),
            "bounded: cannot exceed 2"
        );
    }
}

/// A lock word stored as its value, read back as a word of the hub's own
/// memory (nothing else maps an object that was stored away).
mod word_value {
    use std::sync::atomic::{AtomicU64, Ordering};

    use serde::{Deserialize, Deserializer, Serializer};

    use crate::shm::SharedWord;

    pub fn serialize<S: Serializer>(word: &SharedWord, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_u64(word.load(Ordering::Acquire))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<SharedWord, D::Error> {
        let value = u64::deserialize(from)?;
        Ok(SharedWord::Private(Box::new(AtomicU64::new(value))))
    }
}
