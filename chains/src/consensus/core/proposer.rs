//! The proposer: when this node may propose (a certificate of the previous
//! slot, or a timeout certificate opening the view), asking the host for a
//! payload, and building the block.

use super::*;

impl ConsensusCore {
    /// The round this node would propose at now, if it leads and may.
    pub(super) fn next_proposal_round(&self) -> Option<Round> {
        if self.my_timeout.is_some() {
            return None;
        }
        let parent = self.tree.get(&self.safety.high_qc.block)?;
        if self.proposer_for(self.view, parent) != self.cfg.me {
            return None;
        }
        let qc = self.safety.high_qc.round;
        let allowed = if self.rules().needs_timeout_certificate(qc, self.view) {
            self.safety
                .high_tc
                .as_ref()
                .filter(|tc| tc.view + 1 == self.view)
                .is_some_and(|tc| self.rules().timeout_admits(qc, tc))
        } else {
            true
        };
        let round = Round::new(self.view, qc.height + 1);
        // One proposal per slot: a HotStuff leader that learns a higher
        // certificate later in its view must not propose again.
        let slot = |r: Round| self.protocol().vote_slot(r);
        (allowed && slot(round) > slot(self.safety.last_proposed)).then_some(round)
    }

    pub(super) fn try_propose(&mut self, out: &mut Vec<Action>) {
        let parent = self.safety.high_qc.block;
        if !self.tree.contains(&parent) {
            // A certified block we lack: fetch it, it may be ours to extend.
            let height = self.safety.high_qc.round.height;
            if height > self.committed_height() && self.leader_of(self.view) == self.cfg.me {
                let peer = self.leader_of(self.safety.high_qc.round.view);
                self.request_sync(peer, parent, height, out);
            }
            return;
        }
        let Some(round) = self.next_proposal_round() else {
            return;
        };
        if self.awaiting_payload == Some(round) {
            return;
        }
        self.awaiting_payload = Some(round);
        if self.past_epoch(round.height) {
            // Past the epoch's last block: no transactions (epoch_end.rs).
            return self.on_payload(round, Payload::empty(), None, out);
        }
        out.push(Action::RequestPayload { round });
    }

    pub(super) fn on_payload(
        &mut self,
        round: Round,
        payload: Payload,
        batches_tx_root: Option<Digest>,
        out: &mut Vec<Action>,
    ) {
        if self.awaiting_payload != Some(round) || self.next_proposal_round() != Some(round) {
            return;
        }
        self.awaiting_payload = None;
        self.extend_high_qc(out);
        let qc = self.safety.high_qc.clone();
        let Some(parent) = self.tree.get(&qc.block).cloned() else {
            return;
        };
        let tx_root = match (&payload, batches_tx_root) {
            (Payload::Inline(txs), _) => block::tx_root(txs),
            (Payload::Batches(_), Some(root)) => root,
            (Payload::Batches(_), None) => return,
        };
        let opens_by_timeout = self.rules().needs_timeout_certificate(qc.round, round.view);
        let (state_height, state_root) = self.state_to_name(&parent, round.height);
        let header = BlockHeader {
            chain: self.cfg.chain,
            epoch: self.cfg.epoch,
            view: round.view,
            height: round.height,
            parent: qc.block,
            tx_root,
            state_height,
            state_root,
            proposer: self.cfg.me,
            timestamp_ms: self.now / 1000,
            justify: qc,
            timeout: if opens_by_timeout {
                self.safety.high_tc.clone()
            } else {
                None
            },
        };
        self.safety.last_proposed = round;
        self.stats.blocks_proposed += 1;
        out.push(Action::Persist(self.safety.clone()));
        self.unsigned_proposal = Some((header, payload));
        out.push(Action::Yield);
    }

    /// Folds late votes into the certificate this node collected, so the
    /// justify of its proposal names every voter heard from.
    pub(super) fn extend_high_qc(&mut self, out: &mut Vec<Action>) {
        let qc = &self.safety.high_qc;
        if qc.cert.is_none() {
            return;
        }
        let subject = (qc.round, qc.block);
        if !self.folding_needed(&subject) {
            return;
        }
        let outcome = self.votes.extend(&subject);
        self.blame_bad_votes(&outcome.invalid, out);
        if let Some(cert) = outcome.certificate {
            if Some(&cert) != self.safety.high_qc.cert.as_ref() {
                let extended = QuorumCertificate {
                    cert: Some(cert),
                    ..self.safety.high_qc.clone()
                };
                if self.votes.is_checked(&subject) {
                    self.verified.insert(extended.id());
                } else {
                    self.mark_unchecked_high(subject);
                }
                self.safety.high_qc = extended;
            }
        }
    }
}
