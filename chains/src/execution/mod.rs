//! The executor (DESIGN.md §2, §6): applying a committed block to a chain's
//! state is a pure function of the state before and the block's
//! transactions. `apply` reads the state through [`StateView`] and returns
//! what to write ([`Writes`]); it does no I/O. The authenticated part of the
//! writes goes into the state tree (`crate::auth`), whose root after each
//! height is the state root headers commit to. A node writes the result to
//! RocksDB (`strata_actors`'s state store); the simulator keeps it in a
//! [`MemState`] on every node and checks that all honest nodes reach the
//! same root at every height.
//!
//! The authenticated state, by key:
//! - `genesis/config`: the genesis configuration's digest (version 0);
//! - `object/<id>`: an [`ObjectHead`]: how many records the object has,
//!   the last one, and a hash chain over its whole history, so a proof of
//!   the head proves the history a node serves;
//! - `nonces/<sender><window>`: a 256-bit map of the sender's used nonces
//!   `window * 256 ..` (one leaf per 256 nonces, not one per record).
//!
//! A nonce may be used once per sender, in any order: a client's records
//! travel in batches from several nodes and may commit out of submission
//! order, so requiring increasing nonces would refuse honest records.
//! Besides the tree, a node keeps each object's full history and the
//! refusals as plain indexes for queries (`Writes::histories`, `refused`).

mod mem;
mod system;

pub use mem::MemState;

use std::collections::BTreeMap;

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

/// What the executor reads of the state before a block: a key's latest
/// value in the authenticated state.
pub trait StateView {
    fn value(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
}

/// Nonces per leaf of the tree.
pub const NONCE_WINDOW: u64 = 256;

/// The tree key of the window holding `sender`'s `nonce`.
pub fn nonce_window_key(sender: &[u8; 32], nonce: u64) -> Vec<u8> {
    let mut k = NONCE_KEY_PREFIX.to_vec();
    k.extend_from_slice(sender);
    k.extend_from_slice(&(nonce / NONCE_WINDOW).to_be_bytes());
    k
}

/// What every object head's key starts with.
pub const OBJECT_KEY_PREFIX: &[u8] = b"object/";

/// What every nonce window's key starts with.
pub const NONCE_KEY_PREFIX: &[u8] = b"nonces/";

/// The tree key of an object's head.
pub fn object_key(object: &[u8]) -> Vec<u8> {
    let mut k = OBJECT_KEY_PREFIX.to_vec();
    k.extend_from_slice(object);
    k
}

fn nonce_bit(nonce: u64) -> (usize, u8) {
    let bit = (nonce % NONCE_WINDOW) as usize;
    (bit / 8, 1u8 << (bit % 8))
}

/// Whether `sender` used `nonce`, in the state `view` shows.
pub fn nonce_used(view: &dyn StateView, sender: &[u8; 32], nonce: u64) -> Result<bool, StateError> {
    let (byte, mask) = nonce_bit(nonce);
    Ok(view
        .value(&nonce_window_key(sender, nonce))?
        .and_then(|w| w.get(byte).copied())
        .is_some_and(|b| b & mask != 0))
}

/// An object's head in the authenticated state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct ObjectHead {
    /// Records executed for the object.
    pub records: u64,
    #[serde(serialize_with = "hex_digest")]
    pub last_tx: Digest,
    pub last_height: Height,
    /// H(history before ‖ entry) over every entry, oldest first, from
    /// `Digest::ZERO`: [`ObjectHead::chain`].
    #[serde(serialize_with = "hex_digest")]
    pub history: Digest,
}

impl ObjectHead {
    /// The history hash after `entry`.
    pub fn chain(history: &Digest, entry: &HistoryEntry) -> Digest {
        let mut h = Hasher::new("strata/object-history");
        h.update(&history.0).update(&entry.encode());
        h.finalize()
    }

    /// The head an object's history (oldest first) gives: what a client
    /// compares with a proven head.
    pub fn of_history(entries: &[HistoryEntry]) -> ObjectHead {
        entries
            .iter()
            .fold(ObjectHead::default(), |head, e| head.after(e))
    }

    fn after(&self, entry: &HistoryEntry) -> ObjectHead {
        ObjectHead {
            records: self.records.saturating_add(1),
            last_tx: entry.tx,
            last_height: entry.height,
            history: ObjectHead::chain(&self.history, entry),
        }
    }
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
    /// The authenticated state's new values, sorted by key.
    pub state: Vec<(Vec<u8>, Vec<u8>)>,
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
    // This block's writes so far, read before the state before it.
    let mut state: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let read = |state: &BTreeMap<Vec<u8>, Vec<u8>>, key: &[u8]| match state.get(key) {
        Some(v) => Ok(Some(v.clone())),
        None => view.value(key),
    };
    for (index, (tx, &hash)) in (0u32..).zip(txs.iter().zip(hashes)) {
        let verdict = match tx {
            Transaction::Provenance(p) => {
                let r = &p.record;
                let sender = r.sender.to_bytes();
                let window_key = nonce_window_key(&sender, r.nonce);
                let mut window = read(&state, &window_key)?.unwrap_or_default();
                window.resize(NONCE_WINDOW as usize / 8, 0);
                let (byte, mask) = nonce_bit(r.nonce);
                if r.home_chain(ctx.domains) != Some(ctx.chain) {
                    Err("wrong domain")
                } else if window.get(byte).is_some_and(|b| b & mask != 0) {
                    Err("replayed nonce")
                } else {
                    if let Some(b) = window.get_mut(byte) {
                        *b |= mask;
                    }
                    state.insert(window_key, window);
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
                    let head_key = object_key(&r.object_id);
                    let head = match read(&state, &head_key)? {
                        Some(bytes) => ObjectHead::decode(&mut &bytes[..])
                            .map_err(|e| StateError::Corrupt(format!("object head: {e}")))?,
                        None => ObjectHead::default(),
                    };
                    state.insert(head_key, head.after(&entry).encode());
                    writes.histories.push((r.object_id.to_vec(), index, entry));
                    Ok(())
                }
            }
            Transaction::System(sys) => system::apply_system(view, ctx, &mut state, sys)?,
            Transaction::Opaque(_) => Ok(()),
        };
        match verdict {
            Ok(()) => writes.accepted += 1,
            Err(reason) => writes.refused.push((hash, reason.to_string())),
        }
    }
    writes
        .histories
        .sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    writes.state = state.into_iter().collect();
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
            let mut state = MemState::new(ctx, &Digest::ZERO);
            for (h, txs) in [(1, &block1), (2, &block2)] {
                let hashes: Vec<Digest> = txs.iter().map(Transaction::hash).collect();
                state.execute(h, txs, &hashes).unwrap();
            }
            state
        };
        let (a, b) = (run(), run());
        assert_eq!(a.root(), b.root());
        // The proven head of an object matches the history a node serves.
        assert_eq!(
            a.object_head(b"o1").unwrap(),
            ObjectHead::of_history(a.history(b"o1"))
        );
        assert_eq!(a.executed(), 5);
        assert_eq!(a.history(b"o1").len(), 3);
        assert_eq!(a.refused().len(), 2);
        assert!(a.refused().iter().all(|(_, why)| why == "replayed nonce"));
        // A different order of the same records is a different state.
        let mut c = MemState::new(ctx, &Digest::ZERO);
        let swapped: Vec<Transaction> = block1.iter().rev().cloned().collect();
        let hashes: Vec<Digest> = swapped.iter().map(Transaction::hash).collect();
        c.execute(1, &swapped, &hashes).unwrap();
        let mut d = MemState::new(ctx, &Digest::ZERO);
        let hashes: Vec<Digest> = block1.iter().map(Transaction::hash).collect();
        d.execute(1, &block1, &hashes).unwrap();
        assert_ne!(c.root(), d.root());
    }

    #[test]
    fn system_transactions_not_built_yet_are_refused_and_change_nothing() {
        use crate::types::{Evidence, SystemTx};
        let ctx = ChainContext {
            chain: crate::types::ChainId::GLOBAL,
            domains: 1,
        };
        let blocks = crate::test_support::chain_of_blocks(2);
        let statement = blocks[1].proposal_statement();
        let tx = Transaction::System(Box::new(SystemTx::Evidence(Evidence::Equivocation {
            first: statement.clone(),
            second: statement,
        })));
        let mut state = MemState::new(ctx, &Digest::ZERO);
        let before = state.root();
        let hashes = vec![tx.hash()];
        let w = apply(&state, ctx, 1, std::slice::from_ref(&tx), &hashes).unwrap();
        assert_eq!(w.accepted, 0);
        assert_eq!(w.refused[0].1, "evidence is not executed yet");
        assert!(w.state.is_empty());
        let root = state.execute(1, &[tx], &hashes).unwrap();
        assert_eq!(root, before);
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
        let w = apply(&MemState::new(ctx, &Digest::ZERO), ctx, 1, &txs, &hashes).unwrap();
        assert_eq!(w.accepted, 0);
        assert_eq!(w.refused[0].1, "wrong domain");
    }
}
