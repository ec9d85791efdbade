//! What a worker started with `--start-method spawn` is told about itself.
//! A forked worker inherits all this in memory; an exec'd one (a fresh
//! `mphost` running the hidden `__worker` command) reads it as one frame
//! from a memfd the hub's child wrote before `exec`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ProcId;
use super::value::{FnRef, Globals, Value};

/// What every worker of one pool is started with.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct WorkerSetup {
    /// Called once before the first task (`pool(#{initializer, initargs})`).
    pub initializer: Option<(FnRef, Vec<Value>)>,
    /// The pool maker's constants and imports.
    pub globals: Globals,
}

impl WorkerSetup {
    /// The object handles its worker is handed: the initializer's captured
    /// values and arguments, and the constants.
    pub fn object_ids(&self, out: &mut Vec<super::ObjectId>) {
        if let Some((init, args)) = &self.initializer {
            init.object_ids(out);
            args.iter().for_each(|a| a.object_ids(out));
        }
        self.globals.object_ids(out);
    }
}

/// The work of a worker process.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum WorkerRole {
    /// `spawn(f, args)`: one call.
    Process {
        target: FnRef,
        args: Vec<Value>,
        globals: Globals,
    },
    /// A pool worker: tasks until told to stop.
    PoolWorker { setup: WorkerSetup },
}

/// The script an exec'd worker compiles again, as the hub read it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ScriptText {
    pub path: PathBuf,
    pub source: String,
    pub args: Vec<String>,
    pub workers: usize,
    /// `--trace`: the worker records its spans and sends them to the hub.
    pub trace: bool,
}

/// A cluster run's script as worker hosts read it (`mph:{RUN}:script`):
/// the mphost version that made it (a host of another version refuses the
/// run) and the script. The sources of its modules are to come.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunScript {
    pub version: String,
    pub script: ScriptText,
}

/// Everything an exec'd worker needs besides its socket (fd 3), the lock
/// arena's memfd (fd 5, when `arena`) and, for a pool worker, its progress
/// slot (the next descriptor).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Launch {
    /// The hub's number for the process.
    pub id: ProcId,
    pub name: String,
    pub parent_pid: i32,
    pub arena: bool,
    pub role: WorkerRole,
    pub script: ScriptText,
    /// Module sources its imports find before any file (a worker on a
    /// cluster's host); empty otherwise.
    pub modules: Vec<(String, String)>,
    /// `--max-memory`: what the worker may add to its address space once
    /// it has mapped the memory it was passed.
    pub max_memory: Option<u64>,
}
