//! Processes coming and going: starting interpreters, `spawn`/`start`/`join`/
//! signals from scripts, reaping, and everything that follows a death
//! (locks passed on, joiners answered, a pool run failed, the run's end).

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::processes::{ExitStatus, Lifecycle, Link, Proc, ProcKind, Remote, signal_name};
use super::waits::{self, WaitKey};
use super::{Core, Host, HubResult, StartError, invalid};
use crate::child::{Identity, Role};
use crate::wire::{FnRef, Globals, Handle, ProcId, Reply, Value, WorkerRole};

impl<H: Host> Core<H> {
    // ----- processes ------------------------------------------------------

    pub(super) fn start(&mut self, id: ProcId, role: &Role) -> Result<Pid, StartError> {
        self.start_with(id, |host, identity| host.start(id, role, identity))
    }

    /// Asks the cluster's hosts to start process `id` (a pool worker).
    pub(super) fn start_remote(&mut self, id: ProcId, role: WorkerRole) -> Result<Pid, StartError> {
        let pid = self.start_with(id, |host, identity| host.start_remote(id, role, identity))?;
        if let Some(proc) = self.procs.get_mut(id) {
            proc.remote = Some(Remote::default());
        }
        let now = self.host.now();
        self.host_wait.queued(now);
        Ok(pid)
    }

    /// Says once, on stderr, that pool workers have waited a lease for a
    /// host while no host started any worker of the run: a cluster with no
    /// `mphost worker` (or none of this version) would otherwise wait in
    /// silence.
    pub(super) fn tell_of_host_wait(&mut self) {
        let Some(due) = self.host_wait.due() else {
            return;
        };
        let waiting = self
            .procs
            .iter()
            .filter(|p| p.is_running() && p.is_unplaced() && !p.is_withdrawn())
            .count();
        if waiting == 0 {
            self.host_wait.none_waits();
        } else if self.host.now() >= due {
            self.host_wait.told();
            let (workers, them) = match waiting {
                1 => ("1 pool worker waits", "it"),
                _ => (&*format!("{waiting} pool workers wait"), "them"),
            };
            self.warn(format!(
                "{workers} for a worker host: none has started a worker of this run for {:.1} s; `mphost worker` on this run's Redis starts {them} (Ctrl-C stops the run)",
                self.host_wait.after.as_secs_f64()
            ));
        }
    }

    /// Starts process `id` with `start`, and records it running.
    fn start_with(
        &mut self,
        id: ProcId,
        start: impl FnOnce(&mut H, Identity) -> Result<Pid, StartError>,
    ) -> Result<Pid, StartError> {
        let identity = self.identity(id);
        let forked_at = self.trace_clock();
        let pid = start(&mut self.host, identity)?;
        let proc = self
            .procs
            .started(id, pid)
            .expect("a process is recorded before it is started");
        if proc.kind != ProcKind::Main {
            self.output.worker_started(id);
        }
        self.trace_started(id, pid.as_raw(), forked_at);
        Ok(pid)
    }

    /// A cluster's host started remote process `id` as `pid` there. Said
    /// once: a host's later word on it is not taken.
    pub fn remote_started(&mut self, id: ProcId, host: String, pid: i32) {
        let now = self.host.now();
        self.host_wait.started(now);
        if let Some(proc) = self.procs.get_mut(id)
            && let Some(remote) = proc.remote.as_mut().filter(|r| r.on.is_none())
        {
            remote.on = Some((host, pid));
            if let ProcKind::PoolWorker { pool } = proc.kind {
                self.answer_pids(pool);
            }
        }
    }

    /// Remote process `pid` (its stand-in) ended; `started` is the item it
    /// last recorded starting, as its host read it (checked like a local
    /// worker's progress slot).
    pub fn remote_exited(&mut self, pid: Pid, status: ExitStatus, started: Option<(u64, usize)>) {
        let Some(id) = self.exiting(pid) else {
            return;
        };
        if let (Some(started), Some(ProcKind::PoolWorker { pool })) = (started, self.procs.kind(id))
            && let Some(pool) = self.pools.get_mut(&pool)
        {
            pool.reported_started(id, started);
        }
        self.ended(id, status);
    }

    /// Remote process `stand_in` was stopped by its host, which leaves the
    /// cluster: what it held is handed back (queued again, no attempt
    /// counted).
    pub fn remote_handed_back(&mut self, stand_in: Pid) {
        if let Some(id) = self.exiting(stand_in) {
            self.ended(id, ExitStatus::Lost { handed_back: true });
        }
    }

    /// Worker host `host` was lost (`why`), and fenced: its processes (by
    /// their stand-ins) count as gone with it; the chunks they held are
    /// queued again, their attempt counted.
    pub fn host_lost(&mut self, host: &str, why: &str, stand_ins: Vec<Pid>) {
        self.warn(format!(
            "worker host {} was lost ({why}); its {} worker(s) are given up and their chunks queued again",
            super::processes::host_name(host),
            stand_ins.len()
        ));
        for stand_in in stand_ins {
            if let Some(id) = self.exiting(stand_in) {
                self.ended(id, ExitStatus::Lost { handed_back: false });
            }
        }
    }

    pub(super) fn start_spawned(&mut self, id: ProcId) -> HubResult<Pid> {
        let proc = self
            .procs
            .get_mut(id)
            .ok_or_else(|| invalid("no such process"))?;
        if !matches!(proc.state, Lifecycle::Created { .. }) {
            return Err(invalid(format!("start: {} was already started", proc.name)));
        }
        let Lifecycle::Created {
            target,
            args,
            globals,
        } = std::mem::replace(&mut proc.state, Lifecycle::Launching)
        else {
            unreachable!("checked just above")
        };
        let role = Role::Process {
            name: proc.name.clone(),
            target,
            args,
            globals,
        };
        self.start(id, &role).map_err(|e| {
            // Not started after all: it may be started again.
            if let (
                Some(proc),
                Role::Process {
                    target,
                    args,
                    globals,
                    ..
                },
            ) = (self.procs.get_mut(id), role)
            {
                proc.state = Lifecycle::Created {
                    target,
                    args,
                    globals,
                };
            }
            invalid(format!("start: cannot start a process: {e}"))
        })
    }

    /// SIGINT, SIGTERM or SIGHUP: says what was cut short; the exit status
    /// for the run, which the driver now stops.
    pub fn interrupted(&mut self, signo: i32) -> i32 {
        let mut running: Vec<&Proc> = self.procs.iter().filter(|p| p.is_running()).collect();
        running.sort_by_key(|p| p.id);
        let doing: Vec<String> = running
            .iter()
            .map(|p| match &p.parked {
                Some(parked) => format!("{} {}", p.label(), parked.describe()),
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
            signal_name(signo)
        ));
        128 + signo
    }

    /// Child `pid` has exited, and its death is about to be reported: frees
    /// its shared memory first (the messages it left unread may need it), and
    /// returns the process it was, if it is one of the run's. The driver then
    /// reads what it left on its socket and reports `ended`.
    /// It is dead: whatever it left that wants an answer is dropped (nobody
    /// will read it), even if its socket has not shown its end yet.
    pub fn exiting(&mut self, pid: Pid) -> Option<ProcId> {
        let id = self.procs.exited(pid)?;
        self.link_closed(id);
        self.store
            .free_shared_memory(u64::from(crate::shm::owner_tag(id)));
        Some(id)
    }

    /// Everything that follows from a process's end.
    pub fn ended(&mut self, id: ProcId, status: ExitStatus) {
        let Some(proc) = self.procs.get_mut(id) else {
            return;
        };
        let pid = proc.pid().expect("an ended process had started");
        proc.state = Lifecycle::Ended { pid, status };
        if std::mem::replace(&mut proc.link, Link::None) != Link::None {
            self.host.disconnect(id);
        }
        let parked = proc.parked.take();
        let (kind, label) = (proc.kind, proc.label());
        // A remote worker taken back by the hub: no death.
        let withdrawn = proc.is_withdrawn();
        self.check_stuck = true;
        self.trace_ended(id, status);
        self.output.process_ended(id);

        let abnormally = status != ExitStatus::Code(0);
        let forgotten = self.store.forget_process(id, abnormally);
        // Its leftover messages (pins among them) were read before this.
        let unheld = self.refs.process_ended(id);
        self.free_unheld(unheld);
        // The main script ending normally holding a lock is no news.
        let quiet = kind == ProcKind::Main && matches!(status, ExitStatus::Code(_));
        if !quiet {
            for note in &forgotten.notes {
                self.warn(format!("{label} {} while {note}", status.describe()));
            }
        }
        self.retry_parked(forgotten.changed);
        if let Some(waits::Parked {
            key: WaitKey::Job(job),
            ..
        }) = parked
        {
            self.job_abandoned(job);
        }
        self.owner_ended(id);
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
            ProcKind::PoolWorker { pool } if withdrawn => self.pool_worker_withdrawn(pool, id),
            ProcKind::PoolWorker { pool } => self.pool_worker_ended(pool, id, &label, status),
            ProcKind::Spawned => {}
        }
    }

    pub(super) fn proc(&self, id: ProcId) -> HubResult<&Proc> {
        self.procs
            .get(id)
            .ok_or_else(|| invalid(format!("no such process (#{id})")))
    }

    /// Its name, and the pid of the process that asked for it (the hub's for the main script).
    fn identity(&self, id: ProcId) -> Identity {
        let proc = self.procs.get(id);
        let parent_pid = proc
            .and_then(|p| p.parent)
            .and_then(|parent| self.procs.get(parent))
            .and_then(Proc::pid)
            .unwrap_or(self.hub_pid);
        Identity {
            id,
            name: proc.map(|p| p.name.clone()).unwrap_or_default(),
            parent_pid: parent_pid.as_raw(),
        }
    }

    /// The live processes `from` spawned, for `active_children()`.
    pub(super) fn children(&self, from: ProcId) -> Reply {
        let mut kids: Vec<&Proc> = self
            .procs
            .iter()
            .filter(|p| p.parent == Some(from) && p.kind == ProcKind::Spawned && p.is_running())
            .collect();
        kids.sort_by_key(|p| p.id);
        Reply::Values(
            kids.into_iter()
                .map(|p| {
                    Value::Handle(Handle::Process {
                        id: p.id,
                        name: p.name.clone(),
                    })
                })
                .collect(),
        )
    }

    pub(super) fn spawn(
        &mut self,
        from: ProcId,
        target: FnRef,
        args: Vec<Value>,
        start: bool,
        globals: Globals,
    ) -> HubResult<Reply> {
        let name = self.procs.next_spawned_name();
        // Captured values count: the child turns them into handles too.
        let mut handed = Vec::new();
        target.object_ids(&mut handed);
        args.iter().for_each(|a| a.object_ids(&mut handed));
        globals.object_ids(&mut handed);
        let id = self.procs.add(
            name.clone(),
            ProcKind::Spawned,
            Lifecycle::Created {
                target,
                args,
                globals,
            },
            Some(from),
        );
        // The child holds what its arguments hold, from now: they are on
        // their way to it, and its sender's release may follow at once. A
        // child that could not start holds nothing.
        let pid = if start {
            Some(self.start_spawned(id)?.as_raw())
        } else {
            None
        };
        for object in handed {
            self.refs.handed(object, id);
        }
        Ok(Reply::Spawned { id, name, pid })
    }

    pub(super) fn join(&mut self, from: ProcId, id: ProcId, timeout: Option<f64>) {
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

    pub(super) fn answer_join(&mut self, joiner: ProcId, id: ProcId) {
        self.unpark(joiner);
        let Some(proc) = self.procs.get(id) else {
            return;
        };
        let reply = Reply::Joined {
            info: proc.info(),
            value: proc.returned(),
        };
        self.reply(joiner, reply);
    }

    pub(super) fn signal(&mut self, id: ProcId, signal: i32) -> HubResult<Reply> {
        let signal =
            Signal::try_from(signal).map_err(|_| invalid(format!("no signal {signal}")))?;
        self.proc(id)?;
        self.send_signal(id, signal);
        Ok(Reply::Unit)
    }

    /// Signals a running process, and remembers it did (see `break_stuck_run`).
    /// SIGTERM and SIGKILL end an interpreter, so what it waited for is
    /// withdrawn now: an item or a lock must not go to a process that is
    /// about to die.
    pub(super) fn send_signal(&mut self, id: ProcId, signal: Signal) {
        let Some(proc) = self.procs.get_mut(id) else {
            return;
        };
        if let (true, Some(pid)) = (proc.is_running(), proc.pid()) {
            proc.signaled = true;
            self.host.signal(pid, signal);
            if matches!(signal, Signal::SIGKILL | Signal::SIGTERM) {
                self.withdraw_wait(id);
            }
        }
    }
}

/// Cluster mode: whether pool workers wait for a host with none started
/// meanwhile, and whether the run said so (once a run).
#[derive(Debug, Default)]
pub struct HostWait {
    /// How long a wait goes untold: the run's lease.
    after: Duration,
    /// Since when workers have waited with no host starting any.
    since: Option<Instant>,
    told: bool,
}

impl HostWait {
    pub fn after(lease: Duration) -> HostWait {
        HostWait {
            after: lease,
            ..HostWait::default()
        }
    }

    /// When to tell of the wait, if there is one still untold.
    pub fn due(&self) -> Option<Instant> {
        match self.told {
            true => None,
            false => self.since.map(|since| since + self.after),
        }
    }

    fn queued(&mut self, now: Instant) {
        self.since.get_or_insert(now);
    }

    /// A host started a worker: whoever still waits, waits from now.
    fn started(&mut self, now: Instant) {
        if self.since.is_some() {
            self.since = Some(now);
        }
    }

    fn none_waits(&mut self) {
        self.since = None;
    }

    fn told(&mut self) {
        self.told = true;
    }
}
