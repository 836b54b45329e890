//! The mempool core of one chain (docs/design.md §7): bounded and deduplicated;
//! turns client transactions into batches (Narwhal-style dissemination),
//! keeps the batches other members push within a quota per author, hands
//! leaders payloads of batch references, and says whether a proposal's
//! batches are here and match its header, fetching the missing ones.
//!
//! A pure state machine beside the consensus core (`on_event(now, event)
//! -> Vec<MempoolAction>`): no I/O, no clock, no threads. It reads the
//! node's disk through [`MempoolView`]; signature checks, storage and the
//! network are the host's, asked for by actions and answered by events.
//! The node's mempool actor carries it out; the simulator runs one per
//! node, so batch dissemination, payload availability and execution are
//! exercised under every fault the simulator injects.

mod availability;
mod batching;
mod peers;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use strata_crypto::hash::Digest;

use crate::consensus::{Fault, Micros, PayloadVerdict};
use crate::types::{
    Batch, BatchRef, Block, ChainId, Epoch, HashedBatch, Height, Payload, Round, SystemTx,
    Transaction,
};

/// An anchor's encoding at most (a header, a certificate, two state
/// proofs: a few KiB).
pub const MAX_ANCHOR_BYTES: usize = 64 << 10;
/// Pairings the checks of one peer batch or one client submission may cost
/// at most (anchors' certificates, linked records' parent receipts): more
/// is refused before any is checked.
pub const MAX_PAIRINGS_PER_BATCH: usize = 64;

/// The pairings checking `tx` costs beyond its signature: an anchor's
/// certificate; two per parent receipt of a linked record.
pub fn pairings(tx: &Transaction) -> usize {
    match tx {
        // A proof of misbehaviour checks two statements or certificates.
        Transaction::System(s) if matches!(**s, crate::types::SystemTx::Evidence(_)) => 2,
        Transaction::System(_) => 1,
        Transaction::Linked(l) => 2 * l.parents.len(),
        _ => 0,
    }
}

/// A batch of this node's not committed yet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unconfirmed {
    pub digest: Digest,
    pub at: Micros,
    pub author: u32,
    pub attempts: u32,
    /// Orphaned once, orphaned for good: members it was not pushed to in
    /// its seat never hold it, so it is not proposed or pushed again even
    /// if this node's seat comes back to its author position.
    pub orphaned: bool,
}

/// Transactions per block (across its batches).
pub const MAX_BLOCK_TX_COUNT: u64 = 50_000;
/// A peer batch fetch is retried at another member after this long.
pub const FETCH_RETRY: Micros = 700_000;
/// A payload check gives up (no vote) after this long.
pub const CHECK_DEADLINE: Micros = 4_000_000;
/// A submission that leaves this much in the batch being built seals it at
/// once: such a batch already spreads its fixed costs (a store write, a
/// push to each member, a verification job at each) over enough records.
pub const EARLY_SEAL_BYTES: usize = 8 * 1024;
/// Batches, and their bytes, one member may have here that are neither
/// committed nor refused. A batch a block references is fetched past the
/// quota (the quota bounds pushes, not what consensus needs).
pub const AUTHOR_QUOTA_BATCHES: usize = 2048;
pub const AUTHOR_QUOTA_BYTES: usize = 128 << 20;
/// This node's batches not committed this long after their last push are
/// pushed again, at most this many per tick.
pub const REPUSH_AFTER: Micros = 2_000_000;
pub const REPUSH_PER_TICK: usize = 64;
/// A member whose fetch failed before any answer is asked last this long.
pub const UNREACHABLE_FOR: Micros = 5_000_000;
/// Refused batch digests remembered: one sent again costs its sender a
/// penalty and this node no verification.
pub const REFUSED_REMEMBERED: usize = 4096;

/// What the core reads of the node's disk and executed state.
pub trait MempoolView {
    /// Whether the batch is stored here (held or committed).
    fn has_batch(&self, digest: &Digest) -> bool;
    /// A stored batch's transaction hashes.
    fn batch_tx_hashes(&self, digest: &Digest) -> Option<Vec<Digest>>;
    /// Whether a committed block's execution took the batch in.
    fn batch_executed(&self, digest: &Digest) -> bool;
    /// Whether the sender's nonce is spent in the executed state.
    fn nonce_used(&self, sender: &[u8; 32], nonce: u64) -> bool;
    /// Whether a committed block lists the transaction (the chain's
    /// transaction index knows it).
    fn tx_committed(&self, tx: &Digest) -> bool;
}

/// Which transactions the chain takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    /// Signed provenance records, executed.
    Signed,
    /// Opaque bytes, ordered only (benchmarks).
    Opaque,
}

#[derive(Clone, Debug)]
pub struct MempoolConfig {
    pub chain: ChainId,
    /// The genesis digest every record must name.
    pub network: Digest,
    pub domains: u32,
    pub me: u32,
    pub committee_size: u32,
    /// Validators following the chain outside its committee: fetches go
    /// to them after the members (positions `committee_size..`), since a
    /// block committed in an earlier epoch may reference batches only
    /// that epoch's members hold.
    pub followers: u32,
    pub payload: PayloadKind,
    /// Pending transactions at most.
    pub capacity: usize,
    pub max_batch_bytes: usize,
    pub max_batch_delay: Micros,
    /// How long a leader's payload request waits for transactions when
    /// nothing is pending.
    pub max_block_interval: Micros,
    /// Batches asked of one member in one request (the wire's limit).
    pub max_batches_per_fetch: usize,
}

/// Why a submitted transaction was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
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
    /// A system transaction, or a linked record's parent receipts, that
    /// the chain's rule refuses as the next block would execute it.
    #[error("refused: {0}")]
    Refused(String),
}

/// What happens to the mempool.
#[derive(Clone, Debug)]
pub enum MempoolEvent {
    /// Time passes: seal deadlines, payload waits, fetch retries, check
    /// deadlines and re-pushes are due (the host ticks every 250 ms and at
    /// each [`MempoolAction::WakeAt`]).
    Tick,
    /// The host stored this node's sealed batch ([`MempoolAction::StoreOwn`]).
    OwnStored { digest: Digest, stored: bool },
    /// A batch member `from` pushed.
    PeerBatch { from: u32, batch: Arc<HashedBatch> },
    /// Batches member `from` sent in answer to a fetch.
    Fetched {
        from: u32,
        batches: Vec<Arc<HashedBatch>>,
    },
    /// The host's signature check of a peer batch ([`MempoolAction::Verify`]).
    Verified {
        from: u32,
        batch: Arc<HashedBatch>,
        valid: bool,
    },
    /// A fetch from `from` failed before any answer.
    FetchFailed { from: u32 },
    /// The consensus core asks for the next payload.
    RequestPayload { round: Round },
    /// The consensus core asks whether a proposal's batches are here and
    /// match its header.
    CheckPayload { block: Arc<Block> },
    /// The ledger needs these batches (digest, a member that has it) to
    /// execute a committed block; answered by [`MempoolAction::Ensured`].
    Ensure {
        id: u64,
        batches: Vec<(Digest, u32)>,
        /// The epoch of the block that lists them, when known: a block of
        /// the epoch before this seat's was certified by that epoch's
        /// members, who hold its batches (`MempoolCore::set_epoch`).
        epoch: Option<Epoch>,
    },
    /// A block at `height` committed, with these batches.
    Committed {
        height: Height,
        batches: Vec<Digest>,
    },
    /// This node's batches that were sealed but had not committed before a
    /// restart (their records were answered `accepted`).
    Recovered { batches: Vec<Arc<HashedBatch>> },
}

/// What the host must do.
#[derive(Clone, Debug)]
pub enum MempoolAction {
    /// Store this node's sealed batch and note it unconfirmed; answer
    /// [`MempoolEvent::OwnStored`]; the submissions waiting for their
    /// records to be stored are answered by its outcome.
    StoreOwn(Arc<HashedBatch>),
    /// Store a verified peer batch.
    StorePeer(Arc<HashedBatch>),
    /// Send a batch of this node's to every other member.
    Push(Arc<HashedBatch>),
    /// Send again a stored batch of this node's to every other member.
    Repush(Digest),
    /// Hand the records of a stored batch of this node's to a member (the
    /// `attempt`-th, in turn) to batch as its own: the batch is orphaned
    /// (`MempoolCore::orphaned`).
    Forward { digest: Digest, attempt: u32 },
    /// Admit again, into a new batch of this node's, the records of a
    /// stored orphaned batch it has let go: it is a member now, and the
    /// records are its own to propose (forwarded, members that hold them
    /// pending would refuse them as duplicates).
    Rebatch(Digest),
    /// Check a peer batch's signatures; answer [`MempoolEvent::Verified`].
    Verify { from: u32, batch: Arc<HashedBatch> },
    /// Ask `from` for these batches.
    Fetch { from: u32, digests: Vec<Digest> },
    /// The payload for the consensus core (with the transaction root over
    /// its batches).
    PayloadReady {
        round: Round,
        payload: Payload,
        batches_tx_root: Option<Digest>,
    },
    /// The verdict on a proposal's payload.
    PayloadChecked {
        block: Digest,
        verdict: PayloadVerdict,
    },
    /// The batches of an [`MempoolEvent::Ensure`] are all stored.
    Ensured { id: u64 },
    /// This node's batches committed: no longer unconfirmed.
    ForgetUnconfirmed(Vec<Digest>),
    Penalize {
        member: u32,
        fault: Fault,
        reason: &'static str,
    },
    /// Something dropped without blame (for the metrics): a batch over its
    /// author's quota.
    Dropped { reason: &'static str },
    /// Send a [`MempoolEvent::Tick`] at this time.
    WakeAt(Micros),
}

/// What one member's batches occupy here.
#[derive(Clone, Copy, Debug, Default)]
struct AuthorLoad {
    batches: usize,
    bytes: usize,
}

/// A fetch in progress: the peers to ask first, the member asked first
/// after them, when last asked and whom, attempts.
#[derive(Clone, Debug)]
struct Fetching {
    prefer: Vec<u32>,
    first: u32,
    asked_at: Option<Micros>,
    asked: Option<u32>,
    attempts: u32,
}

pub struct MempoolCore {
    cfg: MempoolConfig,
    now: Micros,
    // Batching (`batching.rs`).
    building: Vec<Transaction>,
    building_hashes: Vec<Digest>,
    building_bytes: usize,
    seal_at: Option<Micros>,
    sequence: u64,
    /// Sealed batches the host is storing.
    storing: BTreeMap<Digest, Arc<HashedBatch>>,
    /// This node's batches with their last push, oldest first.
    /// This node's batches not committed yet: digest, last push, author
    /// position when made, pushes or forwards so far.
    unconfirmed: VecDeque<Unconfirmed>,
    // Pending transactions.
    pending_txs: BTreeSet<Digest>,
    pending_nonces: BTreeMap<Digest, ([u8; 32], u64)>,
    nonce_set: BTreeSet<([u8; 32], u64)>,
    // Held batches (`availability.rs`).
    /// Batches held here and not yet committed, in arrival order.
    ready: VecDeque<BatchRef>,
    /// Each held batch's transaction hashes.
    held: BTreeMap<Digest, Arc<[Digest]>>,
    /// Batches in proposed, uncommitted blocks, with the block height.
    inflight: BTreeMap<Digest, Height>,
    waiting_payload: Option<(Round, Micros)>,
    fetching: BTreeMap<Digest, Fetching>,
    checks: BTreeMap<Digest, (Arc<Block>, Micros)>,
    ensures: Vec<(u64, Vec<Digest>)>,
    /// The epoch of this node's seat, and the positions (in this seat's
    /// numbering: members, then followers) of the previous epoch's members
    /// by their index then; `None` for this node itself.
    seat_epoch: Option<Epoch>,
    previous_seat: Vec<Option<u32>>,
    unreachable: BTreeMap<u32, Micros>,
    // Peers (`peers.rs`).
    author_load: BTreeMap<u32, AuthorLoad>,
    charged: BTreeMap<Digest, (u32, usize)>,
    verifying: BTreeSet<Digest>,
    refused: BTreeSet<Digest>,
    refused_order: VecDeque<Digest>,
}

impl MempoolCore {
    pub fn new(cfg: MempoolConfig) -> MempoolCore {
        MempoolCore {
            cfg,
            now: 0,
            building: Vec::new(),
            building_hashes: Vec::new(),
            building_bytes: 0,
            seal_at: None,
            sequence: 0,
            storing: BTreeMap::new(),
            unconfirmed: VecDeque::new(),
            pending_txs: BTreeSet::new(),
            pending_nonces: BTreeMap::new(),
            nonce_set: BTreeSet::new(),
            ready: VecDeque::new(),
            held: BTreeMap::new(),
            inflight: BTreeMap::new(),
            waiting_payload: None,
            fetching: BTreeMap::new(),
            checks: BTreeMap::new(),
            ensures: Vec::new(),
            seat_epoch: None,
            previous_seat: Vec::new(),
            unreachable: BTreeMap::new(),
            author_load: BTreeMap::new(),
            charged: BTreeMap::new(),
            verifying: BTreeSet::new(),
            refused: BTreeSet::new(),
            refused_order: VecDeque::new(),
        }
    }

    /// This node's position and the committee's size in a new epoch
    /// (`me` past the end: not a member; its own batches go to every
    /// member).
    /// How many validators outside the committee follow the chain (see
    /// `MempoolConfig::followers`).
    pub fn set_followers(&mut self, followers: u32) {
        self.cfg.followers = followers;
    }

    /// The epoch of the seat set last, and where the previous epoch's
    /// members are in it: a block of that epoch committed after the
    /// boundary has its batches fetched from them, not from the new
    /// members at the same positions (which never held them: found at the
    /// boundaries of a 17-node testnet, where each wrong peer cost a tick
    /// and new members executed the old epoch's last block seconds late).
    ///
    /// A new epoch also retires the peers' batches this node held for
    /// proposals: their references name authors by the old epoch's
    /// positions, so a block of the new epoch listing one sends its new
    /// members, who never held it, to fetch it from whoever now sits at
    /// that position; they could not vote until a walk over the followers
    /// found it, and the first views timed out (seen at the global chain's
    /// boundaries of a 17-node testnet). The records are not lost: each
    /// author's own batch made in its former seat is orphaned there and
    /// its records batched again in the new seat or handed to a member
    /// (`set_seat`). The batches stay held for blocks of the old epoch.
    pub fn set_epoch(&mut self, epoch: Epoch, previous: Vec<Option<u32>>) {
        // Only batches whose author moved or left: one whose author keeps
        // its position is still named right (and its author does not
        // orphan it, so dropping it here would leave no one to propose it
        // under a stable leader: a test lost two records that way).
        if self.seat_epoch.is_some_and(|e| e != epoch) && !previous.is_empty() {
            self.ready
                .retain(|r| previous.get(r.author as usize).copied().flatten() == Some(r.author));
        }
        self.seat_epoch = Some(epoch);
        self.previous_seat = previous;
    }

    pub fn set_seat(&mut self, me: u32, committee_size: u32) {
        self.cfg.me = me;
        self.cfg.committee_size = committee_size;
        // This node's batches made in its former seat are orphaned now.
        let mut orphans = BTreeSet::new();
        for i in 0..self.unconfirmed.len() {
            let author = self.unconfirmed[i].author;
            if self.orphaned(author) {
                self.unconfirmed[i].orphaned = true;
                orphans.insert(self.unconfirmed[i].digest);
            }
        }
        self.ready.retain(|r| !orphans.contains(&r.digest));
    }

    pub fn config(&self) -> &MempoolConfig {
        &self.cfg
    }

    /// Transactions pending here (held or being batched).
    pub fn pending(&self) -> usize {
        self.pending_txs.len()
    }

    pub fn is_pending(&self, tx: &Digest) -> bool {
        self.pending_txs.contains(tx)
    }

    /// Transactions in the batch being built.
    pub fn building(&self) -> usize {
        self.building.len()
    }

    pub fn building_bytes(&self) -> usize {
        self.building_bytes
    }

    /// Whether the batch is held here (uncommitted, proposable).
    pub fn holds(&self, digest: &Digest) -> bool {
        self.held.contains_key(digest)
    }

    /// Every held batch, for the batch log's collector (it keeps them).
    pub fn held_digests(&self) -> Vec<Digest> {
        self.held.keys().copied().collect()
    }

    /// The state machine's entry point.
    pub fn on_event(
        &mut self,
        now: Micros,
        view: &dyn MempoolView,
        event: MempoolEvent,
    ) -> Vec<MempoolAction> {
        self.now = self.now.max(now);
        let mut out = Vec::new();
        match event {
            MempoolEvent::Tick => self.on_tick(view, &mut out),
            MempoolEvent::OwnStored { digest, stored } => {
                self.own_stored(view, digest, stored, &mut out)
            }
            MempoolEvent::PeerBatch { from, batch } => {
                if batch.batch().author != from {
                    // Dropped; cheap for the sender: across an epoch
                    // boundary an honest member's batch names its
                    // position in the epoch it was made in.
                    self.penalize(
                        from,
                        Fault::Unhelpful,
                        "batch pushed by a non-author",
                        &mut out,
                    );
                } else {
                    self.peer_batch(view, from, batch, false, &mut out);
                }
            }
            MempoolEvent::Fetched { from, batches } => {
                self.not_held_by(from, &batches);
                for b in batches {
                    // Else a late answer to a fetch retried elsewhere: only
                    // this node's own requests are answered, nothing to charge.
                    if self.fetching.contains_key(&b.digest()) {
                        self.peer_batch(view, from, b, true, &mut out);
                    }
                }
            }
            MempoolEvent::Verified { from, batch, valid } => {
                self.verified(view, from, batch, valid, &mut out)
            }
            MempoolEvent::FetchFailed { from } => self.fetch_failed(from),
            MempoolEvent::RequestPayload { round } => self.request_payload(round, &mut out),
            MempoolEvent::CheckPayload { block } => self.check_payload(view, block, &mut out),
            MempoolEvent::Ensure { id, batches, epoch } => {
                self.ensure(view, id, batches, epoch, &mut out)
            }
            MempoolEvent::Committed { height, batches } => {
                self.committed(height, &batches, &mut out)
            }
            MempoolEvent::Recovered { batches } => self.recovered(view, batches, &mut out),
        }
        out
    }

    /// Static checks of a client transaction before its signature check:
    /// `seen` holds the hashes of the submission's earlier transactions.
    pub fn precheck(
        &self,
        view: &dyn MempoolView,
        tx: &Transaction,
        seen: &mut BTreeSet<Digest>,
    ) -> Result<Digest, TxRefusal> {
        let hash = tx.hash();
        if self.pending_txs.contains(&hash) || !seen.insert(hash) {
            return Err(TxRefusal::Duplicate);
        }
        // The batch being built is pending already.
        if self.pending_txs.len() + seen.len() > self.cfg.capacity {
            return Err(TxRefusal::Full);
        }
        match (self.cfg.payload, tx) {
            (PayloadKind::Opaque, Transaction::Opaque(_)) => Ok(hash),
            (PayloadKind::Opaque, _) => Err(TxRefusal::WrongKind("opaque")),
            (PayloadKind::Signed, Transaction::Provenance(_) | Transaction::Linked(_)) => {
                let Some(p) = tx.provenance() else {
                    return Err(TxRefusal::WrongKind("signed provenance"));
                };
                let r = &p.record;
                if r.network != self.cfg.network {
                    return Err(TxRefusal::WrongNetwork);
                }
                if r.home_chain(self.cfg.domains) != Some(self.cfg.chain) {
                    return Err(TxRefusal::WrongDomain);
                }
                let sender = r.sender.to_bytes();
                if self.nonce_set.contains(&(sender, r.nonce)) || view.nonce_used(&sender, r.nonce)
                {
                    return Err(TxRefusal::ReplayedNonce);
                }
                Ok(hash)
            }
            (PayloadKind::Signed, Transaction::System(sys)) if self.takes_system(sys) => {
                if parity_scale_codec::Encode::encoded_size(tx) > MAX_ANCHOR_BYTES {
                    return Err(TxRefusal::WrongKind("anchors of at most 64 KiB"));
                }
                Ok(hash)
            }
            (PayloadKind::Signed, _) => Err(TxRefusal::WrongKind("signed provenance")),
        }
    }

    /// The system transactions this chain's mempool takes (checked by the
    /// host's verifier like signatures): anchors on the global chain, and
    /// the dynasty transactions addressed to this chain.
    pub fn takes_system(&self, tx: &SystemTx) -> bool {
        tx.goes_to(self.cfg.chain)
    }

    fn on_tick(&mut self, view: &dyn MempoolView, out: &mut Vec<MempoolAction>) {
        if self.seal_at.is_some_and(|t| t <= self.now) {
            self.seal(out);
        }
        if let Some((round, at)) = self.waiting_payload {
            if at <= self.now {
                self.waiting_payload = None;
                self.answer_payload(round, out);
            }
        }
        let wanted = self.wanted(view);
        self.fetch(&wanted, out);
        self.settle(view, out);
        self.repush(view, out);
    }

    fn penalize(
        &self,
        member: u32,
        fault: Fault,
        reason: &'static str,
        out: &mut Vec<MempoolAction>,
    ) {
        out.push(MempoolAction::Penalize {
            member,
            fault,
            reason,
        });
    }

    /// Makes a stored, verified batch available to payloads and waiters.
    fn hold(&mut self, view: &dyn MempoolView, batch: &HashedBatch, out: &mut Vec<MempoolAction>) {
        let digest = batch.digest();
        self.fetching.remove(&digest);
        if view.batch_executed(&digest) || self.held.contains_key(&digest) {
            self.release_quota(&digest);
            self.settle(view, out);
            return;
        }
        let hashes: Arc<[Digest]> = batch.tx_hashes().into();
        if batch.batch().author != self.cfg.me {
            // Peers' transactions count as pending here too.
            self.pending_txs.extend(hashes.iter().copied());
        }
        self.held.insert(digest, hashes);
        // An orphaned batch of this node's is not proposed: its records
        // go to members to batch (`repush`), and no member has it.
        let orphan = self
            .unconfirmed
            .iter()
            .any(|u| u.digest == digest && (u.orphaned || self.orphaned(u.author)));
        if !orphan {
            self.ready.push_back(batch.reference());
        }
        if let Some((round, _)) = self.waiting_payload.take() {
            self.answer_payload(round, out);
        }
        self.settle(view, out);
    }
}

/// A batch for tests and the simulator: `txs` by `author` at `sequence`.
pub fn batch_of(
    chain: ChainId,
    author: u32,
    sequence: u64,
    txs: Vec<Transaction>,
) -> Option<HashedBatch> {
    let transactions = strata_crypto::codec::BoundedVec::new(txs).ok()?;
    Some(
        Batch {
            chain,
            author,
            sequence,
            transactions,
        }
        .hashed(),
    )
}
