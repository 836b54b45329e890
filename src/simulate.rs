//! `strata sim`: run the deterministic fault simulator over many seeds.

use std::time::{Duration, Instant};

use serde::Serialize;
use strata_chains::sim::{run, FaultSet, SimConfig, SimReport};
use strata_chains::types::Protocol;

/// The JSON summary (exactly these fields).
#[derive(Debug, Serialize)]
pub struct SimSummary {
    pub protocol: String,
    pub nodes: usize,
    pub seeds: u64,
    pub safety_violations: usize,
    pub liveness_failures: usize,
    pub evidence_missed: usize,
    pub committed_blocks_min: u64,
    pub virtual_seconds: f64,
    pub wall_seconds: f64,
}

pub struct SimArgs {
    pub protocol: Protocol,
    pub nodes: usize,
    pub seeds: u64,
    pub first_seed: u64,
    pub faults: FaultSet,
    pub threads: usize,
    pub json: bool,
}

/// Runs the seeds (`seeds::over_seeds`), prints failures with their
/// replay command, and returns the summary.
pub fn simulate(args: &SimArgs) -> (SimSummary, Vec<SimReport>) {
    let template = SimConfig::new(args.protocol, args.nodes, args.first_seed, args.faults);
    let started = Instant::now();
    let range = crate::seeds::SeedRange {
        first: args.first_seed,
        count: args.seeds,
        threads: args.threads,
        quiet: args.json,
    };
    let label = format!("{} {} nodes", args.protocol, args.nodes);
    let reports = crate::seeds::over_seeds(
        &label,
        range,
        |seed| {
            let mut cfg = template.clone();
            cfg.seed = seed;
            run(&cfg)
        },
        |r| {
            (!r.passed()).then(|| {
                let mut cfg = template.clone();
                cfg.seed = r.seed;
                r.failure_text(&cfg)
            })
        },
    );
    let summary = SimSummary {
        protocol: args.protocol.to_string(),
        nodes: args.nodes,
        seeds: args.seeds,
        safety_violations: reports
            .iter()
            .filter(|r| !r.safety_violations.is_empty())
            .count(),
        liveness_failures: reports
            .iter()
            .filter(|r| r.liveness_failure.is_some())
            .count(),
        evidence_missed: reports.iter().map(|r| r.evidence_missed.len()).sum(),
        committed_blocks_min: reports.iter().map(|r| r.committed_min).min().unwrap_or(0),
        virtual_seconds: reports
            .iter()
            .map(|r| r.virtual_time)
            .sum::<Duration>()
            .as_secs_f64(),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    (summary, reports)
}

/// Replays one seed with its whole trace.
pub fn replay(protocol: Protocol, nodes: usize, seed: u64, faults: FaultSet) -> SimReport {
    let mut cfg = SimConfig::new(protocol, nodes, seed, faults);
    cfg.full_trace = true;
    run(&cfg)
}

pub fn print_table(s: &SimSummary) {
    println!(
        "{:<10} {:>5} {:>7} {:>7} {:>9} {:>9} {:>13} {:>10} {:>8}",
        "protocol",
        "nodes",
        "seeds",
        "safety",
        "liveness",
        "evidence",
        "committed_min",
        "virtual_s",
        "wall_s"
    );
    println!(
        "{:<10} {:>5} {:>7} {:>7} {:>9} {:>9} {:>13} {:>10.0} {:>8.1}",
        s.protocol,
        s.nodes,
        s.seeds,
        s.safety_violations,
        s.liveness_failures,
        s.evidence_missed,
        s.committed_blocks_min,
        s.virtual_seconds,
        s.wall_seconds
    );
}
