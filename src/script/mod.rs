//! Script bindings: everything a Rhai script can call, one file per
//! script-visible type, and the `Program` every interpreter runs.
//!
//! The engine and the compiled script are made once, in the hub, before any
//! fork; every interpreter process inherits them and builds only a fresh
//! `Scope`. Bindings run only in interpreter processes and reach shared state
//! through `client`; they never touch hub state directly.

mod barrier;
mod condition;
mod convert;
mod data;
mod dict;
mod event;
mod globals;
mod jobs;
mod list;
mod lock;
mod modules;
mod objects;
mod pipe;
mod pool;
mod process;
mod queue;
mod refs;
mod semaphore;
mod shared_value;
mod system;
mod toolkit;
mod with_block;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use rhai::{AST, Dynamic, Engine, EvalAltResult, Position};

pub use convert::{
    followed, from_wire, keeping, pack_one, take_handles, take_packed_handles, to_wire, unpack_one,
};
pub use globals::{WORKER_ENTRY, prelude};
pub use modules::{
    functions_of, sources_for as module_sources, use_shipped as use_shipped_modules,
};
pub use refs::Holder;
pub use system::{process_name, set_identity, take_exit_request, write_output};

use crate::client::ClientError;
use crate::wire::{FnRef, HubError};

/// What the interpreters run: the engine, the compiled script, the options.
pub struct Program {
    pub engine: Engine,
    pub info: Rc<ScriptInfo>,
}

/// How the hub starts a worker: a fork of itself (fast, the default), or a
/// fresh `mphost` executable that compiles the script again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMethod {
    Fork,
    Spawn,
}

/// What the command line sets for a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSettings {
    /// The script's `ARGS`.
    pub args: Vec<String>,
    /// The default number of workers for `pool_map` and `pool()`.
    pub workers: usize,
    pub start_method: StartMethod,
    /// The address-space limit of every interpreter process, in bytes.
    pub max_memory: Option<u64>,
    /// Prefix each worker's lines with its name.
    pub tag_output: bool,
    /// Hold each worker's lines until it ends.
    pub ordered_output: bool,
    /// `--trace`: interpreters record their spans and send them to the hub.
    pub trace: bool,
    /// Progress bars for long pool maps may be shown (not `--no-progress`).
    pub progress: bool,
}

/// The script and run settings, readable from inside native functions.
pub struct ScriptInfo {
    pub ast: AST,
    /// What a worker that inherits no constants or imports runs: the
    /// script's functions and the call to the worker's entry, compiled here,
    /// before any fork, so that such a worker parses nothing.
    pub plain_worker: AST,
    /// As given on the command line, for messages.
    pub path: PathBuf,
    /// The script's text, for workers that compile it again.
    pub source: String,
    pub settings: RunSettings,
    /// Script function names and the arities they are defined with.
    functions: HashMap<String, Vec<usize>>,
}

impl ScriptInfo {
    /// The folder its `import`s are found in.
    pub fn script_dir(&self) -> PathBuf {
        script_dir_of(&self.path)
    }

    /// What another process needs to compile and run this script again: an
    /// exec'd worker, or a cluster's worker host.
    pub fn script_text(&self) -> crate::wire::ScriptText {
        crate::wire::ScriptText {
            path: self.path.clone(),
            source: self.source.clone(),
            args: self.settings.args.clone(),
            workers: self.settings.workers,
            trace: self.settings.trace,
        }
    }
}

thread_local! {
    static SCRIPT: RefCell<Option<Rc<ScriptInfo>>> = const { RefCell::new(None) };
}

/// The running script; set in the hub before any interpreter is forked.
pub fn script() -> Rc<ScriptInfo> {
    try_script().expect("the script is set before interpreters start")
}

/// The running script, if one is loaded (not in `mphost check`).
pub fn try_script() -> Option<Rc<ScriptInfo>> {
    SCRIPT.with(|s| s.borrow().clone())
}

impl ScriptInfo {
    /// Whether the script itself defines a function (or closure) `name`.
    pub fn defines(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// Whether `f` names a script (or module) function that takes `args`
    /// values after its curried ones.
    pub fn takes(&self, f: &rhai::FnPtr, args: usize) -> bool {
        let wanted = f.curry().len() + args;
        let from_module = modules::module_function_arity(f.fn_name()).map(|a| vec![a]);
        self.functions
            .get(f.fn_name())
            .or(from_module.as_ref())
            .is_some_and(|arities| arities.contains(&wanted))
    }

    /// Checks that `target` names a script function taking `args` more values.
    pub fn check_target(
        &self,
        call: &str,
        target: &FnRef,
        args: usize,
    ) -> Result<(), Box<EvalAltResult>> {
        let wanted = target.curry.len() + args;
        let from_module = modules::module_function_arity(&target.name).map(|a| vec![a]);
        match self.functions.get(&target.name).or(from_module.as_ref()) {
            Some(arities) if arities.contains(&wanted) => Ok(()),
            Some(arities) => Err(script_error(format!(
                "{call}: {} takes {} argument(s), but would be called with {args}",
                if target.name.starts_with("anon$") {
                    "the closure".to_string()
                } else {
                    format!("function '{}'", target.name)
                },
                arities
                    .iter()
                    .map(|a| a.saturating_sub(target.curry.len()).to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            ))),
            None => Err(script_error(format!(
                "{call}: no function named '{}' in the script",
                target.name
            ))),
        }
    }
}

/// Makes the engine with every binding registered, and `worker_entry`
/// (which registers the function a worker's prelude calls: the
/// interpreter's, given by whoever loads, so bindings know nothing of
/// what runs them), compiles `source`, and makes the result the running
/// script.
pub fn load(
    source: &str,
    path: PathBuf,
    settings: RunSettings,
    worker_entry: fn(&mut Engine),
) -> Result<Program, Box<rhai::ParseError>> {
    let mut engine = build_engine();
    worker_entry(&mut engine);
    let script_dir = script_dir_of(&path);
    engine.set_module_resolver(modules::Resolver::new(&script_dir, &path));
    let ast = engine.compile(source).map_err(Box::new)?;
    let mut functions: HashMap<String, Vec<usize>> = HashMap::new();
    for f in ast.iter_functions() {
        functions
            .entry(f.name.to_string())
            .or_default()
            .push(f.params.len());
    }
    convert::index_closures(&ast);
    let entry = engine
        .compile(format!("{WORKER_ENTRY}()"))
        .map_err(Box::new)?;
    let plain_worker = ast.clone_functions_only().merge(&entry);
    let info = Rc::new(ScriptInfo {
        ast,
        plain_worker,
        path,
        source: source.to_string(),
        settings,
        functions,
    });
    SCRIPT.with(|s| *s.borrow_mut() = Some(info.clone()));
    Ok(Program { engine, info })
}

/// Cluster mode: sets the pools' default size once the cluster's hosts
/// were counted, after loading and before the run; false if the script is
/// shared already (it is not, before the hub starts).
pub fn set_default_workers(program: &mut Program, workers: usize) -> bool {
    SCRIPT.with(|s| s.borrow_mut().take());
    let set = match Rc::get_mut(&mut program.info) {
        Some(info) => {
            info.settings.workers = workers;
            true
        }
        None => false,
    };
    SCRIPT.with(|s| *s.borrow_mut() = Some(program.info.clone()));
    set
}

/// The folder of the script at `path`, where its imports are found.
fn script_dir_of(path: &std::path::Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Compiles without running, for `mphost check`.
pub fn check(source: &str) -> Result<(), Box<rhai::ParseError>> {
    build_engine().compile(source).map(|_| ()).map_err(Box::new)
}

fn build_engine() -> Engine {
    let mut engine = Engine::new();
    // Debug builds of Rhai default to 8 nested calls and release builds to
    // 64; set the limits so recursion behaves the same in both.
    engine.set_max_call_levels(256);
    engine.set_max_expr_depths(256, 256);
    system::register(&mut engine);
    data::register(&mut engine);
    toolkit::register(&mut engine);
    process::register(&mut engine);
    queue::register(&mut engine);
    lock::register(&mut engine);
    semaphore::register(&mut engine);
    event::register(&mut engine);
    condition::register(&mut engine);
    barrier::register(&mut engine);
    shared_value::register(&mut engine);
    dict::register(&mut engine);
    list::register(&mut engine);
    pipe::register(&mut engine);
    pool::register(&mut engine);
    with_block::register(&mut engine);
    jobs::register(&mut engine);
    globals::register(&mut engine);
    engine
}

/// A runtime error raised by a binding; the engine fills in the call's position.
pub fn script_error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        Position::NONE,
    ))
}

/// `e`, placed at `at` unless it already has a position: custom syntax
/// (`spawn(...)`, `with`) gets no call position filled in by Rhai.
pub fn at_position(mut e: Box<EvalAltResult>, at: Position) -> Box<EvalAltResult> {
    if e.position().is_none() {
        e.set_position(at);
    }
    e
}

impl From<ClientError> for Box<EvalAltResult> {
    fn from(e: ClientError) -> Self {
        // A pool task's error: the worker's report of it is printed only if
        // this error goes uncaught.
        if let ClientError::Hub(HubError {
            message,
            detail: Some(report),
            ..
        }) = &e
        {
            remember_remote(message, report);
        }
        script_error(e.to_string())
    }
}

thread_local! {
    /// The last pool error this process received, with the worker's report.
    static REMOTE: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Keeps the worker's report of a pool error (`message`), for
/// `diagnostics` to print if the error goes uncaught.
fn remember_remote(message: &str, report: &str) {
    REMOTE.with(|r| *r.borrow_mut() = Some((message.to_string(), report.to_string())));
}

/// The worker's report of the pool error whose message is `message`.
pub fn remote_report(message: &str) -> Option<String> {
    REMOTE.with(|r| {
        r.borrow()
            .as_ref()
            .filter(|(m, _)| m == message)
            .map(|(_, report)| report.clone())
    })
}

/// Reads a timeout argument: seconds as an int or a float, never negative or NaN.
pub fn timeout_arg(call: &str, value: &Dynamic) -> Result<f64, Box<EvalAltResult>> {
    let secs = if let Ok(i) = value.as_int() {
        i as f64
    } else if let Ok(f) = value.as_float() {
        f
    } else {
        return Err(script_error(format!(
            "{call}: the timeout must be a number of seconds, not {}",
            value.type_name()
        )));
    };
    if secs.is_nan() || secs < 0.0 {
        return Err(script_error(format!(
            "{call}: the timeout must be a non-negative number of seconds, not {secs}"
        )));
    }
    // Longer (even infinite) is as good as never, and the hub takes no more.
    Ok(secs.min(crate::wire::MAX_TIMEOUT_SECS))
}
