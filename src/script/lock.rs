//! `Lock`: `lock()`, `acquire`, `release`, `is_locked`. The hub hands a lock
//! whose holder died to the next waiter and says so on stderr.

use rhai::{Dynamic, Engine, EvalAltResult};

use super::timeout_arg;
use crate::client::{self, unexpected};
use crate::wire::{Handle, ObjectId, Reply, Request};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct LockHandle {
    pub id: ObjectId,
}

impl LockHandle {
    pub fn handle(&self) -> Handle {
        Handle::Lock { id: self.id }
    }

    fn ask_bool(&self, request: Request) -> Result<bool> {
        match client::call(&request)? {
            Reply::Bool(b) => Ok(b),
            other => Ok(unexpected(other)?),
        }
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<LockHandle>("Lock");
    engine.register_fn("lock", || -> Result<LockHandle> {
        match client::call(&Request::LockNew)? {
            Reply::Handle(Handle::Lock { id }) => Ok(LockHandle { id }),
            other => Ok(unexpected(other)?),
        }
    });
    engine.register_fn("acquire", |l: &mut LockHandle| {
        l.ask_bool(Request::LockAcquire {
            id: l.id,
            timeout: None,
        })
    });
    engine.register_fn("acquire", |l: &mut LockHandle, t: Dynamic| {
        let timeout = Some(timeout_arg("acquire", &t)?);
        l.ask_bool(Request::LockAcquire { id: l.id, timeout })
    });
    engine.register_fn("release", |l: &mut LockHandle| -> Result<()> {
        client::call(&Request::LockRelease { id: l.id })?;
        Ok(())
    });
    engine.register_fn("is_locked", |l: &mut LockHandle| {
        l.ask_bool(Request::LockIsLocked { id: l.id })
    });
    let show = |l: &mut LockHandle| format!("Lock(#{})", l.id);
    engine.register_fn("to_string", show);
    engine.register_fn("to_debug", show);
}
