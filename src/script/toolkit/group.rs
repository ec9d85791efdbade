//! Grouping and sorting: `group_by`, `count_by`, `sum_by`, `sort_by`,
//! `sorted`. A key is given as a function of the item or as a field name
//! (of items that are maps); `group_by` and `sum_by` also take two columns
//! of one length, the keys and the values (`csv_columns`, `json_columns`).
//! Keys order as `order` says: integers and floats by value together,
//! strings, characters and booleans each among their own kind; two kinds
//! that do not order are an error.

use std::cmp::Ordering;
use std::collections::HashMap;

use ahash::RandomState;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, ImmutableString, Map, NativeCallContext};

use super::counter::Counter;
use super::order::{Key, Number};
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

/// The order of a stable sort by `keys`. The keys are read first, and two
/// kinds that do not order (a string and a number) are an error before
/// any sorting, so the sort itself always sees a total order.
fn order_of(call: &str, keys: &[Dynamic], descending: bool) -> Result<Vec<usize>> {
    let mut read = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let key = Key::of(key).map_err(|kind| {
            script_error(format!(
                "{call}: the key of item {i} is a {kind}, which does not order"
            ))
        })?;
        if let Some(first) = read.first().filter(|f: &&Key| f.kind() != key.kind()) {
            return Err(script_error(format!(
                "{call}: cannot order a {} and a {} (item {i})",
                first.kind(),
                key.kind()
            )));
        }
        read.push(key);
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&i, &j| {
        let o = read[i].cmp(&read[j]);
        if descending { o.reverse() } else { o }
    });
    Ok(order)
}

/// `items` rearranged: the one at `order[0]` first, and so on.
fn in_order(items: Array, order: Vec<usize>) -> Array {
    let mut slots: Vec<Option<Dynamic>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

fn keys(ctx: &NativeCallContext, call: &str, items: &Array, pick: &Pick) -> Result<Vec<Dynamic>> {
    items
        .iter()
        .map(|item| pick.apply(ctx, call, item))
        .collect()
}

fn group_by(ctx: NativeCallContext, items: Array, f: Dynamic) -> Result<Map> {
    let pick = Pick::of("group_by", "the key", f)?;
    let keys = keys(&ctx, "group_by", &items, &pick)?;
    group_columns(keys, items)
}

fn count_by(ctx: NativeCallContext, items: Array, f: Dynamic) -> Result<Counter> {
    let pick = Pick::of("count_by", "the key", f)?;
    let mut counts = Counter::default();
    for item in &items {
        counts.add("count_by", &pick.apply(&ctx, "count_by", item)?, 1)?;
    }
    Ok(counts)
}

/// `group_by(keys, values)`: each value in the group of the key in its row.
fn group_columns(keys: Array, values: Array) -> Result<Map> {
    same_length("group_by", &keys, &values)?;
    let mut groups: Keyed<Array> = Keyed::default();
    for (key, value) in keys.iter().zip(values) {
        groups.entry(key).push(value);
    }
    Ok(groups.into_map(Dynamic::from_array))
}

/// Values by key as text (a map's keys), found without making the text
/// again for a key already seen.
struct Keyed<T> {
    slots: HashMap<ImmutableString, T, RandomState>,
}

impl<T> Default for Keyed<T> {
    fn default() -> Self {
        Keyed {
            slots: HashMap::default(),
        }
    }
}

impl<T: Default> Keyed<T> {
    fn entry(&mut self, key: &Dynamic) -> &mut T {
        let text = match key.read_lock::<ImmutableString>() {
            Some(s) => s.clone(),
            None => key.to_string().into(),
        };
        self.slots.entry(text).or_default()
    }

    fn into_map(self, value: impl Fn(T) -> Dynamic) -> Map {
        self.slots
            .into_iter()
            .map(|(k, v)| (k.as_str().into(), value(v)))
            .collect()
    }
}

fn same_length(call: &str, keys: &Array, values: &Array) -> Result<()> {
    match keys.len() == values.len() {
        true => Ok(()),
        false => Err(script_error(format!(
            "{call}: {} keys and {} values; they must be of one length",
            keys.len(),
            values.len()
        ))),
    }
}

/// A sum: an integer while every value added is one, a float once one
/// is not.
#[derive(Clone, Copy)]
struct Sum(Number);

impl Default for Sum {
    fn default() -> Self {
        Sum(Number::Int(0))
    }
}

/// Sums by key.
#[derive(Default)]
struct Sums(Keyed<Sum>);

impl Sums {
    /// Adds `value` to the sum of `key`; `()`, a missing value, adds
    /// nothing (the key is still there, as in pandas).
    fn add(&mut self, i: usize, key: &Dynamic, value: &Dynamic) -> Result<()> {
        if value.is_unit() {
            self.0.entry(key);
            return Ok(());
        }
        let Some(add) = Number::of(value) else {
            return Err(script_error(format!(
                "sum_by: the value of item {i} is a {}, not a number",
                script_type_name(value)
            )));
        };
        let sum = self.0.entry(key);
        sum.0 = match (sum.0, add) {
            (Number::Int(a), Number::Int(b)) => a
                .checked_add(b)
                .map(Number::Int)
                .ok_or_else(|| script_error("sum_by: a sum overflows an integer"))?,
            (so_far, add) => Number::Float(so_far.value() + add.value()),
        };
        Ok(())
    }

    fn into_map(self) -> Map {
        self.0.into_map(|sum| sum.0.to_dynamic())
    }
}

fn sum_by(ctx: NativeCallContext, items: Array, key: Dynamic, value: Dynamic) -> Result<Map> {
    let (key, value) = (
        Pick::of("sum_by", "the key", key)?,
        Pick::of("sum_by", "the value", value)?,
    );
    let mut sums = Sums::default();
    for (i, item) in items.iter().enumerate() {
        let k = key.apply(&ctx, "sum_by", item)?;
        sums.add(i, &k, &value.apply(&ctx, "sum_by", item)?)?;
    }
    Ok(sums.into_map())
}

/// `sum_by(keys, values)`: each value added to the sum of its row's key.
fn sum_columns(keys: Array, values: Array) -> Result<Map> {
    same_length("sum_by", &keys, &values)?;
    let mut sums = Sums::default();
    for (i, (key, value)) in keys.iter().zip(&values).enumerate() {
        sums.add(i, key, value)?;
    }
    Ok(sums.into_map())
}

fn sort_by(ctx: NativeCallContext, items: Array, f: Dynamic) -> Result<Array> {
    let pick = Pick::of("sort_by", "the key", f)?;
    let keys = keys(&ctx, "sort_by", &items, &pick)?;
    let order = order_of("sort_by", &keys, false)?;
    Ok(in_order(items, order))
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
    let order = order_of("sorted", &items, descending)?;
    Ok(in_order(items, order))
}

pub fn register(engine: &mut Engine) {
    engine.register_fn("group_by", group_by);
    engine.register_fn("count_by", count_by);
    engine.register_fn("sum_by", sum_by);
    // Over columns: a key array and a value array of one length.
    engine.register_fn("group_by", group_columns);
    engine.register_fn("sum_by", sum_columns);
    engine.register_fn("sort_by", sort_by);
    // Ahead of Rhai's own `sort_by(array, comparer)`, which this keeps.
    engine.register_fn("sort_by", sort_by_fn);
    engine.register_fn("sorted", |items: Array| sorted(items, false));
    engine.register_fn("sorted", sorted);
}
