//! How the toolkit orders values: numbers (integers and floats together,
//! exactly, NaN after every number), then strings, characters and booleans
//! each among their own kind. A total order, so sorting never sees two
//! answers for one pair; two kinds that do not order are found before any
//! sort starts.

use std::cmp::Ordering;

use rhai::{Dynamic, FLOAT, INT, ImmutableString};

use crate::script::convert::script_type_name;

/// A number as it was given: an integer stays one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Int(INT),
    Float(FLOAT),
}

impl Number {
    pub fn of(v: &Dynamic) -> Option<Number> {
        v.as_int()
            .map(Number::Int)
            .or_else(|_| v.as_float().map(Number::Float))
            .ok()
    }

    pub fn value(self) -> FLOAT {
        match self {
            Number::Int(i) => i as FLOAT,
            Number::Float(f) => f,
        }
    }

    pub fn to_dynamic(self) -> Dynamic {
        match self {
            Number::Int(i) => Dynamic::from_int(i),
            Number::Float(f) => Dynamic::from_float(f),
        }
    }

    /// By value, exactly (an integer beyond 2^53 against a float too).
    pub fn cmp(self, other: Number) -> Ordering {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(&b),
            (Number::Float(a), Number::Float(b)) => floats(a, b),
            (Number::Int(a), Number::Float(b)) => int_float(a, b),
            (Number::Float(a), Number::Int(b)) => int_float(b, a).reverse(),
        }
    }
}

/// NaN after every number, and equal to itself; -0.0 equal to 0.0.
fn floats(a: FLOAT, b: FLOAT) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// `i` against `f`, without rounding `i` to a float.
fn int_float(i: INT, f: FLOAT) -> Ordering {
    const TWO_63: FLOAT = 9_223_372_036_854_775_808.0;
    if f.is_nan() || f >= TWO_63 {
        return Ordering::Less;
    }
    if f < -TWO_63 {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // In range now: -2^63 <= whole < 2^63.
    match i.cmp(&(whole as INT)) {
        Ordering::Equal => 0.0.partial_cmp(&(f - whole)).unwrap_or(Ordering::Equal),
        other => other,
    }
}

/// A value that can be ordered.
#[derive(Clone, Debug)]
pub enum Key {
    Number(Number),
    Str(ImmutableString),
    Char(char),
    Bool(bool),
}

impl Key {
    /// `v` as a key, or its type's name when it cannot be one.
    pub fn of(v: &Dynamic) -> Result<Key, String> {
        if let Some(n) = Number::of(v) {
            return Ok(Key::Number(n));
        }
        if let Some(s) = v.read_lock::<ImmutableString>() {
            return Ok(Key::Str(s.clone()));
        }
        if let Ok(c) = v.as_char() {
            return Ok(Key::Char(c));
        }
        if let Ok(b) = v.as_bool() {
            return Ok(Key::Bool(b));
        }
        Err(script_type_name(v))
    }

    /// Its kind's name, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Key::Number(_) => "number",
            Key::Str(_) => "string",
            Key::Char(_) => "character",
            Key::Bool(_) => "boolean",
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Key::Number(_) => 0,
            Key::Str(_) => 1,
            Key::Char(_) => 2,
            Key::Bool(_) => 3,
        }
    }

    /// A total order: within a kind by value, kinds by their rank.
    pub fn cmp(&self, other: &Key) -> Ordering {
        match (self, other) {
            (Key::Number(a), Key::Number(b)) => a.cmp(*b),
            (Key::Str(a), Key::Str(b)) => a.as_str().cmp(b.as_str()),
            (Key::Char(a), Key::Char(b)) => a.cmp(b),
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_floats_compare_exactly_and_nan_goes_last() {
        let big = (1i64 << 53) + 1;
        assert_eq!(int_float(big, (1i64 << 53) as f64), Ordering::Greater);
        assert_eq!(int_float(2, 2.5), Ordering::Less);
        assert_eq!(int_float(-2, -2.5), Ordering::Greater);
        assert_eq!(int_float(3, 3.0), Ordering::Equal);
        assert_eq!(int_float(i64::MAX, f64::NAN), Ordering::Less);
        assert_eq!(floats(-f64::NAN, 1e300), Ordering::Greater);
    }
}
