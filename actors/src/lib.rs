//! The Strata node runtime (docs/design.md §7): actix actors on tokio, in rooms.
//! `chain`: per chain, a committee actor owning the pure consensus core, a
//! mempool that batches and disseminates transactions, a ledger that
//! executes and serves what commits. `service`: node-wide, the network
//! bridge to the libp2p transport, the signature verifier thread,
//! Prometheus metrics and the wire format. `api`: the HTTP API over the
//! chains' actors. `tier`: the IoT light client. `crosschain`: the home of
//! services that span chains (anchoring, committee history). Actors
//! address each other through the ports in `messages`; `node` wires them.

// Rooms: what serves one chain, what serves the whole node, the tiers'
// clients, and (next) what spans chains.
pub mod chain;
pub mod crosschain;
pub mod service;
pub mod tier;

// What the rooms share: the messages they accept from each other, the
// configuration, keys, threads, the process; above them, the HTTP API
// that queries the chains, and the node that wires everything.
pub mod api;
pub mod byzantine;
pub mod config;
pub mod data_dir;
pub mod dynasty_api;
pub mod explorer;
pub mod hierarchy_api;
pub mod keys;
pub mod messages;
pub mod misdeed;
pub mod node;
pub mod openapi;
pub mod process;
pub mod rewards_api;
pub mod stake_api;
pub mod threads;
pub mod tx_json;

pub use config::{ConfigError, Genesis, NodeConfig, Tier};
pub use node::run;
pub use process::NodeError;

/// Wall-clock time in Unix microseconds (0 if the clock is before 1970).
pub(crate) fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Stops the node: a chain cannot continue without its storage.
pub(crate) fn fatal(what: &str, e: impl std::fmt::Display) -> ! {
    tracing::error!("node stops: {what}: {e}");
    eprintln!("strata: node stops: {what}: {e}");
    std::process::exit(70)
}
