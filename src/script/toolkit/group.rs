//! Grouping and sorting: `group_by`, `count_by`, `sum_by`, `sort_by`,
//! `sorted`. A key is given as a function of the item or as a field name
//! (of items that are maps). Keys and values compare as Python would:
//! integers and floats by value together, strings, characters and booleans
//! each among their own kind; two kinds that do not compare are an error.

use std::cmp::Ordering;

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, FLOAT, FnPtr, ImmutableString, Map, NativeCallContext,
};

use super::counter::Counter;
use crate::script::convert::script_type_name;
use crate::script::script_error;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// How a key (or a value) is read from an item.
enum Pick {
    Call(FnPtr),
    Field(ImmutableString),
}

impl Pick {
    fn of(call: &str, what: &str, f: Dynamic) -> Result<Pick> {
        if let Some(name) = f.read_lock::<ImmutableString>() {
            return Ok(Pick::Field(name.clone()));
        }
        f.try_cast::<FnPtr>().map(Pick::Call).ok_or_else(|| {
            script_error(format!("{call}: {what} must be a function or a field name"))
        })
    }

    fn apply(&self, ctx: &NativeCallContext, call: &str, item: &Dynamic) -> Result<Dynamic> {
        match self {
            Pick::Call(f) => f.call_within_context(ctx, (item.clone(),)),
            Pick::Field(name) => match item.read_lock::<Map>() {
                Some(map) => Ok(map.get(name.as_str()).cloned().unwrap_or(Dynamic::UNIT)),
                None => Err(script_error(format!(
                    "{call}: the field '{name}' of a {}, which is not a map",
                    script_type_name(item)
                ))),
            },
        }
    }
}

/// Orders two keys, or says why they cannot be.
fn compare(call: &str, a: &Dynamic, b: &Dynamic) -> Result<Ordering> {
    let number = |v: &Dynamic| {
        v.as_int()
            .map(|i| i as FLOAT)
            .or_else(|_| v.as_float())
            .ok()
    };
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        return Ok(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return Ok(x.total_cmp(&y));
    }
    if let (Some(x), Some(y)) = (
        a.read_lock::<ImmutableString>(),
        b.read_lock::<ImmutableString>(),
    ) {
        return Ok(x.as_str().cmp(y.as_str()));
    }
    if let (Ok(x), Ok(y)) = (a.as_char(), b.as_char()) {
        return Ok(x.cmp(&y));
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return Ok(x.cmp(&y));
    }
    Err(script_error(format!(
        "{call}: cannot order a {} and a {}",
        script_type_name(a),
        script_type_name(b)
    )))
}

/// A stable sort of `items` by `keys`, the first failed comparison an error.
fn sort_keyed(call: &str, items: Array, keys: Vec<Dynamic>, descending: bool) -> Result<Array> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    let mut failed = None;
    order.sort_by(|&i, &j| match compare(call, &keys[i], &keys[j]) {
        Ok(o) if descending => o.reverse(),
        Ok(o) => o,
        Err(e) => {
            failed.get_or_insert(e);
            Ordering::Equal
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let mut slots: Vec<Option<Dynamic>> = items.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

fn keys(ctx: &NativeCallContext, call: &str, items: &Array, pick: &Pick) -> Result<Vec<Dynamic>> {
    items
        .iter()
        .map(|item| pick.apply(ctx, call, item))
        .collect()
}

fn group_by(ctx: NativeCallContext, items: Array, f: Dynamic) -> Result<Map> {
    let pick = Pick::of("group_by", "the key", f)?;
    let mut groups = Map::new();
    for item in items {
        let key = pick.apply(&ctx, "group_by", &item)?.to_string();
        let group = groups
            .entry(key.into())
            .or_insert_with(|| Dynamic::from_array(Array::new()));
        if let Some(mut array) = group.write_lock::<Array>() {
            array.push(item);
        }
    }
    Ok(groups)
}

fn count_by(ctx: NativeCallContext, items: Array, f: Dynamic) -> Result<Counter> {
    let pick = Pick::of("count_by", "the key", f)?;
    let mut counts = Counter::default();
    for item in &items {
        counts.add("count_by", &pick.apply(&ctx, "count_by", item)?, 1)?;
    }
    Ok(counts)
}

/// Sums by key: integers while every value is one, floats once one is not.
fn sum_by(ctx: NativeCallContext, items: Array, key: Dynamic, value: Dynamic) -> Result<Map> {
    let (key, value) = (
        Pick::of("sum_by", "the key", key)?,
        Pick::of("sum_by", "the value", value)?,
    );
    let mut sums = Map::new();
    for item in &items {
        let k = key.apply(&ctx, "sum_by", item)?.to_string();
        let v = value.apply(&ctx, "sum_by", item)?;
        let sum = sums.entry(k.into()).or_insert(Dynamic::from_int(0));
        *sum = match (sum.as_int(), v.as_int(), sum.as_float(), v.as_float()) {
            (Ok(a), Ok(b), ..) => a
                .checked_add(b)
                .map(Dynamic::from_int)
                .ok_or_else(|| script_error("sum_by: a sum overflows an integer"))?,
            (Ok(a), _, _, Ok(b)) => Dynamic::from_float(a as FLOAT + b),
            (_, Ok(b), Ok(a), _) => Dynamic::from_float(a + b as FLOAT),
            (_, _, Ok(a), Ok(b)) => Dynamic::from_float(a + b),
            _ => {
                return Err(script_error(format!(
                    "sum_by: a value is a {}, not a number",
                    script_type_name(&v)
                )));
            }
        };
    }
    Ok(sums)
}

fn sort_by(ctx: NativeCallContext, items: Array, f: Dynamic) -> Result<Array> {
    let pick = Pick::of("sort_by", "the key", f)?;
    let keys = keys(&ctx, "sort_by", &items, &pick)?;
    sort_keyed("sort_by", items, keys, false)
}

/// `sort_by(array, f)` with a function: by key, into a new array, when `f`
/// takes one value; Rhai's own in-place sort when it takes two (a
/// comparer returning a negative, zero or positive integer), so scripts
/// written for Rhai keep their meaning.
fn sort_by_fn(ctx: NativeCallContext, items: &mut Array, f: FnPtr) -> Result<Dynamic> {
    let is_comparer =
        crate::script::try_script().is_some_and(|s| s.takes(&f, 2) && !s.takes(&f, 1));
    if !is_comparer {
        let sorted = sort_by(ctx, items.clone(), Dynamic::from(f))?;
        return Ok(Dynamic::from_array(sorted));
    }
    let mut failed = None;
    items.sort_by(|a, b| {
        let order = f
            .call_within_context::<rhai::INT>(&ctx, (a.clone(), b.clone()))
            .map(|n| n.cmp(&0));
        order.unwrap_or_else(|e| {
            failed.get_or_insert(e);
            Ordering::Equal
        })
    });
    failed.map_or(Ok(Dynamic::UNIT), Err)
}

fn sorted(items: Array, descending: bool) -> Result<Array> {
    let keys = items.clone();
    sort_keyed("sorted", items, keys, descending)
}

pub fn register(engine: &mut Engine) {
    engine.register_fn("group_by", group_by);
    engine.register_fn("count_by", count_by);
    engine.register_fn("sum_by", sum_by);
    engine.register_fn("sort_by", sort_by);
    // Ahead of Rhai's own `sort_by(array, comparer)`, which this keeps.
    engine.register_fn("sort_by", sort_by_fn);
    engine.register_fn("sorted", |items: Array| sorted(items, false));
    engine.register_fn("sorted", sorted);
}
