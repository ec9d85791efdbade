//! What a forked interpreter process does, by role: run the script's top
//! level (the main process), run one function (a spawned process), or run
//! pool tasks until told to stop (a pool worker). Runs only in children of
//! the hub, after `hub::launch` has cleaned the process; the returned number
//! is the process's exit status.

use rhai::{CallFnOptions, Dynamic, EvalAltResult, Scope};

use crate::client;
use crate::diagnostics;
use crate::script::{Program, from_wire, take_exit_request, to_wire};
use crate::shm::ProgressWriter;
use crate::wire::{FnRef, Outcome, PoolTask, Reply, Request, Stream, TaskReport, Value};

/// The descriptor on which every interpreter finds its socket to the hub.
pub const HUB_FD: i32 = 3;

pub enum Role {
    Main,
    Process {
        name: String,
        target: FnRef,
        args: Vec<Value>,
    },
    PoolWorker {
        /// Where the worker records the item it is starting.
        progress: ProgressWriter,
        /// Called once before the first task (`pool(#{initializer, initargs})`).
        initializer: Option<(FnRef, Vec<Value>)>,
    },
}

/// Who an interpreter is, for `current_process()` and `parent_pid()`.
pub struct Identity {
    pub name: String,
    pub parent_pid: i32,
}

pub fn run(role: &Role, identity: Identity, program: &Program) -> i32 {
    client::connect(HUB_FD);
    crate::script::set_identity(identity.name, identity.parent_pid);
    match role {
        Role::Main => run_main(program),
        Role::Process { name, target, args } => run_process(program, name, target, args),
        Role::PoolWorker {
            progress,
            initializer,
        } => run_pool_worker(program, *progress, initializer.as_ref()),
    }
}

fn stderr_line(text: String) {
    crate::script::write_output(Stream::Stderr, text + "\n");
}

fn run_main(program: &Program) -> i32 {
    let info = &program.info;
    let mut scope = Scope::new();
    let args: rhai::Array = info.args.iter().map(|a| Dynamic::from(a.clone())).collect();
    scope.push_constant("ARGS", args);
    let result = program.engine.run_ast_with_scope(&mut scope, &info.ast);
    if let Some(code) = take_exit_request() {
        return code;
    }
    match result {
        Ok(()) => 0,
        Err(e) => {
            stderr_line(diagnostics::runtime_error(&info.path, &e));
            1
        }
    }
}

/// Calls the script function `target` names with its curried values and `args`.
fn call(
    program: &Program,
    target: &FnRef,
    args: Vec<Dynamic>,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let mut all: Vec<Dynamic> = target.curry.iter().cloned().map(from_wire).collect();
    all.extend(args);
    let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
    program.engine.call_fn_with_options(
        options,
        &mut Scope::new(),
        &program.info.ast,
        &target.name,
        all,
    )
}

fn worker_error(name: &str, error: &EvalAltResult) -> String {
    let (message, position) = diagnostics::root_cause(error);
    format!(
        "{name} (pid {}): {}",
        std::process::id(),
        diagnostics::with_position(&message, position)
    )
}

fn run_process(program: &Program, name: &str, target: &FnRef, args: &[Value]) -> i32 {
    let result = call(
        program,
        target,
        args.iter().cloned().map(from_wire).collect(),
    );
    if let Some(code) = take_exit_request() {
        return code;
    }
    let outcome = match result.map(|v| to_wire(&v)) {
        Ok(Ok(value)) => Outcome::Returned(value),
        Ok(Err(unsendable)) => {
            let message = format!(
                "{name} (pid {}): its return value: {unsendable}",
                std::process::id()
            );
            stderr_line(message.clone());
            Outcome::Failed(message)
        }
        Err(e) => {
            let message = worker_error(name, &e);
            stderr_line(message.clone());
            Outcome::Failed(message)
        }
    };
    let code = i32::from(matches!(outcome, Outcome::Failed(_)));
    let _ = client::send(&Request::Finished { outcome });
    code
}

fn run_pool_worker(
    program: &Program,
    progress: ProgressWriter,
    initializer: Option<&(FnRef, Vec<Value>)>,
) -> i32 {
    if let Some((init, args)) = initializer {
        let result = call(program, init, args.iter().cloned().map(from_wire).collect());
        if let Some(code) = take_exit_request() {
            return code;
        }
        if let Err(e) = result {
            let name = crate::script::process_name();
            stderr_line(format!(
                "{}: its initializer failed",
                worker_error(&name, &e)
            ));
            return 1;
        }
    }
    let mut report = None;
    loop {
        let task = match client::call(&Request::PoolNext {
            report: report.take(),
        }) {
            Ok(Reply::Task(task)) => task,
            _ => return 0,
        };
        match run_task(program, task, progress) {
            Ok(r) => report = Some(r),
            Err(code) => return code,
        }
    }
}

/// Runs one chunk; `Err(code)` when the function called `exit`.
fn run_task(
    program: &Program,
    task: PoolTask,
    progress: ProgressWriter,
) -> Result<TaskReport, i32> {
    let mut results = Vec::with_capacity(task.items.len());
    for (offset, item) in task.items.into_iter().enumerate() {
        let index = task.first + offset;
        progress.record(index);
        let args = match (task.spread, from_wire(item)) {
            (true, args) if args.is_array() => args.into_array().unwrap_or_default(),
            (_, item) => vec![item],
        };
        let result = call(program, &task.target, args);
        if let Some(code) = take_exit_request() {
            return Err(code);
        }
        let failure = match result.map(|v| to_wire(&v)) {
            Ok(Ok(value)) => {
                results.push(value);
                continue;
            }
            Ok(Err(unsendable)) => format!("its result: {unsendable}"),
            Err(e) => {
                let (message, position) = diagnostics::root_cause(&e);
                diagnostics::with_position(&message, position)
            }
        };
        return Ok(TaskReport::Failed {
            index,
            message: failure,
            results,
        });
    }
    Ok(TaskReport::Done { results })
}
