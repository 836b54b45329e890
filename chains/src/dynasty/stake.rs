//! What a validator weighs on a chain (issue 27, point 4; docs/design.md §5):
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
//! **Credit (LCBFT's available time, Alg. 2).** A member's
//! available time is what its votes prove: the blocks of its chain whose
//! certificate carried its vote (the rewards' voter points), accrued at
//! the end of each epoch it served. The accumulated blocks rank a
//! committee's members for the uptime leader; the draw weighs a domain's
//! validator by its registered weight raised by its availability in the
//! last epoch it served (the share of that epoch's blocks its vote
//! certified): up to twice the registered weight for a member that signed
//! everything, the registered weight alone for one that never served or
//! was absent. Bounded so that serving once does not entrench a
//! committee: a validator not seated cannot prove availability on chain,
//! and must keep a fair chance of being drawn.
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

/// A validator's credit on a domain's chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Credit {
    /// Blocks its vote certified, over every epoch it served.
    pub blocks: u64,
    /// The share of the last served epoch's blocks its vote certified,
    /// in basis points.
    pub availability_bps: u16,
}

impl Credit {
    /// What a validator of registered weight `registered` weighs in a
    /// domain's draw: raised by its last availability, at most doubled.
    pub fn weight(&self, registered: u64) -> u64 {
        let bonus = u128::from(registered) * u128::from(self.availability_bps.min(10_000)) / 10_000;
        registered.saturating_add(u64::try_from(bonus).unwrap_or(u64::MAX))
    }
}

fn available_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"dynasty/available/", chain, epoch)
}

/// Fixes, when `epoch`'s committee is decided, each of its members'
/// accumulated available time (credit blocks), in committee order: what
/// its uptime leader ranks by. Fixed then, not read when a node starts the
/// epoch: nodes start it at different executed heights (a restart even
/// mid-epoch), and the credit of the epoch before accrues at its last
/// block; a ranking read later would differ between nodes, and so would
/// their leader.
pub(super) fn fix_available_time(
    s: &mut Overlay<'_>,
    chain: ChainId,
    epoch: Epoch,
    members: &[PublicKey],
) -> Result<(), StateError> {
    if chain.domain().is_none() {
        return Ok(());
    }
    let mut times = Vec::with_capacity(members.len());
    for k in members {
        times.push(credit(s, chain, k)?.blocks);
    }
    s.put(available_key(chain, epoch), times.encode());
    Ok(())
}

/// The available time fixed for `epoch`'s members (empty: none fixed).
pub fn available_time(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Vec<u64>, StateError> {
    Ok(read(view, &available_key(chain, epoch), "available time")?.unwrap_or_default())
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

/// `key`'s credit on `chain` (none yet: zero).
pub fn credit(view: &dyn StateView, chain: ChainId, key: &PublicKey) -> Result<Credit, StateError> {
    Ok(read(view, &credit_key(chain, key), "credit")?.unwrap_or_default())
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
        return Ok(credit(view, chain, key)?.weight(registered));
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
/// accrues, as credit, the blocks its vote certified, and its
/// availability becomes their share of the epoch's blocks.
pub(super) fn accrue_credit(s: &mut Overlay<'_>, cur: &EpochRecord) -> Result<(), StateError> {
    if cur.chain.domain().is_none() {
        return Ok(());
    }
    let Some(committee) = CommitteeRecord::read(s, cur.chain, cur.epoch)? else {
        return Ok(());
    };
    let points = super::rewards::points(s, cur.chain, cur.epoch)?;
    let blocks = cur.params.epoch_length.max(1);
    for (i, m) in committee.members.iter().enumerate() {
        if accountability::conviction(s, cur.chain, &m.key)?.is_some() {
            continue;
        }
        let voted = points.get(i).map_or(0, |p| u64::from(p.voted));
        let before = credit(s, cur.chain, &m.key)?;
        let share = u128::from(voted.min(blocks)) * 10_000 / u128::from(blocks);
        let after = Credit {
            blocks: before.blocks.saturating_add(voted),
            availability_bps: u16::try_from(share).unwrap_or(10_000),
        };
        s.put(credit_key(cur.chain, &m.key), after.encode());
    }
    Ok(())
}
