//! What an interpreter tells the hub for `mphost run --trace`: spans it
//! measured itself (a pool task it ran, a call in which it waited), in
//! nanoseconds of `CLOCK_MONOTONIC`, the clock every process of the run
//! shares. The hub turns them into the trace file (`hub::core::trace_collector`).

use serde::{Deserialize, Serialize};

/// One span of one process, from `start_ns` to `end_ns`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    pub start_ns: u64,
    pub end_ns: u64,
    pub span: TraceSpan,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum TraceSpan {
    /// A pool worker ran one chunk: `function` over items `first` to
    /// `first + count - 1` of a job made by `call` (`map`, `pool_map`...);
    /// `failed` is the item that raised, if one did.
    Task {
        call: String,
        function: String,
        first: usize,
        count: usize,
        failed: Option<usize>,
    },
    /// A call that waited (`queue get`, `lock acquire`, `join`...) on `on`
    /// (the object or process, as the script would print it).
    Blocked { what: String, on: String },
}
