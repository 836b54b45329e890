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
//! | transfer | must be live | each must exist and be live | the holder only; names the recipient (metadata `to`, its key in hex), who becomes the holder |
//! | delete | must be live | each must exist and be live | the holder only; no record may follow |
//!
//! Parents are looked up in this chain's state. A parent that lives in
//! another domain is refused here until cross-domain lineage carries its
//! receipt.

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use strata_crypto::hash::Digest;

use super::{
    nonce_bit, nonce_window_key, object_key, ChainContext, HistoryEntry, Life, ObjectHead,
    StateError, StateView, NONCE_WINDOW,
};
use crate::types::{domain_of, Height, Op, SignedProvenance};

/// The metadata key naming a transfer's recipient.
pub const TRANSFER_TO_KEY: &[u8] = b"to";

/// The block's writes so far, read before the state before the block.
pub(super) struct Overlay<'a> {
    pub view: &'a dyn StateView,
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Overlay<'_> {
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

/// Where one record stands in the block.
pub(super) struct At {
    pub tx: Digest,
    pub height: Height,
    pub index: u32,
}

/// Applies one record; `Ok(Err(reason))` refuses it, `Ok(Ok(entry))`
/// accepts it with the history entry of its object.
pub(super) fn apply_record(
    s: &mut Overlay<'_>,
    ctx: ChainContext,
    p: &SignedProvenance,
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
    if let Err(why) = life_rules(s, ctx, p, &head, &sender, to)? {
        return Ok(Err(why));
    }
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
        to: if r.op == Op::Transfer { to } else { None },
    };
    s.state
        .insert(object_key(&r.object_id), head.after(&entry).encode());
    Ok(Ok(entry))
}

/// A transfer's recipient: its `to` metadata, a 32-byte key in hex.
fn recipient(p: &SignedProvenance) -> Option<[u8; 32]> {
    let entry = p
        .record
        .meta
        .iter()
        .find(|m| m.key.as_slice() == TRANSFER_TO_KEY)?;
    let bytes = hex::decode(entry.value.as_slice()).ok()?;
    bytes.try_into().ok()
}

fn life_rules(
    s: &Overlay<'_>,
    ctx: ChainContext,
    p: &SignedProvenance,
    head: &ObjectHead,
    sender: &[u8; 32],
    to: Option<[u8; 32]>,
) -> Result<Result<(), &'static str>, StateError> {
    let r = &p.record;
    let object = match (r.op, head.life) {
        (Op::Create | Op::Derive, Life::Absent) => Ok(()),
        (Op::Create | Op::Derive, _) => Err("object already exists"),
        (_, Life::Absent) => Err("object does not exist"),
        (_, Life::Deleted) => Err("object was deleted"),
        (Op::Transfer | Op::Delete, Life::Live) if head.holder != *sender => {
            Err("not the object's holder")
        }
        (Op::Transfer, Life::Live) if to.is_none() => {
            Err("transfer names no recipient (metadata \"to\": the recipient's key in hex)")
        }
        _ => Ok(()),
    };
    if object.is_err() {
        return Ok(object);
    }
    if r.op == Op::Derive && r.parents.is_empty() {
        return Ok(Err("derive names no parent"));
    }
    for parent in r.parents.iter() {
        let ph = s.head(parent)?;
        match ph.life {
            Life::Live => {}
            Life::Deleted => return Ok(Err("parent was deleted")),
            Life::Absent => {
                let here = match ctx.chain.domain() {
                    Some(d) => domain_of(parent, ctx.domains) == d,
                    None => true,
                };
                return Ok(Err(if here {
                    "parent does not exist"
                } else {
                    "parent lives in another domain"
                }));
            }
        }
    }
    Ok(Ok(()))
}
