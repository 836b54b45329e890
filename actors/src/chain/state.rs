//! The application state a chain's committed blocks build (DESIGN.md §6):
//! each object's history, each sender's used nonces, and the transactions the
//! executor refused.
//!
//! A nonce may be used once per sender, in any order: a client's records
//! travel in batches from several nodes and may commit out of submission
//! order, so requiring increasing nonces would refuse honest records. Applying a block is deterministic, so every member
//! reaches the same state; the applied height is stored with each block's
//! writes, so a restarted node replays exactly the blocks it had not
//! applied.

use std::path::Path;
use std::sync::Arc;

use parity_scale_codec::Encode;
use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use strata_chains::execution::{self, nonce_key, ChainContext, StateView};
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
}

const CF_OBJECTS: &str = "objects";
const CF_NONCES: &str = "nonces";
const CF_REFUSED: &str = "refused";
const CF_BATCHES: &str = "executed_batches";
const CF_META: &str = "meta";
const KEY_APPLIED: &[u8] = b"applied";
const KEY_TX_COUNT: &[u8] = b"tx_count";

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
    pub fn open(path: &Path, chain: ChainId, domains: u32) -> Result<StateStore, StateError> {
        let opts = db_options();
        let cfs = [CF_OBJECTS, CF_NONCES, CF_REFUSED, CF_BATCHES, CF_META]
            .into_iter()
            .map(|n| {
                let mut cf = match n {
                    CF_NONCES | CF_REFUSED | CF_BATCHES => point_lookup_options(),
                    _ => Options::default(),
                };
                if n == CF_NONCES || n == CF_OBJECTS {
                    per_transaction_index(&mut cf);
                }
                ColumnFamilyDescriptor::new(n, cf)
            });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(backend)?;
        Ok(StateStore {
            db: Arc::new(db),
            chain,
            domains,
        })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }

    fn meta_u64(&self, key: &[u8]) -> Result<u64, StateError> {
        match self.db.get_cf(self.cf(CF_META), key).map_err(backend)? {
            Some(b) => Ok(u64::from_be_bytes(b.as_slice().try_into().map_err(
                |_| StateError::Corrupt(format!("meta {}", String::from_utf8_lossy(key))),
            )?)),
            None => Ok(0),
        }
    }

    pub fn applied_height(&self) -> Result<Height, StateError> {
        self.meta_u64(KEY_APPLIED)
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
        Ok(self
            .db
            .get_cf(self.cf(CF_NONCES), nonce_key(sender, nonce))
            .map_err(backend)?
            .is_some())
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
        height: Height,
        committed_at_ms: u64,
        txs: &[Transaction],
        hashes: &[Digest],
        batches: &[Digest],
    ) -> Result<Applied, StateError> {
        let ctx = ChainContext {
            chain: self.chain,
            domains: self.domains,
        };
        let writes = execution::apply(self, ctx, height, txs, hashes)?;
        let mut batch = WriteBatch::default();
        // Keys in order (`apply` sorts them): the memtable's skip list
        // then finds each insert position from the previous one.
        for (object, index, entry) in &writes.histories {
            let mut key = object_key_prefix(object);
            key.extend_from_slice(&height.to_be_bytes());
            key.extend_from_slice(&index.to_be_bytes());
            batch.put_cf(self.cf(CF_OBJECTS), key, entry.encode());
        }
        for key in &writes.nonces {
            batch.put_cf(self.cf(CF_NONCES), key, []);
        }
        for (tx, reason) in &writes.refused {
            batch.put_cf(self.cf(CF_REFUSED), tx.0, reason.as_bytes());
        }
        let accepted = usize::try_from(writes.accepted).unwrap_or(usize::MAX);
        self.finish(batch, height, committed_at_ms, accepted, batches)?;
        Ok(Applied {
            accepted,
            refused: writes.refused,
        })
    }

    /// `apply` for a chain whose transactions are ordered but never
    /// executed (opaque payloads): the block's `count` transactions are
    /// counted and its batches marked executed, without reading them.
    pub fn apply_ordered(
        &self,
        height: Height,
        committed_at_ms: u64,
        count: usize,
        batches: &[Digest],
    ) -> Result<Applied, StateError> {
        self.finish(
            WriteBatch::default(),
            height,
            committed_at_ms,
            count,
            batches,
        )?;
        Ok(Applied {
            accepted: count,
            refused: Vec::new(),
        })
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
        // Not synced: the state is rebuilt from the consensus store's synced
        // commits, and RocksDB's log keeps writes in order, so after a power
        // loss the state is a prefix that the replay completes.
        self.db
            .write_opt(batch, &WriteOptions::default())
            .map_err(backend)
    }
}

/// A short id of an object for logs.
pub fn object_label(object: &[u8]) -> String {
    let mut h = Hasher::new("strata/label");
    h.update(object);
    h.finalize().to_hex()[..8].to_string()
}

impl StateView for StateStore {
    fn nonce_used(&self, sender: &[u8; 32], nonce: u64) -> Result<bool, StateError> {
        StateStore::nonce_used(self, sender, nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_chains::test_support::signed_record;
    use strata_chains::types::{domain_of, GLOBAL_DOMAIN};
    use strata_crypto::sr25519::TxKeypair;

    fn record(key: &TxKeypair, object: &str, nonce: u64, domain: u32) -> Transaction {
        signed_record(key, domain, object.as_bytes(), nonce)
    }

    fn object_in(domain: u32, domains: u32) -> String {
        (0..)
            .map(|i| format!("obj-{i}"))
            .find(|o| domain_of(o.as_bytes(), domains) == domain)
            .unwrap()
    }

    #[test]
    fn history_nonces_domains_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let key = TxKeypair::from_seed(&[1; 32]);
        let obj = object_in(0, 2);
        let other = object_in(1, 2);
        {
            let s = StateStore::open(dir.path(), ChainId::local(0), 2).unwrap();
            let txs = vec![
                record(&key, &obj, 1, 0),
                record(&key, &obj, 2, 0),
                record(&key, &obj, 2, 0),   // replay within the block
                record(&key, &other, 3, 0), // object of domain 1
                record(&key, &obj, 4, GLOBAL_DOMAIN),
            ];
            let hashes: Vec<Digest> = txs.iter().map(|t| t.hash()).collect();
            assert!(s.apply(5, 1_000, &txs, &hashes[..4], &[]).is_err());
            let a = s
                .apply(5, 1_000, &txs, &hashes, &[Digest::of("b", b"1")])
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
            let a = s.apply(6, 2_000, &txs, &hashes, &[]).unwrap();
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
        let s = StateStore::open(dir.path(), ChainId::local(0), 2).unwrap();
        assert_eq!(s.applied_height().unwrap(), 6);
        let sender = key.public().to_bytes();
        assert!(s.nonce_used(&sender, 2).unwrap() && s.nonce_used(&sender, 0).unwrap());
        assert!(
            !s.nonce_used(&sender, 3).unwrap(),
            "refused records spend no nonce"
        );
        assert_eq!(s.executed_transactions().unwrap(), 3);
        assert_eq!(s.commit_time(6).unwrap(), Some(2_000));
        assert_eq!(s.commit_time(7).unwrap(), None);
        let h = s.history(obj.as_bytes(), 10).unwrap();
        assert_eq!(h.iter().map(|e| e.nonce).collect::<Vec<_>>(), vec![1, 2, 0]);
        assert!(s.batch_executed(&Digest::of("b", b"1")).unwrap());
        assert!(s.history(b"nothing", 10).unwrap().is_empty());

        // An ordered-only block (opaque chain): counted, its batches marked,
        // its commit time kept, no records read.
        let b2 = Digest::of("b", b"2");
        let a = s.apply_ordered(7, 3_000, 40, &[b2]).unwrap();
        assert_eq!((a.accepted, a.refused.len()), (40, 0));
        assert_eq!(s.applied_height().unwrap(), 7);
        assert_eq!(s.executed_transactions().unwrap(), 43);
        assert_eq!(s.commit_time(7).unwrap(), Some(3_000));
        assert!(s.batch_executed(&b2).unwrap());
    }
}
