//! SHA-256 with domain separation.
//!
//! Every hash in Strata is taken under a domain tag so that bytes hashed for
//! one purpose (a block header, a vote, a Merkle leaf) can never be confused
//! with bytes hashed for another. The tag is length-prefixed, so no tag is a
//! prefix-collision of another.

use std::fmt;

use parity_scale_codec::{Decode, Encode};
use sha2::{Digest as _, Sha256};

/// Hash-table state for the per-transaction maps keyed by digests (and
/// other keys that carry digests or sender keys): foldhash, seeded at
/// random per table like the standard library's SipHash state, so a peer
/// cannot aim transactions at one bucket, but several times cheaper on
/// 32-byte keys (SipHash itself was ~2% of all CPU at 60k opaque tx/s, on
/// maps that take a few inserts and removals per transaction).
pub type DigestHashState = foldhash::fast::RandomState;
pub type DigestMap<K, V> = std::collections::HashMap<K, V, DigestHashState>;
pub type DigestSet<K> = std::collections::HashSet<K, DigestHashState>;

/// Length of a [`Digest`] in bytes.
pub const DIGEST_LEN: usize = 32;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode)]
pub struct Digest(pub [u8; DIGEST_LEN]);

impl Digest {
    /// The all-zero digest, used as "no parent" by genesis blocks.
    pub const ZERO: Digest = Digest([0u8; DIGEST_LEN]);

    /// Hashes `data` under `domain`.
    pub fn of(domain: &str, data: &[u8]) -> Digest {
        let mut h = Hasher::new(domain);
        h.update(data);
        h.finalize()
    }

    /// Hashes the SCALE encoding of `value` under `domain`, streaming the
    /// encoding into the hash instead of building it in memory first (the
    /// hot paths hash every transaction, on admission and on commit).
    pub fn of_encoding<T: Encode + ?Sized>(domain: &str, value: &T) -> Digest {
        let mut h = Hasher::new(domain);
        value.encode_to(&mut h);
        h.finalize()
    }

    pub fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 bytes in hex: enough to tell digests apart in logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Result<Digest, DigestParseError> {
        let mut out = [0u8; DIGEST_LEN];
        hex::decode_to_slice(s, &mut out).map_err(|_| DigestParseError)?;
        Ok(Digest(out))
    }
}

/// A digest string that is not 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a digest is 64 hexadecimal characters")]
pub struct DigestParseError;

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.short())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Incremental domain-separated SHA-256.
#[derive(Clone)]
pub struct Hasher(Sha256);

impl Hasher {
    /// Starts a hash under `domain`. Domains are short ASCII tags such as
    /// `"strata/merkle"`; they must be shorter than 256 bytes.
    pub fn new(domain: &str) -> Hasher {
        let tag = domain.as_bytes();
        assert!(
            tag.len() < 256,
            "domain tags are constants shorter than 256 bytes"
        );
        let mut inner = Sha256::new();
        inner.update([tag.len() as u8]);
        inner.update(tag);
        Hasher(inner)
    }

    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        self.0.update(data);
        self
    }

    /// Feeds a length-prefixed byte string, so that consecutive variable-length
    /// fields cannot be shifted into one another.
    pub fn update_framed(&mut self, data: &[u8]) -> &mut Self {
        self.0.update((data.len() as u64).to_le_bytes());
        self.0.update(data);
        self
    }

    pub fn finalize(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

/// Lets an encoding be written straight into the hash.
impl parity_scale_codec::Output for Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_matches_plain_sha256_of_framed_input() {
        // H_domain(x) = SHA-256(len(domain) || domain || x)
        let expected: [u8; 32] = Sha256::digest(b"\x03abcxyz").into();
        assert_eq!(Digest::of("abc", b"xyz").0, expected);
    }

    #[test]
    fn hashing_an_encoding_equals_hashing_its_bytes() {
        let value = (7u32, vec![1u8, 2, 3], Some(Digest::of("x", b"y")));
        assert_eq!(
            Digest::of_encoding("strata/test", &value),
            Digest::of("strata/test", &value.encode())
        );
    }

    #[test]
    fn domains_separate() {
        assert_ne!(Digest::of("a", b"bc"), Digest::of("ab", b"c"));
        assert_ne!(Digest::of("strata/a", b""), Digest::of("strata/b", b""));
    }

    #[test]
    fn framing_prevents_field_shifting() {
        let mut a = Hasher::new("t");
        a.update_framed(b"ab").update_framed(b"c");
        let mut b = Hasher::new("t");
        b.update_framed(b"a").update_framed(b"bc");
        assert_ne!(a.finalize(), b.finalize());
    }

    #[test]
    fn hex_round_trip_and_rejection() {
        let d = Digest::of("x", b"y");
        assert_eq!(Digest::from_hex(&d.to_hex()), Ok(d));
        assert_eq!(Digest::from_hex("zz"), Err(DigestParseError));
        assert_eq!(Digest::from_hex(&"0".repeat(62)), Err(DigestParseError));
    }
}
