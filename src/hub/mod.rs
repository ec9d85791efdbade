//! The hub: the `mphost` process itself, a single-threaded supervisor.
//!
//! It forks every interpreter (the main script first, then each spawned
//! process and pool worker), owns every shared object through the
//! `ObjectStore`, answers every request, writes every line of output, reaps
//! every child and is the first to know when one dies (socket EOF and
//! SIGCHLD), so that nobody waits on a dead process forever: its joiners are
//! answered, its locks pass on, and a `pool_map` it worked for raises an
//! error naming the item. It never runs script code itself.
//!
//! One event loop (`epoll`) watches the children's sockets and a signalfd;
//! requests that cannot be answered yet are parked (see `waits`) and answered
//! when another process's action or a deadline settles them.

mod conn;
mod deferred;
mod holding;
mod jobs;
mod launch;
mod lifecycle;
mod output;
mod parking;
mod pools;
mod processes;
mod progress_bars;
mod refs;
mod requests;
mod signals;
mod trace_collector;
mod waits;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::child::{ChildEntry, Role};
use crate::script::Program;
use crate::store::{LocalStore, ObjectStore};
use crate::wire::{ErrorKind, HubError, ObjectId, ProcId, Reply};
use conn::ReadOutcome;
use jobs::Job;
use output::{EXIT_OUTPUT_FAILED, FlushError, Output};
use pools::{JobId, Pool, PoolId};
use processes::{ExitStatus, Lifecycle, Proc, ProcKind};
use progress_bars::Progress;
use waits::Waits;

pub use trace_collector::TraceFile;

const SIGNAL_TOKEN: u64 = u64::MAX;

#[derive(Debug, thiserror::Error)]
pub enum HubStartError {
    #[error("cannot set up the supervisor: {0}")]
    Setup(#[from] Errno),
}

/// Runs `program` to the end and returns the exit status for `mphost`;
/// with `trace`, writes the run's trace there at the end. Every forked
/// child runs `child_entry` (the interpreter's, given by `main`).
pub fn run(
    program: &Program,
    trace: Option<TraceFile>,
    child_entry: ChildEntry,
) -> Result<i32, HubStartError> {
    let trace = trace.map(trace_collector::Trace::new);
    // Without the arena (no memfd), locks still work, through the hub.
    let _ = crate::shm::Arena::create();
    let signals = signals::install()?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(
        signals.as_fd(),
        EpollEvent::new(EpollFlags::EPOLLIN, SIGNAL_TOKEN),
    )?;
    let progress = Progress::new(program.info.settings.progress);
    let mut output = Output::new(
        program.info.settings.tag_output,
        program.info.settings.ordered_output,
    );
    if progress.shares_stdout() {
        output.share_bars_with_stdout();
    }
    let mut hub = Hub {
        program,
        pid: nix::unistd::getpid(),
        epoll,
        signals,
        procs: HashMap::new(),
        by_pid: HashMap::new(),
        next_proc: 0,
        spawned_count: 0,
        pool_worker_count: 0,
        store: Box::new(LocalStore::default()),
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
        child_entry,
    };
    let main = hub.add_proc(
        "MainProcess".into(),
        ProcKind::Main,
        Lifecycle::Launching,
        None,
    );
    hub.start(main, &Role::Main)?;
    let code = hub.event_loop();
    Ok(hub.finish_trace(code))
}

struct Hub<'p> {
    program: &'p Program,
    /// What a forked child runs.
    child_entry: ChildEntry,
    pid: Pid,
    epoll: Epoll,
    signals: SignalFd,
    procs: HashMap<ProcId, Proc>,
    by_pid: HashMap<Pid, ProcId>,
    next_proc: ProcId,
    spawned_count: u64,
    pool_worker_count: u64,
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
    trace: Option<trace_collector::Trace>,
}

type HubResult<T> = Result<T, HubError>;

fn invalid(message: impl Into<String>) -> HubError {
    HubError::new(ErrorKind::Invalid, message)
}

impl Hub<'_> {
    // ----- the loop -------------------------------------------------------

    fn event_loop(&mut self) -> i32 {
        let mut events = vec![EpollEvent::empty(); 256];
        loop {
            self.frame_progress();
            match self.output.flush(self.signals.as_fd(), None) {
                Ok(()) => {}
                Err(FlushError::Interrupted) => {
                    if let Some(code) = self.on_signals() {
                        return code;
                    }
                    continue;
                }
                Err(FlushError::StdoutClosed) => return self.shut_down(128 + libc::SIGPIPE, false),
                Err(FlushError::Failed(failed)) => {
                    self.output.report_failure(&failed);
                    return self.shut_down(EXIT_OUTPUT_FAILED, false);
                }
            }
            if let Some(code) = self.finished_code() {
                return self.shut_down(code, true);
            }
            let now = Instant::now();
            let retry = self.deferred.retry_in(now);
            if retry == Some(Duration::ZERO) {
                // Let a holder on this CPU finish its copy first.
                std::thread::yield_now();
            }
            let deadline = [
                self.waits.next_deadline(),
                self.progress.wake(),
                retry.map(|d| now + d),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = match deadline {
                None => EpollTimeout::NONE,
                Some(_) if retry == Some(Duration::ZERO) => EpollTimeout::ZERO,
                Some(at) => {
                    let ms = at.saturating_duration_since(Instant::now()).as_millis() + 1;
                    EpollTimeout::try_from(ms.min(60_000) as u64).unwrap_or(EpollTimeout::MAX)
                }
            };
            let ready = match self.epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => {
                    self.warn(format!("event loop failed: {e}"));
                    return self.shut_down(1, false);
                }
            };
            for event in &events[..ready] {
                let token = event.data();
                if token == SIGNAL_TOKEN {
                    if let Some(code) = self.on_signals() {
                        return code;
                    }
                } else {
                    self.on_socket(token, event.events());
                }
            }
            self.fire_timers();
            self.run_deferred();
            for warning in self.store.take_warnings() {
                self.warn(warning);
            }
            if std::mem::take(&mut self.check_stuck) {
                self.break_stuck_run();
            }
        }
    }

    /// The run is over when the main script has ended and no spawned process
    /// is still running (like Python, the end of the script waits for its
    /// processes; pool workers are not waited for). A main script killed by a
    /// signal ends the run at once: nobody is left to join anything.
    fn finished_code(&self) -> Option<i32> {
        let code = match self.main_status? {
            ExitStatus::Signal(s) => return Some(128 + s),
            ExitStatus::Code(c) => c,
        };
        let waiting = self
            .procs
            .values()
            .any(|p| p.kind == ProcKind::Spawned && p.is_running());
        (!waiting).then_some(code)
    }

    /// Stops every process and writes the last output. At a normal end
    /// (`patient`) all of it is written unless a stop signal comes; after an
    /// interruption the hub gives the output a second, not forever.
    pub(super) fn shut_down(&mut self, code: i32, patient: bool) -> i32 {
        self.trace_run_ended();
        self.kill_all(Signal::SIGKILL);
        self.reap_all_blocking();
        self.end_progress();
        self.output.release_all();
        let limit = (!patient).then_some(Duration::from_secs(1));
        let mut code = code;
        loop {
            match self.output.flush(self.signals.as_fd(), limit) {
                Err(FlushError::Interrupted) => {
                    let mut stop = false;
                    while let Ok(Some(info)) = self.signals.read_signal() {
                        stop |= info.ssi_signo as i32 != libc::SIGCHLD;
                    }
                    if stop {
                        break;
                    }
                }
                // The last words were lost: say so (once), and fail the run.
                Err(FlushError::Failed(failed)) if code != EXIT_OUTPUT_FAILED => {
                    self.output.report_failure(&failed);
                    code = EXIT_OUTPUT_FAILED;
                }
                _ => break,
            }
        }
        code
    }

    fn kill_all(&mut self, signal: Signal) {
        for proc in self.procs.values().filter(|p| p.is_running()) {
            if let Some(pid) = proc.pid() {
                let _ = kill(pid, signal);
            }
        }
    }

    fn reap_all_blocking(&mut self) {
        let running: Vec<Pid> = self
            .procs
            .values()
            .filter(|p| p.is_running())
            .filter_map(Proc::pid)
            .collect();
        for pid in running {
            let _ = waitpid(pid, None);
        }
    }

    fn warn(&mut self, message: String) {
        self.output
            .stderr
            .extend_from_slice(format!("mphost: {message}\n").as_bytes());
    }

    // ----- sockets --------------------------------------------------------

    fn on_socket(&mut self, id: ProcId, flags: EpollFlags) {
        if flags.contains(EpollFlags::EPOLLOUT) {
            self.flush_conn(id);
        }
        if flags.intersects(
            EpollFlags::EPOLLIN
                | EpollFlags::EPOLLHUP
                | EpollFlags::EPOLLRDHUP
                | EpollFlags::EPOLLERR,
        ) {
            self.read_requests(id);
        }
    }

    /// Reads and answers whatever `id` has sent.
    fn read_requests(&mut self, id: ProcId) {
        let Some(conn) = self.procs.get_mut(&id).and_then(|p| p.conn.as_mut()) else {
            return;
        };
        let read = conn.fill();
        let mut requests = Vec::new();
        let mut bad = None;
        loop {
            match conn.next_request() {
                Ok(Some(request)) => requests.push(request),
                Ok(None) => break,
                Err(e) => {
                    bad = Some(e.to_string());
                    break;
                }
            }
        }
        let closed = matches!(read, Ok(ReadOutcome::Closed)) || read.is_err();
        if closed {
            // A process killed in the middle of a write leaves half a frame:
            // that is a death, not a protocol violation.
            let _ = self.epoll.delete(conn.fd());
        }
        for request in requests {
            // A closed peer is dead or dying: nobody will read an answer, so
            // only its one-way messages (output, results) still count.
            if closed && request.expects_reply() {
                continue;
            }
            self.dispatch(id, request);
        }
        // Garbage from a live process is a violation; from a closed one
        // (possibly already reaped: never signal it) it is the end of a death.
        if let (Some(reason), false) = (bad, closed) {
            self.protocol_violation(id, &reason);
        }
    }

    fn protocol_violation(&mut self, id: ProcId, reason: &str) {
        let Some(proc) = self.procs.get_mut(&id) else {
            return;
        };
        if let Some(conn) = proc.conn.take() {
            let _ = self.epoll.delete(conn.fd());
        }
        let (label, running) = (proc.label(), proc.is_running());
        if running {
            self.warn(format!(
                "{label} sent a bad message ({reason}); stopping it"
            ));
            self.send_signal(id, Signal::SIGKILL);
        }
    }

    fn flush_conn(&mut self, id: ProcId) {
        let Some(conn) = self.procs.get_mut(&id).and_then(|p| p.conn.as_mut()) else {
            return;
        };
        conn.flush();
        let mut flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
        if conn.wants_write() {
            flags |= EpollFlags::EPOLLOUT;
        }
        let _ = self
            .epoll
            .modify(conn.fd(), &mut EpollEvent::new(flags, id));
    }

    fn reply(&mut self, to: ProcId, reply: Reply) {
        let mut handles = Vec::new();
        match &reply {
            Reply::Value(v) | Reply::Joined { value: v, .. } => v.object_ids(&mut handles),
            Reply::Values(vs) => vs.iter().for_each(|v| v.object_ids(&mut handles)),
            Reply::Items(items) => handles.extend(items.objects()),
            Reply::Task(task) => task.object_ids(&mut handles),
            Reply::Tasks(tasks) => tasks.iter().for_each(|t| t.object_ids(&mut handles)),
            _ => {}
        }
        let Some(conn) = self.procs.get_mut(&to).and_then(|p| p.conn.as_mut()) else {
            // What it took out of a store goes nowhere.
            self.refs.values_dropped(handles.len());
            return;
        };
        match conn.queue_reply(&reply) {
            // Every handle in an answer is the receiver's from now (`refs`).
            Ok(()) => handles.iter().for_each(|&id| self.refs.handed(id, to)),
            Err(e) => {
                self.refs.values_dropped(handles.len());
                let refusal = Reply::Error(invalid(format!("the answer cannot be sent: {e}")));
                let _ = conn.queue_reply(&refusal);
            }
        }
        if conn.wants_write() {
            self.flush_conn(to);
        }
    }

    fn answer(&mut self, to: ProcId, result: HubResult<Reply>) {
        let reply = result.unwrap_or_else(Reply::Error);
        self.reply(to, reply);
    }
}
