//! A simulated process's host: what a node's chain actors do around the
//! core at epoch boundaries — start each epoch's core (member or
//! observer) from the executed state, route messages by the epoch's
//! committee, serve sync from the store, execute commits and post what the
//! participant says, and hand over when the core ends its epoch.

use super::*;
use crate::consensus::{sync, Action, Event, LeaderPolicy};
use crate::execution::BlockRef;
use crate::sim::byzantine::{conflicting_block, conflicting_vote};
use crate::types::{Payload, SystemTx};

/// How often a process asks a member for blocks it has not committed.
const CATCH_UP_EVERY_US: u64 = 500_000;

impl DynastySim<'_> {
    pub(super) fn crash(&mut self, i: usize) {
        let p = &mut self.procs[i];
        p.up = false;
        p.core = None;
        p.pool.clear();
        p.later.clear();
        p.incarnation += 1;
    }

    /// Starts a process from its store and executed state (both survive
    /// a crash, as a disk does).
    pub(super) fn restart(&mut self, i: usize) {
        self.procs[i].up = true;
        self.procs[i].incarnation += 1;
        self.start_core(i);
        let incarnation = self.procs[i].incarnation;
        let at = self.now + self.rng.gen_range(0..CATCH_UP_EVERY_US);
        self.push(
            at,
            Ev::CatchUp {
                node: i,
                incarnation,
            },
        );
    }

    /// The core of the epoch the process's state is in: a member's, or an
    /// observer's.
    pub(super) fn start_core(&mut self, i: usize) {
        let chain = self.chain;
        let p = &self.procs[i];
        // The share's opening draws randomness only for a complaint's
        // proof: seeded, so a run replays.
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(
            self.cfg.seed ^ (i as u64).rotate_left(32),
        );
        let seat = match crate::dynasty::EpochSeat::read(&p.state, chain, &p.keys.bls.public_key())
            .and_then(|seat| seat.with_share(&p.state, &p.keys.pvss, &mut rng))
        {
            Ok(seat) => seat,
            Err(e) => {
                self.agreement.violations.push(format!("n{i}: {e}"));
                return;
            }
        };
        let record = seat.record.clone();
        let digest = DynastySim::committee_digest(&seat.committee);
        let ids: Vec<usize> = seat
            .committee
            .members
            .iter()
            .filter_map(|m| {
                self.procs
                    .iter()
                    .position(|q| q.keys.bls.public_key() == m.key)
            })
            .collect();
        let me = seat.position();
        let settings = crate::dynasty::CoreSettings {
            leader: leader_policy(self.cfg),
            base_timeout: self.cfg.base_timeout,
            max_timeout: self.cfg.base_timeout * 16,
        };
        let p = &mut self.procs[i];
        let applied = p.state.applied_height();
        let roots: Vec<(Height, Digest)> = (applied.saturating_sub(16)..=applied)
            .filter_map(|h| p.state.root_at(h).map(|r| (h, r)))
            .collect();
        let started = seat.start(
            &p.store,
            p.keys.bls.clone(),
            &settings,
            &self.genesis,
            &roots,
            self.now,
        );
        let (core, actions) = match started {
            Ok(s) => (s.core, s.actions),
            Err(e) => {
                self.agreement.violations.push(format!("n{i}: {e}"));
                return;
            }
        };
        let p = &mut self.procs[i];
        p.core = Some(core);
        p.epoch = record.epoch;
        p.members = ids;
        let later: Vec<_> = p.later.drain(..).collect();
        if self.honest(i) {
            Agreement::same(
                &mut self.agreement.committees,
                &mut self.agreement.violations,
                "committee",
                i,
                record.epoch,
                digest,
            );
        }
        let role = if me == u32::MAX { "observes" } else { "serves" };
        self.log(|| format!("n{i} {role} epoch {} from {}", record.epoch, record.start));
        self.apply(i, actions);
        for (from, msg) in later {
            self.deliver(i, from, msg);
        }
        self.check_done();
    }

    pub(super) fn feed(&mut self, i: usize, incarnation: u64, ev: Event) {
        if self.procs[i].incarnation != incarnation || !self.procs[i].up {
            return;
        }
        if let Some(core) = self.procs[i].core.as_mut() {
            let actions = core.on_event(self.now, ev);
            self.apply(i, actions);
        }
    }

    pub(super) fn deliver(&mut self, to: usize, from: usize, msg: Arc<ConsensusMessage>) {
        if !self.procs[to].up {
            return;
        }
        if let ConsensusMessage::SyncRequest(req) = msg.as_ref() {
            // Served from the store, whatever epoch it asks about.
            let served = sync::serve(&self.procs[to].store, req);
            let n = served
                .as_ref()
                .ok()
                .and_then(|r| r.as_ref())
                .map(|r| r.blocks.len());
            self.log(|| format!("n{to} serves n{from} {n:?} blocks"));
            if let Ok(Some(resp)) = served {
                let reply = Arc::new(ConsensusMessage::SyncResponse(Box::new(resp)));
                self.transmit(to, from, reply);
            }
            return;
        }
        let mine = self.procs[to].epoch;
        match msg.epoch() {
            Some(e) if e > mine => {
                let later = &mut self.procs[to].later;
                if later.len() >= LATER_KEPT {
                    later.pop_front();
                }
                later.push_back((from, msg));
                return;
            }
            Some(e) if e < mine => return,
            _ => {}
        }
        let Some(member) = self.procs[to].members.iter().position(|&n| n == from) else {
            return;
        };
        let incarnation = self.procs[to].incarnation;
        let ev = Event::Message {
            from: member as u32,
            msg: (*msg).clone(),
        };
        self.feed(to, incarnation, ev);
    }

    pub(super) fn transmit(&mut self, from: usize, to: usize, msg: Arc<ConsensusMessage>) {
        for d in self.net.delays(&mut self.rng, from, to) {
            self.push(
                self.now + d,
                Ev::Deliver {
                    to,
                    from,
                    msg: msg.clone(),
                },
            );
        }
    }

    fn send(&mut self, i: usize, to: usize, msg: ConsensusMessage) {
        let misdeeds = self.procs[i].misdeeds.unwrap_or_default();
        if let (ConsensusMessage::Vote(v), true) = (&msg, misdeeds.double_vote) {
            let second = conflicting_vote(v, &self.procs[i].keys.bls);
            self.transmit(i, to, Arc::new(ConsensusMessage::Vote(second)));
        }
        self.transmit(i, to, Arc::new(msg));
    }

    fn broadcast(&mut self, i: usize, msg: ConsensusMessage) {
        let others: Vec<usize> = self.procs[i]
            .members
            .iter()
            .copied()
            .filter(|&j| j != i)
            .collect();
        let equivocate = self.procs[i].misdeeds.is_some_and(|m| m.equivocate);
        if let (ConsensusMessage::Proposal(b), true) = (&msg, equivocate) {
            if others.len() >= 2 && !b.payload.is_empty() {
                let junk = self.client_records(1).remove(0);
                let twin = conflicting_block(b, &self.procs[i].keys.bls, junk);
                let (a, t) = (
                    Arc::new(msg.clone()),
                    Arc::new(ConsensusMessage::Proposal(Box::new(twin))),
                );
                self.log(|| format!("n{i} equivocates at {}", b.round()));
                for (k, &j) in others.iter().enumerate() {
                    self.transmit(i, j, if k % 2 == 0 { a.clone() } else { t.clone() });
                }
                return;
            }
        }
        let msg = Arc::new(msg);
        for j in others {
            self.transmit(i, j, msg.clone());
        }
    }

    pub(super) fn apply(&mut self, i: usize, actions: Vec<Action>) {
        let incarnation = self.procs[i].incarnation;
        let epoch = self.procs[i].epoch;
        for action in actions {
            if !self.procs[i].up || self.procs[i].incarnation != incarnation {
                return;
            }
            match action {
                Action::Persist(s) => {
                    let _ = self.procs[i].store.save_safety(&s);
                }
                Action::StoreBlock(b) => {
                    let _ = self.procs[i].store.put_block(&b);
                }
                Action::Send { to, msg } => {
                    if let ConsensusMessage::Vote(v) = &msg {
                        let r = v.data.round;
                        self.log(|| format!("n{i} votes {r} to member {to}"));
                    }
                    if let Some(&j) = self.procs[i].members.get(to as usize) {
                        self.send(i, j, msg);
                    }
                }
                Action::Broadcast(msg) => {
                    match &msg {
                        ConsensusMessage::Timeout(t) => {
                            let (v, high) = (t.view(), t.high_qc.round);
                            self.log(|| format!("n{i} times out of v{v} (high {high})"));
                        }
                        ConsensusMessage::Proposal(b) => {
                            let r = b.round();
                            self.log(|| format!("n{i} proposes {r}"));
                        }
                        _ => {}
                    }
                    self.broadcast(i, msg)
                }
                Action::SetTimer { id, after } => {
                    let at = self.now + us(after);
                    self.push(
                        at,
                        Ev::Timer {
                            node: i,
                            incarnation,
                            id,
                        },
                    );
                }
                Action::RequestPayload { round } => {
                    let at = self.now + us(self.cfg.block_interval);
                    self.push(
                        at,
                        Ev::Payload {
                            node: i,
                            incarnation,
                            epoch,
                            round,
                        },
                    );
                }
                Action::CheckPayload(block) => {
                    let valid = match &block.payload {
                        Payload::Inline(txs) => txs.iter().all(|t| match t {
                            Transaction::Provenance(p) => p.verify().is_ok(),
                            Transaction::System(_) => true,
                            _ => false,
                        }),
                        Payload::Batches(_) => false,
                    };
                    let at = self.now + 500;
                    self.push(
                        at,
                        Ev::Checked {
                            node: i,
                            incarnation,
                            block: block.hash(),
                            valid,
                        },
                    );
                }
                Action::Commit(blocks) => {
                    let top = blocks.last().map_or(0, |b| b.header.height);
                    self.log(|| format!("n{i} commits up to {top}"));
                    self.commit(i, &blocks)
                }
                Action::Fetch { from, request } => {
                    let (a, b) = (request.from_height, request.target_height);
                    self.log(|| format!("n{i} asks member {from} for {a}..{b}"));
                    if let Some(&j) = self.procs[i].members.get(from as usize) {
                        let msg = Arc::new(ConsensusMessage::SyncRequest(request));
                        self.transmit(i, j, msg);
                    }
                }
                Action::Evidence(e) => {
                    self.log(|| format!("n{i} publishes evidence against {:?}", e.offenders()));
                    // The chain convicts: an honest process posts the proof.
                    if self.honest(i) {
                        let at = self.procs[i].state.applied_height();
                        self.evidence_posted.get_or_insert(at);
                        let tx = Transaction::System(Box::new(SystemTx::Evidence(e)));
                        self.gossip_from(i, tx);
                    }
                }
                Action::Misbehaviour { peer, reason, .. } => {
                    self.log(|| format!("n{i} blames member {peer}: {reason}"))
                }
                Action::Yield => {
                    let at = self.now;
                    self.push(
                        at,
                        Ev::Resume {
                            node: i,
                            incarnation,
                        },
                    );
                }
                Action::EpochEnded(proof) => {
                    if let Some(ec) = proof {
                        let _ = self.procs[i].store.put_epoch_change(&ec);
                        let msg = Arc::new(ConsensusMessage::EpochChange(ec));
                        for j in (0..self.procs.len()).filter(|&j| j != i) {
                            self.transmit(i, j, msg.clone());
                        }
                    }
                    self.log(|| format!("n{i} ends epoch {epoch}"));
                    self.procs[i].core = None;
                    self.start_core(i);
                    return;
                }
            }
        }
    }

    /// Stores, executes and checks committed blocks, then asks the
    /// participant what to post.
    fn commit(&mut self, i: usize, blocks: &[Arc<Block>]) {
        let honest = self.honest(i);
        for b in blocks {
            let height = b.header.height;
            if honest {
                Agreement::same(
                    &mut self.agreement.blocks,
                    &mut self.agreement.violations,
                    "block",
                    i,
                    height,
                    b.hash(),
                );
            }
            let p = &mut self.procs[i];
            let _ = p.store.commit(std::slice::from_ref(b));
            let txs: Vec<Transaction> = match &b.payload {
                Payload::Inline(t) => t.to_vec(),
                Payload::Batches(_) => Vec::new(),
            };
            let hashes: Vec<Digest> = txs.iter().map(|t| t.hash()).collect();
            for h in &hashes {
                p.pool.remove(h);
                p.proposed.remove(h);
            }
            let refusals_before = p.state.refused().len();
            let root = match p.state.execute(BlockRef::of(b), &txs, &hashes) {
                Ok(root) => root,
                Err(e) => {
                    self.agreement
                        .violations
                        .push(format!("n{i}: height {height} does not execute: {e}"));
                    return;
                }
            };
            let refused: BTreeSet<Digest> = p.state.refused()[refusals_before..]
                .iter()
                .map(|(h, _)| *h)
                .collect();
            for h in hashes.iter().filter(|h| !refused.contains(h)) {
                if !p.accepted.insert(*h) && honest {
                    self.agreement
                        .violations
                        .push(format!("n{i}: transaction {} executed twice", h.to_hex()));
                }
            }
            let in_epoch = crate::dynasty::epoch_record(&p.state, self.chain, b.header.epoch)
                .ok()
                .flatten()
                .is_some_and(|r| r.contains(height));
            if honest {
                if !in_epoch {
                    self.agreement.violations.push(format!(
                        "n{i}: height {height} committed in epoch {}, outside it",
                        b.header.epoch
                    ));
                }
                Agreement::same(
                    &mut self.agreement.roots,
                    &mut self.agreement.violations,
                    "state root",
                    i,
                    height,
                    root,
                );
            }
            if self.draining {
                self.check_done();
            }
            let incarnation = self.procs[i].incarnation;
            self.push(
                self.now + 1_000,
                Ev::Executed {
                    node: i,
                    incarnation,
                    height,
                    root,
                },
            );
            self.post(i, height);
        }
    }

    /// What the participant (and, once, the administrator) posts after
    /// executing `height`.
    fn post(&mut self, i: usize, height: Height) {
        let p = &mut self.procs[i];
        let txs = p
            .participant
            .poll(&p.state, height, &mut p.rng)
            .unwrap_or_default();
        for tx in txs {
            if let Transaction::System(sys) = &tx {
                let what = match &**sys {
                    SystemTx::PvssDeal(d) => format!("a dealing for epoch {}", d.context.epoch),
                    SystemTx::PvssReveal(r) => format!("a reveal for epoch {}", r.epoch),
                    SystemTx::Candidacy(c) => format!("a candidacy for epoch {}", c.epoch),
                    SystemTx::DkgDeal(d) => format!("a DKG dealing for epoch {}", d.epoch),
                    SystemTx::DkgComplaint(c) => format!(
                        "a DKG complaint against {} for epoch {}",
                        c.complaint.dealer, c.epoch
                    ),
                    _ => "a system transaction".into(),
                };
                self.log(|| format!("n{i} posts {what} after height {height}"));
            }
            self.gossip_from(i, tx);
        }
        if !self.reconfigure_sent && self.honest(i) {
            if let Some(tx) = self.reconfiguration(i, height) {
                self.reconfigure_sent = true;
                self.log(|| format!("n{i} submits the administrator's reconfiguration"));
                self.gossip_from(i, tx);
            }
        }
    }

    /// Early in epoch 1: seat the last registered validator not in the
    /// committee, unseat a member.
    fn reconfiguration(&self, i: usize, height: Height) -> Option<Transaction> {
        let state = &self.procs[i].state;
        let cur = crate::dynasty::current_epoch(state, self.chain).ok()??;
        if cur.epoch != 1 || height > cur.start + cur.params.epoch_length / 4 {
            return None;
        }
        let committee = crate::dynasty::committee(state, self.chain, 1).ok()??;
        let keys: Vec<_> = committee.members.iter().map(|m| m.key).collect();
        let roster = crate::dynasty::roster(state, self.chain).ok()?;
        let add = roster
            .entries
            .iter()
            .map(|e| e.key)
            .rev()
            .find(|k| !keys.contains(k))?;
        let remove = *keys.first()?;
        let r = crate::types::Reconfigure {
            chain: self.chain,
            epoch: crate::dynasty::open_epoch(&cur, height + 1),
            sequence: 0,
            add: BoundedVec::new(vec![add]).ok()?,
            remove: BoundedVec::new(vec![remove]).ok()?,
            committee_size: None,
            epoch_length: None,
            threshold: None,
            certificate: None,
            weights: BoundedVec::default(),
        };
        let tx = crate::dynasty::approved_reconfigure(r, &self.network, &[(0, &self.admin)]);
        Some(Transaction::System(Box::new(SystemTx::Reconfigure(tx))))
    }

    pub(super) fn client_records(&mut self, n: usize) -> Vec<Transaction> {
        (0..n)
            .map(|_| {
                self.nonce += 1;
                let record = crate::types::Provenance {
                    network: self.network,
                    domain: self.chain.domain().unwrap_or(crate::types::GLOBAL_DOMAIN),
                    object_id: crate::types::ObjectId::new(
                        format!("sim-dynasty-{}", self.nonce).into_bytes(),
                    )
                    .unwrap_or_default(),
                    op: crate::types::Op::Create,
                    payload_digest: Digest::of("sim/payload", &self.nonce.to_le_bytes()),
                    parents: BoundedVec::empty(),
                    meta: BoundedVec::empty(),
                    sender: self.client.public(),
                    nonce: self.nonce,
                    timestamp_ms: self.now / 1000,
                };
                Transaction::Provenance(record.sign_deterministic(&self.client))
            })
            .collect()
    }

    /// A leader's payload: what its pool holds that it has not proposed
    /// lately.
    pub(super) fn payload(&mut self, i: usize, incarnation: u64, epoch: Epoch, round: Round) {
        if self.procs[i].epoch != epoch {
            return;
        }
        let now = self.now;
        let p = &mut self.procs[i];
        // Proposed a while ago and still not committed: its block was
        // abandoned; propose it again.
        let stale: Vec<Digest> = p
            .proposed
            .iter()
            .filter(|(_, (_, at))| now.saturating_sub(*at) > 3_000_000)
            .map(|(h, _)| *h)
            .collect();
        for h in stale {
            if let Some((tx, _)) = p.proposed.remove(&h) {
                p.pool.insert(h, tx);
            }
        }
        // System transactions first: dynasty transactions count only in
        // their window of a few blocks, and a backlog of records must not
        // push them out of it (a node's mempool does the same).
        let (mut system, mut records) = (Vec::<Digest>::new(), Vec::<Digest>::new());
        for (h, tx) in &p.pool {
            match tx {
                Transaction::System(_) => system.push(*h),
                _ => records.push(*h),
            }
        }
        let chosen: Vec<Digest> = system.into_iter().chain(records).take(64).collect();
        let mut txs = Vec::with_capacity(chosen.len());
        for h in chosen {
            if let Some(tx) = p.pool.remove(&h) {
                p.proposed.insert(h, (tx.clone(), now));
                txs.push(tx);
            }
        }
        let payload = Payload::Inline(BoundedVec::new(txs).unwrap_or_default());
        let ev = Event::ProposalReady {
            round,
            payload,
            batches_tx_root: None,
        };
        self.feed(i, incarnation, ev);
    }

    /// Now and then: ask a member of the epoch for committed blocks.
    pub(super) fn catch_up(&mut self, i: usize, incarnation: u64) {
        if self.procs[i].incarnation != incarnation || !self.procs[i].up || self.done {
            return;
        }
        let n = self.procs[i].members.len();
        if n > 0 {
            let peer = self.rng.gen_range(0..n) as u32;
            self.feed(i, incarnation, Event::CatchUp { peer });
        }
        let at = self.now + CATCH_UP_EVERY_US;
        self.push(
            at,
            Ev::CatchUp {
                node: i,
                incarnation,
            },
        );
    }
}

/// The leader policy a run's nodes use, varied by seed so the seeds cover
/// every rule a node may run: HotStuff cycles round robin, stake-weighted
/// and beacon (which draws from the group signature once a threshold
/// committee serves); two-phase BFT alternates round robin and the uptime
/// ranking. From epoch 1 on each is seeded and weighed by the epoch
/// (`EpochSeat::leader_policy`).
fn leader_policy(cfg: &super::DynastySimConfig) -> LeaderPolicy {
    let seed = Digest::of("strata/sim/leader-seed", &cfg.seed.to_le_bytes());
    match (cfg.protocol, cfg.seed % 3) {
        (crate::types::Protocol::TwoPhase, r) if r % 2 == 0 => LeaderPolicy::RoundRobin,
        (crate::types::Protocol::TwoPhase, _) => LeaderPolicy::Uptime {
            ranking: Vec::new(),
        },
        (_, 0) => LeaderPolicy::RoundRobin,
        (_, 1) => LeaderPolicy::stake_weighted(seed),
        _ => LeaderPolicy::Beacon {
            seed,
            weights: Vec::new(),
        },
    }
}
