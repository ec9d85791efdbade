//! Held-back requests: parking a process, answering it when its deadline
//! passes, and breaking a run in which every process waits forever.

use nix::sys::signal::Signal;

use super::processes::{Link, Proc, ProcKind};
use super::waits::{self, WaitKey};
use super::{Core, Host, invalid, pools};
use crate::wire::{JobAsk, Op, ProcId, ProcessInfo, Reply, Value};

impl<H: Host> Core<H> {
    // ----- parking --------------------------------------------------------

    pub(super) fn park(&mut self, who: ProcId, key: WaitKey, op: Option<Op>, timeout: Option<f64>) {
        let now = self.host.now();
        let parked = self.waits.park(who, key, op, timeout, now);
        if parked.deadline.is_none() {
            self.check_stuck = true;
        }
        if let Some(proc) = self.procs.get_mut(who) {
            proc.parked = Some(parked);
        }
    }

    pub(super) fn is_parked_on(&self, who: ProcId, key: WaitKey) -> bool {
        self.procs
            .get(who)
            .and_then(|p| p.parked.as_ref())
            .is_some_and(|p| p.key == key)
    }

    pub(super) fn unpark(&mut self, who: ProcId) -> Option<waits::Parked> {
        self.procs.get_mut(who).and_then(|p| p.parked.take())
    }

    pub(super) fn fire_timers(&mut self) {
        for (who, ticket) in self.waits.due(self.host.now()) {
            let current = self
                .procs
                .get(who)
                .and_then(|p| p.parked.as_ref())
                .is_some_and(|p| p.ticket == ticket);
            if !current {
                continue;
            }
            let Some(parked) = self.unpark(who) else {
                continue;
            };
            let reply = match parked.key {
                WaitKey::Object(id) => {
                    if let Some(op) = parked.op {
                        self.object_timed_out(who, id, op);
                    }
                    continue;
                }
                WaitKey::Join(target) => {
                    let info = self
                        .procs
                        .get(target)
                        .map(Proc::info)
                        .unwrap_or(ProcessInfo {
                            pid: None,
                            exitcode: None,
                        });
                    Reply::Joined {
                        info,
                        value: Value::Unit,
                    }
                }
                WaitKey::Job(_) => pools::job_timeout(parked.ask.unwrap_or(JobAsk::Get)),
                WaitKey::PoolJoin(_) | WaitKey::PoolIdle(_) | WaitKey::PoolPlaced(_) => continue,
            };
            self.reply(who, reply);
        }
    }

    /// Ends `who`'s wait with an error, undoing what the wait had started:
    /// a `pool_map` stops its workers; an object operation is settled as if
    /// its deadline had passed (a barrier breaks, a condition forgets the
    /// waiter) and its answer replaced by the error.
    fn cancel_wait(&mut self, who: ProcId, message: String) {
        if self.withdraw_wait(who) {
            self.reply(who, Reply::Error(invalid(message)));
        }
    }

    /// Ends `who`'s wait without an answer and undoes what it had started;
    /// false when it was not waiting.
    pub(super) fn withdraw_wait(&mut self, who: ProcId) -> bool {
        let Some(parked) = self.unpark(who) else {
            return false;
        };
        match (parked.key, parked.op) {
            (WaitKey::Job(job), _) => self.job_abandoned(job),
            (WaitKey::Object(id), Some(op)) => {
                let changed = self.store.withdraw(id, who, op);
                self.retry_parked(changed);
            }
            _ => {}
        }
        true
    }

    /// When every live process waits with no deadline, nothing can ever wake
    /// them: Python hangs here. mphost answers the main script's wait with an
    /// error, or, once the main script has ended, stops the stuck processes.
    pub(super) fn break_stuck_run(&mut self) {
        // Idle pool workers wait for nothing of their own: they are not stuck.
        let idle =
            |p: &&Proc| matches!(p.parked.as_ref().map(|w| w.key), Some(WaitKey::PoolIdle(_)));
        let running: Vec<&Proc> = self
            .procs
            .iter()
            .filter(|p| p.is_running())
            .filter(|p| !idle(p))
            .collect();
        // Someone not parked, parked with a deadline, or sent a signal (its
        // death may wake the others) can still move the run on.
        // A process that was signalled or closed its socket is dying, and its
        // death may wake the others.
        let can_move = |p: &&Proc| {
            p.signaled
                || p.link != Link::Open
                || p.parked.as_ref().is_none_or(|w| w.deadline.is_some())
        };
        if running.is_empty() || running.iter().any(can_move) {
            return;
        }
        let mut described: Vec<(ProcId, String)> = running
            .iter()
            .map(|p| {
                (
                    p.id,
                    format!(
                        "{} {}",
                        p.label(),
                        p.parked.as_ref().map_or(String::new(), |w| w.describe())
                    ),
                )
            })
            .collect();
        described.sort();
        let story = described
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join("; ");
        let main = self
            .procs
            .iter()
            .find(|p| p.kind == ProcKind::Main && p.is_running())
            .map(|p| p.id);
        match main {
            Some(main) => {
                let message = format!(
                    "Deadlock: every process is waiting and none can wake the others ({story})"
                );
                self.cancel_wait(main, message);
            }
            None => {
                self.warn(format!(
                    "the script has ended but its processes wait forever ({story}); stopping them"
                ));
                self.signal_all(Signal::SIGKILL);
            }
        }
    }
}
