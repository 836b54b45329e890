//! What serves one chain, one set of actors per chain the node is a member
//! of: the committee actor (consensus core, store, timers), its mempool
//! (batches, availability, admission), its ledger (execution, reads, sync
//! serving), and their helpers (the executed state, held batches, the
//! safety-state writer, the batch-log collector). They reach each other
//! and the network only through `crate::messages` ports.

pub mod admission;
pub mod collector;
pub mod commit_log;
pub mod committee;
pub mod ledger;
pub mod mempool;
pub mod participant;
pub mod persister;
pub mod state;
pub mod state_proof;
