//! `strata receipt` and `strata verify`: fetching a record's receipt from a
//! node, and checking one offline against the genesis alone
//! (`strata_chains::anchor::receipt`).

use std::path::Path;

use strata_chains::anchor::{ReceiptError, ReceiptJson, ReceiptSummary, Trust, MAX_RECEIPT_BYTES};

use crate::client::Client;

/// The receipt of `hash` as `node` serves it (JSON).
pub fn fetch(node: &str, hash: &str) -> Result<serde_json::Value, String> {
    Client::new(node).receipt(hash).map_err(|e| e.to_string())
}

/// Why `strata verify` did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The receipt or the genesis could not be read.
    #[error("{0}")]
    Input(String),
    /// A link of the receipt does not hold.
    #[error("the receipt does not verify: {0}")]
    Link(ReceiptError),
}

/// Checks the receipt in `receipt_path` against the genesis file at
/// `genesis_path`, with nothing else.
pub fn verify_file(
    receipt_path: &Path,
    genesis_path: &Path,
) -> Result<ReceiptSummary, VerifyError> {
    let genesis = strata_actors::config::Genesis::load(genesis_path)
        .map_err(|e| VerifyError::Input(e.to_string()))?;
    let meta = std::fs::metadata(receipt_path)
        .map_err(|e| VerifyError::Input(format!("{}: {e}", receipt_path.display())))?;
    if meta.len() > MAX_RECEIPT_BYTES as u64 * 3 {
        return Err(VerifyError::Input(format!(
            "{}: larger than any receipt",
            receipt_path.display()
        )));
    }
    let text = std::fs::read_to_string(receipt_path)
        .map_err(|e| VerifyError::Input(format!("{}: {e}", receipt_path.display())))?;
    let receipt: ReceiptJson = serde_json::from_str(&text).map_err(|e| {
        VerifyError::Input(format!(
            "{}: not a JSON receipt: {e}",
            receipt_path.display()
        ))
    })?;
    receipt
        .verify(&Trust::new(&genesis.state))
        .map_err(VerifyError::Link)
}
