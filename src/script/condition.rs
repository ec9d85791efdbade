//! `Condition`: `condition()` (over a new rlock, as in Python) or
//! `condition(lock)`; `acquire`, `release`, `wait`, `wait(timeout)`,
//! `wait_for(pred)`, `wait_for(pred, timeout)`, `notify`, `notify(n)`,
//! `notify_all`.

use super::refs::Holder;
use std::time::Instant;

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, INT, NativeCallContext};

use super::lock::{LockHandle, new_lock};
use super::objects::{call, call_bool, create, register_show, register_timed};
use super::{script_error, timeout_arg};
use crate::trace_recorder::blocking;
use crate::wire::MAX_TIMEOUT_SECS;
use crate::wire::{Handle, NewObject, ObjectId, ObjectKind, Op};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct ConditionHandle {
    pub id: ObjectId,
    /// This process's share in the hub's count on the object.
    pub held: Holder,
    pub lock: ObjectId,
}

impl ConditionHandle {
    pub fn handle(&self) -> Handle {
        Handle::Object {
            id: self.id,
            kind: ObjectKind::Condition { lock: self.lock },
            direct: None,
        }
    }

    /// As the script prints it, and a trace names what a wait was on.
    fn label(&self) -> String {
        format!("Condition(#{})", self.id)
    }

    fn wait(&self, timeout: Option<f64>) -> Result<bool> {
        let waited = blocking(
            "condition wait",
            || self.label(),
            || call_bool(self.id, Op::CondWait, timeout),
        );
        match waited {
            // A wait ended by the deadlock check: like Python's, `wait`
            // takes the lock back before it raises, so the caller's
            // `release` still holds (if the lock cannot be had either, that
            // wait ends the same way).
            Err(e) if is_deadlock(&e) => {
                let _ = call_bool(self.lock, Op::Acquire, None);
                Err(e)
            }
            other => other,
        }
    }

    /// Waits until `pred` is true, or the timeout passes; returns `pred`'s last value.
    fn wait_for(
        &self,
        ctx: &NativeCallContext,
        pred: &FnPtr,
        timeout: Option<f64>,
    ) -> Result<bool> {
        let deadline = timeout
            .map(|t| Instant::now() + std::time::Duration::from_secs_f64(t.min(MAX_TIMEOUT_SECS)));
        loop {
            let ready: Dynamic = pred.call_within_context(ctx, ())?;
            let ready = ready.as_bool().map_err(|t| {
                script_error(format!(
                    "wait_for: the predicate must return a bool, not {t}"
                ))
            })?;
            if ready {
                return Ok(true);
            }
            let remaining = match deadline {
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) => Some(left.as_secs_f64()),
                    None => return Ok(false),
                },
                None => None,
            };
            self.wait(remaining)?;
        }
    }
}

fn is_deadlock(error: &EvalAltResult) -> bool {
    matches!(error, EvalAltResult::ErrorRuntime(message, _)
        if message.clone().into_immutable_string().is_ok_and(|m| m.starts_with("Deadlock")))
}

fn new_condition(lock: ObjectId) -> Result<ConditionHandle> {
    let (id, _) = create(NewObject::Condition { lock })?;
    Ok(ConditionHandle {
        held: Holder::delivered(id),
        id,
        lock,
    })
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<ConditionHandle>("Condition");
    engine.register_fn("condition", || new_condition(new_lock(true)?.id));
    engine.register_fn("condition", |lock: LockHandle| new_condition(lock.id));
    register_timed!(
        engine,
        "acquire",
        ConditionHandle,
        |c: &mut ConditionHandle, t| {
            blocking(
                "condition acquire",
                || c.label(),
                || call_bool(c.lock, Op::Acquire, t),
            )
        }
    );
    engine.register_fn("release", |c: &mut ConditionHandle| -> Result<()> {
        call(c.lock, Op::Release, None).map(|_| ())
    });
    register_timed!(
        engine,
        "wait",
        ConditionHandle,
        |c: &mut ConditionHandle, t| c.wait(t)
    );
    engine.register_fn(
        "wait_for",
        |ctx: NativeCallContext, c: &mut ConditionHandle, pred: FnPtr| {
            c.wait_for(&ctx, &pred, None)
        },
    );
    engine.register_fn(
        "wait_for",
        |ctx: NativeCallContext,
         c: &mut ConditionHandle,
         pred: FnPtr,
         t: Dynamic|
         -> Result<bool> {
            let secs = timeout_arg("wait_for", &t)?;
            c.wait_for(&ctx, &pred, Some(secs))
        },
    );
    engine.register_fn("notify", |c: &mut ConditionHandle| -> Result<()> {
        call(c.id, Op::Notify(1), None).map(|_| ())
    });
    engine.register_fn("notify", |c: &mut ConditionHandle, n: INT| -> Result<()> {
        if n < 0 {
            return Err(script_error(format!(
                "notify: n must not be negative, not {n}"
            )));
        }
        call(c.id, Op::Notify(n as u64), None).map(|_| ())
    });
    engine.register_fn("notify_all", |c: &mut ConditionHandle| -> Result<()> {
        call(c.id, Op::NotifyAll, None).map(|_| ())
    });
    register_show!(engine, ConditionHandle, |c: &mut ConditionHandle| c.label());
}
