//! The committed side of one chain (docs/design.md §7): executes committed
//! blocks in order, indexes them, answers reads of committed data (records,
//! blocks, inclusion proofs, range sync for peers) and wakes clients waiting
//! for a transaction. It runs on its own thread so that executing a large
//! block never delays the committee actor's votes and proposals; the
//! committee actor only hands it the blocks the core commits.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;
use strata_chains::consensus;
use strata_chains::execution::BlockRef;
use strata_chains::store::{RocksStore, Store, NOT_INDEXED};
use strata_chains::types::{Block, ChainId, Height, Payload, Transaction};
use strata_crypto::hash::Digest;
use strata_crypto::merkle::MerkleTree;
use tokio::sync::oneshot;

use crate::chain::state::{Applied, StateError, StateStore};
use crate::chain::state_proof::{self, CommitProofView, StateProofError, StateProofView};
use crate::config::PayloadMode;
use crate::messages::committee::StateExecuted;
use crate::messages::ledger::{Execute, ReportExecutedTo, ServeSync, SyncAnswer};
use crate::messages::mempool::{Committed, EnsureBatches, IsPending};
use crate::messages::{Deliver, MempoolPort};
use crate::service::metrics::{chain_label, Metrics};
use crate::{fatal, unix_micros};

mod receipts;

pub use receipts::{GetBlockLink, GetExport, GetHeaders, GetIncluded, Included, EXPORT_BUDGET};

pub struct Ledger {
    /// The chain's protocol (its commit rule, for commit proofs).
    protocol: strata_chains::types::Protocol,
    chain: ChainId,
    store: RocksStore,
    state: StateStore,
    mempool: MempoolPort,
    metrics: Arc<Metrics>,
    label: String,
    queue: VecDeque<Arc<Block>>,
    /// Waiting for the mempool to fetch the front block's batches.
    fetching: bool,
    tx_waiters: HashMap<Digest, Vec<oneshot::Sender<()>>>,
    /// Signed chains execute their records; an opaque chain only orders
    /// and counts its transactions, so their bytes are never read back.
    executes_records: bool,
    /// The committee actor, told each executed height's state root.
    report_executed: Option<Recipient<StateExecuted>>,
}

fn unix_millis() -> u64 {
    unix_micros() / 1000
}

/// A committed block's contents, each transaction hashed once.
#[derive(Debug)]
struct BlockContents {
    /// Every transaction the block lists, in order: the leaves of its
    /// `tx_root`, whose proofs the ledger serves.
    listed: Vec<Digest>,
    /// `listed` for the index: `NOT_INDEXED` where a batch is listed again
    /// (in this block or after an earlier one executed it), so a
    /// transaction's location is where it executed and never changes once
    /// answered (a batch proposed twice before either commit: a node asked
    /// before and after the second commit answered two blocks, found by
    /// tests/multiprocess.rs).
    indexed: Vec<Digest>,
    /// The transactions to execute: those of batches no earlier block
    /// executed, with their hashes (`txs` only when they were decoded).
    txs: Vec<Transaction>,
    hashes: Vec<Digest>,
    /// The batches executed now.
    fresh: Vec<Digest>,
    /// Transactions an earlier listing already carried (another batch of
    /// this block or an earlier block: a retry handed to a second member).
    /// They execute again (and are refused: every kind is replay-safe) but
    /// keep their first location and verdict, which clients were answered.
    repeated: BTreeSet<Digest>,
}

/// Why a committed block's contents could not be read.
#[derive(Debug)]
enum ContentsError {
    /// Batches not stored here, with their authors (to fetch them from).
    Missing(Vec<(Digest, u32)>),
    Store(String),
}

fn store_error(e: impl std::fmt::Display) -> ContentsError {
    ContentsError::Store(e.to_string())
}

impl std::fmt::Display for ContentsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContentsError::Missing(m) => write!(f, "{} batches missing", m.len()),
            ContentsError::Store(e) => f.write_str(e),
        }
    }
}

impl Ledger {
    pub fn new(
        chain: ChainId,
        store: RocksStore,
        state: StateStore,
        mempool: MempoolPort,
        metrics: Arc<Metrics>,
        payload: PayloadMode,
        protocol: strata_chains::types::Protocol,
    ) -> Ledger {
        Ledger {
            protocol,
            executes_records: payload == PayloadMode::Signed,
            label: chain_label(chain),
            chain,
            store,
            state,
            mempool,
            metrics,
            queue: VecDeque::new(),
            fetching: false,
            tx_waiters: HashMap::new(),
            report_executed: None,
        }
    }

    /// Commits queued blocks one at a time, fetching batches when needed.
    /// Each batch is read once: the read that finds it is the one that
    /// executes it.
    fn next_commit(&mut self, ctx: &mut Context<Self>) {
        while !self.fetching {
            let Some(block) = self.queue.front().cloned() else {
                return;
            };
            match self.contents(&block) {
                Ok(c) => {
                    self.queue.pop_front();
                    self.finalize(&block, c);
                }
                Err(ContentsError::Missing(missing)) => {
                    self.fetching = true;
                    let (height, epoch, wanted) =
                        (block.header.height, block.header.epoch, missing.len());
                    tracing::debug!(chain = %self.label, height, epoch, batches = wanted, "a committed block waits for its batches");
                    let asked = std::time::Instant::now();
                    let fut = self.mempool.send(EnsureBatches {
                        batches: missing,
                        epoch: Some(epoch),
                    });
                    ctx.spawn(fut.into_actor(self).map(move |_, act, ctx| {
                        // Execution stalls behind a fetch: an operator
                        // sees one that takes longer than a view timeout.
                        let waited = asked.elapsed();
                        if waited > std::time::Duration::from_millis(500) {
                            tracing::warn!(chain = %act.label, height, epoch, batches = wanted, waited_ms = waited.as_millis() as u64, "a committed block waited for its batches");
                        }
                        act.fetching = false;
                        act.next_commit(ctx);
                    }));
                }
                Err(e) => fatal("reading a committed block's batches failed", e),
            }
        }
    }

    /// Writes a committed block, executes it and tells the mempool and the
    /// clients waiting for its transactions.
    fn finalize(&mut self, block: &Arc<Block>, mut c: BlockContents) {
        let height = block.header.height;
        if let Err(e) = self.store.commit_indexed(
            std::slice::from_ref(&**block),
            &[std::mem::take(&mut c.indexed)],
        ) {
            fatal("committing a block failed", e);
        }
        let at = BlockRef::of(block);
        let applied = match self.execute(at, &c) {
            Ok(a) => a,
            Err(e) => fatal("executing a committed block failed", e),
        };
        if let Payload::Batches(refs) = &block.payload {
            self.mempool.do_send(Committed {
                height,
                batches: refs.iter().map(|r| r.digest).collect(),
            });
        }
        tracing::trace!(height, txs = applied.accepted, "executed");
        let traced = tracing::enabled!(tracing::Level::DEBUG);
        for (i, tx) in c.txs.iter().enumerate().filter(|_| traced) {
            if let (Transaction::System(sys), Some(hash)) = (tx, c.hashes.get(i)) {
                let kind = sys.kind();
                match applied.refused.iter().find(|(h, _)| h == hash) {
                    Some((_, why)) => {
                        tracing::debug!(chain = %self.label, height, tx = %hash, kind, "a system transaction refused: {why}")
                    }
                    None => {
                        tracing::debug!(chain = %self.label, height, tx = %hash, kind, "a system transaction executed")
                    }
                }
            }
        }
        self.count_anchors(&c.txs, &c.hashes, &applied.refused);
        self.report_executed(height, applied.root);
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
        if !self.tx_waiters.is_empty() {
            for h in &c.hashes {
                for w in self.tx_waiters.remove(h).unwrap_or_default() {
                    let _ = w.send(());
                }
            }
        }
    }

    fn report_executed(&self, height: Height, root: Digest) {
        if let Some(to) = &self.report_executed {
            to.do_send(StateExecuted { height, root });
        }
    }

    fn contents(&self, block: &Block) -> Result<BlockContents, ContentsError> {
        block_contents(&self.store, &self.state, block, self.executes_records)
    }

    fn execute(&self, block: BlockRef, c: &BlockContents) -> Result<Applied, StateError> {
        if self.executes_records {
            self.state.apply(
                block,
                unix_millis(),
                &c.txs,
                &c.hashes,
                &c.fresh,
                &c.repeated,
            )
        } else {
            self.state
                .apply_ordered(block, unix_millis(), c.hashes.len(), &c.fresh)
        }
    }

    /// Re-executes committed blocks the state has not applied (after a
    /// crash between the commit write and the state write). A batch missing
    /// here (a damaged disk) is fetched from the committee, as for a block
    /// committed live; meanwhile newer blocks wait in the queue. It stopped
    /// the node before, which then stopped again at every restart.
    fn catch_up_state(&mut self, ctx: &mut Context<Self>) {
        let applied = self.state.applied_height().unwrap_or(0);
        let tip = match self.store.committed_tip() {
            Ok(t) => t.map_or(0, |(h, _)| h),
            Err(e) => fatal("reading the committed tip failed", e),
        };
        for h in applied + 1..=tip {
            let b = match self.store.block_at(h) {
                Ok(Some(b)) => b,
                other => fatal(
                    "replaying committed blocks failed",
                    format!("block {h}: {other:?}"),
                ),
            };
            let c = match self.contents(&b) {
                Ok(c) => c,
                Err(ContentsError::Missing(missing)) => {
                    tracing::warn!(
                        height = h,
                        batches = missing.len(),
                        "a committed block's batches are missing here; fetching them"
                    );
                    self.fetching = true;
                    let fut = self.mempool.send(EnsureBatches {
                        batches: missing,
                        epoch: Some(b.header.epoch),
                    });
                    ctx.spawn(fut.into_actor(self).map(|_, act, ctx| {
                        act.fetching = false;
                        act.catch_up_state(ctx);
                        act.next_commit(ctx);
                    }));
                    return;
                }
                Err(e) => fatal("replaying committed blocks failed", e),
            };
            let at = BlockRef::of(&b);
            match self.execute(at, &c) {
                Ok(applied) => self.report_executed(h, applied.root),
                Err(e) => fatal("replaying committed blocks failed", e),
            }
        }
        self.metrics
            .committed_height
            .with_label_values(&[self.label.as_str()])
            .set(tip as i64);
    }
}

impl Ledger {
    /// Committed heights the store could not index when it opened (their
    /// batches are missing here, a damaged disk): their batches are
    /// fetched from the committee and the heights indexed, again every
    /// 200 ms until none is left.
    fn restore_index(&mut self, ctx: &mut Context<Self>) {
        let waiting = match self.store.index_missing() {
            Ok(n) => n,
            Err(e) => fatal("indexing committed blocks failed", e),
        };
        if waiting == 0 {
            // Waiters for records that were committed all along, and only
            // now are indexed again, are answered now.
            let indexed: Vec<Digest> = self
                .tx_waiters
                .keys()
                .filter(|h| matches!(self.store.tx_location(h), Ok(Some(_))))
                .copied()
                .collect();
            for h in indexed {
                for w in self.tx_waiters.remove(&h).unwrap_or_default() {
                    let _ = w.send(());
                }
            }
            return;
        }
        let missing = match self.store.missing_index_batches() {
            Ok(m) => m,
            Err(e) => fatal("reading the unindexed heights failed", e),
        };
        tracing::warn!(
            heights = waiting,
            batches = missing.len(),
            "committed heights wait for their batches to be indexed; fetching them"
        );
        let fut = self.mempool.send(EnsureBatches {
            batches: missing,
            epoch: None,
        });
        ctx.spawn(fut.into_actor(self).map(|_, _, ctx| {
            ctx.run_later(Duration::from_millis(200), |act, ctx| {
                act.restore_index(ctx)
            });
        }));
    }
}

/// Reads a committed block's batches once (each transaction was hashed
/// when it was admitted); with `decode_txs`, decodes the transactions to
/// execute, else reads only their hashes.
fn block_contents(
    store: &RocksStore,
    state: &StateStore,
    block: &Block,
    decode_txs: bool,
) -> Result<BlockContents, ContentsError> {
    let mut c = BlockContents {
        listed: Vec::new(),
        indexed: Vec::new(),
        txs: Vec::new(),
        hashes: Vec::new(),
        fresh: Vec::new(),
        repeated: BTreeSet::new(),
    };
    match &block.payload {
        Payload::Inline(txs) => {
            c.hashes = txs.iter().map(|t| t.hash()).collect();
            c.listed = c.hashes.clone();
            c.indexed = c.hashes.clone();
            c.txs = txs.to_vec();
        }
        Payload::Batches(refs) => {
            // A batch listed twice is indexed and executed once.
            let mut seen: HashMap<Digest, std::ops::Range<usize>> = HashMap::new();
            let mut missing = Vec::new();
            for r in refs.iter() {
                if let Some(range) = seen.get(&r.digest).cloned() {
                    c.indexed.extend(range.clone().map(|_| NOT_INDEXED));
                    c.listed.extend_from_within(range);
                    continue;
                }
                let start = c.listed.len();
                let txs = if decode_txs {
                    store.batch(&r.digest).map_err(store_error)?.map(|batch| {
                        let (batch, hashes) = batch.into_parts();
                        c.listed.extend(hashes);
                        Some(batch.transactions.into_inner())
                    })
                } else {
                    store
                        .batch_tx_hashes(&r.digest)
                        .map_err(store_error)?
                        .map(|hashes| {
                            c.listed.extend(hashes);
                            None
                        })
                };
                let Some(txs) = txs else {
                    missing.push((r.digest, r.author));
                    continue;
                };
                seen.insert(r.digest, start..c.listed.len());
                if state.batch_executed(&r.digest).map_err(store_error)? {
                    c.indexed
                        .extend(c.listed[start..].iter().map(|_| NOT_INDEXED));
                    continue;
                }
                c.indexed.extend_from_slice(&c.listed[start..]);
                c.hashes.extend_from_slice(&c.listed[start..]);
                c.txs.extend(txs.into_iter().flatten());
                c.fresh.push(r.digest);
            }
            if !missing.is_empty() {
                return Err(ContentsError::Missing(missing));
            }
            // Per transaction: one listed before (here, or located below
            // this block) keeps that first location.
            let height = block.header.height;
            let mut seen_txs = HashSet::new();
            for slot in c.indexed.iter_mut().filter(|h| **h != NOT_INDEXED) {
                let earlier = store
                    .tx_location(slot)
                    .map_err(store_error)?
                    .is_some_and(|l| l.height < height);
                if earlier || !seen_txs.insert(*slot) {
                    c.repeated.insert(*slot);
                    *slot = NOT_INDEXED;
                }
            }
        }
    }
    Ok(c)
}

impl Actor for Ledger {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(8192);
        self.restore_index(ctx);
        self.catch_up_state(ctx);
    }
}

impl Handler<Execute> for Ledger {
    type Result = ();
    fn handle(&mut self, msg: Execute, ctx: &mut Context<Self>) {
        self.queue.extend(msg.0);
        self.next_commit(ctx);
    }
}

impl Handler<ReportExecutedTo> for Ledger {
    type Result = ();
    fn handle(&mut self, msg: ReportExecutedTo, _: &mut Context<Self>) {
        // What was executed before the committee actor was connected: it
        // read the state's last root when it started, and this one may be
        // newer.
        if let Ok(Some(root)) = self
            .state
            .applied_height()
            .and_then(|h| Ok(self.state.root_at(h)?.map(|r| (h, r))))
        {
            msg.0.do_send(StateExecuted {
                height: root.0,
                root: root.1,
            });
        }
        self.report_executed = Some(msg.0);
    }
}

impl Handler<ServeSync> for Ledger {
    type Result = MessageResult<ServeSync>;
    fn handle(&mut self, msg: ServeSync, _: &mut Context<Self>) -> Self::Result {
        let lied = consensus::sync::misstates_target(&self.store, &msg.0).unwrap_or(false);
        let response = if lied {
            None
        } else {
            consensus::sync::serve(&self.store, &msg.0).ok().flatten()
        };
        MessageResult(SyncAnswer { response, lied })
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

impl Ledger {
    fn committed_status(&self, hash: &Digest) -> Option<TxStatus> {
        let (loc, refused) = self.location(hash)?;
        let block = self.store.block_at(loc.height).ok().flatten()?;
        Some(TxStatus::Committed {
            chain: self.chain.to_string(),
            block: block.hash().to_hex(),
            height: loc.height,
            index: loc.index,
            committed_at_ms: self.state.commit_time(loc.height).ok().flatten(),
            refused,
        })
    }
}

impl Handler<GetTx> for Ledger {
    type Result = ResponseActFuture<Self, TxStatus>;
    fn handle(&mut self, msg: GetTx, _: &mut Context<Self>) -> Self::Result {
        if let Some(s) = self.committed_status(&msg.hash) {
            return Box::pin(actix::fut::ready(s));
        }
        let pending = self.mempool.send(IsPending(msg.hash));
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

impl Handler<GetBlock> for Ledger {
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

impl Ledger {
    fn tx_hashes(&self, b: &Block) -> Option<Vec<Digest>> {
        block_contents(&self.store, &self.state, b, false)
            .ok()
            .map(|c| c.listed)
    }
}

/// What a light client needs to check that a transaction is committed: the
/// block header, the Merkle proof of the transaction under its root, the
/// headers after the block up to the protocol's commit rule and the
/// committee's certificate of the last (`consensus::commit_proof`).
#[derive(Clone, Debug, Serialize)]
pub struct TxProof {
    pub chain: u32,
    pub height: Height,
    pub index: u64,
    pub leaf_count: u64,
    pub siblings: Vec<String>,
    /// The block's header, the headers after it up to the commit rule, the
    /// last one's certificate.
    #[serde(flatten)]
    pub commit: CommitProofView,
}

#[derive(Message)]
#[rtype(result = "Option<TxProof>")]
pub struct GetTxProof(pub Digest);

impl Handler<GetTxProof> for Ledger {
    type Result = Option<TxProof>;
    fn handle(&mut self, msg: GetTxProof, _: &mut Context<Self>) -> Option<TxProof> {
        let loc = self.store.tx_location(&msg.0).ok().flatten()?;
        let block = self.store.block_at(loc.height).ok().flatten()?;
        let (headers, certificate) =
            consensus::commit_proof::build(&self.store, self.protocol, loc.height)
                .ok()
                .flatten()?;
        let tree = MerkleTree::from_leaf_hashes(self.tx_hashes(&block)?);
        let proof = tree.proof(loc.index as u64).ok()?;
        Some(TxProof {
            chain: self.chain.0,
            height: loc.height,
            index: proof.leaf_index,
            leaf_count: proof.leaf_count,
            siblings: proof.siblings.iter().map(|s| s.to_hex()).collect(),
            commit: CommitProofView::new(
                &headers,
                &consensus::commit_proof::compact(&self.state, certificate),
            ),
        })
    }
}

/// The proof of a state key (`chain::state_proof`).
#[derive(Message)]
#[rtype(result = "Result<StateProofView, StateProofError>")]
pub struct GetStateProof(pub Vec<u8>);

impl Handler<GetStateProof> for Ledger {
    type Result = Result<StateProofView, StateProofError>;
    fn handle(&mut self, msg: GetStateProof, _: &mut Context<Self>) -> Self::Result {
        state_proof::build(&self.store, &self.state, self.protocol, self.chain, &msg.0)
    }
}

/// A proof of misbehaviour as the API shows it: what it convicts, and the
/// proof itself (SCALE, hex) for anyone to check against the genesis.
#[derive(Clone, Debug, Serialize)]
pub struct EvidenceView {
    pub kind: &'static str,
    pub offenders: Vec<u32>,
    pub proof: String,
}

/// The proofs of misbehaviour this node keeps for its chain.
#[derive(Message)]
#[rtype(result = "Vec<EvidenceView>")]
pub struct GetEvidence;

impl Handler<GetEvidence> for Ledger {
    type Result = Vec<EvidenceView>;
    fn handle(&mut self, _: GetEvidence, _: &mut Context<Self>) -> Vec<EvidenceView> {
        self.store
            .evidence()
            .unwrap_or_default()
            .into_iter()
            .map(|e| EvidenceView {
                kind: e.kind(),
                offenders: e.offenders(),
                proof: hex::encode(parity_scale_codec::Encode::encode(&e)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_chains::types::{Batch, BlockHeader, GenesisParams, HashedBatch};
    use strata_crypto::codec::{BoundedBytes, BoundedVec};

    fn batch(sequence: u64, records: &[&str]) -> HashedBatch {
        Batch {
            chain: ChainId::GLOBAL,
            author: 0,
            sequence,
            transactions: BoundedVec::new(
                records
                    .iter()
                    .map(|r| Transaction::Opaque(BoundedBytes::new(r.as_bytes().to_vec()).unwrap()))
                    .collect(),
            )
            .unwrap(),
        }
        .hashed()
    }

    #[test]
    fn a_transaction_two_batches_carry_keeps_its_first_location_and_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RocksStore::open(&dir.path().join("c")).unwrap();
        let genesis_state = strata_chains::execution::GenesisState::bare(Digest::ZERO);
        let state =
            StateStore::open(&dir.path().join("s"), ChainId::GLOBAL, 1, &genesis_state).unwrap();
        let genesis = strata_chains::types::genesis_block(GenesisParams {
            chain: ChainId::GLOBAL,
            epoch: 0,
            state_root: genesis_state.root(),
        });
        let at = |height: u64, refs: Vec<strata_chains::types::BatchRef>| Block {
            header: BlockHeader {
                height,
                ..genesis.header.clone()
            },
            payload: Payload::Batches(BoundedVec::new(refs).unwrap()),
            signature: genesis.signature,
        };
        // "p" committed at height 1; then "x" in two batches of height 2
        // (a retry handed to a second member), with "p" again.
        let (p, a, b) = (
            batch(1, &["p"]),
            batch(2, &["x", "p"]),
            batch(3, &["x", "y"]),
        );
        for x in [&p, &a, &b] {
            store.put_batch(x).unwrap();
        }
        let first = at(1, vec![p.reference()]);
        let c1 = block_contents(&store, &state, &first, true).unwrap();
        store
            .commit_indexed(&[genesis.clone(), first], &[vec![], c1.indexed.clone()])
            .unwrap();
        let c = block_contents(
            &store,
            &state,
            &at(2, vec![a.reference(), b.reference()]),
            true,
        )
        .unwrap();
        let h =
            |r: &str| Transaction::Opaque(BoundedBytes::new(r.as_bytes().to_vec()).unwrap()).hash();
        assert_eq!(c.listed, vec![h("x"), h("p"), h("x"), h("y")]);
        assert_eq!(c.indexed, vec![h("x"), NOT_INDEXED, NOT_INDEXED, h("y")]);
        assert_eq!(c.repeated, [h("x"), h("p")].into_iter().collect());
        // Every listing of a new batch executes (the executor refuses the
        // copies; their refusal is not recorded over the first verdict).
        assert_eq!(c.hashes, c.listed);
    }

    #[test]
    fn contents_index_and_execute_each_batch_once_where_it_executes() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RocksStore::open(&dir.path().join("c")).unwrap();
        let state = StateStore::open(
            &dir.path().join("s"),
            ChainId::GLOBAL,
            1,
            &strata_chains::execution::GenesisState::bare(Digest::ZERO),
        )
        .unwrap();
        let (old, new) = (batch(1, &["a", "b"]), batch(2, &["c"]));
        store.put_batch(&old).unwrap();
        store.put_batch(&new).unwrap();
        // `old` was executed by an earlier block.
        let old_txs = old.batch().transactions.to_vec();
        let old_hashes: Vec<Digest> = old_txs.iter().map(|t| t.hash()).collect();
        state
            .apply(
                BlockRef::bare(1, Digest::ZERO),
                0,
                &old_txs,
                &old_hashes,
                &[old.digest()],
                &BTreeSet::new(),
            )
            .unwrap();

        let genesis = strata_chains::types::genesis_block(GenesisParams {
            chain: ChainId::GLOBAL,
            epoch: 0,
            state_root: strata_chains::execution::GenesisState::bare(Digest::ZERO).root(),
        });
        let refs = vec![old.reference(), new.reference(), old.reference()];
        let block = Block {
            header: BlockHeader {
                height: 2,
                ..genesis.header.clone()
            },
            payload: Payload::Batches(BoundedVec::new(refs).unwrap()),
            signature: genesis.signature,
        };
        let c = block_contents(&store, &state, &block, true).unwrap();
        let new_hash = new.batch().transactions[0].hash();
        // The tree's leaves are every listing, in order…
        let mut listed = old_hashes.clone();
        listed.push(new_hash);
        listed.extend(old_hashes.iter().copied());
        assert_eq!(c.listed, listed, "the block's tx_root covers every listing");
        // …the index only what executes here: `old` keeps its location in
        // block 1.
        let indexed = vec![NOT_INDEXED, NOT_INDEXED, new_hash, NOT_INDEXED, NOT_INDEXED];
        assert_eq!(c.indexed, indexed, "only what executes here is indexed");
        assert_eq!(c.hashes, vec![new_hash], "only the new batch executes");
        assert_eq!(c.txs, new.batch().transactions.to_vec());
        assert_eq!(c.fresh, vec![new.digest()]);

        // Without decoding: the same hashes, no transactions.
        let hashed_only = block_contents(&store, &state, &block, false).unwrap();
        assert_eq!(hashed_only.listed, c.listed);
        assert_eq!(hashed_only.indexed, c.indexed);
        assert_eq!(hashed_only.hashes, c.hashes);
        assert_eq!(hashed_only.fresh, c.fresh);
        assert!(hashed_only.txs.is_empty());
        // Every missing batch is named with its author, to fetch them all
        // at once.
        let (d, e) = (batch(3, &["d"]), batch(4, &["e"]));
        let missing = Block {
            payload: Payload::Batches(
                BoundedVec::new(vec![d.reference(), new.reference(), e.reference()]).unwrap(),
            ),
            ..block
        };
        for decode in [true, false] {
            match block_contents(&store, &state, &missing, decode) {
                Err(ContentsError::Missing(m)) => assert_eq!(
                    m,
                    vec![
                        (d.digest(), d.batch().author),
                        (e.digest(), e.batch().author)
                    ]
                ),
                other => panic!("{other:?}"),
            }
        }
    }
}
