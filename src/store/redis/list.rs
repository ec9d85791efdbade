//! A manager list in Redis: its items a list (`Contents::Items`), each
//! encoded. It has no head. Indexes follow `store::list` (Rhai's array
//! conventions, the same errors), so a list behaves the same in either
//! store.

use super::{Contents, RunObjects, Stop, count, decoded, encoded, finish};
use crate::cluster::LostRedis;
use crate::store::Applied;
use crate::store::list::resolve;
use crate::wire::{ListOp, ObjectId, Op, Value};

pub fn apply(redis: &mut RunObjects, id: ObjectId, op: Op) -> Result<Applied, LostRedis> {
    let Op::List(op) = op else {
        return Ok(Applied::invalid(format!("a list has no operation {op:?}")));
    };
    finish(answer(redis, id, op))
}

fn answer(redis: &mut RunObjects, id: ObjectId, op: ListOp) -> Result<Value, Stop> {
    let items = Contents::Items(id);
    Ok(match op {
        ListOp::Push(value) => {
            redis.push(items, &[encoded(&value)?], None)?;
            Value::Unit
        }
        ListOp::Append(values) => {
            let new = values.iter().map(encoded).collect::<Result<Vec<_>, _>>()?;
            if !new.is_empty() {
                redis.push(items, &new, None)?;
            }
            Value::Unit
        }
        ListOp::Pop => optional(redis.pop_back(items)?)?,
        ListOp::Insert(index, value) => {
            let at = at(redis, items, index, true)?;
            redis.insert(items, at, &encoded(&value)?)?;
            Value::Unit
        }
        ListOp::Remove(index) => {
            let at = at(redis, items, index, false)?;
            optional(redis.remove_item(items, at)?)?
        }
        ListOp::Len => Value::Int(count(redis.len(items)?)),
        ListOp::Clear => {
            redis.clear(items)?;
            Value::Unit
        }
        ListOp::Contains(value) => Value::Bool(all(redis, id)?.contains(&value)),
        ListOp::Get(index) => {
            let at = at(redis, items, index, false)?;
            optional(redis.item(items, at)?)?
        }
        ListOp::Set(index, value) => {
            let at = at(redis, items, index, false)?;
            redis.set_item(items, at, &encoded(&value)?)?;
            Value::Unit
        }
        ListOp::ToArray => Value::Array(all(redis, id)?),
    })
}

/// Where `index` is in the list (`allow_end`: one past its last item too).
fn at(redis: &mut RunObjects, items: Contents, index: i64, allow_end: bool) -> Result<u64, Stop> {
    let len = usize::try_from(redis.len(items)?).unwrap_or(usize::MAX);
    match resolve(index, len, allow_end) {
        Ok(at) => Ok(at as u64),
        Err(refusal) => Err(Stop::Refused(refusal)),
    }
}

/// An item taken or read, or `()` when there was none.
fn optional(item: Option<Vec<u8>>) -> Result<Value, Stop> {
    item.map_or(Ok(Value::Unit), |bytes| decoded(&bytes))
}

/// Every item of list `id`, in order.
pub fn all(redis: &mut RunObjects, id: ObjectId) -> Result<Vec<Value>, Stop> {
    redis
        .items(Contents::Items(id))?
        .iter()
        .map(|bytes| decoded(bytes))
        .collect()
}
