//! The consensus core: one state machine for both protocols.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;

use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::{CheckPolicy, SecretKey, VoteError};

mod evidence;

use evidence::{EquivocationTracker, Seen};

use super::phase::Phase;
use super::safety::{check_block_rules, needs_timeout_certificate, safe_to_vote, SafetyState};
use super::tree::BlockTree;
use super::{
    Action, CoreConfig, Event, Fault, Micros, PayloadVerdict, Recovery, TimerId, TimerKind,
};
use crate::types::{
    block, Block, BlockHeader, ConsensusMessage, Evidence, Height, Payload, Protocol,
    QuorumCertificate, Round, SignedStatement, Statement, SyncRequest, SyncResponse,
    TimeoutCertificate, TimeoutMessage, View, VoteData,
};

/// How many views back equivocation is still detected.
pub const EVIDENCE_WINDOW: u64 = 32;
/// Proposals kept while their parent is fetched.
const MAX_ORPHANS: usize = 256;
/// Certificates remembered as verified.
const VERIFIED_CACHE: usize = 4096;
/// Backoff exponent cap: timeouts grow to at most 2^6 times the base.
const MAX_BACKOFF_EXPONENT: u32 = 6;

/// Counters for metrics and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    pub views_entered: u64,
    pub local_timeouts: u64,
    pub qcs_formed: u64,
    pub tcs_formed: u64,
    /// Views entered because the previous one timed out (view changes).
    pub views_by_timeout: u64,
    pub blocks_proposed: u64,
    pub blocks_committed: u64,
    pub evidence_emitted: u64,
    /// Proofs published by other members and verified here.
    pub evidence_received: u64,
    pub syncs_requested: u64,
    /// Certificates collected without the pairing check that failed it
    /// later (a member sent a vote with a bad signature).
    pub unchecked_qcs_failed: u64,
}

#[derive(Debug)]
struct SyncInFlight {
    target: Digest,
    target_height: Height,
    peer: u32,
    attempts: u32,
    /// A higher certified block heard of while this sync was in flight:
    /// synced to next, by the same one request at a time.
    later: Option<(Digest, Height)>,
}

/// Remembers which certificates verified (a QC arrives in a proposal, in
/// timeouts and in timeout certificates; it is checked once), or failed.
#[derive(Debug, Default)]
struct VerifiedCache {
    set: HashSet<Digest>,
    order: VecDeque<Digest>,
}

impl VerifiedCache {
    fn contains(&self, id: &Digest) -> bool {
        self.set.contains(id)
    }

    fn insert(&mut self, id: Digest) {
        if self.set.insert(id) {
            self.order.push_back(id);
            if self.order.len() > VERIFIED_CACHE {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

pub struct ConsensusCore {
    cfg: CoreConfig,
    key: SecretKey,
    genesis_hash: Digest,
    started: bool,
    now: Micros,
    safety: SafetyState,
    view: View,
    timer_generation: u64,
    consecutive_timeouts: u32,
    my_timeout: Option<TimeoutMessage>,
    awaiting_payload: Option<Round>,
    /// This node's proposals, broadcast and awaiting its own vote
    /// ([`Action::Yield`]); a host that answers late may find more than one.
    own_proposals: Vec<Arc<Block>>,
    /// A proposal whose round is persisted as proposed and which is signed
    /// once the host resumes: the host makes the safety state durable while
    /// the signature is computed (see [`Action::Yield`]). One at most: the
    /// next slot needs this proposal certified, so only a later view can
    /// replace it, and a proposal of a view left is not signed anyway.
    unsigned_proposal: Option<(BlockHeader, Payload)>,
    /// Votes decided and persisted as cast, signed once the host resumes
    /// (as `unsigned_proposal`), each with its recipient.
    unsigned_votes: Vec<(VoteData, u32)>,
    tree: BlockTree,
    votes: Phase<(Round, Digest)>,
    timeouts: Phase<View>,
    timeout_rounds: BTreeMap<View, BTreeMap<u32, Round>>,
    verified: VerifiedCache,
    /// Proofs of misbehaviour already published or taken in (gossip
    /// brings each from several members).
    known_evidence: VerifiedCache,
    /// Stale messages already dropped once, by sender.
    stale_seen: VerifiedCache,
    /// Certificates that failed their check: one sent again is refused
    /// without the pairings (a timeout certificate with a distinct round
    /// per signer costs one pairing per signer), and charged again.
    failed: VerifiedCache,
    /// The high certificate's subject while it is one this node collected
    /// and has not verified (votes are checked lazily, see `handle_vote`),
    /// and the best verified certificate to fall back on.
    unchecked_high: Option<(Round, Digest)>,
    checked_high_qc: QuorumCertificate,
    /// Members caught sending a vote with a bad signature: their votes are
    /// verified one by one before they count.
    suspects: BTreeSet<u32>,
    /// A timeout signed for a view this node had left on a certificate
    /// that then failed its check (see `settle_high_qc`), re-broadcast
    /// with this node's own until that view is certified or timed out.
    backward_timeout: Option<TimeoutMessage>,
    equivocation: EquivocationTracker,
    certified_slots: BTreeMap<Round, QuorumCertificate>,
    /// Certified blocks not yet in the tree; their chain rules run when the
    /// block arrives.
    unattached: BTreeMap<Digest, Height>,
    /// Blocks whose batched payload the host is checking, and who sent them.
    payload_checks: BTreeMap<Digest, u32>,
    orphans: BTreeMap<(Height, Digest), (u32, Arc<Block>)>,
    sync: Option<SyncInFlight>,
    sync_generation: u64,
    stats: CoreStats,
}

impl ConsensusCore {
    pub fn new(cfg: CoreConfig, key: SecretKey) -> ConsensusCore {
        let genesis_hash = cfg.genesis.hash();
        let committee = cfg.committee.clone();
        let threshold = cfg.threshold;
        ConsensusCore {
            safety: SafetyState::fresh(cfg.chain, cfg.epoch, genesis_hash),
            checked_high_qc: SafetyState::fresh(cfg.chain, cfg.epoch, genesis_hash).high_qc,
            tree: BlockTree::new(cfg.genesis.clone()),
            votes: Phase::with_policy(committee.clone(), threshold, CheckPolicy::Deferred),
            timeouts: Phase::new(committee, threshold),
            cfg,
            key,
            genesis_hash,
            started: false,
            now: 0,
            view: 0,
            timer_generation: 0,
            consecutive_timeouts: 0,
            my_timeout: None,
            awaiting_payload: None,
            own_proposals: Vec::new(),
            unsigned_proposal: None,
            unsigned_votes: Vec::new(),
            timeout_rounds: BTreeMap::new(),
            verified: VerifiedCache::default(),
            known_evidence: VerifiedCache::default(),
            stale_seen: VerifiedCache::default(),
            failed: VerifiedCache::default(),
            unchecked_high: None,
            suspects: BTreeSet::new(),
            backward_timeout: None,
            equivocation: EquivocationTracker::default(),
            certified_slots: BTreeMap::new(),
            unattached: BTreeMap::new(),
            payload_checks: BTreeMap::new(),
            orphans: BTreeMap::new(),
            sync: None,
            sync_generation: 0,
            stats: CoreStats::default(),
        }
    }

    pub fn view(&self) -> View {
        self.view
    }

    pub fn committed_height(&self) -> Height {
        self.tree.committed_height()
    }

    pub fn committed_tip(&self) -> &Arc<Block> {
        self.tree.root()
    }

    pub fn safety(&self) -> &SafetyState {
        &self.safety
    }

    pub fn high_qc(&self) -> &QuorumCertificate {
        &self.safety.high_qc
    }

    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    pub fn leader_of(&self, view: View) -> u32 {
        self.cfg
            .leader
            .leader(&self.cfg.committee, self.cfg.epoch, view)
    }

    /// Who may propose at `view` on top of `parent`.
    ///
    /// Two-phase BFT: the view's stable leader. HotStuff: on the happy path
    /// (the block directly follows its parent's view) the policy rotates
    /// among the signers of the certificate the parent carries, minus the
    /// parent's proposer (Carousel, Cohen et al. FC 2022): a crashed member
    /// signs nothing and is never chosen, so three consecutive certified
    /// views, which the 3-chain commit needs, keep happening. After a timeout
    /// the policy applies to the whole committee. Voters of the parent
    /// compute the same leader to send their votes to, from the same block.
    pub fn proposer_for(&self, view: View, parent: &Block) -> u32 {
        if self.protocol() == Protocol::HotStuff && parent.header.view + 1 == view {
            if let Some(cert) = &parent.header.justify.cert {
                let candidates: Vec<u32> = cert
                    .signers
                    .iter_ones()
                    .map(|i| i as u32)
                    .filter(|&i| i != parent.header.proposer)
                    .collect();
                if !candidates.is_empty() {
                    return self.cfg.leader.leader_among(
                        &self.cfg.committee,
                        self.cfg.epoch,
                        view,
                        &candidates,
                    );
                }
            }
        }
        self.leader_of(view)
    }

    /// True if a proposal or vote at `round` is within the bounded window in
    /// which this node detects equivocation right now (a few views back, the
    /// buffering window ahead; and, in two-phase BFT, heights not far above
    /// the highest certificate). The simulator's checker uses the same rule.
    pub fn tracks_equivocation_at(&self, round: Round) -> bool {
        let views = self.view.saturating_sub(EVIDENCE_WINDOW)..=self.last_buffered_view();
        let heights_ok =
            self.protocol() == Protocol::HotStuff || round.height <= self.last_buffered_height();
        views.contains(&round.view) && heights_ok
    }

    /// The highest view whose messages are kept now.
    fn last_buffered_view(&self) -> View {
        self.view.saturating_add(self.cfg.future_views)
    }

    /// In two-phase BFT, the highest height whose votes are kept now.
    fn last_buffered_height(&self) -> Height {
        self.safety
            .high_qc
            .round
            .height
            .saturating_add(self.cfg.future_heights)
    }

    fn protocol(&self) -> Protocol {
        self.cfg.protocol
    }

    /// The state machine's one entry point.
    pub fn on_event(&mut self, now: Micros, event: Event) -> Vec<Action> {
        self.now = now;
        let mut out = Vec::new();
        match event {
            Event::Restored(rec) => self.on_restored(*rec, &mut out),
            _ if !self.started => {}
            Event::Message { from, msg } => self.on_message(from, msg, &mut out),
            Event::Timer(id) => self.on_timer(id, &mut out),
            Event::ProposalReady {
                round,
                payload,
                batches_tx_root,
            } => self.on_payload(round, payload, batches_tx_root, &mut out),
            Event::PayloadChecked { block, verdict } => {
                self.on_payload_checked(block, verdict, &mut out)
            }
            Event::Resumed => self.on_resumed(&mut out),
        }
        out
    }

    // ---------------------------------------------------------------- start

    fn on_restored(&mut self, rec: Recovery, out: &mut Vec<Action>) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(s) = rec.safety {
            if s.chain == self.cfg.chain && s.epoch == self.cfg.epoch {
                self.safety = s;
            }
        }
        self.tree = BlockTree::new(rec.committed_tip);
        let mut pending = rec.pending;
        pending.sort_by_key(|b| b.header.height);
        for b in pending {
            let hash = b.hash();
            let _ = self.tree.insert(Arc::new(b), hash);
        }
        self.recover_high_qc();
        let start = match self.protocol() {
            Protocol::HotStuff => self.safety.high_qc.round.view + 1,
            Protocol::TwoPhase => self.safety.high_qc.round.view.max(1),
        };
        let after_tc = self.safety.high_tc_view().map_or(0, |v| v + 1);
        let voted = self.safety.last_voted.view;
        let view = start.max(after_tc).max(voted).max(1);
        self.enter_view(view, true, out);
        let high = self.safety.high_qc.clone();
        if !self.tree.contains(&high.block) && high.round.height > self.committed_height() {
            let peer = (self.cfg.me + 1) % self.cfg.committee.len() as u32;
            self.request_sync(peer, high.block, high.round.height, out);
        }
    }

    /// The persisted high certificate may be one this node collected and
    /// never checked (see `handle_vote`): it is checked once here. If it
    /// fails, the justify of the block it certifies (which the voters
    /// checked) or else the genesis certificate takes its place; the lock
    /// and the last vote, which safety rests on, are kept as persisted.
    fn recover_high_qc(&mut self) {
        let high = self.safety.high_qc.clone();
        if !self.verify_qc(&high) {
            let fresh = SafetyState::fresh(self.cfg.chain, self.cfg.epoch, self.genesis_hash);
            let justify = self.tree.get(&high.block).map(|b| b.header.justify.clone());
            self.safety.high_qc = match justify {
                Some(j) if self.verify_qc(&j) => j,
                _ => fresh.high_qc,
            };
        }
        self.checked_high_qc = self.safety.high_qc.clone();
    }

    // ------------------------------------------------------------- dispatch

    fn on_message(&mut self, from: u32, msg: ConsensusMessage, out: &mut Vec<Action>) {
        if from as usize >= self.cfg.committee.len() {
            return;
        }
        let round = match &msg {
            ConsensusMessage::Proposal(b) => Some(b.round()),
            ConsensusMessage::Vote(v) => Some(v.data.round),
            ConsensusMessage::Timeout(t) => Some(Round::new(t.view(), 0)),
            _ => None,
        };
        // Older than anything this node still tracks: a view far behind
        // (HotStuff's views advance with every block), or a block far
        // below the committed height (two-phase BFT keeps its view while
        // its leader is stable). Dropped before any work. An honest member
        // cut off for a while sends a burst of them when it comes back
        // (the backlog of its lanes), each once, so only a repeat of one
        // costs its sender: a replay.
        let stale = |r: Round| {
            r.view.saturating_add(EVIDENCE_WINDOW) < self.view
                || (r.height > 0
                    && r.height.saturating_add(EVIDENCE_WINDOW) < self.committed_height())
        };
        if round.is_some_and(stale) {
            let id = Digest::of_encoding("strata/stale-message", &(from, &msg));
            if self.stale_seen.contains(&id) {
                return self.unhelpful(from, "replayed message", out);
            }
            self.stale_seen.insert(id);
            return;
        }
        match msg {
            ConsensusMessage::Proposal(b) => self.handle_proposal(from, Arc::new(*b), out),
            ConsensusMessage::Vote(v) => self.handle_vote(from, v, out),
            ConsensusMessage::Timeout(t) => self.handle_timeout(from, *t, out),
            ConsensusMessage::SyncResponse(r) => self.handle_sync_response(from, *r, out),
            ConsensusMessage::Evidence(e) => self.handle_evidence(from, *e, out),
            // Served by the host from its store.
            ConsensusMessage::SyncRequest(_) => {}
        }
    }

    fn on_timer(&mut self, id: TimerId, out: &mut Vec<Action>) {
        match id.kind {
            TimerKind::View(v) if v == self.view && id.generation == self.timer_generation => {
                self.local_timeout(out)
            }
            TimerKind::Sync if id.generation == self.sync_generation => self.retry_sync(out),
            _ => {}
        }
    }

    /// `peer` sent something provably invalid (a bad signature or
    /// certificate, a block breaking the rules): only a faulty member does.
    fn misbehaviour(&self, peer: u32, reason: &'static str, out: &mut Vec<Action>) {
        out.push(Action::Misbehaviour {
            peer,
            reason,
            fault: Fault::Invalid,
        });
    }

    /// `peer` sent something useless that an honest member may also send
    /// when it is behind, ahead or partitioned.
    fn unhelpful(&self, peer: u32, reason: &'static str, out: &mut Vec<Action>) {
        out.push(Action::Misbehaviour {
            peer,
            reason,
            fault: Fault::Unhelpful,
        });
    }

    fn in_scope(&self, chain: crate::types::ChainId, epoch: crate::types::Epoch) -> bool {
        chain == self.cfg.chain && epoch == self.cfg.epoch
    }

    // ------------------------------------------------------- certificates

    fn verify_qc(&mut self, qc: &QuorumCertificate) -> bool {
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
    fn verify_proposal_and_justify(
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

    fn verify_tc(&mut self, tc: &TimeoutCertificate) -> bool {
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
    fn process_qc(&mut self, qc: &QuorumCertificate, out: &mut Vec<Action>) {
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
        match self.protocol() {
            Protocol::HotStuff => {
                if qc.round.view >= self.view {
                    self.enter_view(qc.round.view + 1, true, out);
                }
            }
            Protocol::TwoPhase => {
                if qc.round.view > self.view {
                    self.enter_view(qc.round.view, true, out);
                } else if newer && qc.round.view == self.view {
                    // Progress inside a stable leader's view.
                    self.consecutive_timeouts = 0;
                    self.set_view_timer(out);
                    let floor = (qc.round, Digest::ZERO);
                    self.votes.prune_below(&floor);
                }
            }
        }
        self.try_propose(out);
    }

    /// Lock and commit rules for a newly certified block b''.
    fn apply_chain_rules(&mut self, certified: &Arc<Block>, out: &mut Vec<Action>) {
        let protocol = self.protocol();
        let b2 = certified;
        match protocol {
            Protocol::HotStuff => {
                // Lock on the block b'' certifies (Yin et al. Alg. 3: b_lock ← b').
                let j = &b2.header.justify;
                if j.round.view > self.safety.locked.view {
                    self.safety.locked = j.round;
                    self.safety.locked_block = j.block;
                }
                let Some(b1) = self.tree.get(&b2.header.parent).cloned() else {
                    return;
                };
                if !protocol.is_direct(b1.round(), b2.round()) {
                    return;
                }
                let Some(b0) = self.tree.get(&b1.header.parent).cloned() else {
                    return;
                };
                if protocol.is_direct(b0.round(), b1.round()) {
                    self.commit(&b1.header.parent, out);
                }
            }
            Protocol::TwoPhase => {
                if b2.round() > self.safety.locked {
                    self.safety.locked = b2.round();
                    self.safety.locked_block = b2.hash();
                }
                let Some(b1) = self.tree.get(&b2.header.parent).cloned() else {
                    return;
                };
                if protocol.is_direct(b1.round(), b2.round()) {
                    self.commit(&b2.header.parent, out);
                }
            }
        }
    }

    fn commit(&mut self, hash: &Digest, out: &mut Vec<Action>) {
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

    fn check_conflicting_certificate(&mut self, qc: &QuorumCertificate, out: &mut Vec<Action>) {
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

    fn process_tc(&mut self, tc: &TimeoutCertificate, out: &mut Vec<Action>) {
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

    fn enter_view(&mut self, view: View, progress: bool, out: &mut Vec<Action>) {
        if view <= self.view {
            return;
        }
        self.view = view;
        self.stats.views_entered += 1;
        self.my_timeout = None;
        // Checks for blocks of earlier views can no longer lead to a vote.
        self.payload_checks.clear();
        if progress {
            self.consecutive_timeouts = 0;
        }
        let vote_floor = match self.protocol() {
            Protocol::HotStuff => Round::new(view.saturating_sub(1), 0),
            Protocol::TwoPhase => Round::new(view, 0),
        };
        self.votes.prune_below(&(vote_floor, Digest::ZERO));
        self.timeouts.prune_below(&view);
        self.timeout_rounds = self.timeout_rounds.split_off(&view);
        let floor = Round::new(view.saturating_sub(EVIDENCE_WINDOW), 0);
        self.equivocation.first = self.equivocation.first.split_off(&(floor, 0, 0));
        self.equivocation.reported = self.equivocation.reported.split_off(&(floor, 0, 0));
        self.set_view_timer(out);
        self.try_propose(out);
    }

    fn set_view_timer(&mut self, out: &mut Vec<Action>) {
        self.timer_generation += 1;
        let exp = self.consecutive_timeouts.min(MAX_BACKOFF_EXPONENT);
        let after = self
            .cfg
            .base_timeout
            .saturating_mul(1 << exp)
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
    fn local_timeout(&mut self, out: &mut Vec<Action>) {
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
                    && self.protocol() == Protocol::TwoPhase
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

    /// Makes the high certificate one that verifies before it leaves in a
    /// timeout. A certificate collected unchecked is checked now; if a vote
    /// in it was bad, its signer becomes a suspect and the certificate is
    /// re-formed from the other votes (late ones included) when they still
    /// weigh a quorum. Otherwise this node falls back to its best verified
    /// certificate. It had entered view v+1 on the bad certificate of view
    /// v, while the replicas, which rejected it, are still in v: a
    /// timeout for v from this node too may be needed for them to certify
    /// v's timeout (with f members silent), so it signs one.
    fn settle_high_qc(&mut self, out: &mut Vec<Action>) {
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

    /// This node's timeout for `view`, carrying its high certificate and
    /// the timeout certificate that opened `view`, if it has it.
    fn sign_timeout(&self, view: View) -> TimeoutMessage {
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

    fn high_qc_unchecked(&self) -> bool {
        let h = &self.safety.high_qc;
        self.unchecked_high == Some((h.round, h.block))
    }

    /// `subject`'s certificate, collected unchecked, becomes (or replaces)
    /// the high certificate.
    fn mark_unchecked_high(&mut self, subject: (Round, Digest)) {
        if !self.high_qc_unchecked() {
            self.checked_high_qc = self.safety.high_qc.clone();
        }
        self.unchecked_high = Some(subject);
    }

    fn blame_bad_votes(&mut self, invalid: &[u32], out: &mut Vec<Action>) {
        for &bad in invalid {
            self.suspects.insert(bad);
            self.misbehaviour(bad, "vote signature invalid", out);
        }
    }

    // ------------------------------------------------------------ proposing

    /// The round this node would propose at now, if it leads and may.
    fn next_proposal_round(&self) -> Option<Round> {
        if self.my_timeout.is_some() {
            return None;
        }
        let parent = self.tree.get(&self.safety.high_qc.block)?;
        if self.proposer_for(self.view, parent) != self.cfg.me {
            return None;
        }
        let qc = self.safety.high_qc.round;
        let allowed = if needs_timeout_certificate(self.protocol(), qc, self.view) {
            let tc_opens = self
                .safety
                .high_tc
                .as_ref()
                .filter(|tc| tc.view + 1 == self.view);
            match self.protocol() {
                Protocol::HotStuff => tc_opens.is_some(),
                Protocol::TwoPhase => tc_opens.is_some_and(|tc| qc >= tc.max_high_qc()),
            }
        } else {
            true
        };
        let round = Round::new(self.view, qc.height + 1);
        // One proposal per slot: a HotStuff leader that learns a higher
        // certificate later in its view must not propose again.
        let slot = |r: Round| self.protocol().vote_slot(r);
        (allowed && slot(round) > slot(self.safety.last_proposed)).then_some(round)
    }

    fn try_propose(&mut self, out: &mut Vec<Action>) {
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
        out.push(Action::RequestPayload { round });
    }

    fn on_payload(
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
        let opens_by_timeout = needs_timeout_certificate(self.protocol(), qc.round, round.view);
        let header = BlockHeader {
            chain: self.cfg.chain,
            epoch: self.cfg.epoch,
            view: round.view,
            height: round.height,
            parent: qc.block,
            tx_root,
            state_root: block::state_root_after(&parent.header.state_root, round.height, &tx_root),
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

    /// Whether this node still votes and proposes in `view`: it is the
    /// current view and this node has not timed out in it.
    fn signs_in(&self, view: View) -> bool {
        view == self.view && self.my_timeout.is_none()
    }

    /// The host has carried out the actions before a [`Action::Yield`]:
    /// the safety state they persisted may be in flight to the disk while
    /// this signs, since the host holds every send until it is durable.
    fn on_resumed(&mut self, out: &mut Vec<Action>) {
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
            let vote = SignedStatement::sign(data, self.cfg.me, &self.key);
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

    /// Folds late votes into the certificate this node collected, so the
    /// justify of its proposal names every voter heard from.
    fn extend_high_qc(&mut self, out: &mut Vec<Action>) {
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

    /// Whether folding the late votes on `subject` is worth its pairing,
    /// which sits on the leader's critical path every view. HotStuff folds
    /// them so that a member whose votes always come last is still
    /// certified, and so gets its turns in the Carousel rotation among the
    /// parent certificate's signers; for that it is enough to fold when a
    /// late voter was left out of the certificate before this one too,
    /// which certifies such a member at least every other view. Two-phase
    /// BFT ranks leaders by availability and folds every late vote.
    fn folding_needed(&self, subject: &(Round, Digest)) -> bool {
        let late = self.votes.late_voters(subject);
        if late.is_empty() {
            return false;
        }
        if self.protocol() != Protocol::HotStuff {
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

    fn handle_proposal(&mut self, from: u32, block: Arc<Block>, out: &mut Vec<Action>) {
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

    /// Votes now for an empty payload or this node's own, otherwise once
    /// the host has checked the payload, whatever its form: that every
    /// batch it references is held and matches the transaction root, that
    /// every transaction in it is valid (signatures included). A replica
    /// that voted for inline records on the proposer's word let a
    /// Byzantine leader commit forged records in any sender's name.
    fn vote_when_available(
        &mut self,
        from: u32,
        block: &Arc<Block>,
        hash: Digest,
        out: &mut Vec<Action>,
    ) {
        if !block.payload.is_empty() && from != self.cfg.me {
            if block.header.view == self.view && self.payload_checks.len() < MAX_ORPHANS {
                self.payload_checks.insert(hash, from);
                out.push(Action::CheckPayload(block.clone()));
            }
            return;
        }
        self.maybe_vote(block, hash, out);
    }

    fn on_payload_checked(&mut self, hash: Digest, verdict: PayloadVerdict, out: &mut Vec<Action>) {
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
    fn attach(
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
        let expected = block::state_root_after(
            &parent.header.state_root,
            block.header.height,
            &block.header.tx_root,
        );
        if block.header.state_root != expected {
            self.misbehaviour(from, "proposal state root mismatch", out);
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
    fn certified_arrived(&mut self, block: &Arc<Block>, hash: Digest, out: &mut Vec<Action>) {
        if self.unattached.remove(&hash).is_some() {
            self.apply_chain_rules(block, out);
        }
    }

    fn adopt_orphans(&mut self, out: &mut Vec<Action>) {
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
    fn maybe_vote(&mut self, block: &Arc<Block>, hash: Digest, out: &mut Vec<Action>) {
        if !self.signs_in(block.header.view) {
            return;
        }
        let extends_lock = match self.protocol() {
            Protocol::HotStuff => self.tree.extends(&hash, &self.safety.locked_block),
            Protocol::TwoPhase => None,
        };
        if !safe_to_vote(self.protocol(), &self.safety, block, extends_lock) {
            return;
        }
        let round = block.round();
        self.safety.last_voted = self.protocol().vote_slot(round);
        if self.protocol() == Protocol::TwoPhase && block.header.justify.round > self.safety.locked
        {
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
        let to = match self.protocol() {
            Protocol::HotStuff => self.proposer_for(round.view + 1, block),
            Protocol::TwoPhase => self.leader_of(round.view),
        };
        // Signed after the yield, while the host makes the vote durable.
        self.unsigned_votes.push((data, to));
        out.push(Action::Yield);
    }

    // ---------------------------------------------------------------- votes

    fn handle_vote(&mut self, from: u32, vote: SignedStatement, out: &mut Vec<Action>) {
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
        let (lo, hi) = match self.protocol() {
            Protocol::HotStuff => (self.view.saturating_sub(1), self.last_buffered_view()),
            Protocol::TwoPhase => (self.view, self.last_buffered_view()),
        };
        if round.view < lo || round.view > hi || round < self.safety.high_qc.round {
            return;
        }
        if self.protocol() == Protocol::TwoPhase && round.height > self.last_buffered_height() {
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

    fn handle_timeout(&mut self, from: u32, t: TimeoutMessage, out: &mut Vec<Action>) {
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

    fn add_timeout(&mut self, from: u32, t: &TimeoutMessage, out: &mut Vec<Action>) {
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

    fn remove_timeout_round(&mut self, view: View, signer: u32) {
        if let Some(r) = self.timeout_rounds.get_mut(&view) {
            r.remove(&signer);
        }
    }

    // ----------------------------------------------------------------- sync

    fn request_sync(
        &mut self,
        peer: u32,
        target: Digest,
        target_height: Height,
        out: &mut Vec<Action>,
    ) {
        if target_height <= self.committed_height() || peer == self.cfg.me {
            return;
        }
        // One request in flight at a time. A lagging node hears of a new
        // block every view; asking again for each would have a peer serve
        // the same range over and over (and fill the connection with
        // streams) while the first answer is on its way.
        if let Some(s) = self.sync.as_mut() {
            let known = s
                .later
                .map_or(s.target_height, |(_, h)| h.max(s.target_height));
            if target_height > known {
                s.later = Some((target, target_height));
            }
            return;
        }
        self.sync = Some(SyncInFlight {
            target,
            target_height,
            peer,
            attempts: 0,
            later: None,
        });
        self.send_sync_request(out);
    }

    fn send_sync_request(&mut self, out: &mut Vec<Action>) {
        let Some(s) = &self.sync else {
            return;
        };
        self.stats.syncs_requested += 1;
        out.push(Action::Fetch {
            from: s.peer,
            request: SyncRequest {
                chain: self.cfg.chain,
                epoch: self.cfg.epoch,
                from_height: self.committed_height() + 1,
                target: s.target,
                target_height: s.target_height,
            },
        });
        self.sync_generation += 1;
        out.push(Action::SetTimer {
            id: TimerId {
                kind: TimerKind::Sync,
                generation: self.sync_generation,
            },
            after: self.cfg.base_timeout,
        });
    }

    fn retry_sync(&mut self, out: &mut Vec<Action>) {
        let n = self.cfg.committee.len() as u32;
        let me = self.cfg.me;
        let Some(s) = self.sync.as_mut() else {
            return;
        };
        s.attempts += 1;
        if s.attempts > 3 * n {
            self.sync = None;
            return;
        }
        s.peer = (s.peer + 1) % n;
        if s.peer == me {
            s.peer = (s.peer + 1) % n;
        }
        if let Some((target, height)) = s.later.take() {
            (s.target, s.target_height) = (target, height);
        }
        self.send_sync_request(out);
    }

    fn handle_sync_response(&mut self, from: u32, resp: SyncResponse, out: &mut Vec<Action>) {
        // Only the member asked last may answer: anyone else's response is
        // work nobody asked this node to do.
        let Some(sync) = self.sync.as_ref().filter(|s| s.peer == from) else {
            return self.unhelpful(from, "unsolicited sync response", out);
        };
        let target = sync.target;
        if !self.in_scope(resp.chain, resp.epoch) {
            return self.unhelpful(from, "sync response for another chain or epoch", out);
        }
        let committed = self.committed_height();
        let blocks: Vec<Arc<Block>> = resp
            .blocks
            .into_inner()
            .into_iter()
            .filter(|b| b.header.height > committed)
            .map(Arc::new)
            .collect();
        let Some(top) = blocks.last() else {
            return;
        };
        // Hash links, heights and per-block rules.
        let Some(first_parent) = self.tree.get(&blocks[0].header.parent).cloned() else {
            return self.unhelpful(from, "sync response does not connect", out);
        };
        let mut parent = first_parent;
        let mut hashes = Vec::with_capacity(blocks.len());
        for b in &blocks {
            let hash = b.hash();
            let ok = b.header.parent == parent.hash()
                && parent.header.height.checked_add(1) == Some(b.header.height)
                && self.in_scope(b.header.chain, b.header.epoch)
                && check_block_rules(self.protocol(), b).is_ok()
                && b.inline_tx_root_matches() != Some(false)
                && b.header.state_root
                    == block::state_root_after(
                        &parent.header.state_root,
                        b.header.height,
                        &b.header.tx_root,
                    );
            if !ok {
                return self.misbehaviour(from, "sync response blocks do not chain", out);
            }
            hashes.push(hash);
            parent = b.clone();
        }
        // The top block is authenticated by a certificate: the one that made
        // us ask (for the target) or the one in the response.
        let top_hash = *hashes.last().expect("non-empty");
        let top_certified = top_hash == target
            || resp.certificate.as_ref().is_some_and(|qc| {
                qc.block == top_hash && qc.round == top.round() && self.verify_qc(qc)
            });
        if !top_certified {
            return self.unhelpful(from, "sync response is not certified", out);
        }
        // Everything below is authenticated by the hash links: its embedded
        // certificates were checked by the honest voters of each child.
        for (b, hash) in blocks.iter().zip(hashes) {
            self.observe_proposal(&b.proposal_statement(), out);
            if self.tree.insert(b.clone(), hash).unwrap_or(false) {
                out.push(Action::StoreBlock(b.clone()));
                self.certified_arrived(b, hash, out);
            }
            let j = b.header.justify.clone();
            self.verified.insert(j.id());
            self.process_qc(&j, out);
        }
        if let Some(qc) = resp.certificate {
            self.process_qc(&qc, out);
        }
        let reached = top.header.height.max(self.committed_height());
        if let Some(s) = self.sync.take() {
            let next = if s.target_height > reached {
                Some((s.target, s.target_height))
            } else {
                s.later.filter(|&(_, h)| h > reached)
            };
            if let Some((target, target_height)) = next {
                let later = s.later.filter(|&(_, h)| h > target_height);
                self.sync = Some(SyncInFlight {
                    target,
                    target_height,
                    peer: from,
                    attempts: 0,
                    later,
                });
                self.send_sync_request(out);
            }
        }
        self.adopt_orphans(out);
        self.try_propose(out);
    }
}

#[cfg(test)]
impl ConsensusCore {
    pub(crate) fn open_vote_subjects(&self) -> usize {
        self.votes.len()
    }

    pub(crate) fn tracked_statements(&self) -> usize {
        self.equivocation.first.len()
    }
}
