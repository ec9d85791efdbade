//! Cluster mode's door to Redis: the URL a run or a worker host is given
//! (`url`), the connection it opens with the checks every run makes
//! before it starts (`connect`), and every key's name (`keys`). A failure
//! is one line naming the URL (its password never shown) and exit 69.
//!
//! A run's keys live under its lease (`lease`), which the hub's driver
//! renews and releases. A run's pool workers past its `--local-workers`
//! are queued for the hosts by the run's relay (`relay`), a process that
//! makes the blocking Redis calls so the hub never does; a worker host
//! (`host`) registers, beats, takes queued workers and runs each
//! (`remote_worker`), carrying its socket's bytes through Redis unread.
//!
//! The relay also judges the hosts by their beats (Redis's clock only) and
//! fences a lost one; the hub's core queues its chunks again.
//!
//! A run's shared objects are in Redis too (`objects`, the keys and
//! commands `store::RedisStore` uses), reached by every process through
//! the hub with the same requests as on one machine.
//!
//! What it must not touch: the hub's core, or what an object means.

mod connect;
mod host;
mod keys;
mod lease;
pub mod objects;
mod relay;
mod remote_worker;
mod url;

pub use connect::connect;
pub use host::{HostError, default_name, serve};
pub use lease::{DEFAULT_LEASE, LostRedis, RunLease};
pub use objects::RunObjects;
pub use relay::{Relay, start as start_relay};
pub use url::ClusterUrl;

/// How many times a chunk lost with its host is queued again when
/// `--max-redeliveries` is not given.
pub const DEFAULT_MAX_REDELIVERIES: u32 = 3;

/// This machine's name, kept to letters, digits, `.` and `-` (it goes
/// into key names and messages).
fn machine_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .collect()
}
