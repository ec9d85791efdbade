//! The protocol of a lock or rlock held in one shared 64-bit word.
//!
//! ```text
//! bits  0..32  owner: the holder's process id in the hub's numbering (0: free)
//! bits 32..63  depth: how many times its owner holds it (always 1 for a lock)
//! bit  63      waiting: the hub has parked processes that wait for it
//! ```
//!
//! A process takes a free word, and gives back one it holds while nobody
//! waits, each with one compare-and-swap: no message. Everything else goes
//! through the hub, whose single thread serialises it: when an `acquire`
//! finds the lock held it sets `waiting` and parks the caller; a holder that
//! then sees `waiting` releases through the hub, which hands the lock to the
//! next waiter; the hub clears `waiting` when nobody waits any more, and
//! frees the lock of a process that died holding it. A process killed
//! mid-operation leaves the word either before or after its one swap.
//!
//! This module is only the word's arithmetic; who calls what, and when a
//! message must go first, is the business of `script::lock` and the store.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ProcessNumber;

const OWNER_MASK: u64 = 0xFFFF_FFFF;
const DEPTH_ONE: u64 = 1 << 32;
const DEPTH_MAX: u64 = (1 << 31) - 1;
const WAITING: u64 = 1 << 63;

fn owner(word: u64) -> u32 {
    (word & OWNER_MASK) as u32
}

fn depth(word: u64) -> u64 {
    (word & !WAITING) >> 32
}

/// The owner field for process `who`. Ids past `u32::MAX` (four billion
/// processes in one run) share the last value.
pub fn owner_tag(who: ProcessNumber) -> u32 {
    u32::try_from(who).unwrap_or(u32::MAX)
}

/// A lock word in the arena, or in the hub's own memory when the arena is
/// full or absent (then every operation on it goes through the hub).
pub enum SharedWord {
    Arena(&'static AtomicU64),
    Private(Box<AtomicU64>),
}

impl Deref for SharedWord {
    type Target = AtomicU64;

    fn deref(&self) -> &AtomicU64 {
        match self {
            SharedWord::Arena(word) => word,
            SharedWord::Private(word) => word,
        }
    }
}

/// What a release did.
#[derive(Debug, PartialEq, Eq)]
pub enum Released {
    /// The lock is free.
    Free,
    /// An rlock its owner still holds, one level less deep.
    StillHeld,
    /// Nobody holds it.
    NotHeld,
    /// An rlock held by another process.
    NotOwner,
    /// Processes wait for it: only the hub may release it, to hand it on.
    ThroughHub,
}

impl Released {
    /// The error a refused release raises, for a lock of kind `noun`
    /// ("lock" or "rlock"): the same whether the process or the hub found it.
    pub fn refusal(&self, noun: &str) -> Option<String> {
        match self {
            Released::NotHeld => Some(format!("release: the {noun} is not held")),
            Released::NotOwner => Some("release: this rlock is held by another process".into()),
            Released::Free | Released::StillHeld | Released::ThroughHub => None,
        }
    }
}

/// A lock's word, seen as a lock (`reentrant: false`: any process may
/// release it, as in Python) or an rlock (only the owner releases; it counts).
pub struct LockWord<'a> {
    word: &'a AtomicU64,
    reentrant: bool,
}

impl<'a> LockWord<'a> {
    pub fn new(word: &'a AtomicU64, reentrant: bool) -> Self {
        LockWord { word, reentrant }
    }

    fn load(&self) -> u64 {
        self.word.load(Ordering::Acquire)
    }

    /// Takes it for `who`, `depth` times over, if it is free or (an rlock)
    /// already `who`'s; false when another process holds it.
    pub fn try_acquire(&self, who: ProcessNumber, depth_added: u64) -> bool {
        let who = owner_tag(who);
        let mut current = self.word.load(Ordering::Relaxed);
        loop {
            let next = if owner(current) == 0 {
                if depth_added == 0 || depth_added > DEPTH_MAX {
                    return false;
                }
                u64::from(who) | (depth_added << 32) | (current & WAITING)
            } else if self.reentrant && owner(current) == who {
                match depth(current).checked_add(depth_added) {
                    Some(d) if d <= DEPTH_MAX => current + (depth_added << 32),
                    _ => return false,
                }
            } else {
                return false;
            };
            match self.word.compare_exchange_weak(
                current,
                next,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// The hub's acquire: takes it, or marks that a process waits for it
    /// (the caller then parks); true when taken.
    pub fn acquire_or_mark_waiting(&self, who: ProcessNumber, depth_added: u64) -> bool {
        loop {
            if self.try_acquire(who, depth_added) {
                return true;
            }
            let current = self.word.load(Ordering::Relaxed);
            if owner(current) == 0 {
                continue;
            }
            if current & WAITING != 0
                || self
                    .word
                    .compare_exchange(
                        current,
                        current | WAITING,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                return false;
            }
        }
    }

    /// Releases one level for `who`. A process passes `by_hub: false` and
    /// gets `ThroughHub` when others wait; the hub passes `true` and keeps
    /// the `waiting` mark for the waiters it is about to serve.
    pub fn release(&self, who: ProcessNumber, by_hub: bool) -> Released {
        let who = owner_tag(who);
        let mut current = self.word.load(Ordering::Relaxed);
        loop {
            if owner(current) == 0 {
                return Released::NotHeld;
            }
            if self.reentrant && owner(current) != who {
                return Released::NotOwner;
            }
            if current & WAITING != 0 && !by_hub {
                return Released::ThroughHub;
            }
            let (next, released) = if self.reentrant && depth(current) > 1 {
                (current - DEPTH_ONE, Released::StillHeld)
            } else {
                (current & WAITING, Released::Free)
            };
            match self.word.compare_exchange_weak(
                current,
                next,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return released,
                Err(now) => current = now,
            }
        }
    }

    /// The hub frees it whoever holds it (a condition's wait, a dead
    /// holder) and says how deep it was held; the mark stays.
    pub fn release_all(&self) -> u64 {
        let previous = self.word.fetch_and(WAITING, Ordering::AcqRel);
        if owner(previous) == 0 {
            0
        } else {
            depth(previous)
        }
    }

    /// The hub, when nobody waits any more: holders may release on their own.
    pub fn clear_waiting(&self) {
        if self.has_waiters() {
            self.word.fetch_and(!WAITING, Ordering::AcqRel);
        }
    }

    pub fn is_locked(&self) -> bool {
        owner(self.load()) != 0
    }

    pub fn is_held_by(&self, who: ProcessNumber) -> bool {
        owner(self.load()) == owner_tag(who)
    }

    /// Whether the hub has marked waiters.
    pub fn has_waiters(&self) -> bool {
        self.load() & WAITING != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_taken_once_and_released_by_anyone() {
        let word = AtomicU64::new(0);
        let lock = LockWord::new(&word, false);
        assert!(lock.try_acquire(1, 1));
        assert!(!lock.try_acquire(1, 1), "a lock does not re-enter");
        assert!(!lock.try_acquire(2, 1));
        assert!(lock.is_held_by(1) && lock.is_locked());
        assert_eq!(lock.release(2, false), Released::Free);
        assert_eq!(lock.release(2, false), Released::NotHeld);
        assert!(!lock.is_locked());
    }

    #[test]
    fn an_rlock_counts_and_only_its_owner_releases() {
        let word = AtomicU64::new(0);
        let lock = LockWord::new(&word, true);
        assert!(lock.try_acquire(7, 1));
        assert!(lock.try_acquire(7, 2));
        assert!(!lock.try_acquire(8, 1));
        assert_eq!(lock.release(8, false), Released::NotOwner);
        assert_eq!(lock.release(7, false), Released::StillHeld);
        assert_eq!(lock.release_all(), 2);
        assert!(!lock.is_locked());
    }

    #[test]
    fn with_waiters_a_holder_releases_through_the_hub() {
        let word = AtomicU64::new(0);
        let lock = LockWord::new(&word, false);
        assert!(lock.try_acquire(1, 1));
        assert!(!lock.acquire_or_mark_waiting(2, 1));
        assert!(lock.has_waiters());
        assert_eq!(lock.release(1, false), Released::ThroughHub);
        assert!(lock.is_held_by(1), "a refused release changes nothing");
        assert_eq!(lock.release(1, true), Released::Free);
        assert!(lock.has_waiters(), "the hub keeps the mark for its waiters");
        assert!(lock.try_acquire(2, 1));
        lock.clear_waiting();
        assert_eq!(lock.release(2, false), Released::Free);
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_free_word_is_taken_by_the_hub_instead_of_marked() {
        let word = AtomicU64::new(0);
        let lock = LockWord::new(&word, true);
        assert!(lock.acquire_or_mark_waiting(3, 4));
        assert!(!lock.has_waiters());
        assert_eq!(lock.release_all(), 4);
    }

    #[test]
    fn two_threads_never_hold_it_together() {
        let word = AtomicU64::new(0);
        let inside = AtomicU64::new(0);
        std::thread::scope(|s| {
            for who in 1..=2 {
                let (word, inside) = (&word, &inside);
                s.spawn(move || {
                    let lock = LockWord::new(word, false);
                    for _ in 0..20_000 {
                        while !lock.try_acquire(who, 1) {
                            std::hint::spin_loop();
                        }
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        assert_eq!(lock.release(who, false), Released::Free);
                    }
                });
            }
        });
    }
}
