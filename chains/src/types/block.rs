//! Blocks. A header names its chain, epoch, view and height, commits to its
//! transactions (Merkle root) and to the executed state of a committed
//! ancestor (state height and root), and carries the certificate of its
//! parent (and, first in a view entered by timeout, the timeout certificate
//! that ended the previous view).
//!
//! Which state a header commits to (issue 24, point 2). Not the state after
//! its parent: in chained HotStuff the parent is not committed when the
//! next block is proposed, so naming its state would mean executing
//! uncommitted forks speculatively. Instead a header names the state after
//! `state_height`, a height its proposer has executed and so committed:
//! `parent.state_height <= state_height < height`, and the same root as
//! the parent when the height is the parent's. A voter checks the root
//! against its own execution of that height, waiting for its executor if
//! needed (it has committed that height too: the commit follows from the
//! block's own ancestry in all but rare cases, and then the view's timer
//! ends the wait). The cost: a record committed at height h is provable
//! from the state once a header naming a height >= h is certified, about
//! one more round after its commit under load (the proposer names what it
//! has executed by then); the consensus path never waits for execution
//! unless a voter's executor is behind its proposer's.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::hash::Digest;
use strata_crypto::{SecretKey, Signature};

use super::cert::{QuorumCertificate, SignedStatement, Statement, TimeoutCertificate, VoteData};
use super::payload::{tx_root_of_hashes, Payload};
use super::tx::Transaction;
use super::{ChainId, Epoch, Height, Round, View};

#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct BlockHeader {
    pub chain: ChainId,
    pub epoch: Epoch,
    pub view: View,
    pub height: Height,
    pub parent: Digest,
    pub tx_root: Digest,
    /// The height whose executed state `state_root` is (see the module
    /// documentation): committed, below this block.
    pub state_height: Height,
    /// The root of the authenticated state (`crate::auth`) after executing
    /// `state_height`.
    pub state_root: Digest,
    /// Position of the proposer in the epoch's committee.
    pub proposer: u32,
    /// The proposer's clock, milliseconds since the Unix epoch (informative).
    pub timestamp_ms: u64,
    /// The parent's quorum certificate.
    pub justify: QuorumCertificate,
    /// The certificate that ended the previous view, when this block opens a
    /// view that was entered by timeout.
    pub timeout: Option<TimeoutCertificate>,
}

impl BlockHeader {
    pub fn hash(&self) -> Digest {
        Digest::of_encoding("strata/block", self)
    }

    pub fn round(&self) -> Round {
        Round::new(self.view, self.height)
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Block {
    pub header: BlockHeader,
    pub payload: Payload,
    /// The proposer's signature on `Statement::Proposal { block: hash }`.
    pub signature: Signature,
}

/// Merkle root over the transactions' hashes.
pub fn tx_root(txs: &[Transaction]) -> Digest {
    tx_root_of_hashes(txs.iter().map(|t| t.hash()).collect())
}

/// Whether a block's state fields are consistent with its parent's: the
/// state height is between the parent's and the block's own, and the root
/// is the parent's when the height is (checkable without executing).
pub fn state_link_valid(header: &BlockHeader, parent: &BlockHeader) -> bool {
    header.state_height < header.height
        && header.state_height >= parent.state_height
        && (header.state_height != parent.state_height || header.state_root == parent.state_root)
}

impl Block {
    pub fn hash(&self) -> Digest {
        self.header.hash()
    }

    pub fn round(&self) -> Round {
        self.header.round()
    }

    /// The statement the proposer signs for this block.
    pub fn proposal_data(header: &BlockHeader) -> VoteData {
        VoteData {
            chain: header.chain,
            epoch: header.epoch,
            round: header.round(),
            statement: Statement::Proposal {
                block: header.hash(),
            },
        }
    }

    /// Builds and signs a block.
    pub fn propose(header: BlockHeader, payload: Payload, key: &SecretKey) -> Block {
        let signature = key.sign(&Self::proposal_data(&header).signing_bytes());
        Block {
            header,
            payload,
            signature,
        }
    }

    /// The proposer's signature as a statement (what equivocation evidence
    /// is made of).
    pub fn proposal_statement(&self) -> SignedStatement {
        SignedStatement {
            data: Self::proposal_data(&self.header),
            signer: self.header.proposer,
            signature: self.signature,
        }
    }

    /// For an inline payload, whether the header's transaction root matches
    /// it; `None` for batches (checked once the batches are at hand).
    pub fn inline_tx_root_matches(&self) -> Option<bool> {
        match &self.payload {
            Payload::Inline(txs) => Some(tx_root(txs) == self.header.tx_root),
            Payload::Batches(_) => None,
        }
    }
}

/// What fixes a chain's genesis block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GenesisParams {
    pub chain: ChainId,
    pub epoch: Epoch,
    /// The root of the genesis state (`execution::GenesisState::root`):
    /// the configuration's digest and every chain's committee.
    pub state_root: Digest,
}

/// The genesis block of a chain: height 0, view 0, unsigned; every node
/// derives the same one from the genesis configuration.
pub fn genesis_block(params: GenesisParams) -> Block {
    let header = BlockHeader {
        chain: params.chain,
        epoch: params.epoch,
        view: 0,
        height: 0,
        parent: Digest::ZERO,
        tx_root: tx_root(&[]),
        state_height: 0,
        state_root: params.state_root,
        proposer: u32::MAX,
        timestamp_ms: 0,
        justify: QuorumCertificate::genesis(params.chain, params.epoch, Digest::ZERO),
        timeout: None,
    };
    Block {
        header,
        payload: Payload::empty(),
        signature: Signature::infinity(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_binds_the_header_and_the_root_binds_the_transactions() {
        let g = genesis_block(GenesisParams {
            chain: ChainId::GLOBAL,
            epoch: 0,
            state_root: Digest::of("cfg", b"x"),
        });
        assert_eq!(g.inline_tx_root_matches(), Some(true));
        let mut other = g.clone();
        other.header.timestamp_ms = 1;
        assert_ne!(other.hash(), g.hash());
        let decoded = Block::decode(&mut &g.encode()[..]).unwrap();
        assert_eq!(decoded.hash(), g.hash());
        let g2 = genesis_block(GenesisParams {
            chain: ChainId::local(0),
            epoch: 0,
            state_root: Digest::of("cfg", b"x"),
        });
        assert_ne!(g2.hash(), g.hash(), "genesis differs per chain");
    }

    #[test]
    fn proposal_signature_is_a_verifiable_statement() {
        let kit = strata_crypto::test_support::TestCommittee::seeded(1, 1);
        let (key, committee) = (kit.keys[0].clone(), kit.committee);
        let g = genesis_block(GenesisParams {
            chain: ChainId::GLOBAL,
            epoch: 0,
            state_root: Digest::ZERO,
        });
        let header = BlockHeader {
            view: 1,
            height: 1,
            parent: g.hash(),
            proposer: 0,
            justify: QuorumCertificate::genesis(ChainId::GLOBAL, 0, g.hash()),
            ..g.header.clone()
        };
        let b = Block::propose(header, Payload::empty(), &key);
        assert_eq!(
            b.proposal_statement()
                .verify(ChainId::GLOBAL, 0, &committee),
            Ok(())
        );
        assert!(b
            .proposal_statement()
            .verify(ChainId::local(0), 0, &committee)
            .is_err());
    }
}
