//! Byzantine behaviours. A Byzantine node runs an honest core and the
//! simulator rewrites what it sends.

use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::SecretKey;

use crate::types::{
    block, Block, ConsensusMessage, Payload, SignedStatement, Statement, Transaction,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// As leader, sends two different blocks for its view to different
    /// halves of the committee (and both to one node).
    Equivocate,
    /// Votes for its block and for a different one in the same slot.
    DoubleVote,
    /// Its votes and timeouts carry signatures that do not verify.
    InvalidSignatures,
    /// Sends no votes.
    WithholdVotes,
    /// Re-sends old messages it received to random nodes.
    ReplayStale,
    /// As leader, proposes a record in someone else's name whose signature
    /// does not verify.
    ForgePayload,
    /// Asks for sync ranges whose target height is a lie.
    LyingSync,
}

impl Behavior {
    pub const ALL: [Behavior; 7] = [
        Behavior::ForgePayload,
        Behavior::LyingSync,
        Behavior::Equivocate,
        Behavior::DoubleVote,
        Behavior::InvalidSignatures,
        Behavior::WithholdVotes,
        Behavior::ReplayStale,
    ];
}

/// A second, conflicting block for the same round, signed by the same key.
pub fn conflicting_block(
    original: &Block,
    key: &SecretKey,
    parent_state_root: &Digest,
    junk: Transaction,
) -> Block {
    let mut header = original.header.clone();
    let txs = vec![junk];
    header.tx_root = block::tx_root(&txs);
    header.state_root = block::state_root_after(parent_state_root, header.height, &header.tx_root);
    header.timestamp_ms += 1;
    Block::propose(
        header,
        Payload::Inline(BoundedVec::new(txs).expect("one transaction")),
        key,
    )
}

/// A client's record changed after it was signed: its signature no longer
/// verifies.
pub fn forged_record(mut tx: Transaction) -> Transaction {
    if let Transaction::Provenance(p) = &mut tx {
        p.record.op = match p.record.op {
            crate::types::Op::Delete => crate::types::Op::Create,
            _ => crate::types::Op::Delete,
        };
    }
    tx
}

/// A request for the range up to `tip`, claiming the tip is at height 1.
pub fn lying_sync_request(chain: crate::types::ChainId, tip: Digest) -> ConsensusMessage {
    ConsensusMessage::SyncRequest(crate::types::SyncRequest {
        chain,
        epoch: 0,
        from_height: 1,
        target: tip,
        target_height: 1,
    })
}

/// A second vote in the same slot, for another block.
pub fn conflicting_vote(vote: &SignedStatement, key: &SecretKey) -> SignedStatement {
    let mut data = vote.data;
    if let Statement::Vote { block } = data.statement {
        data.statement = Statement::Vote {
            block: Digest::of("strata/sim/fake-block", &block.0),
        };
    }
    SignedStatement::sign(data, vote.signer, key)
}

/// The message with its signatures replaced by signatures over other
/// messages (valid points, wrong content).
pub fn corrupt_signatures(msg: &ConsensusMessage, key: &SecretKey) -> ConsensusMessage {
    let wrong = key.sign(b"strata/sim/not-this-message");
    match msg {
        ConsensusMessage::Vote(v) => {
            let mut v = v.clone();
            v.signature = wrong;
            ConsensusMessage::Vote(v)
        }
        ConsensusMessage::Timeout(t) => {
            let mut t = t.clone();
            t.statement.signature = wrong;
            ConsensusMessage::Timeout(t)
        }
        other => other.clone(),
    }
}
