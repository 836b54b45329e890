//! Who leads a view.
//!
//! * Round robin (LCBFT Alg. 3): view v is led by member v mod n.
//! * Stake-weighted (CloudPoS): member i leads with probability
//!   w_i / Σw, by a deterministic draw from the epoch seed and the view.
//! * Uptime (LCBFT Alg. 2): the member with the largest accumulated
//!   available time leads; each view change passes leadership to the next
//!   in that ranking. Two-phase BFT changes views only on failure, so the
//!   most available member stays leader while it is healthy.
//!
//! [`LeaderPolicy::leader_among`] applies a policy to a subset of members:
//! HotStuff rotates among the signers of the latest certificate (see
//! `ConsensusCore::proposer_for`), because plain rotation cannot commit a
//! 3-chain when crashed members are spread through the order.

use strata_crypto::committee::Committee;
use strata_crypto::hash::{Digest, Hasher};

use crate::types::{Epoch, View};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaderPolicy {
    RoundRobin,
    StakeWeighted {
        seed: Digest,
    },
    /// Members ordered by accumulated available time, highest first.
    Uptime {
        ranking: Vec<u32>,
    },
}

impl LeaderPolicy {
    /// The uptime ranking from per-member available time (ties by position).
    pub fn uptime(available_time: &[u64]) -> LeaderPolicy {
        let mut ranking: Vec<u32> = (0..available_time.len() as u32).collect();
        ranking.sort_by_key(|&i| (std::cmp::Reverse(available_time[i as usize]), i));
        LeaderPolicy::Uptime { ranking }
    }

    /// The leader of `view` among `candidates` (committee positions in
    /// ascending order, non-empty): the same rule restricted to them.
    pub fn leader_among(
        &self,
        committee: &Committee,
        epoch: Epoch,
        view: View,
        candidates: &[u32],
    ) -> u32 {
        match self {
            LeaderPolicy::RoundRobin => candidates[(view % candidates.len() as u64) as usize],
            LeaderPolicy::Uptime { ranking } => ranking
                .iter()
                .copied()
                .filter(|i| candidates.contains(i))
                .nth((view.saturating_sub(1) % candidates.len() as u64) as usize)
                .unwrap_or(candidates[0]),
            LeaderPolicy::StakeWeighted { seed } => {
                let total: u128 = candidates
                    .iter()
                    .map(|&i| committee.members()[i as usize].weight as u128)
                    .sum();
                let mut acc = 0u128;
                let r = Self::draw(seed, epoch, view) % total;
                for &i in candidates {
                    acc += committee.members()[i as usize].weight as u128;
                    if r < acc {
                        return i;
                    }
                }
                unreachable!("r is below the candidates' total weight")
            }
        }
    }

    fn draw(seed: &Digest, epoch: Epoch, view: View) -> u128 {
        let mut h = Hasher::new("strata/leader");
        h.update(&seed.0)
            .update(&epoch.to_le_bytes())
            .update(&view.to_le_bytes());
        let d = h.finalize();
        u128::from_le_bytes(d.0[..16].try_into().expect("16 bytes"))
    }

    pub fn leader(&self, committee: &Committee, epoch: Epoch, view: View) -> u32 {
        let n = committee.len() as u64;
        match self {
            LeaderPolicy::RoundRobin => (view % n) as u32,
            LeaderPolicy::Uptime { ranking } if !ranking.is_empty() => {
                // View 1 is the first view of an epoch.
                ranking[(view.saturating_sub(1) % ranking.len() as u64) as usize]
            }
            LeaderPolicy::Uptime { .. } => (view % n) as u32,
            LeaderPolicy::StakeWeighted { seed } => {
                // 128 random bits reduced modulo the total weight: the bias
                // is below 2^-64.
                let r = Self::draw(seed, epoch, view) % committee.total_weight() as u128;
                let mut acc = 0u128;
                for (i, m) in committee.members().iter().enumerate() {
                    acc += m.weight as u128;
                    if r < acc {
                        return i as u32;
                    }
                }
                unreachable!("r is below the total weight")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestCommittee;

    fn committee(weights: &[u64]) -> std::sync::Arc<Committee> {
        TestCommittee::weighted(1, weights).committee
    }

    #[test]
    fn round_robin_rotates() {
        let c = committee(&[1, 1, 1, 1]);
        let leaders: Vec<u32> = (1..=5)
            .map(|v| LeaderPolicy::RoundRobin.leader(&c, 0, v))
            .collect();
        assert_eq!(leaders, vec![1, 2, 3, 0, 1]);
    }

    #[test]
    fn uptime_keeps_the_most_available_member_first() {
        let c = committee(&[1, 1, 1, 1]);
        let p = LeaderPolicy::uptime(&[50, 900, 900, 10]);
        assert_eq!(p.leader(&c, 0, 1), 1, "ties go to the lower position");
        assert_eq!(p.leader(&c, 0, 2), 2);
        assert_eq!(p.leader(&c, 0, 3), 0);
        assert_eq!(p.leader(&c, 0, 4), 3);
        assert_eq!(p.leader(&c, 0, 5), 1);
    }

    #[test]
    fn restricted_to_candidates_never_picks_outsiders() {
        let c = committee(&[1, 5, 1, 1]);
        let candidates = [0u32, 2, 3];
        for p in [
            LeaderPolicy::RoundRobin,
            LeaderPolicy::StakeWeighted { seed: Digest::ZERO },
            LeaderPolicy::uptime(&[1, 9, 2, 3]),
        ] {
            for v in 0..50 {
                assert!(candidates.contains(&p.leader_among(&c, 0, v, &candidates)));
            }
        }
        assert_eq!(
            LeaderPolicy::RoundRobin.leader_among(&c, 0, 4, &candidates),
            2
        );
    }

    #[test]
    fn stake_weighted_draw_follows_weights() {
        let c = committee(&[1, 2, 7]);
        let p = LeaderPolicy::StakeWeighted {
            seed: Digest::of("seed", b"epoch-0"),
        };
        let mut counts = [0u32; 3];
        for v in 0..10_000 {
            counts[p.leader(&c, 0, v) as usize] += 1;
        }
        // Expected 1000 / 2000 / 7000; a generous band.
        assert!((850..1150).contains(&counts[0]), "{counts:?}");
        assert!((1800..2200).contains(&counts[1]), "{counts:?}");
        assert!((6700..7300).contains(&counts[2]), "{counts:?}");
        // Deterministic, and the epoch matters.
        assert_eq!(p.leader(&c, 0, 42), p.leader(&c, 0, 42));
        let differs = (0..64).any(|v| p.leader(&c, 0, v) != p.leader(&c, 1, v));
        assert!(differs);
    }
}
