//! The pacemaker: entering views, the view timer with exponential backoff,
//! local timeouts and their re-broadcast, and collecting timeouts into
//! timeout certificates (f+1 amplification).

use super::*;

impl ConsensusCore {
    pub(super) fn enter_view(&mut self, view: View, progress: bool, out: &mut Vec<Action>) {
        if view <= self.view {
            return;
        }
        self.view = view;
        self.stats.views_entered += 1;
        self.my_timeout = None;
        // Checks for blocks of earlier views can no longer lead to a vote.
        self.payload_checks.clear();
        self.executed.forget_waits();
        if progress {
            self.consecutive_timeouts = 0;
        }
        let vote_floor = self.rules().vote_floor(view);
        self.votes.prune_below(&(vote_floor, Digest::ZERO));
        self.timeouts.prune_below(&view);
        self.timeout_rounds = self.timeout_rounds.split_off(&view);
        let floor = Round::new(view.saturating_sub(EVIDENCE_WINDOW), 0);
        self.equivocation.first = self.equivocation.first.split_off(&(floor, 0, 0));
        self.equivocation.reported = self.equivocation.reported.split_off(&(floor, 0, 0));
        self.set_view_timer(out);
        self.try_propose(out);
    }

    pub(super) fn set_view_timer(&mut self, out: &mut Vec<Action>) {
        self.timer_generation += 1;
        let exp = self.consecutive_timeouts.min(MAX_BACKOFF_EXPONENT);
        // The first view of an epoch (nothing certified since its start)
        // waits twice as long: members start their cores at different
        // moments (each once it has ended the epoch before, a joining
        // member after syncing to its last block), 0.3-0.7 s apart in a
        // 17-node testnet, and one that started early timed out a view
        // whose leader had only just begun it.
        let first_view = self.safety.high_qc.round == self.start_qc.round;
        let after = self
            .cfg
            .base_timeout
            .saturating_mul(1 << exp)
            .saturating_mul(if first_view { 2 } else { 1 })
            .min(self.cfg.max_timeout);
        out.push(Action::SetTimer {
            id: TimerId {
                kind: TimerKind::View(self.view),
                generation: self.timer_generation,
            },
            after,
        });
    }

    /// The view timer fired: leave the view (first basic phase of the view
    /// change), or re-broadcast the timeout if already left.
    pub(super) fn local_timeout(&mut self, out: &mut Vec<Action>) {
        if self.observer() {
            // An observer has no say in views; it follows certificates.
            return;
        }
        self.consecutive_timeouts = self.consecutive_timeouts.saturating_add(1);
        match self.my_timeout.clone() {
            Some(mine) => {
                // Re-broadcast: the timeout carries the last TC, so lagging
                // nodes catch up on both.
                out.push(Action::Broadcast(ConsensusMessage::Timeout(Box::new(mine))));
                let settled = |v: View| {
                    self.safety.high_qc.round.view >= v
                        || self.safety.high_tc_view().is_some_and(|t| t >= v)
                };
                match self.backward_timeout.clone() {
                    Some(back) if !settled(back.view()) => {
                        out.push(Action::Broadcast(ConsensusMessage::Timeout(Box::new(back))));
                    }
                    Some(_) => self.backward_timeout = None,
                    None => {}
                }
            }
            None => {
                self.stats.local_timeouts += 1;
                self.settle_high_qc(out);
                self.safety.record_timeout(self.view);
                if self.safety.high_qc.round > self.safety.locked
                    && self.rules().locks_as_it_votes()
                {
                    self.safety.locked = self.safety.high_qc.round;
                    self.safety.locked_block = self.safety.high_qc.block;
                }
                let msg = self.sign_timeout(self.view);
                self.my_timeout = Some(msg.clone());
                self.awaiting_payload = None;
                out.push(Action::Persist(self.safety.clone()));
                out.push(Action::Broadcast(ConsensusMessage::Timeout(Box::new(
                    msg.clone(),
                ))));
                self.add_timeout(self.cfg.me, &msg, out);
            }
        }
        self.set_view_timer(out);
    }

    /// This node's timeout for `view`, carrying its high certificate and
    /// the timeout certificate that opened `view`, if it has it.
    pub(super) fn sign_timeout(&self, view: View) -> TimeoutMessage {
        let data = TimeoutCertificate::timeout_data(
            self.cfg.chain,
            self.cfg.epoch,
            view,
            self.safety.high_qc.round,
        );
        TimeoutMessage {
            statement: SignedStatement::sign(data, self.cfg.me, &self.key),
            high_qc: self.safety.high_qc.clone(),
            last_tc: self.safety.high_tc.clone().filter(|tc| tc.view + 1 == view),
        }
    }

    pub(super) fn handle_timeout(&mut self, from: u32, t: TimeoutMessage, out: &mut Vec<Action>) {
        let d = t.statement.data;
        if !self.in_scope(d.chain, d.epoch)
            || !t.is_consistent()
            || t.statement.signer as usize >= self.cfg.committee.len()
        {
            return self.misbehaviour(from, "malformed timeout", out);
        }
        if !self.verify_qc(&t.high_qc) {
            return self.misbehaviour(from, "timeout high certificate invalid", out);
        }
        self.process_qc(&t.high_qc, out);
        if let Some(tc) = &t.last_tc {
            if !self.verify_tc(tc) {
                return self.misbehaviour(from, "timeout's timeout certificate invalid", out);
            }
            self.process_tc(tc, out);
        }
        let view = t.view();
        if view < self.view || view > self.last_buffered_view() {
            return;
        }
        self.add_timeout(from, &t, out);
        // f+1 timeouts mean at least one honest node gave up on the view:
        // join it rather than wait for the local timer.
        let weight = self.timeouts.weight(&view);
        if view == self.view
            && self.my_timeout.is_none()
            && weight as u128 * 3 > self.cfg.committee.total_weight() as u128
        {
            self.local_timeout(out);
        }
    }

    pub(super) fn add_timeout(&mut self, from: u32, t: &TimeoutMessage, out: &mut Vec<Action>) {
        let view = t.view();
        let signer = t.statement.signer;
        let rounds = self.timeout_rounds.entry(view).or_default();
        if rounds.contains_key(&signer) {
            return;
        }
        rounds.insert(signer, t.high_qc.round);
        let message = t.statement.data.signing_bytes();
        match self
            .timeouts
            .add(view, signer, &message, t.statement.signature)
        {
            Ok(outcome) => {
                for bad in &outcome.invalid {
                    self.remove_timeout_round(view, *bad);
                    self.misbehaviour(*bad, "timeout signature invalid", out);
                }
                if let Some(cert) = outcome.certificate {
                    let rounds = &self.timeout_rounds[&view];
                    let high_qc_rounds: Vec<Round> = cert
                        .signers
                        .iter_ones()
                        .map(|i| rounds[&(i as u32)])
                        .collect();
                    let tc = TimeoutCertificate {
                        chain: self.cfg.chain,
                        epoch: self.cfg.epoch,
                        view,
                        high_qc_rounds: BoundedVec::new(high_qc_rounds)
                            .expect("at most one round per committee member"),
                        cert,
                    };
                    self.stats.tcs_formed += 1;
                    self.verified.insert(tc.id());
                    self.process_tc(&tc, out);
                }
            }
            Err(VoteError::NotMember { .. }) => {
                self.remove_timeout_round(view, signer);
                self.misbehaviour(from, "timeout from outside the committee", out);
            }
            Err(_) => self.remove_timeout_round(view, signer),
        }
    }

    pub(super) fn remove_timeout_round(&mut self, view: View, signer: u32) {
        if let Some(r) = self.timeout_rounds.get_mut(&view) {
            r.remove(&signer);
        }
    }

    // ----------------------------------------------------------------- sync
}
