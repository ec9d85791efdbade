//! Queues, plain and joinable, and what closing one means: puts fail with
//! `Closed`, gets drain what is left and then fail with `Closed`.
//!
//! A plain queue's oldest items live in its ring in shared memory
//! (`shm::ring`), where processes put and get without the hub; the hub comes
//! in when they cannot: it keeps items that do not fit in the ring (too big,
//! or put while it was full) in `overflow`, behind the ring's, moves them
//! into the ring as room appears, and parks whoever must wait, marking the
//! ring so that whoever adds an item or makes room sends `Wake`. A joinable
//! queue counts every put, so all of its operations go through the hub.

use std::collections::VecDeque;

use super::Applied;
use crate::shm::ring::{CLOSED, GETTERS_WAITING, HUB_ITEMS, PUTTERS_WAITING, Ring};
use crate::wire::{ErrorKind, ObjectId, Op, ProcId, Value, decode_body, encode_body};

pub struct Queue {
    ring: Option<Ring>,
    /// Encoded items that come after the ring's.
    overflow: VecDeque<Vec<u8>>,
    maxsize: Option<u64>,
    closed: bool,
    joinable: bool,
    /// Items put and not yet marked done (joinable queues).
    unfinished: u64,
}

impl Queue {
    pub fn new(maxsize: Option<u64>, joinable: bool, ring: Option<Ring>) -> Self {
        Queue {
            ring: ring.filter(|_| !joinable),
            overflow: VecDeque::new(),
            maxsize,
            closed: false,
            joinable,
            unfinished: 0,
        }
    }

    fn ring_len(&self) -> u64 {
        self.ring
            .as_ref()
            .map_or(0, |r| u64::from(r.enter_as_hub().len()))
    }

    fn len(&self) -> u64 {
        self.ring_len() + self.overflow.len() as u64
    }

    fn is_full(&self) -> bool {
        self.maxsize.is_some_and(|max| self.len() >= max)
    }

    /// Moves what fits from the overflow into the ring, and tells processes
    /// whether the hub still holds items (then their puts must come here).
    fn refill(&mut self) {
        let Some(ring) = &self.ring else {
            return;
        };
        let inside = ring.enter_as_hub();
        while let Some(front) = self.overflow.front() {
            if !inside.push(front) {
                break;
            }
            self.overflow.pop_front();
        }
        if self.overflow.is_empty() {
            inside.clear_flags(HUB_ITEMS);
        } else {
            inside.set_flags(HUB_ITEMS);
        }
    }

    fn put(&mut self, id: ObjectId, value: Value) -> Applied {
        if self.closed {
            return Applied::failed(ErrorKind::Closed, "Closed: the queue is closed");
        }
        if let Some(ring) = &self.ring {
            // Checked and marked in one visit, so a get that makes room
            // after the check sees the mark.
            let inside = ring.enter_as_hub();
            let len = u64::from(inside.len()) + self.overflow.len() as u64;
            if self.maxsize.is_some_and(|max| len >= max) {
                inside.set_flags(PUTTERS_WAITING);
                return Applied::blocked(Op::Put(value), id);
            }
        } else if self.is_full() {
            return Applied::blocked(Op::Put(value), id);
        }
        let bytes = match encode_body(&value) {
            Ok(bytes) => bytes,
            Err(e) => return Applied::invalid(format!("put: {e}")),
        };
        self.overflow.push_back(bytes);
        self.refill();
        if self.joinable {
            self.unfinished += 1;
        }
        Applied::changed(Value::Unit, id)
    }

    fn get(&mut self, id: ObjectId) -> Applied {
        let mut taken = None;
        if let Some(ring) = &self.ring {
            let inside = ring.enter_as_hub();
            taken = inside.pop();
            if taken.is_none() && self.overflow.is_empty() && !self.closed {
                // Marked in the same visit that found it empty, so a put
                // after this sees the mark and wakes the hub.
                inside.set_flags(GETTERS_WAITING);
                return Applied::blocked(Op::Get, id);
            }
        }
        let taken = taken.or_else(|| self.overflow.pop_front());
        self.refill();
        match taken {
            Some(bytes) => match decode_body::<Value>(&bytes) {
                Ok(value) => Applied::changed(value, id),
                Err(e) => Applied::invalid(format!("get: a damaged item: {e}")),
            },
            None if self.closed => {
                Applied::failed(ErrorKind::Closed, "Closed: the queue is closed and empty")
            }
            None => Applied::blocked(Op::Get, id),
        }
    }

    pub fn apply(&mut self, id: ObjectId, op: Op) -> Applied {
        match op {
            Op::Put(value) => self.put(id, value),
            Op::Get => self.get(id),
            Op::Len => Applied::done(Value::Int(self.len() as i64)),
            // A process put into or took from the ring while the hub had
            // waiters or items of its own: refill, and let the waiters try again.
            Op::Wake => {
                self.refill();
                Applied::changed(Value::Unit, id)
            }
            Op::Close => {
                self.closed = true;
                if let Some(ring) = &self.ring {
                    ring.enter_as_hub().set_flags(CLOSED);
                }
                Applied::changed(Value::Unit, id)
            }
            Op::TaskDone if !self.joinable => {
                Applied::invalid("task_done: only a joinable queue counts tasks")
            }
            Op::TaskDone if self.unfinished == 0 => {
                Applied::invalid("task_done: called more times than items were put")
            }
            Op::TaskDone => {
                self.unfinished -= 1;
                if self.unfinished == 0 {
                    return Applied::changed(Value::Unit, id);
                }
                Applied::done(Value::Unit)
            }
            Op::JoinQueue if !self.joinable => {
                Applied::invalid("join: only a joinable queue can be joined")
            }
            Op::JoinQueue if self.unfinished == 0 => Applied::done(Value::Unit),
            Op::JoinQueue => Applied::blocked(Op::JoinQueue, id),
            other => Applied::invalid(format!("a queue has no operation {other:?}")),
        }
    }

    /// Nobody is parked on the queue any more: processes need not wake the hub.
    pub fn unwatched(&mut self) {
        if let Some(ring) = &self.ring {
            ring.clear_marks(GETTERS_WAITING | PUTTERS_WAITING);
        }
    }

    /// `who` died: if it died inside the ring, the ring is freed (each change
    /// to it is one store, so it is whole).
    pub fn forget(&mut self, who: ProcId) {
        if let Some(ring) = &self.ring {
            ring.free_if_held_by(who);
        }
    }
}
