//! The executor (docs/design.md §2, §6): applying a committed block to a chain's
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
//!   `window * 256 ..` (one leaf per 256 nonces, not one per record);
//! - `block/<height>`: the hash of the block executed at each height;
//! - `committee/<chain><epoch>`: each chain's committee ([`GenesisState`]);
//! - on the global chain, `anchor/<domain>` and `anchored/<domain><height>`:
//!   each domain's last anchor and every anchored height (`anchor.rs`).
//!
//! A nonce may be used once per sender, in any order: a client's records
//! travel in batches from several nodes and may commit out of submission
//! order, so requiring increasing nonces would refuse honest records.
//! Besides the tree, a node keeps each object's full history and the
//! refusals as plain indexes for queries (`Writes::histories`, `refused`).

mod anchor;
mod genesis;
mod mem;
mod records;
mod system;

pub use anchor::{
    anchor_key, anchored_key, check_anchor, check_certified, conflict_key, AnchorCheck,
    AnchorConflict, AnchorHead, AnchorRecord, ANCHOR_KEY_PREFIX,
};
pub use genesis::{committee_key, CommitteeRecord, GenesisState, GroupKey, COMMITTEE_KEY_PREFIX};
pub use mem::MemState;
pub(crate) use records::Overlay;
pub use records::{TRANSFER_TO_DOMAIN_KEY, TRANSFER_TO_KEY};

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use strata_crypto::hash::{Digest, Hasher};

use crate::types::{ChainId, Epoch, Height, Op, Transaction};

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
    /// Who holds the object: its creator, then each transferee
    /// (`records::apply_record` has the rules).
    #[serde(serialize_with = "hex_bytes")]
    pub holder: [u8; 32],
    /// Where the object is in its life.
    pub life: Life,
}

/// Where an object is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Life {
    /// Never created (a head with no records).
    #[default]
    #[codec(index = 0)]
    Absent,
    #[codec(index = 1)]
    Live,
    /// Deleted: no record may follow.
    #[codec(index = 2)]
    Deleted,
    /// Transferred to another domain: no record may follow here.
    #[codec(index = 3)]
    Moved,
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

    /// The head after an accepted entry: the holder and life follow the
    /// operation (create and derive give the object to their sender, a
    /// transfer to its recipient, a delete ends it).
    fn after(&self, entry: &HistoryEntry) -> ObjectHead {
        let (holder, life) = match entry.op {
            Op::Create | Op::Derive => (entry.sender, Life::Live),
            Op::Transfer if entry.moved_to.is_some() => (self.holder, Life::Moved),
            Op::Transfer => (entry.to.unwrap_or(self.holder), Life::Live),
            Op::Delete => (self.holder, Life::Deleted),
            Op::Read | Op::Update => (self.holder, self.life),
        };
        ObjectHead {
            records: self.records.saturating_add(1),
            last_tx: entry.tx,
            last_height: entry.height,
            history: ObjectHead::chain(&self.history, entry),
            holder,
            life,
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
    /// A transfer's recipient (its `to` metadata; for an import, the
    /// transferee the source domain named).
    #[serde(serialize_with = "hex_opt")]
    pub to: Option<[u8; 32]>,
    /// A transfer that moved the object to another domain: that domain.
    pub moved_to: Option<u32>,
}

fn hex_opt<S: serde::Serializer>(b: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => s.serialize_str(&hex::encode(b)),
        None => s.serialize_none(),
    }
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

/// The tree key of the block hash at `height`: every executed height
/// records its block's hash, so a state root proves which block any lower
/// height holds (what an anchor's link and a receipt's path to the
/// anchored block are made of).
pub fn block_key(height: Height) -> Vec<u8> {
    let mut k = BLOCK_KEY_PREFIX.to_vec();
    k.extend_from_slice(&height.to_be_bytes());
    k
}

/// What every block-hash key starts with.
pub const BLOCK_KEY_PREFIX: &[u8] = b"block/";

/// The committed block being executed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRef {
    pub height: Height,
    pub hash: Digest,
    /// Whom the block credits for rewards (`dynasty::rewards`); none for
    /// a block executed without its header (tests, an ordered chain).
    pub credit: Option<BlockCredit>,
}

/// What a committed block says about who did the work: its proposer, and
/// the voters its `justify` certificate carries, as positions in the
/// committee of `epoch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockCredit {
    pub epoch: Epoch,
    pub proposer: u32,
    /// Empty when the justify is of another epoch or unsigned.
    pub voters: Vec<u32>,
}

impl BlockRef {
    /// A block by height and hash alone (no reward credit).
    pub fn bare(height: Height, hash: Digest) -> BlockRef {
        BlockRef {
            height,
            hash,
            credit: None,
        }
    }

    /// A committed block, with the credit its header gives.
    pub fn of(block: &crate::types::Block) -> BlockRef {
        let h = &block.header;
        let voters = match &h.justify.cert {
            Some(qc) if h.justify.epoch == h.epoch => qc
                .signers
                .iter_ones()
                .filter_map(|i| u32::try_from(i).ok())
                .collect(),
            _ => Vec::new(),
        };
        BlockRef {
            height: h.height,
            hash: block.hash(),
            credit: Some(BlockCredit {
                epoch: h.epoch,
                proposer: h.proposer,
                voters,
            }),
        }
    }
}

/// Applies a committed block's transactions (`hashes[i]` is the hash of
/// `txs[i]`) to the state `view` shows; returns the writes. Pure.
pub fn apply(
    view: &dyn StateView,
    ctx: ChainContext,
    block: BlockRef,
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
    let height = block.height;
    let mut writes = Writes {
        height,
        ..Writes::default()
    };
    let mut overlay = records::Overlay {
        view,
        state: BTreeMap::new(),
        domains: ctx.domains,
    };
    overlay
        .state
        .insert(block_key(height), block.hash.0.to_vec());
    for (index, (tx, &hash)) in (0u32..).zip(txs.iter().zip(hashes)) {
        let at = records::At {
            tx: hash,
            height,
            index,
        };
        let verdict = match tx {
            Transaction::Provenance(_) | Transaction::Linked(_) => {
                let (p, linked) = match tx {
                    Transaction::Linked(l) => (&l.record, l.parents.as_slice()),
                    Transaction::Provenance(p) => (p, &[][..]),
                    _ => unreachable!("matched above"),
                };
                match records::apply_record(&mut overlay, ctx, p, linked, at)? {
                    Ok(entry) => {
                        writes
                            .histories
                            .push((p.record.object_id.to_vec(), index, entry));
                        Ok(())
                    }
                    Err(why) => Err(why.to_string()),
                }
            }
            Transaction::System(sys) => system::apply_system(&mut overlay, ctx, sys, at)?,
            Transaction::Opaque(_) => Ok(()),
        };
        match verdict {
            Ok(()) => writes.accepted += 1,
            Err(reason) => writes.refused.push((hash, reason)),
        }
    }
    crate::dynasty::end_block(&mut overlay, ctx.chain, height, block.credit.as_ref())?;
    writes
        .histories
        .sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    writes.state = overlay.state.into_iter().collect();
    Ok(writes)
}

/// What executing the system transaction `tx` at `height`, on the state
/// `view` shows, would say: the mempool's admission check of a system
/// transaction is the executor's own rule, run on a throwaway overlay, so
/// nothing is admitted that the state already refuses (a later block may
/// still refuse it: a window closes, another tx takes its place).
pub fn check_system(
    view: &dyn StateView,
    ctx: ChainContext,
    tx: &crate::types::SystemTx,
    height: Height,
) -> Result<Result<(), String>, StateError> {
    let mut overlay = records::Overlay {
        view,
        state: BTreeMap::new(),
        domains: ctx.domains,
    };
    let at = records::At {
        tx: Digest::ZERO,
        height,
        index: 0,
    };
    system::apply_system(&mut overlay, ctx, tx, at)
}

/// A block of `count` transactions ordered but never executed (opaque
/// payloads): only counted, and its hash recorded.
pub fn apply_ordered(block: BlockRef, count: u64) -> Writes {
    Writes {
        height: block.height,
        accepted: count,
        state: vec![(block_key(block.height), block.hash.0.to_vec())],
        ..Writes::default()
    }
}

#[cfg(test)]
mod tests;
