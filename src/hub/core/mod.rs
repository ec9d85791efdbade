//! The hub's core: every decision the supervisor makes, and none of its I/O.
//!
//! It owns the run's state in parts that each own theirs: the process table
//! (`processes`), the pools and their jobs (`pools`, `jobs`), the waits and
//! their deadlines (`waits`, `parking`), operations put back while shared
//! memory is held (`deferred`), who reaches each object (`refs`, `holding`),
//! the object store (`crate::store`), the output buffers (`output`), the
//! progress bars (`progress_bars`) and the trace (`trace_collector`).
//!
//! It is driven by events, each a method: a request from a process
//! (`dispatch`), its socket closing (`link_closed`), a bad message
//! (`protocol_violation`), a death (`exiting` then `ended`), a turn of the
//! loop with its deadlines (`turn`), a stop signal (`interrupted`). What it
//! decides to do outside itself goes through its `Host`: send an answer,
//! signal a process, start one, stop reading one's socket; and the two
//! questions only the system can answer now, the time and whether a child
//! has exited. The driver (`super::driver`) is the one real host; the unit
//! tests (`tests`) use a host that only records, so every case here runs in
//! microseconds, without a process.
//!
//! What it must not touch: a socket, `fork`, `kill`, `waitpid`, or a write
//! to stdout, stderr or a file; the time comes from the host. Three things
//! stay here on purpose: shared memory it maps for the processes (a pool
//! worker's crash-item slot, the store's arena), which is memory, not I/O;
//! the trace's timestamps, read from the clock the processes share
//! (`trace_recorder::now_ns`); and the progress bars' question to the
//! terminal, its width, when they are drawn (only on a terminal).

mod deferred;
mod holding;
mod jobs;
mod lifecycle;
mod output;
mod parking;
mod pools;
mod processes;
mod progress_bars;
mod refs;
mod requests;
#[cfg(test)]
mod tests;
mod trace_collector;
mod waits;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::child::{Identity, Role};
use crate::store::ObjectStore;
use crate::wire::{ErrorKind, HubError, ObjectId, ProcId, Reply, WorkerRole, encode_frame};
use jobs::Job;
use lifecycle::HostWait;
use pools::{JobId, Pool, PoolId};
use processes::{ExitStatus, Lifecycle, Link, Proc, ProcKind, ProcessTable};
use waits::Waits;

pub use output::Output;
pub use processes::ExitStatus as ProcessExit;
pub use processes::host_name;
pub use progress_bars::Progress;
pub use trace_collector::{Trace, TraceFile};

/// Why a process could not be started.
pub type StartError = nix::errno::Errno;

/// What the core asks of the world outside it. The driver carries each
/// call out on the spot; a test host records it.
pub trait Host {
    /// Forks a process that runs `role`; its pid, or why it could not be
    /// started. From now on the host reads its socket and reports what
    /// arrives.
    fn start(&mut self, id: ProcId, role: &Role, identity: Identity) -> Result<Pid, StartError>;
    /// Asks the cluster's hosts to start a process that runs `role`
    /// (cluster mode); a stand-in pid that names it here, which is no
    /// process's on this machine. From now on the host reports what the
    /// process sends, when a host starts it (`Core::remote_started`) and
    /// when it ends (`Core::remote_exited`).
    fn start_remote(
        &mut self,
        id: ProcId,
        role: WorkerRole,
        identity: Identity,
    ) -> Result<Pid, StartError> {
        let _ = (id, role, identity);
        Err(nix::errno::Errno::ENOSYS)
    }
    /// Sends process `to` one encoded frame.
    fn send(&mut self, to: ProcId, frame: Vec<u8>);
    /// Stops reading process `id`'s socket and closes it.
    fn disconnect(&mut self, id: ProcId);
    /// Sends a signal to a child.
    fn signal(&mut self, pid: Pid, signal: Signal);
    /// Whether child `pid` has exited (its death not yet reported).
    fn has_exited(&mut self, pid: Pid) -> bool;
    /// The time now.
    fn now(&self) -> Instant;
}

/// When the event loop must wake with no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Only on an event.
    Never,
    /// At this time.
    At(Instant),
    /// At once: an operation waits on shared memory another process holds,
    /// and may be on this CPU (the driver lets it run first).
    Now,
}

pub struct Core<H: Host> {
    host: H,
    /// The hub's own pid: the main script's parent.
    hub_pid: Pid,
    procs: ProcessTable,
    store: Box<dyn ObjectStore>,
    waits: Waits,
    /// Object operations that found shared memory held, to try again.
    deferred: deferred::Deferred,
    /// Which processes can reach each object (see `refs`).
    refs: refs::Refs,
    /// Objects nobody holds that still had a parked or deferred operation:
    /// freed once they have none (see `free_unheld`).
    unfreed: Vec<ObjectId>,
    pools: HashMap<PoolId, Pool>,
    jobs: HashMap<JobId, (PoolId, Job)>,
    next_pool: PoolId,
    next_job: JobId,
    output: Output,
    /// The progress bars of long pool maps (stderr a terminal only).
    progress: Progress,
    /// Set when the main script's process has ended.
    main_status: Option<ExitStatus>,
    /// Something parked forever or ended: look for a run that cannot move.
    check_stuck: bool,
    /// `--trace`: what the run looked like, written when it ends.
    trace: Option<Trace>,
    /// Cluster mode: how many of a pool's workers run on this machine; the
    /// rest are started by the cluster's hosts (`Host::start_remote`).
    /// `None` outside cluster mode: every worker is local.
    local_workers: Option<usize>,
    /// Cluster mode: how many times a chunk lost with its host is queued
    /// again before its job fails (`--max-redeliveries`).
    max_redeliveries: u32,
    /// The store can no longer serve the run: the line that ends it.
    store_lost: Option<String>,
    /// Cluster mode: remote workers waiting for a host, to tell of.
    host_wait: HostWait,
}

type HubResult<T> = Result<T, HubError>;

fn invalid(message: impl Into<String>) -> HubError {
    HubError::new(ErrorKind::Invalid, message)
}

impl<H: Host> Core<H> {
    pub fn new(
        host: H,
        hub_pid: Pid,
        store: Box<dyn ObjectStore>,
        output: Output,
        progress: Progress,
        trace: Option<Trace>,
    ) -> Self {
        Core {
            host,
            hub_pid,
            procs: ProcessTable::default(),
            store,
            waits: Waits::default(),
            deferred: deferred::Deferred::default(),
            refs: refs::Refs::default(),
            unfreed: Vec::new(),
            pools: HashMap::new(),
            jobs: HashMap::new(),
            next_pool: 0,
            next_job: 0,
            output,
            progress,
            main_status: None,
            check_stuck: false,
            trace,
            local_workers: None,
            max_redeliveries: 0,
            store_lost: None,
            host_wait: HostWait::default(),
        }
    }

    /// Cluster mode: each pool runs at most `local` workers on this
    /// machine, and asks the hosts for the rest; a chunk lost with its host
    /// is queued again at most `max_redeliveries` times; workers that wait
    /// `lease` for a host with none started meanwhile are told of.
    pub fn with_remote_workers(
        mut self,
        local: usize,
        max_redeliveries: u32,
        lease: Duration,
    ) -> Self {
        self.local_workers = Some(local);
        self.max_redeliveries = max_redeliveries;
        self.host_wait = HostWait::after(lease);
        self
    }

    pub fn host(&self) -> &H {
        &self.host
    }

    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    pub fn output_mut(&mut self) -> &mut Output {
        &mut self.output
    }

    /// Records and starts the main script's process.
    pub fn start_main(&mut self) -> Result<ProcId, StartError> {
        let main = self.procs.add(
            "MainProcess".into(),
            ProcKind::Main,
            Lifecycle::Launching,
            None,
        );
        self.start(main, &Role::Main)?;
        Ok(main)
    }

    // ----- the loop -------------------------------------------------------

    /// The run is over when the main script has ended and no spawned process
    /// is still running (like Python, the end of the script waits for its
    /// processes; pool workers are not waited for). A main script killed by a
    /// signal ends the run at once: nobody is left to join anything.
    pub fn finished_code(&self) -> Option<i32> {
        let code = match self.main_status? {
            ExitStatus::Signal(s) => return Some(128 + s),
            ExitStatus::Lost { .. } => return Some(128 + libc::SIGKILL),
            ExitStatus::Code(c) => c,
        };
        let waiting = self
            .procs
            .iter()
            .any(|p| p.kind == ProcKind::Spawned && p.is_running());
        (!waiting).then_some(code)
    }

    /// When the loop must next wake on its own: a deadline, a bar to
    /// redraw, shared memory to look at again.
    pub fn next_wake(&mut self) -> Wake {
        let now = self.host.now();
        let retry = self.deferred.retry_in(now);
        if retry == Some(Duration::ZERO) {
            return Wake::Now;
        }
        [
            self.waits.next_deadline(),
            self.progress.wake(),
            retry.map(|d| now + d),
            self.host_wait.due(),
            self.store.wake_at(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map_or(Wake::Never, Wake::At)
    }

    /// The end of one turn of the loop, after its events: deadlines that
    /// passed, operations put back on held memory, the store's warnings, and
    /// a look for a run in which nobody can move.
    pub fn turn(&mut self) {
        if self.store_is_lost() {
            // The run ends now (`store_lost`): no deadline, no deadlock
            // report, no operation more.
            return;
        }
        self.fire_timers();
        self.tell_of_host_wait();
        self.run_deferred();
        for warning in self.store.take_warnings() {
            self.warn(warning);
        }
        if std::mem::take(&mut self.check_stuck) {
            self.break_stuck_run();
        }
    }

    /// The store can no longer serve the run (a cluster run lost Redis):
    /// the one line that ends it.
    pub fn store_lost(&self) -> Option<&str> {
        self.store_lost.as_deref()
    }

    /// The run ends: what the store still owes its backend is settled; the
    /// line that ends the run with 69 if that found the store lost.
    pub fn settle_store(&mut self) -> Option<String> {
        match self.store_lost {
            Some(_) => None,
            None => self.store.settle(),
        }
    }

    /// Whether the store has been lost: the run is ending, and nobody is
    /// answered or warned any more (one line says why it ends).
    fn store_is_lost(&mut self) -> bool {
        if self.store_lost.is_none() {
            self.store_lost = self.store.lost();
        }
        self.store_lost.is_some()
    }

    /// The pids of the processes still running.
    pub fn running_pids(&self) -> Vec<Pid> {
        self.procs
            .iter()
            .filter(|p| p.is_running())
            .filter_map(Proc::pid)
            .collect()
    }

    /// Signals every running process.
    pub fn signal_all(&mut self, signal: Signal) {
        for pid in self.running_pids() {
            self.host.signal(pid, signal);
        }
    }

    /// The run ends now: stops the bars, releases held lines, and hands
    /// back the trace to write.
    pub fn end_run(&mut self) -> Option<Trace> {
        self.trace_run_ended();
        self.end_progress();
        self.output.release_all();
        self.trace.take()
    }

    /// Queues one whole line for stderr, as it is.
    pub fn say(&mut self, line: &str) {
        self.output.stderr.extend_from_slice(line.as_bytes());
        self.output.stderr.push(b'\n');
    }

    pub fn warn(&mut self, message: String) {
        if self.store_is_lost() {
            return;
        }
        self.output
            .stderr
            .extend_from_slice(format!("mphost: {message}\n").as_bytes());
    }

    // ----- sockets --------------------------------------------------------

    /// Process `id` closed its end of its socket: it is dead or dying, so
    /// nobody will read an answer; its one-way messages still count.
    pub fn link_closed(&mut self, id: ProcId) {
        if let Some(proc) = self.procs.get_mut(id)
            && proc.link == Link::Open
        {
            proc.link = Link::Closed;
        }
    }

    /// Garbage from a live process is a violation: it is cut off and
    /// killed. From one whose socket closed, or that has exited (possibly
    /// reaped already: its pid must never be signalled), it is only the end
    /// of a death: it is cut off, nothing more.
    pub fn protocol_violation(&mut self, id: ProcId, reason: &str) {
        let Some(proc) = self.procs.get_mut(id) else {
            return;
        };
        let link = std::mem::replace(&mut proc.link, Link::None);
        if link != Link::None {
            self.host.disconnect(id);
        }
        let (label, running) = (proc.label(), proc.is_running());
        if running && link == Link::Open {
            self.warn(format!(
                "{label} sent a bad message ({reason}); stopping it"
            ));
            self.send_signal(id, Signal::SIGKILL);
        }
    }

    fn reply(&mut self, to: ProcId, reply: Reply) {
        if self.store_is_lost() {
            return;
        }
        let mut handles = Vec::new();
        match &reply {
            Reply::Value(v) | Reply::Joined { value: v, .. } => v.object_ids(&mut handles),
            Reply::Values(vs) => vs.iter().for_each(|v| v.object_ids(&mut handles)),
            Reply::Items(items) => handles.extend(items.objects()),
            Reply::Task(task) => task.object_ids(&mut handles),
            Reply::Tasks(tasks) => tasks.iter().for_each(|t| t.object_ids(&mut handles)),
            _ => {}
        }
        let link = self.procs.get(to).map_or(Link::None, |p| p.link);
        if link == Link::None {
            // What it took out of a store goes nowhere.
            self.refs.values_dropped(handles.len());
            return;
        }
        match encode_frame(&reply) {
            // Every handle in an answer is the receiver's from now (`refs`).
            Ok(frame) => {
                handles.iter().for_each(|&id| self.refs.handed(id, to));
                if link == Link::Open {
                    self.host.send(to, frame);
                }
            }
            Err(e) => {
                self.refs.values_dropped(handles.len());
                let refusal = Reply::Error(invalid(format!("the answer cannot be sent: {e}")));
                if let (Ok(frame), Link::Open) = (encode_frame(&refusal), link) {
                    self.host.send(to, frame);
                }
            }
        }
    }

    fn answer(&mut self, to: ProcId, result: HubResult<Reply>) {
        let reply = result.unwrap_or_else(Reply::Error);
        self.reply(to, reply);
    }
}
