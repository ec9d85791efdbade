//! A queue in Redis: its items a list (`Contents::Items`), its head (size
//! limit, closed, joinable, tasks not yet done) a field of the run's
//! objects. The hub knows how many items it holds and reads its first ones
//! ahead (`KnownList`), so only a put and a get's drop reach Redis, sent
//! without waiting. Answers are `store::queue`'s, so a queue behaves the
//! same in either store.

use serde::{Deserialize, Serialize};

use super::known::KnownList;
use super::{Contents, RunObjects, Stop, count, encoded, encoded_head};
use crate::cluster::LostRedis;
use crate::store::Applied;
use crate::store::queue::{closed, closed_and_empty, got, no_operation, task_counting};
use crate::wire::{ObjectId, Op, Value};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueueHead {
    pub maxsize: Option<u64>,
    pub closed: bool,
    pub joinable: bool,
    /// Items put and not yet marked done (joinable queues).
    pub unfinished: u64,
}

/// A queue as the hub holds it: its head, and what it knows of its items.
#[derive(Debug)]
pub struct QueueState {
    pub head: QueueHead,
    pub items: KnownList,
}

pub fn apply(
    redis: &mut RunObjects,
    id: ObjectId,
    queue: &mut QueueState,
    op: Op,
) -> Result<Applied, LostRedis> {
    let items = Contents::Items(id);
    let head = &mut queue.head;
    Ok(match op {
        Op::Put(_) if head.closed => closed(),
        Op::Put(value) if head.maxsize.is_some_and(|max| queue.items.len() >= max) => {
            Applied::blocked(Op::Put(value), id)
        }
        Op::Put(value) => {
            let bytes = match encoded(&value) {
                Ok(bytes) => bytes,
                Err(Stop::Refused(why)) => return Ok(Applied::invalid(format!("put: {why}"))),
                Err(Stop::Lost(lost)) => return Err(lost),
            };
            if head.joinable {
                head.unfinished += 1;
                redis.push(items, &[bytes], Some((id, &encoded_head(head))))?;
            } else {
                redis.push(items, &[bytes], None)?;
            }
            queue.items.pushed(1);
            Applied::changed(Value::Unit, id)
        }
        Op::Get => match queue.items.take_first(redis, items)? {
            Some(bytes) => got(id, &bytes),
            None if head.closed => closed_and_empty(),
            None => Applied::blocked(Op::Get, id),
        },
        Op::Len => Applied::done(Value::Int(count(queue.items.len()))),
        Op::Wake => Applied::changed(Value::Unit, id),
        Op::Close => {
            head.closed = true;
            redis.save(&[(id, encoded_head(head))])?;
            Applied::changed(Value::Unit, id)
        }
        Op::TaskDone | Op::JoinQueue => {
            let before = head.unfinished;
            let applied = task_counting(id, op, head.joinable, &mut head.unfinished);
            if head.unfinished != before {
                redis.save(&[(id, encoded_head(head))])?;
            }
            applied
        }
        other => no_operation(&other),
    })
}
