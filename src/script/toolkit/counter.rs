//! `counter()`: counts of strings, integers, characters and booleans, as
//! Python's `collections.Counter`, kept in Rust hash maps so that counting
//! a record costs one hash look-up, not a Rhai map's copy and rebuild.
//!
//! A counter is a plain value: it crosses processes whole (`Value::Counter`),
//! so workers return counters and the main script merges them. Only its
//! own methods change it; it holds no handle and talks to no process.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::{self, Write};

use ahash::RandomState;
use rhai::{Array, Dynamic, Engine, EvalAltResult, INT, ImmutableString, Map};

use crate::script::objects::register_show;
use crate::script::script_error;
use crate::wire::Counts;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// One key, borrowed from the script value that names it.
#[derive(Clone, Debug, PartialEq)]
enum Key<'k> {
    Bool(bool),
    Int(INT),
    Char(char),
    Str(&'k str),
}

impl Key<'_> {
    /// Keys of different kinds sort booleans, integers, characters, strings.
    fn rank(&self) -> u8 {
        match self {
            Key::Bool(_) => 0,
            Key::Int(_) => 1,
            Key::Char(_) => 2,
            Key::Str(_) => 3,
        }
    }

    fn cmp(&self, other: &Key<'_>) -> Ordering {
        match (self, other) {
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            (Key::Int(a), Key::Int(b)) => a.cmp(b),
            (Key::Char(a), Key::Char(b)) => a.cmp(b),
            (Key::Str(a), Key::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }

    fn to_dynamic(&self) -> Dynamic {
        match *self {
            Key::Bool(b) => Dynamic::from_bool(b),
            Key::Int(i) => Dynamic::from_int(i),
            Key::Char(c) => Dynamic::from_char(c),
            Key::Str(s) => Dynamic::from(ImmutableString::from(s)),
        }
    }
}

impl fmt::Display for Key<'_> {
    /// As `to_map` names it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Bool(b) => write!(f, "{b}"),
            Key::Int(i) => write!(f, "{i}"),
            Key::Char(c) => write!(f, "{c}"),
            Key::Str(s) => f.write_str(s),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Counter {
    strings: HashMap<String, INT, RandomState>,
    ints: HashMap<INT, INT, RandomState>,
    chars: HashMap<char, INT, RandomState>,
    bools: HashMap<bool, INT, RandomState>,
}

/// Reads `value` as a key, or says why it cannot be one.
fn with_key<T>(call: &str, value: &Dynamic, f: impl FnOnce(Key<'_>) -> T) -> Result<T> {
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Ok(f(Key::Str(s.as_str())));
    }
    if let Ok(i) = value.as_int() {
        return Ok(f(Key::Int(i)));
    }
    if let Ok(c) = value.as_char() {
        return Ok(f(Key::Char(c)));
    }
    if let Ok(b) = value.as_bool() {
        return Ok(f(Key::Bool(b)));
    }
    Err(script_error(format!(
        "{call}: a counter's key must be a string, an integer, a character or a boolean, not {}",
        crate::script::convert::script_type_name(value)
    )))
}

impl Counter {
    fn add_key(&mut self, key: Key<'_>, n: INT) {
        let count = match key {
            Key::Str(s) => match self.strings.get_mut(s) {
                Some(count) => count,
                None => self.strings.entry(s.to_string()).or_default(),
            },
            Key::Int(i) => self.ints.entry(i).or_default(),
            Key::Char(c) => self.chars.entry(c).or_default(),
            Key::Bool(b) => self.bools.entry(b).or_default(),
        };
        *count = count.saturating_add(n);
    }

    /// Its count, `None` when the key was never counted.
    fn count_of(&self, key: Key<'_>) -> Option<INT> {
        match key {
            Key::Str(s) => self.strings.get(s),
            Key::Int(i) => self.ints.get(&i),
            Key::Char(c) => self.chars.get(&c),
            Key::Bool(b) => self.bools.get(&b),
        }
        .copied()
    }

    fn get_key(&self, key: Key<'_>) -> INT {
        self.count_of(key).unwrap_or(0)
    }

    fn set_key(&mut self, key: Key<'_>, n: INT) {
        match key {
            Key::Str(s) => {
                self.strings.insert(s.to_string(), n);
            }
            Key::Int(i) => {
                self.ints.insert(i, n);
            }
            Key::Char(c) => {
                self.chars.insert(c, n);
            }
            Key::Bool(b) => {
                self.bools.insert(b, n);
            }
        }
    }

    pub fn add(&mut self, call: &str, value: &Dynamic, n: INT) -> Result<()> {
        with_key(call, value, |key| self.add_key(key, n))
    }

    pub fn add_all(&mut self, call: &str, values: &Array) -> Result<()> {
        values.iter().try_for_each(|v| self.add(call, v, 1))
    }

    fn entries(&self) -> impl Iterator<Item = (Key<'_>, INT)> {
        let strings = self.strings.iter().map(|(k, &n)| (Key::Str(k), n));
        let ints = self.ints.iter().map(|(&k, &n)| (Key::Int(k), n));
        let chars = self.chars.iter().map(|(&k, &n)| (Key::Char(k), n));
        let bools = self.bools.iter().map(|(&k, &n)| (Key::Bool(k), n));
        bools.chain(ints).chain(chars).chain(strings)
    }

    /// Every key and its count, count descending, then key ascending.
    fn ranked(&self) -> Vec<(Key<'_>, INT)> {
        let mut all: Vec<_> = self.entries().collect();
        all.sort_by(|(ka, a), (kb, b)| b.cmp(a).then_with(|| ka.cmp(kb)));
        all
    }

    pub fn most_common(&self, n: Option<INT>) -> Array {
        let ranked = self.ranked();
        let take = n.map_or(ranked.len(), |n| usize::try_from(n).unwrap_or(0));
        ranked
            .into_iter()
            .take(take)
            .map(|(key, count)| {
                Dynamic::from_array(vec![key.to_dynamic(), Dynamic::from_int(count)])
            })
            .collect()
    }

    pub fn merge(&mut self, other: &Counter) {
        for (key, n) in other.entries() {
            self.add_key(key, n);
        }
    }

    pub fn len(&self) -> usize {
        self.strings.len() + self.ints.len() + self.chars.len() + self.bools.len()
    }

    pub fn total(&self) -> INT {
        self.entries()
            .fold(0, |sum: INT, (_, n)| sum.saturating_add(n))
    }

    /// A map by each key as text; keys that read the same (`1` and `"1"`)
    /// add up.
    pub fn to_map(&self) -> Map {
        let mut map = Map::new();
        for (key, n) in self.entries() {
            let slot = map
                .entry(key.to_string().into())
                .or_insert(Dynamic::from_int(0));
            let sum = slot.as_int().unwrap_or(0).saturating_add(n);
            *slot = Dynamic::from_int(sum);
        }
        map
    }

    /// `Counter({"a": 2, 'b': 1, 3: 1})`, most common first, as Python shows it.
    pub fn show(&self) -> String {
        let mut out = String::from("Counter({");
        for (i, (key, n)) in self.ranked().into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = match key {
                Key::Str(s) => write!(out, "{s:?}: {n}"),
                Key::Char(c) => write!(out, "'{c}': {n}"),
                other => write!(out, "{other}: {n}"),
            };
        }
        out.push_str("})");
        out
    }

    pub fn to_counts(&self) -> Counts {
        Counts {
            strings: self.strings.iter().map(|(k, &n)| (k.clone(), n)).collect(),
            ints: self.ints.iter().map(|(&k, &n)| (k, n)).collect(),
            chars: self.chars.iter().map(|(&k, &n)| (k, n)).collect(),
            bools: self.bools.iter().map(|(&k, &n)| (k, n)).collect(),
        }
    }

    pub fn from_counts(counts: Counts) -> Counter {
        Counter {
            strings: counts.strings.into_iter().collect(),
            ints: counts.ints.into_iter().collect(),
            chars: counts.chars.into_iter().collect(),
            bools: counts.bools.into_iter().collect(),
        }
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Counter>("Counter");
    engine.register_fn("counter", Counter::default);
    engine.register_fn("counter", |items: Array| {
        let mut c = Counter::default();
        c.add_all("counter", &items).map(|()| c)
    });
    engine.register_fn("add", |c: &mut Counter, x: Dynamic| c.add("add", &x, 1));
    engine.register_fn("add", |c: &mut Counter, x: Dynamic, n: INT| {
        c.add("add", &x, n)
    });
    engine.register_fn("add_all", |c: &mut Counter, items: Array| {
        c.add_all("add_all", &items)
    });
    engine.register_fn("add_words", |c: &mut Counter, text: &str| {
        super::text::for_each_word(text, |w| c.add_key(Key::Str(w), 1));
    });
    engine.register_fn("get", |c: &mut Counter, x: Dynamic| {
        with_key("get", &x, |key| c.get_key(key))
    });
    engine.register_indexer_get(|c: &mut Counter, x: Dynamic| {
        with_key("counter index", &x, |key| c.get_key(key))
    });
    engine.register_indexer_set(|c: &mut Counter, x: Dynamic, n: INT| {
        with_key("counter index", &x, |key| c.set_key(key, n))
    });
    engine.register_fn("most_common", |c: &mut Counter| c.most_common(None));
    engine.register_fn("most_common", |c: &mut Counter, n: INT| {
        c.most_common(Some(n))
    });
    engine.register_fn("merge", |c: &mut Counter, other: Counter| c.merge(&other));
    engine.register_fn("len", |c: &mut Counter| c.len() as INT);
    engine.register_fn("total", |c: &mut Counter| c.total());
    engine.register_fn("to_map", |c: &mut Counter| c.to_map());
    engine.register_fn("contains", |c: &mut Counter, x: Dynamic| {
        with_key("contains", &x, |key| c.count_of(key).is_some())
    });
    register_show!(engine, Counter, |c: &mut Counter| c.show());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(items: &[Dynamic]) -> Counter {
        let mut c = Counter::default();
        c.add_all("test", &items.to_vec()).unwrap();
        c
    }

    #[test]
    fn most_common_ranks_by_count_then_key_across_kinds() {
        let c = counted(&[
            Dynamic::from("b"),
            Dynamic::from_int(3),
            Dynamic::from("a"),
            Dynamic::from("b"),
            Dynamic::from_char('z'),
            Dynamic::from_bool(true),
        ]);
        assert_eq!(
            c.show(),
            "Counter({\"b\": 2, true: 1, 3: 1, 'z': 1, \"a\": 1})"
        );
        assert_eq!(c.total(), 6);
        assert_eq!(c.len(), 5);
    }

    #[test]
    fn counts_cross_whole() {
        let c = counted(&[Dynamic::from("w"), Dynamic::from_int(7), Dynamic::from("w")]);
        let back = Counter::from_counts(c.to_counts());
        assert_eq!(back.show(), c.show());
    }

    #[test]
    fn a_float_is_no_key() {
        let mut c = Counter::default();
        let e = c.add("add", &Dynamic::from_float(1.5), 1).unwrap_err();
        assert!(
            e.to_string().contains("add: a counter's key must be"),
            "{e}"
        );
    }
}
