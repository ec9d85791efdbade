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
//!
//! An item holding an object handle never enters the ring: it waits in the
//! overflow, and the items behind it too, so that the hub sees it leave
//! (`hub::core::refs` counts the handle as the getter's from then on).

use std::collections::VecDeque;

use super::Applied;
use crate::shm::ring::{
    CLOSED, Corrupt, GETTERS_WAITING, HUB_ITEMS, HubRing, PUTTERS_WAITING, RingGuard,
};
use crate::wire::{ErrorKind, ObjectId, Op, Value, decode_body, encode_body};

/// An encoded item the hub keeps, with the object handles inside it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    bytes: Vec<u8>,
    handles: Vec<ObjectId>,
}

/// Stored elsewhere (a cluster run's objects, in Redis), a queue has no
/// ring: its shared memory stays behind.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Queue {
    #[serde(skip)]
    ring: Option<HubRing>,
    /// Items that come after the ring's.
    overflow: VecDeque<Kept>,
    maxsize: Option<u64>,
    closed: bool,
    joinable: bool,
    /// Items put and not yet marked done (joinable queues).
    unfinished: u64,
    /// Why the ring was given up, for the hub's one warning line.
    #[serde(skip)]
    damage: Option<Corrupt>,
}

/// Being inside the queue's ring for one operation (`None`: it has no
/// ring, or gave it up).
type Inside<'r> = Option<RingGuard<'r>>;

impl Queue {
    pub fn new(maxsize: Option<u64>, joinable: bool, ring: Option<HubRing>) -> Self {
        Queue {
            ring: ring.filter(|_| !joinable),
            overflow: VecDeque::new(),
            maxsize,
            closed: false,
            joinable,
            unfinished: 0,
            damage: None,
        }
    }

    /// The ring held something impossible: give it up (its items there
    /// are lost) and go on through the hub alone.
    fn give_up_ring(&mut self, inside: &mut Inside<'_>, damage: Corrupt) {
        if let Some(ring) = self.ring.take() {
            ring.poison();
        }
        *inside = None;
        self.damage = Some(damage);
    }

    /// Why the ring was given up, once.
    pub fn take_damage(&mut self) -> Option<Corrupt> {
        self.damage.take()
    }

    /// Reads the ring with `read`; `None` without a ring, or when what it
    /// read was damaged (the ring is then given up).
    fn read_ring<'r, T>(
        &mut self,
        inside: &mut Inside<'r>,
        read: impl FnOnce(&RingGuard<'r>) -> Result<T, Corrupt>,
    ) -> Option<T> {
        match inside.as_ref().map(read)? {
            Ok(found) => Some(found),
            Err(damage) => {
                self.give_up_ring(inside, damage);
                None
            }
        }
    }

    fn len(&mut self, inside: &mut Inside<'_>) -> u64 {
        let in_ring = self.read_ring(inside, RingGuard::len).map_or(0, u64::from);
        in_ring + self.overflow.len() as u64
    }

    /// Moves what fits from the overflow into the ring, and tells processes
    /// whether the hub still holds items (then their puts must come here).
    fn refill(&mut self, inside: &mut Inside<'_>) {
        let Some(guard) = inside.as_ref() else {
            return;
        };
        let mut damage = None;
        while let Some(front) = self.overflow.front() {
            if !front.handles.is_empty() {
                // Taken from the hub, which sees its handles go.
                break;
            }
            match guard.push(&front.bytes) {
                Ok(true) => {
                    self.overflow.pop_front();
                }
                Ok(false) => break,
                Err(found) => {
                    damage = Some(found);
                    break;
                }
            }
        }
        match damage {
            Some(damage) => self.give_up_ring(inside, damage),
            None if self.overflow.is_empty() => guard.clear_flags(HUB_ITEMS),
            None => guard.set_flags(HUB_ITEMS),
        }
    }

    fn put(&mut self, id: ObjectId, value: Value, inside: &mut Inside<'_>) -> Applied {
        if self.closed {
            return closed();
        }
        // Checked and marked in one visit, so a get that makes room after
        // the check sees the mark.
        let len = self.len(inside);
        if self.maxsize.is_some_and(|max| len >= max) {
            if let Some(guard) = inside {
                guard.set_flags(PUTTERS_WAITING);
            }
            return Applied::blocked(Op::Put(value), id);
        }
        let bytes = match encode_body(&value) {
            Ok(bytes) => bytes,
            Err(e) => return unencodable(&e),
        };
        let mut handles = Vec::new();
        value.object_ids(&mut handles);
        self.overflow.push_back(Kept { bytes, handles });
        self.refill(inside);
        if self.joinable {
            self.unfinished += 1;
        }
        Applied::changed(Value::Unit, id)
    }

    fn get(&mut self, id: ObjectId, inside: &mut Inside<'_>) -> Applied {
        let taken = self.read_ring(inside, RingGuard::pop).flatten();
        if taken.is_none() && self.overflow.is_empty() && !self.closed {
            // Marked in the same visit that found it empty, so a put after
            // this sees the mark and wakes the hub.
            if let Some(guard) = inside {
                guard.set_flags(GETTERS_WAITING);
            }
            return Applied::blocked(Op::Get, id);
        }
        let taken = taken.or_else(|| self.overflow.pop_front().map(|kept| kept.bytes));
        self.refill(inside);
        match taken {
            Some(bytes) => got(id, &bytes),
            None => closed_and_empty(),
        }
    }

    /// Applies `op`, entering the ring once for it; when another process
    /// is inside, nothing changes and the hub tries again later (`busy`).
    pub fn apply(&mut self, id: ObjectId, op: Op) -> Applied {
        let ring = self.ring;
        let mut inside = match ring.as_ref().map(HubRing::try_enter).transpose() {
            Ok(inside) => inside,
            Err(held) => return Applied::busy(op, id, held),
        };
        let inside = &mut inside;
        match op {
            Op::Put(value) => self.put(id, value, inside),
            Op::Get => self.get(id, inside),
            Op::Len => Applied::done(Value::Int(self.len(inside) as i64)),
            // A process put into or took from the ring while the hub had
            // waiters or items of its own: refill, and let the waiters try again.
            Op::Wake => {
                self.refill(inside);
                Applied::changed(Value::Unit, id)
            }
            Op::Close => {
                self.closed = true;
                if let Some(guard) = inside {
                    guard.set_flags(CLOSED);
                }
                Applied::changed(Value::Unit, id)
            }
            Op::TaskDone | Op::JoinQueue => {
                task_counting(id, op, self.joinable, &mut self.unfinished)
            }
            other => no_operation(&other),
        }
    }

    /// The object handles in the items the hub keeps (the ring's hold none).
    pub fn handles_in(&self, out: &mut Vec<ObjectId>) -> usize {
        for kept in &self.overflow {
            out.extend_from_slice(&kept.handles);
        }
        self.overflow.len()
    }

    /// Nobody is parked on the queue any more: processes need not wake the hub.
    pub fn unwatched(&mut self) {
        if let Some(ring) = &self.ring {
            ring.clear_marks(GETTERS_WAITING | PUTTERS_WAITING);
        }
    }

    /// Frees the ring if `holder` (a dead process's tag, or a lock word as
    /// `Held` read it) is inside it: each change to it is one store, so it
    /// is whole.
    pub fn free_ring_held_by(&mut self, holder: u64) {
        if let Some(ring) = &self.ring {
            ring.free_if_held_by(holder);
        }
    }

    /// Tells processes to put through the hub, behind the operations it keeps.
    pub fn set_hub_first(&self, on: bool) {
        if let Some(ring) = &self.ring {
            ring.set_hub_first(on);
        }
    }

    /// Whether the hub has parked processes marked in the ring: a process
    /// that died between its change and its `Wake` leaves them asleep, so
    /// after a death such a queue counts as changed.
    pub fn has_marked_waiters(&self) -> bool {
        self.ring.as_ref().is_some_and(HubRing::has_waiter_marks)
    }
}

// What queues answer wherever their items are (`LocalStore` here,
// `RedisStore` in Redis): one place for each answer.

/// A put into a closed queue.
pub fn closed() -> Applied {
    Applied::failed(ErrorKind::Closed, "Closed: the queue is closed")
}

/// A get from a closed queue with nothing left.
pub fn closed_and_empty() -> Applied {
    Applied::failed(ErrorKind::Closed, "Closed: the queue is closed and empty")
}

/// A put of a value that does not encode.
pub fn unencodable(e: &crate::wire::FrameError) -> Applied {
    Applied::invalid(format!("put: {e}"))
}

/// A get that took the item `bytes`.
pub fn got(id: ObjectId, bytes: &[u8]) -> Applied {
    match decode_body::<Value>(bytes) {
        Ok(value) => Applied::changed(value, id),
        Err(e) => Applied::invalid(format!("get: a damaged item: {e}")),
    }
}

pub fn no_operation(op: &Op) -> Applied {
    Applied::invalid(format!("a queue has no operation {op:?}"))
}

/// `task_done` or `join` (`op`) on a queue that is `joinable` or not, with
/// `unfinished` items put and not yet marked done.
pub fn task_counting(id: ObjectId, op: Op, joinable: bool, unfinished: &mut u64) -> Applied {
    match op {
        Op::TaskDone if !joinable => {
            Applied::invalid("task_done: only a joinable queue counts tasks")
        }
        Op::TaskDone if *unfinished == 0 => {
            Applied::invalid("task_done: called more times than items were put")
        }
        Op::TaskDone => {
            *unfinished -= 1;
            if *unfinished == 0 {
                return Applied::changed(Value::Unit, id);
            }
            Applied::done(Value::Unit)
        }
        Op::JoinQueue if !joinable => Applied::invalid("join: only a joinable queue can be joined"),
        Op::JoinQueue if *unfinished == 0 => Applied::done(Value::Unit),
        Op::JoinQueue => Applied::blocked(Op::JoinQueue, id),
        other => no_operation(&other),
    }
}
