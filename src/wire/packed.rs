//! `Packed`: values encoded one after another, with where each one ends.
//!
//! A pool job's items and results travel in this form. The process that
//! has them as script values encodes them once; the hub cuts them into
//! chunks and joins results back together as bytes, never decoding an item;
//! the worker or the waiting process decodes each item when it needs it.
//! This module owns that layout and nothing else: what a value is, is
//! `value`'s, and how it is framed on a socket, `frame`'s.

use std::ops::Range;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::frame::{FrameError, append_body, decode_body};
use super::value::Value;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packed {
    bytes: Vec<u8>,
    /// Where each item ends in `bytes`; item `i` starts where `i - 1` ends.
    ends: Vec<u32>,
}

impl Packed {
    pub fn new() -> Self {
        Packed::default()
    }

    pub fn with_capacity(items: usize) -> Self {
        Packed {
            bytes: Vec::with_capacity(items * 2),
            ends: Vec::with_capacity(items),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Appends `value`, encoded.
    pub fn push(&mut self, value: &Value) -> Result<(), FrameError> {
        let start = self.bytes.len();
        append_body(value, &mut self.bytes)?;
        self.end_item().inspect_err(|_| self.bytes.truncate(start))
    }

    /// Appends an item already encoded (one of another `Packed`'s).
    pub fn push_encoded(&mut self, item: &[u8]) -> Result<(), FrameError> {
        self.bytes.extend_from_slice(item);
        self.end_item()
    }

    fn end_item(&mut self) -> Result<(), FrameError> {
        let end =
            u32::try_from(self.bytes.len()).map_err(|_| FrameError::TooLarge(self.bytes.len()))?;
        self.ends.push(end);
        Ok(())
    }

    /// Item `index`, still encoded.
    pub fn encoded(&self, index: usize) -> &[u8] {
        let start = match index {
            0 => 0,
            i => self.ends[i - 1] as usize,
        };
        &self.bytes[start..self.ends[index] as usize]
    }

    /// Item `index`, decoded.
    pub fn decode(&self, index: usize) -> Result<Value, FrameError> {
        decode_body(self.encoded(index))
    }

    /// Every item, decoded, in order.
    pub fn values(&self) -> impl Iterator<Item = Result<Value, FrameError>> + '_ {
        (0..self.len()).map(|i| self.decode(i))
    }

    /// A copy of the items in `range`.
    pub fn slice(&self, range: Range<usize>) -> Packed {
        if range.is_empty() {
            return Packed::new();
        }
        let base = match range.start {
            0 => 0,
            i => self.ends[i - 1],
        };
        let end = self.ends[range.end - 1];
        Packed {
            bytes: self.bytes[base as usize..end as usize].to_vec(),
            ends: self.ends[range].iter().map(|e| e - base).collect(),
        }
    }

    /// The encoded values of `values`; the first error stops it.
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

/// On the wire: the items' bytes, then their ends as little-endian `u32`s,
/// each as one byte string, so neither is encoded (or decoded) a number at
/// a time.
#[derive(Serialize, Deserialize)]
struct PackedWire {
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    #[serde(with = "serde_bytes")]
    ends: Vec<u8>,
}

impl Serialize for Packed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let ends: Vec<u8> = self.ends.iter().flat_map(|e| e.to_le_bytes()).collect();
        let mut wire = s.serialize_struct("PackedWire", 2)?;
        wire.serialize_field("bytes", serde_bytes::Bytes::new(&self.bytes))?;
        wire.serialize_field("ends", serde_bytes::Bytes::new(&ends))?;
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
        let ordered = ends.windows(2).all(|w| w[0] <= w[1]);
        if !ordered || ends.last().is_some_and(|&e| e as usize > wire.bytes.len()) {
            return Err(D::Error::custom(
                "packed values: ends out of order or past the bytes",
            ));
        }
        Ok(Packed {
            bytes: wire.bytes,
            ends,
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
        ]
    }

    #[test]
    fn items_come_back_as_they_went_in() {
        let values = sample();
        let packed = Packed::from_values(&values).unwrap();
        assert_eq!(packed.len(), values.len());
        let back: Vec<Value> = packed.values().map(Result::unwrap).collect();
        assert_eq!(back, values);
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
            joined.push_encoded(packed.encoded(i)).unwrap();
        }
        assert_eq!(joined.decode(0).unwrap(), values[4]);
        assert_eq!(joined.decode(1).unwrap(), values[0]);
    }

    #[test]
    fn it_crosses_the_wire_whole() {
        let packed = Packed::from_values(&sample()).unwrap().slice(1..5);
        let back: Packed = decode(&encode(&packed).unwrap()).unwrap();
        assert_eq!(back, packed);
    }

    #[test]
    fn ends_past_the_bytes_are_refused() {
        let wire = PackedWire {
            bytes: vec![0, 1],
            ends: 9u32.to_le_bytes().to_vec(),
        };
        assert!(decode::<Packed>(&encode(&wire).unwrap()).is_err());
        let torn = PackedWire {
            bytes: vec![],
            ends: vec![1, 2, 3],
        };
        assert!(decode::<Packed>(&encode(&torn).unwrap()).is_err());
    }
}
