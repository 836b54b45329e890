//! `strata sim --hierarchy`: the global chain and the local chains with
//! anchoring under the same faults (`strata_chains::sim::run_hierarchy`),
//! over many seeds on several threads.

use std::time::Instant;

use serde::Serialize;
use strata_chains::sim::{run_hierarchy, FaultSet, HierarchyConfig, HierarchyReport};

/// The JSON summary of a hierarchy run.
#[derive(Debug, Serialize)]
pub struct HierarchySummary {
    pub domains: u32,
    pub nodes: usize,
    pub seeds: u64,
    pub failed: usize,
    /// Seeds with a chain's own safety violation, or a hierarchy invariant
    /// broken (an anchor conflict, an anchored block no member committed,
    /// members disagreeing on a record's place).
    pub safety_violations: usize,
    pub liveness_failures: usize,
    /// Anchors recorded on the global chain over all seeds and domains.
    pub anchors: u64,
    pub virtual_seconds: f64,
    pub wall_seconds: f64,
}

fn report_failure(r: &HierarchyReport, domains: u32, nodes: usize, faults: FaultSet) -> String {
    let mut out = format!(
        "seed {} FAILED (replay: strata sim --hierarchy --domains {domains} --nodes {nodes} --faults {faults} --seed {})\n",
        r.seed, r.seed
    );
    for v in &r.violations {
        out += &format!("  hierarchy: {v}\n");
    }
    if let Some(l) = &r.liveness_failure {
        out += &format!("  liveness: {l}\n");
    }
    for (i, c) in r.chains.iter().enumerate() {
        for v in c.safety_violations.iter().chain(&c.liveness_failure) {
            out += &format!("  chain {i}: {v}\n");
        }
    }
    out
}

/// Runs seeds `first..first+seeds` on `threads` threads.
pub fn simulate(
    domains: u32,
    nodes: usize,
    seeds: u64,
    first: u64,
    faults: FaultSet,
    threads: usize,
    quiet: bool,
) -> (HierarchySummary, Vec<HierarchyReport>) {
    let started = Instant::now();
    let label = format!("hierarchy {domains} domains × {nodes} nodes");
    let range = crate::seeds::SeedRange {
        first,
        count: seeds,
        threads,
        quiet,
    };
    let reports = crate::seeds::over_seeds(
        &label,
        range,
        |seed| run_hierarchy(&HierarchyConfig::new(domains, nodes, seed, faults)),
        |r| (!r.passed()).then(|| report_failure(r, domains, nodes, faults)),
    );
    let summary = HierarchySummary {
        domains,
        nodes,
        seeds,
        failed: reports.iter().filter(|r| !r.passed()).count(),
        safety_violations: reports
            .iter()
            .filter(|r| {
                !r.violations.is_empty() || r.chains.iter().any(|c| !c.safety_violations.is_empty())
            })
            .count(),
        liveness_failures: reports
            .iter()
            .filter(|r| {
                r.liveness_failure.is_some()
                    || r.chains.iter().any(|c| c.liveness_failure.is_some())
            })
            .count(),
        anchors: reports.iter().map(|r| r.anchors.iter().sum::<u64>()).sum(),
        virtual_seconds: reports.iter().map(|r| r.virtual_time.as_secs_f64()).sum(),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    (summary, reports)
}
