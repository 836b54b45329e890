//! The committee actor of one chain: owns the pure consensus core and the
//! chain's store, feeds the core messages, timers and payloads, and carries
//! out its actions in order. A `Persist` is written (synced) before any
//! later send of the same batch leaves: the sends only go to the network
//! bridge after the write returned.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use serde::Serialize;
use strata_chains::consensus::{self, Action, ConsensusCore, Event, Recovery, TimerId, TimerKind};
use strata_chains::store::{RocksStore, Store};
use strata_chains::types::{
    Block, ChainId, ConsensusMessage, Height, Payload, QuorumCertificate, Round, SyncRequest,
    SyncResponse, Transaction,
};
use strata_crypto::hash::Digest;
use strata_crypto::merkle::MerkleTree;
use tokio::sync::oneshot;

use crate::bridge::{Broadcast, NetworkBridge, RequestSync, SendWire};
use crate::mempool::{self, Mempool};
use crate::metrics::{chain_label, Metrics};
use crate::state::StateStore;
use crate::wire::Wire;

pub struct ChainActor {
    chain: ChainId,
    core: ConsensusCore,
    store: RocksStore,
    state: StateStore,
    mempool: Addr<Mempool>,
    bridge: Addr<NetworkBridge>,
    metrics: Arc<Metrics>,
    label: String,
    view_timer: Option<SpawnHandle>,
    sync_timer: Option<SpawnHandle>,
    commit_queue: VecDeque<Arc<Block>>,
    committing: bool,
    received_at: HashMap<Digest, Instant>,
    last_high_qc: Digest,
    last_stats: consensus::core::CoreStats,
    tx_waiters: HashMap<Digest, Vec<oneshot::Sender<()>>>,
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Stops the node: the chain cannot continue without its storage.
fn fatal(what: &str, e: impl std::fmt::Display) -> ! {
    tracing::error!("node stops: {what}: {e}");
    eprintln!("strata: node stops: {what}: {e}");
    std::process::exit(70)
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
        Event::PayloadChecked { valid, .. } => format!("payload checked {valid}"),
        Event::Timer(t) => format!("timer {t:?}"),
        Event::Restored(_) => "restored".into(),
    }
}

fn action_name(a: &Action) -> String {
    match a {
        Action::Send { to, msg } => format!("send to {to}: {}", message_name(msg)),
        Action::Broadcast(msg) => format!("broadcast {}", message_name(msg)),
        Action::Commit(b) => format!("commit {} blocks", b.len()),
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

impl ChainActor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain: ChainId,
        core: ConsensusCore,
        store: RocksStore,
        state: StateStore,
        mempool: Addr<Mempool>,
        bridge: Addr<NetworkBridge>,
        metrics: Arc<Metrics>,
    ) -> ChainActor {
        ChainActor {
            label: chain_label(chain),
            chain,
            core,
            store,
            state,
            mempool,
            bridge,
            metrics,
            view_timer: None,
            sync_timer: None,
            commit_queue: VecDeque::new(),
            committing: false,
            received_at: HashMap::new(),
            last_high_qc: Digest::ZERO,
            last_stats: Default::default(),
            tx_waiters: HashMap::new(),
        }
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

    fn apply(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        for action in actions {
            match action {
                Action::Persist(state) => {
                    if let Err(e) = self.store.save_safety(&state) {
                        fatal("persisting the safety state failed", e);
                    }
                }
                Action::StoreBlock(b) => {
                    if let Err(e) = self.store.put_block(&b) {
                        fatal("storing a block failed", e);
                    }
                }
                Action::Send { to, msg } => self.bridge.do_send(SendWire::new(
                    self.chain,
                    to,
                    &Wire::Consensus {
                        chain: self.chain,
                        msg,
                    },
                )),
                Action::Broadcast(msg) => {
                    if let ConsensusMessage::Proposal(b) = &msg {
                        self.received_at.insert(b.hash(), Instant::now());
                    }
                    self.bridge.do_send(Broadcast {
                        chain: self.chain,
                        wire: Wire::Consensus {
                            chain: self.chain,
                            msg,
                        },
                    })
                }
                Action::SetTimer { id, after } => self.set_timer(id, after, ctx),
                Action::RequestPayload { round } => {
                    self.mempool.do_send(mempool::RequestPayload { round })
                }
                Action::CheckPayload(block) => self.mempool.do_send(mempool::CheckPayload(block)),
                Action::Commit(blocks) => {
                    self.commit_queue.extend(blocks);
                    self.next_commit(ctx);
                }
                Action::Fetch { from, request } => self.bridge.do_send(RequestSync {
                    chain: self.chain,
                    to: from,
                    request,
                }),
                Action::Evidence(e) => {
                    tracing::warn!(chain = %self.chain, "evidence of misbehaviour: {e:?}");
                }
                Action::Misbehaviour { peer, reason } => {
                    tracing::debug!(chain = %self.chain, peer, reason, "peer misbehaved");
                    self.metrics.reject(reason);
                }
            }
        }
    }

    fn set_timer(&mut self, id: TimerId, after: Duration, ctx: &mut Context<Self>) {
        let handle = ctx.run_later(after, move |act, ctx| act.feed(Event::Timer(id), ctx));
        let slot = match id.kind {
            TimerKind::View(_) => &mut self.view_timer,
            TimerKind::Sync => &mut self.sync_timer,
        };
        if let Some(old) = slot.replace(handle) {
            ctx.cancel_future(old);
        }
    }

    /// Commits queued blocks one at a time, fetching batches when needed.
    fn next_commit(&mut self, ctx: &mut Context<Self>) {
        while !self.committing {
            let Some(block) = self.commit_queue.front().cloned() else {
                return;
            };
            let refs: Vec<(Digest, u32)> = match &block.payload {
                Payload::Batches(refs) => refs.iter().map(|r| (r.digest, r.author)).collect(),
                Payload::Inline(_) => Vec::new(),
            };
            let missing: Vec<(Digest, u32)> = refs
                .into_iter()
                .filter(|(d, _)| !matches!(self.store.batch(d), Ok(Some(_))))
                .collect();
            if missing.is_empty() {
                self.commit_queue.pop_front();
                self.finalize(&block);
                continue;
            }
            self.committing = true;
            let fut = self.mempool.send(mempool::EnsureBatches(missing));
            ctx.spawn(fut.into_actor(self).map(|_, act, ctx| {
                act.committing = false;
                act.next_commit(ctx);
            }));
        }
    }

    /// Writes a committed block, executes it and tells everyone.
    fn finalize(&mut self, block: &Arc<Block>) {
        let height = block.header.height;
        if let Err(e) = self.store.commit(std::slice::from_ref(&**block)) {
            fatal("committing a block failed", e);
        }
        let (txs, batches) = match self.transactions_of(block) {
            Ok(v) => v,
            Err(e) => fatal("reading a committed block's batches failed", e),
        };
        let applied = match self
            .state
            .apply(height, unix_micros() / 1000, &txs, &batches)
        {
            Ok(a) => a,
            Err(e) => fatal("executing a committed block failed", e),
        };
        let all_batches: Vec<Digest> = match &block.payload {
            Payload::Batches(refs) => refs.iter().map(|r| r.digest).collect(),
            Payload::Inline(_) => Vec::new(),
        };
        self.mempool.do_send(mempool::Committed {
            height,
            batches: all_batches,
        });
        let m = &self.metrics;
        m.committed_height
            .with_label_values(&[self.label.as_str()])
            .set(height as i64);
        m.committed_transactions
            .with_label_values(&[self.label.as_str()])
            .inc_by(applied.accepted as u64);
        m.refused_transactions
            .with_label_values(&[self.label.as_str()])
            .inc_by(applied.refused.len() as u64);
        if let Some(t) = self.received_at.remove(&block.hash()) {
            m.commit_latency
                .with_label_values(&[self.label.as_str()])
                .observe(t.elapsed().as_secs_f64());
        }
        if self.received_at.len() > 4096 {
            self.received_at.clear();
        }
        if !self.tx_waiters.is_empty() {
            for tx in &txs {
                if let Some(waiters) = self.tx_waiters.remove(&tx.hash()) {
                    for w in waiters {
                        let _ = w.send(());
                    }
                }
            }
        }
    }

    /// A committed block's transactions in order, skipping batches that an
    /// earlier block already executed; and the batches executed now.
    fn transactions_of(&self, block: &Block) -> Result<(Vec<Transaction>, Vec<Digest>), String> {
        match &block.payload {
            Payload::Inline(txs) => Ok((txs.to_vec(), Vec::new())),
            Payload::Batches(refs) => {
                let mut txs = Vec::new();
                let mut fresh = Vec::new();
                for r in refs.iter() {
                    if self
                        .state
                        .batch_executed(&r.digest)
                        .map_err(|e| e.to_string())?
                        || fresh.contains(&r.digest)
                    {
                        continue;
                    }
                    let batch = self
                        .store
                        .batch(&r.digest)
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("batch {} missing", r.digest))?;
                    txs.extend(batch.transactions.into_inner());
                    fresh.push(r.digest);
                }
                Ok((txs, fresh))
            }
        }
    }

    /// Re-executes committed blocks the state has not applied (after a
    /// crash between the commit write and the state write).
    fn catch_up_state(&mut self) {
        let applied = self.state.applied_height().unwrap_or(0);
        let tip = self.core.committed_height();
        for h in applied + 1..=tip {
            match self.store.block_at(h) {
                Ok(Some(b)) => {
                    let (txs, batches) = self
                        .transactions_of(&b)
                        .unwrap_or_else(|e| fatal("replaying committed blocks failed", e));
                    if let Err(e) = self.state.apply(h, unix_micros() / 1000, &txs, &batches) {
                        fatal("replaying committed blocks failed", e);
                    }
                }
                other => fatal(
                    "replaying committed blocks failed",
                    format!("block {h}: {other:?}"),
                ),
            }
        }
    }
}

impl Actor for ChainActor {
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
        self.catch_up_state();
        self.metrics
            .committed_height
            .with_label_values(&[self.label.as_str()])
            .set(self.core.committed_height() as i64);
        tracing::info!(chain = %self.chain, height = self.core.committed_height(), view = self.core.view(), "chain started");
    }
}

/// A consensus message from committee member `from`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Inbound {
    pub from: u32,
    pub msg: ConsensusMessage,
}

impl Handler<Inbound> for ChainActor {
    type Result = ();
    fn handle(&mut self, msg: Inbound, ctx: &mut Context<Self>) {
        if let ConsensusMessage::Proposal(b) = &msg.msg {
            if self.received_at.len() < 8192 {
                self.received_at
                    .entry(b.hash())
                    .or_insert_with(Instant::now);
            }
        }
        self.feed(
            Event::Message {
                from: msg.from,
                msg: msg.msg,
            },
            ctx,
        );
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct PayloadReady {
    pub round: Round,
    pub payload: Payload,
    pub batches_tx_root: Option<Digest>,
}

impl Handler<PayloadReady> for ChainActor {
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

#[derive(Message)]
#[rtype(result = "()")]
pub struct PayloadChecked {
    pub block: Digest,
    pub valid: bool,
}

impl Handler<PayloadChecked> for ChainActor {
    type Result = ();
    fn handle(&mut self, msg: PayloadChecked, ctx: &mut Context<Self>) {
        self.feed(
            Event::PayloadChecked {
                block: msg.block,
                valid: msg.valid,
            },
            ctx,
        );
    }
}

/// A peer's sync request, answered from the store.
#[derive(Message)]
#[rtype(result = "Option<SyncResponse>")]
pub struct ServeSync(pub SyncRequest);

impl Handler<ServeSync> for ChainActor {
    type Result = Option<SyncResponse>;
    fn handle(&mut self, msg: ServeSync, _: &mut Context<Self>) -> Option<SyncResponse> {
        consensus::sync::serve(&self.store, &msg.0).ok().flatten()
    }
}

/// Where a transaction stands.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum TxStatus {
    Pending,
    Committed {
        chain: String,
        block: String,
        height: Height,
        index: u32,
        /// When this node committed the block (Unix ms).
        committed_at_ms: Option<u64>,
        /// Set when the executor refused the committed transaction.
        #[serde(skip_serializing_if = "Option::is_none")]
        refused: Option<String>,
    },
    Unknown,
}

/// Status of a transaction; with `wait`, answers once it commits or the
/// wait ends.
#[derive(Message)]
#[rtype(result = "TxStatus")]
pub struct GetTx {
    pub hash: Digest,
    pub wait: Option<Duration>,
}

impl ChainActor {
    fn committed_status(&self, hash: &Digest) -> Option<TxStatus> {
        let loc = self.store.tx_location(hash).ok().flatten()?;
        let block = self.store.block_at(loc.height).ok().flatten()?;
        Some(TxStatus::Committed {
            chain: self.chain.to_string(),
            block: block.hash().to_hex(),
            height: loc.height,
            index: loc.index,
            committed_at_ms: self.state.commit_time(loc.height).ok().flatten(),
            refused: self.state.refusal(hash).ok().flatten(),
        })
    }
}

impl Handler<GetTx> for ChainActor {
    type Result = ResponseActFuture<Self, TxStatus>;
    fn handle(&mut self, msg: GetTx, _: &mut Context<Self>) -> Self::Result {
        if let Some(s) = self.committed_status(&msg.hash) {
            return Box::pin(actix::fut::ready(s));
        }
        let pending = self.mempool.send(mempool::IsPending(msg.hash));
        let waiter = msg.wait.map(|w| {
            let (tx, rx) = oneshot::channel();
            self.tx_waiters.entry(msg.hash).or_default().push(tx);
            (w, rx)
        });
        let hash = msg.hash;
        Box::pin(
            async move {
                if let Some((w, rx)) = waiter {
                    let _ = tokio::time::timeout(w, rx).await;
                }
                pending.await.unwrap_or(false)
            }
            .into_actor(self)
            .map(move |pending, act, _| {
                act.tx_waiters.retain(|_, v| {
                    v.retain(|s| !s.is_closed());
                    !v.is_empty()
                });
                match act.committed_status(&hash) {
                    Some(s) => s,
                    None if pending => TxStatus::Pending,
                    None => TxStatus::Unknown,
                }
            }),
        )
    }
}

/// A committed block as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct BlockView {
    pub chain: String,
    pub height: Height,
    pub view: u64,
    pub hash: String,
    pub parent: String,
    pub tx_root: String,
    pub state_root: String,
    pub proposer: u32,
    /// The proposer's clock when it proposed (Unix ms).
    pub timestamp_ms: u64,
    /// When this node committed the block (Unix ms).
    pub committed_at_ms: Option<u64>,
    pub justify_round: String,
    pub justify_signers: usize,
    pub transactions: Vec<String>,
}

#[derive(Message)]
#[rtype(result = "Option<BlockView>")]
pub struct GetBlock(pub Height);

impl Handler<GetBlock> for ChainActor {
    type Result = Option<BlockView>;
    fn handle(&mut self, msg: GetBlock, _: &mut Context<Self>) -> Option<BlockView> {
        let b = self.store.block_at(msg.0).ok().flatten()?;
        let hashes = self.tx_hashes(&b)?;
        let h = &b.header;
        Some(BlockView {
            chain: self.chain.to_string(),
            height: h.height,
            view: h.view,
            hash: b.hash().to_hex(),
            parent: h.parent.to_hex(),
            tx_root: h.tx_root.to_hex(),
            state_root: h.state_root.to_hex(),
            proposer: h.proposer,
            timestamp_ms: h.timestamp_ms,
            committed_at_ms: self.state.commit_time(h.height).ok().flatten(),
            justify_round: h.justify.round.to_string(),
            justify_signers: h.justify.cert.as_ref().map_or(0, |c| c.signers.count()),
            transactions: hashes.iter().map(|d| d.to_hex()).collect(),
        })
    }
}

impl ChainActor {
    fn tx_hashes(&self, b: &Block) -> Option<Vec<Digest>> {
        match &b.payload {
            Payload::Inline(txs) => Some(txs.iter().map(|t| t.hash()).collect()),
            Payload::Batches(refs) => {
                let mut out = Vec::new();
                for r in refs.iter() {
                    let batch = self.store.batch(&r.digest).ok().flatten()?;
                    out.extend(batch.transactions.iter().map(|t| t.hash()));
                }
                Some(out)
            }
        }
    }
}

/// What a light client needs to check that a transaction is committed: the
/// block header, the Merkle proof of the transaction under its root, and the
/// committee's certificate of the block.
#[derive(Clone, Debug, Serialize)]
pub struct TxProof {
    pub chain: u32,
    pub height: Height,
    /// SCALE-encoded `BlockHeader`, hex.
    pub header: String,
    pub index: u64,
    pub leaf_count: u64,
    pub siblings: Vec<String>,
    /// SCALE-encoded `QuorumCertificate` of the block, hex.
    pub certificate: String,
}

#[derive(Message)]
#[rtype(result = "Option<TxProof>")]
pub struct GetTxProof(pub Digest);

impl Handler<GetTxProof> for ChainActor {
    type Result = Option<TxProof>;
    fn handle(&mut self, msg: GetTxProof, _: &mut Context<Self>) -> Option<TxProof> {
        use parity_scale_codec::Encode;
        let loc = self.store.tx_location(&msg.0).ok().flatten()?;
        let block = self.store.block_at(loc.height).ok().flatten()?;
        let child = self.store.block_at(loc.height + 1).ok().flatten()?;
        let certificate: QuorumCertificate = child.header.justify;
        if certificate.block != block.hash() {
            return None;
        }
        let tree = MerkleTree::from_leaf_hashes(self.tx_hashes(&block)?);
        let proof = tree.proof(loc.index as u64).ok()?;
        Some(TxProof {
            chain: self.chain.0,
            height: loc.height,
            header: hex::encode(block.header.encode()),
            index: proof.leaf_index,
            leaf_count: proof.leaf_count,
            siblings: proof.siblings.iter().map(|s| s.to_hex()).collect(),
            certificate: hex::encode(certificate.encode()),
        })
    }
}

/// A chain's state for `/v1/status`.
#[derive(Clone, Debug, Serialize)]
pub struct ChainStatus {
    pub chain: String,
    pub protocol: String,
    pub committed_height: Height,
    pub view: u64,
    pub leader: u32,
    pub me: u32,
    pub committee: usize,
    pub high_qc: String,
    pub views_by_timeout: u64,
    pub local_timeouts: u64,
    /// Transactions executed since genesis.
    pub committed_transactions: u64,
    /// Transactions waiting in this node's mempool (filled in by the API).
    pub pending_transactions: usize,
}

#[derive(Message)]
#[rtype(result = "ChainStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for ChainActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> MessageResult<GetStatus> {
        let cfg = self.core.config();
        let s = self.core.stats();
        MessageResult(ChainStatus {
            chain: self.chain.to_string(),
            protocol: cfg.protocol.to_string(),
            committed_height: self.core.committed_height(),
            view: self.core.view(),
            leader: self.core.leader_of(self.core.view()),
            me: cfg.me,
            committee: cfg.committee.len(),
            high_qc: self.core.high_qc().round.to_string(),
            views_by_timeout: s.views_by_timeout,
            local_timeouts: s.local_timeouts,
            committed_transactions: self.state.executed_transactions().unwrap_or(0),
            pending_transactions: 0,
        })
    }
}
