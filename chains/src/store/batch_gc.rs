//! Collecting the staging batch log: the batches of committed blocks move
//! to the archive, the batches still wanted move to the head of the
//! staging log, and the rest are forgotten; then the segment is deleted.
//!
//! Every batch a node stores is appended to the staging log: its own, its
//! peers', fetched ones, valid batches a Byzantine member floods that never
//! commit. Without collection the log grows by every byte ever offered to
//! the node. With it, the staging log holds about the newest two segments
//! (what may still commit), and the archive holds the batches of committed
//! blocks, each once, which the node keeps to serve the chain's history
//! (range sync, `/v1/block`, proofs, re-indexing after a crash).
//!
//! A segment is collected in two phases, so that copying never holds up
//! the threads that store batches and blocks:
//! 1. Without the lock: every record the batch's entry still points to is
//!    copied where it goes (archive when a committed block references it,
//!    staging head when it is still wanted), and both logs are synced.
//! 2. Under `gc_lock`, which `put_batch`, `put_block` and commits also take
//!    while they write: each entry still pointing at the old record is
//!    rewritten (or deleted) in one synced write. A batch that phase 1
//!    meant to forget but that became wanted meanwhile keeps its entry, and
//!    the segment stays for the next pass.
//!
//! The segment is deleted only after that write: a crash at any point
//! leaves every entry pointing at a durable record (at worst some bytes in
//! the archive that no entry points to).
//!
//! "Still wanted" is: noted unconfirmed by this node (answered `accepted`
//! to a client), referenced by a stored uncommitted block, or wanted by the
//! host (the mempool's held batches). A forgotten batch that a block names
//! later is fetched from a peer, as any batch the node lacks.

use std::collections::HashSet;

use parity_scale_codec::Encode;
use rocksdb::WriteBatch;
use strata_crypto::hash::Digest;

use super::batch_log::{BatchPlace, RecordLocation};
use super::rocks::{decode_batch_record, RocksStore};
use super::{Store, StoreError};
use crate::types::limits::MAX_MESSAGE_BYTES;
use crate::types::Payload;

/// The newest sealed staging segments kept uncollected: their batches are
/// seconds old and most are about to be proposed or committed.
pub const SEALED_SEGMENTS_KEPT: usize = 1;

/// What one collection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchLogCollection {
    /// Staging segments deleted.
    pub segments: usize,
    /// Batches of committed blocks moved to the archive.
    pub archived: usize,
    /// Uncommitted batches still wanted, moved to the staging log's head.
    pub carried: usize,
    /// Uncommitted batches nobody wants, forgotten.
    pub dropped: usize,
    /// Bytes in the staging log and the archive afterwards.
    pub staging_bytes: u64,
    pub archive_bytes: u64,
}

/// Where phase 1 put a record.
enum Destination {
    Archive(RecordLocation),
    Staging(RecordLocation),
    Forget,
}

impl RocksStore {
    /// Collects every staging segment but the one appended to and the
    /// newest `SEALED_SEGMENTS_KEPT` sealed ones. `wanted` names the
    /// uncommitted batches the host still needs (it is asked again under
    /// the lock before a batch is forgotten, so it must be cheap and
    /// thread-safe).
    pub fn collect_batch_log(
        &self,
        wanted: &(dyn Fn(&Digest) -> bool + Sync),
    ) -> Result<BatchLogCollection, StoreError> {
        let mut report = BatchLogCollection::default();
        let sealed = self.staging.sealed_segments()?;
        let collectable = sealed.len().saturating_sub(SEALED_SEGMENTS_KEPT);
        for &segment in sealed.iter().take(collectable) {
            if self.collect_segment(segment, wanted, &mut report)? {
                report.segments += 1;
            }
        }
        report.staging_bytes = self.staging.bytes_on_disk()?;
        report.archive_bytes = self.archive.bytes_on_disk()?;
        Ok(report)
    }

    /// Bytes in the staging log and the archive.
    pub fn batch_log_bytes(&self) -> Result<(u64, u64), StoreError> {
        Ok((self.staging.bytes_on_disk()?, self.archive.bytes_on_disk()?))
    }

    /// The batches named by stored uncommitted blocks and by this node's
    /// unconfirmed notes.
    fn kept_uncommitted(&self) -> Result<HashSet<Digest>, StoreError> {
        let mut kept: HashSet<Digest> = self.unconfirmed()?.into_iter().collect();
        for block in self.uncommitted_blocks()? {
            if let Payload::Batches(refs) = &block.payload {
                kept.extend(refs.iter().map(|r| r.digest));
            }
        }
        Ok(kept)
    }

    /// Collects one segment; `false` if it had to stay for another pass.
    fn collect_segment(
        &self,
        segment: u32,
        wanted: &(dyn Fn(&Digest) -> bool + Sync),
        report: &mut BatchLogCollection,
    ) -> Result<bool, StoreError> {
        // Phase 1: copy, without the lock.
        let kept = self.kept_uncommitted()?;
        let mut moves: Vec<(Digest, RecordLocation, Destination)> = Vec::new();
        self.staging
            .scan(segment, MAX_MESSAGE_BYTES, |loc, payload| {
                // A record that does not decode was never stored by this code
                // (`put_batch` writes whole batches): nothing points to it.
                let Ok(batch) = decode_batch_record(payload) else {
                    return Ok(());
                };
                let digest = batch.digest();
                if self.batch_place(&digest)? != Some(BatchPlace::Staged(loc)) {
                    return Ok(()); // stored again elsewhere, or forgotten
                }
                let copy = |buf: &mut Vec<u8>| buf.extend_from_slice(payload);
                let to = if self.batch_committed(&digest)? {
                    Destination::Archive(self.archive.append(copy)?)
                } else if kept.contains(&digest) || wanted(&digest) {
                    Destination::Staging(self.staging.append(copy)?)
                } else {
                    Destination::Forget
                };
                moves.push((digest, loc, to));
                Ok(())
            })?;
        self.archive.sync()?;
        self.staging.sync()?;

        // Phase 2: rewrite the entries, under the lock.
        let mut complete = true;
        let mut counts = (0, 0, 0);
        {
            let _gc = self.gc_guard();
            let kept = self.kept_uncommitted()?;
            let mut batch = WriteBatch::default();
            let cf = self.cf(super::rocks::CF_BATCHES);
            for (digest, from, to) in moves {
                if self.batch_place(&digest)? != Some(BatchPlace::Staged(from)) {
                    continue;
                }
                match to {
                    Destination::Archive(loc) => {
                        batch.put_cf(cf, digest.0, BatchPlace::Archived(loc).encode());
                        counts.0 += 1;
                    }
                    Destination::Staging(loc) => {
                        batch.put_cf(cf, digest.0, BatchPlace::Staged(loc).encode());
                        counts.1 += 1;
                    }
                    Destination::Forget => {
                        let now_wanted = self.batch_committed(&digest)?
                            || kept.contains(&digest)
                            || wanted(&digest);
                        if now_wanted {
                            complete = false;
                        } else {
                            batch.delete_cf(cf, digest.0);
                            counts.2 += 1;
                        }
                    }
                }
            }
            self.db
                .write_opt(batch, &RocksStore::synced())
                .map_err(|e| StoreError::Backend(e.to_string()))?;
        }
        report.archived += counts.0;
        report.carried += counts.1;
        report.dropped += counts.2;
        if complete {
            self.staging.remove(segment)?;
        }
        Ok(complete)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use strata_crypto::codec::{BoundedBytes, BoundedVec};

    use super::*;
    use crate::store::rocks::{StoreOptions, CF_BATCHES, KEY_MARKED};
    use crate::test_support::batched_chain;
    use crate::types::{Batch, ChainId, HashedBatch, Transaction};

    /// Segments of 1 KiB: a few small batches each.
    fn small_segments() -> StoreOptions {
        StoreOptions {
            segment_bytes: 1 << 10,
            ..StoreOptions::default()
        }
    }

    /// A batch of one opaque transaction of `bytes` bytes.
    fn orphan(sequence: u64, bytes: usize) -> HashedBatch {
        Batch {
            chain: ChainId::GLOBAL,
            author: 1,
            sequence,
            transactions: BoundedVec::new(vec![Transaction::Opaque(
                BoundedBytes::new(vec![sequence as u8; bytes]).unwrap(),
            )])
            .unwrap(),
        }
        .hashed()
    }

    /// Two batches of a segment's size each: everything stored before is
    /// in segments the collector may take.
    fn seal_everything(store: &mut RocksStore, sequence: u64) {
        store.put_batch(&orphan(sequence, 2 << 10)).unwrap();
        store.put_batch(&orphan(sequence + 1, 2 << 10)).unwrap();
    }

    fn place(store: &RocksStore, b: &HashedBatch) -> Option<BatchPlace> {
        store.batch_place(&b.digest()).unwrap()
    }

    #[test]
    fn committed_batches_move_to_the_archive_wanted_ones_stay_and_the_rest_go() {
        let dir = tempfile::tempdir().unwrap();
        let (blocks, batches) = batched_chain(20, 8);
        let orphans: Vec<HashedBatch> = (100..106).map(|s| orphan(s, 300)).collect();
        let wanted_digest = orphans[1].digest();
        let wanted = move |d: &Digest| *d == wanted_digest;
        {
            let mut store = RocksStore::open_with(dir.path(), small_segments()).unwrap();
            for b in batches.iter().chain(&orphans) {
                store.put_batch(b).unwrap();
            }
            // Heights 1..=15 commit, 16..=20 are stored uncommitted;
            // orphan 0 is this node's own unconfirmed batch, orphan 1 the
            // host wants, the others nobody does.
            for b in &blocks[16..=20] {
                store.put_block(b).unwrap();
            }
            store.commit(&blocks[..=15]).unwrap();
            store.note_unconfirmed(&orphans[0].digest()).unwrap();
            seal_everything(&mut store, 200);
            let sealed = store.staging.sealed_segments().unwrap();
            assert!(sealed.len() > 4, "{sealed:?}");

            let report = store.collect_batch_log(&wanted).unwrap();
            assert_eq!(report.archived, 15, "{report:?}");
            assert_eq!(report.carried, 5 + 2, "{report:?}");
            assert_eq!(report.dropped, 4, "{report:?}");
            // Only the newest sealed segment (the first filler's) was
            // spared; the carried batches are in newer ones.
            let kept = sealed.last().copied().unwrap();
            let left = store.staging.sealed_segments().unwrap();
            assert_eq!(left.first(), Some(&kept), "{left:?}");
            assert_eq!(report.segments, sealed.len() - 1);
            assert!(report.archive_bytes > 0);
        }
        // Everything a reader needs survives a reopening.
        let mut store = RocksStore::open_with(dir.path(), small_segments()).unwrap();
        for b in &batches[..15] {
            assert!(matches!(place(&store, b), Some(BatchPlace::Archived(_))));
            assert_eq!(store.batch(&b.digest()).unwrap().as_ref(), Some(b));
            for tx in b.tx_hashes() {
                assert!(store.tx_location(tx).unwrap().is_some());
            }
        }
        for b in batches[15..].iter().chain(&orphans[..2]) {
            assert!(matches!(place(&store, b), Some(BatchPlace::Staged(_))));
            assert_eq!(store.batch(&b.digest()).unwrap().as_ref(), Some(b));
        }
        for b in &orphans[2..] {
            assert!(!store.has_batch(&b.digest()).unwrap());
        }
        // An archived batch stored again stays archived.
        store.put_batch(&batches[0]).unwrap();
        assert!(matches!(
            place(&store, &batches[0]),
            Some(BatchPlace::Archived(_))
        ));

        // The carried heights commit in turn.
        store.commit(&blocks[16..=20]).unwrap();
        seal_everything(&mut store, 300);
        let report = store.collect_batch_log(&|_: &Digest| false).unwrap();
        assert_eq!(report.archived, 5, "{report:?}");
        for b in &batches {
            assert!(matches!(place(&store, b), Some(BatchPlace::Archived(_))));
            assert_eq!(store.batch(&b.digest()).unwrap().as_ref(), Some(b));
        }
        // Orphan 0 is still unconfirmed; orphan 1 is no longer wanted.
        assert!(store.has_batch(&orphans[0].digest()).unwrap());
        assert!(!store.has_batch(&orphans[1].digest()).unwrap());
    }

    #[test]
    fn a_batch_wanted_again_before_it_is_forgotten_keeps_its_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RocksStore::open_with(dir.path(), small_segments()).unwrap();
        let batch = orphan(1, 300);
        store.put_batch(&batch).unwrap();
        seal_everything(&mut store, 10);
        // Not wanted when copying, wanted when the entries are rewritten:
        // a block naming it arrived in between.
        let asked = AtomicUsize::new(0);
        let digest = batch.digest();
        let wanted = |d: &Digest| *d == digest && asked.fetch_add(1, Ordering::SeqCst) > 0;
        let before = place(&store, &batch);
        let report = store.collect_batch_log(&wanted).unwrap();
        assert_eq!((report.segments, report.dropped), (0, 0), "{report:?}");
        assert_eq!(place(&store, &batch), before);
        assert_eq!(store.batch(&digest).unwrap().as_ref(), Some(&batch));
        // The next pass carries it.
        let report = store.collect_batch_log(&wanted).unwrap();
        assert_eq!((report.segments, report.carried), (1, 1), "{report:?}");
        assert_eq!(store.batch(&digest).unwrap().as_ref(), Some(&batch));
    }

    #[test]
    fn stores_written_before_the_archive_open_with_their_batches_marked() {
        let dir = tempfile::tempdir().unwrap();
        let (blocks, batches) = batched_chain(3, 2);
        {
            let mut store = RocksStore::open(dir.path()).unwrap();
            for b in &batches {
                store.put_batch(b).unwrap();
            }
            store.commit(&blocks).unwrap();
            // As an older node left it: bare locations, no marks.
            for b in &batches {
                let Some(BatchPlace::Staged(loc)) = place(&store, b) else {
                    panic!("staged")
                };
                let cf = store.cf(CF_BATCHES);
                store.db.put_cf(cf, b.digest().0, loc.encode()).unwrap();
                let cf = store.cf("committed-batches");
                store.db.delete_cf(cf, b.digest().0).unwrap();
            }
            store.db.delete_cf(store.cf("meta"), KEY_MARKED).unwrap();
            assert!(!store.batch_committed(&batches[0].digest()).unwrap());
        }
        let store = RocksStore::open(dir.path()).unwrap();
        for b in &batches {
            assert!(store.batch_committed(&b.digest()).unwrap());
            assert_eq!(store.batch(&b.digest()).unwrap().as_ref(), Some(b));
        }
    }
}
