//! Shared memory between the hub and the interpreters it starts. It depends
//! on nothing else in the crate: a process is a plain number here, and what
//! the memory means (a lock, a queue) is the store's and the bindings'.
//!
//! Everything here lives in `MAP_SHARED` mappings of memfds that the hub
//! makes before it forks, so a forked child sees the same memory, and an
//! exec'd worker maps the same memfd, passed as a descriptor. Two kinds:
//! - `crash_item`: one word per pool worker, the item it is on, read by the hub
//!   when the worker dies mid-chunk;
//! - `arena` and `lock_word`: the words behind locks and rlocks, so an
//!   uncontended `acquire`/`release` is one atomic instruction instead of a
//!   round trip to the hub. The hub stays the owner: it hands out the words
//!   (and takes back those of freed locks, to hand out again zeroed), parks the waiters of a contended lock, and frees a dead holder's lock.
//! - `ring`: a queue's items (or a manager list's pushes), so a `put` with
//!   room, a `get` with an item and a list's `push` are a copy in the
//!   calling process; the hub parks whoever must wait and keeps what does
//!   not fit.
//!
//! Nothing here sends messages or blocks; the protocols are in the callers.

/// A process as shared memory knows it: the hub's number for it, a plain
/// integer (`wire::ProcId` is the same number), so this module depends on
/// nothing above it.
pub type ProcessNumber = u64;

mod arena;
mod crash_item;
mod lock_word;
pub mod ring;

#[cfg(test)]
pub use arena::ARENA_RINGS;
pub use arena::{Arena, Slots};
pub use crash_item::{ProgressSlot, ProgressWriter, job_tag};
pub use lock_word::{LockWord, Released, SharedWord, owner_tag};

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

/// How long a process spins on shared memory before it asks the hub to
/// park it: long enough for a holder on another CPU to let go, short
/// enough that waiting is the hub's business (time-outs, deadlocks).
pub const SPIN: Duration = Duration::from_micros(50);

/// What one try of `spin` found.
pub enum Try<T> {
    Done(T),
    Again,
    GiveUp,
}

/// Calls `attempt` until it is done or gives up, or `limit` (at most
/// `SPIN`) has passed; between tries it spins, yielding the CPU every 32.
pub fn spin<T>(limit: Duration, mut attempt: impl FnMut() -> Try<T>) -> Option<T> {
    let limit = limit.min(SPIN);
    let started = Instant::now();
    for round in 1u32.. {
        match attempt() {
            Try::Done(value) => return Some(value),
            Try::GiveUp => return None,
            Try::Again => {}
        }
        if round.is_multiple_of(32) {
            if started.elapsed() >= limit {
                return None;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    None
}

/// The spinning allowed for a call with `timeout` seconds (none: `SPIN`).
pub fn spin_limit(timeout: Option<f64>) -> Duration {
    timeout.map_or(SPIN, |t| Duration::try_from_secs_f64(t).unwrap_or(SPIN))
}

/// Maps the first `len` bytes of `memfd`, shared with every other mapping of it.
fn map_shared<T>(memfd: &OwnedFd, len: usize) -> io::Result<NonNull<T>> {
    // SAFETY: a fresh mapping of a memfd at least `len` long, checked for
    // failure; callers only read and write it through atomics.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            memfd.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast::<T>()).ok_or_else(io::Error::last_os_error)
}
