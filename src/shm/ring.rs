//! A ring: a byte ring buffer of encoded items in the arena, so a queue's
//! `put` and `get`, or a manager list's `push`, that need no waiting are a
//! copy under a spin lock in the calling process, with no message.
//!
//! The header's `lock` word holds the tag of whoever is inside (a process's
//! id, or `HUB_TAG` for the hub); every change happens under it. Each change
//! is made visible by one store to `head` or `tail` (a record's bytes are
//! written first), so a process killed inside leaves the ring either before
//! or after its change, whole.
//!
//! Nobody waits on the lock for ever, and the types say so:
//! - `HubRing` is the hub's view. Its only way in is `try_enter`, a few
//!   compare-and-swaps that end in `Held` when another process is inside;
//!   the hub then puts the operation back and tries it after its event
//!   loop's next turn, or, when the holder is dead, takes the ring over
//!   (`free_if_held_by`) and goes on.
//! - `ProcRing` is an interpreter's. `enter_within` spins for a bounded time
//!   and then gives up: the caller sends its operation to the hub instead,
//!   which knows who is alive.
//!
//! Shared memory is untrusted input: a process may write anything into it,
//! or die between any two stores. Every offset, count and length read from
//! the ring is checked before a copy (`Corrupt`), so nothing is read or
//! written outside the ring; the hub then gives the ring up (`POISONED`) and
//! the object goes on through the hub alone.
//!
//! `flags` tell a process when it must go through the hub instead:
//! `CLOSED`; `HUB_ITEMS` (the hub holds items that came after the ring's,
//! too big for it or put while it was full, so new puts must queue behind
//! them); `PUTTERS_WAITING` and `GETTERS_WAITING` (the hub has parked
//! processes, so whoever makes room or adds an item tells the hub);
//! `POISONED` (the hub found the ring damaged and no longer reads it);
//! `HUB_FIRST` (the hub keeps operations on the object that found the ring
//! held, so a put or push must go behind them, through the hub).
//!
//! The queue's meaning (maxsize, closing, parking) is `store::queue`'s and
//! `script::queue`'s; this is only the memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::ProcessNumber;
use super::lock_word::owner_tag;

/// The bytes of one ring: the header's three cache lines, then the data.
/// 512 KiB, taking records up to half of it, so that batches of a few
/// thousand lines go from process to process without the hub: 64 KiB rings
/// (records up to 16 KiB) sent a pipeline's 130 KB batches through the
/// hub's decode and encode (1.8 to 1.3-1.6 s for the pipeline data job).
/// Rings of 1 MiB did as well there but made small items 10-20% slower
/// (200,000 ints through a queue, a manager list's pushes: the consumer
/// reads what the producer wrote too long before, out of cache); 512 KiB
/// keeps those at 0.96-1.0x of 64 KiB rings. Only the pages a queue's
/// records have passed through are ever touched; they stay resident while
/// the run lasts (shared memory, at most 32 MiB with every ring busy).
/// Copying a 256 KiB record under the lock takes tens of microseconds,
/// within a spinning process's bound; past it, that process goes through
/// the hub.
pub const RING_BYTES: usize = 512 * 1024;
const HEADER_BYTES: usize = std::mem::size_of::<Header>();
const DATA_BYTES: usize = RING_BYTES - HEADER_BYTES;
const LEN_BYTES: usize = 4;
/// The largest record a ring takes: bigger items stay in the hub. Half the
/// ring, so a batch of 2,000 lines fits beside the one being read.
pub const MAX_RECORD: usize = DATA_BYTES / 2;
/// The lock tag the hub uses.
const HUB_TAG: u32 = u32::MAX;
/// How many times the hub tries the lock before it reports `Held`: a
/// holder copying a record lets go within a few of them.
const HUB_TRIES: u32 = 64;

pub const CLOSED: u64 = 1;
pub const HUB_ITEMS: u64 = 1 << 1;
pub const PUTTERS_WAITING: u64 = 1 << 2;
pub const GETTERS_WAITING: u64 = 1 << 3;
pub const POISONED: u64 = 1 << 4;
pub const HUB_FIRST: u64 = 1 << 5;

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

/// What made a ring's contents impossible: read from shared memory, so
/// possibly anything a process wrote there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corrupt {
    #[error("an offset past its end ({0})")]
    Offset(usize),
    #[error("{items} items in {bytes} bytes")]
    Count { items: u32, bytes: usize },
    #[error("a record of {len} bytes where {room} remain")]
    Record { len: usize, room: usize },
    #[error("an item of {0} bytes that is no value")]
    Item(usize),
}

/// The ring was held by someone else: `holder` is the lock word as read
/// (a process's tag, or whatever a process wrote there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub holder: u64,
}

impl Held {
    /// The process it names, if the tag is one the hub hands out.
    pub fn process(&self) -> Option<ProcessNumber> {
        (self.holder != 0 && self.holder < u64::from(HUB_TAG)).then_some(self.holder)
    }
}

/// The memory of one ring in the arena; used through `HubRing` or `ProcRing`.
#[derive(Clone, Copy)]
struct Ring {
    base: *mut u8,
}

fn count(head: u64, tail: u64) -> u32 {
    ((tail >> 32) as u32).wrapping_sub((head >> 32) as u32)
}

fn offset(position: u64) -> usize {
    (position & 0xFFFF_FFFF) as usize
}

impl Ring {
    fn header(&self) -> &Header {
        // SAFETY: the constructors' contract; zeroed memory is a valid,
        // empty header, and it is only touched through atomics.
        unsafe { &*self.base.cast::<Header>() }
    }

    fn try_lock(&self, tag: u32) -> bool {
        self.header()
            .lock
            .compare_exchange_weak(0, u64::from(tag), Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn flags(&self) -> u64 {
        self.header().flags.load(Ordering::Acquire)
    }
}

/// The hub's view of a ring: it never waits to enter.
#[derive(Clone, Copy)]
pub struct HubRing(Ring);

/// An interpreter's view of a ring: it waits a bounded time to enter.
#[derive(Clone, Copy)]
pub struct ProcRing(Ring);

// SAFETY: the memory is shared between processes on purpose; the header is
// only touched through atomics and the data only under the ring's lock.
unsafe impl Send for HubRing {}
// SAFETY: as above.
unsafe impl Sync for HubRing {}
// SAFETY: as above.
unsafe impl Send for ProcRing {}
// SAFETY: as above.
unsafe impl Sync for ProcRing {}

impl HubRing {
    /// # Safety
    /// `base` must point at `RING_BYTES` of mapped, shared memory that lives
    /// as long as the process, used for nothing but this ring.
    pub unsafe fn at(base: *mut u8) -> HubRing {
        HubRing(Ring { base })
    }

    /// Enters the ring as the hub, or says who is inside.
    pub fn try_enter(&self) -> Result<RingGuard<'_>, Held> {
        for _ in 0..HUB_TRIES {
            if self.0.try_lock(HUB_TAG) {
                return Ok(RingGuard { ring: &self.0 });
            }
            std::hint::spin_loop();
        }
        Err(Held {
            holder: self.0.header().lock.load(Ordering::Acquire),
        })
    }

    /// Takes the ring over from a dead holder (`holder` as `Held` read it):
    /// each change is one store, so the ring is whole. False when someone
    /// else is inside by now.
    pub fn free_if_held_by(&self, holder: u64) -> bool {
        holder != 0
            && self
                .0
                .header()
                .lock
                .compare_exchange(holder, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Frees the ring if process `who` died inside it.
    #[cfg(test)]
    pub fn free_if_held_by_process(&self, who: ProcessNumber) -> bool {
        self.free_if_held_by(u64::from(owner_tag(who)))
    }

    /// Whether parked processes wait on it (a process that adds an item or
    /// makes room would then have sent a `Wake`).
    pub fn has_waiter_marks(&self) -> bool {
        self.0.flags() & (GETTERS_WAITING | PUTTERS_WAITING) != 0
    }

    /// The hub, when nobody waits: clears `marks` (waiters' flags) if set,
    /// without entering, as only the hub sets or clears them and a process
    /// that reads one stale only sends a needless `Wake`.
    pub fn clear_marks(&self, marks: u64) {
        let flags = &self.0.header().flags;
        if flags.load(Ordering::Acquire) & marks != 0 {
            flags.fetch_and(!marks, Ordering::AcqRel);
        }
    }

    /// Makes the ring empty and unheld, for a new queue or list: its object
    /// was freed, so no process has a handle that names it. Only the header
    /// is zeroed: the data past `tail` is never read.
    pub fn reset(&self) {
        let header = self.0.header();
        for word in [&header.head, &header.tail, &header.flags, &header.lock] {
            word.store(0, Ordering::Release);
        }
    }

    /// The hub gives the ring up: processes see `POISONED` and go through
    /// the hub, which no longer reads it.
    pub fn poison(&self) {
        self.0.header().flags.fetch_or(POISONED, Ordering::AcqRel);
    }

    /// Sets or clears `HUB_FIRST` without entering (only the hub writes it;
    /// a process checks it inside the ring, so once it is set no put or
    /// push that enters afterwards goes around the operations the hub keeps).
    pub fn set_hub_first(&self, on: bool) {
        let flags = &self.0.header().flags;
        match on {
            true => flags.fetch_or(HUB_FIRST, Ordering::AcqRel),
            false => flags.fetch_and(!HUB_FIRST, Ordering::AcqRel),
        };
    }
}

impl ProcRing {
    /// # Safety
    /// As `HubRing::at`.
    pub unsafe fn at(base: *mut u8) -> ProcRing {
        ProcRing(Ring { base })
    }

    /// Enters the ring as process `who`, spinning at most `limit` while
    /// another is inside; `None` when it stays held (the holder may be
    /// dead: the caller asks the hub instead).
    pub fn enter_within(&self, who: ProcessNumber, limit: Duration) -> Option<RingGuard<'_>> {
        let tag = owner_tag(who);
        super::spin(limit, || {
            if self.0.try_lock(tag) {
                super::Try::Done(())
            } else {
                super::Try::Again
            }
        })
        .map(|()| RingGuard { ring: &self.0 })
    }

    /// Enters the ring if nobody is inside, at once.
    pub fn try_enter(&self, who: ProcessNumber) -> Option<RingGuard<'_>> {
        // Lazily: a guard made and dropped would let go of another's lock.
        self.0
            .try_lock(owner_tag(who))
            .then(|| RingGuard { ring: &self.0 })
    }

    /// For the fault point that damages a ring: writes a write offset past
    /// the end of the data, as a process gone wrong could.
    pub fn scribble_on_tail(&self) {
        self.0.header().tail.store(u64::MAX, Ordering::Release);
    }

    /// Whether the ring looked empty a moment ago (read without entering:
    /// only a hint for a getter that waits for an item).
    pub fn looks_empty(&self) -> bool {
        let head = self.0.header().head.load(Ordering::Acquire);
        let tail = self.0.header().tail.load(Ordering::Acquire);
        count(head, tail) == 0
    }

    /// Whether the hub gave the ring up (a process then asks the hub).
    pub fn is_poisoned(&self) -> bool {
        self.0.flags() & POISONED != 0
    }

    /// The flags a moment ago, read without entering.
    pub fn flags_hint(&self) -> u64 {
        self.0.flags()
    }
}

/// Being inside a ring; leaving it on drop.
pub struct RingGuard<'r> {
    ring: &'r Ring,
}

/// The ring's positions, checked: offsets inside the data, and a count
/// that the used bytes can hold.
#[derive(Clone, Copy)]
struct Positions {
    head: u64,
    tail: u64,
    used: usize,
    items: u32,
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
        self.ring.flags()
    }

    pub fn set_flags(&self, flags: u64) {
        self.header().flags.fetch_or(flags, Ordering::AcqRel);
    }

    pub fn clear_flags(&self, flags: u64) {
        self.header().flags.fetch_and(!flags, Ordering::AcqRel);
    }

    fn positions(&self) -> Result<Positions, Corrupt> {
        let head = self.header().head.load(Ordering::Acquire);
        let tail = self.header().tail.load(Ordering::Acquire);
        for at in [offset(head), offset(tail)] {
            if at >= DATA_BYTES {
                return Err(Corrupt::Offset(at));
            }
        }
        let used = (offset(tail) + DATA_BYTES - offset(head)) % DATA_BYTES;
        let items = count(head, tail);
        // Every record takes at least its length's bytes, and equal offsets
        // always mean empty (the ring is never filled to the last byte).
        if (items == 0) != (used == 0) || (items as usize).saturating_mul(LEN_BYTES) > used {
            return Err(Corrupt::Count { items, bytes: used });
        }
        Ok(Positions {
            head,
            tail,
            used,
            items,
        })
    }

    /// How many items the ring holds.
    pub fn len(&self) -> Result<u32, Corrupt> {
        Ok(self.positions()?.items)
    }

    /// Appends one record; false when it does not fit.
    pub fn push(&self, record: &[u8]) -> Result<bool, Corrupt> {
        self.push_stopping(record, Step::None)
    }

    /// `push`, which stops as a process killed just before `stop` would
    /// (for the tests of a take-over at each step).
    fn push_stopping(&self, record: &[u8], stop: Step) -> Result<bool, Corrupt> {
        let Positions { tail, used, .. } = self.positions()?;
        let needed = LEN_BYTES + record.len();
        if record.len() > MAX_RECORD || used + needed >= DATA_BYTES {
            return Ok(false);
        }
        let start = offset(tail);
        if stop == Step::Length {
            return Ok(false);
        }
        self.copy_in(start, &(record.len() as u32).to_le_bytes());
        if stop == Step::Bytes {
            return Ok(false);
        }
        self.copy_in((start + LEN_BYTES) % DATA_BYTES, record);
        if stop == Step::Publish {
            return Ok(false);
        }
        let next_offset = (start + needed) % DATA_BYTES;
        let items = ((tail >> 32) as u32).wrapping_add(1);
        self.header().tail.store(
            (u64::from(items) << 32) | next_offset as u64,
            Ordering::Release,
        );
        Ok(true)
    }

    /// Takes the oldest record, if any.
    pub fn pop(&self) -> Result<Option<Vec<u8>>, Corrupt> {
        self.pop_stopping(Step::None)
    }

    fn pop_stopping(&self, stop: Step) -> Result<Option<Vec<u8>>, Corrupt> {
        let Positions {
            head, used, items, ..
        } = self.positions()?;
        if items == 0 {
            return Ok(None);
        }
        let start = offset(head);
        let mut len = [0u8; LEN_BYTES];
        self.copy_out(start, &mut len);
        let len = u32::from_le_bytes(len) as usize;
        // What the other records leave, at least their lengths' bytes; the
        // last record ends exactly where the ring's bytes do.
        let room = used - items as usize * LEN_BYTES;
        if len > MAX_RECORD || len > room || (items == 1 && len != room) {
            return Err(Corrupt::Record { len, room });
        }
        let mut record = vec![0u8; len];
        self.copy_out((start + LEN_BYTES) % DATA_BYTES, &mut record);
        // A pop's only store is the one that publishes it.
        if stop != Step::None {
            return Ok(None);
        }
        let next_offset = (start + LEN_BYTES + len) % DATA_BYTES;
        let taken = ((head >> 32) as u32).wrapping_add(1);
        self.header().head.store(
            (u64::from(taken) << 32) | next_offset as u64,
            Ordering::Release,
        );
        Ok(Some(record))
    }

    /// Copies `bytes` into the data at `at`, wrapping at the end.
    fn copy_in(&self, at: usize, bytes: &[u8]) {
        assert!(
            at < DATA_BYTES && bytes.len() < DATA_BYTES,
            "checked by positions"
        );
        let first = bytes.len().min(DATA_BYTES - at);
        // SAFETY: both ranges lie inside the data area (checked above); we
        // are inside the ring.
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
        assert!(
            at < DATA_BYTES && out.len() < DATA_BYTES,
            "checked by positions"
        );
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

/// Where a simulated death stops a push or a pop: before writing its
/// length, before its bytes, or before the one store that publishes it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    None,
    Length,
    Bytes,
    Publish,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn views(memory: &mut [u64]) -> (HubRing, ProcRing) {
        let base = memory.as_mut_ptr().cast();
        // SAFETY: the memory outlives every use in the test.
        unsafe { (HubRing::at(base), ProcRing::at(base)) }
    }

    fn record(i: u32) -> Vec<u8> {
        vec![(i % 251) as u8; (i as usize * 7) % 300]
    }

    fn enter(ring: &ProcRing, who: ProcessNumber) -> RingGuard<'_> {
        ring.try_enter(who).expect("nobody else is inside")
    }

    #[test]
    fn records_come_out_in_order_across_the_wrap() {
        let mut memory = vec![0u64; RING_BYTES / 8];
        let (_, r) = views(&mut memory);
        let g = enter(&r, 1);
        let mut next_out = 0u32;
        for i in 0..20_000u32 {
            while !g.push(&record(i)).unwrap() {
                assert_eq!(
                    g.pop().unwrap().expect("a full ring has records"),
                    record(next_out)
                );
                next_out += 1;
            }
        }
        while let Some(got) = g.pop().unwrap() {
            assert_eq!(got, record(next_out));
            next_out += 1;
        }
        assert_eq!(next_out, 20_000);
        assert_eq!(g.len(), Ok(0));
    }

    #[test]
    fn a_refused_entry_leaves_the_holder_inside() {
        let mut memory = vec![0u64; RING_BYTES / 8];
        let (hub, r) = views(&mut memory);
        let g = enter(&r, 1);
        assert!(r.try_enter(2).is_none());
        assert!(r.enter_within(3, Duration::from_micros(10)).is_none());
        assert_eq!(
            hub.try_enter().err().and_then(|held| held.process()),
            Some(1)
        );
        drop(g);
        assert!(r.try_enter(2).is_some());
    }

    #[test]
    fn the_hub_never_waits_and_takes_over_from_a_dead_holder() {
        let mut memory = vec![0u64; RING_BYTES / 8];
        let (hub, r) = views(&mut memory);
        let g = enter(&r, 5);
        assert!(!g.push(&vec![0u8; MAX_RECORD + 1]).unwrap());
        assert!(g.push(&[1, 2, 3]).unwrap());
        std::mem::forget(g); // process 5 dies inside
        let held = hub.try_enter().err().expect("held by 5");
        assert_eq!(held.process(), Some(5));
        assert!(r.enter_within(6, Duration::from_millis(1)).is_none());
        assert!(!hub.free_if_held_by_process(6));
        assert!(hub.free_if_held_by(held.holder));
        let g = hub.try_enter().expect("taken over");
        assert_eq!(g.len(), Ok(1));
        assert_eq!(g.pop(), Ok(Some(vec![1, 2, 3])));
    }

    /// A process killed before each store of a push or a pop leaves the ring
    /// whole: the hub takes it over and finds it before the change.
    #[test]
    fn a_ring_taken_over_after_a_death_at_each_store_is_whole() {
        for stop in [Step::Length, Step::Bytes, Step::Publish] {
            let mut memory = vec![0u64; RING_BYTES / 8];
            let (hub, r) = views(&mut memory);
            {
                let g = enter(&r, 2);
                for i in 0..3 {
                    assert!(g.push(&record(i)).unwrap());
                }
            }
            // Dies inside a push, just before `stop`.
            let g = enter(&r, 3);
            assert!(!g.push_stopping(&record(99), stop).unwrap());
            std::mem::forget(g);
            let held = hub.try_enter().err().expect("held by the dead");
            assert!(hub.free_if_held_by(held.holder));
            {
                let g = hub.try_enter().expect("taken over");
                assert_eq!(
                    g.len(),
                    Ok(3),
                    "the unpublished push is not there ({stop:?})"
                );
                assert!(g.push(&record(3)).unwrap());
            }
            // Dies inside a pop, before its one store.
            let g = enter(&r, 4);
            assert_eq!(g.pop_stopping(stop), Ok(None));
            std::mem::forget(g);
            assert!(hub.free_if_held_by_process(4));
            let g = hub.try_enter().expect("taken over");
            for i in 0..4 {
                assert_eq!(g.pop(), Ok(Some(record(i))), "({stop:?})");
            }
            assert_eq!(g.pop(), Ok(None));
        }
        // And once each store is made, the change is whole too.
        let mut memory = vec![0u64; RING_BYTES / 8];
        let (hub, r) = views(&mut memory);
        let g = enter(&r, 3);
        assert!(g.push(&record(7)).unwrap());
        std::mem::forget(g);
        assert!(hub.free_if_held_by_process(3));
        assert_eq!(hub.try_enter().unwrap().pop(), Ok(Some(record(7))));
    }

    fn header(memory: &mut [u64]) -> &mut [u64] {
        &mut memory[..HEADER_BYTES / 8]
    }

    const TAIL: usize = 16;

    #[test]
    fn damaged_positions_and_lengths_are_refused_not_followed() {
        let mut memory = vec![0u64; RING_BYTES / 8];
        let (hub, _) = views(&mut memory);
        {
            let g = hub.try_enter().unwrap();
            assert!(g.push(&[9; 10]).unwrap());
            assert!(g.push(&[8; 20]).unwrap());
        }
        let good_tail = memory[TAIL];

        // An offset past the end of the data.
        header(&mut memory)[TAIL] = (2u64 << 32) | 0xFFFF_FF00;
        let (hub, _) = views(&mut memory);
        let g = hub.try_enter().unwrap();
        assert!(matches!(g.len(), Err(Corrupt::Offset(_))));
        assert!(g.pop().is_err() && g.push(&[1]).is_err());
        drop(g);

        // More items than the bytes can hold.
        header(&mut memory)[TAIL] = (50u64 << 32) | (good_tail & 0xFFFF_FFFF);
        let (hub, _) = views(&mut memory);
        assert!(matches!(
            hub.try_enter().unwrap().len(),
            Err(Corrupt::Count { .. })
        ));

        // A record length longer than the ring's bytes.
        header(&mut memory)[TAIL] = good_tail;
        let data = HEADER_BYTES / 8;
        memory[data] = u64::from(u32::MAX); // the first record's length
        let (hub, _) = views(&mut memory);
        let g = hub.try_enter().unwrap();
        assert!(matches!(g.pop(), Err(Corrupt::Record { .. })));
        assert_eq!(g.len(), Ok(2), "a refused pop changes nothing");
        drop(g);

        // The lock word holding garbage names no process.
        memory[0] = u64::MAX - 7;
        let (hub, _) = views(&mut memory);
        let held = hub.try_enter().err().unwrap();
        assert_eq!(held.process(), None);
        assert!(hub.free_if_held_by(held.holder));
    }
}
