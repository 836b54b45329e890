//! The mempool of one chain (DESIGN.md §7): bounded and deduplicated; turns
//! client transactions into batches (Narwhal-style dissemination), pushes
//! them to the committee, keeps the batches other members push, hands
//! leaders payloads of batch references, and fetches the batches a block
//! references before this node votes for it or executes it.
//!
//! Every transaction signature is checked once per node, in batches on the
//! verifier thread: a client's transactions when they arrive, a peer's when
//! its batch arrives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use strata_chains::consensus::{Fault, PayloadVerdict};
use strata_chains::store::{RocksStore, Store};
use strata_chains::types::limits::{MAX_BATCH_TXS, MAX_BLOCK_BATCHES};
use strata_chains::types::{
    tx_root_of_hashes, Batch, BatchRef, Block, ChainId, HashedBatch, Height, Payload, Round,
    Transaction,
};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::{Digest, DigestMap, DigestSet};
use tokio::sync::oneshot;

use crate::chain::admission::{AdmissionFlag, AdmissionGate, QUEUE_BUDGET};
use crate::chain::held::HeldBatches;
use crate::chain::state::StateStore;
use crate::config::{ConsensusParams, PayloadMode};
use crate::messages::committee::{PayloadChecked, PayloadReady};
use crate::messages::mempool::{
    CheckPayload, Committed, EnsureBatches, FetchFailed, FetchedBatches, IsPending, PeerBatch,
    RequestPayload, ServeBatches,
};
use crate::messages::network::{Penalize, SendWire};
use crate::messages::{CommitteePort, Deliver, NetworkPort};
use crate::service::metrics::{chain_label, Metrics};
use crate::service::verifier::Verifier;
use crate::service::wire::{Wire, BATCH_RESPONSE_BUDGET, MAX_BATCHES_PER_EXCHANGE};

/// Transactions per block (across its batches).
const MAX_BLOCK_TX_COUNT: u64 = 50_000;
/// A peer batch fetch is retried at another member after this long.
const FETCH_RETRY: Duration = Duration::from_millis(700);
/// A payload check gives up (no vote) after this long.
const CHECK_DEADLINE: Duration = Duration::from_secs(4);
/// A submission that leaves this much in the batch being built seals it at
/// once. The seal delay is there to merge small submissions; a batch this
/// size already spreads its fixed costs (a store write, a push to each
/// member, a verification job at each) over enough transactions, and
/// waiting for more would only add the delay to its latency.
const EARLY_SEAL_BYTES: usize = 8 * 1024;

/// Batches, and their bytes, one member may have here that are neither
/// committed nor refused (held, or being verified). An honest member's
/// share at the bench's saturation is a few hundred batches; this bounds
/// what one flooding member can make a node store and verify. A batch a
/// block references is fetched past the quota (the quota bounds pushes,
/// not what consensus needs).
const AUTHOR_QUOTA_BATCHES: usize = 2048;
const AUTHOR_QUOTA_BYTES: usize = 128 << 20;
/// This node's batches not committed this long after their last push are
/// pushed again, at most this many per tick.
const REPUSH_AFTER: Duration = Duration::from_secs(2);
const REPUSH_PER_TICK: usize = 64;
/// A member whose fetch failed before any answer is asked last for this
/// long.
const UNREACHABLE_FOR: Duration = Duration::from_secs(5);
/// Digests of refused batches remembered, so that sending one again costs
/// its sender a penalty and this node no verification.
const REFUSED_REMEMBERED: usize = 4096;

/// What one member's batches occupy here.
#[derive(Clone, Copy, Debug, Default)]
struct AuthorLoad {
    batches: usize,
    bytes: usize,
}

/// Why a submitted transaction was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxRefusal {
    #[error("signature does not verify")]
    BadSignature,
    #[error("the record's domain is not served here or does not own the object")]
    WrongDomain,
    #[error("nonce already used by this sender")]
    ReplayedNonce,
    #[error("transaction already pending")]
    Duplicate,
    #[error("mempool full")]
    Full,
    #[error("the chain is at capacity: what is pending would not commit within the node's budget")]
    Overloaded,
    #[error("this chain accepts only {0} transactions")]
    WrongKind(&'static str),
    #[error("the record is for another network (its genesis digest differs)")]
    WrongNetwork,
}

pub struct Mempool {
    chain: ChainId,
    /// The genesis digest every record must name.
    network: Digest,
    me: u32,
    committee_size: u32,
    params: ConsensusParams,
    domains: u32,
    store: RocksStore,
    state: StateStore,
    verifier: Verifier,
    bridge: Option<NetworkPort>,
    chain_actor: Option<CommitteePort>,
    metrics: Arc<Metrics>,
    building: Vec<Transaction>,
    building_hashes: Vec<Digest>,
    building_bytes: usize,
    sequence: u64,
    seal_timer: Option<SpawnHandle>,
    /// Batches held here and not yet committed, in arrival order.
    ready: VecDeque<BatchRef>,
    /// Transaction hashes of each held batch (shared with the committee
    /// actor, which checks payloads against it).
    held: HeldBatches,
    /// Batches in proposed, uncommitted blocks, with the block height.
    inflight: HashMap<Digest, Height>,
    pending_txs: DigestSet<Digest>,
    pending_nonces: DigestMap<Digest, ([u8; 32], u64)>,
    nonce_set: DigestSet<([u8; 32], u64)>,
    waiting_payload: Option<(Round, SpawnHandle)>,
    fetching: HashMap<Digest, (u32, Instant, u32)>,
    checks: HashMap<Digest, (Arc<Block>, Instant)>,
    ensures: Vec<(Vec<Digest>, oneshot::Sender<()>)>,
    /// Per member, its pushed batches here (see `AUTHOR_QUOTA_BATCHES`),
    /// and each such batch's author and size until it commits or fails.
    author_load: HashMap<u32, AuthorLoad>,
    charged: HashMap<Digest, (u32, usize)>,
    refused: RefusedBatches,
    /// This node's batches with their last push, oldest first, until they
    /// commit (see `repush`).
    unconfirmed: VecDeque<(Digest, Instant)>,
    /// Members whose fetches failed lately, until when (see `fetch`).
    unreachable: HashMap<u32, Instant>,
    /// Whether client records are admitted (see `admission`), and its
    /// last verdict for the HTTP handlers.
    gate: AdmissionGate,
    admission: AdmissionFlag,
    /// Submissions answered once the batch being built is sealed and
    /// stored: `accepted` means the record is written where a restart of
    /// this node finds it (it survives a kill -9), not only in memory.
    seal_waiters: Vec<oneshot::Sender<bool>>,
}

/// A bounded memory of refused batch digests, oldest forgotten first.
#[derive(Default)]
struct RefusedBatches {
    set: DigestSet<Digest>,
    order: VecDeque<Digest>,
}

impl RefusedBatches {
    fn insert(&mut self, d: Digest) {
        if self.set.insert(d) {
            self.order.push_back(d);
        }
        while self.order.len() > REFUSED_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    fn contains(&self, d: &Digest) -> bool {
        self.set.contains(d)
    }
}

impl Mempool {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain: ChainId,
        network: Digest,
        me: u32,
        committee_size: u32,
        params: ConsensusParams,
        domains: u32,
        store: RocksStore,
        state: StateStore,
        verifier: Verifier,
        metrics: Arc<Metrics>,
    ) -> Mempool {
        Mempool {
            chain,
            network,
            me,
            committee_size,
            params,
            domains,
            store,
            state,
            verifier,
            bridge: None,
            chain_actor: None,
            metrics,
            building: Vec::new(),
            building_hashes: Vec::new(),
            building_bytes: 0,
            sequence: 0,
            seal_timer: None,
            ready: VecDeque::new(),
            held: HeldBatches::default(),
            inflight: HashMap::new(),
            pending_txs: DigestSet::default(),
            pending_nonces: DigestMap::default(),
            nonce_set: DigestSet::default(),
            waiting_payload: None,
            fetching: HashMap::new(),
            checks: HashMap::new(),
            ensures: Vec::new(),
            author_load: HashMap::new(),
            charged: HashMap::new(),
            refused: RefusedBatches::default(),
            unconfirmed: VecDeque::new(),
            unreachable: HashMap::new(),
            gate: AdmissionGate::new(Instant::now(), QUEUE_BUDGET),
            admission: AdmissionFlag::default(),
            seal_waiters: Vec::new(),
        }
    }

    /// After a restart: batches this node sealed that had not committed
    /// are held, proposed and pushed again (their records were answered
    /// `accepted`).
    fn recover_unconfirmed(&mut self, ctx: &mut Context<Self>) {
        let noted = match self.store.unconfirmed() {
            Ok(d) => d,
            Err(e) => return tracing::error!("reading unconfirmed batches failed: {e}"),
        };
        let mut done = Vec::new();
        for digest in noted {
            if self.state.batch_executed(&digest).unwrap_or(false) {
                done.push(digest);
                continue;
            }
            match self.store.batch(&digest) {
                Ok(Some(batch)) => {
                    for tx in batch.batch().transactions.iter() {
                        if let Transaction::Provenance(p) = tx {
                            let key = (p.record.sender.to_bytes(), p.record.nonce);
                            self.nonce_set.insert(key);
                            self.pending_nonces.insert(tx.hash(), key);
                        }
                    }
                    self.pending_txs.extend(batch.tx_hashes().iter().copied());
                    // Due for a push at once.
                    let due = Instant::now()
                        .checked_sub(REPUSH_AFTER)
                        .unwrap_or_else(Instant::now);
                    self.unconfirmed.push_back((digest, due));
                    self.hold(&batch, ctx);
                }
                Ok(None) => done.push(digest),
                Err(e) => tracing::error!("reading an unconfirmed batch failed: {e}"),
            }
        }
        if let Err(e) = self.store.forget_unconfirmed(&done) {
            tracing::error!("forgetting committed batches failed: {e}");
        }
        if !self.unconfirmed.is_empty() {
            tracing::info!(
                batches = self.unconfirmed.len(),
                "recovered batches sealed here before a restart"
            );
        }
    }

    /// The admission verdict the HTTP handlers read before a body.
    pub fn admission(&self) -> AdmissionFlag {
        self.admission.clone()
    }

    /// Whether a client record is admitted now; publishes the verdict.
    fn admits(&mut self) -> bool {
        let pending = self.pending_txs.len() + self.building.len();
        let open = self
            .gate
            .admits(Instant::now(), pending, self.verifier.backlog_time());
        self.admission.set(open);
        open
    }

    /// Charges committee member `from` for a failed check.
    fn charge(&self, from: u32, fault: Fault, reason: &'static str) {
        match &self.bridge {
            Some(bridge) => bridge.do_send(Penalize {
                chain: self.chain,
                member: from,
                fault,
                reason,
            }),
            None => self.metrics.penalty(reason),
        }
    }

    /// Counts a pushed batch against its author's quota; false if it has
    /// no room left.
    fn take_quota(&mut self, author: u32, digest: Digest, bytes: usize) -> bool {
        if self.charged.contains_key(&digest) {
            return false;
        }
        let load = self.author_load.entry(author).or_default();
        if load.batches >= AUTHOR_QUOTA_BATCHES
            || load.bytes.saturating_add(bytes) > AUTHOR_QUOTA_BYTES
        {
            return false;
        }
        load.batches += 1;
        load.bytes = load.bytes.saturating_add(bytes);
        self.charged.insert(digest, (author, bytes));
        true
    }

    /// A batch counted against its author's quota committed or failed.
    fn release_quota(&mut self, digest: &Digest) {
        let Some((author, bytes)) = self.charged.remove(digest) else {
            return;
        };
        if let Some(load) = self.author_load.get_mut(&author) {
            load.batches = load.batches.saturating_sub(1);
            load.bytes = load.bytes.saturating_sub(bytes);
            if load.batches == 0 {
                self.author_load.remove(&author);
            }
        }
    }

    /// The held-batch map, for the chain's committee actor.
    pub fn held(&self) -> HeldBatches {
        self.held.clone()
    }

    fn update_gauge(&self) {
        self.metrics
            .mempool_transactions
            .with_label_values(&[chain_label(self.chain).as_str()])
            .set(self.pending_txs.len() as i64);
    }

    /// Static checks before the signature check.
    fn precheck(
        &self,
        tx: &Transaction,
        seen: &mut DigestSet<Digest>,
    ) -> Result<Digest, TxRefusal> {
        let hash = tx.hash();
        if self.pending_txs.contains(&hash) || !seen.insert(hash) {
            return Err(TxRefusal::Duplicate);
        }
        if self.pending_txs.len() + seen.len() > self.params.mempool_capacity {
            return Err(TxRefusal::Full);
        }
        match (self.params.payload, tx) {
            (PayloadMode::Opaque, Transaction::Opaque(_)) => Ok(hash),
            (PayloadMode::Opaque, _) => Err(TxRefusal::WrongKind("opaque")),
            (PayloadMode::Signed, Transaction::Provenance(p)) => {
                let r = &p.record;
                if r.network != self.network {
                    return Err(TxRefusal::WrongNetwork);
                }
                if r.home_chain(self.domains) != Some(self.chain) {
                    return Err(TxRefusal::WrongDomain);
                }
                let sender = r.sender.to_bytes();
                if self.nonce_set.contains(&(sender, r.nonce))
                    || self.state.nonce_used(&sender, r.nonce).unwrap_or(false)
                {
                    return Err(TxRefusal::ReplayedNonce);
                }
                Ok(hash)
            }
            (PayloadMode::Signed, _) => Err(TxRefusal::WrongKind("signed provenance")),
        }
    }

    fn add_own(&mut self, tx: Transaction, hash: Digest, ctx: &mut Context<Self>) {
        if let Transaction::Provenance(p) = &tx {
            let key = (p.record.sender.to_bytes(), p.record.nonce);
            self.nonce_set.insert(key);
            self.pending_nonces.insert(hash, key);
        }
        self.pending_txs.insert(hash);
        // The exact size: SCALE's `size_hint` counts a vector of records by
        // its elements' in-memory size, so a signed record's padding (in its
        // metadata) was missed and a batch's worth never sealed early.
        self.building_bytes += parity_scale_codec::Encode::encoded_size(&tx);
        self.building.push(tx);
        self.building_hashes.push(hash);
        if self.building_bytes >= self.params.max_batch_bytes
            || self.building.len() >= MAX_BATCH_TXS
        {
            self.seal(ctx);
        } else if self.seal_timer.is_none() {
            let delay = Duration::from_millis(self.params.max_batch_delay_ms);
            self.seal_timer = Some(ctx.run_later(delay, |act, ctx| {
                act.seal_timer = None;
                act.seal(ctx);
            }));
        }
    }

    /// Seals the batch being built: stores it, pushes it to the committee,
    /// offers it to the next payload.
    fn seal(&mut self, ctx: &mut Context<Self>) {
        if let Some(t) = self.seal_timer.take() {
            ctx.cancel_future(t);
        }
        if self.building.is_empty() {
            return;
        }
        self.sequence += 1;
        let txs = std::mem::take(&mut self.building);
        let hashes = std::mem::take(&mut self.building_hashes);
        self.building_bytes = 0;
        let batch = Batch {
            chain: self.chain,
            author: self.me,
            sequence: self.sequence,
            transactions: BoundedVec::new(txs).expect("sealed at the batch limit"),
        };
        let batch = HashedBatch::from_parts(batch, hashes);
        tracing::trace!(batch = %batch.digest().short(), txs = batch.tx_hashes().len(), "sealed");
        let stored = self
            .store
            .put_batch(&batch)
            .and_then(|()| self.store.note_unconfirmed(&batch.digest()));
        let waiters = std::mem::take(&mut self.seal_waiters);
        if let Err(e) = stored {
            tracing::error!("storing a batch failed: {e}");
            for w in waiters {
                let _ = w.send(false);
            }
            return;
        }
        for w in waiters {
            let _ = w.send(true);
        }
        self.push(batch.batch());
        self.unconfirmed.push_back((batch.digest(), Instant::now()));
        self.hold(&batch, ctx);
    }

    /// Sends a batch of this node's to every other member.
    fn push(&self, batch: &Batch) {
        if let Some(bridge) = &self.bridge {
            // Encoded once, sent to every other member.
            let wire = Wire::Batch(Box::new(batch.clone()));
            let msg = SendWire::new(self.chain, 0, &wire);
            for m in msg.to_others(self.me, self.committee_size) {
                bridge.do_send(m);
            }
        }
    }

    /// Pushes again this node's batches that have not committed
    /// `REPUSH_AFTER` after their last push, a few at a time. A push can
    /// be lost (a full queue, a member that was down or refused this node
    /// for a while), and only a leader holding a batch proposes it: without
    /// this, records accepted here could wait forever.
    fn repush(&mut self) {
        let now = Instant::now();
        let mut pushed = 0;
        while pushed < REPUSH_PER_TICK {
            let Some(&(digest, at)) = self.unconfirmed.front() else {
                break;
            };
            if now.duration_since(at) < REPUSH_AFTER {
                break;
            }
            self.unconfirmed.pop_front();
            if !self.held.contains(&digest) {
                continue; // committed meanwhile
            }
            if let Ok(Some(b)) = self.store.batch(&digest) {
                tracing::debug!(batch = %digest.short(), "pushing an unconfirmed batch again");
                self.push(b.batch());
                pushed += 1;
            }
            self.unconfirmed.push_back((digest, now));
        }
    }

    /// Makes a stored, verified batch available to payloads and waiters.
    fn hold(&mut self, batch: &HashedBatch, ctx: &mut Context<Self>) {
        let digest = batch.digest();
        self.fetching.remove(&digest);
        if self.state.batch_executed(&digest).unwrap_or(false) || self.held.contains(&digest) {
            self.release_quota(&digest);
            self.settle_waiters(ctx);
            return;
        }
        let hashes: Arc<[Digest]> = batch.tx_hashes().into();
        if batch.batch().author != self.me {
            // Peers' transactions count as pending here too.
            self.pending_txs.extend(hashes.iter().copied());
        }
        self.held.insert(digest, hashes);
        self.ready.push_back(batch.reference());
        self.update_gauge();
        if let Some((round, timer)) = self.waiting_payload.take() {
            ctx.cancel_future(timer);
            self.answer_payload(round);
        }
        self.settle_waiters(ctx);
    }

    /// Verifies a peer's batch off-thread, then stores and holds it.
    /// `fetched`: asked for because a block references it (not counted
    /// against the author's quota).
    fn accept_peer_batch(
        &mut self,
        from: u32,
        batch: HashedBatch,
        fetched: bool,
        ctx: &mut Context<Self>,
    ) {
        if batch.batch().chain != self.chain {
            return self.charge(from, Fault::Invalid, "batch for another chain");
        }
        let digest = batch.digest();
        if self.refused.contains(&digest) {
            return self.charge(from, Fault::Invalid, "batch refused before");
        }
        if self.held.contains(&digest) || self.charged.contains_key(&digest) {
            return;
        }
        tracing::trace!(batch = %digest.short(), from, "peer batch received");
        let kinds_ok = batch
            .batch()
            .transactions
            .iter()
            .all(|t| match self.params.payload {
                PayloadMode::Opaque => matches!(t, Transaction::Opaque(_)),
                PayloadMode::Signed => {
                    matches!(t, Transaction::Provenance(p) if p.record.network == self.network)
                }
            });
        if !kinds_ok {
            self.refused.insert(digest);
            return self.charge(
                from,
                Fault::Invalid,
                "batch with records of the wrong kind or network",
            );
        }
        if !fetched {
            let bytes = parity_scale_codec::Encode::encoded_size(batch.batch());
            if !self.take_quota(batch.batch().author, digest, bytes) {
                self.metrics.reject("batch over the author quota");
                return;
            }
        }
        let check = match self.params.payload {
            PayloadMode::Opaque => None,
            PayloadMode::Signed => Some(
                self.verifier
                    .check_urgent(batch.batch().transactions.iter()),
            ),
        };
        let fut = async move {
            match check {
                None => true,
                Some(f) => f.await.map(|v| v.iter().all(|ok| *ok)).unwrap_or(false),
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |valid, act, ctx| {
            if !valid {
                tracing::warn!(from, "refusing a batch with invalid signatures");
                act.release_quota(&digest);
                act.refused.insert(digest);
                return act.charge(from, Fault::Invalid, "batch with invalid signatures");
            }
            if let Err(e) = act.store.put_batch(&batch) {
                tracing::error!("storing a batch failed: {e}");
                act.release_quota(&digest);
                return;
            }
            tracing::trace!(batch = %batch.digest().short(), from, "peer batch held");
            act.hold(&batch, ctx);
        }));
    }
}

impl Actor for Mempool {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        self.recover_unconfirmed(ctx);
        ctx.run_interval(Duration::from_millis(250), |act, ctx| {
            let wanted: Vec<(Digest, u32)> = act
                .checks
                .values()
                .flat_map(|(b, _)| match &b.payload {
                    Payload::Batches(refs) => refs.iter().map(|r| (r.digest, r.author)).collect(),
                    Payload::Inline(_) => Vec::new(),
                })
                .chain(
                    act.ensures
                        .iter()
                        .flat_map(|(d, _)| d.iter().map(|d| (*d, 0))),
                )
                .collect();
            let wanted: Vec<(Digest, u32)> = wanted
                .into_iter()
                .filter(|(d, _)| act.missing(&[*d]).len() == 1)
                .collect();
            act.fetch(&wanted);
            act.settle_waiters(ctx);
            act.repush();
            act.admits();
        });
    }
}

/// Wiring after start (the actors refer to each other).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub bridge: NetworkPort,
    pub chain: CommitteePort,
}

impl Handler<Connect> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        self.bridge = Some(msg.bridge);
        self.chain_actor = Some(msg.chain);
    }
}

/// Client transactions; the answer gives each its hash or refusal.
#[derive(Message)]
#[rtype(result = "Vec<Result<Digest, TxRefusal>>")]
pub struct Submit(pub Vec<Transaction>);

impl Handler<Submit> for Mempool {
    type Result = ResponseActFuture<Self, Vec<Result<Digest, TxRefusal>>>;

    fn handle(&mut self, msg: Submit, _: &mut Context<Self>) -> Self::Result {
        tracing::trace!(txs = msg.0.len(), "submission received");
        let mut seen = DigestSet::default();
        // Overload is refused at the door, before any check: records
        // queued beyond what commits within the budget only delay
        // everything, peers' batches (which blocks wait for) included.
        if !self.admits() {
            let refused = vec![Err(TxRefusal::Overloaded); msg.0.len()];
            return Box::pin(actix::fut::ready(refused));
        }
        let verdicts: Vec<Result<Digest, TxRefusal>> =
            msg.0.iter().map(|t| self.precheck(t, &mut seen)).collect();
        let candidates: Vec<(usize, Transaction)> = msg
            .0
            .into_iter()
            .enumerate()
            .filter(|(i, _)| verdicts[*i].is_ok())
            .collect();
        let check = match self.params.payload {
            PayloadMode::Opaque => None,
            PayloadMode::Signed => Some(self.verifier.check(candidates.iter().map(|(_, t)| t))),
        };
        Box::pin(
            async move {
                let ok = match check {
                    None => vec![true; candidates.len()],
                    Some(f) => f.await.unwrap_or_else(|_| vec![false; candidates.len()]),
                };
                (candidates, ok)
            }
            .into_actor(self)
            .map(move |(candidates, ok), act, ctx| {
                let mut verdicts = verdicts;
                for ((i, tx), valid) in candidates.into_iter().zip(ok) {
                    if !valid {
                        verdicts[i] = Err(TxRefusal::BadSignature);
                        continue;
                    }
                    // Re-check: the same record may have been added meanwhile.
                    let Ok(hash) = verdicts[i] else {
                        continue;
                    };
                    if act.pending_txs.contains(&hash) {
                        verdicts[i] = Err(TxRefusal::Duplicate);
                        continue;
                    }
                    if let Transaction::Provenance(p) = &tx {
                        if act
                            .nonce_set
                            .contains(&(p.record.sender.to_bytes(), p.record.nonce))
                        {
                            verdicts[i] = Err(TxRefusal::ReplayedNonce);
                            continue;
                        }
                    }
                    act.add_own(tx, hash, ctx);
                }
                tracing::trace!("submission verified");
                if act.building_bytes >= EARLY_SEAL_BYTES {
                    act.seal(ctx);
                }
                act.update_gauge();
                // Answered once its records are stored (see `seal_waiters`):
                // at the next seal, if the last one still waits in the
                // batch being built.
                let last = verdicts.iter().rev().find_map(|v| v.as_ref().ok().copied());
                let stored = match last {
                    Some(h) if act.building_hashes.last() == Some(&h) => {
                        let (tx, rx) = oneshot::channel();
                        act.seal_waiters.push(tx);
                        Some(rx)
                    }
                    _ => None,
                };
                (verdicts, stored)
            })
            .then(|(verdicts, stored), act, _| {
                async move {
                    let Some(rx) = stored else {
                        return verdicts;
                    };
                    if rx.await.unwrap_or(false) {
                        return verdicts;
                    }
                    // Not stored: nothing was accepted.
                    verdicts
                        .into_iter()
                        .map(|v| v.and(Err(TxRefusal::Full)))
                        .collect()
                }
                .into_actor(act)
            }),
        )
    }
}

impl Handler<PeerBatch> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: PeerBatch, ctx: &mut Context<Self>) {
        if msg.batch.author != msg.from {
            return self.charge(msg.from, Fault::Invalid, "batch pushed by a non-author");
        }
        self.accept_peer_batch(msg.from, msg.batch.hashed(), false, ctx);
    }
}

impl Handler<Committed> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: Committed, _: &mut Context<Self>) {
        let done: HashSet<Digest> = msg.batches.iter().copied().collect();
        let mut committed = 0u64;
        for d in &done {
            self.inflight.remove(d);
            self.release_quota(d);
            if let Some(txs) = self.held.remove(d) {
                committed += txs.len() as u64;
                for t in txs.iter() {
                    self.pending_txs.remove(t);
                    if let Some(key) = self.pending_nonces.remove(t) {
                        self.nonce_set.remove(&key);
                    }
                }
            }
        }
        // Only this node's own batches were noted: no write for others'.
        let own: Vec<Digest> = self
            .ready
            .iter()
            .filter(|r| r.author == self.me && done.contains(&r.digest))
            .map(|r| r.digest)
            .collect();
        if !own.is_empty() {
            if let Err(e) = self.store.forget_unconfirmed(&own) {
                tracing::error!("forgetting committed batches failed: {e}");
            }
        }
        self.ready.retain(|r| !done.contains(&r.digest));
        // Batches proposed at or below this height that did not commit were
        // in an abandoned fork: propose them again.
        self.inflight.retain(|_, h| *h > msg.height);
        self.gate.on_committed(Instant::now(), committed);
        self.admits();
        self.update_gauge();
    }
}

impl Handler<IsPending> for Mempool {
    type Result = bool;
    fn handle(&mut self, msg: IsPending, _: &mut Context<Self>) -> bool {
        self.pending_txs.contains(&msg.0)
    }
}

/// Transactions waiting here.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct PendingCount;

impl Handler<PendingCount> for Mempool {
    type Result = usize;
    fn handle(&mut self, _: PendingCount, _: &mut Context<Self>) -> usize {
        self.pending_txs.len()
    }
}

mod availability;

#[cfg(test)]
mod tests;
