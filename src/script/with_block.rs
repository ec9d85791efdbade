//! `with x { ... }`: runs a block holding `x` (a lock, rlock, semaphore or
//! condition), acquired before and released after, also when the block
//! throws, returns or breaks out: Python's `with lock:`. The block's value
//! is the statement's. A lock's acquire and release take their shared-word
//! fast paths directly, so a `with` costs about one method call; anything
//! else is acquired and released through its own `acquire` and `release`.
//!
//! This file owns only the statement; what acquiring means is each type's.

use rhai::{Dynamic, Engine, EvalAltResult, EvalContext, Expression};

use super::convert::script_type_name;
use super::lock::LockHandle;
use super::{at_position, script_error};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The types `with` takes, as scripts name them.
const HOLDABLE: &str = "a Lock, RLock, Semaphore or Condition";

/// What a `with` holds: a lock, through its fast paths, or anything with
/// `acquire` and `release` methods, through them.
enum Held {
    Lock(LockHandle),
    Other(Dynamic),
}

impl Held {
    fn acquire(&mut self, context: &mut EvalContext) -> Result<()> {
        match self {
            Held::Lock(lock) => lock.acquire_traced(None).map(|_| ()),
            Held::Other(value) => {
                let type_name = script_type_name(value);
                context
                    .call_native_fn_raw("acquire", true, &mut [value])
                    .map(|_| ())
                    .map_err(|e| match *e {
                        EvalAltResult::ErrorFunctionNotFound(..) => {
                            script_error(format!("with: needs {HOLDABLE}, not {type_name}"))
                        }
                        _ => e,
                    })
            }
        }
    }

    fn release(&mut self, context: &mut EvalContext) -> Result<()> {
        match self {
            Held::Lock(lock) => lock.release(),
            Held::Other(value) => context
                .call_native_fn_raw("release", true, &mut [value])
                .map(|_| ()),
        }
    }
}

fn with_syntax(context: &mut EvalContext, inputs: &[Expression]) -> Result<Dynamic> {
    // A variable a closure captured evaluates to a shared cell: what it
    // holds now is what is acquired and released, whatever the block later
    // assigns to the variable.
    let value = context.eval_expression_tree(&inputs[0])?.flatten();
    let mut held = match value.read_lock::<LockHandle>().map(|l| l.clone()) {
        Some(lock) => Held::Lock(lock),
        None => Held::Other(value),
    };
    let at = inputs[0].position();
    held.acquire(context).map_err(|e| at_position(e, at))?;
    let result = context.eval_expression_tree(&inputs[1]);
    let released = held.release(context).map_err(|e| at_position(e, at));
    finish(result, released)
}

/// The block's outcome, unless the release failed: then that error, except
/// when the block itself raised one (the one worth reporting). A `return`,
/// `break`, `continue` or `exit` leaving the block is not an error of its.
fn finish(result: Result<Dynamic>, released: Result<()>) -> Result<Dynamic> {
    match (result, released) {
        (Err(e), Err(release)) if leaves_normally(&e) => Err(release),
        (result, released) => {
            let value = result?;
            released?;
            Ok(value)
        }
    }
}

/// Whether `e` is control flow rather than a failure.
fn leaves_normally(e: &EvalAltResult) -> bool {
    matches!(
        e,
        EvalAltResult::Return(..) | EvalAltResult::LoopBreak(..) | EvalAltResult::Exit(..)
    )
}

pub fn register(engine: &mut Engine) {
    engine
        .register_custom_syntax(["with", "$expr$", "$block$"], false, with_syntax)
        .expect("`with $expr$ $block$` is a valid custom syntax");
}
