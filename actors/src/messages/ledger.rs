//! What a chain's ledger accepts from the committee actor and the network
//! bridge.

use std::sync::Arc;

use actix::Message;
use strata_chains::types::{Block, SyncRequest, SyncResponse};

use super::port;

/// Blocks the core committed, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Execute(pub Vec<Arc<Block>>);

/// A peer's sync request, answered from the store.
#[derive(Message)]
#[rtype(result = "SyncAnswer")]
pub struct ServeSync(pub SyncRequest);

/// The answer to a sync request, and whether the request lied about its
/// target's height (which costs the asker).
pub struct SyncAnswer {
    pub response: Option<SyncResponse>,
    pub lied: bool,
}

/// Where the ledger reports executed state roots (the committee actor,
/// started after the ledger).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReportExecutedTo(pub actix::Recipient<super::committee::StateExecuted>);

port! {
    /// A chain's ledger, as the committee actor and the bridge see it.
    LedgerPort {
        execute: Execute,
        serve_sync: ServeSync,
    }
}
