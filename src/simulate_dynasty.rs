//! `strata sim --dynasty`: one chain through epoch changes (registry,
//! RandShare, sortition, a reconfiguration, handovers) under the same
//! faults (`strata_chains::sim::run_dynasty`), over many seeds.

use std::time::Instant;

use serde::Serialize;
use strata_chains::sim::{run_dynasty, DynastySimConfig, DynastySimReport, FaultSet};
use strata_chains::types::{CertificateKind, Protocol};

/// The JSON summary of a dynasty run.
#[derive(Debug, Serialize)]
pub struct DynastySummary {
    pub protocol: String,
    pub validators: usize,
    pub committee_size: u32,
    pub epoch_length: u64,
    pub seeds: u64,
    pub failed: usize,
    pub safety_violations: usize,
    pub liveness_failures: usize,
    /// Epochs every honest process reached, lowest over the seeds.
    pub epochs_min: u64,
    /// Seeds of later epochs made by RandShare, and by the fallback
    /// (fewer than f+1 dealings, or a qualified secret not recovered).
    pub randshare_seeds: u64,
    pub fallback_seeds: u64,
    /// Committees keyed by their DKG, and dealers it excluded for a bad
    /// share (the Byzantine dealer's, where it was drawn).
    pub group_keys: u64,
    pub dkg_excluded: u64,
    /// How committees after the first certified, and the epochs whose
    /// committee did so with its group key.
    pub certificate: &'static str,
    pub threshold_epochs: u64,
    /// Validators convicted on committed evidence (the Byzantine one's
    /// equivocations).
    pub convicted: u64,
    /// Epochs that paid their rewards (each exactly its pot, checked).
    pub rewarded_epochs: u64,
    /// Boundaries where the committee changed.
    pub committee_changes: u64,
    /// Seeds where the reconfiguration executed, and where the validator
    /// registered after the start served.
    pub reconfigured: usize,
    pub newcomer_served: usize,
    pub virtual_seconds: f64,
    pub wall_seconds: f64,
}

/// The configuration of one seed (what a replay uses too).
pub fn config(
    protocol: Protocol,
    certificate: CertificateKind,
    seed: u64,
    faults: FaultSet,
) -> DynastySimConfig {
    DynastySimConfig {
        certificate,
        ..DynastySimConfig::new(protocol, seed, faults)
    }
}

/// Runs seeds `first..first+seeds` on `threads` threads.
pub fn simulate(
    protocol: Protocol,
    certificate: CertificateKind,
    seeds: u64,
    first: u64,
    faults: FaultSet,
    threads: usize,
    quiet: bool,
) -> (DynastySummary, Vec<DynastySimReport>) {
    let started = Instant::now();
    let label = format!("dynasty {protocol}");
    let range = crate::seeds::SeedRange {
        first,
        count: seeds,
        threads,
        quiet,
    };
    let reports = crate::seeds::over_seeds(
        &label,
        range,
        |seed| run_dynasty(&config(protocol, certificate, seed, faults)),
        |r| (!r.passed()).then(|| r.failure_text(&config(protocol, certificate, r.seed, faults))),
    );
    let template = config(protocol, certificate, first, faults);
    let summary = DynastySummary {
        protocol: protocol.to_string(),
        validators: template.validators,
        committee_size: template.committee_size,
        epoch_length: template.epoch_length,
        seeds,
        failed: reports.iter().filter(|r| !r.passed()).count(),
        safety_violations: reports.iter().filter(|r| !r.violations.is_empty()).count(),
        liveness_failures: reports
            .iter()
            .filter(|r| r.liveness_failure.is_some())
            .count(),
        epochs_min: reports.iter().map(|r| r.epochs_min).min().unwrap_or(0),
        randshare_seeds: reports.iter().map(|r| r.randshare_seeds).sum(),
        fallback_seeds: reports.iter().map(|r| r.fallback_seeds).sum(),
        group_keys: reports.iter().map(|r| r.group_keys).sum(),
        dkg_excluded: reports.iter().map(|r| r.dkg_excluded).sum(),
        certificate: certificate.as_str(),
        threshold_epochs: reports.iter().map(|r| r.threshold_epochs).sum(),
        convicted: reports.iter().map(|r| r.convicted).sum(),
        rewarded_epochs: reports.iter().map(|r| r.rewarded_epochs).sum(),
        committee_changes: reports.iter().map(|r| r.committee_changes).sum(),
        reconfigured: reports.iter().filter(|r| r.reconfigured).count(),
        newcomer_served: reports.iter().filter(|r| r.newcomer_served).count(),
        virtual_seconds: reports.iter().map(|r| r.virtual_time.as_secs_f64()).sum(),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    (summary, reports)
}

/// Replays one seed with its whole trace.
pub fn replay(
    protocol: Protocol,
    certificate: CertificateKind,
    seed: u64,
    faults: FaultSet,
) -> DynastySimReport {
    let mut cfg = config(protocol, certificate, seed, faults);
    cfg.full_trace = true;
    run_dynasty(&cfg)
}
