//! A pool worker's progress word.
//!
//! A `ProgressSlot` is one atomic word in a `MAP_SHARED` mapping of a memfd
//! made by the hub before the fork, so both processes see the same memory
//! (a worker started with `exec` maps the same memfd, passed as a descriptor).
//! A pool worker records the index of the item it is starting (one store, no
//! message), and when the worker dies mid-chunk the hub reads which item it
//! was. The hub owns the mapping and unmaps its view on drop; the child keeps
//! its inherited view until it exits.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

const SLOT_LEN: usize = std::mem::size_of::<AtomicU64>();
/// The word holds the item's index (plus one, 0 meaning none) in its low 40
/// bits and the low 24 bits of its job's id above them, so chunks of two
/// jobs with the same item numbers are told apart.
const INDEX_BITS: u32 = 40;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

/// The part of a job's id a progress word keeps.
pub fn job_tag(job: u64) -> u64 {
    job & ((1 << (64 - INDEX_BITS)) - 1)
}

/// The hub's handle on one slot; unmapped when dropped.
pub struct ProgressSlot {
    word: NonNull<AtomicU64>,
    memfd: OwnedFd,
}

/// The child's view of a slot: where it writes its progress.
#[derive(Clone, Copy)]
pub struct ProgressWriter {
    word: NonNull<AtomicU64>,
    /// The memfd behind it, open in the hub (and a forked child) while the
    /// slot lives; -1 in an exec'd worker, which mapped it and closed it.
    fd: RawFd,
}

// SAFETY: the slot is a mapping of its own memfd, valid until dropped,
// whose one word is only read atomically: any thread may own it (a worker
// host reads it from the thread that reaps the worker).
unsafe impl Send for ProgressSlot {}

impl ProgressSlot {
    pub fn new() -> io::Result<Self> {
        let memfd = nix::sys::memfd::memfd_create(
            c"mphost-progress",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        )?;
        nix::unistd::ftruncate(&memfd, SLOT_LEN as i64)?;
        let word = super::map_shared(&memfd, SLOT_LEN)?;
        Ok(ProgressSlot { word, memfd })
    }

    pub fn writer(&self) -> ProgressWriter {
        ProgressWriter {
            word: self.word,
            fd: self.memfd.as_raw_fd(),
        }
    }

    /// The item the child last started, if any: its job (the low 24 bits
    /// of the job's id) and its index.
    pub fn read(&self) -> Option<(u64, usize)> {
        // SAFETY: the mapping lives as long as `self`.
        let value = unsafe { self.word.as_ref() }.load(Ordering::Acquire);
        let index = (value & INDEX_MASK).checked_sub(1)?;
        Some((value >> INDEX_BITS, index as usize))
    }
}

impl Drop for ProgressSlot {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, once.
        unsafe { libc::munmap(self.word.as_ptr().cast(), SLOT_LEN) };
    }
}

impl ProgressWriter {
    /// An exec'd worker's view of the slot whose memfd it was passed.
    pub fn map(memfd: OwnedFd) -> io::Result<ProgressWriter> {
        let word = super::map_shared(&memfd, SLOT_LEN)?;
        Ok(ProgressWriter { word, fd: -1 })
    }

    /// The slot's memfd, to pass to a worker started with `exec`.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Records that item `index` of job `job` starts.
    pub fn record(&self, job: u64, index: usize) {
        let word = (job_tag(job) << INDEX_BITS) | ((index as u64 + 1) & INDEX_MASK);
        // SAFETY: the child inherited the mapping at fork and never unmaps it.
        unsafe { self.word.as_ref() }.store(word, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_seen_through_the_slot() {
        let slot = ProgressSlot::new().unwrap();
        assert_eq!(slot.read(), None);
        slot.writer().record(1, 0);
        assert_eq!(slot.read(), Some((1, 0)));
        slot.writer().record(7, 41);
        assert_eq!(slot.read(), Some((7, 41)));
        slot.writer().record((1 << 24) + 3, 5);
        assert_eq!(slot.read(), Some((3, 5)), "the job's low 24 bits");
    }
}
