//! Dealerless key generation for a committee's threshold BLS key (issue
//! 27, point 1; docs/design.md §3): Joint-Feldman (Pedersen 1991; Gennaro et
//! al., "Secure distributed key generation", J. Cryptology 2007) with the
//! chain as the broadcast channel.
//!
//! Every member i deals: a random polynomial f_i of degree t−1 over F_r,
//! Feldman commitments A_ik = a_ik·G1 (on chain), a proof of possession of
//! A_i0 (a BLS signature of the context by a_i0: the dealer knows the
//! secret it contributes), and each member j's share f_i(j) encrypted to
//! j's registered encryption key (the ristretto255 key it uses for
//! RandShare, `pvss.rs`): with an ephemeral E = e·H, the pad is
//! H(e·pk_j) and the ciphertext f_i(j) + pad in F_r.
//!
//! A member decrypts its shares and checks each against the dealer's
//! commitments: f_i(j)·G1 = Σ_k j^k·A_ik. A bad share is answered by a
//! complaint that anyone can judge: the member reveals K = sk_j·E with a
//! DLEQ proof that log_H pk_j = log_E K, so everyone decrypts the share and
//! checks it (the dealer is disqualified, or the complaint is false). The
//! qualified dealers are those with no upheld complaint; the group key is
//! Σ_i A_i0 over them, member j's share Σ_i f_i(j), and any t of the
//! members' signature shares combine into the one signature of the group
//! key (`threshold.rs`). Fewer than t members learn nothing checkable: the
//! shares of t−1 members are consistent with every group secret.

use blst::min_pk;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use parity_scale_codec::{Decode, Encode, Input};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest as _, Sha512};

use crate::bls::{PublicKey, SecretKey, Signature};
use crate::codec::decode_vec;
use crate::pvss::{PvssPublicKey, PvssSecretKey};
use crate::scalar::{eval_poly, Fr};
use crate::threshold::{GroupPublic, SecretShare, MAX_PARTICIPANTS};

/// Why a DKG step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DkgError {
    #[error("threshold {threshold} of {participants} is not 1 ≤ t ≤ n ≤ {max}", max = MAX_PARTICIPANTS)]
    BadParameters { threshold: u32, participants: u32 },
    #[error("the dealing's {field} has {got} entries, {expected} expected")]
    Length {
        field: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("the dealing's {field} is not a valid encoding")]
    Encoding { field: &'static str },
    #[error("the dealer's proof of possession does not verify")]
    Possession,
    #[error("member {0} is not in the committee")]
    NoSuchMember(u32),
    #[error("the complaint's DLEQ proof does not verify")]
    ComplaintProof,
    #[error("{got} qualified dealings, at least {needed} needed")]
    TooFewDealings { got: usize, needed: usize },
    #[error("a share or key came out degenerate (zero)")]
    Degenerate,
}

/// What a run is bound to: the chain and the epoch whose committee it
/// keys (a dealing or complaint of another run is worthless here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DkgContext {
    pub chain: u32,
    pub epoch: u64,
    pub threshold: u32,
    pub participants: u32,
}

impl DkgContext {
    fn check(&self) -> Result<(), DkgError> {
        let (t, n) = (self.threshold, self.participants);
        if t == 0 || t > n || n > MAX_PARTICIPANTS {
            return Err(DkgError::BadParameters {
                threshold: t,
                participants: n,
            });
        }
        Ok(())
    }

    /// What the proof of possession signs.
    fn possession_message(&self, dealer: u32) -> Vec<u8> {
        let mut m = b"strata/dkg/v1/possession".to_vec();
        m.extend_from_slice(&self.encode());
        m.extend_from_slice(&dealer.to_le_bytes());
        m
    }
}

/// A member's dealing, as posted on chain.
#[derive(Clone, Debug, PartialEq, Eq, Encode)]
pub struct DkgDealing {
    /// The dealer's position in the committee (0-based).
    pub dealer: u32,
    /// A_k = a_k·G1, k = 0..t (compressed).
    pub commitments: Vec<[u8; 48]>,
    /// E = e·H (ristretto255, compressed).
    pub ephemeral: [u8; 32],
    /// Member j's share f(j + 1) + pad_j (F_r, big-endian), j = 0..n.
    pub shares: Vec<[u8; 32]>,
    /// a_0's signature of the context and dealer.
    pub possession: [u8; 96],
}

impl Decode for DkgDealing {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let max = MAX_PARTICIPANTS as usize;
        Ok(DkgDealing {
            dealer: u32::decode(input)?,
            commitments: decode_vec(input, max)?,
            ephemeral: <[u8; 32]>::decode(input)?,
            shares: decode_vec(input, max)?,
            possession: <[u8; 96]>::decode(input)?,
        })
    }
}

/// A member's complaint against a dealing: the DH key of its share,
/// revealed with a DLEQ proof (c, z) that log_H pk = log_E key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DkgComplaint {
    pub dealer: u32,
    pub complainer: u32,
    pub key: [u8; 32],
    pub challenge: [u8; 32],
    pub response: [u8; 32],
}

/// How a complaint is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The revealed share does not match the commitments: the dealer is
    /// disqualified.
    DealerCheated,
    /// The share matches: the complaint was false.
    ShareValid,
}

/// A dealing's commitments, decoded and checked once.
#[derive(Clone, Debug)]
pub struct CheckedDealing {
    pub dealer: u32,
    commitments: Vec<min_pk::PublicKey>,
    ephemeral: RistrettoPoint,
    shares: Vec<Fr>,
}

fn h_generator() -> RistrettoPoint {
    // The generator the PVSS keys are on (pk = sk·H).
    crate::pvss::encryption_generator()
}

/// pad = H(context, dealer, member, K) reduced into F_r.
fn pad(ctx: &DkgContext, dealer: u32, member: u32, key: &RistrettoPoint) -> Fr {
    let mut h = Sha512::new();
    h.update(b"strata/dkg/v1/pad");
    h.update(ctx.encode());
    h.update(dealer.to_le_bytes());
    h.update(member.to_le_bytes());
    h.update(key.compress().as_bytes());
    Fr::from_be_bytes_reduced(&h.finalize())
}

fn fr_to_g1(x: Fr) -> Result<min_pk::PublicKey, DkgError> {
    Ok(SecretKey::from_fr(x)
        .map_err(|_| DkgError::Degenerate)?
        .public_key()
        .point)
}

/// Σ_k x^k·A_k: the commitment polynomial evaluated at x, in G1.
fn eval_commitments(commitments: &[min_pk::PublicKey], x: u64) -> min_pk::PublicKey {
    use blst::MultiPoint;
    let mut power = Fr::from_u64(1);
    let base = Fr::from_u64(x);
    let mut scalars = Vec::with_capacity(commitments.len() * 32);
    for _ in commitments {
        scalars.extend_from_slice(&power.to_le_bytes());
        power = power * base;
    }
    commitments.mult(&scalars, 255).to_public_key()
}

/// Deals member `dealer`'s contribution to the members whose encryption
/// keys are `keys` (in committee order).
pub fn deal<R: RngCore + CryptoRng>(
    rng: &mut R,
    ctx: &DkgContext,
    dealer: u32,
    keys: &[PvssPublicKey],
) -> Result<DkgDealing, DkgError> {
    ctx.check()?;
    if keys.len() != ctx.participants as usize {
        return Err(DkgError::Length {
            field: "keys",
            got: keys.len(),
            expected: ctx.participants as usize,
        });
    }
    if dealer >= ctx.participants {
        return Err(DkgError::NoSuchMember(dealer));
    }
    let coefficients: Vec<Fr> = (0..ctx.threshold).map(|_| Fr::random(rng)).collect();
    let commitments = coefficients
        .iter()
        .map(|a| fr_to_g1(*a).map(|p| p.compress()))
        .collect::<Result<Vec<_>, _>>()?;
    let secret = SecretKey::from_fr(coefficients[0]).map_err(|_| DkgError::Degenerate)?;
    let possession = secret.sign(&ctx.possession_message(dealer)).to_bytes();
    let e = PvssSecretKey::random(rng);
    let ephemeral = e.scalar() * h_generator();
    let shares = keys
        .iter()
        .zip(0u32..)
        .map(|(pk, j)| {
            let key = e.scalar() * pk.point();
            let share = eval_poly(&coefficients, Fr::from_u64(u64::from(j) + 1));
            (share + pad(ctx, dealer, j, &key)).to_be_bytes()
        })
        .collect();
    Ok(DkgDealing {
        dealer,
        commitments,
        ephemeral: ephemeral.compress().to_bytes(),
        shares,
        possession,
    })
}

/// The checks anyone makes of a dealing before it counts: its shape, its
/// encodings and the dealer's proof of possession.
pub fn check_dealing(ctx: &DkgContext, d: &DkgDealing) -> Result<CheckedDealing, DkgError> {
    ctx.check()?;
    if d.dealer >= ctx.participants {
        return Err(DkgError::NoSuchMember(d.dealer));
    }
    for (field, got, expected) in [
        ("commitments", d.commitments.len(), ctx.threshold as usize),
        ("shares", d.shares.len(), ctx.participants as usize),
    ] {
        if got != expected {
            return Err(DkgError::Length {
                field,
                got,
                expected,
            });
        }
    }
    let keys = d
        .commitments
        .iter()
        .map(|c| {
            PublicKey::from_bytes(c).map_err(|_| DkgError::Encoding {
                field: "commitments",
            })
        })
        .collect::<Result<Vec<PublicKey>, _>>()?;
    let possession = Signature::from_bytes(&d.possession).map_err(|_| DkgError::Encoding {
        field: "possession",
    })?;
    possession
        .verify(&ctx.possession_message(d.dealer), &keys[0])
        .map_err(|_| DkgError::Possession)?;
    let ephemeral = CompressedRistretto(d.ephemeral)
        .decompress()
        .filter(|p| !p.is_identity())
        .ok_or(DkgError::Encoding { field: "ephemeral" })?;
    let shares = d
        .shares
        .iter()
        .map(|s| Fr::from_be_bytes(s).ok_or(DkgError::Encoding { field: "shares" }))
        .collect::<Result<Vec<Fr>, _>>()?;
    Ok(CheckedDealing {
        dealer: d.dealer,
        commitments: keys.iter().map(|k| k.point).collect(),
        ephemeral,
        shares,
    })
}

impl CheckedDealing {
    fn share_matches(&self, member: u32, share: Fr) -> bool {
        fr_to_g1(share)
            .map(|p| p == eval_commitments(&self.commitments, u64::from(member) + 1))
            .unwrap_or(false)
    }

    /// Member `member` decrypts its share with its encryption key: the
    /// share, or the complaint that proves it bad.
    pub fn open<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        ctx: &DkgContext,
        member: u32,
        sk: &PvssSecretKey,
    ) -> Result<Result<Fr, DkgComplaint>, DkgError> {
        let Some(cipher) = self.shares.get(member as usize) else {
            return Err(DkgError::NoSuchMember(member));
        };
        let key = sk.scalar() * self.ephemeral;
        let share = *cipher - pad(ctx, self.dealer, member, &key);
        if self.share_matches(member, share) {
            return Ok(Ok(share));
        }
        // DLEQ: log_H pk = log_E key = sk.
        let w = PvssSecretKey::random(rng);
        let (a1, a2) = (w.scalar() * h_generator(), w.scalar() * self.ephemeral);
        let pk = sk.scalar() * h_generator();
        let c = dleq_challenge(
            ctx,
            self.dealer,
            member,
            &pk,
            &self.ephemeral,
            &key,
            &a1,
            &a2,
        );
        let z = w.scalar() - c * sk.scalar();
        Ok(Err(DkgComplaint {
            dealer: self.dealer,
            complainer: member,
            key: key.compress().to_bytes(),
            challenge: c.to_bytes(),
            response: z.to_bytes(),
        }))
    }

    /// Judges a complaint against this dealing by the member whose
    /// encryption key is `pk`.
    pub fn judge(
        &self,
        ctx: &DkgContext,
        complaint: &DkgComplaint,
        pk: &PvssPublicKey,
    ) -> Result<Verdict, DkgError> {
        if complaint.dealer != self.dealer {
            return Err(DkgError::ComplaintProof);
        }
        let member = complaint.complainer;
        let Some(cipher) = self.shares.get(member as usize) else {
            return Err(DkgError::NoSuchMember(member));
        };
        let key = CompressedRistretto(complaint.key)
            .decompress()
            .ok_or(DkgError::ComplaintProof)?;
        let scalar = |b: [u8; 32]| -> Result<Scalar, DkgError> {
            Option::from(Scalar::from_canonical_bytes(b)).ok_or(DkgError::ComplaintProof)
        };
        let (c, z) = (scalar(complaint.challenge)?, scalar(complaint.response)?);
        let a1 = RistrettoPoint::vartime_multiscalar_mul([z, c], [h_generator(), pk.point()]);
        let a2 = RistrettoPoint::vartime_multiscalar_mul([z, c], [self.ephemeral, key]);
        if dleq_challenge(
            ctx,
            self.dealer,
            member,
            &pk.point(),
            &self.ephemeral,
            &key,
            &a1,
            &a2,
        ) != c
        {
            return Err(DkgError::ComplaintProof);
        }
        let share = *cipher - pad(ctx, self.dealer, member, &key);
        Ok(if self.share_matches(member, share) {
            Verdict::ShareValid
        } else {
            Verdict::DealerCheated
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn dleq_challenge(
    ctx: &DkgContext,
    dealer: u32,
    member: u32,
    pk: &RistrettoPoint,
    ephemeral: &RistrettoPoint,
    key: &RistrettoPoint,
    a1: &RistrettoPoint,
    a2: &RistrettoPoint,
) -> Scalar {
    let mut h = Sha512::new();
    h.update(b"strata/dkg/v1/complaint");
    h.update(ctx.encode());
    h.update(dealer.to_le_bytes());
    h.update(member.to_le_bytes());
    for p in [pk, ephemeral, key, a1, a2] {
        h.update(p.compress().as_bytes());
    }
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// The group's public side from the qualified dealings (at least t): the
/// group key Σ A_i0 and every member's share key Σ_i Σ_k (j+1)^k·A_ik.
pub fn group_public(
    ctx: &DkgContext,
    qualified: &[CheckedDealing],
) -> Result<GroupPublic, DkgError> {
    ctx.check()?;
    if qualified.len() < ctx.threshold as usize {
        return Err(DkgError::TooFewDealings {
            got: qualified.len(),
            needed: ctx.threshold as usize,
        });
    }
    use blst::MultiPoint;
    // C_k = Σ_i A_ik, then each member's key is one MSM of size t.
    let summed: Vec<min_pk::PublicKey> = (0..ctx.threshold as usize)
        .map(|k| {
            let column: Option<Vec<min_pk::PublicKey>> = qualified
                .iter()
                .map(|d| d.commitments.get(k).copied())
                .collect();
            // A dealing checked against another run's threshold.
            column
                .map(|c| c.add().to_public_key())
                .ok_or(DkgError::Length {
                    field: "commitments",
                    got: k,
                    expected: ctx.threshold as usize,
                })
        })
        .collect::<Result<_, _>>()?;
    let group_key = summed
        .first()
        .and_then(|k| PublicKey::from_point(*k))
        .ok_or(DkgError::Degenerate)?;
    let share_keys = (0..ctx.participants)
        .map(|j| {
            PublicKey::from_point(eval_commitments(&summed, u64::from(j) + 1))
                .ok_or(DkgError::Degenerate)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GroupPublic::from_parts(
        ctx.threshold,
        group_key,
        share_keys,
    ))
}

/// Member `member`'s secret share: the sum of the shares it opened from
/// the qualified dealings (the same set, in any order, `group_public` got).
pub fn secret_share(member: u32, opened: &[Fr]) -> Result<SecretShare, DkgError> {
    let sum = opened.iter().fold(Fr::from_u64(0), |acc, s| acc + *s);
    let index = member
        .checked_add(1)
        .ok_or(DkgError::NoSuchMember(member))?;
    SecretShare::from_fr(index, sum).ok_or(DkgError::Degenerate)
}

#[cfg(test)]
mod tests;
