//! Signer bitmaps: a set of committee positions with one canonical
//! encoding, the attribution part of every certificate.

use parity_scale_codec::{Compact, Decode, Encode, Input, Output};

/// Upper bound on committee size; bounds bitmaps and decoding.
pub const MAX_COMMITTEE_SIZE: usize = 4096;

/// A set of committee positions, encoded as `len` bits, least significant bit
/// of the first byte first, with zero padding (so each set has exactly one
/// encoding).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SignerBitmap {
    len: usize,
    bits: Vec<u8>,
}

impl SignerBitmap {
    /// An empty set over a committee of `len` members.
    pub fn new(len: usize) -> SignerBitmap {
        SignerBitmap {
            len,
            bits: vec![0u8; len.div_ceil(8)],
        }
    }

    pub fn from_indices(len: usize, indices: impl IntoIterator<Item = usize>) -> SignerBitmap {
        let mut b = SignerBitmap::new(len);
        for i in indices {
            b.set(i);
        }
        b
    }

    /// Committee size this bitmap ranges over.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Adds position `i`; panics if `i` is outside the committee, which is a
    /// caller bug (positions come from committee lookups).
    pub fn set(&mut self, i: usize) {
        assert!(
            i < self.len,
            "signer {i} outside a committee of {}",
            self.len
        );
        self.bits[i / 8] |= 1 << (i % 8);
    }

    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.bits[i / 8] & (1 << (i % 8)) != 0
    }

    pub fn count(&self) -> usize {
        self.bits.iter().map(|b| b.count_ones() as usize).sum()
    }

    pub fn iter_ones(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }

    pub fn iter_zeros(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).filter(|&i| !self.get(i))
    }
}

impl std::fmt::Debug for SignerBitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: String = (0..self.len)
            .map(|i| if self.get(i) { '1' } else { '0' })
            .collect();
        write!(f, "SignerBitmap({s})")
    }
}

impl Encode for SignerBitmap {
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        Compact(self.len as u32).encode_to(dest);
        dest.write(&self.bits);
    }
}

impl Decode for SignerBitmap {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let len = <Compact<u32>>::decode(input)?.0 as usize;
        if len > MAX_COMMITTEE_SIZE {
            return Err("signer bitmap longer than the largest committee".into());
        }
        let mut bits = vec![0u8; len.div_ceil(8)];
        input.read(&mut bits)?;
        if len % 8 != 0 && bits.last().is_some_and(|b| b >> (len % 8) != 0) {
            return Err("signer bitmap has non-zero padding".into());
        }
        Ok(SignerBitmap { len, bits })
    }
}
