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
    /// The transactions' hashes, in order.
    pub fn tx_hashes(&self) -> Vec<Digest> {
        self.transactions.iter().map(|t| t.hash()).collect()
    }

    /// The digest binds the header fields and each transaction through its
    /// hash, so a node reads every transaction's bytes once: the hashes it
    /// computes to admit and index transactions also name the batch.
    fn digest_of(&self, tx_hashes: &[Digest]) -> Digest {
        let mut h = Hasher::new("strata/batch");
        h.update(
            &(
                self.chain,
                self.author,
                self.sequence,
                tx_hashes.len() as u32,
            )
                .encode(),
        );
        for t in tx_hashes {
            h.update(t.as_bytes());
        }
        h.finalize()
    }

    pub fn digest(&self) -> Digest {
        self.digest_of(&self.tx_hashes())
    }

    pub fn hashed(self) -> HashedBatch {
        let tx_hashes = self.tx_hashes();
        HashedBatch::from_parts(self, tx_hashes)
    }
}

/// A batch with its digest and its transactions' hashes, each computed
/// once when the batch is made or received and carried from there (to the
/// store, the payload checks and the executor).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HashedBatch {
    batch: Batch,
    digest: Digest,
    tx_hashes: Vec<Digest>,
}

impl HashedBatch {
    /// `tx_hashes` are the hashes of `batch.transactions`, in order, as
    /// computed by `Transaction::hash` (a node's own batches: the hashes it
    /// computed when it admitted each transaction).
    pub fn from_parts(batch: Batch, tx_hashes: Vec<Digest>) -> HashedBatch {
        debug_assert_eq!(tx_hashes, batch.tx_hashes());
        HashedBatch::from_stored_record(batch, tx_hashes)
    }

    /// A batch read back from this node's own batch log: the hashes are the
    /// ones the node computed when it stored the batch, and the log's record
    /// checksum (`store::batch_log`) guards them on disk, so they are not
    /// computed again (nor asserted: a damaged record that passes the
    /// checksum is a storage fault, not a reason to stop the process).
    pub fn from_stored_record(batch: Batch, tx_hashes: Vec<Digest>) -> HashedBatch {
        let digest = batch.digest_of(&tx_hashes);
        HashedBatch {
            batch,
            digest,
            tx_hashes,
        }
    }

    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    pub fn into_batch(self) -> Batch {
        self.batch
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn tx_hashes(&self) -> &[Digest] {
        &self.tx_hashes
    }

    pub fn into_parts(self) -> (Batch, Vec<Digest>) {
        (self.batch, self.tx_hashes)
    }

    pub fn reference(&self) -> BatchRef {
        BatchRef {
            author: self.batch.author,
            digest: self.digest,
            tx_count: self.tx_hashes.len() as u32,
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
pub fn batched_tx_root(refs: &[BatchRef], batches: &[&HashedBatch]) -> Option<Digest> {
    if refs.len() != batches.len() {
        return None;
    }
    let mut hashes = Vec::new();
    for (r, b) in refs.iter().zip(batches) {
        if b.reference() != *r {
            return None;
        }
        hashes.extend_from_slice(b.tx_hashes());
    }
    Some(tx_root_of_hashes(hashes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_crypto::codec::BoundedBytes;

    fn batch(author: u32, n: usize) -> HashedBatch {
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
        .hashed()
    }

    #[test]
    fn batched_root_equals_the_root_of_all_transactions_in_order() {
        let (a, b) = (batch(0, 3), batch(1, 2));
        let refs = [a.reference(), b.reference()];
        let root = batched_tx_root(&refs, &[&a, &b]).unwrap();
        let all: Vec<Digest> = a
            .batch()
            .transactions
            .iter()
            .chain(b.batch().transactions.iter())
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

    #[test]
    fn the_digest_binds_the_header_and_every_transaction() {
        let a = batch(0, 3);
        assert_eq!(a.digest(), a.batch().digest());
        assert_eq!(a.tx_hashes(), a.batch().tx_hashes().as_slice());
        let with = |f: &dyn Fn(&mut Batch)| {
            let mut b = a.batch().clone();
            f(&mut b);
            b.digest()
        };
        assert_ne!(with(&|b| b.sequence += 1), a.digest());
        assert_ne!(with(&|b| b.author += 1), a.digest());
        assert_ne!(with(&|b| b.chain = ChainId::local(1)), a.digest());
        let swapped = with(&|b| {
            let mut txs = b.transactions.to_vec();
            txs.swap(0, 1);
            b.transactions = BoundedVec::new(txs).unwrap();
        });
        assert_ne!(swapped, a.digest());
        let dropped = with(&|b| {
            let mut txs = b.transactions.to_vec();
            txs.pop();
            b.transactions = BoundedVec::new(txs).unwrap();
        });
        assert_ne!(dropped, a.digest());
    }
}
