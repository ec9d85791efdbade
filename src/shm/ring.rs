//! A queue's ring: a byte ring buffer of encoded items in the arena, so a
//! `put` and a `get` that need no waiting are a copy under a spin lock in
//! the calling process, with no message.
//!
//! The header's `lock` word holds the id of whoever is inside (a process,
//! or `HUB_TAG` for the hub); every change happens under it. Each change is
//! made visible by one store to `head` or `tail` (a record's bytes are
//! written first), so a process killed inside leaves the ring either before
//! or after its change, and the hub can free the lock of a dead holder.
//!
//! `flags` tell a process when it must go through the hub instead:
//! `CLOSED`; `HUB_ITEMS` (the hub holds items that came after the ring's,
//! too big for it or put while it was full, so new puts must queue behind
//! them); `PUTTERS_WAITING` and `GETTERS_WAITING` (the hub has parked
//! processes, so whoever makes room or adds an item tells the hub).
//!
//! The queue's meaning (maxsize, closing, parking) is `store::queue`'s and
//! `script::queue`'s; this is only the memory.

use std::sync::atomic::{AtomicU64, Ordering};

use super::lock_word::owner_tag;
use crate::wire::ProcId;

/// The bytes of one ring: the header's three cache lines, then the data.
pub const RING_BYTES: usize = 64 * 1024;
const HEADER_BYTES: usize = std::mem::size_of::<Header>();
const DATA_BYTES: usize = RING_BYTES - HEADER_BYTES;
const LEN_BYTES: usize = 4;
/// The largest record a ring takes: bigger items stay in the hub.
pub const MAX_RECORD: usize = DATA_BYTES / 4;
/// The lock tag the hub uses.
const HUB_TAG: u32 = u32::MAX;

pub const CLOSED: u64 = 1;
pub const HUB_ITEMS: u64 = 1 << 1;
pub const PUTTERS_WAITING: u64 = 1 << 2;
pub const GETTERS_WAITING: u64 = 1 << 3;

/// A getter polls `tail` and a putter `head`, each on its own cache line,
/// away from the lock both take.
#[repr(C)]
struct Header {
    lock: AtomicU64,
    flags: AtomicU64,
    _line0: [u64; 6],
    /// Items taken (high 32 bits, wrapping) and the read offset (low 32).
    head: AtomicU64,
    _line1: [u64; 7],
    /// Items put (high 32 bits, wrapping) and the write offset (low 32).
    tail: AtomicU64,
    _line2: [u64; 7],
}

/// One ring in the arena.
#[derive(Clone, Copy)]
pub struct Ring {
    base: *mut u8,
}

// SAFETY: the memory is shared between processes on purpose; the header is
// only touched through atomics and the data only under the ring's lock.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

fn count(head: u64, tail: u64) -> u32 {
    ((tail >> 32) as u32).wrapping_sub((head >> 32) as u32)
}

fn offset(position: u64) -> usize {
    (position & 0xFFFF_FFFF) as usize
}

impl Ring {
    /// # Safety
    /// `base` must point at `RING_BYTES` of mapped, shared memory that lives
    /// as long as the process, used for nothing but this ring.
    pub unsafe fn at(base: *mut u8) -> Ring {
        Ring { base }
    }

    fn header(&self) -> &Header {
        // SAFETY: `at`'s contract; zeroed memory is a valid, empty header.
        unsafe { &*self.base.cast::<Header>() }
    }

    /// The hub, when nobody waits: clears `marks` (waiters' flags) if set,
    /// without entering, as only the hub sets or clears them and a process
    /// that reads one stale only sends a needless `Wake`.
    pub fn clear_marks(&self, marks: u64) {
        let flags = &self.header().flags;
        if flags.load(Ordering::Acquire) & marks != 0 {
            flags.fetch_and(!marks, Ordering::AcqRel);
        }
    }

    /// Whether the ring looked empty a moment ago (read without entering:
    /// only a hint for a getter that waits for an item).
    pub fn looks_empty(&self) -> bool {
        let head = self.header().head.load(Ordering::Acquire);
        let tail = self.header().tail.load(Ordering::Acquire);
        count(head, tail) == 0
    }

    /// Enters the ring as process `who`, spinning (and yielding the CPU)
    /// while another is inside; the critical sections are a copy.
    pub fn enter(&self, who: ProcId) -> RingGuard<'_> {
        self.enter_as(owner_tag(who))
    }

    /// Enters the ring as the hub.
    pub fn enter_as_hub(&self) -> RingGuard<'_> {
        self.enter_as(HUB_TAG)
    }

    fn enter_as(&self, tag: u32) -> RingGuard<'_> {
        let lock = &self.header().lock;
        let mut round = 0u32;
        while lock
            .compare_exchange_weak(0, u64::from(tag), Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            round = round.wrapping_add(1);
            if round.is_multiple_of(16) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        RingGuard { ring: self }
    }

    /// The hub, when `who` died: frees the ring if it died inside.
    pub fn free_if_held_by(&self, who: ProcId) -> bool {
        let tag = u64::from(owner_tag(who));
        self.header()
            .lock
            .compare_exchange(tag, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }
}

/// Being inside a ring; leaving it on drop.
pub struct RingGuard<'r> {
    ring: &'r Ring,
}

impl RingGuard<'_> {
    fn header(&self) -> &Header {
        self.ring.header()
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: the data follows the header inside the ring's memory.
        unsafe { self.ring.base.add(HEADER_BYTES) }
    }

    pub fn flags(&self) -> u64 {
        self.header().flags.load(Ordering::Acquire)
    }

    pub fn set_flags(&self, flags: u64) {
        self.header().flags.fetch_or(flags, Ordering::AcqRel);
    }

    pub fn clear_flags(&self, flags: u64) {
        self.header().flags.fetch_and(!flags, Ordering::AcqRel);
    }

    /// How many items the ring holds.
    pub fn len(&self) -> u32 {
        let head = self.header().head.load(Ordering::Acquire);
        let tail = self.header().tail.load(Ordering::Acquire);
        count(head, tail)
    }

    fn used_bytes(&self, head: u64, tail: u64) -> usize {
        (offset(tail) + DATA_BYTES - offset(head)) % DATA_BYTES
    }

    /// Appends one record; false when it does not fit (the ring is never
    /// filled to the last byte, so equal offsets always mean empty).
    pub fn push(&self, record: &[u8]) -> bool {
        let head = self.header().head.load(Ordering::Acquire);
        let tail = self.header().tail.load(Ordering::Acquire);
        let needed = LEN_BYTES + record.len();
        if record.len() > MAX_RECORD || self.used_bytes(head, tail) + needed >= DATA_BYTES {
            return false;
        }
        let start = offset(tail);
        self.copy_in(start, &(record.len() as u32).to_le_bytes());
        self.copy_in((start + LEN_BYTES) % DATA_BYTES, record);
        let next_offset = (start + needed) % DATA_BYTES;
        let items = ((tail >> 32) as u32).wrapping_add(1);
        self.header().tail.store(
            (u64::from(items) << 32) | next_offset as u64,
            Ordering::Release,
        );
        true
    }

    /// Takes the oldest record, if any.
    pub fn pop(&self) -> Option<Vec<u8>> {
        let head = self.header().head.load(Ordering::Acquire);
        let tail = self.header().tail.load(Ordering::Acquire);
        if count(head, tail) == 0 {
            return None;
        }
        let start = offset(head);
        let mut len = [0u8; LEN_BYTES];
        self.copy_out(start, &mut len);
        let len = (u32::from_le_bytes(len) as usize).min(MAX_RECORD);
        let mut record = vec![0u8; len];
        self.copy_out((start + LEN_BYTES) % DATA_BYTES, &mut record);
        let next_offset = (start + LEN_BYTES + len) % DATA_BYTES;
        let items = ((head >> 32) as u32).wrapping_add(1);
        self.header().head.store(
            (u64::from(items) << 32) | next_offset as u64,
            Ordering::Release,
        );
        Some(record)
    }

    /// Copies `bytes` into the data at `at`, wrapping at the end.
    fn copy_in(&self, at: usize, bytes: &[u8]) {
        let first = bytes.len().min(DATA_BYTES - at);
        // SAFETY: both ranges lie inside the data area; we are inside the ring.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data().add(at), first);
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr().add(first),
                self.data(),
                bytes.len() - first,
            );
        }
    }

    /// Copies from the data at `at` into `out`, wrapping at the end.
    fn copy_out(&self, at: usize, out: &mut [u8]) {
        let first = out.len().min(DATA_BYTES - at);
        // SAFETY: as in `copy_in`.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data().add(at), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(
                self.data(),
                out.as_mut_ptr().add(first),
                out.len() - first,
            );
        }
    }
}

impl Drop for RingGuard<'_> {
    fn drop(&mut self) {
        self.header().lock.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(memory: &mut Vec<u64>) -> Ring {
        // SAFETY: the vector outlives every use in the test.
        unsafe { Ring::at(memory.as_mut_ptr().cast()) }
    }

    #[test]
    fn records_come_out_in_order_across_the_wrap() {
        let mut memory = vec![0u64; RING_BYTES / 8];
        let r = ring(&mut memory);
        let g = r.enter(1);
        let mut next_out = 0u32;
        for i in 0..20_000u32 {
            let record = vec![(i % 251) as u8; (i as usize * 7) % 300];
            while !g.push(&record) {
                let got = g.pop().expect("a full ring has records");
                assert_eq!(
                    got,
                    vec![(next_out % 251) as u8; (next_out as usize * 7) % 300]
                );
                next_out += 1;
            }
        }
        while let Some(got) = g.pop() {
            assert_eq!(
                got,
                vec![(next_out % 251) as u8; (next_out as usize * 7) % 300]
            );
            next_out += 1;
        }
        assert_eq!(next_out, 20_000);
        assert_eq!(g.len(), 0);
    }

    #[test]
    fn big_records_are_refused_and_a_dead_holder_is_freed() {
        let mut memory = vec![0u64; RING_BYTES / 8];
        let r = ring(&mut memory);
        let g = r.enter(5);
        assert!(!g.push(&vec![0u8; MAX_RECORD + 1]));
        assert!(g.push(&[1, 2, 3]));
        std::mem::forget(g);
        assert!(!r.free_if_held_by(6));
        assert!(r.free_if_held_by(5));
        let g = r.enter_as_hub();
        assert_eq!(g.len(), 1);
        assert_eq!(g.pop(), Some(vec![1, 2, 3]));
    }
}
