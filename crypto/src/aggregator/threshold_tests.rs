//! The aggregator on a threshold committee: votes are signature shares,
//! the certificate the group's one signature.

use std::sync::Arc;

use parity_scale_codec::Encode;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::committee::tests::{committee, keys};
use crate::threshold::{deal, SecretShare};
use crate::QcError;

const MSG: &[u8] = b"block-7";

/// A committee of `n` keyed by a dealt group of threshold `t`.
fn threshold_committee(n: usize, t: u32, seed: u64) -> (Arc<Committee>, Vec<SecretShare>) {
    let ks = keys(n);
    let (group, shares) = deal(&mut ChaCha20Rng::seed_from_u64(seed), t, n as u32).unwrap();
    let c = committee(&ks, 1).with_group(group).unwrap();
    (Arc::new(c), shares)
}

fn share_vote(shares: &[SecretShare], i: usize, msg: &[u8]) -> Signature {
    shares[i].sign(msg).signature
}

fn certify(
    c: &Arc<Committee>,
    shares: &[SecretShare],
    who: &[usize],
    policy: CheckPolicy,
) -> (VoteAggregator, VoteOutcome) {
    let mut agg = VoteAggregator::with_policy(c.clone(), QuorumThreshold::TWO_THIRDS, policy);
    let mut last = VoteOutcome::default();
    for &i in who {
        last = agg.add(i, MSG, share_vote(shares, i, MSG)).unwrap();
    }
    (agg, last)
}

#[test]
fn any_t_shares_certify_with_the_one_group_signature() {
    let (c, shares) = threshold_committee(4, 3, 1);
    let (_, a) = certify(&c, &shares, &[0, 1, 2], CheckPolicy::AtQuorum);
    let (_, b) = certify(&c, &shares, &[3, 1, 0], CheckPolicy::AtQuorum);
    let (a, b) = (a.certificate.unwrap(), b.certificate.unwrap());
    assert_eq!(a.signature, b.signature, "unique whichever t shares");
    assert_eq!(a.verify(&c, QuorumThreshold::TWO_THIRDS, MSG), Ok(()));
    let group = c.group().unwrap();
    assert_eq!(group.verify(MSG, &a.signature), Ok(()));
    // It is not an aggregate of the members' own keys.
    assert!(matches!(
        a.verify(&c.without_group(), QuorumThreshold::TWO_THIRDS, MSG),
        Err(QcError::BadSignature(_))
    ));
    assert!(matches!(
        a.verify(&c, QuorumThreshold::TWO_THIRDS, b"block-8"),
        Err(QcError::BadSignature(_))
    ));
    // Below t nothing forms.
    let (agg, two) = certify(&c, &shares, &[0, 1], CheckPolicy::AtQuorum);
    assert!(two.certificate.is_none() && agg.certificate().is_none());
}

#[test]
fn a_receipts_compact_certificate_is_the_same_size_for_any_committee() {
    let mut sizes = Vec::new();
    for (n, t) in [(4usize, 3u32), (16, 11), (64, 43)] {
        let (c, shares) = threshold_committee(n, t, n as u64);
        let who: Vec<usize> = (0..t as usize).collect();
        let (_, out) = certify(&c, &shares, &who, CheckPolicy::AtQuorum);
        let qc = out.certificate.unwrap();
        assert_eq!(
            qc.signers.count(),
            t as usize,
            "the block records the shares"
        );
        let compact = qc.compact(&c);
        // A verifier needs the group key alone.
        let verifier = Committee::new(c.members().to_vec())
            .unwrap()
            .with_group(GroupPublic::from_parts(
                t,
                *c.group().unwrap().group_key(),
                vec![],
            ))
            .unwrap();
        assert_eq!(
            compact.verify(&verifier, QuorumThreshold::TWO_THIRDS, MSG),
            Ok(())
        );
        sizes.push(compact.encode().len());
    }
    assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{sizes:?}");
}

#[test]
fn a_bad_share_is_located_only_when_the_combination_fails() {
    let (c, shares) = threshold_committee(4, 3, 2);
    let mut agg = VoteAggregator::new(c.clone(), QuorumThreshold::TWO_THIRDS);
    agg.add(0, MSG, share_vote(&shares, 0, b"forged")).unwrap();
    agg.add(1, MSG, share_vote(&shares, 1, MSG)).unwrap();
    let out = agg.add(2, MSG, share_vote(&shares, 2, MSG)).unwrap();
    assert!(out.certificate.is_none(), "two good shares are not t");
    assert_eq!(out.invalid, vec![0]);
    // Its sender's next share is refused; the fourth member's completes t.
    assert_eq!(
        agg.add(0, MSG, share_vote(&shares, 0, MSG)),
        Err(VoteError::Rejected { index: 0 })
    );
    let out = agg.add(3, MSG, share_vote(&shares, 3, MSG)).unwrap();
    let qc = out.certificate.unwrap();
    assert_eq!(qc.verify(&c, QuorumThreshold::TWO_THIRDS, MSG), Ok(()));
    assert_eq!(qc.signers.iter_ones().collect::<Vec<_>>(), vec![1, 2, 3]);
    // A share on another message than the others' is refused at once.
    let mut agg = VoteAggregator::new(c, QuorumThreshold::TWO_THIRDS);
    agg.add(0, MSG, share_vote(&shares, 0, MSG)).unwrap();
    assert_eq!(
        agg.add(1, b"other", share_vote(&shares, 1, b"other")),
        Err(VoteError::OtherMessage { index: 1 })
    );
}

#[test]
fn a_member_signing_with_its_own_key_instead_of_its_share_is_caught() {
    let ks = keys(7);
    let (group, shares) = deal(&mut ChaCha20Rng::seed_from_u64(3), 5, 7).unwrap();
    let c = Arc::new(committee(&ks, 1).with_group(group).unwrap());
    let mut agg = VoteAggregator::new(c.clone(), QuorumThreshold::TWO_THIRDS);
    let mut last = VoteOutcome::default();
    let mut reported = Vec::new();
    for (i, k) in ks.iter().enumerate() {
        let sig = if i == 3 {
            k.sign(MSG)
        } else {
            share_vote(&shares, i, MSG)
        };
        last = agg.add(i, MSG, sig).unwrap();
        reported.extend(last.invalid.iter().copied());
        if last.certificate.is_some() {
            break;
        }
    }
    assert_eq!(
        reported,
        vec![3],
        "found when the first five failed to combine"
    );
    let qc = last.certificate.expect("five good shares of seven");
    assert!(!qc.signers.get(3));
    assert_eq!(qc.verify(&c, QuorumThreshold::TWO_THIRDS, MSG), Ok(()));
}

#[test]
fn late_shares_join_the_record_and_leave_the_signature_as_it_was() {
    let ks = keys(7);
    let (group, shares) = deal(&mut ChaCha20Rng::seed_from_u64(4), 5, 7).unwrap();
    let c = Arc::new(committee(&ks, 1).with_group(group).unwrap());
    let (mut agg, out) = certify(&c, &shares, &[0, 1, 2, 3, 4], CheckPolicy::AtQuorum);
    let first = out.certificate.unwrap();
    agg.add(5, MSG, share_vote(&shares, 5, MSG)).unwrap();
    agg.add(6, MSG, share_vote(&shares, 6, b"forged")).unwrap();
    let out = agg.extend();
    assert_eq!(out.invalid, vec![6]);
    let extended = out.certificate.unwrap();
    assert_eq!(extended.signature, first.signature);
    assert_eq!(extended.signers.count(), 6);
    assert_eq!(
        extended.verify(&c, QuorumThreshold::TWO_THIRDS, MSG),
        Ok(())
    );
}

#[test]
fn a_deferred_threshold_certificate_is_repaired_by_its_check() {
    let (c, shares) = threshold_committee(4, 3, 5);
    let mut agg = VoteAggregator::with_policy(
        c.clone(),
        QuorumThreshold::TWO_THIRDS,
        CheckPolicy::Deferred,
    );
    agg.add(0, MSG, share_vote(&shares, 0, MSG)).unwrap();
    agg.add(1, MSG, share_vote(&shares, 1, b"forged")).unwrap();
    let out = agg.add(2, MSG, share_vote(&shares, 2, MSG)).unwrap();
    assert!(
        out.certificate.is_some() && !agg.is_checked(),
        "formed unchecked"
    );
    agg.add(3, MSG, share_vote(&shares, 3, MSG)).unwrap();
    let out = agg.check();
    assert_eq!(out.invalid, vec![1]);
    let qc = out.certificate.unwrap();
    assert!(agg.is_checked());
    assert_eq!(qc.verify(&c, QuorumThreshold::TWO_THIRDS, MSG), Ok(()));
}

#[test]
fn a_threshold_certificate_records_at_least_t_shares_or_none() {
    let (c, shares) = threshold_committee(4, 3, 6);
    let (_, out) = certify(&c, &shares, &[0, 1, 2], CheckPolicy::AtQuorum);
    let qc = out.certificate.unwrap();
    let short = QuorumCert {
        signers: SignerBitmap::from_indices(4, [0, 1]),
        ..qc.clone()
    };
    assert_eq!(
        short.verify(&c, QuorumThreshold::TWO_THIRDS, MSG),
        Err(QcError::TooFewShares { got: 2, needed: 3 })
    );
    let odd = QuorumCert {
        signers: SignerBitmap::from_indices(5, [0, 1, 2]),
        ..qc
    };
    assert_eq!(
        odd.verify(&c, QuorumThreshold::TWO_THIRDS, MSG),
        Err(QcError::BitmapLength {
            expected: 4,
            got: 5
        })
    );
    // A group that does not fit the committee is refused.
    let (group, _) = deal(&mut ChaCha20Rng::seed_from_u64(7), 3, 5).unwrap();
    assert!(matches!(
        committee(&keys(4), 1).with_group(group),
        Err(crate::committee::CommitteeError::GroupMismatch { .. })
    ));
}
