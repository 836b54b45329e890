//! BLS12-381 signatures, `min_pk` variant (48-byte keys, 96-byte signatures),
//! ciphersuite `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_` (IETF
//! draft-irtf-cfrg-bls-signature-05 §4.2.3), over `blst`.
//!
//! * A [`PublicKey`] is validated (on the curve, in the prime-order subgroup,
//!   not the identity) when it is built, once; holding one is the proof of
//!   validation, so nothing downstream re-checks it.
//! * Proof of possession (its own DST, §3.3) is what makes same-message
//!   aggregation safe against rogue keys: a committee only admits keys whose
//!   proof verified at registration.
//! * A [`Signature`] decodes only if it is a point on the curve; the subgroup
//!   check is done by verification, on the aggregate when aggregating, which
//!   is what lets a leader pay for one check per certificate, not per vote.

use std::fmt;
use std::hash::{Hash, Hasher};

use blst::min_pk;
use blst::BLST_ERROR;
use parity_scale_codec::{Decode, Encode, Input, Output};
use rand_core::{CryptoRng, RngCore};

pub use crate::message_point::forget_hashed_messages;
use crate::message_point::message_point;
use crate::scalar::Fr;

pub use crate::message_point::SIG_DST;
/// Domain separation tag of proofs of possession.
pub const POP_DST: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

pub const SECRET_KEY_LEN: usize = 32;
pub const PUBLIC_KEY_LEN: usize = 48;
pub const SIGNATURE_LEN: usize = 96;

/// Why BLS input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlsError {
    #[error("expected {expected} bytes, got {got}")]
    BadLength { expected: usize, got: usize },
    #[error("point encoding is malformed")]
    BadEncoding,
    #[error("point is not on the curve")]
    NotOnCurve,
    #[error("point is not in the prime-order subgroup")]
    NotInSubgroup,
    #[error("public key is the identity point")]
    IdentityKey,
    #[error("secret key is zero or not below the group order")]
    BadSecretKey,
    #[error("key material must be at least 32 bytes")]
    ShortSeed,
    #[error("signature does not verify")]
    InvalidSignature,
    #[error("proof of possession does not verify")]
    InvalidProofOfPossession,
    #[error("nothing to aggregate")]
    EmptyAggregate,
}

fn map_err(e: BLST_ERROR) -> BlsError {
    match e {
        BLST_ERROR::BLST_POINT_NOT_ON_CURVE => BlsError::NotOnCurve,
        BLST_ERROR::BLST_POINT_NOT_IN_GROUP => BlsError::NotInSubgroup,
        BLST_ERROR::BLST_PK_IS_INFINITY => BlsError::IdentityKey,
        BLST_ERROR::BLST_BAD_SCALAR => BlsError::BadSecretKey,
        BLST_ERROR::BLST_VERIFY_FAIL => BlsError::InvalidSignature,
        BLST_ERROR::BLST_AGGR_TYPE_MISMATCH => BlsError::EmptyAggregate,
        _ => BlsError::BadEncoding,
    }
}

fn check_len(bytes: &[u8], expected: usize) -> Result<(), BlsError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(BlsError::BadLength {
            expected,
            got: bytes.len(),
        })
    }
}

/// A BLS secret key. Zeroed on drop (by blst); never printed.
#[derive(Clone)]
pub struct SecretKey(min_pk::SecretKey);

impl SecretKey {
    /// Derives a key from at least 32 bytes of key material (KeyGen, §2.3).
    pub fn from_seed(ikm: &[u8]) -> Result<SecretKey, BlsError> {
        if ikm.len() < 32 {
            return Err(BlsError::ShortSeed);
        }
        min_pk::SecretKey::key_gen(ikm, &[])
            .map(SecretKey)
            .map_err(map_err)
    }

    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> SecretKey {
        let mut ikm = [0u8; 32];
        rng.fill_bytes(&mut ikm);
        let sk = Self::from_seed(&ikm).expect("32 bytes of key material are enough for KeyGen");
        zeroize::Zeroize::zeroize(&mut ikm);
        sk
    }

    /// Parses a 32-byte big-endian scalar in `[1, r)`.
    pub fn from_bytes(bytes: &[u8]) -> Result<SecretKey, BlsError> {
        check_len(bytes, SECRET_KEY_LEN)?;
        min_pk::SecretKey::from_bytes(bytes)
            .map(SecretKey)
            .map_err(|_| BlsError::BadSecretKey)
    }

    pub(crate) fn from_fr(value: Fr) -> Result<SecretKey, BlsError> {
        Self::from_bytes(&value.to_be_bytes())
    }

    pub fn to_bytes(&self) -> [u8; SECRET_KEY_LEN] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_validated(self.0.sk_to_pk())
    }

    /// Sign (§2.6): `sk · H(m)`, with H(m) from this thread's memo of
    /// recent messages (the `message_point` module).
    pub fn sign(&self, message: &[u8]) -> Signature {
        let hash = message_point(message);
        let mut point = blst::blst_p2_affine::default();
        let scalar: &blst::blst_scalar = (&self.0).into();
        // SAFETY: pointers to live values; a null projective output is
        // allowed when only the affine one is wanted.
        unsafe {
            blst::blst_sign_pk2_in_g1(std::ptr::null_mut(), &mut point, &hash.projective, scalar)
        };
        Signature(min_pk::Signature::from(point))
    }

    /// PopProve (§3.3.2): a signature over the compressed public key under
    /// the proof-of-possession DST.
    pub fn prove_possession(&self) -> ProofOfPossession {
        let pk = self.public_key();
        ProofOfPossession(Signature(self.0.sign(&pk.bytes, POP_DST, &[])))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// A validated BLS public key.
#[derive(Clone, Copy)]
pub struct PublicKey {
    pub(crate) point: min_pk::PublicKey,
    bytes: [u8; PUBLIC_KEY_LEN],
}

impl PublicKey {
    fn from_validated(point: min_pk::PublicKey) -> PublicKey {
        PublicKey {
            point,
            bytes: point.compress(),
        }
    }

    /// A key from a computed point (a DKG's group or share key), validated
    /// like a parsed one; `None` for the identity.
    pub(crate) fn from_point(point: min_pk::PublicKey) -> Option<PublicKey> {
        point.validate().ok()?;
        Some(PublicKey::from_validated(point))
    }

    /// Parses a compressed key and validates it (KeyValidate, §2.5): a point
    /// on the curve, in the subgroup, and not the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, BlsError> {
        check_len(bytes, PUBLIC_KEY_LEN)?;
        let point = min_pk::PublicKey::uncompress(bytes).map_err(map_err)?;
        point.validate().map_err(map_err)?;
        Ok(PublicKey {
            point,
            bytes: bytes.try_into().expect("length checked above"),
        })
    }

    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.bytes
    }

    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.bytes
    }

    /// Sum of keys, for verifying a same-message aggregate. Keys must have
    /// had their proofs of possession checked (committee membership).
    pub fn aggregate(keys: &[PublicKey]) -> Result<AggregatePublicKey, BlsError> {
        if keys.is_empty() {
            return Err(BlsError::EmptyAggregate);
        }
        let points: Vec<min_pk::PublicKey> = keys.iter().map(|k| k.point).collect();
        Ok(AggregatePublicKey::sum(&points))
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for PublicKey {}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &hex::encode(self.bytes)[..16])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.bytes))
    }
}

impl Encode for PublicKey {
    fn size_hint(&self) -> usize {
        PUBLIC_KEY_LEN
    }
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&self.bytes)
    }
}

impl Decode for PublicKey {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let bytes = <[u8; PUBLIC_KEY_LEN]>::decode(input)?;
        PublicKey::from_bytes(&bytes).map_err(|_| "invalid BLS public key".into())
    }
}

/// A sum of public keys (not itself validated against the identity: an
/// aggregate is only ever used for verification).
#[derive(Clone, Copy, Debug)]
pub struct AggregatePublicKey(min_pk::AggregatePublicKey);

impl AggregatePublicKey {
    fn sum(points: &[min_pk::PublicKey]) -> AggregatePublicKey {
        use blst::MultiPoint;
        // Batched affine addition (one inversion for the whole set).
        AggregatePublicKey(points.add())
    }

    pub(crate) fn sum_of(keys: impl Iterator<Item = PublicKey>) -> Option<AggregatePublicKey> {
        let points: Vec<min_pk::PublicKey> = keys.map(|k| k.point).collect();
        (!points.is_empty()).then(|| Self::sum(&points))
    }

    pub(crate) fn subtract(&self, other: &AggregatePublicKey) -> AggregatePublicKey {
        let mut out = self.0;
        out.sub_aggregate(&other.0);
        AggregatePublicKey(out)
    }

    pub(crate) fn to_point(self) -> min_pk::PublicKey {
        self.0.to_public_key()
    }
}

/// −g1 in affine form, the fixed second pair of every single check.
fn negated_g1_generator() -> &'static blst::blst_p1_affine {
    static NEGATED: std::sync::OnceLock<blst::blst_p1_affine> = std::sync::OnceLock::new();
    NEGATED.get_or_init(|| {
        let mut point = blst::blst_p1::default();
        let mut affine = blst::blst_p1_affine::default();
        // SAFETY: pointers to live values; the generator is a static.
        unsafe {
            blst::blst_p1_from_affine(&mut point, blst::blst_p1_affine_generator());
            blst::blst_p1_cneg(&mut point, true);
            blst::blst_p1_to_affine(&mut affine, &point);
        }
        affine
    })
}

/// One signature to verify, possibly together with others in
/// [`verify_batch`]: the message, the (possibly aggregate) key and the
/// signature.
#[derive(Clone, Debug)]
pub struct SignatureCheck {
    message: Vec<u8>,
    key: min_pk::PublicKey,
    signature: Signature,
}

impl SignatureCheck {
    pub fn single(message: Vec<u8>, key: &PublicKey, signature: &Signature) -> SignatureCheck {
        SignatureCheck {
            message,
            key: key.point,
            signature: *signature,
        }
    }

    pub fn aggregate(
        message: Vec<u8>,
        key: &AggregatePublicKey,
        signature: &Signature,
    ) -> SignatureCheck {
        SignatureCheck {
            message,
            key: key.to_point(),
            signature: *signature,
        }
    }

    /// Verifies this signature alone.
    pub fn verify(&self) -> Result<(), BlsError> {
        self.signature.verify_with_point(&self.message, &self.key)
    }
}

/// Verifies several signatures with one multi-pairing: each pair is
/// weighted by a 64-bit scalar and the final exponentiation is shared, so
/// two checks cost about 1.5 single verifications instead of 2 (the
/// randomised batch check of Boneh–Drijvers–Neven, §3.1 of "Compact
/// multi-signatures for smaller blockchains"). The weights are derived
/// from a hash of the whole batch rather than drawn at random: a forger
/// fixes its signatures before it can know them, and verification stays
/// deterministic. Passing means every signature is valid except with
/// probability about 2^-64 per attempt; on failure the caller checks
/// items alone to find the bad one.
pub fn verify_batch(checks: &[SignatureCheck]) -> Result<(), BlsError> {
    match checks {
        [] => Err(BlsError::EmptyAggregate),
        [one] => one.verify(),
        _ => {
            let mut transcript = crate::hash::Hasher::new("strata/bls-batch-weights");
            for c in checks {
                transcript.update_framed(&c.message);
                transcript.update(&c.key.serialize());
                transcript.update(&c.signature.0.serialize());
            }
            let seed = transcript.finalize();
            let mut pairing = blst::Pairing::new(true, SIG_DST);
            for (i, c) in checks.iter().enumerate() {
                let mut w = crate::hash::Hasher::new("strata/bls-batch-weight");
                w.update(&seed.0);
                w.update(&(i as u64).to_le_bytes());
                let mut weight = [0u8; 8];
                weight.copy_from_slice(&w.finalize().0[..8]);
                // Odd, hence never zero: a zero weight would drop a check.
                weight[0] |= 1;
                let key: &blst::blst_p1_affine = (&c.key).into();
                let sig: &blst::blst_p2_affine = (&c.signature.0).into();
                // Keys are validated on construction; signatures are
                // subgroup-checked here.
                match pairing.mul_n_aggregate(key, false, sig, true, &weight, 64, &c.message, &[]) {
                    BLST_ERROR::BLST_SUCCESS => {}
                    BLST_ERROR::BLST_POINT_NOT_IN_GROUP => return Err(BlsError::NotInSubgroup),
                    _ => return Err(BlsError::InvalidSignature),
                }
            }
            pairing.commit();
            if pairing.finalverify(None) {
                Ok(())
            } else {
                Err(BlsError::InvalidSignature)
            }
        }
    }
}

/// A BLS signature (a point on the curve; subgroup checked at verification).
#[derive(Clone, Copy)]
pub struct Signature(pub(crate) min_pk::Signature);

impl Signature {
    /// The point at infinity: never verifies against a validated key; marks
    /// things that are not signed, such as a chain's genesis block.
    pub fn infinity() -> Signature {
        let mut bytes = [0u8; SIGNATURE_LEN];
        bytes[0] = 0xc0;
        Signature::from_bytes(&bytes).expect("the infinity encoding is canonical")
    }

    /// Parses a compressed signature: right length, valid encoding, on the
    /// curve. Subgroup membership is checked by [`Signature::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Signature, BlsError> {
        check_len(bytes, SIGNATURE_LEN)?;
        min_pk::Signature::uncompress(bytes)
            .map(Signature)
            .map_err(map_err)
    }

    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.0.compress()
    }

    /// True if the point is in the prime-order subgroup.
    pub fn in_subgroup(&self) -> bool {
        self.0.subgroup_check()
    }

    /// Verify (§2.7), including the subgroup check of the signature.
    pub fn verify(&self, message: &[u8], key: &PublicKey) -> Result<(), BlsError> {
        self.verify_with_point(message, &key.point)
    }

    /// Verifies a same-message aggregate against the aggregate key
    /// (FastAggregateVerify, §3.3.4, with the keys already summed).
    pub fn verify_aggregate(
        &self,
        message: &[u8],
        key: &AggregatePublicKey,
    ) -> Result<(), BlsError> {
        self.verify_with_point(message, &key.to_point())
    }

    /// Verifies an aggregate whose signers signed different messages, given
    /// as (message, sum of the keys that signed it) with distinct messages:
    /// one pairing per message plus one for the signature.
    pub fn verify_aggregate_multi(
        &self,
        parts: &[(&[u8], AggregatePublicKey)],
    ) -> Result<(), BlsError> {
        match parts {
            [] => Err(BlsError::EmptyAggregate),
            [(message, key)] => self.verify_aggregate(message, key),
            _ => {
                if !self.in_subgroup() {
                    return Err(BlsError::NotInSubgroup);
                }
                let messages: Vec<&[u8]> = parts.iter().map(|(m, _)| *m).collect();
                let points: Vec<min_pk::PublicKey> =
                    parts.iter().map(|(_, k)| k.to_point()).collect();
                let keys: Vec<&min_pk::PublicKey> = points.iter().collect();
                match self
                    .0
                    .aggregate_verify(false, &messages, SIG_DST, &keys, false)
                {
                    BLST_ERROR::BLST_SUCCESS => Ok(()),
                    _ => Err(BlsError::InvalidSignature),
                }
            }
        }
    }

    fn verify_with_point(&self, message: &[u8], key: &min_pk::PublicKey) -> Result<(), BlsError> {
        if !self.in_subgroup() {
            return Err(BlsError::NotInSubgroup);
        }
        let key: &blst::blst_p1_affine = key.into();
        let signature: &blst::blst_p2_affine = (&self.0).into();
        // SAFETY: pointers to live points.
        let degenerate =
            unsafe { blst::blst_p1_affine_is_inf(key) || blst::blst_p2_affine_is_inf(signature) };
        if degenerate {
            return Err(BlsError::InvalidSignature);
        }
        // e(pk, H(m)) = e(g1, σ), checked as e(pk, H(m)) · e(−g1, σ) = 1:
        // one two-pair Miller loop, whose Fp12 squarings the pairs share
        // (two separate loops square twice), and one final exponentiation.
        // H(m) comes from the memo; the signature is subgroup-checked
        // above, keys on construction.
        let hash = message_point(message);
        let g2: [*const blst::blst_p2_affine; 2] = [&hash.affine, signature];
        let g1: [*const blst::blst_p1_affine; 2] = [key, negated_g1_generator()];
        let mut product = blst::blst_fp12::default();
        let out: *mut blst::blst_fp12 = &mut product;
        // SAFETY: two pointers to live points in each array, n = 2; the
        // final exponentiation may work in place (blst does so itself).
        let holds = unsafe {
            blst::blst_miller_loop_n(out, g2.as_ptr(), g1.as_ptr(), 2);
            blst::blst_final_exp(out, out);
            blst::blst_fp12_is_one(out)
        };
        if holds {
            Ok(())
        } else {
            Err(BlsError::InvalidSignature)
        }
    }

    /// Sums signatures (Aggregate, §2.8). No subgroup check here: the sum is
    /// checked when it is verified. Uses batched affine addition (one field
    /// inversion per round instead of projective additions).
    pub fn aggregate<'a>(
        signatures: impl IntoIterator<Item = &'a Signature>,
    ) -> Result<Signature, BlsError> {
        use blst::MultiPoint;
        let points: Vec<min_pk::Signature> = signatures.into_iter().map(|s| s.0).collect();
        if points.is_empty() {
            return Err(BlsError::EmptyAggregate);
        }
        Ok(Signature(points.add().to_signature()))
    }
}

impl PartialEq for Signature {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Signature {}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", &hex::encode(self.to_bytes())[..16])
    }
}

impl Encode for Signature {
    fn size_hint(&self) -> usize {
        SIGNATURE_LEN
    }
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&self.to_bytes())
    }
}

impl Decode for Signature {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let bytes = <[u8; SIGNATURE_LEN]>::decode(input)?;
        Signature::from_bytes(&bytes).map_err(|_| "invalid BLS signature".into())
    }
}

/// Proof that the holder of a public key knows its secret key.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ProofOfPossession(pub Signature);

impl ProofOfPossession {
    /// PopVerify (§3.3.3).
    pub fn verify(&self, key: &PublicKey) -> Result<(), BlsError> {
        match (self.0)
            .0
            .verify(true, &key.bytes, POP_DST, &[], &key.point, false)
        {
            BLST_ERROR::BLST_SUCCESS => Ok(()),
            _ => Err(BlsError::InvalidProofOfPossession),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_seed(&[i; 32]).unwrap()
    }

    /// Signing and verifying go through blst's raw pairing API with H(m)
    /// from the per-thread memo; they must agree with blst's own
    /// hash-every-time `sign` and `verify`, memo hit or miss.
    #[test]
    fn memoised_hashing_agrees_with_blst() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for round in 0..3 {
            for i in 0..40u32 {
                let sk = SecretKey::random(&mut rng);
                let pk = sk.public_key();
                let message = format!("vote {}", i % 13).into_bytes();
                let ours = sk.sign(&message);
                let theirs = sk.0.sign(&message, SIG_DST, &[]);
                assert_eq!(ours.0, theirs, "round {round} message {i}");
                assert_eq!(ours.verify(&message, &pk), Ok(()));
                let other = SecretKey::random(&mut rng).public_key();
                for (m, k) in [(&b"other"[..], &pk), (&message[..], &other)] {
                    assert_eq!(ours.verify(m, k), Err(BlsError::InvalidSignature));
                    assert_ne!(
                        ours.0.verify(true, m, SIG_DST, &[], &k.point, true),
                        BLST_ERROR::BLST_SUCCESS
                    );
                }
            }
        }
        let pk = key(1).public_key();
        assert_eq!(
            Signature::infinity().verify(b"m", &pk),
            Err(BlsError::InvalidSignature)
        );
    }

    #[test]
    fn sign_and_verify() {
        let sk = key(1);
        let sig = sk.sign(b"hello");
        assert_eq!(sig.verify(b"hello", &sk.public_key()), Ok(()));
        assert_eq!(
            sig.verify(b"hellp", &sk.public_key()),
            Err(BlsError::InvalidSignature)
        );
        assert_eq!(
            sig.verify(b"hello", &key(2).public_key()),
            Err(BlsError::InvalidSignature)
        );
    }

    #[test]
    fn keys_from_seed_are_deterministic_and_random_keys_differ() {
        assert_eq!(key(7).public_key(), key(7).public_key());
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let a = SecretKey::random(&mut rng);
        let b = SecretKey::random(&mut rng);
        assert_ne!(a.public_key(), b.public_key());
    }

    #[test]
    fn short_seed_is_refused() {
        assert_eq!(
            SecretKey::from_seed(&[1u8; 31]).unwrap_err(),
            BlsError::ShortSeed
        );
    }

    #[test]
    fn secret_key_bytes_round_trip_and_reject_zero_and_overflow() {
        let sk = key(3);
        let back = SecretKey::from_bytes(&sk.to_bytes()).unwrap();
        assert_eq!(back.public_key(), sk.public_key());
        assert_eq!(
            SecretKey::from_bytes(&[0u8; 32]).unwrap_err(),
            BlsError::BadSecretKey
        );
        assert_eq!(
            SecretKey::from_bytes(&[0xffu8; 32]).unwrap_err(),
            BlsError::BadSecretKey
        );
        assert_eq!(
            SecretKey::from_bytes(&[1u8; 31]).unwrap_err(),
            BlsError::BadLength {
                expected: 32,
                got: 31
            }
        );
    }

    #[test]
    fn secret_key_debug_is_redacted() {
        assert_eq!(format!("{:?}", key(1)), "SecretKey(<redacted>)");
    }

    #[test]
    fn proof_of_possession() {
        let sk = key(4);
        let pk = sk.public_key();
        let pop = sk.prove_possession();
        assert_eq!(pop.verify(&pk), Ok(()));
        assert_eq!(
            pop.verify(&key(5).public_key()),
            Err(BlsError::InvalidProofOfPossession)
        );
        // A plain signature over the key bytes is not a proof of possession:
        // the DSTs differ.
        let forged = ProofOfPossession(sk.sign(pk.as_bytes()));
        assert_eq!(forged.verify(&pk), Err(BlsError::InvalidProofOfPossession));
    }

    #[test]
    fn public_key_rejects_bad_lengths_identity_and_non_subgroup_points() {
        assert_eq!(
            PublicKey::from_bytes(&[0u8; 47]).unwrap_err(),
            BlsError::BadLength {
                expected: 48,
                got: 47
            }
        );
        let mut identity = [0u8; 48];
        identity[0] = 0xc0;
        assert_eq!(
            PublicKey::from_bytes(&identity).unwrap_err(),
            BlsError::IdentityKey
        );
        // On the curve, outside the subgroup (bls12-381-tests
        // deserialization_fails_not_in_G1).
        let not_in_g1 = hex::decode("8123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            PublicKey::from_bytes(&not_in_g1).unwrap_err(),
            BlsError::NotInSubgroup
        );
        let not_on_curve = hex::decode("8123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde0").unwrap();
        assert_eq!(
            PublicKey::from_bytes(&not_on_curve).unwrap_err(),
            BlsError::NotOnCurve
        );
    }

    #[test]
    fn signature_outside_subgroup_decodes_but_never_verifies() {
        let not_in_g2 = hex::decode("8123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
        let sig = Signature::from_bytes(&not_in_g2).unwrap();
        assert!(!sig.in_subgroup());
        assert_eq!(
            sig.verify(b"m", &key(1).public_key()),
            Err(BlsError::NotInSubgroup)
        );
    }

    #[test]
    fn aggregate_verifies_against_summed_keys() {
        let keys: Vec<SecretKey> = (1..=5).map(key).collect();
        let sigs: Vec<Signature> = keys.iter().map(|k| k.sign(b"vote")).collect();
        let agg = Signature::aggregate(&sigs).unwrap();
        let pks: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let apk = PublicKey::aggregate(&pks).unwrap();
        assert_eq!(agg.verify_aggregate(b"vote", &apk), Ok(()));
        let apk4 = PublicKey::aggregate(&pks[..4]).unwrap();
        assert_eq!(
            agg.verify_aggregate(b"vote", &apk4),
            Err(BlsError::InvalidSignature)
        );
        assert_eq!(
            Signature::aggregate(&[]).unwrap_err(),
            BlsError::EmptyAggregate
        );
        assert_eq!(
            PublicKey::aggregate(&[]).unwrap_err(),
            BlsError::EmptyAggregate
        );
    }

    #[test]
    fn malformed_encodings_are_bad_encoding() {
        // No compression flag, and compression flag with the infinity flag
        // but a non-zero body.
        assert_eq!(
            Signature::from_bytes(&[0u8; 96]).unwrap_err(),
            BlsError::BadEncoding
        );
        let mut inf_junk = [0u8; 48];
        inf_junk[0] = 0xc0;
        inf_junk[47] = 1;
        assert_eq!(
            PublicKey::from_bytes(&inf_junk).unwrap_err(),
            BlsError::BadEncoding
        );
        assert_eq!(
            Signature::from_bytes(&[0x80u8; 95]).unwrap_err(),
            BlsError::BadLength {
                expected: 96,
                got: 95
            }
        );
    }

    #[test]
    fn scale_codec_round_trip_and_validation() {
        let sk = key(9);
        let pk = sk.public_key();
        let sig = sk.sign(b"x");
        assert_eq!(PublicKey::decode(&mut &pk.encode()[..]).unwrap(), pk);
        assert_eq!(Signature::decode(&mut &sig.encode()[..]).unwrap(), sig);
        let mut bad = pk.encode();
        bad[5] ^= 1;
        assert!(PublicKey::decode(&mut &bad[..]).is_err());
        assert!(Signature::decode(&mut &[0u8; 96][..]).is_err());
        assert!(Signature::decode(&mut &sig.encode()[..95]).is_err());
    }

    #[test]
    fn batch_verification_accepts_valid_sets_and_refuses_any_bad_item() {
        let (a, b, c) = (key(11), key(12), key(13));
        let agg_key = PublicKey::aggregate(&[b.public_key(), c.public_key()]).unwrap();
        let agg_sig = Signature::aggregate(&[b.sign(b"vote"), c.sign(b"vote")]).unwrap();
        let good = vec![
            SignatureCheck::single(b"proposal".to_vec(), &a.public_key(), &a.sign(b"proposal")),
            SignatureCheck::aggregate(b"vote".to_vec(), &agg_key, &agg_sig),
        ];
        assert_eq!(verify_batch(&good), Ok(()));
        assert_eq!(verify_batch(&good[..1]), Ok(()));
        assert_eq!(verify_batch(&[]), Err(BlsError::EmptyAggregate));

        let mut wrong_message = good.clone();
        wrong_message[1].message = b"vote!".to_vec();
        assert_eq!(
            verify_batch(&wrong_message),
            Err(BlsError::InvalidSignature)
        );
        assert_eq!(
            wrong_message[0].verify(),
            Ok(()),
            "the good item alone passes"
        );
        assert!(wrong_message[1].verify().is_err());

        // Swapped signatures sum to the same point, so an unweighted sum
        // check would pass; the weights make it fail.
        let (s1, s2) = (a.sign(b"m1"), b.sign(b"m2"));
        let swapped = [
            SignatureCheck::single(b"m1".to_vec(), &a.public_key(), &s2),
            SignatureCheck::single(b"m2".to_vec(), &b.public_key(), &s1),
        ];
        assert_eq!(verify_batch(&swapped), Err(BlsError::InvalidSignature));
        let straight = [
            SignatureCheck::single(b"m1".to_vec(), &a.public_key(), &s1),
            SignatureCheck::single(b"m2".to_vec(), &b.public_key(), &s2),
        ];
        assert_eq!(verify_batch(&straight), Ok(()));
    }
}
