//! The shared objects every process sees: queues, locks and lists.
//!
//! `ObjectStore` is the whole interface the hub uses, so a second backend (a
//! Redis-backed store for workers on several machines) can replace `LocalStore`
//! without touching the hub. The store holds data only: it never blocks, never
//! knows who is waiting and never talks to a process. Blocking, wake-ups and
//! time-outs belong to the hub, which asks the store "can this happen now?".

mod list;
mod local;

pub use local::LocalStore;

use crate::wire::{ListOp, ObjectId, ProcId, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StoreError {
    #[error("no such {kind} (#{id}): it does not exist in this run")]
    Unknown { kind: &'static str, id: ObjectId },
    #[error("{0}")]
    Invalid(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub trait ObjectStore {
    fn new_queue(&mut self, maxsize: Option<usize>) -> ObjectId;
    /// Appends `value`; gives it back as `Err` when the queue is full.
    fn queue_push(&mut self, id: ObjectId, value: Value) -> StoreResult<Result<(), Value>>;
    fn queue_pop(&mut self, id: ObjectId) -> StoreResult<Option<Value>>;
    fn queue_len(&self, id: ObjectId) -> StoreResult<usize>;
    fn queue_is_full(&self, id: ObjectId) -> StoreResult<bool>;

    fn new_lock(&mut self) -> ObjectId;
    /// Takes the lock for `who` if it is free.
    fn lock_try_acquire(&mut self, id: ObjectId, who: ProcId) -> StoreResult<bool>;
    /// Frees a held lock; an error when it is not held.
    fn lock_release(&mut self, id: ObjectId) -> StoreResult<()>;
    fn lock_holder(&self, id: ObjectId) -> StoreResult<Option<ProcId>>;
    /// Frees every lock `who` holds and names them (for a process that died).
    fn release_locks_of(&mut self, who: ProcId) -> Vec<ObjectId>;

    fn new_list(&mut self, items: Vec<Value>) -> ObjectId;
    fn list_op(&mut self, id: ObjectId, op: ListOp) -> StoreResult<Value>;
}
