//! What an epoch boundary costs (issue 26): on a running network with
//! epochs (e.g. `strata testnet --epochs 128 --dir D --duration 2m` and,
//! while it runs, `strata bench boundary --node URL`), each committed
//! block's latency (proposed to committed on the node asked, from the
//! block's timestamp and the node's commit time) and the gap between
//! consecutive commits, inside the windows around the epoch boundaries
//! against the rest of the same run.
//!
//! Given several nodes of the chain (`--node` again for each), it also
//! measures the *chain's* commits: a block is committed by the chain when
//! a quorum's worth of the nodes asked (2f+1 of the committee's size) has
//! committed it, and the boundary stall is the gap between those times
//! across a boundary. One node's own gap mixes in how it follows: an
//! observer, or a member that missed the new epoch's first proposals,
//! commits later than the chain does.

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
    /// Nodes read for the chain's commit times (the quorum's worth of them).
    pub nodes: usize,
    pub quorum: usize,
    /// Gaps between the chain's commits (see the module comment).
    pub chain_gap_p50_ms: f64,
    pub chain_gap_p99_ms: f64,
    pub chain_boundary_gap_p99_ms: f64,
    pub chain_boundary_gap_max_ms: f64,
    /// One view at this load: the chain's median gap between commits.
    pub view_ms: f64,
    /// What the boundaries cost: the p99 of commit latency in their
    /// windows less the p99 of the rest (issue 26 bounds it by one view).
    pub boundary_cost_ms: f64,
    /// Each boundary in the blocks read: the longest gap between the
    /// chain's commits (and the first node's own) inside its window.
    pub per_boundary: Vec<BoundaryGap>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BoundaryGap {
    pub epoch: u64,
    /// The epoch's first height.
    pub start: u64,
    pub chain_gap_max_ms: Option<f64>,
    pub node_gap_max_ms: Option<f64>,
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
/// `nodes` (the first is the one whose own view is reported) and compares
/// the boundaries' windows with the rest.
pub fn run(
    nodes: &[String],
    chain: &str,
    window: u64,
    max_blocks: u64,
    until: Option<u64>,
) -> Result<BoundaryReport, String> {
    let first_node = nodes.first().ok_or("no node to ask")?;
    let c = Client::new(first_node);
    let now = c
        .get_ok(&format!("/v1/committee/{chain}"))
        .map_err(|e| e.to_string())?;
    let epoch = now["current"]["epoch"]
        .as_u64()
        .ok_or("the chain runs no epochs")?;
    // `until`: the last height of the run measured (a network restarted
    // to be read has its restart after it, which is no boundary's cost).
    let executed = now["executed_height"].as_u64().unwrap_or(0);
    let top = until.map_or(executed, |u| u.min(executed));
    let members = now["members"].as_array().map_or(1, Vec::len).max(1);
    let quorum = (members - (members - 1) / 3).min(nodes.len());
    let mut boundaries = Vec::new();
    for e in 1..=epoch {
        let v = c
            .get_ok(&format!("/v1/epoch/{chain}/{e}"))
            .map_err(|e| e.to_string())?;
        if let Some(start) = v["record"]["start"].as_u64() {
            boundaries.push((e, start));
        }
    }
    let near = |h: u64| {
        boundaries
            .iter()
            .any(|&(_, b)| h + window > b && h <= b + window)
    };
    let first = top.saturating_sub(max_blocks).max(1);
    let clients: Vec<Client> = nodes.iter().map(|n| Client::new(n)).collect();
    // Per height: the block's timestamp, the first node's commit time and
    // the time a quorum's worth of the nodes had committed it.
    let mut blocks: Vec<(u64, f64, f64, Option<f64>)> = Vec::new();
    for h in first..=top {
        let mut ts = None;
        let mut times = Vec::new();
        let mut own = None;
        for (i, client) in clients.iter().enumerate() {
            let Ok(b): Result<Value, _> = client.get_ok(&format!("/v1/block/{chain}/{h}")) else {
                continue;
            };
            let (Some(t), Some(at)) = (b["timestamp_ms"].as_f64(), b["committed_at_ms"].as_f64())
            else {
                continue;
            };
            ts = Some(t);
            times.push(at);
            if i == 0 {
                own = Some(at);
            }
        }
        times.sort_by(f64::total_cmp);
        let chain_at = times.get(quorum.saturating_sub(1)).copied();
        if let (Some(ts), Some(own)) = (ts, own) {
            blocks.push((h, ts, own, chain_at));
        }
    }
    let (mut lat, mut blat, mut gap, mut bgap) = (vec![], vec![], vec![], vec![]);
    let (mut cgap, mut cbgap) = (vec![], vec![]);
    let mut per_boundary: Vec<BoundaryGap> = boundaries
        .iter()
        .filter(|&&(_, b)| b >= first && b <= top)
        .map(|&(epoch, start)| BoundaryGap {
            epoch,
            start,
            chain_gap_max_ms: None,
            node_gap_max_ms: None,
        })
        .collect();
    let mut note_gap = |h: u64, own: f64, chain: Option<f64>| {
        for pb in per_boundary
            .iter_mut()
            .filter(|pb| h + window > pb.start && h <= pb.start + window)
        {
            pb.node_gap_max_ms = Some(pb.node_gap_max_ms.map_or(own, |m: f64| m.max(own)));
            if let Some(c) = chain {
                pb.chain_gap_max_ms = Some(pb.chain_gap_max_ms.map_or(c, |m: f64| m.max(c)));
            }
        }
    };
    for (i, &(h, ts, at, chain_at)) in blocks.iter().enumerate() {
        let l = (at - ts).max(0.0);
        if near(h) {
            blat.push(l);
        } else {
            lat.push(l);
        }
        let Some(&(ph, _, pat, pchain)) = i.checked_sub(1).and_then(|j| blocks.get(j)) else {
            continue;
        };
        if ph + 1 != h {
            continue;
        }
        let (g, gaps) = (
            (at - pat).max(0.0),
            if near(h) { &mut bgap } else { &mut gap },
        );
        gaps.push(g);
        let chain_gap = chain_at.zip(pchain).map(|(c, p)| (c - p).max(0.0));
        if let Some(cg) = chain_gap {
            let gaps = if near(h) { &mut cbgap } else { &mut cgap };
            gaps.push(cg);
        }
        note_gap(h, g, chain_gap);
    }
    let view_ms = percentile(&mut cgap.clone(), 0.5);
    let boundary_cost_ms =
        (percentile(&mut blat.clone(), 0.99) - percentile(&mut lat.clone(), 0.99)).max(0.0);
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
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
        boundary_gap_max_ms: max(&bgap),
        boundary_gap_p99_ms: percentile(&mut bgap, 0.99),
        nodes: nodes.len(),
        quorum,
        chain_gap_p50_ms: percentile(&mut cgap, 0.5),
        chain_gap_p99_ms: percentile(&mut cgap, 0.99),
        chain_boundary_gap_max_ms: max(&cbgap),
        chain_boundary_gap_p99_ms: percentile(&mut cbgap, 0.99),
        view_ms,
        boundary_cost_ms,
        per_boundary,
    })
}
