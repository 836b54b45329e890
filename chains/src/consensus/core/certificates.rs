//! Certificates: checking quorum and timeout certificates (each verified
//! once, a failure remembered), taking them in, and the lock and commit
//! rules they trigger (Yin et al. Alg. 3 for HotStuff; Jolteon's 2-chain
//! for two-phase BFT).

use super::*;

impl ConsensusCore {
    pub(super) fn verify_qc(&mut self, qc: &QuorumCertificate) -> bool {
        if qc.cert.is_none() {
            // Unsigned: only the certificate of the block this epoch
            // starts from, which every member holds by definition.
            return *qc == self.start_qc;
        }
        let id = qc.id();
        if self.verified.contains(&id) {
            return true;
        }
        if self.failed.contains(&id) {
            return false;
        }
        let ok = qc
            .verify(
                self.cfg.chain,
                self.cfg.epoch,
                &self.genesis_hash,
                &self.cfg.committee,
                self.cfg.threshold,
            )
            .is_ok();
        if ok {
            self.verified.insert(id);
        } else {
            self.failed.insert(id);
        }
        ok
    }

    /// Checks a proposal's signature and its justify certificate in one
    /// multi-pairing (`bls::verify_batch`), the common case of a replica's
    /// every view. False means "not shown here": the caller then checks
    /// each alone, which also names the fault.
    pub(super) fn verify_proposal_and_justify(
        &mut self,
        statement: &SignedStatement,
        justify: &QuorumCertificate,
    ) -> bool {
        let id = justify.id();
        if self.verified.contains(&id) {
            return false;
        }
        let (c, e) = (self.cfg.chain, self.cfg.epoch);
        let proposal = statement.signature_check(c, e, &self.cfg.committee);
        let cert = justify.signature_check(
            c,
            e,
            &self.genesis_hash,
            &self.cfg.committee,
            self.cfg.threshold,
        );
        let (Ok(proposal), Ok(Some(cert))) = (proposal, cert) else {
            return false;
        };
        let ok = strata_crypto::bls::verify_batch(&[proposal, cert]).is_ok();
        if ok {
            self.verified.insert(id);
        }
        ok
    }

    pub(super) fn verify_tc(&mut self, tc: &TimeoutCertificate) -> bool {
        let id = tc.id();
        if self.verified.contains(&id) {
            return true;
        }
        if self.failed.contains(&id) {
            return false;
        }
        let ok = tc
            .verify(
                self.cfg.chain,
                self.cfg.epoch,
                &self.cfg.committee,
                self.cfg.threshold,
            )
            .is_ok();
        if ok {
            self.verified.insert(id);
        } else {
            self.failed.insert(id);
        }
        ok
    }

    /// Takes in a verified quorum certificate: high certificate, lock,
    /// commit rule, view change.
    pub(super) fn process_qc(&mut self, qc: &QuorumCertificate, out: &mut Vec<Action>) {
        let newer = qc.round > self.safety.high_qc.round;
        if newer {
            self.safety.high_qc = qc.clone();
        }
        self.check_conflicting_certificate(qc, out);
        match self.tree.get(&qc.block).cloned() {
            Some(certified) => self.apply_chain_rules(&certified, out),
            None if qc.round.height > self.committed_height()
                && self.unattached.len() < MAX_ORPHANS =>
            {
                self.unattached.insert(qc.block, qc.round.height);
            }
            None => {}
        }
        match self.rules().view_step(qc.round.view, self.view) {
            ViewStep::Enter(view) => self.enter_view(view, true, out),
            ViewStep::Progress if newer => {
                // Progress inside a stable leader's view.
                self.consecutive_timeouts = 0;
                self.set_view_timer(out);
                let floor = (qc.round, Digest::ZERO);
                self.votes.prune_below(&floor);
            }
            ViewStep::Progress | ViewStep::Stay => {}
        }
        self.try_propose(out);
    }

    /// Lock and commit rules for a newly certified block: the lock moves
    /// up to what the protocol locks on, and the first block of a direct
    /// chain of the protocol's length ending here commits (HotStuff: b, b',
    /// b'' in consecutive views; two-phase: consecutive heights in a view).
    pub(super) fn apply_chain_rules(&mut self, certified: &Arc<Block>, out: &mut Vec<Action>) {
        let rules = self.rules();
        let (round, block) = rules.lock_on_certified(certified);
        if rules.vote_slot(round) > rules.vote_slot(self.safety.locked) {
            self.safety.locked = round;
            self.safety.locked_block = block;
        }
        let mut child = certified.clone();
        let mut first = certified.header.parent;
        for _ in 1..rules.chain_length() {
            first = child.header.parent;
            let Some(parent) = self.tree.get(&first).cloned() else {
                return;
            };
            if !rules.is_direct(parent.round(), child.round()) {
                return;
            }
            child = parent;
        }
        self.commit(&first, out);
        self.maybe_end_epoch(certified, out);
    }

    pub(super) fn commit(&mut self, hash: &Digest, out: &mut Vec<Action>) {
        let Some(hash) = self.commit_target(hash) else {
            return;
        };
        let hash = &hash;
        let Some(target) = self.tree.get(hash) else {
            return;
        };
        if target.header.height <= self.committed_height() {
            return;
        }
        let Some(blocks) = self.tree.commit(hash) else {
            return;
        };
        self.stats.blocks_committed += blocks.len() as u64;
        let committed = self.committed_height();
        self.orphans = self.orphans.split_off(&(committed + 1, Digest::ZERO));
        self.unattached.retain(|_, h| *h > committed);
        let floor = Round::new(self.view.saturating_sub(EVIDENCE_WINDOW), 0);
        self.certified_slots = self.certified_slots.split_off(&floor);
        if self
            .sync
            .as_ref()
            .is_some_and(|s| s.target_height <= committed)
        {
            self.sync = None;
        }
        out.push(Action::Commit(blocks));
    }

    pub(super) fn check_conflicting_certificate(
        &mut self,
        qc: &QuorumCertificate,
        out: &mut Vec<Action>,
    ) {
        if qc.cert.is_none() {
            return;
        }
        let slot = self.protocol().vote_slot(qc.round);
        let first = match self.certified_slots.get(&slot) {
            None => {
                self.certified_slots.insert(slot, qc.clone());
                return;
            }
            Some(f) if f.block != qc.block || f.round != qc.round => f.clone(),
            Some(_) => return,
        };
        // Evidence must convince others: a certificate this node collected
        // unchecked is verified first (conflicts are rare).
        if self.verify_qc(&first) && self.verify_qc(qc) {
            let evidence = Evidence::ConflictingCertificates {
                first,
                second: qc.clone(),
            };
            self.publish_evidence(evidence, out);
        }
    }

    pub(super) fn process_tc(&mut self, tc: &TimeoutCertificate, out: &mut Vec<Action>) {
        if self.safety.high_tc_view().is_none_or(|v| v < tc.view) {
            self.safety.high_tc = Some(tc.clone());
        }
        if tc.view >= self.view {
            self.stats.views_by_timeout += 1;
            self.enter_view(tc.view + 1, false, out);
        }
        self.try_propose(out);
    }

    // ------------------------------------------------------------ pacemaker
}
