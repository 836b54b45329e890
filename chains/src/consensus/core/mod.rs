//! The consensus core: one state machine for both protocols. This file
//! holds its state and the dispatcher (`on_event`); each part of the
//! protocol is a file beside it: `voter` (proposals and votes under the
//! safety rules), `collector` (votes into certificates), `certificates`
//! (checking them; lock and commit rules), `pacemaker` (views, timers,
//! timeouts), `proposer`, `state_roots` (the executed state a block
//! names), `sync_client`, `evidence` (equivocation), and `deferred`
//! (signing after a yield).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;

use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::{CheckPolicy, SecretKey, VoteError};

mod certificates;
mod collector;
mod deferred;
mod epoch_end;
mod evidence;
mod pacemaker;
mod proposer;
mod state_roots;
mod sync_client;
mod voter;

use evidence::{EquivocationTracker, Seen};
pub use state_roots::KEPT_ROOTS;
use state_roots::{ExecutedRoots, StateCheck};

use super::phase::Phase;
use super::safety::{check_block_rules, safe_to_vote, SafetyState};
use super::tree::BlockTree;
use super::{
    Action, CoreConfig, Event, Fault, Micros, PayloadVerdict, Recovery, TimerId, TimerKind,
};
use crate::types::{
    block, Block, BlockHeader, ChainRules, ConsensusMessage, Evidence, Height, Payload, Protocol,
    QuorumCertificate, Round, SignedStatement, Statement, SyncRequest, SyncResponse,
    TimeoutCertificate, TimeoutMessage, View, ViewStep, VoteData, VoteRecipient,
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
    /// A catch-up (`Event::CatchUp`): the next committed range, not a
    /// certified block this node heard of; a real sync replaces it.
    catch_up: bool,
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
    /// A threshold committee member's share of the group key, which signs
    /// its votes (`set_vote_key`); its own key signs everything else.
    vote_key: Option<SecretKey>,
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
    /// Roots of the heights the host executed, and proposals waiting for one.
    executed: ExecutedRoots,
    sync: Option<SyncInFlight>,
    sync_generation: u64,
    stats: CoreStats,
    /// The unsigned certificate of the block this epoch starts from (the
    /// genesis, or the previous epoch's last block).
    start_qc: QuorumCertificate,
    /// The epoch's last block is committed: the core no longer acts.
    ended: bool,
    /// An epoch change whose blocks' ancestors are being fetched.
    held_epoch_change: Option<(u32, crate::types::EpochChange)>,
}

impl ConsensusCore {
    pub fn new(cfg: CoreConfig, key: SecretKey) -> ConsensusCore {
        let genesis_hash = cfg.genesis.hash();
        let committee = cfg.committee.clone();
        let threshold = cfg.threshold;
        let start_qc = QuorumCertificate::start_of(cfg.chain, cfg.epoch, &cfg.genesis.header);
        ConsensusCore {
            safety: SafetyState::starting_at(start_qc.clone()),
            checked_high_qc: start_qc.clone(),
            start_qc,
            ended: false,
            held_epoch_change: None,
            tree: BlockTree::new(cfg.genesis.clone()),
            votes: Phase::with_policy(committee.clone(), threshold, CheckPolicy::Deferred),
            // Timeouts are signed with the members' own keys on every
            // committee (each signs its own round: no share combines).
            timeouts: Phase::new(Arc::new(committee.without_group()), threshold),
            cfg,
            key,
            vote_key: None,
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
            executed: ExecutedRoots::default(),
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

    /// Signs this node's votes with `share`, its share of a threshold
    /// committee's group key (`dynasty::EpochSeat::with_share`).
    pub fn set_vote_key(&mut self, share: SecretKey) {
        self.vote_key = Some(share);
    }

    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    /// Whether this node only follows the epoch (see [`CoreConfig::me`]).
    pub fn observer(&self) -> bool {
        self.cfg.me as usize >= self.cfg.committee.len()
    }

    /// Whether the epoch's last block is committed (the host starts the
    /// next epoch's core).
    pub fn ended(&self) -> bool {
        self.ended
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
        // The beacon leader (HotStuff): drawn from the group signature the
        // parent's certificate of this epoch carries (unique, so no
        // collector can choose it; one of the epoch before may be a
        // multisig aggregate, which its collector could shape).
        if self.rules().rotates_among_signers()
            && self.cfg.committee.group().is_some()
            && parent.header.view + 1 == view
            && parent.header.justify.epoch == self.cfg.epoch
        {
            if let Some(l) =
                crate::consensus::beacon::value_of(&parent.header.justify).and_then(|b| {
                    self.cfg
                        .leader
                        .beacon_leader(&self.cfg.committee, self.cfg.epoch, view, &b)
                })
            {
                return l;
            }
        }
        // A threshold certificate's record of shares is the collector's
        // word, not proven by the signature: no leader is drawn from it.
        if self.rules().rotates_among_signers()
            && self.cfg.committee.group().is_none()
            && parent.header.view + 1 == view
        {
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
            !self.rules().many_heights_per_view() || round.height <= self.last_buffered_height();
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

    /// Where the two protocols differ (`types::rules`).
    fn rules(&self) -> &'static dyn ChainRules {
        self.cfg.protocol.rules()
    }

    /// The state machine's one entry point.
    pub fn on_event(&mut self, now: Micros, event: Event) -> Vec<Action> {
        self.now = now;
        let mut out = Vec::new();
        match event {
            Event::Restored(rec) => self.on_restored(*rec, &mut out),
            _ if !self.started || self.ended => {}
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
            Event::Executed { height, root } => self.on_executed(height, root, &mut out),
            Event::CatchUp { peer } => self.catch_up(peer, &mut out),
        }
        if self.ended {
            // The epoch ended during this event: what the core did after
            // is void (the next epoch's core takes over from the proof).
            if let Some(k) = out.iter().position(|a| matches!(a, Action::EpochEnded(_))) {
                out.truncate(k + 1);
            }
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
        if self
            .cfg
            .epoch_end
            .is_some_and(|e| self.committed_height() >= e.last_height)
        {
            // Restored after the epoch ended: the host starts the next.
            self.ended = true;
            out.push(Action::EpochEnded(None));
            return;
        }
        let mut pending = rec.pending;
        // Blocks of other epochs (an earlier one's uncommitted tail) are
        // not this core's.
        pending.retain(|b| b.header.epoch == self.cfg.epoch);
        pending.sort_by_key(|b| b.header.height);
        for b in pending {
            let hash = b.hash();
            let _ = self.tree.insert(Arc::new(b), hash);
        }
        self.recover_high_qc();
        let start = self.rules().first_view(self.safety.high_qc.round);
        let after_tc = self.safety.high_tc_view().map_or(0, |v| v + 1);
        let voted = self.safety.last_voted.view;
        let view = start.max(after_tc).max(voted).max(1);
        self.enter_view(view, true, out);
        let high = self.safety.high_qc.clone();
        if !self.tree.contains(&high.block) && high.round.height > self.committed_height() {
            let peer = ((u64::from(self.cfg.me) + 1) % self.cfg.committee.len() as u64) as u32;
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
            let justify = self.tree.get(&high.block).map(|b| b.header.justify.clone());
            self.safety.high_qc = match justify {
                Some(j) if self.verify_qc(&j) => j,
                _ => self.start_qc.clone(),
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
            ConsensusMessage::EpochChange(ec) => self.handle_epoch_change(from, *ec, out),
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
}

#[cfg(test)]
impl ConsensusCore {
    /// The view timer that is live now (tests fire it by hand).
    pub(crate) fn view_timer_for_tests(&self) -> TimerId {
        TimerId {
            kind: TimerKind::View(self.view),
            generation: self.timer_generation,
        }
    }

    pub(crate) fn open_vote_subjects(&self) -> usize {
        self.votes.len()
    }

    pub(crate) fn tracked_statements(&self) -> usize {
        self.equivocation.first.len()
    }
}
