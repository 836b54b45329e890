//! Running a simulator over many seeds: a rayon pool of `threads` workers
//! takes seeds as they free up (runs differ in length), failures are
//! printed as they happen with their replay command, and an indicatif bar
//! with the count, failures and ETA shows on a terminal (hidden otherwise,
//! and with `--json`, so piped output stays machine-readable).

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

/// Which seeds, on how many threads, and whether to show progress.
#[derive(Debug, Clone, Copy)]
pub struct SeedRange {
    pub first: u64,
    pub count: u64,
    pub threads: usize,
    /// No progress bar (`--json`).
    pub quiet: bool,
}

/// Runs `run(seed)` for every seed of `range`; `failure` says what to
/// print for a failed run. The reports come back in seed order.
pub fn over_seeds<R: Send>(
    label: &str,
    range: SeedRange,
    run: impl Fn(u64) -> R + Sync,
    failure: impl Fn(&R) -> Option<String> + Sync,
) -> Vec<R> {
    let bar = crate::progress::for_count(range.count, "seeds", range.quiet);
    bar.set_prefix(label.to_string());
    let failed = AtomicU64::new(0);
    let work = || {
        (range.first..range.first.saturating_add(range.count))
            .into_par_iter()
            .map(|seed| {
                let r = run(seed);
                if let Some(text) = failure(&r) {
                    let n = failed.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.suspend(|| eprint!("{text}"));
                    bar.set_message(format!("{n} failed"));
                }
                bar.inc(1);
                r
            })
            .collect::<Vec<R>>()
    };
    let reports = match rayon::ThreadPoolBuilder::new()
        .num_threads(range.threads.max(1))
        .thread_name(|i| format!("sim-{i}"))
        .build()
    {
        Ok(pool) => pool.install(work),
        // No threads to be had: run on this one.
        Err(_) => work(),
    };
    bar.finish_and_clear();
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_runs_once_and_reports_come_back_in_seed_order() {
        let range = SeedRange {
            first: 10,
            count: 50,
            threads: 3,
            quiet: true,
        };
        let printed = std::sync::Mutex::new(Vec::new());
        let out = over_seeds(
            "t",
            range,
            |seed| seed * 2,
            |r| {
                (r % 10 == 0).then(|| {
                    printed.lock().unwrap().push(*r);
                    String::new()
                })
            },
        );
        assert_eq!(out, (10..60).map(|s| s * 2).collect::<Vec<_>>());
        let mut failures = printed.into_inner().unwrap();
        failures.sort();
        assert_eq!(failures, vec![20, 30, 40, 50, 60, 70, 80, 90, 100, 110]);
    }
}
