//! The persisted safety state and the published voting rules.
//!
//! * HotStuff (Yin et al. 2019, Alg. 3 chained): vote for block b in view v
//!   iff v is above the last voted view and (b extends the locked block, or
//!   b's justify is from a later view than the lock). On a certificate for
//!   b'', lock on the block b'' certifies (b'' = cert.block, lock =
//!   b''.justify). Commit b when b'' → b' → b is a chain of direct parents
//!   in consecutive views.
//! * Two-phase BFT (Jolteon / DiemBFT v4, with rounds generalised to
//!   (view, height)): vote for b iff its round is above the last voted round
//!   and b either directly extends its justify (same view, next height) or
//!   opens view v with the timeout certificate of view v−1 and a justify at
//!   least as high as every high certificate in that timeout certificate.
//!   Commit b' when its direct child is certified (2-chain).
//!
//! Timing out in a view forbids any further vote in it (the last voted round
//! becomes (view, ∞)), which is what makes a timeout certificate's high
//! certificates a bound on what the view certified.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::hash::Digest;

use crate::types::{
    Block, ChainId, Epoch, Protocol, QuorumCertificate, Round, TimeoutCertificate, View,
};

/// What a node must not forget across a crash.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SafetyState {
    pub chain: ChainId,
    pub epoch: Epoch,
    /// The highest vote slot used (see `Protocol::vote_slot`), or
    /// `(view, u64::MAX)` after timing out in `view`.
    pub last_voted: Round,
    /// HotStuff: the locked block's round and hash. Two-phase: the highest
    /// certified round voted with or timed out with (Jolteon's
    /// `highest_qc_round`).
    pub locked: Round,
    pub locked_block: Digest,
    pub high_qc: QuorumCertificate,
    pub high_tc: Option<TimeoutCertificate>,
    /// The highest round this node proposed at: a leader that crashes after
    /// proposing must not propose a different block at the same round.
    pub last_proposed: Round,
}

impl SafetyState {
    pub fn fresh(chain: ChainId, epoch: Epoch, genesis: Digest) -> SafetyState {
        SafetyState::starting_at(QuorumCertificate::genesis(chain, epoch, genesis))
    }

    /// The state of a member that has not acted in the epoch starting
    /// from the block `start` certifies (unsigned: see
    /// [`QuorumCertificate::start_of`]).
    pub fn starting_at(start: QuorumCertificate) -> SafetyState {
        SafetyState {
            chain: start.chain,
            epoch: start.epoch,
            last_voted: Round::GENESIS,
            locked: start.round,
            locked_block: start.block,
            high_qc: start,
            high_tc: None,
            last_proposed: Round::GENESIS,
        }
    }

    /// Forbids further votes in `view`.
    pub fn record_timeout(&mut self, view: View) {
        self.last_voted = self.last_voted.max(Round::new(view, u64::MAX));
    }

    pub fn high_tc_view(&self) -> Option<View> {
        self.high_tc.as_ref().map(|tc| tc.view)
    }
}

/// Why a well-formed block is structurally invalid for its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockRuleError {
    #[error("height is not the justified block's height plus one")]
    Height,
    #[error("parent is not the justified block")]
    Parent,
    #[error("view does not follow the justify's view")]
    View,
    #[error("block skips views without the previous view's timeout certificate")]
    MissingTimeoutCertificate,
    #[error("justify is below the timeout certificate's highest certificate")]
    JustifyBelowTimeoutCertificate,
}

/// Structural rules of a proposal, per protocol (independent of the node's
/// state, so every honest node agrees).
pub fn check_block_rules(protocol: Protocol, block: &Block) -> Result<(), BlockRuleError> {
    let h = &block.header;
    let qc = &h.justify;
    // Heights and views here are the proposer's claims, not yet checked
    // against any certificate: checked arithmetic (a wrapped sum would
    // pass a rule and underflow later).
    if qc.round.height.checked_add(1) != Some(h.height) {
        return Err(BlockRuleError::Height);
    }
    if h.parent != qc.block {
        return Err(BlockRuleError::Parent);
    }
    let rules = protocol.rules();
    if !rules.proposal_view_ok(h.view, qc.round.view) {
        return Err(BlockRuleError::View);
    }
    if rules.needs_timeout_certificate(qc.round, h.view) {
        let Some(tc) = h
            .timeout
            .as_ref()
            .filter(|tc| tc.view.checked_add(1) == Some(h.view))
        else {
            return Err(BlockRuleError::MissingTimeoutCertificate);
        };
        if !rules.timeout_admits(qc.round, tc) {
            return Err(BlockRuleError::JustifyBelowTimeoutCertificate);
        }
    }
    Ok(())
}

/// The voting rule, given whether the block extends the locked block
/// (`None` when unknown, e.g. right after a restart).
pub fn safe_to_vote(
    protocol: Protocol,
    state: &SafetyState,
    block: &Block,
    extends_lock: Option<bool>,
) -> bool {
    let round = block.round();
    if protocol.vote_slot(round) <= state.last_voted {
        return false;
    }
    protocol
        .rules()
        .safe_to_vote(state.locked, block, extends_lock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{genesis_block, GenesisParams};
    use strata_crypto::codec::BoundedVec;
    use strata_crypto::qc::{QuorumCert, SignerBitmap};
    use strata_crypto::Signature;

    fn block_on(qc_round: Round, view: View, tc: Option<TimeoutCertificate>) -> Block {
        let g = genesis_block(GenesisParams {
            chain: ChainId::GLOBAL,
            epoch: 0,
            state_root: crate::execution::GenesisState::bare(Digest::ZERO).root(),
        });
        let mut b = g.clone();
        b.header.justify = QuorumCertificate {
            round: qc_round,
            block: Digest::of("b", &qc_round.encode()),
            ..g.header.justify.clone()
        };
        b.header.parent = b.header.justify.block;
        b.header.view = view;
        b.header.height = qc_round.height + 1;
        b.header.timeout = tc;
        b
    }

    fn tc(view: View, highs: &[Round]) -> TimeoutCertificate {
        TimeoutCertificate {
            chain: ChainId::GLOBAL,
            epoch: 0,
            view,
            high_qc_rounds: BoundedVec::new(highs.to_vec()).unwrap(),
            cert: QuorumCert {
                signers: SignerBitmap::new(4),
                signature: Signature::infinity(),
            },
        }
    }

    #[test]
    fn hotstuff_block_rules() {
        let p = Protocol::HotStuff;
        assert_eq!(
            check_block_rules(p, &block_on(Round::new(4, 3), 5, None)),
            Ok(())
        );
        assert_eq!(
            check_block_rules(p, &block_on(Round::new(4, 3), 4, None)),
            Err(BlockRuleError::View)
        );
        assert_eq!(
            check_block_rules(p, &block_on(Round::new(4, 3), 7, None)),
            Err(BlockRuleError::MissingTimeoutCertificate)
        );
        let t = tc(6, &[Round::new(4, 3)]);
        assert_eq!(
            check_block_rules(p, &block_on(Round::new(4, 3), 7, Some(t))),
            Ok(())
        );
        let mut b = block_on(Round::new(4, 3), 5, None);
        b.header.height = 9;
        assert_eq!(check_block_rules(p, &b), Err(BlockRuleError::Height));
    }

    #[test]
    fn two_phase_block_rules_follow_jolteon() {
        let p = Protocol::TwoPhase;
        // Same view, next height: the direct case.
        assert_eq!(
            check_block_rules(p, &block_on(Round::new(3, 8), 3, None)),
            Ok(())
        );
        // Opening view 4 needs TC(3) and a justify at least its maximum.
        assert_eq!(
            check_block_rules(p, &block_on(Round::new(3, 8), 4, None)),
            Err(BlockRuleError::MissingTimeoutCertificate)
        );
        let t = tc(3, &[Round::new(3, 8), Round::new(3, 7)]);
        assert_eq!(
            check_block_rules(p, &block_on(Round::new(3, 8), 4, Some(t.clone()))),
            Ok(())
        );
        assert_eq!(
            check_block_rules(p, &block_on(Round::new(3, 7), 4, Some(t))),
            Err(BlockRuleError::JustifyBelowTimeoutCertificate)
        );
        assert_eq!(
            check_block_rules(p, &block_on(Round::GENESIS, 1, None)),
            Ok(())
        );
        // A later view on the genesis certificate still needs its TC.
        assert_eq!(
            check_block_rules(p, &block_on(Round::GENESIS, 5, None)),
            Err(BlockRuleError::MissingTimeoutCertificate)
        );
        let t4 = tc(4, &[Round::GENESIS]);
        assert_eq!(
            check_block_rules(p, &block_on(Round::GENESIS, 5, Some(t4))),
            Ok(())
        );
    }

    #[test]
    fn votes_once_per_slot_and_never_after_timing_out() {
        let mut s = SafetyState::fresh(ChainId::GLOBAL, 0, Digest::ZERO);
        let b = block_on(Round::new(2, 4), 3, None);
        assert!(safe_to_vote(Protocol::HotStuff, &s, &b, Some(true)));
        s.last_voted = Protocol::HotStuff.vote_slot(b.round());
        assert!(!safe_to_vote(Protocol::HotStuff, &s, &b, Some(true)));
        // Another block in the same view at another height: same slot.
        let mut other = b.clone();
        other.header.height += 1;
        assert!(!safe_to_vote(Protocol::HotStuff, &s, &other, Some(true)));

        let mut s = SafetyState::fresh(ChainId::GLOBAL, 0, Digest::ZERO);
        s.record_timeout(3);
        assert!(!safe_to_vote(
            Protocol::TwoPhase,
            &s,
            &block_on(Round::new(3, 4), 3, None),
            None
        ));
        assert!(safe_to_vote(
            Protocol::TwoPhase,
            &s,
            &block_on(Round::new(3, 4), 4, None),
            None
        ));
    }

    #[test]
    fn hotstuff_lock_rule() {
        let mut s = SafetyState::fresh(ChainId::GLOBAL, 0, Digest::ZERO);
        s.locked = Round::new(5, 5);
        let low = block_on(Round::new(4, 4), 9, None);
        assert!(!safe_to_vote(Protocol::HotStuff, &s, &low, Some(false)));
        assert!(safe_to_vote(Protocol::HotStuff, &s, &low, Some(true)));
        let high = block_on(Round::new(6, 5), 9, None);
        assert!(safe_to_vote(Protocol::HotStuff, &s, &high, Some(false)));
        assert!(safe_to_vote(Protocol::HotStuff, &s, &high, None));
    }
}
