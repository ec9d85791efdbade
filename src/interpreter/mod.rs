//! What a forked interpreter process does, by role: run the script's top
//! level (the main process), run one function (a spawned process), or run
//! pool tasks until told to stop (a pool worker). Runs only in children of
//! the hub, after `hub::launch` has cleaned the process; the returned number
//! is the process's exit status.

use std::cell::RefCell;
use std::os::fd::{FromRawFd, OwnedFd};

use rhai::{
    Caches, Dynamic, Engine, EvalAltResult, EvalContext, GlobalRuntimeState, INT,
    NativeCallContext, Scope,
};

use crate::child::{ARENA_FD, HUB_FD, Identity, LAUNCH_FD, Role};
use crate::client;
use crate::diagnostics::{self, Code, ItemNote};
use crate::script::{
    Holder, Program, RunSettings, StartMethod, WORKER_ENTRY, followed, from_wire, functions_of,
    keeping, pack_one, prelude, take_exit_request, take_handles, take_packed_handles, to_wire,
    unpack_one,
};
use crate::shm::{Arena, ProgressWriter};
use crate::trace_recorder::{self, TaskTimer};
use crate::wire::{
    FnRef, Globals, Launch, Outcome, Packed, PoolTask, Reply, Request, Stream, TaskReport, Value,
    WorkerRole, read_frame,
};

/// The entry of an exec'd worker (`mphost __worker`, `--start-method
/// spawn`): reads its `Launch` from `LAUNCH_FD`, compiles the script again
/// (the hashing seed is fixed, so closures have the same names as in the
/// hub), and runs like a forked worker.
pub fn run_launched() -> i32 {
    let launch: Launch = {
        // SAFETY: the hub's child put the launch memfd at this descriptor
        // before exec; nothing else in this process owns it.
        let mut file = unsafe { std::fs::File::from_raw_fd(LAUNCH_FD) };
        match read_frame(&mut file) {
            Ok(launch) => launch,
            Err(e) => {
                eprintln!("mphost __worker: no launch description: {e}");
                return 2;
            }
        }
    };
    let Launch {
        id,
        name,
        parent_pid,
        arena,
        role,
        script,
        modules,
        max_memory,
    } = launch;
    crate::script::use_shipped_modules(modules);
    // The progress slot follows the arena's memfd, when there is one.
    let progress_fd = if arena {
        // SAFETY: the hub's child put the arena's memfd at this descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(ARENA_FD) };
        if let Err(e) = Arena::attach(fd) {
            eprintln!("mphost __worker: cannot map the lock arena: {e}");
            return 2;
        }
        ARENA_FD + 1
    } else {
        ARENA_FD
    };
    // The limit is on what the worker adds: its script, its values.
    if let Some(bytes) = max_memory {
        crate::child::limit_address_space_growth(bytes);
    }
    let settings = RunSettings {
        args: script.args,
        workers: script.workers,
        start_method: StartMethod::Spawn,
        // Applied to this process above.
        max_memory: None,
        // The hub's business.
        tag_output: false,
        ordered_output: false,
        trace: script.trace,
        progress: false,
    };
    let program = match crate::script::load(&script.source, script.path.clone(), settings, register)
    {
        Ok(program) => program,
        Err(e) => {
            eprintln!(
                "{}",
                diagnostics::parse_error(&script.path, &script.source, &e)
            );
            return 2;
        }
    };
    let role = match role {
        WorkerRole::Process {
            target,
            args,
            globals,
        } => Role::Process {
            name: name.clone(),
            target,
            args,
            globals,
        },
        WorkerRole::PoolWorker { setup } => {
            // SAFETY: as above, for the progress slot's memfd.
            let fd = unsafe { OwnedFd::from_raw_fd(progress_fd) };
            match ProgressWriter::map(fd) {
                Ok(progress) => Role::PoolWorker { progress, setup },
                Err(e) => {
                    eprintln!("mphost __worker: cannot map the progress slot: {e}");
                    return 2;
                }
            }
        }
    };
    let identity = Identity {
        id,
        name,
        parent_pid,
    };
    run(&role, identity, &program)
}

/// The work of a spawned process or pool worker, handed from `run` to the
/// entry point its prelude calls.
enum Work {
    Process {
        name: String,
        target: FnRef,
        args: Vec<Value>,
    },
    PoolWorker {
        progress: ProgressWriter,
        initializer: Option<(FnRef, Vec<Value>)>,
    },
}

thread_local! {
    static WORK: RefCell<Option<Work>> = const { RefCell::new(None) };
}

pub fn run(role: &Role, identity: Identity, program: &Program) -> i32 {
    client::connect(HUB_FD, identity.id);
    crate::script::set_identity(identity.name, identity.parent_pid);
    if program.info.settings.trace {
        trace_recorder::enable();
    }
    let code = run_role(role, program);
    // The spans still held; the hub reads them before it hears of the end.
    trace_recorder::flush();
    code
}

fn run_role(role: &Role, program: &Program) -> i32 {
    let (work, globals) = match role {
        Role::Main => return run_main(program),
        Role::Process {
            name,
            target,
            args,
            globals,
        } => (
            Work::Process {
                name: name.clone(),
                target: target.clone(),
                args: args.clone(),
            },
            globals.clone(),
        ),
        Role::PoolWorker { progress, setup } => (
            Work::PoolWorker {
                progress: *progress,
                initializer: setup.initializer.clone(),
            },
            setup.globals.clone(),
        ),
    };
    WORK.with(|w| *w.borrow_mut() = Some(work));
    run_worker(program, globals)
}

/// Registers the entry point a worker's prelude calls.
pub fn register(engine: &mut Engine) {
    engine.register_fn(WORKER_ENTRY, |context: NativeCallContext| -> INT {
        let code = match WORK.with(|w| w.borrow_mut().take()) {
            Some(Work::Process { name, target, args }) => {
                run_process(&context, &name, &target, args)
            }
            Some(Work::PoolWorker {
                progress,
                initializer,
            }) => run_pool_worker(&context, progress, initializer.as_ref()),
            None => 0,
        };
        INT::from(code)
    });
}

fn stderr_line(text: String) {
    crate::script::write_output(Stream::Stderr, text + "\n");
}

fn run_main(program: &Program) -> i32 {
    let info = &program.info;
    let mut scope = Scope::new();
    let args: rhai::Array = info
        .settings
        .args
        .iter()
        .map(|a| Dynamic::from(a.clone()))
        .collect();
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

/// Runs the prelude (the inherited imports and constants), which calls the
/// entry point, which does the work; the process's exit status.
fn run_worker(program: &Program, globals: Globals) -> i32 {
    let inherits = !(globals.imports.is_empty() && globals.constants.is_empty());
    let result = if !inherits {
        // Compiled in the hub: nothing to parse (a fork's child would fault
        // in the parser's code pages first).
        program
            .engine
            .eval_ast::<INT>(&program.info.plain_worker)
            .map_err(|e| diagnostics::root_cause(&e).0)
    } else {
        let paths: Vec<String> = globals.imports.iter().map(|(_, p)| p.clone()).collect();
        let prelude = prelude(globals);
        functions_of(&program.engine, &paths)
            .map_err(|e| diagnostics::root_cause(&e).0)
            .and_then(|modules| {
                let top = program
                    .engine
                    .compile(&prelude)
                    .map_err(|e| e.to_string())?;
                // The script's functions win over a module's of the same name.
                let ast = modules
                    .merge(&program.info.ast.clone_functions_only())
                    .merge(&top);
                program
                    .engine
                    .eval_ast::<INT>(&ast)
                    .map_err(|e| diagnostics::root_cause(&e).0)
            })
    };
    if let Some(code) = take_exit_request() {
        return code;
    }
    match result {
        Ok(code) => code as i32,
        Err(message) => {
            stderr_line(format!(
                "{} (pid {}): cannot set up what it inherits: {message}",
                crate::script::process_name(),
                std::process::id()
            ));
            1
        }
    }
}

/// A function to call: its name and its curried values, made script values
/// once (a pool task calls it for every item), and the interpreter state it
/// is called in, copied once from the worker's prelude (its constants and
/// modules) and kept, with Rhai's function-resolution cache, across calls.
/// Calling through the native context instead would copy that state and
/// start an empty cache for every item.
struct Callee {
    target: FnRef,
    curry: Vec<Dynamic>,
    global: GlobalRuntimeState,
    caches: Caches,
    /// Rhai rewinds it after each call; kept so its storage is too.
    scope: Scope<'static>,
}

impl Callee {
    fn new(context: &NativeCallContext, target: &FnRef) -> Self {
        Callee {
            target: target.clone(),
            curry: target.curry.iter().cloned().map(from_wire).collect(),
            global: context.global_runtime_state().clone(),
            caches: Caches::new(),
            scope: Scope::new(),
        }
    }

    /// Calls it with `args` after the curried values, where the prelude's
    /// constants and modules are visible.
    fn call(
        &mut self,
        engine: &Engine,
        args: &mut [Dynamic],
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let mut all;
        let values = match self.curry.is_empty() {
            true => args,
            false => {
                all = self.curry.clone();
                all.extend(args.iter_mut().map(std::mem::take));
                all.as_mut_slice()
            }
        };
        let mut context = EvalContext::new(
            engine,
            &mut self.global,
            &mut self.caches,
            &mut self.scope,
            None,
        );
        match values {
            // The common case (one item, nothing curried) without a list.
            [one] => context.call_fn_raw(&self.target.name, false, false, &mut [one]),
            many => {
                let mut refs: Vec<&mut Dynamic> = many.iter_mut().collect();
                context.call_fn_raw(&self.target.name, false, false, &mut refs)
            }
        }
    }
}

/// Calls `target` once with `args`.
fn call(
    context: &NativeCallContext,
    target: &FnRef,
    mut args: Vec<Dynamic>,
) -> Result<Dynamic, Box<EvalAltResult>> {
    Callee::new(context, target).call(context.engine(), &mut args)
}

fn worker_error(name: &str, error: &EvalAltResult) -> String {
    let (message, position) = diagnostics::root_cause(error);
    format!(
        "{name} (pid {}): {}",
        std::process::id(),
        diagnostics::with_position(&message, position)
    )
}

fn run_process(context: &NativeCallContext, name: &str, target: &FnRef, args: Vec<Value>) -> i32 {
    let result = call(context, target, args.into_iter().map(from_wire).collect());
    if let Some(code) = take_exit_request() {
        return code;
    }
    // The hub keeps the result for `join`, and follows its handles; the
    // result is held here until `Finished` has gone, so no release of ours
    // can reach the hub before it.
    let outcome = match result.as_ref().map(|v| followed(|| to_wire(v))) {
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
            let message = worker_error(name, e);
            stderr_line(diagnostics::explained(message.clone(), e, Code::Prelude));
            Outcome::Failed(message)
        }
    };
    let code = i32::from(matches!(outcome, Outcome::Failed(_)));
    trace_recorder::flush();
    let _ = client::send(&Request::Finished { outcome });
    drop(result);
    code
}

fn run_pool_worker(
    context: &NativeCallContext,
    progress: ProgressWriter,
    initializer: Option<&(FnRef, Vec<Value>)>,
) -> i32 {
    if let Some((init, args)) = initializer {
        let result = call(context, init, args.iter().cloned().map(from_wire).collect());
        if let Some(code) = take_exit_request() {
            return code;
        }
        if let Err(e) = result {
            let name = crate::script::process_name();
            let line = format!("{}: its initializer failed", worker_error(&name, &e));
            stderr_line(diagnostics::explained(line, &e, Code::Prelude));
            return 1;
        }
    }
    // When chunks are quick, the worker fetches the next few while it
    // computes (`PoolAhead`), so it does not wait for the hub between
    // chunks; each report then goes one-way before the next chunk starts
    // (held back longer, a quick chunk's result would wait behind a slow
    // one: a progress bar or an `imap` would lag). After a slow chunk it
    // fetches none: the hub's round trip is then small beside the work, and
    // chunks held ahead could wait behind a slow one while another idles.
    const QUICK: std::time::Duration = std::time::Duration::from_millis(1);
    const AHEAD: u32 = crate::wire::POOL_AHEAD_MAX;
    // The last chunk's report, with the holders of the handles in its
    // results, let go only once the report has gone (see `keeping`).
    let mut finished: Option<(TaskReport, Vec<Holder>)> = None;
    let mut callee = None;
    let mut in_hand = std::collections::VecDeque::new();
    let mut asked = false;
    // Whether the last chunk was quick, and of which job: a new job's
    // chunks may be slower, and chunks fetched ahead of one the worker has
    // not timed could leave another worker idle while this one holds them.
    let mut quick_job: Option<u64> = None;
    let send_report = |finished: &mut Option<(TaskReport, Vec<Holder>)>| match finished.take() {
        Some((report, _kept)) => client::send_hint(&Request::PoolReport { report }).is_ok(),
        None => true,
    };
    loop {
        if in_hand.is_empty() && std::mem::take(&mut asked) {
            match client::take_ahead() {
                Ok(Reply::Tasks(tasks)) => in_hand.extend(tasks),
                _ => return 0,
            }
        }
        let mut task = match in_hand.pop_front() {
            Some(task) => task,
            None => {
                // Nothing in hand: the report goes with the request.
                let (report, kept) = finished.take().unzip();
                // Sent with the request: an idle worker may wait there until killed.
                trace_recorder::flush_with_next_call();
                let next = client::call(&Request::PoolNext { report });
                drop(kept);
                match next {
                    Ok(Reply::Task(task)) => task,
                    _ => return 0,
                }
            }
        };
        if !send_report(&mut finished) {
            return 0;
        }
        if quick_job == Some(task.job) && !asked && in_hand.len() < AHEAD as usize / 2 {
            let max = AHEAD - in_hand.len() as u32;
            asked = client::send_ahead(&Request::PoolAhead { max, job: task.job }).is_ok();
        }
        let (job, started) = (task.job, std::time::Instant::now());
        let timer = TaskTimer::start(&mut task);
        let result = run_task(context, task, progress, &mut callee);
        if let Some(timer) = timer {
            timer.end(match &result {
                Ok((TaskReport::Failed { index, .. }, _)) => Some(*index),
                _ => None,
            });
        }
        let done = match result {
            Ok(done) => done,
            Err(code) => return code,
        };
        quick_job = (started.elapsed() < QUICK).then_some(job);
        finished = Some(done);
    }
}

/// Runs one chunk; `Err(code)` when the function called `exit`. `kept` is
/// the callee of the worker's last chunk, reused when this one calls the
/// same function (with chunks of one item, its state would otherwise be
/// copied for every item).
fn run_task(
    context: &NativeCallContext,
    task: PoolTask,
    progress: ProgressWriter,
    kept: &mut Option<Callee>,
) -> Result<(TaskReport, Vec<Holder>), i32> {
    let mut results = Packed::with_capacity(task.items.len());
    let mut held = Vec::new();
    let callee = match kept {
        Some(callee) if callee.target == task.target => {
            take_handles(&task.target);
            callee
        }
        _ => kept.insert(Callee::new(context, &task.target)),
    };
    for offset in 0..task.items.len() {
        let index = task.first + offset;
        progress.record(task.job, index);
        let (message, detail) = match unpack_one(&task.items, offset) {
            Err(e) => {
                take_packed_handles(&task.items, offset..task.items.len());
                (format!("its item came torn: {e}"), None)
            }
            Ok(item) => {
                // The items after this one are not unpacked.
                let rest = offset + 1..task.items.len();
                let result = match (task.spread, item) {
                    (true, args) if args.is_array() => {
                        let mut args = args.into_array().unwrap_or_default();
                        callee.call(context.engine(), &mut args)
                    }
                    (_, item) => callee.call(context.engine(), &mut [item]),
                };
                if let Some(code) = take_exit_request() {
                    return Err(code);
                }
                // The hub keeps the results for the job, and follows their handles.
                let packed = result.map(|v| keeping(|| followed(|| pack_one(&mut results, &v))));
                match packed {
                    Ok((Ok(()), kept)) => {
                        held.extend(kept);
                        continue;
                    }
                    Ok((Err(unsendable), _)) => {
                        take_packed_handles(&task.items, rest);
                        (format!("its result: {unsendable}"), None)
                    }
                    Err(e) => {
                        take_packed_handles(&task.items, rest);
                        raised(&task.items, offset, index, &e)
                    }
                }
            }
        };
        let report = TaskReport::Failed {
            index,
            message,
            results,
            detail,
        };
        return Ok((report, held));
    }
    Ok((TaskReport::Done { results }, held))
}

/// The message and the worker's report for item `index` (at `offset` in
/// `items`), whose call raised `e`.
fn raised(
    items: &Packed,
    offset: usize,
    index: usize,
    e: &EvalAltResult,
) -> (String, Option<String>) {
    // Only now is the item read again, to be quoted.
    let note = ItemNote::of(&items.decode(offset).unwrap_or(Value::Unit));
    let (message, position) = diagnostics::root_cause(e);
    let me = format!(
        "{} (pid {})",
        crate::script::process_name(),
        std::process::id()
    );
    (
        diagnostics::with_position(&message, position),
        diagnostics::task_report(&me, index, note, e),
    )
}
