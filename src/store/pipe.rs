//! Pipes: two ends, each with its own inbox. `send` on one end fills the
//! other's inbox; `recv` on an end whose peer is closed and whose inbox is
//! empty fails with `EOF`. Message boundaries are kept: one send, one recv.

use std::collections::VecDeque;

use super::Applied;
use crate::wire::{ErrorKind, ObjectId, Op, Value};

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Pipe {
    inbox: [VecDeque<Value>; 2],
    closed: [bool; 2],
}

impl Pipe {
    /// The object handles in the messages waiting in either inbox.
    pub fn handles_in(&self, out: &mut Vec<ObjectId>) -> usize {
        for value in self.inbox.iter().flatten() {
            value.object_ids(out);
        }
        self.inbox[0].len() + self.inbox[1].len()
    }

    pub fn apply(&mut self, id: ObjectId, op: Op) -> Applied {
        let end = match end_of(&op) {
            Ok(end) => end,
            Err(refused) => return Applied::invalid(refused),
        };
        let peer = 1 - end;
        match op {
            Op::Send { .. } | Op::Recv { .. } | Op::Poll { .. } if self.closed[end] => end_closed(),
            Op::Send { .. } if self.closed[peer] => broken_pipe(),
            Op::Send { value, .. } => {
                self.inbox[peer].push_back(value);
                Applied::changed(Value::Unit, id)
            }
            Op::Recv { .. } => match self.inbox[end].pop_front() {
                Some(value) => Applied::done(value),
                None if self.closed[peer] => eof(),
                None => Applied::blocked(op, id),
            },
            Op::Poll { .. } if !self.inbox[end].is_empty() || self.closed[peer] => {
                Applied::done(Value::Bool(true))
            }
            Op::Poll { .. } => Applied::blocked(op, id),
            Op::CloseEnd { .. } => {
                self.closed[end] = true;
                Applied::changed(Value::Unit, id)
            }
            _ => unreachable!("matched above"),
        }
    }
}

// What pipes answer wherever their messages are (`LocalStore` here,
// `RedisStore` in Redis): one place for each answer.

/// The end `op` works on (0 or 1), or the error a request for anything else gets.
pub fn end_of(op: &Op) -> Result<usize, String> {
    let end = match op {
        Op::Send { end, .. } | Op::Recv { end } | Op::Poll { end } | Op::CloseEnd { end } => {
            *end as usize
        }
        other => {
            return Err(format!("a pipe has no operation {other:?}"));
        }
    };
    if end > 1 {
        return Err(format!("a pipe has no end {end}"));
    }
    Ok(end)
}

/// A send, receive or poll on an end that was closed.
pub fn end_closed() -> Applied {
    Applied::failed(ErrorKind::Closed, "Closed: this end of the pipe is closed")
}

/// A send to an end that was closed.
pub fn broken_pipe() -> Applied {
    Applied::failed(
        ErrorKind::Closed,
        "BrokenPipe: the other end of the pipe is closed",
    )
}

/// A receive with nothing left, from an end that was closed.
pub fn eof() -> Applied {
    Applied::failed(
        ErrorKind::Eof,
        "EOF: the other end of the pipe is closed and nothing is left",
    )
}
