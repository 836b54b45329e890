//! The test kit's keys and committees (feature `test-support`; always in
//! this crate's own tests): the same keys in every run, for unit tests,
//! the simulator, fuzz targets and benchmarks. Nothing here is secret:
//! a kit key's seed is its salt and its position.

use std::sync::Arc;

use crate::{Committee, Member, SecretKey};

/// The BLS key of member `i` of a kit committee salted with `salt`: seeded
/// with `salt` then `i`, little-endian, padded to 32 bytes (the simulator
/// salts with the run's seed).
pub fn seeded_key(salt: u64, i: usize) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&salt.to_le_bytes());
    seed[8..16].copy_from_slice(&(i as u64).to_le_bytes());
    SecretKey::from_seed(&seed).expect("32 bytes of seed")
}

/// Keys of members `0..n` salted with `salt`.
pub fn seeded_keys(salt: u64, n: usize) -> Vec<SecretKey> {
    (0..n).map(|i| seeded_key(salt, i)).collect()
}

/// A committee with its members' secret keys, in member order.
pub struct TestCommittee {
    pub keys: Vec<SecretKey>,
    pub committee: Arc<Committee>,
}

impl TestCommittee {
    /// `n` members of weight 1 with kit keys salted with `salt`.
    pub fn seeded(salt: u64, n: usize) -> TestCommittee {
        TestCommittee::of_keys(seeded_keys(salt, n))
    }

    /// Members of the given weights with kit keys salted with `salt`.
    pub fn weighted(salt: u64, weights: &[u64]) -> TestCommittee {
        TestCommittee::of_weighted_keys(seeded_keys(salt, weights.len()), weights)
    }

    /// Members of weight 1 holding `keys` (say, random ones).
    pub fn of_keys(keys: Vec<SecretKey>) -> TestCommittee {
        let weights = vec![1; keys.len()];
        TestCommittee::of_weighted_keys(keys, &weights)
    }

    fn of_weighted_keys(keys: Vec<SecretKey>, weights: &[u64]) -> TestCommittee {
        let members = keys
            .iter()
            .zip(weights)
            .map(|(k, &weight)| Member {
                key: k.public_key(),
                weight,
            })
            .collect();
        let committee = Committee::new(members).expect("distinct keys of non-zero weight");
        TestCommittee {
            keys,
            committee: Arc::new(committee),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kit_keys_are_stable_distinct_and_salted() {
        assert_eq!(seeded_key(7, 2).public_key(), seeded_key(7, 2).public_key());
        let a = TestCommittee::seeded(1, 4);
        let b = TestCommittee::seeded(2, 4);
        assert_eq!(a.len(), 4);
        assert_eq!(a.committee.total_weight(), 4);
        assert_ne!(a.keys[0].public_key(), b.keys[0].public_key());
        let w = TestCommittee::weighted(1, &[3, 1, 1]);
        assert_eq!(w.committee.total_weight(), 5);
        assert_eq!(w.committee.index_of(&a.keys[1].public_key()), Some(1));
    }
}
