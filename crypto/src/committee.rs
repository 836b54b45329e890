//! Ordered, weighted committees and the quorum threshold.
//!
//! A committee is per chain and per epoch (docs/design.md §4): the order of its
//! members fixes the meaning of a certificate's signer bitmap, and each
//! member's weight (stake or credit) is what a quorum counts.
//!
//! A threshold committee (issue 27) also holds its epoch's group key from
//! the DKG: its votes are signature shares, checked against each member's
//! share key, and its certificates are the one group signature any t of
//! them combine into. Its quorum is t members by count (the DKG's t =
//! n − f, the two-thirds rule with unit weights: dynasty committees are
//! unweighted); its timeouts are still signed with the members' own keys.

use std::collections::HashMap;
use std::sync::Arc;

use parity_scale_codec::{Decode, Encode, Input};

use crate::bitmap::SignerBitmap;
use crate::bls::{AggregatePublicKey, ProofOfPossession, PublicKey};
use crate::codec::decode_vec;
use crate::threshold::GroupPublic;

pub use crate::bitmap::MAX_COMMITTEE_SIZE;

/// Why a committee or threshold was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitteeError {
    #[error("a committee needs at least one member")]
    Empty,
    #[error("committee of {size} members exceeds the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("member {index} has zero weight")]
    ZeroWeight { index: usize },
    #[error("member {index} repeats the key of member {first}")]
    DuplicateKey { index: usize, first: usize },
    #[error("total committee weight overflows 64 bits")]
    WeightOverflow,
    #[error("member {index} has an invalid proof of possession")]
    BadProofOfPossession { index: usize },
    #[error("threshold {numerator}/{denominator} is not a fraction in [0, 1)")]
    BadThreshold { numerator: u64, denominator: u64 },
    #[error("threshold {0:?} is not a decimal like 0.67 or a fraction like 2/3")]
    UnparsableThreshold(String),
    #[error("a group of {shares} share keys with threshold {threshold} does not fit a committee of {members}")]
    GroupMismatch {
        shares: usize,
        threshold: u32,
        members: usize,
    },
}

/// A committee member: a validated BLS key and its voting weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Member {
    pub key: PublicKey,
    pub weight: u64,
}

/// A registration: a member together with its proof of possession.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Registration {
    pub member: Member,
    pub proof_of_possession: ProofOfPossession,
}

/// An ordered committee with weights.
#[derive(Clone, Debug)]
pub struct Committee {
    members: Vec<Member>,
    total_weight: u64,
    index: HashMap<PublicKey, usize>,
    /// Sum of all keys, so a certificate signed by most of the committee is
    /// checked by subtracting the few non-signers.
    all_keys: AggregatePublicKey,
    /// The epoch's group key on a threshold committee: with every share
    /// key for a collector, or the group key alone for a verifier.
    group: Option<Arc<GroupPublic>>,
}

impl Committee {
    /// Builds a committee from members whose keys are already registered
    /// (their proofs of possession checked).
    pub fn new(members: Vec<Member>) -> Result<Committee, CommitteeError> {
        if members.is_empty() {
            return Err(CommitteeError::Empty);
        }
        if members.len() > MAX_COMMITTEE_SIZE {
            return Err(CommitteeError::TooLarge {
                size: members.len(),
                max: MAX_COMMITTEE_SIZE,
            });
        }
        let mut total_weight: u64 = 0;
        let mut index = HashMap::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            if m.weight == 0 {
                return Err(CommitteeError::ZeroWeight { index: i });
            }
            total_weight = total_weight
                .checked_add(m.weight)
                .ok_or(CommitteeError::WeightOverflow)?;
            if let Some(first) = index.insert(m.key, i) {
                return Err(CommitteeError::DuplicateKey { index: i, first });
            }
        }
        let all_keys = AggregatePublicKey::sum_of(members.iter().map(|m| m.key))
            .expect("a committee is non-empty");
        Ok(Committee {
            members,
            total_weight,
            index,
            all_keys,
            group: None,
        })
    }

    /// This committee as a threshold committee of `group`: its share keys
    /// (share i + 1 is member i's), or none for a committee that only
    /// checks certificates.
    pub fn with_group(mut self, group: GroupPublic) -> Result<Committee, CommitteeError> {
        let shares = group.share_keys().len();
        let t = group.threshold();
        if (shares != 0 && shares != self.len()) || t == 0 || t as usize > self.len() {
            return Err(CommitteeError::GroupMismatch {
                shares,
                threshold: t,
                members: self.len(),
            });
        }
        self.group = Some(Arc::new(group));
        Ok(self)
    }

    /// The group of a threshold committee.
    pub fn group(&self) -> Option<&GroupPublic> {
        self.group.as_deref()
    }

    /// The same members without the group: what timeouts, which every
    /// member signs with its own key, are collected and checked against.
    pub fn without_group(&self) -> Committee {
        Committee {
            group: None,
            ..self.clone()
        }
    }

    /// The key member `index`'s votes are checked against: its share key
    /// on a threshold committee that holds them, its own key otherwise.
    pub fn vote_key(&self, index: usize) -> Option<PublicKey> {
        match &self.group {
            Some(g) if !g.share_keys().is_empty() => g.share_keys().get(index).copied(),
            _ => self.members.get(index).map(|m| m.key),
        }
    }

    /// Whether `count` votes of total weight `weight` are a quorum: the
    /// group's t by count on a threshold committee, more than `threshold`
    /// of the weight otherwise.
    pub fn is_quorum(&self, count: usize, weight: u64, threshold: QuorumThreshold) -> bool {
        match &self.group {
            Some(g) => count >= g.threshold() as usize,
            None => threshold.is_reached(weight, self.total_weight),
        }
    }

    /// Builds a committee from registrations, checking every proof of
    /// possession (the defence against rogue-key attacks on aggregation).
    pub fn from_registrations(regs: &[Registration]) -> Result<Committee, CommitteeError> {
        for (i, r) in regs.iter().enumerate() {
            r.proof_of_possession
                .verify(&r.member.key)
                .map_err(|_| CommitteeError::BadProofOfPossession { index: i })?;
        }
        Committee::new(regs.iter().map(|r| r.member).collect())
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn member(&self, index: usize) -> Option<&Member> {
        self.members.get(index)
    }

    pub fn total_weight(&self) -> u64 {
        self.total_weight
    }

    pub fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// Weight of the members set in `signers` (whose length must match).
    pub fn weight_of(&self, signers: &SignerBitmap) -> u64 {
        signers.iter_ones().map(|i| self.members[i].weight).sum()
    }

    /// Aggregate key of the members set in `signers`, choosing whichever of
    /// "sum the signers" or "all keys minus the non-signers" adds fewer keys.
    pub(crate) fn aggregate_key(&self, signers: &SignerBitmap) -> Option<AggregatePublicKey> {
        let count = signers.count();
        if count == 0 {
            return None;
        }
        if count * 2 > self.len() {
            let missing =
                AggregatePublicKey::sum_of(signers.iter_zeros().map(|i| self.members[i].key));
            Some(match missing {
                Some(m) => self.all_keys.subtract(&m),
                None => self.all_keys,
            })
        } else {
            AggregatePublicKey::sum_of(signers.iter_ones().map(|i| self.members[i].key))
        }
    }
}

impl PartialEq for Committee {
    fn eq(&self, other: &Self) -> bool {
        self.members == other.members
            && self.group.as_ref().map(|g| (g.threshold(), *g.group_key()))
                == other
                    .group
                    .as_ref()
                    .map(|g| (g.threshold(), *g.group_key()))
    }
}
impl Eq for Committee {}

impl Encode for Committee {
    fn encode_to<T: parity_scale_codec::Output + ?Sized>(&self, dest: &mut T) {
        self.members.encode_to(dest)
    }
}

impl Decode for Committee {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let members = decode_vec(input, MAX_COMMITTEE_SIZE)?;
        Committee::new(members).map_err(|_| "invalid committee".into())
    }
}

/// A quorum is weight strictly above `numerator / denominator` of the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QuorumThreshold {
    numerator: u64,
    denominator: u64,
}

impl QuorumThreshold {
    /// The BFT quorum: more than two thirds (LCBFT Alg. 4; n ≥ 3f + 1).
    pub const TWO_THIRDS: QuorumThreshold = QuorumThreshold {
        numerator: 2,
        denominator: 3,
    };

    pub fn new(numerator: u64, denominator: u64) -> Result<QuorumThreshold, CommitteeError> {
        if denominator == 0 || numerator >= denominator {
            return Err(CommitteeError::BadThreshold {
                numerator,
                denominator,
            });
        }
        Ok(QuorumThreshold {
            numerator,
            denominator,
        })
    }

    /// Parses `"0.67"` (an exact decimal) or `"2/3"`. No floating point.
    pub fn parse(s: &str) -> Result<QuorumThreshold, CommitteeError> {
        let bad = || CommitteeError::UnparsableThreshold(s.to_string());
        let s = s.trim();
        if let Some((n, d)) = s.split_once('/') {
            let n = n.trim().parse().map_err(|_| bad())?;
            let d = d.trim().parse().map_err(|_| bad())?;
            return QuorumThreshold::new(n, d);
        }
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty()
            || frac.len() > 18
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let denominator = 10u64.pow(frac.len() as u32);
        let frac: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        let numerator = int
            .checked_mul(denominator)
            .and_then(|v| v.checked_add(frac))
            .ok_or_else(bad)?;
        QuorumThreshold::new(numerator, denominator)
    }

    pub fn numerator(&self) -> u64 {
        self.numerator
    }

    pub fn denominator(&self) -> u64 {
        self.denominator
    }

    /// True if `weight` is strictly more than the fraction of `total`.
    pub fn is_reached(&self, weight: u64, total: u64) -> bool {
        weight as u128 * self.denominator as u128 > total as u128 * self.numerator as u128
    }

    /// Smallest number of equal-weight members of an `n`-member committee
    /// that reaches this threshold.
    pub fn quorum_size(&self, n: usize) -> usize {
        (n as u128 * self.numerator as u128 / self.denominator as u128) as usize + 1
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bls::SecretKey;

    pub(crate) fn keys(n: usize) -> Vec<SecretKey> {
        crate::test_support::seeded_keys(0, n)
    }

    pub(crate) fn committee(keys: &[SecretKey], weight: u64) -> Committee {
        Committee::new(
            keys.iter()
                .map(|k| Member {
                    key: k.public_key(),
                    weight,
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn construction_rejects_bad_member_lists() {
        let ks = keys(3);
        let m = |i: usize, w: u64| Member {
            key: ks[i].public_key(),
            weight: w,
        };
        assert_eq!(Committee::new(vec![]).unwrap_err(), CommitteeError::Empty);
        assert_eq!(
            Committee::new(vec![m(0, 1), m(1, 0)]).unwrap_err(),
            CommitteeError::ZeroWeight { index: 1 }
        );
        assert_eq!(
            Committee::new(vec![m(0, 1), m(1, 1), m(0, 2)]).unwrap_err(),
            CommitteeError::DuplicateKey { index: 2, first: 0 }
        );
        assert_eq!(
            Committee::new(vec![m(0, u64::MAX), m(1, 1)]).unwrap_err(),
            CommitteeError::WeightOverflow
        );
        assert_eq!(
            Committee::new(vec![m(0, 1); MAX_COMMITTEE_SIZE + 1]).unwrap_err(),
            CommitteeError::TooLarge {
                size: MAX_COMMITTEE_SIZE + 1,
                max: MAX_COMMITTEE_SIZE
            }
        );
        let c = Committee::new(vec![m(0, 1), m(1, 2), m(2, 3)]).unwrap();
        assert_eq!(c.total_weight(), 6);
        assert_eq!(c.index_of(&ks[2].public_key()), Some(2));
    }

    #[test]
    fn registrations_require_valid_proofs_of_possession() {
        let ks = keys(3);
        let mut regs: Vec<Registration> = ks
            .iter()
            .map(|k| Registration {
                member: Member {
                    key: k.public_key(),
                    weight: 1,
                },
                proof_of_possession: k.prove_possession(),
            })
            .collect();
        assert!(Committee::from_registrations(&regs).is_ok());
        regs[1].proof_of_possession = ks[0].prove_possession();
        assert_eq!(
            Committee::from_registrations(&regs).unwrap_err(),
            CommitteeError::BadProofOfPossession { index: 1 }
        );
    }

    #[test]
    fn committee_codec_validates() {
        let c = committee(&keys(4), 5);
        let bytes = c.encode();
        assert_eq!(Committee::decode(&mut &bytes[..]).unwrap(), c);
        let empty: Vec<Member> = vec![];
        assert!(Committee::decode(&mut &empty.encode()[..]).is_err());
    }

    #[test]
    fn threshold_is_strictly_above_the_fraction() {
        let t = QuorumThreshold::TWO_THIRDS;
        assert!(!t.is_reached(2, 3));
        assert!(t.is_reached(3, 4));
        assert!(!t.is_reached(6, 9));
        assert!(t.is_reached(7, 9));
        assert_eq!(t.quorum_size(4), 3);
        assert_eq!(t.quorum_size(3), 3);
        assert_eq!(t.quorum_size(100), 67);
        assert!(t.is_reached(u64::MAX, u64::MAX));
    }

    #[test]
    fn threshold_parsing() {
        assert_eq!(
            QuorumThreshold::parse("0.67").unwrap(),
            QuorumThreshold::new(67, 100).unwrap()
        );
        assert_eq!(
            QuorumThreshold::parse("2/3").unwrap(),
            QuorumThreshold::TWO_THIRDS
        );
        assert_eq!(
            QuorumThreshold::parse(".5").unwrap(),
            QuorumThreshold::new(5, 10).unwrap()
        );
        for bad in [
            "",
            ".",
            "abc",
            "1.0",
            "0.6.7",
            "-0.5",
            "1/0",
            "3/2",
            "0.1234567890123456789",
        ] {
            assert!(QuorumThreshold::parse(bad).is_err(), "{bad}");
        }
    }
}
