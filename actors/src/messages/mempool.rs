//! What a chain's mempool accepts from the committee actor, the ledger and
//! the network bridge.

use std::sync::Arc;

use actix::Message;
use strata_chains::types::{Batch, Block, Epoch, Height, Round, Transaction};
use strata_crypto::hash::Digest;

use super::port;

/// A batch pushed by a peer.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PeerBatch {
    pub from: u32,
    pub batch: Batch,
}

/// Batches that arrived in answer to a fetch.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FetchedBatches {
    pub from: u32,
    pub batches: Vec<Batch>,
}

/// A batch fetch failed before any answer (the member is down, or refuses
/// this node for a while): ask the next member now rather than after
/// `FETCH_RETRY`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FetchFailed {
    pub from: u32,
}

/// A peer asks for batches by digest.
#[derive(Message)]
#[rtype(result = "Vec<Batch>")]
pub struct ServeBatches(pub Vec<Digest>);

/// The core wants a payload for `round`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RequestPayload {
    pub round: Round,
}

/// Before voting: is the block's batched payload here and consistent?
/// Answered by `PayloadChecked` to the committee actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CheckPayload {
    pub block: Arc<Block>,
}

/// The batches the mempool holds (uncommitted, still to be proposed): the
/// batch log's collector keeps them.
#[derive(Message)]
#[rtype(result = "Vec<Digest>")]
pub struct HeldBatchDigests;

/// Before committing: resolves once every listed batch is stored here.
#[derive(Message)]
#[rtype(result = "Result<(), ()>")]
pub struct EnsureBatches {
    pub batches: Vec<(Digest, u32)>,
    /// The epoch of the block listing them, when known (see
    /// `MempoolEvent::Ensure`).
    pub epoch: Option<Epoch>,
}

/// A block committed: forget its batches and transactions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Committed {
    pub height: Height,
    pub batches: Vec<Digest>,
}

/// Is a transaction waiting here?
#[derive(Message)]
#[rtype(result = "bool")]
pub struct IsPending(pub Digest);

/// This node's position in the epoch that starts (past the end: not a
/// member) and the committee's size.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetSeat {
    pub me: u32,
    pub committee_size: u32,
    /// Validators following the chain outside the committee (the bridge's
    /// positions after the members: `SetCommittee::followers`).
    pub followers: u32,
    /// The seat's epoch, and the previous epoch's members' positions in
    /// it (`MempoolCore::set_epoch`).
    pub epoch: Epoch,
    pub previous: Vec<Option<u32>>,
}

/// Transactions to propose: this node's own dynasty transactions
/// (`forwarded: false`), or what a node outside the committee handed to
/// this member (its dynasty transactions, or the records of a batch it can
/// no longer push: `MempoolAction::Forward`). A member batches them; a
/// node outside the committee hands its own to a member.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Post {
    pub txs: Vec<Transaction>,
    pub forwarded: bool,
}

port! {
    /// A chain's mempool, as the other actors of the chain and the bridge
    /// see it.
    MempoolPort {
        peer_batch: PeerBatch,
        fetched: FetchedBatches,
        fetch_failed: FetchFailed,
        serve_batches: ServeBatches,
        request_payload: RequestPayload,
        check_payload: CheckPayload,
        ensure_batches: EnsureBatches,
        committed: Committed,
        is_pending: IsPending,
        set_seat: SetSeat,
        post: Post,
    }
}
