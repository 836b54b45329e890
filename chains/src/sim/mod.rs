//! The deterministic fault simulator (docs/design.md §2; in the spirit of
//! TigerBeetle's VOPR).
//!
//! N consensus cores with real BLS, virtual time and one seeded RNG: message
//! delay, loss, duplication and reordering, partitions and heals, crashes and
//! restarts from the persisted store (also between a persist and the sends
//! that follow it), and up to f Byzantine nodes that equivocate as leader,
//! double vote, send invalid signatures, withhold votes, or replay stale
//! messages. After every step the checker verifies safety; after the fault
//! phase ends (all partitions healed, crashed nodes restarted, loss stopped)
//! every honest node must commit new blocks within a bounded virtual time;
//! and every equivocation an honest node saw must have produced evidence.
//! A seed and its configuration replay a run exactly.

mod byzantine;
mod checker;
mod dynasty;
mod network;
mod run;

pub use byzantine::Behavior;
pub use dynasty::{run_dynasty, DynastySimConfig, DynastySimReport};
pub use run::{run, run_hierarchy, run_many, HierarchyConfig, HierarchyReport};

use std::time::Duration;

use crate::types::Protocol;

/// Which faults to inject during the fault phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultSet {
    pub crash: bool,
    pub partition: bool,
    pub loss: bool,
    pub byzantine: bool,
}

impl FaultSet {
    pub const ALL: FaultSet = FaultSet {
        crash: true,
        partition: true,
        loss: true,
        byzantine: true,
    };

    /// Parses `crash,partition,loss,byzantine` (any subset; `none` or empty
    /// for none).
    pub fn parse(s: &str) -> Result<FaultSet, String> {
        let mut f = FaultSet::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "crash" => f.crash = true,
                "partition" => f.partition = true,
                "loss" => f.loss = true,
                "byzantine" => f.byzantine = true,
                "none" => {}
                other => {
                    return Err(format!(
                        "unknown fault {other:?} (crash, partition, loss, byzantine)"
                    ))
                }
            }
        }
        Ok(f)
    }
}

impl std::fmt::Display for FaultSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = [
            (self.crash, "crash"),
            (self.partition, "partition"),
            (self.loss, "loss"),
            (self.byzantine, "byzantine"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// One simulation's parameters; with the seed, they determine the run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub protocol: Protocol,
    pub nodes: usize,
    pub seed: u64,
    pub faults: FaultSet,
    /// Virtual duration of the fault phase.
    pub fault_phase: Duration,
    /// New blocks every honest node must commit after the heal…
    pub liveness_blocks: u64,
    /// …within this much virtual time.
    pub liveness_deadline: Duration,
    /// Delay before a leader's payload is ready (batching).
    pub block_interval: Duration,
    pub base_timeout: Duration,
    /// Keep the whole event trace (otherwise only the last events, for
    /// failures).
    pub full_trace: bool,
    /// In a simulated hierarchy (`hierarchy.rs`): which chain this run is
    /// and the network's genesis state (every chain's committee).
    pub seat: Option<Seat>,
}

/// A chain's place in a simulated hierarchy.
#[derive(Clone, Debug)]
pub struct Seat {
    pub chain: crate::types::ChainId,
    pub domains: u32,
    /// Salt of the chain's kit committee (distinct per chain).
    pub salt: u64,
    pub genesis: std::sync::Arc<crate::execution::GenesisState>,
}

impl SimConfig {
    pub fn new(protocol: Protocol, nodes: usize, seed: u64, faults: FaultSet) -> SimConfig {
        SimConfig {
            protocol,
            nodes,
            seed,
            faults,
            fault_phase: Duration::from_secs(4),
            liveness_blocks: 3,
            liveness_deadline: Duration::from_secs(90),
            block_interval: Duration::from_millis(100),
            base_timeout: Duration::from_millis(400),
            full_trace: false,
            seat: None,
        }
    }
}

/// What the simulated mempools did over a run (every node).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Batches sealed by nodes' mempools.
    pub batches_sealed: u64,
    /// Committed blocks executed from batches.
    pub batched_blocks_executed: u64,
    /// Fetches of batches a proposal or a committed block named.
    pub fetches: u64,
    /// Proposals whose payload a mempool refused (unavailable or invalid).
    pub payloads_refused: u64,
    /// Pushed batches refused (forged records).
    pub batches_refused: u64,
}

/// The outcome of one seed.
#[derive(Clone, Debug, Default)]
pub struct SimReport {
    pub seed: u64,
    pub safety_violations: Vec<String>,
    pub liveness_failure: Option<String>,
    pub evidence_missed: Vec<String>,
    /// Lowest committed height among honest nodes at the end.
    pub committed_min: u64,
    pub virtual_time: Duration,
    pub events: u64,
    pub byzantine: Vec<(u32, Vec<Behavior>)>,
    pub evidence_emitted: u64,
    pub views_max: u64,
    /// Views the most-affected node entered by timeout (a view change).
    pub view_changes: u64,
    /// Per committed height: virtual milliseconds from its proposal to
    /// the first honest node's commit (`strata sim --plot`).
    pub commit_latency_ms: Vec<u32>,
    /// Heights whose executed state digest honest nodes compared (every
    /// honest node executes what it commits; a disagreement is a safety
    /// violation).
    pub executed_heights: usize,
    /// The highest executed height a committed block named the state of
    /// (`BlockHeader::state_height`): proposers name executed state, and
    /// every named root was checked against the honest nodes' roots.
    pub highest_named_state: u64,
    /// What the nodes' mempools did.
    pub pool: PoolStats,
    /// The last events (all of them with `full_trace`), oldest first.
    pub trace: Vec<String>,
}

impl SimReport {
    pub fn passed(&self) -> bool {
        self.safety_violations.is_empty()
            && self.liveness_failure.is_none()
            && self.evidence_missed.is_empty()
    }

    /// A failure summary with what replays it.
    pub fn failure_text(&self, cfg: &SimConfig) -> String {
        let mut s = format!(
            "seed {} failed (replay: strata sim --protocol {} --nodes {} --faults {} --seed {} --trace)\n",
            self.seed, cfg.protocol, cfg.nodes, cfg.faults, self.seed
        );
        for v in &self.safety_violations {
            s += &format!("  safety: {v}\n");
        }
        if let Some(l) = &self.liveness_failure {
            s += &format!("  liveness: {l}\n");
        }
        for e in &self.evidence_missed {
            s += &format!("  evidence missed: {e}\n");
        }
        s += &format!("  byzantine: {:?}\n  last events:\n", self.byzantine);
        for t in &self.trace {
            s += &format!("    {t}\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_sets_parse_and_print() {
        assert_eq!(
            FaultSet::parse("crash,partition,loss,byzantine").unwrap(),
            FaultSet::ALL
        );
        assert_eq!(FaultSet::parse("").unwrap(), FaultSet::default());
        assert_eq!(FaultSet::parse("loss").unwrap().to_string(), "loss");
        assert!(FaultSet::parse("meteor").is_err());
    }
}
