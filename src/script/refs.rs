//! `Holder`: this process's side of the hub's reference count on one shared
//! object (see `hub::core::refs`).
//!
//! Every script handle on an object carries a `Holder`; all the handles on
//! one object in this process share one record, so copying a handle is an
//! `Rc` clone and nothing more. The record counts how many times the hub
//! handed the object to this process (a `Create` answer, a handle inside a
//! received value); when the last handle goes, the record tells the hub,
//! with that count, through `client::note_release`. A handle that goes
//! into a value the hub does not follow (a pool's items, a result; see
//! `convert::BoundFor`) pins the object (`escaped`), once per record.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::{Rc, Weak};

use crate::client;
use crate::wire::ObjectId;

struct Record {
    id: ObjectId,
    /// Times the hub handed the object over since this record was made.
    deliveries: Cell<u64>,
    /// A pin for it has been noted already.
    pinned: Cell<bool>,
}

thread_local! {
    /// The live record of each object this process holds.
    static LIVE: RefCell<HashMap<ObjectId, Weak<Record>>> = RefCell::new(HashMap::new());
}

#[derive(Clone)]
pub struct Holder(Rc<Record>);

impl Holder {
    /// The hub handed over a handle on `id`: join this process's record of
    /// it, or start one.
    pub fn delivered(id: ObjectId) -> Holder {
        let live = LIVE
            .try_with(|live| live.borrow().get(&id).and_then(Weak::upgrade))
            .ok()
            .flatten();
        if let Some(record) = live {
            record.deliveries.set(record.deliveries.get() + 1);
            return Holder(record);
        }
        let record = Rc::new(Record {
            id,
            deliveries: Cell::new(1),
            pinned: Cell::new(false),
        });
        let _ = LIVE.try_with(|live| live.borrow_mut().insert(id, Rc::downgrade(&record)));
        Holder(record)
    }

    /// The handle is going into a value that leaves this process.
    pub fn escaped(&self) {
        if !self.0.pinned.replace(true) {
            client::note_pin(self.0.id);
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let _ = LIVE.try_with(|live| {
            let mut live = live.borrow_mut();
            // Only this record's entry: it is dead by now.
            if live.get(&self.id).is_some_and(|w| w.strong_count() == 0) {
                live.remove(&self.id);
            }
        });
        client::note_release(self.id, self.deliveries.get());
    }
}

impl fmt::Debug for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Holder(#{})", self.0.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_share_one_record_and_deliveries_add_up() {
        let first = Holder::delivered(1_000_001);
        let copy = first.clone();
        let again = Holder::delivered(1_000_001);
        assert!(Rc::ptr_eq(&first.0, &again.0));
        assert_eq!(first.0.deliveries.get(), 2);
        drop((first, copy, again));
        let fresh = Holder::delivered(1_000_001);
        assert_eq!(fresh.0.deliveries.get(), 1);
    }
}
