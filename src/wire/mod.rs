//! The wire between processes: every byte that crosses a socket is made here.
//!
//! `handles` names things (process and object ids, an object's kind, the
//! `Handle` a script holds), `objects` what can be made and done to an
//! object; `value` is the process-independent form of a script value, `packed` many
//! of them encoded side by side (a pool job's items), `message` the
//! requests and replies exchanged with the hub, `trace_spans` the spans a
//! process measures for `--trace`, `remote` what crosses Redis in cluster
//! mode, and `frame` the length-prefixed
//! encoding (bincode 2 over serde). Nothing outside this module knows the
//! encoding, so the format can be swapped by changing `frame` alone.
//! This module does no I/O policy: it encodes, decodes and reads/writes whole
//! frames on a blocking stream for the interpreter side.

mod frame;
mod handles;
mod launch;
mod message;
mod objects;
mod packed;
mod remote;
mod trace_spans;
mod value;

pub use frame::{
    FrameDecoder, FrameError, decode_body, encode_body, encode_frame, read_frame, write_frame,
};
pub use handles::{Handle, ObjectId, ObjectKind, ProcId};
pub use launch::{Launch, RunScript, ScriptText, WorkerRole, WorkerSetup};
pub use message::{
    ErrorKind, HubError, JobAsk, JobKind, JobSpec, MAX_TIMEOUT_SECS, Outcome, POOL_AHEAD_MAX,
    PoolControl, PoolTask, ProcessInfo, Reply, Request, Stream, TaskReport,
};
pub use objects::{DictOp, ListOp, NewObject, Op};
pub use packed::{Item, Packed};
pub use remote::{Down, FromRelay, RemoteExit, RemoteStart, ToRelay, Up, UpEvent};
pub use trace_spans::{TraceEvent, TraceSpan};
pub use value::{Counts, FnRef, Globals, MAX_DEPTH, Value};
