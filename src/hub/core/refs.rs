//! Which processes and which stored values can reach each shared object, so
//! that the hub frees an object once nothing can (docs/src/guarantees.md:
//! when objects are freed). Pure bookkeeping: the hub asks the store what
//! an object's values hold and does the freeing.
//!
//! Two ways to reach an object, counted two ways:
//! - **Processes** are counted. An object starts held by its creator,
//!   handed over once (the `Create` answer); every value the hub sends a
//!   process hands it the objects inside (`handed`), as a spawn's arguments
//!   hand theirs to the child. Each process tells the hub when its last
//!   local handle on an object is gone (`Request::Release`, with how many
//!   times the hub had handed the object to it), and an ended process's
//!   counts are dropped here.
//! - **Stored values** are traced. A handle that went into a value a store
//!   keeps (a queue item, a list or dict entry, a shared value, a pipe
//!   message, a condition's lock) or the hub keeps (a pool's job, a
//!   process's result: `hub::holding`) marks its object `stored`. Such an
//!   object that no process holds may still sit in a value, so it waits for
//!   the next collection (`collect`): everything reachable from what
//!   processes hold, from pinned objects and from what the hub keeps is
//!   marked, following only objects that hold handles (`carrier`), and the
//!   rest is freed, cycles included. A collection is due once enough has
//!   become unheld since the last one, in proportion to the last one's
//!   work, so its cost is spread over the releases that made it due.
//!
//! An object whose handle left a process in a value no binding said the
//! hub follows (`Request::Pin`, the safe default of `script::convert`; no
//! binding sends one today) is pinned and lives for the rest of the run.
//!
//! What a process sends here is untrusted: a release for an object it was
//! never handed, or for more hand-overs than it had, only ever lowers that
//! process's own count, and is otherwise ignored.

use std::collections::{HashMap, HashSet};

use crate::wire::{ObjectId, ProcId};

/// The fewest newly unheld stored objects that make a collection due.
const COLLECT_AFTER: usize = 16;

/// Who and what reaches one object.
#[derive(Debug, Default, PartialEq)]
struct Entry {
    /// Each holding process, with the hand-overs it has not released yet.
    holders: Vec<(ProcId, u64)>,
    /// Its handle left a process in a value nobody follows: never freed.
    pinned: bool,
    /// Its handle went into a value a store keeps.
    stored: bool,
    /// It keeps handles in its own values: a collection asks the store.
    carrier: bool,
}

#[derive(Debug, Default)]
pub struct Refs {
    objects: HashMap<ObjectId, Entry>,
    /// Stored objects no process holds: each collection frees those it
    /// cannot reach.
    unheld_stored: HashSet<ObjectId>,
    /// Objects whose values hold handles.
    carriers: HashSet<ObjectId>,
    /// What may have become unreachable since the last collection.
    pending: usize,
    /// How many objects and handles the last collection went through.
    last_work: usize,
}

impl Refs {
    /// `who` made `id`, and was handed its handle.
    pub fn created(&mut self, id: ObjectId, who: ProcId) {
        let entry = Entry {
            holders: vec![(who, 1)],
            ..Entry::default()
        };
        self.objects.insert(id, entry);
    }

    /// A handle on `id` is on its way to `who` (in an answer or a spawn's
    /// arguments), which holds it from now. An unknown object is ignored.
    pub fn handed(&mut self, id: ObjectId, who: ProcId) {
        let Some(entry) = self.objects.get_mut(&id) else {
            return;
        };
        match entry.holders.iter_mut().find(|(p, _)| *p == who) {
            Some((_, count)) => *count += 1,
            None => entry.holders.push((who, 1)),
        }
        self.unheld_stored.remove(&id);
    }

    /// A handle on `id` went into a value nobody follows: keep it for the
    /// rest of the run. An id unknown here is ignored (never made, or
    /// already freed).
    pub fn pin(&mut self, id: ObjectId) {
        if let Some(entry) = self.objects.get_mut(&id) {
            entry.pinned = true;
            self.unheld_stored.remove(&id);
        }
    }

    /// Values holding handles on `ids` are going where the hub keeps them
    /// (see `hub::holding`).
    pub fn stored(&mut self, ids: &[ObjectId]) {
        for id in ids {
            if let Some(entry) = self.objects.get_mut(id) {
                entry.stored = true;
            }
        }
    }

    /// Values holding handles on `ids` are going into `carrier`'s store.
    pub fn stored_in(&mut self, ids: &[ObjectId], carrier: ObjectId) {
        if ids.is_empty() {
            return;
        }
        self.stored(ids);
        if let Some(entry) = self.objects.get_mut(&carrier) {
            entry.carrier = true;
            self.carriers.insert(carrier);
        }
    }

    /// Whether `id` keeps handles in its values.
    pub fn is_carrier(&self, id: ObjectId) -> bool {
        self.carriers.contains(&id)
    }

    /// Values holding `count` handles were dropped from a store (an object
    /// freed, an entry overwritten): what they reached may be unreachable now.
    pub fn values_dropped(&mut self, count: usize) {
        self.pending += count;
    }

    /// `who` let go of `id`, which it had been handed `deliveries` times.
    /// Returns true when nothing can reach the object any more: the caller
    /// frees it.
    pub fn release(&mut self, who: ProcId, id: ObjectId, deliveries: u64) -> bool {
        let Some(entry) = self.objects.get_mut(&id) else {
            return false;
        };
        let Some(at) = entry.holders.iter().position(|&(p, _)| p == who) else {
            // Not one of its holders: a stray release, or one for a handle
            // the hub never handed (a pinned object's, read from a result).
            return false;
        };
        let count = &mut entry.holders[at].1;
        // More releases than hand-overs: it holds none, and only its own
        // count is touched.
        *count = count.saturating_sub(deliveries);
        if *count == 0 {
            entry.holders.swap_remove(at);
        }
        self.settle_unheld(id)
    }

    /// `who` ended: whatever it held, it holds no more. Returns the objects
    /// nothing can reach now, for the caller to free.
    pub fn process_ended(&mut self, who: ProcId) -> Vec<ObjectId> {
        let mut touched = Vec::new();
        for (&id, entry) in &mut self.objects {
            let before = entry.holders.len();
            entry.holders.retain(|&(p, _)| p != who);
            if entry.holders.len() != before {
                touched.push(id);
            }
        }
        touched.sort_unstable();
        touched.retain(|&id| self.settle_unheld(id));
        touched
    }

    /// Whether a collection would be worth its cost now.
    pub fn collection_due(&self) -> bool {
        self.pending >= COLLECT_AFTER + self.last_work / 4
    }

    /// Frees (returns, forgetting them) the stored objects that nothing
    /// reaches: not a process, not a pinned object, not `in_flight` (the
    /// handles in operations the hub still keeps), nor any store reached
    /// from those, which the caller found looking through `looked` values.
    /// `contents` appends the handles an object's values hold and returns
    /// how many values it looked through.
    pub fn collect(
        &mut self,
        in_flight: &[ObjectId],
        looked: usize,
        mut contents: impl FnMut(ObjectId, &mut Vec<ObjectId>) -> usize,
    ) -> Vec<ObjectId> {
        self.pending = 0;
        if self.unheld_stored.is_empty() {
            self.last_work = 0;
            return Vec::new();
        }
        let mut reached: HashSet<ObjectId> = in_flight.iter().copied().collect();
        let mut to_walk: Vec<ObjectId> = in_flight.to_vec();
        for &id in &self.carriers {
            let rooted = self
                .objects
                .get(&id)
                .is_some_and(|e| e.pinned || !e.holders.is_empty());
            if rooted && reached.insert(id) {
                to_walk.push(id);
            }
        }
        let mut work = looked + self.carriers.len();
        let mut inside = Vec::new();
        while let Some(id) = to_walk.pop() {
            if !self.carriers.contains(&id) {
                continue;
            }
            inside.clear();
            work += contents(id, &mut inside) + inside.len();
            for &found in &inside {
                if reached.insert(found) {
                    to_walk.push(found);
                }
            }
        }
        self.last_work = work;
        let mut unreached: Vec<ObjectId> = self
            .unheld_stored
            .iter()
            .copied()
            .filter(|id| !reached.contains(id))
            .collect();
        unreached.sort_unstable();
        for id in &unreached {
            self.forget(*id);
        }
        unreached
    }

    /// After `id` lost a holder: forgets it and returns true if nothing
    /// can reach it; a stored one waits for the next collection instead.
    fn settle_unheld(&mut self, id: ObjectId) -> bool {
        let Some(entry) = self.objects.get(&id) else {
            return false;
        };
        if !entry.holders.is_empty() || entry.pinned {
            return false;
        }
        if entry.stored {
            if self.unheld_stored.insert(id) {
                self.pending += 1;
            }
            return false;
        }
        self.forget(id);
        true
    }

    fn forget(&mut self, id: ObjectId) {
        self.objects.remove(&id);
        self.unheld_stored.remove(&id);
        self.carriers.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store for `collect`: what each object's values hold.
    fn store(of: &[(ObjectId, &[ObjectId])]) -> impl FnMut(ObjectId, &mut Vec<ObjectId>) -> usize {
        let map: HashMap<ObjectId, Vec<ObjectId>> =
            of.iter().map(|(id, ids)| (*id, ids.to_vec())).collect();
        move |id, out| {
            let inside = map.get(&id).map_or(&[][..], Vec::as_slice);
            out.extend(inside);
            inside.len()
        }
    }

    #[test]
    fn the_creators_release_frees_it() {
        let mut refs = Refs::default();
        refs.created(7, 1);
        assert!(refs.release(1, 7, 1));
        // Once freed, a repeated release is a stray.
        assert!(!refs.release(1, 7, 1));
    }

    #[test]
    fn a_stray_release_never_frees_what_another_holds() {
        let mut refs = Refs::default();
        refs.created(7, 1);
        assert!(!refs.release(2, 7, 5));
        assert!(!refs.release(2, 8, 1));
        assert!(refs.release(1, 7, 1));
    }

    #[test]
    fn a_pinned_object_is_never_freed() {
        let mut refs = Refs::default();
        refs.created(7, 1);
        refs.pin(7);
        assert!(!refs.release(1, 7, 1));
        assert!(refs.process_ended(1).is_empty());
        assert!(refs.collect(&[], 0, store(&[])).is_empty());
        refs.pin(99); // unknown: ignored
    }

    #[test]
    fn a_spawns_arguments_are_held_by_the_child_until_it_lets_go() {
        let mut refs = Refs::default();
        refs.created(7, 1);
        refs.handed(7, 2);
        refs.handed(7, 2);
        assert!(!refs.release(1, 7, 1), "the child still holds it");
        assert!(!refs.release(2, 7, 1), "one of its two copies");
        assert!(refs.release(2, 7, 1));
        refs.handed(7, 3); // freed by now: ignored
        assert!(refs.process_ended(3).is_empty());
    }

    #[test]
    fn an_ended_process_lets_go_of_what_it_held() {
        let mut refs = Refs::default();
        refs.created(7, 1);
        refs.created(8, 2);
        refs.created(9, 1);
        assert_eq!(refs.process_ended(1), vec![7, 9]);
        assert!(!refs.release(1, 8, 1));
        assert!(refs.release(2, 8, 1));
    }

    #[test]
    fn a_stored_object_lives_while_its_store_is_reachable() {
        let mut refs = Refs::default();
        refs.created(1, 1); // a list
        refs.created(2, 1); // a queue put in it
        refs.stored_in(&[2], 1);
        assert!(!refs.release(1, 2, 1), "the list may still hold it");
        assert!(refs.collect(&[], 0, store(&[(1, &[2])])).is_empty());
        // Taken out again: a process holds it.
        refs.handed(2, 3);
        assert!(refs.collect(&[], 0, store(&[(1, &[])])).is_empty());
        // Dropped by that process and no longer in the list: freed.
        assert!(!refs.release(3, 2, 1));
        assert_eq!(refs.collect(&[], 0, store(&[(1, &[])])), vec![2]);
    }

    #[test]
    fn a_store_nobody_reaches_lets_go_of_what_it_held_and_cycles_go_too() {
        let mut refs = Refs::default();
        for id in 1..=4 {
            refs.created(id, 1);
        }
        // 1 holds 2; 3 and 4 hold each other.
        refs.stored_in(&[2], 1);
        refs.stored_in(&[4], 3);
        refs.stored_in(&[3], 4);
        let contents = [(1, &[2][..]), (3, &[4][..]), (4, &[3][..])];
        assert!(!refs.release(1, 2, 1));
        assert!(!refs.release(1, 3, 1));
        assert!(!refs.release(1, 4, 1));
        assert_eq!(refs.collect(&[], 0, store(&contents)), vec![3, 4]);
        assert!(refs.release(1, 1, 1), "the list was never stored");
        assert_eq!(refs.collect(&[], 0, store(&contents)), vec![2]);
    }

    #[test]
    fn an_operation_still_in_the_hub_keeps_what_it_carries() {
        let mut refs = Refs::default();
        refs.created(1, 1);
        refs.created(2, 1);
        refs.stored_in(&[2], 1);
        assert!(!refs.release(1, 2, 1));
        assert!(refs.release(1, 1, 1));
        // A put of 2, parked or kept, is still to land somewhere.
        assert!(refs.collect(&[2], 0, store(&[])).is_empty());
        assert_eq!(refs.collect(&[], 0, store(&[])), vec![2]);
    }

    #[test]
    fn a_pinned_store_keeps_its_contents() {
        let mut refs = Refs::default();
        refs.created(1, 1);
        refs.created(2, 1);
        refs.stored_in(&[2], 1);
        refs.pin(1);
        assert!(!refs.release(1, 1, 1));
        assert!(!refs.release(1, 2, 1));
        assert!(refs.collect(&[], 0, store(&[(1, &[2])])).is_empty());
    }

    #[test]
    fn a_collection_is_due_in_proportion_to_the_last_ones_work() {
        let mut refs = Refs::default();
        refs.created(1, 1);
        refs.stored_in(&[], 1);
        for id in 2..2 + COLLECT_AFTER as u64 {
            refs.created(id, 1);
            refs.stored_in(&[id], 1);
            assert!(!refs.collection_due());
            assert!(!refs.release(1, id, 1));
        }
        assert!(refs.collection_due());
        let held: Vec<ObjectId> = (2..2 + COLLECT_AFTER as u64).collect();
        let looked = |_, out: &mut Vec<ObjectId>| {
            out.extend(&held);
            1_000 // plain values looked through count too
        };
        assert!(refs.collect(&[], 0, looked).is_empty());
        assert!(refs.last_work >= 1_000);
        assert!(!refs.collection_due());
        refs.values_dropped(COLLECT_AFTER + refs.last_work / 4);
        assert!(refs.collection_due());
        assert_eq!(refs.collect(&[], 0, store(&[])).len(), COLLECT_AFTER);
    }
}
