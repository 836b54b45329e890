//! Block payloads. A block carries its transactions inline, or references
//! batches that committee members disseminated beforehand (the Narwhal
//! split of data dissemination from ordering): consensus messages stay
//! small, and every transaction crosses the network once per node.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::{Digest, Hasher};
use strata_crypto::merkle::MerkleTree;

use super::limits::{MAX_BATCH_TXS, MAX_BLOCK_BATCHES, MAX_BLOCK_TXS};
use super::tx::Transaction;
use super::ChainId;

/// Transactions gathered by one member and sent to the others before any
/// block names them.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Batch {
    pub chain: ChainId,
    /// Committee position of the member that made the batch.
    pub author: u32,
    /// Distinguishes the author's batches (a counter).
    pub sequence: u64,
    pub transactions: BoundedVec<Transaction, MAX_BATCH_TXS>,
}

impl Batch {
    pub fn digest(&self) -> Digest {
        let mut h = Hasher::new("strata/batch");
        h.update(&self.encode());
        h.finalize()
    }

    pub fn reference(&self) -> BatchRef {
        BatchRef {
            author: self.author,
            digest: self.digest(),
            tx_count: self.transactions.len() as u32,
        }
    }
}

/// A block's pointer to a batch.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode)]
pub struct BatchRef {
    pub author: u32,
    pub digest: Digest,
    pub tx_count: u32,
}

#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Payload {
    #[codec(index = 0)]
    Inline(BoundedVec<Transaction, MAX_BLOCK_TXS>),
    #[codec(index = 1)]
    Batches(BoundedVec<BatchRef, MAX_BLOCK_BATCHES>),
}

impl Payload {
    pub fn empty() -> Payload {
        Payload::Inline(BoundedVec::empty())
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Payload::Inline(t) => t.is_empty(),
            Payload::Batches(b) => b.is_empty(),
        }
    }

    /// Transactions in the payload (declared counts for batches).
    pub fn tx_count(&self) -> u64 {
        match self {
            Payload::Inline(t) => t.len() as u64,
            Payload::Batches(b) => b.iter().map(|r| r.tx_count as u64).sum(),
        }
    }
}

/// Merkle root over transaction hashes, in block order (for a batched
/// payload: the batches' transactions one batch after another).
pub fn tx_root_of_hashes(hashes: Vec<Digest>) -> Digest {
    MerkleTree::from_leaf_hashes(hashes).root()
}

/// The transaction root of a batched payload, given its batches in order.
/// `None` if a batch does not match its reference.
pub fn batched_tx_root(refs: &[BatchRef], batches: &[&Batch]) -> Option<Digest> {
    if refs.len() != batches.len() {
        return None;
    }
    let mut hashes = Vec::new();
    for (r, b) in refs.iter().zip(batches) {
        if b.digest() != r.digest
            || b.transactions.len() as u32 != r.tx_count
            || b.author != r.author
        {
            return None;
        }
        hashes.extend(b.transactions.iter().map(|t| t.hash()));
    }
    Some(tx_root_of_hashes(hashes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_crypto::codec::BoundedBytes;

    fn batch(author: u32, n: usize) -> Batch {
        Batch {
            chain: ChainId::local(0),
            author,
            sequence: 1,
            transactions: BoundedVec::new(
                (0..n)
                    .map(|i| {
                        Transaction::Opaque(BoundedBytes::new(vec![author as u8, i as u8]).unwrap())
                    })
                    .collect(),
            )
            .unwrap(),
        }
    }

    #[test]
    fn batched_root_equals_the_root_of_all_transactions_in_order() {
        let (a, b) = (batch(0, 3), batch(1, 2));
        let refs = [a.reference(), b.reference()];
        let root = batched_tx_root(&refs, &[&a, &b]).unwrap();
        let all: Vec<Digest> = a
            .transactions
            .iter()
            .chain(b.transactions.iter())
            .map(|t| t.hash())
            .collect();
        assert_eq!(root, tx_root_of_hashes(all));
        // Order, substitution and count lies are caught.
        assert_ne!(batched_tx_root(&[refs[1], refs[0]], &[&b, &a]), Some(root));
        assert_eq!(batched_tx_root(&refs, &[&b, &a]), None);
        let mut lie = refs;
        lie[0].tx_count = 9;
        assert_eq!(batched_tx_root(&lie, &[&a, &b]), None);
        assert_eq!(
            Payload::Batches(BoundedVec::new(refs.to_vec()).unwrap()).tx_count(),
            5
        );
    }
}
