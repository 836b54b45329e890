//! Transaction signatures: sr25519 (Schnorr over ristretto255, `schnorrkel`)
//! for devices and clients (docs/design.md §3), with batch verification.
//!
//! A mempool checks transactions in batches: one multi-scalar multiplication
//! for the whole batch, and only when that fails, bisection to name the bad
//! signatures so that the good transactions of the batch are still accepted.

use std::collections::HashMap;

use curve25519_dalek::ristretto::CompressedRistretto as TranscriptPoint;
use curve25519_dalek::scalar::Scalar as TranscriptScalar;
// The batch equation's arithmetic (see `batch_equation_holds`).
use curve25519_dalek_5::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek_5::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek_5::scalar::Scalar;
use curve25519_dalek_5::traits::{IsIdentity, VartimeMultiscalarMul};
use parity_scale_codec::{Decode, Encode, Input, Output};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, OsRng, RngCore};
use schnorrkel::context::SigningTranscript;
use schnorrkel::{signing_context, ExpansionMode, MiniSecretKey};

use crate::hash::DigestMap;

/// Signing context of Strata transactions: a signature made for anything
/// else (another chain, another protocol using sr25519) does not verify here.
pub const SIGNING_CONTEXT: &[u8] = b"strata/tx/v1";

pub const TX_PUBLIC_KEY_LEN: usize = 32;
pub const TX_SIGNATURE_LEN: usize = 64;

/// Why a transaction signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxSigError {
    #[error("sr25519 public key is not a valid ristretto255 point")]
    InvalidPublicKey,
    #[error("sr25519 signature is malformed")]
    MalformedSignature,
    #[error("sr25519 signature does not verify")]
    InvalidSignature,
    #[error("{} of the batch's signatures do not verify (first at {})", .failed.len(), .failed[0])]
    BatchFailed { failed: Vec<usize> },
}

/// A device or client key pair.
pub struct TxKeypair(schnorrkel::Keypair);

impl TxKeypair {
    /// Derives the key pair from a 32-byte seed (Ed25519-style expansion).
    pub fn from_seed(seed: &[u8; 32]) -> TxKeypair {
        let mini = MiniSecretKey::from_bytes(seed).expect("a mini secret key is any 32 bytes");
        TxKeypair(mini.expand_to_keypair(ExpansionMode::Ed25519))
    }

    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> TxKeypair {
        TxKeypair(MiniSecretKey::generate_with(rng).expand_to_keypair(ExpansionMode::Ed25519))
    }

    pub fn public(&self) -> TxPublicKey {
        TxPublicKey(self.0.public.to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> TxSignature {
        TxSignature(self.0.sign(signing_context(SIGNING_CONTEXT).bytes(message)))
    }

    /// Signs without system randomness: the nonce comes from the secret key
    /// and the message alone (as in Ed25519), so the same message gives the
    /// same signature. For reproducible data (the simulator, test vectors);
    /// [`TxKeypair::sign`] adds randomness as a hedge against fault attacks.
    pub fn sign_deterministic(&self, message: &[u8]) -> TxSignature {
        let t = schnorrkel::context::attach_rng(
            signing_context(SIGNING_CONTEXT).bytes(message),
            ZeroRng,
        );
        TxSignature(self.0.sign(t))
    }
}

/// An "RNG" of zeros: with it the signing transcript's witness depends only
/// on the secret nonce and the message.
struct ZeroRng;

impl RngCore for ZeroRng {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        dest.fill(0);
        Ok(())
    }
}

// Safe here: the transcript already holds the secret nonce, so the witness
// is a PRF output of (secret, message) even with these bytes.
impl CryptoRng for ZeroRng {}

impl TxKeypair {}

impl std::fmt::Debug for TxKeypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxKeypair({:?})", self.public())
    }
}

/// A transaction sender's public key, kept compressed. Decoding does not
/// decompress the point (a square root, the most expensive step of
/// verification after the multi-scalar multiplication): transactions are
/// decoded several times on their way through a node but verified once, so
/// the point is decompressed only when a signature is checked, and an
/// invalid key then fails verification.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxPublicKey([u8; TX_PUBLIC_KEY_LEN]);

impl TxPublicKey {
    /// Parses and validates a key (a canonical ristretto255 encoding).
    pub fn from_bytes(bytes: &[u8]) -> Result<TxPublicKey, TxSigError> {
        let key = TxPublicKey(bytes.try_into().map_err(|_| TxSigError::InvalidPublicKey)?);
        key.point()?;
        Ok(key)
    }

    pub fn to_bytes(&self) -> [u8; TX_PUBLIC_KEY_LEN] {
        self.0
    }

    fn point(&self) -> Result<schnorrkel::PublicKey, TxSigError> {
        schnorrkel::PublicKey::from_bytes(&self.0).map_err(|_| TxSigError::InvalidPublicKey)
    }

    pub fn verify(&self, message: &[u8], signature: &TxSignature) -> Result<(), TxSigError> {
        self.point()?
            .verify(
                signing_context(SIGNING_CONTEXT).bytes(message),
                &signature.0,
            )
            .map_err(|_| TxSigError::InvalidSignature)
    }
}

impl std::fmt::Debug for TxPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxPublicKey({})", &hex::encode(self.to_bytes())[..16])
    }
}

impl Encode for TxPublicKey {
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&self.to_bytes())
    }
}

impl Decode for TxPublicKey {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        // Validated when a signature is checked (see the type's comment).
        Ok(TxPublicKey(<[u8; TX_PUBLIC_KEY_LEN]>::decode(input)?))
    }
}

/// An sr25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TxSignature(schnorrkel::Signature);

impl TxSignature {
    pub fn from_bytes(bytes: &[u8]) -> Result<TxSignature, TxSigError> {
        schnorrkel::Signature::from_bytes(bytes)
            .map(TxSignature)
            .map_err(|_| TxSigError::MalformedSignature)
    }

    pub fn to_bytes(&self) -> [u8; TX_SIGNATURE_LEN] {
        self.0.to_bytes()
    }
}

impl std::fmt::Debug for TxSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxSignature({})", &hex::encode(self.to_bytes())[..16])
    }
}

impl Encode for TxSignature {
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&self.to_bytes())
    }
}

impl Decode for TxSignature {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let bytes = <[u8; TX_SIGNATURE_LEN]>::decode(input)?;
        TxSignature::from_bytes(&bytes).map_err(|_| "malformed sr25519 signature".into())
    }
}

/// One signature to check in a batch.
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    pub message: &'a [u8],
    pub key: &'a TxPublicKey,
    pub signature: &'a TxSignature,
}

/// Decompressed sender keys, so that a sender's key costs one square root
/// per cache lifetime rather than one per signature (a decompression is
/// about a fifth of a batched verification). Bounded: when full it starts
/// over, which costs only recomputation.
pub struct KeyCache {
    points: HashMap<[u8; TX_PUBLIC_KEY_LEN], RistrettoPoint>,
    capacity: usize,
}

impl KeyCache {
    pub fn new(capacity: usize) -> KeyCache {
        KeyCache {
            points: HashMap::new(),
            capacity,
        }
    }

    /// The key's point, or `None` if the bytes are not a valid key (the
    /// same rule as schnorrkel's: a canonical ristretto255 encoding).
    fn point(&mut self, key: &TxPublicKey) -> Option<RistrettoPoint> {
        if let Some(p) = self.points.get(&key.0) {
            return Some(*p);
        }
        let p = CompressedRistretto(key.0).decompress()?;
        if self.points.len() >= self.capacity {
            self.points.clear();
        }
        if self.capacity > 0 {
            self.points.insert(key.0, p);
        }
        Some(p)
    }
}

/// Verifies all items at once; on failure, reports every failing position.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Result<(), TxSigError> {
    verify_batch_cached(items, &mut KeyCache::new(0))
}

/// `verify_batch`, taking decompressed keys from (and adding them to)
/// `cache`.
pub fn verify_batch_cached(
    items: &[BatchItem<'_>],
    cache: &mut KeyCache,
) -> Result<(), TxSigError> {
    // Keys are resolved once; a bad key fails its item, and the bisection
    // below reuses the points.
    let keys: Vec<Option<RistrettoPoint>> = items.iter().map(|i| cache.point(i.key)).collect();
    if batch_holds(items, &keys) {
        return Ok(());
    }
    let mut failed = Vec::new();
    find_failures(items, &keys, 0, &mut failed);
    Err(TxSigError::BatchFailed { failed })
}

fn batch_holds(items: &[BatchItem<'_>], keys: &[Option<RistrettoPoint>]) -> bool {
    let Some(keys) = keys.iter().copied().collect::<Option<Vec<_>>>() else {
        return false;
    };
    // One item too: `z·(s·B − R − k·A) = 0` with `z ≠ 0` is schnorrkel's own
    // check `R = s·B − k·A` (ristretto255 encodings are canonical, so equal
    // points have equal encodings).
    items.is_empty() || batch_equation_holds(items, &keys)
}

/// The batch equation of Schnorr signatures over ristretto255 (schnorrkel's
/// verification `R = s·B − k·A`, each scaled by a random 128-bit `z_i`):
///
/// `(Σ z_i·s_i)·B − Σ z_i·R_i − Σ_A (Σ_{i signed by A} z_i·k_i)·A = 0`
///
/// Written here rather than through `schnorrkel::verify_batch` for two
/// savings that do not change what is accepted: each distinct sender key
/// is one term of the multi-scalar multiplication (schnorrkel merges only
/// adjacent equal keys, so a batch of records from a few devices had a
/// 253-bit term per signature, about half the multiplication), and the
/// `z_i` come from a ChaCha stream seeded by the operating system instead
/// of a Keccak transcript over the whole batch (Keccak was a sixth of the
/// verifier's time). The challenge `k_i` is schnorrkel's own transcript, so
/// the signatures are the same sr25519 signatures. The arithmetic is
/// curve25519-dalek 5's, which multiplies with AVX-512 IFMA where the CPU
/// has it; the transcript takes schnorrkel's (version 4) types, built from
/// the same bytes.
fn batch_equation_holds(items: &[BatchItem<'_>], keys: &[RistrettoPoint]) -> bool {
    let mut rng = match ChaCha20Rng::from_rng(OsRng) {
        Ok(rng) => rng,
        Err(_) => return false,
    };
    let ctx = signing_context(SIGNING_CONTEXT);
    let mut basepoint_scalar = Scalar::ZERO;
    let mut scalars = Vec::with_capacity(items.len() + 1);
    let mut points = Vec::with_capacity(items.len() + 1);
    let mut key_terms: DigestMap<[u8; TX_PUBLIC_KEY_LEN], usize> = DigestMap::default();
    let mut key_scalars: Vec<Scalar> = Vec::new();
    let mut key_points: Vec<RistrettoPoint> = Vec::new();
    for (item, key) in items.iter().zip(keys) {
        let bytes = item.signature.0.to_bytes();
        let (mut r_bytes, mut s_bytes) = ([0u8; 32], [0u8; 32]);
        r_bytes.copy_from_slice(&bytes[..32]);
        s_bytes.copy_from_slice(&bytes[32..]);
        // schnorrkel marks its signatures with the top bit of `s`.
        s_bytes[31] &= 0x7f;
        let Some(r) = CompressedRistretto(r_bytes).decompress() else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let mut t = ctx.bytes(item.message);
        t.proto_name(b"Schnorr-sig");
        t.commit_point(b"sign:pk", &TranscriptPoint(item.key.0));
        t.commit_point(b"sign:R", &TranscriptPoint(r_bytes));
        let k: TranscriptScalar = t.challenge_scalar(b"sign:c");
        // Reduced already: the bytes are canonical.
        let k = Scalar::from_bytes_mod_order(k.to_bytes());
        let z = Scalar::from(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()));
        basepoint_scalar += z * s;
        scalars.push(-z);
        points.push(r);
        let slot = *key_terms.entry(item.key.0).or_insert_with(|| {
            key_scalars.push(Scalar::ZERO);
            key_points.push(*key);
            key_points.len() - 1
        });
        key_scalars[slot] -= z * k;
    }
    scalars.push(basepoint_scalar);
    points.push(RISTRETTO_BASEPOINT_POINT);
    scalars.extend(key_scalars);
    points.extend(key_points);
    RistrettoPoint::vartime_multiscalar_mul(&scalars, &points).is_identity()
}

/// Bisection over a batch known to fail.
fn find_failures(
    items: &[BatchItem<'_>],
    keys: &[Option<RistrettoPoint>],
    offset: usize,
    failed: &mut Vec<usize>,
) {
    if items.len() == 1 {
        failed.push(offset);
        return;
    }
    let mid = items.len() / 2;
    let (left, right) = items.split_at(mid);
    let (left_keys, right_keys) = keys.split_at(mid);
    let left_ok = batch_holds(left, left_keys);
    if !left_ok {
        find_failures(left, left_keys, offset, failed);
    }
    // If the left half holds, the right half must be the one failing.
    if left_ok || !batch_holds(right, right_keys) {
        find_failures(right, right_keys, offset + mid, failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn signed(n: usize) -> (Vec<TxPublicKey>, Vec<Vec<u8>>, Vec<TxSignature>) {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let mut keys = Vec::new();
        let mut msgs = Vec::new();
        let mut sigs = Vec::new();
        for i in 0..n {
            let kp = TxKeypair::random(&mut rng);
            let m = format!("tx-{i}").into_bytes();
            sigs.push(kp.sign(&m));
            keys.push(kp.public());
            msgs.push(m);
        }
        (keys, msgs, sigs)
    }

    fn items<'a>(
        keys: &'a [TxPublicKey],
        msgs: &'a [Vec<u8>],
        sigs: &'a [TxSignature],
    ) -> Vec<BatchItem<'a>> {
        (0..keys.len())
            .map(|i| BatchItem {
                message: &msgs[i],
                key: &keys[i],
                signature: &sigs[i],
            })
            .collect()
    }

    #[test]
    fn sign_verify_and_context_separation() {
        let kp = TxKeypair::from_seed(&[7; 32]);
        let sig = kp.sign(b"record");
        assert_eq!(kp.public().verify(b"record", &sig), Ok(()));
        assert_eq!(
            kp.public().verify(b"recorc", &sig),
            Err(TxSigError::InvalidSignature)
        );
        let other_ctx = TxSignature(kp.0.sign(signing_context(b"other").bytes(b"record")));
        assert_eq!(
            kp.public().verify(b"record", &other_ctx),
            Err(TxSigError::InvalidSignature)
        );
        assert_eq!(TxKeypair::from_seed(&[7; 32]).public(), kp.public());
    }

    #[test]
    fn deterministic_signatures_repeat_and_verify() {
        let kp = TxKeypair::from_seed(&[8; 32]);
        let a = kp.sign_deterministic(b"m");
        assert_eq!(a, kp.sign_deterministic(b"m"));
        assert_ne!(a, kp.sign_deterministic(b"n"));
        assert_eq!(kp.public().verify(b"m", &a), Ok(()));
        assert_ne!(kp.sign(b"m"), kp.sign(b"m"), "the default signer is hedged");
    }

    #[test]
    fn decoding_rejects_bad_bytes() {
        assert_eq!(
            TxPublicKey::from_bytes(&[0xff; 32]),
            Err(TxSigError::InvalidPublicKey)
        );
        assert_eq!(
            TxPublicKey::from_bytes(&[0; 31]),
            Err(TxSigError::InvalidPublicKey)
        );
        // The sr25519 marker bit (top bit of the last byte) must be set.
        assert_eq!(
            TxSignature::from_bytes(&[0; 64]),
            Err(TxSigError::MalformedSignature)
        );
        let kp = TxKeypair::from_seed(&[1; 32]);
        let sig = kp.sign(b"x");
        assert_eq!(TxSignature::decode(&mut &sig.encode()[..]).unwrap(), sig);
        assert_eq!(
            TxPublicKey::decode(&mut &kp.public().encode()[..]).unwrap(),
            kp.public()
        );
    }

    #[test]
    fn batch_accepts_good_batches() {
        let (k, m, s) = signed(40);
        assert_eq!(verify_batch(&items(&k, &m, &s)), Ok(()));
        assert_eq!(verify_batch(&[]), Ok(()));
    }

    #[test]
    fn batch_names_every_bad_signature() {
        let (k, mut m, s) = signed(37);
        for &bad in &[0usize, 13, 14, 36] {
            m[bad].push(b'!');
        }
        assert_eq!(
            verify_batch(&items(&k, &m, &s)),
            Err(TxSigError::BatchFailed {
                failed: vec![0, 13, 14, 36]
            })
        );
        let (k, mut m, s) = signed(1);
        m[0].clear();
        assert_eq!(
            verify_batch(&items(&k, &m, &s)),
            Err(TxSigError::BatchFailed { failed: vec![0] })
        );
    }

    #[test]
    fn a_signature_under_the_wrong_key_fails_the_batch() {
        let (mut k, m, s) = signed(8);
        k.swap(2, 5);
        assert_eq!(
            verify_batch(&items(&k, &m, &s)),
            Err(TxSigError::BatchFailed { failed: vec![2, 5] })
        );
    }

    /// Records from a few senders, interleaved (as a mempool sees them).
    fn signed_by_few(
        n: usize,
        senders: usize,
    ) -> (Vec<TxPublicKey>, Vec<Vec<u8>>, Vec<TxSignature>) {
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        let pairs: Vec<TxKeypair> = (0..senders).map(|_| TxKeypair::random(&mut rng)).collect();
        let (mut keys, mut msgs, mut sigs) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let kp = &pairs[i % senders];
            let m = format!("record-{i}").into_bytes();
            sigs.push(kp.sign(&m));
            keys.push(kp.public());
            msgs.push(m);
        }
        (keys, msgs, sigs)
    }

    fn schnorrkel_accepts(items: &[BatchItem<'_>]) -> bool {
        let ctx = signing_context(SIGNING_CONTEXT);
        let keys: Vec<schnorrkel::PublicKey> =
            items.iter().map(|i| i.key.point().unwrap()).collect();
        let sigs: Vec<schnorrkel::Signature> = items.iter().map(|i| i.signature.0).collect();
        schnorrkel::verify_batch(
            items.iter().map(|i| ctx.bytes(i.message)),
            &sigs,
            &keys,
            false,
        )
        .is_ok()
    }

    #[test]
    fn one_term_per_sender_still_checks_every_signature() {
        let (k, m, s) = signed_by_few(50, 3);
        assert_eq!(verify_batch(&items(&k, &m, &s)), Ok(()));
        assert!(schnorrkel_accepts(&items(&k, &m, &s)));
        // Two records of one sender with their signatures swapped: each
        // signature is that sender's, but over the other record. Merging
        // the sender's terms must not let the two errors cancel.
        let mut swapped = s.clone();
        swapped.swap(3, 6);
        assert_eq!(k[3], k[6]);
        assert_eq!(
            verify_batch(&items(&k, &m, &swapped)),
            Err(TxSigError::BatchFailed { failed: vec![3, 6] })
        );
        assert!(!schnorrkel_accepts(&items(&k, &m, &swapped)));
        let mut altered = m.clone();
        altered[49].push(b'!');
        assert_eq!(
            verify_batch(&items(&k, &altered, &s)),
            Err(TxSigError::BatchFailed { failed: vec![49] })
        );
    }

    #[test]
    fn verdicts_agree_with_schnorrkel_batch_verification() {
        let mut rng = ChaCha20Rng::seed_from_u64(13);
        for round in 0..20 {
            let n = 2 + (rng.next_u32() % 30) as usize;
            let senders = 1 + (rng.next_u32() % 5) as usize;
            let (k, mut m, mut s) = signed_by_few(n, senders);
            match round % 4 {
                0 => {}
                1 => m[rng.next_u32() as usize % n].push(b'?'),
                2 => s.swap(0, n - 1),
                _ => {
                    // A signature whose R is valid but whose s is not the
                    // signer's: flip a low bit of s, keeping it canonical.
                    let i = rng.next_u32() as usize % n;
                    let mut bytes = s[i].to_bytes();
                    bytes[32] ^= 1;
                    s[i] = TxSignature::from_bytes(&bytes).unwrap();
                }
            }
            let batch = items(&k, &m, &s);
            let verdict = verify_batch(&batch);
            assert_eq!(verdict.is_ok(), schnorrkel_accepts(&batch), "round {round}");
            for (i, item) in batch.iter().enumerate() {
                let alone = item.key.verify(item.message, item.signature).is_ok();
                let named = matches!(&verdict, Err(TxSigError::BatchFailed { failed }) if failed.contains(&i));
                assert_eq!(alone, !named, "round {round} item {i}");
            }
        }
    }

    #[test]
    fn a_batch_of_one_is_schnorrkels_single_check() {
        let (k, m, s) = signed(3);
        for (i, (message, signature)) in m.iter().zip(&s).enumerate() {
            for (j, key) in k.iter().enumerate() {
                let one = [BatchItem {
                    message,
                    key,
                    signature,
                }];
                assert_eq!(verify_batch(&one).is_ok(), i == j, "record {i}, key {j}");
                assert_eq!(key.verify(message, signature).is_ok(), i == j);
            }
        }
    }

    #[test]
    fn cached_keys_give_the_same_verdicts_and_stay_bounded() {
        let (mut k, mut m, s) = signed(12);
        m[4].push(b'!');
        // Not a canonical ristretto255 encoding: fails its own item only.
        k[9] = TxPublicKey([0xff; 32]);
        let mut cache = KeyCache::new(5);
        for _ in 0..3 {
            assert_eq!(
                verify_batch_cached(&items(&k, &m, &s), &mut cache),
                Err(TxSigError::BatchFailed { failed: vec![4, 9] })
            );
            assert!(cache.points.len() <= 5);
        }
        m[4].pop();
        let (k, _, _) = signed(12);
        assert_eq!(verify_batch_cached(&items(&k, &m, &s), &mut cache), Ok(()));
    }
}
