//! Threshold BLS: a t-of-n sharing of a group key (docs/design.md §3).
//!
//! Shares are evaluations of a random polynomial of degree t−1 at the points
//! 1..=n (Shamir). A share signs like any BLS key; any t signature shares
//! combine, by Lagrange interpolation at 0 in the exponent, into the unique
//! signature of the group key, which is why it serves where a unique,
//! constant-size signature is wanted (anchors, beacon). The combination is
//! one multi-scalar multiplication over the shares.
//!
//! `deal` is the trusted-dealer variant (tests and benchmarks); committees
//! key themselves without a dealer (`dkg.rs`).

use blst::min_pk;
use rand_core::{CryptoRng, RngCore};

use crate::bls::{BlsError, PublicKey, SecretKey, Signature};
use crate::scalar::{eval_poly, lagrange_at_zero_indices, Fr};

/// Largest number of participants in one sharing.
pub const MAX_PARTICIPANTS: u32 = 4096;

/// Why a threshold operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    #[error("threshold {threshold} of {participants} is not 1 ≤ t ≤ n ≤ {max}", max = MAX_PARTICIPANTS)]
    BadParameters { threshold: u32, participants: u32 },
    #[error("{got} distinct shares given, {needed} needed")]
    NotEnoughShares { got: usize, needed: usize },
    #[error("share index {0} appears twice")]
    DuplicateIndex(u32),
    #[error("share index {index} is not in 1..={participants}")]
    IndexOutOfRange { index: u32, participants: u32 },
    #[error("signature share {index} does not verify")]
    InvalidShare { index: u32 },
    #[error("a dealt share was degenerate (zero); deal again")]
    DegenerateShare,
    #[error("combined signature does not verify: {0}")]
    Signature(#[from] BlsError),
}

/// The public side of a sharing: the group key and every share's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPublic {
    threshold: u32,
    group_key: PublicKey,
    /// `share_keys[i - 1]` is the key of share `i`.
    share_keys: Vec<PublicKey>,
}

/// One participant's secret share; `index` is its evaluation point (1-based).
#[derive(Clone, Debug)]
pub struct SecretShare {
    pub index: u32,
    key: SecretKey,
}

/// A share's signature on a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureShare {
    pub index: u32,
    pub signature: Signature,
}

/// Σ scalar_i·point_i (scalars 32 bytes each, little-endian). blst runs
/// without its thread pool here (the node keeps its own threads busy), so
/// a large combination (a committee of hundreds) is split over two scoped
/// threads: a G2 multi-scalar multiplication dominates its cost.
fn multi_scalar_mult(points: &[min_pk::Signature], scalars: &[u8]) -> min_pk::Signature {
    use blst::MultiPoint;
    const SPLIT_AT: usize = 256;
    if points.len() < SPLIT_AT {
        return points.mult(scalars, 255).to_signature();
    }
    let half = points.len() / 2;
    let (left, right) = points.split_at(half);
    let (left_scalars, right_scalars) = scalars.split_at(half * 32);
    let (a, b) = std::thread::scope(|scope| {
        let other = scope.spawn(|| right.mult(right_scalars, 255).to_signature());
        let mine = left.mult(left_scalars, 255).to_signature();
        (mine, other.join())
    });
    let b = match b {
        Ok(b) => b,
        // The thread cannot fail short of a bug; do the half here.
        Err(_) => right.mult(right_scalars, 255).to_signature(),
    };
    let mut sum = min_pk::AggregateSignature::from_signature(&a);
    match sum.add_signature(&b, false) {
        Ok(()) => sum.to_signature(),
        Err(_) => points.mult(scalars, 255).to_signature(),
    }
}

/// Deals a fresh random group key into `n` shares with threshold `t`.
pub fn deal<R: RngCore + CryptoRng>(
    rng: &mut R,
    threshold: u32,
    participants: u32,
) -> Result<(GroupPublic, Vec<SecretShare>), ThresholdError> {
    if threshold == 0 || threshold > participants || participants > MAX_PARTICIPANTS {
        return Err(ThresholdError::BadParameters {
            threshold,
            participants,
        });
    }
    let coefficients: Vec<Fr> = (0..threshold).map(|_| Fr::random(rng)).collect();
    let group_secret =
        SecretKey::from_fr(coefficients[0]).map_err(|_| ThresholdError::DegenerateShare)?;
    let mut shares = Vec::with_capacity(participants as usize);
    let mut share_keys = Vec::with_capacity(participants as usize);
    for index in 1..=participants {
        let key = SecretKey::from_fr(eval_poly(&coefficients, Fr::from_u64(index as u64)))
            .map_err(|_| ThresholdError::DegenerateShare)?;
        share_keys.push(key.public_key());
        shares.push(SecretShare { index, key });
    }
    Ok((
        GroupPublic {
            threshold,
            group_key: group_secret.public_key(),
            share_keys,
        },
        shares,
    ))
}

impl SecretShare {
    /// The share at evaluation point `index` with value `value` (a DKG's
    /// sum of opened shares); `None` for zero.
    pub(crate) fn from_fr(index: u32, value: Fr) -> Option<SecretShare> {
        Some(SecretShare {
            index,
            key: SecretKey::from_fr(value).ok()?,
        })
    }

    pub fn sign(&self, message: &[u8]) -> SignatureShare {
        SignatureShare {
            index: self.index,
            signature: self.key.sign(message),
        }
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The share as a BLS key: what a threshold committee's member signs
    /// its votes with.
    pub fn secret_key(&self) -> &SecretKey {
        &self.key
    }
}

impl GroupPublic {
    /// A group from its keys (a DKG's completion, `dkg.rs`, or its record
    /// on a chain).
    pub fn from_parts(
        threshold: u32,
        group_key: PublicKey,
        share_keys: Vec<PublicKey>,
    ) -> GroupPublic {
        GroupPublic {
            threshold,
            group_key,
            share_keys,
        }
    }

    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// Every share's key, share 1's first.
    pub fn share_keys(&self) -> &[PublicKey] {
        &self.share_keys
    }

    pub fn participants(&self) -> u32 {
        self.share_keys.len() as u32
    }

    pub fn group_key(&self) -> &PublicKey {
        &self.group_key
    }

    pub fn share_key(&self, index: u32) -> Result<&PublicKey, ThresholdError> {
        index
            .checked_sub(1)
            .and_then(|i| self.share_keys.get(i as usize))
            .ok_or(ThresholdError::IndexOutOfRange {
                index,
                participants: self.participants(),
            })
    }

    /// Checks one signature share against its share key.
    pub fn verify_share(
        &self,
        share: &SignatureShare,
        message: &[u8],
    ) -> Result<(), ThresholdError> {
        let key = self.share_key(share.index)?;
        share
            .signature
            .verify(message, key)
            .map_err(|_| ThresholdError::InvalidShare { index: share.index })
    }

    /// Combines exactly `t` of the given shares into the group signature:
    /// Σ λ_i·σ_i with the Lagrange weights λ_i computed in F_r and one
    /// multi-scalar multiplication. Shares are not verified here; a caller
    /// holding unverified shares verifies the result (or each share).
    pub fn combine(&self, shares: &[SignatureShare]) -> Result<Signature, ThresholdError> {
        let t = self.threshold as usize;
        let mut seen = std::collections::HashSet::with_capacity(t);
        let mut chosen = Vec::with_capacity(t);
        for s in shares {
            self.share_key(s.index)?;
            if !seen.insert(s.index) {
                return Err(ThresholdError::DuplicateIndex(s.index));
            }
            if chosen.len() < t {
                chosen.push(*s);
            }
        }
        if chosen.len() < t {
            return Err(ThresholdError::NotEnoughShares {
                got: chosen.len(),
                needed: t,
            });
        }
        let xs: Vec<u32> = chosen.iter().map(|s| s.index).collect();
        let weights: Vec<Fr> =
            lagrange_at_zero_indices(&xs).expect("indices are distinct and non-zero");
        let points: Vec<min_pk::Signature> = chosen.iter().map(|s| s.signature.0).collect();
        let scalars: Vec<u8> = weights.iter().flat_map(|w| w.to_le_bytes()).collect();
        Ok(Signature(multi_scalar_mult(&points, &scalars)))
    }

    /// Verifies a signature of the group key.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), ThresholdError> {
        Ok(signature.verify(message, &self.group_key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn setup(t: u32, n: u32, seed: u64) -> (GroupPublic, Vec<SecretShare>) {
        deal(&mut ChaCha20Rng::seed_from_u64(seed), t, n).unwrap()
    }

    #[test]
    fn a_large_combination_split_over_two_threads_is_the_group_signature() {
        // Above the split: t = 260 shares, two subsets.
        let (public, shares) = setup(260, 300, 9);
        let sigs: Vec<SignatureShare> = shares.iter().map(|s| s.sign(b"beacon")).collect();
        let first = public.combine(&sigs[..260]).unwrap();
        let last = public.combine(&sigs[40..]).unwrap();
        assert_eq!(first, last);
        assert_eq!(public.verify(b"beacon", &first), Ok(()));
    }

    #[test]
    fn t_shares_make_the_group_signature() {
        let (public, shares) = setup(3, 5, 1);
        let sigs: Vec<SignatureShare> = shares.iter().map(|s| s.sign(b"anchor")).collect();
        for s in &sigs {
            assert_eq!(public.verify_share(s, b"anchor"), Ok(()));
        }
        let a = public.combine(&sigs[0..3]).unwrap();
        let b = public.combine(&[sigs[4], sigs[1], sigs[3]]).unwrap();
        assert_eq!(a, b, "the group signature is unique");
        assert_eq!(public.verify(b"anchor", &a), Ok(()));
        assert!(public.verify(b"other", &a).is_err());
    }

    #[test]
    fn too_few_duplicate_and_unknown_shares_fail() {
        let (public, shares) = setup(3, 5, 2);
        let sigs: Vec<SignatureShare> = shares.iter().map(|s| s.sign(b"m")).collect();
        assert_eq!(
            public.combine(&sigs[0..2]),
            Err(ThresholdError::NotEnoughShares { got: 2, needed: 3 })
        );
        assert_eq!(
            public.combine(&[sigs[0], sigs[1], sigs[1]]),
            Err(ThresholdError::DuplicateIndex(2))
        );
        let mut stray = sigs[0];
        stray.index = 6;
        assert_eq!(
            public.combine(&[sigs[0], sigs[1], stray]),
            Err(ThresholdError::IndexOutOfRange {
                index: 6,
                participants: 5
            })
        );
        stray.index = 0;
        assert!(matches!(
            public.combine(&[stray]),
            Err(ThresholdError::IndexOutOfRange { .. })
        ));
    }

    #[test]
    fn a_bad_share_is_caught_by_share_or_result_verification() {
        let (public, shares) = setup(2, 3, 3);
        let mut sigs: Vec<SignatureShare> = shares.iter().map(|s| s.sign(b"m")).collect();
        sigs[1].signature = shares[1].sign(b"x").signature;
        assert_eq!(
            public.verify_share(&sigs[1], b"m"),
            Err(ThresholdError::InvalidShare { index: 2 })
        );
        let combined = public.combine(&sigs[..2]).unwrap();
        assert!(public.verify(b"m", &combined).is_err());
    }

    #[test]
    fn bad_parameters() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        for (t, n) in [(0, 3), (4, 3), (1, MAX_PARTICIPANTS + 1)] {
            assert_eq!(
                deal(&mut rng, t, n).unwrap_err(),
                ThresholdError::BadParameters {
                    threshold: t,
                    participants: n
                }
            );
        }
        let (public, shares) = deal(&mut rng, 1, 1).unwrap();
        let s = shares[0].sign(b"m");
        assert_eq!(public.combine(&[s]).unwrap(), s.signature);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_t_subset_agrees_and_t_minus_one_fails(
            n in 1u32..12,
            t_pick in any::<prop::sample::Index>(),
            seed in any::<u64>(),
            order in any::<[u8; 16]>(),
        ) {
            let t = t_pick.index(n as usize) as u32 + 1;
            let (public, shares) = setup(t, n, seed);
            let sigs: Vec<SignatureShare> = shares.iter().map(|s| s.sign(b"p")).collect();
            // A pseudo-random selection of t distinct shares.
            let mut idx: Vec<usize> = (0..n as usize).collect();
            idx.sort_by_key(|&i| (order[i % 16].wrapping_mul(i as u8 + 1), i));
            let subset: Vec<SignatureShare> = idx[..t as usize].iter().map(|&i| sigs[i]).collect();
            let combined = public.combine(&subset).unwrap();
            prop_assert_eq!(public.verify(b"p", &combined), Ok(()));
            prop_assert_eq!(combined, public.combine(&sigs[..t as usize]).unwrap());
            prop_assert_eq!(
                public.combine(&subset[..t as usize - 1]),
                Err(ThresholdError::NotEnoughShares { got: t as usize - 1, needed: t as usize })
            );
        }
    }
}
