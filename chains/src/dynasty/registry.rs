//! The validator registry (issue 26, point 1). The global chain holds every
//! validator's record; a domain's chain holds its own domain's edge and
//! IoT validators, from the same signed change (the CLI submits it to
//! both), so each chain draws its dynasties from its own state without
//! reading another chain's. A chain's *roster* is who it may draw, with
//! what weight: one value, sorted by key, snapshot at every epoch start.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::PublicKey;

use super::{admins, chain_key, epoch_key, network, read, stake, Overlay};
use crate::execution::{ChainContext, StateError, StateView};
use crate::types::{
    Approval, ChainId, Epoch, Height, RegistryAction, RegistryTx, StakeTx, ValidatorInfo,
    ValidatorTier,
};

/// Most validators on one chain's roster (one state value: 56 bytes each).
pub const MAX_ROSTER: usize = 1024;

/// A validator's registry record.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ValidatorRecord {
    pub info: ValidatorInfo,
    /// Its weight now (the registration's, or the last change's).
    pub weight: u64,
    /// Changes executed for it (the next must carry this number).
    pub sequence: u64,
    pub active: bool,
    /// The height its registration executed at: a validator drawn for
    /// epoch e+1 must have registered before epoch e began.
    pub since: Height,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct RosterEntry {
    pub key: PublicKey,
    pub weight: u64,
}

/// Who a chain may draw into its committees, sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Roster {
    pub entries: BoundedVec<RosterEntry, MAX_ROSTER>,
}

impl Roster {
    pub fn get(&self, key: &PublicKey) -> Option<&RosterEntry> {
        self.entries
            .binary_search_by(|e| e.key.cmp(key))
            .ok()
            .and_then(|i| self.entries.get(i))
    }

    pub fn total_weight(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |t, e| t.saturating_add(e.weight))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets (or adds) `key`'s weight; `Err` when the roster is full.
    pub fn set(&mut self, key: PublicKey, weight: u64) -> Result<(), &'static str> {
        let mut entries = std::mem::take(&mut self.entries).into_inner();
        match entries.binary_search_by(|e| e.key.cmp(&key)) {
            Ok(i) => {
                if let Some(e) = entries.get_mut(i) {
                    e.weight = weight;
                }
            }
            Err(_) if entries.len() >= MAX_ROSTER => {
                self.entries = BoundedVec::new(entries).unwrap_or_default();
                return Err("the roster is full");
            }
            Err(i) => entries.insert(i, RosterEntry { key, weight }),
        }
        self.entries = BoundedVec::new(entries).unwrap_or_default();
        Ok(())
    }

    pub fn remove(&mut self, key: &PublicKey) {
        let mut entries = std::mem::take(&mut self.entries).into_inner();
        entries.retain(|e| e.key != *key);
        self.entries = BoundedVec::new(entries).unwrap_or_default();
    }
}

pub fn validator_key(key: &PublicKey) -> Vec<u8> {
    let mut k = b"validator/".to_vec();
    k.extend_from_slice(&key.to_bytes());
    k
}

pub fn roster_key(chain: ChainId) -> Vec<u8> {
    chain_key(b"roster/", chain)
}

pub fn roster_snapshot_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"roster/", chain, epoch)
}

pub fn validator(
    view: &dyn StateView,
    key: &PublicKey,
) -> Result<Option<ValidatorRecord>, StateError> {
    read(view, &validator_key(key), "validator record")
}

pub fn roster(view: &dyn StateView, chain: ChainId) -> Result<Roster, StateError> {
    Ok(read(view, &roster_key(chain), "roster")?.unwrap_or_default())
}

/// The roster as it stood when `epoch` began (what its draw uses).
pub fn roster_at(view: &dyn StateView, chain: ChainId, epoch: Epoch) -> Result<Roster, StateError> {
    Ok(read(view, &roster_snapshot_key(chain, epoch), "roster snapshot")?.unwrap_or_default())
}

pub(super) fn snapshot_roster(
    s: &mut Overlay<'_>,
    chain: ChainId,
    epoch: Epoch,
) -> Result<(), StateError> {
    let r = roster(s, chain)?;
    s.put(roster_snapshot_key(chain, epoch), r.encode());
    Ok(())
}

/// How many distinct administrators validly approved `digest`.
pub(super) fn approvals(
    view: &dyn StateView,
    digest: &Digest,
    given: &[Approval],
) -> Result<(usize, u32), StateError> {
    let set = admins(view)?;
    let mut seen = std::collections::BTreeSet::new();
    for a in given {
        let Some(key) = set.keys.get(a.admin as usize) else {
            continue;
        };
        if key.verify(&digest.0, &a.signature).is_ok() {
            seen.insert(a.admin);
        }
    }
    Ok((seen.len(), set.threshold))
}

/// Whether enough administrators approved (a set without any names no
/// one who can: its registry is closed).
pub(super) fn authorised(
    view: &dyn StateView,
    digest: &Digest,
    given: &[Approval],
) -> Result<bool, StateError> {
    let (count, threshold) = approvals(view, digest, given)?;
    Ok(threshold > 0 && count >= threshold as usize)
}

fn tier_fits(info: &ValidatorInfo, domains: u32) -> bool {
    match info.tier {
        ValidatorTier::Cloud => info.domain.is_none(),
        ValidatorTier::Edge | ValidatorTier::Iot => info.domain.is_some_and(|d| d < domains),
    }
}

/// Writes a record, keeping this chain's roster in step with it.
pub(super) fn write_record(
    s: &mut Overlay<'_>,
    chain: ChainId,
    record: &ValidatorRecord,
) -> Result<Result<(), &'static str>, StateError> {
    let mut r = roster(s, chain)?;
    let epoch = if chain == ChainId::GLOBAL {
        stake::global_epoch(s)?
    } else {
        super::current_epoch(s, chain)?.map_or(0, |e| e.epoch)
    };
    match roster_weight(s, chain, record, epoch)? {
        0 => r.remove(&record.info.key),
        weight => {
            if let Err(why) = r.set(record.info.key, weight) {
                return Ok(Err(why));
            }
        }
    }
    s.put(roster_key(chain), r.encode());
    s.put(validator_key(&record.info.key), record.encode());
    Ok(Ok(()))
}

/// What `record`'s validator weighs on `chain` in `epoch` (0: off the
/// roster): its stake or credit (`stake.rs`), if active and eligible.
fn roster_weight(
    view: &dyn StateView,
    chain: ChainId,
    record: &ValidatorRecord,
    epoch: Epoch,
) -> Result<u64, StateError> {
    if !record.active || !record.info.eligible_for(chain) {
        return Ok(0);
    }
    stake::weight_on(
        view,
        chain,
        &record.info.key,
        record.weight,
        record.since,
        epoch,
    )
}

/// Executes a stake declaration on the global chain (`stake.rs` checks
/// it): its weight counts on the roster from the next draw.
pub(crate) fn apply_stake(
    s: &mut Overlay<'_>,
    ctx: ChainContext,
    tx: &StakeTx,
    height: Height,
) -> Result<Result<(), String>, StateError> {
    if ctx.chain != ChainId::GLOBAL {
        return Ok(Err("stake is declared on the global chain".into()));
    }
    let key = tx.declaration.certificate.validator;
    let record = validator(s, &key)?.filter(|r| r.active);
    let stake = match stake::check_stake(s, record.as_ref().map(|r| r.info.tier), tx)? {
        Ok(stake) => stake,
        Err(why) => return Ok(Err(why.to_string())),
    };
    let Some(record) = record else {
        return Ok(Err("not a registered validator".into()));
    };
    stake::record_stake(s, tx, stake, height);
    Ok(write_record(s, ctx.chain, &record)?.map_err(str::to_string))
}

/// Weighs every roster entry of `chain` again for `next` (a stake that
/// lapses at `next`, or a conviction, takes its validator off), before
/// the roster is snapshot for `next`'s draw. A global chain without a
/// stake provider weighs as registered, which changes only by
/// transactions that rewrite the roster themselves.
pub(super) fn reweigh(s: &mut Overlay<'_>, chain: ChainId, next: Epoch) -> Result<(), StateError> {
    if chain == ChainId::GLOBAL && stake::policy(s)?.is_none() {
        return Ok(());
    }
    let mut r = roster(s, chain)?;
    let keys: Vec<PublicKey> = r.entries.iter().map(|e| e.key).collect();
    for key in keys {
        let weight = match validator(s, &key)? {
            Some(record) => roster_weight(s, chain, &record, next)?,
            None => 0,
        };
        if weight == 0 {
            r.remove(&key);
        } else {
            // The key is on the roster: setting it cannot overflow it.
            let _ = r.set(key, weight);
        }
    }
    s.put(roster_key(chain), r.encode());
    Ok(())
}

/// Executes a registry change (see `types::dynasty` for who must sign).
pub(crate) fn apply_registry(
    s: &mut Overlay<'_>,
    ctx: ChainContext,
    tx: &RegistryTx,
    height: Height,
) -> Result<Result<(), &'static str>, StateError> {
    let change = &tx.change;
    let existing = validator(s, &change.validator)?;
    let sequence = existing.as_ref().map_or(0, |r| r.sequence);
    if change.sequence != sequence {
        return Ok(Err("registry change out of sequence (replayed or early)"));
    }
    let digest = change.signing_digest(&network(s)?);
    let by_validator = tx
        .validator_signature
        .as_ref()
        .is_some_and(|sig| sig.verify(&digest.0, &change.validator).is_ok());
    let by_admins = authorised(s, &digest, &tx.approvals)?;
    let mut record = match (&change.action, existing) {
        (RegistryAction::Register(info), existing) => {
            if existing.as_ref().is_some_and(|r| r.active) {
                return Ok(Err("already registered"));
            }
            if !(by_validator && by_admins) {
                return Ok(Err("a registration needs the validator's signature and the administrators' approval"));
            }
            if info.key != change.validator {
                return Ok(Err("the registration names another key"));
            }
            if info.proof_of_possession.verify(&info.key).is_err() {
                return Ok(Err("invalid proof of possession"));
            }
            if info.weight == 0 {
                return Ok(Err("a validator needs a positive weight"));
            }
            if !tier_fits(info, ctx.domains) {
                return Ok(Err("tier and domain do not fit (cloud: no domain; edge, IoT: a domain of the network)"));
            }
            if ctx.chain.domain().is_some() && !info.eligible_for(ctx.chain) {
                return Ok(Err("not a validator of this domain"));
            }
            ValidatorRecord {
                info: (**info).clone(),
                weight: info.weight,
                sequence,
                active: true,
                since: height,
            }
        }
        (_, None) => return Ok(Err("not registered")),
        (_, Some(r)) if !r.active => return Ok(Err("not registered")),
        (RegistryAction::Deregister, Some(r)) => {
            if !(by_validator || by_admins) {
                return Ok(Err(
                    "leaving needs the validator's signature or the administrators' approval",
                ));
            }
            ValidatorRecord { active: false, ..r }
        }
        (RegistryAction::SetWeight(w), Some(r)) => {
            if !(by_validator && by_admins) {
                return Ok(Err("a weight change needs the validator's signature and the administrators' approval"));
            }
            if *w == 0 {
                return Ok(Err("a validator needs a positive weight (leave instead)"));
            }
            ValidatorRecord { weight: *w, ..r }
        }
    };
    record.sequence = sequence.saturating_add(1);
    write_record(s, ctx.chain, &record)
}
