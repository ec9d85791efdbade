//! Object operations put back because a process was inside the object's
//! shared memory (`Outcome::Busy`).
//!
//! The hub never waits on shared memory: an operation that finds a ring
//! held is kept here and applied again after the event loop's next turn, by
//! which time a live holder has let go (a ring is held for one copy) and a
//! dead one has been found, by the SIGCHLD that turn reads or by the check
//! `Core::holder_is_dead` makes, and its memory freed. Operations on an
//! object with operations kept here queue behind them, so none overtakes
//! another: a dead process's leftover one-way pushes stay in order.
//!
//! Parked operations that found the memory held stay parked; their object
//! is only noted for another try (`recheck`).
//!
//! Only bookkeeping: applying, answering and freeing are the hub's.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::{ObjectId, Op, ProcId};

/// How long the event loop sleeps at most while operations are kept here,
/// once they have waited `RETRY_AT_ONCE_FOR`.
pub const RETRY_AFTER: Duration = Duration::from_millis(1);

/// For how long after an operation is first kept here the loop tries again
/// at every turn, without sleeping: a live holder is inside for one copy,
/// and is usually out within microseconds (or once it is scheduled again);
/// sleeping a whole `RETRY_AFTER` each time would make a briefly contended
/// ring slow. Past this the holder is stopped or dead, and the loop sleeps.
const RETRY_AT_ONCE_FOR: Duration = Duration::from_millis(1);

/// A request put back, as it arrived.
pub struct DeferredOp {
    pub who: ProcId,
    pub op: Op,
    pub timeout: Option<f64>,
    pub reply: bool,
    /// When its caller's time-out ends, if it has one: it is answered as
    /// timed out then, even if the memory is still held.
    pub deadline: Option<Instant>,
}

impl DeferredOp {
    pub fn new(who: ProcId, op: Op, timeout: Option<f64>, reply: bool, now: Instant) -> Self {
        let deadline = timeout.and_then(|secs| match Duration::try_from_secs_f64(secs) {
            // Too far to tell from never.
            Ok(d) => now.checked_add(d),
            Err(_) if secs > 0.0 => None,
            // Negative or NaN: at once.
            Err(_) => Some(now),
        });
        DeferredOp {
            who,
            op,
            timeout,
            reply,
            deadline,
        }
    }
}

#[derive(Default)]
pub struct Deferred {
    by_object: BTreeMap<ObjectId, VecDeque<DeferredOp>>,
    /// Objects whose parked operations found the memory held.
    recheck: BTreeSet<ObjectId>,
    /// Since when something has been kept here without a break.
    kept_since: Option<Instant>,
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.by_object.is_empty() && self.recheck.is_empty()
    }

    /// Every operation kept here, in no particular order.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.by_object.values().flatten().map(|kept| &kept.op)
    }

    /// How long the event loop may sleep before trying again (`None`:
    /// nothing is kept here; zero: try at the next turn, at once).
    pub fn retry_in(&mut self, now: Instant) -> Option<Duration> {
        if self.is_empty() {
            self.kept_since = None;
            return None;
        }
        let since = *self.kept_since.get_or_insert(now);
        Some(match now.duration_since(since) < RETRY_AT_ONCE_FOR {
            true => Duration::ZERO,
            false => RETRY_AFTER,
        })
    }

    /// Whether operations on `id` wait here (a new one must queue behind).
    pub fn holds(&self, id: ObjectId) -> bool {
        self.by_object.contains_key(&id)
    }

    /// Keeps `op` behind those kept for `id`; true when it is the first.
    pub fn push_back(&mut self, id: ObjectId, op: DeferredOp) -> bool {
        let ops = self.by_object.entry(id).or_default();
        ops.push_back(op);
        ops.len() == 1
    }

    /// Takes out the operations on `id` that wait for an answer and whose
    /// caller's time-out has ended by `now`, wherever they are in the line
    /// (the one at the front may be held up for long: a stopped holder).
    pub fn take_expired(&mut self, id: ObjectId, now: Instant) -> Vec<DeferredOp> {
        let Some(ops) = self.by_object.get_mut(&id) else {
            return Vec::new();
        };
        let (expired, kept): (VecDeque<_>, VecDeque<_>) = std::mem::take(ops)
            .into_iter()
            .partition(|op| op.reply && op.deadline.is_some_and(|at| at <= now));
        *ops = kept;
        if ops.is_empty() {
            self.by_object.remove(&id);
        }
        expired.into()
    }

    /// Puts back the oldest operation on `id`, which found it held again.
    pub fn push_front(&mut self, id: ObjectId, op: DeferredOp) {
        self.by_object.entry(id).or_default().push_front(op);
    }

    /// The oldest operation kept for `id`.
    pub fn pop_front(&mut self, id: ObjectId) -> Option<DeferredOp> {
        let ops = self.by_object.get_mut(&id)?;
        let op = ops.pop_front();
        if ops.is_empty() {
            self.by_object.remove(&id);
        }
        op
    }

    /// The objects with operations kept here, oldest id first.
    pub fn objects(&self) -> Vec<ObjectId> {
        self.by_object.keys().copied().collect()
    }

    pub fn recheck(&mut self, id: ObjectId) {
        self.recheck.insert(id);
    }

    pub fn take_rechecks(&mut self) -> Vec<ObjectId> {
        std::mem::take(&mut self.recheck).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(who: ProcId) -> DeferredOp {
        DeferredOp::new(who, Op::Len, None, true, Instant::now())
    }

    #[test]
    fn operations_come_back_in_order_per_object() {
        let mut deferred = Deferred::default();
        assert!(deferred.is_empty());
        assert!(deferred.push_back(7, op(1)), "the first kept for 7");
        assert!(!deferred.push_back(7, op(2)));
        assert!(deferred.push_back(3, op(3)));
        assert!(deferred.holds(7) && !deferred.holds(4));
        assert_eq!(deferred.objects(), vec![3, 7]);
        let first = deferred.pop_front(7).unwrap();
        assert_eq!(first.who, 1);
        deferred.push_front(7, first);
        let order: Vec<ProcId> = std::iter::from_fn(|| deferred.pop_front(7))
            .map(|d| d.who)
            .collect();
        assert_eq!(order, vec![1, 2]);
        assert!(!deferred.holds(7));
    }

    #[test]
    fn expired_operations_leave_the_line_wherever_they_are() {
        let mut deferred = Deferred::default();
        let now = Instant::now();
        let timed = |who, secs| DeferredOp::new(who, Op::Get, Some(secs), true, now);
        deferred.push_back(1, op(1));
        deferred.push_back(1, timed(2, 0.0));
        deferred.push_back(1, timed(3, 60.0));
        let expired: Vec<ProcId> = deferred
            .take_expired(1, now)
            .iter()
            .map(|d| d.who)
            .collect();
        assert_eq!(expired, vec![2]);
        let left: Vec<ProcId> = std::iter::from_fn(|| deferred.pop_front(1))
            .map(|d| d.who)
            .collect();
        assert_eq!(left, vec![1, 3], "the rest keep their order");
    }

    #[test]
    fn a_fresh_holder_is_retried_at_once_then_every_millisecond() {
        let mut deferred = Deferred::default();
        let start = Instant::now();
        assert_eq!(deferred.retry_in(start), None);
        deferred.push_back(1, op(1));
        assert_eq!(deferred.retry_in(start), Some(Duration::ZERO));
        let later = start + RETRY_AT_ONCE_FOR;
        assert_eq!(deferred.retry_in(later), Some(RETRY_AFTER));
        deferred.pop_front(1);
        assert_eq!(deferred.retry_in(later), None);
        deferred.push_back(1, op(1));
        assert_eq!(
            deferred.retry_in(later),
            Some(Duration::ZERO),
            "a new stretch"
        );
    }

    #[test]
    fn absurd_time_outs_are_now_or_never_not_a_panic() {
        let now = Instant::now();
        for secs in [f64::NAN, -1.0] {
            let d = DeferredOp::new(1, Op::Get, Some(secs), true, now);
            assert_eq!(d.deadline, Some(now));
        }
        for secs in [f64::INFINITY, 1e300] {
            let d = DeferredOp::new(1, Op::Get, Some(secs), true, now);
            assert_eq!(d.deadline, None);
        }
        let d = DeferredOp::new(1, Op::Get, Some(2.0), true, now);
        assert_eq!(d.deadline, Some(now + Duration::from_secs(2)));
    }
}
