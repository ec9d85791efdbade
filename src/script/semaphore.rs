//! `Semaphore`: `semaphore(n)`, `bounded_semaphore(n)`, `acquire`,
//! `release`, `value`. Units held by a process that dies come back.

use super::refs::Holder;
use rhai::{Engine, EvalAltResult, INT};

use super::objects::{call, call_bool, call_int, create, register_show, register_timed};
use super::script_error;
use crate::trace_recorder::blocking;
use crate::wire::{Handle, NewObject, ObjectId, ObjectKind, Op};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct SemaphoreHandle {
    pub id: ObjectId,
    /// This process's share in the hub's count on the object.
    pub held: Holder,
    pub bounded: bool,
}

impl SemaphoreHandle {
    /// As the script prints it, and a trace names what a wait was on.
    fn label(&self) -> String {
        let kind = if self.bounded {
            "BoundedSemaphore"
        } else {
            "Semaphore"
        };
        format!("{kind}(#{})", self.id)
    }

    pub fn handle(&self) -> Handle {
        Handle::Object {
            id: self.id,
            kind: ObjectKind::Semaphore {
                bounded: self.bounded,
            },
            direct: None,
        }
    }
}

fn new_semaphore(call: &str, value: INT, bounded: bool) -> Result<SemaphoreHandle> {
    if value < 0 {
        return Err(script_error(format!(
            "{call}: the initial value must not be negative, not {value}"
        )));
    }
    let (id, _) = create(NewObject::Semaphore {
        value: value as u64,
        bounded,
    })?;
    Ok(SemaphoreHandle {
        held: Holder::delivered(id),
        id,
        bounded,
    })
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<SemaphoreHandle>("Semaphore");
    engine.register_fn("semaphore", |n: INT| new_semaphore("semaphore", n, false));
    engine.register_fn("semaphore", || new_semaphore("semaphore", 1, false));
    engine.register_fn("bounded_semaphore", |n: INT| {
        new_semaphore("bounded_semaphore", n, true)
    });
    engine.register_fn("bounded_semaphore", || {
        new_semaphore("bounded_semaphore", 1, true)
    });
    register_timed!(
        engine,
        "acquire",
        SemaphoreHandle,
        |s: &mut SemaphoreHandle, t| {
            blocking(
                "semaphore acquire",
                || s.label(),
                || call_bool(s.id, Op::Acquire, t),
            )
        }
    );
    engine.register_fn("release", |s: &mut SemaphoreHandle| -> Result<()> {
        call(s.id, Op::Release, None).map(|_| ())
    });
    engine.register_fn("value", |s: &mut SemaphoreHandle| {
        call_int(s.id, Op::SemaphoreValue)
    });
    register_show!(engine, SemaphoreHandle, |s: &mut SemaphoreHandle| s.label());
}
