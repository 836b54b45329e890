//! RocksDB store: one database per chain, column families for blocks, the
//! height index, the transaction index and uncommitted blocks (DESIGN.md
//! §7); the safety state in its own files beside it (`safety_file`), and
//! batches in the batch log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use parity_scale_codec::{Decode, Encode};
use rocksdb::{
    ColumnFamilyDescriptor, IngestExternalFileOptions, Options, SstFileWriter, WriteBatch,
    WriteOptions, DB,
};
use strata_crypto::codec::{decode_message, BoundedVec};
use strata_crypto::hash::Digest;

use super::batch_log::{BatchLog, RecordLocation, SEGMENT_BYTES};
use super::safety_file::SafetyFile;
use super::tx_index::PendingTxIndex;
use super::{block_tx_hashes, check_commit, Store, StoreError, TxLocation};
use crate::consensus::SafetyState;
use crate::types::limits::MAX_BATCH_TXS;
use crate::types::limits::MAX_MESSAGE_BYTES;
use crate::types::{Batch, Block, Evidence, HashedBatch, Height};

const CF_BLOCKS: &str = "blocks";
const CF_HEIGHTS: &str = "heights";
const CF_TXS: &str = "txs";
const CF_PENDING: &str = "pending";
const CF_META: &str = "meta";
const CF_BATCHES: &str = "batches";
/// Proofs of misbehaviour, by the digest of their encoding.
const CF_EVIDENCE: &str = "evidence";
/// Batches this node sealed that have not committed yet (keys only).
const CF_UNCONFIRMED: &str = "unconfirmed";
const KEY_SAFETY: &[u8] = b"safety";
const KEY_TIP: &[u8] = b"tip";
/// The height through which the transaction index is on disk.
const KEY_INDEXED: &[u8] = b"indexed";
/// Entries per sorted run of the transaction index (~12 MiB on disk, ~15
/// MiB in memory before it is written). At 60k tx/s that is a run every
/// four seconds; a restart re-reads at most this many transactions'
/// hashes. Larger runs mean fewer compactions: runs of 2^18 against 2^16
/// entries, 60k opaque tx/s, 20 s alternating runs: 31.4 / 32.5 against
/// 35.5 / 34.2 µs CPU per transaction (short runs flatter this, as
/// compaction of earlier runs falls partly outside the window).
pub const TX_INDEX_RUN_ENTRIES: usize = 1 << 18;
/// Where a run is written before RocksDB takes it over.
const RUN_FILE: &str = "tx-index-run.sst";
/// The batch log's directory, inside the database's.
const BATCH_LOG_DIR: &str = "batch-log";

/// Cheap to clone: clones share one database (RocksDB is thread-safe), the
/// batch log and the transaction index's pending entries. Batches live in
/// the log (`batch_log`); the `batches` column family maps each digest to
/// its record.
#[derive(Clone)]
pub struct RocksStore {
    db: Arc<DB>,
    batch_log: Arc<BatchLog>,
    dir: Arc<PathBuf>,
    pending_index: Arc<Mutex<PendingTxIndex>>,
    /// Committed heights whose transactions could not be indexed at
    /// opening: a batch of theirs is missing (a damaged disk). The host
    /// fetches those batches, then calls `index_missing`; until then no
    /// index run is written (a run records the index as complete through
    /// its height).
    unindexed: Arc<Mutex<std::collections::BTreeSet<Height>>>,
    /// The safety state, outside RocksDB (see `safety_file`).
    safety: Arc<Mutex<SafetyFile>>,
}

fn backend(e: rocksdb::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn decode<T: Decode>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    decode_message(bytes, MAX_MESSAGE_BYTES).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

fn pending_key(height: Height, hash: &Digest) -> Vec<u8> {
    let mut k = height.to_be_bytes().to_vec();
    k.extend_from_slice(&hash.0);
    k
}

/// Options of a column family read by key, often for keys that are not
/// there (is this nonce used? is this batch stored?): bloom filters per
/// table and on the memtable answer most misses without a search.
pub fn point_lookup_options() -> Options {
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_whole_key_filtering(true);
    let mut cf = Options::default();
    cf.set_block_based_table_factory(&table);
    // The same for the memtable, where most recent keys are.
    cf.set_memtable_whole_key_filtering(true);
    cf.set_memtable_prefix_bloom_ratio(0.05);
    cf
}

/// Sizes the memtable of a column family that takes one small entry per
/// transaction under a random key (transaction index, nonces, histories).
/// RocksDB's default 64 MiB memtable holds about a million such entries,
/// and each insert then walks a skip list whose levels miss the caches
/// (measured: a quarter of a node's CPU at 40k tx/s). A few MiB stay in
/// cache; the extra flushes and compactions are small sequential writes.
pub fn per_transaction_index(cf: &mut Options) {
    cf.set_write_buffer_size(4 << 20);
    cf.set_max_write_buffer_number(4);
    // Hashes and nonces do not compress.
    cf.set_compression_type(rocksdb::DBCompressionType::None);
}

/// Options of the transaction index, whose tables are written as sorted
/// runs (`tx_index`) with the same format a flush would give them.
fn tx_index_options() -> Options {
    let mut cf = point_lookup_options();
    per_transaction_index(&mut cf);
    cf
}

/// Database options shared by a node's stores.
pub fn db_options() -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts
}

fn lock_safety(safety: &Mutex<SafetyFile>) -> MutexGuard<'_, SafetyFile> {
    // Each write is whole or not made; a panicking writer leaves the
    // files as they were.
    safety.lock().unwrap_or_else(|p| p.into_inner())
}

/// Saves a store's safety state (see [`RocksStore::safety_saver`]).
#[derive(Clone)]
pub struct SafetySaver(Arc<Mutex<SafetyFile>>);

impl SafetySaver {
    /// Durable when it returns.
    pub fn save(&self, state: &SafetyState) -> Result<(), StoreError> {
        lock_safety(&self.0).write(&state.encode())
    }
}

impl RocksStore {
    /// Reads a batch's record from the log and decodes it with `decode`.
    /// A record lost in a crash before any commit synced it is forgotten,
    /// so that the batch is fetched again like any batch the node lacks.
    fn read_batch_record<T>(
        &self,
        digest: &Digest,
        decode_record: impl FnOnce(&[u8]) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let cf = self.cf(CF_BATCHES);
        let Some(bytes) = self.db.get_pinned_cf(cf, digest.0).map_err(backend)? else {
            return Ok(None);
        };
        let loc: RecordLocation = decode("batch location", &bytes)?;
        if loc.len as usize > MAX_MESSAGE_BYTES {
            return Err(StoreError::Corrupt {
                what: "batch location",
                detail: format!("record of {} bytes", loc.len),
            });
        }
        match self.batch_log.read(loc, decode_record)? {
            Some(record) => record.map(Some),
            None => {
                self.db.delete_cf(cf, digest.0).map_err(backend)?;
                Ok(None)
            }
        }
    }

    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        RocksStore::open_with_index_runs(path, TX_INDEX_RUN_ENTRIES)
    }

    /// `open` with runs of the transaction index written every
    /// `run_entries` entries (tests use small runs).
    pub fn open_with_index_runs(path: &Path, run_entries: usize) -> Result<RocksStore, StoreError> {
        let opts = db_options();
        let cfs = [
            CF_BLOCKS,
            CF_HEIGHTS,
            CF_TXS,
            CF_PENDING,
            CF_META,
            CF_BATCHES,
            CF_EVIDENCE,
            CF_UNCONFIRMED,
        ]
        .into_iter()
        .map(|name| {
            let mut cf = match name {
                CF_TXS => tx_index_options(),
                CF_BATCHES => point_lookup_options(),
                _ => Options::default(),
            };
            if name == CF_BLOCKS {
                cf.set_compression_type(rocksdb::DBCompressionType::Lz4);
            }
            ColumnFamilyDescriptor::new(name, cf)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(backend)?;
        let store = RocksStore {
            db: Arc::new(db),
            batch_log: Arc::new(BatchLog::open(&path.join(BATCH_LOG_DIR), SEGMENT_BYTES)?),
            dir: Arc::new(path.to_path_buf()),
            pending_index: Arc::new(Mutex::new(PendingTxIndex::new(run_entries))),
            unindexed: Arc::default(),
            safety: Arc::new(Mutex::new(SafetyFile::open(path)?)),
        };
        store.restore_pending_index()?;
        Ok(store)
    }

    fn safety_file(&self) -> MutexGuard<'_, SafetyFile> {
        lock_safety(&self.safety)
    }

    /// A handle that saves the safety state from another thread, so that
    /// a host can flush it to the disk while it signs what it guards
    /// (`Action::Yield`). It holds the safety files only, not the database.
    pub fn safety_saver(&self) -> SafetySaver {
        SafetySaver(self.safety.clone())
    }

    fn pending_index(&self) -> MutexGuard<'_, PendingTxIndex> {
        // A panic while holding the lock cannot leave the map half-updated
        // in a way later readers would misread: entries are whole values.
        self.pending_index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The record under `key` in `cf`, decoded, if there is one.
    fn get_decoded<T: Decode>(
        &self,
        cf: &str,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match self.db.get_pinned_cf(self.cf(cf), key).map_err(backend)? {
            Some(bytes) => Ok(Some(decode(what, &bytes)?)),
            None => Ok(None),
        }
    }

    fn indexed_through(&self) -> Result<Option<Height>, StoreError> {
        self.get_decoded(CF_META, KEY_INDEXED, "indexed height")
    }

    fn unindexed(&self) -> MutexGuard<'_, std::collections::BTreeSet<Height>> {
        self.unindexed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-derives the index entries of blocks committed after the last
    /// run (they were in memory when the node stopped) from the blocks and
    /// their stored batches. A height whose batch is missing is noted (see
    /// `missing_index_batches`), not fatal: failing here stopped the node
    /// at every restart.
    fn restore_pending_index(&self) -> Result<(), StoreError> {
        let Some((tip, _)) = self.committed_tip()? else {
            return Ok(());
        };
        let first = self.indexed_through()?.map_or(0, |h| h + 1);
        let mut unindexed = self.unindexed();
        let mut pending = self.pending_index();
        for height in first..=tip {
            let block = self.block_at(height)?.ok_or(StoreError::Corrupt {
                what: "height index",
                detail: format!("committed height {height} has no block"),
            })?;
            match block_tx_hashes(self, &block) {
                Ok(hashes) => pending.add(height, &hashes),
                Err(StoreError::MissingBatch(_)) => {
                    unindexed.insert(height);
                }
                Err(e) => return Err(e),
            }
        }
        if pending.run_due() && unindexed.is_empty() {
            self.write_index_run(&mut pending, tip)?;
        }
        Ok(())
    }

    /// The batches (digest, author) missing for the heights
    /// `restore_pending_index` could not index, for the host to fetch.
    pub fn missing_index_batches(&self) -> Result<Vec<(Digest, u32)>, StoreError> {
        let heights: Vec<Height> = self.unindexed().iter().copied().collect();
        let mut missing = Vec::new();
        for height in heights {
            if let Some(Block {
                payload: crate::types::Payload::Batches(refs),
                ..
            }) = self.block_at(height)?
            {
                for r in refs.iter() {
                    // Read, not only looked up: an index entry may outlive
                    // its record (the read then forgets it).
                    if self.batch_tx_hashes(&r.digest)?.is_none() {
                        missing.push((r.digest, r.author));
                    }
                }
            }
        }
        Ok(missing)
    }

    /// Indexes the heights whose batches have arrived since; returns how
    /// many are still waiting.
    pub fn index_missing(&self) -> Result<usize, StoreError> {
        let mut unindexed = self.unindexed();
        let mut pending = self.pending_index();
        let heights: Vec<Height> = unindexed.iter().copied().collect();
        for height in heights {
            let Some(block) = self.block_at(height)? else {
                continue;
            };
            match block_tx_hashes(self, &block) {
                Ok(hashes) => {
                    pending.add(height, &hashes);
                    unindexed.remove(&height);
                }
                Err(StoreError::MissingBatch(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(unindexed.len())
    }

    /// Writes the pending entries as one sorted table and hands it to
    /// RocksDB, then records the height the index is on disk through.
    fn write_index_run(
        &self,
        pending: &mut PendingTxIndex,
        through: Height,
    ) -> Result<(), StoreError> {
        let path = self.dir.join(RUN_FILE);
        let opts = tx_index_options();
        let mut writer = SstFileWriter::create(&opts);
        writer.open(&path).map_err(backend)?;
        for (tx, loc) in pending.sorted_run() {
            writer.put(tx.0, loc.encode()).map_err(backend)?;
        }
        writer.finish().map_err(backend)?;
        let mut ingest = IngestExternalFileOptions::default();
        ingest.set_move_files(true);
        self.db
            .ingest_external_file_cf_opts(self.cf(CF_TXS), &ingest, vec![&path])
            .map_err(backend)?;
        // Ingestion is durable when it returns; if the node stops before
        // this write, the restart re-adds the same entries.
        self.db
            .put_cf_opt(
                self.cf(CF_META),
                KEY_INDEXED,
                through.encode(),
                &Self::synced(),
            )
            .map_err(backend)?;
        pending.clear();
        Ok(())
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created when the database opens")
    }

    fn synced() -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        w
    }
}

/// A batch-log record's payload as the store reads it back: the batch's
/// transaction hashes, then the batch (the fuzzing entry point too).
pub fn decode_batch_record(bytes: &[u8]) -> Result<HashedBatch, StoreError> {
    let (hashes, batch) = decode::<(BoundedVec<Digest, MAX_BATCH_TXS>, Batch)>("batch", bytes)?;
    if hashes.len() != batch.transactions.len() {
        return Err(StoreError::Corrupt {
            what: "batch",
            detail: "transaction hash count differs from the batch".into(),
        });
    }
    Ok(HashedBatch::from_parts(batch, hashes.into_inner()))
}

impl Store for RocksStore {
    fn put_evidence(&mut self, evidence: &Evidence) -> Result<(), StoreError> {
        let cf = self.cf(CF_EVIDENCE);
        let kept = self
            .db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .take(super::MAX_EVIDENCE)
            .count();
        if kept >= super::MAX_EVIDENCE {
            return Ok(());
        }
        let key = Digest::of_encoding("strata/evidence", evidence);
        self.db
            .put_cf(cf, key.0, evidence.encode())
            .map_err(backend)
    }

    fn note_unconfirmed(&mut self, digest: &Digest) -> Result<(), StoreError> {
        self.db
            .put_cf(self.cf(CF_UNCONFIRMED), digest.0, [])
            .map_err(backend)
    }

    fn forget_unconfirmed(&mut self, digests: &[Digest]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for d in digests {
            batch.delete_cf(self.cf(CF_UNCONFIRMED), d.0);
        }
        self.db.write(batch).map_err(backend)
    }

    fn unconfirmed(&self) -> Result<Vec<Digest>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_UNCONFIRMED), rocksdb::IteratorMode::Start)
        {
            let (key, _) = item.map_err(backend)?;
            let d: [u8; 32] = key.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                what: "unconfirmed batches",
                detail: "key is not a digest".into(),
            })?;
            out.push(Digest(d));
        }
        Ok(out)
    }

    fn evidence(&self) -> Result<Vec<Evidence>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_EVIDENCE), rocksdb::IteratorMode::Start)
            .take(super::MAX_EVIDENCE)
        {
            let (_, bytes) = item.map_err(backend)?;
            out.push(decode("evidence", &bytes)?);
        }
        Ok(out)
    }

    fn put_block(&mut self, block: &Block) -> Result<(), StoreError> {
        let hash = block.hash();
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_BLOCKS), hash.0, block.encode());
        if self
            .committed_tip()?
            .is_none_or(|(tip, _)| block.header.height > tip)
        {
            batch.put_cf(
                self.cf(CF_PENDING),
                pending_key(block.header.height, &hash),
                [],
            );
        }
        self.db.write(batch).map_err(backend)
    }

    fn block(&self, hash: &Digest) -> Result<Option<Block>, StoreError> {
        self.get_decoded(CF_BLOCKS, &hash.0, "block")
    }

    fn put_batch(&mut self, batch: &HashedBatch) -> Result<(), StoreError> {
        // Hashes first: `batch_tx_hashes` decodes them and stops.
        let loc = self
            .batch_log
            .append(|buf| (batch.tx_hashes(), batch.batch()).encode_to(buf))?;
        self.db
            .put_cf(self.cf(CF_BATCHES), batch.digest().0, loc.encode())
            .map_err(backend)
    }

    fn batch(&self, digest: &Digest) -> Result<Option<HashedBatch>, StoreError> {
        self.read_batch_record(digest, decode_batch_record)
    }

    fn batch_tx_hashes(&self, digest: &Digest) -> Result<Option<Vec<Digest>>, StoreError> {
        self.read_batch_record(digest, |mut bytes| {
            <BoundedVec<Digest, MAX_BATCH_TXS>>::decode(&mut bytes)
                .map(BoundedVec::into_inner)
                .map_err(|e| StoreError::Corrupt {
                    what: "batch hashes",
                    detail: e.to_string(),
                })
        })
    }

    fn has_batch(&self, digest: &Digest) -> Result<bool, StoreError> {
        let cf = self.cf(CF_BATCHES);
        if !self.db.key_may_exist_cf(cf, digest.0) {
            return Ok(false);
        }
        Ok(self
            .db
            .get_pinned_cf(cf, digest.0)
            .map_err(backend)?
            .is_some())
    }

    fn commit_indexed(
        &mut self,
        blocks: &[Block],
        tx_hashes: &[Vec<Digest>],
    ) -> Result<(), StoreError> {
        let Some(last) = blocks.last() else {
            return Ok(());
        };
        check_commit(self.committed_tip()?, blocks, tx_hashes)?;
        // The committed blocks' batches reach the disk before the commit.
        self.batch_log.sync()?;
        let mut batch = WriteBatch::default();
        for b in blocks {
            let hash = b.hash();
            batch.put_cf(self.cf(CF_BLOCKS), hash.0, b.encode());
            batch.put_cf(self.cf(CF_HEIGHTS), b.header.height.to_be_bytes(), hash.0);
        }
        let tip = (last.header.height, last.hash());
        batch.put_cf(self.cf(CF_META), KEY_TIP, tip.encode());
        // Uncommitted entries at or below the new tip are settled.
        batch.delete_range_cf(
            self.cf(CF_PENDING),
            pending_key(0, &Digest::ZERO),
            pending_key(last.header.height + 1, &Digest::ZERO),
        );
        self.db.write_opt(batch, &Self::synced()).map_err(backend)?;
        let unindexed = self.unindexed();
        let mut pending = self.pending_index();
        for (b, hashes) in blocks.iter().zip(tx_hashes) {
            pending.add(b.header.height, hashes);
        }
        if pending.run_due() && unindexed.is_empty() {
            self.write_index_run(&mut pending, last.header.height)?;
        }
        Ok(())
    }

    fn block_at(&self, height: Height) -> Result<Option<Block>, StoreError> {
        match self
            .db
            .get_cf(self.cf(CF_HEIGHTS), height.to_be_bytes())
            .map_err(backend)?
        {
            Some(hash) => {
                let hash: [u8; 32] =
                    hash.as_slice()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt {
                            what: "height index",
                            detail: "hash is not 32 bytes".into(),
                        })?;
                self.block(&Digest(hash))
            }
            None => Ok(None),
        }
    }

    fn committed_tip(&self) -> Result<Option<(Height, Digest)>, StoreError> {
        self.get_decoded(CF_META, KEY_TIP, "committed tip")
    }

    fn tx_location(&self, tx: &Digest) -> Result<Option<TxLocation>, StoreError> {
        if let Some(loc) = self.pending_index().get(tx) {
            return Ok(Some(loc));
        }
        self.get_decoded(CF_TXS, &tx.0, "transaction index")
    }

    fn save_safety(&mut self, state: &SafetyState) -> Result<(), StoreError> {
        self.safety_file().write(&state.encode())
    }

    /// From the safety files; a store last written before they existed
    /// has its state in the `meta` column family.
    fn load_safety(&self) -> Result<Option<SafetyState>, StoreError> {
        match self.safety_file().newest()? {
            Some((_, _, bytes)) => decode("safety state", &bytes).map(Some),
            None => self.get_decoded(CF_META, KEY_SAFETY, "safety state"),
        }
    }

    fn uncommitted_blocks(&self) -> Result<Vec<Block>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_PENDING), rocksdb::IteratorMode::Start)
        {
            let (key, _) = item.map_err(backend)?;
            let hash: [u8; 32] =
                key.get(8..40)
                    .and_then(|k| k.try_into().ok())
                    .ok_or(StoreError::Corrupt {
                        what: "pending index",
                        detail: "key is not height ‖ hash".into(),
                    })?;
            if let Some(b) = self.block(&Digest(hash))? {
                out.push(b);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rocks_store_meets_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RocksStore::open(dir.path()).unwrap();
        super::super::contract::exercise(&mut store);
    }

    #[test]
    fn reopening_keeps_commits_safety_and_pending_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = super::super::contract::chain(5);
        {
            let mut store = RocksStore::open(dir.path()).unwrap();
            for b in &blocks {
                store.put_block(b).unwrap();
            }
            store.commit(&blocks[..3]).unwrap();
            let s = SafetyState::fresh(crate::types::ChainId::GLOBAL, 0, blocks[0].hash());
            store.save_safety(&s).unwrap();
        }
        let store = RocksStore::open(dir.path()).unwrap();
        assert_eq!(store.committed_tip().unwrap(), Some((2, blocks[2].hash())));
        assert_eq!(store.uncommitted_blocks().unwrap(), blocks[3..].to_vec());
        assert!(store.load_safety().unwrap().is_some());
        let tx_free = store.block_at(2).unwrap().unwrap();
        assert_eq!(tx_free, blocks[2]);
    }

    /// `n` blocks above the genesis, each with one batch of `per_block`
    /// opaque transactions.
    fn batched_chain(n: u64, per_block: usize) -> (Vec<Block>, Vec<HashedBatch>) {
        use crate::types::{ChainId, Payload, Transaction};
        use strata_crypto::codec::BoundedBytes;
        let mut blocks = super::super::contract::chain(1);
        let mut batches = Vec::new();
        for h in 1..=n {
            let txs: Vec<Transaction> = (0..per_block)
                .map(|i| {
                    Transaction::Opaque(
                        BoundedBytes::new(format!("tx-{h}-{i}").into_bytes()).unwrap(),
                    )
                })
                .collect();
            let batch = Batch {
                chain: ChainId::GLOBAL,
                author: 0,
                sequence: h,
                transactions: BoundedVec::new(txs).unwrap(),
            }
            .hashed();
            let parent = blocks.last().unwrap();
            let mut b: Block = parent.clone();
            b.header.height = h;
            b.header.parent = parent.hash();
            b.payload = Payload::Batches(BoundedVec::new(vec![batch.reference()]).unwrap());
            blocks.push(b);
            batches.push(batch);
        }
        (blocks, batches)
    }

    #[test]
    fn the_transaction_index_is_found_in_memory_in_runs_and_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let (blocks, batches) = batched_chain(3, 3);
        let located = |store: &RocksStore| {
            for (h, batch) in (1..).zip(&batches) {
                for (i, tx) in (0..).zip(batch.tx_hashes()) {
                    assert_eq!(
                        store.tx_location(tx).unwrap(),
                        Some(TxLocation {
                            height: h,
                            index: i
                        }),
                        "transaction {i} of height {h}"
                    );
                }
            }
            assert_eq!(store.tx_location(&Digest::ZERO).unwrap(), None);
        };
        {
            let mut store = RocksStore::open_with_index_runs(dir.path(), 4).unwrap();
            for batch in &batches {
                store.put_batch(batch).unwrap();
            }
            for b in &blocks {
                store.commit(std::slice::from_ref(b)).unwrap();
            }
            // Heights 1 and 2 reached four entries: they went to disk as a
            // run; height 3's are in memory.
            assert_eq!(store.indexed_through().unwrap(), Some(2));
            assert_eq!(store.pending_index().len(), 3);
            assert!(!dir.path().join(RUN_FILE).exists(), "RocksDB took the run");
            located(&store);
        }
        let store = RocksStore::open_with_index_runs(dir.path(), 4).unwrap();
        assert_eq!(store.pending_index().len(), 3, "rebuilt from height 3");
        located(&store);
    }

    #[test]
    fn a_batch_lost_from_the_log_is_reported_missing_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let (_, batches) = batched_chain(2, 2);
        {
            let mut store = RocksStore::open(dir.path()).unwrap();
            for b in &batches {
                store.put_batch(b).unwrap();
            }
        }
        // A crash kept the index entries but only the first record.
        let segment = dir.path().join(BATCH_LOG_DIR).join("00000000.seg");
        let bytes = std::fs::read(&segment).unwrap();
        std::fs::write(&segment, &bytes[..bytes.len() - 1]).unwrap();
        let store = RocksStore::open(dir.path()).unwrap();
        assert_eq!(
            store.batch(&batches[0].digest()).unwrap().as_ref(),
            Some(&batches[0])
        );
        assert_eq!(
            store
                .batch_tx_hashes(&batches[0].digest())
                .unwrap()
                .as_deref(),
            Some(batches[0].tx_hashes())
        );
        assert!(store.has_batch(&batches[1].digest()).unwrap());
        assert_eq!(store.batch_tx_hashes(&batches[1].digest()).unwrap(), None);
        assert!(!store.has_batch(&batches[1].digest()).unwrap());
        // Written again (fetched), then lost again: the full read forgets
        // it too.
        let mut store = store;
        store.put_batch(&batches[1]).unwrap();
        let segment = dir.path().join(BATCH_LOG_DIR).join("00000001.seg");
        let bytes = std::fs::read(&segment).unwrap();
        std::fs::write(&segment, &bytes[..bytes.len() - 1]).unwrap();
        assert!(store.has_batch(&batches[1].digest()).unwrap());
        assert_eq!(store.batch(&batches[1].digest()).unwrap(), None);
        assert!(
            !store.has_batch(&batches[1].digest()).unwrap(),
            "so that the node fetches it again"
        );
    }

    #[test]
    fn the_safety_state_moves_from_the_meta_column_to_its_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = Digest([7; 32]);
        let mut legacy = SafetyState::fresh(crate::types::ChainId::GLOBAL, 0, genesis);
        legacy.last_voted = crate::types::Round::new(3, 0);
        {
            let store = RocksStore::open(dir.path()).unwrap();
            store
                .db
                .put_cf(store.cf(CF_META), KEY_SAFETY, legacy.encode())
                .unwrap();
            assert_eq!(store.load_safety().unwrap(), Some(legacy.clone()));
        }
        let mut newer = legacy.clone();
        newer.last_voted = crate::types::Round::new(4, 0);
        {
            let mut store = RocksStore::open(dir.path()).unwrap();
            assert_eq!(store.load_safety().unwrap(), Some(legacy));
            store.save_safety(&newer).unwrap();
            assert_eq!(store.load_safety().unwrap(), Some(newer.clone()));
        }
        let store = RocksStore::open(dir.path()).unwrap();
        assert_eq!(store.load_safety().unwrap(), Some(newer));
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path()).unwrap();
        store
            .db
            .put_cf(store.cf(CF_META), KEY_SAFETY, b"\\x01garbage")
            .unwrap();
        assert!(matches!(
            store.load_safety(),
            Err(StoreError::Corrupt { .. })
        ));
        store
            .db
            .put_cf(store.cf(CF_HEIGHTS), 5u64.to_be_bytes(), b"short")
            .unwrap();
        assert!(matches!(store.block_at(5), Err(StoreError::Corrupt { .. })));
    }
}
