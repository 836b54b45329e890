//! One basic phase (LCBFT Alg. 4), written once: a leader's proposal or
//! certificate goes out, replicas check it and vote, and the collector turns
//! votes of more than two thirds of the weight into a certificate.
//!
//! HotStuff chains three phases per block and two-phase BFT two (pipelined:
//! the certificate of block b is the next phase for b's ancestors); the view
//! change is two phases (timeouts certified into a timeout certificate, then
//! the new leader's first proposal certified). All of them collect here.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_crypto::committee::{Committee, QuorumThreshold};
use strata_crypto::qc::QuorumCert;
use strata_crypto::{CheckPolicy, Signature, VoteAggregator, VoteError};

/// The result of adding one vote.
#[derive(Debug, Default)]
pub struct PhaseOutcome {
    pub certificate: Option<QuorumCert>,
    /// Signers whose votes failed the aggregate check.
    pub invalid: Vec<u32>,
}

/// Votes being collected, per subject `K` (a block, or a view for
/// timeouts).
#[derive(Debug)]
pub struct Phase<K: Ord + Clone> {
    committee: Arc<Committee>,
    threshold: QuorumThreshold,
    policy: CheckPolicy,
    open: BTreeMap<K, VoteAggregator>,
}

impl<K: Ord + Clone> Phase<K> {
    pub fn new(committee: Arc<Committee>, threshold: QuorumThreshold) -> Phase<K> {
        Phase::with_policy(committee, threshold, CheckPolicy::AtQuorum)
    }

    pub fn with_policy(
        committee: Arc<Committee>,
        threshold: QuorumThreshold,
        policy: CheckPolicy,
    ) -> Phase<K> {
        Phase {
            committee,
            threshold,
            policy,
            open: BTreeMap::new(),
        }
    }

    /// Adds `signer`'s vote on `subject`, which signed `message`.
    pub fn add(
        &mut self,
        subject: K,
        signer: u32,
        message: &[u8],
        signature: Signature,
    ) -> Result<PhaseOutcome, VoteError> {
        let (committee, threshold, policy) = (&self.committee, self.threshold, self.policy);
        let agg = self
            .open
            .entry(subject)
            .or_insert_with(|| VoteAggregator::with_policy(committee.clone(), threshold, policy));
        Ok(outcome(agg.add(signer as usize, message, signature)?))
    }

    /// The certificate of `subject` extended with the votes that arrived
    /// after it formed (see `VoteAggregator::extend`).
    pub fn extend(&mut self, subject: &K) -> PhaseOutcome {
        match self.open.get_mut(subject) {
            Some(agg) => outcome(agg.extend()),
            None => PhaseOutcome::default(),
        }
    }

    /// The certificate of `subject`, verified (see `VoteAggregator::check`).
    pub fn check(&mut self, subject: &K) -> PhaseOutcome {
        match self.open.get_mut(subject) {
            Some(agg) => outcome(agg.check()),
            None => PhaseOutcome::default(),
        }
    }

    /// Whether the certificate of `subject` is known to verify.
    pub fn is_checked(&self, subject: &K) -> bool {
        self.open.get(subject).is_some_and(|a| a.is_checked())
    }

    /// Who voted on `subject` after its certificate formed, not yet folded
    /// in by `extend`.
    pub fn late_voters(&self, subject: &K) -> Vec<u32> {
        self.open.get(subject).map_or_else(Vec::new, |a| {
            a.late_voters().iter().map(|&i| i as u32).collect()
        })
    }

    /// Weight collected so far for `subject`.
    pub fn weight(&self, subject: &K) -> u64 {
        self.open.get(subject).map_or(0, |a| a.weight())
    }

    /// Forgets every subject below `floor`.
    pub fn prune_below(&mut self, floor: &K) {
        self.open = self.open.split_off(floor);
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

fn outcome(out: strata_crypto::VoteOutcome) -> PhaseOutcome {
    PhaseOutcome {
        certificate: out.certificate,
        invalid: out.invalid.into_iter().map(|i| i as u32).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestCommittee;

    #[test]
    fn certifies_per_subject_and_prunes() {
        let TestCommittee { keys, committee } = TestCommittee::seeded(1, 4);
        let mut phase: Phase<u64> = Phase::new(committee, QuorumThreshold::TWO_THIRDS);
        for i in 0..2u32 {
            let out = phase
                .add(7, i, b"m7", keys[i as usize].sign(b"m7"))
                .unwrap();
            assert!(out.certificate.is_none());
        }
        phase.add(8, 0, b"m8", keys[0].sign(b"m8")).unwrap();
        assert_eq!(phase.weight(&7), 2);
        let out = phase.add(7, 3, b"m7", keys[3].sign(b"m7")).unwrap();
        assert!(out.certificate.is_some());
        let late = phase.add(7, 2, b"m7", keys[2].sign(b"m7")).unwrap();
        assert!(late.certificate.is_none());
        assert_eq!(phase.extend(&7).certificate.unwrap().signers.count(), 4);
        phase.prune_below(&8);
        assert_eq!(phase.len(), 1);
        assert_eq!(phase.weight(&7), 0);
    }
}
