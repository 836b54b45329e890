//! Collecting votes into certificates (`phase.rs`): a collected certificate
//! is used before its aggregate is checked (each vote came from its
//! signer's own channel), checked before it leaves this node; a bad vote
//! blames its signer, whose later votes are checked one by one.

use super::*;

impl ConsensusCore {
    /// Makes the high certificate one that verifies before it leaves in a
    /// timeout. A certificate collected unchecked is checked now; if a vote
    /// in it was bad, its signer becomes a suspect and the certificate is
    /// re-formed from the other votes (late ones included) when they still
    /// weigh a quorum. Otherwise this node falls back to its best verified
    /// certificate. It had entered view v+1 on the bad certificate of view
    /// v, while the replicas, which rejected it, are still in v: a
    /// timeout for v from this node too may be needed for them to certify
    /// v's timeout (with f members silent), so it signs one.
    pub(super) fn settle_high_qc(&mut self, out: &mut Vec<Action>) {
        if !self.high_qc_unchecked() {
            return;
        }
        let Some(subject) = self.unchecked_high.take() else {
            return;
        };
        let outcome = self.votes.check(&subject);
        if !outcome.invalid.is_empty() {
            self.stats.unchecked_qcs_failed += 1;
        }
        self.blame_bad_votes(&outcome.invalid, out);
        match outcome.certificate {
            Some(cert) => {
                let qc = QuorumCertificate {
                    cert: Some(cert),
                    ..self.safety.high_qc.clone()
                };
                self.verified.insert(qc.id());
                self.safety.high_qc = qc;
            }
            None => {
                let failed = self.safety.high_qc.clone();
                // The certified block's own justify is usually one round
                // below (honest voters checked it), better than an older
                // verified certificate (a stable two-phase leader collects
                // all of its own).
                let parent = self
                    .tree
                    .get(&failed.block)
                    .map(|b| b.header.justify.clone());
                self.safety.high_qc = match parent {
                    Some(j) if j.round > self.checked_high_qc.round && self.verify_qc(&j) => j,
                    _ => self.checked_high_qc.clone(),
                };
                let failed_view = failed.round.view;
                if failed_view < self.view {
                    let msg = self.sign_timeout(failed_view);
                    self.backward_timeout = Some(msg.clone());
                    out.push(Action::Broadcast(ConsensusMessage::Timeout(Box::new(msg))));
                }
            }
        }
    }

    pub(super) fn high_qc_unchecked(&self) -> bool {
        let h = &self.safety.high_qc;
        self.unchecked_high == Some((h.round, h.block))
    }

    /// `subject`'s certificate, collected unchecked, becomes (or replaces)
    /// the high certificate.
    pub(super) fn mark_unchecked_high(&mut self, subject: (Round, Digest)) {
        if !self.high_qc_unchecked() {
            self.checked_high_qc = self.safety.high_qc.clone();
        }
        self.unchecked_high = Some(subject);
    }

    pub(super) fn blame_bad_votes(&mut self, invalid: &[u32], out: &mut Vec<Action>) {
        for &bad in invalid {
            self.suspects.insert(bad);
            self.misbehaviour(bad, "vote signature invalid", out);
        }
    }

    // ------------------------------------------------------------ proposing

    /// Whether folding the late votes on `subject` is worth its pairing,
    /// which sits on the leader's critical path every view. HotStuff folds
    /// them so that a member whose votes always come last is still
    /// certified, and so gets its turns in the Carousel rotation among the
    /// parent certificate's signers; for that it is enough to fold when a
    /// late voter was left out of the certificate before this one too,
    /// which certifies such a member at least every other view. Two-phase
    /// BFT ranks leaders by availability and folds every late vote.
    pub(super) fn folding_needed(&self, subject: &(Round, Digest)) -> bool {
        let late = self.votes.late_voters(subject);
        if late.is_empty() {
            return false;
        }
        if self.rules().folds_every_late_vote() {
            return true;
        }
        let previous = self
            .tree
            .get(&subject.1)
            .and_then(|b| b.header.justify.cert.as_ref());
        match previous {
            Some(cert) => late.iter().any(|&v| !cert.signers.get(v as usize)),
            None => true,
        }
    }

    // ------------------------------------------------------------ proposals

    pub(super) fn handle_vote(&mut self, from: u32, vote: SignedStatement, out: &mut Vec<Action>) {
        let d = vote.data;
        let Statement::Vote { block } = d.statement else {
            return self.misbehaviour(from, "vote with a non-vote statement", out);
        };
        if !self.in_scope(d.chain, d.epoch) || vote.signer as usize >= self.cfg.committee.len() {
            return self.unhelpful(from, "vote for another chain, epoch or committee", out);
        }
        // Votes travel straight from their signers over authenticated
        // channels (Yin et al. §3; the host attributes `from` to a
        // genesis-bound transport key). That binding is what lets the
        // collector act on a quorum of votes before checking their
        // signatures: at most f of the distinct senders are Byzantine.
        if vote.signer != from {
            return self.misbehaviour(from, "vote signed for another member", out);
        }
        // Equivocation is checked for every vote in the evidence window,
        // even one that arrives too late to count.
        match self.observe_statement(&vote, false) {
            Seen::New => {}
            Seen::Repeat | Seen::Ignore => return,
            Seen::Conflict(e) => return self.publish_evidence(*e, out),
        }
        let round = d.round;
        let lo = self.rules().oldest_counted_vote_view(self.view);
        let hi = self.last_buffered_view();
        if round.view < lo || round.view > hi || round < self.safety.high_qc.round {
            return;
        }
        if self.rules().many_heights_per_view() && round.height > self.last_buffered_height() {
            return;
        }
        // A member caught with a bad vote signature has each vote checked
        // alone, so it cannot spoil another of our certificates.
        if self.suspects.contains(&vote.signer)
            && vote
                .verify(self.cfg.chain, self.cfg.epoch, &self.cfg.committee)
                .is_err()
        {
            return self.misbehaviour(from, "vote signature invalid", out);
        }
        let message = d.signing_bytes();
        let subject = (round, block);
        match self
            .votes
            .add(subject, vote.signer, &message, vote.signature)
        {
            Ok(outcome) => {
                self.blame_bad_votes(&outcome.invalid, out);
                if let Some(cert) = outcome.certificate {
                    self.stats.qcs_formed += 1;
                    let qc = QuorumCertificate {
                        chain: d.chain,
                        epoch: d.epoch,
                        round,
                        block,
                        cert: Some(cert),
                    };
                    // Unchecked, it still justifies this node's own lock,
                    // commit and view change (see above); replicas check
                    // it in the proposal anyway, so the pairing is spent
                    // only when it must convince others (`settle_high_qc`).
                    if self.votes.is_checked(&subject) {
                        self.verified.insert(qc.id());
                    } else if qc.round > self.safety.high_qc.round {
                        self.mark_unchecked_high(subject);
                    }
                    self.process_qc(&qc, out);
                }
            }
            Err(VoteError::Rejected { .. }) | Err(VoteError::Duplicate { .. }) => {}
            Err(_) => self.misbehaviour(from, "vote from outside the committee", out),
        }
    }

    // ------------------------------------------------------------- timeouts
}
