//! Shared memory between the hub and the interpreters it starts.
//!
//! Everything here lives in `MAP_SHARED` mappings of memfds that the hub
//! makes before it forks, so a forked child sees the same memory, and an
//! exec'd worker maps the same memfd, passed as a descriptor. Two kinds:
//! - `progress`: one word per pool worker, the item it is on, read by the hub
//!   when the worker dies mid-chunk;
//! - `arena` and `lock_word`: the words behind locks and rlocks, so an
//!   uncontended `acquire`/`release` is one atomic instruction instead of a
//!   round trip to the hub. The hub stays the owner: it hands out the words,
//!   parks the waiters of a contended lock, and frees a dead holder's lock.
//! - `ring`: a queue's items, so a `put` with room and a `get` with an item
//!   are a copy in the calling process; the hub parks whoever must wait and
//!   keeps what does not fit.
//!
//! Nothing here sends messages or blocks; the protocols are in the callers.

mod arena;
mod lock_word;
mod progress;
pub mod ring;

pub use arena::{Arena, Slots};
pub use lock_word::{LockWord, Released, SharedWord};
pub use progress::{ProgressSlot, ProgressWriter};

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;

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
