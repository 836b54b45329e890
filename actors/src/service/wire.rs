//! What nodes send each other, in one SCALE envelope decoded with limits.

use parity_scale_codec::{Decode, Encode};
use strata_chains::types::{Batch, ChainId, ConsensusMessage, Transaction};
use strata_crypto::codec::{decode_message, BoundedVec, CodecError};
use strata_crypto::hash::Digest;

use strata_chains::types::limits::MAX_BATCH_TXS;

/// Largest envelope: a full batch response.
pub const MAX_WIRE_BYTES: usize = 40 << 20;
// Every message a node may send fits in one envelope (with room for the
// envelope's own fields).
const _: () = assert!(strata_chains::types::limits::MAX_SYNC_BYTES + 4096 <= MAX_WIRE_BYTES);
const _: () = assert!(
    BATCH_RESPONSE_BUDGET + strata_chains::types::limits::MAX_BATCH_BYTES + 4096 <= MAX_WIRE_BYTES
);

/// Batches asked for, and returned, in one exchange.
pub const MAX_BATCHES_PER_EXCHANGE: usize = 256;
/// A batch response stops growing past this many bytes.
pub const BATCH_RESPONSE_BUDGET: usize = 24 << 20;

// Envelopes live only between decoding and dispatch; boxing the consensus
// message would cost an allocation per vote for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Encode, Decode)]
pub enum Wire {
    #[codec(index = 0)]
    Consensus {
        chain: ChainId,
        msg: ConsensusMessage,
    },
    /// A batch pushed by its author to each committee member.
    #[codec(index = 1)]
    Batch(Box<Batch>),
    #[codec(index = 2)]
    BatchRequest {
        chain: ChainId,
        digests: BoundedVec<Digest, MAX_BATCHES_PER_EXCHANGE>,
    },
    #[codec(index = 3)]
    BatchResponse {
        chain: ChainId,
        batches: BoundedVec<Batch, MAX_BATCHES_PER_EXCHANGE>,
    },
    /// The answer to a one-way request.
    #[codec(index = 4)]
    Ack,
    /// Transactions a node outside the committee (or one whose batch is
    /// orphaned by an epoch change) hands to a member to batch.
    #[codec(index = 5)]
    Forward {
        chain: ChainId,
        txs: BoundedVec<Transaction, MAX_BATCH_TXS>,
    },
}

impl Wire {
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Wire, CodecError> {
        decode_message(bytes, MAX_WIRE_BYTES)
    }
}

/// The gossip topic of a chain's consensus broadcasts.
pub fn consensus_topic(chain: ChainId) -> String {
    format!("strata/{}/consensus", chain.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_garbage_is_an_error() {
        let w = Wire::BatchRequest {
            chain: ChainId::local(1),
            digests: BoundedVec::new(vec![Digest::ZERO]).unwrap(),
        };
        assert!(matches!(
            Wire::from_bytes(&w.to_bytes()),
            Ok(Wire::BatchRequest { .. })
        ));
        for garbage in [
            &b""[..],
            b"\x09",
            b"\x00\xff\xff",
            &[2u8, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(Wire::from_bytes(garbage).is_err());
        }
        assert_eq!(consensus_topic(ChainId::GLOBAL), "strata/0/consensus");
    }
}
