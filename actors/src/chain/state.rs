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

use parity_scale_codec::{Decode, Encode};
use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use serde::Serialize;
use strata_chains::store::{db_options, per_transaction_index, point_lookup_options};
use strata_chains::types::{ChainId, Height, Op, Transaction};
use strata_crypto::codec::decode_message;
use strata_crypto::hash::{Digest, Hasher};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state storage: {0}")]
    Backend(String),
    #[error("stored state does not decode: {0}")]
    Corrupt(String),
}

fn backend(e: rocksdb::Error) -> StateError {
    StateError::Backend(e.to_string())
}

/// One event in an object's history.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct HistoryEntry {
    #[serde(serialize_with = "hex_digest")]
    pub tx: Digest,
    pub height: Height,
    pub index: u32,
    #[serde(serialize_with = "op_name")]
    pub op: Op,
    #[serde(serialize_with = "hex_digest")]
    pub payload_digest: Digest,
    #[serde(serialize_with = "utf8_list")]
    pub parents: Vec<Vec<u8>>,
    #[serde(serialize_with = "hex_bytes")]
    pub sender: [u8; 32],
    pub nonce: u64,
    pub timestamp_ms: u64,
}

fn hex_digest<S: serde::Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_hex())
}

fn hex_bytes<S: serde::Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}

fn op_name<S: serde::Serializer>(op: &Op, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match op {
        Op::Create => "create",
        Op::Read => "read",
        Op::Update => "update",
        Op::Transfer => "transfer",
        Op::Derive => "derive",
        Op::Delete => "delete",
    })
}

fn utf8_list<S: serde::Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for p in v {
        seq.serialize_element(&String::from_utf8_lossy(p))?;
    }
    seq.end()
}

/// What applying a block did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub accepted: usize,
    pub refused: Vec<(Digest, &'static str)>,
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

fn nonce_key(sender: &[u8; 32], nonce: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(sender);
    k[32..].copy_from_slice(&nonce.to_be_bytes());
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
        if txs.len() != hashes.len() {
            return Err(StateError::Backend(format!(
                "{} transactions with {} hashes",
                txs.len(),
                hashes.len()
            )));
        }
        let mut batch = WriteBatch::default();
        let mut applied = Applied::default();
        let mut nonces: std::collections::HashSet<[u8; 40]> = std::collections::HashSet::new();
        let mut histories: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (index, (tx, &hash)) in txs.iter().zip(hashes).enumerate() {
            let verdict = match tx {
                Transaction::Provenance(p) => {
                    let r = &p.record;
                    let sender = r.sender.to_bytes();
                    let key = nonce_key(&sender, r.nonce);
                    if r.home_chain(self.domains) != Some(self.chain) {
                        Err("wrong domain")
                    } else if nonces.contains(&key) || self.nonce_used(&sender, r.nonce)? {
                        Err("replayed nonce")
                    } else {
                        nonces.insert(key);
                        let entry = HistoryEntry {
                            tx: hash,
                            height,
                            index: index as u32,
                            op: r.op,
                            payload_digest: r.payload_digest,
                            parents: r.parents.iter().map(|p| p.to_vec()).collect(),
                            sender,
                            nonce: r.nonce,
                            timestamp_ms: r.timestamp_ms,
                        };
                        let mut key = object_key_prefix(&r.object_id);
                        key.extend_from_slice(&height.to_be_bytes());
                        key.extend_from_slice(&(index as u32).to_be_bytes());
                        histories.push((key, entry.encode()));
                        Ok(())
                    }
                }
                Transaction::Opaque(_) | Transaction::System(_) => Ok(()),
            };
            match verdict {
                Ok(()) => applied.accepted += 1,
                Err(reason) => {
                    batch.put_cf(self.cf(CF_REFUSED), hash.0, reason.as_bytes());
                    applied.refused.push((hash, reason));
                }
            }
        }
        // Written in key order: the memtable's skip list then finds each
        // insert position from the previous one instead of from the top.
        histories.sort_unstable();
        for (key, entry) in histories {
            batch.put_cf(self.cf(CF_OBJECTS), key, entry);
        }
        let mut nonces: Vec<[u8; 40]> = nonces.into_iter().collect();
        nonces.sort_unstable();
        for key in nonces {
            batch.put_cf(self.cf(CF_NONCES), key, []);
        }
        self.finish(batch, height, committed_at_ms, applied.accepted, batches)?;
        Ok(applied)
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

#[cfg(test)]
mod tests {
    use super::*;
    use strata_chains::types::{domain_of, MetaEntry, ObjectId, Provenance, GLOBAL_DOMAIN};
    use strata_crypto::codec::BoundedVec;
    use strata_crypto::sr25519::TxKeypair;

    fn record(key: &TxKeypair, object: &str, nonce: u64, domain: u32) -> Transaction {
        Transaction::Provenance(
            Provenance {
                network: Digest::ZERO,
                domain,
                object_id: ObjectId::new(object.as_bytes().to_vec()).unwrap(),
                op: Op::Update,
                payload_digest: Digest::of("p", &nonce.to_le_bytes()),
                parents: BoundedVec::empty(),
                meta: BoundedVec::<MetaEntry, 16>::empty(),
                sender: key.public(),
                nonce,
                timestamp_ms: nonce,
            }
            .sign(key),
        )
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
                a.refused.iter().map(|r| r.1).collect::<Vec<_>>(),
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
                a.refused.iter().map(|r| r.1).collect::<Vec<_>>(),
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
