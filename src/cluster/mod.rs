//! Cluster mode's door to Redis: the URL a run or a worker host is given
//! (`url`), and the connection it opens with the checks every run makes
//! before it starts (`connect`). A failure is one line naming the URL (its
//! password never shown) and exit status 69.
//!
//! What it must not touch: the hub's core or the script's processes. Pool
//! work and shared objects through Redis are built on top of this, behind
//! the store interface (`crate::store`); they are not built yet, so a run
//! given `--cluster` stops after the checks and says so.

mod connect;
mod url;

pub use connect::connect;
pub use url::ClusterUrl;
