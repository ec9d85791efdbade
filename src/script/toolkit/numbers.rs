//! Numbers and times as text: `round(x, digits)`, `to_fixed(x, digits)`,
//! `parse_time(text)` (RFC 3339), `parse_time(text, format)` and
//! `format_time(seconds, format)` (strftime formats, jiff), all in UTC with
//! times as seconds since the epoch, a float.

use jiff::Timestamp;
use jiff::fmt::strtime;
use jiff::tz::Offset;
use rhai::{Dynamic, Engine, EvalAltResult, FLOAT, INT};

use super::order::Number;
use crate::script::convert::script_type_name;
use crate::script::script_error;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The most decimals `round` and `to_fixed` take.
const MAX_DIGITS: INT = 100;

fn number(call: &str, x: &Dynamic) -> Result<FLOAT> {
    Number::of(x)
        .map(Number::value)
        .ok_or_else(|| script_error(format!("{call}: {} is not a number", script_type_name(x))))
}

fn digits(call: &str, d: INT) -> Result<usize> {
    match d {
        0..=MAX_DIGITS => Ok(d as usize),
        _ => Err(script_error(format!(
            "{call}: digits must be from 0 to {MAX_DIGITS}, not {d}"
        ))),
    }
}

/// As Python's `round(x, digits)`: the float nearest the decimal rounding
/// of `x`'s exact value, ties to even; negative digits round to tens,
/// hundreds... An integer with digits of 0 or more stays as it is.
fn round(x: Dynamic, d: INT) -> Result<Dynamic> {
    if let Ok(i) = x.as_int() {
        return round_int(i, d).map(Dynamic::from_int);
    }
    let f = number("round", &x)?;
    if d < 0 {
        // Past 10^308 every finite float rounds to zero.
        let places = i32::try_from(d.unsigned_abs().min(400)).unwrap_or(400);
        let scale = 10f64.powi(places);
        if !scale.is_finite() {
            return Ok(Dynamic::from_float(0.0f64.copysign(f)));
        }
        return Ok(Dynamic::from_float((f / scale).round_ties_even() * scale));
    }
    let text = format!("{f:.*}", digits("round", d)?);
    Ok(Dynamic::from_float(text.parse().unwrap_or(f)))
}

/// An integer rounded to `-d` tens, ties to even (`d` of 0 or more: as it is).
fn round_int(i: INT, d: INT) -> Result<INT> {
    if d >= 0 {
        return Ok(i);
    }
    let Some(scale) = u32::try_from(d.unsigned_abs())
        .ok()
        .and_then(|p| 10i64.checked_pow(p))
    else {
        return Ok(0); // more places than an integer has digits
    };
    let (q, r) = (i.div_euclid(scale), i.rem_euclid(scale));
    let up = match (r * 2).cmp(&scale) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => q % 2 != 0,
        std::cmp::Ordering::Less => false,
    };
    (q + INT::from(up))
        .checked_mul(scale)
        .ok_or_else(|| script_error(format!("round: {i} rounded overflows an integer")))
}

fn to_fixed(x: Dynamic, d: INT) -> Result<String> {
    Ok(format!(
        "{:.*}",
        digits("to_fixed", d)?,
        number("to_fixed", &x)?
    ))
}

fn seconds(t: Timestamp) -> FLOAT {
    t.as_second() as FLOAT + FLOAT::from(t.subsec_nanosecond()) / 1e9
}

fn parse_rfc3339(text: &str) -> Result<FLOAT> {
    text.trim()
        .parse::<Timestamp>()
        .map(seconds)
        .map_err(|e| script_error(format!("parse_time: {text:?} is not an RFC 3339 time: {e}")))
}

/// With `format`'s directives (`%Y-%m-%d %H:%M:%S`...); a time without an
/// offset in it is taken as UTC.
fn parse_with(text: &str, format: &str) -> Result<FLOAT> {
    let fail = |e: jiff::Error| {
        script_error(format!(
            "parse_time: {text:?} does not match the format {format:?}: {e}"
        ))
    };
    let parsed = strtime::parse(format, text).map_err(fail)?;
    let at = match parsed.to_timestamp() {
        Ok(t) => t,
        Err(_) => parsed
            .to_datetime()
            .and_then(|dt| Offset::UTC.to_timestamp(dt))
            .map_err(fail)?,
    };
    Ok(seconds(at))
}

fn format_time(secs: Dynamic, format: &str) -> Result<String> {
    let secs = number("format_time", &secs)?;
    if !secs.is_finite() {
        return Err(script_error(format!("format_time: {secs} is not a time")));
    }
    let mut whole = secs.floor();
    let mut nanos = ((secs - whole) * 1e9).round() as i32;
    if nanos >= 1_000_000_000 {
        whole += 1.0;
        nanos = 0;
    }
    let at = Timestamp::new(whole as i64, nanos)
        .map_err(|e| script_error(format!("format_time: {secs} seconds is out of range: {e}")))?;
    strtime::format(format, at)
        .map_err(|e| script_error(format!("format_time: the format {format:?}: {e}")))
}

pub fn register(engine: &mut Engine) {
    engine.register_fn("round", round);
    engine.register_fn("to_fixed", to_fixed);
    engine.register_fn("parse_time", |text: &str| parse_rfc3339(text));
    engine.register_fn("parse_time", |text: &str, format: &str| {
        parse_with(text, format)
    });
    engine.register_fn("format_time", |secs: Dynamic, format: &str| {
        format_time(secs, format)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_is_pythons() {
        let r = |x: f64, d| {
            round(Dynamic::from_float(x), d)
                .unwrap()
                .as_float()
                .unwrap()
        };
        assert_eq!(r(2.675, 2), 2.67); // 2.675 is 2.67499999... in binary
        assert_eq!(r(0.5, 0), 0.0);
        assert_eq!(r(1.5, 0), 2.0);
        assert_eq!(r(1234.5, -2), 1200.0);
        assert_eq!(round(Dynamic::from_int(7), 2).unwrap().as_int().unwrap(), 7);
        assert_eq!(r(5.0, -400), 0.0);
        assert_eq!(r(-5.0, INT::MIN), 0.0);
        let ri = |i, d| round(Dynamic::from_int(i), d).unwrap().as_int().unwrap();
        assert_eq!(
            [
                ri(1234, -2),
                ri(1250, -2),
                ri(1350, -2),
                ri(-1250, -2),
                ri(7, -30)
            ],
            [1200, 1200, 1400, -1200, 0]
        );
        assert!(round(Dynamic::from_int(INT::MAX), -1).is_err());
    }

    #[test]
    fn times_go_both_ways_in_utc() {
        let t = parse_rfc3339("2026-12-06T01:02:03.5+01:00").unwrap();
        assert_eq!(t, 1_796_515_323.5);
        assert_eq!(
            format_time(Dynamic::from_float(t), "%Y-%m-%d %H:%M:%S").unwrap(),
            "2026-12-06 00:02:03"
        );
        assert_eq!(
            parse_with("06/12/2026 00:02", "%d/%m/%Y %H:%M").unwrap(),
            1_796_515_320.0
        );
    }
}
