//! The primitives' tests again in cluster mode: every run is given
//! `--cluster URL --local-workers 0`, so every pool worker runs on one of
//! two `mphost worker` hosts and speaks to the run only through Redis. The
//! modules below are the same files as the crate's, and their
//! `super::common` is this module's own copy of `common`, which adds the
//! flags (and starts the cluster, once) because its module path names
//! `cluster_mode`. `kill_loops` is not among them: its faults are in
//! shared memory, which a cluster run does not use.
#![allow(clippy::duplicate_mod)]

#[path = "common/mod.rs"]
mod common;

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
