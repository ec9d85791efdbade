//! The names of cluster mode's keys in Redis: the one place they are made.
//!
//! A run's keys are all under `mph:{RUN}:` (one hash tag per run) and live
//! under its lease (`lease.rs`). Two keys are shared by every run and
//! host of a version: `ready()`, the list of tickets that tell hosts a
//! run has a worker to start, and `HOSTS`, the registered hosts by their
//! last beat. Each
//! host has `mph:host:{NAME}`.

/// The list of tickets (a run's prefix, one per worker it queued) that
/// hosts of this mphost version wait on: a host of another version never
/// sees this version's runs.
pub fn ready() -> String {
    format!("mph:ready:{}", env!("CARGO_PKG_VERSION"))
}

/// The registered hosts, scored by the Redis time of their last beat.
pub const HOSTS: &str = "mph:hosts";

/// A host's own key: its pid, version, worker count and last beat.
pub fn host(name: &str) -> String {
    format!("mph:host:{name}")
}

/// The contents of one collection object (`RunKeys::contents`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contents {
    /// A queue's or a manager list's items (a list).
    Items(u64),
    /// What waits to be received at one end of a pipe (a list).
    Inbox(u64, u8),
    /// A manager dict's entries (a hash).
    Entries(u64),
}

/// The keys of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunKeys {
    /// `mph:{RUN}:`
    prefix: String,
}

impl RunKeys {
    /// The keys of the run named `run` (letters, digits, `.` and `-`).
    pub fn new(run: &str) -> RunKeys {
        RunKeys {
            prefix: format!("mph:{{{run}}}:"),
        }
    }

    /// The keys named by a prefix read from Redis (a `ready()` ticket), if it
    /// is one a run makes; anything else is refused.
    pub fn from_prefix(prefix: &str) -> Option<RunKeys> {
        let run = prefix.strip_prefix("mph:{")?.strip_suffix("}:")?;
        let fair = !run.is_empty()
            && run
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
        fair.then(|| RunKeys::new(run))
    }

    /// `mph:{RUN}:`, as a `ready()` ticket names the run.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The run as messages name it: what is between the braces.
    pub fn run(&self) -> &str {
        &self.prefix[5..self.prefix.len() - 2]
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The lease every other key's life follows.
    pub fn lease(&self) -> String {
        self.key("lease")
    }

    /// The set of every other key of the run.
    pub fn index(&self) -> String {
        self.key("keys")
    }

    /// A key the run stores with `RunLease::put`.
    pub fn named(&self, name: &str) -> String {
        self.key(name)
    }

    /// The script and mphost version (`wire::RunScript`).
    pub fn script(&self) -> String {
        self.key("script")
    }

    /// Workers queued for the hosts (`wire::RemoteStart`).
    pub fn starts(&self) -> String {
        self.key("starts")
    }

    /// Which host took each queued worker (id to host), until it says it
    /// started it.
    pub fn taken(&self) -> String {
        self.key("taken")
    }

    /// Messages from hosts to the run (`wire::Up`).
    pub fn up(&self) -> String {
        self.key("up")
    }

    /// The hosts the run declared lost: their messages are refused.
    pub fn fenced(&self) -> String {
        self.key("fenced")
    }

    /// The run's shared objects: a hash of each object's id to the object,
    /// encoded (`store::RedisStore`); a collection's there is its head (its
    /// settings and flags), its contents are in `contents`.
    pub fn objects(&self) -> String {
        self.key("objects")
    }

    /// Where the contents of a collection are: a list of a queue's or a
    /// manager list's items, or of what waits at one end of a pipe; a hash
    /// of a manager dict's entries.
    pub fn contents(&self, of: Contents) -> String {
        match of {
            Contents::Items(id) => self.key(&format!("items:{id}")),
            Contents::Inbox(id, end) => self.key(&format!("inbox:{id}:{end}")),
            Contents::Entries(id) => self.key(&format!("entries:{id}")),
        }
    }

    /// Messages from the run to its remote worker `id` (`wire::Down`).
    pub fn down(&self, id: u64) -> String {
        self.key(&format!("down:{id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_names_a_run_only_in_the_form_a_run_makes() {
        let keys = RunKeys::new("box-1f-2a");
        assert_eq!(keys.prefix(), "mph:{box-1f-2a}:");
        assert_eq!(keys.run(), "box-1f-2a");
        assert_eq!(RunKeys::from_prefix(keys.prefix()), Some(keys.clone()));
        assert_eq!(keys.down(7), "mph:{box-1f-2a}:down:7");
        for bad in [
            "",
            "mph:{}:",
            "mph:{a}",
            "mph:{a b}:",
            "mph:{a}:x",
            "mph:{*}:",
        ] {
            assert_eq!(RunKeys::from_prefix(bad), None, "{bad}");
        }
    }
}
