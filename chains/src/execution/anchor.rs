//! Anchors on the global chain (issue 25, point 1; LCBFT's anchoring,
//! docs/design.md §6). An anchor carries a certified header of a domain's local
//! chain; what it anchors is the *state* that header names: the state
//! after `state_height`, executed and committed (honest voters checked the
//! root against their own execution before certifying the header, so a
//! certified header's state root is final even if the header itself is
//! later abandoned for a fork). Every executed height records its block's
//! hash in the state (`block/<height>`), so the anchored root proves which
//! block every height up to `state_height` holds: a receipt needs one
//! state proof from its record's block to the anchor, never the headers in
//! between.
//!
//! The rules, checked against the global chain's own state:
//! - the anchor's committee handoffs, if any, each record a committee of
//!   the domain's next epoch (`dynasty::handoff`);
//! - the certificate verifies against the domain's committee for the
//!   header's epoch *as this state records it* (`committee/…`);
//! - `tip` proves the hash of the block at the anchored height;
//! - it extends the domain's last anchor: `link` proves, against the new
//!   root, the block hash the last anchor recorded at its height;
//! - the same height again with the same root is a no-op (refused as
//!   "already anchored", changing nothing); below the last anchor it is
//!   refused; the same height with another root is a conflict: both are
//!   certified by the domain's committee, so the anchor is accepted as
//!   evidence against it (`anchor-conflict/…`), and the recorded anchor
//!   stays.

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use strata_crypto::codec::decode_message;
use strata_crypto::hash::Digest;

use super::records::{At, Overlay};
use super::{block_key, ChainContext, CommitteeRecord, StateError, StateView};
use crate::auth::{StateProof, MAX_VALUE_BYTES};
use crate::types::{Anchor, ChainId, Epoch, Height};

/// What every key of anchoring starts with.
pub const ANCHOR_KEY_PREFIX: &[u8] = b"anchor/";

/// The tree key of a domain's last anchor.
pub fn anchor_key(domain: u32) -> Vec<u8> {
    let mut k = ANCHOR_KEY_PREFIX.to_vec();
    k.extend_from_slice(&domain.to_be_bytes());
    k
}

/// The tree key of a domain's anchor at one height.
pub fn anchored_key(domain: u32, height: Height) -> Vec<u8> {
    let mut k = b"anchored/".to_vec();
    k.extend_from_slice(&domain.to_be_bytes());
    k.extend_from_slice(&height.to_be_bytes());
    k
}

/// The tree key of a conflict found at one height.
pub fn conflict_key(domain: u32, height: Height) -> Vec<u8> {
    let mut k = b"anchor-conflict/".to_vec();
    k.extend_from_slice(&domain.to_be_bytes());
    k.extend_from_slice(&height.to_be_bytes());
    k
}

/// One anchored height of a domain, as the global state records it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct AnchorRecord {
    /// The local chain's height whose executed state is anchored.
    pub height: Height,
    /// The local state root after that height.
    #[serde(serialize_with = "hex_digest")]
    pub state_root: Digest,
    /// The local block at that height.
    #[serde(serialize_with = "hex_digest")]
    pub block_hash: Digest,
    /// The certified local header that named the state.
    #[serde(serialize_with = "hex_digest")]
    pub header_hash: Digest,
    pub epoch: Epoch,
    /// The anchor transaction, and the global height that executed it.
    #[serde(serialize_with = "hex_digest")]
    pub tx: Digest,
    pub global_height: Height,
}

/// A domain's last anchor, and how many it has had.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct AnchorHead {
    pub last: AnchorRecord,
    pub anchors: u64,
}

/// Two certified states for one height of a domain: evidence against the
/// domain's committee.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct AnchorConflict {
    pub recorded: AnchorRecord,
    pub conflicting: AnchorRecord,
}

fn hex_digest<S: serde::Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_hex())
}

fn decode<T: Decode>(bytes: Option<Vec<u8>>, what: &str) -> Result<Option<T>, StateError> {
    bytes
        .map(|b| {
            decode_message(&b, MAX_VALUE_BYTES)
                .map_err(|e| StateError::Corrupt(format!("{what}: {e}")))
        })
        .transpose()
}

/// The hash a block-hash proof shows at `height`, if it proves one.
fn proven_block(proof: &StateProof, height: Height, root: &Digest) -> Option<Digest> {
    if proof.key != block_key(height) || proof.verify(root).is_err() {
        return None;
    }
    let bytes: [u8; 32] = proof.value.as_deref()?.try_into().ok()?;
    Some(Digest(bytes))
}

/// The checks an anchor must pass whatever the state of anchoring: its
/// certificate against `committee`, and its tip proof. Returns the block
/// hash at the anchored height. Also what a mempool checks before
/// admitting an anchor.
pub fn check_certified(
    anchor: &Anchor,
    committee: &CommitteeRecord,
) -> Result<Digest, &'static str> {
    let chain = ChainId::local(anchor.domain);
    let h = &anchor.header;
    if h.chain != chain || anchor.qc.chain != chain || committee.chain != chain {
        return Err("anchor names another chain");
    }
    if anchor.qc.cert.is_none() {
        return Err("anchor without a certificate");
    }
    if anchor.qc.block != h.hash() || anchor.qc.round != h.round() || anchor.qc.epoch != h.epoch {
        return Err("certificate is not for the anchored header");
    }
    if h.state_height == 0 {
        return Err("nothing to anchor (the genesis state)");
    }
    let members = committee
        .committee()
        .map_err(|_| "the recorded committee is invalid")?;
    // The genesis certificate was refused above, so no genesis hash is
    // needed here.
    anchor
        .qc
        .verify(chain, h.epoch, &Digest::ZERO, &members, committee.threshold)
        .map_err(|_| "certificate does not verify")?;
    proven_block(&anchor.tip, h.state_height, &h.state_root).ok_or("tip proof does not hold")
}

/// Executes one anchor on the global chain.
/// Takes in an anchor's committee handoffs (the domain's committees of
/// the epochs the global state has not recorded yet, `dynasty::handoff`)
/// and checks its certificate against the committee of its header's
/// epoch; returns the anchored block's hash.
fn learn_and_check(
    s: &mut Overlay<'_>,
    anchor: &Anchor,
) -> Result<Result<Digest, &'static str>, StateError> {
    let chain = ChainId::local(anchor.domain);
    for handoff in anchor.handoffs.iter() {
        if handoff.change.chain != chain {
            return Ok(Err("a committee handoff of another chain"));
        }
        if let Err(why) = crate::dynasty::apply_handoff(s, handoff)? {
            return Ok(Err(why));
        }
    }
    let Some(committee) = CommitteeRecord::read(s, chain, anchor.header.epoch)? else {
        return Ok(Err(NO_COMMITTEE));
    };
    Ok(check_certified(anchor, &committee))
}

/// Why an anchor is not checkable here: its epoch's committee is not
/// recorded (nor proven by the handoffs it carries).
const NO_COMMITTEE: &str = "no committee is recorded for the domain in that epoch";

/// A mempool's verdict on an anchor from a peer's batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorCheck {
    /// Its handoffs and certificate verify against what this state holds.
    Valid,
    /// It is wrong whatever the state: its sender is at fault.
    Invalid(&'static str),
    /// It names a domain epoch this state has not learned yet (this
    /// node's global chain is behind the member that batched it): the
    /// executor decides once the handoffs before it have executed.
    Beyond,
}

/// A mempool's check of an anchor from a peer's batch: its handoffs and
/// certificate against the committees `view` records, nothing that
/// depends on which anchors executed already (the executor's call).
pub fn check_anchor(
    view: &dyn StateView,
    domains: u32,
    anchor: &Anchor,
) -> Result<AnchorCheck, StateError> {
    let mut s = Overlay {
        view,
        state: std::collections::BTreeMap::new(),
        domains,
    };
    Ok(match learn_and_check(&mut s, anchor)? {
        Ok(_) => AnchorCheck::Valid,
        Err(why) if why == NO_COMMITTEE || why == crate::dynasty::ENDING_NOT_RECORDED => {
            AnchorCheck::Beyond
        }
        Err(why) => AnchorCheck::Invalid(why),
    })
}

pub(super) fn apply_anchor(
    s: &mut Overlay<'_>,
    ctx: ChainContext,
    anchor: &Anchor,
    at: At,
) -> Result<Result<(), &'static str>, StateError> {
    if ctx.chain != ChainId::GLOBAL {
        return Ok(Err("anchors go to the global chain"));
    }
    let d = anchor.domain;
    let h = &anchor.header;
    let block_hash = match learn_and_check(s, anchor)? {
        Ok(b) => b,
        Err(why) => return Ok(Err(why)),
    };
    let record = AnchorRecord {
        height: h.state_height,
        state_root: h.state_root,
        block_hash,
        header_hash: h.hash(),
        epoch: h.epoch,
        tx: at.tx,
        global_height: at.height,
    };
    let here = anchored_key(d, record.height);
    if let Some(recorded) = decode::<AnchorRecord>(s.read(&here)?, "anchor record")? {
        if recorded.state_root == record.state_root {
            return Ok(Err("already anchored"));
        }
        let key = conflict_key(d, record.height);
        if s.read(&key)?.is_some() {
            return Ok(Err("conflict already recorded"));
        }
        let conflict = AnchorConflict {
            recorded,
            conflicting: record,
        };
        s.state.insert(key, conflict.encode());
        return Ok(Ok(()));
    }
    let head = decode::<AnchorHead>(s.read(&anchor_key(d))?, "anchor head")?;
    if let Some(head) = &head {
        let last = &head.last;
        if record.height < last.height {
            return Ok(Err("below the domain's last anchor"));
        }
        let linked = anchor
            .link
            .as_ref()
            .and_then(|l| proven_block(l, last.height, &h.state_root));
        if linked != Some(last.block_hash) {
            return Ok(Err("does not extend the domain's last anchor"));
        }
    }
    let anchors = head.map_or(0, |h| h.anchors).saturating_add(1);
    s.state.insert(here, record.encode());
    s.state.insert(
        anchor_key(d),
        AnchorHead {
            last: record,
            anchors,
        }
        .encode(),
    );
    Ok(Ok(()))
}
