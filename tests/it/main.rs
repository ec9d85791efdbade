//! The integration tests: one binary, a module per area, each running the
//! built `mphost` the way a user does (`common`). One binary links once,
//! where a binary per file linked twenty-five times; `spawn_method` runs
//! the primitives' modules again with `--start-method spawn`.

mod common;

mod bad_input;
mod cli;
mod cluster;
mod cluster_mode;
mod cluster_objects;
mod cluster_pools;
mod data;
mod docs;
mod errors;
mod faults;
mod kill_loops;
mod list;
mod load;
mod lock;
mod modules;
mod output;
mod pool;
mod pool_map;
mod process;
mod progress;
mod queue;
mod redis_server;
mod refs;
mod scripts;
mod shared;
mod spawn_method;
mod sync;
mod toolkit;
mod trace;
mod user_snapshots;
mod values;
