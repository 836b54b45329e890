//! The one SCALE decoding path for untrusted bytes.
//!
//! `parity-scale-codec` decodes `Vec<T>` by trusting the length prefix up to
//! the remaining input; Strata instead gives every collection an explicit
//! limit, and every message a total size limit, so a hostile peer can neither
//! make a node allocate beyond what the protocol allows nor smuggle trailing
//! bytes past a hash.

use parity_scale_codec::{Compact, Decode, DecodeAll, Encode, Input};

/// Why untrusted bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("malformed encoding: {0}")]
    Malformed(String),
}

impl From<parity_scale_codec::Error> for CodecError {
    fn from(e: parity_scale_codec::Error) -> Self {
        CodecError::Malformed(e.to_string())
    }
}

/// Decodes a whole message of at most `max_len` bytes; trailing bytes are an
/// error, so each value has exactly one accepted encoding.
pub fn decode_message<T: Decode>(bytes: &[u8], max_len: usize) -> Result<T, CodecError> {
    if bytes.len() > max_len {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    Ok(T::decode_all(&mut &bytes[..])?)
}

/// Encodes a value (the counterpart of [`decode_message`]).
pub fn encode_message<T: Encode>(value: &T) -> Vec<u8> {
    value.encode()
}

/// Decodes a compact length prefix and refuses it when above `max`.
pub fn decode_len<I: Input>(input: &mut I, max: usize) -> Result<usize, parity_scale_codec::Error> {
    let len = <Compact<u32>>::decode(input)?.0 as usize;
    if len > max {
        return Err("collection length exceeds its limit".into());
    }
    Ok(len)
}

/// Decodes a `Vec<T>` of at most `max` elements (encoded as SCALE `Vec<T>`).
pub fn decode_vec<T: Decode, I: Input>(
    input: &mut I,
    max: usize,
) -> Result<Vec<T>, parity_scale_codec::Error> {
    let len = decode_len(input, max)?;
    // Capacity is bounded by `max`, and by the input for large elements: a
    // lying prefix costs at most `max` slots, never an unbounded allocation.
    let mut out = Vec::with_capacity(len.min(1024));
    for _ in 0..len {
        out.push(T::decode(input)?);
    }
    Ok(out)
}

/// Decodes a byte string of at most `max` bytes (encoded as SCALE `Vec<u8>`).
pub fn decode_bytes<I: Input>(
    input: &mut I,
    max: usize,
) -> Result<Vec<u8>, parity_scale_codec::Error> {
    let len = decode_len(input, max)?;
    let mut out = vec![0u8; len];
    input.read(&mut out)?;
    Ok(out)
}

/// A `Vec<T>` of at most `MAX` elements: encodes as a SCALE `Vec<T>` and
/// refuses a longer one when decoding, so structures that hold it can derive
/// `Decode` and still never allocate beyond their limits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoundedVec<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> Default for BoundedVec<T, MAX> {
    fn default() -> Self {
        BoundedVec(Vec::new())
    }
}

/// A value longer than its bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{len} elements exceed the limit of {max}")]
pub struct TooLong {
    pub len: usize,
    pub max: usize,
}

impl<T, const MAX: usize> BoundedVec<T, MAX> {
    pub const MAX: usize = MAX;

    pub fn new(items: Vec<T>) -> Result<Self, TooLong> {
        if items.len() > MAX {
            return Err(TooLong {
                len: items.len(),
                max: MAX,
            });
        }
        Ok(BoundedVec(items))
    }

    pub fn empty() -> Self {
        BoundedVec(Vec::new())
    }

    pub fn into_inner(self) -> Vec<T> {
        self.0
    }

    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
}

impl<T, const MAX: usize> std::ops::Deref for BoundedVec<T, MAX> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: std::fmt::Debug, const MAX: usize> std::fmt::Debug for BoundedVec<T, MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T, const MAX: usize> TryFrom<Vec<T>> for BoundedVec<T, MAX> {
    type Error = TooLong;
    fn try_from(items: Vec<T>) -> Result<Self, TooLong> {
        Self::new(items)
    }
}

impl<T: Encode, const MAX: usize> Encode for BoundedVec<T, MAX> {
    fn size_hint(&self) -> usize {
        self.0.size_hint()
    }
    fn encode_to<O: parity_scale_codec::Output + ?Sized>(&self, dest: &mut O) {
        self.0.encode_to(dest)
    }
}

impl<T: Decode, const MAX: usize> Decode for BoundedVec<T, MAX> {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        Ok(BoundedVec(decode_vec(input, MAX)?))
    }
}

/// A byte string of at most `MAX` bytes (read in one piece, not per byte).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct BoundedBytes<const MAX: usize>(Vec<u8>);

impl<const MAX: usize> BoundedBytes<MAX> {
    pub fn new(bytes: Vec<u8>) -> Result<Self, TooLong> {
        if bytes.len() > MAX {
            return Err(TooLong {
                len: bytes.len(),
                max: MAX,
            });
        }
        Ok(BoundedBytes(bytes))
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }
}

impl<const MAX: usize> std::ops::Deref for BoundedBytes<MAX> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<const MAX: usize> std::fmt::Debug for BoundedBytes<MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(s) => write!(f, "{s:?}"),
            Err(_) => write!(f, "0x{}", hex::encode(&self.0)),
        }
    }
}

impl<const MAX: usize> Encode for BoundedBytes<MAX> {
    fn size_hint(&self) -> usize {
        self.0.size_hint()
    }
    fn encode_to<O: parity_scale_codec::Output + ?Sized>(&self, dest: &mut O) {
        self.0.encode_to(dest)
    }
}

impl<const MAX: usize> Decode for BoundedBytes<MAX> {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        Ok(BoundedBytes(decode_bytes(input, MAX)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_over_limit_is_refused_before_allocation() {
        // A prefix claiming 2^30 elements with no payload.
        let bytes = Compact(1u32 << 30).encode();
        let err = decode_vec::<u64, _>(&mut &bytes[..], 16).unwrap_err();
        assert!(err.to_string().contains("limit"));
    }

    #[test]
    fn vec_within_limit_round_trips() {
        let v: Vec<u32> = vec![1, 2, 3];
        let bytes = v.encode();
        assert_eq!(decode_vec::<u32, _>(&mut &bytes[..], 3).unwrap(), v);
        assert!(decode_vec::<u32, _>(&mut &bytes[..], 2).is_err());
    }

    #[test]
    fn bytes_truncated_input_is_an_error() {
        let mut bytes = vec![1u8; 10].encode();
        bytes.truncate(5);
        assert!(decode_bytes(&mut &bytes[..], 100).is_err());
    }

    #[test]
    fn bounded_types_enforce_their_limits_both_ways() {
        assert!(BoundedVec::<u8, 2>::new(vec![1, 2, 3]).is_err());
        let v = BoundedVec::<u16, 3>::new(vec![1, 2, 3]).unwrap();
        assert_eq!(
            BoundedVec::<u16, 3>::decode(&mut &v.encode()[..]).unwrap(),
            v
        );
        assert!(BoundedVec::<u16, 2>::decode(&mut &v.encode()[..]).is_err());
        let b = BoundedBytes::<4>::new(b"abcd".to_vec()).unwrap();
        assert_eq!(BoundedBytes::<4>::decode(&mut &b.encode()[..]).unwrap(), b);
        assert!(BoundedBytes::<3>::decode(&mut &b.encode()[..]).is_err());
        assert_eq!(
            BoundedBytes::<3>::new(b"abcd".to_vec()).unwrap_err(),
            TooLong { len: 4, max: 3 }
        );
    }

    #[test]
    fn message_limits_and_trailing_bytes() {
        let bytes = 7u32.encode();
        assert_eq!(decode_message::<u32>(&bytes, 4), Ok(7));
        assert_eq!(
            decode_message::<u32>(&bytes, 3),
            Err(CodecError::TooLarge { len: 4, max: 3 })
        );
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode_message::<u32>(&long, 100),
            Err(CodecError::Malformed(_))
        ));
    }
}
