//! Frames: a 4-byte little-endian length, then a bincode-encoded message.
//!
//! `write_frame`/`read_frame` serve the interpreter side (blocking sockets);
//! `FrameDecoder` serves the hub (non-blocking, bytes arrive in pieces).
//! Decoding never trusts the peer: a length over `MAX_FRAME_LEN`, a truncated
//! frame or bytes that do not decode are errors, not panics.

use std::io::{self, Read, Write};

use serde::{Serialize, de::DeserializeOwned};

/// The largest message mphost moves in one piece (values inside are bounded by it).
pub const MAX_FRAME_LEN: usize = 1 << 30;

const HEADER_LEN: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("message of {0} bytes is over the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge(usize),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("connection closed")]
    Closed,
    #[error("connection closed in the middle of a message")]
    Truncated,
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_LEN>()
}

/// Encodes `message` as one frame, header included.
pub fn encode_frame<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; HEADER_LEN];
    bincode::serde::encode_into_std_write(message, &mut out, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = out.len() - HEADER_LEN;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    out[..HEADER_LEN].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(out)
}

/// One message's bytes without the frame's header: how a queue's ring
/// holds an item.
pub fn encode_body<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    bincode::serde::encode_to_vec(message, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Appends one message's bytes, without a header, to `out`: how a
/// `Packed` collects its values.
pub fn append_body<T: Serialize>(message: &T, out: &mut Vec<u8>) -> Result<(), FrameError> {
    bincode::serde::encode_into_std_write(message, out, config())
        .map(|_| ())
        .map_err(|e| FrameError::Malformed(e.to_string()))
}

pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (message, used) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes",
            body.len() - used
        )));
    }
    Ok(message)
}

fn body_len(header: [u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_FRAME_LEN {
        Err(FrameError::TooLarge(len))
    } else {
        Ok(len)
    }
}

pub fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> Result<(), FrameError> {
    out.write_all(&encode_frame(message)?)?;
    Ok(())
}

/// Reads one whole frame; `Closed` when the peer closed cleanly between frames.
pub fn read_frame<T: DeserializeOwned>(input: &mut impl Read) -> Result<T, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match input.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut body = vec![0u8; body_len(header)?];
    input.read_exact(&mut body).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    })?;
    decode_body(&body)
}

/// Collects bytes as they arrive and yields whole messages.
#[derive(Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    /// Adds bytes that arrived another way (a remote worker's, through Redis).
    pub fn extend(&mut self, bytes: &[u8]) {
        self.compact();
        self.buffer.extend_from_slice(bytes);
    }

    /// Reads up to `max` bytes from `fd` straight into the buffer; what
    /// `read(2)` returned (negative: see `errno`).
    pub fn read_from(&mut self, fd: std::os::fd::RawFd, max: usize) -> isize {
        self.compact();
        self.buffer.reserve(max);
        let spare = self.buffer.spare_capacity_mut();
        // SAFETY: reads at most `spare.len()` bytes into the buffer's unused
        // capacity; only the bytes `read` reports are then counted as filled.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len().min(max)) };
        if n > 0 {
            // SAFETY: `read` initialised the first `n` spare bytes.
            unsafe { self.buffer.set_len(self.buffer.len() + n as usize) };
        }
        n
    }

    /// True when bytes of an unfinished frame are waiting.
    #[cfg(test)]
    pub fn has_partial(&self) -> bool {
        self.start < self.buffer.len()
    }

    /// The next whole message, `Ok(None)` when more bytes are needed.
    pub fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        let pending = &self.buffer[self.start..];
        if pending.len() < HEADER_LEN {
            self.compact();
            return Ok(None);
        }
        let len = body_len(pending[..HEADER_LEN].try_into().expect("header is 4 bytes"))?;
        if pending.len() < HEADER_LEN + len {
            self.compact();
            return Ok(None);
        }
        let message = decode_body(&pending[HEADER_LEN..HEADER_LEN + len])?;
        self.start += HEADER_LEN + len;
        Ok(Some(message))
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Request, Value};

    #[test]
    fn decoder_yields_messages_split_at_any_byte() {
        let a = Request::Output {
            stream: crate::wire::Stream::Stdout,
            text: "hi\n".into(),
        };
        let b = Request::Create {
            object: crate::wire::NewObject::List(vec![
                Value::Float(f64::NAN),
                Value::Str("é".into()),
            ]),
        };
        let mut bytes = encode_frame(&a).unwrap();
        bytes.extend(encode_frame(&b).unwrap());
        for split in 0..bytes.len() {
            let mut decoder = FrameDecoder::default();
            decoder.extend(&bytes[..split]);
            let mut got: Vec<Request> = Vec::new();
            while let Some(m) = decoder.next().unwrap() {
                got.push(m);
            }
            decoder.extend(&bytes[split..]);
            while let Some(m) = decoder.next().unwrap() {
                got.push(m);
            }
            assert_eq!(got.len(), 2);
            assert_eq!(got[0], a);
            assert!(!decoder.has_partial());
        }
    }

    #[test]
    fn oversized_length_is_refused_before_reading_the_body() {
        let mut decoder = FrameDecoder::default();
        decoder.extend(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decoder.next::<Request>(),
            Err(FrameError::TooLarge(_))
        ));
    }

    #[test]
    fn garbage_body_is_malformed_not_a_panic() {
        let mut bytes = 5u32.to_le_bytes().to_vec();
        bytes.extend([0xff, 0xff, 0xff, 0xff, 0xff]);
        let mut decoder = FrameDecoder::default();
        decoder.extend(&bytes);
        assert!(matches!(
            decoder.next::<Request>(),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn truncated_stream_is_reported() {
        let bytes = encode_frame(&Request::Status { id: 7 }).unwrap();
        let mut short = &bytes[..bytes.len() - 1];
        assert!(matches!(
            read_frame::<Request>(&mut short),
            Err(FrameError::Truncated)
        ));
        let mut empty: &[u8] = &[];
        assert!(matches!(
            read_frame::<Request>(&mut empty),
            Err(FrameError::Closed)
        ));
    }
}

/// Property tests: any value survives a frame bit-exactly, and no sequence
/// of bytes makes the decoder panic or hang.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::{FnRef, MAX_DEPTH, Request, Stream, Value};

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Unit),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<u64>().prop_map(|bits| Value::Float(f64::from_bits(bits))),
            any::<char>().prop_map(Value::Char),
            ".*".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Blob),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec((".{0,8}", inner.clone()), 0..8).prop_map(Value::Map),
                (".{1,12}", proptest::collection::vec(inner, 0..4))
                    .prop_map(|(name, curry)| Value::Fn(FnRef { name, curry })),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_value_crosses_a_frame_bit_exact(v in value()) {
            let frame = encode_frame(&v).unwrap();
            let back: Value = read_frame(&mut frame.as_slice()).unwrap();
            // Compare encodings: NaN != NaN, but its bits must survive.
            prop_assert_eq!(encode_frame(&back).unwrap(), frame);
        }

        #[test]
        fn random_bytes_are_an_error_or_a_message_never_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..512)
        ) {
            let mut decoder = FrameDecoder::default();
            decoder.extend(&bytes);
            // Each success consumes a frame, so this ends.
            while let Ok(Some(_)) = decoder.next::<Request>() {}
            let _ = read_frame::<Request>(&mut bytes.as_slice());
        }

        #[test]
        fn a_frame_with_flipped_bytes_is_an_error_or_a_message(
            v in value(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)
        ) {
            let mut frame = encode_frame(&Request::Output {
                stream: Stream::Stdout,
                text: format!("{v:?}"),
            })
            .unwrap();
            for (at, byte) in flips {
                let at = at % frame.len();
                frame[at] ^= byte | 1;
            }
            let mut decoder = FrameDecoder::default();
            decoder.extend(&frame);
            while let Ok(Some(_)) = decoder.next::<Request>() {}
        }

        #[test]
        fn a_truncated_frame_is_reported_truncated(v in value(), cut in any::<usize>()) {
            let frame = encode_frame(&v).unwrap();
            let cut = 1 + cut % (frame.len() - 1);
            let result = read_frame::<Value>(&mut &frame[..cut]);
            prop_assert!(matches!(result, Err(FrameError::Truncated)), "{:?}", result);
        }
    }

    #[test]
    fn a_value_nested_past_the_limit_is_refused_when_decoded() {
        let mut deep = Value::Unit;
        for _ in 0..MAX_DEPTH + 1 {
            deep = Value::Array(vec![deep]);
        }
        let frame = encode_frame(&deep).unwrap();
        let result = read_frame::<Value>(&mut frame.as_slice());
        assert!(
            matches!(result, Err(FrameError::Malformed(ref m)) if m.contains("nested")),
            "{result:?}"
        );
        let mut ok = Value::Unit;
        for _ in 0..MAX_DEPTH {
            ok = Value::Array(vec![ok]);
        }
        let frame = encode_frame(&ok).unwrap();
        assert_eq!(read_frame::<Value>(&mut frame.as_slice()).unwrap(), ok);
    }

    #[test]
    fn a_message_over_the_limit_is_refused_when_encoded() {
        let big = Value::Blob(vec![0; MAX_FRAME_LEN]);
        assert!(matches!(encode_frame(&big), Err(FrameError::TooLarge(n)) if n > MAX_FRAME_LEN));
    }
}
