//! Pools of worker processes that stay alive between jobs (`pool(n)`), and
//! `pool_map`, which is a temporary pool with one job.
//!
//! A pool owns its workers and a queue of chunks; a worker asks for the next
//! chunk (`PoolNext`, carrying its report on the last one) and, when there is
//! none, waits idle in the hub. A worker that dies fails only the item it was
//! computing (the shared-memory progress slot says which) and is replaced,
//! so the pool stays usable. The results and their waiters are `jobs`'s.

use std::collections::{HashMap, HashSet, VecDeque};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::jobs::{Answer, Chunking, Failure, Job};
use super::processes::{ExitStatus, Lifecycle, Proc, ProcKind};
use super::waits::WaitKey;
use super::{Core, Host, HubResult, invalid};
use crate::child::Role;
use crate::shm::{ProgressSlot, job_tag};
use crate::wire::{
    ErrorKind, Globals, HubError, JobAsk, JobKind, JobSpec, ObjectId, Packed, PoolControl,
    PoolTask, ProcId, Reply, TaskReport, Value,
};
use crate::wire::{POOL_AHEAD_MAX, WorkerRole, WorkerSetup};

pub type PoolId = u64;

/// What a job of a pool its owner terminated fails with.
const TERMINATED: &str = "Terminated: the pool was terminated";

/// Workers of a pool that once worked that may end in their set-up in a
/// row before the pool gives up.
const MAX_SETUP_FAILURES: u32 = 3;
pub type JobId = u64;

#[derive(Clone, Debug, PartialEq, Eq)]
enum PoolState {
    Open,
    /// No new jobs; workers leave when the queue is empty.
    Closed,
    /// Workers killed, jobs failed; why, for later calls.
    Terminated {
        why: String,
    },
}

/// A chunk a worker holds: the one it computes, or one it was handed ahead
/// for when that is done. Chunks are handed ahead only of the job the
/// worker is on, so all it holds are of one job, which fails if it dies.
struct Held {
    job: JobId,
    first: usize,
    count: usize,
    /// A remote worker's chunk, kept to be queued again if its host is lost.
    items: Option<Packed>,
}

struct Chunk {
    job: JobId,
    first: usize,
    items: Packed,
}

/// The object handles in `chunks`' items.
fn chunk_objects<'c>(chunks: impl IntoIterator<Item = &'c Chunk>, out: &mut Vec<ObjectId>) {
    chunks
        .into_iter()
        .for_each(|c| out.extend(c.items.objects()));
}

pub struct Pool {
    owner: ProcId,
    size: usize,
    workers: Vec<ProcId>,
    chunks: VecDeque<Chunk>,
    /// Each worker's chunks, oldest (the one it computes) first.
    held: HashMap<ProcId, VecDeque<Held>>,
    progress: HashMap<ProcId, ProgressSlot>,
    /// A remote worker's last started item, as its host read it at its end.
    reported: HashMap<ProcId, (u64, usize)>,
    /// Its remote workers: the chunks they hold are kept, to be queued again
    /// if their host is lost.
    remote: HashSet<ProcId>,
    /// How many times each chunk (by job and first item) was lost with a
    /// host.
    lost_with_host: HashMap<(JobId, usize), u32>,
    tasks_done: HashMap<ProcId, u64>,
    /// Workers that have asked for a task: they got through their set-up.
    ready: HashSet<ProcId>,
    /// Workers that ended before asking, since one last got through.
    setup_failures: u32,
    /// Whether any worker ever got through its set-up.
    ever_ready: bool,
    max_tasks_per_child: Option<u64>,
    setup: WorkerSetup,
    state: PoolState,
    /// A `pool_map`'s pool: closed (or terminated, on failure) after its job.
    temporary: bool,
    /// Its last handle is gone: dropped from the hub once its workers left.
    released: bool,
}

impl PoolState {
    fn is_terminated(&self) -> bool {
        matches!(self, PoolState::Terminated { .. })
    }
}

/// What a worker asking for work is given, decided on the pool alone.
enum Next {
    /// The next chunk, now on the worker's books.
    Chunk(Chunk),
    /// Leave: the pool ends, or the worker did its share.
    Stop,
    /// Nothing for it now: it waits (or its ahead request gets no more).
    Wait,
}

impl Pool {
    fn new(
        owner: ProcId,
        size: usize,
        max_tasks_per_child: Option<u64>,
        setup: WorkerSetup,
        temporary: bool,
    ) -> Pool {
        Pool {
            owner,
            size: size.max(1),
            workers: Vec::new(),
            chunks: VecDeque::new(),
            held: HashMap::new(),
            progress: HashMap::new(),
            reported: HashMap::new(),
            remote: HashSet::new(),
            lost_with_host: HashMap::new(),
            tasks_done: HashMap::new(),
            ready: HashSet::new(),
            setup_failures: 0,
            ever_ready: false,
            max_tasks_per_child,
            setup,
            state: PoolState::Open,
            temporary,
            released: false,
        }
    }

    /// The next chunk for `worker`. `ahead`: the worker is computing a
    /// quick chunk of that job and asks for more of it, holding at most
    /// `POOL_AHEAD_MAX` besides; another job's chunks may be slow, so they
    /// are left for idle workers. `live` says whether a job still wants its
    /// chunks (a done or forgotten job's are dropped as they come up).
    fn next_for(
        &mut self,
        worker: ProcId,
        ahead: Option<JobId>,
        live: impl Fn(JobId) -> bool,
    ) -> Next {
        if self.state.is_terminated() {
            return Next::Stop;
        }
        let held = self.held.entry(worker).or_default();
        let done = self.tasks_done.get(&worker).copied().unwrap_or(0);
        let promised = done + held.len() as u64;
        if self.max_tasks_per_child.is_some_and(|max| promised >= max) {
            return Next::Stop;
        }
        // Held: the chunk it computes and those handed ahead.
        if ahead.is_some() && held.len() > POOL_AHEAD_MAX as usize {
            return Next::Wait;
        }
        while let Some(next) = self.chunks.front() {
            let wanted = live(next.job);
            if wanted && ahead.is_some_and(|quick| quick != next.job) {
                return Next::Wait;
            }
            let Some(chunk) = self.chunks.pop_front() else {
                break;
            };
            if !wanted {
                continue;
            }
            held.push_back(Held {
                job: chunk.job,
                first: chunk.first,
                count: chunk.items.len(),
                items: self.remote.contains(&worker).then(|| chunk.items.clone()),
            });
            return Next::Chunk(chunk);
        }
        match (ahead, &self.state) {
            (None, PoolState::Closed) => Next::Stop,
            _ => Next::Wait,
        }
    }

    /// The object handles it keeps: its queued chunks' items and its
    /// workers' set-up. Returns how many values it looked through.
    pub(super) fn object_ids(&self, out: &mut Vec<ObjectId>) -> usize {
        chunk_objects(&self.chunks, out);
        self.setup.object_ids(out);
        1 + self.chunks.len()
    }

    /// What a dead worker leaves: the item it was computing (exact from its
    /// progress slot, else the first of its oldest chunk), as `(job, first
    /// of its chunk, item, end of its chunk)`. The other chunks it held are
    /// of the same job, which fails with it.
    fn take_lost(&mut self, worker: ProcId) -> Option<(JobId, usize, usize, usize)> {
        let started = match self.progress.get(&worker) {
            Some(slot) => slot.read(),
            None => self.reported.remove(&worker),
        };
        self.lost_at(worker, started)
    }

    /// Remote worker `worker`'s host read its progress slot at its end.
    pub(super) fn reported_started(&mut self, worker: ProcId, started: (u64, usize)) {
        if self.workers.contains(&worker) {
            self.reported.insert(worker, started);
        }
    }

    /// `take_lost` once the slot is read: `started` is the `(job tag,
    /// item)` the worker last recorded, which may be stale or garbage.
    fn lost_at(
        &mut self,
        worker: ProcId,
        started: Option<(u64, usize)>,
    ) -> Option<(JobId, usize, usize, usize)> {
        let mut held = self.held.remove(&worker).filter(|h| !h.is_empty())?;
        let running = started
            .and_then(|(job, i)| {
                held.iter().position(|h| {
                    job_tag(h.job) == job && (h.first..h.first + h.count).contains(&i)
                })
            })
            .unwrap_or(0);
        let lost = held.swap_remove_back(running)?;
        let end = lost.first + lost.count;
        // The slot's item counts only when it names this chunk's job: a
        // worker that died before recording its first item of a new job
        // left the last job's there.
        let index = started
            .filter(|&(job, i)| job == job_tag(lost.job) && (lost.first..end).contains(&i))
            .map_or(lost.first, |(_, i)| i);
        Some((lost.job, lost.first, index, end))
    }
}

impl<H: Host> Core<H> {
    pub(super) fn pool_new(
        &mut self,
        owner: ProcId,
        workers: usize,
        max_tasks_per_child: Option<u64>,
        setup: WorkerSetup,
        temporary: bool,
    ) -> HubResult<PoolId> {
        self.next_pool += 1;
        let id = self.next_pool;
        let pool = Pool::new(owner, workers, max_tasks_per_child, setup, temporary);
        self.pools.insert(id, pool);
        for _ in 0..workers.max(1) {
            if let Err(e) = self.add_pool_worker(id) {
                self.terminate_pool(id, &format!("pool: cannot start a worker: {e}"));
                return Err(invalid(format!("pool: cannot start a worker: {e}")));
            }
        }
        Ok(id)
    }

    fn add_pool_worker(&mut self, pool_id: PoolId) -> Result<(), Errno> {
        let Some(pool) = self.pools.get(&pool_id) else {
            return Ok(());
        };
        let (owner, setup) = (pool.owner, pool.setup.clone());
        // In cluster mode, past the pool's share of this machine, the
        // hosts start the worker.
        let remote = self.local_workers.is_some_and(|local| {
            let procs = &self.procs;
            let here = pool.workers.iter();
            here.filter(|&&w| procs.get(w).is_some_and(|p| !p.is_remote()))
                .count()
                >= local
        });
        let name = self.procs.next_worker_name();
        let slot = match remote {
            true => None,
            false => Some(
                ProgressSlot::new().map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?,
            ),
        };
        let progress = slot.as_ref().map(ProgressSlot::writer);
        let id = self.procs.add(
            name,
            ProcKind::PoolWorker { pool: pool_id },
            Lifecycle::Launching,
            Some(owner),
        );
        if let Some(pool) = self.pools.get_mut(&pool_id) {
            pool.workers.push(id);
            match slot {
                Some(slot) => pool.progress.insert(id, slot).map(drop),
                None => pool.remote.insert(id).then_some(()),
            };
        }
        let mut handed = Vec::new();
        setup.object_ids(&mut handed);
        let started = match progress {
            Some(progress) => self
                .start(id, &Role::PoolWorker { progress, setup })
                .map(drop),
            None => self
                .start_remote(id, WorkerRole::PoolWorker { setup })
                .map(drop),
        };
        if let Err(e) = started {
            // Never started: no death will come to take it off the books.
            if let Some(pool) = self.pools.get_mut(&pool_id) {
                pool.workers.retain(|&w| w != id);
                pool.progress.remove(&id);
                pool.remote.remove(&id);
            }
            self.procs.remove(id);
            return Err(e);
        }
        // The worker runs its initializer with these.
        for object in handed {
            self.refs.handed(object, id);
        }
        Ok(())
    }

    pub(super) fn pool_submit(&mut self, pool_id: PoolId, spec: JobSpec) -> HubResult<Reply> {
        let pool = self
            .pools
            .get(&pool_id)
            .ok_or_else(|| invalid("no such pool"))?;
        match &pool.state {
            PoolState::Open => {}
            PoolState::Closed => return Err(invalid(format!("{}: the pool is closed", spec.call))),
            PoolState::Terminated { why } => {
                let why = match why.strip_prefix("Terminated: ") {
                    _ if why == TERMINATED => String::new(),
                    Some(reason) => format!(" ({reason})"),
                    None => format!(" ({why})"),
                };
                return Err(invalid(format!(
                    "{}: the pool was terminated{why}",
                    spec.call
                )));
            }
        }
        let chunking = Chunking::of(spec.chunksize, pool.size);
        self.next_job += 1;
        let job_id = self.next_job;
        let job = Job::new(
            spec.target,
            spec.spread,
            spec.kind,
            spec.call,
            spec.items.len(),
            self.host.now(),
        )
        .with_progress(spec.progress);
        self.jobs.insert(job_id, (pool_id, job));
        let pool = self.pools.get_mut(&pool_id).expect("checked above");
        for (first, items) in Job::chunks(spec.items, chunking) {
            pool.chunks.push_back(Chunk {
                job: job_id,
                first,
                items,
            });
        }
        self.hand_out(pool_id);
        Ok(Reply::Int(job_id as i64))
    }

    /// Gives queued chunks to idle workers.
    fn hand_out(&mut self, pool_id: PoolId) {
        let idle = self.waits.take_list(WaitKey::PoolIdle(pool_id));
        let mut still_idle = VecDeque::new();
        for worker in idle {
            if !self.is_parked_on(worker, WaitKey::PoolIdle(pool_id)) {
                continue;
            }
            match self.next_task(pool_id, worker, None) {
                Some(reply) => {
                    self.unpark(worker);
                    self.reply(worker, reply);
                }
                None => still_idle.push_back(worker),
            }
        }
        self.waits
            .restore_list(WaitKey::PoolIdle(pool_id), still_idle);
    }

    /// The next chunk for `worker` as its reply (`Pool::next_for`
    /// decides), `Stop` when it should leave, `None` to wait.
    fn next_task(
        &mut self,
        pool_id: PoolId,
        worker: ProcId,
        ahead: Option<JobId>,
    ) -> Option<Reply> {
        let Some(pool) = self.pools.get_mut(&pool_id) else {
            return Some(Reply::Stop);
        };
        let jobs = &self.jobs;
        let live = |id: JobId| jobs.get(&id).is_some_and(|(_, job)| !job.is_done());
        let chunk = match pool.next_for(worker, ahead, live) {
            Next::Chunk(chunk) => chunk,
            Next::Stop => return Some(Reply::Stop),
            Next::Wait => return None,
        };
        let (_, job) = self.jobs.get(&chunk.job)?;
        Some(Reply::Task(PoolTask {
            job: chunk.job,
            target: job.target.clone(),
            first: chunk.first,
            items: chunk.items,
            spread: job.spread,
            call: self.trace.is_some().then(|| job.call.clone()),
        }))
    }

    pub(super) fn pool_next(&mut self, from: ProcId, report: Option<TaskReport>) {
        let Some(ProcKind::PoolWorker { pool: pool_id }) = self.procs.kind(from) else {
            return self.reply(
                from,
                Reply::Error(invalid("only a pool worker asks for tasks")),
            );
        };
        if let Some(pool) = self.pools.get_mut(&pool_id) {
            pool.ready.insert(from);
            pool.ever_ready = true;
            pool.setup_failures = 0;
        }
        if let Some(report) = report {
            self.file_report(pool_id, from, report);
        }
        match self.next_task(pool_id, from, None) {
            Some(reply) => self.reply(from, reply),
            None => self.park(from, WaitKey::PoolIdle(pool_id), None, None),
        }
        self.withdraw_unplaced(pool_id);
    }

    /// A worker starting a chunk asks for up to `max` more now.
    pub(super) fn pool_ahead(&mut self, from: ProcId, max: u32, job: JobId) {
        let Some(ProcKind::PoolWorker { pool }) = self.procs.kind(from) else {
            let refusal = invalid("only a pool worker asks for tasks");
            return self.reply(from, Reply::Error(refusal));
        };
        let mut tasks = Vec::new();
        while tasks.len() < max.min(POOL_AHEAD_MAX) as usize {
            match self.next_task(pool, from, Some(job)) {
                Some(Reply::Task(task)) => tasks.push(task),
                _ => break,
            }
        }
        self.reply(from, Reply::Tasks(tasks));
    }

    /// A worker that holds its next chunk reports on the one it finished.
    pub(super) fn pool_report(&mut self, from: ProcId, report: TaskReport) {
        if let Some(ProcKind::PoolWorker { pool }) = self.procs.kind(from) {
            self.file_report(pool, from, report);
        }
    }

    fn file_report(&mut self, pool_id: PoolId, worker: ProcId, report: TaskReport) {
        let Some(pool) = self.pools.get_mut(&pool_id) else {
            return;
        };
        let Some(held) = pool.held.get_mut(&worker).and_then(VecDeque::pop_front) else {
            return;
        };
        *pool.tasks_done.entry(worker).or_default() += 1;
        let label = self.procs.get(worker).map(Proc::label).unwrap_or_default();
        let Some((_, job)) = self.jobs.get_mut(&held.job) else {
            return;
        };
        match report {
            TaskReport::Done { results } => job.succeeded(held.first, results),
            TaskReport::Failed {
                index,
                message,
                results,
                detail,
            } => {
                // A worker's word is not trusted past its own chunk.
                let end = held.first + held.count;
                let index = index.clamp(held.first, end.saturating_sub(1).max(held.first));
                job.succeeded(held.first, results);
                let what = match job.kind {
                    JobKind::Apply => String::new(),
                    _ => format!(" item {index}"),
                };
                let message = format!("{}:{what} failed in {label}: {message}", job.call);
                // The worker reported every result before `index`.
                let failure = Failure { message, detail };
                job.failed_at(index, index, end, failure);
            }
        }
        self.job_changed(held.job);
    }

    /// Answers whoever waits on `job_id` and can now be answered; ends a
    /// temporary pool whose job is done.
    fn job_changed(&mut self, job_id: JobId) {
        let waiters = self.waits.take_list(WaitKey::Job(job_id));
        let mut still_waiting = VecDeque::new();
        for who in waiters {
            let Some(ask) = self
                .procs
                .get(who)
                .and_then(|p| p.parked.as_ref())
                .filter(|p| p.key == WaitKey::Job(job_id))
                .and_then(|p| p.ask)
            else {
                continue;
            };
            match self
                .jobs
                .get_mut(&job_id)
                .and_then(|(_, job)| job.answer(ask))
            {
                Some(answer) => {
                    self.unpark(who);
                    self.reply(who, answer_reply(answer));
                }
                None => still_waiting.push_back(who),
            }
        }
        let nobody_waits = still_waiting.is_empty();
        self.waits.restore_list(WaitKey::Job(job_id), still_waiting);
        let Some((pool_id, job)) = self.jobs.get(&job_id) else {
            return;
        };
        let (pool_id, done, ok) = (*pool_id, job.is_done(), job.successful());
        if done && self.pools.get(&pool_id).is_some_and(|p| p.temporary) {
            if ok {
                self.close_pool(pool_id);
            } else {
                self.terminate_pool(pool_id, "Terminated: pool_map failed");
            }
            // A `pool_map`'s job is asked for once, as soon as it is made.
            if nobody_waits && let Some((_, job)) = self.jobs.remove(&job_id) {
                self.dropped(|out| {
                    job.object_ids(out);
                });
            }
            self.collect_pool(pool_id);
        }
    }

    /// `JobForget`: no handle on the job is left. Its queued chunks are
    /// dropped; a chunk being computed finishes into nothing.
    pub(super) fn job_forget(&mut self, job_id: JobId) {
        let Some((pool_id, job)) = self.jobs.remove(&job_id) else {
            return;
        };
        self.dropped(|out| {
            job.object_ids(out);
        });
        if let Some(pool) = self.pools.get_mut(&pool_id) {
            let (dropped, kept) = std::mem::take(&mut pool.chunks)
                .into_iter()
                .partition::<Vec<_>, _>(|c| c.job == job_id);
            pool.chunks = kept.into();
            self.dropped(|out| chunk_objects(&dropped, out));
        }
    }

    /// `PoolRelease`: no handle on the pool is left. Like Python's pool when
    /// it is collected, it takes no more work; it is dropped from the hub
    /// once its workers have finished what was queued and left.
    pub(super) fn pool_release(&mut self, pool_id: PoolId) {
        let Some(pool) = self.pools.get_mut(&pool_id) else {
            return;
        };
        pool.released = true;
        if pool.state == PoolState::Open {
            self.close_pool(pool_id);
        }
        self.collect_pool(pool_id);
    }

    /// Drops a pool nobody can use any more (a finished `pool_map`'s, or a
    /// released one) once its workers have left.
    fn collect_pool(&mut self, pool_id: PoolId) {
        let spent = self.pools.get(&pool_id).is_some_and(|p| {
            p.workers.is_empty() && p.state != PoolState::Open && (p.temporary || p.released)
        });
        if spent && let Some(pool) = self.pools.remove(&pool_id) {
            self.dropped(|out| {
                pool.object_ids(out);
            });
        }
    }

    pub(super) fn job_ask(
        &mut self,
        from: ProcId,
        job_id: JobId,
        ask: JobAsk,
        timeout: Option<f64>,
    ) {
        let Some((_, job)) = self.jobs.get_mut(&job_id) else {
            return self.reply(from, Reply::Error(invalid("no such job")));
        };
        match job.answer(ask) {
            Some(answer) => self.reply(from, answer_reply(answer)),
            None if timeout == Some(0.0) => self.reply(from, job_timeout(ask)),
            None => {
                self.park(from, WaitKey::Job(job_id), None, timeout);
                if let Some(parked) = self.procs.parked_mut(from) {
                    parked.ask = Some(ask);
                }
            }
        }
    }

    pub(super) fn job_status(&mut self, job_id: JobId) -> HubResult<Reply> {
        let (_, job) = self
            .jobs
            .get(&job_id)
            .ok_or_else(|| invalid("no such job"))?;
        Ok(Reply::Value(Value::Array(vec![
            Value::Bool(job.is_done()),
            Value::Bool(job.successful()),
        ])))
    }

    pub(super) fn pool_control(&mut self, from: ProcId, pool_id: PoolId, op: PoolControl) {
        let Some(pool) = self.pools.get(&pool_id) else {
            return self.reply(from, Reply::Error(invalid("no such pool")));
        };
        match op {
            PoolControl::Close => {
                self.close_pool(pool_id);
                self.reply(from, Reply::Unit);
            }
            PoolControl::Terminate => {
                self.terminate_pool(pool_id, TERMINATED);
                self.reply(from, Reply::Unit);
            }
            PoolControl::Join if pool.state == PoolState::Open => {
                self.reply(
                    from,
                    Reply::Error(invalid("join: close or terminate the pool first")),
                );
            }
            PoolControl::Join if pool.workers.is_empty() => self.reply(from, Reply::Unit),
            PoolControl::Join => self.park(from, WaitKey::PoolJoin(pool_id), None, None),
            // A remote worker has a pid once a host has started it.
            PoolControl::Pids if self.has_unplaced(pool_id) => {
                self.park(from, WaitKey::PoolPlaced(pool_id), None, None);
            }
            PoolControl::Pids => {
                let pids = self.pids(pool_id);
                self.reply(from, pids);
            }
        }
    }

    fn close_pool(&mut self, pool_id: PoolId) {
        if let Some(pool) = self.pools.get_mut(&pool_id)
            && pool.state == PoolState::Open
        {
            pool.state = PoolState::Closed;
        }
        // Idle workers with nothing left to do leave now.
        self.hand_out(pool_id);
        self.withdraw_unplaced(pool_id);
    }

    /// Stops every worker of the pool now and fails its unfinished jobs.
    pub(super) fn terminate_pool(&mut self, pool_id: PoolId, message: &str) {
        let Some(pool) = self.pools.get_mut(&pool_id) else {
            return;
        };
        if pool.state.is_terminated() {
            return;
        }
        pool.state = PoolState::Terminated {
            why: message.to_string(),
        };
        let chunks = std::mem::take(&mut pool.chunks);
        pool.held.clear();
        let workers = pool.workers.clone();
        self.dropped(|out| chunk_objects(&chunks, out));
        let jobs: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, (p, _))| *p == pool_id)
            .map(|(id, _)| *id)
            .collect();
        for job_id in jobs {
            if let Some((_, job)) = self.jobs.get_mut(&job_id) {
                job.abandon(message);
            }
            self.job_changed(job_id);
        }
        for worker in workers {
            self.send_signal(worker, Signal::SIGKILL);
        }
    }

    /// A remote worker no host had started was taken back (the pool did
    /// not need it, or ended): it leaves the pool, with nothing lost.
    pub(super) fn pool_worker_withdrawn(&mut self, pool_id: PoolId, id: ProcId) {
        if let Some(pool) = self.pools.get_mut(&pool_id) {
            pool.workers.retain(|&w| w != id);
            pool.held.remove(&id);
            pool.ready.remove(&id);
        }
        self.pool_left(pool_id);
    }

    /// Takes back the remote workers no host has started of a pool that
    /// will hand out no more chunks: they would start only to leave.
    fn withdraw_unplaced(&mut self, pool_id: PoolId) {
        if self.local_workers.is_none() {
            return;
        }
        let Some(pool) = self.pools.get(&pool_id) else {
            return;
        };
        if pool.state == PoolState::Open || !pool.chunks.is_empty() {
            return;
        }
        let unplaced: Vec<ProcId> = pool
            .workers
            .iter()
            .copied()
            .filter(|&w| {
                self.procs
                    .get(w)
                    .is_some_and(|p| p.is_unplaced() && p.is_running() && !p.signaled)
            })
            .collect();
        for worker in unplaced {
            if let Some(remote) = self.procs.get_mut(worker).and_then(|p| p.remote.as_mut()) {
                remote.withdrawn = true;
            }
            self.send_signal(worker, Signal::SIGKILL);
        }
        self.answer_pids(pool_id);
    }

    /// A remote worker is gone with its host (`handed_back`: its host
    /// stopped it on leaving): the chunks it held are queued again, first,
    /// each loss counted; a chunk lost more than `--max-redeliveries`
    /// times fails its job naming the item and the host. The worker is
    /// replaced if the pool still needs it.
    fn pool_worker_lost(&mut self, pool_id: PoolId, id: ProcId, label: &str, handed_back: bool) {
        let Some(pool) = self.pools.get_mut(&pool_id) else {
            return;
        };
        pool.workers.retain(|&w| w != id);
        pool.remote.remove(&id);
        pool.ready.remove(&id);
        pool.tasks_done.remove(&id);
        pool.reported.remove(&id);
        let held = pool.held.remove(&id).unwrap_or_default();
        let max = self.max_redeliveries;
        let mut failed = Vec::new();
        for lost in held.into_iter().rev() {
            let tries = pool
                .lost_with_host
                .entry((lost.job, lost.first))
                .or_insert(0);
            if !handed_back {
                *tries += 1;
            }
            match lost.items {
                Some(items) if *tries <= max => pool.chunks.push_front(Chunk {
                    job: lost.job,
                    first: lost.first,
                    items,
                }),
                _ => failed.push((lost.job, lost.first, lost.first + lost.count, *tries)),
            }
        }
        for (job_id, first, end, tries) in failed {
            if let Some((_, job)) = self.jobs.get_mut(&job_id) {
                let message = format!(
                    "{}: item {first} was lost with worker {label} and its host, {tries} time(s); --max-redeliveries is {max}",
                    job.call
                );
                job.failed_at(first, first, end, message.into());
                self.job_changed(job_id);
            }
        }
        self.replace_if_needed(pool_id);
        self.hand_out(pool_id);
        self.pool_left(pool_id);
    }

    /// Starts a worker in place of one that left, if the pool still has
    /// work for it and fewer workers than its size.
    fn replace_if_needed(&mut self, pool_id: PoolId) {
        let Some(pool) = self.pools.get(&pool_id) else {
            return;
        };
        let needed = pool.state == PoolState::Open
            || (pool.state == PoolState::Closed && !pool.chunks.is_empty());
        if needed
            && pool.workers.len() < pool.size
            && let Err(e) = self.add_pool_worker(pool_id)
        {
            self.terminate_pool(pool_id, &format!("pool: cannot replace a worker: {e}"));
        }
    }

    pub(super) fn pool_worker_ended(
        &mut self,
        pool_id: PoolId,
        id: ProcId,
        label: &str,
        status: ExitStatus,
    ) {
        if let ExitStatus::Lost { handed_back } = status {
            return self.pool_worker_lost(pool_id, id, label, handed_back);
        }
        let Some(pool) = self.pools.get_mut(&pool_id) else {
            return;
        };
        pool.workers.retain(|&w| w != id);
        pool.remote.remove(&id);
        let lost = pool.take_lost(id);
        pool.progress.remove(&id);
        pool.reported.remove(&id);
        pool.tasks_done.remove(&id);
        let state = pool.state.clone();
        // A worker that ended before asking for a task failed in its set-up
        // (the initializer, or the inherited imports): a replacement would
        // fail the same way, forever.
        let never_ready = !pool.ready.remove(&id);
        if never_ready {
            pool.setup_failures += 1;
        }
        // A pool that never worked, or whose replacements keep failing, ends;
        // one that has worked survives a stray failure (an outside kill).
        let give_up =
            never_ready && (!pool.ever_ready || pool.setup_failures >= MAX_SETUP_FAILURES);
        let has_initializer = pool.setup.initializer.is_some();
        if let Some((job_id, first, index, end)) = lost
            && let Some((_, job)) = self.jobs.get_mut(&job_id)
        {
            let message = format!(
                "{}: worker {label} {} while computing item {index}",
                job.call,
                status.describe()
            );
            job.failed_at(first, index, end, message.into());
            self.job_changed(job_id);
        }
        if !state.is_terminated() && give_up {
            let message = if has_initializer {
                format!(
                    "pool: the initializer failed in {label}: it {}",
                    status.describe()
                )
            } else {
                format!("pool: {label} {} before taking a task", status.describe())
            };
            return self.terminate_pool(pool_id, &message);
        }
        // Reading the state again: the job's end may have ended a temporary pool.
        self.replace_if_needed(pool_id);
        self.pool_left(pool_id);
    }

    /// The pids of pool `pool_id`'s live workers: a remote one's on its host.
    fn pids(&self, pool_id: PoolId) -> Reply {
        let workers = self.pools.get(&pool_id).map(|p| p.workers.as_slice());
        let pids = workers
            .unwrap_or_default()
            .iter()
            .filter_map(|&w| self.procs.get(w))
            .filter_map(|p| match &p.remote {
                Some(remote) => remote.on.as_ref().map(|(_, pid)| *pid),
                None => p.pid().map(|pid| pid.as_raw()),
            })
            .map(|pid| Value::Int(pid as i64))
            .collect();
        Reply::Values(pids)
    }

    /// Whether some of the pool's workers wait for a host to start them.
    fn has_unplaced(&self, pool_id: PoolId) -> bool {
        self.pools.get(&pool_id).is_some_and(|pool| {
            pool.workers.iter().any(|&w| {
                self.procs
                    .get(w)
                    .is_some_and(|p| p.is_unplaced() && !p.is_withdrawn())
            })
        })
    }

    /// Answers who asked for pool `pool_id`'s pids once every worker has
    /// one (a host started each, or it left).
    pub(super) fn answer_pids(&mut self, pool_id: PoolId) {
        if self.has_unplaced(pool_id) {
            return;
        }
        for asker in self.waits.take_list(WaitKey::PoolPlaced(pool_id)) {
            if self.is_parked_on(asker, WaitKey::PoolPlaced(pool_id)) {
                self.unpark(asker);
                let pids = self.pids(pool_id);
                self.reply(asker, pids);
            }
        }
    }

    /// A worker left pool `pool_id`: its joiners are answered once none is
    /// left, and a pool nobody can use is dropped.
    fn pool_left(&mut self, pool_id: PoolId) {
        self.answer_pids(pool_id);
        if self
            .pools
            .get(&pool_id)
            .is_some_and(|p| p.workers.is_empty() && p.state != PoolState::Open)
        {
            for joiner in self.waits.take_list(WaitKey::PoolJoin(pool_id)) {
                if self.is_parked_on(joiner, WaitKey::PoolJoin(pool_id)) {
                    self.unpark(joiner);
                    self.reply(joiner, Reply::Unit);
                }
            }
        }
        self.collect_pool(pool_id);
    }

    /// `pool_map`: a temporary pool of at most one worker per chunk, one job.
    pub(super) fn pool_map(
        &mut self,
        from: ProcId,
        spec: JobSpec,
        workers: usize,
        globals: Globals,
    ) {
        if spec.items.is_empty() {
            return self.reply(from, Reply::Items(Packed::new()));
        }
        let size = match Chunking::of(spec.chunksize, workers) {
            Chunking::Fixed(n) => workers.max(1).min(spec.items.len().div_ceil(n)),
            Chunking::Guided { .. } => workers.max(1).min(spec.items.len()),
        };
        let setup = WorkerSetup {
            initializer: None,
            globals,
        };
        let pool_id = match self.pool_new(from, size, None, setup, true) {
            Ok(id) => id,
            Err(e) => return self.reply(from, Reply::Error(e)),
        };
        match self.pool_submit(pool_id, spec) {
            Ok(Reply::Int(job)) => self.job_ask(from, job as JobId, JobAsk::Get, None),
            Ok(_) => {}
            Err(e) => self.reply(from, Reply::Error(e)),
        }
    }

    /// The owner of pools ended: its pools end with it.
    pub(super) fn owner_ended(&mut self, owner: ProcId) {
        let owned: Vec<PoolId> = self
            .pools
            .iter()
            .filter(|(_, p)| p.owner == owner)
            .map(|(id, _)| *id)
            .collect();
        for pool_id in owned {
            if let Some(pool) = self.pools.get_mut(&pool_id) {
                pool.released = true;
            }
            self.terminate_pool(pool_id, "Terminated: the pool's owner ended");
            self.collect_pool(pool_id);
        }
    }

    /// A waiter on a job gave up (a deadlock was broken, or it is being
    /// killed): a temporary pool working only for it stops.
    pub(super) fn job_abandoned(&mut self, job_id: JobId) {
        if let Some((pool_id, _)) = self.jobs.get(&job_id)
            && self.pools.get(pool_id).is_some_and(|p| p.temporary)
        {
            let pool_id = *pool_id;
            self.terminate_pool(pool_id, "Terminated: nobody waits for this pool_map");
        }
    }
}

fn answer_reply(answer: Answer) -> Reply {
    match answer {
        Answer::Value(v) => Reply::Value(v),
        Answer::Items(items) => Reply::Items(items),
        Answer::Error(Failure { message, detail }) => {
            let kind = match message.starts_with("Terminated") {
                true => ErrorKind::Terminated,
                false => ErrorKind::Pool,
            };
            Reply::Error(HubError {
                kind,
                message,
                detail,
            })
        }
        Answer::End => Reply::Stop,
    }
}

/// What a job ask answers when its deadline passes.
pub(super) fn job_timeout(ask: JobAsk) -> Reply {
    match ask {
        JobAsk::Wait => Reply::Value(Value::Bool(false)),
        JobAsk::Get | JobAsk::Next => Reply::Error(HubError::new(
            ErrorKind::Timeout,
            "Timeout: the result is not ready",
        )),
    }
}

#[cfg(test)]
mod tests {
    //! The pool's scheduling on its own, without a process: who gets which
    //! chunk, when a worker stops or waits, what a dead worker leaves.

    use super::*;

    const W1: ProcId = 7;
    const W2: ProcId = 8;

    fn pool(max_tasks_per_child: Option<u64>) -> Pool {
        Pool::new(1, 2, max_tasks_per_child, WorkerSetup::default(), false)
    }

    /// Queues `count` chunks of `size` items of `job`, numbered from 0.
    fn queue_chunks(pool: &mut Pool, job: JobId, count: usize, size: usize) {
        for c in 0..count {
            let mut items = Packed::new();
            for i in 0..size {
                items.push_int((c * size + i) as i64).expect("an int packs");
            }
            pool.chunks.push_back(Chunk {
                job,
                first: c * size,
                items,
            });
        }
    }

    /// `(job, first)` of a chunk handed out, or what else came back.
    fn handed(next: Next) -> Result<(JobId, usize), &'static str> {
        match next {
            Next::Chunk(c) => Ok((c.job, c.first)),
            Next::Stop => Err("stop"),
            Next::Wait => Err("wait"),
        }
    }

    #[test]
    fn chunks_go_out_in_order_and_an_open_pool_with_none_left_makes_workers_wait() {
        let mut p = pool(None);
        queue_chunks(&mut p, 1, 3, 10);
        assert_eq!(handed(p.next_for(W1, None, |_| true)), Ok((1, 0)));
        assert_eq!(handed(p.next_for(W2, None, |_| true)), Ok((1, 10)));
        assert_eq!(handed(p.next_for(W1, None, |_| true)), Ok((1, 20)));
        assert_eq!(handed(p.next_for(W2, None, |_| true)), Err("wait"));
        p.state = PoolState::Closed;
        assert_eq!(handed(p.next_for(W2, None, |_| true)), Err("stop"));
        assert_eq!(p.held[&W1].len(), 2, "W1 holds the two chunks it was given");
    }

    #[test]
    fn a_done_jobs_chunks_are_dropped_and_a_terminated_pool_stops_everyone() {
        let mut p = pool(None);
        queue_chunks(&mut p, 1, 2, 5);
        queue_chunks(&mut p, 2, 1, 5);
        assert_eq!(handed(p.next_for(W1, None, |job| job != 1)), Ok((2, 0)));
        assert!(p.chunks.is_empty(), "job 1's chunks went without a worker");
        queue_chunks(&mut p, 3, 1, 5);
        p.state = PoolState::Terminated {
            why: TERMINATED.into(),
        };
        assert_eq!(handed(p.next_for(W2, None, |_| true)), Err("stop"));
    }

    #[test]
    fn ahead_a_worker_gets_only_its_jobs_chunks_and_at_most_the_ahead_limit() {
        let mut p = pool(None);
        queue_chunks(&mut p, 1, POOL_AHEAD_MAX as usize + 4, 1);
        assert_eq!(handed(p.next_for(W1, None, |_| true)), Ok((1, 0)));
        let mut ahead = 0;
        while let Next::Chunk(_) = p.next_for(W1, Some(1), |_| true) {
            ahead += 1;
        }
        assert_eq!(
            ahead, POOL_AHEAD_MAX as usize,
            "held besides the one it computes"
        );
        // Another job first in the queue: not handed ahead, left for idle workers.
        let mut q = pool(None);
        queue_chunks(&mut q, 2, 1, 1);
        queue_chunks(&mut q, 1, 1, 1);
        assert_eq!(handed(q.next_for(W1, Some(1), |_| true)), Err("wait"));
        assert_eq!(handed(q.next_for(W2, None, |_| true)), Ok((2, 0)));
        // Ahead with nothing left: no more, even from a closed pool.
        q.state = PoolState::Closed;
        assert_eq!(handed(q.next_for(W1, Some(1), |_| true)), Ok((1, 0)));
        assert_eq!(handed(q.next_for(W1, Some(1), |_| true)), Err("wait"));
    }

    #[test]
    fn a_worker_stops_once_its_tasks_done_and_held_reach_max_tasks_per_child() {
        let mut p = pool(Some(2));
        queue_chunks(&mut p, 1, 4, 1);
        assert!(handed(p.next_for(W1, None, |_| true)).is_ok());
        assert!(handed(p.next_for(W1, None, |_| true)).is_ok());
        assert_eq!(handed(p.next_for(W1, None, |_| true)), Err("stop"));
        assert_eq!(handed(p.next_for(W2, None, |_| true)), Ok((1, 2)));
    }

    #[test]
    fn a_dead_worker_loses_the_item_its_slot_names_else_its_oldest_chunks_first() {
        let mut p = pool(None);
        queue_chunks(&mut p, 4, 3, 10);
        for _ in 0..3 {
            assert!(handed(p.next_for(W1, None, |_| true)).is_ok());
        }
        // The slot names item 14 of job 4: in the second chunk it holds.
        assert_eq!(p.lost_at(W1, Some((job_tag(4), 14))), Some((4, 10, 14, 20)));
        assert!(
            p.lost_at(W1, Some((job_tag(4), 14))).is_none(),
            "taken once"
        );
        // A stale or garbage slot: the oldest chunk's first item.
        queue_chunks(&mut p, 5, 2, 10);
        assert!(handed(p.next_for(W2, None, |_| true)).is_ok());
        assert_eq!(p.lost_at(W2, Some((job_tag(9), 3))), Some((5, 0, 0, 10)));
        // A worker holding nothing leaves nothing.
        assert_eq!(p.lost_at(W1, None), None);
    }
}
