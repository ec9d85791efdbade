//! The primitives' tests again, every worker started with `--start-method
//! spawn` (a fresh `mphost` that compiles the script again): `common` adds
//! the flag in crates named `spawn_*`.
// Each included file declares its own `mod common;`: one copy per file.
#![allow(clippy::duplicate_mod)]

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
