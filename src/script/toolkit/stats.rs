//! Statistics over arrays of numbers, as Python's `statistics` (and numpy's
//! default percentile): `sum`, `mean`, `median`, `percentile`, `stdev`,
//! `min_of`, `max_of`. Integers and floats mix and compare by value. An
//! empty array, or an item that is not a number, is a one-line error that
//! names the call and the item. NaN orders after every number.

use std::cmp::Ordering;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT};

use super::order::Number;

use crate::script::convert::script_type_name;
use crate::script::script_error;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The items of `a` as numbers; `call` names the function in errors.
fn numbers(call: &str, a: &Array) -> Result<Vec<Number>> {
    if a.is_empty() {
        return Err(script_error(format!("{call}: the array is empty")));
    }
    a.iter()
        .enumerate()
        .map(|(i, v)| {
            Number::of(v).ok_or_else(|| {
                script_error(format!(
                    "{call}: item {i} is a {}, not a number",
                    script_type_name(v)
                ))
            })
        })
        .collect()
}

/// The `lo`-th smallest item and the next one up (the same one when
/// `next` is false), found in linear time, without sorting the array.
fn ranked(call: &str, a: &Array, lo: usize, next: bool) -> Result<(Number, Number)> {
    let mut items = numbers(call, a)?;
    let (_, low, above) = items.select_nth_unstable_by(lo, |x, y| x.cmp(*y));
    let low = *low;
    let high = match next {
        true => above
            .iter()
            .copied()
            .min_by(|x, y| x.cmp(*y))
            .unwrap_or(low),
        false => low,
    };
    Ok((low, high))
}

/// An integer when every item is one (an error if it overflows), else a float.
fn sum(a: &Array) -> Result<Dynamic> {
    let items = numbers("sum", a)?;
    let mut int: Option<INT> = Some(0);
    let mut float: FLOAT = 0.0;
    for n in &items {
        match *n {
            Number::Int(i) => int = int.and_then(|s| s.checked_add(i)),
            Number::Float(_) => int = None,
        }
        float += n.value();
    }
    let all_ints = items.iter().all(|n| matches!(n, Number::Int(_)));
    match (all_ints, int) {
        (true, Some(s)) => Ok(Dynamic::from_int(s)),
        (true, None) => Err(script_error("sum: the sum overflows an integer")),
        (false, _) => Ok(Dynamic::from_float(float)),
    }
}

fn mean(call: &str, a: &Array) -> Result<FLOAT> {
    let items = numbers(call, a)?;
    Ok(items.iter().map(|n| n.value()).sum::<FLOAT>() / items.len() as FLOAT)
}

/// The middle item, or the mean of the two middle ones.
fn median(a: &Array) -> Result<Dynamic> {
    let odd = a.len() % 2 == 1;
    let (low, high) = ranked("median", a, a.len().saturating_sub(1) / 2, !odd)?;
    Ok(match odd {
        true => low.to_dynamic(),
        false => Dynamic::from_float((low.value() + high.value()) / 2.0),
    })
}

/// Linear interpolation between the two nearest ranks (numpy's default).
fn percentile(a: &Array, p: FLOAT) -> Result<FLOAT> {
    if !(0.0..=100.0).contains(&p) {
        return Err(script_error(format!(
            "percentile: p must be from 0 to 100, not {p}"
        )));
    }
    let rank = p / 100.0 * a.len().saturating_sub(1) as FLOAT;
    let lo = rank.floor() as usize;
    let (low, high) = ranked("percentile", a, lo, rank > lo as FLOAT)?;
    let (low, high) = (low.value(), high.value());
    Ok(low + (high - low) * (rank - lo as FLOAT))
}

/// The sample standard deviation (divided by n - 1), as Python's `stdev`.
fn stdev(a: &Array) -> Result<FLOAT> {
    let items = numbers("stdev", a)?;
    if items.len() < 2 {
        return Err(script_error("stdev: needs at least two numbers"));
    }
    let mean = items.iter().map(|n| n.value()).sum::<FLOAT>() / items.len() as FLOAT;
    let squares: FLOAT = items.iter().map(|n| (n.value() - mean).powi(2)).sum();
    Ok((squares / (items.len() - 1) as FLOAT).sqrt())
}

fn extreme(call: &str, a: &Array, want: Ordering) -> Result<Dynamic> {
    let items = numbers(call, a)?;
    let best = items
        .into_iter()
        .reduce(|best, n| if n.cmp(best) == want { n } else { best });
    Ok(best.map_or(Dynamic::UNIT, Number::to_dynamic))
}

/// `p` as a float, from an integer or a float.
fn number_arg(call: &str, what: &str, v: &Dynamic) -> Result<FLOAT> {
    Number::of(v).map(Number::value).ok_or_else(|| {
        script_error(format!(
            "{call}: {what} must be a number, not {}",
            script_type_name(v)
        ))
    })
}

pub fn register(engine: &mut Engine) {
    engine.register_fn("sum", |a: Array| sum(&a));
    engine.register_fn("mean", |a: Array| mean("mean", &a));
    engine.register_fn("median", |a: Array| median(&a));
    engine.register_fn("percentile", |a: Array, p: Dynamic| {
        percentile(&a, number_arg("percentile", "p", &p)?)
    });
    engine.register_fn("stdev", |a: Array| stdev(&a));
    engine.register_fn("min_of", |a: Array| extreme("min_of", &a, Ordering::Less));
    engine.register_fn("max_of", |a: Array| {
        extreme("max_of", &a, Ordering::Greater)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(items: &[f64]) -> Array {
        items.iter().map(|&f| Dynamic::from_float(f)).collect()
    }

    #[test]
    fn percentile_interpolates_between_ranks_as_numpy() {
        let a = array(&[15.0, 20.0, 35.0, 40.0, 50.0]);
        assert_eq!(percentile(&a, 0.0).unwrap(), 15.0);
        assert_eq!(percentile(&a, 40.0).unwrap(), 29.0);
        assert_eq!(percentile(&a, 100.0).unwrap(), 50.0);
        assert!(percentile(&a, 101.0).is_err());
    }

    #[test]
    fn stdev_is_the_sample_one() {
        let a = array(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((stdev(&a).unwrap() - 2.138_089_935_299_395).abs() < 1e-12);
    }
}
