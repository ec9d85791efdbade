//! `SharedValue`: `value(init)`, `get`, `set(v)`, and `add(n)`, which adds
//! atomically in the hub and returns the new value (no lost updates, no lock).

use super::refs::Holder;
use rhai::{Dynamic, Engine, EvalAltResult};

use super::convert::storable;
use super::objects::{call, call_dynamic, create, register_show};
use crate::wire::{Handle, NewObject, ObjectId, ObjectKind, Op};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct ValueHandle {
    pub id: ObjectId,
    /// This process's share in the hub's count on the object.
    pub held: Holder,
}

impl ValueHandle {
    pub fn handle(&self) -> Handle {
        Handle::Object {
            id: self.id,
            kind: ObjectKind::Value,
            direct: None,
        }
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<ValueHandle>("SharedValue");
    engine.register_fn("value", |init: Dynamic| -> Result<ValueHandle> {
        let (id, _) = create(NewObject::Value(storable("value", &init)?))?;
        Ok(ValueHandle {
            held: Holder::delivered(id),
            id,
        })
    });
    engine.register_fn("get", |v: &mut ValueHandle| {
        call_dynamic(v.id, Op::ValueGet, None)
    });
    engine.register_fn("set", |v: &mut ValueHandle, x: Dynamic| -> Result<()> {
        call(v.id, Op::ValueSet(storable("set", &x)?), None).map(|_| ())
    });
    engine.register_fn(
        "add",
        |v: &mut ValueHandle, n: Dynamic| -> Result<Dynamic> {
            call_dynamic(v.id, Op::ValueAdd(storable("add", &n)?), None)
        },
    );
    register_show!(
        engine,
        ValueHandle,
        |v: &mut ValueHandle| -> Result<String> {
            Ok(format!("{:?}", call_dynamic(v.id, Op::ValueGet, None)?))
        }
    );
}
