//! Who leads a view.
//!
//! * Round robin (LCBFT Alg. 3): view v is led by member v mod n.
//! * Stake-weighted (CloudPoS §IV-D): member i leads with probability
//!   w_i / Σw, by a deterministic draw from a seed and the view. On a
//!   dynasty chain the seed is the epoch's RandShare seed and w the
//!   members' stake or credit as the epoch's draw weighed them
//!   (`dynasty::EpochSeat::leader_policy`), not their unit votes.
//! * Uptime (LCBFT Alg. 2): the member with the largest accumulated
//!   available time leads; each view change passes leadership to the next
//!   in that ranking. Two-phase BFT changes views only on failure, so the
//!   most available member stays leader while it is healthy.
//! * Beacon (issue 27, point 3): on a threshold chain, the stake-weighted
//!   draw of view v+1 is seeded by the beacon value of the certificate the
//!   block of view v carries — the group signature no coalition below t
//!   can predict or choose — so a view's leader is not known before the
//!   view two back is certified (chained HotStuff cannot wait for view
//!   v's own certificate: its votes go to v+1's leader). After a timeout,
//!   or where no group signature is at hand, the epoch seed draws.
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
        /// Per member (committee order); empty: the committee's weights.
        weights: Vec<u64>,
    },
    /// Members ordered by accumulated available time, highest first.
    Uptime {
        ranking: Vec<u32>,
    },
    /// Stake-weighted, seeded by the beacon of the parent's certificate.
    Beacon {
        seed: Digest,
        weights: Vec<u64>,
    },
}

impl LeaderPolicy {
    /// The uptime ranking from per-member available time (ties by position).
    pub fn uptime(available_time: &[u64]) -> LeaderPolicy {
        let mut ranking: Vec<u32> = (0..available_time.len() as u32).collect();
        ranking.sort_by_key(|&i| (std::cmp::Reverse(available_time[i as usize]), i));
        LeaderPolicy::Uptime { ranking }
    }

    /// A stake-weighted draw by the committee's own weights.
    pub fn stake_weighted(seed: Digest) -> LeaderPolicy {
        LeaderPolicy::StakeWeighted {
            seed,
            weights: Vec::new(),
        }
    }

    /// The weight member `i` is drawn with (at least 1, so a member the
    /// policy's weights do not name can still lead).
    fn weight(weights: &[u64], committee: &Committee, i: u32) -> u128 {
        let w = weights
            .get(i as usize)
            .or_else(|| committee.member(i as usize).map(|m| &m.weight))
            .copied()
            .unwrap_or(1);
        u128::from(w.max(1))
    }

    /// The weighted draw of `view` among `candidates` (non-empty).
    fn weighted(
        weights: &[u64],
        committee: &Committee,
        seed: &Digest,
        epoch: Epoch,
        view: View,
        candidates: &[u32],
    ) -> u32 {
        let total: u128 = candidates
            .iter()
            .map(|&i| Self::weight(weights, committee, i))
            .sum();
        // 128 random bits reduced modulo the total weight: the bias is
        // below 2^-64.
        let r = Self::draw(seed, epoch, view) % total.max(1);
        let mut acc = 0u128;
        for &i in candidates {
            acc += Self::weight(weights, committee, i);
            if r < acc {
                return i;
            }
        }
        candidates.first().copied().unwrap_or(0)
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
            LeaderPolicy::StakeWeighted { seed, weights }
            | LeaderPolicy::Beacon { seed, weights } => {
                Self::weighted(weights, committee, seed, epoch, view, candidates)
            }
        }
    }

    /// The beacon leader of `view` from the beacon value `beacon` of the
    /// certificate its parent carries; `None` unless this is the beacon
    /// policy.
    pub fn beacon_leader(
        &self,
        committee: &Committee,
        epoch: Epoch,
        view: View,
        beacon: &Digest,
    ) -> Option<u32> {
        let LeaderPolicy::Beacon { weights, .. } = self else {
            return None;
        };
        let all: Vec<u32> = (0..committee.len() as u32).collect();
        Some(Self::weighted(
            weights, committee, beacon, epoch, view, &all,
        ))
    }

    fn draw(seed: &Digest, epoch: Epoch, view: View) -> u128 {
        let mut h = Hasher::new("strata/leader");
        h.update(&seed.0)
            .update(&epoch.to_le_bytes())
            .update(&view.to_le_bytes());
        let d = h.finalize();
        let mut low = [0u8; 16];
        low.copy_from_slice(&d.0[..16]);
        u128::from_le_bytes(low)
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
            LeaderPolicy::StakeWeighted { seed, weights }
            | LeaderPolicy::Beacon { seed, weights } => {
                let all: Vec<u32> = (0..committee.len() as u32).collect();
                Self::weighted(weights, committee, seed, epoch, view, &all)
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
            LeaderPolicy::stake_weighted(Digest::ZERO),
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
        let p = LeaderPolicy::stake_weighted(Digest::of("seed", b"epoch-0"));
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

    #[test]
    fn given_weights_override_the_committees_and_the_beacon_reseeds_the_draw() {
        // Unit votes, stake 1 : 9 : 0 (a zero counts as one).
        let c = committee(&[1, 1, 1]);
        let seed = Digest::of("seed", b"epoch-3");
        let p = LeaderPolicy::StakeWeighted {
            seed,
            weights: vec![1, 9, 0],
        };
        let mut counts = [0u32; 3];
        for v in 0..11_000 {
            counts[p.leader(&c, 3, v) as usize] += 1;
        }
        assert!((800..1200).contains(&counts[0]), "{counts:?}");
        assert!((8600..9400).contains(&counts[1]), "{counts:?}");
        assert!((800..1200).contains(&counts[2]), "{counts:?}");
        let b = LeaderPolicy::Beacon {
            seed,
            weights: vec![1, 9, 0],
        };
        assert_eq!(
            p.beacon_leader(&c, 3, 7, &seed),
            None,
            "not a beacon policy"
        );
        // Without a beacon it is the seeded draw; each beacon value draws
        // anew, and the draws follow the weights.
        assert_eq!(b.leader(&c, 3, 7), p.leader(&c, 3, 7));
        let mut by_beacon = [0u32; 3];
        for i in 0u64..2_000 {
            let value = Digest::of("beacon", &i.to_le_bytes());
            let l = b.beacon_leader(&c, 3, 7, &value).unwrap();
            by_beacon[l as usize] += 1;
        }
        assert!(by_beacon[1] > 1_500 && by_beacon[0] > 100, "{by_beacon:?}");
    }
}
