//! A receipt's committee history (issue 26, point 2): the certificates of a
//! receipt name their epochs, and a verifier that trusts only the genesis
//! knows each chain's committee of epoch 0. The receipt carries the
//! handoffs from there on — each the end of an epoch certified by the
//! committee the verifier already holds, with the next committee proven
//! against the state that end certifies (`dynasty::handoff`) — so it
//! verifies offline with the genesis alone, as receipts did before epochs.

use std::collections::BTreeMap;

use super::receipt::{ReceiptError, Trust};
use crate::types::{ChainId, CommitteeHandoff, Epoch, Finality, Receipt};

/// The epoch each chain's certificates in `receipt` reach (the highest
/// one per chain): its history must run up to there.
pub fn epochs_named(receipt: &Receipt) -> BTreeMap<ChainId, Epoch> {
    let mut named = BTreeMap::new();
    let mut note = |chain: ChainId, epoch: Epoch| {
        let e = named.entry(chain).or_insert(0);
        *e = epoch.max(*e);
    };
    let header = &receipt.block.header;
    match &receipt.finality {
        Finality::Committed(c) => {
            note(header.chain, header.epoch);
            note(header.chain, c.certificate.epoch);
        }
        Finality::Anchored(a) => {
            note(header.chain, header.epoch);
            let anchored = &a.anchored;
            note(anchored.anchor.header.chain, anchored.anchor.header.epoch);
            note(ChainId::GLOBAL, anchored.anchor_block.header.epoch);
            note(ChainId::GLOBAL, anchored.global_commit.certificate.epoch);
        }
    }
    named
}

impl Trust<'_> {
    /// This trust grown by `history`, learned chain by chain in epoch
    /// order (each handoff needs the committee the one before proved).
    pub fn with_history(
        &self,
        history: &[CommitteeHandoff],
    ) -> Result<Trust<'static>, ReceiptError> {
        let mut trust = self.clone().into_owned();
        let mut ordered: Vec<&CommitteeHandoff> = history.iter().collect();
        ordered.sort_by_key(|h| (h.change.chain, h.change.epoch));
        for h in ordered {
            trust.learn(h).map_err(ReceiptError::History)?;
        }
        Ok(trust)
    }
}
