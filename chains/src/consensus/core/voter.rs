//! The voter: taking in a proposal (block rules, signatures, equivocation,
//! the payload check by the host), attaching it to the tree (orphans wait
//! for their parent), and voting under the safety rules (`safety.rs`).

use super::*;

impl ConsensusCore {
    pub(super) fn handle_proposal(&mut self, from: u32, block: Arc<Block>, out: &mut Vec<Action>) {
        let h = &block.header;
        if !self.in_scope(h.chain, h.epoch) {
            return self.unhelpful(from, "proposal for another chain or epoch", out);
        }
        // A signed proposal counts for equivocation whatever else is wrong
        // with the block, and even if the block already came by sync;
        // signatures are checked only if it conflicts.
        let statement = block.proposal_statement();
        self.observe_proposal(&statement, out);
        let hash = block.hash();
        if self.tree.contains(&hash) || self.orphans.contains_key(&(h.height, hash)) {
            return;
        }
        if check_block_rules(self.protocol(), &block).is_err() {
            return self.misbehaviour(from, "proposal breaks the block rules", out);
        }
        if self.past_epoch(h.height) && !block.payload.is_empty() {
            return self.misbehaviour(from, "proposal carries transactions past its epoch", out);
        }
        if block.inline_tx_root_matches() == Some(false) {
            return self.misbehaviour(from, "proposal transaction root mismatch", out);
        }
        let justify = h.justify.clone();
        // A proposal its proposer sent us is authenticated by the channel
        // (the host attributes `from` to a genesis-bound transport key):
        // HotStuff assumes authenticated channels and signs only votes
        // (Yin et al. §3–4). The proposer's BLS signature serves as
        // evidence and is checked when the proposal conflicts
        // (`observe_statement`). A relayed proposal proves itself.
        let relayed = from != self.cfg.me && from != h.proposer;
        if relayed
            && !self.verify_proposal_and_justify(&statement, &justify)
            && statement
                .verify(self.cfg.chain, self.cfg.epoch, &self.cfg.committee)
                .is_err()
        {
            return self.misbehaviour(from, "proposal signature invalid", out);
        }
        // This node's own proposal extends its high certificate, which it
        // verified or collected itself.
        if from != self.cfg.me && !self.verify_qc(&justify) {
            return self.misbehaviour(from, "proposal justify certificate invalid", out);
        }
        if let Some(tc) = h.timeout.clone() {
            if !self.verify_tc(&tc) {
                return self.misbehaviour(from, "proposal timeout certificate invalid", out);
            }
            self.process_tc(&tc, out);
        }
        self.process_qc(&justify, out);

        if block.header.height <= self.committed_height() {
            return;
        }
        if block.header.view > self.last_buffered_view() {
            return;
        }
        if !self.tree.contains(&block.header.parent) {
            if self.orphans.len() < MAX_ORPHANS {
                self.orphans
                    .insert((block.header.height, hash), (from, block.clone()));
            }
            // The block rules held: height = justify height + 1 >= 1.
            let (parent, height) = (block.header.parent, block.header.height.saturating_sub(1));
            self.request_sync(from, parent, height, out);
            return;
        }
        if self.attach(from, block.clone(), hash, out) {
            self.vote_when_available(from, &block, hash, out);
            self.adopt_orphans(out);
        }
    }

    /// Votes once the state root the block names matches this node's
    /// execution (`state_roots.rs`), then now for an empty payload or this
    /// node's own, otherwise once the host has checked the payload, whatever its form: that every
    /// batch it references is held and matches the transaction root, that
    /// every transaction in it is valid (signatures included). A replica
    /// that voted for inline records on the proposer's word let a
    /// Byzantine leader commit forged records in any sender's name.
    pub(super) fn vote_when_available(
        &mut self,
        from: u32,
        block: &Arc<Block>,
        hash: Digest,
        out: &mut Vec<Action>,
    ) {
        if from != self.cfg.me {
            match self.check_state_root(block) {
                StateCheck::Matches => {}
                StateCheck::Differs => {
                    return self.misbehaviour(from, "proposal state root differs", out)
                }
                StateCheck::NotYet => return self.wait_for_execution(from, block, hash),
                StateCheck::Unknown => {
                    return self.unhelpful(from, "proposal names a state too old to check", out)
                }
            }
        }
        if !block.payload.is_empty() && from != self.cfg.me {
            if block.header.view == self.view && self.payload_checks.len() < MAX_ORPHANS {
                self.payload_checks.insert(hash, from);
                out.push(Action::CheckPayload(block.clone()));
            }
            return;
        }
        self.maybe_vote(block, hash, out);
    }

    pub(super) fn on_payload_checked(
        &mut self,
        hash: Digest,
        verdict: PayloadVerdict,
        out: &mut Vec<Action>,
    ) {
        let Some(from) = self.payload_checks.remove(&hash) else {
            return;
        };
        match verdict {
            PayloadVerdict::Valid => {}
            PayloadVerdict::Unavailable => {
                return self.unhelpful(from, "proposal payload unavailable", out)
            }
            PayloadVerdict::Invalid => {
                return self.misbehaviour(from, "proposal payload invalid", out)
            }
        }
        if let Some(block) = self.tree.get(&hash).cloned() {
            self.maybe_vote(&block, hash, out);
        }
    }

    /// Adds a validated block whose parent is known: state root check, tree,
    /// storage. Returns false if the block is refused.
    pub(super) fn attach(
        &mut self,
        from: u32,
        block: Arc<Block>,
        hash: Digest,
        out: &mut Vec<Action>,
    ) -> bool {
        let Some(parent) = self.tree.get(&block.header.parent) else {
            return false;
        };
        if block.header.proposer != self.proposer_for(block.header.view, parent) {
            self.unhelpful(from, "proposal from a non-leader", out);
            return false;
        }
        if !block::state_link_valid(&block.header, &parent.header) {
            self.misbehaviour(
                from,
                "proposal state height or root breaks its parent's",
                out,
            );
            return false;
        }
        match self.tree.insert(block.clone(), hash) {
            Ok(true) => {
                out.push(Action::StoreBlock(block.clone()));
                self.certified_arrived(&block, hash, out);
                true
            }
            _ => false,
        }
    }

    /// A block whose certificate came first completes its chain now.
    pub(super) fn certified_arrived(
        &mut self,
        block: &Arc<Block>,
        hash: Digest,
        out: &mut Vec<Action>,
    ) {
        if self.unattached.remove(&hash).is_some() {
            self.apply_chain_rules(block, out);
        }
    }

    pub(super) fn adopt_orphans(&mut self, out: &mut Vec<Action>) {
        loop {
            let ready: Vec<(Height, Digest)> = self
                .orphans
                .iter()
                .filter(|(_, (_, b))| self.tree.contains(&b.header.parent))
                .map(|(k, _)| *k)
                .collect();
            if ready.is_empty() {
                return;
            }
            for key in ready {
                if let Some((from, b)) = self.orphans.remove(&key) {
                    if self.attach(from, b.clone(), key.1, out) {
                        self.vote_when_available(from, &b, key.1, out);
                    }
                }
            }
        }
    }

    /// The replica half of the basic phase: check the proposal against the
    /// safety rules and vote.
    pub(super) fn maybe_vote(&mut self, block: &Arc<Block>, hash: Digest, out: &mut Vec<Action>) {
        if !self.signs_in(block.header.view) {
            return;
        }
        let rules = self.rules();
        let extends_lock = if rules.checks_lock_ancestry() {
            self.tree.extends(&hash, &self.safety.locked_block)
        } else {
            None
        };
        if !safe_to_vote(self.protocol(), &self.safety, block, extends_lock) {
            return;
        }
        let round = block.round();
        self.safety.last_voted = rules.vote_slot(round);
        if rules.locks_as_it_votes() && block.header.justify.round > self.safety.locked {
            self.safety.locked = block.header.justify.round;
            self.safety.locked_block = block.header.justify.block;
        }
        let data = VoteData {
            chain: self.cfg.chain,
            epoch: self.cfg.epoch,
            round,
            statement: Statement::Vote { block: hash },
        };
        out.push(Action::Persist(self.safety.clone()));
        // HotStuff votes go to the next view's leader, who proposes on the
        // certificate; two-phase votes go to the view's stable leader.
        let to = match rules.vote_recipient() {
            VoteRecipient::NextViewProposer => self.proposer_for(round.view + 1, block),
            VoteRecipient::ViewLeader => self.leader_of(round.view),
        };
        // Signed after the yield, while the host makes the vote durable.
        self.unsigned_votes.push((data, to));
        out.push(Action::Yield);
    }

    // ---------------------------------------------------------------- votes
}
