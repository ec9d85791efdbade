//! The values the hub itself keeps that hold object handles, as `refs` needs
//! to know them: a pool's jobs (their function, queued chunks and results),
//! a pool's workers' set-up, a process's result, and the operations the hub
//! keeps (parked, or put back while a ring was held).
//!
//! Their handles are marked `stored` as they arrive (`note_kept_values`), so
//! that an object whose last process lets go waits for a collection instead
//! of being freed; a collection starts from them as from what processes
//! hold (`kept_handles`). The handles in what the hub sends on (an answer,
//! a chunk, a worker's set-up) are counted as the receiver's when sent.
//!
//! Only reads what `pools`, `jobs`, `lifecycle` and `parking` own.

use super::{Core, Host};
use crate::wire::{ObjectId, Request, TaskReport};

impl<H: Host> Core<H> {
    /// The handles in what `request` brings for the hub to keep.
    pub(super) fn note_kept_values(&mut self, request: &Request) {
        let mut kept = Vec::new();
        match request {
            Request::PoolMap {
                target,
                items,
                globals,
                ..
            } => {
                target.object_ids(&mut kept);
                kept.extend(items.objects());
                globals.object_ids(&mut kept);
            }
            Request::PoolSubmit { job, .. } => job.object_ids(&mut kept),
            Request::PoolNew {
                initializer,
                initargs,
                globals,
                ..
            } => {
                if let Some(init) = initializer {
                    init.object_ids(&mut kept);
                }
                initargs.iter().for_each(|a| a.object_ids(&mut kept));
                globals.object_ids(&mut kept);
            }
            Request::PoolNext {
                report: Some(report),
            }
            | Request::PoolReport { report } => TaskReport::object_ids(report, &mut kept),
            Request::Finished { outcome } => outcome.object_ids(&mut kept),
            _ => return,
        }
        self.refs.stored(&kept);
    }

    /// Values the hub kept are gone: the handles `list` names may have been
    /// the last way to their objects (see `refs::values_dropped`).
    pub(super) fn dropped(&mut self, list: impl FnOnce(&mut Vec<ObjectId>)) {
        let mut ids = Vec::new();
        list(&mut ids);
        self.refs.values_dropped(ids.len());
    }

    /// Every handle in what the hub keeps, one per occurrence: where a
    /// collection starts, beside what processes hold; and how many values
    /// it looked through to find them, part of the collection's cost.
    pub(super) fn kept_handles(&self) -> (Vec<ObjectId>, usize) {
        let mut kept = Vec::new();
        let mut looked = self.procs.len() + self.deferred.ops().count();
        let parked = self
            .procs
            .iter()
            .filter_map(|p| p.parked.as_ref()?.op.as_ref());
        for op in parked.chain(self.deferred.ops()) {
            op.carried_ids(&mut kept);
        }
        for (_, job) in self.jobs.values() {
            looked += job.object_ids(&mut kept);
        }
        for pool in self.pools.values() {
            looked += pool.object_ids(&mut kept);
        }
        for proc in self.procs.iter() {
            if let Some(outcome) = &proc.outcome {
                outcome.object_ids(&mut kept);
            }
        }
        (kept, looked)
    }
}
