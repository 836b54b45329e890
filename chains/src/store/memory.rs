//! In-memory store for tests and the simulator (a simulated crash keeps it,
//! like a disk).

use std::collections::{BTreeMap, HashMap};

use strata_crypto::hash::Digest;

use super::{check_commit, Store, StoreError, TxLocation};
use crate::consensus::SafetyState;
use crate::types::{Block, CommitteeHandoff, Epoch, EpochChange, Evidence, HashedBatch, Height};

#[derive(Default, Clone)]
pub struct MemStore {
    blocks: HashMap<Digest, Block>,
    heights: BTreeMap<Height, Digest>,
    txs: HashMap<Digest, TxLocation>,
    pending: BTreeMap<(Height, Digest), ()>,
    batches: HashMap<Digest, HashedBatch>,
    safety: Option<SafetyState>,
    evidence: HashMap<Digest, Evidence>,
    unconfirmed: std::collections::BTreeSet<Digest>,
    epoch_changes: BTreeMap<Epoch, EpochChange>,
    handoffs: BTreeMap<Epoch, CommitteeHandoff>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }
}

impl Store for MemStore {
    fn put_evidence(&mut self, evidence: &Evidence) -> Result<(), StoreError> {
        if self.evidence.len() < super::MAX_EVIDENCE {
            self.evidence.insert(
                Digest::of_encoding("strata/evidence", evidence),
                evidence.clone(),
            );
        }
        Ok(())
    }

    fn evidence(&self) -> Result<Vec<Evidence>, StoreError> {
        Ok(self.evidence.values().cloned().collect())
    }

    fn note_unconfirmed(&mut self, digest: &Digest) -> Result<(), StoreError> {
        self.unconfirmed.insert(*digest);
        Ok(())
    }

    fn forget_unconfirmed(&mut self, digests: &[Digest]) -> Result<(), StoreError> {
        for d in digests {
            self.unconfirmed.remove(d);
        }
        Ok(())
    }

    fn unconfirmed(&self) -> Result<Vec<Digest>, StoreError> {
        Ok(self.unconfirmed.iter().copied().collect())
    }

    fn put_block(&mut self, block: &Block) -> Result<(), StoreError> {
        let hash = block.hash();
        let tip = self.heights.keys().next_back().copied();
        if tip.is_none_or(|t| block.header.height > t) {
            self.pending.insert((block.header.height, hash), ());
        }
        self.blocks.insert(hash, block.clone());
        Ok(())
    }

    fn block(&self, hash: &Digest) -> Result<Option<Block>, StoreError> {
        Ok(self.blocks.get(hash).cloned())
    }

    fn put_batch(&mut self, batch: &HashedBatch) -> Result<(), StoreError> {
        self.batches.insert(batch.digest(), batch.clone());
        Ok(())
    }

    fn batch(&self, digest: &Digest) -> Result<Option<HashedBatch>, StoreError> {
        Ok(self.batches.get(digest).cloned())
    }

    fn has_batch(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(self.batches.contains_key(digest))
    }

    fn commit_indexed(
        &mut self,
        blocks: &[Block],
        tx_hashes: &[Vec<Digest>],
    ) -> Result<(), StoreError> {
        check_commit(self.committed_tip()?, blocks, tx_hashes)?;
        for (b, tx_hashes) in blocks.iter().zip(tx_hashes) {
            let hash = b.hash();
            self.heights.insert(b.header.height, hash);
            for (i, tx) in tx_hashes.iter().enumerate() {
                if *tx == super::NOT_INDEXED {
                    continue;
                }
                self.txs.insert(
                    *tx,
                    TxLocation {
                        height: b.header.height,
                        index: i as u32,
                    },
                );
            }
            self.blocks.insert(hash, b.clone());
        }
        if let Some(last) = blocks.last() {
            let keep = self
                .pending
                .split_off(&(last.header.height + 1, Digest::ZERO));
            self.pending = keep;
        }
        Ok(())
    }

    fn block_at(&self, height: Height) -> Result<Option<Block>, StoreError> {
        Ok(self
            .heights
            .get(&height)
            .and_then(|h| self.blocks.get(h))
            .cloned())
    }

    fn committed_tip(&self) -> Result<Option<(Height, Digest)>, StoreError> {
        Ok(self.heights.iter().next_back().map(|(h, d)| (*h, *d)))
    }

    fn tx_location(&self, tx: &Digest) -> Result<Option<TxLocation>, StoreError> {
        Ok(self.txs.get(tx).copied())
    }

    fn put_epoch_change(&mut self, change: &EpochChange) -> Result<(), StoreError> {
        self.epoch_changes.insert(change.epoch, change.clone());
        Ok(())
    }

    fn epoch_change(&self, epoch: Epoch) -> Result<Option<EpochChange>, StoreError> {
        Ok(self.epoch_changes.get(&epoch).cloned())
    }

    fn put_handoff(&mut self, handoff: &CommitteeHandoff) -> Result<(), StoreError> {
        self.handoffs.insert(handoff.change.epoch, handoff.clone());
        Ok(())
    }

    fn handoff(&self, ending: Epoch) -> Result<Option<CommitteeHandoff>, StoreError> {
        Ok(self.handoffs.get(&ending).cloned())
    }

    fn save_safety(&mut self, state: &SafetyState) -> Result<(), StoreError> {
        self.safety = Some(state.clone());
        Ok(())
    }

    fn load_safety(&self) -> Result<Option<SafetyState>, StoreError> {
        Ok(self.safety.clone())
    }

    fn uncommitted_blocks(&self) -> Result<Vec<Block>, StoreError> {
        Ok(self
            .pending
            .keys()
            .filter_map(|(_, h)| self.blocks.get(h).cloned())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_store_meets_the_contract() {
        super::super::contract::exercise(&mut super::MemStore::new());
    }
}
