//! `Value`: a script value in a form that can leave its process.
//!
//! Rhai's `Dynamic` cannot be decoded by bincode (its `Deserialize` needs
//! `deserialize_any`), and some of its types (shared cells, handles) mean
//! nothing in another process. `Value` is the closed set that can cross;
//! conversion to and from `Dynamic` lives in `script::convert`.

use std::cell::Cell;

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};

use super::handles::{Handle, ObjectId};

/// The deepest nesting of arrays and maps a value may have to cross. A
/// deeper one is refused when sent and when decoded, so neither side
/// recurses deep enough to overflow its stack.
pub const MAX_DEPTH: usize = 512;

thread_local! {
    static DECODE_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Decodes the items of an array or map one level deeper, refusing to go
/// past `MAX_DEPTH`.
fn nested<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    let depth = DECODE_DEPTH.get() + 1;
    if depth > MAX_DEPTH {
        return Err(D::Error::custom(format!(
            "a value nested more than {MAX_DEPTH} deep"
        )));
    }
    DECODE_DEPTH.set(depth);
    let items = T::deserialize(d);
    DECODE_DEPTH.set(depth - 1);
    items
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Value {
    Unit,
    Bool(bool),
    Int(i64),
    /// Kept as `f64`; bincode writes its bits, so it crosses bit-exact (NaN payloads too).
    Float(f64),
    Char(char),
    Str(String),
    Array(#[serde(deserialize_with = "nested")] Vec<Value>),
    /// An object map, in key order.
    Map(#[serde(deserialize_with = "nested")] Vec<(String, Value)>),
    Blob(Vec<u8>),
    Fn(FnRef),
    Handle(Handle),
    /// A `counter()`'s counts, each key kind apart.
    Counter(Counts),
    /// A `regex(pattern)`, as its pattern: compiled again where it arrives.
    Regex(String),
}

/// A counter's counts as they cross processes (`script::toolkit::counter`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Counts {
    pub strings: Vec<(String, i64)>,
    pub ints: Vec<(i64, i64)>,
    pub chars: Vec<(char, i64)>,
    pub bools: Vec<(bool, i64)>,
}

impl Value {
    /// Every object handle in this value, one per occurrence, function
    /// values' captured values included: what a store keeps reachable
    /// while it holds the value (`hub::core::refs`).
    pub fn object_ids(&self, out: &mut Vec<ObjectId>) {
        match self {
            Value::Handle(Handle::Object { id, .. }) => out.push(*id),
            Value::Array(items) => items.iter().for_each(|v| v.object_ids(out)),
            Value::Map(entries) => entries.iter().for_each(|(_, v)| v.object_ids(out)),
            Value::Fn(f) => f.object_ids(out),
            _ => {}
        }
    }

    /// How many object handles it holds (`object_ids`' count).
    pub fn count_objects(&self) -> usize {
        let mut ids = Vec::new();
        self.object_ids(&mut ids);
        ids.len()
    }

    /// Whether the value holds an object handle anywhere (captured values
    /// included). Such a value never travels through shared memory: the hub
    /// must see every handle that goes into or out of a store.
    pub fn carries_objects(&self) -> bool {
        match self {
            Value::Handle(Handle::Object { .. }) => true,
            Value::Array(items) => items.iter().any(Value::carries_objects),
            Value::Map(entries) => entries.iter().any(|(_, v)| v.carries_objects()),
            Value::Fn(f) => f.curry.iter().any(Value::carries_objects),
            _ => false,
        }
    }
}

/// A function value: a script function's name plus the values curried into it
/// (a closure's captured variables travel this way, as copies).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FnRef {
    pub name: String,
    #[serde(deserialize_with = "nested")]
    pub curry: Vec<Value>,
}

impl FnRef {
    /// The object handles among its captured values (`Value::object_ids`).
    pub fn object_ids(&self, out: &mut Vec<ObjectId>) {
        self.curry.iter().for_each(|v| v.object_ids(out));
    }
}

/// What a worker inherits from the process that started it: the values of
/// the top-level `const`s (read there as `global::NAME`) and the modules
/// imported, as `(alias, path)`, to be imported again.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Globals {
    pub constants: Vec<(String, Value)>,
    pub imports: Vec<(String, String)>,
}

impl Globals {
    /// The object handles in the constants, one per occurrence.
    pub fn object_ids(&self, out: &mut Vec<ObjectId>) {
        self.constants.iter().for_each(|(_, v)| v.object_ids(out));
    }
}
