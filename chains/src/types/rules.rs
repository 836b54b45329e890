//! What differs between the two protocols, in one place. The consensus core
//! is one state machine; wherever chained HotStuff (Yin et al. 2019, the
//! global chain) and two-phase BFT (Jolteon / DiemBFT-v4 safety with a
//! stable leader, the local chains) disagree, it asks its chain's rules.
//! Every method is a pure function of rounds, blocks and certificates, so
//! the core, the block checks, evidence and commit proofs share them.

use strata_crypto::hash::Digest;

use super::{Block, Protocol, Round, TimeoutCertificate, View};

/// What a newly taken-in certificate does to the current view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewStep {
    /// Move to this view.
    Enter(View),
    /// Progress inside the current view (the stable leader's next height).
    Progress,
    /// Nothing: the certificate is of an older view.
    Stay,
}

/// Where a replica sends its vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteRecipient {
    /// The proposer of the next view, who proposes on the certificate.
    NextViewProposer,
    /// The view's stable leader.
    ViewLeader,
}

/// A protocol's rules.
pub trait ChainRules: Sync + std::fmt::Debug {
    fn protocol(&self) -> Protocol;

    /// The slot in which an honest validator votes at most once.
    fn vote_slot(&self, round: Round) -> Round;

    /// Blocks in a direct chain that commits its first block.
    fn chain_length(&self) -> usize;

    /// Whether a block at `child` directly follows its parent at `parent`
    /// for the commit rule.
    fn is_direct(&self, parent: Round, child: Round) -> bool;

    /// Whether one view holds many heights (then message windows bound
    /// heights as well as views).
    fn many_heights_per_view(&self) -> bool;

    /// Whether, on the happy path, the next proposer is drawn among the
    /// signers of the parent's certificate (Carousel, Cohen et al. 2022).
    fn rotates_among_signers(&self) -> bool;

    /// The view a restarted node starts in, from its highest certificate.
    fn first_view(&self, high_qc: Round) -> View;

    /// What a certificate of `qc_view` does when this node is in `current`.
    fn view_step(&self, qc_view: View, current: View) -> ViewStep;

    /// Votes below this round are of no more use on entering `view`.
    fn vote_floor(&self, view: View) -> Round;

    /// The oldest view whose votes still count in `view`.
    fn oldest_counted_vote_view(&self, view: View) -> View;

    /// Whether a block at `view` on a certificate of `justify` opens its
    /// view after a timeout, and so must carry a timeout certificate.
    fn needs_timeout_certificate(&self, justify: Round, view: View) -> bool;

    /// Whether a block's view may be `view` on a certificate of `justify`.
    fn proposal_view_ok(&self, view: View, justify: View) -> bool;

    /// Whether a block opening its view with `tc` may extend `justify`
    /// (Jolteon: not below the highest certificate the timeouts carry;
    /// HotStuff's lock rule makes the check unnecessary).
    fn timeout_admits(&self, justify: Round, tc: &TimeoutCertificate) -> bool;

    /// The round and block a node locks on when `certified` gets its
    /// certificate (a lock moves only up, compared by vote slot).
    fn lock_on_certified(&self, certified: &Block) -> (Round, Digest);

    /// Whether a vote also raises the lock to the block's justify, and a
    /// timeout to the high certificate (Jolteon's lock on the 1-chain).
    fn locks_as_it_votes(&self) -> bool;

    /// Whether the voting rule asks if a block extends the locked block.
    fn checks_lock_ancestry(&self) -> bool;

    /// The voting rule, past the vote slot check: `extends_lock` is
    /// answered when `checks_lock_ancestry`.
    fn safe_to_vote(&self, locked: Round, block: &Block, extends_lock: Option<bool>) -> bool;

    fn vote_recipient(&self) -> VoteRecipient;

    /// Whether every vote arriving after its certificate formed is folded
    /// in (two-phase ranks leaders by availability, so each counts), or
    /// only those of members the previous certificate left out too.
    fn folds_every_late_vote(&self) -> bool;
}

/// Chained HotStuff with the 3-chain commit rule.
#[derive(Debug)]
pub struct HotStuff3;

/// Two-phase BFT: a stable leader, 2-chain commit inside a view.
#[derive(Debug)]
pub struct TwoPhaseBft;

impl ChainRules for HotStuff3 {
    fn protocol(&self) -> Protocol {
        Protocol::HotStuff
    }
    /// One vote per view.
    fn vote_slot(&self, round: Round) -> Round {
        Round::new(round.view, 0)
    }
    fn chain_length(&self) -> usize {
        3
    }
    /// Consecutive views (Yin et al.'s "direct parent", without dummy
    /// blocks).
    fn is_direct(&self, parent: Round, child: Round) -> bool {
        parent.view.checked_add(1) == Some(child.view)
    }
    fn many_heights_per_view(&self) -> bool {
        false
    }
    fn rotates_among_signers(&self) -> bool {
        true
    }
    fn first_view(&self, high_qc: Round) -> View {
        high_qc.view.saturating_add(1)
    }
    /// A certificate of this view or later ends it.
    fn view_step(&self, qc_view: View, current: View) -> ViewStep {
        if qc_view >= current {
            ViewStep::Enter(qc_view.saturating_add(1))
        } else {
            ViewStep::Stay
        }
    }
    fn vote_floor(&self, view: View) -> Round {
        Round::new(view.saturating_sub(1), 0)
    }
    /// The previous view's votes, which certify the block this view's
    /// proposer builds on.
    fn oldest_counted_vote_view(&self, view: View) -> View {
        view.saturating_sub(1)
    }
    fn needs_timeout_certificate(&self, justify: Round, view: View) -> bool {
        let genesis_start = justify == Round::GENESIS && view == 1;
        justify.view.checked_add(1) != Some(view) && !genesis_start
    }
    fn proposal_view_ok(&self, view: View, justify: View) -> bool {
        view > justify
    }
    fn timeout_admits(&self, _justify: Round, _tc: &TimeoutCertificate) -> bool {
        true
    }
    /// Lock on the block the new certificate's block certifies (Yin et
    /// al. Alg. 3: b_lock ← b').
    fn lock_on_certified(&self, certified: &Block) -> (Round, Digest) {
        let j = &certified.header.justify;
        (j.round, j.block)
    }
    fn locks_as_it_votes(&self) -> bool {
        false
    }
    fn checks_lock_ancestry(&self) -> bool {
        true
    }
    /// Safety: extends the lock; liveness: justified above the lock.
    fn safe_to_vote(&self, locked: Round, block: &Block, extends_lock: Option<bool>) -> bool {
        extends_lock == Some(true) || block.header.justify.round.view > locked.view
    }
    fn vote_recipient(&self) -> VoteRecipient {
        VoteRecipient::NextViewProposer
    }
    fn folds_every_late_vote(&self) -> bool {
        false
    }
}

impl ChainRules for TwoPhaseBft {
    fn protocol(&self) -> Protocol {
        Protocol::TwoPhase
    }
    /// One vote per (view, height).
    fn vote_slot(&self, round: Round) -> Round {
        round
    }
    fn chain_length(&self) -> usize {
        2
    }
    /// Consecutive heights in one view (Jolteon's consecutive rounds).
    fn is_direct(&self, parent: Round, child: Round) -> bool {
        child.view == parent.view && parent.height.checked_add(1) == Some(child.height)
    }
    fn many_heights_per_view(&self) -> bool {
        true
    }
    fn rotates_among_signers(&self) -> bool {
        false
    }
    fn first_view(&self, high_qc: Round) -> View {
        high_qc.view.max(1)
    }
    /// A certificate of a later view enters it; one of this view is the
    /// stable leader's progress.
    fn view_step(&self, qc_view: View, current: View) -> ViewStep {
        match qc_view.cmp(&current) {
            std::cmp::Ordering::Greater => ViewStep::Enter(qc_view),
            std::cmp::Ordering::Equal => ViewStep::Progress,
            std::cmp::Ordering::Less => ViewStep::Stay,
        }
    }
    fn vote_floor(&self, view: View) -> Round {
        Round::new(view, 0)
    }
    fn oldest_counted_vote_view(&self, view: View) -> View {
        view
    }
    fn needs_timeout_certificate(&self, justify: Round, view: View) -> bool {
        let genesis_start = justify == Round::GENESIS && view == 1;
        view != justify.view && !genesis_start
    }
    fn proposal_view_ok(&self, view: View, justify: View) -> bool {
        view >= justify
    }
    fn timeout_admits(&self, justify: Round, tc: &TimeoutCertificate) -> bool {
        justify >= tc.max_high_qc()
    }
    /// Lock on the newly certified block itself (the 1-chain).
    fn lock_on_certified(&self, certified: &Block) -> (Round, Digest) {
        (certified.round(), certified.hash())
    }
    fn locks_as_it_votes(&self) -> bool {
        true
    }
    fn checks_lock_ancestry(&self) -> bool {
        false
    }
    /// The block rules already enforced "direct, or opens the view with a
    /// timeout certificate and a high enough justify".
    fn safe_to_vote(&self, _locked: Round, block: &Block, _extends_lock: Option<bool>) -> bool {
        block.round() > block.header.justify.round
    }
    fn vote_recipient(&self) -> VoteRecipient {
        VoteRecipient::ViewLeader
    }
    fn folds_every_late_vote(&self) -> bool {
        true
    }
}

impl Protocol {
    /// This protocol's rules.
    pub fn rules(self) -> &'static dyn ChainRules {
        match self {
            Protocol::HotStuff => &HotStuff3,
            Protocol::TwoPhase => &TwoPhaseBft,
        }
    }

    /// See [`ChainRules::vote_slot`].
    pub fn vote_slot(self, round: Round) -> Round {
        self.rules().vote_slot(round)
    }

    /// See [`ChainRules::chain_length`].
    pub fn chain_length(self) -> usize {
        self.rules().chain_length()
    }

    /// See [`ChainRules::is_direct`].
    pub fn is_direct(self, parent: Round, child: Round) -> bool {
        self.rules().is_direct(parent, child)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_names_its_own_rules() {
        for p in [Protocol::HotStuff, Protocol::TwoPhase] {
            assert_eq!(p.rules().protocol(), p);
        }
        let (hs, tp) = (Protocol::HotStuff.rules(), Protocol::TwoPhase.rules());
        assert_eq!(hs.vote_slot(Round::new(5, 9)), Round::new(5, 0));
        assert_eq!(tp.vote_slot(Round::new(5, 9)), Round::new(5, 9));
        assert!(hs.is_direct(Round::new(4, 7), Round::new(5, 8)));
        assert!(!tp.is_direct(Round::new(4, 7), Round::new(5, 8)));
        assert!(tp.is_direct(Round::new(5, 7), Round::new(5, 8)));
        assert_eq!(hs.view_step(5, 5), ViewStep::Enter(6));
        assert_eq!(tp.view_step(5, 5), ViewStep::Progress);
        assert_eq!(tp.view_step(6, 5), ViewStep::Enter(6));
        assert_eq!(hs.view_step(4, 5), ViewStep::Stay);
        assert!(!hs.needs_timeout_certificate(Round::new(4, 4), 5));
        assert!(tp.needs_timeout_certificate(Round::new(4, 4), 5));
        assert!(!tp.needs_timeout_certificate(Round::GENESIS, 1));
        assert_eq!((hs.chain_length(), tp.chain_length()), (3, 2));
    }
}
