//! The arena: the words behind every lock and rlock, and the rings of the
//! first queues, in one memfd.
//!
//! The hub makes it once, before it forks the main process, and every
//! interpreter inherits the mapping (an exec'd worker maps the memfd it is
//! passed at `ARENA_FD`). So a lock or queue made at any time, by any
//! process, has its memory already mapped in every process: a handle names
//! its slot, nothing else has to travel. Slots are handed out by the hub
//! alone, and given back to it when their object is freed (no process can
//! reach it any more, see `hub::core::refs`), to be handed out again zeroed; when
//! the arena is full, new locks get a word in the hub's memory and new queues
//! no ring, and every operation on those goes through the hub.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ring::{HubRing, ProcRing, RING_BYTES};

/// 131,072 lock words (1 MiB) and 64 rings for queues and lists (32 MiB) of address space,
/// of which only the pages of slots in use are ever touched.
pub const ARENA_WORDS: usize = 1 << 17;
pub const ARENA_RINGS: usize = 64;
const WORDS_BYTES: usize = ARENA_WORDS * std::mem::size_of::<AtomicU64>();
/// The arena's size: an exec'd worker maps it whole, so `--max-memory`
/// leaves it out of the worker's own address space (it is the hub's, shared).
pub const ARENA_BYTES: usize = WORDS_BYTES + ARENA_RINGS * RING_BYTES;

static ARENA: OnceLock<Arena> = OnceLock::new();

pub struct Arena {
    base: NonNull<AtomicU64>,
    memfd: OwnedFd,
}

// SAFETY: the mapping is only ever accessed through `AtomicU64`s, and it is
// never unmapped (it lives as long as the process).
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

impl Arena {
    /// The hub's start: makes and maps the arena for this process and every
    /// child it will fork.
    pub fn create() -> io::Result<&'static Arena> {
        let memfd =
            nix::sys::memfd::memfd_create(c"mphost-locks", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
        nix::unistd::ftruncate(&memfd, ARENA_BYTES as i64)?;
        Self::install(memfd)
    }

    /// An exec'd worker maps the arena whose memfd it was passed.
    pub fn attach(memfd: OwnedFd) -> io::Result<&'static Arena> {
        let size = nix::sys::stat::fstat(&memfd)?.st_size;
        if usize::try_from(size).ok() != Some(ARENA_BYTES) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the lock arena has the wrong size",
            ));
        }
        Self::install(memfd)
    }

    fn install(memfd: OwnedFd) -> io::Result<&'static Arena> {
        if let Some(arena) = ARENA.get() {
            return Ok(arena);
        }
        let base = super::map_shared(&memfd, ARENA_BYTES)?;
        Ok(ARENA.get_or_init(|| Arena { base, memfd }))
    }

    /// This process's arena, if it has one.
    pub fn get() -> Option<&'static Arena> {
        ARENA.get()
    }

    /// The word in `slot`.
    pub fn word(&'static self, slot: u32) -> Option<&'static AtomicU64> {
        let slot = slot as usize;
        if slot >= ARENA_WORDS {
            return None;
        }
        // SAFETY: `slot` is inside the mapping, which is never unmapped, and
        // zeroed memory is a valid `AtomicU64`.
        Some(unsafe { &*self.base.as_ptr().add(slot) })
    }

    /// The first byte of the ring in `slot`.
    fn ring_base(&'static self, slot: u32) -> Option<*mut u8> {
        let slot = slot as usize;
        if slot >= ARENA_RINGS {
            return None;
        }
        let base = self.base.as_ptr().cast::<u8>();
        // SAFETY: the ring's bytes lie inside the mapping.
        Some(unsafe { base.add(WORDS_BYTES + slot * RING_BYTES) })
    }

    /// The ring in `slot`, as an interpreter uses it.
    pub fn ring(&'static self, slot: u32) -> Option<ProcRing> {
        // SAFETY: the mapping lives as long as the process, and slot
        // `slot` is used by one ring alone.
        Some(unsafe { ProcRing::at(self.ring_base(slot)?) })
    }

    /// The ring in `slot`, as the hub uses it.
    fn hub_ring(&'static self, slot: u32) -> Option<HubRing> {
        // SAFETY: as in `ring`.
        Some(unsafe { HubRing::at(self.ring_base(slot)?) })
    }

    /// The memfd, to pass to a worker started with `exec`.
    pub fn fd(&self) -> RawFd {
        self.memfd.as_raw_fd()
    }
}

/// The hub's record of which slots are taken: the ones never handed out
/// start at `next_*`, and the ones given back wait in `free_*`.
#[derive(Default)]
pub struct Slots {
    next_word: u32,
    next_ring: u32,
    free_words: Vec<u32>,
    free_rings: Vec<u32>,
    /// Hands out nothing, arena or not: every object lives in the hub's
    /// memory only (the hub's unit tests, which share one arena).
    none: bool,
}

impl Slots {
    /// Slots that are never handed out.
    pub fn none() -> Slots {
        Slots {
            none: true,
            ..Slots::default()
        }
    }

    /// A fresh lock word, zero (free), and its slot; `None` when there is
    /// no arena or it is full.
    pub fn take_word(&mut self) -> Option<(u32, &'static AtomicU64)> {
        let arena = Arena::get().filter(|_| !self.none)?;
        let slot = take_slot(&mut self.free_words, &mut self.next_word, |n| {
            arena.word(n).is_some()
        })?;
        let word = arena.word(slot)?;
        // Its last lock may have been dropped while held (or, for a slot
        // never handed out, by another store in this process: a test's).
        word.store(0, Ordering::Release);
        Some((slot, word))
    }

    /// A fresh, empty ring and its slot.
    pub fn take_ring(&mut self) -> Option<(u32, HubRing)> {
        let arena = Arena::get().filter(|_| !self.none)?;
        let slot = take_slot(&mut self.free_rings, &mut self.next_ring, |n| {
            arena.hub_ring(n).is_some()
        })?;
        let ring = arena.hub_ring(slot)?;
        ring.reset();
        Some((slot, ring))
    }

    /// The word in `slot` belongs to no object any more.
    pub fn give_back_word(&mut self, slot: u32) {
        // Given back once: the store frees each object once.
        if slot < self.next_word {
            self.free_words.push(slot);
        }
    }

    /// The ring in `slot` belongs to no object any more.
    pub fn give_back_ring(&mut self, slot: u32) {
        if slot < self.next_ring {
            self.free_rings.push(slot);
        }
    }
}

/// A slot given back if there is one, else the next never handed out
/// (`exists`: the arena has it).
fn take_slot(free: &mut Vec<u32>, next: &mut u32, exists: impl Fn(u32) -> bool) -> Option<u32> {
    if let Some(slot) = free.pop() {
        return Some(slot);
    }
    let slot = *next;
    exists(slot).then(|| {
        *next += 1;
        slot
    })
}
