//! The core's logic, driven through its events with a host that only
//! records: parking and waking, deadlines, pool scheduling and fetching
//! ahead, and deaths at each step. No process is started: a "process" here
//! is a number the test speaks for.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{Core, Host, Output, Progress, StartError};
use crate::child::{Identity, Role};
use crate::shm::ProgressWriter;
use crate::store::LocalStore;
use crate::wire::{
    ErrorKind, FnRef, Globals, Handle, JobAsk, JobKind, JobSpec, ListOp, NewObject, Op, Outcome,
    Packed, PoolControl, PoolTask, ProcId, Reply, Request, Stream, TaskReport, Value, decode_body,
};

/// What a started process was asked to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Started {
    Main,
    Process,
    PoolWorker,
    /// Asked of the cluster's hosts.
    RemotePoolWorker,
}

/// A host that records what the core asks and answers its questions from
/// the test's script.
struct TestHost {
    now: Instant,
    next_pid: i32,
    started: Vec<(ProcId, Started)>,
    pids: HashMap<ProcId, Pid>,
    /// A pool worker's crash-item slot, where it records the item it starts.
    slots: HashMap<ProcId, ProgressWriter>,
    replies: Vec<(ProcId, Reply)>,
    signals: Vec<(Pid, Signal)>,
    disconnected: Vec<ProcId>,
    exited: HashSet<Pid>,
    /// Every start fails, as `fork` does without memory.
    refuse_starts: bool,
}

impl Host for TestHost {
    fn start(&mut self, id: ProcId, role: &Role, _: Identity) -> Result<Pid, StartError> {
        if self.refuse_starts {
            return Err(nix::errno::Errno::EAGAIN);
        }
        self.next_pid += 1;
        let pid = Pid::from_raw(self.next_pid);
        let kind = match role {
            Role::Main => Started::Main,
            Role::Process { .. } => Started::Process,
            Role::PoolWorker { progress, .. } => {
                self.slots.insert(id, *progress);
                Started::PoolWorker
            }
        };
        self.started.push((id, kind));
        self.pids.insert(id, pid);
        Ok(pid)
    }

    fn start_remote(
        &mut self,
        id: ProcId,
        role: crate::wire::WorkerRole,
        _: Identity,
    ) -> Result<Pid, StartError> {
        assert!(matches!(role, crate::wire::WorkerRole::PoolWorker { .. }));
        self.next_pid += 1;
        let pid = Pid::from_raw(self.next_pid);
        self.started.push((id, Started::RemotePoolWorker));
        self.pids.insert(id, pid);
        Ok(pid)
    }

    fn send(&mut self, to: ProcId, frame: Vec<u8>) {
        let reply = decode_body(&frame[4..]).expect("the core sends whole frames");
        self.replies.push((to, reply));
    }

    fn disconnect(&mut self, id: ProcId) {
        self.disconnected.push(id);
    }

    fn signal(&mut self, pid: Pid, signal: Signal) {
        self.signals.push((pid, signal));
    }

    fn has_exited(&mut self, pid: Pid) -> bool {
        self.exited.contains(&pid)
    }

    fn now(&self) -> Instant {
        self.now
    }
}

/// A run whose main script is process 1.
struct Run {
    core: Core<TestHost>,
}

const MAIN: ProcId = 1;

impl Run {
    fn new() -> Run {
        Run::with_host(false)
    }

    fn with_host(refuse_starts: bool) -> Run {
        let host = TestHost {
            now: Instant::now(),
            next_pid: 1000,
            started: Vec::new(),
            pids: HashMap::new(),
            slots: HashMap::new(),
            replies: Vec::new(),
            signals: Vec::new(),
            disconnected: Vec::new(),
            exited: HashSet::new(),
            refuse_starts: false,
        };
        let mut core = Core::new(
            host,
            Pid::from_raw(1),
            Box::new(LocalStore::in_hub_memory_only()),
            Output::new(false, false),
            Progress::new(false),
            None,
        );
        let main = core.start_main().expect("the main script starts");
        assert_eq!(main, MAIN);
        core.host_mut().refuse_starts = refuse_starts;
        Run { core }
    }

    fn host(&mut self) -> &mut TestHost {
        self.core.host_mut()
    }

    /// `from` sends `request`; the turn of the loop follows.
    fn send(&mut self, from: ProcId, request: Request) {
        self.core.dispatch(from, request);
        self.core.turn();
    }

    /// Everything answered to `to` since last asked.
    fn replies(&mut self, to: ProcId) -> Vec<Reply> {
        let (theirs, rest) = std::mem::take(&mut self.host().replies)
            .into_iter()
            .partition::<Vec<_>, _>(|(who, _)| *who == to);
        self.host().replies = rest;
        theirs.into_iter().map(|(_, reply)| reply).collect()
    }

    /// The one answer `to` has had since last asked.
    fn reply(&mut self, to: ProcId) -> Reply {
        let mut replies = self.replies(to);
        assert_eq!(replies.len(), 1, "one answer to {to}: {replies:?}");
        replies.remove(0)
    }

    /// `from` sends `request` and gets one answer.
    fn ask(&mut self, from: ProcId, request: Request) -> Reply {
        self.send(from, request);
        self.reply(from)
    }

    /// The main script's `q.get(timeout: 0)`.
    fn get_now(&mut self, q: u64) -> Reply {
        self.ask(MAIN, object(q, Op::Get, Some(0.0)))
    }

    fn no_reply(&mut self, to: ProcId) {
        let replies = self.replies(to);
        assert!(replies.is_empty(), "{to} was answered: {replies:?}");
    }

    fn pid(&mut self, id: ProcId) -> Pid {
        self.host().pids[&id]
    }

    /// Process `id` ends with `status`, as the driver reports a reaped child.
    fn dies(&mut self, id: ProcId, status: super::ExitStatus) {
        self.dies_leaving(id, status, vec![]);
    }

    /// Process `id` ends with `status` having sent `leftover`, which the
    /// driver reads after the death and before reporting its end (the
    /// socket need not have shown its end yet).
    fn dies_leaving(&mut self, id: ProcId, status: super::ExitStatus, leftover: Vec<Request>) {
        let pid = self.pid(id);
        let reported = self.core.exiting(pid);
        assert_eq!(reported, Some(id));
        for request in leftover {
            self.core.dispatch(id, request);
        }
        self.core.ended(id, status);
        self.core.turn();
    }

    fn killed(&mut self, id: ProcId) {
        self.dies(id, super::ExitStatus::Signal(9));
    }

    fn after(&mut self, secs: f64) {
        self.host().now += Duration::from_secs_f64(secs);
        self.core.turn();
    }

    fn stderr(&mut self) -> String {
        String::from_utf8_lossy(&self.core.output_mut().stderr).into_owned()
    }

    /// Spawns and starts a process from the main script; its id.
    fn spawn(&mut self) -> ProcId {
        match self.ask(MAIN, spawn_request(true)) {
            Reply::Spawned { id, .. } => id,
            other => panic!("not spawned: {other:?}"),
        }
    }

    fn create(&mut self, from: ProcId, object: NewObject) -> u64 {
        match self.ask(from, Request::Create { object }) {
            Reply::Handle(Handle::Object { id, .. }) => id,
            other => panic!("not created: {other:?}"),
        }
    }

    fn workers(&mut self) -> Vec<ProcId> {
        let started = self.host().started.clone();
        started
            .into_iter()
            .filter(|(_, kind)| matches!(kind, Started::PoolWorker | Started::RemotePoolWorker))
            .map(|(id, _)| id)
            .collect()
    }

    /// The workers asked of the cluster's hosts.
    fn remote_workers(&mut self) -> Vec<ProcId> {
        let started = self.host().started.clone();
        started
            .into_iter()
            .filter(|(_, kind)| *kind == Started::RemotePoolWorker)
            .map(|(id, _)| id)
            .collect()
    }

    /// Cluster mode, `local` workers of each pool on this machine.
    fn in_cluster(mut self, local: usize) -> Run {
        self.core.local_workers = Some(local);
        self.core.host_wait = super::HostWait::after(Duration::from_secs(10));
        self
    }

    /// A host started remote worker `id` (as pid 77 there).
    fn placed(&mut self, id: ProcId, host: &str) {
        self.core.remote_started(id, host.to_string(), 77);
    }

    /// Remote worker `id` ended, its host having read `started` from its slot.
    fn remote_dies(
        &mut self,
        id: ProcId,
        status: super::ExitStatus,
        started: Option<(u64, usize)>,
    ) {
        let pid = self.pid(id);
        self.core.remote_exited(pid, status, started);
        self.core.turn();
    }

    fn signalled(&mut self, id: ProcId) -> bool {
        let pid = self.pid(id);
        self.host().signals.iter().any(|(p, _)| *p == pid)
    }
}

fn f() -> FnRef {
    FnRef {
        name: "f".into(),
        curry: vec![],
    }
}

fn spawn_request(start: bool) -> Request {
    Request::Spawn {
        target: f(),
        args: vec![],
        start,
        globals: Globals::default(),
    }
}

fn ints(values: std::ops::Range<i64>) -> Packed {
    let values: Vec<Value> = values.map(Value::Int).collect();
    Packed::from_values(&values).expect("ints pack")
}

fn pool_map(items: i64, workers: usize, chunksize: usize) -> Request {
    Request::PoolMap {
        target: f(),
        items: ints(0..items),
        workers,
        chunksize,
        globals: Globals::default(),
        progress: false,
    }
}

fn object(id: u64, op: Op, timeout: Option<f64>) -> Request {
    Request::Object {
        id,
        op,
        timeout,
        reply: true,
    }
}

fn queue() -> NewObject {
    NewObject::Queue {
        maxsize: None,
        joinable: false,
    }
}

fn task(reply: Reply) -> PoolTask {
    match reply {
        Reply::Task(task) => task,
        other => panic!("not a task: {other:?}"),
    }
}

fn error(reply: Reply) -> crate::wire::HubError {
    match reply {
        Reply::Error(e) => e,
        other => panic!("not an error: {other:?}"),
    }
}

/// A worker's report that it computed `task`, each result the item times ten.
fn done(task: &PoolTask) -> TaskReport {
    let results: Vec<Value> = task
        .items
        .values()
        .map(|v| match v.expect("items decode") {
            Value::Int(i) => Value::Int(i * 10),
            other => other,
        })
        .collect();
    TaskReport::Done {
        results: Packed::from_values(&results).expect("results pack"),
    }
}

/// Makes a pool of `workers` for process `from`; its id.
fn new_pool(run: &mut Run, from: ProcId, workers: usize, max_tasks_per_child: Option<u64>) -> u64 {
    let request = Request::PoolNew {
        workers,
        max_tasks_per_child,
        initializer: None,
        initargs: vec![],
        globals: Globals::default(),
    };
    match run.ask(from, request) {
        Reply::Int(id) => id as u64,
        other => panic!("no pool: {other:?}"),
    }
}

/// Submits `f` over `items` to `pool`, one item a chunk; the job's id.
fn submit(run: &mut Run, pool: u64, items: i64, kind: JobKind) -> u64 {
    let job = JobSpec {
        target: f(),
        items: ints(0..items),
        chunksize: 1,
        kind,
        spread: false,
        call: "map".into(),
        progress: false,
    };
    match run.ask(MAIN, Request::PoolSubmit { pool, job }) {
        Reply::Int(id) => id as u64,
        other => panic!("not submitted: {other:?}"),
    }
}

/// A worker's ask for its next chunk, with the report on the one it did.
fn next(done_with: Option<&PoolTask>) -> Request {
    Request::PoolNext {
        report: done_with.map(done),
    }
}

/// A worker that holds its next chunk reports on `task`.
fn report(task: &PoolTask) -> Request {
    Request::PoolReport { report: done(task) }
}

/// A worker starting a chunk of `job` asks for up to `max` more.
fn ahead(max: u32, job: u64) -> Request {
    Request::PoolAhead { max, job }
}

fn join(id: ProcId, timeout: Option<f64>) -> Request {
    Request::Join { id, timeout }
}

fn job_ask(job: u64, ask: JobAsk, timeout: Option<f64>) -> Request {
    Request::Job { job, ask, timeout }
}

fn decoded(items: &Packed) -> Vec<Value> {
    items.values().map(|v| v.expect("decodes")).collect()
}

// ----- parking and waking ---------------------------------------------------

#[test]
fn a_get_on_an_empty_queue_parks_until_another_process_puts() {
    let mut run = Run::new();
    let worker = run.spawn();
    let q = run.create(MAIN, queue());
    run.send(MAIN, object(q, Op::Get, None));
    run.no_reply(MAIN);
    assert_eq!(
        run.ask(worker, object(q, Op::Put(Value::Int(7)), None)),
        Reply::Value(Value::Unit)
    );
    assert_eq!(run.reply(MAIN), Reply::Value(Value::Int(7)));
}

#[test]
fn parked_getters_are_woken_in_the_order_they_came() {
    let mut run = Run::new();
    let (a, b) = (run.spawn(), run.spawn());
    let q = run.create(MAIN, queue());
    run.send(b, object(q, Op::Get, None));
    run.send(a, object(q, Op::Get, None));
    run.ask(MAIN, object(q, Op::Put(Value::Int(1)), None));
    assert_eq!(run.reply(b), Reply::Value(Value::Int(1)));
    run.no_reply(a);
    run.ask(MAIN, object(q, Op::Put(Value::Int(2)), None));
    assert_eq!(run.reply(a), Reply::Value(Value::Int(2)));
}

#[test]
fn a_timed_get_is_answered_empty_at_its_deadline_not_before() {
    let mut run = Run::new();
    let q = run.create(MAIN, queue());
    run.send(MAIN, object(q, Op::Get, Some(2.0)));
    run.after(1.9);
    run.no_reply(MAIN);
    run.after(0.2);
    assert_eq!(error(run.reply(MAIN)).kind, ErrorKind::Empty);
}

#[test]
fn a_get_with_no_wait_is_answered_at_once() {
    let mut run = Run::new();
    let q = run.create(MAIN, queue());
    assert_eq!(error(run.get_now(q)).kind, ErrorKind::Empty);
}

#[test]
fn the_loop_wakes_for_the_earliest_deadline() {
    let mut run = Run::new();
    let worker = run.spawn();
    let q = run.create(MAIN, queue());
    assert_eq!(run.core.next_wake(), super::Wake::Never);
    let start = run.host().now;
    run.send(MAIN, object(q, Op::Get, Some(5.0)));
    run.send(worker, object(q, Op::Get, Some(3.0)));
    assert_eq!(
        run.core.next_wake(),
        super::Wake::At(start + Duration::from_secs(3))
    );
}

#[test]
fn a_dead_getter_takes_nothing_and_the_item_stays_for_the_next() {
    let mut run = Run::new();
    let worker = run.spawn();
    let q = run.create(MAIN, queue());
    run.send(worker, object(q, Op::Get, None));
    run.killed(worker);
    run.ask(MAIN, object(q, Op::Put(Value::Int(5)), None));
    assert_eq!(run.get_now(q), Reply::Value(Value::Int(5)));
}

#[test]
fn a_lock_held_by_a_process_that_dies_passes_to_its_waiter_with_a_warning() {
    let mut run = Run::new();
    let holder = run.spawn();
    let lock = run.create(MAIN, NewObject::Lock { reentrant: false });
    assert_eq!(
        run.ask(holder, object(lock, Op::Acquire, None)),
        Reply::Value(Value::Bool(true))
    );
    run.send(MAIN, object(lock, Op::Acquire, None));
    run.no_reply(MAIN);
    run.killed(holder);
    assert_eq!(run.reply(MAIN), Reply::Value(Value::Bool(true)));
    let stderr = run.stderr();
    assert!(
        stderr.contains("Process-1") && stderr.contains("signal 9"),
        "{stderr}"
    );
}

#[test]
fn a_join_waits_for_the_end_and_brings_the_exit_code_and_the_value() {
    let mut run = Run::new();
    let child = run.spawn();
    run.send(MAIN, join(child, None));
    run.no_reply(MAIN);
    run.send(
        child,
        Request::Finished {
            outcome: Outcome::Returned(Value::Int(42)),
        },
    );
    run.dies(child, super::ExitStatus::Code(0));
    match run.reply(MAIN) {
        Reply::Joined { info, value } => {
            assert_eq!(info.exitcode, Some(0));
            assert_eq!(value, Value::Int(42));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_timed_join_on_a_running_process_ends_with_no_exit_code() {
    let mut run = Run::new();
    let child = run.spawn();
    run.send(MAIN, join(child, Some(1.0)));
    run.after(1.5);
    match run.reply(MAIN) {
        Reply::Joined { info, .. } => assert_eq!(info.exitcode, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_main_script_waiting_forever_alone_gets_a_deadlock_error() {
    let mut run = Run::new();
    let q = run.create(MAIN, queue());
    run.send(MAIN, object(q, Op::Get, None));
    let e = error(run.reply(MAIN));
    assert!(e.message.starts_with("Deadlock"), "{}", e.message);
}

#[test]
fn a_wait_with_a_deadline_is_not_a_deadlock() {
    let mut run = Run::new();
    let q = run.create(MAIN, queue());
    run.send(MAIN, object(q, Op::Get, Some(100.0)));
    run.no_reply(MAIN);
}

#[test]
fn once_the_main_script_ended_processes_that_wait_forever_are_killed() {
    let mut run = Run::new();
    let child = run.spawn();
    let q = run.create(MAIN, queue());
    run.send(child, object(q, Op::Get, None));
    run.dies(MAIN, super::ExitStatus::Code(0));
    let pid = run.pid(child);
    assert!(run.host().signals.contains(&(pid, Signal::SIGKILL)));
    assert!(run.stderr().contains("wait forever"));
}

#[test]
fn the_run_ends_when_main_and_every_spawned_process_have() {
    let mut run = Run::new();
    let child = run.spawn();
    run.dies(MAIN, super::ExitStatus::Code(3));
    assert_eq!(run.core.finished_code(), None);
    run.dies(child, super::ExitStatus::Code(0));
    assert_eq!(run.core.finished_code(), Some(3));
}

#[test]
fn a_main_script_killed_ends_the_run_at_once() {
    let mut run = Run::new();
    run.spawn();
    run.killed(MAIN);
    assert_eq!(run.core.finished_code(), Some(128 + 9));
}

#[test]
fn a_terminated_waiter_is_withdrawn_so_the_item_goes_to_the_next() {
    let mut run = Run::new();
    let (a, b) = (run.spawn(), run.spawn());
    let q = run.create(MAIN, queue());
    run.send(a, object(q, Op::Get, None));
    run.send(b, object(q, Op::Get, None));
    assert_eq!(
        run.ask(
            MAIN,
            Request::Signal {
                id: a,
                signal: Signal::SIGTERM as i32
            }
        ),
        Reply::Unit
    );
    let pid = run.pid(a);
    assert!(run.host().signals.contains(&(pid, Signal::SIGTERM)));
    run.ask(MAIN, object(q, Op::Put(Value::Int(1)), None));
    assert_eq!(run.reply(b), Reply::Value(Value::Int(1)));
    run.no_reply(a);
}

// ----- sockets --------------------------------------------------------------

#[test]
fn a_closed_process_takes_nothing_but_its_output_still_counts() {
    let mut run = Run::new();
    let child = run.spawn();
    let q = run.create(MAIN, queue());
    run.ask(MAIN, object(q, Op::Put(Value::Int(1)), None));
    run.core.link_closed(child);
    // Its last get was sent before it died: nobody would read the item.
    run.send(child, object(q, Op::Get, None));
    run.send(
        child,
        Request::Output {
            stream: Stream::Stderr,
            text: "last words\n".into(),
        },
    );
    assert!(run.stderr().contains("last words"));
    assert_eq!(run.get_now(q), Reply::Value(Value::Int(1)));
}

#[test]
fn what_a_dead_process_left_counts_if_one_way_and_takes_nothing_if_not() {
    let mut run = Run::new();
    let child = run.spawn();
    let (items, list) = (
        run.create(MAIN, queue()),
        run.create(MAIN, NewObject::List(vec![])),
    );
    run.ask(MAIN, object(items, Op::Put(Value::Int(1)), None));
    let leftover = vec![
        // Sent just before it died: nobody would read the item.
        object(items, Op::Get, None),
        Request::Object {
            id: list,
            op: Op::List(ListOp::Push(Value::Int(2))),
            timeout: None,
            reply: false,
        },
    ];
    run.dies_leaving(child, super::ExitStatus::Signal(9), leftover);
    assert_eq!(run.get_now(items), Reply::Value(Value::Int(1)));
    assert_eq!(
        run.ask(MAIN, object(list, Op::List(ListOp::Len), None)),
        Reply::Value(Value::Int(1))
    );
}

#[test]
fn garbage_left_by_a_dead_process_cuts_it_off_without_a_signal() {
    let mut run = Run::new();
    let child = run.spawn();
    let pid = run.pid(child);
    assert_eq!(run.core.exiting(pid), Some(child));
    run.core.protocol_violation(child, "half a frame");
    assert!(
        run.host().signals.is_empty(),
        "a reaped pid may be another's"
    );
    assert!(!run.stderr().contains("bad message"));
    run.core.ended(child, super::ExitStatus::Signal(9));
}

#[test]
fn a_bad_message_cuts_the_process_off_and_kills_it() {
    let mut run = Run::new();
    let child = run.spawn();
    run.core.protocol_violation(child, "garbage");
    let pid = run.pid(child);
    assert_eq!(run.host().disconnected, vec![child]);
    assert!(run.host().signals.contains(&(pid, Signal::SIGKILL)));
    assert!(run.stderr().contains("sent a bad message (garbage)"));
}

#[test]
fn a_spawn_that_cannot_start_is_an_error_and_may_be_started_later() {
    let mut run = Run::with_host(true);
    let e = error(run.ask(MAIN, spawn_request(true)));
    assert!(
        e.message.contains("cannot start a process"),
        "{}",
        e.message
    );
    let id = match run.ask(MAIN, spawn_request(false)) {
        Reply::Spawned { id, pid: None, .. } => id,
        other => panic!("{other:?}"),
    };
    let e = error(run.ask(MAIN, Request::Start { id }));
    assert!(e.message.contains("cannot start"), "{}", e.message);
    run.host().refuse_starts = false;
    assert_eq!(run.ask(MAIN, Request::Start { id }), Reply::Unit);
    let e = error(run.ask(MAIN, Request::Start { id }));
    assert!(e.message.contains("already started"), "{}", e.message);
}

// ----- pools ----------------------------------------------------------------

/// Starts a `pool_map` of `items` over `workers`; the workers' ids.
fn start_map(run: &mut Run, items: i64, workers: usize, chunksize: usize) -> Vec<ProcId> {
    run.send(MAIN, pool_map(items, workers, chunksize));
    run.no_reply(MAIN);
    run.workers()
}

#[test]
fn pool_map_starts_one_worker_per_chunk_at_most() {
    let mut run = Run::new();
    assert_eq!(start_map(&mut run, 2, 4, 1).len(), 2);
    let mut run = Run::new();
    assert_eq!(start_map(&mut run, 10, 3, 1).len(), 3);
    let mut run = Run::new();
    assert_eq!(
        run.ask(MAIN, pool_map(0, 3, 1)),
        Reply::Items(Packed::new())
    );
    assert!(run.workers().is_empty());
}

#[test]
fn chunks_go_to_workers_in_order_and_results_come_back_in_input_order() {
    let mut run = Run::new();
    let workers = start_map(&mut run, 5, 2, 2);
    let (a, b) = (workers[0], workers[1]);
    let first = task(run.ask(a, next(None)));
    let second = task(run.ask(b, next(None)));
    assert_eq!((first.first, first.items.len()), (0, 2));
    assert_eq!((second.first, second.items.len()), (2, 2));
    // b finishes first: its results still land at 2 and 3.
    let third = task(run.ask(b, next(Some(&second))));
    assert_eq!((third.first, third.items.len()), (4, 1));
    run.send(a, next(Some(&first)));
    run.no_reply(MAIN);
    run.send(b, next(Some(&third)));
    match run.reply(MAIN) {
        Reply::Items(items) => assert_eq!(
            decoded(&items),
            (0..5).map(|i| Value::Int(i * 10)).collect::<Vec<_>>()
        ),
        other => panic!("{other:?}"),
    }
    // The map's temporary pool is closed: its idle workers are told to go.
    assert!(run.replies(a).contains(&Reply::Stop));
    assert!(run.replies(b).contains(&Reply::Stop));
}

#[test]
fn an_idle_worker_waits_and_gets_the_next_submitted_job() {
    let mut run = Run::new();
    let pool = new_pool(&mut run, MAIN, 1, None);
    let worker = run.workers()[0];
    run.send(worker, next(None));
    run.no_reply(worker);
    assert_eq!(submit(&mut run, pool, 1, JobKind::Apply), 1);
    assert_eq!(task(run.reply(worker)).first, 0);
}

#[test]
fn fetching_ahead_hands_only_that_jobs_chunks_up_to_the_limit() {
    let mut run = Run::new();
    let workers = start_map(&mut run, 10, 1, 1);
    let worker = workers[0];
    let first = task(run.ask(worker, next(None)));
    let handed = match run.ask(worker, ahead(3, first.job)) {
        Reply::Tasks(tasks) => tasks,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        handed.iter().map(|t| t.first).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // Another job's chunks are never handed ahead.
    let none = run.ask(worker, ahead(3, first.job + 1));
    assert_eq!(none, Reply::Tasks(vec![]));
    // Reports on chunks held ahead are filed in the order they were handed.
    for held in std::iter::once(&first).chain(&handed) {
        run.send(worker, report(held));
    }
    assert_eq!(task(run.ask(worker, next(None))).first, 4);
}

#[test]
fn a_worker_that_dies_fails_the_map_naming_the_item_its_slot_recorded() {
    let mut run = Run::new();
    let workers = start_map(&mut run, 4, 1, 4);
    let worker = workers[0];
    let chunk = task(run.ask(worker, next(None)));
    run.host().slots[&worker].record(chunk.job, 2);
    run.killed(worker);
    let e = error(run.reply(MAIN));
    assert_eq!(e.kind, ErrorKind::Pool);
    assert!(
        e.message.contains("was killed by signal 9") && e.message.contains("item 2"),
        "{}",
        e.message
    );
}

#[test]
fn a_worker_that_dies_holding_chunks_ahead_fails_at_its_oldest() {
    let mut run = Run::new();
    let workers = start_map(&mut run, 6, 1, 2);
    let worker = workers[0];
    let first = task(run.ask(worker, next(None)));
    run.ask(worker, ahead(2, first.job));
    run.send(worker, report(&first));
    run.killed(worker);
    let e = error(run.reply(MAIN));
    assert!(e.message.contains("item 2"), "{}", e.message);
}

#[test]
fn a_worker_that_dies_between_chunks_loses_nothing_and_is_replaced() {
    let mut run = Run::new();
    let workers = start_map(&mut run, 4, 1, 2);
    let worker = workers[0];
    let first = task(run.ask(worker, next(None)));
    run.send(worker, report(&first));
    run.killed(worker);
    run.no_reply(MAIN);
    let replacement = *run.workers().last().expect("a worker");
    assert_ne!(replacement, worker);
    let second = task(run.ask(replacement, next(None)));
    assert_eq!(second.first, 2);
    run.send(replacement, next(Some(&second)));
    match run.reply(MAIN) {
        Reply::Items(items) => assert_eq!(decoded(&items).len(), 4),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_worker_that_dies_before_its_first_task_ends_a_pool_that_never_worked() {
    let mut run = Run::new();
    let workers = start_map(&mut run, 4, 1, 1);
    run.dies(workers[0], super::ExitStatus::Code(1));
    let e = error(run.reply(MAIN));
    assert!(e.message.contains("before taking a task"), "{}", e.message);
    assert_eq!(
        run.workers().len(),
        1,
        "no replacement for a set-up failure"
    );
}

#[test]
fn a_failed_item_fails_the_map_and_stops_the_other_workers() {
    let mut run = Run::new();
    let workers = start_map(&mut run, 4, 2, 2);
    let (a, b) = (workers[0], workers[1]);
    task(run.ask(a, next(None)));
    task(run.ask(b, next(None)));
    let failed = TaskReport::Failed {
        index: 3,
        message: "boom".into(),
        results: ints(0..1),
        detail: None,
    };
    run.send(
        b,
        Request::PoolNext {
            report: Some(failed),
        },
    );
    let e = error(run.reply(MAIN));
    assert!(
        e.message.contains("item 3") && e.message.contains("boom"),
        "{}",
        e.message
    );
    let pid = run.pid(a);
    assert!(run.host().signals.contains(&(pid, Signal::SIGKILL)));
}

#[test]
fn a_failure_index_outside_the_workers_chunk_is_not_believed() {
    let mut run = Run::new();
    let workers = start_map(&mut run, 4, 1, 2);
    task(run.ask(workers[0], next(None)));
    let lying = TaskReport::Failed {
        index: 99,
        message: "boom".into(),
        results: Packed::new(),
        detail: None,
    };
    run.send(
        workers[0],
        Request::PoolNext {
            report: Some(lying),
        },
    );
    let e = error(run.reply(MAIN));
    assert!(e.message.contains("item 1"), "{}", e.message);
}

#[test]
fn a_worker_leaves_after_max_tasks_per_child_and_a_new_one_takes_over() {
    let mut run = Run::new();
    let pool = new_pool(&mut run, MAIN, 1, Some(1));
    submit(&mut run, pool, 2, JobKind::Map);
    let worker = run.workers()[0];
    let first = task(run.ask(worker, next(None)));
    assert_eq!(run.ask(worker, next(Some(&first))), Reply::Stop);
    run.dies(worker, super::ExitStatus::Code(0));
    let successor = *run.workers().last().expect("a worker");
    assert_ne!(successor, worker);
    assert_eq!(task(run.ask(successor, next(None))).first, 1);
}

#[test]
fn a_timed_job_get_times_out_and_a_wait_says_false() {
    let mut run = Run::new();
    let pool = new_pool(&mut run, MAIN, 1, None);
    let job = submit(&mut run, pool, 1, JobKind::Apply);
    let get = job_ask(job, JobAsk::Get, Some(1.0));
    run.send(MAIN, get);
    run.after(1.1);
    assert_eq!(error(run.reply(MAIN)).kind, ErrorKind::Timeout);
    let wait = job_ask(job, JobAsk::Wait, Some(0.0));
    assert_eq!(run.ask(MAIN, wait), Reply::Value(Value::Bool(false)));
}

#[test]
fn terminating_a_pool_kills_its_workers_and_fails_its_jobs() {
    let mut run = Run::new();
    let pool = new_pool(&mut run, MAIN, 2, None);
    let job = submit(&mut run, pool, 4, JobKind::Map);
    let terminate = Request::PoolControl {
        pool,
        op: PoolControl::Terminate,
    };
    assert_eq!(run.ask(MAIN, terminate), Reply::Unit);
    for worker in run.workers() {
        let pid = run.pid(worker);
        assert!(run.host().signals.contains(&(pid, Signal::SIGKILL)));
    }
    let get = job_ask(job, JobAsk::Get, None);
    assert_eq!(error(run.ask(MAIN, get)).kind, ErrorKind::Terminated);
    // join waits until the killed workers are reaped.
    let join = Request::PoolControl {
        pool,
        op: PoolControl::Join,
    };
    run.send(MAIN, join);
    run.no_reply(MAIN);
    for worker in run.workers() {
        run.killed(worker);
    }
    assert_eq!(run.reply(MAIN), Reply::Unit);
}

#[test]
fn a_pool_whose_owner_ends_is_terminated() {
    let mut run = Run::new();
    let owner = run.spawn();
    new_pool(&mut run, owner, 1, None);
    run.dies(owner, super::ExitStatus::Code(0));
    let worker = run.workers()[0];
    let pid = run.pid(worker);
    assert!(run.host().signals.contains(&(pid, Signal::SIGKILL)));
}

#[test]
fn a_pool_that_cannot_start_a_worker_is_an_error() {
    let mut run = Run::with_host(true);
    let e = error(run.ask(MAIN, pool_map(3, 2, 1)));
    assert!(e.message.contains("cannot start a worker"), "{}", e.message);
}

#[test]
fn only_a_pool_worker_may_ask_for_tasks() {
    let mut run = Run::new();
    let e = error(run.ask(MAIN, next(None)));
    assert!(e.message.contains("only a pool worker"), "{}", e.message);
}

// ----- cluster mode: remote workers -------------------------------------------

#[test]
fn in_cluster_mode_a_pool_runs_its_local_share_here_and_asks_the_hosts_for_the_rest() {
    let mut run = Run::new().in_cluster(1);
    let workers = start_map(&mut run, 8, 3, 1);
    assert_eq!(workers.len(), 3);
    assert_eq!(run.remote_workers(), workers[1..]);
    let mut run = Run::new().in_cluster(0);
    let workers = start_map(&mut run, 8, 2, 1);
    assert_eq!(run.remote_workers(), workers);
}

#[test]
fn workers_that_wait_a_lease_for_a_host_are_told_of_once() {
    let mut run = Run::new().in_cluster(0);
    start_map(&mut run, 4, 2, 1);
    run.after(9.0);
    assert_eq!(run.stderr(), "");
    run.after(1.5);
    assert_eq!(
        run.stderr(),
        "mphost: 2 pool workers wait for a worker host: none has started a worker of this run \
         for 10.0 s; `mphost worker` on this run's Redis starts them (Ctrl-C stops the run)\n"
    );
    run.after(30.0);
    assert_eq!(run.stderr().lines().count(), 1, "told once");
}

#[test]
fn a_host_starting_a_worker_puts_off_the_notice_and_none_waiting_ends_it() {
    let mut run = Run::new().in_cluster(0);
    let workers = start_map(&mut run, 4, 2, 1);
    run.after(8.0);
    run.placed(workers[0], "box-2");
    run.after(8.0);
    assert_eq!(run.stderr(), "", "a host started one 8 s ago");
    run.after(2.5);
    assert!(
        run.stderr()
            .starts_with("mphost: 1 pool worker waits for a worker host"),
        "{}",
        run.stderr()
    );
    // Every worker started: nothing waits, nothing to tell.
    let mut run = Run::new().in_cluster(0);
    let workers = start_map(&mut run, 4, 2, 1);
    run.placed(workers[0], "box-2");
    run.placed(workers[1], "box-3");
    run.after(30.0);
    assert_eq!(run.stderr(), "");
}

#[test]
fn a_remote_worker_is_named_with_its_host_once_started_and_works_like_a_local_one() {
    let mut run = Run::new().in_cluster(0);
    let workers = start_map(&mut run, 2, 1, 1);
    let worker = workers[0];
    run.placed(worker, "box-2");
    // A second word on where it runs is not taken.
    run.core.remote_started(worker, "elsewhere".into(), 1);
    let first = task(run.ask(worker, next(None)));
    let second = task(run.ask(worker, next(Some(&first))));
    run.send(worker, next(Some(&second)));
    match run.reply(MAIN) {
        Reply::Items(items) => assert_eq!(decoded(&items), [Value::Int(0), Value::Int(10)]),
        other => panic!("{other:?}"),
    }
    let label = run.core.procs.get(worker).map(|p| p.label());
    assert_eq!(label.as_deref(), Some("PoolWorker-1 (pid 77 on box-2)"));
}

#[test]
fn a_remote_worker_that_dies_fails_the_map_naming_the_item_its_host_read() {
    let mut run = Run::new().in_cluster(0);
    let worker = start_map(&mut run, 4, 1, 4)[0];
    run.placed(worker, "box-2");
    let chunk = task(run.ask(worker, next(None)));
    run.remote_dies(worker, super::ExitStatus::Code(3), Some((chunk.job, 2)));
    let e = error(run.reply(MAIN));
    assert!(
        e.message
            .contains("PoolWorker-1 (pid 77 on box-2) exited with code 3")
            && e.message.contains("item 2"),
        "{}",
        e.message
    );
    // An item outside its chunk is not believed: the chunk's first is named.
    let mut run = Run::new().in_cluster(0);
    let worker = start_map(&mut run, 4, 1, 2)[0];
    run.placed(worker, "box-2");
    let chunk = task(run.ask(worker, next(None)));
    run.remote_dies(worker, super::ExitStatus::Signal(9), Some((chunk.job, 3)));
    let e = error(run.reply(MAIN));
    assert!(e.message.contains("item 0"), "{}", e.message);
}

#[test]
fn remote_workers_no_host_started_are_taken_back_when_the_work_is_done() {
    let mut run = Run::new().in_cluster(0);
    let workers = start_map(&mut run, 4, 2, 2);
    let (busy, unplaced) = (workers[0], workers[1]);
    run.placed(busy, "box-2");
    let first = task(run.ask(busy, next(None)));
    let second = task(run.ask(busy, next(Some(&first))));
    assert!(!run.signalled(unplaced), "needed while the map runs");
    run.send(busy, next(Some(&second)));
    assert!(matches!(run.reply(MAIN), Reply::Items(_)));
    // The map is done: the worker no host started is taken back.
    assert!(run.signalled(unplaced), "the unplaced worker is taken back");
    // It ends without failing or replacing anything.
    run.remote_dies(unplaced, super::ExitStatus::Signal(9), None);
    assert_eq!(run.workers().len(), 2, "no replacement");
    assert_eq!(run.stderr(), "");
}

#[test]
fn a_remote_worker_a_host_failed_to_start_counts_as_a_failed_start() {
    let mut run = Run::new().in_cluster(0);
    let worker = start_map(&mut run, 2, 1, 2)[0];
    // Not taken back by the hub: a host took it and could not start it.
    run.remote_dies(worker, super::ExitStatus::Code(127), None);
    let e = error(run.reply(MAIN));
    assert!(e.message.contains("before taking a task"), "{}", e.message);
}

#[test]
fn chunks_lost_with_a_host_are_queued_again_and_its_locks_freed() {
    let mut run = Run::new().in_cluster(0);
    run.core.max_redeliveries = 1;
    let l = run.create(MAIN, NewObject::Lock { reentrant: false });
    let workers = start_map(&mut run, 4, 2, 2);
    let (lost, kept) = (workers[0], workers[1]);
    run.placed(lost, "box-1");
    run.placed(kept, "box-2");
    let first = task(run.ask(lost, next(None)));
    let held = Reply::Value(Value::Bool(true));
    assert_eq!(run.ask(lost, object(l, Op::Acquire, None)), held);
    let second = task(run.ask(kept, next(None)));
    let pid = run.pid(lost);
    run.core.host_lost("box-1", "silent", vec![pid]);
    run.core.turn();
    assert!(run.stderr().contains("worker host box-1 was lost (silent)"));
    // The lost chunk goes to the next worker that asks, once more.
    let again = task(run.ask(kept, next(Some(&second))));
    assert_eq!((again.first, again.items.len()), (first.first, 2));
    run.send(kept, next(Some(&again)));
    match run.reply(MAIN) {
        Reply::Items(items) => assert_eq!(decoded(&items).len(), 4),
        other => panic!("{other:?}"),
    }
    // The lost worker's lock is free.
    assert_eq!(run.ask(MAIN, object(l, Op::Acquire, Some(0.0))), held);
}

#[test]
fn a_chunk_lost_with_hosts_past_max_redeliveries_fails_naming_item_and_host() {
    let mut run = Run::new().in_cluster(0);
    run.core.max_redeliveries = 1;
    let worker = start_map(&mut run, 2, 1, 2)[0];
    for (n, host) in ["box-1", "box-2"].into_iter().enumerate() {
        let worker = if n == 0 {
            worker
        } else {
            *run.workers().last().expect("replaced")
        };
        run.placed(worker, host);
        task(run.ask(worker, next(None)));
        let pid = run.pid(worker);
        run.core.host_lost(host, "silent", vec![pid]);
        run.core.turn();
    }
    let e = error(run.reply(MAIN));
    assert!(
        e.message.starts_with("pool_map: item 0 was lost with worker PoolWorker-2 (pid 77 on box-2) and its host, 2 time(s)"),
        "{}",
        e.message
    );
}

#[test]
fn chunks_handed_back_by_a_leaving_host_do_not_count_as_lost() {
    let mut run = Run::new().in_cluster(0);
    let worker = start_map(&mut run, 2, 1, 2)[0];
    run.placed(worker, "box-1");
    task(run.ask(worker, next(None)));
    let pid = run.pid(worker);
    run.core.remote_handed_back(pid);
    run.core.turn();
    run.no_reply(MAIN);
    // Handed back with no redelivery allowed: queued again, not failed.
    let replacement = *run.workers().last().expect("replaced");
    assert_ne!(replacement, worker);
    run.placed(replacement, "box-2");
    let again = task(run.ask(replacement, next(None)));
    run.send(replacement, next(Some(&again)));
    assert!(matches!(run.reply(MAIN), Reply::Items(_)));
}
