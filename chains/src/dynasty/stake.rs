//! What a validator weighs on a chain (issue 27, point 4; DESIGN.md §5):
//! resource stake on the global chain, credit by available time on a
//! domain's chain. The weight is what sortition draws by (`selection.rs`)
//! and what the stake-weighted and uptime leaders rank by (`seat.rs`).
//!
//! **Stake (CloudPoS).** When the genesis names a stake provider, a cloud
//! or edge validator counts on the global chain with the weight of its
//! last stake declaration (`types::stake`), checked here before it counts:
//! the provider's certificate verifies, the lock covers the stake, and it
//! has not expired. Expiry is checked again at every global epoch start,
//! where a lapsed stake takes its validator off the roster. A validator
//! the genesis registered counts with its genesis weight until it first
//! stakes (the genesis is the network's root of trust, the provider's
//! included); one registered later counts only once it stakes. Without a
//! provider the global chain weighs validators as registered.
//!
//! **Credit (LCBFT's available time, seeds/003 Alg. 2).** A domain's chain
//! weighs each validator by its registered weight plus its credit: the
//! blocks of that chain whose certificate carried its vote, accrued at
//! the end of each epoch it served (`rewards::points`, the same record the
//! rewards use). Available time is what a vote proves: the member was up,
//! in step and signing when that block was certified.
//!
//! A validator convicted on a chain weighs nothing there again.
//!
//! ## State keys
//!
//! `stake/policy`, `stake/<key>` (a validator's stake record) and
//! `credit/<chain><key>`.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::hash::Digest;
use strata_crypto::PublicKey;

use super::{accountability, current_epoch, epoch_key, network, read, EpochRecord, Overlay};
use crate::execution::{CommitteeRecord, StateError, StateView};
use crate::types::stake::{assess, Stake, StakeRefusal};
use crate::types::{ChainId, Epoch, Height, StakePolicy, StakeTx, ValidatorTier};

pub const POLICY_KEY: &[u8] = b"stake/policy";

fn stake_key(key: &PublicKey) -> Vec<u8> {
    let mut k = b"stake/".to_vec();
    k.extend_from_slice(&key.to_bytes());
    k
}

fn credit_key(chain: ChainId, key: &PublicKey) -> Vec<u8> {
    let mut k = epoch_key(b"credit/", chain, 0);
    k.extend_from_slice(&key.to_bytes());
    k
}

/// A validator's stake as its last declaration fixed it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StakeRecord {
    /// Declarations executed (the next must carry this number).
    pub sequence: u64,
    pub stake: Stake,
    /// The first global epoch it no longer counts in.
    pub expires: Epoch,
    /// Δ: the provider's lock instance.
    pub instance: Digest,
    /// The global height that executed it.
    pub height: Height,
}

/// The genesis stake policy (none: weights as registered).
pub fn policy(view: &dyn StateView) -> Result<Option<StakePolicy>, StateError> {
    read(view, POLICY_KEY, "stake policy")
}

pub fn stake_record(
    view: &dyn StateView,
    key: &PublicKey,
) -> Result<Option<StakeRecord>, StateError> {
    read(view, &stake_key(key), "stake record")
}

/// `key`'s accrued available time on `chain`, in certified blocks.
pub fn credit(view: &dyn StateView, chain: ChainId, key: &PublicKey) -> Result<u64, StateError> {
    Ok(read(view, &credit_key(chain, key), "credit")?.unwrap_or(0))
}

/// The global chain's epoch now (0 on a chain without dynasties).
pub(super) fn global_epoch(view: &dyn StateView) -> Result<Epoch, StateError> {
    Ok(current_epoch(view, ChainId::GLOBAL)?.map_or(0, |e| e.epoch))
}

/// What an active validator eligible for `chain`, with key `key`,
/// registered weight `registered` and registered at height `since`,
/// weighs there in `epoch` (0: it is not on the roster).
pub(super) fn weight_on(
    view: &dyn StateView,
    chain: ChainId,
    key: &PublicKey,
    registered: u64,
    since: Height,
    epoch: Epoch,
) -> Result<u64, StateError> {
    if accountability::conviction(view, chain, key)?.is_some() {
        return Ok(0);
    }
    if chain.domain().is_some() {
        return Ok(registered.saturating_add(credit(view, chain, key)?));
    }
    if policy(view)?.is_none() {
        return Ok(registered);
    }
    Ok(match stake_record(view, key)? {
        Some(s) if epoch < s.expires => s.stake.weight,
        Some(_) => 0,
        None if since == 0 => registered,
        None => 0,
    })
}

/// The checks a stake declaration passes before its weight counts, on
/// the state as it stands, for a validator registered (and active) with
/// `tier`, or not (`None`): the executor's rule, which the mempool runs
/// too.
pub fn check_stake(
    view: &dyn StateView,
    tier: Option<ValidatorTier>,
    tx: &StakeTx,
) -> Result<Result<Stake, StakeRefusal>, StateError> {
    let Some(policy) = policy(view)? else {
        return Ok(Err(StakeRefusal::NoProvider));
    };
    let d = &tx.declaration;
    let key = &d.certificate.validator;
    match tier {
        None => return Ok(Err(StakeRefusal::NotRegistered)),
        Some(ValidatorTier::Iot) => return Ok(Err(StakeRefusal::NotStaking)),
        Some(_) => {}
    }
    if accountability::conviction(view, ChainId::GLOBAL, key)?.is_some() {
        return Ok(Err(StakeRefusal::Convicted));
    }
    let sequence = stake_record(view, key)?.map_or(0, |r| r.sequence);
    if d.sequence != sequence {
        return Ok(Err(StakeRefusal::Sequence));
    }
    Ok(assess(&policy, &network(view)?, global_epoch(view)?, tx))
}

/// Records a checked stake, executed at `height`.
pub(super) fn record_stake(s: &mut Overlay<'_>, tx: &StakeTx, stake: Stake, height: Height) {
    let d = &tx.declaration;
    let record = StakeRecord {
        sequence: d.sequence.saturating_add(1),
        stake,
        expires: d.certificate.expires,
        instance: d.certificate.instance,
        height,
    };
    s.put(stake_key(&d.certificate.validator), record.encode());
}

/// The end of `cur` on a domain's chain: each member not convicted
/// accrues, as credit, the blocks its vote certified.
pub(super) fn accrue_credit(s: &mut Overlay<'_>, cur: &EpochRecord) -> Result<(), StateError> {
    if cur.chain.domain().is_none() {
        return Ok(());
    }
    let Some(committee) = CommitteeRecord::read(s, cur.chain, cur.epoch)? else {
        return Ok(());
    };
    let points = super::rewards::points(s, cur.chain, cur.epoch)?;
    for (m, p) in committee.members.iter().zip(points) {
        if p.voted == 0 || accountability::conviction(s, cur.chain, &m.key)?.is_some() {
            continue;
        }
        let before = credit(s, cur.chain, &m.key)?;
        s.put(
            credit_key(cur.chain, &m.key),
            before.saturating_add(u64::from(p.voted)).encode(),
        );
    }
    Ok(())
}
