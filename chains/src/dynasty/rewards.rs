//! Rewards (issue 27, point 5; CloudPoS §V "Incentives"): the
//! genesis schedule pays `R_total` over `Z` epochs of each dynasty chain,
//! `R_total / Z` per epoch (the remainder with the last), split between
//! the epoch's leaders and its voters in proportion to what each did:
//!
//! - a leader point per committed block it proposed;
//! - a voter point per committed block whose `justify` certificate carries
//!   its vote: the signers' bitmap on a multisig chain; on a threshold
//!   chain, the shares the collector received, which it records in the
//!   same bitmap (the combined signature cannot say whose shares it used,
//!   so there the record is the collector's word).
//!
//! Points accrue per committee position as blocks execute; the epoch's
//! last block pays both pots by largest remainder, in integers, so the
//! payments sum to the epoch's pot exactly. A validator convicted on the
//! chain (`accountability.rs`) earns nothing from then on, and what it had
//! earned is forfeited at its conviction. Everything is state, written by
//! `execution::apply`: `strata audit` re-executes the chain and finds the
//! same balances, and a node proves one (`GET /v1/rewards/{validator}`).
//!
//! ## State keys
//!
//! `rewards/schedule`, `rewards/points/<chain><e>` (per position: leader
//! and voter points), `rewards/epoch/<chain><e>` (the epoch's payments),
//! `rewards/balance/<chain><key>` and `rewards/forfeited/<chain><key>`.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::PublicKey;

use super::{accountability, epoch_key, read, EpochRecord, Overlay};
use crate::execution::{BlockCredit, CommitteeRecord, StateError, StateView};
use crate::types::{ChainId, Epoch, Height, RewardSchedule};

pub const SCHEDULE_KEY: &[u8] = b"rewards/schedule";

fn points_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"rewards/points/", chain, epoch)
}

fn epoch_rewards_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"rewards/epoch/", chain, epoch)
}

pub fn balance_key(chain: ChainId, key: &PublicKey) -> Vec<u8> {
    let mut k = epoch_key(b"rewards/balance/", chain, 0);
    k.extend_from_slice(&key.to_bytes());
    k
}

pub fn forfeited_key(chain: ChainId, key: &PublicKey) -> Vec<u8> {
    let mut k = epoch_key(b"rewards/forfeited/", chain, 0);
    k.extend_from_slice(&key.to_bytes());
    k
}

/// Points of one committee position in an epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Points {
    /// Committed blocks it proposed.
    pub led: u32,
    /// Committed blocks whose certificate carries its vote.
    pub voted: u32,
}

/// What one member of an epoch's committee was paid for it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Payment {
    pub validator: PublicKey,
    pub points: Points,
    pub leader: u64,
    pub voter: u64,
}

/// An epoch's payments, as its last block made them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct EpochRewards {
    /// The epoch's pot, `R_total / Z` (with the remainder in the last).
    pub pot: u64,
    pub leader_pot: u64,
    pub voter_pot: u64,
    /// Per member with points, by position.
    pub payments: Vec<Payment>,
    /// What nobody earned (no committed block, or only convicted members
    /// did): not paid, kept out of every balance.
    pub unpaid: u64,
}

/// The genesis schedule (none: this network pays no rewards).
pub fn schedule(view: &dyn StateView) -> Result<Option<RewardSchedule>, StateError> {
    read(view, SCHEDULE_KEY, "reward schedule")
}

/// A validator's balance on `chain`: what it was paid, less what its
/// conviction forfeited.
pub fn balance(view: &dyn StateView, chain: ChainId, key: &PublicKey) -> Result<u64, StateError> {
    Ok(read(view, &balance_key(chain, key), "reward balance")?.unwrap_or(0))
}

/// What `key`'s conviction on `chain` took from its balance.
pub fn forfeited(view: &dyn StateView, chain: ChainId, key: &PublicKey) -> Result<u64, StateError> {
    Ok(read(view, &forfeited_key(chain, key), "forfeited rewards")?.unwrap_or(0))
}

/// The payments for `epoch` of `chain`, once its last block executed.
pub fn epoch_rewards(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Option<EpochRewards>, StateError> {
    read(view, &epoch_rewards_key(chain, epoch), "epoch rewards")
}

/// The points of `epoch` so far, per position.
pub fn points(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Vec<Points>, StateError> {
    Ok(read(view, &points_key(chain, epoch), "reward points")?.unwrap_or_default())
}

/// Credits the block executing at `height`: its proposer and the voters
/// its `justify` names, when the block is of `cur`, the chain's epoch
/// (the first block of an epoch justifies the previous epoch's last, which
/// no certificate of this committee signed: `BlockRef::of` names no voter).
pub(crate) fn credit_block(
    s: &mut Overlay<'_>,
    cur: &EpochRecord,
    height: Height,
    credit: &BlockCredit,
) -> Result<(), StateError> {
    // Points accrue with or without a schedule: a domain's chain turns
    // them into credit (`stake.rs`).
    if credit.epoch != cur.epoch || !cur.contains(height) {
        return Ok(());
    }
    let chain = cur.chain;
    let Some(committee) = CommitteeRecord::read(s, chain, cur.epoch)? else {
        return Ok(());
    };
    let mut points = points(s, chain, cur.epoch)?;
    points.resize(committee.members.len(), Points::default());
    if let Some(p) = points.get_mut(credit.proposer as usize) {
        p.led = p.led.saturating_add(1);
    }
    for &v in &credit.voters {
        if let Some(p) = points.get_mut(v as usize) {
            p.voted = p.voted.saturating_add(1);
        }
    }
    s.put(points_key(chain, cur.epoch), points.encode());
    Ok(())
}

/// Splits `pot` in proportion to `weights` by largest remainder: the
/// shares sum to `pot` exactly when any weight is positive (ties go to the
/// lower index), and are all zero when none is.
pub fn split(pot: u64, weights: &[u64]) -> Vec<u64> {
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let pot = u128::from(pot);
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut paid: u128 = 0;
    for (i, &w) in weights.iter().enumerate() {
        // pot < 2^64 and w < 2^64: the product fits in 128 bits.
        let exact = pot * u128::from(w);
        let share = exact / total;
        paid += share;
        shares.push(share);
        remainders.push((exact % total, i));
    }
    // Less than one unit per weight is left: one each, largest first.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let left = pot - paid;
    for &(_, i) in remainders.iter().take(left as usize) {
        shares[i] += 1;
    }
    shares
        .into_iter()
        .map(|s| u64::try_from(s).unwrap_or(u64::MAX))
        .collect()
}

/// The epoch's last block: pays its pot to its committee by points.
pub(crate) fn pay_epoch(s: &mut Overlay<'_>, cur: &EpochRecord) -> Result<(), StateError> {
    let Some(schedule) = schedule(s)? else {
        return Ok(());
    };
    let pot = schedule.pot(cur.epoch);
    let Some(committee) = CommitteeRecord::read(s, cur.chain, cur.epoch)? else {
        return Ok(());
    };
    let mut points = points(s, cur.chain, cur.epoch)?;
    points.resize(committee.members.len(), Points::default());
    // A convicted member earns nothing: its points go unweighted.
    let mut earning = Vec::with_capacity(points.len());
    for (m, p) in committee.members.iter().zip(&points) {
        let convicted = accountability::conviction(s, cur.chain, &m.key)?.is_some();
        earning.push(if convicted { Points::default() } else { *p });
    }
    let leads: Vec<u64> = earning.iter().map(|p| u64::from(p.led)).collect();
    let votes: Vec<u64> = earning.iter().map(|p| u64::from(p.voted)).collect();
    let any_led = leads.iter().any(|&w| w > 0);
    let any_voted = votes.iter().any(|&w| w > 0);
    let mut leader_pot = schedule.leader_part(pot);
    let mut voter_pot = pot - leader_pot;
    // One side with nobody to pay: the other side takes its part.
    if !any_led && any_voted {
        voter_pot = pot;
        leader_pot = 0;
    } else if any_led && !any_voted {
        leader_pot = pot;
        voter_pot = 0;
    }
    let to_leaders = split(leader_pot, &leads);
    let to_voters = split(voter_pot, &votes);
    let mut record = EpochRewards {
        pot,
        leader_pot,
        voter_pot,
        ..EpochRewards::default()
    };
    let mut paid: u64 = 0;
    for (i, m) in committee.members.iter().enumerate() {
        let leader = to_leaders.get(i).copied().unwrap_or(0);
        let voter = to_voters.get(i).copied().unwrap_or(0);
        if leader == 0 && voter == 0 && earning.get(i) == Some(&Points::default()) {
            continue;
        }
        let amount = leader.saturating_add(voter);
        paid = paid.saturating_add(amount);
        let key = balance_key(cur.chain, &m.key);
        let before = balance(s, cur.chain, &m.key)?;
        s.put(key, before.saturating_add(amount).encode());
        record.payments.push(Payment {
            validator: m.key,
            points: earning.get(i).copied().unwrap_or_default(),
            leader,
            voter,
        });
    }
    record.unpaid = pot.saturating_sub(paid);
    s.put(epoch_rewards_key(cur.chain, cur.epoch), record.encode());
    Ok(())
}

/// A conviction forfeits what the offender was paid on this chain.
pub(crate) fn forfeit(
    s: &mut Overlay<'_>,
    chain: ChainId,
    key: &PublicKey,
) -> Result<(), StateError> {
    let amount = balance(s, chain, key)?;
    if amount == 0 {
        return Ok(());
    }
    s.put(balance_key(chain, key), 0u64.encode());
    let before = forfeited(s, chain, key)?;
    s.put(
        forfeited_key(chain, key),
        before.saturating_add(amount).encode(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_pays_the_pot_exactly_in_proportion_with_the_units_left_to_the_largest_remainders() {
        assert_eq!(split(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(split(10, &[3, 0, 1]), vec![8, 0, 2]);
        assert_eq!(split(7, &[0, 0]), vec![0, 0]);
        assert_eq!(split(0, &[5, 5]), vec![0, 0]);
        assert_eq!(
            split(u64::MAX, &[u64::MAX, 1])
                .iter()
                .map(|&x| u128::from(x))
                .sum::<u128>(),
            u128::from(u64::MAX)
        );
        // Any weights: the sum is the pot, and no share is a unit off its
        // exact proportion.
        let mut x: u64 = 0x9e37_79b9;
        for round in 0..500 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = (x >> 60) as usize + 1;
            let weights: Vec<u64> = (0..n).map(|i| (x >> (i * 4)) & 0xff).collect();
            let pot = x >> 20;
            let shares = split(pot, &weights);
            let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
            if total == 0 {
                assert!(shares.iter().all(|&s| s == 0));
                continue;
            }
            assert_eq!(
                shares.iter().map(|&s| u128::from(s)).sum::<u128>(),
                u128::from(pot),
                "round {round}"
            );
            for (s, w) in shares.iter().zip(&weights) {
                let exact = u128::from(pot) * u128::from(*w);
                let floor = exact / total;
                assert!(
                    u128::from(*s) == floor || u128::from(*s) == floor + 1,
                    "round {round}"
                );
            }
        }
    }

    #[test]
    fn a_schedule_pays_its_total_over_its_epochs_and_nothing_after() {
        let s = RewardSchedule {
            total: 1_000_003,
            epochs: 7,
            leader_bps: 3_000,
        };
        let sum: u64 = (0..7).map(|e| s.pot(e)).sum();
        assert_eq!(sum, s.total);
        assert_eq!(s.pot(6), 142_857 + 4);
        assert_eq!((s.pot(7), s.pot(u64::MAX)), (0, 0));
        assert_eq!(s.leader_part(1_000), 300);
        let all = RewardSchedule {
            leader_bps: 60_000,
            ..s
        };
        assert_eq!(all.leader_part(1_000), 1_000, "capped at the whole");
        assert_eq!(RewardSchedule { epochs: 0, ..s }.pot(0), 0);
    }
}
