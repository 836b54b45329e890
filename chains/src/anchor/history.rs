//! A receipt's committee history (issue 26, point 2): the certificates of a
//! receipt name their epochs, and a verifier that trusts only the genesis
//! knows each chain's committee of epoch 0. The receipt carries the
//! handoffs from there on — each the end of an epoch certified by the
//! committee the verifier already holds, with the next committee proven
//! against the state that end certifies (`dynasty::handoff`) — so it
//! verifies offline with the genesis alone, as receipts did before epochs.

use std::collections::BTreeMap;

use super::receipt::{ReceiptError, Trust};
use crate::types::{ChainId, CommitteeHandoff, Epoch, Finality, Inclusion, Receipt};

/// The epoch each chain's certificates in `receipt` reach (the highest
/// one per chain): its history must run up to there.
pub fn epochs_named(receipt: &Receipt) -> BTreeMap<ChainId, Epoch> {
    named_by(&receipt.block, &receipt.finality)
}

/// The same for a receipt's parts (a record's or a parent's receipt).
fn named_by(block: &Inclusion, finality: &Finality) -> BTreeMap<ChainId, Epoch> {
    let mut named = BTreeMap::new();
    let mut note = |chain: ChainId, epoch: Epoch| {
        let e = named.entry(chain).or_insert(0);
        *e = epoch.max(*e);
    };
    let header = &block.header;
    note(header.chain, header.epoch);
    match finality {
        Finality::Committed(c) => note(header.chain, c.certificate.epoch),
        Finality::Anchored(a) => {
            let anchored = &a.anchored;
            note(anchored.anchor.header.chain, anchored.anchor.header.epoch);
            note(ChainId::GLOBAL, anchored.anchor_block.header.epoch);
            note(ChainId::GLOBAL, anchored.global_commit.certificate.epoch);
        }
    }
    named
}

/// Runs `check` against `trust`, grown by `history` when there is one.
/// The history may hold only what the links need — each handoff once, of
/// a chain they name and below the epoch they reach there — so a receipt
/// (a client's, or a parent's inside a record) cannot make its checker
/// verify certificates it has no use for.
pub(super) fn checked_with<T>(
    trust: &Trust<'_>,
    history: &[CommitteeHandoff],
    block: &Inclusion,
    finality: &Finality,
    check: impl FnOnce(&Trust<'_>) -> Result<T, ReceiptError>,
) -> Result<T, ReceiptError> {
    if history.is_empty() {
        return check(trust);
    }
    let named = named_by(block, finality);
    let mut ordered: Vec<&CommitteeHandoff> = history.iter().collect();
    ordered.sort_by_key(|h| (h.change.chain, h.change.epoch));
    let needed = |h: &CommitteeHandoff| {
        named
            .get(&h.change.chain)
            .is_some_and(|reach| h.change.epoch < *reach)
    };
    let repeated = ordered
        .windows(2)
        .any(|w| (w[0].change.chain, w[0].change.epoch) == (w[1].change.chain, w[1].change.epoch));
    if repeated || !ordered.iter().all(|h| needed(h)) {
        return Err(ReceiptError::History(
            "a handoff the receipt does not need, or one given twice".into(),
        ));
    }
    let mut grown = trust.clone().into_owned();
    for h in ordered {
        grown.learn(h).map_err(ReceiptError::History)?;
    }
    check(&grown)
}
