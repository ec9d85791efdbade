//! `Process`: `spawn(f, args)`, `process(f, args)` and the handle's methods.
//!
//! `spawn` is a reserved word in Rhai, so a plain function of that name can
//! never be called; it is registered as custom syntax instead, which parses
//! `spawn(f)` and `spawn(f, args)` like a call.

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, EvalContext, Expression, FnPtr, INT, ImmutableString,
    NativeCallContext,
};

use super::convert::{from_wire, handed, handed_target};
use super::globals::{capture_eval, capture_native};
use super::{at_position, script_error, timeout_arg};
use crate::client::{self, unexpected};
use crate::trace_recorder::blocking;
use crate::wire::{Globals, Handle, ProcId, ProcessInfo, Reply, Request};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct ProcessHandle {
    id: ProcId,
    name: ImmutableString,
    pid: Option<i32>,
}

impl ProcessHandle {
    pub fn new(id: ProcId, name: String, pid: Option<i32>) -> Self {
        ProcessHandle {
            id,
            name: name.into(),
            pid,
        }
    }

    pub fn handle(&self) -> Handle {
        Handle::Process {
            id: self.id,
            name: self.name.to_string(),
        }
    }

    fn status(&mut self) -> Result<ProcessInfo> {
        match client::call(&Request::Status { id: self.id })? {
            Reply::Process(info) => {
                self.pid = self.pid.or(info.pid);
                Ok(info)
            }
            other => Ok(unexpected(other)?),
        }
    }

    fn join(&mut self, timeout: Option<f64>) -> Result<Dynamic> {
        let request = Request::Join {
            id: self.id,
            timeout,
        };
        match blocking("join", || self.name.to_string(), || client::call(&request))? {
            Reply::Joined { info, value } => {
                self.pid = self.pid.or(info.pid);
                Ok(from_wire(value))
            }
            other => Ok(unexpected(other)?),
        }
    }

    fn signal(&mut self, signal: i32) -> Result<()> {
        client::call(&Request::Signal {
            id: self.id,
            signal,
        })?;
        Ok(())
    }
}

fn create(
    call: &str,
    f: &FnPtr,
    args: Array,
    start: bool,
    globals: Globals,
) -> Result<ProcessHandle> {
    let target = handed_target(call, f, args.len())?;
    let args = args
        .iter()
        .map(|a| handed(call, a))
        .collect::<Result<Vec<_>>>()?;
    match client::call(&Request::Spawn {
        target,
        args,
        start,
        globals,
    })? {
        Reply::Spawned { id, name, pid } => Ok(ProcessHandle::new(id, name, pid)),
        other => Ok(unexpected(other)?),
    }
}

fn optional_int(value: Option<i32>) -> Dynamic {
    value.map_or(Dynamic::UNIT, |v| Dynamic::from_int(v as INT))
}

/// The parser of `spawn ( f [, args] )`: says which symbol comes next.
fn parse_spawn(
    symbols: &[ImmutableString],
    look_ahead: &str,
    _state: &mut Dynamic,
) -> std::result::Result<Option<ImmutableString>, rhai::ParseError> {
    Ok(match symbols.len() {
        1 => Some("(".into()),
        2 => Some("$expr$".into()),
        3 if look_ahead == "," => Some(",".into()),
        3 => Some(")".into()),
        4 if symbols[3] == "," => Some("$expr$".into()),
        5 => Some(")".into()),
        _ => None,
    })
}

/// Evaluates `spawn(f)` / `spawn(f, args)`.
fn spawn_syntax(context: &mut EvalContext, inputs: &[Expression]) -> Result<Dynamic> {
    let f = context.eval_expression_tree(&inputs[0])?;
    let args = match inputs.get(1) {
        Some(expr) => context.eval_expression_tree(expr)?,
        None => Dynamic::from_array(Array::new()),
    };
    let type_name = f.type_name();
    let f = f.try_cast::<FnPtr>().ok_or_else(|| {
        script_error(format!(
            "spawn: the first argument must be a function, not {type_name}"
        ))
    })?;
    let args = args
        .into_array()
        .map_err(|t| script_error(format!("spawn: the arguments must be an array, not {t}")))?;
    let globals = capture_eval(context);
    create("spawn", &f, args, true, globals).map(Dynamic::from)
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<ProcessHandle>("Process");
    engine.register_custom_syntax_with_state_raw(
        "spawn",
        parse_spawn,
        false,
        |context, inputs, _| {
            spawn_syntax(context, inputs).map_err(|e| at_position(e, inputs[0].position()))
        },
    );
    engine.register_fn("active_children", || -> Result<Array> {
        match client::call(&Request::Children)? {
            Reply::Values(kids) => Ok(kids.into_iter().map(from_wire).collect()),
            other => Ok(unexpected(other)?),
        }
    });
    engine.register_fn(
        "process",
        |context: NativeCallContext, f: FnPtr, args: Array| {
            create("process", &f, args, false, capture_native(&context))
        },
    );
    engine.register_fn("process", |context: NativeCallContext, f: FnPtr| {
        create("process", &f, Array::new(), false, capture_native(&context))
    });
    engine.register_fn("start", |p: &mut ProcessHandle| -> Result<()> {
        client::call(&Request::Start { id: p.id })?;
        p.status()?;
        Ok(())
    });
    engine.register_get("name", |p: &mut ProcessHandle| p.name.clone());
    engine.register_get("pid", |p: &mut ProcessHandle| -> Result<Dynamic> {
        if p.pid.is_none() {
            p.status()?;
        }
        Ok(optional_int(p.pid))
    });
    engine.register_get("exitcode", |p: &mut ProcessHandle| -> Result<Dynamic> {
        Ok(optional_int(p.status()?.exitcode))
    });
    engine.register_fn("is_alive", |p: &mut ProcessHandle| -> Result<bool> {
        let info = p.status()?;
        Ok(info.pid.is_some() && info.exitcode.is_none())
    });
    engine.register_fn("join", |p: &mut ProcessHandle| p.join(None));
    engine.register_fn(
        "join",
        |p: &mut ProcessHandle, timeout: Dynamic| -> Result<Dynamic> {
            let secs = timeout_arg("join", &timeout)?;
            p.join(Some(secs))
        },
    );
    engine.register_fn("terminate", |p: &mut ProcessHandle| p.signal(libc::SIGTERM));
    engine.register_fn("kill", |p: &mut ProcessHandle| p.signal(libc::SIGKILL));
    let show = |p: &mut ProcessHandle| match p.pid {
        Some(pid) => format!("Process({}, pid {pid})", p.name),
        None => format!("Process({})", p.name),
    };
    engine.register_fn("to_string", show);
    engine.register_fn("to_debug", show);
}
