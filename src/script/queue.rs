//! `Queue`: `queue()`, `queue(maxsize)`, `joinable_queue()`,
//! `joinable_queue(maxsize)` and their methods.

use rhai::{Dynamic, Engine, EvalAltResult, INT};

use super::convert::sendable;
use super::objects::{call, call_dynamic, call_int, create, register_show, register_timed};
use super::script_error;
use crate::wire::{Handle, NewObject, ObjectId, ObjectKind, Op};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct QueueHandle {
    pub id: ObjectId,
    pub maxsize: Option<u64>,
    pub joinable: bool,
}

impl QueueHandle {
    pub fn handle(&self) -> Handle {
        Handle::Object {
            id: self.id,
            kind: ObjectKind::Queue {
                maxsize: self.maxsize,
                joinable: self.joinable,
            },
        }
    }

    fn len(&self) -> Result<INT> {
        call_int(self.id, Op::Len)
    }
}

fn new_queue(call: &str, maxsize: Option<INT>, joinable: bool) -> Result<QueueHandle> {
    if let Some(n) = maxsize.filter(|&n| n < 1) {
        return Err(script_error(format!(
            "{call}: maxsize must be at least 1 ({call}() makes an unbounded queue), not {n}"
        )));
    }
    let maxsize = maxsize.map(|n| n as u64);
    let (id, _) = create(NewObject::Queue { maxsize, joinable })?;
    Ok(QueueHandle {
        id,
        maxsize,
        joinable,
    })
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<QueueHandle>("Queue");
    engine.register_fn("queue", || new_queue("queue", None, false));
    engine.register_fn("queue", |maxsize: INT| {
        new_queue("queue", Some(maxsize), false)
    });
    engine.register_fn("joinable_queue", || new_queue("joinable_queue", None, true));
    engine.register_fn("joinable_queue", |maxsize: INT| {
        new_queue("joinable_queue", Some(maxsize), true)
    });
    engine.register_fn("put", |q: &mut QueueHandle, v: Dynamic| -> Result<()> {
        call(q.id, Op::Put(sendable("put", &v)?), None).map(|_| ())
    });
    engine.register_fn(
        "put",
        |q: &mut QueueHandle, v: Dynamic, t: Dynamic| -> Result<()> {
            let secs = super::timeout_arg("put", &t)?;
            call(q.id, Op::Put(sendable("put", &v)?), Some(secs)).map(|_| ())
        },
    );
    register_timed!(engine, "get", QueueHandle, |q: &mut QueueHandle, t| {
        call_dynamic(q.id, Op::Get, t)
    });
    engine.register_fn("len", |q: &mut QueueHandle| q.len());
    engine.register_fn("is_empty", |q: &mut QueueHandle| q.len().map(|n| n == 0));
    engine.register_fn("is_full", |q: &mut QueueHandle| -> Result<bool> {
        match q.maxsize {
            Some(max) => Ok(q.len()? as u64 >= max),
            None => Ok(false),
        }
    });
    engine.register_fn("close", |q: &mut QueueHandle| {
        call(q.id, Op::Close, None).map(|_| ())
    });
    engine.register_fn("task_done", |q: &mut QueueHandle| {
        call(q.id, Op::TaskDone, None).map(|_| ())
    });
    engine.register_fn("join", |q: &mut QueueHandle| {
        call(q.id, Op::JoinQueue, None).map(|_| ())
    });
    register_show!(engine, QueueHandle, |q: &mut QueueHandle| {
        let kind = if q.joinable { "JoinableQueue" } else { "Queue" };
        match q.maxsize {
            Some(max) => format!("{kind}(#{}, maxsize {max})", q.id),
            None => format!("{kind}(#{})", q.id),
        }
    });
}
