//! Signing after a yield: a proposal or vote decided and persisted is
//! signed once the host resumes the core (the host makes the safety state
//! durable meanwhile, `Action::Yield`).

use super::*;

impl ConsensusCore {
    /// Whether this node still votes and proposes in `view`: it is the
    /// current view and this node has not timed out in it.
    pub(super) fn signs_in(&self, view: View) -> bool {
        view == self.view && self.my_timeout.is_none() && !self.observer()
    }

    /// The host has carried out the actions before a [`Action::Yield`]:
    /// the safety state they persisted may be in flight to the disk while
    /// this signs, since the host holds every send until it is durable.
    pub(super) fn on_resumed(&mut self, out: &mut Vec<Action>) {
        let own = std::mem::take(&mut self.own_proposals);
        if let Some((header, payload)) = self.unsigned_proposal.take() {
            // A view left meanwhile keeps its slot spent: the round stays
            // persisted as proposed and nothing is signed for it.
            if self.signs_in(header.view) {
                let block = Block::propose(header, payload, &self.key);
                out.push(Action::Broadcast(ConsensusMessage::Proposal(Box::new(
                    block.clone(),
                ))));
                // The leader's vote on its own block is a second BLS
                // signature; the replicas' votes take a round trip, so it is
                // signed after the proposal has left rather than before.
                self.own_proposals.push(Arc::new(block));
                out.push(Action::Yield);
            }
        }
        for (data, to) in std::mem::take(&mut self.unsigned_votes) {
            // As for a proposal: a vote persisted as cast may go unsent.
            if !self.signs_in(data.round.view) {
                continue;
            }
            // A threshold committee's vote is a share of the group key; a
            // member without one (its share did not open) cannot vote.
            let key = match (&self.vote_key, self.cfg.committee.group()) {
                (Some(share), _) => share,
                (None, Some(_)) => continue,
                (None, None) => &self.key,
            };
            let vote = SignedStatement::sign(data, self.cfg.me, key);
            if to == self.cfg.me {
                self.handle_vote(self.cfg.me, vote, out);
            } else {
                out.push(Action::Send {
                    to,
                    msg: ConsensusMessage::Vote(vote),
                });
            }
        }
        for block in own {
            self.handle_proposal(self.cfg.me, block, out);
        }
    }
}
