//! The shared objects every process sees: queues, locks, rlocks, semaphores,
//! events, conditions, barriers, values, dicts, lists and pipes.
//!
//! `ObjectStore` is the whole interface the hub uses: `LocalStore` keeps
//! the objects in the hub's memory and this machine's shared memory;
//! `RedisStore` keeps a cluster run's in Redis, with the same code for
//! each kind. It is small on purpose: create an
//! object, apply an operation, settle a time-out, forget a dead process,
//! free an object nobody can reach (the hub decides when, see `hub::core::refs`).
//!
//! The store never waits on a process and never talks to one (`RedisStore`
//! waits on Redis, as the lease does, for a bounded time). An operation that
//! cannot complete now comes back as `Outcome::Blocked`, naming the object
//! whose change could let it through; the hub parks it there and applies it
//! again whenever the store reports that object `changed`. One that found
//! the object's shared memory held by a process comes back as
//! `Outcome::Busy`, having changed nothing: the store never waits on shared
//! memory, and treats what it reads there as untrusted input.

mod barrier;
mod condition;
mod list;
mod local;
mod locks;
mod pipe;
mod queue;
mod redis;
mod shared;

pub use local::LocalStore;
pub use redis::RedisStore;

use std::time::Instant;

use crate::wire::{ErrorKind, HubError, NewObject, ObjectId, ObjectKind, Op, ProcId, Value};

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Done(Value),
    /// Try `op` again when `on` changes.
    Blocked {
        op: Op,
        on: ObjectId,
    },
    /// Another process is inside `on`'s shared memory (`held` names it):
    /// nothing changed. The hub tries `op` again after its event loop's
    /// next turn, or frees the memory first if the holder is dead; it
    /// never waits for it.
    Busy {
        op: Op,
        on: ObjectId,
        held: Holder,
    },
}

/// Who was inside an object's shared memory when the store found it held.
/// A store without shared memory never makes one; the hub sees no more of
/// shared memory than this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// What the memory's lock said, as read (whatever a process wrote
    /// there): what `free_shared_memory` takes to free it.
    pub word: u64,
    /// The process it names, when it names one the hub handed out.
    pub process: Option<ProcId>,
}

/// What applying an operation did.
#[derive(Debug, PartialEq)]
pub struct Applied {
    pub outcome: Result<Outcome, HubError>,
    /// Objects whose state changed, so that operations parked on them may now complete.
    pub changed: Vec<ObjectId>,
}

impl Applied {
    pub fn done(value: Value) -> Self {
        Applied {
            outcome: Ok(Outcome::Done(value)),
            changed: Vec::new(),
        }
    }

    pub fn changed(value: Value, id: ObjectId) -> Self {
        Applied {
            outcome: Ok(Outcome::Done(value)),
            changed: vec![id],
        }
    }

    pub fn blocked(op: Op, on: ObjectId) -> Self {
        Applied {
            outcome: Ok(Outcome::Blocked { op, on }),
            changed: Vec::new(),
        }
    }

    pub fn busy(op: Op, on: ObjectId, held: impl Into<Holder>) -> Self {
        let held = held.into();
        Applied {
            outcome: Ok(Outcome::Busy { op, on, held }),
            changed: Vec::new(),
        }
    }

    pub fn failed(kind: ErrorKind, message: impl Into<String>) -> Self {
        Applied {
            outcome: Err(HubError::new(kind, message)),
            changed: Vec::new(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::failed(ErrorKind::Invalid, message)
    }
}

/// What a dead process leaves behind.
#[derive(Debug, Default, PartialEq)]
pub struct Forgotten {
    /// What it held or was doing, for a warning: "holding lock #3".
    pub notes: Vec<String>,
    pub changed: Vec<ObjectId>,
}

/// A new object: its id, its kind, and where processes may reach it
/// directly (`Handle::Object`'s `direct`), if the store allows it.
#[derive(Debug, PartialEq)]
pub struct Created {
    pub id: ObjectId,
    pub kind: ObjectKind,
    pub direct: Option<u32>,
}

pub trait ObjectStore {
    fn create(&mut self, who: ProcId, object: NewObject) -> Result<Created, HubError>;
    /// No process can reach `id` any more (see `hub::core::refs`): drop it and
    /// give its shared memory back for a later object. False when there is
    /// no such object.
    fn free(&mut self, id: ObjectId) -> bool;
    /// Appends the object handles that `id` holds in its values (items,
    /// entries, messages, a barrier's action, a condition's lock), one per
    /// occurrence: what it keeps reachable (see `hub::core::refs`). Returns how
    /// many values it looked through, the cost of asking.
    fn handles_in(&mut self, id: ObjectId, out: &mut Vec<ObjectId>) -> usize;
    fn apply(&mut self, id: ObjectId, who: ProcId, op: Op) -> Applied;
    /// A parked `op` reached its deadline: what it answers, and the clean-up.
    fn timed_out(&mut self, id: ObjectId, who: ProcId, op: Op) -> Applied;
    /// `who` stops waiting on `op` without an answer (it is being killed, or
    /// its wait was cancelled): undo what the wait had started.
    fn withdraw(&mut self, id: ObjectId, who: ProcId, op: Op) -> Vec<ObjectId>;
    /// Nobody is parked on `id` any more (a lock then lets its holder
    /// release it without the hub).
    fn unwatched(&mut self, id: ObjectId);
    /// `who` ended: free the locks it held, break what waited on it, and,
    /// when it died `abnormally` (a signal, an error), give back the
    /// semaphore units it held (after a normal exit they stay taken, as a
    /// semaphore used as a counter needs).
    fn forget_process(&mut self, who: ProcId, abnormally: bool) -> Forgotten;
    /// `holder` (a dead process's tag, or a `Holder`'s `word`) is
    /// gone: free the shared memory it was inside, so the hub can go on.
    /// Called for a dead process before its leftover messages are handled.
    fn free_shared_memory(&mut self, holder: u64);
    /// The hub keeps operations on `id` that found its shared memory held
    /// (`on`), or no longer does: while it does, processes must not put or
    /// push around them.
    fn set_hub_first(&mut self, id: ObjectId, on: bool);
    /// Warnings for the run's stderr, one line each (a damaged ring given
    /// up), taken once.
    fn take_warnings(&mut self) -> Vec<String>;
    /// The store can no longer serve the run (a cluster run's Redis is
    /// lost): the one line that ends it, given once. A store that cannot
    /// be lost never says so.
    fn lost(&mut self) -> Option<String> {
        None
    }
    /// When `lost` must be asked again with no event (a cluster run's
    /// writes whose replies are due), if ever.
    fn wake_at(&self) -> Option<Instant> {
        None
    }
    /// The run ends: finish what is still owed to the backend (the replies
    /// of a cluster run's last writes); the line that ends the run with 69
    /// if that found it lost.
    fn settle(&mut self) -> Option<String> {
        None
    }
}
