//! The committee actor of one chain: owns the pure consensus core and the
//! chain's store, feeds the core messages, timers and payloads, and carries
//! out its actions in order. A `Persist` is made durable on the chain's
//! persist thread (`persister`) while the core goes on (it signs after a
//! yield); every later send and commit waits until it is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use strata_chains::consensus::{self, Action, ConsensusCore, Event, Recovery, TimerId, TimerKind};
use strata_chains::dynasty::CoreSettings;
use strata_chains::store::{RocksStore, Store};
use strata_chains::types::{Block, ChainId, ConsensusMessage, Height};
use strata_crypto::hash::Digest;
use strata_crypto::pvss::PvssSecretKey;
use strata_crypto::SecretKey;
use strata_net::PeerId;

use self::epochs::EpochDriver;
use crate::chain::commit_log::CommitLog;
use crate::chain::persister::SafetyPersister;
use crate::chain::state::StateStore;
use crate::messages::committee::{
    Inbound, PayloadChecked, PayloadReady, StateExecuted, SyncFailed,
};
use crate::messages::ledger::Execute;
use crate::messages::mempool::{CheckPayload, RequestPayload};
use crate::messages::network::{Broadcast, Penalize, RequestSync, SendWire};
use crate::messages::{Deliver, LedgerPort, MempoolPort, NetworkPort};
use crate::service::metrics::{chain_label, Metrics};
use crate::service::wire::Wire;
use crate::{fatal, unix_micros};

pub struct CommitteeActor {
    chain: ChainId,
    core: ConsensusCore,
    store: RocksStore,
    state: StateStore,
    mempool: MempoolPort,
    bridge: NetworkPort,
    metrics: Arc<Metrics>,
    label: String,
    view_timer: Option<SpawnHandle>,
    sync_timer: Option<(SpawnHandle, TimerId)>,
    received_at: HashMap<Digest, Instant>,
    commit_log: CommitLog,
    last_high_qc: Digest,
    last_stats: consensus::core::CoreStats,
    ledger: LedgerPort,
    persister: SafetyPersister,
    /// The test-only Byzantine driver sees what this node sends.
    tap: Option<Recipient<Tapped>>,
    /// What starts each epoch's core.
    key: SecretKey,
    settings: CoreSettings,
    genesis: Arc<Block>,
    /// The peer at each position of the epoch's committee.
    peers: Vec<PeerId>,
    /// Set when the chain runs epochs.
    epochs: Option<EpochDriver>,
}

/// A consensus message this node sends (`to: None`: to every member),
/// shown to the test-only Byzantine driver, which misuses it (equivocates,
/// replays it later).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Tapped {
    pub to: Option<u32>,
    pub msg: ConsensusMessage,
}

/// Shows every consensus message this node sends to `0` (test mode only).
#[derive(Message)]
#[rtype(result = "()")]
pub struct TapOutgoing(pub Recipient<Tapped>);

impl Handler<TapOutgoing> for CommitteeActor {
    type Result = ();
    fn handle(&mut self, msg: TapOutgoing, _: &mut Context<Self>) {
        self.tap = Some(msg.0);
    }
}

fn message_name(m: &ConsensusMessage) -> String {
    match m {
        ConsensusMessage::Proposal(b) => format!("proposal {}/{}", b.header.view, b.header.height),
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

fn event_name(e: &Event) -> String {
    match e {
        Event::Message { from, msg } => format!("message from {from}: {}", message_name(msg)),
        Event::ProposalReady { round, .. } => format!("proposal ready {round:?}"),
        Event::PayloadChecked { verdict, .. } => format!("payload checked {verdict:?}"),
        Event::Timer(t) => format!("timer {t:?}"),
        Event::Restored(_) => "restored".into(),
        Event::Resumed => "resumed".into(),
        Event::Executed { height, .. } => format!("executed {height}"),
        Event::CatchUp { peer } => format!("catch up from {peer}"),
    }
}

fn action_name(a: &Action) -> String {
    match a {
        Action::Send { to, msg } => format!("send to {to}: {}", message_name(msg)),
        Action::Broadcast(msg) => format!("broadcast {}", message_name(msg)),
        Action::Commit(b) => match b.last() {
            Some(last) => format!("commit {} blocks up to {}", b.len(), last.header.height),
            None => "commit 0 blocks".into(),
        },
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

/// What a committee actor starts cores with, whatever the epoch.
pub struct CoreSetup {
    pub key: SecretKey,
    pub settings: CoreSettings,
    /// The peer at each position of the genesis committee.
    pub peers: Vec<PeerId>,
}

impl CommitteeActor {
    /// `core`: the core of the genesis committee. A chain that runs
    /// epochs (`with_epochs`) replaces it at start with the core of the
    /// epoch its executed state is in.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain: ChainId,
        core: ConsensusCore,
        setup: CoreSetup,
        store: RocksStore,
        state: StateStore,
        mempool: MempoolPort,
        ledger: LedgerPort,
        bridge: NetworkPort,
        metrics: Arc<Metrics>,
        persister: SafetyPersister,
    ) -> CommitteeActor {
        CommitteeActor {
            label: chain_label(chain),
            chain,
            genesis: core.config().genesis.clone(),
            core,
            key: setup.key,
            settings: setup.settings,
            peers: setup.peers,
            epochs: None,
            store,
            state,
            mempool,
            bridge,
            metrics,
            view_timer: None,
            sync_timer: None,
            received_at: HashMap::new(),
            commit_log: CommitLog::default(),
            last_high_qc: Digest::ZERO,
            last_stats: Default::default(),
            ledger,
            persister,
            tap: None,
        }
    }

    /// Runs the chain's epochs, telling `participant` (this node's
    /// dynasty participant) of every executed height.
    /// `pvss` decrypts this node's share of a threshold committee's group
    /// key from the chain's DKG.
    pub fn with_epochs(
        mut self,
        participant: Option<Recipient<StateExecuted>>,
        pvss: Option<PvssSecretKey>,
    ) -> CommitteeActor {
        self.epochs = Some(EpochDriver::new(participant, pvss));
        self
    }

    fn feed(&mut self, event: Event, ctx: &mut Context<Self>) {
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(chain = %self.chain, "event {}", event_name(&event));
        }
        let actions = self.core.on_event(unix_micros(), event);
        if tracing::enabled!(tracing::Level::TRACE) {
            for a in &actions {
                tracing::trace!(chain = %self.chain, "action {}", action_name(a));
            }
        }
        self.apply(actions, ctx);
        self.observe();
    }

    fn observe(&mut self) {
        let m = &self.metrics;
        m.current_view
            .with_label_values(&[self.label.as_str()])
            .set(self.core.view() as i64);
        let s = self.core.stats();
        let d = |now: u64, before: u64| now.saturating_sub(before);
        m.timeouts
            .with_label_values(&[self.label.as_str()])
            .inc_by(d(s.local_timeouts, self.last_stats.local_timeouts));
        m.view_changes
            .with_label_values(&[self.label.as_str()])
            .inc_by(d(s.views_by_timeout, self.last_stats.views_by_timeout));
        if s.local_timeouts > self.last_stats.local_timeouts {
            // Rare when healthy; what an operator reads first in a stall.
            let view = self.core.view();
            tracing::info!(
                chain = %self.chain,
                epoch = self.core.config().epoch,
                view,
                leader = self.core.leader_of(view),
                committed = self.core.committed_height(),
                high_qc = self.core.high_qc().round.height,
                "a view timed out"
            );
        }
        m.evidence
            .with_label_values(&[self.label.as_str()])
            .inc_by(d(s.evidence_emitted, self.last_stats.evidence_emitted));
        self.last_stats = s;
        let high = self.core.high_qc().block;
        if high != self.last_high_qc {
            self.last_high_qc = high;
            if let Some(t) = self.received_at.get(&high) {
                m.qc_formation
                    .with_label_values(&[self.label.as_str()])
                    .observe(t.elapsed().as_secs_f64());
            }
        }
    }

    /// Counts a vote this node sends (`strata_votes_sent_total`).
    fn count_vote(&self, msg: &ConsensusMessage) {
        if matches!(msg, ConsensusMessage::Vote(_)) {
            self.metrics
                .votes
                .with_label_values(&[self.label.as_str()])
                .inc();
        }
    }

    fn apply(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        let mut resume = false;
        let mut ended = false;
        for action in actions {
            if matches!(
                action,
                Action::Send { .. } | Action::Broadcast(_) | Action::Commit(_)
            ) {
                self.persisted();
            }
            match action {
                Action::Persist(state) => {
                    if let Err(e) = self.persister.persist(state) {
                        fatal("persisting the safety state failed", e);
                    }
                }
                Action::StoreBlock(b) => {
                    if let Err(e) = self.store.put_block(&b) {
                        fatal("storing a block failed", e);
                    }
                }
                Action::Send { to, msg } => {
                    self.count_vote(&msg);
                    if let Some(tap) = &self.tap {
                        tap.do_send(Tapped {
                            to: Some(to),
                            msg: msg.clone(),
                        });
                    }
                    self.bridge.do_send(SendWire::new(
                        self.chain,
                        to,
                        &Wire::Consensus {
                            chain: self.chain,
                            msg,
                        },
                    ))
                }
                Action::Broadcast(ConsensusMessage::Proposal(b)) => {
                    self.received_at.insert(b.hash(), Instant::now());
                    if let Some(tap) = &self.tap {
                        tap.do_send(Tapped {
                            to: None,
                            msg: ConsensusMessage::Proposal(b.clone()),
                        });
                    }
                    // Straight to each member on its consensus lane: gossip
                    // would add a hop through the mesh's relays and three
                    // copies per receiver, on the critical path of every
                    // view. A member that misses it syncs the block when the
                    // next certificate names it.
                    let cfg = self.core.config();
                    let (me, n) = (cfg.me, cfg.committee.len() as u32);
                    let wire = SendWire::new(
                        self.chain,
                        me,
                        &Wire::Consensus {
                            chain: self.chain,
                            msg: ConsensusMessage::Proposal(b),
                        },
                    );
                    for msg in wire.to_others(me, n) {
                        self.bridge.do_send(msg);
                    }
                }
                Action::Broadcast(msg) => {
                    self.count_vote(&msg);
                    self.bridge.do_send(Broadcast {
                        chain: self.chain,
                        wire: Wire::Consensus {
                            chain: self.chain,
                            msg,
                        },
                    })
                }
                Action::SetTimer { id, after } => self.set_timer(id, after, ctx),
                Action::RequestPayload { round } => self.mempool.do_send(RequestPayload { round }),
                // The mempool answers with `PayloadChecked` once every batch
                // is here (fetching what is missing) and matches the root.
                Action::CheckPayload(block) => self.mempool.do_send(CheckPayload { block }),
                Action::Commit(blocks) => self.committed(blocks),
                Action::Fetch { from, request } => self.bridge.do_send(RequestSync {
                    chain: self.chain,
                    to: from,
                    request,
                }),
                Action::Evidence(e) => self.evidence(&e),
                Action::Misbehaviour {
                    peer,
                    reason,
                    fault,
                } => self.bridge.do_send(Penalize {
                    chain: self.chain,
                    member: peer,
                    fault,
                    reason,
                }),
                Action::Yield => resume = true,
                Action::EpochEnded(proof) => {
                    if let Some(ec) = proof {
                        if let Err(e) = self.store.put_epoch_change(&ec) {
                            fatal("storing an epoch's end failed", e);
                        }
                        // To every node following the chain: members that
                        // missed the end, and the next committee.
                        self.bridge.do_send(Broadcast {
                            chain: self.chain,
                            wire: Wire::Consensus {
                                chain: self.chain,
                                msg: ConsensusMessage::EpochChange(ec),
                            },
                        });
                    }
                    tracing::info!(chain = %self.chain, epoch = self.core.config().epoch, "epoch ended");
                    ended = true;
                }
            }
        }
        if ended {
            self.epoch_ended();
            return self.hand_over_when_ready(ctx);
        }
        // The sends above are in the bridge's mailbox and leave on its
        // thread while this one goes on.
        if resume {
            self.feed(Event::Resumed, ctx);
        }
    }

    /// Returns once every safety state handed to the persister is durable.
    fn persisted(&mut self) {
        if let Err(e) = self.persister.wait() {
            fatal("persisting the safety state failed", e);
        }
    }

    fn set_timer(&mut self, id: TimerId, after: Duration, ctx: &mut Context<Self>) {
        let handle = ctx.run_later(after, move |act, ctx| act.feed(Event::Timer(id), ctx));
        let old = match id.kind {
            TimerKind::View(_) => self.view_timer.replace(handle),
            TimerKind::Sync => self.sync_timer.replace((handle, id)).map(|(h, _)| h),
        };
        if let Some(old) = old {
            ctx.cancel_future(old);
        }
    }

    /// Keeps a proof of misbehaviour (served at `GET /v1/evidence/{chain}`,
    /// counted in `strata_evidence_total`) and bans the members it
    /// convicts.
    fn evidence(&mut self, e: &strata_chains::types::Evidence) {
        let offenders = e.offenders();
        tracing::warn!(chain = %self.chain, kind = e.kind(), ?offenders, "evidence of misbehaviour");
        if let Err(err) = self.store.put_evidence(e) {
            tracing::error!(chain = %self.chain, "keeping evidence failed: {err}");
        }
        for member in offenders {
            self.bridge.do_send(Penalize {
                chain: self.chain,
                member,
                fault: strata_chains::consensus::Fault::Proven,
                reason: "evidence of equivocation",
            });
        }
        // The chain convicts (issue 27, point 6): every node that caught it
        // posts the proof; the first to commit executes, the others are
        // refused as convicted already.
        if self.epochs.is_some() {
            self.mempool.do_send(crate::messages::mempool::Post {
                txs: vec![strata_chains::types::Transaction::System(Box::new(
                    strata_chains::types::SystemTx::Evidence(e.clone()),
                ))],
                forwarded: false,
            });
        }
    }

    /// Hands committed blocks to the ledger; the commit latency is the
    /// consensus part (proposal seen to committed by the core).
    fn committed(&mut self, blocks: Vec<Arc<Block>>) {
        for b in &blocks {
            if let Some(t) = self.received_at.remove(&b.hash()) {
                self.metrics
                    .commit_latency
                    .with_label_values(&[self.label.as_str()])
                    .observe(t.elapsed().as_secs_f64());
            }
        }
        if self.received_at.len() > 4096 {
            self.received_at.clear();
        }
        if let Some(line) = self.commit_log.note(Instant::now(), &blocks) {
            tracing::info!(
                chain = %self.chain,
                epoch = self.core.config().epoch,
                height = line.height,
                view = line.view,
                blocks = line.blocks,
                transactions = line.transactions,
                "committed"
            );
        }
        self.ledger.do_send(Execute(blocks));
    }
}

impl Handler<SyncFailed> for CommitteeActor {
    type Result = ();
    fn handle(&mut self, _: SyncFailed, ctx: &mut Context<Self>) {
        if let Some((handle, id)) = self.sync_timer.take() {
            ctx.cancel_future(handle);
            self.feed(Event::Timer(id), ctx);
        }
    }
}

impl Actor for CommitteeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(8192);
        let genesis = self.core.config().genesis.clone();
        let store = &mut self.store;
        let tip = match store.committed_tip() {
            Ok(None) => {
                if let Err(e) = store.commit(std::slice::from_ref(&*genesis)) {
                    fatal("initialising the store with the genesis block failed", e);
                }
                genesis.clone()
            }
            Ok(Some((h, _))) => match store.block_at(h) {
                Ok(Some(b)) => Arc::new(b),
                other => fatal("reading the committed tip failed", format!("{other:?}")),
            },
            Err(e) => fatal("reading the store failed", e),
        };
        if self.epochs.is_some() {
            self.begin_epoch(ctx);
            self.start_catching_up(ctx);
            tracing::info!(chain = %self.chain, height = self.core.committed_height(), view = self.core.view(), epoch = self.core.config().epoch, "chain started");
            return;
        }
        let recovery = Recovery {
            safety: store
                .load_safety()
                .unwrap_or_else(|e| fatal("reading the safety state failed", e)),
            committed_tip: tip,
            pending: store
                .uncommitted_blocks()
                .unwrap_or_else(|e| fatal("reading stored blocks failed", e)),
        };
        self.feed(Event::Restored(Box::new(recovery)), ctx);
        // The state this node's ledger executed before the restart, its
        // recent heights (a proposer behind this node names an older one);
        // the ledger reports later heights as it executes them.
        if let Ok(applied) = self.state.applied_height() {
            let first = applied.saturating_sub(consensus::KEPT_ROOTS as u64 - 1);
            for height in first..=applied {
                if let Ok(Some(root)) = self.state.root_at(height) {
                    self.feed(Event::Executed { height, root }, ctx);
                }
            }
        }
        // A chain without epochs serves epoch 0 for ever: exported all the
        // same, so dashboards and alerts read one series per chain.
        self.metrics
            .epoch
            .with_label_values(&[self.label.as_str()])
            .set(0);
        tracing::info!(chain = %self.chain, height = self.core.committed_height(), view = self.core.view(), "chain started");
    }
}

impl Handler<Inbound> for CommitteeActor {
    type Result = ();
    fn handle(&mut self, msg: Inbound, ctx: &mut Context<Self>) {
        if let ConsensusMessage::Proposal(b) = &msg.msg {
            if self.received_at.len() < 8192 {
                self.received_at
                    .entry(b.hash())
                    .or_insert_with(Instant::now);
            }
        }
        self.inbound(msg.peer, msg.msg, ctx);
    }
}

impl Handler<PayloadReady> for CommitteeActor {
    type Result = ();
    fn handle(&mut self, msg: PayloadReady, ctx: &mut Context<Self>) {
        self.feed(
            Event::ProposalReady {
                round: msg.round,
                payload: msg.payload,
                batches_tx_root: msg.batches_tx_root,
            },
            ctx,
        );
    }
}

impl Handler<StateExecuted> for CommitteeActor {
    type Result = ();
    fn handle(&mut self, msg: StateExecuted, ctx: &mut Context<Self>) {
        self.executed(msg.height, msg.root);
        let event = Event::Executed {
            height: msg.height,
            root: msg.root,
        };
        self.feed(event, ctx);
        self.hand_over_when_ready(ctx);
    }
}

impl Handler<PayloadChecked> for CommitteeActor {
    type Result = ();
    fn handle(&mut self, msg: PayloadChecked, ctx: &mut Context<Self>) {
        self.feed(
            Event::PayloadChecked {
                block: msg.block,
                verdict: msg.verdict,
            },
            ctx,
        );
    }
}

/// A chain's state for `/v1/status`.
#[derive(Clone, Debug, Serialize)]
pub struct ChainStatus {
    pub chain: String,
    pub protocol: String,
    pub committed_height: Height,
    pub epoch: u64,
    pub view: u64,
    pub leader: u32,
    pub me: u32,
    pub committee: usize,
    pub high_qc: String,
    /// The height of the highest block this node holds a certificate for.
    pub certified_height: Height,
    /// The height this node's ledger executed (filled in by the API).
    pub executed_height: Height,
    /// Far behind what it has seen certified or committed (by the API).
    pub catching_up: bool,
    pub views_by_timeout: u64,
    pub local_timeouts: u64,
    /// Transactions executed since genesis.
    pub committed_transactions: u64,
    /// Transactions waiting in this node's mempool (filled in by the API).
    pub pending_transactions: usize,
    /// Local chains: the height the global chain last anchored, as this
    /// node learned it (filled in by the API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchored_height: Option<Height>,
}

#[derive(Message)]
#[rtype(result = "ChainStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for CommitteeActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> MessageResult<GetStatus> {
        let cfg = self.core.config();
        let s = self.core.stats();
        MessageResult(ChainStatus {
            chain: self.chain.to_string(),
            protocol: cfg.protocol.to_string(),
            committed_height: self.core.committed_height(),
            epoch: cfg.epoch,
            view: self.core.view(),
            leader: self.core.leader_of(self.core.view()),
            me: cfg.me,
            committee: cfg.committee.len(),
            high_qc: self.core.high_qc().round.to_string(),
            certified_height: self.core.high_qc().round.height,
            executed_height: 0,
            catching_up: false,
            views_by_timeout: s.views_by_timeout,
            local_timeouts: s.local_timeouts,
            committed_transactions: self.state.executed_transactions().unwrap_or(0),
            pending_transactions: 0,
            anchored_height: None,
        })
    }
}

mod epochs;
#[cfg(test)]
mod tests;
