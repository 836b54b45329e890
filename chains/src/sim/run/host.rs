//! What a simulated node's host does around its consensus core, as a
//! node's committee actor does: delivers incoming messages (sync requests
//! served from the store), and carries out the core's actions in order —
//! persisting (where a crash fault may strike), sending, timers, payloads
//! and payload checks through the mempool core (`pool.rs`), commits.

use super::*;

impl Sim<'_> {
    pub(super) fn deliver(&mut self, to: usize, from: u32, msg: Arc<ConsensusMessage>) {
        let Some(core) = self.nodes[to].core.as_ref() else {
            return;
        };
        let incarnation = self.nodes[to].incarnation;
        let statement = match msg.as_ref() {
            ConsensusMessage::Proposal(b) => Some(b.proposal_statement()),
            ConsensusMessage::Vote(v) => Some(v.clone()),
            _ => None,
        };
        if let Some(s) = statement {
            let tracked = core.tracks_equivocation_at(s.data.round);
            self.checker
                .on_delivered(to as u32, incarnation, tracked, &s);
        }
        if let ConsensusMessage::SyncResponse(r) = msg.as_ref() {
            for b in r.blocks.iter() {
                self.checker.on_certified(b.header.justify.block);
                let s = b.proposal_statement();
                let tracked = core.tracks_equivocation_at(s.data.round);
                self.checker
                    .on_delivered(to as u32, incarnation, tracked, &s);
            }
        }
        self.log(|| format!("n{to} <- n{from} {}", describe(&msg)));
        if !self.nodes[to].honest() && self.nodes[to].captured.len() < CAPTURED {
            self.nodes[to].captured.push_back(msg.clone());
        }
        if let ConsensusMessage::SyncRequest(req) = msg.as_ref() {
            // As a node's ledger does: a request misstating its target's
            // height is refused (and charged), not served.
            if sync::misstates_target(&self.nodes[to].store, req).unwrap_or(false) {
                self.log(|| format!("n{to} blames n{from}: sync request misstating its target"));
                return;
            }
            if let Ok(Some(resp)) = sync::serve(&self.nodes[to].store, req) {
                let reply = Arc::new(ConsensusMessage::SyncResponse(Box::new(resp)));
                self.transmit(to, from as usize, reply);
            }
            return;
        }
        let core = self.nodes[to].core.as_mut().expect("checked above");
        let actions = core.on_event(
            self.now,
            Event::Message {
                from,
                msg: (*msg).clone(),
            },
        );
        self.apply(to, actions);
    }

    /// Carries out a node's actions in order; a crash fault may stop it
    /// right after a persist (the sends that depended on it never leave).
    pub(super) fn apply(&mut self, i: usize, actions: Vec<Action>) {
        for action in actions {
            if self.nodes[i].core.is_none() {
                return;
            }
            match action {
                Action::Persist(state) => {
                    let _ = self.nodes[i].store.save_safety(&state);
                    if self.cfg.faults.crash
                        && !self.after_gst
                        && self.nodes[i].honest()
                        && self.down_count() < self.f.max(1)
                        && self.rng.gen_bool(0.01)
                    {
                        self.crash(i, "between persist and send");
                        let back = (self.now + self.rng.gen_range(50_000..500_000)).min(self.gst);
                        self.push(back, SimEvent::Restart(i as u32));
                        return;
                    }
                }
                Action::StoreBlock(b) => {
                    let _ = self.nodes[i].store.put_block(&b);
                }
                Action::Send { to, msg } => self.send(i, to as usize, msg),
                Action::Broadcast(msg) => self.broadcast(i, msg),
                Action::SetTimer { id, after } => {
                    let incarnation = self.nodes[i].incarnation;
                    self.push(
                        self.now + us(after),
                        SimEvent::Timer {
                            node: i as u32,
                            incarnation,
                            id,
                        },
                    );
                }
                Action::RequestPayload { round } => {
                    self.pool_event(i, crate::mempool::MempoolEvent::RequestPayload { round });
                }
                Action::Commit(blocks) => {
                    self.checker.on_commit(i as u32, &blocks);
                    if self.nodes[i].honest() {
                        for b in &blocks {
                            if self.first_commits.insert(b.header.height) {
                                let ms = (self.now / 1000).saturating_sub(b.header.timestamp_ms);
                                self.commit_latency_ms
                                    .push(u32::try_from(ms).unwrap_or(u32::MAX));
                            }
                        }
                    }
                    for b in &blocks {
                        if let Payload::Inline(txs) = &b.payload {
                            if !pool::records_valid(&self.genesis_state, txs.iter()) {
                                self.checker.violations.push(format!(
                                    "n{i} committed a forged record at height {}",
                                    b.header.height
                                ));
                            }
                        }
                    }
                    self.committed(i, &blocks);
                    let h = blocks.last().map_or(0, |b| b.header.height);
                    self.log(|| format!("n{i} commits up to height {h}"));
                    self.check_done();
                }
                Action::Fetch { from, request } => self.transmit(
                    i,
                    from as usize,
                    Arc::new(ConsensusMessage::SyncRequest(request)),
                ),
                Action::Evidence(e) => {
                    self.checker.on_evidence(i as u32, &e);
                    self.log(|| format!("n{i} publishes evidence"));
                }
                // Batches: the mempool checks they are here and match.
                // Inline records (only a forging leader proposes them): the
                // host checks every record's signature.
                Action::CheckPayload(block) => {
                    if let Payload::Inline(txs) = &block.payload {
                        let incarnation = self.nodes[i].incarnation;
                        let valid = pool::records_valid(&self.genesis_state, txs.iter());
                        self.push(
                            self.now,
                            SimEvent::PayloadChecked {
                                node: i as u32,
                                incarnation,
                                block: block.hash(),
                                verdict: if valid {
                                    PayloadVerdict::Valid
                                } else {
                                    PayloadVerdict::Invalid
                                },
                            },
                        );
                    } else {
                        self.pool_event(i, crate::mempool::MempoolEvent::CheckPayload { block });
                    }
                }
                Action::Yield => {
                    let incarnation = self.nodes[i].incarnation;
                    self.push(
                        self.now,
                        SimEvent::Resume {
                            node: i as u32,
                            incarnation,
                        },
                    );
                }
                Action::Misbehaviour { peer, reason, .. } => {
                    self.log(|| format!("n{i} blames n{peer}: {reason}"));
                }
                Action::EpochEnded(proof) => {
                    if let Some(ec) = proof {
                        let _ = self.nodes[i].store.put_epoch_change(&ec);
                    }
                    self.log(|| format!("n{i} ends its epoch"));
                }
            }
        }
    }
}
