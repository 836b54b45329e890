//! The Strata node runtime (DESIGN.md §7): actix actors on tokio. One
//! committee actor per chain owns that chain's pure consensus core; a
//! ledger per chain executes and serves what it commits; a mempool per
//! chain batches and disseminates transactions; a verifier
//! thread checks signatures in batches; a network bridge connects them to
//! the libp2p transport; an actix-web server answers the HTTP API and
//! another exports Prometheus metrics.

pub mod admission;
pub mod api;
pub mod bridge;
pub mod byzantine;
pub mod chain;
pub mod collector;
pub mod config;
pub mod held;
pub mod keys;
pub mod ledger;
pub mod light;
pub mod mempool;
pub mod messages;
pub mod metrics;
pub mod misdeed;
pub mod node;
pub mod peers;
pub mod persister;
pub mod process;
pub mod state;
pub mod threads;
pub mod verifier;
pub mod wire;

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
