//! Queues, plain and joinable, and what closing one means: puts fail with
//! `Closed`, gets drain what is left and then fail with `Closed`.

use std::collections::VecDeque;

use super::Applied;
use crate::wire::{ErrorKind, ObjectId, Op, Value};

pub struct Queue {
    items: VecDeque<Value>,
    maxsize: Option<u64>,
    closed: bool,
    joinable: bool,
    /// Items put and not yet marked done (joinable queues).
    unfinished: u64,
}

impl Queue {
    pub fn new(maxsize: Option<u64>, joinable: bool) -> Self {
        Queue {
            items: VecDeque::new(),
            maxsize,
            closed: false,
            joinable,
            unfinished: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.maxsize
            .is_some_and(|max| self.items.len() as u64 >= max)
    }

    pub fn apply(&mut self, id: ObjectId, op: Op) -> Applied {
        match op {
            Op::Put(_) if self.closed => {
                Applied::failed(ErrorKind::Closed, "Closed: the queue is closed")
            }
            Op::Put(value) if self.is_full() => Applied::blocked(Op::Put(value), id),
            Op::Put(value) => {
                self.items.push_back(value);
                if self.joinable {
                    self.unfinished += 1;
                }
                Applied::changed(Value::Unit, id)
            }
            Op::Get => match self.items.pop_front() {
                Some(value) => Applied::changed(value, id),
                None if self.closed => {
                    Applied::failed(ErrorKind::Closed, "Closed: the queue is closed and empty")
                }
                None => Applied::blocked(Op::Get, id),
            },
            Op::Len => Applied::done(Value::Int(self.items.len() as i64)),
            Op::Close => {
                self.closed = true;
                Applied::changed(Value::Unit, id)
            }
            Op::TaskDone if !self.joinable => {
                Applied::invalid("task_done: only a joinable queue counts tasks")
            }
            Op::TaskDone if self.unfinished == 0 => {
                Applied::invalid("task_done: called more times than items were put")
            }
            Op::TaskDone => {
                self.unfinished -= 1;
                if self.unfinished == 0 {
                    return Applied::changed(Value::Unit, id);
                }
                Applied::done(Value::Unit)
            }
            Op::JoinQueue if !self.joinable => {
                Applied::invalid("join: only a joinable queue can be joined")
            }
            Op::JoinQueue if self.unfinished == 0 => Applied::done(Value::Unit),
            Op::JoinQueue => Applied::blocked(Op::JoinQueue, id),
            other => Applied::invalid(format!("a queue has no operation {other:?}")),
        }
    }
}
