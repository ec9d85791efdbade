//! `RedisStore`: a cluster run's objects, kept in Redis
//! (`cluster::RunObjects`).
//!
//! - A collection (queue, pipe, manager list and dict) keeps its contents
//!   in a Redis list or hash of its own, each item or entry encoded, and
//!   each operation touches only what it needs (a `get` pops one item, a
//!   dict's `set` writes one entry): `queue`, `pipe`, `list`, `dict`. Its
//!   head (a queue's size limit and flags, a pipe's closed ends) is a field
//!   of the run's objects, and the hub keeps a copy of it.
//! - Any other object (lock, rlock, semaphore, event, condition, barrier,
//!   value) is small: the store applies each operation with the code of
//!   its kind (`LocalStore`'s, on a `LocalStore` of its own that holds
//!   these objects), and writes the object to the run's objects hash when
//!   it changed. The hub is the only writer of a run's objects, so its copy
//!   is what Redis has, once the writes sent have arrived: it reads its copy.
//!
//! Either way the answers are those of the store on one machine (the same
//! code, or the same answer functions), and every change is sent to Redis
//! before the process that made it is answered (Redis applies a
//! connection's commands in order: every later read sees it). The hub is
//! the only one that reads or writes a run's objects, so no call needs a
//! lock in Redis; every process, local or remote, reaches them through it,
//! and the hub keeps their waits, time-outs and deadlock report as on one
//! machine.
//!
//! A read waits on Redis for at most `cluster::connect`'s bound, as the
//! lease's renewals do. Redis lost, or a write it refused (full), is the
//! end of the run: the store says so once (`lost`, asked every turn and
//! before every answer) and refuses every call after it, and the hub ends
//! the run with 69 at the end of its turn; the replies still unread when
//! the run ends are read then (`settle`).
//!
//! What it must not touch: shared memory (a cluster run has none), or what
//! an object means (each kind's module in `store`).

mod dict;
mod known;
mod list;
mod pipe;
mod queue;

use std::collections::HashMap;
use std::time::Instant;

use self::known::KnownList;
use self::pipe::PipeState;
use self::queue::{QueueHead, QueueState};
use super::local::timed_out_answer;
use super::{Applied, Created, Forgotten, LocalStore, ObjectStore};
use crate::cluster::objects::{Contents, LARGEST_OBJECT};
use crate::cluster::{LostRedis, RunObjects};
use crate::wire::{
    ErrorKind, FrameError, HubError, NewObject, ObjectId, ObjectKind, Op, ProcId, Value,
    decode_body, encode_body,
};

pub struct RedisStore {
    /// The small objects, as last written to Redis (the hub is their only
    /// writer: what it reads here is what Redis has), and every new
    /// object's id.
    small: LocalStore,
    /// Each small object's encoding as last written: what a call must
    /// change for it to be written again.
    written: HashMap<ObjectId, Vec<u8>>,
    redis: RunObjects,
    /// What each live object is: how to reach it, which lock a condition
    /// needs with it, what a process that ended may have left something in.
    kinds: HashMap<ObjectId, ObjectKind>,
    /// The queues and pipes as the hub holds them: their heads (written to
    /// Redis with every change) and what it knows of their items.
    heads: HashMap<ObjectId, Head>,
    /// Redis lost: the line that ends the run, until the hub takes it.
    lost: Option<String>,
    /// Redis was lost: every call is refused.
    gone: bool,
}

enum Head {
    Queue(QueueState),
    Pipe(PipeState),
}

/// Why a call could not be made.
enum Failed {
    /// Redis was lost (the store is `gone`).
    Lost,
    /// An object would outgrow what Redis stores in one value: nothing of
    /// the call was stored.
    TooBig(ObjectId, usize),
}

/// Why a collection's operation has no value to answer.
enum Stop {
    Lost(LostRedis),
    /// It answers this error instead (an index out of range, an item that
    /// does not decode).
    Refused(String),
}

impl From<LostRedis> for Stop {
    fn from(lost: LostRedis) -> Stop {
        Stop::Lost(lost)
    }
}

/// A collection operation's answer.
fn finish(answer: Result<Value, Stop>) -> Result<Applied, LostRedis> {
    match answer {
        Ok(value) => Ok(Applied::done(value)),
        Err(Stop::Refused(why)) => Ok(Applied::invalid(why)),
        Err(Stop::Lost(lost)) => Err(lost),
    }
}

/// An item or entry read from Redis (what the hub stored: one that does
/// not decode was damaged there).
fn decoded(bytes: &[u8]) -> Result<Value, Stop> {
    decode_body(bytes).map_err(|e| Stop::Refused(format!("a damaged item in Redis: {e}")))
}

/// A value to store as an item or entry: refused when it does not encode,
/// or is bigger than Redis stores in one value.
fn encoded(value: &Value) -> Result<Vec<u8>, Stop> {
    let bytes = encode_body(value).map_err(|e: FrameError| Stop::Refused(e.to_string()))?;
    if bytes.len() > LARGEST_OBJECT {
        return Err(Stop::Refused(format!(
            "a value of {} bytes is more than Redis stores in one item ({LARGEST_OBJECT})",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// A head, as stored in the run's objects.
fn encoded_head<T: serde::Serialize>(head: &T) -> Vec<u8> {
    // Numbers and flags only: nothing in them can fail to encode.
    encode_body(head).unwrap_or_default()
}

/// A length as a script's integer.
fn count(len: u64) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Where a collection's contents are: what freeing it deletes.
fn contents_of(id: ObjectId, kind: ObjectKind) -> Vec<Contents> {
    match kind {
        ObjectKind::Queue { .. } | ObjectKind::List => vec![Contents::Items(id)],
        ObjectKind::PipeEnd { .. } => vec![Contents::Inbox(id, 0), Contents::Inbox(id, 1)],
        ObjectKind::Dict => vec![Contents::Entries(id)],
        _ => Vec::new(),
    }
}

fn is_collection(kind: ObjectKind) -> bool {
    matches!(
        kind,
        ObjectKind::Queue { .. } | ObjectKind::PipeEnd { .. } | ObjectKind::List | ObjectKind::Dict
    )
}

fn too_big(id: ObjectId, size: usize) -> String {
    format!(
        "object #{id} would take {size} bytes, more than Redis stores in one value ({LARGEST_OBJECT}); nothing changed"
    )
}

impl RedisStore {
    pub fn new(redis: RunObjects) -> RedisStore {
        RedisStore {
            small: LocalStore::in_hub_memory_only(),
            written: HashMap::new(),
            redis,
            kinds: HashMap::new(),
            heads: HashMap::new(),
            lost: None,
            gone: false,
        }
    }

    fn kind(&self, id: ObjectId) -> Option<ObjectKind> {
        self.kinds.get(&id).copied()
    }

    /// `id`, and the lock it works on if it is a condition: what a call on
    /// a small object may change.
    fn with_lock(&self, id: ObjectId) -> Vec<ObjectId> {
        match self.kind(id) {
            Some(ObjectKind::Condition { lock }) => vec![id, lock],
            _ => vec![id],
        }
    }

    /// Runs `call` on the small objects, then writes to Redis each of `ids`
    /// (those it may have changed) that did change, in one step.
    fn with_objects<R>(
        &mut self,
        ids: &[ObjectId],
        call: impl FnOnce(&mut LocalStore) -> R,
    ) -> Result<R, Failed> {
        if self.gone {
            return Err(Failed::Lost);
        }
        let result = call(&mut self.small);
        self.write_changed(ids)?;
        Ok(result)
    }

    /// Writes to Redis each of the small objects `ids` whose encoding
    /// changed since it was last written. When one would be too big for
    /// Redis, none is written, and each is put back as it was.
    fn write_changed(&mut self, ids: &[ObjectId]) -> Result<(), Failed> {
        let changed: Vec<(ObjectId, Vec<u8>)> = ids
            .iter()
            .filter_map(|&id| Some((id, self.small.encoded(id)?)))
            .filter(|(id, bytes)| self.written.get(id) != Some(bytes))
            .collect();
        if let Some((id, bytes)) = changed.iter().find(|(_, b)| b.len() > LARGEST_OBJECT) {
            let too_big = Failed::TooBig(*id, bytes.len());
            for (id, _) in &changed {
                match self.written.get(id) {
                    // It decoded when it was written.
                    Some(was) => drop(self.small.put_encoded(*id, was)),
                    // Just made: it is not made.
                    None => drop(self.small.free(*id)),
                }
            }
            return Err(too_big);
        }
        if let Err(lost) = self.redis.save(&changed) {
            return Err(self.lose(&lost));
        }
        self.written.extend(changed);
        Ok(())
    }

    /// Applies `op` to collection `id` (of `kind`).
    fn apply_to_collection(&mut self, id: ObjectId, kind: ObjectKind, op: Op) -> Applied {
        let again = op.clone();
        let applied = match (kind, self.heads.get_mut(&id)) {
            (ObjectKind::Queue { .. }, Some(Head::Queue(head))) => {
                queue::apply(&mut self.redis, id, head, op)
            }
            (ObjectKind::PipeEnd { .. }, Some(Head::Pipe(head))) => {
                pipe::apply(&mut self.redis, id, head, op)
            }
            (ObjectKind::List, _) => list::apply(&mut self.redis, id, op),
            (ObjectKind::Dict, _) => dict::apply(&mut self.redis, id, op),
            _ => return Applied::invalid(format!("no such object (#{id}) in this run")),
        };
        applied.unwrap_or_else(|lost| {
            self.lose(&lost);
            Applied::blocked(again, id)
        })
    }

    /// The object handles in collection `id`'s contents.
    fn handles_in_collection(
        &mut self,
        id: ObjectId,
        out: &mut Vec<ObjectId>,
    ) -> Result<usize, Stop> {
        let mut values = Vec::new();
        match self.kind(id) {
            Some(ObjectKind::Dict) => {
                values.extend(dict::all(&mut self.redis, id)?.into_iter().map(|(_, v)| v));
            }
            Some(ObjectKind::List) => values = list::all(&mut self.redis, id)?,
            Some(kind) => {
                for of in contents_of(id, kind) {
                    for bytes in self.redis.items(of)? {
                        values.push(decoded(&bytes)?);
                    }
                }
            }
            None => {}
        }
        for value in &values {
            value.object_ids(out);
        }
        Ok(values.len())
    }

    /// Makes collection `object`, or gives it back when it is not one.
    fn create_collection(&mut self, object: NewObject) -> Result<Result<Created, Stop>, NewObject> {
        let id = match &object {
            NewObject::Queue { .. }
            | NewObject::Pipe { .. }
            | NewObject::Dict(_)
            | NewObject::List(_) => self.small.new_id(),
            _ => return Err(object),
        };
        Ok(self.store_collection(id, object))
    }

    fn store_collection(&mut self, id: ObjectId, object: NewObject) -> Result<Created, Stop> {
        let kind = match object {
            NewObject::Queue { maxsize, joinable } => {
                let head = QueueHead {
                    maxsize,
                    closed: false,
                    joinable,
                    unfinished: 0,
                };
                self.redis.save(&[(id, encoded_head(&head))])?;
                let items = KnownList::new(0);
                self.heads
                    .insert(id, Head::Queue(QueueState { head, items }));
                ObjectKind::Queue { maxsize, joinable }
            }
            NewObject::Pipe { duplex } => {
                let pipe = PipeState::new();
                self.redis.save(&[(id, encoded_head(&pipe.head))])?;
                self.heads.insert(id, Head::Pipe(pipe));
                // The first end of a one-way pipe receives, the second sends.
                ObjectKind::PipeEnd {
                    end: 0,
                    can_send: duplex,
                    can_recv: true,
                }
            }
            NewObject::Dict(entries) => {
                let mut encoded_entries = Vec::with_capacity(entries.len());
                for (key, value) in &entries {
                    encoded_entries.push((key.as_str(), encoded(value)?));
                }
                self.redis
                    .set_entries(Contents::Entries(id), &encoded_entries)?;
                ObjectKind::Dict
            }
            NewObject::List(items) => {
                let items = items.iter().map(encoded).collect::<Result<Vec<_>, _>>()?;
                if !items.is_empty() {
                    self.redis.push(Contents::Items(id), &items, None)?;
                }
                ObjectKind::List
            }
            _ => unreachable!("`create_collection` passes only collections"),
        };
        self.kinds.insert(id, kind);
        Ok(Created {
            id,
            kind,
            direct: None,
        })
    }

    fn lose(&mut self, lost: &LostRedis) -> Failed {
        self.lose_because(lost.to_string())
    }

    fn lose_because(&mut self, line: String) -> Failed {
        if !self.gone {
            self.gone = true;
            self.lost = Some(line);
        }
        Failed::Lost
    }

    /// An operation that could not be made: after Redis was lost it waits
    /// (the run is ending, and its process gets no answer that could print
    /// a second line); an object too big is the caller's error.
    fn refused(failed: Failed, id: ObjectId, op: Op) -> Applied {
        match failed {
            Failed::Lost => Applied::blocked(op, id),
            Failed::TooBig(big, size) => Applied::invalid(too_big(big, size)),
        }
    }
}

impl ObjectStore for RedisStore {
    fn create(&mut self, who: ProcId, object: NewObject) -> Result<Created, HubError> {
        let lost = || HubError::new(ErrorKind::Invalid, "the run lost Redis");
        if self.gone {
            return Err(lost());
        }
        let object = match self.create_collection(object) {
            Ok(Ok(created)) => return Ok(created),
            Ok(Err(Stop::Refused(why))) => return Err(HubError::new(ErrorKind::Invalid, why)),
            Ok(Err(Stop::Lost(e))) => {
                self.lose(&e);
                return Err(lost());
            }
            Err(object) => object,
        };
        let created = self.small.create(who, object)?;
        match self.write_changed(&[created.id]) {
            Ok(()) => {
                self.kinds.insert(created.id, created.kind);
                Ok(created)
            }
            Err(Failed::TooBig(id, size)) => {
                Err(HubError::new(ErrorKind::Invalid, too_big(id, size)))
            }
            Err(Failed::Lost) => Err(lost()),
        }
    }

    fn free(&mut self, id: ObjectId) -> bool {
        let Some(kind) = self.kinds.remove(&id) else {
            return false;
        };
        self.heads.remove(&id);
        self.small.free(id);
        self.written.remove(&id);
        if !self.gone
            && let Err(lost) = self.redis.remove(id, &contents_of(id, kind))
        {
            self.lose(&lost);
        }
        true
    }

    fn handles_in(&mut self, id: ObjectId, out: &mut Vec<ObjectId>) -> usize {
        if self.gone {
            return 0;
        }
        if self.kind(id).is_some_and(is_collection) {
            return match self.handles_in_collection(id, out) {
                Ok(looked) => looked,
                Err(Stop::Lost(lost)) => {
                    self.lose(&lost);
                    0
                }
                // A damaged item holds nothing the hub can follow.
                Err(Stop::Refused(_)) => 0,
            };
        }
        self.small.handles_in(id, out)
    }

    fn apply(&mut self, id: ObjectId, who: ProcId, op: Op) -> Applied {
        if self.gone {
            return Applied::blocked(op, id);
        }
        if let Some(kind) = self.kind(id).filter(|&kind| is_collection(kind)) {
            return self.apply_to_collection(id, kind, op);
        }
        let ids = self.with_lock(id);
        // Kept for a refusal: the call consumes it.
        let again = op.clone();
        self.with_objects(&ids, |small| small.apply(id, who, op))
            .unwrap_or_else(|failed| Self::refused(failed, id, again))
    }

    fn timed_out(&mut self, id: ObjectId, who: ProcId, op: Op) -> Applied {
        if self.gone {
            return Applied::blocked(op, id);
        }
        if self.kind(id).is_some_and(is_collection) {
            // A collection's wait changed nothing that must be undone.
            return timed_out_answer(op);
        }
        let ids = self.with_lock(id);
        let again = op.clone();
        self.with_objects(&ids, |small| small.timed_out(id, who, op))
            .unwrap_or_else(|failed| Self::refused(failed, id, again))
    }

    fn withdraw(&mut self, id: ObjectId, who: ProcId, op: Op) -> Vec<ObjectId> {
        if self.kind(id).is_some_and(is_collection) {
            return Vec::new();
        }
        let ids = self.with_lock(id);
        self.with_objects(&ids, |small| small.withdraw(id, who, op))
            .unwrap_or_default()
    }

    fn unwatched(&mut self, id: ObjectId) {
        // Only a lock keeps a mark of its waiters outside shared memory.
        if matches!(self.kind(id), Some(ObjectKind::Lock | ObjectKind::RLock)) {
            let _ = self.with_objects(&[id], |small| small.unwatched(id));
        }
    }

    fn forget_process(&mut self, who: ProcId, abnormally: bool) -> Forgotten {
        // What a process can leave something in: a lock it holds, the
        // units of a semaphore, a barrier or condition it waits on.
        let mut ids: Vec<ObjectId> = self
            .kinds
            .iter()
            .filter(|(_, kind)| match kind {
                ObjectKind::Lock
                | ObjectKind::RLock
                | ObjectKind::Barrier { .. }
                | ObjectKind::Condition { .. } => true,
                ObjectKind::Semaphore { .. } => abnormally,
                _ => false,
            })
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        self.with_objects(&ids, |small| small.forget_process(who, abnormally))
            .unwrap_or_default()
    }

    fn free_shared_memory(&mut self, _holder: u64) {
        // A cluster run's objects have no shared memory.
    }

    fn set_hub_first(&mut self, _id: ObjectId, _on: bool) {
        // Nor rings to put around.
    }

    fn take_warnings(&mut self) -> Vec<String> {
        self.small.take_warnings()
    }

    fn lost(&mut self) -> Option<String> {
        if !self.gone
            && let Err(lost) = self.redis.settle_if_due(Instant::now())
        {
            self.lose(&lost);
        }
        self.lost.take()
    }

    fn wake_at(&self) -> Option<Instant> {
        match self.gone {
            true => None,
            false => self.redis.settle_due(),
        }
    }

    fn settle(&mut self) -> Option<String> {
        if !self.gone
            && let Err(lost) = self.redis.settle()
        {
            self.lose(&lost);
        }
        self.lost.take()
    }
}
