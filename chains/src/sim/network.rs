//! The simulated network: per-message delay, loss, duplication and
//! reordering, and partitions.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Network conditions, changed at fault-phase boundaries.
#[derive(Clone, Debug)]
pub struct NetConditions {
    pub min_delay_us: u64,
    pub max_delay_us: u64,
    /// Probability a message is dropped.
    pub loss: f64,
    /// Probability a message is delivered twice.
    pub duplicate: f64,
    /// Probability a message is held back up to `straggle_us` more
    /// (reordering).
    pub straggle: f64,
    pub straggle_us: u64,
    /// Side of each node when partitioned.
    pub partition: Option<Vec<bool>>,
}

impl NetConditions {
    /// After the heal: bounded delays, no loss, no partition.
    pub fn synchronous() -> NetConditions {
        NetConditions {
            min_delay_us: 1_000,
            max_delay_us: 10_000,
            loss: 0.0,
            duplicate: 0.0,
            straggle: 0.0,
            straggle_us: 0,
            partition: None,
        }
    }

    /// Delivery times (relative, in µs) for one message from `from` to
    /// `to`: none if dropped, two if duplicated.
    pub fn delays(&self, rng: &mut ChaCha8Rng, from: usize, to: usize) -> Vec<u64> {
        if let Some(side) = &self.partition {
            if side[from] != side[to] {
                return Vec::new();
            }
        }
        if self.loss > 0.0 && rng.gen_bool(self.loss) {
            return Vec::new();
        }
        let mut out = vec![self.delay(rng)];
        if self.duplicate > 0.0 && rng.gen_bool(self.duplicate) {
            out.push(self.delay(rng));
        }
        out
    }

    fn delay(&self, rng: &mut ChaCha8Rng) -> u64 {
        let mut d = rng.gen_range(self.min_delay_us..=self.max_delay_us);
        if self.straggle > 0.0 && rng.gen_bool(self.straggle) {
            d += rng.gen_range(0..=self.straggle_us);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn partitions_drop_and_synchrony_delivers_within_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut c = NetConditions::synchronous();
        for _ in 0..100 {
            let d = c.delays(&mut rng, 0, 1);
            assert_eq!(d.len(), 1);
            assert!((1_000..=10_000).contains(&d[0]));
        }
        c.partition = Some(vec![true, false, true]);
        assert!(c.delays(&mut rng, 0, 1).is_empty());
        assert_eq!(c.delays(&mut rng, 0, 2).len(), 1);
    }
}
