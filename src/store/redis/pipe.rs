//! A pipe in Redis: what waits at each end a list (`Contents::Inbox`), its
//! head (which ends are closed) a field of the run's objects. The hub
//! knows what waits at each end as it knows a queue's items (`KnownList`).
//! Answers are `store::pipe`'s, so a pipe behaves the same in either store.

use serde::{Deserialize, Serialize};

use super::known::KnownList;
use super::{Contents, RunObjects, Stop, decoded, encoded, encoded_head};
use crate::cluster::LostRedis;
use crate::store::Applied;
use crate::store::pipe::{broken_pipe, end_closed, end_of, eof};
use crate::wire::{ObjectId, Op, Value};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PipeHead {
    pub closed: [bool; 2],
}

/// A pipe as the hub holds it: its head, and what it knows of each end's
/// messages.
#[derive(Debug)]
pub struct PipeState {
    pub head: PipeHead,
    pub inboxes: [KnownList; 2],
}

impl PipeState {
    pub fn new() -> PipeState {
        PipeState {
            head: PipeHead::default(),
            inboxes: [KnownList::new(0), KnownList::new(0)],
        }
    }
}

pub fn apply(
    redis: &mut RunObjects,
    id: ObjectId,
    pipe: &mut PipeState,
    op: Op,
) -> Result<Applied, LostRedis> {
    let end = match end_of(&op) {
        Ok(end) => end,
        Err(refused) => return Ok(Applied::invalid(refused)),
    };
    let peer = 1 - end;
    // `end_of` checked it is 0 or 1.
    let inbox = |end: usize| Contents::Inbox(id, end as u8);
    let closed = pipe.head.closed;
    Ok(match op {
        Op::Send { .. } | Op::Recv { .. } | Op::Poll { .. } if closed[end] => end_closed(),
        Op::Send { .. } if closed[peer] => broken_pipe(),
        Op::Send { value, .. } => match encoded(&value) {
            Ok(bytes) => {
                redis.push(inbox(peer), &[bytes], None)?;
                pipe.inboxes[peer].pushed(1);
                Applied::changed(Value::Unit, id)
            }
            Err(Stop::Refused(why)) => Applied::invalid(format!("send: {why}")),
            Err(Stop::Lost(lost)) => return Err(lost),
        },
        Op::Recv { .. } => match pipe.inboxes[end].take_first(redis, inbox(end))? {
            Some(bytes) => match decoded(&bytes) {
                Ok(value) => Applied::done(value),
                Err(stop) => return super::finish(Err(stop)),
            },
            None if closed[peer] => eof(),
            None => Applied::blocked(op, id),
        },
        Op::Poll { .. } if closed[peer] || !pipe.inboxes[end].is_empty() => {
            Applied::done(Value::Bool(true))
        }
        Op::Poll { .. } => Applied::blocked(op, id),
        Op::CloseEnd { .. } => {
            pipe.head.closed[end] = true;
            redis.save(&[(id, encoded_head(&pipe.head))])?;
            Applied::changed(Value::Unit, id)
        }
        _ => unreachable!("`end_of` lets only a pipe's operations through"),
    })
}
