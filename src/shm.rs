//! Shared-memory words between the hub and a child it forks.
//!
//! A `ProgressSlot` is one atomic word in an anonymous `MAP_SHARED` mapping
//! made by the hub before the fork, so both processes see the same memory.
//! A pool worker records the index of the item it is starting (one store, no
//! message), and when the worker dies mid-chunk the hub reads which item it
//! was. The hub owns the mapping and unmaps its view on drop; the child keeps
//! its inherited view until it exits. This is the first of the shared-memory
//! fast paths the hub's design leaves room for.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

const SLOT_LEN: usize = std::mem::size_of::<AtomicU64>();

/// The hub's handle on one slot; unmapped when dropped.
pub struct ProgressSlot {
    word: NonNull<AtomicU64>,
}

/// The child's view of a slot: where it writes its progress.
#[derive(Clone, Copy)]
pub struct ProgressWriter {
    word: NonNull<AtomicU64>,
}

impl ProgressSlot {
    pub fn new() -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping, checked for failure; zero-filled,
        // which is a valid `AtomicU64` (0 = no item started).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SLOT_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let word = NonNull::new(ptr.cast::<AtomicU64>()).ok_or_else(io::Error::last_os_error)?;
        Ok(ProgressSlot { word })
    }

    pub fn writer(&self) -> ProgressWriter {
        ProgressWriter { word: self.word }
    }

    /// The index of the item the child last started, if any.
    pub fn read(&self) -> Option<usize> {
        // SAFETY: the mapping lives as long as `self`.
        let value = unsafe { self.word.as_ref() }.load(Ordering::Acquire);
        value.checked_sub(1).map(|i| i as usize)
    }
}

impl Drop for ProgressSlot {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, once.
        unsafe { libc::munmap(self.word.as_ptr().cast(), SLOT_LEN) };
    }
}

impl ProgressWriter {
    pub fn record(&self, index: usize) {
        // SAFETY: the child inherited the mapping at fork and never unmaps it.
        unsafe { self.word.as_ref() }.store(index as u64 + 1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_seen_through_the_slot() {
        let slot = ProgressSlot::new().unwrap();
        assert_eq!(slot.read(), None);
        slot.writer().record(0);
        assert_eq!(slot.read(), Some(0));
        slot.writer().record(41);
        assert_eq!(slot.read(), Some(41));
    }
}
