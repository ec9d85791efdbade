//! The bookkeeping of one `pool_map` call: its chunks, who holds which, and
//! the results so far. The hub drives it (forks the workers, hands out chunks
//! as workers ask, notices deaths); this module only keeps the accounts.

use std::collections::{HashMap, VecDeque};

use crate::shm::ProgressSlot;
use crate::wire::{FnRef, PoolTask, ProcId, Value};

/// Python's `Pool.map` default: about four chunks per worker.
pub fn default_chunksize(items: usize, workers: usize) -> usize {
    let per = workers.max(1).saturating_mul(4);
    let (size, extra) = (items / per, items % per);
    (size + usize::from(extra > 0)).max(1)
}

pub struct PoolRun {
    pub caller: ProcId,
    pub target: FnRef,
    pending: VecDeque<(usize, Vec<Value>)>,
    /// Which items each busy worker holds: `(first index, count)`.
    held: HashMap<ProcId, (usize, usize)>,
    results: Vec<Value>,
    remaining: usize,
    pub workers: Vec<ProcId>,
    /// Where each worker records the item it is on (see `shm`).
    progress: HashMap<ProcId, ProgressSlot>,
    /// Answered (results or error): later events about it are ignored.
    pub finished: bool,
}

impl PoolRun {
    pub fn new(caller: ProcId, target: FnRef, items: Vec<Value>, chunksize: usize) -> Self {
        let total = items.len();
        let mut pending = VecDeque::new();
        let mut items = items.into_iter();
        let mut first = 0;
        while first < total {
            let chunk: Vec<Value> = items.by_ref().take(chunksize).collect();
            let len = chunk.len();
            pending.push_back((first, chunk));
            first += len;
        }
        PoolRun {
            caller,
            target,
            pending,
            held: HashMap::new(),
            results: vec![Value::Unit; total],
            remaining: total,
            workers: Vec::new(),
            progress: HashMap::new(),
            finished: false,
        }
    }

    pub fn add_worker(&mut self, worker: ProcId, progress: ProgressSlot) {
        self.workers.push(worker);
        self.progress.insert(worker, progress);
    }

    pub fn chunk_count(&self) -> usize {
        self.pending.len()
    }

    /// Hands `worker` the next chunk, if any is left.
    pub fn assign(&mut self, worker: ProcId) -> Option<PoolTask> {
        let (first, items) = self.pending.pop_front()?;
        self.held.insert(worker, (first, items.len()));
        Some(PoolTask {
            target: self.target.clone(),
            first,
            items,
        })
    }

    /// Forgets what `worker` held (it failed its chunk and lives on).
    pub fn release(&mut self, worker: ProcId) {
        self.held.remove(&worker);
    }

    /// Files a worker's results; true when every item is done.
    pub fn complete(&mut self, worker: ProcId, results: Vec<Value>) -> bool {
        if let Some((first, count)) = self.held.remove(&worker) {
            for (slot, value) in self.results[first..first + count].iter_mut().zip(results) {
                *slot = value;
            }
            self.remaining -= count;
        }
        self.remaining == 0
    }

    /// The item `worker` was computing, as words for an error message: exact
    /// when its progress slot says which, else the range of its chunk.
    pub fn held_by(&self, worker: ProcId) -> Option<String> {
        let &(first, count) = self.held.get(&worker)?;
        let started = self.progress.get(&worker).and_then(ProgressSlot::read);
        Some(match started {
            Some(i) if (first..first + count).contains(&i) => format!("item {i}"),
            _ if count == 1 => format!("item {first}"),
            _ => format!("one of items {first} to {}", first + count - 1),
        })
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn take_results(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunksize_matches_python() {
        // Python: divmod(len, workers * 4), plus one when there is a remainder.
        assert_eq!(default_chunksize(5, 3), 1);
        assert_eq!(default_chunksize(200_000, 2), 25_000);
        assert_eq!(default_chunksize(100, 3), 9);
        assert_eq!(default_chunksize(0, 2), 1);
    }

    #[test]
    fn results_land_in_input_order_whatever_the_finishing_order() {
        let items: Vec<Value> = (0..5).map(Value::Int).collect();
        let target = FnRef {
            name: "f".into(),
            curry: vec![],
        };
        let mut run = PoolRun::new(1, target, items, 2);
        assert_eq!(run.chunk_count(), 3);
        let a = run.assign(10).unwrap();
        let b = run.assign(11).unwrap();
        assert_eq!(run.held_by(11).as_deref(), Some("one of items 2 to 3"));
        assert!(!run.complete(11, b.items.iter().map(|_| Value::Str("b".into())).collect()));
        let c = run.assign(11).unwrap();
        assert_eq!(run.held_by(11).as_deref(), Some("item 4"));
        assert!(run.assign(12).is_none());
        assert!(!run.complete(10, a.items.iter().map(|_| Value::Str("a".into())).collect()));
        assert!(run.complete(11, c.items.iter().map(|_| Value::Str("c".into())).collect()));
        let got: Vec<String> = run
            .take_results()
            .into_iter()
            .map(|v| match v {
                Value::Str(s) => s,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(got, ["a", "a", "b", "b", "c"]);
    }
}
