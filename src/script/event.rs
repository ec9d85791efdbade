//! `Event`: `event()`, `set`, `clear`, `is_set`, `wait`, `wait(timeout)`.

use super::refs::Holder;
use rhai::{Engine, EvalAltResult};

use super::objects::{call, call_bool, create, register_show, register_timed};
use crate::trace_recorder::blocking;
use crate::wire::{Handle, NewObject, ObjectId, ObjectKind, Op};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct EventHandle {
    pub id: ObjectId,
    /// This process's share in the hub's count on the object.
    pub held: Holder,
}

impl EventHandle {
    /// As the script prints it, and a trace names what a wait was on.
    fn label(&self) -> String {
        format!("Event(#{})", self.id)
    }

    pub fn handle(&self) -> Handle {
        Handle::Object {
            id: self.id,
            kind: ObjectKind::Event,
            direct: None,
        }
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<EventHandle>("Event");
    engine.register_fn("event", || -> Result<EventHandle> {
        let (id, _) = create(NewObject::Event)?;
        Ok(EventHandle {
            held: Holder::delivered(id),
            id,
        })
    });
    engine.register_fn("set", |e: &mut EventHandle| -> Result<()> {
        call(e.id, Op::Set, None).map(|_| ())
    });
    engine.register_fn("clear", |e: &mut EventHandle| -> Result<()> {
        call(e.id, Op::Clear, None).map(|_| ())
    });
    engine.register_fn("is_set", |e: &mut EventHandle| {
        call_bool(e.id, Op::IsSet, None)
    });
    register_timed!(engine, "wait", EventHandle, |e: &mut EventHandle, t| {
        blocking("event wait", || e.label(), || call_bool(e.id, Op::Wait, t))
    });
    register_show!(engine, EventHandle, |e: &mut EventHandle| e.label());
}
