//! `pool_map(f, items [, workers | #{workers, chunksize}])`: the one-call
//! parallel map. The hub forks the workers, hands out chunks as workers ask,
//! and answers with the results in input order, or with an error naming the
//! item when `f` raised or a worker died.

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, INT, Map};

use super::convert::{from_wire, sendable, target};
use super::{script, script_error};
use crate::client::{self, unexpected};
use crate::wire::{Reply, Request};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The most workers one call may start (as `--workers`).
const MAX_WORKERS: INT = 4096;

fn positive(name: &str, value: &Dynamic) -> Result<usize> {
    match value.as_int() {
        Ok(n) if n > MAX_WORKERS => Err(script_error(format!(
            "pool_map: {name} must be at most {MAX_WORKERS}, not {n}"
        ))),
        Ok(n) if n >= 1 => Ok(n as usize),
        Ok(n) => Err(script_error(format!(
            "pool_map: {name} must be at least 1, not {n}"
        ))),
        Err(t) => Err(script_error(format!(
            "pool_map: {name} must be an integer, not {t}"
        ))),
    }
}

fn pool_map(f: &FnPtr, items: Array, workers: usize, chunksize: usize) -> Result<Array> {
    let target = target("pool_map", f, 1)?;
    let items = items
        .iter()
        .map(|v| sendable("pool_map", v))
        .collect::<Result<Vec<_>>>()?;
    match client::call(&Request::PoolMap {
        target,
        items,
        workers,
        chunksize,
    })? {
        Reply::Values(values) => Ok(values.into_iter().map(from_wire).collect()),
        other => Ok(unexpected(other)?),
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_fn("pool_map", |f: FnPtr, items: Array| {
        pool_map(&f, items, script().workers, 0)
    });
    engine.register_fn("pool_map", |f: FnPtr, items: Array, workers: INT| {
        let workers = positive("workers", &Dynamic::from_int(workers))?;
        pool_map(&f, items, workers, 0)
    });
    engine.register_fn("pool_map", |f: FnPtr, items: Array, options: Map| {
        let mut workers = script().workers;
        let mut chunksize = 0;
        for (key, value) in &options {
            match key.as_str() {
                "workers" => workers = positive("workers", value)?,
                "chunksize" => chunksize = positive("chunksize", value)?,
                other => {
                    return Err(script_error(format!(
                        "pool_map: unknown option '{other}' (known: workers, chunksize)"
                    )));
                }
            }
        }
        pool_map(&f, items, workers, chunksize)
    });
}
