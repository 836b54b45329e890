//! What an epoch boundary costs (issue 26): on a running network with
//! epochs (e.g. `strata testnet --epochs 128 --dir D --duration 2m` and,
//! while it runs, `strata bench boundary --node URL`), each committed
//! block's latency (proposed to committed on the node asked, from the
//! block's timestamp and the node's commit time) and the gap between
//! consecutive commits, inside the windows around the epoch boundaries
//! against the rest of the same run.

use serde::Serialize;
use serde_json::Value;

use crate::client::Client;

#[derive(Clone, Debug, Serialize)]
pub struct BoundaryReport {
    pub chain: String,
    pub epochs: u64,
    pub blocks: usize,
    /// Blocks within `window` heights of an epoch's last block.
    pub boundary_blocks: usize,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub boundary_latency_p50_ms: f64,
    pub boundary_latency_p99_ms: f64,
    pub gap_p50_ms: f64,
    pub gap_p99_ms: f64,
    pub boundary_gap_p99_ms: f64,
    pub boundary_gap_max_ms: f64,
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Reads up to `max_blocks` of `chain`'s newest committed blocks from
/// `node` and compares the boundaries' windows with the rest.
pub fn run(
    node: &str,
    chain: &str,
    window: u64,
    max_blocks: u64,
) -> Result<BoundaryReport, String> {
    let c = Client::new(node);
    let now = c
        .get_ok(&format!("/v1/committee/{chain}"))
        .map_err(|e| e.to_string())?;
    let epoch = now["current"]["epoch"]
        .as_u64()
        .ok_or("the chain runs no epochs")?;
    let top = now["executed_height"].as_u64().unwrap_or(0);
    let mut boundaries = Vec::new();
    for e in 1..=epoch {
        let v = c
            .get_ok(&format!("/v1/epoch/{chain}/{e}"))
            .map_err(|e| e.to_string())?;
        if let Some(start) = v["record"]["start"].as_u64() {
            boundaries.push(start);
        }
    }
    let near = |h: u64| {
        boundaries
            .iter()
            .any(|&b| h + window > b && h <= b + window)
    };
    let first = top.saturating_sub(max_blocks).max(1);
    let mut blocks: Vec<(u64, f64, f64)> = Vec::new();
    for h in first..=top {
        let Ok(b): Result<Value, _> = c.get_ok(&format!("/v1/block/{chain}/{h}")) else {
            continue;
        };
        let (Some(ts), Some(at)) = (b["timestamp_ms"].as_f64(), b["committed_at_ms"].as_f64())
        else {
            continue;
        };
        blocks.push((h, ts, at));
    }
    let (mut lat, mut blat, mut gap, mut bgap) = (vec![], vec![], vec![], vec![]);
    for (i, &(h, ts, at)) in blocks.iter().enumerate() {
        let l = (at - ts).max(0.0);
        if near(h) {
            blat.push(l);
        } else {
            lat.push(l);
        }
        if let Some(&(ph, _, pat)) = i.checked_sub(1).and_then(|j| blocks.get(j)) {
            if ph + 1 == h {
                let g = (at - pat).max(0.0);
                if near(h) {
                    bgap.push(g);
                } else {
                    gap.push(g);
                }
            }
        }
    }
    let boundary_gap_max_ms = bgap.iter().copied().fold(0.0, f64::max);
    Ok(BoundaryReport {
        chain: chain.to_string(),
        epochs: epoch,
        blocks: blocks.len(),
        boundary_blocks: blat.len(),
        latency_p50_ms: percentile(&mut lat, 0.5),
        latency_p99_ms: percentile(&mut lat, 0.99),
        boundary_latency_p50_ms: percentile(&mut blat, 0.5),
        boundary_latency_p99_ms: percentile(&mut blat, 0.99),
        gap_p50_ms: percentile(&mut gap, 0.5),
        gap_p99_ms: percentile(&mut gap, 0.99),
        boundary_gap_p99_ms: percentile(&mut bgap, 0.99),
        boundary_gap_max_ms,
    })
}
