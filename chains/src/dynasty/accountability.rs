//! Accountability (issue 27, point 6; docs/design.md §6): a proof of
//! misbehaviour committed as an `Evidence` transaction convicts its
//! offenders. The executor checks the proof against the committee of the
//! epoch it names, as this chain's state records it; each offender is
//! taken off the chain's roster and seats, so no committee decided from
//! then on draws it (its weight is zero from the next epoch whose
//! committee is open), and its conviction is recorded with the proof's
//! digest (`GET /v1/committee/{chain}` → `convicted`); what it was paid
//! on the chain is forfeited, and it earns nothing more (`rewards.rs`).
//! A conviction is
//! final: the same proof, or another against the same validator, changes
//! nothing and is refused with the reason.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::hash::Digest;
use strata_crypto::PublicKey;

use super::{epoch_key, read, Overlay};
use crate::execution::{CommitteeRecord, StateError, StateView};
use crate::types::{ChainId, Epoch, Evidence, Height};

/// A validator's conviction on a chain.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Conviction {
    pub validator: PublicKey,
    /// The epoch the misbehaviour was in, and its kind.
    pub epoch: Epoch,
    pub kind: String,
    /// The height that executed the proof.
    pub height: Height,
    /// The proof's digest (the node that committed it serves the proof).
    pub evidence: Digest,
}

fn conviction_key(chain: ChainId, key: &PublicKey) -> Vec<u8> {
    let mut k = epoch_key(b"conviction/", chain, 0);
    k.extend_from_slice(&key.to_bytes());
    k
}

fn convicted_list_key(chain: ChainId) -> Vec<u8> {
    epoch_key(b"convicted/", chain, 0)
}

/// The conviction of `key` on `chain`, if any.
pub fn conviction(
    view: &dyn StateView,
    chain: ChainId,
    key: &PublicKey,
) -> Result<Option<Conviction>, StateError> {
    read(view, &conviction_key(chain, key), "conviction")
}

/// Every validator convicted on `chain`, in the order of conviction.
pub fn convicted(view: &dyn StateView, chain: ChainId) -> Result<Vec<Conviction>, StateError> {
    let keys: Vec<PublicKey> =
        read(view, &convicted_list_key(chain), "convicted list")?.unwrap_or_default();
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(c) = conviction(view, chain, &k)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// Executes a proof of misbehaviour on `chain`.
pub(crate) fn apply_evidence(
    s: &mut Overlay<'_>,
    chain: ChainId,
    evidence: &Evidence,
    height: Height,
) -> Result<Result<(), &'static str>, StateError> {
    let (about, epoch) = evidence.scope();
    if about != chain {
        return Ok(Err("the evidence is about another chain"));
    }
    let Some(record) = CommitteeRecord::read(s, chain, epoch)? else {
        return Ok(Err("no committee of the evidence's epoch is recorded"));
    };
    let Ok(committee) = record.committee() else {
        return Ok(Err("the epoch's committee record is invalid"));
    };
    let Ok(offenders) = evidence.verify(
        record.protocol,
        chain,
        epoch,
        &Digest::ZERO,
        &committee,
        record.threshold,
    ) else {
        return Ok(Err("the evidence proves no misbehaviour"));
    };
    let digest = Digest::of_encoding("strata/evidence/v1", evidence);
    let mut newly = Vec::new();
    for position in offenders {
        let Some(member) = record.members.get(position as usize) else {
            continue;
        };
        if conviction(s, chain, &member.key)?.is_none() && !newly.contains(&member.key) {
            newly.push(member.key);
        }
    }
    if newly.is_empty() {
        return Ok(Err("its offenders are convicted already"));
    }
    let mut list: Vec<PublicKey> =
        read(s, &convicted_list_key(chain), "convicted list")?.unwrap_or_default();
    for key in &newly {
        let c = Conviction {
            validator: *key,
            epoch,
            kind: evidence.kind().to_string(),
            height,
            evidence: digest,
        };
        s.put(conviction_key(chain, key), c.encode());
        list.push(*key);
    }
    s.put(convicted_list_key(chain), list.encode());
    for key in &newly {
        super::rewards::forfeit(s, chain, key)?;
    }
    super::selection::unseat(s, chain, &newly)?;
    Ok(Ok(()))
}
