//! Admission control for client records: a chain takes new records only
//! while the records it already holds would commit within a budget of
//! time, measured, not counted: the wait of a record admitted now is
//! about what is pending ahead of it over the rate at which the chain
//! commits, plus the signature checks queued ahead of it over the rate
//! at which this node checks them. Past saturation the gate closes and
//! opens as fast as the chain drains, so the committed rate holds at its
//! peak and admitted records wait about the budget, instead of queues
//! growing until views time out (CoDel's idea: control the sojourn time,
//! not the queue length).
//!
//! The decision is pure (time passed in); the mempool feeds it and
//! publishes the verdict in an atomic flag that the HTTP handlers read
//! before they read a request's body, so a refusal costs no decoding and
//! no signature check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a record admitted now may expect to wait before it commits.
pub const QUEUE_BUDGET: Duration = Duration::from_millis(500);
/// The commit rate assumed before any is measured (and its floor), so a
/// fresh or idle chain admits a first load to measure.
const FLOOR_TPS: f64 = 2_000.0;
/// Commit-rate samples are taken over windows this long, and averaged
/// with this weight for the newest.
const WINDOW: Duration = Duration::from_millis(500);
const NEWEST_WEIGHT: f64 = 0.5;

/// The measured drain of one chain and the verdict for its clients.
#[derive(Debug)]
pub struct AdmissionGate {
    budget: Duration,
    /// Committed transactions per second, averaged over windows.
    drain_tps: f64,
    window_start: Instant,
    window_txs: u64,
    /// Busiest window seen: the drain estimate never falls below a share
    /// of it while records wait (a stalled view is no measure of
    /// capacity).
    peak_tps: f64,
}

impl AdmissionGate {
    pub fn new(now: Instant, budget: Duration) -> AdmissionGate {
        AdmissionGate {
            budget,
            drain_tps: FLOOR_TPS,
            window_start: now,
            window_txs: 0,
            peak_tps: FLOOR_TPS,
        }
    }

    /// `txs` transactions committed at `now`.
    pub fn on_committed(&mut self, now: Instant, txs: u64) {
        self.window_txs = self.window_txs.saturating_add(txs);
        self.roll(now);
    }

    /// Closes measurement windows that have ended by `now`.
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < WINDOW {
            return;
        }
        let rate = self.window_txs as f64 / elapsed.as_secs_f64();
        self.drain_tps = NEWEST_WEIGHT * rate + (1.0 - NEWEST_WEIGHT) * self.drain_tps;
        self.peak_tps = self.peak_tps.max(rate);
        self.window_start = now;
        self.window_txs = 0;
    }

    /// The drain rate the decision uses.
    pub fn drain_tps(&self) -> f64 {
        self.drain_tps.max(FLOOR_TPS).max(self.peak_tps / 4.0)
    }

    /// How long a record admitted now would wait: `pending` transactions
    /// ahead of it to commit, and `verify_backlog` of signature checks.
    pub fn expected_wait(&self, pending: usize, verify_backlog: Duration) -> Duration {
        let drain = Duration::from_secs_f64(pending as f64 / self.drain_tps());
        drain.saturating_add(verify_backlog)
    }

    /// Whether a client record is admitted at `now`.
    pub fn admits(&mut self, now: Instant, pending: usize, verify_backlog: Duration) -> bool {
        self.roll(now);
        self.expected_wait(pending, verify_backlog) <= self.budget
    }
}

/// The gate's last verdict, shared with the HTTP handlers.
#[derive(Clone, Debug)]
pub struct AdmissionFlag(Arc<AtomicBool>);

impl Default for AdmissionFlag {
    fn default() -> Self {
        AdmissionFlag(Arc::new(AtomicBool::new(true)))
    }
}

impl AdmissionFlag {
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, open: bool) {
        self.0.store(open, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_admits_what_drains_within_the_budget() {
        let t = Instant::now();
        let mut g = AdmissionGate::new(t, Duration::from_millis(500));
        // Unmeasured: the floor rate (2,000/s) drains 1,000 in 500 ms.
        assert!(g.admits(t, 1_000, Duration::ZERO));
        assert!(!g.admits(t, 1_001, Duration::ZERO));
        // Measured at 10,000/s over a few windows.
        for i in 1..=8u64 {
            g.on_committed(t + WINDOW * i as u32, 5_000);
        }
        assert!(
            (g.drain_tps() - 10_000.0).abs() < 100.0,
            "{}",
            g.drain_tps()
        );
        assert!(g.admits(t + WINDOW * 8, 4_900, Duration::ZERO));
        assert!(!g.admits(t + WINDOW * 8, 5_100, Duration::ZERO));
        // Signature checks queued ahead count too.
        assert!(!g.admits(t + WINDOW * 8, 2_500, Duration::from_millis(300)));
    }

    #[test]
    fn a_stall_does_not_shrink_the_estimate_below_a_share_of_the_peak() {
        let t = Instant::now();
        let mut g = AdmissionGate::new(t, Duration::from_millis(500));
        for i in 1..=4u64 {
            g.on_committed(t + WINDOW * i as u32, 10_000);
        }
        // Nothing commits for five seconds (a view change).
        g.on_committed(t + WINDOW * 14, 0);
        assert!(g.drain_tps() >= 20_000.0 / 4.0);
    }
}
