//! `Packed`: values encoded one after another, with where each one ends.
//!
//! A pool job's items and results travel in this form. The process that
//! has them as script values encodes them once; the hub cuts them into
//! chunks and joins results back together as bytes, never decoding an item;
//! the worker or the waiting process decodes each item when it needs it.
//! Each item is a tag byte and its bytes: plain numbers, booleans, units and
//! strings are written as they are, which is several times quicker to
//! write and read than going through serde; any other value is its bincode
//! encoding. This module owns that layout and nothing else: what a value
//! is, is `value`'s, and how it is framed on a socket, `frame`'s.
//!
//! Beside the bytes it keeps the object handles inside its items, so that
//! the hub can count who holds them (`hub::core::refs`) without decoding an item.

use std::ops::Range;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::frame::{FrameError, append_body, decode_body};
use super::handles::ObjectId;
use super::value::Value;

/// One item as `Packed::item` reads it.
#[derive(Debug, PartialEq)]
pub enum Item<'p> {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'p str),
    Other(Value),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packed {
    bytes: Vec<u8>,
    /// Where each item ends in `bytes`; item `i` starts where `i - 1` ends.
    ends: Vec<u32>,
    /// The object handles inside the items, as `(item, id)`, one per
    /// occurrence, in item order.
    objects: Vec<(u32, ObjectId)>,
}

impl Packed {
    pub fn new() -> Self {
        Packed::default()
    }

    pub fn with_capacity(items: usize) -> Self {
        Packed {
            bytes: Vec::with_capacity(items * 4),
            ends: Vec::with_capacity(items),
            objects: Vec::new(),
        }
    }

    /// The object handles inside its items, one per occurrence.
    pub fn objects(&self) -> impl Iterator<Item = ObjectId> + '_ {
        self.objects.iter().map(|&(_, id)| id)
    }

    /// The part of `objects` that belongs to the items in `range`.
    pub fn objects_in(&self, range: Range<usize>) -> &[(u32, ObjectId)] {
        let from = self
            .objects
            .partition_point(|&(i, _)| (i as usize) < range.start);
        let to = self
            .objects
            .partition_point(|&(i, _)| (i as usize) < range.end);
        &self.objects[from..to]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Appends `value`, encoded.
    pub fn push(&mut self, value: &Value) -> Result<(), FrameError> {
        match value {
            Value::Unit => self.push_unit(),
            Value::Bool(b) => self.push_bool(*b),
            Value::Int(i) => self.push_int(*i),
            Value::Float(f) => self.push_float(*f),
            Value::Str(s) => self.push_str(s),
            other => {
                let start = self.bytes.len();
                self.bytes.push(tag::OTHER);
                if let Err(e) = append_body(other, &mut self.bytes) {
                    self.bytes.truncate(start);
                    return Err(e);
                }
                let index = self.ends.len() as u32;
                self.end_item(start)?;
                let mut ids = Vec::new();
                other.object_ids(&mut ids);
                self.objects.extend(ids.into_iter().map(|id| (index, id)));
                Ok(())
            }
        }
    }

    pub fn push_unit(&mut self) -> Result<(), FrameError> {
        let start = self.bytes.len();
        self.bytes.push(tag::UNIT);
        self.end_item(start)
    }

    pub fn push_bool(&mut self, b: bool) -> Result<(), FrameError> {
        let start = self.bytes.len();
        self.bytes.push(if b { tag::TRUE } else { tag::FALSE });
        self.end_item(start)
    }

    pub fn push_int(&mut self, i: i64) -> Result<(), FrameError> {
        let start = self.bytes.len();
        self.bytes.push(tag::INT);
        put_varint(&mut self.bytes, zigzag(i));
        self.end_item(start)
    }

    pub fn push_float(&mut self, f: f64) -> Result<(), FrameError> {
        let start = self.bytes.len();
        self.bytes.push(tag::FLOAT);
        self.bytes.extend_from_slice(&f.to_bits().to_le_bytes());
        self.end_item(start)
    }

    pub fn push_str(&mut self, s: &str) -> Result<(), FrameError> {
        let start = self.bytes.len();
        self.bytes.push(tag::STR);
        self.bytes.extend_from_slice(s.as_bytes());
        self.end_item(start)
    }

    /// Appends an item already encoded, holding no handle (a test's torn one).
    #[cfg(test)]
    pub fn push_encoded(&mut self, item: &[u8]) -> Result<(), FrameError> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(item);
        self.end_item(start)
    }

    /// Appends item `index` of `other`, as bytes. Panics if there is no
    /// such item.
    pub fn push_item_of(&mut self, other: &Packed, index: usize) -> Result<(), FrameError> {
        let start = self.bytes.len();
        let at = self.ends.len() as u32;
        self.bytes.extend_from_slice(other.encoded(index));
        self.end_item(start)?;
        let inside = other.objects_in(index..index + 1);
        self.objects.extend(inside.iter().map(|&(_, id)| (at, id)));
        Ok(())
    }

    /// Appends every item of `other`, as bytes.
    pub fn append(&mut self, other: &Packed) -> Result<(), FrameError> {
        let base = self.bytes.len();
        let total = base + other.bytes.len();
        let base = u32::try_from(base)
            .ok()
            .filter(|_| u32::try_from(total).is_ok())
            .ok_or(FrameError::TooLarge(total))?;
        let first = self.ends.len() as u32;
        self.bytes.extend_from_slice(&other.bytes);
        self.ends.extend(other.ends.iter().map(|e| e + base));
        let moved = other.objects.iter().map(|&(i, id)| (i + first, id));
        self.objects.extend(moved);
        Ok(())
    }

    /// Ends the item begun at `start`; past 4 GiB of bytes, takes it back.
    fn end_item(&mut self, start: usize) -> Result<(), FrameError> {
        match u32::try_from(self.bytes.len()) {
            Ok(end) => {
                self.ends.push(end);
                Ok(())
            }
            Err(_) => {
                let len = self.bytes.len();
                self.bytes.truncate(start);
                Err(FrameError::TooLarge(len))
            }
        }
    }

    /// Item `index`, still encoded. Panics if there is no such item.
    pub fn encoded(&self, index: usize) -> &[u8] {
        let start = match index {
            0 => 0,
            i => self.ends[i - 1] as usize,
        };
        &self.bytes[start..self.ends[index] as usize]
    }

    /// Item `index`, decoded.
    pub fn decode(&self, index: usize) -> Result<Value, FrameError> {
        Ok(match self.item(index)? {
            Item::Unit => Value::Unit,
            Item::Bool(b) => Value::Bool(b),
            Item::Int(i) => Value::Int(i),
            Item::Float(f) => Value::Float(f),
            Item::Str(s) => Value::Str(s.to_string()),
            Item::Other(value) => value,
        })
    }

    /// Item `index`, decoded only as far as it must be: a string stays in
    /// place, so its reader makes the one copy it keeps.
    pub fn item(&self, index: usize) -> Result<Item<'_>, FrameError> {
        let torn = || FrameError::Malformed(format!("packed item {index} is torn"));
        let (&tag, rest) = self.encoded(index).split_first().ok_or_else(torn)?;
        Ok(match tag {
            tag::UNIT if rest.is_empty() => Item::Unit,
            tag::FALSE if rest.is_empty() => Item::Bool(false),
            tag::TRUE if rest.is_empty() => Item::Bool(true),
            tag::INT => Item::Int(unzigzag(get_varint(rest).ok_or_else(torn)?)),
            tag::FLOAT => {
                let bits: [u8; 8] = rest.try_into().map_err(|_| torn())?;
                Item::Float(f64::from_bits(u64::from_le_bytes(bits)))
            }
            tag::STR => Item::Str(std::str::from_utf8(rest).map_err(|_| torn())?),
            tag::OTHER => Item::Other(decode_body(rest)?),
            _ => return Err(torn()),
        })
    }

    /// Every item, decoded, in order.
    pub fn values(&self) -> impl Iterator<Item = Result<Value, FrameError>> + '_ {
        (0..self.len()).map(|i| self.decode(i))
    }

    /// A copy of the items in `range`. Panics if it goes past the last item.
    pub fn slice(&self, range: Range<usize>) -> Packed {
        if range.is_empty() {
            return Packed::new();
        }
        let base = match range.start {
            0 => 0,
            i => self.ends[i - 1],
        };
        let end = self.ends[range.end - 1];
        let first = range.start as u32;
        Packed {
            bytes: self.bytes[base as usize..end as usize].to_vec(),
            objects: (self.objects_in(range.clone()).iter())
                .map(|&(i, id)| (i - first, id))
                .collect(),
            ends: self.ends[range].iter().map(|e| e - base).collect(),
        }
    }

    /// The encoded values of `values`; the first error stops it.
    #[cfg(test)]
    pub fn from_values<'v>(
        values: impl IntoIterator<Item = &'v Value>,
    ) -> Result<Packed, FrameError> {
        let mut packed = Packed::new();
        for value in values {
            packed.push(value)?;
        }
        Ok(packed)
    }
}

/// Maps small negative numbers to small unsigned ones: 0, -1, 1, -2...
fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut u: u64) {
    while u >= 0x80 {
        out.push(u as u8 | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

/// The number `bytes` hold, all of them, or `None` if they are not one.
fn get_varint(bytes: &[u8]) -> Option<u64> {
    let (last, init) = bytes.split_last()?;
    if bytes.len() > 10 || last & 0x80 != 0 || init.iter().any(|b| b & 0x80 == 0) {
        return None;
    }
    let mut u: u64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        let bits = u64::from(b & 0x7f);
        if i == 9 && bits > 1 {
            return None;
        }
        u |= bits << (7 * i);
    }
    Some(u)
}

/// The first byte of an item: what follows it.
mod tag {
    pub const UNIT: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    /// Zigzag, then 7 bits a byte, low first (small numbers take a byte).
    pub const INT: u8 = 3;
    /// The eight bytes of its bits, little-endian (so NaN payloads cross too).
    pub const FLOAT: u8 = 4;
    /// The rest of the item is the string's UTF-8.
    pub const STR: u8 = 5;
    /// The rest is the value's bincode encoding.
    pub const OTHER: u8 = 6;
}

/// On the wire: the items' bytes, then their ends as little-endian `u32`s,
/// each as one byte string, so neither is encoded (or decoded) a number at
/// a time; then the handles inside (mostly none).
#[derive(Serialize, Deserialize)]
struct PackedWire {
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    #[serde(with = "serde_bytes")]
    ends: Vec<u8>,
    objects: Vec<(u32, ObjectId)>,
}

impl Serialize for Packed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let ends: Vec<u8> = self.ends.iter().flat_map(|e| e.to_le_bytes()).collect();
        let mut wire = s.serialize_struct("PackedWire", 3)?;
        wire.serialize_field("bytes", serde_bytes::Bytes::new(&self.bytes))?;
        wire.serialize_field("ends", serde_bytes::Bytes::new(&ends))?;
        wire.serialize_field("objects", &self.objects)?;
        wire.end()
    }
}

impl<'de> Deserialize<'de> for Packed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Packed, D::Error> {
        use serde::de::Error as _;
        let wire = PackedWire::deserialize(d)?;
        if wire.ends.len() % 4 != 0 {
            return Err(D::Error::custom("packed values: a torn list of ends"));
        }
        let ends: Vec<u32> = wire
            .ends
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        // The last item ends where the bytes do: `append` and
        // `push_encoded` rely on it, so a peer's stray bytes cannot become
        // part of the next item joined after them.
        let ordered = ends.windows(2).all(|w| w[0] <= w[1]);
        let last = ends.last().map_or(0, |&e| e as usize);
        if !ordered || last != wire.bytes.len() {
            return Err(D::Error::custom(
                "packed values: ends out of order, or not where the bytes end",
            ));
        }
        // Each handle names an item there is, in item order.
        let in_order = wire.objects.windows(2).all(|w| w[0].0 <= w[1].0);
        if !in_order
            || wire
                .objects
                .last()
                .is_some_and(|&(i, _)| i as usize >= ends.len())
        {
            return Err(D::Error::custom(
                "packed values: handles out of order, or past the last item",
            ));
        }
        Ok(Packed {
            bytes: wire.bytes,
            ends,
            objects: wire.objects,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode_body as decode, encode_body as encode};

    fn sample() -> Vec<Value> {
        vec![
            Value::Int(-7),
            Value::Str("héllo".into()),
            Value::Unit,
            Value::Array(vec![Value::Float(1.5), Value::Bool(true)]),
            Value::Int(1 << 40),
            Value::Int(i64::MAX),
            Value::Int(0),
            Value::Bool(false),
            Value::Float(f64::from_bits(0x7ff8_0000_0000_0001)),
            Value::Str(String::new()),
            Value::Char('é'),
            Value::Map(vec![("k".into(), Value::Int(i64::MIN))]),
        ]
    }

    #[test]
    fn items_come_back_as_they_went_in() {
        let values = sample();
        let packed = Packed::from_values(&values).unwrap();
        assert_eq!(packed.len(), values.len());
        let back: Vec<Value> = packed.values().map(Result::unwrap).collect();
        // Compared as bits: the NaN must come back with its payload.
        assert_eq!(format!("{back:?}"), format!("{values:?}"));
        let Value::Float(nan) = back[8] else {
            panic!("not a float: {:?}", back[8])
        };
        assert_eq!(nan.to_bits(), 0x7ff8_0000_0000_0001);
    }

    #[test]
    fn a_slice_and_a_rejoin_keep_each_item() {
        let values = sample();
        let packed = Packed::from_values(&values).unwrap();
        let middle = packed.slice(1..4);
        assert_eq!(middle.len(), 3);
        assert_eq!(middle.decode(0).unwrap(), values[1]);
        assert_eq!(middle.decode(2).unwrap(), values[3]);
        assert!(packed.slice(2..2).is_empty());
        let mut joined = Packed::new();
        for i in [4, 0] {
            joined.push_item_of(&packed, i).unwrap();
        }
        assert_eq!(joined.decode(0).unwrap(), values[4]);
        assert_eq!(joined.decode(1).unwrap(), values[0]);
        joined.append(&middle).unwrap();
        assert_eq!(joined.len(), 5);
        assert_eq!(joined.decode(1).unwrap(), values[0]);
        assert_eq!(joined.decode(2).unwrap(), values[1]);
        assert_eq!(joined.decode(4).unwrap(), values[3]);
    }

    #[test]
    fn it_crosses_the_wire_whole() {
        let packed = Packed::from_values(&sample()).unwrap().slice(1..5);
        let back: Packed = decode(&encode(&packed).unwrap()).unwrap();
        assert_eq!(back, packed);
    }

    #[test]
    fn integers_take_few_bytes_and_come_back_exact() {
        for i in [0, 1, -1, 63, -64, 64, 1 << 40, i64::MIN, i64::MAX] {
            let packed = Packed::from_values(&[Value::Int(i)]).unwrap();
            assert_eq!(packed.decode(0).unwrap(), Value::Int(i));
        }
        let small = Packed::from_values(&[Value::Int(-64)]).unwrap();
        assert_eq!(small.encoded(0).len(), 2);
    }

    #[test]
    fn a_torn_item_is_an_error_not_a_guess() {
        let too_long = [tag::INT]
            .into_iter()
            .chain([0xff; 10])
            .chain([1])
            .collect();
        for bytes in [
            vec![tag::INT, 0x81],
            vec![tag::INT, 1, 2],
            too_long,
            vec![tag::FLOAT, 1],
            vec![tag::STR, 0xff],
            vec![tag::UNIT, 0],
            vec![99],
        ] {
            let mut packed = Packed::new();
            packed.push_encoded(&bytes).unwrap();
            assert!(packed.decode(0).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn ends_past_the_bytes_are_refused() {
        let wire = PackedWire {
            bytes: vec![0, 1],
            ends: 9u32.to_le_bytes().to_vec(),
            objects: Vec::new(),
        };
        assert!(decode::<Packed>(&encode(&wire).unwrap()).is_err());
        let torn = PackedWire {
            bytes: vec![],
            ends: vec![1, 2, 3],
            objects: Vec::new(),
        };
        assert!(decode::<Packed>(&encode(&torn).unwrap()).is_err());
        for (bytes, ends) in [(vec![tag::INT, 2, 0xff], vec![2u32]), (vec![7], vec![])] {
            let trailing = PackedWire {
                bytes,
                ends: ends.iter().flat_map(|e| e.to_le_bytes()).collect(),
                objects: Vec::new(),
            };
            assert!(decode::<Packed>(&encode(&trailing).unwrap()).is_err());
        }
    }

    #[test]
    fn handles_follow_their_items_through_slices_joins_and_the_wire() {
        use crate::wire::{Handle, ObjectKind};
        let handle = |id| {
            Value::Handle(Handle::Object {
                id,
                kind: ObjectKind::Event,
                direct: None,
            })
        };
        let values = [
            Value::Int(1),
            Value::Array(vec![handle(7), handle(8)]),
            Value::Str("x".into()),
            handle(9),
        ];
        let packed = Packed::from_values(&values).unwrap();
        assert_eq!(packed.objects().collect::<Vec<_>>(), [7, 8, 9]);
        let tail = packed.slice(2..4);
        assert_eq!(tail.objects, [(1, 9)]);
        let mut joined = Packed::new();
        joined.push_item_of(&packed, 3).unwrap();
        joined.push_item_of(&packed, 0).unwrap();
        joined.append(&packed.slice(0..2)).unwrap();
        assert_eq!(joined.objects, [(0, 9), (3, 7), (3, 8)]);
        let back: Packed = decode(&encode(&joined).unwrap()).unwrap();
        assert_eq!(back, joined);
        // A handle said to be in an item there is not is refused.
        let wire = PackedWire {
            bytes: vec![tag::UNIT],
            ends: 1u32.to_le_bytes().to_vec(),
            objects: vec![(1, 5)],
        };
        assert!(decode::<Packed>(&encode(&wire).unwrap()).is_err());
    }
}
