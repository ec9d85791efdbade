//! Which processes can reach each shared object, so that the hub frees an
//! object once none can (README, "Guarantees": when objects are freed).
//!
//! An object starts held by its creator, handed over once (the `Create`
//! answer); a spawn's arguments hand the objects in them to the child. Each process tells the hub when its last local handle on an
//! object is gone (`Request::Release`, with how many times the hub had
//! handed the object to it), and an ended process's references are dropped
//! here. An object whose handle ever left a process inside a value
//! (`Request::Pin`: a queue item, a list or dict entry, a shared value, a
//! pipe message, a pool argument, a captured variable, a result)
//! is pinned: from then on it may be anywhere, shared memory included, and
//! it lives for the rest of the run. So is the lock of a condition.
//!
//! What a process sends here is untrusted: a release for an object it was
//! never handed, or for more hand-overs than it had, only ever lowers that
//! process's own count, and is otherwise ignored.

use std::collections::HashMap;

use crate::wire::{ObjectId, ProcId};

/// Who holds one object.
#[derive(Debug, PartialEq)]
enum Holders {
    /// Each holding process, with the hand-overs it has not released yet.
    Counted(Vec<(ProcId, u64)>),
    /// Its handle left a process in a value: never freed.
    Pinned,
}

#[derive(Debug, Default)]
pub struct Refs {
    objects: HashMap<ObjectId, Holders>,
}

impl Refs {
    /// `who` made `id`, and was handed its handle.
    pub fn created(&mut self, id: ObjectId, who: ProcId) {
        self.objects.insert(id, Holders::Counted(vec![(who, 1)]));
    }

    /// A handle on `id` is on its way to `who` (a spawn's argument), which
    /// holds it from now. A pinned or unknown object is left as it is.
    pub fn handed(&mut self, id: ObjectId, who: ProcId) {
        let Some(Holders::Counted(holders)) = self.objects.get_mut(&id) else {
            return;
        };
        match holders.iter_mut().find(|(p, _)| *p == who) {
            Some((_, count)) => *count += 1,
            None => holders.push((who, 1)),
        }
    }

    /// A handle on `id` went into a value: keep it for the rest of the run.
    /// An id unknown here is ignored (never made, or already freed).
    pub fn pin(&mut self, id: ObjectId) {
        if let Some(holders) = self.objects.get_mut(&id) {
            *holders = Holders::Pinned;
        }
    }

    /// `who` let go of `id`, which it had been handed `deliveries` times.
    /// Returns true when nobody holds the object any more: the caller frees it.
    pub fn release(&mut self, who: ProcId, id: ObjectId, deliveries: u64) -> bool {
        let Some(Holders::Counted(holders)) = self.objects.get_mut(&id) else {
            return false;
        };
        let Some(at) = holders.iter().position(|&(p, _)| p == who) else {
            // Not one of its holders: a stray release, or one of a pinned
            // object's many readers before the pin was read. Nothing to do.
            return false;
        };
        let count = &mut holders[at].1;
        // More releases than hand-overs: it holds none, and only its own
        // count is touched.
        *count = count.saturating_sub(deliveries);
        if *count == 0 {
            holders.swap_remove(at);
        }
        self.take_if_unheld(id)
    }

    /// `who` ended: whatever it held, it holds no more. Returns the objects
    /// nobody holds now, for the caller to free.
    pub fn process_ended(&mut self, who: ProcId) -> Vec<ObjectId> {
        let mut unheld = Vec::new();
        for (&id, holders) in &mut self.objects {
            if let Holders::Counted(list) = holders {
                list.retain(|&(p, _)| p != who);
                if list.is_empty() {
                    unheld.push(id);
                }
            }
        }
        unheld.sort_unstable();
        for id in &unheld {
            self.objects.remove(id);
        }
        unheld
    }

    /// Forgets `id` if nobody holds it; true if so.
    fn take_if_unheld(&mut self, id: ObjectId) -> bool {
        let unheld = matches!(self.objects.get(&id), Some(Holders::Counted(l)) if l.is_empty());
        if unheld {
            self.objects.remove(&id);
        }
        unheld
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
