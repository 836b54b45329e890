//! The messages consensus nodes exchange, and their decoding limits.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::codec::{decode_message, BoundedVec, CodecError};
use strata_crypto::hash::Digest;

use super::block::Block;
use super::cert::{QuorumCertificate, SignedStatement, TimeoutMessage};
use super::evidence::Evidence;
use super::limits::{MAX_COMMIT_PROOF_HEADERS, MAX_MESSAGE_BYTES, MAX_SYNC_BLOCKS, MAX_SYNC_BYTES};
use super::{ChainId, Epoch, Height};

/// Ask for the certified blocks from `from_height` up to `target`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SyncRequest {
    pub chain: ChainId,
    pub epoch: Epoch,
    pub from_height: Height,
    pub target: Digest,
    pub target_height: Height,
}

/// Consecutive blocks, lowest first, and the certificate of the last one
/// when the responder has it (the hash links authenticate the rest).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SyncResponse {
    pub chain: ChainId,
    pub epoch: Epoch,
    pub blocks: BoundedVec<Block, MAX_SYNC_BLOCKS>,
    pub certificate: Option<QuorumCertificate>,
    /// When the blocks end at their epoch's last block: the proof that it
    /// is committed (its certificate is of a later block of that epoch).
    pub epoch_change: Option<Box<EpochChange>>,
}

// Votes, the most frequent message, stay inline: boxing them would cost an
// allocation each for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ConsensusMessage {
    #[codec(index = 0)]
    Proposal(Box<Block>),
    #[codec(index = 1)]
    Vote(SignedStatement),
    #[codec(index = 2)]
    Timeout(Box<TimeoutMessage>),
    #[codec(index = 3)]
    SyncRequest(SyncRequest),
    #[codec(index = 4)]
    SyncResponse(Box<SyncResponse>),
    /// A proof of misbehaviour, gossiped by whoever found it so that every
    /// member convicts the offender, not only the one that saw both
    /// statements (a vote reaches one leader).
    #[codec(index = 5)]
    Evidence(Box<Evidence>),
    /// The proof that an epoch's last block is committed: sent by each
    /// member that commits it to the chain's nodes, so every member of the
    /// old committee and of the new one learns the boundary, even one that
    /// missed the certificate that committed it.
    #[codec(index = 6)]
    EpochChange(Box<EpochChange>),
}

/// An epoch's end (issue 26, point 5): its last block and the blocks after
/// it in the same epoch (which carry no transactions and are never
/// committed) up to where the commit rule holds, with the certificate of
/// the last one. Checked like a commit proof (`consensus::commit_proof`)
/// against the ending epoch's committee; the next epoch starts from the
/// first block.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct EpochChange {
    pub chain: ChainId,
    /// The epoch that ends.
    pub epoch: Epoch,
    pub blocks: BoundedVec<Block, MAX_COMMIT_PROOF_HEADERS>,
    pub certificate: QuorumCertificate,
}

impl EpochChange {
    /// The epoch's last block.
    pub fn last(&self) -> Option<&Block> {
        self.blocks.first()
    }

    pub fn last_height(&self) -> Option<Height> {
        self.last().map(|b| b.header.height)
    }
}

const SYNC_RESPONSE_TAG: u8 = 4;

impl ConsensusMessage {
    /// Decodes untrusted bytes: the size limit of the message's kind first,
    /// then every collection's limit, and no trailing bytes.
    pub fn decode_untrusted(bytes: &[u8]) -> Result<ConsensusMessage, CodecError> {
        let limit = match bytes.first() {
            Some(&SYNC_RESPONSE_TAG) => MAX_SYNC_BYTES,
            _ => MAX_MESSAGE_BYTES,
        };
        decode_message(bytes, limit)
    }

    /// The epoch a message belongs to (none for a sync request, served
    /// whatever epoch it asks about, and evidence, which names its own).
    pub fn epoch(&self) -> Option<Epoch> {
        match self {
            ConsensusMessage::Proposal(b) => Some(b.header.epoch),
            ConsensusMessage::Vote(v) => Some(v.data.epoch),
            ConsensusMessage::Timeout(t) => Some(t.statement.data.epoch),
            ConsensusMessage::SyncResponse(r) => Some(r.epoch),
            ConsensusMessage::EpochChange(ec) => Some(ec.epoch),
            ConsensusMessage::SyncRequest(_) | ConsensusMessage::Evidence(_) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ConsensusMessage::Proposal(_) => "proposal",
            ConsensusMessage::Vote(_) => "vote",
            ConsensusMessage::Timeout(_) => "timeout",
            ConsensusMessage::SyncRequest(_) => "sync_request",
            ConsensusMessage::SyncResponse(_) => "sync_response",
            ConsensusMessage::Evidence(_) => "evidence",
            ConsensusMessage::EpochChange(_) => "epoch_change",
        }
    }
}
