//! Runs a load against a cluster and measures what each chain committed:
//! throughput from the nodes' committed-transaction counters over the load
//! window, end-to-end latency from the load's samples, consensus latency
//! from the nodes' commit-latency histograms, views and timeouts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::client::Client;
use crate::load::{self, LoadOutcome, LoadSpec, PreparedLoad};

/// A chain and the API URLs of its members.
#[derive(Clone, Debug)]
pub struct ChainNodes {
    pub label: String,
    pub apis: Vec<String>,
    pub metrics: Vec<String>,
}

/// One chain's counters at an instant.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub height: u64,
    pub transactions: u64,
    pub view: u64,
    pub timeouts: u64,
    pub anchored: Option<u64>,
    /// The epoch the chain is in (0 without epochs).
    pub epoch: u64,
}

pub fn snapshot(chain: &ChainNodes) -> Option<Snapshot> {
    // The first member that answers; members agree on committed counts.
    chain.apis.iter().find_map(|url| {
        let status = Client::with_timeout(url, Duration::from_secs(5))
            .get_ok("/v1/status")
            .ok()?;
        let c = status["chains"]
            .as_array()?
            .iter()
            .find(|c| c["chain"] == chain.label.as_str())?
            .clone();
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        Some(Snapshot {
            height: n("committed_height"),
            transactions: n("committed_transactions"),
            view: n("view"),
            timeouts: n("local_timeouts"),
            anchored: c["anchored_height"].as_u64(),
            epoch: n("epoch"),
        })
    })
}

/// A chain's results, the row of `strata testnet`'s summary.
#[derive(Clone, Debug, Serialize)]
pub struct ChainResult {
    pub chain: String,
    pub committed_tx: u64,
    pub committed_tps: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Views entered during the run (a two-phase chain's stable leader
    /// stays in one view while it lasts).
    pub views: u64,
    /// Blocks committed during the run: a round of either protocol.
    pub blocks: u64,
    /// Epochs that began during the run (0 without epochs).
    pub epochs: u64,
    /// Local view timeouts during the run (on the node measured).
    pub timeouts: u64,
    pub height: u64,
    /// Median proposal-to-commit time over the run, from the members'
    /// histograms (interpolated within buckets).
    pub consensus_latency_p50_ms: Option<f64>,
    /// Local chains: the end-to-end latency to `global` (anchored, the
    /// anchor final, as the node the record went to learned it).
    pub global_latency_p50_ms: Option<f64>,
    pub global_latency_p99_ms: Option<f64>,
    /// Local chains: the last anchored height at the end of the run.
    pub anchored_height: Option<u64>,
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    pub chains: Vec<ChainResult>,
    pub load: LoadOutcome,
    pub duration_s: f64,
    pub interrupted: bool,
}

/// Polls every `every` until `ready` holds for every chain, or `timeout`
/// (or a stop request); the error names `what` was awaited and the chains
/// short of it.
fn wait_chains(
    chains: &[ChainNodes],
    what: &str,
    timeout: Duration,
    every: Duration,
    stop: &AtomicBool,
    ready: impl Fn(&ChainNodes) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let short: Vec<&str> = chains
            .iter()
            .filter(|c| !ready(c))
            .map(|c| c.label.as_str())
            .collect();
        if short.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline || stop.load(Ordering::Relaxed) {
            return Err(format!(
                "{what} within {}s on: {}",
                timeout.as_secs(),
                short.join(", ")
            ));
        }
        std::thread::sleep(every);
    }
}

/// Waits until every chain has committed a block (or `timeout`).
pub fn wait_live(
    chains: &[ChainNodes],
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), String> {
    wait_chains(
        chains,
        "no block committed",
        timeout,
        Duration::from_millis(100),
        stop,
        |c| snapshot(c).is_some_and(|s| s.height > 0),
    )
}

/// Waits until every member of every chain serves epoch `epoch` or a later
/// one with certificates of `kind` (`multisig` or `threshold`, as
/// `GET /v1/committee/{chain}` names it), or `timeout`.
pub fn wait_epoch(
    chains: &[ChainNodes],
    epoch: u64,
    kind: &str,
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), String> {
    let serving = |c: &ChainNodes, url: &String| {
        Client::with_timeout(url, Duration::from_secs(5))
            .get_ok(&format!("/v1/committee/{}", c.label))
            .ok()
            .is_some_and(|v| {
                v["current"]["epoch"].as_u64().is_some_and(|e| e >= epoch)
                    && v["certificate"]["kind"] == kind
            })
    };
    wait_chains(
        chains,
        &format!("not serving epoch {epoch} with {kind} certificates"),
        timeout,
        Duration::from_millis(250),
        stop,
        |c| c.apis.iter().all(|url| serving(c, url)),
    )
}

/// Cumulative `le` buckets of the commit-latency histogram for `chain`,
/// summed over the given metrics endpoints.
pub fn commit_histogram(chain: &ChainNodes) -> BTreeMap<u64, u64> {
    let mut buckets = BTreeMap::new();
    for url in &chain.metrics {
        let Ok(text) = Client::with_timeout(url, Duration::from_secs(5)).get_text("/metrics")
        else {
            continue;
        };
        add_histogram(
            &mut buckets,
            &text,
            "strata_commit_latency_seconds",
            &chain.label,
        );
    }
    buckets
}

/// Adds the cumulative buckets of histogram `metric` for `chain` in a
/// Prometheus text exposition (parsed by prometheus-parse) to `buckets`,
/// keyed by their upper bounds in integer nanoseconds (`+Inf`: u64::MAX),
/// which keeps the map ordered.
fn add_histogram(buckets: &mut BTreeMap<u64, u64>, text: &str, metric: &str, chain: &str) {
    let Ok(scrape) = prometheus_parse::Scrape::parse(
        text.lines().map(|l| Ok::<_, std::io::Error>(l.to_owned())),
    ) else {
        return;
    };
    for sample in scrape.samples {
        if sample.metric != metric || sample.labels.get("chain") != Some(chain) {
            continue;
        }
        let prometheus_parse::Value::Histogram(counts) = sample.value else {
            continue;
        };
        for c in counts {
            let bound = if c.less_than.is_finite() {
                (c.less_than * 1e9) as u64
            } else {
                u64::MAX
            };
            *buckets.entry(bound).or_insert(0) += c.count as u64;
        }
    }
}

/// The median of the observations between two histogram readings, in ms,
/// interpolated linearly within its bucket.
pub fn histogram_median_ms(before: &BTreeMap<u64, u64>, after: &BTreeMap<u64, u64>) -> Option<f64> {
    let delta: Vec<(u64, u64)> = after
        .iter()
        .map(|(le, n)| (*le, n.saturating_sub(before.get(le).copied().unwrap_or(0))))
        .collect();
    let total = delta.last()?.1;
    if total == 0 {
        return None;
    }
    let half = total as f64 / 2.0;
    let mut lower = (0u64, 0u64);
    for (le, cum) in delta {
        if cum as f64 >= half {
            if le == u64::MAX {
                return Some(lower.0 as f64 / 1e6);
            }
            let span = (cum - lower.1).max(1) as f64;
            let frac = (half - lower.1 as f64) / span;
            return Some((lower.0 as f64 + frac * (le - lower.0) as f64) / 1e6);
        }
        lower = (le, cum);
    }
    None
}

/// Runs a prepared load, calling `progress` about every 500 ms with the
/// elapsed time and each chain's committed height and transactions.
pub fn run(
    chains: &[ChainNodes],
    prepared: PreparedLoad,
    spec: &LoadSpec,
    stop: Arc<AtomicBool>,
    mut progress: impl FnMut(Duration, &[(String, u64, u64)]),
) -> RunResult {
    let before: Vec<Snapshot> = chains
        .iter()
        .map(|c| snapshot(c).unwrap_or_default())
        .collect();
    let hist_before: Vec<_> = chains.iter().map(commit_histogram).collect();
    let run = load::start(prepared, stop.clone());
    while run.started.elapsed() < spec.duration && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(500));
        let now: Vec<(String, u64, u64)> = chains
            .iter()
            .map(|c| {
                let s = snapshot(c).unwrap_or_default();
                // A chain running epochs shows the one it is in: each is
                // a committee drawn anew.
                let label = if s.epoch > 0 {
                    format!("{} e{}", c.label, s.epoch)
                } else {
                    c.label.clone()
                };
                (label, s.height, s.transactions)
            })
            .collect();
        progress(run.started.elapsed(), &now);
    }
    let elapsed = run
        .started
        .elapsed()
        .min(spec.duration)
        .as_secs_f64()
        .max(1e-3);
    let after: Vec<Snapshot> = chains
        .iter()
        .map(|c| snapshot(c).unwrap_or_default())
        .collect();
    let hist_after: Vec<_> = chains.iter().map(commit_histogram).collect();
    let interrupted = stop.load(Ordering::Relaxed);
    let drain = if interrupted {
        Duration::ZERO
    } else {
        Duration::from_secs(10)
    };
    let outcome = run.finish(drain);
    let results = chains
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (b, a) = (&before[i], &after[i]);
            let committed = a.transactions.saturating_sub(b.transactions);
            let latency = outcome.latency.get(&c.label);
            ChainResult {
                chain: c.label.clone(),
                committed_tx: committed,
                committed_tps: committed as f64 / elapsed,
                latency_p50_ms: latency.and_then(|l| l.p50_ms),
                latency_p99_ms: latency.and_then(|l| l.p99_ms),
                views: a.view.saturating_sub(b.view),
                blocks: a.height.saturating_sub(b.height),
                epochs: a.epoch.saturating_sub(b.epoch),
                timeouts: a.timeouts.saturating_sub(b.timeouts),
                height: a.height,
                consensus_latency_p50_ms: histogram_median_ms(&hist_before[i], &hist_after[i]),
                global_latency_p50_ms: latency.and_then(|l| l.global_p50_ms),
                global_latency_p99_ms: latency.and_then(|l| l.global_p99_ms),
                anchored_height: snapshot(c).and_then(|s| s.anchored),
            }
        })
        .collect();
    RunResult {
        chains: results,
        load: outcome,
        duration_s: elapsed,
        interrupted,
    }
}

/// `Value` helpers for callers printing JSON.
pub fn round2(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| {
        serde_json::json!((x * 100.0).round() / 100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_median_interpolates_within_the_bucket() {
        let ms = |m: u64| m * 1_000_000;
        let before = BTreeMap::from([(ms(1), 0), (ms(2), 0), (ms(4), 10), (u64::MAX, 10)]);
        // 40 new observations: 10 in (1,2] ms, 30 in (2,4] ms.
        let after = BTreeMap::from([(ms(1), 0), (ms(2), 10), (ms(4), 50), (u64::MAX, 50)]);
        let m = histogram_median_ms(&before, &after).unwrap();
        // The 20th of 40 lies 10/30 of the way into (2,4].
        assert!((m - (2.0 + 2.0 * 10.0 / 30.0)).abs() < 1e-9, "{m}");
        assert_eq!(histogram_median_ms(&after, &after), None);
    }

    #[test]
    fn the_commit_histogram_is_read_from_prometheus_text_per_chain() {
        let text = "\
# HELP strata_commit_latency_seconds Proposal received to committed.
# TYPE strata_commit_latency_seconds histogram
strata_commit_latency_seconds_bucket{chain=\"global\",le=\"0.005\"} 2
strata_commit_latency_seconds_bucket{chain=\"global\",le=\"0.01\"} 7
strata_commit_latency_seconds_bucket{chain=\"global\",le=\"+Inf\"} 9
strata_commit_latency_seconds_sum{chain=\"global\"} 0.07
strata_commit_latency_seconds_count{chain=\"global\"} 9
strata_commit_latency_seconds_bucket{chain=\"local-0\",le=\"0.005\"} 40
strata_commit_latency_seconds_bucket{chain=\"local-0\",le=\"0.01\"} 40
strata_commit_latency_seconds_bucket{chain=\"local-0\",le=\"+Inf\"} 40
strata_commit_latency_seconds_sum{chain=\"local-0\"} 0.1
strata_commit_latency_seconds_count{chain=\"local-0\"} 40
";
        let mut b = BTreeMap::new();
        add_histogram(&mut b, text, "strata_commit_latency_seconds", "global");
        // Two nodes' metrics add up.
        add_histogram(&mut b, text, "strata_commit_latency_seconds", "global");
        assert_eq!(
            b,
            BTreeMap::from([(5_000_000, 4), (10_000_000, 14), (u64::MAX, 18)])
        );
    }
}
