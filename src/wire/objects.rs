//! Shared objects as the wire sees them: what can be created (`NewObject`)
//! and what can be done to one (`Op`); their ids, kinds and handles are
//! `handles`'.
//!
//! Every object operation travels as `Request::Object { id, op, .. }`, so a
//! new primitive adds variants here and a case in the store, not a new
//! request type, a new hub handler and a new wait list.

use serde::{Deserialize, Serialize};

use super::handles::ObjectId;
use super::value::{FnRef, Value};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum NewObject {
    Queue {
        maxsize: Option<u64>,
        joinable: bool,
    },
    Lock {
        reentrant: bool,
    },
    Semaphore {
        value: u64,
        bounded: bool,
    },
    Event,
    /// A condition variable over an existing lock or rlock.
    Condition {
        lock: ObjectId,
    },
    Barrier {
        parties: u64,
        action: Option<FnRef>,
    },
    Value(Value),
    Dict(Vec<(String, Value)>),
    List(Vec<Value>),
    Pipe {
        duplex: bool,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Op {
    // Queues.
    Put(Value),
    Get,
    Len,
    Close,
    TaskDone,
    JoinQueue,
    /// One-way: a process changed the queue's ring while the hub had
    /// waiters parked on it.
    Wake,
    // Locks, rlocks and semaphores.
    Acquire,
    Release,
    IsLocked,
    SemaphoreValue,
    // Events.
    Set,
    Clear,
    IsSet,
    Wait,
    // Conditions: `CondWait` releases the lock (of rlock depth `depth`) and
    // waits as `CondAwait` to be notified, then as `CondReacquire` until it
    // holds the lock again; `notified` is what the wait returns.
    CondWait,
    CondAwait {
        depth: u64,
    },
    CondReacquire {
        depth: u64,
        notified: bool,
    },
    Notify(u64),
    NotifyAll,
    // Barriers: `BarrierWait` arrives; the hub retries it as `BarrierRound`
    // until the round completes or the barrier breaks.
    BarrierWait,
    BarrierRound {
        round: u64,
        index: u64,
    },
    BarrierActionDone {
        ok: bool,
    },
    Abort,
    Reset,
    NWaiting,
    IsBroken,
    // Shared values.
    ValueGet,
    ValueSet(Value),
    ValueAdd(Value),
    // Dicts and lists.
    Dict(DictOp),
    List(ListOp),
    // Pipes: `end` is the end the caller holds.
    Send {
        end: u8,
        value: Value,
    },
    Recv {
        end: u8,
    },
    Poll {
        end: u8,
    },
    CloseEnd {
        end: u8,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum DictOp {
    Get(String),
    GetOr(String, Value),
    Set(String, Value),
    Contains(String),
    Remove(String),
    Keys,
    Values,
    Len,
    Clear,
    ToMap,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum ListOp {
    Push(Value),
    Pop,
    Insert(i64, Value),
    Remove(i64),
    Len,
    Clear,
    Contains(Value),
    Append(Vec<Value>),
    Get(i64),
    Set(i64, Value),
    ToArray,
}

impl NewObject {
    /// The object handles the new object will hold from the start (its
    /// first value, entries or items, a barrier's action, a condition's
    /// lock), one per occurrence.
    pub fn stored_ids(&self, out: &mut Vec<ObjectId>) {
        match self {
            NewObject::Value(v) => v.object_ids(out),
            NewObject::Dict(entries) => entries.iter().for_each(|(_, v)| v.object_ids(out)),
            NewObject::List(items) => items.iter().for_each(|v| v.object_ids(out)),
            NewObject::Barrier {
                action: Some(f), ..
            } => f.object_ids(out),
            NewObject::Condition { lock } => out.push(*lock),
            _ => {}
        }
    }
}

impl Op {
    /// Whether the values it carries stay in its object (`GetOr`'s default
    /// and `Contains`'s value only go back to the caller).
    pub fn keeps_values(&self) -> bool {
        !matches!(
            self,
            Op::Dict(DictOp::GetOr(..)) | Op::List(ListOp::Contains(_))
        )
    }

    /// The object handles in the values this operation carries to the hub,
    /// one per occurrence.
    pub fn carried_ids(&self, out: &mut Vec<ObjectId>) {
        match self {
            Op::Put(v) | Op::ValueSet(v) | Op::ValueAdd(v) | Op::Send { value: v, .. } => {
                v.object_ids(out)
            }
            Op::Dict(DictOp::Set(_, v) | DictOp::GetOr(_, v)) => v.object_ids(out),
            Op::List(
                ListOp::Push(v) | ListOp::Insert(_, v) | ListOp::Set(_, v) | ListOp::Contains(v),
            ) => v.object_ids(out),
            Op::List(ListOp::Append(items)) => items.iter().for_each(|v| v.object_ids(out)),
            _ => {}
        }
    }

    /// Whether it may drop values its object holds without handing them
    /// to anyone (an entry overwritten, a store cleared).
    pub fn may_drop_values(&self) -> bool {
        matches!(
            self,
            Op::ValueSet(_)
                | Op::ValueAdd(_)
                | Op::Dict(DictOp::Set(..) | DictOp::Remove(_) | DictOp::Clear)
                | Op::List(ListOp::Set(..) | ListOp::Remove(_) | ListOp::Pop | ListOp::Clear)
        )
    }
}
