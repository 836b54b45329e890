//! Transaction signature checks, off the event loop: a worker thread batch
//! verifies sr25519 signatures (one multi-scalar multiplication per batch,
//! bisection only when a batch fails).

use actix::{Actor, Handler, Message, SyncContext};
use strata_chains::types::Transaction;
use strata_crypto::sr25519::{verify_batch, BatchItem, TxSigError};

pub struct Verifier;

impl Actor for Verifier {
    type Context = SyncContext<Self>;
}

/// Checks the signatures of `txs`; the answer says, per transaction,
/// whether it is a validly signed provenance record.
#[derive(Message)]
#[rtype(result = "Vec<bool>")]
pub struct VerifyTxs(pub Vec<Transaction>);

impl Handler<VerifyTxs> for Verifier {
    type Result = Vec<bool>;

    fn handle(&mut self, msg: VerifyTxs, _: &mut SyncContext<Self>) -> Vec<bool> {
        verify_signatures(&msg.0)
    }
}

/// Signature check of provenance records (other kinds are `false`).
pub fn verify_signatures(txs: &[Transaction]) -> Vec<bool> {
    let mut ok = vec![false; txs.len()];
    let mut positions = Vec::with_capacity(txs.len());
    let mut messages = Vec::with_capacity(txs.len());
    for (i, tx) in txs.iter().enumerate() {
        if let Transaction::Provenance(p) = tx {
            positions.push(i);
            messages.push(p.record.signing_bytes());
        }
    }
    let items: Vec<BatchItem<'_>> = positions
        .iter()
        .zip(&messages)
        .map(|(&i, m)| {
            let Transaction::Provenance(p) = &txs[i] else {
                unreachable!("positions hold provenance records")
            };
            BatchItem {
                message: m,
                key: &p.record.sender,
                signature: &p.signature,
            }
        })
        .collect();
    let failed = match verify_batch(&items) {
        Ok(()) => Vec::new(),
        Err(TxSigError::BatchFailed { failed }) => failed,
        Err(_) => (0..items.len()).collect(),
    };
    for &i in &positions {
        ok[i] = true;
    }
    for f in failed {
        ok[positions[f]] = false;
    }
    ok
}
