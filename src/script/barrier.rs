//! `Barrier`: `barrier(n)` / `barrier(n, action)`; `wait`, `wait(timeout)`,
//! `abort`, `reset`, `parties`, `n_waiting`, `is_broken`. The last process
//! to arrive runs the action (in its own process) before the round ends.

use super::refs::Holder;
use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, INT, NativeCallContext};

use super::convert::{fn_ptr, followed, target};
use super::objects::{call, call_bool, call_int, create, register_show};
use super::{script_error, timeout_arg};
use crate::trace_recorder::blocking;
use crate::wire::{Handle, NewObject, ObjectId, ObjectKind, Op, Value};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct BarrierHandle {
    pub id: ObjectId,
    /// This process's share in the hub's count on the object.
    pub held: Holder,
    pub parties: u64,
}

impl BarrierHandle {
    pub fn handle(&self) -> Handle {
        Handle::Object {
            id: self.id,
            kind: ObjectKind::Barrier {
                parties: self.parties,
            },
            direct: None,
        }
    }

    /// As the script prints it, and a trace names what a wait was on.
    fn label(&self) -> String {
        format!("Barrier(#{}, parties {})", self.id, self.parties)
    }

    fn wait(&self, ctx: &NativeCallContext, timeout: Option<f64>) -> Result<INT> {
        match blocking(
            "barrier wait",
            || self.label(),
            || call(self.id, Op::BarrierWait, timeout),
        )? {
            Value::Int(index) => Ok(index),
            // The last arrival of a barrier with an action: run it, then end the round.
            Value::Array(parts) => {
                let action = match parts.get(1) {
                    Some(Value::Fn(f)) => fn_ptr(f),
                    _ => None,
                };
                let result: Result<Dynamic> = match action {
                    Some(action) => action.call_within_context(ctx, ()),
                    None => Err(script_error(
                        "barrier: its action cannot be found in this script",
                    )),
                };
                let done = call(self.id, Op::BarrierActionDone { ok: result.is_ok() }, None);
                result.map(drop)?;
                match done? {
                    Value::Int(index) => Ok(index),
                    _ => Ok(self.parties as INT - 1),
                }
            }
            _ => Ok(0),
        }
    }
}

fn new_barrier(parties: INT, action: Option<FnRef>) -> Result<BarrierHandle> {
    if parties < 1 {
        return Err(script_error(format!(
            "barrier: parties must be at least 1, not {parties}"
        )));
    }
    let parties = parties as u64;
    let (id, _) = create(NewObject::Barrier { parties, action })?;
    Ok(BarrierHandle {
        held: Holder::delivered(id),
        id,
        parties,
    })
}

use crate::wire::FnRef;

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<BarrierHandle>("Barrier");
    engine.register_fn("barrier", |n: INT| new_barrier(n, None));
    engine.register_fn("barrier", |n: INT, action: FnPtr| {
        // The barrier keeps it, and the hub follows its captured handles.
        let action = followed(|| target("barrier", &action, 0))?;
        new_barrier(n, Some(action))
    });
    engine.register_fn("wait", |ctx: NativeCallContext, b: &mut BarrierHandle| {
        b.wait(&ctx, None)
    });
    engine.register_fn(
        "wait",
        |ctx: NativeCallContext, b: &mut BarrierHandle, t: Dynamic| -> Result<INT> {
            let secs = timeout_arg("wait", &t)?;
            b.wait(&ctx, Some(secs))
        },
    );
    engine.register_fn("abort", |b: &mut BarrierHandle| -> Result<()> {
        call(b.id, Op::Abort, None).map(|_| ())
    });
    engine.register_fn("reset", |b: &mut BarrierHandle| -> Result<()> {
        call(b.id, Op::Reset, None).map(|_| ())
    });
    engine.register_fn("parties", |b: &mut BarrierHandle| b.parties as INT);
    engine.register_fn("n_waiting", |b: &mut BarrierHandle| {
        call_int(b.id, Op::NWaiting)
    });
    engine.register_fn("is_broken", |b: &mut BarrierHandle| {
        call_bool(b.id, Op::IsBroken, None)
    });
    register_show!(engine, BarrierHandle, |b: &mut BarrierHandle| b.label());
}
