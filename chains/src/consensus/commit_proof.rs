//! Proof that a block is committed, checkable with the committee alone: the
//! block's header, the headers after it up to where the protocol's commit
//! rule holds, and the certificate of the last one. One certificate is not
//! a commit: a certified block may still be abandoned for a fork. The
//! rule (`apply_chain_rules` in the core): two-phase BFT commits a block
//! whose certified child is in the same view at the next height (a 2-chain,
//! Jolteon); HotStuff commits a block when its child and grandchild are
//! certified in consecutive views (a 3-chain, Yin et al. §4.3). A block
//! below a directly committed one is committed with it (indirect commit):
//! its proof runs on to the first block committed directly.
//!
//! The top certificate authenticates every header below it through the
//! hash links (each header names its parent and certifies it in `justify`).

use strata_crypto::committee::{Committee, QuorumThreshold};
use strata_crypto::hash::Digest;

use crate::store::{Store, StoreError};
use crate::types::{BlockHeader, ChainId, Height, Protocol, QuorumCertificate};

pub use crate::types::limits::MAX_COMMIT_PROOF_HEADERS;

/// Why a commit proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitProofError {
    #[error("the proof has no headers, or more than {MAX_COMMIT_PROOF_HEADERS}")]
    Length,
    #[error("header {0} does not extend the one before it")]
    Link(usize),
    #[error("header {0} is for another chain")]
    Chain(usize),
    #[error("the certificate is not for the last header")]
    CertificateSubject,
    #[error("the certificate does not verify: {0}")]
    Certificate(String),
    #[error("the headers do not end in a commit under {0}'s rule")]
    NoCommit(Protocol),
}

/// `certificate` as a receipt carries it: a threshold committee's is the
/// group signature alone (constant size, whatever the committee's size),
/// its record of shares staying in the block; a multisig one as it is.
/// `view` is a state that records the certificate's committee.
pub fn compact(
    view: &dyn crate::execution::StateView,
    certificate: QuorumCertificate,
) -> QuorumCertificate {
    let threshold =
        crate::execution::CommitteeRecord::read(view, certificate.chain, certificate.epoch)
            .ok()
            .flatten()
            .and_then(|r| r.committee().ok())
            .filter(|c| c.group().is_some());
    match (threshold, certificate.cert.clone()) {
        (Some(committee), Some(cert)) => QuorumCertificate {
            cert: Some(cert.compact(&committee)),
            ..certificate
        },
        _ => certificate,
    }
}

/// The headers from the block at `height` up to its commit, with the last
/// header's certificate (taken from the next committed block's justify).
pub fn build(
    store: &dyn Store,
    protocol: Protocol,
    height: Height,
) -> Result<Option<(Vec<BlockHeader>, QuorumCertificate)>, StoreError> {
    let mut headers: Vec<BlockHeader> = Vec::new();
    for h in (0..=MAX_COMMIT_PROOF_HEADERS as u64).filter_map(|i| height.checked_add(i)) {
        let Some(block) = store.block_at(h)? else {
            return Ok(None);
        };
        if headers.len() == MAX_COMMIT_PROOF_HEADERS {
            return Ok(None);
        }
        if let Some(first) = headers.first() {
            if block.header.epoch != first.epoch {
                // Past the epoch's last block: what commits it is in the
                // epoch's proof of end, never in the next epoch's blocks
                // (another committee's certificates).
                return within_epoch_end(store, protocol, headers);
            }
        }
        headers.push(block.header);
        if commits(protocol, &headers) {
            let (Some(h_next), Some(epoch)) = (h.checked_add(1), headers.first().map(|f| f.epoch))
            else {
                return Ok(None);
            };
            // The last header's certificate: the justify of the block
            // committed after it, in the same epoch; past the epoch's end,
            // the one its proof of end holds.
            return match store.block_at(h_next)? {
                Some(next) if next.header.epoch == epoch => {
                    Ok(Some((headers, next.header.justify)))
                }
                Some(_) => {
                    let certificate = store.epoch_change(epoch)?.and_then(|end| {
                        end.blocks
                            .iter()
                            .find(|b| b.header.height == h_next)
                            .map(|b| b.header.justify.clone())
                            .or_else(|| {
                                (end.blocks.last().map(|b| b.header.height) == Some(h))
                                    .then(|| end.certificate.clone())
                            })
                    });
                    Ok(certificate.map(|c| (headers, c)))
                }
                None => Ok(None),
            };
        }
    }
    Ok(None)
}

/// A commit proof of `headers` (ending at an epoch's last block) from the
/// blocks above it in the epoch's stored proof of end.
fn within_epoch_end(
    store: &dyn Store,
    protocol: Protocol,
    mut headers: Vec<BlockHeader>,
) -> Result<Option<(Vec<BlockHeader>, QuorumCertificate)>, StoreError> {
    let Some(epoch) = headers.first().map(|h| h.epoch) else {
        return Ok(None);
    };
    let Some(end) = store.epoch_change(epoch)? else {
        return Ok(None);
    };
    let last = headers.last().map_or(0, |h| h.height);
    for b in end.blocks.iter().filter(|b| b.header.height > last) {
        if headers.len() == MAX_COMMIT_PROOF_HEADERS {
            return Ok(None);
        }
        headers.push(b.header.clone());
        if commits(protocol, &headers) {
            // The next header's justify, or the proof's certificate.
            let next = end
                .blocks
                .iter()
                .find(|n| Some(n.header.height) == b.header.height.checked_add(1))
                .map(|n| n.header.justify.clone());
            return Ok(Some((headers, next.unwrap_or(end.certificate.clone()))));
        }
    }
    Ok(None)
}

/// The first header that does not extend the one before it (its parent,
/// its justify's block and round, the next height), if any.
fn broken_link(headers: &[BlockHeader]) -> Option<usize> {
    headers
        .windows(2)
        .position(|w| {
            let (prev, h) = (&w[0], &w[1]);
            let prev_hash = prev.hash();
            h.parent != prev_hash
                || h.justify.block != prev_hash
                || h.justify.round != prev.round()
                || prev.height.checked_add(1) != Some(h.height)
        })
        .map(|i| i + 1)
}

/// Whether the last headers meet the commit rule (their first is then
/// committed, and every header before them with it).
fn commits(protocol: Protocol, headers: &[BlockHeader]) -> bool {
    let rules = protocol.rules();
    let k = rules.chain_length();
    let Some(last) = headers
        .len()
        .checked_sub(k)
        .and_then(|from| headers.get(from..))
    else {
        return false;
    };
    last.windows(2)
        .all(|w| rules.is_direct(w[0].round(), w[1].round()))
}

/// Checks a commit proof; on success the first header is committed.
pub fn verify(
    protocol: Protocol,
    chain: ChainId,
    genesis_hash: &Digest,
    committee: &Committee,
    threshold: QuorumThreshold,
    headers: &[BlockHeader],
    certificate: &QuorumCertificate,
) -> Result<(), CommitProofError> {
    if headers.is_empty() || headers.len() > MAX_COMMIT_PROOF_HEADERS {
        return Err(CommitProofError::Length);
    }
    for (i, h) in headers.iter().enumerate() {
        if h.chain != chain {
            return Err(CommitProofError::Chain(i));
        }
    }
    if let Some(i) = broken_link(headers) {
        return Err(CommitProofError::Link(i));
    }
    let last = headers.last().ok_or(CommitProofError::Length)?;
    if certificate.block != last.hash() || certificate.round != last.round() {
        return Err(CommitProofError::CertificateSubject);
    }
    certificate
        .verify(chain, last.epoch, genesis_hash, committee, threshold)
        .map_err(|e| CommitProofError::Certificate(e.to_string()))?;
    if !commits(protocol, headers) {
        return Err(CommitProofError::NoCommit(protocol));
    }
    Ok(())
}

/// Why an epoch change does not prove its epoch's end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpochChangeError {
    #[error("an epoch change of {0} headers (1 to {MAX_COMMIT_PROOF_HEADERS})")]
    Length(usize),
    #[error("its first block is at height {got}, the epoch's last is {expected}")]
    NotTheLast { expected: Height, got: Height },
    #[error("header {0} is of another chain or epoch, or does not extend the one before")]
    Link(usize),
    #[error("no window of its headers meets {0}'s commit rule")]
    NoCommit(Protocol),
    #[error("its certified block names state {got}, before the decision at {decided}")]
    Undecided { decided: Height, got: Height },
    #[error("the certificate is not of its last header")]
    CertificateSubject,
    #[error("the certificate does not verify: {0}")]
    Certificate(String),
}

/// The checks of an epoch change short of its certificate's signatures:
/// the headers run from the epoch's last block, chain, stay in the epoch,
/// contain a window where the commit rule holds (which commits the last
/// block: it is at or below the window's first header), and end at the
/// certified header, which names a state at or after the decision.
pub fn epoch_change_form(
    protocol: Protocol,
    chain: ChainId,
    epoch: crate::types::Epoch,
    end: crate::consensus::EpochEnd,
    headers: &[BlockHeader],
    certificate: &QuorumCertificate,
) -> Result<(), EpochChangeError> {
    if headers.is_empty() || headers.len() > MAX_COMMIT_PROOF_HEADERS {
        return Err(EpochChangeError::Length(headers.len()));
    }
    let (first, last) = match (headers.first(), headers.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err(EpochChangeError::Length(0)),
    };
    if first.height != end.last_height {
        return Err(EpochChangeError::NotTheLast {
            expected: end.last_height,
            got: first.height,
        });
    }
    if let Some(i) = headers
        .iter()
        .position(|h| h.chain != chain || h.epoch != epoch)
        .or_else(|| broken_link(headers))
    {
        return Err(EpochChangeError::Link(i));
    }
    let k = protocol.rules().chain_length();
    let committing =
        (0..headers.len()).any(|i| headers.get(i..i + k).is_some_and(|w| commits(protocol, w)));
    // A window ending at the certified header, or before it (its last
    // header then certified by the next one's justify).
    if !committing {
        return Err(EpochChangeError::NoCommit(protocol));
    }
    if last.state_height < end.decided_at {
        return Err(EpochChangeError::Undecided {
            decided: end.decided_at,
            got: last.state_height,
        });
    }
    if certificate.block != last.hash() || certificate.round != last.round() {
        return Err(EpochChangeError::CertificateSubject);
    }
    Ok(())
}

/// Checks an epoch change against the committee of the epoch it ends: on
/// success its last block is committed, and the last header's state root
/// holds the next committee (`execution::committee_key`).
pub fn verify_epoch_change(
    protocol: Protocol,
    committee: &Committee,
    threshold: QuorumThreshold,
    end: crate::consensus::EpochEnd,
    change: &crate::types::EpochChange,
) -> Result<(), EpochChangeError> {
    let headers: Vec<BlockHeader> = change.blocks.iter().map(|b| b.header.clone()).collect();
    epoch_change_form(
        protocol,
        change.chain,
        change.epoch,
        end,
        &headers,
        &change.certificate,
    )?;
    change
        .certificate
        .verify(
            change.chain,
            change.epoch,
            &Digest::ZERO,
            committee,
            threshold,
        )
        .map_err(|e| EpochChangeError::Certificate(e.to_string()))
}
