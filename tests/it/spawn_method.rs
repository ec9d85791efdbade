//! The primitives' tests again, every worker started with `--start-method
//! spawn` (a fresh `mphost` that compiles the script again). The modules
//! below are the same files as the crate's, and their `super::common` is
//! this module's own copy of `common`, which adds the flag because its
//! module path names `spawn_method`.
#![allow(clippy::duplicate_mod)]

#[path = "common/mod.rs"]
mod common;

#[path = "kill_loops.rs"]
mod kill_loops;
#[path = "list.rs"]
mod list;
#[path = "lock.rs"]
mod lock;
#[path = "modules.rs"]
mod modules;
#[path = "pool.rs"]
mod pool;
#[path = "pool_map.rs"]
mod pool_map;
#[path = "process.rs"]
mod process;
#[path = "queue.rs"]
mod queue;
#[path = "refs.rs"]
mod refs;
#[path = "shared.rs"]
mod shared;
#[path = "sync.rs"]
mod sync;
#[path = "toolkit.rs"]
mod toolkit;
#[path = "values.rs"]
mod values;
