//! Peer scores: every failed check is attributed to the peer that sent the
//! bytes, and costs it (CometBFT's peer scoring, in small). A provably
//! invalid message (a bad signature or certificate, undecodable bytes, a
//! batch of forged records) costs much; a useless one that an honest peer
//! behind or ahead may also send costs little. The score recovers with
//! time; a peer whose score falls to the floor is banned (disconnected and
//! refused) for a while, longer each time it comes back and does it again.
//!
//! Pure: the caller passes the time in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use strata_chains::consensus::Fault;

/// What a fault costs.
const INVALID_COST: u32 = 25;
const UNHELPFUL_COST: u32 = 1;
/// A peer is banned when its penalties outweigh its recovery by this much.
const BAN_SCORE: u32 = 100;
/// Points a peer recovers per second.
const RECOVERY_PER_SECOND: u32 = 5;
/// The first ban; each later one doubles, up to the longest.
const FIRST_BAN: Duration = Duration::from_secs(30);
const LONGEST_BAN: Duration = Duration::from_secs(600);

pub fn cost(fault: Fault) -> u32 {
    match fault {
        Fault::Invalid => INVALID_COST,
        Fault::Unhelpful => UNHELPFUL_COST,
        Fault::Proven => BAN_SCORE,
    }
}

#[derive(Debug)]
struct Score {
    /// Penalty points not yet recovered.
    debt: u32,
    at: Instant,
    bans: u32,
}

/// Scores of the peers that have misbehaved, keyed by whatever identifies
/// a peer to the caller.
#[derive(Debug)]
pub struct PeerScores<P> {
    scores: HashMap<P, Score>,
}

impl<P> Default for PeerScores<P> {
    fn default() -> Self {
        PeerScores {
            scores: HashMap::new(),
        }
    }
}

impl<P: std::hash::Hash + Eq + Clone> PeerScores<P> {
    /// Charges `peer` for `fault` at `now`; `Some(duration)` when it is to
    /// be banned for that long (its debt is then forgiven, its ban count
    /// kept).
    pub fn penalize(&mut self, peer: &P, fault: Fault, now: Instant) -> Option<Duration> {
        let score = self.scores.entry(peer.clone()).or_insert(Score {
            debt: 0,
            at: now,
            bans: 0,
        });
        let elapsed = now.saturating_duration_since(score.at).as_secs();
        let recovered = elapsed.saturating_mul(u64::from(RECOVERY_PER_SECOND));
        score.debt = score
            .debt
            .saturating_sub(u32::try_from(recovered).unwrap_or(u32::MAX));
        if elapsed > 0 {
            score.at = now;
        }
        score.debt = score.debt.saturating_add(cost(fault));
        if score.debt < BAN_SCORE {
            return None;
        }
        score.debt = 0;
        let ban = FIRST_BAN
            .saturating_mul(1u32 << score.bans.min(8))
            .min(LONGEST_BAN);
        score.bans = score.bans.saturating_add(1);
        Some(ban)
    }

    /// Forgets peers with nothing left to recover and no ban history
    /// (bounds the map by the peers that misbehaved lately).
    pub fn prune(&mut self, now: Instant) {
        self.scores.retain(|_, s| {
            let recovered = now
                .saturating_duration_since(s.at)
                .as_secs()
                .saturating_mul(u64::from(RECOVERY_PER_SECOND));
            s.bans > 0 || recovered < u64::from(s.debt)
        });
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_invalid_messages_ban_a_peer_and_each_ban_is_longer() {
        let mut s = PeerScores::default();
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(s.penalize(&1u32, Fault::Invalid, t), None);
        }
        assert_eq!(s.penalize(&1, Fault::Invalid, t), Some(FIRST_BAN));
        for _ in 0..3 {
            assert_eq!(s.penalize(&1, Fault::Invalid, t), None);
        }
        assert_eq!(s.penalize(&1, Fault::Invalid, t), Some(FIRST_BAN * 2));
        // Another peer is charged on its own.
        assert_eq!(s.penalize(&2, Fault::Invalid, t), None);
    }

    #[test]
    fn useless_messages_at_an_honest_rate_never_ban_but_a_flood_does() {
        let mut s = PeerScores::default();
        let t = Instant::now();
        // A few per second, for ten minutes: recovered as fast as charged.
        for sec in 0..600u64 {
            for _ in 0..RECOVERY_PER_SECOND {
                let now = t + Duration::from_secs(sec);
                assert_eq!(s.penalize(&7u32, Fault::Unhelpful, now), None);
            }
        }
        // A hundred within one second is a flood.
        let now = t + Duration::from_secs(700);
        let bans = (0..BAN_SCORE)
            .filter_map(|_| s.penalize(&7, Fault::Unhelpful, now))
            .count();
        assert_eq!(bans, 1);
    }

    #[test]
    fn evidence_bans_at_once() {
        let mut s = PeerScores::default();
        assert_eq!(
            s.penalize(&3u32, Fault::Proven, Instant::now()),
            Some(FIRST_BAN)
        );
    }

    #[test]
    fn bans_stop_growing_and_recovered_peers_are_forgotten() {
        let mut s = PeerScores::default();
        let t = Instant::now();
        let mut last = None;
        for _ in 0..20 * 4 {
            if let Some(d) = s.penalize(&1u32, Fault::Invalid, t) {
                last = Some(d);
            }
        }
        assert_eq!(last, Some(LONGEST_BAN));
        s.penalize(&2u32, Fault::Invalid, t);
        assert_eq!(s.len(), 2);
        s.prune(t + Duration::from_secs(60));
        assert_eq!(s.len(), 1, "peer 2 recovered; peer 1 keeps its ban history");
    }
}
