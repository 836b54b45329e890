//! The end of an epoch (issue 26, point 5; docs/design.md §4 "Handover"). A
//! core serves one epoch of one committee. The epoch's last block
//! (`CoreConfig::last_height`) is committed by that committee like any
//! other; the blocks proposed after it in the same epoch exist only to
//! complete the commit rule above it (two more certified heights in
//! two-phase BFT, three in HotStuff), carry no transactions (records wait
//! in the mempools for the next committee), and are never committed: a
//! commit that reaches above the last block stops at it.
//!
//! The epoch ends once the last block is committed *and* a certified
//! block of the epoch above it names a state at or after the height that
//! decided the next committee (`EpochEnd::decided_at`): then the next
//! committee is provable from a header the ending committee certified, by
//! anyone who knows that committee (light clients, receipts, the global
//! chain checking a domain's anchors). The empty blocks after the last
//! one provide it a block or two after the commit: their proposers name
//! executed, committed state, and the last block is committed by then.
//!
//! Then the core emits [`Action::EpochEnded`] with the proof
//! (`EpochChange`: the blocks from the last one up to that certified
//! block, and its certificate; `commit_proof::verify_epoch_change` checks
//! it), which the host sends to the chain's nodes, stores for sync, and
//! which starts the next epoch's core from the last block (its unsigned
//! start certificate, [`QuorumCertificate::start_of`]). A member that
//! missed the certificates takes the same proof from a message or a sync
//! response; after it the core goes quiet.

use super::*;
use crate::types::limits::MAX_COMMIT_PROOF_HEADERS;
use crate::types::EpochChange;

impl ConsensusCore {
    /// Whether a block at `height` is past this epoch's last block.
    pub(super) fn past_epoch(&self, height: Height) -> bool {
        self.cfg.epoch_end.is_some_and(|e| height > e.last_height)
    }

    /// What a commit of `hash` commits: itself, or, when it is past the
    /// epoch's last block, its ancestor at the last block.
    pub(super) fn commit_target(&self, hash: &Digest) -> Option<Digest> {
        let last = match self.cfg.epoch_end {
            Some(e) => e.last_height,
            None => return Some(*hash),
        };
        let mut b = self.tree.get(hash)?;
        while b.header.height > last {
            b = self.tree.get(&b.header.parent)?;
        }
        Some(b.hash())
    }

    /// The certificate this node holds of `hash` (any it took in).
    fn certificate_of(&self, hash: &Digest) -> Option<QuorumCertificate> {
        if self.safety.high_qc.block == *hash {
            return Some(self.safety.high_qc.clone());
        }
        self.certified_slots
            .values()
            .find(|q| q.block == *hash)
            .cloned()
    }

    /// After a block is certified: the epoch ends if its last block is
    /// committed and `certified`, above it, names a state at or after the
    /// decision; its proof is made from the blocks up to `certified`.
    pub(super) fn maybe_end_epoch(&mut self, certified: &Arc<Block>, out: &mut Vec<Action>) {
        let Some(end) = self.cfg.epoch_end else {
            return;
        };
        if self.ended
            || self.committed_height() < end.last_height
            || certified.header.height < end.last_height
            || certified.header.state_height < end.decided_at
        {
            return;
        }
        let Some(proof) = self.epoch_change_up_to(certified, end.last_height) else {
            return;
        };
        self.ended = true;
        out.push(Action::EpochEnded(Some(Box::new(proof))));
    }

    fn epoch_change_up_to(&self, certified: &Arc<Block>, last: Height) -> Option<EpochChange> {
        let certificate = self.certificate_of(&certified.hash())?;
        let mut blocks = vec![certified.as_ref().clone()];
        let mut b = certified.clone();
        while b.header.height > last {
            if blocks.len() >= MAX_COMMIT_PROOF_HEADERS {
                return None;
            }
            b = self.tree.get(&b.header.parent)?.clone();
            blocks.push(b.as_ref().clone());
        }
        blocks.reverse();
        Some(EpochChange {
            chain: self.cfg.chain,
            epoch: self.cfg.epoch,
            blocks: BoundedVec::new(blocks).ok()?,
            certificate,
        })
    }

    /// Checks an epoch change's form against this epoch: its first block
    /// is the last one, the blocks chain, those after it are empty, and
    /// the certificate is of the top block (its signatures are checked by
    /// `verify_qc` when taken in).
    fn epoch_change_well_formed(&self, ec: &EpochChange) -> bool {
        let Some(end) = self.cfg.epoch_end else {
            return false;
        };
        let headers: Vec<BlockHeader> = ec.blocks.iter().map(|b| b.header.clone()).collect();
        let rules_hold = ec.blocks.iter().all(|b| {
            check_block_rules(self.protocol(), b).is_ok()
                && b.inline_tx_root_matches() != Some(false)
        });
        rules_hold
            && crate::consensus::commit_proof::epoch_change_form(
                self.protocol(),
                self.cfg.chain,
                self.cfg.epoch,
                end,
                &headers,
                &ec.certificate,
            )
            .is_ok()
            && ec.blocks.iter().skip(1).all(|b| b.payload.is_empty())
    }

    /// Whether an epoch change proves this epoch's end.
    pub(super) fn epoch_change_valid(&mut self, ec: &EpochChange) -> bool {
        ec.chain == self.cfg.chain
            && ec.epoch == self.cfg.epoch
            && self.epoch_change_well_formed(ec)
            && self.verify_qc(&ec.certificate)
    }

    /// An epoch change from a member (in a message or a sync response):
    /// taken in like certified blocks, so the commit rule commits the last
    /// block here too.
    pub(super) fn handle_epoch_change(
        &mut self,
        from: u32,
        ec: EpochChange,
        out: &mut Vec<Action>,
    ) {
        if self.ended {
            return;
        }
        if ec.chain != self.cfg.chain || ec.epoch != self.cfg.epoch {
            return self.unhelpful(from, "epoch change for another chain or epoch", out);
        }
        if !self.epoch_change_valid(&ec) {
            return self.misbehaviour(from, "invalid epoch change", out);
        }
        let blocks: Vec<Arc<Block>> = ec.blocks.into_inner().into_iter().map(Arc::new).collect();
        let Some(first) = blocks.first().cloned() else {
            return;
        };
        if !self.tree.contains(&first.header.parent) && !self.tree.contains(&first.hash()) {
            // Behind: fetch up to the last block's parent, then take the
            // proof in again (kept until then).
            let parent = (first.header.parent, first.header.height.saturating_sub(1));
            self.held_epoch_change = Some((
                from,
                EpochChange {
                    chain: ec.chain,
                    epoch: ec.epoch,
                    blocks: BoundedVec::new(blocks.iter().map(|b| b.as_ref().clone()).collect())
                        .unwrap_or_default(),
                    certificate: ec.certificate,
                },
            ));
            return self.request_sync(from, parent.0, parent.1, out);
        }
        self.take_certified_chain(blocks.iter().map(|b| (b, b.hash())), out);
        self.process_qc(&ec.certificate, out);
    }

    /// A held epoch change whose missing ancestors have arrived.
    pub(super) fn retry_held_epoch_change(&mut self, out: &mut Vec<Action>) {
        let ready = self.held_epoch_change.as_ref().is_some_and(|(_, ec)| {
            ec.blocks
                .first()
                .is_some_and(|b| self.tree.contains(&b.header.parent))
        });
        if ready {
            if let Some((from, ec)) = self.held_epoch_change.take() {
                self.handle_epoch_change(from, ec, out);
            }
        }
    }
}
