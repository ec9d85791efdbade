//! `ManagerDict`: `manager_dict()` / `manager_dict(map)`, a string-keyed map
//! that lives in the hub; every call is one atomic operation there.

use super::refs::Holder;
use rhai::{Dynamic, Engine, EvalAltResult, INT, ImmutableString, Map};

use super::convert::storable;
use super::objects::{call, call_dynamic, create, register_show};
use crate::wire::{DictOp, Handle, NewObject, ObjectId, ObjectKind, Op};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct DictHandle {
    pub id: ObjectId,
    /// This process's share in the hub's count on the object.
    pub held: Holder,
}

impl DictHandle {
    pub fn handle(&self) -> Handle {
        Handle::Object {
            id: self.id,
            kind: ObjectKind::Dict,
            direct: None,
        }
    }

    fn ask(&self, op: DictOp) -> Result<Dynamic> {
        call_dynamic(self.id, Op::Dict(op), None)
    }

    fn set(&self, key: &str, value: &Dynamic) -> Result<()> {
        call(
            self.id,
            Op::Dict(DictOp::Set(key.to_string(), storable("set", value)?)),
            None,
        )
        .map(|_| ())
    }
}

fn new_dict(map: Map) -> Result<DictHandle> {
    let entries = map
        .iter()
        .map(|(k, v)| Ok((k.to_string(), storable("manager_dict", v)?)))
        .collect::<Result<Vec<_>>>()?;
    let (id, _) = create(NewObject::Dict(entries))?;
    Ok(DictHandle {
        held: Holder::delivered(id),
        id,
    })
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<DictHandle>("ManagerDict");
    engine.register_fn("manager_dict", || new_dict(Map::new()));
    engine.register_fn("manager_dict", new_dict);
    engine.register_indexer_get(|d: &mut DictHandle, k: ImmutableString| {
        d.ask(DictOp::Get(k.to_string()))
    });
    engine.register_indexer_set(|d: &mut DictHandle, k: ImmutableString, v: Dynamic| d.set(&k, &v));
    engine.register_fn("get", |d: &mut DictHandle, k: ImmutableString| {
        d.ask(DictOp::Get(k.to_string()))
    });
    engine.register_fn(
        "get",
        |d: &mut DictHandle, k: ImmutableString, default: Dynamic| -> Result<Dynamic> {
            d.ask(DictOp::GetOr(k.to_string(), storable("get", &default)?))
        },
    );
    engine.register_fn(
        "set",
        |d: &mut DictHandle, k: ImmutableString, v: Dynamic| d.set(&k, &v),
    );
    engine.register_fn(
        "contains",
        |d: &mut DictHandle, k: ImmutableString| -> Result<bool> {
            Ok(d.ask(DictOp::Contains(k.to_string()))?
                .as_bool()
                .unwrap_or(false))
        },
    );
    engine.register_fn("remove", |d: &mut DictHandle, k: ImmutableString| {
        d.ask(DictOp::Remove(k.to_string()))
    });
    engine.register_fn("keys", |d: &mut DictHandle| d.ask(DictOp::Keys));
    engine.register_fn("values", |d: &mut DictHandle| d.ask(DictOp::Values));
    engine.register_fn("len", |d: &mut DictHandle| -> Result<INT> {
        Ok(d.ask(DictOp::Len)?.as_int().unwrap_or(0))
    });
    engine.register_fn("clear", |d: &mut DictHandle| {
        d.ask(DictOp::Clear).map(|_| ())
    });
    engine.register_fn("to_map", |d: &mut DictHandle| d.ask(DictOp::ToMap));
    register_show!(engine, DictHandle, |d: &mut DictHandle| -> Result<String> {
        Ok(format!("{:?}", d.ask(DictOp::ToMap)?))
    });
}
