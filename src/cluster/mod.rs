//! Cluster mode's door to Redis: the URL a run or a worker host is given
//! (`url`), and the connection it opens with the checks every run makes
//! before it starts (`connect`). A failure is one line naming the URL (its
//! password never shown) and exit status 69.
//!
//! A run's keys live under its lease (`lease`), which the hub's driver
//! renews and releases; a worker host registers and beats (`host`).
//!
//! What it must not touch: the hub's core or the script's processes. Pool
//! work and shared objects through Redis are built on top of this, behind
//! the store interface (`crate::store`); they are not built yet, so a run
//! given `--cluster` holds its lease but runs everything on its machine.

mod connect;
mod host;
mod lease;
mod url;

pub use connect::connect;
pub use host::{HostError, default_name, serve};
pub use lease::{DEFAULT_LEASE, LostRedis, RunLease};
pub use url::ClusterUrl;

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
