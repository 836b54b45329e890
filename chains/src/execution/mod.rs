//! The executor (DESIGN.md §2, §6): applying a committed block to a chain's
//! state is a pure function of the state before and the block's
//! transactions. `apply` reads the state through [`StateView`] and returns
//! what to write ([`Writes`]) and the state digest after the block; it does
//! no I/O. A node writes the result to RocksDB (`strata_actors`'s state
//! store); the simulator keeps it in a [`MemState`] on every node and
//! checks that all honest nodes reach the same digest at every height.
//!
//! The state: each object's history, each sender's used nonces, the
//! transactions refused and why, the count executed. A nonce may be used
//! once per sender, in any order: a client's records travel in batches
//! from several nodes and may commit out of submission order, so requiring
//! increasing nonces would refuse honest records.
//!
//! The digest chains each block's writes onto the previous digest: equal
//! digests mean equal histories of writes. It is not yet an authenticated
//! map with proofs per key (issue 24, point 2).

mod mem;

pub use mem::MemState;

use std::collections::BTreeSet;

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use strata_crypto::hash::{Digest, Hasher};

use crate::types::{ChainId, Height, Op, Transaction};

/// Why the state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state storage: {0}")]
    Backend(String),
    #[error("stored state does not decode: {0}")]
    Corrupt(String),
}

/// What the executor reads of the state before a block.
pub trait StateView {
    fn nonce_used(&self, sender: &[u8; 32], nonce: u64) -> Result<bool, StateError>;
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

/// A sender's nonce as a key: sender then nonce, big-endian (so a sender's
/// nonces sort together).
pub fn nonce_key(sender: &[u8; 32], nonce: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(sender);
    k[32..].copy_from_slice(&nonce.to_be_bytes());
    k
}

/// Which chain a state belongs to, and how many edge domains there are
/// (a record belongs to the chain its object's domain names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainContext {
    pub chain: ChainId,
    pub domains: u32,
}

/// What applying a block writes, in a canonical order (sorted keys), and
/// what it decided per transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode)]
pub struct Writes {
    pub height: Height,
    /// Nonces used, sorted.
    pub nonces: Vec<[u8; 40]>,
    /// (object id, index in the block, entry), sorted by object then index.
    pub histories: Vec<(Vec<u8>, u32, HistoryEntry)>,
    /// Transactions refused, in block order, with the reason.
    pub refused: Vec<(Digest, String)>,
    /// Transactions executed.
    pub accepted: u64,
}

/// Applies a committed block's transactions (`hashes[i]` is the hash of
/// `txs[i]`) to the state `view` shows; returns the writes. Pure.
pub fn apply(
    view: &dyn StateView,
    ctx: ChainContext,
    height: Height,
    txs: &[Transaction],
    hashes: &[Digest],
) -> Result<Writes, StateError> {
    if txs.len() != hashes.len() {
        return Err(StateError::Backend(format!(
            "{} transactions with {} hashes",
            txs.len(),
            hashes.len()
        )));
    }
    let mut writes = Writes {
        height,
        ..Writes::default()
    };
    let mut nonces = BTreeSet::new();
    for (index, (tx, &hash)) in (0u32..).zip(txs.iter().zip(hashes)) {
        let verdict = match tx {
            Transaction::Provenance(p) => {
                let r = &p.record;
                let sender = r.sender.to_bytes();
                let key = nonce_key(&sender, r.nonce);
                if r.home_chain(ctx.domains) != Some(ctx.chain) {
                    Err("wrong domain")
                } else if nonces.contains(&key) || view.nonce_used(&sender, r.nonce)? {
                    Err("replayed nonce")
                } else {
                    nonces.insert(key);
                    let entry = HistoryEntry {
                        tx: hash,
                        height,
                        index,
                        op: r.op,
                        payload_digest: r.payload_digest,
                        parents: r.parents.iter().map(|p| p.to_vec()).collect(),
                        sender,
                        nonce: r.nonce,
                        timestamp_ms: r.timestamp_ms,
                    };
                    writes.histories.push((r.object_id.to_vec(), index, entry));
                    Ok(())
                }
            }
            Transaction::Opaque(_) | Transaction::System(_) => Ok(()),
        };
        match verdict {
            Ok(()) => writes.accepted += 1,
            Err(reason) => writes.refused.push((hash, reason.to_string())),
        }
    }
    writes
        .histories
        .sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    writes.nonces = nonces.into_iter().collect();
    Ok(writes)
}

/// A block of `count` transactions ordered but never executed (opaque
/// payloads): only counted.
pub fn apply_ordered(height: Height, count: u64) -> Writes {
    Writes {
        height,
        accepted: count,
        ..Writes::default()
    }
}

/// The state digest after `writes`, from the digest before them.
pub fn next_state_digest(before: &Digest, writes: &Writes) -> Digest {
    let mut h = Hasher::new("strata/state-digest");
    h.update(&before.0);
    h.update(&writes.encode());
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::signed_record;
    use crate::types::{chain_of_domain, domain_of};
    use strata_crypto::sr25519::TxKeypair;

    fn record(key: &TxKeypair, object: &str, nonce: u64, domains: u32) -> Transaction {
        let domain = domain_of(object.as_bytes(), domains);
        signed_record(key, domain, object.as_bytes(), nonce)
    }

    #[test]
    fn the_same_blocks_give_the_same_writes_and_digests_and_replays_are_refused() {
        let key = TxKeypair::from_seed(&[8; 32]);
        let domains = 1;
        let ctx = ChainContext {
            chain: chain_of_domain(0),
            domains,
        };
        let block1: Vec<Transaction> = (0..4)
            .map(|n| record(&key, &format!("o{}", n % 2), n, domains))
            .collect();
        // A replay of nonce 1, a fresh nonce, a replay inside the block.
        let block2 = vec![
            record(&key, "o1", 1, domains),
            record(&key, "o1", 9, domains),
            record(&key, "o0", 9, domains),
        ];
        let run = || {
            let mut state = MemState::new(ctx);
            for (h, txs) in [(1, &block1), (2, &block2)] {
                let hashes: Vec<Digest> = txs.iter().map(Transaction::hash).collect();
                state.execute(h, txs, &hashes).unwrap();
            }
            state
        };
        let (a, b) = (run(), run());
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.executed(), 5);
        assert_eq!(a.history(b"o1").len(), 3);
        assert_eq!(a.refused().len(), 2);
        assert!(a.refused().iter().all(|(_, why)| why == "replayed nonce"));
        // A different order of the same records is a different state.
        let mut c = MemState::new(ctx);
        let swapped: Vec<Transaction> = block1.iter().rev().cloned().collect();
        let hashes: Vec<Digest> = swapped.iter().map(Transaction::hash).collect();
        c.execute(1, &swapped, &hashes).unwrap();
        let mut d = MemState::new(ctx);
        let hashes: Vec<Digest> = block1.iter().map(Transaction::hash).collect();
        d.execute(1, &block1, &hashes).unwrap();
        assert_ne!(c.digest(), d.digest());
    }

    #[test]
    fn records_of_another_chain_are_refused() {
        let key = TxKeypair::from_seed(&[8; 32]);
        let ctx = ChainContext {
            chain: crate::types::ChainId::GLOBAL,
            domains: 2,
        };
        let txs = vec![record(&key, "o1", 1, 2)];
        let hashes: Vec<Digest> = txs.iter().map(Transaction::hash).collect();
        let w = apply(&MemState::new(ctx), ctx, 1, &txs, &hashes).unwrap();
        assert_eq!(w.accepted, 0);
        assert_eq!(w.refused[0].1, "wrong domain");
    }
}
