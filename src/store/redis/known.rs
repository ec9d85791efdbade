//! What the hub knows of a list only it writes (a queue's items, what
//! waits at one end of a pipe): how many items it holds, and its first
//! items, read ahead in one command. A `get` then needs no Redis read: it
//! takes the first item known and sends the command that drops it from
//! the list, without waiting (Redis applies it before any later read).
//! The list in Redis stays the one place of the items: what is read ahead
//! is a copy, and nothing else writes the list.
//!
//! What it must not touch: what an item means (the kind's module).

use std::collections::VecDeque;

use crate::cluster::objects::Contents;
use crate::cluster::{LostRedis, RunObjects};

/// How many items one read ahead takes at most, and the bytes past which
/// it takes no more (it takes one, however big).
const AHEAD_ITEMS: u64 = 256;
const AHEAD_BYTES: usize = 256 * 1024;

#[derive(Debug)]
pub struct KnownList {
    len: u64,
    ahead: VecDeque<Vec<u8>>,
}

impl KnownList {
    /// A list of `len` items, none read yet.
    pub fn new(len: u64) -> KnownList {
        KnownList {
            len,
            ahead: VecDeque::new(),
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `n` items were pushed onto its end.
    pub fn pushed(&mut self, n: usize) {
        self.len += n as u64;
    }

    /// Takes its first item out of the list: `None` when it has none.
    pub fn take_first(
        &mut self,
        redis: &mut RunObjects,
        of: Contents,
    ) -> Result<Option<Vec<u8>>, LostRedis> {
        if self.len == 0 {
            return Ok(None);
        }
        if self.ahead.is_empty() {
            let items = redis.first_items(of, AHEAD_ITEMS.min(self.len), AHEAD_BYTES)?;
            self.ahead.extend(items);
        }
        let Some(first) = self.ahead.pop_front() else {
            return Err(redis.gone("a list's items are not all in Redis any more"));
        };
        redis.drop_first(of)?;
        self.len -= 1;
        Ok(Some(first))
    }
}
