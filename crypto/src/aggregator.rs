//! The leader's vote aggregator (docs/design.md §3; the "collect votes" half of
//! LCBFT's basic phase, Alg. 4): add votes as they arrive, verify once when
//! they reach a quorum, and only if that single check fails find the bad
//! votes by bisection.
//!
//! With b bad votes among k, bisection costs about 2·b·log2(k) aggregate
//! checks instead of k individual ones, and nothing at all when every vote is
//! good, which is the common case.
//!
//! On a threshold committee (`Committee::group`) the votes are signature
//! shares: at t of them the collector combines t into the group signature
//! and checks that one signature against the group key; only if it fails
//! are the bad shares located (bisection over share-key aggregates, then
//! one by one if errors cancel in a sum). Shares beyond t only record who
//! took part, checked with one aggregate.
//!
//! A collector whose transport authenticates every vote's sender may defer
//! even that one check ([`CheckPolicy::Deferred`]): the certificate forms
//! unchecked and [`VoteAggregator::check`] verifies it when it must be shown
//! to be valid.

use std::sync::Arc;

use crate::bls::{AggregatePublicKey, PublicKey, Signature};
use crate::committee::{Committee, QuorumThreshold};
use crate::qc::{QuorumCert, SignerBitmap};
use crate::threshold::{GroupPublic, SignatureShare};

/// Why a vote was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    #[error("signer index {index} is outside the committee")]
    NotMember { index: usize },
    #[error("signing key is not in the committee")]
    UnknownKey,
    #[error("member {index} already voted")]
    Duplicate { index: usize },
    #[error("member {index} already sent an invalid vote")]
    Rejected { index: usize },
    #[error("member {index}'s share signs another message than the others")]
    OtherMessage { index: usize },
}

/// What adding a vote achieved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VoteOutcome {
    /// The certificate, the one time it forms.
    pub certificate: Option<QuorumCert>,
    /// Members whose votes failed verification and were dropped (for blame).
    pub invalid: Vec<usize>,
}

/// When the aggregate signature is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckPolicy {
    /// Once, when the votes first weigh a quorum (and when late votes are
    /// folded in).
    #[default]
    AtQuorum,
    /// Only on [`VoteAggregator::check`]. For a collector whose transport
    /// binds each vote to its signer: a quorum of votes from distinct
    /// members then already justifies the collector's own decisions (at
    /// most f of them are Byzantine, so more than f honest members voted),
    /// and the pairing is needed only before the certificate is shown to
    /// others who must be convinced by the signatures alone.
    Deferred,
}

/// Collects votes from one committee into one certificate.
///
/// Usually every vote signs the same message (a block vote). Votes may also
/// sign different messages (timeouts, which each carry the signer's highest
/// certified round); the check then groups signers by message, one pairing
/// per distinct message.
#[derive(Debug, Clone)]
pub struct VoteAggregator {
    committee: Arc<Committee>,
    threshold: QuorumThreshold,
    /// Distinct messages seen; votes refer to them by position.
    messages: Vec<Vec<u8>>,
    votes: Vec<Option<(usize, Signature)>>,
    rejected: Vec<bool>,
    weight: u64,
    /// Votes held (a threshold committee's quorum counts them).
    count: usize,
    certificate: Option<QuorumCert>,
    /// Votes that arrived after the certificate formed, not yet checked.
    late: Vec<usize>,
    policy: CheckPolicy,
    /// Whether the current certificate's signature has been verified.
    checked: bool,
}

impl VoteAggregator {
    pub fn new(committee: Arc<Committee>, threshold: QuorumThreshold) -> VoteAggregator {
        VoteAggregator::with_policy(committee, threshold, CheckPolicy::AtQuorum)
    }

    pub fn with_policy(
        committee: Arc<Committee>,
        threshold: QuorumThreshold,
        policy: CheckPolicy,
    ) -> VoteAggregator {
        let n = committee.len();
        VoteAggregator {
            committee,
            threshold,
            messages: Vec::new(),
            votes: vec![None; n],
            rejected: vec![false; n],
            weight: 0,
            count: 0,
            certificate: None,
            late: Vec::new(),
            policy,
            checked: false,
        }
    }

    /// Weight of the votes held (not yet verified unless certified).
    pub fn weight(&self) -> u64 {
        self.weight
    }

    pub fn certificate(&self) -> Option<&QuorumCert> {
        self.certificate.as_ref()
    }

    /// Whether the current certificate's signature is known to verify
    /// (always, once formed, under [`CheckPolicy::AtQuorum`]).
    pub fn is_checked(&self) -> bool {
        self.certificate.is_some() && self.checked
    }

    /// The message member `index` signed, if its vote is held.
    pub fn message_of(&self, index: usize) -> Option<&[u8]> {
        self.votes
            .get(index)
            .and_then(|v| v.as_ref())
            .map(|(m, _)| self.messages[*m].as_slice())
    }

    /// Adds the vote of the member with `key`.
    pub fn add_by_key(
        &mut self,
        key: &PublicKey,
        message: &[u8],
        signature: Signature,
    ) -> Result<VoteOutcome, VoteError> {
        let index = self.committee.index_of(key).ok_or(VoteError::UnknownKey)?;
        self.add(index, message, signature)
    }

    /// Adds the vote of committee member `index` on `message`. Signatures
    /// are not checked one by one; the set is checked once it weighs a
    /// quorum. Votes after the certificate formed are held for
    /// [`VoteAggregator::extend`].
    pub fn add(
        &mut self,
        index: usize,
        message: &[u8],
        signature: Signature,
    ) -> Result<VoteOutcome, VoteError> {
        let member = *self
            .committee
            .member(index)
            .ok_or(VoteError::NotMember { index })?;
        if self.rejected[index] {
            return Err(VoteError::Rejected { index });
        }
        if self.votes[index].is_some() {
            return Err(VoteError::Duplicate { index });
        }
        let m = match self.messages.iter().position(|m| m == message) {
            Some(m) => m,
            // Shares combine only over one message.
            None if self.committee.group().is_some() && !self.messages.is_empty() => {
                return Err(VoteError::OtherMessage { index });
            }
            None => {
                self.messages.push(message.to_vec());
                self.messages.len() - 1
            }
        };
        self.votes[index] = Some((m, signature));
        self.weight += member.weight;
        self.count += 1;
        if self.certificate.is_some() {
            self.late.push(index);
            return Ok(VoteOutcome::default());
        }
        if !self.is_quorum() {
            return Ok(VoteOutcome::default());
        }
        Ok(self.certify())
    }

    fn is_quorum(&self) -> bool {
        self.committee
            .is_quorum(self.count, self.weight, self.threshold)
    }

    /// Drops votes found bad; their senders' later votes are refused.
    fn reject(&mut self, invalid: &[usize]) {
        for &i in invalid {
            if self.votes[i].take().is_some() {
                self.weight -= self.committee.members()[i].weight;
                self.count -= 1;
            }
            self.rejected[i] = true;
        }
    }

    /// Members whose votes arrived after the certificate formed and are not
    /// folded into it yet (unverified).
    pub fn late_voters(&self) -> &[usize] {
        &self.late
    }

    /// The certificate with the late votes folded in: one aggregate check
    /// of the whole (the certified part is known good); if it fails, only
    /// the late votes are bisected and the bad ones dropped and reported.
    /// Collectors call this just before using the certificate, so it names
    /// every voter heard from by then (for rewards, blame and leader
    /// rotation among active members).
    pub fn extend(&mut self) -> VoteOutcome {
        let Some(current) = self.certificate.clone() else {
            return VoteOutcome::default();
        };
        if self.late.is_empty() {
            return VoteOutcome {
                certificate: Some(current),
                invalid: Vec::new(),
            };
        }
        let late = std::mem::take(&mut self.late);
        let mut invalid = Vec::new();
        if self.committee.group().is_some() {
            // The group signature stays; the late shares only join the
            // record of who took part, checked with one aggregate.
            if self.policy == CheckPolicy::Deferred {
                self.checked = false;
            } else if !self.subset_verifies(&late) {
                self.bisect(&late, &mut invalid);
                self.reject(&invalid);
            }
            let held = self.held();
            let qc = QuorumCert {
                signers: SignerBitmap::from_indices(self.votes.len(), held),
                signature: current.signature,
            };
            self.certificate = Some(qc.clone());
            return VoteOutcome {
                certificate: Some(qc),
                invalid,
            };
        }
        let held = self.held();
        let signature = self.aggregate_signature(&held);
        if self.policy == CheckPolicy::Deferred {
            self.checked = false;
        } else if !self.verifies(&held, &signature) {
            if self.subset_verifies(&late) {
                // The late votes verify alone but not with the rest (their
                // points cancel something in the sum): drop them all.
                invalid = late.clone();
            } else {
                self.bisect(&late, &mut invalid);
            }
            self.reject(&invalid);
        }
        let held = self.held();
        let qc = QuorumCert {
            signers: SignerBitmap::from_indices(self.votes.len(), held.iter().copied()),
            signature: self.aggregate_signature(&held),
        };
        self.certificate = Some(qc.clone());
        VoteOutcome {
            certificate: Some(qc),
            invalid,
        }
    }

    fn held(&self) -> Vec<usize> {
        (0..self.votes.len())
            .filter(|&i| self.votes[i].is_some())
            .collect()
    }

    fn certify(&mut self) -> VoteOutcome {
        if let Some(group) = self.committee.group().cloned() {
            return self.certify_threshold(&group);
        }
        let held = self.held();
        let signature = self.aggregate_signature(&held);
        if self.policy == CheckPolicy::Deferred {
            self.checked = false;
            let signers = SignerBitmap::from_indices(self.votes.len(), held);
            return self.finish(signers, signature, Vec::new());
        }
        if self.verifies(&held, &signature) {
            self.checked = true;
            let signers = SignerBitmap::from_indices(self.votes.len(), held);
            return self.finish(signers, signature, Vec::new());
        }

        let mut invalid = Vec::new();
        self.bisect(&held, &mut invalid);
        self.reject(&invalid);
        if !self.is_quorum() {
            return VoteOutcome {
                certificate: None,
                invalid,
            };
        }
        // Every remaining vote lies in a subset that verified, so their sum
        // verifies too: no further check needed.
        self.checked = true;
        let held = self.held();
        let signature = self.aggregate_signature(&held);
        let signers = SignerBitmap::from_indices(self.votes.len(), held);
        self.finish(signers, signature, invalid)
    }

    /// A threshold committee's certificate: the first t shares held
    /// combined into the group signature, checked once against the group
    /// key; on failure the bad shares are found and dropped and the next t
    /// combined. Shares beyond t are checked with one aggregate.
    fn certify_threshold(&mut self, group: &GroupPublic) -> VoteOutcome {
        let t = group.threshold() as usize;
        let mut invalid = Vec::new();
        loop {
            let held = self.held();
            let Some(signature) = self.combined(group, &held) else {
                return VoteOutcome {
                    certificate: None,
                    invalid,
                };
            };
            if self.policy == CheckPolicy::Deferred {
                self.checked = false;
                let signers = SignerBitmap::from_indices(self.votes.len(), held);
                return self.finish(signers, signature, invalid);
            }
            let (first, rest) = held.split_at(t.min(held.len()));
            let message = self.messages.first().map_or(&[][..], |m| m.as_slice());
            if group.verify(message, &signature).is_ok() {
                let mut bad = Vec::new();
                if !rest.is_empty() && !self.subset_verifies(rest) {
                    self.bisect(rest, &mut bad);
                }
                self.reject(&bad);
                invalid.extend(bad);
                self.checked = true;
                let signers = SignerBitmap::from_indices(self.votes.len(), self.held());
                return self.finish(signers, signature, invalid);
            }
            let mut bad = Vec::new();
            if self.subset_verifies(first) {
                // The sum verifies and the combination does not: errors
                // that cancel in a sum (colluding shares), found one by one.
                bad.extend(
                    first
                        .iter()
                        .copied()
                        .filter(|&i| !self.subset_verifies(&[i])),
                );
            } else {
                self.bisect(first, &mut bad);
            }
            if bad.is_empty() {
                // Valid shares combine into the group signature: the group
                // itself is inconsistent. Nothing certifies.
                return VoteOutcome {
                    certificate: None,
                    invalid,
                };
            }
            self.reject(&bad);
            invalid.extend(bad);
        }
    }

    /// The group signature the first t of `held` combine into (unchecked);
    /// `None` below t.
    fn combined(&self, group: &GroupPublic, held: &[usize]) -> Option<Signature> {
        let shares: Vec<SignatureShare> = held
            .iter()
            .take(group.threshold() as usize)
            .filter_map(|&i| {
                let (_, signature) = self.votes.get(i)?.as_ref()?;
                Some(SignatureShare {
                    index: u32::try_from(i).ok()?.checked_add(1)?,
                    signature: *signature,
                })
            })
            .collect();
        group.combine(&shares).ok()
    }

    /// Verifies a certificate formed (or extended) unchecked, folding in
    /// the late votes. If the aggregate fails, the bad votes are found by
    /// bisection, dropped and reported, and the certificate re-formed from
    /// the rest when they still weigh a quorum; otherwise it is withdrawn
    /// (`certificate: None`) until more votes arrive. A checked
    /// certificate is returned as it is.
    pub fn check(&mut self) -> VoteOutcome {
        let Some(current) = self.certificate.clone() else {
            return VoteOutcome::default();
        };
        if self.checked {
            return VoteOutcome {
                certificate: Some(current),
                invalid: Vec::new(),
            };
        }
        self.late.clear();
        self.certificate = None;
        let policy = std::mem::replace(&mut self.policy, CheckPolicy::AtQuorum);
        let out = self.certify();
        self.policy = policy;
        out
    }

    fn finish(
        &mut self,
        signers: SignerBitmap,
        signature: Signature,
        invalid: Vec<usize>,
    ) -> VoteOutcome {
        let qc = QuorumCert { signers, signature };
        self.certificate = Some(qc.clone());
        VoteOutcome {
            certificate: Some(qc),
            invalid,
        }
    }

    fn aggregate_signature(&self, indices: &[usize]) -> Signature {
        Signature::aggregate(
            indices
                .iter()
                .filter_map(|&i| self.votes[i].as_ref().map(|(_, s)| s)),
        )
        .expect("aggregated sets are non-empty")
    }

    /// One aggregate check of the votes at `indices` against `signature`.
    fn verifies(&self, indices: &[usize], signature: &Signature) -> bool {
        let mut groups: Vec<Vec<PublicKey>> = vec![Vec::new(); self.messages.len()];
        for &i in indices {
            if let (Some((m, _)), Some(key)) = (&self.votes[i], self.committee.vote_key(i)) {
                groups[*m].push(key);
            }
        }
        let parts: Vec<(&[u8], AggregatePublicKey)> = groups
            .iter()
            .zip(&self.messages)
            .filter(|(keys, _)| !keys.is_empty())
            .map(|(keys, m)| {
                let key = PublicKey::aggregate(keys).expect("non-empty group");
                (m.as_slice(), key)
            })
            .collect();
        signature.verify_aggregate_multi(&parts).is_ok()
    }

    fn subset_verifies(&self, indices: &[usize]) -> bool {
        self.verifies(indices, &self.aggregate_signature(indices))
    }

    /// Finds the bad votes in `set`, whose aggregate is known not to verify.
    fn bisect(&self, set: &[usize], invalid: &mut Vec<usize>) {
        if let [only] = set {
            invalid.push(*only);
            return;
        }
        let (left, right) = set.split_at(set.len() / 2);
        if self.subset_verifies(left) {
            // The whole fails and the left half is good: the right half fails.
            self.bisect(right, invalid);
        } else {
            self.bisect(left, invalid);
            if !self.subset_verifies(right) {
                self.bisect(right, invalid);
            }
        }
    }
}

#[cfg(test)]
mod threshold_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::committee::tests::{committee, keys};
    use crate::QcError;

    fn aggregator(n: usize) -> (Vec<crate::SecretKey>, VoteAggregator) {
        let ks = keys(n);
        let c = Arc::new(committee(&ks, 1));
        let agg = VoteAggregator::new(c, QuorumThreshold::TWO_THIRDS);
        (ks, agg)
    }

    #[test]
    fn forms_a_certificate_at_the_quorum_and_only_once() {
        let (ks, mut agg) = aggregator(4);
        for (i, k) in ks.iter().enumerate().take(2) {
            let out = agg.add(i, b"block-7", k.sign(b"block-7")).unwrap();
            assert_eq!(out, VoteOutcome::default());
        }
        let out = agg.add(2, b"block-7", ks[2].sign(b"block-7")).unwrap();
        let qc = out.certificate.expect("3 of 4 is a quorum");
        assert!(out.invalid.is_empty());
        let c = committee(&ks, 1);
        assert_eq!(
            qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"block-7"),
            Ok(())
        );
        assert_eq!(qc.signers.iter_ones().collect::<Vec<_>>(), vec![0, 1, 2]);
        // A late vote does not form a second certificate…
        let late = agg.add(3, b"block-7", ks[3].sign(b"block-7")).unwrap();
        assert_eq!(late, VoteOutcome::default());
        // …but extends the first.
        let extended = agg.extend().certificate.unwrap();
        assert_eq!(extended.signers.count(), 4);
        assert_eq!(
            extended.verify(&c, QuorumThreshold::TWO_THIRDS, b"block-7"),
            Ok(())
        );
    }

    #[test]
    fn bad_late_votes_are_dropped_from_the_extension() {
        let (ks, mut agg) = aggregator(7);
        for (i, k) in ks.iter().enumerate().take(5) {
            agg.add(i, b"block-7", k.sign(b"block-7")).unwrap();
        }
        assert!(agg.certificate().is_some());
        agg.add(5, b"block-7", ks[5].sign(b"forged")).unwrap();
        agg.add(6, b"block-7", ks[6].sign(b"block-7")).unwrap();
        let out = agg.extend();
        assert_eq!(out.invalid, vec![5]);
        let qc = out.certificate.unwrap();
        assert_eq!(
            qc.signers.iter_ones().collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4, 6]
        );
        let c = committee(&ks, 1);
        assert_eq!(
            qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"block-7"),
            Ok(())
        );
        // Nothing new: the same certificate.
        assert_eq!(agg.extend().certificate.unwrap(), qc);
    }

    #[test]
    fn rejects_duplicates_and_non_members() {
        let (ks, mut agg) = aggregator(4);
        agg.add(0, b"block-7", ks[0].sign(b"block-7")).unwrap();
        assert_eq!(
            agg.add(0, b"block-7", ks[0].sign(b"block-7")),
            Err(VoteError::Duplicate { index: 0 })
        );
        assert_eq!(
            agg.add(4, b"block-7", ks[0].sign(b"block-7")),
            Err(VoteError::NotMember { index: 4 })
        );
        let outsider = keys(5).pop().unwrap();
        assert_eq!(
            agg.add_by_key(
                &outsider.public_key(),
                b"block-7",
                outsider.sign(b"block-7")
            ),
            Err(VoteError::UnknownKey)
        );
        assert!(agg
            .add_by_key(&ks[1].public_key(), b"block-7", ks[1].sign(b"block-7"))
            .is_ok());
        assert_eq!(agg.weight(), 2);
    }

    #[test]
    fn finds_and_drops_bad_votes_then_certifies() {
        let n = 10;
        let (ks, mut agg) = aggregator(n);
        let bad = [2usize, 7];
        let mut last = VoteOutcome::default();
        for (i, k) in ks.iter().enumerate() {
            let msg: &[u8] = if bad.contains(&i) {
                b"other"
            } else {
                b"block-7"
            };
            match agg.add(i, b"block-7", k.sign(msg)) {
                Ok(out) => last = out,
                Err(e) => panic!("{e}"),
            }
            if last.certificate.is_some() {
                break;
            }
        }
        // 7 votes reach 2/3 of 10; with 2 bad ones dropped, 9 good votes do.
        let qc = last.certificate.expect("eventually certified");
        let c = committee(&ks, 1);
        assert_eq!(
            qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"block-7"),
            Ok(())
        );
        assert!(bad.iter().all(|&b| !qc.signers.get(b)));
    }

    #[test]
    fn reports_bad_signers_when_the_quorum_falls_apart() {
        let (ks, mut agg) = aggregator(4);
        agg.add(0, b"block-7", ks[0].sign(b"block-7")).unwrap();
        agg.add(1, b"block-7", ks[1].sign(b"wrong")).unwrap();
        let out = agg.add(2, b"block-7", ks[2].sign(b"block-7")).unwrap();
        assert_eq!(out.certificate, None);
        assert_eq!(out.invalid, vec![1]);
        assert_eq!(agg.weight(), 2);
        assert_eq!(
            agg.add(1, b"block-7", ks[1].sign(b"block-7")),
            Err(VoteError::Rejected { index: 1 })
        );
        let out = agg.add(3, b"block-7", ks[3].sign(b"block-7")).unwrap();
        assert!(out.certificate.is_some());
    }

    #[test]
    fn a_signature_outside_the_subgroup_is_found() {
        let (ks, mut agg) = aggregator(4);
        let not_in_g2 = hex::decode("8123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
        let junk = Signature::from_bytes(&not_in_g2).unwrap();
        agg.add(0, b"block-7", ks[0].sign(b"block-7")).unwrap();
        agg.add(3, b"block-7", junk).unwrap();
        let out = agg.add(1, b"block-7", ks[1].sign(b"block-7")).unwrap();
        assert_eq!(out.invalid, vec![3]);
        let out = agg.add(2, b"block-7", ks[2].sign(b"block-7")).unwrap();
        let qc = out.certificate.unwrap();
        assert_eq!(
            qc.verify(&committee(&ks, 1), QuorumThreshold::TWO_THIRDS, b"block-7")
                .map_err(|e| matches!(e, QcError::BadSignature(_))),
            Ok(())
        );
    }

    #[test]
    fn votes_on_different_messages_certify_together() {
        // Timeouts: each signer signs its own highest certified round.
        let (ks, mut agg) = aggregator(4);
        let msg = |i: usize| format!("timeout-9-high-{}", 5 + i % 2).into_bytes();
        agg.add(0, &msg(0), ks[0].sign(&msg(0))).unwrap();
        agg.add(1, &msg(1), ks[1].sign(&msg(1))).unwrap();
        // Member 2 claims round 6 but signed round 5: found and dropped.
        let out = agg.add(2, &msg(1), ks[2].sign(&msg(0))).unwrap();
        assert_eq!(out.invalid, vec![2]);
        let out = agg.add(3, &msg(3), ks[3].sign(&msg(3))).unwrap();
        let qc = out.certificate.expect("three valid timeouts");
        assert_eq!(agg.message_of(1), Some(msg(1).as_slice()));
        let c = committee(&ks, 1);
        assert_eq!(
            qc.verify_per_signer(&c, QuorumThreshold::TWO_THIRDS, msg),
            Ok(())
        );
    }

    /// A deferred aggregator of 4 holding a good vote (0) and a forged one
    /// (1) on "block-7".
    fn deferred_with_a_forged_vote() -> (Vec<crate::SecretKey>, Arc<Committee>, VoteAggregator) {
        let ks = keys(4);
        let c = Arc::new(committee(&ks, 1));
        let mut agg = VoteAggregator::with_policy(
            c.clone(),
            QuorumThreshold::TWO_THIRDS,
            CheckPolicy::Deferred,
        );
        agg.add(0, b"block-7", ks[0].sign(b"block-7")).unwrap();
        agg.add(1, b"block-7", ks[1].sign(b"forged")).unwrap();
        (ks, c, agg)
    }

    #[test]
    fn a_deferred_certificate_forms_unchecked_and_check_repairs_it() {
        let (ks, c, mut agg) = deferred_with_a_forged_vote();
        let formed = agg.add(2, b"block-7", ks[2].sign(b"block-7")).unwrap();
        let unchecked = formed
            .certificate
            .expect("a quorum of votes, not yet checked");
        assert!(formed.invalid.is_empty());
        assert!(!agg.is_checked());
        assert!(unchecked
            .verify(&c, QuorumThreshold::TWO_THIRDS, b"block-7")
            .is_err());
        // The check drops the bad vote; two good ones are not a quorum.
        let out = agg.check();
        assert_eq!(out.invalid, vec![1]);
        assert_eq!(out.certificate, None);
        assert!(agg.certificate().is_none());
        assert_eq!(
            agg.add(1, b"block-7", ks[1].sign(b"block-7")),
            Err(VoteError::Rejected { index: 1 })
        );
        // A later good vote re-forms it (unchecked again), and the check
        // now passes.
        let again = agg.add(3, b"block-7", ks[3].sign(b"block-7")).unwrap();
        assert!(again.certificate.is_some());
        assert!(!agg.is_checked());
        let out = agg.check();
        let qc = out.certificate.expect("three good votes");
        assert!(agg.is_checked());
        assert_eq!(qc.signers.iter_ones().collect::<Vec<_>>(), vec![0, 2, 3]);
        assert_eq!(
            qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"block-7"),
            Ok(())
        );
        assert_eq!(agg.check().certificate, Some(qc), "checked once");
    }

    #[test]
    fn a_deferred_check_folds_in_late_votes() {
        let (ks, c, mut agg) = deferred_with_a_forged_vote();
        assert!(agg
            .add(2, b"block-7", ks[2].sign(b"block-7"))
            .unwrap()
            .certificate
            .is_some());
        agg.add(3, b"block-7", ks[3].sign(b"block-7")).unwrap();
        // Folding the late vote does not verify either.
        assert_eq!(agg.extend().certificate.unwrap().signers.count(), 4);
        assert!(!agg.is_checked());
        let out = agg.check();
        assert_eq!(out.invalid, vec![1]);
        let qc = out.certificate.expect("the late vote keeps a quorum");
        assert_eq!(
            qc.verify(&c, QuorumThreshold::TWO_THIRDS, b"block-7"),
            Ok(())
        );
    }

    #[test]
    fn all_bad_votes_are_found() {
        let n = 16;
        let (ks, mut agg) = aggregator(n);
        let mut reported = Vec::new();
        for (i, k) in ks.iter().enumerate() {
            let out = agg.add(i, b"block-7", k.sign(b"nope")).unwrap();
            reported.extend(out.invalid);
        }
        reported.sort();
        // Checks happen at 11 votes (all bad, all dropped), then again at
        // each later vote once the weight returns to a quorum: never here.
        assert_eq!(reported, (0..11).collect::<Vec<_>>());
        assert_eq!(agg.weight(), 5);
        assert!(agg.certificate().is_none());
    }
}
