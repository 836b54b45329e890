//! The mempool of one chain, as an actor: it carries out the pure mempool
//! core (`strata_chains::mempool`: batching, dedup, quotas, payload
//! availability) and does what the core asks of the world — signature
//! checks on the verifier thread, batch storage, pushes and fetches through
//! the network bridge, answers to the committee actor and the ledger —
//! feeding each outcome back as an event. Admission control (`admission`)
//! and client answers stay here: they are about this node's load and its
//! HTTP clients, not about the protocol.
//!
//! Every transaction signature is checked once per node, in batches on the
//! verifier thread: a client's transactions when they arrive, a peer's when
//! its batch arrives.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use strata_chains::consensus::Micros;
use strata_chains::mempool::{
    MempoolAction, MempoolConfig, MempoolCore, MempoolEvent, MempoolView, PayloadKind,
};
use strata_chains::store::{RocksStore, Store};
use strata_chains::types::{Batch, ChainId, Transaction};
use strata_crypto::hash::Digest;
use tokio::sync::oneshot;

pub use strata_chains::mempool::TxRefusal;

use crate::chain::admission::{AdmissionFlag, AdmissionGate, QUEUE_BUDGET};
use crate::chain::state::StateStore;
use crate::config::{ConsensusParams, PayloadMode};
use crate::messages::committee::{PayloadChecked, PayloadReady};
use crate::messages::mempool::{
    CheckPayload, Committed, EnsureBatches, FetchFailed, FetchedBatches, HeldBatchDigests,
    IsPending, PeerBatch, Post, RequestPayload, ServeBatches, SetSeat,
};
use crate::messages::network::{Penalize, SendWire};
use crate::messages::{CommitteePort, Deliver, NetworkPort};
use crate::service::metrics::{chain_label, Metrics};
use crate::service::verifier::Verifier;
use crate::service::wire::{Wire, BATCH_RESPONSE_BUDGET, MAX_BATCHES_PER_EXCHANGE};

/// Posted transactions whose hand-on count is kept (a few epochs' worth of
/// this node's dynasty transactions; forgotten all at once past it).
const MAX_HANDED: usize = 1024;

/// The node's disk as the core reads it.
struct Disk<'a> {
    store: &'a RocksStore,
    state: &'a StateStore,
}

impl MempoolView for Disk<'_> {
    fn has_batch(&self, digest: &Digest) -> bool {
        matches!(self.store.has_batch(digest), Ok(true))
    }
    fn batch_tx_hashes(&self, digest: &Digest) -> Option<Vec<Digest>> {
        self.store.batch_tx_hashes(digest).ok().flatten()
    }
    fn batch_executed(&self, digest: &Digest) -> bool {
        self.state.batch_executed(digest).unwrap_or(false)
    }
    fn nonce_used(&self, sender: &[u8; 32], nonce: u64) -> bool {
        self.state.nonce_used(sender, nonce).unwrap_or(false)
    }
    fn tx_committed(&self, tx: &Digest) -> bool {
        matches!(self.store.tx_location(tx), Ok(Some(_)))
    }
}

pub struct Mempool {
    chain: ChainId,
    me: u32,
    committee_size: u32,
    core: MempoolCore,
    store: RocksStore,
    state: StateStore,
    verifier: Verifier,
    bridge: Option<NetworkPort>,
    chain_actor: Option<CommitteePort>,
    metrics: Arc<Metrics>,
    /// The core's clock: microseconds since this actor started.
    started: Instant,
    /// Whether client records are admitted (see `admission`), and its
    /// last verdict for the HTTP handlers.
    gate: AdmissionGate,
    admission: AdmissionFlag,
    /// Submissions answered once the batch being built is sealed and
    /// stored: `accepted` means the record is written where a restart of
    /// this node finds it (it survives a kill -9), not only in memory.
    seal_waiters: Vec<oneshot::Sender<bool>>,
    /// The ledger's waits for a committed block's batches, by id.
    ensures: HashMap<u64, oneshot::Sender<()>>,
    next_ensure: u64,
    /// Proposals whose payload is being checked (to explain a refusal).
    checking: HashMap<Digest, Arc<strata_chains::types::Block>>,
    /// How often this node (not a member) handed each of its own posted
    /// transactions on: a retry goes to the next member, so one that is
    /// down or behind its window does not swallow every attempt.
    handed: HashMap<Digest, u32>,
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
        let core = MempoolCore::new(MempoolConfig {
            chain,
            network,
            domains,
            me,
            committee_size,
            followers: 0,
            payload: match params.payload {
                PayloadMode::Signed => PayloadKind::Signed,
                PayloadMode::Opaque => PayloadKind::Opaque,
            },
            capacity: params.mempool_capacity,
            max_batch_bytes: params.max_batch_bytes,
            max_batch_delay: params.max_batch_delay_ms.saturating_mul(1000),
            max_block_interval: params.max_block_interval_ms.saturating_mul(1000),
            max_batches_per_fetch: MAX_BATCHES_PER_EXCHANGE,
        });
        Mempool {
            chain,
            me,
            committee_size,
            core,
            store,
            state,
            verifier,
            bridge: None,
            chain_actor: None,
            metrics,
            started: Instant::now(),
            gate: AdmissionGate::new(Instant::now(), QUEUE_BUDGET),
            admission: AdmissionFlag::default(),
            seal_waiters: Vec::new(),
            handed: HashMap::new(),
            ensures: HashMap::new(),
            next_ensure: 0,
            checking: HashMap::new(),
        }
    }

    fn now(&self) -> Micros {
        self.started.elapsed().as_micros() as Micros
    }

    /// The admission verdict the HTTP handlers read before a body.
    pub fn admission(&self) -> AdmissionFlag {
        self.admission.clone()
    }

    /// Whether a client record is admitted now; publishes the verdict.
    fn admits(&mut self) -> bool {
        let pending = self.core.pending();
        let open = self
            .gate
            .admits(Instant::now(), pending, self.verifier.backlog_time());
        self.admission.set(open);
        open
    }

    fn update_gauge(&self) {
        self.metrics
            .mempool_transactions
            .with_label_values(&[chain_label(self.chain).as_str()])
            .set(self.core.pending() as i64);
    }

    /// Feeds the core one event and carries out what it asks.
    fn feed(&mut self, event: MempoolEvent, ctx: &mut Context<Self>) {
        let now = self.now();
        let disk = Disk {
            store: &self.store,
            state: &self.state,
        };
        let actions = self.core.on_event(now, &disk, event);
        self.carry_out(actions, ctx);
    }

    fn carry_out(&mut self, actions: Vec<MempoolAction>, ctx: &mut Context<Self>) {
        let mut follow = Vec::new();
        for a in actions {
            match a {
                MempoolAction::StoreOwn(batch) => {
                    tracing::trace!(batch = %batch.digest().short(), txs = batch.tx_hashes().len(), "sealed");
                    let stored = self
                        .store
                        .put_batch(&batch)
                        .and_then(|()| self.store.note_unconfirmed(&batch.digest()));
                    if let Err(e) = &stored {
                        tracing::error!("storing a batch failed: {e}");
                    }
                    for w in std::mem::take(&mut self.seal_waiters) {
                        let _ = w.send(stored.is_ok());
                    }
                    follow.push(MempoolEvent::OwnStored {
                        digest: batch.digest(),
                        stored: stored.is_ok(),
                    });
                }
                MempoolAction::StorePeer(batch) => {
                    if let Err(e) = self.store.put_batch(&batch) {
                        tracing::error!("storing a batch failed: {e}");
                    }
                }
                MempoolAction::Push(batch) => self.push(batch.batch()),
                MempoolAction::Forward { digest, attempt } => {
                    if let Ok(Some(b)) = self.store.batch(&digest) {
                        tracing::debug!(batch = %digest.short(), attempt, "handing an orphaned batch's records to a member");
                        let turn = u32::from(digest.0[0]).wrapping_add(attempt);
                        self.forward(b.batch().transactions.to_vec(), turn);
                    }
                }
                MempoolAction::Rebatch(digest) => {
                    if let Ok(Some(b)) = self.store.batch(&digest) {
                        tracing::debug!(batch = %digest.short(), "batching an orphaned batch's records in this node's seat");
                        let fut = self.submit(b.batch().transactions.to_vec(), false);
                        ctx.spawn(fut.map(|_, _, _| ()));
                    }
                }
                MempoolAction::Repush(digest) => {
                    if let Ok(Some(b)) = self.store.batch(&digest) {
                        tracing::debug!(batch = %digest.short(), "pushing an unconfirmed batch again");
                        self.push(b.batch());
                    }
                }
                MempoolAction::Verify { from, batch } => self.verify(from, batch, ctx),
                MempoolAction::Fetch { from, digests } => {
                    tracing::debug!(chain = %self.chain, from, batches = digests.len(), first = %digests.first().map(|d| d.short()).unwrap_or_default(), "fetching batches");
                    if let (Some(bridge), Ok(digests)) =
                        (&self.bridge, strata_crypto::codec::BoundedVec::new(digests))
                    {
                        let wire = Wire::BatchRequest {
                            chain: self.chain,
                            digests,
                        };
                        bridge.do_send(SendWire::new(self.chain, from, &wire));
                    }
                }
                MempoolAction::PayloadReady {
                    round,
                    payload,
                    batches_tx_root,
                } => {
                    if let Some(chain) = &self.chain_actor {
                        chain.do_send(PayloadReady {
                            round,
                            payload,
                            batches_tx_root,
                        });
                    }
                }
                MempoolAction::PayloadChecked { block, verdict } => {
                    if let Some(b) = self.checking.remove(&block) {
                        if verdict == strata_chains::consensus::PayloadVerdict::Invalid {
                            self.explain_invalid(&b);
                        }
                    }
                    if let Some(chain) = &self.chain_actor {
                        chain.do_send(PayloadChecked { block, verdict });
                    }
                }
                MempoolAction::Ensured { id } => {
                    if let Some(reply) = self.ensures.remove(&id) {
                        let _ = reply.send(());
                    }
                }
                MempoolAction::ForgetUnconfirmed(digests) => {
                    if let Err(e) = self.store.forget_unconfirmed(&digests) {
                        tracing::error!("forgetting committed batches failed: {e}");
                    }
                }
                MempoolAction::Penalize {
                    member,
                    fault,
                    reason,
                } => match &self.bridge {
                    Some(bridge) => bridge.do_send(Penalize {
                        chain: self.chain,
                        member,
                        fault,
                        reason,
                    }),
                    None => self.metrics.penalty(reason),
                },
                MempoolAction::Dropped { reason } => self.metrics.reject(reason),
                MempoolAction::WakeAt(at) => {
                    let after = Duration::from_micros(at.saturating_sub(self.now()));
                    ctx.run_later(after, |act, ctx| act.feed(MempoolEvent::Tick, ctx));
                }
            }
        }
        for event in follow {
            self.feed(event, ctx);
        }
        self.update_gauge();
    }

    /// Says why a proposal's payload did not hold here: each reference
    /// against the batch this node has.
    fn explain_invalid(&self, block: &strata_chains::types::Block) {
        let strata_chains::types::Payload::Batches(refs) = &block.payload else {
            return tracing::warn!(height = block.header.height, "an inline payload proposed");
        };
        let seen: Vec<String> = refs
            .iter()
            .map(|r| {
                let here = self
                    .store
                    .batch_tx_hashes(&r.digest)
                    .ok()
                    .flatten()
                    .map(|h| h.len());
                format!(
                    "{}@{}: ref {} here {:?}",
                    r.digest.short(),
                    r.author,
                    r.tx_count,
                    here
                )
            })
            .collect();
        tracing::warn!(
            height = block.header.height,
            epoch = block.header.epoch,
            proposer = block.header.proposer,
            ?seen,
            "a proposal's payload does not match its transaction root here"
        );
    }

    /// Sends a batch of this node's to every other member, encoded once.
    fn push(&self, batch: &Batch) {
        if let Some(bridge) = &self.bridge {
            let wire = Wire::Batch(Box::new(batch.clone()));
            let msg = SendWire::new(self.chain, 0, &wire);
            for m in msg.to_others(self.me, self.committee_size) {
                bridge.do_send(m);
            }
        }
    }

    /// A peer batch's signatures, checked on the verifier thread.
    fn verify(
        &mut self,
        from: u32,
        batch: Arc<strata_chains::types::HashedBatch>,
        ctx: &mut Context<Self>,
    ) {
        let check = self
            .verifier
            .check_urgent(batch.batch().transactions.iter());
        let fut = async move { check.await.map(|v| v.iter().all(|ok| *ok)).unwrap_or(false) };
        ctx.spawn(fut.into_actor(self).map(move |valid, act, ctx| {
            if !valid {
                tracing::warn!(from, "refusing a batch with invalid signatures");
            }
            act.feed(MempoolEvent::Verified { from, batch, valid }, ctx);
        }));
    }

    /// After a restart: batches this node sealed that had not committed
    /// are held, proposed and pushed again (their records were answered
    /// `accepted`).
    fn recover_unconfirmed(&mut self, ctx: &mut Context<Self>) {
        let noted = match self.store.unconfirmed() {
            Ok(d) => d,
            Err(e) => return tracing::error!("reading unconfirmed batches failed: {e}"),
        };
        let mut batches = Vec::new();
        let mut gone = Vec::new();
        for digest in noted {
            match self.store.batch(&digest) {
                Ok(Some(batch)) => batches.push(Arc::new(batch)),
                Ok(None) => gone.push(digest),
                Err(e) => tracing::error!("reading an unconfirmed batch failed: {e}"),
            }
        }
        if let Err(e) = self.store.forget_unconfirmed(&gone) {
            tracing::error!("forgetting committed batches failed: {e}");
        }
        if !batches.is_empty() {
            tracing::info!(
                batches = batches.len(),
                "recovered batches sealed here before a restart"
            );
            self.feed(MempoolEvent::Recovered { batches }, ctx);
        }
    }
}

impl Actor for Mempool {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        self.recover_unconfirmed(ctx);
        ctx.run_interval(Duration::from_millis(250), |act, ctx| {
            act.feed(MempoolEvent::Tick, ctx);
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

impl Handler<SetSeat> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: SetSeat, _: &mut Context<Self>) {
        self.me = msg.me;
        self.committee_size = msg.committee_size;
        self.core.set_seat(msg.me, msg.committee_size);
        self.core.set_followers(msg.followers);
        self.core.set_epoch(msg.epoch, msg.previous);
    }
}

impl Handler<Post> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: Post, ctx: &mut Context<Self>) {
        let member = self.me < self.committee_size;
        if member || msg.forwarded {
            // Through the checks a client's transaction takes; dynasty
            // transactions are not turned away by the load gate (their
            // windows are a few blocks long), records are.
            let gated = msg.txs.iter().any(|t| !matches!(t, Transaction::System(_)));
            let fut = self.submit(msg.txs, gated);
            let forwarded = msg.forwarded;
            ctx.spawn(fut.map(move |verdicts, _, _| {
                for v in verdicts {
                    match v {
                        Ok(tx) => tracing::debug!(%tx, forwarded, "a posted transaction admitted"),
                        Err(why) => tracing::debug!(
                            forwarded,
                            "a posted transaction was not admitted: {why}"
                        ),
                    }
                }
            }));
            return;
        }
        // Not a member: a member proposes them. Which one turns with the
        // transaction and with each retry (the participant's, blocks
        // later), so a member down, or whose state is behind the window,
        // does not lose them all.
        if self.handed.len() >= MAX_HANDED {
            self.handed.clear();
        }
        for tx in msg.txs {
            let hash = tx.hash();
            let retries = self.handed.entry(hash).or_insert(0);
            let turn = u32::from_le_bytes([hash.0[0], hash.0[1], hash.0[2], hash.0[3]])
                .wrapping_add(*retries);
            *retries = retries.saturating_add(1);
            tracing::debug!(tx = %hash, to = turn % self.committee_size.max(1), "forwarding a posted transaction to a member");
            self.forward(vec![tx], turn);
        }
    }
}

impl Mempool {
    /// Hands transactions to the member at `turn` (mod the committee).
    fn forward(&self, txs: Vec<Transaction>, turn: u32) {
        let (Some(bridge), Ok(txs)) = (&self.bridge, strata_crypto::codec::BoundedVec::new(txs))
        else {
            return;
        };
        let to = turn % self.committee_size.max(1);
        let wire = Wire::Forward {
            chain: self.chain,
            txs,
        };
        bridge.do_send(SendWire::new(self.chain, to, &wire));
    }
}

/// Client transactions; the answer gives each its hash or refusal.
#[derive(Message)]
#[rtype(result = "Vec<Result<Digest, TxRefusal>>")]
pub struct Submit(pub Vec<Transaction>);

impl Handler<Submit> for Mempool {
    type Result = ResponseActFuture<Self, Vec<Result<Digest, TxRefusal>>>;

    fn handle(&mut self, msg: Submit, _: &mut Context<Self>) -> Self::Result {
        self.submit(msg.0, true)
    }
}

impl Mempool {
    /// Checks and admits transactions (`gated`: past the load gate).
    fn submit(
        &mut self,
        txs: Vec<Transaction>,
        gated: bool,
    ) -> ResponseActFuture<Self, Vec<Result<Digest, TxRefusal>>> {
        let msg = Submit(txs);
        tracing::trace!(txs = msg.0.len(), "submission received");
        // Overload is refused at the door, before any check: records
        // queued beyond what commits within the budget only delay
        // everything, peers' batches (which blocks wait for) included.
        if gated && !self.admits() {
            let refused = vec![Err(TxRefusal::Overloaded); msg.0.len()];
            return Box::pin(actix::fut::ready(refused));
        }
        let mut seen = BTreeSet::new();
        let disk = Disk {
            store: &self.store,
            state: &self.state,
        };
        // Certificate checks beyond the submission's budget are refused
        // before any is done (each costs this thread a pairing or two).
        let mut pairings = 0usize;
        let verdicts: Vec<Result<Digest, TxRefusal>> = msg
            .0
            .iter()
            .map(|t| {
                pairings = pairings.saturating_add(strata_chains::mempool::pairings(t));
                if pairings > strata_chains::mempool::MAX_PAIRINGS_PER_BATCH {
                    return Err(TxRefusal::WrongKind(
                        "at most 64 certificate checks per submission",
                    ));
                }
                let hash = self.core.precheck(&disk, t, &mut seen)?;
                // A system transaction is judged here, by the chain's rule
                // with its reason (the signature thread has nothing to add).
                if matches!(t, Transaction::System(_)) {
                    self.verifier.judge_system(t).map_err(TxRefusal::Refused)?;
                }
                Ok(hash)
            })
            .collect();
        let candidates: Vec<(usize, Transaction)> = msg
            .0
            .into_iter()
            .enumerate()
            .filter(|(i, _)| verdicts[*i].is_ok())
            .collect();
        let signed = |t: &Transaction| !matches!(t, Transaction::System(_));
        let check = match self.core.config().payload {
            PayloadKind::Opaque => None,
            PayloadKind::Signed => Some(
                self.verifier
                    .check(candidates.iter().map(|(_, t)| t).filter(|t| signed(t))),
            ),
        };
        Box::pin(
            async move {
                let ok = match check {
                    None => vec![true; candidates.len()],
                    Some(f) => {
                        let checked = f.await.unwrap_or_default();
                        let mut checked = checked.into_iter();
                        // Judged already: system transactions; a verifier
                        // that stopped answers nothing, and nothing passes.
                        candidates
                            .iter()
                            .map(|(_, t)| !signed(t) || checked.next().unwrap_or(false))
                            .collect()
                    }
                };
                (candidates, ok)
            }
            .into_actor(self)
            .map(move |(candidates, ok), act, ctx| {
                let mut verdicts = verdicts;
                let mut admitted = Vec::new();
                let mut places = Vec::new();
                for ((i, tx), valid) in candidates.into_iter().zip(ok) {
                    match verdicts[i] {
                        Ok(hash) if valid => {
                            admitted.push((tx, hash));
                            places.push(i);
                        }
                        Ok(_) => verdicts[i] = Err(TxRefusal::BadSignature),
                        Err(_) => {}
                    }
                }
                let now = act.now();
                let (added, actions) = act.core.admit(now, admitted);
                for (i, v) in places.into_iter().zip(added) {
                    if let Err(r) = v {
                        verdicts[i] = Err(r);
                    }
                }
                // Answered once its records are stored (see `seal_waiters`):
                // at the next seal if any of them still waits in the batch
                // being built (a seal among `actions` answers earlier
                // waiters only).
                let stored = if act.core.building() > 0 && verdicts.iter().any(|v| v.is_ok()) {
                    let (tx, rx) = oneshot::channel();
                    Some((tx, rx))
                } else {
                    None
                };
                act.carry_out(actions, ctx);
                let stored = stored.map(|(tx, rx)| {
                    act.seal_waiters.push(tx);
                    rx
                });
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
        let batch = Arc::new(msg.batch.hashed());
        self.feed(
            MempoolEvent::PeerBatch {
                from: msg.from,
                batch,
            },
            ctx,
        );
    }
}

impl Handler<FetchedBatches> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: FetchedBatches, ctx: &mut Context<Self>) {
        let batches = msg
            .batches
            .into_iter()
            .map(|b| Arc::new(b.hashed()))
            .collect();
        self.feed(
            MempoolEvent::Fetched {
                from: msg.from,
                batches,
            },
            ctx,
        );
    }
}

impl Handler<FetchFailed> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: FetchFailed, ctx: &mut Context<Self>) {
        self.feed(MempoolEvent::FetchFailed { from: msg.from }, ctx);
    }
}

impl Handler<ServeBatches> for Mempool {
    type Result = Vec<Batch>;
    fn handle(&mut self, msg: ServeBatches, _: &mut Context<Self>) -> Vec<Batch> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for d in msg.0 {
            if let Ok(Some(b)) = self.store.batch(&d) {
                bytes += parity_scale_codec::Encode::encoded_size(b.batch());
                if bytes > BATCH_RESPONSE_BUDGET && !out.is_empty() {
                    break;
                }
                out.push(b.into_batch());
            }
        }
        out
    }
}

impl Handler<RequestPayload> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: RequestPayload, ctx: &mut Context<Self>) {
        self.feed(MempoolEvent::RequestPayload { round: msg.round }, ctx);
    }
}

impl Handler<CheckPayload> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: CheckPayload, ctx: &mut Context<Self>) {
        if self.checking.len() >= 64 {
            self.checking.clear();
        }
        self.checking.insert(msg.block.hash(), msg.block.clone());
        self.feed(MempoolEvent::CheckPayload { block: msg.block }, ctx);
    }
}

impl Handler<EnsureBatches> for Mempool {
    type Result = ResponseFuture<Result<(), ()>>;
    fn handle(&mut self, msg: EnsureBatches, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.next_ensure += 1;
        let id = self.next_ensure;
        self.ensures.insert(id, tx);
        let (batches, epoch) = (msg.batches, msg.epoch);
        self.feed(MempoolEvent::Ensure { id, batches, epoch }, ctx);
        Box::pin(async move { rx.await.map_err(|_| ()) })
    }
}

impl Handler<Committed> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: Committed, ctx: &mut Context<Self>) {
        let before = self.core.pending();
        self.feed(
            MempoolEvent::Committed {
                height: msg.height,
                batches: msg.batches,
            },
            ctx,
        );
        let committed = before.saturating_sub(self.core.pending()) as u64;
        self.gate.on_committed(Instant::now(), committed);
        self.admits();
    }
}

impl Handler<IsPending> for Mempool {
    type Result = bool;
    fn handle(&mut self, msg: IsPending, _: &mut Context<Self>) -> bool {
        self.core.is_pending(&msg.0)
    }
}

/// The held batches (uncommitted, still to be proposed), for the batch
/// log's collector, which keeps them.
impl Handler<HeldBatchDigests> for Mempool {
    type Result = Vec<Digest>;
    fn handle(&mut self, _: HeldBatchDigests, _: &mut Context<Self>) -> Vec<Digest> {
        self.core.held_digests()
    }
}

/// Transactions waiting here.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct PendingCount;

impl Handler<PendingCount> for Mempool {
    type Result = usize;
    fn handle(&mut self, _: PendingCount, _: &mut Context<Self>) -> usize {
        self.core.pending()
    }
}

#[cfg(test)]
mod tests;
