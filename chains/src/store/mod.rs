//! Block and safety-state storage (docs/design.md §7): one trait, a RocksDB
//! implementation for nodes and an in-memory one for tests and the
//! simulator.
//!
//! Writes that a later message depends on are durable when the call
//! returns: the safety state (a vote must not leave before the state that
//! forbids a second vote is on disk) and commits (a client told "committed"
//! never loses the record). Uncommitted blocks are written without sync:
//! after a crash they can be fetched again from peers.

#[cfg(feature = "rocks")]
mod batch_gc;
#[cfg(feature = "rocks")]
mod batch_log;
mod memory;
#[cfg(feature = "rocks")]
mod rocks;
#[cfg(feature = "rocks")]
mod safety_file;
#[cfg(feature = "rocks")]
mod tx_index;

#[cfg(feature = "rocks")]
pub use batch_gc::{BatchLogCollection, SEALED_SEGMENTS_KEPT};
#[cfg(feature = "rocks")]
pub use batch_log::{parse_record as parse_batch_log_record, BatchPlace};
pub use memory::MemStore;
#[cfg(feature = "rocks")]
pub use rocks::{
    db_options, decode_batch_record, per_transaction_index, point_lookup_options, RocksStore,
    SafetySaver, StoreOptions, TX_INDEX_RUN_ENTRIES,
};
#[cfg(feature = "rocks")]
pub use safety_file::parse_record as parse_safety_record;

use parity_scale_codec::{Decode, Encode};
use strata_crypto::hash::Digest;

use crate::consensus::SafetyState;
use crate::types::{
    Block, CommitteeHandoff, Epoch, EpochChange, Evidence, HashedBatch, Height, Payload,
};

/// Proofs of misbehaviour a store keeps (each is a few hundred bytes).
pub const MAX_EVIDENCE: usize = 10_000;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("stored {what} does not decode: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("commit of height {got} does not follow the committed tip {tip}")]
    NonContiguousCommit { tip: Height, got: Height },
    #[error("batch {0} of a committed block is not stored")]
    MissingBatch(Digest),
    #[error("commit of {blocks} blocks with transaction hashes for {hashes}")]
    IndexMismatch { blocks: usize, hashes: usize },
}

/// Where a committed transaction is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct TxLocation {
    pub height: Height,
    pub index: u32,
}

/// Storage of one chain at one node.
pub trait Store: Send {
    /// Stores a block received or proposed (not yet committed).
    fn put_block(&mut self, block: &Block) -> Result<(), StoreError>;
    /// Stores a batch (verified) under its digest, with its transactions'
    /// hashes so that readers never hash the transactions again.
    fn put_batch(&mut self, batch: &HashedBatch) -> Result<(), StoreError>;
    fn batch(&self, digest: &Digest) -> Result<Option<HashedBatch>, StoreError>;
    /// A stored batch's transaction hashes, without decoding its
    /// transactions (what indexing needs, and all that an opaque chain's
    /// executor needs).
    fn batch_tx_hashes(&self, digest: &Digest) -> Result<Option<Vec<Digest>>, StoreError> {
        Ok(self.batch(digest)?.map(|b| b.tx_hashes().to_vec()))
    }
    /// Whether a batch is stored, without reading it.
    fn has_batch(&self, digest: &Digest) -> Result<bool, StoreError>;
    fn block(&self, hash: &Digest) -> Result<Option<Block>, StoreError>;
    /// Commits consecutive blocks above the tip: height and transaction
    /// indexes and the new tip, in one durable write. The batches a block
    /// references must be stored first.
    fn commit(&mut self, blocks: &[Block]) -> Result<(), StoreError> {
        let hashes = blocks
            .iter()
            .map(|b| block_tx_hashes(self, b))
            .collect::<Result<Vec<_>, _>>()?;
        self.commit_indexed(blocks, &hashes)
    }
    /// `commit` for a caller that already holds each block's transaction
    /// hashes in order (`tx_hashes[i]` belongs to `blocks[i]`); a node's
    /// executor has them from executing, and hashing twice costs. A
    /// position holding [`NOT_INDEXED`] is left out of the index: the
    /// executor marks a batch an earlier listing executed, so a
    /// transaction keeps the location where it executed.
    fn commit_indexed(
        &mut self,
        blocks: &[Block],
        tx_hashes: &[Vec<Digest>],
    ) -> Result<(), StoreError>;
    /// The committed block at `height`.
    fn block_at(&self, height: Height) -> Result<Option<Block>, StoreError>;
    /// Height and hash of the highest committed block.
    fn committed_tip(&self) -> Result<Option<(Height, Digest)>, StoreError>;
    fn tx_location(&self, tx: &Digest) -> Result<Option<TxLocation>, StoreError>;
    /// Durably replaces the safety state.
    fn save_safety(&mut self, state: &SafetyState) -> Result<(), StoreError>;
    fn load_safety(&self) -> Result<Option<SafetyState>, StoreError>;
    /// Stored blocks above the committed tip (for recovery), lowest first.
    fn uncommitted_blocks(&self) -> Result<Vec<Block>, StoreError>;
    /// Keeps a proof of misbehaviour (once per distinct proof, at most
    /// `MAX_EVIDENCE` in all: past that, new proofs are counted, not kept).
    fn put_evidence(&mut self, evidence: &Evidence) -> Result<(), StoreError>;
    /// The proofs kept, in no particular order.
    fn evidence(&self) -> Result<Vec<Evidence>, StoreError>;
    /// Notes a batch this node sealed (and stored) as not yet committed: a
    /// restarted node proposes and pushes it again.
    fn note_unconfirmed(&mut self, digest: &Digest) -> Result<(), StoreError>;
    /// The batches no longer need to be noted (they committed).
    fn forget_unconfirmed(&mut self, digests: &[Digest]) -> Result<(), StoreError>;
    /// The batches noted and not forgotten.
    fn unconfirmed(&self) -> Result<Vec<Digest>, StoreError>;
    /// Durably keeps the proof that an epoch ended, for members that sync
    /// across its boundary and for verifiers of the committee history.
    fn put_epoch_change(&mut self, change: &EpochChange) -> Result<(), StoreError>;
    fn epoch_change(&self, epoch: Epoch) -> Result<Option<EpochChange>, StoreError>;
    /// Keeps the handoff from epoch `handoff.change.epoch` to the next
    /// (the epoch's end with the next committee proven), made when this
    /// node hands over, while the state it proves against is still kept:
    /// anchors carry it, and verifiers learn the committee history from it.
    fn put_handoff(&mut self, handoff: &CommitteeHandoff) -> Result<(), StoreError>;
    fn handoff(&self, ending: Epoch) -> Result<Option<CommitteeHandoff>, StoreError>;
}

/// Hashes of a committed block's transactions, in order.
fn block_tx_hashes<S: Store + ?Sized>(store: &S, block: &Block) -> Result<Vec<Digest>, StoreError> {
    match &block.payload {
        Payload::Inline(txs) => Ok(txs.iter().map(|t| t.hash()).collect()),
        Payload::Batches(refs) => {
            let mut out = Vec::new();
            for r in refs.iter() {
                let hashes = store
                    .batch_tx_hashes(&r.digest)?
                    .ok_or(StoreError::MissingBatch(r.digest))?;
                out.extend_from_slice(&hashes);
            }
            Ok(out)
        }
    }
}

/// Checks that `blocks` extend the tip one height at a time and that each
/// comes with its transaction hashes.
/// In `commit_indexed`'s hashes: a position not indexed (its transaction
/// keeps an earlier location).
pub const NOT_INDEXED: Digest = Digest::ZERO;

fn check_commit(
    tip: Option<(Height, Digest)>,
    blocks: &[Block],
    tx_hashes: &[Vec<Digest>],
) -> Result<(), StoreError> {
    if blocks.len() != tx_hashes.len() {
        return Err(StoreError::IndexMismatch {
            blocks: blocks.len(),
            hashes: tx_hashes.len(),
        });
    }
    let first = tip.map(|(h, _)| h + 1).unwrap_or(0);
    for (expected, b) in (first..).zip(blocks) {
        if b.header.height != expected {
            return Err(StoreError::NonContiguousCommit {
                tip: expected.saturating_sub(1),
                got: b.header.height,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod contract {
    //! The behaviour every `Store` must have, run against both backends.

    use super::*;
    use crate::consensus::SafetyState;
    use crate::test_support::chain_of_blocks as chain;
    use crate::types::ChainId;
    use strata_crypto::codec::BoundedVec;
    use strata_crypto::SecretKey;

    fn exercise_evidence(store: &mut dyn Store) {
        use crate::types::{SignedStatement, Statement, VoteData};
        let key = SecretKey::from_seed(&[5; 32]).unwrap();
        let vote = |b: &[u8]| {
            let data = VoteData {
                chain: ChainId::GLOBAL,
                epoch: 0,
                round: crate::types::Round::new(3, 3),
                statement: Statement::Vote {
                    block: Digest::of("b", b),
                },
            };
            SignedStatement::sign(data, 1, &key)
        };
        let e = Evidence::Equivocation {
            first: vote(b"a"),
            second: vote(b"b"),
        };
        assert!(store.evidence().unwrap().is_empty());
        store.put_evidence(&e).unwrap();
        store.put_evidence(&e).unwrap();
        assert_eq!(store.evidence().unwrap(), vec![e], "kept once");

        let (a, b) = (Digest::of("own", b"a"), Digest::of("own", b"b"));
        store.note_unconfirmed(&a).unwrap();
        store.note_unconfirmed(&b).unwrap();
        let mut noted = store.unconfirmed().unwrap();
        noted.sort();
        let mut both = vec![a, b];
        both.sort();
        assert_eq!(noted, both);
        store.forget_unconfirmed(&[a]).unwrap();
        assert_eq!(store.unconfirmed().unwrap(), vec![b]);
    }

    pub(crate) fn exercise(store: &mut dyn Store) {
        exercise_evidence(store);
        let blocks = chain(6);
        assert_eq!(store.committed_tip().unwrap(), None);
        for b in &blocks {
            store.put_block(b).unwrap();
        }
        assert_eq!(store.block(&blocks[3].hash()).unwrap().unwrap(), blocks[3]);
        assert_eq!(store.uncommitted_blocks().unwrap().len(), 6);

        store.commit(&blocks[..3]).unwrap();
        assert_eq!(store.committed_tip().unwrap(), Some((2, blocks[2].hash())));
        assert_eq!(store.block_at(1).unwrap().unwrap(), blocks[1]);
        assert!(store.block_at(3).unwrap().is_none());
        let pending: Vec<Height> = store
            .uncommitted_blocks()
            .unwrap()
            .iter()
            .map(|b| b.header.height)
            .collect();
        assert_eq!(pending, vec![3, 4, 5]);

        // Gaps and repeats are refused.
        assert!(matches!(
            store.commit(&blocks[4..5]),
            Err(StoreError::NonContiguousCommit { .. })
        ));
        assert!(store.commit(&blocks[2..3]).is_err());
        assert!(matches!(
            store.commit_indexed(&blocks[3..5], &[Vec::new()]),
            Err(StoreError::IndexMismatch {
                blocks: 2,
                hashes: 1
            })
        ));
        store.commit(&blocks[3..]).unwrap();
        assert!(store.uncommitted_blocks().unwrap().is_empty());

        // A block referencing a batch commits only once the batch is stored,
        // and its transactions are indexed from the batch.
        let tx = crate::types::Transaction::Opaque(
            strata_crypto::codec::BoundedBytes::new(b"opaque-record".to_vec()).unwrap(),
        );
        let batch = crate::types::Batch {
            chain: ChainId::GLOBAL,
            author: 0,
            sequence: 1,
            transactions: BoundedVec::new(vec![tx.clone()]).unwrap(),
        }
        .hashed();
        let mut batched = blocks[5].clone();
        batched.header.height = 6;
        batched.header.parent = blocks[5].hash();
        batched.payload =
            crate::types::Payload::Batches(BoundedVec::new(vec![batch.reference()]).unwrap());
        assert!(matches!(
            store.commit(std::slice::from_ref(&batched)),
            Err(StoreError::MissingBatch(_))
        ));
        assert!(!store.has_batch(&batch.digest()).unwrap());
        assert_eq!(store.batch_tx_hashes(&batch.digest()).unwrap(), None);
        store.put_batch(&batch).unwrap();
        assert!(store.has_batch(&batch.digest()).unwrap());
        assert_eq!(
            store.batch_tx_hashes(&batch.digest()).unwrap(),
            Some(vec![tx.hash()])
        );
        assert_eq!(store.batch(&batch.digest()).unwrap(), Some(batch));
        store.commit(std::slice::from_ref(&batched)).unwrap();
        assert_eq!(
            store.tx_location(&tx.hash()).unwrap(),
            Some(TxLocation {
                height: 6,
                index: 0
            })
        );

        assert_eq!(store.load_safety().unwrap(), None);
        let mut s = SafetyState::fresh(ChainId::GLOBAL, 0, blocks[0].hash());
        s.last_voted = crate::types::Round::new(7, 0);
        store.save_safety(&s).unwrap();
        assert_eq!(store.load_safety().unwrap(), Some(s));
    }
}
