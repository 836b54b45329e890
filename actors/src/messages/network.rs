//! What the network bridge accepts from a chain's actors.

use std::sync::Arc;

use actix::Message;
use strata_chains::consensus::Fault;
use strata_chains::types::{ChainId, ConsensusMessage, SyncRequest};
use strata_net::{Lane, PeerId};

use super::port;
use crate::service::wire::Wire;

/// A failed check at one of a chain's actors, charged to the committee
/// member that sent what failed.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Penalize {
    pub chain: ChainId,
    pub member: u32,
    pub fault: Fault,
    pub reason: &'static str,
}

/// Sync requests and responses are exchanges; every other consensus
/// message to one member is one-way.
pub(crate) fn is_exchange(msg: &ConsensusMessage) -> bool {
    matches!(
        msg,
        ConsensusMessage::SyncRequest(_) | ConsensusMessage::SyncResponse(_)
    )
}

/// The direct lane a one-way message takes; `None`: it is a request.
fn lane_of(wire: &Wire) -> Option<Lane> {
    match wire {
        Wire::Consensus { msg, .. } if !is_exchange(msg) => Some(Lane::Consensus),
        Wire::Batch(_) => Some(Lane::Bulk),
        _ => None,
    }
}

/// A message to one committee member, already encoded (a batch pushed to
/// every member is encoded once).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct SendWire {
    pub chain: ChainId,
    pub to: u32,
    pub bytes: Arc<Vec<u8>>,
    pub(crate) fetches_batches: bool,
    pub(crate) lane: Option<Lane>,
}

impl SendWire {
    pub fn new(chain: ChainId, to: u32, wire: &Wire) -> SendWire {
        SendWire {
            chain,
            to,
            fetches_batches: matches!(wire, Wire::BatchRequest { .. }),
            lane: lane_of(wire),
            bytes: Arc::new(wire.to_bytes()),
        }
    }

    /// Bytes that need not be a message at all, down a lane: the test-only
    /// Byzantine mode sends garbage and oversized frames this way.
    pub fn raw(chain: ChainId, to: u32, lane: Lane, bytes: Vec<u8>) -> SendWire {
        SendWire {
            chain,
            to,
            fetches_batches: false,
            lane: Some(lane),
            bytes: Arc::new(bytes),
        }
    }

    /// The same message to another member.
    pub fn to(&self, to: u32) -> SendWire {
        SendWire { to, ..self.clone() }
    }

    /// The same message to every member of a committee of `size` but `me`.
    pub fn to_others(&self, me: u32, size: u32) -> impl Iterator<Item = SendWire> + '_ {
        (0..size).filter(move |&i| i != me).map(|i| self.to(i))
    }
}

/// A message to the whole committee (gossip).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Broadcast {
    pub chain: ChainId,
    pub wire: Wire,
}

/// A sync request whose response goes back to the chain's core.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RequestSync {
    pub chain: ChainId,
    pub to: u32,
    pub request: SyncRequest,
}

/// The committee of a chain's current epoch, by position: where a send to
/// a position goes and whose batches the mempool takes. The committee
/// actor sends it when an epoch starts.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetCommittee {
    pub chain: ChainId,
    pub peers: Vec<PeerId>,
    /// Every validator on the chain's roster (the transport admits those
    /// registered after genesis from now on).
    pub roster: Vec<PeerId>,
    /// The roster's validators outside the committee but this node:
    /// positions `peers.len()..` when fetching batches (they follow the
    /// chain and keep what earlier epochs committed).
    pub followers: Vec<PeerId>,
}

/// Validators that joined a chain's roster since its epoch began (a
/// registration or a stake executed): the transport admits them now, so
/// they can follow the chain before the next epoch's `SetCommittee`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AdmitPeers {
    pub peers: Vec<PeerId>,
}

port! {
    /// The network bridge, as a chain's actors see it.
    NetworkPort {
        set_committee: SetCommittee,
        admit_peers: AdmitPeers,
        send: SendWire,
        broadcast: Broadcast,
        request_sync: RequestSync,
        penalize: Penalize,
    }
}
