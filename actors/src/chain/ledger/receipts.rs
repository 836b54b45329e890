//! The ledger's part of receipts (`strata_chains::anchor::receipt`): a
//! committed transaction, its place in its block, and that block's commit
//! proof, read from this node's store; and a state proof of a block's hash
//! in an anchored state. The API adds the anchor (`crosschain::anchoring`)
//! and serves the receipt.

use actix::prelude::*;
use strata_chains::anchor::{CommitProof, Inclusion};
use strata_chains::auth::StateProof;
use strata_chains::consensus;
use strata_chains::execution::block_key;
use strata_chains::store::Store;
use strata_chains::types::{Block, Height, Payload, Transaction};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::merkle::MerkleTree;

use super::Ledger;

/// A committed transaction with its place in its block, and the block's
/// commit proof when this node holds the blocks that make it.
#[derive(Debug)]
pub struct Included {
    pub tx: Transaction,
    pub block: Inclusion,
    pub commit: Option<CommitProof>,
}

/// The committed transaction `0`, with its inclusion.
#[derive(Message)]
#[rtype(result = "Option<Included>")]
pub struct GetIncluded(pub Digest);

impl Handler<GetIncluded> for Ledger {
    type Result = Option<Included>;
    fn handle(&mut self, msg: GetIncluded, _: &mut Context<Self>) -> Option<Included> {
        let loc = self.store.tx_location(&msg.0).ok().flatten()?;
        let block = self.store.block_at(loc.height).ok().flatten()?;
        let hashes = self.tx_hashes(&block)?;
        let tx = self.transaction_at(&block, loc.index as usize)?;
        if tx.hash() != msg.0 {
            return None;
        }
        let path = MerkleTree::from_leaf_hashes(hashes)
            .proof(u64::from(loc.index))
            .ok()?;
        let commit = consensus::commit_proof::build(&self.store, self.protocol, loc.height)
            .ok()
            .flatten()
            .and_then(|(headers, certificate)| {
                Some(CommitProof {
                    later: BoundedVec::new(headers.into_iter().skip(1).collect()).ok()?,
                    certificate,
                })
            });
        Some(Included {
            tx,
            block: Inclusion {
                header: block.header,
                path,
            },
            commit,
        })
    }
}

impl Ledger {
    /// The transaction at `index` of a committed block (in the order the
    /// block lists them), read from its batch.
    fn transaction_at(&self, block: &Block, index: usize) -> Option<Transaction> {
        match &block.payload {
            Payload::Inline(txs) => txs.get(index).cloned(),
            Payload::Batches(refs) => {
                let mut before = 0usize;
                for r in refs.iter() {
                    let count = self.store.batch_tx_hashes(&r.digest).ok().flatten()?.len();
                    if index < before.saturating_add(count) {
                        let batch = self.store.batch(&r.digest).ok().flatten()?;
                        return batch
                            .batch()
                            .transactions
                            .get(index.checked_sub(before)?)
                            .cloned();
                    }
                    before = before.saturating_add(count);
                }
                None
            }
        }
    }
}

/// The proof that the state after `anchored` records the block at
/// `height` (`block/<height>`).
#[derive(Message)]
#[rtype(result = "Option<StateProof>")]
pub struct GetBlockLink {
    pub height: Height,
    pub anchored: Height,
}

impl Handler<GetBlockLink> for Ledger {
    type Result = Option<StateProof>;
    fn handle(&mut self, msg: GetBlockLink, _: &mut Context<Self>) -> Option<StateProof> {
        self.state.prove(&block_key(msg.height), msg.anchored).ok()
    }
}
