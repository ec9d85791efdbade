//! What every shared-object binding does: make the object in the hub, send
//! it one operation, and read the answer. One place, so each type's file is
//! only its script-visible surface.

use rhai::{Dynamic, EvalAltResult};

use super::convert::from_wire;
use crate::client::{self, unexpected};
use crate::wire::{Handle, NewObject, ObjectId, Op, Reply, Request, Value};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Makes an object in the hub and returns its id and where this process
/// may reach it directly (`Handle::Object`'s `direct`), if it may.
pub fn create(object: NewObject) -> Result<(ObjectId, Option<u32>)> {
    match client::call(&Request::Create { object })? {
        Reply::Handle(Handle::Object { id, direct, .. }) => Ok((id, direct)),
        other => Ok(unexpected(other)?),
    }
}

/// Applies `op` to object `id`, waiting at most `timeout` seconds if it blocks.
pub fn call(id: ObjectId, op: Op, timeout: Option<f64>) -> Result<Value> {
    match client::call(&Request::Object {
        id,
        op,
        timeout,
        reply: true,
    })? {
        Reply::Value(v) => Ok(v),
        other => Ok(unexpected(other)?),
    }
}

pub fn call_dynamic(id: ObjectId, op: Op, timeout: Option<f64>) -> Result<Dynamic> {
    call(id, op, timeout).map(from_wire)
}

pub fn call_bool(id: ObjectId, op: Op, timeout: Option<f64>) -> Result<bool> {
    Ok(matches!(call(id, op, timeout)?, Value::Bool(true)))
}

pub fn call_int(id: ObjectId, op: Op) -> Result<rhai::INT> {
    match call(id, op, None)? {
        Value::Int(n) => Ok(n),
        _ => Ok(0),
    }
}

/// Sends `op` without waiting: only for operations that can neither block nor fail.
pub fn tell(id: ObjectId, op: Op) -> Result<()> {
    client::send(&Request::Object {
        id,
        op,
        timeout: None,
        reply: false,
    })?;
    Ok(())
}

/// Registers `to_string` and `to_debug` with one formatter.
macro_rules! register_show {
    ($engine:expr, $ty:ty, $show:expr) => {{
        $engine.register_fn("to_string", $show);
        $engine.register_fn("to_debug", $show);
    }};
}
pub(crate) use register_show;

/// Registers a method twice: without a timeout, and with one (int or float seconds).
macro_rules! register_timed {
    ($engine:expr, $name:literal, $ty:ty, $body:expr) => {{
        let body = $body;
        $engine.register_fn($name, move |h: &mut $ty| body(h, None));
        $engine.register_fn($name, move |h: &mut $ty, t: rhai::Dynamic| {
            let secs = $crate::script::timeout_arg($name, &t)?;
            body(h, Some(secs))
        });
    }};
}
pub(crate) use register_timed;
