//! `with x { ... }`: runs a block holding `x` (a lock, rlock, semaphore or
//! condition), acquired before and released after, also when the block
//! throws, returns or breaks out: Python's `with lock:`. The block's value
//! is the statement's. A lock's acquire and release take their shared-word
//! fast paths directly, so a `with` costs about one method call; anything
//! else is acquired and released through its own `acquire` and `release`.
//!
//! This file owns only the statement; what acquiring means is each type's.

use rhai::{Dynamic, Engine, EvalAltResult, EvalContext, Expression, Position};

use super::convert::script_type_name;
use super::lock::LockHandle;
use super::script_error;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The types `with` takes, as scripts name them.
const HOLDABLE: &str = "a Lock, RLock, Semaphore or Condition";

fn with_syntax(context: &mut EvalContext, inputs: &[Expression]) -> Result<Dynamic> {
    // A variable a closure captured evaluates to a shared cell: what it
    // holds now is what is acquired and released, whatever the block later
    // assigns to the variable.
    let mut held = context.eval_expression_tree(&inputs[0])?.flatten();
    let at = inputs[0].position();
    if let Some(lock) = held.read_lock::<LockHandle>().map(|l| l.clone()) {
        lock.acquire_traced(None).map_err(|e| placed(e, at))?;
        let result = context.eval_expression_tree(&inputs[1]);
        let released = lock.release().map_err(|e| placed(e, at));
        return finish(result, released);
    }
    let type_name = script_type_name(&held);
    let _ = context
        .call_native_fn_raw("acquire", true, &mut [&mut held])
        .map_err(|e| match *e {
            EvalAltResult::ErrorFunctionNotFound(..) => {
                script_error(format!("with: needs {HOLDABLE}, not {type_name}"))
            }
            _ => e,
        })
        .map_err(|e| placed(e, at))?;
    let result = context.eval_expression_tree(&inputs[1]);
    let released = context
        .call_native_fn_raw("release", true, &mut [&mut held])
        .map(|_| ())
        .map_err(|e| placed(e, at));
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

/// Custom syntax gets no call position filled in: the held expression's.
fn placed(mut e: Box<EvalAltResult>, at: Position) -> Box<EvalAltResult> {
    if e.position().is_none() {
        e.set_position(at);
    }
    e
}

pub fn register(engine: &mut Engine) {
    engine
        .register_custom_syntax(["with", "$expr$", "$block$"], false, with_syntax)
        .expect("`with $expr$ $block$` is a valid custom syntax");
}
