//! `ManagerList`: `manager_list()` / `manager_list(array)`, a list that lives
//! in the hub; every call is one atomic operation there. Calls that cannot
//! fail (`append`, `clear`) go one-way, and `push` goes into the list's ring
//! in shared memory when it has one, with no message at all: the hub moves
//! the ring's items into the list before any other operation on it, so every
//! read sees them. After an unanswered one-way message (a `clear`, an
//! `append`, a line) a push goes one-way too, so it stays behind it.

use super::refs::Holder;
use rhai::{Array, Dynamic, Engine, EvalAltResult, INT};

use super::convert::storable;
use super::objects::{call, call_dynamic, create, tell};
use crate::client;
use crate::shm::ring::{HUB_FIRST, POISONED};
use crate::shm::{self, Arena};
use crate::wire::{Handle, ListOp, NewObject, ObjectId, ObjectKind, Op, Value, encode_body};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct ListHandle {
    pub id: ObjectId,
    /// This process's share in the hub's count on the object.
    pub held: Holder,
    /// The list's ring in the arena, if it has one.
    pub ring: Option<u32>,
}

impl ListHandle {
    pub fn handle(&self) -> Handle {
        Handle::Object {
            id: self.id,
            kind: ObjectKind::List,
            direct: self.ring,
        }
    }

    fn ask(&self, op: ListOp) -> Result<Dynamic> {
        call_dynamic(self.id, Op::List(op), None)
    }

    fn tell(&self, op: ListOp) -> Result<()> {
        tell(self.id, Op::List(op))
    }

    fn push(&self, value: Value) -> Result<()> {
        // A ring held past the bound (its holder may be dead), or given up
        // by the hub: the push goes through the hub, behind the ring's. So
        // does a value holding a handle: the hub follows where those go.
        if let Some(ring) = self.ring.and_then(|slot| Arena::get()?.ring(slot))
            && !client::has_unconfirmed()
            && !value.carries_objects()
            && !ring.is_poisoned()
            && let Ok(bytes) = encode_body(&value)
            && let Some(inside) = ring.enter_within(client::self_id(), shm::SPIN)
            && inside.flags() & (POISONED | HUB_FIRST) == 0
            && inside.push(&bytes) == Ok(true)
        {
            return Ok(());
        }
        if client::has_unconfirmed() {
            // Behind the unanswered message, so one-way too.
            return self.tell(ListOp::Push(value));
        }
        // Answered, so that the pushes after it may take the ring again: a
        // one-way push here would send every later one through the hub too
        // until the process next waited for an answer.
        call(self.id, Op::List(ListOp::Push(value)), None).map(|_| ())
    }

    fn contents(&self) -> Result<Array> {
        Ok(self.ask(ListOp::ToArray)?.into_array().unwrap_or_default())
    }
}

impl IntoIterator for ListHandle {
    type Item = Result<Dynamic>;
    type IntoIter = Box<dyn Iterator<Item = Result<Dynamic>>>;

    /// Iterates over a snapshot taken when the loop starts.
    fn into_iter(self) -> Self::IntoIter {
        match self.contents() {
            Ok(items) => Box::new(items.into_iter().map(Ok)),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }
}

fn values(call: &str, items: &Array) -> Result<Vec<Value>> {
    items.iter().map(|v| storable(call, v)).collect()
}

fn new_list(items: Vec<Value>) -> Result<ListHandle> {
    let (id, ring) = create(NewObject::List(items))?;
    Ok(ListHandle {
        held: Holder::delivered(id),
        id,
        ring,
    })
}

fn show(l: &mut ListHandle) -> Result<String> {
    Ok(format!("{:?}", Dynamic::from_array(l.contents()?)))
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<ListHandle>("ManagerList");
    engine.register_iterator_result::<ListHandle, Dynamic>();
    engine.register_fn("manager_list", || new_list(Vec::new()));
    engine.register_fn("manager_list", |items: Array| {
        new_list(values("manager_list", &items)?)
    });
    engine.register_fn("push", |l: &mut ListHandle, v: Dynamic| {
        l.push(storable("push", &v)?)
    });
    engine.register_fn("append", |l: &mut ListHandle, items: Array| {
        l.tell(ListOp::Append(values("append", &items)?))
    });
    engine.register_fn("clear", |l: &mut ListHandle| l.tell(ListOp::Clear));
    engine.register_fn("pop", |l: &mut ListHandle| l.ask(ListOp::Pop));
    engine.register_fn(
        "insert",
        |l: &mut ListHandle, i: INT, v: Dynamic| -> Result<()> {
            l.ask(ListOp::Insert(i, storable("insert", &v)?))
                .map(|_| ())
        },
    );
    engine.register_fn("remove", |l: &mut ListHandle, i: INT| {
        l.ask(ListOp::Remove(i))
    });
    engine.register_fn("len", |l: &mut ListHandle| -> Result<INT> {
        Ok(l.ask(ListOp::Len)?.as_int().unwrap_or(0))
    });
    engine.register_fn("is_empty", |l: &mut ListHandle| -> Result<bool> {
        Ok(l.ask(ListOp::Len)?.as_int().unwrap_or(0) == 0)
    });
    engine.register_fn(
        "contains",
        |l: &mut ListHandle, v: Dynamic| -> Result<bool> {
            Ok(l.ask(ListOp::Contains(storable("contains", &v)?))?
                .as_bool()
                .unwrap_or(false))
        },
    );
    engine.register_fn("to_array", |l: &mut ListHandle| l.contents());
    engine.register_indexer_get(|l: &mut ListHandle, i: INT| l.ask(ListOp::Get(i)));
    engine.register_indexer_set(|l: &mut ListHandle, i: INT, v: Dynamic| -> Result<()> {
        l.ask(ListOp::Set(i, storable("list index", &v)?))
            .map(|_| ())
    });
    engine.register_fn("to_string", show);
    engine.register_fn("to_debug", show);
}
