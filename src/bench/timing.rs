//! Median-of-repetitions timing for the CLI benchmarks.

use std::time::{Duration, Instant};

/// How long to keep repeating a measurement, and within what bounds.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub min_runs: usize,
    pub max_runs: usize,
    pub target: Duration,
}

impl Budget {
    pub const DEFAULT: Budget = Budget {
        min_runs: 5,
        max_runs: 201,
        target: Duration::from_millis(300),
    };
}

/// Runs `f` repeatedly (after one warm-up run) and returns the median
/// duration in microseconds. `f` returns a value that is kept opaque to the
/// optimiser.
pub fn median_us<T>(budget: Budget, mut f: impl FnMut() -> T) -> f64 {
    std::hint::black_box(f());
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < budget.min_runs
        || (samples.len() < budget.max_runs && start.elapsed() < budget.target)
    {
        let t = Instant::now();
        std::hint::black_box(f());
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    median(&mut samples)
}

pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let n = samples.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_sets() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn runs_at_least_the_minimum() {
        let mut calls = 0;
        let budget = Budget {
            min_runs: 7,
            max_runs: 7,
            target: Duration::ZERO,
        };
        median_us(budget, || calls += 1);
        assert_eq!(calls, 8, "one warm-up plus seven measured runs");
    }
}
