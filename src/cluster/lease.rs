//! A run's lease on its keys in the cluster's Redis: every key of the run
//! is under `mph:{RUN}:` and lives only as long as the lease is renewed,
//! so the keys of a run whose `mphost` was SIGKILLed expire on their own;
//! a run that ends deletes them. Only Redis's clock decides expiry.
//!
//! What it must not do: wait on Redis longer than `connect`'s bound. A
//! renewal that fails means Redis is lost, and the run ends (exit 69).

use std::time::{Duration, Instant};

use redis::Connection;

use super::ClusterUrl;

/// The lease when `--lease` is not given.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// The shortest lease: renewals are a third of it apart.
const SHORTEST: Duration = Duration::from_millis(300);

pub struct RunLease {
    connection: Connection,
    /// The URL as it may be printed.
    url: String,
    /// `mph:{RUN}:`, the prefix of every key of the run.
    prefix: String,
    lease: Duration,
    next_renewal: Instant,
}

/// Redis was lost during the run: the one line to print.
#[derive(Debug, thiserror::Error)]
#[error("mphost: lost Redis at {url} during the run: {reason}")]
pub struct LostRedis {
    url: String,
    reason: String,
}

impl RunLease {
    /// Takes a lease for a new run on `connection` (checked by `connect`).
    pub fn take(
        connection: Connection,
        url: &ClusterUrl,
        lease: Duration,
        now: Instant,
    ) -> Result<RunLease, LostRedis> {
        let run = run_name();
        let mut taken = RunLease {
            connection,
            url: url.to_string(),
            prefix: format!("mph:{{{run}}}:"),
            lease: lease.max(SHORTEST),
            next_renewal: now,
        };
        taken.renew(now)?;
        Ok(taken)
    }

    /// When the lease must next be renewed.
    pub fn due(&self) -> Instant {
        self.next_renewal
    }

    /// Renews the lease (on the run's lease key and every other key of the
    /// run) if it is due.
    pub fn renew_if_due(&mut self, now: Instant) -> Result<(), LostRedis> {
        match now >= self.next_renewal {
            true => self.renew(now),
            false => Ok(()),
        }
    }

    fn renew(&mut self, now: Instant) -> Result<(), LostRedis> {
        let millis = self.lease.as_millis() as u64;
        // The lease key, then every key of the run, in one atomic step.
        redis::Script::new(RENEW)
            .key(format!("{}lease", self.prefix))
            .arg(format!("{}*", self.prefix))
            .arg(millis)
            .invoke::<()>(&mut self.connection)
            .map_err(|e| self.lost(&e))?;
        self.next_renewal = now + self.lease / 3;
        Ok(())
    }

    /// The run ended: deletes every key of the run.
    pub fn release(mut self) -> Result<(), LostRedis> {
        redis::Script::new(RELEASE)
            .arg(format!("{}*", self.prefix))
            .invoke::<()>(&mut self.connection)
            .map_err(|e| self.lost(&e))
    }

    fn lost(&self, e: &redis::RedisError) -> LostRedis {
        LostRedis {
            url: self.url.clone(),
            reason: e.to_string().lines().next().unwrap_or_default().to_string(),
        }
    }
}

/// Sets the lease key with the lease as its TTL, and gives every other key
/// of the run the same TTL.
const RENEW: &str = r"
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do redis.call('PEXPIRE', key, ARGV[2]) end
until cursor == '0'
";

/// Deletes every key of the run.
const RELEASE: &str = r"
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do redis.call('UNLINK', key) end
until cursor == '0'
";

/// A name no other run on the same Redis has: this host's name, this
/// process's pid and the time it started, in hex.
fn run_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{host}-{:x}-{since_epoch:x}", std::process::id())
}
