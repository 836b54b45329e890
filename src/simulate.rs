//! `strata sim`: run the deterministic fault simulator over many seeds.

use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;
use strata_chains::sim::{run, run_many, FaultSet, SimConfig, SimReport};
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

/// Runs the seeds in chunks (progress on stderr), prints failures with
/// their replay command, and returns the summary.
pub fn simulate(args: &SimArgs) -> (SimSummary, Vec<SimReport>) {
    let template = SimConfig::new(args.protocol, args.nodes, args.first_seed, args.faults);
    let started = Instant::now();
    let mut reports = Vec::with_capacity(args.seeds as usize);
    let chunk = (args.threads as u64 * 8).max(1);
    let mut next = args.first_seed;
    let end = args.first_seed + args.seeds;
    while next < end {
        let count = chunk.min(end - next);
        let batch = run_many(&template, next, count, args.threads);
        for r in batch.iter().filter(|r| !r.passed()) {
            let mut cfg = template.clone();
            cfg.seed = r.seed;
            eprint!("{}", r.failure_text(&cfg));
        }
        reports.extend(batch);
        next += count;
        if !args.json || args.seeds > chunk {
            let failed = reports.iter().filter(|r| !r.passed()).count();
            eprint!(
                "\r{} {} nodes: {}/{} seeds, {} failed, {:.0}s",
                args.protocol,
                args.nodes,
                reports.len(),
                args.seeds,
                failed,
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
    }
    eprintln!();
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
