//! `LocalStore`: the objects kept in the hub's own memory.

use std::collections::{HashMap, VecDeque};

use super::list::apply_list_op;
use super::{ObjectStore, StoreError, StoreResult};
use crate::wire::{ListOp, ObjectId, ProcId, Value};

struct Queue {
    items: VecDeque<Value>,
    maxsize: Option<usize>,
}

impl Queue {
    fn is_full(&self) -> bool {
        self.maxsize.is_some_and(|max| self.items.len() >= max)
    }
}

#[derive(Default)]
struct Lock {
    holder: Option<ProcId>,
}

enum Object {
    Queue(Queue),
    Lock(Lock),
    List(Vec<Value>),
}

#[derive(Default)]
pub struct LocalStore {
    objects: HashMap<ObjectId, Object>,
    next_id: ObjectId,
}

macro_rules! object_accessors {
    ($get:ident, $get_mut:ident, $variant:ident, $ty:ty, $kind:literal) => {
        fn $get(&self, id: ObjectId) -> StoreResult<&$ty> {
            match self.objects.get(&id) {
                Some(Object::$variant(o)) => Ok(o),
                _ => Err(StoreError::Unknown { kind: $kind, id }),
            }
        }
        fn $get_mut(&mut self, id: ObjectId) -> StoreResult<&mut $ty> {
            match self.objects.get_mut(&id) {
                Some(Object::$variant(o)) => Ok(o),
                _ => Err(StoreError::Unknown { kind: $kind, id }),
            }
        }
    };
}

impl LocalStore {
    fn insert(&mut self, object: Object) -> ObjectId {
        self.next_id += 1;
        self.objects.insert(self.next_id, object);
        self.next_id
    }

    object_accessors!(queue, queue_mut, Queue, Queue, "queue");
    object_accessors!(lock, lock_mut, Lock, Lock, "lock");
    fn list_mut(&mut self, id: ObjectId) -> StoreResult<&mut Vec<Value>> {
        match self.objects.get_mut(&id) {
            Some(Object::List(o)) => Ok(o),
            _ => Err(StoreError::Unknown { kind: "list", id }),
        }
    }
}

impl ObjectStore for LocalStore {
    fn new_queue(&mut self, maxsize: Option<usize>) -> ObjectId {
        self.insert(Object::Queue(Queue {
            items: VecDeque::new(),
            maxsize,
        }))
    }

    fn queue_push(&mut self, id: ObjectId, value: Value) -> StoreResult<Result<(), Value>> {
        let queue = self.queue_mut(id)?;
        if queue.is_full() {
            return Ok(Err(value));
        }
        queue.items.push_back(value);
        Ok(Ok(()))
    }

    fn queue_pop(&mut self, id: ObjectId) -> StoreResult<Option<Value>> {
        Ok(self.queue_mut(id)?.items.pop_front())
    }

    fn queue_len(&self, id: ObjectId) -> StoreResult<usize> {
        Ok(self.queue(id)?.items.len())
    }

    fn queue_is_full(&self, id: ObjectId) -> StoreResult<bool> {
        Ok(self.queue(id)?.is_full())
    }

    fn new_lock(&mut self) -> ObjectId {
        self.insert(Object::Lock(Lock::default()))
    }

    fn lock_try_acquire(&mut self, id: ObjectId, who: ProcId) -> StoreResult<bool> {
        let lock = self.lock_mut(id)?;
        if lock.holder.is_some() {
            return Ok(false);
        }
        lock.holder = Some(who);
        Ok(true)
    }

    fn lock_release(&mut self, id: ObjectId) -> StoreResult<()> {
        match self.lock_mut(id)?.holder.take() {
            Some(_) => Ok(()),
            None => Err(StoreError::Invalid("release: the lock is not held".into())),
        }
    }

    fn lock_holder(&self, id: ObjectId) -> StoreResult<Option<ProcId>> {
        Ok(self.lock(id)?.holder)
    }

    fn release_locks_of(&mut self, who: ProcId) -> Vec<ObjectId> {
        let mut freed: Vec<ObjectId> = self
            .objects
            .iter_mut()
            .filter_map(|(id, object)| match object {
                Object::Lock(lock) if lock.holder == Some(who) => {
                    lock.holder = None;
                    Some(*id)
                }
                _ => None,
            })
            .collect();
        freed.sort_unstable();
        freed
    }

    fn new_list(&mut self, items: Vec<Value>) -> ObjectId {
        self.insert(Object::List(items))
    }

    fn list_op(&mut self, id: ObjectId, op: ListOp) -> StoreResult<Value> {
        apply_list_op(self.list_mut(id)?, op)
    }
}
