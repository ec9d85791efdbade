//! Driving `pool_map` calls: forking their workers, handing out chunks as
//! workers ask, and answering the caller with results or the first failure.
//! The accounts of one call live in `pool_run`.

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::pool_run::{PoolRun, default_chunksize};
use super::processes::{ExitStatus, Lifecycle, Proc, ProcKind, RunId};
use super::waits::WaitKey;
use super::{Hub, invalid};
use crate::interpreter::Role;
use crate::shm::ProgressSlot;
use crate::wire::{ErrorKind, FnRef, HubError, ProcId, Reply, TaskReport, Value};

impl Hub<'_> {
    // ----- pool_map -------------------------------------------------------

    pub(super) fn pool_map(
        &mut self,
        from: ProcId,
        target: FnRef,
        items: Vec<Value>,
        workers: usize,
        chunksize: usize,
    ) {
        if items.is_empty() {
            return self.reply(from, Reply::Values(Vec::new()));
        }
        let chunksize = if chunksize == 0 {
            default_chunksize(items.len(), workers)
        } else {
            chunksize
        };
        self.next_run += 1;
        let run_id = self.next_run;
        let run = PoolRun::new(from, target, items, chunksize);
        let count = workers.max(1).min(run.chunk_count());
        self.runs.insert(run_id, run);
        self.park(from, WaitKey::PoolMap(run_id), None, None);
        for _ in 0..count {
            if let Err(e) = self.add_pool_worker(run_id) {
                self.fail_run(run_id, format!("pool_map: cannot start a worker: {e}"));
                return;
            }
        }
    }

    pub(super) fn add_pool_worker(&mut self, run: RunId) -> Result<(), Errno> {
        self.pool_worker_count += 1;
        let name = format!("PoolWorker-{}", self.pool_worker_count);
        let slot =
            ProgressSlot::new().map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
        let progress = slot.writer();
        let id = self.add_proc(name, ProcKind::PoolWorker { run }, Lifecycle::Launching);
        if let Some(r) = self.runs.get_mut(&run) {
            r.add_worker(id, slot);
        }
        self.start(id, &Role::PoolWorker { progress })?;
        Ok(())
    }

    pub(super) fn pool_next(&mut self, from: ProcId, report: Option<TaskReport>) {
        let Some(ProcKind::PoolWorker { run: run_id }) = self.procs.get(&from).map(|p| p.kind)
        else {
            return self.reply(
                from,
                Reply::Error(invalid("only a pool worker asks for tasks")),
            );
        };
        let Some(run) = self.runs.get_mut(&run_id) else {
            return self.reply(from, Reply::Stop);
        };
        if run.finished {
            return self.reply(from, Reply::Stop);
        }
        match report {
            Some(TaskReport::Done { results }) => {
                if !run.complete(from, results) {
                    return self.assign_next(run_id, from);
                }
                run.finished = true;
                let (caller, values) = (run.caller, run.take_results());
                self.answer_caller(run_id, caller, Reply::Values(values));
                self.finish_run(run_id);
                return self.reply(from, Reply::Stop);
            }
            Some(TaskReport::Failed { index, message }) => {
                // The worker is alive and done with its chunk: not to be killed.
                run.release(from);
                let label = self.procs.get(&from).map(Proc::label).unwrap_or_default();
                self.fail_run(
                    run_id,
                    format!("pool_map: item {index} failed in {label}: {message}"),
                );
                return self.reply(from, Reply::Stop);
            }
            None => {}
        }
        self.assign_next(run_id, from);
    }

    /// Gives `worker` its next chunk, or tells it to stop when none is left.
    fn assign_next(&mut self, run_id: RunId, worker: ProcId) {
        let task = self
            .runs
            .get_mut(&run_id)
            .and_then(|run| run.assign(worker));
        match task {
            Some(task) => self.reply(worker, Reply::Task(task)),
            None => self.reply(worker, Reply::Stop),
        }
    }

    pub(super) fn pool_worker_ended(
        &mut self,
        run_id: RunId,
        id: ProcId,
        label: &str,
        status: ExitStatus,
    ) {
        let Some(run) = self.runs.get_mut(&run_id) else {
            return;
        };
        if run.finished {
            return;
        }
        if let Some(items) = run.held_by(id) {
            let message = format!(
                "pool_map: worker {label} {} while computing {items}",
                status.describe()
            );
            return self.fail_run(run_id, message);
        }
        // It died between tasks: if work is left, a new worker takes its place.
        if run.has_pending()
            && let Err(e) = self.add_pool_worker(run_id)
        {
            self.fail_run(run_id, format!("pool_map: cannot replace a worker: {e}"));
        }
    }

    pub(super) fn fail_run(&mut self, run_id: RunId, message: String) {
        let Some(run) = self.runs.get_mut(&run_id) else {
            return;
        };
        run.finished = true;
        let caller = run.caller;
        self.answer_caller(
            run_id,
            caller,
            Reply::Error(HubError::new(ErrorKind::Pool, message)),
        );
        self.finish_run(run_id);
    }

    /// Answers a run's caller, if it is still waiting for that run.
    fn answer_caller(&mut self, run_id: RunId, caller: ProcId, reply: Reply) {
        if self.is_parked_on(caller, WaitKey::PoolMap(run_id)) {
            self.unpark(caller);
            self.reply(caller, reply);
        }
    }

    /// The caller of a run is gone: its workers have nobody to work for.
    pub(super) fn abandon_run(&mut self, run_id: RunId) {
        if let Some(run) = self.runs.get_mut(&run_id) {
            run.finished = true;
        }
        self.finish_run(run_id);
    }

    /// Stops the run's workers that are still busy and forgets the run.
    pub(super) fn finish_run(&mut self, run_id: RunId) {
        let Some(run) = self.runs.remove(&run_id) else {
            return;
        };
        for &worker in &run.workers {
            if run.held_by(worker).is_some() {
                self.send_signal(worker, Signal::SIGKILL);
            }
        }
    }
}
