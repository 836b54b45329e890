//! Provenance records: what each operation requires of the object it names
//! and of its parents (issue 25, point 6). A record that breaks a rule is
//! refused with the rule's reason, recorded, and its nonce spent: the
//! signed record cannot be replayed later, when the rule might hold, to
//! say something its sender said at another time.
//!
//! | operation | the object | parents | who |
//! |---|---|---|---|
//! | create | must not exist | each must exist and be live | anyone; becomes the holder |
//! | derive | must not exist | at least one; each must exist and be live | anyone; becomes the holder |
//! | read, update | must be live | each must exist and be live | anyone |
//! | transfer | must be live | each must exist and be live | the holder only; names the recipient (metadata `to`, its key in hex), who becomes the holder; or moves the object to another domain (metadata `to-domain`): it is then "moved", and no record may follow here |
//! | transfer (import) | must not exist | one, in another domain: that domain's transfer of it to this one, globally final, imported once | the transferee the source named |
//! | delete | must be live | each must exist and be live | the holder only; no record may follow |
//!
//! Parents are looked up in this chain's state. A parent of another domain
//! must be named by its record's hash (metadata `parent-record`) and
//! proven globally final by a receipt the record carries
//! (`Transaction::Linked`), checked against the committees this chain's
//! state records.

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use strata_crypto::hash::Digest;

use super::{
    nonce_bit, nonce_window_key, object_key, ChainContext, CommitteeRecord, GenesisState,
    HistoryEntry, Life, ObjectHead, StateError, StateView, NONCE_WINDOW,
};
use crate::anchor::Trust;
use crate::types::{
    domain_of, ChainId, Finality, Height, Op, ParentReceipt, SignedProvenance, PARENT_RECORD_KEY,
};

/// The metadata key naming a transfer's recipient.
pub const TRANSFER_TO_KEY: &[u8] = b"to";

/// The metadata key of a transfer that moves its object to another domain
/// (the domain's number).
pub const TRANSFER_TO_DOMAIN_KEY: &[u8] = b"to-domain";

/// The block's writes so far, read before the state before the block.
pub(crate) struct Overlay<'a> {
    pub view: &'a dyn StateView,
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Edge domains of the network.
    pub domains: u32,
}

impl Overlay<'_> {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.state.insert(key, value);
    }

    pub fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.state.get(key) {
            Some(v) => Ok(Some(v.clone())),
            None => self.view.value(key),
        }
    }

    fn head(&self, object: &[u8]) -> Result<ObjectHead, StateError> {
        match self.read(&object_key(object))? {
            Some(bytes) => ObjectHead::decode(&mut &bytes[..])
                .map_err(|e| StateError::Corrupt(format!("object head: {e}"))),
            None => Ok(ObjectHead::default()),
        }
    }
}

impl StateView for Overlay<'_> {
    fn value(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.read(key)
    }
}

/// Where one record stands in the block.
pub(super) struct At {
    pub tx: Digest,
    pub height: Height,
    pub index: u32,
}

/// Applies one record (with the receipts of its cross-domain parents, for
/// a linked record); `Ok(Err(reason))` refuses it, `Ok(Ok(entry))`
/// accepts it with the history entry of its object.
pub(super) fn apply_record(
    s: &mut Overlay<'_>,
    ctx: ChainContext,
    p: &SignedProvenance,
    linked: &[ParentReceipt],
    at: At,
) -> Result<Result<HistoryEntry, &'static str>, StateError> {
    let r = &p.record;
    let sender = r.sender.to_bytes();
    let window_key = nonce_window_key(&sender, r.nonce);
    let mut window = s.read(&window_key)?.unwrap_or_default();
    window.resize(NONCE_WINDOW as usize / 8, 0);
    let (byte, mask) = nonce_bit(r.nonce);
    if r.home_chain(ctx.domains) != Some(ctx.chain) {
        return Ok(Err("wrong domain"));
    }
    if window.get(byte).is_some_and(|b| b & mask != 0) {
        return Ok(Err("replayed nonce"));
    }
    if let Some(b) = window.get_mut(byte) {
        *b |= mask;
    }
    s.state.insert(window_key, window);
    let head = s.head(&r.object_id)?;
    let to = recipient(p);
    let moved_to = moved_to(p, ctx);
    let imported = match life_rules(s, ctx, p, &head, &sender, to, linked)? {
        Ok(imported) => imported,
        Err(why) => return Ok(Err(why)),
    };
    let entry = HistoryEntry {
        tx: at.tx,
        height: at.height,
        index: at.index,
        op: r.op,
        payload_digest: r.payload_digest,
        parents: r.parents.iter().map(|p| p.to_vec()).collect(),
        sender,
        nonce: r.nonce,
        timestamp_ms: r.timestamp_ms,
        to: match (r.op, imported) {
            // Imported: held by the transferee the source named.
            (Op::Transfer, Some(holder)) => Some(holder),
            (Op::Transfer, None) => to,
            _ => None,
        },
        moved_to: if r.op == Op::Transfer { moved_to } else { None },
    };
    s.state
        .insert(object_key(&r.object_id), head.after(&entry).encode());
    Ok(Ok(entry))
}

/// A transfer's recipient: its `to` metadata, a 32-byte key in hex.
fn recipient(p: &SignedProvenance) -> Option<[u8; 32]> {
    let bytes = hex::decode(meta(p, TRANSFER_TO_KEY)?).ok()?;
    bytes.try_into().ok()
}

/// The value of a record's metadata entry `key`.
fn meta<'a>(p: &'a SignedProvenance, key: &[u8]) -> Option<&'a [u8]> {
    p.record
        .meta
        .iter()
        .find(|m| m.key.as_slice() == key)
        .map(|m| m.value.as_slice())
}

/// The domain a transfer names (metadata `to-domain`).
fn to_domain(p: &SignedProvenance) -> Option<u32> {
    std::str::from_utf8(meta(p, TRANSFER_TO_DOMAIN_KEY)?)
        .ok()?
        .parse()
        .ok()
}

/// The domain a transfer moves its object to, if another than this
/// chain's.
fn moved_to(p: &SignedProvenance, ctx: ChainContext) -> Option<u32> {
    to_domain(p).filter(|d| ctx.chain.domain() != Some(*d))
}

/// The rules of the table above; `Ok(Ok(Some(holder)))` for a transfer
/// that imports its object from another domain (held by `holder`).
#[allow(clippy::too_many_arguments)]
fn life_rules(
    s: &mut Overlay<'_>,
    ctx: ChainContext,
    p: &SignedProvenance,
    head: &ObjectHead,
    sender: &[u8; 32],
    to: Option<[u8; 32]>,
    linked: &[ParentReceipt],
) -> Result<Result<Option<[u8; 32]>, &'static str>, StateError> {
    let r = &p.record;
    // Cross-domain parents first: each must be proven globally final.
    let mut remote = Vec::new();
    for parent in r.parents.iter() {
        let ph = s.head(parent)?;
        match ph.life {
            Life::Live => {}
            Life::Deleted => return Ok(Err("parent was deleted")),
            Life::Moved => return Ok(Err("parent moved to another domain")),
            Life::Absent => {
                let here = match ctx.chain.domain() {
                    Some(d) => domain_of(parent, ctx.domains) == d,
                    None => true,
                };
                if here {
                    return Ok(Err("parent does not exist"));
                }
                match remote_parent(s, p, parent, linked)? {
                    Ok(receipt) => remote.push(receipt),
                    Err(why) => return Ok(Err(why)),
                }
            }
        }
    }
    // An import: a transfer of an object absent here whose parent is the
    // source domain's transfer of it to this domain.
    if r.op == Op::Transfer && head.life == Life::Absent {
        let [source] = remote.as_slice() else {
            return Ok(Err("object does not exist"));
        };
        let sr = &source.record.record;
        if sr.op != Op::Transfer || to_domain(&source.record) != ctx.chain.domain() {
            return Ok(Err("the parent is not a transfer to this domain"));
        }
        let holder = recipient(&source.record).unwrap_or_else(|| sr.sender.to_bytes());
        if holder != *sender {
            return Ok(Err("not the transferee"));
        }
        let claim = claim_key(&source.tx_hash());
        if s.read(&claim)?.is_some() {
            return Ok(Err("the transfer was imported already"));
        }
        s.state.insert(claim, vec![1]);
        return Ok(Ok(Some(holder)));
    }
    let object = match (r.op, head.life) {
        (Op::Create | Op::Derive, Life::Absent) => Ok(()),
        (Op::Create | Op::Derive, _) => Err("object already exists"),
        (_, Life::Absent) => Err("object does not exist"),
        (_, Life::Deleted) => Err("object was deleted"),
        (_, Life::Moved) => Err("object moved to another domain"),
        (Op::Transfer | Op::Delete, Life::Live) if head.holder != *sender => {
            Err("not the object's holder")
        }
        (Op::Transfer, Life::Live) if to.is_none() && moved_to(p, ctx).is_none() => {
            Err("transfer names no recipient (metadata \"to\": the recipient's key in hex)")
        }
        _ => Ok(()),
    };
    if let Err(why) = object {
        return Ok(Err(why));
    }
    if r.op == Op::Derive && r.parents.is_empty() {
        return Ok(Err("derive names no parent"));
    }
    Ok(Ok(None))
}

/// The tree key marking a cross-domain transfer as imported (once).
fn claim_key(parent_tx: &Digest) -> Vec<u8> {
    let mut k = b"imported/".to_vec();
    k.extend_from_slice(&parent_tx.0);
    k
}

/// The receipt a linked record carries for its parent object `parent`
/// (of another domain), checked: the record names that receipt's record by
/// hash, and the receipt proves it globally final against the committees
/// this chain's state records.
fn remote_parent<'a>(
    s: &Overlay<'_>,
    p: &SignedProvenance,
    parent: &[u8],
    linked: &'a [ParentReceipt],
) -> Result<Result<&'a ParentReceipt, &'static str>, StateError> {
    let Some(receipt) = linked
        .iter()
        .find(|l| l.record.record.object_id.as_slice() == parent)
    else {
        return Ok(Err(
            "parent lives in another domain and no receipt proves its record",
        ));
    };
    let named = p
        .record
        .meta
        .iter()
        .filter(|m| m.key.as_slice() == PARENT_RECORD_KEY)
        .any(|m| m.value.as_slice() == receipt.tx_hash().to_hex().as_bytes());
    if !named {
        return Ok(Err(
            "the record does not name its parent's record (metadata \"parent-record\")",
        ));
    }
    let trust = trust_of(s, receipt)?;
    match receipt.verify(&trust) {
        Ok(summary) if summary.levels.iter().any(|l| l == "global") => Ok(Ok(receipt)),
        Ok(_) => Ok(Err("the parent's record is not globally final")),
        Err(crate::anchor::ReceiptError::History(_)) => {
            Ok(Err("the parent's committee history does not verify"))
        }
        Err(_) => Ok(Err("the parent's receipt does not verify")),
    }
}

/// What a parent's receipt is checked against: the network and the
/// committees this chain's state records (of the parent's chain and of the
/// global chain, in the epochs the receipt names).
///
/// A receipt with a committee history is checked from every chain's epoch
/// 0 (which every chain's state records) through that history alone, each
/// handoff proven by the committee before it: a local chain's state does
/// not follow another domain's or the global chain's later committees.
fn trust_of(s: &Overlay<'_>, receipt: &ParentReceipt) -> Result<Trust<'static>, StateError> {
    let config = s
        .read(crate::auth::GENESIS_CONFIG_KEY)?
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .map(Digest)
        .unwrap_or(Digest::ZERO);
    let mut wanted = vec![
        (receipt.block.header.chain, receipt.block.header.epoch),
        (ChainId::GLOBAL, 0),
    ];
    if let Finality::Anchored(a) = &receipt.finality {
        wanted.push((ChainId::GLOBAL, a.anchored.anchor_block.header.epoch));
        wanted.push((receipt.block.header.chain, a.anchored.anchor.header.epoch));
    }
    let mut dynasties = Vec::new();
    if !receipt.history.is_empty() {
        // From epoch 0 on, for every chain the receipt or its history names.
        let mut chains: Vec<ChainId> = wanted.iter().map(|(c, _)| *c).collect();
        chains.extend(receipt.history.iter().map(|h| h.change.chain));
        chains.sort();
        chains.dedup();
        wanted = chains.iter().map(|c| (*c, 0)).collect();
        for chain in chains {
            if let Some(r) = crate::dynasty::epoch_record(s, chain, 0)? {
                dynasties.push((chain, r.params));
            }
        }
    }
    let mut committees = Vec::new();
    for (chain, epoch) in wanted {
        if let Some(c) = CommitteeRecord::read(s, chain, epoch)? {
            if !committees.contains(&c) {
                committees.push(c);
            }
        }
    }
    let domains = s.domains;
    Ok(Trust::from_state(
        GenesisState {
            config,
            committees,
            dynasties,
            ..GenesisState::default()
        },
        Digest::ZERO,
        domains,
    ))
}
