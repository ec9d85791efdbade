//! The request dispatcher, and shared-object operations: apply the operation
//! in the store, answer or park the caller, and give every operation parked
//! on an object that changed another try.

use std::collections::VecDeque;
use std::time::Instant;

use super::deferred::DeferredOp;
use super::processes::{Link, ProcKind};
use super::waits::WaitKey;
use super::{Core, Host, HubResult};
use crate::store::{Applied, Created, Holder, Outcome};
use crate::wire::WorkerSetup;
use crate::wire::{Handle, JobKind, JobSpec, NewObject, ObjectId, Op, ProcId, Reply, Request};

impl<H: Host> Core<H> {
    /// A request from process `from`. One from a process whose socket has
    /// closed that wants an answer is dropped: nobody is left to read it
    /// (only one-way messages, output and results, still count).
    pub fn dispatch(&mut self, from: ProcId, request: Request) {
        let wants_reply = request.expects_reply();
        if wants_reply && self.procs.get(from).is_none_or(|p| p.link != Link::Open) {
            return;
        }
        if let Err(refusal) = request.check_timeout() {
            return match wants_reply {
                true => self.reply(from, Reply::Error(refusal)),
                false => self.warn(format!("a one-way request refused: {}", refusal.message)),
            };
        }
        self.note_kept_values(&request);
        let result = match request {
            Request::Output { stream, text } => {
                let worker = self
                    .procs
                    .get(from)
                    .filter(|p| p.kind != ProcKind::Main)
                    .map(|p| p.name.clone());
                self.output.write(from, worker.as_deref(), stream, &text);
                return;
            }
            Request::Finished { outcome } => {
                if let Some(proc) = self.procs.get_mut(from) {
                    proc.outcome = Some(outcome);
                }
                return;
            }
            Request::Spawn {
                target,
                args,
                start,
                globals,
            } => self.spawn(from, target, args, start, globals),
            Request::Children => Ok(self.children(from)),
            Request::Start { id } => self.start_spawned(id).map(|_| Reply::Unit),
            Request::Join { id, timeout } => return self.join(from, id, timeout),
            Request::Status { id } => self.proc(id).map(|p| Reply::Process(p.info())),
            Request::Signal { id, signal } => self.signal(id, signal),
            Request::Create { object } => self.create(from, object),
            Request::Object {
                id,
                op,
                timeout,
                reply,
            } => return self.object_op(from, id, op, timeout, reply),
            Request::PoolMap {
                target,
                items,
                workers,
                chunksize,
                globals,
                progress,
            } => {
                let job = JobSpec {
                    target,
                    items,
                    chunksize,
                    kind: JobKind::Map,
                    spread: false,
                    call: "pool_map".into(),
                    progress,
                };
                return self.pool_map(from, job, workers, globals);
            }
            Request::PoolNext { report } => return self.pool_next(from, report),
            Request::PoolAhead { max, job } => return self.pool_ahead(from, max, job),
            Request::PoolReport { report } => return self.pool_report(from, report),
            Request::PoolNew {
                workers,
                max_tasks_per_child,
                initializer,
                initargs,
                globals,
            } => {
                let setup = WorkerSetup {
                    initializer: initializer.map(|f| (f, initargs)),
                    globals,
                };
                self.pool_new(from, workers, max_tasks_per_child, setup, false)
                    .map(|id| Reply::Int(id as i64))
            }
            Request::PoolSubmit { pool, job } => self.pool_submit(pool, job),
            Request::Job { job, ask, timeout } => return self.job_ask(from, job, ask, timeout),
            Request::JobStatus { job } => self.job_status(job),
            Request::PoolControl { pool, op } => return self.pool_control(from, pool, op),
            Request::JobForget { job } => return self.job_forget(job),
            Request::PoolRelease { pool } => return self.pool_release(pool),
            Request::Trace(events) => return self.trace_spans(from, events),
            Request::Pin { ids } => {
                for id in ids {
                    self.refs.pin(id);
                }
                return;
            }
            Request::Release { refs } => return self.released(from, refs),
        };
        if wants_reply {
            self.answer(from, result);
        } else if let Err(e) = result {
            self.warn(e.message);
        }
    }

    fn create(&mut self, from: ProcId, object: NewObject) -> HubResult<Reply> {
        // Its first values, and a condition's lock: held while it is.
        let mut inside = Vec::new();
        object.stored_ids(&mut inside);
        let Created { id, kind, direct } = self.store.create(from, object)?;
        self.refs.created(id, from);
        self.refs.stored_in(&inside, id);
        Ok(Reply::Handle(Handle::Object { id, kind, direct }))
    }

    /// `from` holds no handle on these objects any more.
    fn released(&mut self, from: ProcId, refs: Vec<(ObjectId, u64)>) {
        let unheld: Vec<ObjectId> = refs
            .into_iter()
            .filter(|&(id, deliveries)| self.refs.release(from, id, deliveries))
            .map(|(id, _)| id)
            .collect();
        self.free_unheld(unheld);
    }

    /// Frees objects nothing reaches. One with an operation still kept on
    /// it (a one-way push, append or clear put back while its ring was
    /// held; a parked waiter's only through wrong releases, as a waiter
    /// holds a handle) waits in `unfreed` until it has none. `refs` has
    /// forgotten it already: nothing can reach it to store a handle in it.
    pub(super) fn free_unheld(&mut self, ids: Vec<ObjectId>) {
        for id in ids {
            let key = WaitKey::Object(id);
            let parked = self
                .waits
                .listed(key)
                .any(|who| self.is_parked_on(who, key));
            if parked || self.deferred.holds(id) {
                self.unfreed.push(id);
            } else {
                // What is left listed are waits that timed out: stale.
                self.waits.take_list(key);
                let mut inside = Vec::new();
                self.store.handles_in(id, &mut inside);
                self.refs.values_dropped(inside.len());
                self.store.free(id);
            }
        }
    }

    /// Frees the stored objects nothing reaches any more, once enough may
    /// have become unreachable to be worth the walk (see `refs`).
    pub(super) fn collect_if_due(&mut self) {
        if !self.refs.collection_due() {
            return;
        }
        let (in_flight, looked) = self.kept_handles();
        let store = &mut self.store;
        let unreached = self
            .refs
            .collect(&in_flight, looked, |id, out| store.handles_in(id, out));
        self.free_unheld(unreached);
    }

    /// Another try at the objects `free_unheld` had to leave.
    fn free_unfreed(&mut self) {
        if !self.unfreed.is_empty() {
            let ids = std::mem::take(&mut self.unfreed);
            self.free_unheld(ids);
        }
    }

    fn object_op(&mut self, from: ProcId, id: ObjectId, op: Op, timeout: Option<f64>, reply: bool) {
        self.note_stored(id, &op);
        if self.deferred.holds(id) {
            // Behind the operations put back before it.
            return self.defer(
                id,
                DeferredOp::new(from, op, timeout, reply, self.host.now()),
            );
        }
        let applied = self.store.apply(id, from, op);
        self.settle(from, applied, timeout, reply);
    }

    /// The handles in `op`'s values are going into `id`'s store, and what
    /// it replaces may be dropped: `refs` follows both.
    fn note_stored(&mut self, id: ObjectId, op: &Op) {
        let mut carried = Vec::new();
        if op.keeps_values() {
            op.carried_ids(&mut carried);
        }
        self.refs.stored_in(&carried, id);
        if self.refs.is_carrier(id) && op.may_drop_values() {
            self.refs.values_dropped(1);
        }
    }

    /// Answers `who` with what the store did, or parks it; then retries the
    /// operations parked on every object that changed.
    fn settle(&mut self, who: ProcId, applied: Applied, timeout: Option<f64>, reply: bool) {
        let Applied { outcome, changed } = applied;
        match outcome {
            Ok(Outcome::Done(value)) if reply => self.reply(who, Reply::Value(value)),
            // Whatever it took out goes nowhere.
            Ok(Outcome::Done(value)) => self.refs.values_dropped(value.count_objects()),
            Ok(Outcome::Blocked { op, on }) if timeout == Some(0.0) => {
                let now = self.store.timed_out(on, who, op);
                self.settle(who, now, None, reply);
            }
            Ok(Outcome::Blocked { op, on }) if reply => {
                self.park(who, WaitKey::Object(on), Some(op), timeout)
            }
            // A one-way message must not wait: nobody would read the answer.
            Ok(Outcome::Blocked { op, .. }) => {
                self.warn(format!("a one-way {op:?} could not complete; dropped"))
            }
            Ok(Outcome::Busy { op, on, .. }) => {
                self.defer(
                    on,
                    DeferredOp::new(who, op, timeout, reply, self.host.now()),
                );
            }
            Err(e) if reply => self.reply(who, Reply::Error(e)),
            Err(e) => self.warn(e.message),
        }
        self.retry_parked(changed);
    }

    /// Gives the operations parked on each changed object another try, in
    /// the order they arrived, following further changes they cause.
    pub(super) fn retry_parked(&mut self, changed: Vec<ObjectId>) {
        let mut work: VecDeque<ObjectId> = changed.into();
        while let Some(id) = work.pop_front() {
            let key = WaitKey::Object(id);
            let mut still_waiting = VecDeque::new();
            let mut held = false;
            for who in self.waits.take_list(key) {
                if held {
                    // The memory is held: the rest keep their places.
                    if self.is_parked_on(who, key) && !still_waiting.contains(&who) {
                        still_waiting.push_back(who);
                    }
                    continue;
                }
                let Some(op) = self.parked_op(who, key) else {
                    continue;
                };
                let Applied { outcome, changed } = self.store.apply(id, who, op);
                for c in changed {
                    if !work.contains(&c) {
                        work.push_back(c);
                    }
                }
                match outcome {
                    Ok(Outcome::Blocked { op, on }) => {
                        if let Some(parked) = self.procs.parked_mut(who) {
                            parked.op = Some(op);
                            parked.key = WaitKey::Object(on);
                        }
                        if on == id {
                            if !still_waiting.contains(&who) {
                                still_waiting.push_back(who);
                            }
                        } else {
                            self.waits.refile(who, WaitKey::Object(on));
                        }
                    }
                    Ok(Outcome::Busy {
                        op, held: holder, ..
                    }) => {
                        if let Some(parked) = self.procs.parked_mut(who) {
                            parked.op = Some(op);
                        }
                        if self.holder_is_dead(holder) {
                            // Free for the next try (a tag no process has
                            // is never reaped).
                            self.store.free_shared_memory(holder.word);
                        }
                        if !still_waiting.contains(&who) {
                            still_waiting.push_back(who);
                        }
                        held = true;
                        self.deferred.recheck(id);
                    }
                    Ok(Outcome::Done(value)) => {
                        self.unpark(who);
                        self.reply(who, Reply::Value(value));
                    }
                    Err(e) => {
                        self.unpark(who);
                        self.reply(who, Reply::Error(e));
                    }
                }
            }
            self.waits.restore_list(key, still_waiting);
            if !self.waits.is_waited_on(key) {
                self.store.unwatched(id);
            }
        }
    }

    /// The operation `who` is parked with under `key`, if it still is.
    fn parked_op(&mut self, who: ProcId, key: WaitKey) -> Option<Op> {
        let parked = self.procs.parked_mut(who)?;
        if parked.key != key {
            return None;
        }
        parked.op.take()
    }

    /// Applies again, in order, the operations that found an object's shared
    /// memory held (see `deferred`); a holder found dead has its memory
    /// freed first. Runs once per turn of the event loop.
    pub(super) fn run_deferred(&mut self) {
        self.collect_if_due();
        self.free_unfreed();
        let rechecks = self.deferred.take_rechecks();
        self.retry_parked(rechecks);
        let now = self.host.now();
        for id in self.deferred.objects() {
            self.apply_deferred(id, now);
            // A time-out ends however long the line ahead is held up.
            for expired in self.deferred.take_expired(id, now) {
                if self.procs.is_running(expired.who) {
                    self.object_timed_out(expired.who, id, expired.op);
                }
            }
            if !self.deferred.holds(id) {
                // Processes may put and push in the ring again.
                self.store.set_hub_first(id, false);
            }
        }
    }

    /// Applies the operations kept for `id`, oldest first, until one finds
    /// the memory held by a live process; a holder found dead has its
    /// memory freed first (once a turn). Time-outs are `run_deferred`'s.
    fn apply_deferred(&mut self, id: ObjectId, now: Instant) {
        let mut freed = false;
        while let Some(kept) = self.deferred.pop_front(id) {
            // A dead caller is not answered: its request is dropped, as
            // its unread requests are (its one-way messages still count).
            if kept.reply && !self.procs.is_running(kept.who) {
                continue;
            }
            let Applied { outcome, changed } = self.store.apply(id, kept.who, kept.op);
            let (op, held) = match outcome {
                Ok(Outcome::Busy { op, held, .. }) => (op, held),
                outcome => {
                    // Parked, it waits only what is left of its time-out.
                    let left = kept.deadline.map(|at| at.saturating_duration_since(now));
                    let timeout = left.map(|d| d.as_secs_f64()).or(kept.timeout);
                    self.settle(kept.who, Applied { outcome, changed }, timeout, kept.reply);
                    continue;
                }
            };
            self.deferred.push_front(id, DeferredOp { op, ..kept });
            if freed || !self.holder_is_dead(held) {
                break;
            }
            // Tried again at once, in the memory taken over.
            self.store.free_shared_memory(held.word);
            freed = true;
        }
    }

    /// Keeps `op` on `id` until the memory is free; the first one kept
    /// tells processes to put and push behind it, through the hub.
    fn defer(&mut self, id: ObjectId, op: DeferredOp) {
        if self.deferred.push_back(id, op) {
            self.store.set_hub_first(id, true);
        }
    }

    /// Whether whoever holds a ring (`held`) can never let go: a process
    /// that has ended or exited (not yet reaped), or a tag no process has
    /// (whatever a process wrote into the lock word).
    fn holder_is_dead(&mut self, held: Holder) -> bool {
        if held.word == 0 {
            return false; // let go just now
        }
        let Some(proc) = held.process.and_then(|id| self.procs.get(id)) else {
            return true;
        };
        match proc.pid() {
            Some(pid) if proc.is_running() => self.host.has_exited(pid),
            _ => true,
        }
    }

    /// A parked object operation reached its deadline.
    pub(super) fn object_timed_out(&mut self, who: ProcId, id: ObjectId, op: Op) {
        let applied = self.store.timed_out(id, who, op);
        self.settle(who, applied, None, true);
    }
}
