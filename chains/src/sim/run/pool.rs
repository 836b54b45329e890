//! Each simulated node's mempool and executor, as a node's mempool actor
//! and ledger carry them out: the pure mempool core (`crate::mempool`)
//! batches client records, pushes batches over the simulated network,
//! verifies and holds peers' batches, hands leaders payloads of batch
//! references and checks proposals' batches (fetching missing ones); a
//! committed block is executed once its batches are stored. So batch
//! dissemination, payload availability and execution run under every
//! fault the simulator injects.

use std::collections::BTreeSet;

use super::SimNode;
use super::*;
use crate::execution::nonce_used;
use crate::mempool::{
    batch_of, MempoolAction, MempoolConfig, MempoolCore, MempoolEvent, MempoolView, PayloadKind,
};
use crate::sim::byzantine::forged_record;
use crate::types::HashedBatch;

/// Client records are offered to a random node this often (virtual).
pub(super) const CLIENT_EVERY_US: u64 = 40_000;
/// Each node's mempool ticks this often (fetch retries, deadlines).
const TICK_EVERY_US: u64 = 250_000;

/// What mempools send each other.
#[derive(Debug)]
pub(super) enum BatchMsg {
    Push(Arc<HashedBatch>),
    Request(Vec<Digest>),
    Response(Vec<Arc<HashedBatch>>),
}

/// A node's disk as its mempool core reads it.
struct SimDisk<'a> {
    store: &'a MemStore,
    state: &'a MemState,
}

impl MempoolView for SimDisk<'_> {
    fn has_batch(&self, digest: &Digest) -> bool {
        self.store.has_batch(digest).unwrap_or(false)
    }
    fn batch_tx_hashes(&self, digest: &Digest) -> Option<Vec<Digest>> {
        self.store.batch_tx_hashes(digest).ok().flatten()
    }
    fn batch_executed(&self, digest: &Digest) -> bool {
        self.state.batch_executed(digest)
    }
    fn nonce_used(&self, sender: &[u8; 32], nonce: u64) -> bool {
        nonce_used(self.state, sender, nonce).unwrap_or(false)
    }
    fn tx_committed(&self, tx: &Digest) -> bool {
        matches!(self.store.tx_location(tx), Ok(Some(_)))
    }
}

/// A node's mempool core, and its disk to read through.
fn pool_and_disk(node: &mut SimNode) -> Option<(&mut MempoolCore, SimDisk<'_>)> {
    let pool = node.mempool.as_mut()?;
    let disk = SimDisk {
        store: &node.store,
        state: &node.state,
    };
    Some((pool, disk))
}

/// Whether every transaction is a provenance record whose signature holds,
/// or an anchor whose certificate holds against its domain's committee in
/// the genesis (what a node's verifier checks).
pub(super) fn records_valid<'a>(
    genesis: &GenesisState,
    txs: impl IntoIterator<Item = &'a Transaction>,
) -> bool {
    txs.into_iter().all(|t| match t {
        Transaction::Provenance(p) => p.verify().is_ok(),
        Transaction::Linked(l) => l.record.verify().is_ok(),
        Transaction::System(s) => match &**s {
            crate::types::SystemTx::Anchor(a) => genesis
                .committees
                .iter()
                .find(|c| c.chain == ChainId::local(a.domain) && c.epoch == a.header.epoch)
                .is_some_and(|c| crate::execution::check_certified(a, c).is_ok()),
            _ => false,
        },
        Transaction::Opaque(_) => false,
    })
}

/// The hashes of the transactions a committed block lists (read from the
/// store's batches for a batched payload).
pub(super) fn committed_hashes(store: &MemStore, block: &Block) -> Vec<Digest> {
    match &block.payload {
        Payload::Inline(txs) => txs.iter().map(Transaction::hash).collect(),
        Payload::Batches(refs) => refs
            .iter()
            .filter_map(|r| store.batch(&r.digest).ok().flatten())
            .flat_map(|b| b.tx_hashes().to_vec())
            .collect(),
    }
}

impl Sim<'_> {
    /// A transaction from outside (another tier) at node `i`'s mempool,
    /// checked and admitted as a client's; dropped if the node is down.
    /// False if its check (signature, an anchor's certificate) refused it.
    pub(super) fn submit(&mut self, i: usize, tx: Transaction) -> bool {
        let now = self.now;
        if !records_valid(&self.genesis_state, std::iter::once(&tx)) {
            return false;
        }
        let Some((pool, disk)) = pool_and_disk(&mut self.nodes[i]) else {
            return true;
        };
        let mut seen = BTreeSet::new();
        let Ok(hash) = pool.precheck(&disk, &tx, &mut seen) else {
            return true;
        };
        let (_, actions) = pool.admit(now, vec![(tx, hash)]);
        self.pool_actions(i, actions);
        true
    }

    /// A fresh mempool core for node `i` (its memory is lost at a crash),
    /// its own unconfirmed batches recovered from its store, its executor
    /// caught up with what it committed.
    pub(super) fn start_pool(&mut self, i: usize) {
        let chain = self.genesis.header.chain;
        let node = &mut self.nodes[i];
        node.mempool = Some(MempoolCore::new(MempoolConfig {
            chain,
            network: Digest::ZERO,
            domains: 1,
            me: node.position as u32,
            committee_size: self.cfg.nodes as u32,
            followers: 0,
            payload: PayloadKind::Signed,
            capacity: 10_000,
            max_batch_bytes: 16 * 1024,
            max_batch_delay: 5_000,
            max_block_interval: us(self.cfg.block_interval),
            max_batches_per_fetch: 64,
        }));
        node.exec_queue.clear();
        node.ensuring = false;
        let own: Vec<Arc<HashedBatch>> = node
            .store
            .unconfirmed()
            .unwrap_or_default()
            .iter()
            .filter_map(|d| node.store.batch(d).ok().flatten().map(Arc::new))
            .collect();
        let applied = node.state.applied_height();
        let tip = node
            .store
            .committed_tip()
            .ok()
            .flatten()
            .map_or(0, |(h, _)| h);
        for h in applied + 1..=tip {
            if let Ok(Some(b)) = node.store.block_at(h) {
                node.exec_queue.push_back(b);
            }
        }
        if !own.is_empty() {
            self.pool_event(i, MempoolEvent::Recovered { batches: own });
        }
        let incarnation = self.nodes[i].incarnation;
        self.push(
            self.now + TICK_EVERY_US,
            SimEvent::MempoolTick {
                node: i as u32,
                incarnation,
                periodic: true,
            },
        );
        self.drain_exec(i);
    }

    /// Feeds node `i`'s mempool core and carries out its actions.
    pub(super) fn pool_event(&mut self, i: usize, event: MempoolEvent) {
        let now = self.now;
        let Some((pool, disk)) = pool_and_disk(&mut self.nodes[i]) else {
            return;
        };
        let actions = pool.on_event(now, &disk, event);
        self.pool_actions(i, actions);
    }

    fn pool_actions(&mut self, i: usize, actions: Vec<MempoolAction>) {
        let incarnation = self.nodes[i].incarnation;
        let node_id = i as u32;
        for a in actions {
            if self.nodes[i].mempool.is_none() {
                return;
            }
            match a {
                MempoolAction::StoreOwn(b) => {
                    self.pool.batches_sealed += 1;
                    let stored = self.nodes[i].store.put_batch(&b).is_ok()
                        && self.nodes[i].store.note_unconfirmed(&b.digest()).is_ok();
                    let digest = b.digest();
                    self.pool_event(i, MempoolEvent::OwnStored { digest, stored });
                }
                MempoolAction::StorePeer(b) => {
                    let _ = self.nodes[i].store.put_batch(&b);
                }
                MempoolAction::Push(b) => self.push_batch(i, b),
                // Committees are fixed in this simulation: no member's
                // batch is ever orphaned.
                MempoolAction::Forward { .. } | MempoolAction::Rebatch(_) => {}
                MempoolAction::Repush(d) => {
                    if let Ok(Some(b)) = self.nodes[i].store.batch(&d) {
                        self.push_batch(i, Arc::new(b));
                    }
                }
                MempoolAction::Verify { from, batch } => {
                    let valid =
                        records_valid(&self.genesis_state, batch.batch().transactions.iter());
                    let at = self.now + self.rng.gen_range(100..2_000);
                    self.push(
                        at,
                        SimEvent::BatchVerified {
                            node: node_id,
                            incarnation,
                            from,
                            batch,
                            valid,
                        },
                    );
                }
                MempoolAction::Fetch { from, digests } => {
                    self.pool.fetches += 1;
                    let msg = Arc::new(BatchMsg::Request(digests));
                    self.transmit_batch(i, from as usize, msg);
                }
                MempoolAction::PayloadReady {
                    round,
                    payload,
                    batches_tx_root,
                } => self.push(
                    self.now + 100,
                    SimEvent::Payload {
                        node: node_id,
                        incarnation,
                        round,
                        payload,
                        batches_tx_root,
                    },
                ),
                MempoolAction::PayloadChecked { block, verdict } => {
                    if verdict != crate::consensus::PayloadVerdict::Valid {
                        self.pool.payloads_refused += 1;
                    }
                    self.push(
                        self.now + 100,
                        SimEvent::PayloadChecked {
                            node: node_id,
                            incarnation,
                            block,
                            verdict,
                        },
                    )
                }
                MempoolAction::Ensured { .. } => {
                    self.nodes[i].ensuring = false;
                    self.drain_exec(i);
                }
                MempoolAction::ForgetUnconfirmed(d) => {
                    let _ = self.nodes[i].store.forget_unconfirmed(&d);
                }
                MempoolAction::Penalize { member, reason, .. } => {
                    if reason.contains("invalid signatures") || reason.contains("refused before") {
                        self.pool.batches_refused += 1;
                    }
                    self.log(|| format!("n{i} blames n{member}: {reason}"));
                }
                MempoolAction::Dropped { .. } => {}
                MempoolAction::WakeAt(at) => self.push(
                    at.max(self.now),
                    SimEvent::MempoolTick {
                        node: node_id,
                        incarnation,
                        periodic: false,
                    },
                ),
            }
        }
    }

    fn push_batch(&mut self, i: usize, batch: Arc<HashedBatch>) {
        let me = self.nodes[i].position;
        let msg = Arc::new(BatchMsg::Push(batch));
        for j in (0..self.cfg.nodes).filter(|&j| j != me) {
            self.transmit_batch(i, j, msg.clone());
        }
    }

    /// As `transmit`, for mempool messages.
    fn transmit_batch(&mut self, from: usize, to: usize, msg: Arc<BatchMsg>) {
        let from_position = self.nodes[from].position as u32;
        let receivers: Vec<usize> = (0..self.nodes.len())
            .filter(|&p| self.nodes[p].position == to && p != from)
            .collect();
        for p in receivers {
            for d in self.net.delays(&mut self.rng, from, p) {
                self.push(
                    self.now + d,
                    SimEvent::BatchDeliver {
                        to: p as u32,
                        from: from_position,
                        msg: msg.clone(),
                    },
                );
            }
        }
    }

    pub(super) fn deliver_batch(&mut self, to: usize, from: u32, msg: Arc<BatchMsg>) {
        if self.nodes[to].mempool.is_none() {
            return;
        }
        match msg.as_ref() {
            BatchMsg::Push(b) => self.pool_event(
                to,
                MempoolEvent::PeerBatch {
                    from,
                    batch: b.clone(),
                },
            ),
            BatchMsg::Request(digests) => {
                // Served from the store, as a node's mempool does.
                let found: Vec<Arc<HashedBatch>> = digests
                    .iter()
                    .filter_map(|d| self.nodes[to].store.batch(d).ok().flatten().map(Arc::new))
                    .collect();
                if !found.is_empty() {
                    self.transmit_batch(to, from as usize, Arc::new(BatchMsg::Response(found)));
                }
            }
            BatchMsg::Response(batches) => self.pool_event(
                to,
                MempoolEvent::Fetched {
                    from,
                    batches: batches.clone(),
                },
            ),
        }
    }

    /// Client records for a random node; a node that forges payloads
    /// pushes a batch with a forged record instead.
    pub(super) fn client_load(&mut self) {
        if self.done {
            return;
        }
        self.push(self.now + CLIENT_EVERY_US, SimEvent::ClientLoad);
        let i = self.rng.gen_range(0..self.nodes.len());
        if self.nodes[i].mempool.is_none() {
            return;
        }
        let txs = self.payload();
        if self.nodes[i].has(Behavior::ForgePayload) {
            let chain = self.genesis.header.chain;
            let me = self.nodes[i].position as u32;
            let forged: Vec<Transaction> = txs.into_iter().map(forged_record).collect();
            if let Some(b) = batch_of(chain, me, 1_000_000 + self.nonce, forged) {
                self.log(|| format!("n{i} pushes a batch of forged records"));
                self.push_batch(i, Arc::new(b));
            }
            return;
        }
        let now = self.now;
        let Some((pool, disk)) = pool_and_disk(&mut self.nodes[i]) else {
            return;
        };
        let mut seen = BTreeSet::new();
        // Signed here, valid: the host's signature check would pass.
        let admitted: Vec<(Transaction, Digest)> = txs
            .into_iter()
            .filter_map(|t| pool.precheck(&disk, &t, &mut seen).ok().map(|h| (t, h)))
            .collect();
        let (_, actions) = pool.admit(now, admitted);
        self.pool_actions(i, actions);
    }

    /// A node committed `blocks`: written to its store and executed in
    /// order once each block's batches are here (fetched if not), as a
    /// node's ledger does (the store refuses a commit whose batches it
    /// lacks).
    pub(super) fn committed(&mut self, i: usize, blocks: &[Arc<Block>]) {
        for b in blocks.iter().map(|b| (**b).clone()) {
            if let Payload::Batches(refs) = &b.payload {
                let batches = refs.iter().map(|r| r.digest).collect();
                let height = b.header.height;
                self.pool_event(i, MempoolEvent::Committed { height, batches });
            }
            self.nodes[i].exec_queue.push_back(b);
        }
        self.drain_exec(i);
    }

    /// Executes queued committed blocks whose batches are all stored; asks
    /// the mempool for the first that lacks some.
    pub(super) fn drain_exec(&mut self, i: usize) {
        while let Some(block) = self.nodes[i].exec_queue.front().cloned() {
            let (txs, hashes, fresh) = match &block.payload {
                Payload::Inline(txs) => {
                    let hashes = txs.iter().map(Transaction::hash).collect();
                    (txs.to_vec(), hashes, Vec::new())
                }
                Payload::Batches(refs) => {
                    let store = &self.nodes[i].store;
                    let missing: Vec<(Digest, u32)> = refs
                        .iter()
                        .filter(|r| !store.has_batch(&r.digest).unwrap_or(false))
                        .map(|r| (r.digest, r.author))
                        .collect();
                    if !missing.is_empty() {
                        if !self.nodes[i].ensuring {
                            self.nodes[i].ensuring = true;
                            let id = block.header.height;
                            self.pool_event(
                                i,
                                MempoolEvent::Ensure {
                                    id,
                                    batches: missing,
                                    epoch: None,
                                },
                            );
                        }
                        return;
                    }
                    let mut txs = Vec::new();
                    let mut hashes = Vec::new();
                    let mut fresh = Vec::new();
                    for r in refs.iter() {
                        let state = &self.nodes[i].state;
                        if state.batch_executed(&r.digest) || fresh.contains(&r.digest) {
                            continue;
                        }
                        if let Ok(Some(b)) = self.nodes[i].store.batch(&r.digest) {
                            txs.extend(b.batch().transactions.iter().cloned());
                            hashes.extend_from_slice(b.tx_hashes());
                            fresh.push(r.digest);
                        }
                    }
                    (txs, hashes, fresh)
                }
            };
            self.nodes[i].exec_queue.pop_front();
            if let Err(e) = self.nodes[i].store.commit(std::slice::from_ref(&block)) {
                self.checker
                    .violations
                    .push(format!("n{i} commit refused by its store: {e}"));
            }
            if !fresh.is_empty() && !self.checker.batches_checked(&fresh) {
                if !records_valid(&self.genesis_state, txs.iter()) {
                    self.checker.violations.push(format!(
                        "n{i} committed a forged record at height {}",
                        block.header.height
                    ));
                }
                self.checker.mark_batches_checked(&fresh);
            }
            if matches!(block.payload, Payload::Batches(_)) {
                self.pool.batched_blocks_executed += 1;
            }
            self.nodes[i].state.mark_batches_executed(fresh);
            self.execute_block(i, &block, &txs, &hashes);
            self.check_done();
        }
    }

    /// Executes a block node `i` committed, hands the state root to the
    /// checker, and reports it to the node's core.
    fn execute_block(&mut self, i: usize, block: &Block, txs: &[Transaction], hashes: &[Digest]) {
        let height = block.header.height;
        if height <= self.nodes[i].state.applied_height() {
            return;
        }
        let at = crate::execution::BlockRef::of(block);
        match self.nodes[i].state.execute(at, txs, hashes) {
            Ok(root) => {
                self.checker.on_executed(i as u32, height, root);
                // The executor runs beside consensus: its answer comes a
                // little later (up to 3 ms of virtual time).
                let at = self.now + self.rng.gen_range(0..3_000);
                let incarnation = self.nodes[i].incarnation;
                let node = i as u32;
                self.push(
                    at,
                    SimEvent::Executed {
                        node,
                        incarnation,
                        height,
                        root,
                    },
                );
            }
            Err(e) => self
                .checker
                .violations
                .push(format!("n{i} could not execute height {height}: {e}")),
        }
    }
}
