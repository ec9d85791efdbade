//! `Queue`: `queue()` / `queue(maxsize)` and its methods. An unbounded put
//! cannot block or fail, so it goes to the hub one-way, without a round trip.

use rhai::{Dynamic, Engine, EvalAltResult, INT};

use super::convert::{from_wire, sendable};
use super::{script_error, timeout_arg};
use crate::client::{self, unexpected};
use crate::wire::{Handle, ObjectId, Reply, Request};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct QueueHandle {
    pub id: ObjectId,
    pub maxsize: Option<u64>,
}

impl QueueHandle {
    pub fn handle(&self) -> Handle {
        Handle::Queue {
            id: self.id,
            maxsize: self.maxsize,
        }
    }

    fn put(&mut self, value: &Dynamic, timeout: Option<f64>) -> Result<()> {
        let value = sendable("put", value)?;
        let reply = self.maxsize.is_some();
        let request = Request::QueuePut {
            id: self.id,
            value,
            timeout,
            reply,
        };
        if reply {
            client::call(&request)?;
        } else {
            client::send(&request)?;
        }
        Ok(())
    }

    fn get(&mut self, timeout: Option<f64>) -> Result<Dynamic> {
        match client::call(&Request::QueueGet {
            id: self.id,
            timeout,
        })? {
            Reply::Value(v) => Ok(from_wire(v)),
            other => Ok(unexpected(other)?),
        }
    }

    fn len(&mut self) -> Result<INT> {
        match client::call(&Request::QueueLen { id: self.id })? {
            Reply::Int(n) => Ok(n),
            other => Ok(unexpected(other)?),
        }
    }
}

fn new_queue(maxsize: Option<usize>) -> Result<QueueHandle> {
    match client::call(&Request::QueueNew { maxsize })? {
        Reply::Handle(Handle::Queue { id, maxsize }) => Ok(QueueHandle { id, maxsize }),
        other => Ok(unexpected(other)?),
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<QueueHandle>("Queue");
    engine.register_fn("queue", || new_queue(None));
    engine.register_fn("queue", |maxsize: INT| {
        if maxsize < 1 {
            return Err(script_error(format!(
                "queue: maxsize must be at least 1 (queue() makes an unbounded queue), not {maxsize}"
            )));
        }
        new_queue(Some(maxsize as usize))
    });
    engine.register_fn("put", |q: &mut QueueHandle, v: Dynamic| q.put(&v, None));
    engine.register_fn("put", |q: &mut QueueHandle, v: Dynamic, t: Dynamic| {
        let secs = timeout_arg("put", &t)?;
        q.put(&v, Some(secs))
    });
    engine.register_fn("get", |q: &mut QueueHandle| q.get(None));
    engine.register_fn("get", |q: &mut QueueHandle, t: Dynamic| {
        let secs = timeout_arg("get", &t)?;
        q.get(Some(secs))
    });
    engine.register_fn("len", |q: &mut QueueHandle| q.len());
    engine.register_fn("is_empty", |q: &mut QueueHandle| q.len().map(|n| n == 0));
    engine.register_fn("is_full", |q: &mut QueueHandle| -> Result<bool> {
        match q.maxsize {
            Some(max) => Ok(q.len()? as u64 >= max),
            None => Ok(false),
        }
    });
    let show = |q: &mut QueueHandle| match q.maxsize {
        Some(max) => format!("Queue(#{}, maxsize {max})", q.id),
        None => format!("Queue(#{})", q.id),
    };
    engine.register_fn("to_string", show);
    engine.register_fn("to_debug", show);
}
