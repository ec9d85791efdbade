//! `Lock` and `RLock`: `lock()`, `rlock()`, `acquire`, `release`,
//! `is_locked`. The hub hands a lock whose holder died to the next waiter and
//! says so on stderr.

use rhai::{Engine, EvalAltResult};

use super::objects::{call, call_bool, create, register_show, register_timed};
use crate::wire::{Handle, NewObject, ObjectId, ObjectKind, Op};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct LockHandle {
    pub id: ObjectId,
    pub reentrant: bool,
}

impl LockHandle {
    pub fn handle(&self) -> Handle {
        let kind = if self.reentrant {
            ObjectKind::RLock
        } else {
            ObjectKind::Lock
        };
        Handle::Object { id: self.id, kind }
    }
}

pub fn new_lock(reentrant: bool) -> Result<LockHandle> {
    let (id, _) = create(NewObject::Lock { reentrant })?;
    Ok(LockHandle { id, reentrant })
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<LockHandle>("Lock");
    engine.register_fn("lock", || new_lock(false));
    engine.register_fn("rlock", || new_lock(true));
    register_timed!(engine, "acquire", LockHandle, |l: &mut LockHandle, t| {
        call_bool(l.id, Op::Acquire, t)
    });
    engine.register_fn("release", |l: &mut LockHandle| -> Result<()> {
        call(l.id, Op::Release, None).map(|_| ())
    });
    engine.register_fn("is_locked", |l: &mut LockHandle| {
        call_bool(l.id, Op::IsLocked, None)
    });
    register_show!(engine, LockHandle, |l: &mut LockHandle| {
        format!("{}(#{})", if l.reentrant { "RLock" } else { "Lock" }, l.id)
    });
}
