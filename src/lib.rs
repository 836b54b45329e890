//! The `strata` command line and the tools behind it.

pub mod audit;
pub mod bench;
pub mod client;
pub mod cluster;
pub mod commands;
pub mod deploy;
pub mod dynasty_cli;
pub mod init;
pub mod init_cli;
pub mod load;
pub mod measure;
pub mod monitor;
pub mod netlab;
pub mod node_main;
pub mod plot;
pub mod progress;
pub mod receipts;
pub mod seeds;
pub mod simulate;
pub mod simulate_dynasty;
pub mod simulate_hierarchy;
pub mod stake_cli;
pub mod testnet;
pub mod timeline;

/// A chain as the command line names it: `global` or `local-N`.
pub fn parse_chain_arg(s: &str) -> Result<strata_chains::types::ChainId, String> {
    use strata_chains::types::ChainId;
    if s == "global" {
        return Ok(ChainId::GLOBAL);
    }
    s.strip_prefix("local-")
        .and_then(|d| d.parse::<u32>().ok())
        .map(ChainId::local)
        .ok_or_else(|| format!("chain {s:?}: use `global` or `local-N`"))
}
