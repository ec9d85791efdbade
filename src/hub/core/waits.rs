//! Requests the hub holds back: a process blocked in `get`, `put`, `acquire`,
//! `join` or `pool_map` is "parked" until another process's action or its
//! deadline answers it. Each process has at most one request in flight, so a
//! parked request lives on the process record; wait lists only name processes
//! and are cleaned lazily (a name whose process is no longer parked on that
//! key is skipped).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::{JobAsk, MAX_TIMEOUT_SECS, ObjectId, Op, ProcId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitKey {
    /// An operation on a shared object that could not complete yet.
    Object(ObjectId),
    Join(ProcId),
    /// `get`, `wait` or the next `imap` item of a pool job.
    Job(u64),
    /// `join` of a closed or terminated pool.
    PoolJoin(u64),
    /// A pool worker with nothing to do.
    PoolIdle(u64),
    /// `pids` of a pool some of whose workers no host has started yet.
    PoolPlaced(u64),
}

pub struct Parked {
    pub key: WaitKey,
    /// The object operation to apply again when its object changes.
    pub op: Option<Op>,
    /// What a waiter on a pool job asked for.
    pub ask: Option<JobAsk>,
    pub deadline: Option<Instant>,
    /// Ties timers to this parking and no later one.
    pub ticket: u64,
}

impl Parked {
    /// What a process parked here is doing, for messages.
    pub fn describe(&self) -> String {
        let doing = match (&self.key, &self.op) {
            (WaitKey::Join(_), _) => "waiting to join a process",
            (WaitKey::Job(_), _) => "waiting for a pool's results",
            (WaitKey::PoolJoin(_), _) => "waiting to join a pool",
            (WaitKey::PoolIdle(_), _) => "idle in a pool",
            (WaitKey::PoolPlaced(_), _) => "waiting for hosts to start a pool's workers",
            (_, Some(Op::Get)) => "waiting in queue get",
            (_, Some(Op::Put(_))) => "waiting in queue put",
            (_, Some(Op::JoinQueue)) => "waiting in a joinable queue's join",
            (_, Some(Op::Acquire)) => "waiting to acquire a lock or semaphore",
            (_, Some(Op::Wait)) => "waiting for an event",
            (_, Some(Op::CondAwait { .. })) => "waiting on a condition",
            (_, Some(Op::CondReacquire { .. })) => "waiting to re-acquire a condition's lock",
            (_, Some(Op::BarrierRound { .. })) => "waiting at a barrier",
            (_, Some(Op::Recv { .. } | Op::Poll { .. })) => "waiting on a pipe",
            _ => "waiting",
        };
        match self.key {
            WaitKey::Object(id) => format!("{doing} (#{id})"),
            _ => doing.to_string(),
        }
    }
}

#[derive(Default)]
pub struct Waits {
    lists: HashMap<WaitKey, VecDeque<ProcId>>,
    timers: BinaryHeap<Reverse<(Instant, ProcId, u64)>>,
    next_ticket: u64,
}

impl Waits {
    /// Makes the parked record for `who` and files it under `key`.
    pub fn park(
        &mut self,
        who: ProcId,
        key: WaitKey,
        op: Option<Op>,
        timeout: Option<f64>,
        now: Instant,
    ) -> Parked {
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        // `dispatch` refused time-outs outside 0..=MAX_TIMEOUT_SECS; clamped
        // again so that no value can make a panic here.
        let deadline = timeout.map(|secs| {
            let secs = if secs.is_nan() {
                0.0
            } else {
                secs.clamp(0.0, MAX_TIMEOUT_SECS)
            };
            now + Duration::from_secs_f64(secs)
        });
        if let Some(deadline) = deadline {
            self.timers.push(Reverse((deadline, who, ticket)));
        }
        self.refile(who, key);
        Parked {
            key,
            op,
            ask: None,
            deadline,
            ticket,
        }
    }

    /// Files an already parked process under another key (its deadline stays).
    /// A process already listed (a stale entry from an earlier wait that
    /// timed out) keeps its place rather than being listed twice.
    pub fn refile(&mut self, who: ProcId, key: WaitKey) {
        let list = self.lists.entry(key).or_default();
        if !list.contains(&who) {
            list.push_back(who);
        }
    }

    /// The waiters filed under `key`, oldest first, removed from the list.
    pub fn take_list(&mut self, key: WaitKey) -> VecDeque<ProcId> {
        self.lists.remove(&key).unwrap_or_default()
    }

    /// The processes listed under `key`, stale entries included.
    pub fn listed(&self, key: WaitKey) -> impl Iterator<Item = ProcId> + '_ {
        self.lists.get(&key).into_iter().flatten().copied()
    }

    /// Whether any process is listed as waiting under `key`.
    pub fn is_waited_on(&self, key: WaitKey) -> bool {
        self.lists.get(&key).is_some_and(|list| !list.is_empty())
    }

    /// Puts back waiters that could not be served yet, ahead of newer ones.
    pub fn restore_list(&mut self, key: WaitKey, mut rest: VecDeque<ProcId>) {
        if rest.is_empty() {
            return;
        }
        if let Some(newer) = self.lists.remove(&key) {
            rest.extend(newer);
        }
        self.lists.insert(key, rest);
    }

    /// Timers that are due: `(process, ticket)` pairs.
    pub fn due(&mut self, now: Instant) -> Vec<(ProcId, u64)> {
        let mut due = Vec::new();
        while let Some(Reverse((at, who, ticket))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            due.push((who, ticket));
        }
        due
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, ..))| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_time_out_becomes_a_deadline_without_a_panic() {
        let mut waits = Waits::default();
        let now = Instant::now();
        for (who, secs) in [f64::NAN, -5.0, f64::INFINITY, 1e300, 0.5]
            .into_iter()
            .enumerate()
        {
            let parked = waits.park(who as ProcId, WaitKey::Join(99), None, Some(secs), now);
            let deadline = parked.deadline.expect("a deadline");
            assert!(deadline >= now, "{secs}");
        }
    }
}
