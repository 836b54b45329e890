//! The explorer's in-page receipt check (issue 28, point 3): the page
//! hands this module the genesis the node serves (`GET /v1/genesis`, its
//! state SCALE-encoded) and a receipt as JSON (`GET /v1/tx/{hash}/receipt`
//! or one pasted by the user), and it runs the same
//! [`ReceiptJson::verify`] that `strata verify` runs, in the browser.
//!
//! The interface is plain numbers over the module's memory, so the page
//! needs no generated glue: `strata_alloc(len)` gives a buffer the page
//! writes into, `strata_verify(genesis, genesis_len, receipt,
//! receipt_len)` returns the address of a result it reads with
//! `strata_result_len()`, and `strata_free` releases buffers. The result
//! is JSON: `{"verified": true, "summary": …, "genesis": …}` or
//! `{"verified": false, "error": "…"}`.

use serde::Serialize;
use strata_chains::anchor::{ReceiptJson, ReceiptSummary, Trust, MAX_RECEIPT_BYTES};
use strata_chains::execution::GenesisState;
use strata_crypto::codec::decode_message;

/// The largest genesis state the check reads (thousands of validators).
pub const MAX_GENESIS_BYTES: usize = 16 << 20;

/// What the page shows.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Verdict {
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<ReceiptSummary>,
    /// The digest of the genesis configuration the receipt was checked
    /// against (what a user compares with the one they trust).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genesis: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Verdict {
    fn refused(error: String) -> Verdict {
        Verdict {
            verified: false,
            summary: None,
            genesis: None,
            error: Some(error),
        }
    }
}

/// Checks `receipt` (JSON text) against the SCALE-encoded genesis state.
pub fn verify(genesis: &[u8], receipt: &[u8]) -> Verdict {
    let state: GenesisState = match decode_message(genesis, MAX_GENESIS_BYTES) {
        Ok(s) => s,
        Err(e) => return Verdict::refused(format!("the genesis does not decode: {e}")),
    };
    // The JSON form hex-encodes every link: twice the bytes and the names.
    if receipt.len() > MAX_RECEIPT_BYTES.saturating_mul(3) {
        return Verdict::refused("larger than any receipt".into());
    }
    let parsed: ReceiptJson = match serde_json::from_slice(receipt) {
        Ok(r) => r,
        Err(e) => return Verdict::refused(format!("not a JSON receipt: {e}")),
    };
    match parsed.verify(&Trust::new(&state)) {
        Ok(summary) => Verdict {
            verified: true,
            summary: Some(summary),
            genesis: Some(hex::encode(state.config.0)),
            error: None,
        },
        Err(e) => Verdict {
            genesis: Some(hex::encode(state.config.0)),
            ..Verdict::refused(format!("the receipt does not verify: {e}"))
        },
    }
}

#[cfg(target_arch = "wasm32")]
mod exports;

#[cfg(test)]
mod tests;
