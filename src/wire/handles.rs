//! What names things across processes: the ids of processes and shared
//! objects, an object's kind, and the `Handle` a script holds (with the
//! store's direct-access place, opaque to everything but the script side). Values
//! (`value`) carry handles and operations (`objects`) name objects, so
//! both build on this module, which depends on neither.

use serde::{Deserialize, Serialize};

/// The hub's number for an interpreter process; stable for the whole run.
pub type ProcId = u64;

/// Identifies a shared object (queue, lock, list, ...) owned by the hub.
pub type ObjectId = u64;

/// The kinds of script-visible handle; each is its own Rhai type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    Queue {
        maxsize: Option<u64>,
        joinable: bool,
    },
    Lock,
    RLock,
    Semaphore {
        bounded: bool,
    },
    Event,
    Condition {
        lock: ObjectId,
    },
    Barrier {
        parties: u64,
    },
    Value,
    Dict,
    List,
    /// One end of a pipe: `end` is 0 or 1.
    PipeEnd {
        end: u8,
        can_send: bool,
        can_recv: bool,
    },
}

/// A reference to something the hub owns. Handles are plain ids, which is what
/// lets them travel through queues, lists and arguments to any process.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Handle {
    Process {
        id: ProcId,
        name: String,
    },
    Object {
        id: ObjectId,
        kind: ObjectKind,
        /// Where the store lets processes reach the object without a
        /// message to the hub, if it does: for `LocalStore`, the lock's word
        /// or the queue's or list's ring in the shared arena (`shm::Arena`).
        /// `None`: every operation goes through the hub. The hub's core
        /// passes it on unread.
        direct: Option<u32>,
    },
}
