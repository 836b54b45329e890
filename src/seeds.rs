//! Running a simulator over many seeds on several threads: each thread
//! takes the next seed when it is done with one (runs differ in length),
//! failures are printed as they happen with their replay command, and a
//! progress line counts the seeds on stderr.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Runs `run(seed)` for `first..first + seeds`; `failure` says what to
/// print for a failed run. The reports come back in seed order.
pub fn over_seeds<R: Send>(
    label: &str,
    first: u64,
    seeds: u64,
    threads: usize,
    seed_of: impl Fn(&R) -> u64 + Sync,
    run: impl Fn(u64) -> R + Sync,
    failure: impl Fn(&R) -> Option<String> + Sync,
) -> Vec<R> {
    let started = Instant::now();
    let next = AtomicU64::new(first);
    let reports = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= first.saturating_add(seeds) {
                    break;
                }
                let r = run(seed);
                if let Some(text) = failure(&r) {
                    eprint!("{text}");
                }
                let mut all = reports.lock().unwrap_or_else(|e| e.into_inner());
                all.push(r);
                eprint!(
                    "\r{label}: {}/{seeds} seeds, {:.0}s",
                    all.len(),
                    started.elapsed().as_secs_f64()
                );
                let _ = std::io::stderr().flush();
            });
        }
    });
    eprintln!();
    let mut reports = reports.into_inner().unwrap_or_else(|e| e.into_inner());
    reports.sort_by_key(|r| seed_of(r));
    reports
}
