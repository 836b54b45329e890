//! Publicly verifiable secret sharing: SCRAPE (Cascudo–David 2017, DDH
//! variant) over ristretto255, for RandShare epoch randomness (docs/design.md §4).
//!
//! A dealer shares a secret s = p(0) among n participants with threshold t
//! (p of degree t−1) by publishing, for each participant i (evaluation point
//! i+1), a commitment v_i = p(i+1)·G and an encryption ŝ_i = p(i+1)·pk_i,
//! where pk_i = sk_i·H. Anyone can check a dealing in O(n):
//!
//! * DLEQ proofs that log_G v_i = log_{pk_i} ŝ_i. They share one Fiat–Shamir
//!   challenge and are checked together in a single multi-scalar
//!   multiplication with transcript-derived random weights;
//! * the Reed–Solomon dual-code test: Σ c⊥_i·v_i = 0 for a transcript-derived
//!   codeword c⊥ of the dual code, which holds iff the p(i+1) lie on a
//!   polynomial of degree < t (except with probability 1/|F|).
//!
//! A participant decrypts S_i = sk_i⁻¹·ŝ_i = p(i+1)·H with a DLEQ proof, and
//! any t valid decrypted shares recover s·H by Lagrange interpolation in the
//! exponent. Every transcript binds a [`DealingContext`] (epoch, chain,
//! dealer), so a dealing or share cannot be replayed in another epoch, on
//! another chain, or as another dealer's.

use std::sync::OnceLock;

use curve25519_dalek::constants::{RISTRETTO_BASEPOINT_POINT, RISTRETTO_BASEPOINT_TABLE};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use parity_scale_codec::{Decode, Encode, Input};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest as _, Sha512};

use crate::codec::decode_vec;
use crate::scalar::{batch_invert, eval_poly, lagrange_at_zero};

/// Largest number of participants in one dealing (bounds decoding).
pub const MAX_PARTICIPANTS: usize = 1024;

const DOMAIN: &[u8] = b"strata/pvss/v1";

/// Why a PVSS operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PvssError {
    #[error("threshold {threshold} of {participants} is not 1 ≤ t ≤ n ≤ {max}", max = MAX_PARTICIPANTS)]
    BadParameters {
        threshold: usize,
        participants: usize,
    },
    #[error("dealing field {field} has {got} entries, expected {expected}")]
    WrongLength {
        field: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{field}[{index}] is not a valid ristretto255 point")]
    InvalidPoint { field: &'static str, index: usize },
    #[error("{field}[{index}] is not a canonical scalar")]
    InvalidScalar { field: &'static str, index: usize },
    #[error("PVSS public key is not a valid non-identity point")]
    InvalidPublicKey,
    #[error("the dealing's DLEQ proofs do not verify")]
    InvalidDealingProof,
    #[error("the committed shares do not lie on a polynomial of degree below the threshold")]
    NotLowDegree,
    #[error("participant index {index} is outside 0..{participants}")]
    IndexOutOfRange { index: u32, participants: usize },
    #[error("decrypted share {index} has an invalid proof")]
    InvalidShareProof { index: u32 },
    #[error("{got} distinct shares given, {needed} needed")]
    NotEnoughShares { got: usize, needed: usize },
    #[error("share index {0} appears twice")]
    DuplicateIndex(u32),
}

/// What a dealing is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DealingContext {
    pub epoch: u64,
    pub chain: u32,
    pub dealer: u32,
}

/// The second generator H, whose discrete log relative to G nobody knows.
fn h() -> &'static RistrettoPoint {
    static H: OnceLock<RistrettoPoint> = OnceLock::new();
    H.get_or_init(|| RistrettoPoint::hash_from_bytes::<Sha512>(b"strata/pvss/v1/generator-H"))
}

#[derive(Clone)]
pub struct PvssSecretKey(Scalar);

impl PvssSecretKey {
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> PvssSecretKey {
        loop {
            let s = Scalar::random(rng);
            if s != Scalar::ZERO {
                return PvssSecretKey(s);
            }
        }
    }

    /// The key's canonical scalar encoding (what a key file holds).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// A key from its encoding: a canonical, non-zero scalar.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<PvssSecretKey, PvssError> {
        let s: Option<Scalar> = Scalar::from_canonical_bytes(bytes).into();
        match s {
            Some(s) if s != Scalar::ZERO => Ok(PvssSecretKey(s)),
            _ => Err(PvssError::InvalidScalar {
                field: "secret key",
                index: 0,
            }),
        }
    }

    /// The scalar, for the DKG's share encryption (`dkg.rs`).
    pub(crate) fn scalar(&self) -> Scalar {
        self.0
    }

    pub fn public_key(&self) -> PvssPublicKey {
        let point = self.0 * h();
        PvssPublicKey {
            point,
            bytes: point.compress().to_bytes(),
        }
    }
}

impl std::fmt::Debug for PvssSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PvssSecretKey(<redacted>)")
    }
}

/// A participant's encryption key pk = sk·H.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PvssPublicKey {
    point: RistrettoPoint,
    bytes: [u8; 32],
}

impl PvssPublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Result<PvssPublicKey, PvssError> {
        let point = CompressedRistretto(bytes)
            .decompress()
            .filter(|p| !p.is_identity())
            .ok_or(PvssError::InvalidPublicKey)?;
        Ok(PvssPublicKey { point, bytes })
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    /// The point, for the DKG's share encryption (`dkg.rs`).
    pub(crate) fn point(&self) -> RistrettoPoint {
        self.point
    }
}

/// The generator encryption keys are on (pk = sk·H).
pub(crate) fn encryption_generator() -> RistrettoPoint {
    *h()
}

impl std::fmt::Debug for PvssPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PvssPublicKey({})", &hex::encode(self.bytes)[..16])
    }
}

impl Encode for PvssPublicKey {
    fn encode_to<T: parity_scale_codec::Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&self.bytes)
    }
}

impl Decode for PvssPublicKey {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        PvssPublicKey::from_bytes(<[u8; 32]>::decode(input)?)
            .map_err(|_| "invalid PVSS public key".into())
    }
}

/// A dealing: commitments, encrypted shares and the batched DLEQ proof
/// (per share the prover's commitments a_i = w_i·G, b_i = w_i·pk_i and the
/// response r_i = w_i − c·p(i+1), with one challenge c for all).
#[derive(Clone, Debug, PartialEq, Eq, Encode)]
pub struct Dealing {
    pub commitments: Vec<[u8; 32]>,
    pub encrypted_shares: Vec<[u8; 32]>,
    pub proof_g: Vec<[u8; 32]>,
    pub proof_pk: Vec<[u8; 32]>,
    pub responses: Vec<[u8; 32]>,
}

impl Decode for Dealing {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        Ok(Dealing {
            commitments: decode_vec(input, MAX_PARTICIPANTS)?,
            encrypted_shares: decode_vec(input, MAX_PARTICIPANTS)?,
            proof_g: decode_vec(input, MAX_PARTICIPANTS)?,
            proof_pk: decode_vec(input, MAX_PARTICIPANTS)?,
            responses: decode_vec(input, MAX_PARTICIPANTS)?,
        })
    }
}

/// The shared secret s·H, as recovered from t decrypted shares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PvssSecret(RistrettoPoint);

impl PvssSecret {
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.compress().to_bytes()
    }

    /// The sum of recovered secrets (RandShare's Σ s_j·H over the qualified
    /// dealers): uniform if any one of them is.
    pub fn sum(secrets: &[PvssSecret]) -> PvssSecret {
        PvssSecret(secrets.iter().map(|s| s.0).sum())
    }
}

impl std::fmt::Debug for PvssSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PvssSecret({})", &hex::encode(self.to_bytes())[..16])
    }
}

/// A decrypted share S_i = p(i+1)·H with a DLEQ proof (c, r) that
/// log_H pk_i = log_{S_i} ŝ_i.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DecryptedShare {
    pub index: u32,
    pub share: [u8; 32],
    pub challenge: [u8; 32],
    pub response: [u8; 32],
}

fn check_parameters(threshold: usize, participants: usize) -> Result<(), PvssError> {
    if threshold == 0 || threshold > participants || participants > MAX_PARTICIPANTS {
        return Err(PvssError::BadParameters {
            threshold,
            participants,
        });
    }
    Ok(())
}

/// Transcript hash framing: domain, label, context, then the parts.
struct Transcript(Sha512);

impl Transcript {
    fn new(label: &[u8], ctx: &DealingContext) -> Transcript {
        let mut h = Sha512::new();
        h.update([DOMAIN.len() as u8]);
        h.update(DOMAIN);
        h.update([label.len() as u8]);
        h.update(label);
        h.update(ctx.encode());
        Transcript(h)
    }

    fn append(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(bytes);
        self
    }

    fn append_all(&mut self, items: &[[u8; 32]]) -> &mut Self {
        self.0.update((items.len() as u64).to_le_bytes());
        for i in items {
            self.0.update(i);
        }
        self
    }

    fn challenge(self) -> Scalar {
        Scalar::from_hash(self.0)
    }
}

/// Derives the `k`-th verifier scalar of a `purpose` from a challenge.
fn derived_scalar(seed: &Scalar, purpose: u8, k: usize) -> Scalar {
    let mut h = Sha512::new();
    h.update(DOMAIN);
    h.update(b"/derive");
    h.update(seed.as_bytes());
    h.update([purpose]);
    h.update((k as u64).to_le_bytes());
    Scalar::from_hash(h)
}

fn dealing_challenge(
    ctx: &DealingContext,
    threshold: usize,
    keys: &[PvssPublicKey],
    d: &Dealing,
) -> Scalar {
    let mut t = Transcript::new(b"dealing", ctx);
    t.append(&(threshold as u64).to_le_bytes());
    let key_bytes: Vec<[u8; 32]> = keys.iter().map(|k| k.bytes).collect();
    t.append_all(&key_bytes)
        .append_all(&d.commitments)
        .append_all(&d.encrypted_shares)
        .append_all(&d.proof_g)
        .append_all(&d.proof_pk);
    t.challenge()
}

/// Deals a fresh random secret to `keys` with `threshold`; returns the
/// dealing and the secret s·H it shares (for the dealer's own records).
pub fn deal<R: RngCore + CryptoRng>(
    rng: &mut R,
    ctx: &DealingContext,
    threshold: usize,
    keys: &[PvssPublicKey],
) -> Result<(Dealing, PvssSecret), PvssError> {
    let n = keys.len();
    check_parameters(threshold, n)?;
    let poly: Vec<Scalar> = (0..threshold).map(|_| Scalar::random(rng)).collect();
    let evals: Vec<Scalar> = (1..=n as u64)
        .map(|x| eval_poly(&poly, Scalar::from(x)))
        .collect();
    let nonces: Vec<Scalar> = (0..n).map(|_| Scalar::random(rng)).collect();

    let compress = |p: RistrettoPoint| p.compress().to_bytes();
    let mut dealing = Dealing {
        commitments: evals
            .iter()
            .map(|e| compress(e * RISTRETTO_BASEPOINT_TABLE))
            .collect(),
        encrypted_shares: evals
            .iter()
            .zip(keys)
            .map(|(e, k)| compress(e * k.point))
            .collect(),
        proof_g: nonces
            .iter()
            .map(|w| compress(w * RISTRETTO_BASEPOINT_TABLE))
            .collect(),
        proof_pk: nonces
            .iter()
            .zip(keys)
            .map(|(w, k)| compress(w * k.point))
            .collect(),
        responses: Vec::new(),
    };
    let c = dealing_challenge(ctx, threshold, keys, &dealing);
    dealing.responses = nonces
        .iter()
        .zip(&evals)
        .map(|(w, e)| (w - c * e).to_bytes())
        .collect();
    Ok((dealing, PvssSecret(poly[0] * h())))
}

fn decompress_all(
    field: &'static str,
    items: &[[u8; 32]],
) -> Result<Vec<RistrettoPoint>, PvssError> {
    items
        .iter()
        .enumerate()
        .map(|(index, b)| {
            CompressedRistretto(*b)
                .decompress()
                .ok_or(PvssError::InvalidPoint { field, index })
        })
        .collect()
}

fn scalar_from(field: &'static str, index: usize, bytes: &[u8; 32]) -> Result<Scalar, PvssError> {
    Option::from(Scalar::from_canonical_bytes(*bytes))
        .ok_or(PvssError::InvalidScalar { field, index })
}

/// Verifies a dealing for `keys` (in participant order) and `threshold`.
pub fn verify_dealing(
    ctx: &DealingContext,
    threshold: usize,
    keys: &[PvssPublicKey],
    d: &Dealing,
) -> Result<(), PvssError> {
    let n = keys.len();
    check_parameters(threshold, n)?;
    for (field, got) in [
        ("commitments", d.commitments.len()),
        ("encrypted_shares", d.encrypted_shares.len()),
        ("proof_g", d.proof_g.len()),
        ("proof_pk", d.proof_pk.len()),
        ("responses", d.responses.len()),
    ] {
        if got != n {
            return Err(PvssError::WrongLength {
                field,
                expected: n,
                got,
            });
        }
    }
    let v = decompress_all("commitments", &d.commitments)?;
    let enc = decompress_all("encrypted_shares", &d.encrypted_shares)?;
    let a = decompress_all("proof_g", &d.proof_g)?;
    let b = decompress_all("proof_pk", &d.proof_pk)?;
    let r = d
        .responses
        .iter()
        .enumerate()
        .map(|(i, s)| scalar_from("responses", i, s))
        .collect::<Result<Vec<Scalar>, _>>()?;
    let c = dealing_challenge(ctx, threshold, keys, d);

    // Σ ρ_i(r_i·G + c·v_i − a_i) + ρ'_i(r_i·pk_i + c·ŝ_i − b_i) = 0, which
    // holds for random ρ, ρ' only if every one of the 2n equations holds.
    let mut scalars = Vec::with_capacity(5 * n + 1);
    let mut points = Vec::with_capacity(5 * n + 1);
    let mut g_coefficient = Scalar::ZERO;
    for i in 0..n {
        let rho = derived_scalar(&c, 0, i);
        let rho2 = derived_scalar(&c, 1, i);
        g_coefficient += rho * r[i];
        scalars.extend([rho * c, -rho, rho2 * r[i], rho2 * c, -rho2]);
        points.extend([v[i], a[i], keys[i].point, enc[i], b[i]]);
    }
    scalars.push(g_coefficient);
    points.push(RISTRETTO_BASEPOINT_POINT);
    if !RistrettoPoint::vartime_multiscalar_mul(&scalars, &points).is_identity() {
        return Err(PvssError::InvalidDealingProof);
    }

    if threshold < n && !on_low_degree_code(&c, threshold, &v) {
        return Err(PvssError::NotLowDegree);
    }
    Ok(())
}

/// The SCRAPE dual-code test. With u_i = Π_{j≠i} 1/(x_i − x_j) over the
/// points x = 1..=n and f a random polynomial of degree ≤ n−t−1, the vector
/// c⊥_i = u_i·f(x_i) is orthogonal to every evaluation vector of a
/// polynomial of degree ≤ t−1 (Σ u_i·g(x_i) = 0 for deg g ≤ n−2).
fn on_low_degree_code(c: &Scalar, threshold: usize, v: &[RistrettoPoint]) -> bool {
    let n = v.len();
    // Π_{j≠i}(i − j) over 1..=n is (−1)^(n−i)·(i−1)!·(n−i)!.
    let mut factorial = vec![Scalar::ONE; n];
    for k in 1..n {
        factorial[k] = factorial[k - 1] * Scalar::from(k as u64);
    }
    let mut u: Vec<Scalar> = (1..=n)
        .map(|i| {
            let d = factorial[i - 1] * factorial[n - i];
            if (n - i) % 2 == 1 {
                -d
            } else {
                d
            }
        })
        .collect();
    batch_invert(&mut u).expect("factorials of numbers below the group order are non-zero");
    let f: Vec<Scalar> = (0..n - threshold)
        .map(|k| derived_scalar(c, 2, k))
        .collect();
    let weights: Vec<Scalar> = (1..=n as u64)
        .zip(&u)
        .map(|(x, ui)| ui * eval_poly(&f, Scalar::from(x)))
        .collect();
    RistrettoPoint::vartime_multiscalar_mul(&weights, v).is_identity()
}

mod shares;
pub use shares::{decrypt_share, recover, verify_share};

impl PvssSecret {
    /// The identity (used only as an explicit "no secret" in tests).
    #[cfg(test)]
    fn identity() -> PvssSecret {
        use curve25519_dalek::traits::Identity;
        PvssSecret(RistrettoPoint::identity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    const CTX: DealingContext = DealingContext {
        epoch: 7,
        chain: 1,
        dealer: 3,
    };

    fn participants(n: usize, seed: u64) -> (Vec<PvssSecretKey>, Vec<PvssPublicKey>) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let sks: Vec<PvssSecretKey> = (0..n).map(|_| PvssSecretKey::random(&mut rng)).collect();
        let pks = sks.iter().map(|k| k.public_key()).collect();
        (sks, pks)
    }

    fn dealt(
        n: usize,
        t: usize,
        seed: u64,
    ) -> (Vec<PvssSecretKey>, Vec<PvssPublicKey>, Dealing, PvssSecret) {
        let (sks, pks) = participants(n, seed);
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0xdead);
        let (d, s) = deal(&mut rng, &CTX, t, &pks).unwrap();
        (sks, pks, d, s)
    }

    /// A dealing whose shares lie on a polynomial of degree `degree`,
    /// with honest DLEQ proofs (so only the degree test can catch it).
    fn dealing_of_degree(pks: &[PvssPublicKey], t: usize, degree: usize, seed: u64) -> Dealing {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let poly: Vec<Scalar> = (0..=degree).map(|_| Scalar::random(&mut rng)).collect();
        let n = pks.len();
        let evals: Vec<Scalar> = (1..=n as u64)
            .map(|x| eval_poly(&poly, Scalar::from(x)))
            .collect();
        let nonces: Vec<Scalar> = (0..n).map(|_| Scalar::random(&mut rng)).collect();
        let mut d = Dealing {
            commitments: evals
                .iter()
                .map(|e| (e * RISTRETTO_BASEPOINT_TABLE).compress().to_bytes())
                .collect(),
            encrypted_shares: evals
                .iter()
                .zip(pks)
                .map(|(e, k)| (e * k.point).compress().to_bytes())
                .collect(),
            proof_g: nonces
                .iter()
                .map(|w| (w * RISTRETTO_BASEPOINT_TABLE).compress().to_bytes())
                .collect(),
            proof_pk: nonces
                .iter()
                .zip(pks)
                .map(|(w, k)| (w * k.point).compress().to_bytes())
                .collect(),
            responses: vec![],
        };
        let c = dealing_challenge(&CTX, t, pks, &d);
        d.responses = nonces
            .iter()
            .zip(&evals)
            .map(|(w, e)| (w - c * e).to_bytes())
            .collect();
        d
    }

    #[test]
    fn honest_dealing_verifies_and_t_shares_recover_the_secret() {
        let (sks, pks, d, secret) = dealt(7, 3, 1);
        assert_eq!(verify_dealing(&CTX, 3, &pks, &d), Ok(()));
        let shares: Vec<DecryptedShare> = (0..7)
            .map(|i| decrypt_share(&sks[i], &CTX, i as u32, &d).unwrap())
            .collect();
        for (i, s) in shares.iter().enumerate() {
            assert_eq!(verify_share(&CTX, &pks[i], &d, s), Ok(()));
        }
        assert_eq!(recover(3, &shares[..3]).unwrap(), secret);
        assert_eq!(
            recover(3, &[shares[6], shares[2], shares[4]]).unwrap(),
            secret
        );
        assert_ne!(secret, PvssSecret::identity());
    }

    #[test]
    fn bad_parameters_and_lengths() {
        let (_, pks) = participants(3, 2);
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        assert_eq!(
            deal(&mut rng, &CTX, 0, &pks).unwrap_err(),
            PvssError::BadParameters {
                threshold: 0,
                participants: 3
            }
        );
        assert_eq!(
            deal(&mut rng, &CTX, 4, &pks).unwrap_err(),
            PvssError::BadParameters {
                threshold: 4,
                participants: 3
            }
        );
        let (d, _) = deal(&mut rng, &CTX, 2, &pks).unwrap();
        let mut short = d.clone();
        short.responses.pop();
        assert_eq!(
            verify_dealing(&CTX, 2, &pks, &short),
            Err(PvssError::WrongLength {
                field: "responses",
                expected: 3,
                got: 2
            })
        );
    }

    #[test]
    fn a_dealing_is_bound_to_its_context_threshold_and_keys() {
        let (_, pks, d, _) = dealt(5, 2, 3);
        for other in [
            DealingContext { epoch: 8, ..CTX },
            DealingContext { chain: 2, ..CTX },
            DealingContext { dealer: 4, ..CTX },
        ] {
            assert_eq!(
                verify_dealing(&other, 2, &pks, &d),
                Err(PvssError::InvalidDealingProof)
            );
        }
        assert_eq!(
            verify_dealing(&CTX, 3, &pks, &d),
            Err(PvssError::InvalidDealingProof)
        );
        let mut swapped = pks.clone();
        swapped.swap(0, 1);
        assert_eq!(
            verify_dealing(&CTX, 2, &swapped, &d),
            Err(PvssError::InvalidDealingProof)
        );
    }

    #[test]
    fn tampered_dealings_are_rejected() {
        let (_, pks, d, _) = dealt(5, 3, 4);
        let mut bad = d.clone();
        bad.encrypted_shares.swap(1, 2);
        assert_eq!(
            verify_dealing(&CTX, 3, &pks, &bad),
            Err(PvssError::InvalidDealingProof)
        );
        let mut bad = d.clone();
        bad.commitments[4] = d.commitments[0];
        assert_eq!(
            verify_dealing(&CTX, 3, &pks, &bad),
            Err(PvssError::InvalidDealingProof)
        );
        let mut bad = d.clone();
        bad.responses[2] =
            (Scalar::from_canonical_bytes(d.responses[2]).unwrap() + Scalar::ONE).to_bytes();
        assert_eq!(
            verify_dealing(&CTX, 3, &pks, &bad),
            Err(PvssError::InvalidDealingProof)
        );
        let mut bad = d.clone();
        bad.responses[0] = [0xff; 32];
        assert_eq!(
            verify_dealing(&CTX, 3, &pks, &bad),
            Err(PvssError::InvalidScalar {
                field: "responses",
                index: 0
            })
        );
        let mut bad = d.clone();
        bad.proof_pk[3] = [0xff; 32];
        assert_eq!(
            verify_dealing(&CTX, 3, &pks, &bad),
            Err(PvssError::InvalidPoint {
                field: "proof_pk",
                index: 3
            })
        );
    }

    #[test]
    fn a_polynomial_of_too_high_degree_is_caught_by_the_code_test() {
        let (_, pks) = participants(6, 5);
        let honest = dealing_of_degree(&pks, 3, 2, 5);
        assert_eq!(verify_dealing(&CTX, 3, &pks, &honest), Ok(()));
        let cheat = dealing_of_degree(&pks, 3, 3, 5);
        assert_eq!(
            verify_dealing(&CTX, 3, &pks, &cheat),
            Err(PvssError::NotLowDegree)
        );
        // With t = n every vector is a codeword: nothing to test.
        let full = dealing_of_degree(&pks, 6, 5, 6);
        assert_eq!(verify_dealing(&CTX, 6, &pks, &full), Ok(()));
    }

    #[test]
    fn decrypted_shares_are_checked() {
        let (sks, pks, d, _) = dealt(4, 2, 6);
        let s = decrypt_share(&sks[1], &CTX, 1, &d).unwrap();
        assert_eq!(verify_share(&CTX, &pks[1], &d, &s), Ok(()));
        // Claimed for another participant, in another context, or altered.
        assert_eq!(
            verify_share(&CTX, &pks[2], &d, &DecryptedShare { index: 2, ..s }),
            Err(PvssError::InvalidShareProof { index: 2 })
        );
        assert_eq!(
            verify_share(&DealingContext { epoch: 9, ..CTX }, &pks[1], &d, &s),
            Err(PvssError::InvalidShareProof { index: 1 })
        );
        let other = decrypt_share(&sks[2], &CTX, 2, &d).unwrap();
        assert_eq!(
            verify_share(
                &CTX,
                &pks[1],
                &d,
                &DecryptedShare {
                    share: other.share,
                    ..s
                }
            ),
            Err(PvssError::InvalidShareProof { index: 1 })
        );
        // Decrypting with the wrong key yields a share that fails.
        let wrong = decrypt_share(&sks[0], &CTX, 1, &d).unwrap();
        assert!(verify_share(&CTX, &pks[1], &d, &wrong).is_err());
        assert_eq!(
            decrypt_share(&sks[0], &CTX, 4, &d).unwrap_err(),
            PvssError::IndexOutOfRange {
                index: 4,
                participants: 4
            }
        );
    }

    #[test]
    fn recovery_needs_t_distinct_shares() {
        let (sks, _, d, _) = dealt(5, 3, 7);
        let shares: Vec<DecryptedShare> = (0..5)
            .map(|i| decrypt_share(&sks[i], &CTX, i as u32, &d).unwrap())
            .collect();
        assert_eq!(
            recover(3, &shares[..2]),
            Err(PvssError::NotEnoughShares { got: 2, needed: 3 })
        );
        assert_eq!(
            recover(3, &[shares[0], shares[1], shares[0]]),
            Err(PvssError::DuplicateIndex(0))
        );
    }

    #[test]
    fn codec_round_trip_and_limits() {
        let (_, pks, d, _) = dealt(4, 2, 8);
        let bytes = d.encode();
        assert_eq!(Dealing::decode(&mut &bytes[..]).unwrap(), d);
        let huge = Dealing {
            commitments: vec![[0u8; 32]; MAX_PARTICIPANTS + 1],
            encrypted_shares: vec![],
            proof_g: vec![],
            proof_pk: vec![],
            responses: vec![],
        };
        assert!(Dealing::decode(&mut &huge.encode()[..]).is_err());
        assert!(
            PvssPublicKey::decode(&mut &[0u8; 32][..]).is_err(),
            "identity key"
        );
        assert_eq!(
            PvssPublicKey::decode(&mut &pks[0].encode()[..]).unwrap(),
            pks[0]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn any_t_valid_shares_recover_the_dealt_secret(
            n in 1usize..10,
            t_pick in any::<prop::sample::Index>(),
            seed in any::<u64>(),
            start in any::<prop::sample::Index>(),
        ) {
            let t = t_pick.index(n) + 1;
            let (sks, pks, d, secret) = dealt(n, t, seed);
            prop_assert_eq!(verify_dealing(&CTX, t, &pks, &d), Ok(()));
            let first = start.index(n);
            let shares: Vec<DecryptedShare> = (0..t)
                .map(|k| (first + k) % n)
                .map(|i| decrypt_share(&sks[i], &CTX, i as u32, &d).unwrap())
                .collect();
            for s in &shares {
                prop_assert_eq!(verify_share(&CTX, &pks[s.index as usize], &d, s), Ok(()));
            }
            prop_assert_eq!(recover(t, &shares).unwrap(), secret);
            if t > 1 {
                prop_assert!(recover(t, &shares[..t - 1]).is_err());
            }
        }
    }
}
