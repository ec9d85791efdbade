//! The conversation between an interpreter process and the hub.
//!
//! Every interpreter (the main script, each spawned process, each pool worker)
//! holds one socket to the hub and talks in strict request/reply order: it sends
//! a `Request` and, unless the request is one-way (`Request::expects_reply`),
//! blocks until the matching `Reply`. The hub may hold a reply back (a `get` on
//! an empty queue) but never sends anything unasked.

use serde::{Deserialize, Serialize};

use super::handles::{Handle, ObjectId, ProcId};
use super::objects::{NewObject, Op};
use super::packed::Packed;
use super::trace_spans::TraceEvent;
use super::value::{FnRef, Globals, Value};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The most chunks a pool worker holds ahead of the one it computes
/// (`PoolAhead`): the worker asks for no more, and the hub hands no more
/// whatever a worker asks.
pub const POOL_AHEAD_MAX: u32 = 8;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Request {
    /// One-way: whole lines for the hub to write.
    Output {
        stream: Stream,
        text: String,
    },
    /// One-way, the last message of a spawned process: what its function gave.
    Finished {
        outcome: Outcome,
    },
    Spawn {
        target: FnRef,
        args: Vec<Value>,
        start: bool,
        globals: Globals,
    },
    Start {
        id: ProcId,
    },
    Join {
        id: ProcId,
        timeout: Option<f64>,
    },
    Status {
        id: ProcId,
    },
    Signal {
        id: ProcId,
        signal: i32,
    },
    /// The live processes the caller spawned.
    Children,
    /// Makes a shared object in the hub; answered with its handle.
    Create {
        object: NewObject,
    },
    /// One operation on a shared object. One-way when `reply` is false (only
    /// for operations that can neither block nor fail, like a list's `push`).
    Object {
        id: ObjectId,
        op: Op,
        timeout: Option<f64>,
        reply: bool,
    },
    PoolMap {
        target: FnRef,
        items: Packed,
        workers: usize,
        chunksize: usize,
        globals: Globals,
        /// A progress bar may be shown while it runs (`progress: false` says not).
        progress: bool,
    },
    /// From a pool worker: the report on its last task (if any), and a request for the next.
    PoolNext {
        report: Option<TaskReport>,
    },
    /// From a pool worker starting a task: up to `max` more now, so they
    /// are at hand when this one is done. Answered at once with `Tasks`
    /// (empty when there are none): never parked. A worker holds at most
    /// `POOL_AHEAD_MAX` chunks besides the one it computes.
    PoolAhead {
        max: u32,
        /// The job whose chunks proved quick: only its chunks are handed.
        job: u64,
    },
    /// One-way, from a pool worker that already holds its next task: the
    /// report on the task it finished.
    PoolReport {
        report: TaskReport,
    },
    /// Starts a pool of `workers` processes that stay alive between jobs.
    PoolNew {
        workers: usize,
        max_tasks_per_child: Option<u64>,
        initializer: Option<FnRef>,
        initargs: Vec<Value>,
        globals: Globals,
    },
    /// Queues a job on a pool; answered with the job's id.
    PoolSubmit {
        pool: u64,
        job: JobSpec,
    },
    /// Asks a job for its result, its end, or its next `imap` item.
    Job {
        job: u64,
        ask: JobAsk,
        timeout: Option<f64>,
    },
    /// `[ready, successful]` of a job, at once.
    JobStatus {
        job: u64,
    },
    PoolControl {
        pool: u64,
        op: PoolControl,
    },
    /// One-way: the last handle on a job is gone; the hub may drop it.
    JobForget {
        job: u64,
    },
    /// One-way: the last handle on a pool is gone: it is closed, and the hub
    /// drops it once its workers have left.
    PoolRelease {
        pool: u64,
    },
    /// One-way, only under `--trace`: spans this process measured.
    Trace(Vec<TraceEvent>),
    /// One-way, ahead of the frame that carries them: handles on these
    /// objects left the sender inside a value the hub does not follow (a
    /// pool's items, a result; see `hub::core::refs`).
    Pin {
        ids: Vec<ObjectId>,
    },
    /// One-way: the sender holds no handle on these objects any more; each
    /// comes with how many times the hub had handed it to the sender.
    Release {
        refs: Vec<(ObjectId, u64)>,
    },
}

/// The longest wait a time-out can ask for, about 31 years: a script's
/// longer time-out (even an infinite one) is this, and a process that sends
/// the hub a longer, negative or NaN one is refused.
pub const MAX_TIMEOUT_SECS: f64 = 1e9;

impl Request {
    /// The time-out the request carries, if any.
    pub fn timeout(&self) -> Option<f64> {
        match self {
            Request::Join { timeout, .. }
            | Request::Object { timeout, .. }
            | Request::Job { timeout, .. } => *timeout,
            _ => None,
        }
    }

    /// Refuses a time-out no script could have asked for (a process may
    /// send anything): the hub never turns it into a deadline.
    pub fn check_timeout(&self) -> Result<(), HubError> {
        match self.timeout() {
            Some(t) if !(0.0..=MAX_TIMEOUT_SECS).contains(&t) => Err(HubError::new(
                ErrorKind::Invalid,
                format!("a time-out of {t} seconds; it must be from 0 to {MAX_TIMEOUT_SECS}"),
            )),
            _ => Ok(()),
        }
    }

    /// Whether the sender waits for a `Reply`.
    pub fn expects_reply(&self) -> bool {
        match self {
            Request::Output { .. }
            | Request::Finished { .. }
            | Request::JobForget { .. }
            | Request::PoolReport { .. }
            | Request::PoolRelease { .. }
            | Request::Trace(_)
            | Request::Pin { .. }
            | Request::Release { .. } => false,
            Request::Object { reply, .. } => *reply,
            _ => true,
        }
    }
}

/// How a spawned process's function ended, as the process itself saw it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Outcome {
    Returned(Value),
    Failed(String),
}

/// A pool worker's account of one chunk.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum TaskReport {
    Done {
        results: Packed,
    },
    /// `index` is the item's index in the whole input; `results` are those
    /// of the chunk's items before it.
    Failed {
        index: usize,
        message: String,
        results: Packed,
        /// The worker's report of where it happened, for an uncaught error
        /// (`diagnostics::task_report`).
        detail: Option<String>,
    },
}

/// One chunk of a pool map: call `target` on each item; `first` is the index of `items[0]`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PoolTask {
    /// The job the chunk belongs to: a worker sends the reports on its
    /// chunks of one job together, and those of a job before the next's.
    pub job: u64,
    pub target: FnRef,
    pub first: usize,
    pub items: Packed,
    /// Each item is an array of arguments to spread (`starmap`, `apply`).
    pub spread: bool,
    /// The job's call (`map`, `pool_map`...), only under `--trace`: it
    /// names the task's span.
    pub call: Option<String>,
}

/// A job for a pool: `target` over `items`, in chunks of `chunksize` (0: Python's default).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct JobSpec {
    pub target: FnRef,
    pub items: Packed,
    pub chunksize: usize,
    pub kind: JobKind,
    pub spread: bool,
    /// The name its errors start with.
    pub call: String,
    /// A progress bar may be shown while somebody waits for it.
    pub progress: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// All results, in input order, as one array.
    Map,
    /// One call; its result alone.
    Apply,
    /// Results one at a time, in input order or as they finish.
    Imap { ordered: bool },
}

/// What a waiter asks of a job.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobAsk {
    /// The whole result (`map`, `apply`, `AsyncResult.get`).
    Get,
    /// Only whether it is done (`AsyncResult.wait`).
    Wait,
    /// The next item of an `imap`.
    Next,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolControl {
    /// No more jobs; workers exit when the queued ones are done.
    Close,
    /// Waits until every worker has exited (after `Close` or `Terminate`).
    Join,
    /// Stops every worker now and fails the unfinished jobs.
    Terminate,
    /// The pids of the live workers.
    Pids,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProcessInfo {
    pub pid: Option<i32>,
    /// `None` while running or not started; the exit code, or `-signal`.
    pub exitcode: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Reply {
    Unit,
    Bool(bool),
    Int(i64),
    Value(Value),
    Values(Vec<Value>),
    /// A pool job's results, still encoded, in input order.
    Items(Packed),
    Handle(Handle),
    Spawned {
        id: ProcId,
        name: String,
        pid: Option<i32>,
    },
    Process(ProcessInfo),
    /// `p.join()`: the state after waiting, and what the function returned.
    Joined {
        info: ProcessInfo,
        value: Value,
    },
    Task(PoolTask),
    /// `PoolAhead`: the chunks handed out ahead, oldest first.
    Tasks(Vec<PoolTask>),
    /// A pool worker is no longer needed and should exit.
    Stop,
    Error(HubError),
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A timed `get` found nothing; the message starts with `Empty`.
    Empty,
    /// A timed `put` found no room; the message starts with `Full`.
    Full,
    /// A worker raised, died or was killed during a pool map.
    Pool,
    /// A queue or pipe end was closed; the message starts with `Closed` (or `BrokenPipe`).
    Closed,
    /// A pipe's other end is closed and nothing is left; the message starts with `EOF`.
    Eof,
    /// A timed `recv` or `get` found nothing; the message starts with `Timeout`.
    Timeout,
    /// The pool was terminated; the message starts with `Terminated`.
    Terminated,
    /// The barrier broke; the message starts with `BrokenBarrier`.
    BrokenBarrier,
    /// A request that makes no sense for the object (bad index, releasing a free lock...).
    Invalid,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HubError {
    pub kind: ErrorKind,
    pub message: String,
    /// For a pool task's error: the worker's report of where it happened
    /// (its source line, the item), printed below the message if the error
    /// goes uncaught.
    pub detail: Option<String>,
}

impl HubError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        HubError {
            kind,
            message: message.into(),
            detail: None,
        }
    }
}

impl PoolTask {
    /// The object handles a worker is handed with it: its items' and its
    /// function's captured values'.
    pub fn object_ids(&self, out: &mut Vec<ObjectId>) {
        out.extend(self.items.objects());
        self.target.object_ids(out);
    }
}

impl JobSpec {
    /// The object handles in its function's captured values and its items.
    pub fn object_ids(&self, out: &mut Vec<ObjectId>) {
        self.target.object_ids(out);
        out.extend(self.items.objects());
    }
}

impl TaskReport {
    /// The object handles in the results it brings.
    pub fn object_ids(&self, out: &mut Vec<ObjectId>) {
        let (TaskReport::Done { results } | TaskReport::Failed { results, .. }) = self;
        out.extend(results.objects());
    }
}

impl Outcome {
    /// The object handles in what the function returned.
    pub fn object_ids(&self, out: &mut Vec<ObjectId>) {
        if let Outcome::Returned(value) = self {
            value.object_ids(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get_with(timeout: Option<f64>) -> Request {
        Request::Object {
            id: 1,
            op: crate::wire::Op::Get,
            timeout,
            reply: true,
        }
    }

    #[test]
    fn time_outs_no_script_could_send_are_refused() {
        for bad in [
            f64::NAN,
            -1.0,
            -0.001,
            MAX_TIMEOUT_SECS * 2.0,
            f64::INFINITY,
        ] {
            let refusal = get_with(Some(bad)).check_timeout().expect_err("refused");
            assert_eq!(refusal.kind, ErrorKind::Invalid, "{bad}");
            let join = Request::Join {
                id: 2,
                timeout: Some(bad),
            };
            assert!(join.check_timeout().is_err(), "{bad}");
        }
        for good in [None, Some(0.0), Some(2.5), Some(MAX_TIMEOUT_SECS)] {
            assert_eq!(get_with(good).check_timeout(), Ok(()), "{good:?}");
        }
    }
}
