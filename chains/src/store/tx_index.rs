//! The transaction index's newest entries, held in memory until they are
//! written to disk as one sorted run.
//!
//! Transaction hashes are random keys. Inserting one per committed
//! transaction into a RocksDB memtable walks a skip list whose nodes miss
//! the caches, and the entries are then flushed and compacted again: at
//! 40k opaque tx/s the index cost a quarter of every node's CPU per
//! transaction (60 against 44 µs with the index writes left out, same
//! binary, alternating runs). Sorting a run in memory and handing RocksDB
//! a finished table (bulk ingestion) replaces all of that with one
//! sequential write (`TX_INDEX_RUN_ENTRIES` per run). Nothing is lost in
//! a crash: the entries are derived from committed blocks, which are
//! written durably first, so a restart rebuilds the entries above the last
//! run from those blocks.

use strata_crypto::hash::{Digest, DigestMap};

use super::TxLocation;
use crate::types::Height;

/// Entries of committed transactions not yet written as a run.
#[derive(Debug)]
pub struct PendingTxIndex {
    entries: DigestMap<Digest, TxLocation>,
    /// A run is due at this many entries.
    run_entries: usize,
}

impl PendingTxIndex {
    pub fn new(run_entries: usize) -> PendingTxIndex {
        PendingTxIndex {
            entries: DigestMap::default(),
            run_entries: run_entries.max(1),
        }
    }

    /// Adds the transactions of the block at `height`, in block order,
    /// but for positions marked [`super::NOT_INDEXED`] (a transaction an
    /// earlier listing executed keeps that location).
    pub fn add(&mut self, height: Height, hashes: &[Digest]) {
        self.entries.reserve(hashes.len());
        for (tx, index) in hashes.iter().zip(0u32..) {
            if *tx != super::NOT_INDEXED {
                self.entries.insert(*tx, TxLocation { height, index });
            }
        }
    }

    pub fn get(&self, tx: &Digest) -> Option<TxLocation> {
        self.entries.get(tx).copied()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn run_due(&self) -> bool {
        self.entries.len() >= self.run_entries
    }

    /// The entries in key order, as a table is written. They stay here
    /// until `clear` (after the run is safely on disk), so a failed write
    /// loses nothing.
    pub fn sorted_run(&self) -> Vec<(Digest, TxLocation)> {
        let mut run: Vec<(Digest, TxLocation)> =
            self.entries.iter().map(|(k, v)| (*k, *v)).collect();
        run.sort_unstable_by_key(|e| e.0);
        run
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: u8) -> Digest {
        Digest::of("test", &[i])
    }

    #[test]
    fn runs_are_sorted_unique_and_due_at_the_threshold() {
        let mut p = PendingTxIndex::new(4);
        p.add(7, &[d(1), d(2)]);
        assert!(!p.run_due());
        // d(1) listed again at height 8 keeps its newer location.
        p.add(8, &[d(3), d(1)]);
        assert_eq!(p.len(), 3);
        assert_eq!(
            p.get(&d(1)),
            Some(TxLocation {
                height: 8,
                index: 1
            })
        );
        assert!(!p.run_due());
        p.add(9, &[d(4)]);
        assert!(p.run_due());
        let run = p.sorted_run();
        assert_eq!(run.len(), 4);
        assert!(run.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(p.len(), 4, "a run is only dropped once written");
        p.clear();
        assert_eq!(p.len(), 0);
        assert_eq!(p.get(&d(2)), None);
        // A position the executor marks is left out; the others keep
        // their places in the block.
        p.add(10, &[super::super::NOT_INDEXED, d(5)]);
        assert_eq!(p.len(), 1);
        assert_eq!(
            p.get(&d(5)),
            Some(TxLocation {
                height: 10,
                index: 1
            })
        );
    }
}
