//! A manager dict in Redis: its entries a hash (`Contents::Entries`), each
//! value encoded. It has no head. Answers are those of `store::shared`'s
//! dict, in the same order (by key), so a dict behaves the same in either
//! store.

use super::{Contents, RunObjects, Stop, count, decoded, encoded, finish};
use crate::cluster::LostRedis;
use crate::store::Applied;
use crate::wire::{DictOp, ObjectId, Op, Value};

pub fn apply(redis: &mut RunObjects, id: ObjectId, op: Op) -> Result<Applied, LostRedis> {
    let Op::Dict(op) = op else {
        return Ok(Applied::invalid(format!("a dict has no operation {op:?}")));
    };
    finish(answer(redis, id, op))
}

fn answer(redis: &mut RunObjects, id: ObjectId, op: DictOp) -> Result<Value, Stop> {
    let entries = Contents::Entries(id);
    Ok(match op {
        DictOp::Get(key) => value_or(redis.entry(entries, &key)?, Value::Unit)?,
        DictOp::GetOr(key, default) => value_or(redis.entry(entries, &key)?, default)?,
        DictOp::Set(key, value) => {
            redis.set_entries(entries, &[(&key, encoded(&value)?)])?;
            Value::Unit
        }
        DictOp::Contains(key) => Value::Bool(redis.has_entry(entries, &key)?),
        DictOp::Remove(key) => value_or(redis.remove_entry(entries, &key)?, Value::Unit)?,
        DictOp::Keys => Value::Array(
            all(redis, id)?
                .into_iter()
                .map(|(key, _)| Value::Str(key))
                .collect(),
        ),
        DictOp::Values => Value::Array(all(redis, id)?.into_iter().map(|(_, v)| v).collect()),
        DictOp::Len => Value::Int(count(redis.entry_count(entries)?)),
        DictOp::Clear => {
            redis.clear(entries)?;
            Value::Unit
        }
        DictOp::ToMap => Value::Map(all(redis, id)?),
    })
}

/// The value an entry holds, or `default` when there is none.
fn value_or(entry: Option<Vec<u8>>, default: Value) -> Result<Value, Stop> {
    entry.map_or(Ok(default), |bytes| decoded(&bytes))
}

/// Every entry of dict `id`, by key.
pub fn all(redis: &mut RunObjects, id: ObjectId) -> Result<Vec<(String, Value)>, Stop> {
    let mut entries = Vec::new();
    for (key, bytes) in redis.entries(Contents::Entries(id))? {
        let Ok(key) = String::from_utf8(key) else {
            return Err(Stop::Refused(
                "a damaged dict entry: its key is not text".to_string(),
            ));
        };
        entries.push((key, decoded(&bytes)?));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}
