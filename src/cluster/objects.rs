//! A run's shared objects in Redis: one hash, `mph:{RUN}:objects`, from
//! each object's id to the object as `store::RedisStore` encodes it. The
//! hash is made, and lives, under the run's lease like every key of the
//! run: listed in its index and given what is left of the lease in the
//! step that writes it, so it expires with a run whose `mphost` was
//! SIGKILLed, and the run's release deletes it.
//!
//! What it must not do: know what an object is (that is the store's), or
//! wait on Redis longer than `connect`'s bound. Any failure is Redis lost:
//! the run ends (exit 69).

use redis::Connection;

pub use super::keys::Contents;
use super::keys::RunKeys;
use super::{LostRedis, RunLease, connect};
use crate::wire::ObjectId;

/// The biggest value Redis takes by default (`proto-max-bulk-len`).
pub const LARGEST_OBJECT: usize = 512 * 1024 * 1024;

/// A hash's field and value, as Redis has them.
pub type RawEntry = (Vec<u8>, Vec<u8>);

/// The hub's connection to its run's objects.
pub struct RunObjects {
    connection: Connection,
    keys: RunKeys,
    /// The URL as it may be printed.
    url: String,
}

impl RunObjects {
    /// Opens a connection of its own to the Redis of `lease`'s run.
    pub fn open(lease: &RunLease) -> Result<RunObjects, LostRedis> {
        let url = lease.cluster().to_string();
        let connection = connect::open(lease.cluster())
            .map_err(|e| LostRedis::during_run(&url, &e.to_string()))?;
        Ok(RunObjects {
            connection,
            keys: lease.keys().clone(),
            url,
        })
    }

    /// The objects `ids`, encoded, in that order; `None` for an id the
    /// hash does not have.
    pub fn load(&mut self, ids: &[ObjectId]) -> Result<Vec<Option<Vec<u8>>>, LostRedis> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        redis::cmd("HMGET")
            .arg(self.keys.objects())
            .arg(ids)
            .query(&mut self.connection)
            .map_err(|e| self.lost(&e))
    }

    /// Stores `objects` (id and encoding) in one step, under the lease.
    pub fn save(&mut self, objects: &[(ObjectId, Vec<u8>)]) -> Result<(), LostRedis> {
        if objects.is_empty() {
            return Ok(());
        }
        let mut save = SET_FIELDS.prepare_invoke();
        save.key(self.keys.objects())
            .key(self.keys.index())
            .key(self.keys.lease());
        for (id, bytes) in objects {
            save.arg(*id).arg(bytes.as_slice());
        }
        let saved: i64 = save
            .invoke(&mut self.connection)
            .map_err(|e| self.lost(&e))?;
        self.under_lease(saved)
    }

    /// Deletes object `id`, and the keys of its contents.
    pub fn remove(&mut self, id: ObjectId, contents: &[Contents]) -> Result<(), LostRedis> {
        let mut pipe = redis::pipe();
        pipe.cmd("HDEL").arg(self.keys.objects()).arg(id).ignore();
        for &of in contents {
            let key = self.keys.contents(of);
            pipe.cmd("UNLINK").arg(&key).ignore();
            pipe.cmd("SREM").arg(self.keys.index()).arg(&key).ignore();
        }
        pipe.query::<()>(&mut self.connection)
            .map_err(|e| self.lost(&e))
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
        let mut push = PUSH.prepare_invoke();
        push.key(self.keys.contents(of))
            .key(self.keys.index())
            .key(self.keys.lease())
            .key(self.keys.objects());
        match head {
            Some((id, bytes)) => push.arg(id).arg(bytes),
            None => push.arg("").arg(""),
        };
        for item in items {
            push.arg(item.as_slice());
        }
        let pushed: i64 = push
            .invoke(&mut self.connection)
            .map_err(|e| self.lost(&e))?;
        self.under_lease(pushed)
    }

    pub fn len(&mut self, of: Contents) -> Result<u64, LostRedis> {
        self.query(redis::cmd("LLEN").arg(self.keys.contents(of)))
    }

    pub fn pop_front(&mut self, of: Contents) -> Result<Option<Vec<u8>>, LostRedis> {
        self.query(redis::cmd("LPOP").arg(self.keys.contents(of)))
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
        self.query(
            redis::cmd("LSET")
                .arg(self.keys.contents(of))
                .arg(index)
                .arg(item),
        )
    }

    /// Puts `item` before the item at `index` (at the end when there is
    /// none).
    pub fn insert(&mut self, of: Contents, index: u64, item: &[u8]) -> Result<(), LostRedis> {
        let inserted: i64 = INSERT
            .key(self.keys.contents(of))
            .key(self.keys.index())
            .key(self.keys.lease())
            .arg(index)
            .arg(item)
            .invoke(&mut self.connection)
            .map_err(|e| self.lost(&e))?;
        self.under_lease(inserted)
    }

    /// Takes out the item at `index`, which must exist.
    pub fn remove_item(&mut self, of: Contents, index: u64) -> Result<Option<Vec<u8>>, LostRedis> {
        REMOVE_ITEM
            .key(self.keys.contents(of))
            .arg(index)
            .invoke(&mut self.connection)
            .map_err(|e| self.lost(&e))
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
        self.query(redis::cmd("UNLINK").arg(self.keys.contents(of)))
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
        let mut set = SET_FIELDS.prepare_invoke();
        set.key(self.keys.contents(of))
            .key(self.keys.index())
            .key(self.keys.lease());
        for (key, value) in entries {
            set.arg(*key).arg(value.as_slice());
        }
        let stored: i64 = set
            .invoke(&mut self.connection)
            .map_err(|e| self.lost(&e))?;
        self.under_lease(stored)
    }

    /// Takes out the entry `key`, if there is one.
    pub fn remove_entry(&mut self, of: Contents, key: &str) -> Result<Option<Vec<u8>>, LostRedis> {
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

    fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T, LostRedis> {
        cmd.query(&mut self.connection).map_err(|e| self.lost(&e))
    }

    /// What a script that makes keys answered: 0 when the lease was gone.
    fn under_lease(&self, answer: i64) -> Result<(), LostRedis> {
        match answer {
            0 => Err(LostRedis::during_run(
                &self.url,
                "the run's lease had lapsed",
            )),
            _ => Ok(()),
        }
    }

    fn lost(&self, e: &redis::RedisError) -> LostRedis {
        let reason = e.to_string();
        LostRedis::during_run(&self.url, reason.lines().next().unwrap_or_default())
    }
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
/// end when there is none).
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
  local tail = redis.call('LRANGE', KEYS[1], at, -1)
  redis.call('LTRIM', KEYS[1], 0, at - 1)
  redis.call('RPUSH', KEYS[1], ARGV[2])
  for _, item in ipairs(tail) do redis.call('RPUSH', KEYS[1], item) end
end
",
        listed!()
    ))
});

/// Takes out the item at ARGV[1] of the list KEYS[1]: it, or nil.
static REMOVE_ITEM: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "
local at = tonumber(ARGV[1])
local item = redis.call('LINDEX', KEYS[1], at)
if not item then return false end
if at == 0 then
  redis.call('LPOP', KEYS[1])
else
  local tail = redis.call('LRANGE', KEYS[1], at + 1, -1)
  redis.call('LTRIM', KEYS[1], 0, at - 1)
  for _, rest in ipairs(tail) do redis.call('RPUSH', KEYS[1], rest) end
end
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
