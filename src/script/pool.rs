//! `Pool`: `pool()`, `pool(n)`, `pool(#{workers, max_tasks_per_child,
//! initializer, initargs, progress})` and its methods, and `pool_map(f,
//! items [, workers] [, #{workers, chunksize, progress}])`, the one-call form
//! (a temporary pool in the hub). Jobs answer as `AsyncResult`s and `imap`
//! iterators (`jobs.rs`). `progress: false` keeps the hub from showing a
//! progress bar for a call (or, on a pool, for all its calls).

use std::ops::{Range, RangeInclusive};
use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, INT, Map, NativeCallContext};

use super::convert::{fn_ref, followed, from_wire, pack, storable, target, unpack};
use super::globals::capture_native;
use super::jobs::{AsyncResult, ImapIter};
use super::objects::register_show;
use super::{script, script_error};
use crate::client::{self, unexpected};
use crate::trace_recorder::blocking;
use crate::wire::{JobKind, JobSpec, PoolControl, Reply, Request, Value};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The most workers one pool may have (as `--workers`).
const MAX_WORKERS: INT = 4096;

#[derive(Clone, Debug)]
pub struct PoolHandle {
    pub id: u64,
    pub size: usize,
    /// Whether its jobs may show a progress bar unless a call says otherwise.
    progress: bool,
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

fn flag(call: &str, name: &str, value: &Dynamic) -> Result<bool> {
    value
        .as_bool()
        .map_err(|t| script_error(format!("{call}: {name} must be true or false, not {t}")))
}

fn values(call: &str, items: &Array) -> Result<Vec<Value>> {
    items.iter().map(|v| storable(call, v)).collect()
}

/// What a map call's options map may set; 0 for `chunksize` is the default.
#[derive(Clone, Copy)]
struct MapOptions {
    workers: usize,
    chunksize: usize,
    progress: bool,
}

impl MapOptions {
    /// `options` applied over `self`; `known` are the keys `call` takes.
    fn read(mut self, call: &str, known: &[&str], options: &Map) -> Result<MapOptions> {
        for (key, value) in options {
            match key.as_str() {
                "workers" if known.contains(&"workers") => {
                    self.workers = positive(call, "workers", value)?
                }
                "chunksize" => self.chunksize = positive(call, "chunksize", value)?,
                "progress" => self.progress = flag(call, "progress", value)?,
                other => {
                    return Err(script_error(format!(
                        "{call}: unknown option '{other}' (known: {})",
                        known.join(", ")
                    )));
                }
            }
        }
        Ok(self)
    }
}

fn pool_map(
    context: &NativeCallContext,
    f: &FnPtr,
    items: Array,
    options: MapOptions,
) -> Result<Array> {
    let target = followed(|| target("pool_map", f, 1))?;
    let items = followed(|| pack("pool_map", &items))?;
    let request = Request::PoolMap {
        target,
        items,
        workers: options.workers,
        chunksize: options.chunksize,
        globals: capture_native(context),
        progress: options.progress,
    };
    let workers = options.workers;
    let on = || format!("{workers} workers");
    match blocking("pool_map", on, || client::call(&request))? {
        Reply::Items(results) => unpack("pool_map", &results),
        other => Ok(unexpected(other)?),
    }
}

fn new_pool(context: &NativeCallContext, workers: usize, options: &Map) -> Result<PoolHandle> {
    let mut workers = workers;
    let (mut max_tasks, mut initializer, mut initargs) = (None, None, Array::new());
    let mut progress = true;
    for (key, value) in options {
        match key.as_str() {
            "workers" => workers = positive("pool", "workers", value)?,
            "progress" => progress = flag("pool", "progress", value)?,
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
                    "pool: unknown option '{other}' (known: workers, max_tasks_per_child, initializer, initargs, progress)"
                )));
            }
        }
    }
    let initializer = initializer
        .map(|f| followed(|| target("pool", &f, initargs.len())))
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
            progress,
            _token: Rc::new(PoolToken(id as u64)),
        }),
        other => Ok(unexpected(other)?),
    }
}

impl PoolHandle {
    /// Queues a job of method `m`: `f` over `items` (each an argument array
    /// when `m.spread`).
    fn submit(
        &self,
        m: &MapMethod,
        f: &FnPtr,
        items: &Array,
        chunksize: usize,
        progress: bool,
    ) -> Result<u64> {
        let (call, spread) = (m.name, m.spread);
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
        let target = followed(|| match spread && items.is_empty() {
            true => fn_ref(f).map_err(|e| script_error(format!("{call}: {e}"))),
            false => target(call, f, arity),
        })?;
        let spec = JobSpec {
            target,
            items: followed(|| pack(call, items))?,
            chunksize,
            kind: m.kind,
            spread,
            call: call.to_string(),
            progress: progress && self.progress,
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

/// `apply` and `apply_async`: one call, its arguments the one item.
const APPLY: MapMethod = method("apply", true, JobKind::Apply, Delivery::Wait, 1);
const APPLY_ASYNC: MapMethod = method("apply_async", true, JobKind::Apply, Delivery::Async, 1);

impl MapMethod {
    fn run(
        &self,
        pool: &PoolHandle,
        f: &FnPtr,
        items: &Array,
        chunksize: usize,
        progress: bool,
    ) -> Result<Dynamic> {
        let job = pool.submit(self, f, items, chunksize, progress)?;
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

/// The keys `pool_map`'s options map takes.
const POOL_MAP_KEYS: &[&str] = &["workers", "chunksize", "progress"];

/// `pool_map(f, items)`, `pool_map(f, items, workers)`, `pool_map(f, items,
/// #{...})` and `pool_map(f, items, workers, #{...})` for items given as `I`
/// (an array, or a range of integers).
fn register_pool_map_over<I: IntoItems>(engine: &mut Engine) {
    fn defaults() -> MapOptions {
        MapOptions {
            workers: script().settings.workers,
            chunksize: 0,
            progress: true,
        }
    }
    fn with_workers(workers: INT) -> Result<MapOptions> {
        let workers = positive("pool_map", "workers", &Dynamic::from_int(workers))?;
        Ok(MapOptions {
            workers,
            ..defaults()
        })
    }
    engine.register_fn(
        "pool_map",
        |context: NativeCallContext, f: FnPtr, items: I| {
            pool_map(&context, &f, items.into_items(), defaults())
        },
    );
    engine.register_fn(
        "pool_map",
        |context: NativeCallContext, f: FnPtr, items: I, workers: INT| {
            pool_map(&context, &f, items.into_items(), with_workers(workers)?)
        },
    );
    engine.register_fn(
        "pool_map",
        |context: NativeCallContext, f: FnPtr, items: I, options: Map| {
            let options = defaults().read("pool_map", POOL_MAP_KEYS, &options)?;
            pool_map(&context, &f, items.into_items(), options)
        },
    );
    engine.register_fn(
        "pool_map",
        |context: NativeCallContext, f: FnPtr, items: I, workers: INT, options: Map| {
            let options = with_workers(workers)?.read("pool_map", POOL_MAP_KEYS, &options)?;
            pool_map(&context, &f, items.into_items(), options)
        },
    );
}

/// Registers `m.name(f, items)`, `m.name(f, items, chunksize)` and
/// `m.name(f, items, #{chunksize, progress})` for items given as `I` (an
/// array, or a range of integers).
fn register_map_method<I: IntoItems>(engine: &mut Engine, m: MapMethod) {
    engine.register_fn(m.name, move |p: &mut PoolHandle, f: FnPtr, items: I| {
        m.run(p, &f, &items.into_items(), m.default_chunksize, true)
    });
    engine.register_fn(
        m.name,
        move |p: &mut PoolHandle, f: FnPtr, items: I, chunksize: INT| {
            let chunksize = chunk_arg(m.name, chunksize)?;
            m.run(p, &f, &items.into_items(), chunksize, true)
        },
    );
    engine.register_fn(
        m.name,
        move |p: &mut PoolHandle, f: FnPtr, items: I, options: Map| {
            let base = MapOptions {
                workers: p.size,
                chunksize: m.default_chunksize,
                progress: true,
            };
            let options = base.read(m.name, &["chunksize", "progress"], &options)?;
            m.run(
                p,
                &f,
                &items.into_items(),
                options.chunksize,
                options.progress,
            )
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
    register_pool_map_over::<Array>(engine);
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
    // One call, so no progress bar.
    let apply = |p: &PoolHandle, f: &FnPtr, args: Array| {
        APPLY.run(p, f, &vec![Dynamic::from_array(args)], 1, false)
    };
    let apply_async = |p: &PoolHandle, f: &FnPtr, args: Array| {
        APPLY_ASYNC.run(p, f, &vec![Dynamic::from_array(args)], 1, false)
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
