//! `mphost worker URL`: a host of the cluster. It registers under
//! `mph:host:{NAME}` (its mphost version, pid and worker count, and the
//! Redis time of its last heartbeat) and beats every `BEAT`, so that a run
//! can tell by Redis's clock alone how long a host has been silent. It stops
//! on SIGINT or SIGTERM, deregistering, with status 0. Redis lost (or
//! restarted) stops its workers, whose runs are lost with it, and it
//! connects again, waiting longer after each failure (`reconnect`): it
//! serves the runs that come after. Redis it cannot reach when it starts is
//! one line and status 69 (`main`).
//!
//! Between beats it serves: it waits on its version's `ready()` list for a
//! ticket (a run queued a worker), takes the run's oldest queued worker and
//! starts it (`remote_worker`), while it has fewer than its `--workers`
//! running. A run made by another mphost version is refused, once, in one
//! line, and told so.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use redis::Connection;

use super::ClusterUrl;
use super::connect;
use super::keys::{self, RunKeys};
use super::remote_worker::{self, RunOnHost};
use crate::wire::{RemoteExit, RemoteStart, RunScript, Up, UpEvent, decode_body, encode_body};

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
    #[error(
        "mphost worker: a run declared this host lost (silent for longer than its lease) and refuses its work; stopping"
    )]
    Fenced,
}

/// The first wait before a host connects again after losing Redis; each
/// failure doubles it, up to `LONGEST_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const LONGEST_BACKOFF: Duration = Duration::from_secs(5);

/// Registers this host as `name` with `workers` worker processes, and
/// serves the runs' queued workers until SIGINT or SIGTERM, connecting
/// again whenever it loses Redis.
pub fn serve(
    connection: Connection,
    url: &ClusterUrl,
    name: &str,
    workers: usize,
) -> Result<(), HostError> {
    let signals = stop_signals().map_err(HostError::Signals)?;
    let mut connection = connection;
    let mut wait = FIRST_BACKOFF;
    let mut said = String::new();
    // Whether the last loss was said: then so is the next registration.
    let mut announce = false;
    for session in 1.. {
        let began = Instant::now();
        let serving = Session { session, announce };
        announce = false;
        match serve_connected(connection, url, name, workers, serving, &signals) {
            Err(HostError::Lost { url, reason }) => {
                // Said once for one reason, however often it repeats.
                if reason != said {
                    announce = true;
                    eprintln!(
                        "mphost worker: lost Redis at {url}: {reason}; its workers are stopped, and it connects again"
                    );
                    said = reason;
                }
            }
            stopped => return stopped,
        }
        // A session that served a while starts the waits again; one lost
        // at once (a Redis that connects but refuses writes) waits longer.
        if began.elapsed() > 2 * LONGEST_BACKOFF {
            wait = FIRST_BACKOFF;
        }
        connection = match reconnect(url, &signals, &mut wait)? {
            Some(connection) => connection,
            None => return Ok(()),
        };
    }
    Ok(())
}

/// Connects to `url` again (with the checks a first connection makes),
/// waiting `wait` first and twice as long after each failure (up to
/// `LONGEST_BACKOFF`); `None` when SIGINT or SIGTERM comes first.
fn reconnect(
    url: &ClusterUrl,
    signals: &SignalFd,
    wait: &mut Duration,
) -> Result<Option<Connection>, HostError> {
    loop {
        let pause = *wait;
        *wait = (*wait * 2).min(LONGEST_BACKOFF);
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(pause).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(HostError::Signals(e)),
        }
        if fds[0].any().unwrap_or(false) {
            return Ok(None);
        }
        if let Ok(connection) = connect::connect(url) {
            return Ok(Some(connection));
        }
    }
}

/// One connection of a host to Redis.
#[derive(Clone, Copy)]
struct Session {
    /// 1 for the first.
    session: u64,
    /// Say, once registered, that it is connected again.
    announce: bool,
}

/// `serve` on one connection, its `session` (1 for the first): until a
/// signal (`Ok`), or Redis lost. Each session is an incarnation of its own
/// to the runs (`NAME#PID.SESSION`): a run that did not see the host lose
/// Redis finds it lost when it connects again, and its workers with it.
fn serve_connected(
    mut connection: Connection,
    url: &ClusterUrl,
    name: &str,
    workers: usize,
    Session { session, announce }: Session,
    signals: &SignalFd,
) -> Result<(), HostError> {
    let shown = url.to_string();
    let key = keys::host(name);
    let pid = std::process::id().to_string();
    let lost = |e: redis::RedisError| HostError::Lost {
        url: shown.clone(),
        reason: e.to_string().lines().next().unwrap_or_default().to_string(),
    };
    let holder: Option<String> = redis::Script::new(REGISTER)
        .key(&key)
        .key(keys::HOSTS)
        .arg(&pid)
        .arg(env!("CARGO_PKG_VERSION"))
        .arg(workers)
        .arg(KEY_LIFE.as_millis() as u64)
        .arg(name)
        .arg(session)
        .invoke(&mut connection)
        .map_err(lost)?;
    if let Some(pid) = holder {
        return Err(HostError::NameTaken {
            name: name.to_string(),
            pid,
        });
    }
    if announce {
        eprintln!("mphost worker: connected to Redis at {shown} again");
    }
    let mut host = Host {
        url: url.clone(),
        // Its name, pid and session: a host restarted under the same name,
        // or connected again, is another incarnation, which a run that
        // fenced this one still takes.
        name: format!("{name}#{pid}.{session}"),
        busy: Arc::new(AtomicUsize::new(0)),
        fenced: Arc::new(AtomicBool::new(false)),
        runs: HashMap::new(),
        running: Vec::new(),
    };
    let (wake, woken) = UnixStream::pair().map_err(|e| HostError::Signals(errno_of(&e)))?;
    woken
        .set_nonblocking(true)
        .map_err(|e| HostError::Signals(errno_of(&e)))?;
    // The heartbeat has a thread and a connection of its own: a slow start
    // of a worker must not make a live host look silent.
    let mut beating = connect::open(url).map_err(|e| HostError::Lost {
        url: shown.clone(),
        reason: e.to_string(),
    })?;
    connect::name_host_client(&mut connection, &host.name);
    connect::name_host_client(&mut beating, &host.name);
    let beat_failed: Arc<Mutex<Option<String>>> = Arc::default();
    let stopping = Arc::new(AtomicBool::new(false));
    {
        let (failed, stopping) = (beat_failed.clone(), stopping.clone());
        let (key, pid, name) = (key.clone(), pid.clone(), name.to_string());
        let wake = wake.try_clone();
        std::thread::spawn(move || {
            if let Err(reason) = beat(beating, &key, &pid, &name, &stopping)
                && let Ok(mut failed) = failed.lock()
            {
                *failed = Some(reason);
                if let Ok(mut wake) = wake {
                    let _ = wake.write(&[1]);
                }
            }
        });
    }
    let stopped = loop {
        let free = host.busy.load(Ordering::Acquire) < workers;
        // With a free worker, the wait is on Redis (for a ticket); else on
        // a worker's end.
        let timeout = if free {
            PollTimeout::ZERO
        } else {
            PollTimeout::try_from(BEAT).unwrap_or(PollTimeout::MAX)
        };
        let mut fds = [
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(woken.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => break Err(HostError::Signals(e)),
        }
        if fds[0].any().unwrap_or(false) {
            break Ok(());
        }
        if let Some(reason) = beat_failed.lock().ok().and_then(|mut f| f.take()) {
            break Err(HostError::Lost {
                url: shown.clone(),
                reason,
            });
        }
        if host.fenced.load(Ordering::Acquire) {
            break Err(HostError::Fenced);
        }
        let mut drained = [0u8; 64];
        while matches!((&woken).read(&mut drained), Ok(n) if n > 0) {}
        if !free {
            continue;
        }
        let ticket: Result<Option<(String, String)>, _> = redis::cmd("BLPOP")
            .arg(keys::ready())
            .arg(BEAT.as_secs_f64())
            .query(&mut connection);
        let taken = match ticket {
            Ok(Some((_, ticket))) => host.take(&mut connection, &ticket, &wake),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = taken {
            break Err(lost(e));
        }
    };
    stopping.store(true, Ordering::Release);
    // Stopped (by a signal, fenced, or Redis lost): its workers stop and
    // their chunks are handed back to their runs, then the host leaves the
    // cluster, if Redis still answers.
    host.stop();
    let left = redis::Script::new(DEREGISTER)
        .key(&key)
        .key(keys::HOSTS)
        .arg(&pid)
        .arg(name)
        .invoke::<()>(&mut connection)
        .map_err(lost);
    stopped.and(left)
}

/// Beats every `BEAT` until `stopping`: Redis's time into the host's key.
/// Why it stopped otherwise (Redis lost, or the key not this host's).
fn beat(
    mut redis: Connection,
    key: &str,
    pid: &str,
    name: &str,
    stopping: &AtomicBool,
) -> Result<(), String> {
    let script = redis::Script::new(BEAT_SCRIPT);
    while !stopping.load(Ordering::Acquire) {
        script
            .key(key)
            .key(keys::HOSTS)
            .arg(pid)
            .arg(KEY_LIFE.as_millis() as u64)
            .arg(name)
            .invoke::<()>(&mut redis)
            .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string())?;
        std::thread::sleep(BEAT);
    }
    Ok(())
}

fn errno_of(e: &std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// A host's state while it serves.
struct Host {
    url: ClusterUrl,
    /// This incarnation of the host, as runs know it: `NAME#PID`.
    name: String,
    /// Workers running now.
    busy: Arc<AtomicUsize>,
    /// A run fenced this host: it stops.
    fenced: Arc<AtomicBool>,
    /// Each run seen: what its workers run, or why this host refuses it.
    runs: HashMap<String, Result<Arc<RunOnHost>, String>>,
    /// The workers started, to stop them when the host stops.
    running: Vec<remote_worker::Running>,
}

impl Host {
    /// A ticket says a run queued a worker: takes it, if the run is still
    /// there and nobody took it first, and starts it.
    fn take(
        &mut self,
        redis: &mut Connection,
        ticket: &str,
        wake: &UnixStream,
    ) -> Result<(), redis::RedisError> {
        // A ticket is what a run wrote; anything else is nobody's.
        let Some(keys) = RunKeys::from_prefix(ticket) else {
            return Ok(());
        };
        let entry: Option<Vec<u8>> = redis::Script::new(TAKE)
            .key(keys.starts())
            .key(keys.lease())
            .key(keys.taken())
            .key(keys.index())
            .arg(&self.name)
            .invoke(redis)?;
        let Some(entry) = entry else {
            return Ok(());
        };
        let Some(start) = RemoteStart::from_queue_entry(&entry) else {
            // Taken, and recorded as this host's: the run hears it failed
            // to start, if the entry names a worker at all.
            if let Some(id) = RemoteStart::queue_entry_id(&entry) {
                let failed = UpEvent::Exited {
                    status: RemoteExit::Code(127),
                    started: None,
                };
                self.tell(redis, &keys, id, failed)?;
            }
            return Ok(());
        };
        if crate::test_fault::enabled(crate::test_fault::HOST_DIES_AFTER_TAKING) {
            crate::test_fault::die();
        }
        let run = match self.run(redis, &keys)? {
            Ok(run) => run,
            Err(reason) => {
                return self.tell(redis, &keys, start.id, UpEvent::Refused { reason });
            }
        };
        self.running.retain(remote_worker::Running::is_running);
        self.busy.fetch_add(1, Ordering::AcqRel);
        let (busy, wake) = (self.busy.clone(), wake.try_clone());
        let ended = move || {
            busy.fetch_sub(1, Ordering::AcqRel);
            if let Ok(mut wake) = wake {
                let _ = wake.write(&[1]);
            }
        };
        let (id, worker) = (start.id, start.name.clone());
        let fenced = self.fenced.clone();
        match remote_worker::start(&self.url, &self.name, &run, start, fenced, ended) {
            Ok(running) => self.running.push(running),
            Err(e) => {
                self.busy.fetch_sub(1, Ordering::AcqRel);
                eprintln!(
                    "mphost worker: cannot start {worker} (#{id}) of run {}: {e}",
                    keys.run()
                );
                // The run counts it a failed start, as a fork that failed.
                let status = RemoteExit::Code(127);
                let failed = UpEvent::Exited {
                    status,
                    started: None,
                };
                self.tell(redis, &keys, id, failed)?;
            }
        }
        Ok(())
    }

    /// Tells the run `keys` about its worker `id`.
    fn tell(
        &self,
        redis: &mut Connection,
        keys: &RunKeys,
        id: u64,
        event: UpEvent,
    ) -> Result<(), redis::RedisError> {
        let message = Up {
            id,
            host: self.name.clone(),
            event,
        };
        if let Ok(message) = encode_body(&message) {
            let pushed: i64 = redis::Script::new(super::lease::HOST_PUSH)
                .key(keys.up())
                .key(keys.index())
                .key(keys.lease())
                .key(keys.fenced())
                .arg(message)
                .arg(&self.name)
                .invoke(redis)?;
            if pushed == -1 {
                self.fenced.store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    /// What this host knows of the run: read once, with its mphost version
    /// checked (another version's run is refused, said once here).
    fn run(
        &mut self,
        redis: &mut Connection,
        keys: &RunKeys,
    ) -> Result<Result<Arc<RunOnHost>, String>, redis::RedisError> {
        if let Some(known) = self.runs.get(keys.run()) {
            return Ok(known.clone());
        }
        if self.runs.len() >= REMEMBERED_RUNS {
            self.runs.clear();
        }
        let bytes: Option<Vec<u8>> = redis::cmd("GET").arg(keys.script()).query(redis)?;
        let ours = env!("CARGO_PKG_VERSION");
        let known = match bytes.map(|b| decode_body::<RunScript>(&b)) {
            None => Err("its script is gone".to_string()),
            Some(Err(e)) => Err(format!("its script does not read as this mphost's: {e}")),
            Some(Ok(made)) if made.version != ours => Err(format!(
                "it was made by mphost {}, and this worker is mphost {ours}",
                made.version
            )),
            Some(Ok(made)) => {
                let mut script = made.script;
                // A remote worker's clock is not the run's: no spans.
                script.trace = false;
                Ok(Arc::new(RunOnHost {
                    keys: keys.clone(),
                    script,
                }))
            }
        };
        if let Err(reason) = &known {
            eprintln!("mphost worker: refusing run {}: {reason}", keys.run());
        }
        self.runs.insert(keys.run().to_string(), known.clone());
        Ok(known)
    }

    /// Stops every worker, and waits (a few seconds at most) until their
    /// runs were told the chunks they held are handed back.
    fn stop(&mut self) {
        for running in &self.running {
            running.hand_back();
        }
        let until = Instant::now() + Duration::from_secs(5);
        while self.busy.load(Ordering::Acquire) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// How many runs a host remembers (their scripts) before it forgets all.
const REMEMBERED_RUNS: usize = 64;

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

/// Registers the host (ARGV[6]: its session, one per connection) unless a
/// live one of another pid holds the name: returns that one's pid, or nil.
/// The beat is Redis's own time.
const REGISTER: &str = r"
local holder = redis.call('HGET', KEYS[1], 'pid')
if holder and holder ~= ARGV[1] then return holder end
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('HSET', KEYS[1], 'pid', ARGV[1], 'version', ARGV[2], 'workers', ARGV[3], 'beat', ms, 'session', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ms, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ms - ARGV[4])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return false
";

/// One beat: Redis's time into the host's key, which lives on.
const BEAT_SCRIPT: &str = r"
if redis.call('HGET', KEYS[1], 'pid') ~= ARGV[1] then
  return redis.error_reply('this host was dropped from the cluster')
end
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('HSET', KEYS[1], 'beat', ms)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ms, ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
";

/// Deletes the host's key if it is still this host's.
const DEREGISTER: &str = r"
if redis.call('HGET', KEYS[1], 'pid') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
";

/// Takes the oldest queued worker of a run (KEYS[1]) whose lease (KEYS[2])
/// is still there, and records in the same step that host ARGV[1] took it
/// (KEYS[3], listed in the run's index KEYS[4]): if the host is lost
/// before it says it started the worker, the run still knows.
const TAKE: &str = r"
local left = redis.call('PTTL', KEYS[2])
if left <= 0 then return false end
local entry = redis.call('LPOP', KEYS[1])
if not entry then return false end
local id = string.match(entry, '^(%d+):')
if id then
  redis.call('HSET', KEYS[3], id, ARGV[1])
  redis.call('SADD', KEYS[4], KEYS[3])
  redis.call('PEXPIRE', KEYS[3], left)
end
return entry
";
