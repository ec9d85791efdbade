//! The hub: the `mphost` process itself, a single-threaded supervisor.
//!
//! It forks every interpreter (the main script first, then each spawned
//! process and pool worker), owns every shared object through the
//! `ObjectStore`, answers every request, writes every line of output, reaps
//! every child and is the first to know when one dies (socket EOF and
//! SIGCHLD), so that whoever waits on the dead process is answered with an
//! error instead of waiting forever. It never runs script code itself.
//!
//! One event loop (`epoll`) watches the children's sockets and a signalfd;
//! requests that cannot be answered yet are parked (see `waits`) and answered
//! when another process's action or a deadline settles them.

mod conn;
mod launch;
mod pool_map;
mod processes;
mod signals;
mod waits;

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::interpreter::Role;
use crate::script::Program;
use crate::store::{LocalStore, ObjectStore, StoreError};
use crate::wire::{
    ErrorKind, FnRef, Handle, HubError, ListOp, ProcId, Reply, Request, Stream, TaskReport, Value,
};
use conn::{Conn, ReadOutcome};
use pool_map::{PoolRun, default_chunksize};
use processes::{ExitStatus, Lifecycle, Proc, ProcKind, RunId};
use waits::{WaitKey, Waits};

const SIGNAL_TOKEN: u64 = u64::MAX;

#[derive(Debug, thiserror::Error)]
pub enum HubStartError {
    #[error("cannot set up the supervisor: {0}")]
    Setup(#[from] Errno),
}

/// Runs `program` to the end and returns the exit status for `mphost`.
pub fn run(program: &Program) -> Result<i32, HubStartError> {
    let signals = signals::install()?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(
        signals.as_fd(),
        EpollEvent::new(EpollFlags::EPOLLIN, SIGNAL_TOKEN),
    )?;
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
        runs: HashMap::new(),
        next_run: 0,
        stdout: Vec::new(),
        stderr: Vec::new(),
        main_status: None,
        check_stuck: false,
    };
    let main = hub.add_proc(
        "MainProcess".into(),
        ProcKind::Main,
        Lifecycle::Created {
            target: FnRef {
                name: String::new(),
                curry: vec![],
            },
            args: vec![],
        },
    );
    hub.start(main, Role::Main)?;
    Ok(hub.event_loop())
}

struct Hub<'p> {
    program: &'p Program,
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
    runs: HashMap<RunId, PoolRun>,
    next_run: RunId,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Set when the main script's process has ended.
    main_status: Option<ExitStatus>,
    /// Something parked forever or ended: look for a run that cannot move.
    check_stuck: bool,
}

type HubResult<T> = Result<T, HubError>;

fn invalid(message: impl Into<String>) -> HubError {
    HubError::new(ErrorKind::Invalid, message)
}

impl From<StoreError> for HubError {
    fn from(e: StoreError) -> Self {
        invalid(e.to_string())
    }
}

fn write_all_fd(fd: i32, buffer: &mut Vec<u8>) {
    if buffer.is_empty() {
        return;
    }
    // SAFETY: fds 1 and 2 stay open for the hub's life; `File` is not dropped.
    let mut file = std::mem::ManuallyDrop::new(unsafe {
        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd)
    });
    let _ = file.write_all(buffer);
    buffer.clear();
}

impl Hub<'_> {
    // ----- the loop -------------------------------------------------------

    fn event_loop(&mut self) -> i32 {
        let mut events = vec![EpollEvent::empty(); 256];
        loop {
            self.flush_output();
            if let Some(code) = self.finished_code() {
                return self.shut_down(code);
            }
            let timeout = match self.waits.next_deadline() {
                None => EpollTimeout::NONE,
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
                    return self.shut_down(1);
                }
            };
            for event in &events[..ready] {
                let token = event.data();
                if token == SIGNAL_TOKEN {
                    if let Some(code) = self.on_signals() {
                        self.flush_output();
                        return code;
                    }
                } else {
                    self.on_socket(token, event.events());
                }
            }
            self.fire_timers();
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

    fn shut_down(&mut self, code: i32) -> i32 {
        self.kill_all(Signal::SIGKILL);
        self.reap_all_blocking();
        self.flush_output();
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

    fn flush_output(&mut self) {
        write_all_fd(1, &mut self.stdout);
        write_all_fd(2, &mut self.stderr);
    }

    fn warn(&mut self, message: String) {
        self.stderr
            .extend_from_slice(format!("mphost: {message}\n").as_bytes());
    }

    // ----- processes ------------------------------------------------------

    fn add_proc(&mut self, name: String, kind: ProcKind, state: Lifecycle) -> ProcId {
        self.next_proc += 1;
        let id = self.next_proc;
        self.procs.insert(id, Proc::new(id, name, kind, state));
        id
    }

    fn start(&mut self, id: ProcId, role: Role) -> Result<Pid, Errno> {
        let (pid, fd) = launch::launch(role, self.program, self.pid)?;
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
        self.epoll.add(fd.as_fd(), EpollEvent::new(flags, id))?;
        let proc = self
            .procs
            .get_mut(&id)
            .expect("started process is recorded");
        proc.state = Lifecycle::Running { pid };
        proc.conn = Some(Conn::new(fd));
        self.by_pid.insert(pid, id);
        Ok(pid)
    }

    fn start_spawned(&mut self, id: ProcId) -> HubResult<Pid> {
        let proc = self
            .procs
            .get_mut(&id)
            .ok_or_else(|| invalid("no such process"))?;
        let Lifecycle::Created { target, args } = &mut proc.state else {
            return Err(invalid(format!("start: {} was already started", proc.name)));
        };
        let role = Role::Process {
            name: proc.name.clone(),
            target: std::mem::replace(
                target,
                FnRef {
                    name: String::new(),
                    curry: vec![],
                },
            ),
            args: std::mem::take(args),
        };
        self.start(id, role)
            .map_err(|e| invalid(format!("start: cannot start a process: {e}")))
    }

    fn on_signals(&mut self) -> Option<i32> {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let signo = info.ssi_signo as i32;
            if signo == libc::SIGCHLD {
                self.reap();
            } else {
                return Some(self.interrupted(signo));
            }
        }
        None
    }

    /// SIGINT, SIGTERM or SIGHUP: stop everything, say what was cut short.
    fn interrupted(&mut self, signo: i32) -> i32 {
        let mut running: Vec<&Proc> = self.procs.values().filter(|p| p.is_running()).collect();
        running.sort_by_key(|p| p.id);
        let doing: Vec<String> = running
            .iter()
            .map(|p| match &p.parked {
                Some(parked) => format!("{} {}", p.label(), parked.key.describe()),
                None => format!("{} running", p.label()),
            })
            .collect();
        let what = if doing.is_empty() {
            "nothing was running".to_string()
        } else {
            doing.join("; ")
        };
        self.warn(format!(
            "interrupted by {}; stopping: {what}",
            signals::name(signo)
        ));
        self.shut_down(128 + signo)
    }

    fn reap(&mut self) {
        loop {
            let (pid, status) = match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, ExitStatus::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, ExitStatus::Signal(sig as i32)),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            if let Some(id) = self.by_pid.remove(&pid) {
                self.read_requests(id);
                self.ended(id, status);
            }
        }
    }

    /// Everything that follows from a process's end.
    fn ended(&mut self, id: ProcId, status: ExitStatus) {
        let Some(proc) = self.procs.get_mut(&id) else {
            return;
        };
        let pid = proc.pid().expect("an ended process had started");
        proc.state = Lifecycle::Ended { pid, status };
        if let Some(conn) = proc.conn.take() {
            let _ = self.epoll.delete(conn.fd());
        }
        let parked = proc.parked.take();
        let (kind, label) = (proc.kind, proc.label());
        self.check_stuck = true;

        for lock in self.store.release_locks_of(id) {
            // The main script ending with a lock nobody waits for is no news.
            if self.serve_lock(lock) || kind != ProcKind::Main {
                self.warn(format!(
                    "{label} {} while holding lock #{lock}; the lock passes on",
                    status.describe()
                ));
            }
        }
        if let Some(waits::Parked {
            key: WaitKey::PoolMap(run),
            ..
        }) = parked
        {
            self.abandon_run(run);
        }
        for joiner in self.waits.take_list(WaitKey::Join(id)) {
            if self.is_parked_on(joiner, WaitKey::Join(id)) {
                self.answer_join(joiner, id);
            }
        }
        match kind {
            ProcKind::Main => {
                if let ExitStatus::Signal(_) = status {
                    self.warn(format!("the main script {label} {}", status.describe()));
                }
                self.main_status = Some(status);
            }
            ProcKind::PoolWorker { run } => self.pool_worker_ended(run, id, &label, status),
            ProcKind::Spawned => {}
        }
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
            let _ = self.epoll.delete(conn.fd());
            if conn.ended_mid_frame() {
                bad.get_or_insert_with(|| "connection closed in the middle of a message".into());
            }
        }
        for request in requests {
            self.dispatch(id, request);
        }
        if let Some(reason) = bad {
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
        let (label, pid, running) = (proc.label(), proc.pid(), proc.is_running());
        if running {
            self.warn(format!(
                "{label} sent a bad message ({reason}); stopping it"
            ));
            if let Some(pid) = pid {
                let _ = kill(pid, Signal::SIGKILL);
            }
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
        let Some(conn) = self.procs.get_mut(&to).and_then(|p| p.conn.as_mut()) else {
            return;
        };
        if let Err(e) = conn.queue_reply(&reply) {
            let refusal = Reply::Error(invalid(format!("the answer cannot be sent: {e}")));
            let _ = conn.queue_reply(&refusal);
        }
        if conn.wants_write() {
            self.flush_conn(to);
        }
    }

    fn answer(&mut self, to: ProcId, result: HubResult<Reply>) {
        let reply = result.unwrap_or_else(Reply::Error);
        self.reply(to, reply);
    }

    // ----- parking --------------------------------------------------------

    fn park(&mut self, who: ProcId, key: WaitKey, value: Option<Value>, timeout: Option<f64>) {
        let parked = self.waits.park(who, key, value, timeout);
        if parked.deadline.is_none() {
            self.check_stuck = true;
        }
        if let Some(proc) = self.procs.get_mut(&who) {
            proc.parked = Some(parked);
        }
    }

    fn is_parked_on(&self, who: ProcId, key: WaitKey) -> bool {
        self.procs
            .get(&who)
            .and_then(|p| p.parked.as_ref())
            .is_some_and(|p| p.key == key)
    }

    fn unpark(&mut self, who: ProcId) -> Option<waits::Parked> {
        self.procs.get_mut(&who).and_then(|p| p.parked.take())
    }

    fn fire_timers(&mut self) {
        for (who, ticket) in self.waits.due(Instant::now()) {
            let current = self
                .procs
                .get(&who)
                .and_then(|p| p.parked.as_ref())
                .is_some_and(|p| p.ticket == ticket);
            if !current {
                continue;
            }
            let Some(parked) = self.unpark(who) else {
                continue;
            };
            let reply = match parked.key {
                WaitKey::QueueGet(_) => Reply::Error(HubError::new(
                    ErrorKind::Empty,
                    "Empty: queue get timed out",
                )),
                WaitKey::QueuePut(_) => {
                    Reply::Error(HubError::new(ErrorKind::Full, "Full: queue put timed out"))
                }
                WaitKey::Lock(_) => Reply::Bool(false),
                WaitKey::Join(target) => {
                    let info = self.procs.get(&target).map(Proc::info).unwrap_or(
                        crate::wire::ProcessInfo {
                            pid: None,
                            exitcode: None,
                        },
                    );
                    Reply::Joined {
                        info,
                        value: Value::Unit,
                    }
                }
                WaitKey::PoolMap(_) => continue,
            };
            self.reply(who, reply);
        }
    }

    /// When every live process waits with no deadline, nothing can ever wake
    /// them: Python hangs here. mphost answers the main script's wait with an
    /// error, or, once the main script has ended, stops the stuck processes.
    fn break_stuck_run(&mut self) {
        let running: Vec<&Proc> = self.procs.values().filter(|p| p.is_running()).collect();
        if running.is_empty()
            || running
                .iter()
                .any(|p| p.parked.as_ref().is_none_or(|w| w.deadline.is_some()))
        {
            return;
        }
        let mut described: Vec<(ProcId, String)> = running
            .iter()
            .map(|p| {
                (
                    p.id,
                    format!(
                        "{} {}",
                        p.label(),
                        p.parked.as_ref().map_or("", |w| w.key.describe())
                    ),
                )
            })
            .collect();
        described.sort();
        let story = described
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join("; ");
        let main = self
            .procs
            .values()
            .find(|p| p.kind == ProcKind::Main && p.is_running())
            .map(|p| p.id);
        match main {
            Some(main) => {
                self.unpark(main);
                let message = format!(
                    "Deadlock: every process is waiting and none can wake the others ({story})"
                );
                self.reply(main, Reply::Error(invalid(message)));
            }
            None => {
                self.warn(format!(
                    "the script has ended but its processes wait forever ({story}); stopping them"
                ));
                self.kill_all(Signal::SIGKILL);
            }
        }
    }

    // ----- requests -------------------------------------------------------

    fn dispatch(&mut self, from: ProcId, request: Request) {
        let wants_reply = request.expects_reply();
        let result = match request {
            Request::Output { stream, text } => {
                match stream {
                    Stream::Stdout => self.stdout.extend_from_slice(text.as_bytes()),
                    Stream::Stderr => self.stderr.extend_from_slice(text.as_bytes()),
                }
                return;
            }
            Request::Finished { outcome } => {
                if let Some(proc) = self.procs.get_mut(&from) {
                    proc.outcome = Some(outcome);
                }
                return;
            }
            Request::Spawn {
                target,
                args,
                start,
            } => self.spawn(target, args, start),
            Request::Start { id } => self.start_spawned(id).map(|_| Reply::Unit),
            Request::Join { id, timeout } => return self.join(from, id, timeout),
            Request::Status { id } => self.proc(id).map(|p| Reply::Process(p.info())),
            Request::Signal { id, signal } => self.signal(id, signal),
            Request::QueueNew { maxsize } => {
                let id = self.store.new_queue(maxsize);
                Ok(Reply::Handle(Handle::Queue {
                    id,
                    maxsize: maxsize.map(|m| m as u64),
                }))
            }
            Request::QueuePut {
                id, value, timeout, ..
            } => return self.queue_put(from, id, value, timeout, wants_reply),
            Request::QueueGet { id, timeout } => return self.queue_get(from, id, timeout),
            Request::QueueLen { id } => self
                .store
                .queue_len(id)
                .map(|n| Reply::Int(n as i64))
                .map_err(Into::into),
            Request::LockNew => Ok(Reply::Handle(Handle::Lock {
                id: self.store.new_lock(),
            })),
            Request::LockAcquire { id, timeout } => return self.lock_acquire(from, id, timeout),
            Request::LockRelease { id } => self.lock_release(id),
            Request::LockIsLocked { id } => self
                .store
                .lock_holder(id)
                .map(|h| Reply::Bool(h.is_some()))
                .map_err(Into::into),
            Request::ListNew { items } => Ok(Reply::Handle(Handle::List {
                id: self.store.new_list(items),
            })),
            Request::List { id, op, .. } => self.list_op(from, id, op),
            Request::PoolMap {
                target,
                items,
                workers,
                chunksize,
            } => {
                return self.pool_map(from, target, items, workers, chunksize);
            }
            Request::PoolNext { report } => return self.pool_next(from, report),
        };
        if wants_reply {
            self.answer(from, result);
        } else if let Err(e) = result {
            self.warn(e.message);
        }
    }

    fn proc(&self, id: ProcId) -> HubResult<&Proc> {
        self.procs
            .get(&id)
            .ok_or_else(|| invalid(format!("no such process (#{id})")))
    }

    fn spawn(&mut self, target: FnRef, args: Vec<Value>, start: bool) -> HubResult<Reply> {
        self.spawned_count += 1;
        let name = format!("Process-{}", self.spawned_count);
        let id = self.add_proc(
            name.clone(),
            ProcKind::Spawned,
            Lifecycle::Created { target, args },
        );
        let pid = if start {
            Some(self.start_spawned(id)?.as_raw())
        } else {
            None
        };
        Ok(Reply::Spawned { id, name, pid })
    }

    fn join(&mut self, from: ProcId, id: ProcId, timeout: Option<f64>) {
        let result = self.proc(id).and_then(|p| match p.state {
            _ if id == from => Err(invalid("join: a process cannot join itself")),
            Lifecycle::Created { .. } => Err(invalid(format!("join: {} was not started", p.name))),
            _ => Ok(p.is_running()),
        });
        match result {
            Err(e) => self.reply(from, Reply::Error(e)),
            Ok(true) => self.park(from, WaitKey::Join(id), None, timeout),
            Ok(false) => self.answer_join(from, id),
        }
    }

    fn answer_join(&mut self, joiner: ProcId, id: ProcId) {
        self.unpark(joiner);
        let Some(proc) = self.procs.get(&id) else {
            return;
        };
        let reply = Reply::Joined {
            info: proc.info(),
            value: proc.returned(),
        };
        self.reply(joiner, reply);
    }

    fn signal(&mut self, id: ProcId, signal: i32) -> HubResult<Reply> {
        let proc = self.proc(id)?;
        let signal =
            Signal::try_from(signal).map_err(|_| invalid(format!("no signal {signal}")))?;
        if let (true, Some(pid)) = (proc.is_running(), proc.pid()) {
            let _ = kill(pid, signal);
        }
        Ok(Reply::Unit)
    }

    // ----- queues ---------------------------------------------------------

    fn queue_put(
        &mut self,
        from: ProcId,
        id: u64,
        value: Value,
        timeout: Option<f64>,
        wants_reply: bool,
    ) {
        match self.store.queue_push(id, value) {
            Ok(Ok(())) => {
                if wants_reply {
                    self.reply(from, Reply::Unit);
                }
                self.serve_queue(id);
            }
            Ok(Err(_)) if timeout == Some(0.0) => {
                self.reply(
                    from,
                    Reply::Error(HubError::new(ErrorKind::Full, "Full: the queue is full")),
                );
            }
            Ok(Err(value)) => self.park(from, WaitKey::QueuePut(id), Some(value), timeout),
            Err(e) if wants_reply => self.reply(from, Reply::Error(e.into())),
            Err(e) => self.warn(e.to_string()),
        }
    }

    fn queue_get(&mut self, from: ProcId, id: u64, timeout: Option<f64>) {
        match self.store.queue_pop(id) {
            Ok(Some(value)) => {
                self.reply(from, Reply::Value(value));
                self.serve_queue(id);
            }
            Ok(None) if timeout == Some(0.0) => {
                self.reply(
                    from,
                    Reply::Error(HubError::new(ErrorKind::Empty, "Empty: the queue is empty")),
                );
            }
            Ok(None) => self.park(from, WaitKey::QueueGet(id), None, timeout),
            Err(e) => self.reply(from, Reply::Error(e.into())),
        }
    }

    /// Moves items to parked getters and parked puts into freed room, in arrival order.
    fn serve_queue(&mut self, id: u64) {
        loop {
            let mut moved = false;
            let mut getters = self.waits.take_list(WaitKey::QueueGet(id));
            while let Some(&getter) = getters.front() {
                if !self.is_parked_on(getter, WaitKey::QueueGet(id)) {
                    getters.pop_front();
                    continue;
                }
                match self.store.queue_pop(id) {
                    Ok(Some(value)) => {
                        getters.pop_front();
                        self.unpark(getter);
                        self.reply(getter, Reply::Value(value));
                        moved = true;
                    }
                    _ => break,
                }
            }
            self.waits.restore_list(WaitKey::QueueGet(id), getters);

            let mut putters = self.waits.take_list(WaitKey::QueuePut(id));
            while let Some(&putter) = putters.front() {
                if !self.is_parked_on(putter, WaitKey::QueuePut(id)) {
                    putters.pop_front();
                    continue;
                }
                if !matches!(self.store.queue_is_full(id), Ok(false)) {
                    break;
                }
                putters.pop_front();
                let value = self
                    .unpark(putter)
                    .and_then(|p| p.value)
                    .unwrap_or(Value::Unit);
                let _ = self.store.queue_push(id, value);
                self.reply(putter, Reply::Unit);
                moved = true;
            }
            self.waits.restore_list(WaitKey::QueuePut(id), putters);
            if !moved {
                return;
            }
        }
    }

    // ----- locks ----------------------------------------------------------

    fn lock_acquire(&mut self, from: ProcId, id: u64, timeout: Option<f64>) {
        match self.store.lock_try_acquire(id, from) {
            Ok(true) => self.reply(from, Reply::Bool(true)),
            Ok(false) if timeout == Some(0.0) => self.reply(from, Reply::Bool(false)),
            Ok(false) => self.park(from, WaitKey::Lock(id), None, timeout),
            Err(e) => self.reply(from, Reply::Error(e.into())),
        }
    }

    fn lock_release(&mut self, id: u64) -> HubResult<Reply> {
        self.store.lock_release(id)?;
        let _ = self.serve_lock(id);
        Ok(Reply::Unit)
    }

    /// Hands a free lock to the longest-waiting live process; true if one got it.
    fn serve_lock(&mut self, id: u64) -> bool {
        let mut waiters = self.waits.take_list(WaitKey::Lock(id));
        let mut handed = false;
        while let Some(waiter) = waiters.pop_front() {
            if !self.is_parked_on(waiter, WaitKey::Lock(id)) {
                continue;
            }
            if let Ok(true) = self.store.lock_try_acquire(id, waiter) {
                self.unpark(waiter);
                self.reply(waiter, Reply::Bool(true));
                handed = true;
            } else {
                waiters.push_front(waiter);
            }
            break;
        }
        self.waits.restore_list(WaitKey::Lock(id), waiters);
        handed
    }

    // ----- lists ----------------------------------------------------------

    fn list_op(&mut self, _from: ProcId, id: u64, op: ListOp) -> HubResult<Reply> {
        Ok(Reply::Value(self.store.list_op(id, op)?))
    }

    // ----- pool_map -------------------------------------------------------

    fn pool_map(
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

    fn add_pool_worker(&mut self, run: RunId) -> Result<(), Errno> {
        self.pool_worker_count += 1;
        let name = format!("PoolWorker-{}", self.pool_worker_count);
        let state = Lifecycle::Created {
            target: FnRef {
                name: String::new(),
                curry: vec![],
            },
            args: vec![],
        };
        let id = self.add_proc(name.clone(), ProcKind::PoolWorker { run }, state);
        if let Some(r) = self.runs.get_mut(&run) {
            r.workers.push(id);
        }
        self.start(id, Role::PoolWorker { name })?;
        Ok(())
    }

    fn pool_next(&mut self, from: ProcId, report: Option<TaskReport>) {
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
                if run.complete(from, results) {
                    run.finished = true;
                    let (caller, values) = (run.caller, run.take_results());
                    self.unpark(caller);
                    self.reply(caller, Reply::Values(values));
                    self.finish_run(run_id);
                    return self.reply(from, Reply::Stop);
                }
            }
            Some(TaskReport::Failed { index, message }) => {
                let label = self.procs.get(&from).map(Proc::label).unwrap_or_default();
                self.fail_run(
                    run_id,
                    format!("pool_map: item {index} failed in {label}: {message}"),
                );
                return self.reply(from, Reply::Stop);
            }
            None => {}
        }
        let run = self.runs.get_mut(&run_id).expect("run checked above");
        match run.assign(from) {
            Some(task) => self.reply(from, Reply::Task(task)),
            None => self.reply(from, Reply::Stop),
        }
    }

    fn pool_worker_ended(&mut self, run_id: RunId, id: ProcId, label: &str, status: ExitStatus) {
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
        if run.has_pending() {
            if let Err(e) = self.add_pool_worker(run_id) {
                self.fail_run(run_id, format!("pool_map: cannot replace a worker: {e}"));
            }
        }
    }

    fn fail_run(&mut self, run_id: RunId, message: String) {
        let Some(run) = self.runs.get_mut(&run_id) else {
            return;
        };
        run.finished = true;
        let caller = run.caller;
        self.unpark(caller);
        self.reply(
            caller,
            Reply::Error(HubError::new(ErrorKind::Pool, message)),
        );
        self.finish_run(run_id);
    }

    /// The caller of a run is gone: its workers have nobody to work for.
    fn abandon_run(&mut self, run_id: RunId) {
        if let Some(run) = self.runs.get_mut(&run_id) {
            run.finished = true;
        }
        self.finish_run(run_id);
    }

    /// Stops the run's workers that are still busy and forgets the run.
    fn finish_run(&mut self, run_id: RunId) {
        let Some(run) = self.runs.remove(&run_id) else {
            return;
        };
        for &worker in &run.workers {
            let Some(proc) = self.procs.get(&worker) else {
                continue;
            };
            if let (true, Some(pid)) = (proc.is_running(), proc.pid()) {
                if run.held_by(worker).is_some() {
                    let _ = kill(pid, Signal::SIGKILL);
                }
            }
        }
    }
}
