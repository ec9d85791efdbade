//! What the hub starts: a child interpreter's `Role` (the main script, a
//! spawned process, a pool worker), its `Identity`, and the descriptors it
//! finds at fixed numbers. The hub makes these and `interpreter` reads
//! them; neither module reaches into the other: `main` gives the hub the
//! interpreter's entry (`ChildEntry`), which a forked child calls.

use crate::script::Program;
use crate::shm::ProgressWriter;
use crate::wire::{FnRef, Globals, ProcId, Value, WorkerRole, WorkerSetup};

/// What a forked child runs, given its role and identity; its exit status.
pub type ChildEntry = fn(&Role, Identity, &Program) -> i32;

/// The descriptor on which every interpreter finds its socket to the hub.
pub const HUB_FD: i32 = 3;
/// Where an exec'd worker finds its `Launch` frame.
pub const LAUNCH_FD: i32 = 4;
/// Where an exec'd worker finds the lock arena's memfd (when the hub has one).
pub const ARENA_FD: i32 = 5;

pub enum Role {
    Main,
    Process {
        name: String,
        target: FnRef,
        args: Vec<Value>,
        globals: Globals,
    },
    PoolWorker {
        /// Where the worker records the item it is starting.
        progress: ProgressWriter,
        setup: WorkerSetup,
    },
}

/// Who an interpreter is, for `current_process()` and `parent_pid()`.
pub struct Identity {
    /// The hub's number for this process.
    pub id: ProcId,
    pub name: String,
    pub parent_pid: i32,
}

impl Role {
    /// The role as an exec'd worker reads it; `None` for the main process,
    /// which is always forked.
    pub fn to_wire(&self) -> Option<WorkerRole> {
        match self {
            Role::Main => None,
            Role::Process {
                target,
                args,
                globals,
                ..
            } => Some(WorkerRole::Process {
                target: target.clone(),
                args: args.clone(),
                globals: globals.clone(),
            }),
            Role::PoolWorker { setup, .. } => Some(WorkerRole::PoolWorker {
                setup: setup.clone(),
            }),
        }
    }

    /// The progress slot's descriptor, for a pool worker.
    pub fn progress_fd(&self) -> Option<i32> {
        match self {
            Role::PoolWorker { progress, .. } => Some(progress.fd()),
            _ => None,
        }
    }
}

/// This process's address-space size (`VmSize`), 0 if unknown.
pub fn address_space_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        // SAFETY: sysconf has no preconditions.
        .map_or(0, |pages| {
            pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
        })
}

/// `--max-memory` in an exec'd worker: what it maps from now on (its
/// script, its values) may add `bytes` to its address space, above what
/// the fresh executable and the shared memory it was passed already take.
pub fn limit_address_space_growth(bytes: u64) {
    let limit = address_space_bytes().saturating_add(bytes);
    let limit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit reads the struct it is given.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
}
