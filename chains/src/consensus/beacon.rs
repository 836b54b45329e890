//! The randomness beacon of a threshold chain (issue 27, point 3): the
//! certificate of each view's block is the one signature of the epoch's
//! group key on that block's vote (unique: whichever t members' shares
//! formed it), which no one can predict before t members voted and no
//! coalition below t can choose. Its hash is the view's random value.
//!
//! Anyone checks a value with the certificate and the committee history
//! alone: the certificate verifies against the group key, and the value
//! is the hash of its signature.

use strata_crypto::committee::{Committee, QuorumThreshold};
use strata_crypto::hash::Digest;

use crate::store::{Store, StoreError};
use crate::types::{BlockHeader, Height, QuorumCertificate, View};

/// Why a beacon value cannot be given or does not hold.
#[derive(Debug, thiserror::Error)]
pub enum BeaconError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no committed block of view {0} is certified here yet")]
    NoBlock(View),
    #[error("the committee of epoch {0} certifies by multisig: its certificates are not unique")]
    NotThreshold(u64),
    #[error("the certificate does not verify: {0}")]
    Certificate(String),
}

/// A view's beacon: the certified block's header and its certificate.
#[derive(Clone, Debug)]
pub struct BeaconEntry {
    pub header: BlockHeader,
    pub certificate: QuorumCertificate,
}

impl BeaconEntry {
    /// The view's random value, checked: the certificate is the group's
    /// signature on this block's vote.
    pub fn value(&self, committee: &Committee) -> Result<Digest, BeaconError> {
        if committee.group().is_none() {
            return Err(BeaconError::NotThreshold(self.certificate.epoch));
        }
        if self.certificate.block != self.header.hash() {
            return Err(BeaconError::Certificate(
                "it certifies another block".into(),
            ));
        }
        self.certificate
            .verify(
                self.header.chain,
                self.certificate.epoch,
                &Digest::ZERO,
                committee,
                QuorumThreshold::TWO_THIRDS,
            )
            .map_err(|e| BeaconError::Certificate(e.to_string()))?;
        value_of(&self.certificate)
            .ok_or_else(|| BeaconError::Certificate("an unsigned certificate".into()))
    }
}

/// The random value a threshold certificate gives: its signature hashed
/// (a multisig certificate's would depend on who signed).
pub fn value_of(certificate: &QuorumCertificate) -> Option<Digest> {
    let cert = certificate.cert.as_ref()?;
    Some(Digest::of_encoding(
        "strata/beacon/v1",
        &(certificate.chain, &cert.signature),
    ))
}

/// The beacon of the committed block at `height`: its certificate is the
/// next committed block's `justify`. `None` until that block commits.
pub fn at_height<S: Store + ?Sized>(
    store: &S,
    height: Height,
) -> Result<Option<BeaconEntry>, BeaconError> {
    let (Some(block), Some(next)) = (
        store.block_at(height)?,
        store.block_at(height.saturating_add(1))?,
    ) else {
        return Ok(None);
    };
    let certificate = next.header.justify;
    Ok(
        (height > 0 && certificate.block == block.hash()).then_some(BeaconEntry {
            header: block.header,
            certificate,
        }),
    )
}

/// The beacon of `view`: its last committed block's (HotStuff proposes one
/// block a view; two-phase BFT a run of them under one leader, and a view
/// it has not left yet has no last block). Views grow with heights, so
/// the first height past the view is found by bisection.
pub fn in_view<S: Store + ?Sized>(
    store: &S,
    view: View,
) -> Result<Option<BeaconEntry>, BeaconError> {
    let Some((tip, _)) = store.committed_tip()? else {
        return Ok(None);
    };
    // The first height in (0, tip] whose view is above `view`.
    let (mut lo, mut hi): (Height, Height) = (1, tip.saturating_add(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match store.block_at(mid)? {
            Some(b) if b.header.view <= view => lo = mid + 1,
            Some(_) => hi = mid,
            None => return Ok(None),
        }
    }
    let last = lo.saturating_sub(1);
    match store.block_at(last)? {
        Some(b) if b.header.view == view && lo <= tip => at_height(store, last),
        _ => Ok(None),
    }
}
