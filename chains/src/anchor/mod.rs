//! The hierarchy's machines (issue 25; docs/design.md §1, §6): who anchors a
//! domain's local chain on the global chain and when (`submitter`), and
//! the receipts that prove a record through both tiers offline
//! (`receipt`). Pure: the node's cross-chain actors and the simulator
//! carry them out. The rules an anchor must meet on the global chain are
//! the executor's (`execution/anchor.rs`).

pub mod history;
pub mod receipt;
pub mod submitter;

pub use crate::types::{AnchorInclusion, AnchoredProof, CommitProof, Finality, Inclusion, Receipt};
pub use receipt::{
    ReceiptError, ReceiptJson, ReceiptSummary, Trust, MAX_RECEIPT_BYTES, RECEIPT_FORMAT,
};
pub use submitter::{AnchorSubmitter, SubmitterAction, SubmitterConfig, SubmitterEvent};

#[cfg(test)]
mod tests;
