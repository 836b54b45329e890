//! What a chain's committee actor accepts from the network bridge, the
//! mempool and the ledger.

use actix::Message;
use strata_chains::consensus::PayloadVerdict;
use strata_chains::types::{ConsensusMessage, Height, Payload, Round};
use strata_crypto::hash::Digest;
use strata_net::PeerId;

use super::port;

/// A consensus message from `peer` (the committee actor finds its
/// position in the epoch the message names).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Inbound {
    pub peer: PeerId,
    pub msg: ConsensusMessage,
}

/// The sync request to a member failed before any answer (it is down, or
/// refuses this node for a while): the retry, at the next member, need not
/// wait for the sync timer.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SyncFailed;

/// The payload the core asked for (`RequestPayload`), ready to propose.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PayloadReady {
    pub round: Round,
    pub payload: Payload,
    pub batches_tx_root: Option<Digest>,
}

/// The mempool's verdict on a proposal's payload (`CheckPayload`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PayloadChecked {
    pub block: Digest,
    pub verdict: PayloadVerdict,
}

/// The ledger executed the committed block at `height`: the state root
/// after it, which proposals name and votes check.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StateExecuted {
    pub height: Height,
    pub root: Digest,
}

port! {
    /// A chain's committee actor, as the bridge, the mempool and the
    /// ledger see it.
    CommitteePort {
        inbound: Inbound,
        sync_failed: SyncFailed,
        payload_ready: PayloadReady,
        payload_checked: PayloadChecked,
        state_executed: StateExecuted,
    }
}
