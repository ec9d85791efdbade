//! The hub: the `mphost` process itself, a single-threaded supervisor.
//!
//! It forks every interpreter (the main script first, then each spawned
//! process and pool worker), owns every shared object through the
//! `ObjectStore`, answers every request, writes every line of output, reaps
//! every child and is the first to know when one dies (socket EOF and
//! SIGCHLD), so that nobody waits on a dead process forever: its joiners are
//! answered, its locks pass on, and a `pool_map` it worked for raises an
//! error naming the item. It never runs script code itself.
//!
//! It is two halves. `core` decides: it owns the run's state, takes events
//! and asks for effects through its `Host`, and does no I/O, so its logic is
//! unit-tested without a process. `driver` does the I/O: one event loop
//! (`epoll`) over the children's sockets (`conn`) and a signalfd (`signals`),
//! `fork` (`launch`), and the output's writes (`writer`). In cluster mode
//! the driver also carries the bytes of remote workers through the run's
//! relay (`remote`).

mod conn;
mod core;
mod driver;
mod launch;
mod remote;
mod signals;
mod writer;

pub use core::TraceFile;
pub use driver::{ClusterRun, run};
pub use launch::fork_exec_worker;
