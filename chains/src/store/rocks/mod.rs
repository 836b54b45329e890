//! RocksDB store: one database per chain, column families for blocks, the
//! height index, the transaction index and uncommitted blocks (docs/design.md
//! §7); the safety state in its own files beside it (`safety_file`), and
//! batches in two batch logs: the staging log, where every batch the node
//! stores is appended, and the archive, where the batches of committed
//! blocks move when the staging log is collected (`batch_gc`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use parity_scale_codec::{Decode, Encode};
use rocksdb::{
    ColumnFamilyDescriptor, IngestExternalFileOptions, Options, SstFileWriter, WriteBatch,
    WriteOptions, DB,
};
use strata_crypto::codec::{decode_message, BoundedVec};
use strata_crypto::hash::Digest;

use super::batch_log::{BatchLog, BatchPlace, SEGMENT_BYTES};
use super::safety_file::SafetyFile;
use super::tx_index::PendingTxIndex;
use super::{block_tx_hashes, check_commit, Store, StoreError, TxLocation};
use crate::consensus::SafetyState;
use crate::types::limits::MAX_BATCH_TXS;
use crate::types::limits::MAX_MESSAGE_BYTES;
use crate::types::{
    Batch, Block, CommitteeHandoff, Epoch, EpochChange, Evidence, HashedBatch, Height,
};

const CF_BLOCKS: &str = "blocks";
const CF_HEIGHTS: &str = "heights";
const CF_TXS: &str = "txs";
const CF_PENDING: &str = "pending";
const CF_META: &str = "meta";
pub(super) const CF_BATCHES: &str = "batches";
/// Proofs of misbehaviour, by the digest of their encoding.
const CF_EVIDENCE: &str = "evidence";
/// Batches this node sealed that have not committed yet (keys only).
const CF_UNCONFIRMED: &str = "unconfirmed";
/// Batches referenced by a committed block: digest → the first height.
const CF_COMMITTED_BATCHES: &str = "committed-batches";
const KEY_SAFETY: &[u8] = b"safety";

/// An epoch's end proof, in `meta`.
fn handoff_key(epoch: Epoch) -> Vec<u8> {
    let mut k = b"handoff/".to_vec();
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

fn epoch_change_key(epoch: Epoch) -> Vec<u8> {
    let mut k = b"epoch-change/".to_vec();
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}
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
/// The staging batch log's directory, inside the database's.
const BATCH_LOG_DIR: &str = "batch-log";
/// The archive's directory: batches of committed blocks.
const ARCHIVE_DIR: &str = "batch-archive";
/// The height through which committed blocks' batches are marked in
/// `CF_COMMITTED_BATCHES` (stores written before the mark existed are
/// marked when they open).
pub(super) const KEY_MARKED: &[u8] = b"batches-marked";

/// How a store is laid out; the defaults are what nodes use.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// Entries per sorted run of the transaction index.
    pub index_run_entries: usize,
    /// A batch log starts a new segment past this many bytes; the staging
    /// log is collected a segment at a time.
    pub segment_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            index_run_entries: TX_INDEX_RUN_ENTRIES,
            segment_bytes: SEGMENT_BYTES,
        }
    }
}

/// Cheap to clone: clones share one database (RocksDB is thread-safe), the
/// batch logs and the transaction index's pending entries. Batches live in
/// the logs (`batch_log`); the `batches` column family maps each digest to
/// its record's place (`BatchPlace`).
#[derive(Clone)]
pub struct RocksStore {
    pub(super) db: Arc<DB>,
    pub(super) staging: Arc<BatchLog>,
    pub(super) archive: Arc<BatchLog>,
    /// Held while the batch entries are checked and rewritten by the
    /// collector, and while anything else writes what it checks (a batch's
    /// entry, a block, a commit): its decisions are never stale.
    pub(super) gc_lock: Arc<Mutex<()>>,
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

/// Commits between flushes of the uncommitted-block index. Each commit
/// leaves a range tombstone there; the column family is so small that its
/// memtable never flushes on its own, and an iterator over thousands of
/// tombstones in a memtable took 0.3-0.8 s (a node starting an epoch's core
/// read it at every boundary, and the boundary waited).
const PENDING_COMPACTION_EVERY: Height = 256;

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
        decode_record: impl Fn(&[u8]) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let Some(mut place) = self.batch_place(digest)? else {
            return Ok(None);
        };
        // The collector may move the record between reading its entry and
        // reading it: then the entry names the new place. A move deletes
        // the old segment only after the entry is rewritten, so three
        // tries need three collections within one read.
        for _ in 0..3 {
            let (log, loc) = match place {
                BatchPlace::Staged(loc) => (&self.staging, loc),
                BatchPlace::Archived(loc) => (&self.archive, loc),
            };
            if loc.len as usize > MAX_MESSAGE_BYTES {
                return Err(StoreError::Corrupt {
                    what: "batch location",
                    detail: format!("record of {} bytes", loc.len),
                });
            }
            if let Some(record) = log.read(loc, &decode_record)? {
                return record.map(Some);
            }
            let _gc = self.gc_guard();
            match self.batch_place(digest)? {
                Some(now) if now != place => place = now,
                Some(_) => {
                    self.db
                        .delete_cf(self.cf(CF_BATCHES), digest.0)
                        .map_err(backend)?;
                    return Ok(None);
                }
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        RocksStore::open_with(path, StoreOptions::default())
    }

    /// `open` with runs of the transaction index written every
    /// `run_entries` entries (tests use small runs).
    pub fn open_with_index_runs(path: &Path, run_entries: usize) -> Result<RocksStore, StoreError> {
        let options = StoreOptions {
            index_run_entries: run_entries,
            ..StoreOptions::default()
        };
        RocksStore::open_with(path, options)
    }

    /// `open` with the given layout.
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<RocksStore, StoreError> {
        let run_entries = options.index_run_entries;
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
            CF_COMMITTED_BATCHES,
        ]
        .into_iter()
        .map(|name| {
            let mut cf = match name {
                CF_TXS => tx_index_options(),
                CF_BATCHES | CF_COMMITTED_BATCHES => point_lookup_options(),
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
            staging: Arc::new(BatchLog::open(
                &path.join(BATCH_LOG_DIR),
                options.segment_bytes,
            )?),
            archive: Arc::new(BatchLog::open(
                &path.join(ARCHIVE_DIR),
                options.segment_bytes,
            )?),
            gc_lock: Arc::default(),
            dir: Arc::new(path.to_path_buf()),
            pending_index: Arc::new(Mutex::new(PendingTxIndex::new(run_entries))),
            unindexed: Arc::default(),
            safety: Arc::new(Mutex::new(SafetyFile::open(path)?)),
        };
        store.mark_committed_batches()?;
        store.restore_pending_index()?;
        Ok(store)
    }

    /// Marks the batches of committed blocks above the mark (all of them
    /// in a store written before marks existed, none after a clean stop:
    /// each commit marks its own).
    fn mark_committed_batches(&self) -> Result<(), StoreError> {
        let Some((tip, _)) = self.committed_tip()? else {
            return Ok(());
        };
        let marked: Option<Height> = self.get_decoded(CF_META, KEY_MARKED, "marked height")?;
        let first = marked.map_or(0, |h| h.saturating_add(1));
        let mut batch = WriteBatch::default();
        for height in first..=tip {
            if let Some(block) = self.block_at(height)? {
                self.mark_batches(&mut batch, &block);
            }
        }
        batch.put_cf(self.cf(CF_META), KEY_MARKED, tip.encode());
        self.db.write_opt(batch, &Self::synced()).map_err(backend)
    }

    /// Adds to `batch` the marks of `block`'s batches as committed.
    fn mark_batches(&self, batch: &mut WriteBatch, block: &Block) {
        if let crate::types::Payload::Batches(refs) = &block.payload {
            for r in refs.iter() {
                batch.put_cf(
                    self.cf(CF_COMMITTED_BATCHES),
                    r.digest.0,
                    block.header.height.encode(),
                );
            }
        }
    }

    /// Whether a block committed at some height references the batch.
    pub(super) fn batch_committed(&self, digest: &Digest) -> Result<bool, StoreError> {
        self.has_key(CF_COMMITTED_BATCHES, digest)
    }

    /// Whether `cf` has the key, asking its bloom filters first (most
    /// lookups of batches are for ones not there).
    fn has_key(&self, cf: &str, digest: &Digest) -> Result<bool, StoreError> {
        let cf = self.cf(cf);
        if !self.db.key_may_exist_cf(cf, digest.0) {
            return Ok(false);
        }
        Ok(self
            .db
            .get_pinned_cf(cf, digest.0)
            .map_err(backend)?
            .is_some())
    }

    /// Where a batch's record is, per its entry.
    pub(super) fn batch_place(&self, digest: &Digest) -> Result<Option<BatchPlace>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_BATCHES), digest.0)
            .map_err(backend)?
        {
            Some(bytes) => BatchPlace::decode_entry(&bytes).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn gc_guard(&self) -> MutexGuard<'_, ()> {
        // Guards no data of its own.
        self.gc_lock.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Moves the uncommitted-block index's range tombstones (one per
    /// commit, `PENDING_COMPACTION_EVERY`) out of its memtable into a
    /// table file, where reads skip them cheaply and RocksDB's own
    /// compactions drop them. Scheduled, not awaited: a flush and manual
    /// compaction on the commit path waited for the database's running
    /// compactions, and every node of a chain stalled at the same heights
    /// (multiples of 256) for 0.3-4.8 s under testnet load on two cores,
    /// the largest commit gaps the chains had.
    fn flush_pending(&self) -> Result<(), StoreError> {
        let mut flush = rocksdb::FlushOptions::default();
        flush.set_wait(false);
        self.db
            .flush_cf_opt(self.cf(CF_PENDING), &flush)
            .map_err(backend)
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
            match self.first_listing_hashes(&pending, &block) {
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

    /// `block`'s transaction hashes for the index, as the ledger gave them
    /// at commit: a transaction listed before — earlier in the block (a
    /// batch listed again, or another batch carrying it), or with a
    /// location below it (it executed there) — keeps that first location
    /// (`NOT_INDEXED`). Without this a node restarted after a batch was
    /// proposed twice answered the later block for its records and the
    /// others the first (tests/netns.rs).
    fn first_listing_hashes(
        &self,
        pending: &PendingTxIndex,
        block: &Block,
    ) -> Result<Vec<Digest>, StoreError> {
        let crate::types::Payload::Batches(refs) = &block.payload else {
            return block_tx_hashes(self, block);
        };
        let height = block.header.height;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for r in refs.iter() {
            let hashes = self
                .batch_tx_hashes(&r.digest)?
                .ok_or(StoreError::MissingBatch(r.digest))?;
            for h in hashes {
                let loc = match pending.get(&h) {
                    Some(loc) => Some(loc),
                    None => self.get_decoded::<TxLocation>(CF_TXS, &h.0, "transaction index")?,
                };
                let earlier = loc.is_some_and(|l| l.height < height);
                out.push(if earlier || !seen.insert(h) {
                    super::NOT_INDEXED
                } else {
                    h
                });
            }
        }
        Ok(out)
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
            match self.first_listing_hashes(&pending, &block) {
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

    pub(super) fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created when the database opens")
    }

    pub(super) fn synced() -> WriteOptions {
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
    Ok(HashedBatch::from_stored_record(batch, hashes.into_inner()))
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
        // The collector keeps the batches of uncommitted blocks.
        let _gc = self.gc_guard();
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
        let digest = batch.digest();
        // An archived batch is durable already: storing it again would
        // put a committed batch back in the staging log.
        if let Some(BatchPlace::Archived(_)) = self.batch_place(&digest)? {
            return Ok(());
        }
        // Hashes first: `batch_tx_hashes` decodes them and stops.
        let loc = self
            .staging
            .append(|buf| (batch.tx_hashes(), batch.batch()).encode_to(buf))?;
        let _gc = self.gc_guard();
        self.db
            .put_cf(
                self.cf(CF_BATCHES),
                digest.0,
                BatchPlace::Staged(loc).encode(),
            )
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
        self.has_key(CF_BATCHES, digest)
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
        self.staging.sync()?;
        let mut batch = WriteBatch::default();
        for b in blocks {
            let hash = b.hash();
            batch.put_cf(self.cf(CF_BLOCKS), hash.0, b.encode());
            batch.put_cf(self.cf(CF_HEIGHTS), b.header.height.to_be_bytes(), hash.0);
            self.mark_batches(&mut batch, b);
        }
        let tip = (last.header.height, last.hash());
        batch.put_cf(self.cf(CF_META), KEY_TIP, tip.encode());
        batch.put_cf(self.cf(CF_META), KEY_MARKED, last.header.height.encode());
        // Uncommitted entries at or below the new tip are settled.
        batch.delete_range_cf(
            self.cf(CF_PENDING),
            pending_key(0, &Digest::ZERO),
            pending_key(last.header.height + 1, &Digest::ZERO),
        );
        {
            let _gc = self.gc_guard();
            self.db.write_opt(batch, &Self::synced()).map_err(backend)?;
        }
        let unindexed = self.unindexed();
        let mut pending = self.pending_index();
        for (b, hashes) in blocks.iter().zip(tx_hashes) {
            pending.add(b.header.height, hashes);
        }
        if pending.run_due() && unindexed.is_empty() {
            self.write_index_run(&mut pending, last.header.height)?;
        }
        drop((pending, unindexed));
        if blocks
            .iter()
            .any(|b| b.header.height % PENDING_COMPACTION_EVERY == 0)
        {
            self.flush_pending()?;
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

    fn put_epoch_change(&mut self, change: &EpochChange) -> Result<(), StoreError> {
        self.db
            .put_cf_opt(
                self.cf(CF_META),
                epoch_change_key(change.epoch),
                change.encode(),
                &Self::synced(),
            )
            .map_err(backend)
    }

    fn epoch_change(&self, epoch: Epoch) -> Result<Option<EpochChange>, StoreError> {
        self.get_decoded(CF_META, &epoch_change_key(epoch), "epoch change")
    }

    fn put_handoff(&mut self, handoff: &CommitteeHandoff) -> Result<(), StoreError> {
        self.db
            .put_cf_opt(
                self.cf(CF_META),
                handoff_key(handoff.change.epoch),
                handoff.encode(),
                &Self::synced(),
            )
            .map_err(backend)
    }

    fn handoff(&self, ending: Epoch) -> Result<Option<CommitteeHandoff>, StoreError> {
        self.get_decoded(CF_META, &handoff_key(ending), "committee handoff")
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
        // From above the tip: every commit leaves a range tombstone over the
        // entries it settled, and an iterator from the start walks through
        // all of them (up to 0.8 s at a boundary after 2,000 commits under load).
        let above = self
            .committed_tip()?
            .map_or(0, |(h, _)| h.saturating_add(1));
        let from = pending_key(above, &Digest::ZERO);
        for item in self.db.iterator_cf(
            self.cf(CF_PENDING),
            rocksdb::IteratorMode::From(&from, rocksdb::Direction::Forward),
        ) {
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
mod tests;
