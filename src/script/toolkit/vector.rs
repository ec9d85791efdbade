//! Whole-column work, so a script over a file's columns (`csv_columns`,
//! `json_columns`) loops in Rust, not in Rhai: arithmetic item by item
//! (`mul`, `add`, `sub`, `div`), comparisons to a mask (`compare`) and
//! picking by one (`select`), rows joined into keys (`zip_join`), an
//! array joined into a string (`join`). Two arrays must be of one length;
//! a number with an array stands for that number in every row. Plain
//! values in, new values out: nothing here changes its arguments.

use std::cmp::Ordering;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, ImmutableString};

use super::columns::Strings;
use super::order::{Key, Number};
use crate::script::convert::script_type_name;
use crate::script::script_error;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// An argument of an item-by-item call: a column, or one value for all.
enum Operand {
    Column(Array),
    Each(Dynamic),
}

impl Operand {
    fn of(v: Dynamic) -> Operand {
        match v.try_cast_result::<Array>() {
            Ok(column) => Operand::Column(column),
            Err(v) => Operand::Each(v),
        }
    }

    fn len(&self) -> Option<usize> {
        match self {
            Operand::Column(a) => Some(a.len()),
            Operand::Each(_) => None,
        }
    }

    fn get(&self, i: usize) -> &Dynamic {
        match self {
            Operand::Column(a) => &a[i],
            Operand::Each(v) => v,
        }
    }
}

/// The rows two operands share: both columns of one length, or a column
/// and one value (two single values make one row).
fn rows(call: &str, a: &Operand, b: &Operand) -> Result<usize> {
    match (a.len(), b.len()) {
        (Some(n), Some(m)) if n != m => Err(script_error(format!(
            "{call}: arrays of {n} and {m} items; they must be of one length"
        ))),
        (Some(n), _) | (_, Some(n)) => Ok(n),
        (None, None) => Ok(1),
    }
}

#[derive(Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

impl Arith {
    fn name(self) -> &'static str {
        match self {
            Arith::Add => "add",
            Arith::Sub => "sub",
            Arith::Mul => "mul",
            Arith::Div => "div",
        }
    }

    /// One row: integers stay integers (an overflow is an error) except
    /// through `div`, which gives a float as Python's `/` does; `()`, a
    /// missing value, gives `()`.
    fn apply(self, i: usize, x: &Dynamic, y: &Dynamic) -> Result<Dynamic> {
        if x.is_unit() || y.is_unit() {
            return Ok(Dynamic::UNIT);
        }
        let (a, b) = (self.number(i, x)?, self.number(i, y)?);
        let overflow = || script_error(format!("{}: item {i} overflows an integer", self.name()));
        if let (Number::Int(a), Number::Int(b), false) = (a, b, matches!(self, Arith::Div)) {
            let n = match self {
                Arith::Add => a.checked_add(b),
                Arith::Sub => a.checked_sub(b),
                _ => a.checked_mul(b),
            };
            return n.map(Dynamic::from_int).ok_or_else(overflow);
        }
        let (a, b) = (a.value(), b.value());
        let n: FLOAT = match self {
            Arith::Add => a + b,
            Arith::Sub => a - b,
            Arith::Mul => a * b,
            Arith::Div if b == 0.0 => {
                return Err(script_error(format!("div: item {i} divides by zero")));
            }
            Arith::Div => a / b,
        };
        Ok(Dynamic::from_float(n))
    }

    fn number(self, i: usize, v: &Dynamic) -> Result<Number> {
        Number::of(v).ok_or_else(|| {
            script_error(format!(
                "{}: item {i} is a {}, not a number",
                self.name(),
                script_type_name(v)
            ))
        })
    }

    /// The call: item by item over columns; a plain value when neither
    /// argument is an array.
    fn call(self, a: Dynamic, b: Dynamic) -> Result<Dynamic> {
        let (a, b) = (Operand::of(a), Operand::of(b));
        if let (Operand::Each(x), Operand::Each(y)) = (&a, &b) {
            return self.apply(0, x, y);
        }
        let n = rows(self.name(), &a, &b)?;
        let out: Result<Array> = (0..n).map(|i| self.apply(i, a.get(i), b.get(i))).collect();
        out.map(Dynamic::from_array)
    }
}

/// `compare(column, op, value)`: a mask, `true` where the item compares
/// so. Numbers compare by value, integers with floats, and NaN compares
/// false (true by `!=`), as in Python. `==` and `!=` take any two values:
/// of two kinds they are unequal, and a value that is not a number,
/// string, character or boolean equals only `()` to `()` (so
/// `compare(a, "==", ())` marks the missing items). The orderings take
/// two of one kind; a `()` item compares false.
fn compare(column: Array, op: ImmutableString, value: Dynamic) -> Result<Array> {
    type Test = fn(Ordering) -> bool;
    let test: Test = match op.as_str() {
        "==" => Ordering::is_eq,
        "!=" => Ordering::is_ne,
        "<" => Ordering::is_lt,
        "<=" => Ordering::is_le,
        ">" => Ordering::is_gt,
        ">=" => Ordering::is_ge,
        _ => {
            return Err(script_error(format!(
                "compare: the operator '{op}' is not one of == != < <= > >="
            )));
        }
    };
    let unequal = op == "!=";
    let equality = matches!(op.as_str(), "==" | "!=");
    let against = Key::of(&value);
    if let (Err(kind), false) = (&against, equality) {
        return Err(script_error(format!("compare: cannot order by a {kind}")));
    }
    let is_nan = |v: &Dynamic| v.as_float().is_ok_and(FLOAT::is_nan);
    let value_is_nan = is_nan(&value);
    let row = |(i, item): (usize, &Dynamic)| -> Result<bool> {
        if value_is_nan || is_nan(item) {
            return Ok(unequal);
        }
        let (key, against) = match (Key::of(item), &against) {
            (Ok(key), Ok(against)) => (key, against),
            _ if equality => return Ok((item.is_unit() && value.is_unit()) != unequal),
            _ if item.is_unit() => return Ok(false),
            (Err(kind), _) => {
                return Err(script_error(format!(
                    "compare: item {i} is a {kind}, which does not order"
                )));
            }
            (Ok(_), Err(kind)) => {
                return Err(script_error(format!("compare: cannot order by a {kind}")));
            }
        };
        if key.kind() == against.kind() {
            return Ok(test(key.cmp(against)));
        }
        match equality {
            true => Ok(unequal),
            false => Err(script_error(format!(
                "compare: cannot order a {} and a {} (item {i})",
                key.kind(),
                against.kind()
            ))),
        }
    };
    column
        .iter()
        .enumerate()
        .map(|r| row(r).map(Dynamic::from_bool))
        .collect()
}

/// `select(column, mask)`: the items whose place in `mask` is `true`.
fn select(column: Array, mask: Array) -> Result<Array> {
    let n = column.len();
    if mask.len() != n {
        return Err(script_error(format!(
            "select: arrays of {n} and {} items; they must be of one length",
            mask.len()
        )));
    }
    let mut out = Array::new();
    for (i, (item, keep)) in column.into_iter().zip(&mask).enumerate() {
        let keep = keep.as_bool().map_err(|_| {
            script_error(format!(
                "select: the mask's item {i} is a {}, not a boolean",
                script_type_name(keep)
            ))
        })?;
        if keep {
            out.push(item);
        }
    }
    Ok(out)
}

/// A value as it goes into joined text: a string as it is, `()` as
/// nothing, anything else as it prints.
fn push_text(out: &mut String, v: &Dynamic) {
    if let Some(s) = v.read_lock::<ImmutableString>() {
        out.push_str(s.as_str());
    } else if !v.is_unit() {
        out.push_str(&v.to_string());
    }
}

/// `join(array, sep)`: the items as text, `sep` between them.
fn join(items: Array, sep: ImmutableString) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&sep);
        }
        push_text(&mut out, item);
    }
    out
}

/// `zip_join(columns, sep)`: one string a row, the row's items joined by
/// `sep` (a key of several fields).
fn zip_join(columns: Array, sep: ImmutableString) -> Result<Array> {
    let mut arrays = Vec::with_capacity(columns.len());
    for (k, column) in columns.into_iter().enumerate() {
        let kind = script_type_name(&column);
        let array = column.try_cast::<Array>().ok_or_else(|| {
            script_error(format!("zip_join: column {k} is a {kind}, not an array"))
        })?;
        arrays.push(array);
    }
    let n = arrays.first().map_or(0, Array::len);
    if let Some(other) = arrays.iter().find(|a| a.len() != n) {
        return Err(script_error(format!(
            "zip_join: arrays of {n} and {} items; they must be of one length",
            other.len()
        )));
    }
    // Keys repeat: each is made once and shared.
    let (mut strings, mut key) = (Strings::default(), String::new());
    let rows = (0..n).map(|i| {
        key.clear();
        for (k, column) in arrays.iter().enumerate() {
            if k > 0 {
                key.push_str(&sep);
            }
            push_text(&mut key, &column[i]);
        }
        Dynamic::from(strings.get(&key))
    });
    Ok(rows.collect())
}

pub fn register(engine: &mut Engine) {
    for op in [Arith::Add, Arith::Sub, Arith::Mul, Arith::Div] {
        engine.register_fn(op.name(), move |a: Dynamic, b: Dynamic| op.call(a, b));
    }
    engine.register_fn("compare", compare);
    engine.register_fn("select", select);
    engine.register_fn("join", join);
    engine.register_fn("zip_join", zip_join);
}
