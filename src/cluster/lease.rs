//! A run's lease on its keys in the cluster's Redis: every key of the run
//! is under `mph:{RUN}:` and lives only as long as the lease is renewed,
//! so the keys of a run whose `mphost` was SIGKILLed expire on their own;
//! a run that ends deletes them. Only Redis's clock decides expiry.
//!
//! A key the run makes must be listed in its index (`mph:{RUN}:keys`, a
//! set) and given the lease's remaining time (`PTTL` of `mph:{RUN}:lease`)
//! in the same script that makes it: renewals walk the index, never the
//! keyspace.
//!
//! What it must not do: wait on Redis longer than `connect`'s bound. A
//! renewal that fails means Redis is lost, and the run ends (exit 69).

use std::time::{Duration, Instant};

use redis::Connection;

use super::ClusterUrl;
use super::keys::RunKeys;

/// The lease when `--lease` is not given.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// The shortest lease (`--lease` allows no shorter): renewals are a third
/// of it apart.
const SHORTEST: Duration = Duration::from_millis(500);

pub struct RunLease {
    connection: Connection,
    /// The URL, for the run's further connections (its relay's).
    cluster: ClusterUrl,
    /// The URL as it may be printed.
    url: String,
    /// Every key of the run.
    keys: RunKeys,
    lease: Duration,
    next_renewal: Instant,
}

/// Redis was lost during the run, or the run's lease on it: the one line
/// to print.
#[derive(Debug, thiserror::Error)]
#[error("mphost: lost Redis at {url} {when}: {reason}")]
pub struct LostRedis {
    url: String,
    when: &'static str,
    reason: String,
}

impl LostRedis {
    /// Redis lost by a part of the run other than the lease (its relay).
    pub fn during_run(url: &str, reason: &str) -> LostRedis {
        LostRedis {
            url: url.to_string(),
            when: "during the run",
            reason: reason.to_string(),
        }
    }
}

impl RunLease {
    /// Takes a lease for a new run on `connection` (checked by `connect`).
    pub fn take(
        connection: Connection,
        url: &ClusterUrl,
        lease: Duration,
        now: Instant,
    ) -> Result<RunLease, LostRedis> {
        let mut taken = RunLease {
            connection,
            cluster: url.clone(),
            url: url.to_string(),
            keys: RunKeys::new(&run_name()),
            lease: lease.max(SHORTEST),
            next_renewal: now,
        };
        // NX: a name another run holds is not this run's.
        let set: Option<String> = redis::cmd("SET")
            .arg(taken.key("lease"))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(taken.millis())
            .query(&mut taken.connection)
            .map_err(|e| taken.lost("taking the run's lease", &e))?;
        if set.is_none() {
            return Err(taken.lost_because("taking the run's lease", "another run has its name"));
        }
        taken.next_renewal = now + taken.lease / 3;
        Ok(taken)
    }

    /// Stores `value` as the run's key `name`: listed in the run's index and
    /// given what is left of the lease, in one step, as every key of the
    /// run must be.
    pub fn put(&mut self, name: &str, value: &[u8]) -> Result<(), LostRedis> {
        let stored: i64 = redis::Script::new(PUT)
            .key(self.key(name))
            .key(self.key("keys"))
            .key(self.key("lease"))
            .arg(value)
            .invoke(&mut self.connection)
            .map_err(|e| self.lost("during the run", &e))?;
        match stored {
            0 => Err(self.lost_because("during the run", "the run's lease had lapsed")),
            _ => Ok(()),
        }
    }

    /// The run's keys.
    pub fn keys(&self) -> &RunKeys {
        &self.keys
    }

    /// The cluster's URL.
    pub fn cluster(&self) -> &ClusterUrl {
        &self.cluster
    }

    /// How many workers the cluster's hosts offer: those of every host of
    /// this mphost version that beat within the lease, by Redis's clock;
    /// and the live hosts of another version, which take none of this
    /// run's work (name, version).
    pub fn hosts_capacity(&mut self) -> Result<(usize, Vec<(String, String)>), LostRedis> {
        let (workers, others): (i64, Vec<(String, String)>) = redis::Script::new(CAPACITY)
            .key(super::keys::HOSTS)
            .arg(self.millis())
            .arg(super::keys::host(""))
            .arg(env!("CARGO_PKG_VERSION"))
            .invoke(&mut self.connection)
            .map_err(|e| self.lost("counting the worker hosts", &e))?;
        Ok((usize::try_from(workers).unwrap_or(0), others))
    }

    /// The length of the lease.
    pub fn length(&self) -> Duration {
        self.lease
    }

    /// When the lease must next be renewed.
    pub fn due(&self) -> Instant {
        self.next_renewal
    }

    /// Renews the lease, on the lease key and every key the run has listed
    /// in its index, if it is due. A lease found lapsed (the hub stopped,
    /// or Redis stalled, for longer than the lease) is lost, never taken
    /// again: the run's keys may have expired with it.
    pub fn renew_if_due(&mut self, now: Instant) -> Result<(), LostRedis> {
        if now < self.next_renewal {
            return Ok(());
        }
        let renewed: i64 = redis::Script::new(RENEW)
            .key(self.key("lease"))
            .key(self.key("keys"))
            .key(super::keys::ready())
            .arg(self.millis())
            .invoke(&mut self.connection)
            .map_err(|e| self.lost("during the run", &e))?;
        if renewed == 0 {
            return Err(self.lost_because("during the run", "the run's lease had lapsed"));
        }
        self.next_renewal = now + self.lease / 3;
        Ok(())
    }

    /// The run ended: deletes every key of the run.
    pub fn release(mut self) -> Result<(), LostRedis> {
        redis::Script::new(RELEASE)
            .key(self.key("lease"))
            .key(self.key("keys"))
            .invoke::<()>(&mut self.connection)
            .map_err(|e| self.lost("at the end of the run", &e))
    }

    /// The run's key named `name`.
    fn key(&self, name: &str) -> String {
        match name {
            "lease" => self.keys.lease(),
            "keys" => self.keys.index(),
            _ => self.keys.named(name),
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX)
    }

    fn lost(&self, when: &'static str, e: &redis::RedisError) -> LostRedis {
        let reason = e.to_string().lines().next().unwrap_or_default().to_string();
        self.lost_because(when, &reason)
    }

    fn lost_because(&self, when: &'static str, reason: &str) -> LostRedis {
        LostRedis {
            url: self.url.clone(),
            when,
            reason: reason.to_string(),
        }
    }
}

/// Stores ARGV[1] at KEYS[1], lists it in the run's index (KEYS[2]) and
/// gives both what is left of the lease (KEYS[3]); 0 if the lease is gone.
const PUT: &str = r"
local left = redis.call('PTTL', KEYS[3])
if left <= 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', left)
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('PEXPIRE', KEYS[2], left)
return 1
";

/// Renews the lease key (KEYS[1]) and every key listed in the run's index
/// (KEYS[2]), and the index; 0 if the lease key was gone. The shared
/// tickets list (KEYS[3]) lives at least as long, so the tickets of a run
/// whose workers wait for a free host outlive a lease. PEXPIRE is not
/// refused when Redis is full, as SET would be.
const RENEW: &str = r"
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('PEXPIRE', key, ARGV[1])
end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
if redis.call('PTTL', KEYS[3]) > 0 and redis.call('PTTL', KEYS[3]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[1])
end
return 1
";

/// The step every push onto a run's list makes: ARGV[1] onto the list
/// KEYS[1], listed in the run's index (KEYS[2]), both given what is left of
/// its lease (KEYS[3]); 0 if the lease is gone (nobody makes a key that
/// would outlive the run).
macro_rules! push_listed {
    () => {
        r"
local left = redis.call('PTTL', KEYS[3])
if left <= 0 then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('PEXPIRE', KEYS[1], left)
redis.call('PEXPIRE', KEYS[2], left)
"
    };
}

/// `push_listed`, by the run; with KEYS[4] (the shared `keys::ready()`), also
/// pushes ARGV[2] there (a ticket), and keeps that list at least as long as
/// the lease. 1 when pushed.
pub(super) const PUSH_LISTED: &str = concat!(
    push_listed!(),
    r"
if KEYS[4] then
  redis.call('RPUSH', KEYS[4], ARGV[2])
  if redis.call('PTTL', KEYS[4]) < left then redis.call('PEXPIRE', KEYS[4], left) end
end
return 1
"
);

/// `push_listed`, by host ARGV[2], unless the run fenced it (it is in the
/// run's fenced set KEYS[4]): then -1. 1 when pushed.
pub(super) const HOST_PUSH: &str = concat!(
    r"
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then return -1 end
",
    push_listed!(),
    "return 1\n"
);

/// The workers of the hosts in KEYS[1] of version ARGV[3] that beat
/// within ARGV[1] ms of Redis's time (ARGV[2] is the prefix of a host's
/// key), and the other live hosts with their versions.
const CAPACITY: &str = r"
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
local total = 0
local others = {}
for _, name in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ms - ARGV[1], '+inf')) do
  local host = redis.call('HMGET', ARGV[2] .. name, 'workers', 'version')
  local workers = tonumber(host[1])
  if workers and host[2] == ARGV[3] then
    total = total + workers
  elseif workers then
    table.insert(others, {name, host[2] or 'unknown'})
  end
end
return {total, others}
";

/// Deletes the lease key, every key listed in the index, and the index.
const RELEASE: &str = r"
for _, key in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('UNLINK', key)
end
redis.call('UNLINK', KEYS[1], KEYS[2])
";

/// A name no other run on the same Redis has: this host's name (letters,
/// digits, `.` and `-` only), this process's pid and the time it started.
fn run_name() -> String {
    let host = super::machine_name();
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{host}-{:x}-{since_epoch:x}", std::process::id())
}
