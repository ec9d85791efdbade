//! What crosses Redis in cluster mode, and the run's hub's pipe to its
//! relay. A remote pool worker speaks the ordinary request/reply wire to
//! the run's hub (`message`); a worker host carries its bytes, unread, in
//! `Up::Bytes` and `Down::Bytes`, so the hub checks them as it checks any
//! process's.
//!
//! - `RemoteStart`: a worker the run asks some host to start, queued under
//!   the run's `starts` key.
//! - `Up`: from a host to the run (the run's `up` list): the worker was
//!   started, sent bytes, ended, or the host refuses the run.
//! - `Down`: from the run to one remote worker (its `down:{ID}` list).
//! - `ToRelay` and `FromRelay`: between the run's hub and its relay
//!   process, which does the blocking Redis calls for it.

use serde::{Deserialize, Serialize};

use super::ProcId;
use super::launch::WorkerRole;

/// A worker the run wants started on some host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RemoteStart {
    /// The run's process id for it: its `down` key's name, and the id its
    /// `Up` messages carry.
    pub id: ProcId,
    pub name: String,
    /// The run's hub's pid, as `parent_pid()` tells the worker.
    pub parent_pid: i32,
    pub role: WorkerRole,
    /// The sources of the modules its role imports (path as imported,
    /// source), read on the run's machine: the host may have no such file.
    pub modules: Vec<(String, String)>,
    /// The run's `--max-memory`, for the worker.
    pub max_memory: Option<u64>,
}

impl RemoteStart {
    /// Its entry on the run's queue: its id in decimal and a colon (which
    /// the host's Lua step that takes it reads, to record which host took
    /// which worker), then the encoded start.
    pub fn to_queue_entry(&self) -> Result<Vec<u8>, super::FrameError> {
        let mut entry = format!("{}:", self.id).into_bytes();
        entry.extend(super::encode_body(self)?);
        Ok(entry)
    }

    /// The id a queue entry starts with, even if the rest does not read.
    pub fn queue_entry_id(entry: &[u8]) -> Option<ProcId> {
        let colon = entry.iter().position(|&b| b == b':')?;
        std::str::from_utf8(&entry[..colon]).ok()?.parse().ok()
    }

    /// A queue entry read back; `None` if it is not one, or its two ids
    /// disagree.
    pub fn from_queue_entry(entry: &[u8]) -> Option<RemoteStart> {
        let id = Self::queue_entry_id(entry)?;
        let colon = entry.iter().position(|&b| b == b':')?;
        let start: RemoteStart = super::decode_body(&entry[colon + 1..]).ok()?;
        (start.id == id).then_some(start)
    }
}

/// How a remote worker ended, as its host's `waitpid` told it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteExit {
    Code(i32),
    Signal(i32),
}

/// One message from a host about one of the run's workers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Up {
    pub id: ProcId,
    /// The host's name: a message about a worker from a host other than
    /// the one that started it is ignored.
    pub host: String,
    pub event: UpEvent,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum UpEvent {
    /// The host started the worker, as `pid` there.
    Started { pid: i32 },
    /// Bytes the worker wrote to its socket: frames of `Request`s, cut
    /// anywhere.
    Bytes(Vec<u8>),
    /// The worker ended. `started` is the item it last recorded starting
    /// (job tag, index), read from its progress slot on the host.
    Exited {
        status: RemoteExit,
        started: Option<(u64, usize)>,
    },
    /// The host will not run this run's workers (another mphost version,
    /// or a script it cannot read); the worker was not started.
    Refused { reason: String },
    /// The host is stopping (SIGINT or SIGTERM): it stopped the worker, and
    /// hands back the chunks it held, to be run elsewhere.
    HandedBack,
    /// What the worker wrote to its stderr itself (a panic, the line of a
    /// worker out of memory), for the run's stderr, as a local worker's.
    Stderr(Vec<u8>),
}

/// One message from the run to one remote worker.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Down {
    /// Bytes for the worker's socket: frames of `Reply`s.
    Bytes(Vec<u8>),
    /// A signal the run's hub sends it.
    Signal(i32),
}

/// From the run's hub to its relay.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum ToRelay {
    /// Queue a worker for the hosts.
    Start(RemoteStart),
    /// Bytes for a remote worker.
    Bytes { id: ProcId, bytes: Vec<u8> },
    /// A signal for a remote worker. One not yet started is taken off the
    /// queue instead, and reported ended by that signal.
    Signal { id: ProcId, signal: i32 },
}

/// From the relay to the run's hub.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum FromRelay {
    /// An `Up` as a host pushed it, still encoded: the hub checks it.
    Up(Vec<u8>),
    /// A host the run's workers ran on is lost: silent for longer than
    /// the lease, or its key gone. It is fenced (its later messages are
    /// refused); `why` says which. `taken` are the workers it had taken
    /// off the queue without saying it started them.
    HostLost {
        host: String,
        why: String,
        taken: Vec<ProcId>,
    },
    /// Redis was lost: the one line to print.
    Lost(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WorkerSetup;

    #[test]
    fn a_queue_entry_reads_back_only_whole_and_with_its_own_id() {
        let start = RemoteStart {
            id: 42,
            name: "PoolWorker-1".into(),
            parent_pid: 7,
            role: WorkerRole::PoolWorker {
                setup: WorkerSetup::default(),
            },
            modules: vec![("m".into(), "fn f() {}".into())],
            max_memory: Some(1 << 24),
        };
        let entry = start.to_queue_entry().expect("encodes");
        assert!(entry.starts_with(b"42:"));
        assert_eq!(RemoteStart::from_queue_entry(&entry), Some(start));
        let mut lying = b"43".to_vec();
        lying.extend(&entry[2..]);
        assert_eq!(RemoteStart::from_queue_entry(&lying), None);
        assert_eq!(
            RemoteStart::from_queue_entry(&entry[..entry.len() - 1]),
            None
        );
        assert_eq!(RemoteStart::from_queue_entry(b"no colon"), None);
    }
}
