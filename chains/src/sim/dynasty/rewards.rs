//! The dynasty simulator's rewards check (issue 27, point 5): every
//! epoch that ended paid exactly its pot of the schedule, to members of
//! its committee only, never to a validator convicted before its payout;
//! a convict's balance is nothing; and the balances and forfeits together
//! hold exactly what the epochs paid.

use super::*;
use crate::dynasty::rewards;
use crate::types::RewardSchedule;

/// The simulated network's schedule: a remainder for the last epoch (the
/// runs reach epoch 2 to 4), a third to the leaders.
pub(super) const SIM_REWARDS: RewardSchedule = RewardSchedule {
    total: 3_000_001,
    epochs: 3,
    leader_bps: 3_333,
};

impl DynastySim<'_> {
    pub(super) fn check_rewards(&self, state: &MemState, report: &mut DynastySimReport) {
        let convictions =
            crate::dynasty::accountability::convicted(state, self.chain).unwrap_or_default();
        let mut paid_total: u64 = 0;
        let mut keys = BTreeSet::new();
        for e in 0.. {
            let Ok(Some(r)) = rewards::epoch_rewards(state, self.chain, e) else {
                break;
            };
            report.rewarded_epochs += 1;
            let paid: u64 = r.payments.iter().map(|p| p.leader + p.voter).sum();
            if r.pot != SIM_REWARDS.pot(e) || paid + r.unpaid != r.pot {
                report.violations.push(format!(
                    "epoch {e} paid {paid} + {} unpaid of a pot of {} (the schedule's: {})",
                    r.unpaid,
                    r.pot,
                    SIM_REWARDS.pot(e)
                ));
            }
            let members = crate::dynasty::committee(state, self.chain, e)
                .ok()
                .flatten()
                .map(|c| c.members.iter().map(|m| m.key).collect::<Vec<_>>())
                .unwrap_or_default();
            let last = crate::dynasty::epoch_record(state, self.chain, e)
                .ok()
                .flatten()
                .map_or(0, |r| r.last_height());
            for p in &r.payments {
                if !members.contains(&p.validator) {
                    report
                        .violations
                        .push(format!("epoch {e} paid a validator outside its committee"));
                }
                if p.leader + p.voter > 0
                    && convictions
                        .iter()
                        .any(|c| c.validator == p.validator && c.height < last)
                {
                    report.violations.push(format!(
                        "epoch {e} paid a validator convicted before its end"
                    ));
                }
                keys.insert(p.validator);
            }
            paid_total = paid_total.saturating_add(paid);
            report.rewards_paid = report.rewards_paid.saturating_add(paid);
        }
        let mut held: u64 = 0;
        for k in &keys {
            let balance = rewards::balance(state, self.chain, k).unwrap_or(0);
            let forfeited = rewards::forfeited(state, self.chain, k).unwrap_or(0);
            if balance > 0 && convictions.iter().any(|c| c.validator == *k) {
                report
                    .violations
                    .push("a convicted validator keeps a reward balance".to_string());
            }
            held = held.saturating_add(balance).saturating_add(forfeited);
        }
        if held != paid_total {
            report.violations.push(format!(
                "balances and forfeits hold {held}, the epochs paid {paid_total}"
            ));
        }
    }
}
