//! The hub's record of each interpreter process: who it is, what state it is
//! in, and what it is waiting for. Only the hub reads or writes these.

use std::collections::HashMap;

use nix::unistd::Pid;

use super::waits::Parked;
use crate::wire::{FnRef, Globals, Outcome, ProcId, ProcessInfo, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcKind {
    /// The script's top level.
    Main,
    /// Made by `spawn` or `process`.
    Spawned,
    /// A worker of a pool (`pool(n)`, or the temporary one of `pool_map`).
    PoolWorker { pool: u64 },
}

/// How a process ended, as `waitpid` told it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
    /// A remote process whose host was lost, or stopped it on leaving the
    /// cluster (`handed_back`): how it ended is not known.
    Lost {
        handed_back: bool,
    },
}

impl ExitStatus {
    /// The script-visible `exitcode`: the code, or `-N` after signal N.
    pub fn exitcode(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => -s,
            // As if killed: it did not end on its own.
            ExitStatus::Lost { .. } => -libc::SIGKILL,
        }
    }

    pub fn describe(self) -> String {
        match self {
            ExitStatus::Code(c) => format!("exited with code {c}"),
            ExitStatus::Lost { handed_back: false } => "was lost with its host".to_string(),
            ExitStatus::Lost { handed_back: true } => {
                "was stopped by its host, which left the cluster".to_string()
            }
            ExitStatus::Signal(s) => {
                format!("was killed by signal {s} ({})", signal_name(s))
            }
        }
    }
}

pub enum Lifecycle {
    /// `process(f, args)`: made, not started.
    Created {
        target: FnRef,
        args: Vec<Value>,
        globals: Globals,
    },
    /// Recorded by the hub, about to be forked.
    Launching,
    Running {
        pid: Pid,
    },
    Ended {
        pid: Pid,
        status: ExitStatus,
    },
}

/// The state of a process's socket, as the core knows it: the driver owns
/// the socket itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Not connected yet, or no longer read (ended, or cut off after a bad
    /// message): answers to it go nowhere.
    None,
    /// Connected: answers are sent.
    Open,
    /// The peer closed its end (it exited, or is about to); its last
    /// one-way messages still count, answers are dropped unsent.
    Closed,
}

/// Where a remote process runs, once a host has started it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remote {
    /// The host's name and the process's pid there.
    pub on: Option<(String, i32)>,
    /// The core took it back before a host started it (its pool needed no
    /// more workers): its end, even if a host started it meanwhile, is no
    /// failure.
    pub withdrawn: bool,
}

pub struct Proc {
    pub id: ProcId,
    pub name: String,
    pub kind: ProcKind,
    pub state: Lifecycle,
    pub link: Link,
    /// What the process's function gave, told by the process before exiting.
    pub outcome: Option<Outcome>,
    pub parked: Option<Parked>,
    /// A signal was sent to it: it may be about to die, which can wake others.
    pub signaled: bool,
    /// The process that asked for this one (none for the main script).
    pub parent: Option<ProcId>,
    /// Set for a process that a cluster's host runs: its pid here is a
    /// stand-in (see `Host::start_remote`).
    pub remote: Option<Remote>,
}

impl Proc {
    pub fn new(id: ProcId, name: String, kind: ProcKind, state: Lifecycle) -> Self {
        Proc {
            id,
            name,
            kind,
            state,
            link: Link::None,
            outcome: None,
            parked: None,
            signaled: false,
            parent: None,
            remote: None,
        }
    }

    pub fn pid(&self) -> Option<Pid> {
        match self.state {
            Lifecycle::Created { .. } | Lifecycle::Launching => None,
            Lifecycle::Running { pid } | Lifecycle::Ended { pid, .. } => Some(pid),
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, Lifecycle::Running { .. })
    }

    pub fn status(&self) -> Option<ExitStatus> {
        match self.state {
            Lifecycle::Ended { status, .. } => Some(status),
            _ => None,
        }
    }

    pub fn info(&self) -> ProcessInfo {
        ProcessInfo {
            pid: self.pid().map(|p| p.as_raw()),
            exitcode: self.status().map(ExitStatus::exitcode),
        }
    }

    /// The value its function returned, or `()`.
    pub fn returned(&self) -> Value {
        match &self.outcome {
            Some(Outcome::Returned(v)) => v.clone(),
            _ => Value::Unit,
        }
    }

    /// "Process-1 (pid 4242)", as every message names a process; a
    /// remote one with its host: "PoolWorker-3 (pid 4242 on box-2)".
    pub fn label(&self) -> String {
        match (&self.remote, self.pid()) {
            (
                Some(Remote {
                    on: Some((host, pid)),
                    ..
                }),
                _,
            ) => {
                format!("{} (pid {pid} on {})", self.name, host_name(host))
            }
            (Some(Remote { on: None, .. }), _) => {
                format!("{} (not started by a host)", self.name)
            }
            (None, Some(pid)) => format!("{} (pid {pid})", self.name),
            (None, None) => self.name.clone(),
        }
    }

    /// A remote process no host has started yet.
    pub fn is_unplaced(&self) -> bool {
        matches!(self.remote, Some(Remote { on: None, .. }))
    }

    /// A remote process the core took back before a host started it.
    pub fn is_withdrawn(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| r.withdrawn)
    }

    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }
}

/// Every process of the run, by id and by pid, and the counters that
/// name them: the one place a process is recorded, started or forgotten.
#[derive(Default)]
pub struct ProcessTable {
    procs: HashMap<ProcId, Proc>,
    by_pid: HashMap<Pid, ProcId>,
    last_id: ProcId,
    spawned: u64,
    pool_workers: u64,
}

impl ProcessTable {
    /// Records a process that `parent` asked for (none for the main script).
    pub fn add(
        &mut self,
        name: String,
        kind: ProcKind,
        state: Lifecycle,
        parent: Option<ProcId>,
    ) -> ProcId {
        self.last_id += 1;
        let id = self.last_id;
        let mut proc = Proc::new(id, name, kind, state);
        proc.parent = parent;
        self.procs.insert(id, proc);
        id
    }

    /// "Process-N" for the next spawned process.
    pub fn next_spawned_name(&mut self) -> String {
        self.spawned += 1;
        format!("Process-{}", self.spawned)
    }

    /// "PoolWorker-N" for the next pool worker.
    pub fn next_worker_name(&mut self) -> String {
        self.pool_workers += 1;
        format!("PoolWorker-{}", self.pool_workers)
    }

    pub fn get(&self, id: ProcId) -> Option<&Proc> {
        self.procs.get(&id)
    }

    pub fn get_mut(&mut self, id: ProcId) -> Option<&mut Proc> {
        self.procs.get_mut(&id)
    }

    /// Forgets a process that never started (no death will come for it).
    pub fn remove(&mut self, id: ProcId) {
        self.procs.remove(&id);
    }

    /// Process `id` runs as `pid`, connected.
    pub fn started(&mut self, id: ProcId, pid: Pid) -> Option<&mut Proc> {
        let proc = self.procs.get_mut(&id)?;
        proc.state = Lifecycle::Running { pid };
        proc.link = Link::Open;
        self.by_pid.insert(pid, id);
        Some(proc)
    }

    /// The process that was `pid`, which has exited: its pid is no longer
    /// its name (the kernel may give it to another).
    pub fn exited(&mut self, pid: Pid) -> Option<ProcId> {
        self.by_pid.remove(&pid)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Proc> {
        self.procs.values()
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn is_running(&self, id: ProcId) -> bool {
        self.get(id).is_some_and(Proc::is_running)
    }

    pub fn kind(&self, id: ProcId) -> Option<ProcKind> {
        self.get(id).map(|p| p.kind)
    }

    /// What `id` is parked on, if it is.
    pub fn parked_mut(&mut self, id: ProcId) -> Option<&mut Parked> {
        self.get_mut(id)?.parked.as_mut()
    }
}

/// A host as messages name it: its name, without the `#PID` of its
/// incarnation that the cluster knows it by.
pub fn host_name(host: &str) -> &str {
    host.rsplit_once('#').map_or(host, |(name, _)| name)
}

/// The conventional name of a signal number, for messages ("SIGKILL").
pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signal}"))
}
