//! Byzantine behaviours. A Byzantine node runs an honest core and the
//! simulator rewrites what it sends.

use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::qc::{QuorumCert, SignerBitmap};
use strata_crypto::SecretKey;

use crate::types::{
    block, Block, ConsensusMessage, Payload, SignedStatement, Statement, TimeoutCertificate,
    TimeoutMessage, Transaction,
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
    /// As leader, names a state root no honest execution reached.
    WrongStateRoot,
    /// Beside each of its timeouts, gossips one for a view ahead carrying
    /// a timeout certificate no quorum signed.
    BogusTimeouts,
    /// Twins (Bano et al., 2020): a second process runs an honest core
    /// with the same key and committee position; the network gives each
    /// twin its own share of the messages, so they vote and propose
    /// differently without either breaking a rule on its own.
    Twins,
}

impl Behavior {
    pub const ALL: [Behavior; 10] = [
        Behavior::WrongStateRoot,
        Behavior::BogusTimeouts,
        Behavior::Twins,
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
pub fn conflicting_block(original: &Block, key: &SecretKey, junk: Transaction) -> Block {
    let mut header = original.header.clone();
    let txs = vec![junk];
    header.tx_root = block::tx_root(&txs);
    header.timestamp_ms += 1;
    Block::propose(
        header,
        Payload::Inline(BoundedVec::new(txs).expect("one transaction")),
        key,
    )
}

/// The proposal re-signed with a reference to a batch that was never
/// pushed (honest voters cannot fetch it and do not vote).
pub fn unavailable_batch(original: &Block, key: &SecretKey) -> Block {
    let mut header = original.header.clone();
    let ghost = crate::types::BatchRef {
        author: header.proposer,
        digest: Digest::of("strata/sim/ghost-batch", &header.height.to_le_bytes()),
        tx_count: 1,
    };
    header.tx_root = Digest::of("strata/sim/ghost-root", &header.height.to_le_bytes());
    let refs = BoundedVec::new(vec![ghost]).expect("one reference");
    Block::propose(header, Payload::Batches(refs), key)
}

/// The proposal re-signed with its batches under a transaction root they
/// do not have.
pub fn wrong_batch_root(original: &Block, key: &SecretKey) -> Block {
    let mut header = original.header.clone();
    header.tx_root = Digest::of("strata/sim/wrong-root", &header.height.to_le_bytes());
    Block::propose(header, original.payload.clone(), key)
}

/// The proposal re-signed naming a state it did not execute: the state
/// after the height below the block's own, with a made-up root (when the
/// parent names that height already, its root changed: a link voters
/// check without executing).
pub fn wrong_state_root(original: &Block, key: &SecretKey) -> Block {
    let mut header = original.header.clone();
    header.state_height = header.height.saturating_sub(1);
    header.state_root = Digest::of("strata/sim/wrong-state", &header.height.to_le_bytes());
    Block::propose(header, original.payload.clone(), key)
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

/// A timeout for a view `ahead` of `t`'s, with `t`'s high certificate and
/// a certificate for the view before it that a quorum never signed (the
/// signer bitmap claims a quorum; the signature is one of `key`'s over
/// other bytes).
pub fn bogus_timeout(
    t: &TimeoutMessage,
    key: &SecretKey,
    committee: usize,
    ahead: u64,
) -> ConsensusMessage {
    let view = t.view().saturating_add(ahead);
    let quorum = committee - committee.saturating_sub(1) / 3;
    let rounds = vec![t.high_qc.round; quorum];
    let tc = TimeoutCertificate {
        chain: t.statement.data.chain,
        epoch: t.statement.data.epoch,
        view: view - 1,
        high_qc_rounds: BoundedVec::new(rounds).expect("a quorum fits a committee"),
        cert: QuorumCert {
            signers: SignerBitmap::from_indices(committee, 0..quorum),
            signature: key.sign(b"strata/sim/no-quorum-signed-this"),
        },
    };
    let mut data = t.statement.data;
    data.round.view = view;
    ConsensusMessage::Timeout(Box::new(TimeoutMessage {
        statement: SignedStatement::sign(data, t.statement.signer, key),
        high_qc: t.high_qc.clone(),
        last_tc: Some(tc),
    }))
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
