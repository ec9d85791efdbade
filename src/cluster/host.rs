//! `mphost worker URL`: a host of the cluster. It registers under
//! `mph:host:{NAME}` (its mphost version, pid and worker count, and the
//! Redis time of its last heartbeat) and beats every `BEAT`, so that a run
//! can tell by Redis's clock alone how long a host has been silent. It stops
//! on SIGINT or SIGTERM, deregistering, with status 0; Redis lost is one
//! line and status 69.
//!
//! Serving pool work through Redis is not built yet: a host only beats.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use redis::Connection;

/// How often a host beats: well inside the shortest lease a run may give
/// its hosts (`--lease` 0.5 s).
pub const BEAT: Duration = Duration::from_millis(100);

/// How long a host's key outlives its last beat (a SIGKILLed host's key
/// goes after this; a run judges a host by its beat, not by this).
const KEY_LIFE: Duration = Duration::from_secs(10);

/// Why a host stopped other than by a signal: the one line to print.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("mphost worker: another worker is serving as {name} (pid {pid}); give --name")]
    NameTaken { name: String, pid: String },
    #[error("mphost worker: lost Redis at {url}: {reason}")]
    Lost { url: String, reason: String },
    #[error("mphost worker: cannot wait for signals: {0}")]
    Signals(nix::errno::Errno),
}

/// Registers this host as `name` with `workers` worker processes and beats
/// until SIGINT or SIGTERM.
pub fn serve(
    mut connection: Connection,
    url: &str,
    name: &str,
    workers: usize,
) -> Result<(), HostError> {
    let signals = stop_signals().map_err(HostError::Signals)?;
    let key = format!("mph:host:{name}");
    let pid = std::process::id().to_string();
    let lost = |e: redis::RedisError| HostError::Lost {
        url: url.to_string(),
        reason: e.to_string().lines().next().unwrap_or_default().to_string(),
    };
    let holder: Option<String> = redis::Script::new(REGISTER)
        .key(&key)
        .arg(&pid)
        .arg(env!("CARGO_PKG_VERSION"))
        .arg(workers)
        .arg(KEY_LIFE.as_millis() as u64)
        .invoke(&mut connection)
        .map_err(lost)?;
    if let Some(pid) = holder {
        return Err(HostError::NameTaken {
            name: name.to_string(),
            pid,
        });
    }
    let beat = redis::Script::new(BEAT_SCRIPT);
    let mut next = Instant::now() + BEAT;
    loop {
        let left = next.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {}
            Ok(_) => break,
            Err(e) => return Err(HostError::Signals(e)),
        }
        if Instant::now() >= next {
            beat.key(&key)
                .arg(&pid)
                .arg(KEY_LIFE.as_millis() as u64)
                .invoke::<()>(&mut connection)
                .map_err(lost)?;
            next = Instant::now() + BEAT;
        }
    }
    // Stopped by a signal: this host is gone from the cluster.
    redis::Script::new(DEREGISTER)
        .key(&key)
        .arg(&pid)
        .invoke::<()>(&mut connection)
        .map_err(lost)
}

/// SIGINT and SIGTERM, blocked and read from a descriptor.
fn stop_signals() -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC)
}

/// The default name: this machine's name (letters, digits, `.` and `-`)
/// and this process's pid, so two workers on one machine are two hosts.
pub fn default_name() -> String {
    format!("{}-{}", super::machine_name(), std::process::id())
}

/// Registers the host unless a live one holds the name: returns that one's
/// pid, or nil. The beat is Redis's own time.
const REGISTER: &str = r"
local holder = redis.call('HGET', KEYS[1], 'pid')
if holder and holder ~= ARGV[1] then return holder end
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], 'pid', ARGV[1], 'version', ARGV[2], 'workers', ARGV[3],
  'beat', now[1] * 1000 + math.floor(now[2] / 1000))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return false
";

/// One beat: Redis's time into the host's key, which lives on.
const BEAT_SCRIPT: &str = r"
if redis.call('HGET', KEYS[1], 'pid') ~= ARGV[1] then
  return redis.error_reply('this host was dropped from the cluster')
end
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], 'beat', now[1] * 1000 + math.floor(now[2] / 1000))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
";

/// Deletes the host's key if it is still this host's.
const DEREGISTER: &str = r"
if redis.call('HGET', KEYS[1], 'pid') == ARGV[1] then redis.call('DEL', KEYS[1]) end
";
