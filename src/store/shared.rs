//! Shared values and dicts: each call is one atomic step in the store.

use std::collections::BTreeMap;

use super::Applied;
use super::list::apply_list_op;
use crate::wire::{DictOp, ObjectId, Op, Value};

pub fn apply_value(cell: &mut Value, id: ObjectId, op: Op) -> Applied {
    match op {
        Op::ValueGet => Applied::done(cell.clone()),
        Op::ValueSet(v) => {
            *cell = v;
            Applied::changed(Value::Unit, id)
        }
        Op::ValueAdd(n) => {
            let sum = match (&*cell, &n) {
                (Value::Int(a), Value::Int(b)) => match a.checked_add(*b) {
                    Some(s) => Value::Int(s),
                    None => return Applied::invalid("add: the sum overflows an integer"),
                },
                (Value::Int(a), Value::Float(b)) => Value::Float(*a as f64 + b),
                (Value::Float(a), Value::Int(b)) => Value::Float(a + *b as f64),
                (Value::Float(a), Value::Float(b)) => Value::Float(a + b),
                (Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
                _ => {
                    return Applied::invalid(
                        "add: the value and the amount must both be numbers (or both strings)",
                    );
                }
            };
            *cell = sum.clone();
            Applied::changed(sum, id)
        }
        other => Applied::invalid(format!("a value has no operation {other:?}")),
    }
}

pub fn apply_dict(map: &mut BTreeMap<String, Value>, op: Op) -> Applied {
    let Op::Dict(op) = op else {
        return Applied::invalid(format!("a dict has no operation {op:?}"));
    };
    Applied::done(match op {
        DictOp::Get(k) => map.get(&k).cloned().unwrap_or(Value::Unit),
        DictOp::GetOr(k, default) => map.get(&k).cloned().unwrap_or(default),
        DictOp::Set(k, v) => {
            map.insert(k, v);
            Value::Unit
        }
        DictOp::Contains(k) => Value::Bool(map.contains_key(&k)),
        DictOp::Remove(k) => map.remove(&k).unwrap_or(Value::Unit),
        DictOp::Keys => Value::Array(map.keys().cloned().map(Value::Str).collect()),
        DictOp::Values => Value::Array(map.values().cloned().collect()),
        DictOp::Len => Value::Int(map.len() as i64),
        DictOp::Clear => {
            map.clear();
            Value::Unit
        }
        DictOp::ToMap => Value::Map(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
    })
}

pub fn apply_list(list: &mut Vec<Value>, op: Op) -> Applied {
    let Op::List(op) = op else {
        return Applied::invalid(format!("a list has no operation {op:?}"));
    };
    match apply_list_op(list, op) {
        Ok(v) => Applied::done(v),
        Err(e) => Applied::invalid(e),
    }
}
