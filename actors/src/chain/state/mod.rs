//! The application state a chain's committed blocks build (docs/design.md §6),
//! in RocksDB: the authenticated state the executor reads and writes
//! (`strata_chains::execution`; object heads and nonce windows, in the
//! state tree of `tree.rs`, one version per height, with its root per
//! height), each object's full history and the refusals as plain indexes
//! for queries, and per-block bookkeeping.
//!
//! Applying a block is deterministic, so every member reaches the same
//! state root; the applied height is stored with each block's writes, so a
//! restarted node replays exactly the blocks it had not applied. A state
//! directory of an earlier format (before the state tree) is rebuilt from
//! the committed blocks: it is removed and replayed from genesis.

mod tree;

use std::path::Path;
use std::sync::Arc;

use parity_scale_codec::Encode;
use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use strata_chains::auth::{self, StateProof};
use strata_chains::execution::{self, BlockRef, ChainContext, GenesisState, StateView};
use strata_chains::store::{db_options, per_transaction_index, point_lookup_options};
use strata_chains::types::{ChainId, Height, Transaction};
use strata_crypto::codec::decode_message;
use strata_crypto::hash::{Digest, Hasher};

pub use strata_chains::execution::{HistoryEntry, StateError};

fn backend(e: rocksdb::Error) -> StateError {
    StateError::Backend(e.to_string())
}

/// What applying a block did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub accepted: usize,
    pub refused: Vec<(Digest, String)>,
    /// The state root after the block.
    pub root: Digest,
}

const CF_OBJECTS: &str = "objects";
const CF_REFUSED: &str = "refused";
const CF_BATCHES: &str = "executed_batches";
const CF_META: &str = "meta";
const KEY_APPLIED: &[u8] = b"applied";
const KEY_TX_COUNT: &[u8] = b"tx_count";
const KEY_FORMAT: &[u8] = b"format";
/// Format 3: object heads with holder and life, block hashes and
/// committees in the tree (issue 25). Format 2: the state tree (issue 24).
/// Format 1 kept nonces per record.
const FORMAT: u64 = 3;

fn root_key(height: Height) -> [u8; 9] {
    let mut k = [b'r'; 9];
    k[1..].copy_from_slice(&height.to_be_bytes());
    k
}

fn unlogged() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.disable_wal(true);
    w
}

fn tree_error(e: auth::TreeError) -> StateError {
    StateError::Backend(e.to_string())
}

fn commit_time_key(height: Height) -> [u8; 9] {
    let mut k = [b't'; 9];
    k[1..].copy_from_slice(&height.to_be_bytes());
    k
}

/// The executed state of one chain.
#[derive(Clone)]
pub struct StateStore {
    db: Arc<DB>,
    chain: ChainId,
    domains: u32,
}

fn object_key_prefix(object: &[u8]) -> Vec<u8> {
    // Length-prefixed so no object's keys are a prefix of another's.
    let mut k = (object.len() as u16).to_be_bytes().to_vec();
    k.extend_from_slice(object);
    k
}

impl StateStore {
    /// Opens (or creates, at `genesis`) a chain's state. A state of an
    /// earlier format is rebuilt from the committed blocks.
    pub fn open(
        path: &Path,
        chain: ChainId,
        domains: u32,
        genesis: &GenesisState,
    ) -> Result<StateStore, StateError> {
        let store = StateStore::open_any(path, chain, domains, genesis)?;
        if store.meta_u64(KEY_FORMAT)? == FORMAT {
            return Ok(store);
        }
        tracing::warn!(path = %path.display(), "the state has an earlier format: rebuilding it from the committed blocks");
        drop(store);
        std::fs::remove_dir_all(path).map_err(|e| StateError::Backend(e.to_string()))?;
        StateStore::open_any(path, chain, domains, genesis)
    }

    fn open_any(
        path: &Path,
        chain: ChainId,
        domains: u32,
        genesis: &GenesisState,
    ) -> Result<StateStore, StateError> {
        let mut opts = db_options();
        // Written without the write-ahead log (see `finish`): the column
        // families flush together, so what survives a crash is a prefix
        // of whole blocks, which the replay completes.
        opts.set_atomic_flush(true);
        if let Ok(existing) = DB::list_cf(&opts, path) {
            if existing.iter().any(|cf| cf == "nonces") {
                tracing::warn!(path = %path.display(), "the state has an earlier format: rebuilding it from the committed blocks");
                std::fs::remove_dir_all(path).map_err(|e| StateError::Backend(e.to_string()))?;
            }
        }
        let cfs = [
            CF_OBJECTS,
            CF_REFUSED,
            CF_BATCHES,
            CF_META,
            tree::CF_LATEST,
            tree::CF_NODES,
            tree::CF_VALUES,
            tree::CF_STALE,
        ]
        .into_iter()
        .map(|n| {
            let mut cf = match n {
                CF_REFUSED | CF_BATCHES | tree::CF_LATEST | tree::CF_NODES => {
                    point_lookup_options()
                }
                _ => Options::default(),
            };
            if n == CF_OBJECTS || n == tree::CF_LATEST || n == tree::CF_VALUES {
                per_transaction_index(&mut cf);
            }
            ColumnFamilyDescriptor::new(n, cf)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(backend)?;
        let store = StateStore {
            db: Arc::new(db),
            chain,
            domains,
        };
        if store.root_at(0)?.is_none() {
            store.write_genesis(genesis)?;
        }
        Ok(store)
    }

    /// Version 0 of the state tree: the genesis state.
    fn write_genesis(&self, genesis: &GenesisState) -> Result<(), StateError> {
        let updates = genesis.updates();
        let reader = tree::RocksTree { db: &self.db };
        let (root, update) = auth::update(&reader, 0, &updates).map_err(tree_error)?;
        let mut batch = WriteBatch::default();
        reader
            .write(&mut batch, 0, &update, &updates)
            .map_err(tree_error)?;
        batch.put_cf(self.cf(CF_META), root_key(0), root.0);
        batch.put_cf(self.cf(CF_META), KEY_FORMAT, FORMAT.to_be_bytes());
        self.db.write_opt(batch, &unlogged()).map_err(backend)
    }

    /// The state root after `height`, if executed here.
    pub fn root_at(&self, height: Height) -> Result<Option<Digest>, StateError> {
        match self
            .db
            .get_cf(self.cf(CF_META), root_key(height))
            .map_err(backend)?
        {
            Some(b) => Ok(Some(Digest(b.as_slice().try_into().map_err(|_| {
                StateError::Corrupt(format!("state root of height {height}"))
            })?))),
            None => Ok(None),
        }
    }

    /// `key`'s value in the state after `height`, with its proof against
    /// that height's root (heights older than the retained versions are
    /// pruned).
    pub fn prove(&self, key: &[u8], height: Height) -> Result<StateProof, StateError> {
        let applied = self.applied_height()?;
        if height > applied || height.saturating_add(tree::RETAINED_VERSIONS) <= applied {
            return Err(StateError::Backend(format!(
                "the state after height {height} is not kept here (executed up to {applied})"
            )));
        }
        auth::prove(&tree::RocksTree { db: &self.db }, key, height).map_err(tree_error)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }

    fn meta_u64(&self, key: &[u8]) -> Result<u64, StateError> {
        let value = self.db.get_cf(self.cf(CF_META), key).map_err(backend)?;
        decode_meta_u64(key, value)
    }

    pub fn applied_height(&self) -> Result<Height, StateError> {
        self.meta_u64(KEY_APPLIED)
    }

    /// The state as of now, fixed: every read of the snapshot sees the
    /// same executed height whatever the ledger writes meanwhile. A reader
    /// of several keys that must agree (an epoch's seat: its committee,
    /// its DKG result, the applied height) reads one; on the live state it
    /// can read one key before a block and the next after it (found: a
    /// restarted member read the committee of a threshold epoch just
    /// before the block that writes its group key and the DKG result just
    /// after, served the epoch without the key and never followed it).
    pub fn snapshot(&self) -> StateSnapshot<'_> {
        StateSnapshot {
            store: self,
            snapshot: self.db.snapshot(),
        }
    }

    /// When this node committed the block at `height` (Unix ms).
    pub fn commit_time(&self, height: Height) -> Result<Option<u64>, StateError> {
        match self
            .db
            .get_cf(self.cf(CF_META), commit_time_key(height))
            .map_err(backend)?
        {
            Some(b) => Ok(Some(u64::from_be_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| StateError::Corrupt("commit time".into()))?,
            ))),
            None => Ok(None),
        }
    }

    /// Transactions executed (not refused) since genesis.
    pub fn executed_transactions(&self) -> Result<u64, StateError> {
        self.meta_u64(KEY_TX_COUNT)
    }

    pub fn nonce_used(&self, sender: &[u8; 32], nonce: u64) -> Result<bool, StateError> {
        execution::nonce_used(self, sender, nonce)
    }

    pub fn batch_executed(&self, batch: &Digest) -> Result<bool, StateError> {
        Ok(self
            .db
            .get_cf(self.cf(CF_BATCHES), batch.0)
            .map_err(backend)?
            .is_some())
    }

    /// Why the executor refused a committed transaction, if it did.
    pub fn refusal(&self, tx: &Digest) -> Result<Option<String>, StateError> {
        Ok(self
            .db
            .get_cf(self.cf(CF_REFUSED), tx.0)
            .map_err(backend)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// An object's history, oldest first, at most `limit` entries.
    pub fn history(&self, object: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StateError> {
        let prefix = object_key_prefix(object);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(
            self.cf(CF_OBJECTS),
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            let (k, v) = item.map_err(backend)?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            out.push(decode_message(&v, 1 << 20).map_err(|e| StateError::Corrupt(e.to_string()))?);
        }
        Ok(out)
    }

    /// Applies one committed block's transactions (`batches`: the digests
    /// of the batches they came from, executed at most once each).
    /// `committed_at_ms`: when this node committed the block (Unix ms).
    /// Applies a committed block's transactions (`hashes[i]` is the hash
    /// of `txs[i]`) and marks `batches` executed.
    pub fn apply(
        &self,
        block: BlockRef,
        committed_at_ms: u64,
        txs: &[Transaction],
        hashes: &[Digest],
        batches: &[Digest],
        repeated: &std::collections::BTreeSet<Digest>,
    ) -> Result<Applied, StateError> {
        let ctx = ChainContext {
            chain: self.chain,
            domains: self.domains,
        };
        let height = block.height;
        let writes = execution::apply(self, ctx, block, txs, hashes)?;
        let mut batch = WriteBatch::default();
        // Keys in order (`apply` sorts them): the memtable's skip list
        // then finds each insert position from the previous one.
        for (object, index, entry) in &writes.histories {
            let mut key = object_key_prefix(object);
            key.extend_from_slice(&height.to_be_bytes());
            key.extend_from_slice(&index.to_be_bytes());
            batch.put_cf(self.cf(CF_OBJECTS), key, entry.encode());
        }
        // A transaction listed again keeps its first verdict (`repeated`:
        // the ledger's first-location rule).
        for (tx, reason) in writes.refused.iter().filter(|(t, _)| !repeated.contains(t)) {
            batch.put_cf(self.cf(CF_REFUSED), tx.0, reason.as_bytes());
        }
        let root = self.write_tree(&mut batch, height, &writes.state)?;
        let accepted = usize::try_from(writes.accepted).unwrap_or(usize::MAX);
        self.finish(batch, height, committed_at_ms, accepted, batches)?;
        Ok(Applied {
            accepted,
            refused: writes.refused,
            root,
        })
    }

    /// `apply` for a chain whose transactions are ordered but never
    /// executed (opaque payloads): the block's `count` transactions are
    /// counted and its batches marked executed, without reading them.
    pub fn apply_ordered(
        &self,
        block: BlockRef,
        committed_at_ms: u64,
        count: usize,
        batches: &[Digest],
    ) -> Result<Applied, StateError> {
        let height = block.height;
        let writes = execution::apply_ordered(block, count as u64);
        let mut batch = WriteBatch::default();
        let root = self.write_tree(&mut batch, height, &writes.state)?;
        self.finish(batch, height, committed_at_ms, count, batches)?;
        Ok(Applied {
            accepted: count,
            refused: Vec::new(),
            root,
        })
    }

    /// Adds the state tree at `height` (the tree at `height - 1` and
    /// `updates`) and its root to `batch`; returns the root.
    fn write_tree(
        &self,
        batch: &mut WriteBatch,
        height: Height,
        updates: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Digest, StateError> {
        let applied = self.applied_height()?;
        if applied.checked_add(1) != Some(height) {
            // The tree has one version per height, each from the one before.
            return Err(StateError::Backend(format!(
                "height {height} executed after {applied}"
            )));
        }
        let reader = tree::RocksTree { db: &self.db };
        let (root, update) = auth::update(&reader, height, updates).map_err(tree_error)?;
        reader
            .write(batch, height, &update, updates)
            .map_err(tree_error)?;
        batch.put_cf(self.cf(CF_META), root_key(height), root.0);
        Ok(root)
    }

    /// Adds what every executed block records (its batches, the applied
    /// height, the transaction count, the commit time) and writes it all.
    fn finish(
        &self,
        mut batch: WriteBatch,
        height: Height,
        committed_at_ms: u64,
        accepted: usize,
        batches: &[Digest],
    ) -> Result<(), StateError> {
        for b in batches {
            batch.put_cf(self.cf(CF_BATCHES), b.0, []);
        }
        batch.put_cf(self.cf(CF_META), KEY_APPLIED, height.to_be_bytes());
        let executed = self.executed_transactions()? + accepted as u64;
        batch.put_cf(self.cf(CF_META), KEY_TX_COUNT, executed.to_be_bytes());
        batch.put_cf(
            self.cf(CF_META),
            commit_time_key(height),
            committed_at_ms.to_be_bytes(),
        );
        // Not logged: the state is rebuilt from the consensus store's synced
        // commits. Without a write-ahead log a crash keeps what was flushed
        // (atomically across the column families, see `open`): a prefix of
        // whole blocks, from the applied height on which the ledger replays
        // the rest at start. The log cost a copy of every tree node written.
        self.db.write_opt(batch, &unlogged()).map_err(backend)
    }
}

/// A short id of an object for logs.
pub fn object_label(object: &[u8]) -> String {
    let mut h = Hasher::new("strata/label");
    h.update(object);
    h.finalize().to_hex()[..8].to_string()
}

/// A fixed view of a chain's state ([`StateStore::snapshot`]).
pub struct StateSnapshot<'a> {
    store: &'a StateStore,
    snapshot: rocksdb::Snapshot<'a>,
}

impl StateSnapshot<'_> {
    pub fn applied_height(&self) -> Result<Height, StateError> {
        let value = self
            .snapshot
            .get_cf(self.store.cf(CF_META), KEY_APPLIED)
            .map_err(backend)?;
        decode_meta_u64(KEY_APPLIED, value)
    }
}

/// A counter of the meta column family (0 when absent).
fn decode_meta_u64(key: &[u8], value: Option<Vec<u8>>) -> Result<u64, StateError> {
    match value {
        Some(b) => Ok(u64::from_be_bytes(b.as_slice().try_into().map_err(
            |_| StateError::Corrupt(format!("meta {}", String::from_utf8_lossy(key))),
        )?)),
        None => Ok(0),
    }
}

impl StateView for StateSnapshot<'_> {
    fn value(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.snapshot
            .get_cf(self.store.cf(tree::CF_LATEST), key)
            .map_err(backend)
    }
}

impl StateView for StateStore {
    fn value(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.db
            .get_cf(self.cf(tree::CF_LATEST), key)
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_chains::execution::ObjectHead;
    use strata_chains::types::{domain_of, GLOBAL_DOMAIN};
    use strata_crypto::sr25519::TxKeypair;

    /// An update, or a create for nonce 1 (the object's first record).
    fn record(key: &TxKeypair, object: &str, nonce: u64, domain: u32) -> Transaction {
        let mut p = strata_chains::test_support::record(key, domain, object.as_bytes(), nonce);
        if nonce == 1 {
            p.op = strata_chains::types::Op::Create;
        }
        Transaction::Provenance(p.sign(key))
    }

    fn at(height: Height) -> BlockRef {
        BlockRef::bare(height, Digest::of("test/block", &height.to_le_bytes()))
    }

    fn object_in(domain: u32, domains: u32) -> String {
        (0..)
            .map(|i| format!("obj-{i}"))
            .find(|o| domain_of(o.as_bytes(), domains) == domain)
            .unwrap()
    }

    /// A snapshot keeps reading the state it was taken at while the
    /// ledger executes further blocks: the applied height and every key
    /// agree (a seat read across a block's write once mixed two heights).
    #[test]
    fn a_snapshot_reads_one_height_while_blocks_are_executed() {
        use strata_chains::execution::object_key;
        let dir = tempfile::tempdir().unwrap();
        let key = TxKeypair::from_seed(&[3; 32]);
        let obj = object_in(0, 1);
        let s = StateStore::open(
            dir.path(),
            ChainId::local(0),
            1,
            &GenesisState::bare(Digest::ZERO),
        )
        .unwrap();
        let apply = |height: Height, nonce: u64| {
            let txs = [record(&key, &obj, nonce, 0)];
            let hashes: Vec<Digest> = txs.iter().map(|t| t.hash()).collect();
            let a = s
                .apply(at(height), 1_000, &txs, &hashes, &[], &Default::default())
                .unwrap();
            assert_eq!(a.accepted, 1);
        };
        apply(1, 1);
        let head = || s.value(&object_key(obj.as_bytes())).unwrap().unwrap();
        let at_one = head();
        let snapshot = s.snapshot();
        apply(2, 2);
        assert_eq!(s.applied_height().unwrap(), 2);
        assert_ne!(head(), at_one, "the live state moved on");
        assert_eq!(snapshot.applied_height().unwrap(), 1);
        assert_eq!(
            snapshot.value(&object_key(obj.as_bytes())).unwrap(),
            Some(at_one)
        );
        drop(snapshot);
        assert_eq!(s.snapshot().applied_height().unwrap(), 2);
    }

    #[test]
    fn history_nonces_domains_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let key = TxKeypair::from_seed(&[1; 32]);
        let obj = object_in(0, 2);
        let other = object_in(1, 2);
        {
            let s = StateStore::open(
                dir.path(),
                ChainId::local(0),
                2,
                &GenesisState::bare(Digest::ZERO),
            )
            .unwrap();
            let txs = vec![
                record(&key, &obj, 1, 0),
                record(&key, &obj, 2, 0),
                record(&key, &obj, 2, 0),   // replay within the block
                record(&key, &other, 3, 0), // object of domain 1
                record(&key, &obj, 4, GLOBAL_DOMAIN),
            ];
            let hashes: Vec<Digest> = txs.iter().map(|t| t.hash()).collect();
            assert!(s
                .apply(at(1), 1_000, &txs, &hashes[..4], &[], &Default::default())
                .is_err());
            let a = s
                .apply(
                    at(1),
                    1_000,
                    &txs,
                    &hashes,
                    &[Digest::of("b", b"1")],
                    &Default::default(),
                )
                .unwrap();
            assert_eq!(a.accepted, 2);
            assert_eq!(
                a.refused.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
                vec!["replayed nonce", "wrong domain", "wrong domain"]
            );
            assert_eq!(
                s.refusal(&txs[2].hash()).unwrap().as_deref(),
                Some("replayed nonce")
            );
            let txs = [record(&key, &obj, 1, 0), record(&key, &obj, 0, 0)];
            let hashes: Vec<Digest> = txs.iter().map(|t| t.hash()).collect();
            let a = s
                .apply(at(2), 2_000, &txs, &hashes, &[], &Default::default())
                .unwrap();
            assert_eq!(
                a.refused.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
                vec!["replayed nonce"],
                "nonce 1 is spent"
            );
            assert_eq!(
                a.accepted, 1,
                "an unused lower nonce is fine: records may commit out of order"
            );
        }
        let s = StateStore::open(
            dir.path(),
            ChainId::local(0),
            2,
            &GenesisState::bare(Digest::ZERO),
        )
        .unwrap();
        assert_eq!(s.applied_height().unwrap(), 2);
        let sender = key.public().to_bytes();
        assert!(s.nonce_used(&sender, 2).unwrap() && s.nonce_used(&sender, 0).unwrap());
        assert!(
            !s.nonce_used(&sender, 3).unwrap(),
            "refused records spend no nonce"
        );
        assert_eq!(s.executed_transactions().unwrap(), 3);
        assert_eq!(s.commit_time(2).unwrap(), Some(2_000));
        assert_eq!(s.commit_time(3).unwrap(), None);
        let h = s.history(obj.as_bytes(), 10).unwrap();
        assert_eq!(h.iter().map(|e| e.nonce).collect::<Vec<_>>(), vec![1, 2, 0]);
        assert!(s.batch_executed(&Digest::of("b", b"1")).unwrap());
        assert!(s.history(b"nothing", 10).unwrap().is_empty());

        // An ordered-only block (opaque chain): counted, its batches marked,
        // its commit time kept, no records read.
        let b2 = Digest::of("b", b"2");
        let a = s.apply_ordered(at(3), 3_000, 40, &[b2]).unwrap();
        assert_eq!((a.accepted, a.refused.len()), (40, 0));
        assert_eq!(s.applied_height().unwrap(), 3);
        assert_eq!(s.executed_transactions().unwrap(), 43);
        assert_eq!(s.commit_time(3).unwrap(), Some(3_000));
        assert!(s.batch_executed(&b2).unwrap());

        // The state tree: a root per height (an ordered-only block records
        // only its hash), and proofs of the object's head and of a nonce window
        // that verify against their height's root only.
        let roots: Vec<Digest> = (0..=3).map(|h| s.root_at(h).unwrap().unwrap()).collect();
        assert_eq!(roots[0], GenesisState::bare(Digest::ZERO).root());
        assert_ne!(roots[1], roots[2]);
        assert_ne!(roots[2], roots[3]);
        let block3 = s.prove(&strata_chains::execution::block_key(3), 3).unwrap();
        assert_eq!(block3.value, Some(at(3).hash.0.to_vec()));
        block3.verify(&roots[3]).unwrap();
        let head_key = strata_chains::execution::object_key(obj.as_bytes());
        let proof = s.prove(&head_key, 3).unwrap();
        proof.verify(&roots[3]).unwrap();
        assert!(proof.verify(&roots[1]).is_err());
        let head: ObjectHead =
            parity_scale_codec::Decode::decode(&mut &proof.value.clone().unwrap()[..]).unwrap();
        assert_eq!(head, ObjectHead::of_history(&h));
        let absent = s
            .prove(&strata_chains::execution::object_key(b"nothing"), 3)
            .unwrap();
        assert_eq!(absent.value, None);
        absent.verify(&roots[3]).unwrap();
        assert!(s.prove(&head_key, 4).is_err(), "not executed yet");
    }
}
