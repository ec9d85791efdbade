//! `LocalStore`: the objects kept in the hub's own memory, the routing of
//! each operation to the code of its kind, and the arena slots each object
//! was given, handed back to `Slots` when the hub frees the object.

use std::collections::{BTreeMap, HashMap};

use super::barrier::Barrier;
use super::condition::Condition;
use super::locks::{Mutex, Semaphore};
use super::pipe::Pipe;
use super::queue::Queue;
use super::shared::{apply_dict, apply_list, apply_value};
use super::{Applied, Created, Forgotten, Holder, ObjectStore};
use crate::shm::ring::{Corrupt, Held, HubRing};
use crate::shm::{SharedWord, Slots, owner_tag};
use crate::wire::{
    ErrorKind, FrameError, HubError, NewObject, ObjectId, ObjectKind, Op, ProcId, Value,
    decode_body, encode_body,
};

/// Encoded (`encoded`), an object leaves its shared memory behind: what a
/// store keeping its objects elsewhere (`RedisStore`) reads and writes.
#[derive(serde::Serialize, serde::Deserialize)]
enum Object {
    Queue(Queue),
    Mutex(Mutex),
    Semaphore(Semaphore),
    Event(bool),
    Condition(Condition),
    Barrier(Barrier),
    Value(Value),
    Dict(BTreeMap<String, Value>),
    /// A manager list, and the ring its pushes may wait in (drained into
    /// it before every operation on it).
    List(Vec<Value>, #[serde(skip)] Option<HubRing>),
    Pipe(Pipe),
}

/// The shared memory an object was given, to give back when it is freed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ArenaSlot {
    Word(u32),
    Ring(u32),
}

#[derive(Default)]
pub struct LocalStore {
    objects: HashMap<ObjectId, Object>,
    next_id: ObjectId,
    slots: Slots,
    /// The arena slot of each object that has one.
    arena: HashMap<ObjectId, ArenaSlot>,
    warnings: Vec<String>,
}

fn unknown(id: ObjectId) -> Applied {
    Applied::invalid(format!("no such object (#{id}) in this run"))
}

impl LocalStore {
    /// A store that keeps every object in the hub's memory, none in the
    /// shared arena: a cluster run's (remote processes have no share of
    /// this machine's memory), and the hub's unit tests, which share one
    /// arena.
    pub fn in_hub_memory_only() -> LocalStore {
        LocalStore {
            slots: Slots::none(),
            ..LocalStore::default()
        }
    }

    /// Object `id`, encoded; `None` when there is no such object, or it
    /// has shared memory (which cannot be stored elsewhere).
    pub(super) fn encoded(&self, id: ObjectId) -> Option<Vec<u8>> {
        if self.arena.contains_key(&id) {
            return None;
        }
        encode_body(self.objects.get(&id)?).ok()
    }

    /// Puts object `id` back as `encoded` gave it.
    pub(super) fn put_encoded(&mut self, id: ObjectId, bytes: &[u8]) -> Result<(), FrameError> {
        let object = decode_body(bytes)?;
        self.objects.insert(id, object);
        Ok(())
    }

    /// A fresh id for an object kept elsewhere (`RedisStore`'s collections):
    /// ids are never reused, whoever keeps the object.
    pub(super) fn new_id(&mut self) -> ObjectId {
        self.next_id += 1;
        self.next_id
    }

    /// Stores a new object under a fresh id (ids are never reused, so a
    /// stale id names nothing rather than another object).
    fn insert(&mut self, object: Object, slot: Option<ArenaSlot>) -> ObjectId {
        self.next_id += 1;
        self.objects.insert(self.next_id, object);
        if let Some(slot) = slot {
            self.arena.insert(self.next_id, slot);
        }
        self.next_id
    }

    /// A ring for a new queue or list, if one is free.
    fn take_ring(&mut self) -> (Option<u32>, Option<HubRing>) {
        match self.slots.take_ring() {
            Some((slot, ring)) => (Some(slot), Some(ring)),
            None => (None, None),
        }
    }

    /// Runs `f` on a condition and the lock it works on, both borrowed mutably.
    fn with_condition(
        &mut self,
        id: ObjectId,
        f: impl FnOnce(&mut Condition, &mut Mutex) -> Applied,
    ) -> Applied {
        let Some(Object::Condition(cond)) = self.objects.remove(&id) else {
            return unknown(id);
        };
        let mut cond = cond;
        let applied = match self.objects.get_mut(&cond.lock) {
            Some(Object::Mutex(lock)) => f(&mut cond, lock),
            _ => Applied::invalid("the condition's lock no longer exists"),
        };
        self.objects.insert(id, Object::Condition(cond));
        applied
    }
}

impl ObjectStore for LocalStore {
    fn create(&mut self, _who: ProcId, object: NewObject) -> Result<Created, HubError> {
        let (object, kind, slot) = match object {
            NewObject::Queue { maxsize, joinable } => {
                // A joinable queue counts its puts in the hub: no ring.
                let (slot, ring) = if joinable {
                    (None, None)
                } else {
                    self.take_ring()
                };
                (
                    Object::Queue(Queue::new(maxsize, joinable, ring)),
                    ObjectKind::Queue { maxsize, joinable },
                    slot.map(ArenaSlot::Ring),
                )
            }
            NewObject::Lock { reentrant } => {
                let (slot, word) = match self.slots.take_word() {
                    Some((slot, word)) => (Some(slot), SharedWord::Arena(word)),
                    None => (None, SharedWord::Private(Box::default())),
                };
                let kind = if reentrant {
                    ObjectKind::RLock
                } else {
                    ObjectKind::Lock
                };
                let slot = slot.map(ArenaSlot::Word);
                (Object::Mutex(Mutex::new(reentrant, word)), kind, slot)
            }
            NewObject::Semaphore { value, bounded } => (
                Object::Semaphore(Semaphore::new(value, bounded)),
                ObjectKind::Semaphore { bounded },
                None,
            ),
            NewObject::Event => (Object::Event(false), ObjectKind::Event, None),
            NewObject::Condition { lock } => {
                if !matches!(self.objects.get(&lock), Some(Object::Mutex(_))) {
                    return Err(HubError::new(
                        ErrorKind::Invalid,
                        "condition: the lock must be a lock or an rlock",
                    ));
                }
                (
                    Object::Condition(Condition::new(lock)),
                    ObjectKind::Condition { lock },
                    None,
                )
            }
            NewObject::Barrier { parties, action } => (
                Object::Barrier(Barrier::new(parties, action)),
                ObjectKind::Barrier { parties },
                None,
            ),
            NewObject::Value(v) => (Object::Value(v), ObjectKind::Value, None),
            NewObject::Dict(entries) => (
                Object::Dict(entries.into_iter().collect()),
                ObjectKind::Dict,
                None,
            ),
            NewObject::List(items) => {
                let (slot, ring) = self.take_ring();
                let slot = slot.map(ArenaSlot::Ring);
                (Object::List(items, ring), ObjectKind::List, slot)
            }
            NewObject::Pipe { duplex } => (
                Object::Pipe(Pipe::default()),
                // The first end of a one-way pipe receives, the second sends.
                ObjectKind::PipeEnd {
                    end: 0,
                    can_send: duplex,
                    can_recv: true,
                },
                None,
            ),
        };
        let direct = slot.map(|slot| match slot {
            ArenaSlot::Ring(n) | ArenaSlot::Word(n) => n,
        });
        let id = self.insert(object, slot);
        Ok(Created { id, kind, direct })
    }

    fn free(&mut self, id: ObjectId) -> bool {
        if self.objects.remove(&id).is_none() {
            return false;
        }
        match self.arena.remove(&id) {
            Some(ArenaSlot::Word(slot)) => self.slots.give_back_word(slot),
            Some(ArenaSlot::Ring(slot)) => self.slots.give_back_ring(slot),
            None => {}
        }
        true
    }

    fn handles_in(&mut self, id: ObjectId, out: &mut Vec<ObjectId>) -> usize {
        fn each<'v>(
            values: impl ExactSizeIterator<Item = &'v Value>,
            out: &mut Vec<ObjectId>,
        ) -> usize {
            let looked = values.len();
            values.for_each(|v| v.object_ids(out));
            looked
        }
        match self.objects.get(&id) {
            Some(Object::Queue(q)) => q.handles_in(out),
            Some(Object::Value(v)) => each(std::iter::once(v), out),
            Some(Object::Dict(d)) => each(d.values(), out),
            // Its ring holds no handles: a push carrying one goes to the hub.
            Some(Object::List(l, _)) => each(l.iter(), out),
            Some(Object::Pipe(p)) => p.handles_in(out),
            Some(Object::Barrier(b)) => b.handles_in(out),
            Some(Object::Condition(c)) => {
                out.push(c.lock);
                1
            }
            Some(Object::Mutex(_) | Object::Semaphore(_) | Object::Event(_)) | None => 0,
        }
    }

    fn apply(&mut self, id: ObjectId, who: ProcId, op: Op) -> Applied {
        if matches!(self.objects.get(&id), Some(Object::Condition(_))) {
            return self.with_condition(id, |cond, lock| cond.apply(id, who, op, lock));
        }
        let Some(object) = self.objects.get_mut(&id) else {
            return unknown(id);
        };
        match object {
            Object::Queue(q) => {
                let applied = q.apply(id, op);
                if let Some(damage) = q.take_damage() {
                    self.warnings.push(ring_given_up("queue", id, &damage));
                }
                applied
            }
            Object::Mutex(m) => m.apply(id, who, op),
            Object::Semaphore(s) => s.apply(id, who, op),
            Object::Event(flag) => apply_event(flag, id, op),
            Object::Condition(_) => unreachable!("handled above"),
            Object::Barrier(b) => b.apply(id, who, op),
            Object::Value(v) => apply_value(v, id, op),
            Object::Dict(d) => apply_dict(d, op),
            Object::List(l, ring) => {
                if let Some(inside) = ring {
                    match drain_pushes(inside, l) {
                        Ok(()) => {}
                        Err(Drain::Held(held)) => return Applied::busy(op, id, held),
                        Err(Drain::Damaged(damage)) => {
                            *ring = None;
                            self.warnings.push(ring_given_up("list", id, &damage));
                        }
                    }
                }
                apply_list(l, op)
            }
            Object::Pipe(p) => p.apply(id, op),
        }
    }

    fn timed_out(&mut self, id: ObjectId, who: ProcId, op: Op) -> Applied {
        if matches!(self.objects.get(&id), Some(Object::Condition(_))) {
            return self.with_condition(id, |cond, lock| cond.timed_out(who, op, lock));
        }
        if let Some(Object::Barrier(b)) = self.objects.get_mut(&id) {
            return b.timed_out(id);
        }
        if let Op::CondReacquire { .. } = op {
            // A condition wait that was notified (or timed out) waits for its
            // lock with no deadline: it returns only once it holds the lock.
            return self.apply(id, who, op);
        }
        timed_out_answer(op)
    }

    fn withdraw(&mut self, id: ObjectId, who: ProcId, _op: Op) -> Vec<ObjectId> {
        match self.objects.get_mut(&id) {
            Some(Object::Barrier(b)) => b
                .forget(id, who)
                .map(|(_, changed)| changed)
                .unwrap_or_default(),
            Some(Object::Condition(c)) => {
                c.forget(who);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn unwatched(&mut self, id: ObjectId) {
        match self.objects.get_mut(&id) {
            Some(Object::Mutex(m)) => m.unwatched(),
            Some(Object::Queue(q)) => q.unwatched(),
            _ => {}
        }
    }

    fn forget_process(&mut self, who: ProcId, abnormally: bool) -> Forgotten {
        self.free_shared_memory(u64::from(owner_tag(who)));
        let mut forgotten = Forgotten::default();
        let mut ids: Vec<ObjectId> = self.objects.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(object) = self.objects.get_mut(&id) else {
                continue;
            };
            match object {
                Object::Mutex(m) => {
                    if let Some(note) = m.forget(id, who) {
                        forgotten.notes.push(note);
                        forgotten.changed.push(id);
                    }
                }
                Object::Semaphore(s) if abnormally => {
                    if let Some(note) = s.forget(id, who) {
                        forgotten.notes.push(note);
                        forgotten.changed.push(id);
                    }
                }
                Object::Barrier(b) => {
                    if let Some((note, changed)) = b.forget(id, who) {
                        forgotten.notes.push(note);
                        forgotten.changed.extend(changed);
                    }
                }
                Object::Condition(c) => c.forget(who),
                // It may have died between its change to the ring and its
                // `Wake`: the parked processes try again.
                Object::Queue(q) if q.has_marked_waiters() => forgotten.changed.push(id),
                _ => {}
            }
        }
        forgotten
    }

    fn free_shared_memory(&mut self, holder: u64) {
        for object in self.objects.values_mut() {
            match object {
                Object::Queue(q) => q.free_ring_held_by(holder),
                Object::List(_, Some(ring)) => {
                    ring.free_if_held_by(holder);
                }
                _ => {}
            }
        }
    }

    fn set_hub_first(&mut self, id: ObjectId, on: bool) {
        match self.objects.get(&id) {
            Some(Object::Queue(q)) => q.set_hub_first(on),
            Some(Object::List(_, Some(ring))) => ring.set_hub_first(on),
            _ => {}
        }
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// What an operation that waits on its object alone answers when its
/// time-out passes (a condition's or barrier's wait also settles its object).
pub(super) fn timed_out_answer(op: Op) -> Applied {
    match op {
        Op::Get => Applied::failed(ErrorKind::Empty, "Empty: queue get timed out"),
        Op::Put(_) => Applied::failed(ErrorKind::Full, "Full: queue put timed out"),
        Op::Acquire | Op::Wait | Op::Poll { .. } | Op::JoinQueue => {
            Applied::done(Value::Bool(false))
        }
        Op::Recv { .. } => Applied::failed(ErrorKind::Timeout, "Timeout: recv timed out"),
        other => Applied::invalid(format!("{other:?} cannot time out")),
    }
}

/// The one warning line for a ring the hub gave up.
fn ring_given_up(kind: &str, id: ObjectId, damage: &Corrupt) -> String {
    format!(
        "the shared memory of {kind} #{id} was damaged ({damage}); \
         what it held there is lost, and the {kind} goes on without it"
    )
}

fn apply_event(flag: &mut bool, id: ObjectId, op: Op) -> Applied {
    match op {
        Op::Set => {
            *flag = true;
            Applied::changed(Value::Unit, id)
        }
        Op::Clear => {
            *flag = false;
            Applied::done(Value::Unit)
        }
        Op::IsSet => Applied::done(Value::Bool(*flag)),
        Op::Wait if *flag => Applied::done(Value::Bool(true)),
        Op::Wait => Applied::blocked(Op::Wait, id),
        other => Applied::invalid(format!("an event has no operation {other:?}")),
    }
}

/// A ring's holder as the store's interface says it (no shared-memory type
/// leaves the store).
impl From<Held> for Holder {
    fn from(held: Held) -> Holder {
        Holder {
            word: held.holder,
            process: held.process(),
        }
    }
}

/// Why a list's pushes could not be moved into it.
enum Drain {
    Held(Held),
    Damaged(Corrupt),
}

/// Appends to a list the items processes pushed into its ring, in order;
/// the items before a damaged one are kept, and a damaged ring is poisoned
/// before the hub lets go of it, so no push can land in it after.
fn drain_pushes(ring: &HubRing, list: &mut Vec<Value>) -> Result<(), Drain> {
    let inside = ring.try_enter().map_err(Drain::Held)?;
    let damage = loop {
        match inside.pop() {
            Ok(None) => return Ok(()),
            Ok(Some(bytes)) => match decode_body::<Value>(&bytes) {
                Ok(value) => list.push(value),
                Err(_) => break Corrupt::Item(bytes.len()),
            },
            Err(damage) => break damage,
        }
    };
    ring.poison();
    drop(inside);
    Err(Drain::Damaged(damage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::{ARENA_RINGS, Arena};
    use crate::store::Outcome;

    fn queue(store: &mut LocalStore) -> (ObjectId, Option<u32>) {
        let new = NewObject::Queue {
            maxsize: None,
            joinable: false,
        };
        match store.create(1, new) {
            Ok(Created {
                id,
                kind: ObjectKind::Queue { .. },
                direct,
            }) => (id, direct),
            other => panic!("not a queue: {other:?}"),
        }
    }

    #[test]
    fn a_freed_queues_ring_goes_to_a_later_queue_empty() {
        Arena::create().expect("an arena");
        let mut store = LocalStore::default();
        let made: Vec<_> = (0..ARENA_RINGS).map(|_| queue(&mut store)).collect();
        assert!(made.iter().all(|(_, ring)| ring.is_some()));
        assert_eq!(queue(&mut store).1, None, "the arena's rings are all taken");
        let (old, ring) = made[5];
        let put = store.apply(old, 1, Op::Put(Value::Int(7)));
        assert_eq!(put.outcome, Ok(Outcome::Done(Value::Unit)));
        assert!(store.free(old));
        assert!(!store.free(old), "freed once");
        assert!(matches!(
            store.apply(old, 1, Op::Len).outcome,
            Err(HubError { .. })
        ));
        let (new, again) = queue(&mut store);
        assert_eq!(again, ring, "the freed ring is handed out again");
        assert_ne!(new, old, "ids are never reused");
        let len = store.apply(new, 1, Op::Len);
        assert_eq!(len.outcome, Ok(Outcome::Done(Value::Int(0))), "and empty");
    }

    #[test]
    fn a_freed_locks_word_comes_back_free() {
        Arena::create().expect("an arena");
        let mut store = LocalStore::default();
        let lock =
            |store: &mut LocalStore| match store.create(1, NewObject::Lock { reentrant: false }) {
                Ok(Created {
                    id,
                    kind: ObjectKind::Lock,
                    direct,
                }) => (id, direct),
                other => panic!("not a lock: {other:?}"),
            };
        let (old, slot) = lock(&mut store);
        let taken = store.apply(old, 1, Op::Acquire);
        assert_eq!(taken.outcome, Ok(Outcome::Done(Value::Bool(true))));
        assert!(store.free(old));
        let (new, again) = lock(&mut store);
        assert_eq!(again, slot);
        let taken = store.apply(new, 2, Op::Acquire);
        assert_eq!(
            taken.outcome,
            Ok(Outcome::Done(Value::Bool(true))),
            "not held"
        );
    }
}
