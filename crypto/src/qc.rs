//! Quorum certificates: one aggregate BLS signature plus a signer bitmap over
//! an ordered committee (docs/design.md §3).
//!
//! The certificate is agnostic of what was signed; the chain layer decides
//! the message (chain, epoch, view, phase, block hash). The bitmap gives
//! attribution for rewards, credit and blame.

use parity_scale_codec::{Decode, Encode};

use std::collections::BTreeMap;

pub use crate::bitmap::SignerBitmap;
use crate::bls::{AggregatePublicKey, BlsError, PublicKey, Signature, SignatureCheck};
use crate::committee::{Committee, QuorumThreshold};

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QcError {
    #[error("signer bitmap covers {got} members, the committee has {expected}")]
    BitmapLength { expected: usize, got: usize },
    #[error("certificate has no signers")]
    NoSigners,
    #[error("signers hold weight {signed} of {total}, not above the threshold")]
    InsufficientWeight { signed: u64, total: u64 },
    #[error("aggregate signature does not verify: {0}")]
    BadSignature(BlsError),
    #[error("{got} shares recorded, the group's threshold is {needed}")]
    TooFewShares { got: usize, needed: u32 },
}

/// An aggregate signature of a quorum of a committee over one message.
///
/// On a threshold committee `signature` is the group's signature (the
/// combination of t shares, the same whichever t) and `signers` records
/// whose shares the collector received, for rewards: full length in a
/// block, empty in the compact form a receipt carries (constant size).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QuorumCert {
    pub signers: SignerBitmap,
    pub signature: Signature,
}

impl QuorumCert {
    /// Checks the bitmap against the committee, the weight against the
    /// threshold, then the aggregate with a single pairing check.
    pub fn verify(
        &self,
        committee: &Committee,
        threshold: QuorumThreshold,
        message: &[u8],
    ) -> Result<(), QcError> {
        self.signature_check(committee, threshold, message.to_vec())?
            .verify()
            .map_err(QcError::BadSignature)
    }

    /// The structural checks of `verify`; what is left is the pairing
    /// check returned, to run alone or in a batch (`bls::verify_batch`).
    pub fn signature_check(
        &self,
        committee: &Committee,
        threshold: QuorumThreshold,
        message: Vec<u8>,
    ) -> Result<SignatureCheck, QcError> {
        if let Some(group) = committee.group() {
            self.check_shares(committee, group.threshold())?;
            return Ok(SignatureCheck::single(
                message,
                group.group_key(),
                &self.signature,
            ));
        }
        self.check_signers(committee, threshold)?;
        let key = committee
            .aggregate_key(&self.signers)
            .ok_or(QcError::NoSigners)?;
        Ok(SignatureCheck::aggregate(message, &key, &self.signature))
    }

    /// The form a receipt carries: on a threshold committee the group
    /// signature alone (the record of who sent shares stays in the block).
    pub fn compact(&self, committee: &Committee) -> QuorumCert {
        match committee.group() {
            Some(_) => QuorumCert {
                signers: SignerBitmap::new(0),
                signature: self.signature,
            },
            None => self.clone(),
        }
    }

    /// A threshold certificate's record of shares: empty (compact) or one
    /// bit per member with at least t set.
    fn check_shares(&self, committee: &Committee, t: u32) -> Result<(), QcError> {
        match self.signers.len() {
            0 => Ok(()),
            n if n == committee.len() => match self.signers.count() {
                got if got < t as usize => Err(QcError::TooFewShares { got, needed: t }),
                _ => Ok(()),
            },
            got => Err(QcError::BitmapLength {
                expected: committee.len(),
                got,
            }),
        }
    }

    /// Verifies a certificate whose signers may have signed different
    /// messages (a timeout certificate: each signer signs its own highest
    /// certified round). `message_of(i)` is the message of signer `i`.
    /// Signers are grouped by message, so the cost is one pairing per
    /// distinct message.
    pub fn verify_per_signer(
        &self,
        committee: &Committee,
        threshold: QuorumThreshold,
        message_of: impl Fn(usize) -> Vec<u8>,
    ) -> Result<(), QcError> {
        self.check_signers(committee, threshold)?;
        let mut groups: BTreeMap<Vec<u8>, Vec<PublicKey>> = BTreeMap::new();
        for i in self.signers.iter_ones() {
            groups
                .entry(message_of(i))
                .or_default()
                .push(committee.members()[i].key);
        }
        let parts: Vec<(&[u8], AggregatePublicKey)> = groups
            .iter()
            .map(|(m, keys)| {
                let key = PublicKey::aggregate(keys).expect("groups are non-empty");
                (m.as_slice(), key)
            })
            .collect();
        self.signature
            .verify_aggregate_multi(&parts)
            .map_err(QcError::BadSignature)
    }

    fn check_signers(
        &self,
        committee: &Committee,
        threshold: QuorumThreshold,
    ) -> Result<(), QcError> {
        if self.signers.len() != committee.len() {
            return Err(QcError::BitmapLength {
                expected: committee.len(),
                got: self.signers.len(),
            });
        }
        if self.signers.is_empty() {
            return Err(QcError::NoSigners);
        }
        let signed = committee.weight_of(&self.signers);
        if !threshold.is_reached(signed, committee.total_weight()) {
            return Err(QcError::InsufficientWeight {
                signed,
                total: committee.total_weight(),
            });
        }
        Ok(())
    }

    /// Weight of the signers.
    pub fn signed_weight(&self, committee: &Committee) -> u64 {
        committee.weight_of(&self.signers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::committee::tests::{committee, keys};
    use crate::committee::MAX_COMMITTEE_SIZE;
    use parity_scale_codec::Compact;

    fn qc_over(ks: &[crate::bls::SecretKey], signers: &[usize], msg: &[u8]) -> QuorumCert {
        let sigs: Vec<Signature> = signers.iter().map(|&i| ks[i].sign(msg)).collect();
        QuorumCert {
            signers: SignerBitmap::from_indices(ks.len(), signers.iter().copied()),
            signature: Signature::aggregate(&sigs).unwrap(),
        }
    }

    #[test]
    fn bitmap_basics_and_canonical_encoding() {
        let b = SignerBitmap::from_indices(10, [0, 3, 9]);
        assert_eq!(b.count(), 3);
        assert_eq!(b.iter_ones().collect::<Vec<_>>(), vec![0, 3, 9]);
        assert_eq!(b.iter_zeros().count(), 7);
        assert!(!b.get(10));
        let bytes = b.encode();
        assert_eq!(SignerBitmap::decode(&mut &bytes[..]).unwrap(), b);

        // Setting a padding bit makes a second encoding of the same set.
        let mut padded = bytes.clone();
        *padded.last_mut().unwrap() |= 0x80;
        assert!(SignerBitmap::decode(&mut &padded[..]).is_err());
        // Oversized bitmap.
        let huge = Compact((MAX_COMMITTEE_SIZE + 1) as u32).encode();
        assert!(SignerBitmap::decode(&mut &huge[..]).is_err());
        // Truncated.
        assert!(SignerBitmap::decode(&mut &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn quorum_certificate_verifies() {
        let ks = keys(7);
        let c = committee(&ks, 1);
        let qc = qc_over(&ks, &[0, 1, 2, 4, 6], b"block");
        assert_eq!(qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"block"), Ok(()));
        assert_eq!(qc.signed_weight(&c), 5);
        assert_eq!(
            qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"other"),
            Err(QcError::BadSignature(BlsError::InvalidSignature))
        );
        let qc = QuorumCert::decode(&mut &qc.encode()[..]).unwrap();
        assert_eq!(qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"block"), Ok(()));
    }

    #[test]
    fn small_and_large_signer_sets_take_both_aggregation_paths() {
        let ks = keys(9);
        let c = committee(&ks, 1);
        let low = QuorumThreshold::new(1, 3).unwrap();
        for signers in [
            vec![0, 2, 5, 8],
            vec![0, 1, 2, 3, 4, 5, 6, 7, 8],
            vec![1, 2, 3, 4, 5, 7, 8],
        ] {
            let qc = qc_over(&ks, &signers, b"m");
            assert_eq!(qc.verify(&c, low, b"m"), Ok(()), "{signers:?}");
        }
    }

    #[test]
    fn refuses_wrong_length_empty_and_light_certificates() {
        let ks = keys(4);
        let c = committee(&ks, 1);
        let t = QuorumThreshold::TWO_THIRDS;
        let mut qc = qc_over(&ks, &[0, 1, 2], b"m");
        qc.signers = SignerBitmap::from_indices(5, [0, 1, 2]);
        assert_eq!(
            qc.verify(&c, t, b"m"),
            Err(QcError::BitmapLength {
                expected: 4,
                got: 5
            })
        );
        let mut qc = qc_over(&ks, &[0, 1, 2], b"m");
        qc.signers = SignerBitmap::new(4);
        assert_eq!(qc.verify(&c, t, b"m"), Err(QcError::NoSigners));
        let qc = qc_over(&ks, &[0, 1], b"m");
        assert_eq!(
            qc.verify(&c, t, b"m"),
            Err(QcError::InsufficientWeight {
                signed: 2,
                total: 4
            })
        );
    }

    #[test]
    fn weights_count_not_heads() {
        let ks = keys(4);
        let c = Committee::new(
            ks.iter()
                .zip([10u64, 1, 1, 1])
                .map(|(k, weight)| crate::committee::Member {
                    key: k.public_key(),
                    weight,
                })
                .collect(),
        )
        .unwrap();
        // One heavy member alone is 10/13 > 2/3.
        let qc = qc_over(&ks, &[0], b"m");
        assert_eq!(qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"m"), Ok(()));
        // Three light members are 3/13.
        let qc = qc_over(&ks, &[1, 2, 3], b"m");
        assert!(matches!(
            qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"m"),
            Err(QcError::InsufficientWeight {
                signed: 3,
                total: 13
            })
        ));
    }

    #[test]
    fn per_signer_messages_verify_in_groups() {
        let ks = keys(5);
        let c = committee(&ks, 1);
        let msg = |i: usize| format!("timeout-7-high-{}", i % 2).into_bytes();
        let sigs: Vec<Signature> = (0..4).map(|i| ks[i].sign(&msg(i))).collect();
        let qc = QuorumCert {
            signers: SignerBitmap::from_indices(5, 0..4),
            signature: Signature::aggregate(&sigs).unwrap(),
        };
        let t = QuorumThreshold::TWO_THIRDS;
        assert_eq!(qc.verify_per_signer(&c, t, msg), Ok(()));
        // A signer claimed to have signed another message than it did.
        assert_eq!(
            qc.verify_per_signer(&c, t, |i| if i == 3 { msg(0) } else { msg(i) }),
            Err(QcError::BadSignature(BlsError::InvalidSignature))
        );
        // One message for all reduces to the plain check.
        let same: Vec<Signature> = (0..4).map(|i| ks[i].sign(b"m")).collect();
        let qc = QuorumCert {
            signers: SignerBitmap::from_indices(5, 0..4),
            signature: Signature::aggregate(&same).unwrap(),
        };
        assert_eq!(qc.verify_per_signer(&c, t, |_| b"m".to_vec()), Ok(()));
    }

    #[test]
    fn claiming_a_signer_who_did_not_sign_fails() {
        let ks = keys(4);
        let c = committee(&ks, 1);
        let mut qc = qc_over(&ks, &[0, 1, 2], b"m");
        qc.signers.set(3);
        assert_eq!(
            qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"m"),
            Err(QcError::BadSignature(BlsError::InvalidSignature))
        );
    }
}
