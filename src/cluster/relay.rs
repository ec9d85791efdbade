//! A cluster run's relay: a process the hub forks before anything else,
//! which makes the blocking Redis calls for the run's remote workers, so
//! the hub itself only ever waits in its event loop.
//!
//! The hub writes `ToRelay` frames to it (a worker to queue for the hosts,
//! bytes or a signal for a remote worker) and reads `FromRelay` frames (the
//! hosts' `Up` messages, still encoded, or Redis lost). Inside, one thread
//! reads the hub and writes Redis; another waits on the run's `up` list and
//! writes the hub.
//!
//! Every key it makes is listed in the run's index and given what is left
//! of the lease in the same Lua step, as `lease.rs` requires; a lease
//! found lapsed is Redis lost. It ends when the hub closes its socket, or
//! dies (`PR_SET_PDEATHSIG`).
//!
//! What it must not do: decide anything about the run. What a host sends is
//! passed on unread but for one thing (a worker's start, to stop keeping
//! its queued entry); the hub checks it.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::{ForkResult, Pid, fork, getppid};
use redis::Connection;

use super::connect;
use super::keys::{self, RunKeys};
use super::lease::{LostRedis, PUSH_LISTED, RunLease};
use crate::wire::{
    Down, FromRelay, ProcId, RemoteExit, ToRelay, Up, UpEvent, decode_body, encode_body,
    read_frame, write_frame,
};

/// What the relay knows of the run's remote workers, under one lock.
#[derive(Default)]
struct Books {
    /// Each queued worker's entry, as pushed, until a host takes it or it
    /// is signalled (to take it back off the queue first).
    queued: HashMap<ProcId, Vec<u8>>,
    /// Workers queued that have neither started nor ended: one a lost host
    /// had taken is lost with it.
    unstarted: HashSet<ProcId>,
    /// Which host runs each started worker: the hosts the relay watches.
    placed: HashMap<ProcId, String>,
}

type SharedBooks = Arc<Mutex<Books>>;

/// How long one wait on the `up` list lasts before it is made again.
const UP_WAIT_SECS: f64 = 1.0;

/// The most `up` messages taken in one call after the first.
const UP_BATCH: usize = 256;

/// The hub's side of its relay.
pub struct Relay {
    pub pid: Pid,
    /// The hub's end of the relay's socket, non-blocking.
    pub socket: OwnedFd,
}

/// Forks the relay of the run whose lease is `lease`. Call it while the
/// hub has one thread.
pub fn start(lease: &RunLease) -> Result<Relay, LostRedis> {
    let url = lease.cluster();
    let shown = url.to_string();
    let lost = |reason: String| LostRedis::during_run(&shown, &reason);
    let open = || connect::open(url).map_err(|e| lost(e.to_string()));
    let connections = [open()?, open()?, open()?];
    let (hub_end, relay_end) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| lost(format!("cannot start the run's relay: {e}")))?;
    let hub_pid = nix::unistd::getpid();
    // SAFETY: the hub has one thread here (see `hub::launch`); the child
    // never returns into hub code.
    match unsafe { fork() } {
        Err(e) => Err(lost(format!("cannot start the run's relay: {e}"))),
        Ok(ForkResult::Parent { child }) => {
            drop(relay_end);
            nix::fcntl::fcntl(
                &hub_end,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            )
            .map_err(|e| lost(format!("cannot start the run's relay: {e}")))?;
            Ok(Relay {
                pid: child,
                socket: hub_end,
            })
        }
        Ok(ForkResult::Child) => {
            drop(hub_end);
            // SAFETY: plain syscalls; the relay dies with the hub (which
            // alone decides when a run stops: a terminal's Ctrl-C, sent to
            // the whole group, must not take the relay first).
            unsafe {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                libc::signal(libc::SIGTERM, libc::SIG_IGN);
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if getppid() != hub_pid {
                    libc::_exit(0);
                }
            }
            let socket = UnixStream::from(relay_end);
            let keys = lease.keys().clone();
            serve(socket, connections, keys, lease.length(), shown);
            // SAFETY: ends the relay without running the hub's destructors.
            unsafe { libc::_exit(0) }
        }
    }
}

/// The relay's life: until the hub goes, or Redis is lost.
fn serve(
    socket: UnixStream,
    [mut to_redis, from_redis, watching]: [Connection; 3],
    keys: RunKeys,
    lease: Duration,
    url: String,
) {
    let Ok(reader) = socket.try_clone() else {
        return;
    };
    let writer = Arc::new(Mutex::new(socket));
    let books = SharedBooks::default();
    {
        let (writer, books) = (writer.clone(), books.clone());
        let (keys, url) = (keys.clone(), url.clone());
        std::thread::spawn(move || carry_up(from_redis, &keys, &writer, &books, &url));
    }
    {
        let (writer, books) = (writer.clone(), books.clone());
        let (keys, url) = (keys.clone(), url.clone());
        std::thread::spawn(move || watch_hosts(watching, &keys, lease, &writer, &books, &url));
    }
    let mut reader = std::io::BufReader::new(reader);
    loop {
        let Ok(message) = read_frame::<ToRelay>(&mut reader) else {
            return;
        };
        if let Err(reason) = carry_down(&mut to_redis, &keys, &writer, &books, message) {
            tell(
                &writer,
                &FromRelay::Lost(LostRedis::during_run(&url, &reason).to_string()),
            );
            return;
        }
    }
}

/// Every third of the lease (every `JUDGE_EVERY` at most), judges the hosts
/// that run the run's workers by Redis's clock: one silent for longer than
/// the lease, whose key is gone, or that was restarted or connected again
/// (another incarnation), is lost. It is fenced in the same step, and the
/// hub is told.
/// The longest time between two judgements of the hosts: a host that was
/// restarted or connected again is found lost this soon, whatever the lease.
const JUDGE_EVERY: Duration = Duration::from_secs(1);

fn watch_hosts(
    mut redis: Connection,
    keys: &RunKeys,
    lease: Duration,
    writer: &Mutex<UnixStream>,
    books: &Mutex<Books>,
    url: &str,
) {
    let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
    loop {
        std::thread::sleep((lease / 3).min(JUDGE_EVERY));
        // Workers a host took off the queue and has not said it started:
        // if that host is lost, so are they.
        let taken: Result<HashMap<String, String>, _> =
            redis::cmd("HGETALL").arg(keys.taken()).query(&mut redis);
        let taken = match taken {
            Ok(taken) => taken,
            Err(e) => return lost(writer, url, &e),
        };
        let Ok(books_now) = books.lock() else {
            return;
        };
        // A field that is not a worker's id is nobody's.
        let taken: Vec<(ProcId, String)> = taken
            .into_iter()
            .filter_map(|(id, host)| Some((id.parse::<ProcId>().ok()?, host)))
            .filter(|(id, _)| books_now.unstarted.contains(id))
            .collect();
        let mut hosts: Vec<String> = books_now
            .placed
            .values()
            .chain(taken.iter().map(|(_, h)| h))
            .cloned()
            .collect();
        drop(books_now);
        hosts.sort();
        hosts.dedup();
        if hosts.is_empty() {
            continue;
        }
        let judged: Result<Vec<(String, String)>, _> = redis::Script::new(JUDGE_HOSTS)
            .key(keys.fenced())
            .key(keys.index())
            .key(keys.lease())
            .arg(lease_ms)
            .arg(super::keys::host(""))
            .arg(&hosts)
            .invoke(&mut redis);
        let lost_hosts = match judged {
            Ok(lost_hosts) => lost_hosts,
            Err(e) => return lost(writer, url, &e),
        };
        for (host, why) in lost_hosts {
            let took: Vec<ProcId> = taken
                .iter()
                .filter(|(_, by)| *by == host)
                .map(|(id, _)| *id)
                .collect();
            if let Ok(mut books) = books.lock() {
                books.placed.retain(|_, on| *on != host);
                for id in &took {
                    books.queued.remove(id);
                    books.unstarted.remove(id);
                }
            }
            let message = FromRelay::HostLost {
                host,
                why,
                taken: took,
            };
            if !tell(writer, &message) {
                return;
            }
        }
    }
}

/// Waits on the run's `up` list and passes what arrives to the hub.
fn carry_up(
    mut redis: Connection,
    keys: &RunKeys,
    writer: &Mutex<UnixStream>,
    books: &Mutex<Books>,
    url: &str,
) {
    let up = keys.up();
    loop {
        let first: Result<Option<(String, Vec<u8>)>, _> = redis::cmd("BLPOP")
            .arg(&up)
            .arg(UP_WAIT_SECS)
            .query(&mut redis);
        let mut batch = match first {
            Ok(Some((_, message))) => vec![message],
            Ok(None) => continue,
            Err(e) => return lost(writer, url, &e),
        };
        let more: Result<Option<Vec<Vec<u8>>>, _> =
            redis::cmd("LPOP").arg(&up).arg(UP_BATCH).query(&mut redis);
        match more {
            Ok(more) => batch.extend(more.unwrap_or_default()),
            Err(e) => return lost(writer, url, &e),
        }
        for message in batch {
            // Read for the relay's own books; the hub checks it.
            match decode_body::<Up>(&message) {
                Ok(Up {
                    id,
                    host,
                    event: UpEvent::Started { .. },
                }) => {
                    if let Ok(mut books) = books.lock() {
                        books.queued.remove(&id);
                        books.unstarted.remove(&id);
                        books.placed.entry(id).or_insert(host);
                    }
                    let forgot: Result<(), _> = redis::cmd("HDEL")
                        .arg(keys.taken())
                        .arg(id)
                        .query(&mut redis);
                    if let Err(e) = forgot {
                        return lost(writer, url, &e);
                    }
                }
                Ok(Up {
                    id,
                    host,
                    event: UpEvent::Exited { .. } | UpEvent::HandedBack,
                }) => {
                    if let Ok(mut books) = books.lock() {
                        books.queued.remove(&id);
                        books.unstarted.remove(&id);
                        if books.placed.get(&id) == Some(&host) {
                            books.placed.remove(&id);
                        }
                    }
                    // Its messages' list goes, and off the run's index.
                    let dropped: Result<(), _> = redis::Script::new(DROP_LISTED)
                        .key(keys.down(id))
                        .key(keys.index())
                        .invoke(&mut redis);
                    if let Err(e) = dropped {
                        return lost(writer, url, &e);
                    }
                }
                _ => {}
            }
            if !tell(writer, &FromRelay::Up(message)) {
                return;
            }
        }
    }
}

/// Carries out one of the hub's requests in Redis; why Redis is lost.
fn carry_down(
    redis: &mut Connection,
    keys: &RunKeys,
    writer: &Mutex<UnixStream>,
    books: &Mutex<Books>,
    message: ToRelay,
) -> Result<(), String> {
    let pushed: i64 = match message {
        ToRelay::Start(start) => {
            let entry = start
                .to_queue_entry()
                .map_err(|e| format!("cannot encode a message for the hosts: {e}"))?;
            if let Ok(mut books) = books.lock() {
                books.queued.insert(start.id, entry.clone());
                books.unstarted.insert(start.id);
            }
            redis::Script::new(PUSH_LISTED)
                .key(keys.starts())
                .key(keys.index())
                .key(keys.lease())
                .key(keys::ready())
                .arg(entry)
                .arg(keys.prefix())
                .invoke(redis)
                .map_err(|e| first_line(&e))?
        }
        ToRelay::Bytes { id, bytes } => push(redis, keys, id, &Down::Bytes(bytes))?,
        ToRelay::Signal { id, signal } => {
            let entry = books.lock().ok().and_then(|mut b| b.queued.remove(&id));
            if let Some(entry) = entry {
                let taken_back: i64 = redis::cmd("LREM")
                    .arg(keys.starts())
                    .arg(1)
                    .arg(entry)
                    .query(redis)
                    .map_err(|e| first_line(&e))?;
                if taken_back == 1 {
                    // Never started: it ends here, by that signal.
                    if let Ok(mut books) = books.lock() {
                        books.unstarted.remove(&id);
                    }
                    let ended = Up {
                        id,
                        host: String::new(),
                        event: UpEvent::Exited {
                            status: RemoteExit::Signal(signal),
                            started: None,
                        },
                    };
                    tell(writer, &FromRelay::Up(encoded(&ended)?));
                    return Ok(());
                }
            }
            push(redis, keys, id, &Down::Signal(signal))?
        }
    };
    match pushed {
        0 => Err("the run's lease had lapsed".to_string()),
        _ => Ok(()),
    }
}

/// Pushes `message` onto remote worker `id`'s `down` list.
fn push(redis: &mut Connection, keys: &RunKeys, id: ProcId, message: &Down) -> Result<i64, String> {
    redis::Script::new(PUSH_LISTED)
        .key(keys.down(id))
        .key(keys.index())
        .key(keys.lease())
        .arg(encoded(message)?)
        .invoke(redis)
        .map_err(|e| first_line(&e))
}

fn encoded<T: serde::Serialize>(message: &T) -> Result<Vec<u8>, String> {
    encode_body(message).map_err(|e| format!("cannot encode a message for the hosts: {e}"))
}

/// Writes one frame to the hub; false when the hub is gone.
fn tell(writer: &Mutex<UnixStream>, message: &FromRelay) -> bool {
    let Ok(mut socket) = writer.lock() else {
        return false;
    };
    write_frame(&mut *socket, message).is_ok() && socket.flush().is_ok()
}

fn lost(writer: &Mutex<UnixStream>, url: &str, e: &redis::RedisError) {
    let line = LostRedis::during_run(url, &first_line(e)).to_string();
    tell(writer, &FromRelay::Lost(line));
}

fn first_line(e: &redis::RedisError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// Judges the hosts ARGV[3..] (each `NAME#PID.SESSION`, one incarnation
/// and one connection of it) by Redis's time: a host whose key (ARGV[2]
/// and its name) is gone or names another pid or session, or whose last
/// beat is older than the lease (ARGV[1] ms), is lost, and fenced: added to the run's fenced set
/// (KEYS[1], listed in its index KEYS[2], living as long as its lease
/// KEYS[3]). Returns each lost host with why.
const JUDGE_HOSTS: &str = r#"
local left = redis.call('PTTL', KEYS[3])
if left <= 0 then return redis.error_reply("the run's lease had lapsed") end
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
local lost = {}
for i = 3, #ARGV do
  local name, pid, session = string.match(ARGV[i], '^(.*)#(%d+)%.(%d+)$')
  local why = nil
  if not name then
    why = 'it is no host'
  else
    local host = redis.call('HMGET', ARGV[2] .. name, 'pid', 'beat', 'session')
    local beat = tonumber(host[2])
    if not beat then
      why = 'it left the cluster'
    elseif host[1] ~= pid then
      why = 'it was restarted'
    elseif host[3] ~= session then
      why = 'it lost Redis and connected again'
    elseif ms - beat > tonumber(ARGV[1]) then
      why = 'silent for ' .. (ms - beat) .. ' ms, longer than the lease'
    end
  end
  if why then
    redis.call('SADD', KEYS[1], ARGV[i])
    redis.call('SADD', KEYS[2], KEYS[1])
    redis.call('PEXPIRE', KEYS[1], left)
    table.insert(lost, {ARGV[i], why})
  end
end
return lost
"#;

/// Deletes the run's key KEYS[1] and takes it off the run's index KEYS[2].
const DROP_LISTED: &str = r"
redis.call('UNLINK', KEYS[1])
redis.call('SREM', KEYS[2], KEYS[1])
";
