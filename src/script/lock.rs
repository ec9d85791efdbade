//! `Lock` and `RLock`: `lock()`, `rlock()`, `acquire`, `release`,
//! `is_locked`. The hub hands a lock whose holder died to the next waiter and
//! says so on stderr.
//!
//! A lock's state is a word in the shared arena (`shm::LockWord`), so an
//! acquire that finds it free and a release that finds nobody waiting are
//! one atomic swap here, with no message. A contended acquire first spins a
//! little (the holder usually lets go within microseconds), then asks the
//! hub, which parks it: waiting, time-outs, the deadlock check and a dead
//! holder's lock stay the hub's business. A release goes through the hub
//! when processes wait (the hub hands the lock on), and after a one-way
//! message the hub may not have read yet (a line printed under the lock
//! must come out before the next holder's).

use super::refs::Holder;
use std::time::Instant;

use rhai::{Engine, EvalAltResult};

use super::objects::{call, call_bool, create, register_show, register_timed};
use super::script_error;
use crate::client;
use crate::shm::{self, Arena, LockWord, Released, Try};
use crate::trace_recorder::blocking;
use crate::wire::{Handle, NewObject, ObjectId, ObjectKind, Op};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct LockHandle {
    pub id: ObjectId,
    /// This process's share in the hub's count on the object.
    pub held: Holder,
    pub reentrant: bool,
    /// The lock's word in the arena, if it has one.
    pub slot: Option<u32>,
}

impl LockHandle {
    pub fn handle(&self) -> Handle {
        let kind = if self.reentrant {
            ObjectKind::RLock
        } else {
            ObjectKind::Lock
        };
        Handle::Object {
            id: self.id,
            kind,
            direct: self.slot,
        }
    }

    fn word(&self) -> Option<LockWord<'static>> {
        let word = Arena::get()?.word(self.slot?)?;
        Some(LockWord::new(word, self.reentrant))
    }

    fn noun(&self) -> &'static str {
        if self.reentrant { "rlock" } else { "lock" }
    }

    /// `acquire`, waiting at most `timeout` seconds.
    pub fn acquire(&self, timeout: Option<f64>) -> Result<bool> {
        let Some(word) = self.word() else {
            return call_bool(self.id, Op::Acquire, timeout);
        };
        let me = client::self_id();
        if word.try_acquire(me, 1) {
            return Ok(true);
        }
        let started = Instant::now();
        // Gives up at once when the hub already has waiters queued.
        let taken = shm::spin(shm::spin_limit(timeout), || {
            if word.try_acquire(me, 1) {
                Try::Done(())
            } else if word.has_waiters() {
                Try::GiveUp
            } else {
                Try::Again
            }
        });
        if taken.is_some() {
            return Ok(true);
        }
        let remaining = timeout.map(|t| (t - started.elapsed().as_secs_f64()).max(0.0));
        if remaining == Some(0.0) {
            return Ok(false);
        }
        call_bool(self.id, Op::Acquire, remaining)
    }

    /// `acquire`, as a script's call: under `--trace`, a wait becomes a
    /// `blocked:` span.
    pub fn acquire_traced(&self, timeout: Option<f64>) -> Result<bool> {
        let what = if self.reentrant {
            "rlock acquire"
        } else {
            "lock acquire"
        };
        blocking(what, || self.label(), || self.acquire(timeout))
    }

    pub fn release(&self) -> Result<()> {
        if let Some(word) = self.word()
            && !client::has_unconfirmed()
        {
            let released = word.release(client::self_id(), false);
            if let Some(refusal) = released.refusal(self.noun()) {
                return Err(script_error(refusal));
            }
            if released != Released::ThroughHub {
                return Ok(());
            }
        }
        call(self.id, Op::Release, None).map(|_| ())
    }

    /// As the script prints it, and a trace names what a wait was on.
    fn label(&self) -> String {
        format!(
            "{}(#{})",
            if self.reentrant { "RLock" } else { "Lock" },
            self.id
        )
    }

    pub fn is_locked(&self) -> Result<bool> {
        match self.word() {
            Some(word) => Ok(word.is_locked()),
            None => call_bool(self.id, Op::IsLocked, None),
        }
    }
}

pub fn new_lock(reentrant: bool) -> Result<LockHandle> {
    let (id, slot) = create(NewObject::Lock { reentrant })?;
    Ok(LockHandle {
        held: Holder::delivered(id),
        id,
        reentrant,
        slot,
    })
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<LockHandle>("Lock");
    engine.register_fn("lock", || new_lock(false));
    engine.register_fn("rlock", || new_lock(true));
    register_timed!(engine, "acquire", LockHandle, |l: &mut LockHandle, t| {
        l.acquire_traced(t)
    });
    engine.register_fn("release", |l: &mut LockHandle| l.release());
    engine.register_fn("is_locked", |l: &mut LockHandle| l.is_locked());
    register_show!(engine, LockHandle, |l: &mut LockHandle| l.label());
}
