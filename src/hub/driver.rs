//! The hub's driver: the only part of the hub that does I/O. It owns the
//! epoll loop, the signalfd, every child's socket (`conn`) and `fork`
//! (`launch`), and is the core's `Host`: it turns what happens into the
//! core's events (a request read, a socket closed, a child reaped, a stop
//! signal, a turn of the loop) and carries out what the core asks (send,
//! signal, start, disconnect), then writes the output the core buffered.
//!
//! What it must not do: decide anything about the run. Who is answered,
//! parked, woken or killed is the core's (`super::core`).

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;

use super::conn::{Conn, ReadOutcome};
use super::core::{Core, Host, Output, ProcessExit, Progress, StartError, Trace, TraceFile, Wake};
use super::remote::{Heard, RemoteWorkers};
use super::writer::{self, EXIT_OUTPUT_FAILED, FlushError};
use super::{launch, signals};
use crate::child::{ChildEntry, Identity, Role};
use crate::cluster::RunLease;
use crate::cluster::RunObjects;
use crate::script::Program;
use crate::store::{LocalStore, ObjectStore, RedisStore};
use crate::wire::{ProcId, RemoteExit, RemoteStart, WorkerRole};

const SIGNAL_TOKEN: u64 = u64::MAX;
const RELAY_TOKEN: u64 = u64::MAX - 1;

/// A cluster run: its lease on its keys in Redis, and how many of each
/// pool's workers run on this machine (the hosts start the rest).
pub struct ClusterRun {
    pub lease: RunLease,
    pub local_workers: usize,
    /// How many times a chunk lost with its host is queued again.
    pub max_redeliveries: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum HubStartError {
    #[error("cannot set up the supervisor: {0}")]
    Setup(#[from] Errno),
    #[error("{0}")]
    Cluster(#[from] crate::cluster::LostRedis),
}

/// Runs `program` to the end and returns the exit status for `mphost`;
/// with `trace`, writes the run's trace there at the end; with `cluster`,
/// renews the run's lease on its keys in Redis (deleting them at the end)
/// and has the cluster's hosts run the pools' workers past
/// `local_workers`. Every forked child runs `child_entry` (the
/// interpreter's, given by `main`).
pub fn run(
    program: &Program,
    trace: Option<TraceFile>,
    cluster: Option<ClusterRun>,
    child_entry: ChildEntry,
) -> Result<i32, HubStartError> {
    let trace = trace.map(Trace::new);
    let (lease, placement) = cluster
        .map(|c| (c.lease, (c.local_workers, c.max_redeliveries)))
        .unzip();
    // Forked first, while the hub has one thread and no child.
    let relay = match lease.as_ref().map(crate::cluster::start_relay).transpose() {
        Ok(relay) => relay,
        Err(e) => {
            if let Some(lease) = lease {
                let _ = lease.release();
            }
            return Err(e.into());
        }
    };
    // A cluster's objects are in Redis, reached through the hub by every
    // process, remote or not: none is in this machine's shared memory.
    let store: Box<dyn ObjectStore> = match lease.as_ref().map(RunObjects::open) {
        Some(Ok(objects)) => Box::new(RedisStore::new(objects)),
        Some(Err(e)) => {
            if let Some(relay) = relay {
                RemoteWorkers::new(relay).close();
            }
            if let Some(lease) = lease {
                let _ = lease.release();
            }
            return Err(e.into());
        }
        None => {
            // Without the arena (no memfd), locks still work, through the hub.
            let _ = crate::shm::Arena::create();
            Box::new(LocalStore::default())
        }
    };
    let remote = relay.map(RemoteWorkers::new);
    let signals = signals::install()?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(
        signals.as_fd(),
        EpollEvent::new(EpollFlags::EPOLLIN, SIGNAL_TOKEN),
    )?;
    if let Some(remote) = &remote {
        epoll.add(
            remote.relay_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP, RELAY_TOKEN),
        )?;
    }
    let settings = &program.info.settings;
    let progress = Progress::new(settings.progress);
    let mut output = Output::new(settings.tag_output, settings.ordered_output);
    if progress.shares_stdout() {
        output.share_bars_with_stdout();
    }
    let hub_pid = nix::unistd::getpid();
    let io = Io {
        program,
        child_entry,
        hub_pid,
        epoll,
        conns: HashMap::new(),
        remote,
        shipped: HashMap::new(),
    };
    let mut core = Core::new(io, hub_pid, store, output, progress, trace);
    if let Some(((local, max_redeliveries), lease)) = placement.zip(lease.as_ref()) {
        core = core.with_remote_workers(local, max_redeliveries, lease.length());
    }
    let mut driver = Driver {
        core,
        signals,
        lease,
    };
    if let Err(e) = driver.core.start_main() {
        // Nothing ran: the run's keys go now, not when the lease expires.
        if let Some(lease) = driver.lease.take() {
            let _ = lease.release();
        }
        if let Some(remote) = driver.core.host_mut().remote.take() {
            remote.close();
        }
        return Err(e.into());
    }
    let code = driver.event_loop();
    Ok(code)
}

/// The core's host: children's sockets, `fork`, signals and the clock.
pub struct Io<'p> {
    program: &'p Program,
    /// What a forked child runs.
    child_entry: ChildEntry,
    hub_pid: Pid,
    epoll: Epoll,
    conns: HashMap<ProcId, Conn>,
    /// A cluster run's remote workers, and its relay.
    remote: Option<RemoteWorkers>,
    /// The module sources sent to remote workers, by the imports asked.
    shipped: HashMap<Vec<String>, Vec<(String, String)>>,
}

impl Host for Io<'_> {
    fn start(&mut self, id: ProcId, role: &Role, identity: Identity) -> Result<Pid, StartError> {
        let (pid, fd) =
            launch::launch(role, identity, self.program, self.hub_pid, self.child_entry)?;
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
        if let Err(e) = self.epoll.add(fd.as_fd(), EpollEvent::new(flags, id)) {
            launch::abandon(pid);
            return Err(e);
        }
        self.conns.insert(id, Conn::new(fd));
        Ok(pid)
    }

    fn start_remote(
        &mut self,
        id: ProcId,
        role: WorkerRole,
        identity: Identity,
    ) -> Result<Pid, StartError> {
        let remote = self.remote.as_mut().ok_or(Errno::ENOSYS)?;
        // The host may have none of the script's files: its modules go along.
        let imports: Vec<String> = match &role {
            WorkerRole::PoolWorker { setup } => setup.globals.imports.iter(),
            WorkerRole::Process { globals, .. } => globals.imports.iter(),
        }
        .map(|(_, path)| path.clone())
        .collect();
        // Read once for each set of imports, so every remote worker of the
        // run runs the same modules, and the hub reads no file per start.
        let script_dir = self.program.info.script_dir();
        let modules = self
            .shipped
            .entry(imports)
            .or_insert_with_key(|imports| crate::script::module_sources(&script_dir, imports))
            .clone();
        let stand_in = remote.start(RemoteStart {
            id,
            name: identity.name,
            parent_pid: identity.parent_pid,
            role,
            modules,
            max_memory: self.program.info.settings.max_memory,
        })?;
        self.flush_relay();
        Ok(stand_in)
    }

    fn send(&mut self, to: ProcId, frame: Vec<u8>) {
        let Some(conn) = self.conns.get_mut(&to) else {
            if let Some(remote) = self.remote.as_mut().filter(|r| r.has(to)) {
                remote.send(to, frame);
                self.flush_relay();
            }
            return;
        };
        conn.queue_frame(&frame);
        if conn.wants_write() {
            self.flush_conn(to);
        }
    }

    fn disconnect(&mut self, id: ProcId) {
        if let Some(conn) = self.conns.remove(&id) {
            let _ = self.epoll.delete(conn.fd());
        } else if let Some(remote) = &mut self.remote {
            remote.disconnect(id);
        }
    }

    fn signal(&mut self, pid: Pid, signal: Signal) {
        if RemoteWorkers::is_stand_in(pid) {
            if let Some(remote) = &mut self.remote {
                remote.signal(pid, signal);
                self.flush_relay();
            }
            return;
        }
        let _ = kill(pid, signal);
    }

    /// Without reaping it: the SIGCHLD the event loop reads next does that.
    /// A remote worker's end is told by its host, never guessed here.
    fn has_exited(&mut self, pid: Pid) -> bool {
        if RemoteWorkers::is_stand_in(pid) {
            return false;
        }
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive))
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl Io<'_> {
    /// Writes what the relay's socket takes now; watches for room for the rest.
    fn flush_relay(&mut self) {
        if let Some(remote) = &mut self.remote {
            remote.flush();
            watch(
                &self.epoll,
                remote.relay_fd(),
                remote.wants_write(),
                RELAY_TOKEN,
            );
        }
    }

    /// Writes what `id`'s socket takes now; watches for room for the rest.
    fn flush_conn(&mut self, id: ProcId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.flush();
            watch(&self.epoll, conn.fd(), conn.wants_write(), id);
        }
    }
}

/// Watches `fd` for what arrives, and for room to write when `wants_write`.
fn watch(epoll: &Epoll, fd: std::os::fd::BorrowedFd<'_>, wants_write: bool, token: u64) {
    let mut flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
    if wants_write {
        flags |= EpollFlags::EPOLLOUT;
    }
    let _ = epoll.modify(fd, &mut EpollEvent::new(flags, token));
}

struct Driver<'p> {
    core: Core<Io<'p>>,
    signals: SignalFd,
    /// A cluster run's lease on its keys in Redis.
    lease: Option<RunLease>,
}

impl Driver<'_> {
    fn event_loop(&mut self) -> i32 {
        let mut events = vec![EpollEvent::empty(); 256];
        loop {
            self.core.frame_progress();
            // A slow reader of stdout must not starve the lease's renewals.
            let lease_due = self.lease.as_ref().map(RunLease::due);
            match writer::flush(
                self.core.output_mut(),
                self.signals.as_fd(),
                None,
                lease_due,
            ) {
                Ok(()) => {}
                Err(FlushError::Interrupted) => {
                    if let Some(code) = self.on_signals() {
                        return code;
                    }
                    continue;
                }
                Err(FlushError::Due) => {
                    if let Some(code) = self.renew_lease() {
                        return code;
                    }
                    continue;
                }
                Err(FlushError::StdoutClosed) => return self.shut_down(128 + libc::SIGPIPE, false),
                Err(FlushError::Failed(failed)) => {
                    writer::report_failure(self.core.output_mut(), &failed);
                    return self.shut_down(EXIT_OUTPUT_FAILED, false);
                }
            }
            if let Some(code) = self.core.finished_code() {
                return self.shut_down(code, true);
            }
            if self.lease.is_some()
                && let Some(code) = self.renew_lease()
            {
                return code;
            }
            let lease_due = self.lease.as_ref().map(RunLease::due);
            let wake = match (self.core.next_wake(), lease_due) {
                (Wake::Never, Some(due)) => Wake::At(due),
                (Wake::At(at), Some(due)) => Wake::At(at.min(due)),
                (wake, _) => wake,
            };
            let timeout = match wake {
                Wake::Never => EpollTimeout::NONE,
                Wake::Now => {
                    // Let a holder on this CPU finish its copy first.
                    std::thread::yield_now();
                    EpollTimeout::ZERO
                }
                Wake::At(at) => {
                    let ms = at.saturating_duration_since(Instant::now()).as_millis() + 1;
                    EpollTimeout::try_from(ms.min(60_000) as u64).unwrap_or(EpollTimeout::MAX)
                }
            };
            let ready = match self.core.host().epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => {
                    self.core.warn(format!("event loop failed: {e}"));
                    return self.shut_down(1, false);
                }
            };
            // A hub stopped for longer than its lease (SIGSTOP) finds it
            // lapsed before it serves a request: the run's objects may
            // have expired with it.
            if self.lease.is_some()
                && let Some(code) = self.renew_lease()
            {
                return code;
            }
            for event in &events[..ready] {
                let token = event.data();
                if token == SIGNAL_TOKEN {
                    if let Some(code) = self.on_signals() {
                        return code;
                    }
                } else if token == RELAY_TOKEN {
                    if let Some(code) = self.on_relay(event.events()) {
                        return code;
                    }
                } else {
                    self.on_socket(token, event.events());
                }
            }
            self.core.turn();
            if let Some(line) = self.core.store_lost() {
                let line = line.to_string();
                return self.relay_lost(&line);
            }
        }
    }

    /// Renews a cluster run's lease when it is due; Redis lost ends the run
    /// (its exit status). Out of line: a run without a cluster only checks
    /// that it has no lease, and the event loop's code stays as small as it
    /// was (inlined, this slowed spawn+join by 5-8%, with the same CPU time).
    #[inline(never)]
    fn renew_lease(&mut self) -> Option<i32> {
        let lost = self.lease.as_mut()?.renew_if_due(Instant::now()).err()?;
        self.lease = None;
        self.core.say(&lost.to_string());
        Some(self.shut_down(i32::from(crate::exit_status::UNAVAILABLE), false))
    }

    /// Reads the signalfd: reaps children, and stops the run on a stop
    /// signal (its exit status).
    fn on_signals(&mut self) -> Option<i32> {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let signo = info.ssi_signo as i32;
            if signo == libc::SIGCHLD {
                if let Some(code) = self.reap() {
                    return Some(code);
                }
            } else {
                let code = self.core.interrupted(signo);
                return Some(self.shut_down(code, false));
            }
        }
        None
    }

    /// Reaps every child that has ended and reports each death; a cluster
    /// run's relay that died is Redis lost (the run's exit status).
    fn reap(&mut self) -> Option<i32> {
        loop {
            let (pid, status) = match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, ProcessExit::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, ProcessExit::Signal(sig as i32)),
                Ok(WaitStatus::StillAlive) | Err(_) => return None,
                Ok(_) => continue,
            };
            if let Some(id) = self.core.exiting(pid) {
                self.read_requests(id);
                self.core.ended(id, status);
            } else if let Some(remote) = self.core.host_mut().remote.as_mut()
                && remote.relay_pid() == pid
            {
                remote.relay_reaped();
                return Some(self.relay_lost("the run's relay ended"));
            }
        }
    }

    /// The relay's socket is ready: writes what waits, and hands what it
    /// said to the core; Redis lost ends the run (its exit status).
    fn on_relay(&mut self, flags: EpollFlags) -> Option<i32> {
        if flags.contains(EpollFlags::EPOLLOUT) {
            self.core.host_mut().flush_relay();
        }
        let heard = self.core.host_mut().remote.as_mut()?.read();
        for event in heard {
            match event {
                Heard::Started { id, host, pid } => self.core.remote_started(id, host, pid),
                Heard::Requests { id, requests, bad } => {
                    for request in requests {
                        self.core.dispatch(id, request);
                    }
                    if let Some(reason) = bad {
                        self.core.protocol_violation(id, &reason);
                    }
                }
                Heard::Exited {
                    stand_in,
                    status,
                    started,
                } => {
                    let status = match status {
                        RemoteExit::Code(code) => ProcessExit::Code(code),
                        RemoteExit::Signal(signal) => ProcessExit::Signal(signal),
                    };
                    self.core.remote_exited(stand_in, status, started);
                }
                Heard::HandedBack { stand_in } => self.core.remote_handed_back(stand_in),
                Heard::Stderr(bytes) => self.core.output_mut().stderr.extend_from_slice(&bytes),
                Heard::HostLost {
                    host,
                    why,
                    stand_ins,
                } => self.core.host_lost(&host, &why, stand_ins),
                Heard::Refused { host, reason } => self.core.warn(format!(
                    "worker host {} refuses this run: {reason}",
                    super::core::host_name(&host)
                )),
                Heard::Lost(line) => return Some(self.relay_lost(&line)),
            }
        }
        None
    }

    /// Redis lost by the relay: says so and ends the run with 69. A line
    /// that is not yet the whole message gets the URL.
    #[inline(never)]
    fn relay_lost(&mut self, line: &str) -> i32 {
        let line = match (line.starts_with("mphost: "), &self.lease) {
            (true, _) | (false, None) => line.to_string(),
            (false, Some(lease)) => {
                let url = lease.cluster().to_string();
                crate::cluster::LostRedis::during_run(&url, line).to_string()
            }
        };
        self.core.say(&line);
        self.shut_down(i32::from(crate::exit_status::UNAVAILABLE), false)
    }

    fn on_socket(&mut self, id: ProcId, flags: EpollFlags) {
        if flags.contains(EpollFlags::EPOLLOUT) {
            self.core.host_mut().flush_conn(id);
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

    /// Reads what `id` has sent and gives it to the core.
    fn read_requests(&mut self, id: ProcId) {
        let io = self.core.host_mut();
        let Some(conn) = io.conns.get_mut(&id) else {
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
            let _ = io.epoll.delete(conn.fd());
            self.core.link_closed(id);
        }
        for request in requests {
            self.core.dispatch(id, request);
        }
        if let (Some(reason), false) = (bad, closed) {
            self.core.protocol_violation(id, &reason);
        }
    }

    /// Stops every process and writes the last output. At a normal end
    /// (`patient`) all of it is written unless a stop signal comes; after an
    /// interruption the hub gives the output a second, not forever.
    fn shut_down(&mut self, code: i32, patient: bool) -> i32 {
        let trace = self.core.end_run();
        let running = self.core.running_pids();
        self.core.signal_all(Signal::SIGKILL);
        for pid in running {
            let _ = waitpid(pid, None);
        }
        let mut code = code;
        if let Some(line) = self.core.settle_store()
            && code != i32::from(crate::exit_status::UNAVAILABLE)
        {
            self.core.say(&line);
            code = i32::from(crate::exit_status::UNAVAILABLE);
        }
        // What the relay has queued (the kills of remote workers among it)
        // is written to it before the keys go; whatever it has not carried
        // out by then, a host learns from the run's lease gone, within a
        // second.
        if let Some(mut remote) = self.core.host_mut().remote.take() {
            remote.flush();
            if let Some(lease) = self.lease.take()
                && let Err(lost) = lease.release()
                && code != i32::from(crate::exit_status::UNAVAILABLE)
            {
                self.core.say(&lost.to_string());
                code = i32::from(crate::exit_status::UNAVAILABLE);
            }
            remote.close();
        }
        if let Some(Err(lost)) = self.lease.take().map(RunLease::release) {
            self.core.say(&lost.to_string());
            code = i32::from(crate::exit_status::UNAVAILABLE);
        }
        let limit = (!patient).then_some(std::time::Duration::from_secs(1));
        loop {
            match writer::flush(self.core.output_mut(), self.signals.as_fd(), limit, None) {
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
                    writer::report_failure(self.core.output_mut(), &failed);
                    code = EXIT_OUTPUT_FAILED;
                }
                _ => break,
            }
        }
        finish_trace(trace, code)
    }
}

/// Writes the trace, if the run is traced; the exit status for `mphost`:
/// the run's `code`, or `exit_status::IO_FAILED` when the run went well but
/// its trace could not be written (said on stderr).
fn finish_trace(trace: Option<Trace>, code: i32) -> i32 {
    let Some(trace) = trace else {
        return code;
    };
    match trace.write() {
        Ok(()) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "mphost: {e}");
            if code == 0 {
                crate::exit_status::IO_FAILED
            } else {
                code
            }
        }
    }
}
