//! A run's shared objects in Redis: one hash, `mph:{RUN}:objects`, from
//! each object's id to the object (or a collection's head) as
//! `store::RedisStore` encodes it, and a key for each collection's
//! contents. Every key is made, and lives, under the run's lease like
//! every key of the run: listed in its index and given what is left of the
//! lease in the step that writes it, so it expires with a run whose
//! `mphost` was SIGKILLed, and the run's release deletes it.
//!
//! Writes are sent without waiting for their replies: Redis applies a
//! connection's commands in order, so every later command sees them, and
//! their replies are read (`settle`) before the next read, when many are
//! waiting, within 20 ms (`settle_if_due`), and when the run ends. A write
//! Redis refused is then Redis lost: the run ends (exit 69), and no read
//! from Redis comes after it.
//!
//! What it must not do: know what an object is (that is the store's), or
//! wait on Redis longer than `connect`'s bound.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use redis::{Cmd, Connection, Script, Value};

pub use super::keys::Contents;
use super::keys::RunKeys;
use super::{LostRedis, RunLease, connect};
use crate::wire::ObjectId;

/// The biggest value Redis takes by default (`proto-max-bulk-len`).
pub const LARGEST_OBJECT: usize = 512 * 1024 * 1024;

/// A hash's field and value, as Redis has them.
pub type RawEntry = (Vec<u8>, Vec<u8>);

/// How many writes may wait for their replies before they are read.
const UNANSWERED_MAX: usize = 1024;

/// How long a write's reply may stay unread (`settle_if_due`).
const ANSWER_READ_WITHIN: Duration = Duration::from_millis(20);

/// The hub's connection to its run's objects.
pub struct RunObjects {
    connection: Connection,
    keys: RunKeys,
    /// The URL as it may be printed.
    url: String,
    /// The writes sent whose replies are not read yet, in order: what each
    /// must answer.
    unanswered: VecDeque<Expect>,
    /// When the oldest of them was sent.
    unanswered_since: Option<Instant>,
}

/// What a write must answer.
#[derive(Clone, Copy)]
enum Expect {
    /// A script that makes keys: 0 when the lease was gone.
    UnderLease,
    /// Anything but an error.
    NoError,
}

impl RunObjects {
    /// Opens a connection of its own to the Redis of `lease`'s run.
    pub fn open(lease: &RunLease) -> Result<RunObjects, LostRedis> {
        let url = lease.cluster().to_string();
        let mut connection = connect::open(lease.cluster())
            .map_err(|e| LostRedis::during_run(&url, &e.to_string()))?;
        // Sent by their hash without waiting: loaded first.
        for script in [&*SET_FIELDS, &*PUSH, &*INSERT] {
            script
                .load(&mut connection)
                .map_err(|e| LostRedis::during_run(&url, &e.to_string()))?;
        }
        Ok(RunObjects {
            connection,
            keys: lease.keys().clone(),
            url,
            unanswered: VecDeque::new(),
            unanswered_since: None,
        })
    }

    /// Reads the replies of the writes sent so far; an error among them
    /// (or a lease gone) is Redis lost.
    pub fn settle(&mut self) -> Result<(), LostRedis> {
        while let Some(expect) = self.unanswered.pop_front() {
            let reply = match self.connection.recv_response() {
                Ok(reply) => reply,
                Err(e) => {
                    self.unanswered.clear();
                    return Err(self.lost(&e));
                }
            };
            let refused = match (expect, reply) {
                (_, Value::ServerError(e)) => Some(refusal(e.code(), e.details())),
                (Expect::UnderLease, Value::Int(0)) => Some("the run's lease had lapsed".into()),
                _ => None,
            };
            if let Some(reason) = refused {
                self.unanswered.clear();
                return Err(LostRedis::during_run(&self.url, &reason));
            }
        }
        self.unanswered_since = None;
        Ok(())
    }

    /// When `settle_if_due` will read the replies waiting now.
    pub fn settle_due(&self) -> Option<Instant> {
        self.unanswered_since
            .map(|since| since + ANSWER_READ_WITHIN)
    }

    /// `settle`, once the oldest unread reply has had time to arrive.
    pub fn settle_if_due(&mut self, now: Instant) -> Result<(), LostRedis> {
        match self.unanswered_since {
            Some(since) if now.duration_since(since) >= ANSWER_READ_WITHIN => self.settle(),
            _ => Ok(()),
        }
    }

    /// Sends a write, its reply read later.
    fn send(&mut self, command: &Cmd, expect: Expect) -> Result<(), LostRedis> {
        if let Err(e) = self
            .connection
            .send_packed_command(&command.get_packed_command())
        {
            return Err(self.lost(&e));
        }
        self.unanswered.push_back(expect);
        self.unanswered_since.get_or_insert_with(Instant::now);
        if self.unanswered.len() >= UNANSWERED_MAX {
            self.settle()?;
        }
        Ok(())
    }

    /// Sends `script` (loaded at `open`) with the run's index and lease as
    /// its second and third keys.
    fn send_script(
        &mut self,
        script: &Script,
        first: String,
        more_keys: &[String],
        args: impl FnOnce(&mut Cmd),
    ) -> Result<(), LostRedis> {
        let mut command = redis::cmd("EVALSHA");
        command
            .arg(script.get_hash())
            .arg(3 + more_keys.len())
            .arg(first)
            .arg(self.keys.index())
            .arg(self.keys.lease())
            .arg(more_keys);
        args(&mut command);
        self.send(&command, Expect::UnderLease)
    }

    /// Stores `objects` (id and encoding) in one step, under the lease.
    pub fn save(&mut self, objects: &[(ObjectId, Vec<u8>)]) -> Result<(), LostRedis> {
        if objects.is_empty() {
            return Ok(());
        }
        self.send_script(&SET_FIELDS, self.keys.objects(), &[], |save| {
            for (id, bytes) in objects {
                save.arg(*id).arg(bytes.as_slice());
            }
        })
    }

    /// Deletes object `id`, and the keys of its contents.
    pub fn remove(&mut self, id: ObjectId, contents: &[Contents]) -> Result<(), LostRedis> {
        self.send(
            redis::cmd("HDEL").arg(self.keys.objects()).arg(id),
            Expect::NoError,
        )?;
        for &of in contents {
            let key = self.keys.contents(of);
            self.send(redis::cmd("UNLINK").arg(&key), Expect::NoError)?;
            self.send(
                redis::cmd("SREM").arg(self.keys.index()).arg(&key),
                Expect::NoError,
            )?;
        }
        Ok(())
    }

    // ----- lists: a queue's or a manager list's items, a pipe's inboxes ---

    /// Appends `items` to the list `of`, and stores the head of its object
    /// (`head`, when it changed), in one step.
    pub fn push(
        &mut self,
        of: Contents,
        items: &[Vec<u8>],
        head: Option<(ObjectId, &[u8])>,
    ) -> Result<(), LostRedis> {
        let objects = [self.keys.objects()];
        self.send_script(&PUSH, self.keys.contents(of), &objects, |push| {
            match head {
                Some((id, bytes)) => push.arg(id).arg(bytes),
                None => push.arg("").arg(""),
            };
            for item in items {
                push.arg(item.as_slice());
            }
        })
    }

    pub fn len(&mut self, of: Contents) -> Result<u64, LostRedis> {
        self.query(redis::cmd("LLEN").arg(self.keys.contents(of)))
    }

    pub fn pop_back(&mut self, of: Contents) -> Result<Option<Vec<u8>>, LostRedis> {
        self.query(redis::cmd("RPOP").arg(self.keys.contents(of)))
    }

    /// The item at `index`, if there is one.
    pub fn item(&mut self, of: Contents, index: u64) -> Result<Option<Vec<u8>>, LostRedis> {
        self.query(redis::cmd("LINDEX").arg(self.keys.contents(of)).arg(index))
    }

    /// Replaces the item at `index`, which must exist.
    pub fn set_item(&mut self, of: Contents, index: u64, item: &[u8]) -> Result<(), LostRedis> {
        self.send(
            redis::cmd("LSET")
                .arg(self.keys.contents(of))
                .arg(index)
                .arg(item),
            Expect::NoError,
        )
    }

    /// Puts `item` before the item at `index` (at the end when there is
    /// none).
    pub fn insert(&mut self, of: Contents, index: u64, item: &[u8]) -> Result<(), LostRedis> {
        self.send_script(&INSERT, self.keys.contents(of), &[], |insert| {
            insert.arg(index).arg(item);
        })
    }

    /// Takes out the item at `index`, which must exist.
    pub fn remove_item(&mut self, of: Contents, index: u64) -> Result<Option<Vec<u8>>, LostRedis> {
        self.settle()?;
        REMOVE_ITEM
            .key(self.keys.contents(of))
            .arg(index)
            .invoke(&mut self.connection)
            .map_err(|e| self.lost(&e))
    }

    /// The first items, in order: at most `count`, and no more once they
    /// reach `bytes` (at least one, when there is one).
    pub fn first_items(
        &mut self,
        of: Contents,
        count: u64,
        bytes: usize,
    ) -> Result<Vec<Vec<u8>>, LostRedis> {
        self.settle()?;
        FIRST_ITEMS
            .key(self.keys.contents(of))
            .arg(count)
            .arg(bytes)
            .invoke(&mut self.connection)
            .map_err(|e| self.lost(&e))
    }

    /// Drops the first item of the list `of`, which must have one.
    pub fn drop_first(&mut self, of: Contents) -> Result<(), LostRedis> {
        self.send(
            redis::cmd("LTRIM")
                .arg(self.keys.contents(of))
                .arg(1)
                .arg(-1),
            Expect::NoError,
        )
    }

    /// Redis does not hold what the run wrote there: as Redis lost.
    pub fn gone(&self, what: &str) -> LostRedis {
        LostRedis::during_run(&self.url, what)
    }

    /// Every item, in order.
    pub fn items(&mut self, of: Contents) -> Result<Vec<Vec<u8>>, LostRedis> {
        self.query(
            redis::cmd("LRANGE")
                .arg(self.keys.contents(of))
                .arg(0)
                .arg(-1),
        )
    }

    /// Empties the list or hash `of`.
    pub fn clear(&mut self, of: Contents) -> Result<(), LostRedis> {
        self.send(
            redis::cmd("UNLINK").arg(self.keys.contents(of)),
            Expect::NoError,
        )
    }

    // ----- hashes: a manager dict's entries ---------------------------------

    pub fn entry(&mut self, of: Contents, key: &str) -> Result<Option<Vec<u8>>, LostRedis> {
        self.query(redis::cmd("HGET").arg(self.keys.contents(of)).arg(key))
    }

    pub fn has_entry(&mut self, of: Contents, key: &str) -> Result<bool, LostRedis> {
        self.query(redis::cmd("HEXISTS").arg(self.keys.contents(of)).arg(key))
    }

    /// Sets the entries `entries`, in one step.
    pub fn set_entries(
        &mut self,
        of: Contents,
        entries: &[(&str, Vec<u8>)],
    ) -> Result<(), LostRedis> {
        if entries.is_empty() {
            return Ok(());
        }
        self.send_script(&SET_FIELDS, self.keys.contents(of), &[], |set| {
            for (key, value) in entries {
                set.arg(*key).arg(value.as_slice());
            }
        })
    }

    /// Takes out the entry `key`, if there is one.
    pub fn remove_entry(&mut self, of: Contents, key: &str) -> Result<Option<Vec<u8>>, LostRedis> {
        self.settle()?;
        REMOVE_ENTRY
            .key(self.keys.contents(of))
            .arg(key)
            .invoke(&mut self.connection)
            .map_err(|e| self.lost(&e))
    }

    pub fn entry_count(&mut self, of: Contents) -> Result<u64, LostRedis> {
        self.query(redis::cmd("HLEN").arg(self.keys.contents(of)))
    }

    /// Every entry, in no particular order.
    pub fn entries(&mut self, of: Contents) -> Result<Vec<RawEntry>, LostRedis> {
        self.query(redis::cmd("HGETALL").arg(self.keys.contents(of)))
    }

    /// A read: after the replies of the writes before it.
    fn query<T: redis::FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T, LostRedis> {
        self.settle()?;
        cmd.query(&mut self.connection).map_err(|e| self.lost(&e))
    }

    fn lost(&self, e: &redis::RedisError) -> LostRedis {
        let reason = e.to_string();
        LostRedis::during_run(&self.url, reason.lines().next().unwrap_or_default())
    }
}

/// What Redis said when it refused a write, as one line: its code and
/// what it said, without where in a script it was.
fn refusal(code: &str, details: Option<&str>) -> String {
    let details = details.unwrap_or_default();
    let details = details.split(" script: ").next().unwrap_or(details);
    format!("{code} {}", details.trim_end_matches(['.', ' ']))
}

/// A script that makes keys: what every one of them starts with. The
/// lease (KEYS[3]) must still be there; `left` is what is left of it.
macro_rules! under_lease {
    () => {
        "
local left = redis.call('PTTL', KEYS[3])
if left <= 0 then return 0 end
"
    };
}

/// ... and what every one ends with: the key KEYS[1] it made is listed in
/// the run's index (KEYS[2]), and both live as long as the lease.
macro_rules! listed {
    () => {
        "
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('PEXPIRE', KEYS[1], left)
redis.call('PEXPIRE', KEYS[2], left)
return 1
"
    };
}

/// Appends ARGV[3].. to the list KEYS[1]; with ARGV[1] not empty, also
/// sets field ARGV[1] of the run's objects (KEYS[4]) to ARGV[2].
static PUSH: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(concat!(
        under_lease!(),
        "
for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[2], KEYS[4])
  redis.call('PEXPIRE', KEYS[4], left)
end
",
        listed!()
    ))
});

/// Puts ARGV[2] before the item at ARGV[1] of the list KEYS[1] (at its
/// end when there is none). In the middle, the item there is swapped for
/// an empty string, which no encoded value is, to mark the place for
/// `LINSERT`: Redis walks the list once and copies nothing.
static INSERT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(concat!(
        under_lease!(),
        "
local at = tonumber(ARGV[1])
if at == 0 then
  redis.call('LPUSH', KEYS[1], ARGV[2])
elseif at >= redis.call('LLEN', KEYS[1]) then
  redis.call('RPUSH', KEYS[1], ARGV[2])
else
  local was = redis.call('LINDEX', KEYS[1], at)
  redis.call('LSET', KEYS[1], at, '')
  redis.call('LINSERT', KEYS[1], 'BEFORE', '', ARGV[2])
  redis.call('LSET', KEYS[1], at + 1, was)
end
",
        listed!()
    ))
});

/// The first items of the list KEYS[1]: at most ARGV[1], and no more once
/// they reach ARGV[2] bytes. Read one by one, so a list of big items gives
/// one, not a batch of them.
static FIRST_ITEMS: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "
local items = {}
local bytes = 0
for i = 0, tonumber(ARGV[1]) - 1 do
  local item = redis.call('LINDEX', KEYS[1], i)
  if not item then break end
  items[#items + 1] = item
  bytes = bytes + #item
  if bytes >= tonumber(ARGV[2]) then break end
end
return items
",
    )
});

/// Takes out the item at ARGV[1] of the list KEYS[1]: it, or nil. The item
/// is swapped for an empty string (which no encoded value is), then that
/// is removed.
static REMOVE_ITEM: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "
local at = tonumber(ARGV[1])
local item = redis.call('LINDEX', KEYS[1], at)
if not item then return false end
redis.call('LSET', KEYS[1], at, '')
redis.call('LREM', KEYS[1], 1, '')
return item
",
    )
});

/// Takes out the field ARGV[1] of the hash KEYS[1]: its value, or nil.
static REMOVE_ENTRY: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then redis.call('HDEL', KEYS[1], ARGV[1]) end
return value
",
    )
});

/// Sets the fields ARGV[1], ARGV[3]... of the hash KEYS[1] (the run's
/// objects, or a dict's entries) to ARGV[2], ARGV[4]...
static SET_FIELDS: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(concat!(
        under_lease!(),
        "
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
",
        listed!()
    ))
});
