//! `Pool`: `pool()`, `pool(n)`, `pool(#{workers, max_tasks_per_child,
//! initializer, initargs})` and its methods, and `pool_map(f, items [,
//! workers | #{workers, chunksize}])`, the one-call form (a temporary pool in
//! the hub). Jobs answer as `AsyncResult`s and `imap` iterators (`jobs.rs`).

use std::ops::{Range, RangeInclusive};
use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, INT, Map, NativeCallContext};

use super::convert::{fn_ref, from_wire, sendable, target};
use super::globals::capture_native;
use super::jobs::{AsyncResult, ImapIter};
use super::objects::register_show;
use super::{script, script_error};
use crate::client::{self, unexpected};
use crate::trace::blocking;
use crate::wire::{JobKind, JobSpec, PoolControl, Reply, Request, Value};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The most workers one pool may have (as `--workers`).
const MAX_WORKERS: INT = 4096;

#[derive(Clone, Debug)]
pub struct PoolHandle {
    pub id: u64,
    pub size: usize,
    _token: Rc<PoolToken>,
}

/// Held by every handle on a pool; the last one dropped releases the pool.
#[derive(Debug)]
struct PoolToken(u64);

impl Drop for PoolToken {
    fn drop(&mut self) {
        client::send_quietly(&Request::PoolRelease { pool: self.0 });
    }
}

fn positive(call: &str, name: &str, value: &Dynamic) -> Result<usize> {
    match value.as_int() {
        Ok(n) if n > MAX_WORKERS && name == "workers" => Err(script_error(format!(
            "{call}: {name} must be at most {MAX_WORKERS}, not {n}"
        ))),
        Ok(n) if n >= 1 => Ok(n as usize),
        Ok(n) => Err(script_error(format!(
            "{call}: {name} must be at least 1, not {n}"
        ))),
        Err(t) => Err(script_error(format!(
            "{call}: {name} must be an integer, not {t}"
        ))),
    }
}

fn values(call: &str, items: &Array) -> Result<Vec<Value>> {
    items.iter().map(|v| sendable(call, v)).collect()
}

fn pool_map(
    context: &NativeCallContext,
    f: &FnPtr,
    items: Array,
    workers: usize,
    chunksize: usize,
) -> Result<Array> {
    let target = target("pool_map", f, 1)?;
    let items = values("pool_map", &items)?;
    let request = Request::PoolMap {
        target,
        items,
        workers,
        chunksize,
        globals: capture_native(context),
    };
    let on = || format!("{workers} workers");
    match blocking("pool_map", on, || client::call(&request))? {
        Reply::Value(v) => Ok(from_wire(v).into_array().unwrap_or_default()),
        other => Ok(unexpected(other)?),
    }
}

fn new_pool(context: &NativeCallContext, workers: usize, options: &Map) -> Result<PoolHandle> {
    let mut workers = workers;
    let (mut max_tasks, mut initializer, mut initargs) = (None, None, Array::new());
    for (key, value) in options {
        match key.as_str() {
            "workers" => workers = positive("pool", "workers", value)?,
            "max_tasks_per_child" => {
                max_tasks = Some(positive("pool", "max_tasks_per_child", value)? as u64)
            }
            "initializer" => {
                initializer = Some(value.clone().try_cast::<FnPtr>().ok_or_else(|| {
                    script_error(format!(
                        "pool: initializer must be a function, not {}",
                        value.type_name()
                    ))
                })?)
            }
            "initargs" => {
                initargs = value.clone().into_array().map_err(|t| {
                    script_error(format!("pool: initargs must be an array, not {t}"))
                })?
            }
            other => {
                return Err(script_error(format!(
                    "pool: unknown option '{other}' (known: workers, max_tasks_per_child, initializer, initargs)"
                )));
            }
        }
    }
    let initializer = initializer
        .map(|f| target("pool", &f, initargs.len()))
        .transpose()?;
    let initargs = values("pool", &initargs)?;
    let request = Request::PoolNew {
        workers,
        max_tasks_per_child: max_tasks,
        initializer,
        initargs,
        globals: capture_native(context),
    };
    match client::call(&request)? {
        Reply::Int(id) => Ok(PoolHandle {
            id: id as u64,
            size: workers,
            _token: Rc::new(PoolToken(id as u64)),
        }),
        other => Ok(unexpected(other)?),
    }
}

impl PoolHandle {
    /// Queues a job: `f` over `items` (each an argument array when `spread`).
    fn submit(
        &self,
        call: &str,
        f: &FnPtr,
        items: &Array,
        spread: bool,
        kind: JobKind,
        chunksize: usize,
    ) -> Result<u64> {
        let mut arity = 1;
        if spread {
            for item in items {
                let args = item.read_lock::<Array>().ok_or_else(|| {
                    script_error(format!(
                        "{call}: each item must be an array of arguments, not {}",
                        item.type_name()
                    ))
                })?;
                arity = args.len();
            }
        }
        // With no items, nothing fixes how many arguments `f` gets.
        let target = if spread && items.is_empty() {
            fn_ref(f).map_err(|e| script_error(format!("{call}: {e}")))?
        } else {
            target(call, f, arity)?
        };
        let spec = JobSpec {
            target,
            items: values(call, items)?,
            chunksize,
            kind,
            spread,
            call: call.to_string(),
        };
        match client::call(&Request::PoolSubmit {
            pool: self.id,
            job: spec,
        })? {
            Reply::Int(job) => Ok(job as u64),
            other => Ok(unexpected(other)?),
        }
    }

    /// As the script prints it, and a trace names what a wait was on.
    fn label(&self) -> String {
        format!("Pool(#{}, {} workers)", self.id, self.size)
    }

    fn control(&self, op: PoolControl) -> Result<Reply> {
        Ok(client::call(&Request::PoolControl { pool: self.id, op })?)
    }
}

/// How a map-like method hands back its results.
#[derive(Clone, Copy)]
enum Delivery {
    /// Waits and returns the array.
    Wait,
    /// Returns an `AsyncResult` at once.
    Async,
    /// Returns an iterator that yields results as they come.
    Iterate,
}

/// One of the pool's map-like methods: `name(f, items)` and
/// `name(f, items, chunksize)`.
#[derive(Clone, Copy)]
struct MapMethod {
    name: &'static str,
    /// Each item is an array of arguments (`starmap`).
    spread: bool,
    kind: JobKind,
    delivery: Delivery,
    /// 0: guided chunks, shrinking as the items run out (`hub::jobs::Chunking`).
    default_chunksize: usize,
}

const fn method(
    name: &'static str,
    spread: bool,
    kind: JobKind,
    delivery: Delivery,
    default_chunksize: usize,
) -> MapMethod {
    MapMethod {
        name,
        spread,
        kind,
        delivery,
        default_chunksize,
    }
}

const MAP_METHODS: &[MapMethod] = &[
    method("map", false, JobKind::Map, Delivery::Wait, 0),
    method("starmap", true, JobKind::Map, Delivery::Wait, 0),
    method("map_async", false, JobKind::Map, Delivery::Async, 0),
    method("starmap_async", true, JobKind::Map, Delivery::Async, 0),
    method(
        "imap",
        false,
        JobKind::Imap { ordered: true },
        Delivery::Iterate,
        1,
    ),
    method(
        "imap_unordered",
        false,
        JobKind::Imap { ordered: false },
        Delivery::Iterate,
        1,
    ),
];

impl MapMethod {
    fn run(
        &self,
        pool: &PoolHandle,
        f: &FnPtr,
        items: &Array,
        chunksize: usize,
    ) -> Result<Dynamic> {
        let job = pool.submit(self.name, f, items, self.spread, self.kind, chunksize)?;
        match self.delivery {
            Delivery::Wait => blocking(
                self.name,
                || pool.label(),
                || AsyncResult::new(job).get(None),
            ),
            Delivery::Async => Ok(Dynamic::from(AsyncResult::new(job))),
            Delivery::Iterate => Ok(Dynamic::from(ImapIter::new(job))),
        }
    }
}

/// `pool_map(f, range)` and `pool_map(f, range, workers)`.
fn register_pool_map_over<I: IntoItems>(engine: &mut Engine) {
    engine.register_fn(
        "pool_map",
        |context: NativeCallContext, f: FnPtr, items: I| {
            pool_map(
                &context,
                &f,
                items.into_items(),
                script().settings.workers,
                0,
            )
        },
    );
    engine.register_fn(
        "pool_map",
        |context: NativeCallContext, f: FnPtr, items: I, workers: INT| {
            let workers = positive("pool_map", "workers", &Dynamic::from_int(workers))?;
            pool_map(&context, &f, items.into_items(), workers, 0)
        },
    );
}

/// Registers `m.name(f, items)` and `m.name(f, items, chunksize)` for items
/// given as `I` (an array, or a range of integers).
fn register_map_method<I: IntoItems>(engine: &mut Engine, m: MapMethod) {
    engine.register_fn(m.name, move |p: &mut PoolHandle, f: FnPtr, items: I| {
        m.run(p, &f, &items.into_items(), m.default_chunksize)
    });
    engine.register_fn(
        m.name,
        move |p: &mut PoolHandle, f: FnPtr, items: I, chunksize: INT| {
            m.run(p, &f, &items.into_items(), chunk_arg(m.name, chunksize)?)
        },
    );
}

/// What a map-like call accepts as its items.
trait IntoItems: rhai::Variant + Clone {
    fn into_items(self) -> Array;
}

impl IntoItems for Array {
    fn into_items(self) -> Array {
        self
    }
}

impl IntoItems for Range<INT> {
    fn into_items(self) -> Array {
        self.map(Dynamic::from_int).collect()
    }
}

impl IntoItems for RangeInclusive<INT> {
    fn into_items(self) -> Array {
        self.map(Dynamic::from_int).collect()
    }
}

fn chunk_arg(call: &str, chunksize: INT) -> Result<usize> {
    positive(call, "chunksize", &Dynamic::from_int(chunksize))
}

pub fn register(engine: &mut Engine) {
    engine.register_fn(
        "pool_map",
        |context: NativeCallContext, f: FnPtr, items: Array| {
            pool_map(&context, &f, items, script().settings.workers, 0)
        },
    );
    engine.register_fn(
        "pool_map",
        |context: NativeCallContext, f: FnPtr, items: Array, workers: INT| {
            let workers = positive("pool_map", "workers", &Dynamic::from_int(workers))?;
            pool_map(&context, &f, items, workers, 0)
        },
    );
    engine.register_fn(
        "pool_map",
        |context: NativeCallContext, f: FnPtr, items: Array, options: Map| {
            let mut workers = script().settings.workers;
            let mut chunksize = 0;
            for (key, value) in &options {
                match key.as_str() {
                    "workers" => workers = positive("pool_map", "workers", value)?,
                    "chunksize" => chunksize = positive("pool_map", "chunksize", value)?,
                    other => {
                        return Err(script_error(format!(
                            "pool_map: unknown option '{other}' (known: workers, chunksize)"
                        )));
                    }
                }
            }
            pool_map(&context, &f, items, workers, chunksize)
        },
    );

    register_pool_map_over::<Range<INT>>(engine);
    register_pool_map_over::<RangeInclusive<INT>>(engine);

    engine.register_type_with_name::<PoolHandle>("Pool");
    engine.register_fn("pool", |context: NativeCallContext| {
        new_pool(&context, script().settings.workers, &Map::new())
    });
    engine.register_fn("pool", |context: NativeCallContext, n: INT| {
        let workers = positive("pool", "workers", &Dynamic::from_int(n))?;
        new_pool(&context, workers, &Map::new())
    });
    engine.register_fn("pool", |context: NativeCallContext, options: Map| {
        new_pool(&context, script().settings.workers, &options)
    });

    for method in MAP_METHODS {
        register_map_method::<Array>(engine, *method);
        register_map_method::<Range<INT>>(engine, *method);
        register_map_method::<RangeInclusive<INT>>(engine, *method);
    }
    let apply = |p: &PoolHandle, f: &FnPtr, args: Array| {
        let items = vec![Dynamic::from_array(args)];
        p.submit("apply", f, &items, true, JobKind::Apply, 1)
            .and_then(|job| blocking("apply", || p.label(), || AsyncResult::new(job).get(None)))
    };
    let apply_async = |p: &PoolHandle, f: &FnPtr, args: Array| {
        let items = vec![Dynamic::from_array(args)];
        p.submit("apply_async", f, &items, true, JobKind::Apply, 1)
            .map(AsyncResult::new)
    };
    engine.register_fn("apply", move |p: &mut PoolHandle, f: FnPtr, args: Array| {
        apply(p, &f, args)
    });
    engine.register_fn("apply", move |p: &mut PoolHandle, f: FnPtr| {
        apply(p, &f, Array::new())
    });
    engine.register_fn(
        "apply_async",
        move |p: &mut PoolHandle, f: FnPtr, args: Array| apply_async(p, &f, args),
    );
    engine.register_fn("apply_async", move |p: &mut PoolHandle, f: FnPtr| {
        apply_async(p, &f, Array::new())
    });
    engine.register_fn("close", |p: &mut PoolHandle| {
        p.control(PoolControl::Close).map(|_| ())
    });
    engine.register_fn("join", |p: &mut PoolHandle| {
        blocking("pool join", || p.label(), || p.control(PoolControl::Join)).map(|_| ())
    });
    engine.register_fn("terminate", |p: &mut PoolHandle| {
        p.control(PoolControl::Terminate).map(|_| ())
    });
    engine.register_fn("pids", |p: &mut PoolHandle| -> Result<Array> {
        match p.control(PoolControl::Pids)? {
            Reply::Values(pids) => Ok(pids.into_iter().map(from_wire).collect()),
            other => Ok(unexpected(other)?),
        }
    });
    register_show!(engine, PoolHandle, |p: &mut PoolHandle| p.label());
}
