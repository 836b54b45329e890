//! `strata testnet --plot`: samples each chain while the load runs (its
//! committed count, timeouts and epoch from one member's status, its
//! commit-latency histogram from that member's metrics) and turns the
//! samples into the per-chain timelines `plot::timeline` draws.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::measure::{self, ChainNodes, Snapshot};
use crate::plot::ChainTimeline;

struct Last {
    at: f64,
    snapshot: Snapshot,
    histogram: BTreeMap<u64, u64>,
}

/// The samples so far, one timeline per chain.
pub struct TimelineRecorder {
    started: Instant,
    /// Per chain: the member sampled (its first API and metrics address).
    chains: Vec<ChainNodes>,
    last: Vec<Option<Last>>,
    timelines: Vec<ChainTimeline>,
}

impl TimelineRecorder {
    pub fn new(chains: &[ChainNodes]) -> TimelineRecorder {
        let one = |c: &ChainNodes| ChainNodes {
            label: c.label.clone(),
            apis: c.apis.iter().take(1).cloned().collect(),
            metrics: c.metrics.iter().take(1).cloned().collect(),
        };
        TimelineRecorder {
            started: Instant::now(),
            chains: chains.iter().map(one).collect(),
            last: chains.iter().map(|_| None).collect(),
            timelines: chains
                .iter()
                .map(|c| ChainTimeline {
                    chain: c.label.clone(),
                    ..ChainTimeline::default()
                })
                .collect(),
        }
    }

    /// Takes one sample of every chain (a member that does not answer is
    /// skipped this time).
    pub fn sample(&mut self) {
        let at = self.started.elapsed().as_secs_f64();
        for ((c, last), t) in self
            .chains
            .iter()
            .zip(self.last.iter_mut())
            .zip(self.timelines.iter_mut())
        {
            let Some(snapshot) = measure::snapshot(c) else {
                continue;
            };
            let histogram = measure::commit_histogram(c);
            if let Some(prev) = last.as_ref() {
                let dt = at - prev.at;
                if dt > 0.0 {
                    let txs = snapshot
                        .transactions
                        .saturating_sub(prev.snapshot.transactions);
                    t.rate.push((at, txs as f64 / dt));
                }
                if let Some(ms) = measure::histogram_median_ms(&prev.histogram, &histogram) {
                    t.latency_ms.push((at, ms));
                }
                // One mark per view entered by timeout since the last sample.
                let changes = snapshot.timeouts.saturating_sub(prev.snapshot.timeouts);
                t.view_changes
                    .extend(std::iter::repeat_n(at, changes.min(64) as usize));
                if snapshot.epoch > prev.snapshot.epoch {
                    t.epoch_starts.push(at);
                }
            }
            *last = Some(Last {
                at,
                snapshot,
                histogram,
            });
        }
    }

    pub fn timelines(&self) -> &[ChainTimeline] {
        &self.timelines
    }
}
