//! RocksDB store: one database per chain, column families for blocks, the
//! height index, the transaction index, uncommitted blocks and the safety
//! state (DESIGN.md §7).

use std::path::Path;

use parity_scale_codec::{Decode, Encode};
use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};
use strata_crypto::codec::{decode_message, BoundedVec};
use strata_crypto::hash::Digest;

use super::{check_commit, Store, StoreError, TxLocation};
use crate::consensus::SafetyState;
use crate::types::limits::MAX_BATCH_TXS;
use crate::types::limits::MAX_MESSAGE_BYTES;
use crate::types::{Batch, Block, HashedBatch, Height};

const CF_BLOCKS: &str = "blocks";
const CF_HEIGHTS: &str = "heights";
const CF_TXS: &str = "txs";
const CF_PENDING: &str = "pending";
const CF_META: &str = "meta";
const CF_BATCHES: &str = "batches";
const KEY_SAFETY: &[u8] = b"safety";
const KEY_TIP: &[u8] = b"tip";

/// Cheap to clone: clones share one database (RocksDB is thread-safe).
#[derive(Clone)]
pub struct RocksStore {
    db: std::sync::Arc<DB>,
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

/// Database options shared by a node's stores.
pub fn db_options() -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts
}

impl RocksStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        let opts = db_options();
        let cfs = [
            CF_BLOCKS, CF_HEIGHTS, CF_TXS, CF_PENDING, CF_META, CF_BATCHES,
        ]
        .into_iter()
        .map(|name| {
            let mut cf = if name == CF_TXS || name == CF_BATCHES {
                point_lookup_options()
            } else {
                Options::default()
            };
            if name == CF_BLOCKS || name == CF_BATCHES {
                cf.set_compression_type(rocksdb::DBCompressionType::Lz4);
            }
            if name == CF_TXS {
                per_transaction_index(&mut cf);
            }
            ColumnFamilyDescriptor::new(name, cf)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(backend)?;
        Ok(RocksStore {
            db: std::sync::Arc::new(db),
        })
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

impl Store for RocksStore {
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
        match self
            .db
            .get_cf(self.cf(CF_BLOCKS), hash.0)
            .map_err(backend)?
        {
            Some(bytes) => Ok(Some(decode("block", &bytes)?)),
            None => Ok(None),
        }
    }

    fn put_batch(&mut self, batch: &HashedBatch) -> Result<(), StoreError> {
        let record = (batch.batch(), batch.tx_hashes()).encode();
        self.db
            .put_cf(self.cf(CF_BATCHES), batch.digest().0, record)
            .map_err(backend)
    }

    fn batch(&self, digest: &Digest) -> Result<Option<HashedBatch>, StoreError> {
        let Some(bytes) = self
            .db
            .get_pinned_cf(self.cf(CF_BATCHES), digest.0)
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let (batch, hashes): (Batch, BoundedVec<Digest, MAX_BATCH_TXS>) = decode("batch", &bytes)?;
        if hashes.len() != batch.transactions.len() {
            return Err(StoreError::Corrupt {
                what: "batch",
                detail: "transaction hash count differs from the batch".into(),
            });
        }
        Ok(Some(HashedBatch::from_parts(batch, hashes.into_inner())))
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
        let mut batch = WriteBatch::default();
        for (b, hashes) in blocks.iter().zip(tx_hashes) {
            let hash = b.hash();
            batch.put_cf(self.cf(CF_BLOCKS), hash.0, b.encode());
            batch.put_cf(self.cf(CF_HEIGHTS), b.header.height.to_be_bytes(), hash.0);
            // In key order, so that each memtable insert starts from the
            // previous one's position (hashes are random keys).
            let mut index: Vec<(&Digest, u32)> = hashes.iter().zip(0u32..).collect();
            index.sort_unstable();
            for (tx, i) in index {
                let loc = TxLocation {
                    height: b.header.height,
                    index: i,
                };
                batch.put_cf(self.cf(CF_TXS), tx.0, loc.encode());
            }
        }
        let tip = (last.header.height, last.hash());
        batch.put_cf(self.cf(CF_META), KEY_TIP, tip.encode());
        // Uncommitted entries at or below the new tip are settled.
        batch.delete_range_cf(
            self.cf(CF_PENDING),
            pending_key(0, &Digest::ZERO),
            pending_key(last.header.height + 1, &Digest::ZERO),
        );
        self.db.write_opt(batch, &Self::synced()).map_err(backend)
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
        match self.db.get_cf(self.cf(CF_META), KEY_TIP).map_err(backend)? {
            Some(bytes) => Ok(Some(decode("committed tip", &bytes)?)),
            None => Ok(None),
        }
    }

    fn tx_location(&self, tx: &Digest) -> Result<Option<TxLocation>, StoreError> {
        match self.db.get_cf(self.cf(CF_TXS), tx.0).map_err(backend)? {
            Some(bytes) => Ok(Some(decode("transaction index", &bytes)?)),
            None => Ok(None),
        }
    }

    fn save_safety(&mut self, state: &SafetyState) -> Result<(), StoreError> {
        self.db
            .put_cf_opt(
                self.cf(CF_META),
                KEY_SAFETY,
                state.encode(),
                &Self::synced(),
            )
            .map_err(backend)
    }

    fn load_safety(&self) -> Result<Option<SafetyState>, StoreError> {
        match self
            .db
            .get_cf(self.cf(CF_META), KEY_SAFETY)
            .map_err(backend)?
        {
            Some(bytes) => Ok(Some(decode("safety state", &bytes)?)),
            None => Ok(None),
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
