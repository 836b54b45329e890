//! What the transport reports to the node (events, errors) and counts
//! (stats): shared by the swarm task, the direct lanes and the inbox.

use std::sync::atomic::AtomicU64;

use libp2p::PeerId;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("network transport: {0}")]
    Transport(String),
    #[error("the network queue is full")]
    QueueFull,
    #[error("the network task has stopped")]
    Stopped,
}

/// Identifies an inbound request the node answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplyId(pub(crate) u64);

#[derive(Debug)]
pub enum NetEvent {
    Gossip {
        topic: String,
        author: PeerId,
        data: Vec<u8>,
    },
    Request {
        peer: PeerId,
        data: Vec<u8>,
        reply: ReplyId,
    },
    Response {
        peer: PeerId,
        request: u64,
        data: Vec<u8>,
    },
    /// A one-way message that came down a direct lane.
    Direct {
        peer: PeerId,
        data: Vec<u8>,
    },
    RequestFailed {
        peer: PeerId,
        request: u64,
        error: String,
    },
    PeerConnected(PeerId),
    PeerDisconnected(PeerId),
    /// The peer broke the framing rules (a frame over the size limit):
    /// its stream was cut; the node charges it.
    Malformed {
        peer: PeerId,
        reason: &'static str,
    },
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct NetStats {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub peers: AtomicU64,
    /// Inbound messages dropped because the node's queue was full.
    pub dropped_inbound: AtomicU64,
    /// Commands dropped because the network queue was full.
    pub dropped_outbound: AtomicU64,
    /// Connections and messages refused because the peer is not in the
    /// genesis.
    pub unknown_peer: AtomicU64,
    /// Publishes that reached no peer.
    pub unpublished: AtomicU64,
    /// Connections refused, and messages dropped, because the peer is
    /// banned for a while.
    pub banned_peer: AtomicU64,
    /// Inbound lane streams refused: the peer had too many open.
    pub refused_streams: AtomicU64,
}
