//! Barriers: `parties` processes meet, each gets its arrival index (0 for
//! the first), and the round ends for all at once. A barrier with an action
//! asks the last arrival to run it (`Value::Fn` in the answer) and report
//! back before the round ends. A time-out, an abort, a failed action or a
//! waiter that dies breaks the barrier; every waiter of that round then gets
//! an error starting with `BrokenBarrier`.

use super::Applied;
use crate::wire::{ErrorKind, FnRef, ObjectId, Op, ProcId, Value};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Barrier {
    parties: u64,
    action: Option<FnRef>,
    waiting: Vec<ProcId>,
    round: u64,
    broken: bool,
    /// The last round that ended by breaking rather than completing.
    broken_round: Option<u64>,
    /// The last arrival while it runs the action.
    running_action: Option<ProcId>,
}

fn broken_error(why: &str) -> Applied {
    Applied::failed(ErrorKind::BrokenBarrier, format!("BrokenBarrier: {why}"))
}

impl Barrier {
    pub fn new(parties: u64, action: Option<FnRef>) -> Self {
        Barrier {
            parties,
            action,
            waiting: Vec::new(),
            round: 0,
            broken: false,
            broken_round: None,
            running_action: None,
        }
    }

    /// The object handles captured by its action.
    pub fn handles_in(&self, out: &mut Vec<ObjectId>) -> usize {
        if let Some(action) = &self.action {
            action.object_ids(out);
        }
        1
    }

    fn end_round(&mut self, id: ObjectId, broke: bool) -> Vec<ObjectId> {
        if broke {
            self.broken_round = Some(self.round);
        }
        self.round += 1;
        self.waiting.clear();
        self.running_action = None;
        vec![id]
    }

    fn break_now(&mut self, id: ObjectId) -> Vec<ObjectId> {
        self.broken = true;
        self.end_round(id, true)
    }

    pub fn apply(&mut self, id: ObjectId, who: ProcId, op: Op) -> Applied {
        match op {
            Op::BarrierWait if self.broken => broken_error("the barrier is broken"),
            // Arrivals while the action runs belong to the next round.
            Op::BarrierWait if self.running_action.is_some() => {
                Applied::blocked(Op::BarrierWait, id)
            }
            Op::BarrierWait => {
                let index = self.waiting.len() as u64;
                self.waiting.push(who);
                if index + 1 < self.parties {
                    return Applied::blocked(
                        Op::BarrierRound {
                            round: self.round,
                            index,
                        },
                        id,
                    );
                }
                if let Some(action) = self.action.clone() {
                    self.running_action = Some(who);
                    return Applied::done(Value::Array(vec![
                        Value::Int(index as i64),
                        Value::Fn(action),
                    ]));
                }
                let changed = self.end_round(id, false);
                Applied {
                    changed,
                    ..Applied::done(Value::Int(index as i64))
                }
            }
            Op::BarrierRound { round, index } if self.round > round => {
                if self.broken_round == Some(round) {
                    broken_error("the barrier broke while waiting")
                } else {
                    Applied::done(Value::Int(index as i64))
                }
            }
            Op::BarrierRound { .. } if self.broken => broken_error("the barrier is broken"),
            op @ Op::BarrierRound { .. } => Applied::blocked(op, id),
            Op::BarrierActionDone { ok } if self.running_action == Some(who) => {
                let index = self.parties as i64 - 1;
                if ok {
                    let changed = self.end_round(id, false);
                    Applied {
                        changed,
                        ..Applied::done(Value::Int(index))
                    }
                } else {
                    let changed = self.break_now(id);
                    Applied {
                        changed,
                        ..broken_error("the barrier's action failed")
                    }
                }
            }
            Op::BarrierActionDone { .. } => {
                Applied::invalid("the barrier is not waiting for this process's action")
            }
            Op::Abort => Applied {
                changed: self.break_now(id),
                ..Applied::done(Value::Unit)
            },
            Op::Reset => {
                let breaks_waiters = !self.waiting.is_empty();
                let changed = self.end_round(id, breaks_waiters);
                self.broken = false;
                Applied {
                    changed,
                    ..Applied::done(Value::Unit)
                }
            }
            Op::NWaiting => Applied::done(Value::Int(self.waiting.len() as i64)),
            Op::IsBroken => Applied::done(Value::Bool(self.broken)),
            other => Applied::invalid(format!("a barrier has no operation {other:?}")),
        }
    }

    /// A waiter's deadline passed: as in Python, the barrier breaks.
    pub fn timed_out(&mut self, id: ObjectId) -> Applied {
        let changed = self.break_now(id);
        Applied {
            changed,
            ..broken_error("wait timed out, and the barrier broke")
        }
    }

    pub fn forget(&mut self, id: ObjectId, who: ProcId) -> Option<(String, Vec<ObjectId>)> {
        if !self.waiting.contains(&who) && self.running_action != Some(who) {
            return None;
        }
        let changed = self.break_now(id);
        Some((
            format!("waiting at barrier #{id}, which is now broken"),
            changed,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Outcome;

    #[test]
    fn one_round_gives_each_arrival_its_index() {
        let mut b = Barrier::new(3, None);
        let first = b.apply(1, 10, Op::BarrierWait);
        let Ok(Outcome::Blocked { op: round0, .. }) = first.outcome else {
            panic!("{first:?}")
        };
        let second = b.apply(1, 11, Op::BarrierWait);
        assert!(matches!(second.outcome, Ok(Outcome::Blocked { .. })));
        let last = b.apply(1, 12, Op::BarrierWait);
        assert_eq!(last.outcome, Ok(Outcome::Done(Value::Int(2))));
        assert_eq!(last.changed, vec![1]);
        assert_eq!(
            b.apply(1, 10, round0).outcome,
            Ok(Outcome::Done(Value::Int(0)))
        );
    }

    #[test]
    fn a_dead_waiter_breaks_the_round_for_the_others() {
        let mut b = Barrier::new(3, None);
        let Ok(Outcome::Blocked { op, .. }) = b.apply(1, 10, Op::BarrierWait).outcome else {
            panic!()
        };
        b.apply(1, 11, Op::BarrierWait);
        assert!(b.forget(1, 11).is_some());
        assert!(
            b.apply(1, 10, op)
                .outcome
                .unwrap_err()
                .message
                .starts_with("BrokenBarrier")
        );
        assert!(b.apply(1, 12, Op::BarrierWait).outcome.is_err());
        b.apply(1, 12, Op::Reset);
        assert!(matches!(
            b.apply(1, 12, Op::BarrierWait).outcome,
            Ok(Outcome::Blocked { .. })
        ));
    }
}
