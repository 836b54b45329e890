//! Cryptographic proof of misbehaviour (docs/design.md §6, VOLT's blame by
//! evidence): two conflicting statements signed by one key, or two
//! certificates for different blocks in one slot.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::committee::{Committee, QuorumThreshold};
use strata_crypto::hash::Digest;

use super::cert::{CertError, QuorumCertificate, SignedStatement, Statement};
use super::{ChainId, Epoch, Protocol};

/// Why a piece of evidence is not a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("the two statements are not by one signer")]
    DifferentSigners,
    #[error("the two statements do not conflict")]
    NoConflict,
    #[error("a statement does not verify: {0}")]
    Invalid(#[from] CertError),
    #[error(
        "threshold certificates do not prove who signed them: only equivocating votes convict"
    )]
    Unattributable,
}

#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Evidence {
    /// Two proposals, or two votes, by one signer in one slot for
    /// different blocks.
    #[codec(index = 0)]
    Equivocation {
        first: SignedStatement,
        second: SignedStatement,
    },
    /// Two quorum certificates for different blocks in one slot: proof that
    /// every signer of both (at least a third of the weight) equivocated.
    #[codec(index = 1)]
    ConflictingCertificates {
        first: QuorumCertificate,
        second: QuorumCertificate,
    },
}

/// The block a proposal or vote names, `None` for timeouts.
fn voted_block(s: &Statement) -> Option<(u8, Digest)> {
    match *s {
        Statement::Proposal { block } => Some((0, block)),
        Statement::Vote { block } => Some((1, block)),
        Statement::Timeout { .. } => None,
    }
}

impl Evidence {
    /// The committee positions the proof convicts: the signer of both
    /// statements, or every member that signed both certificates.
    pub fn offenders(&self) -> Vec<u32> {
        match self {
            Evidence::Equivocation { first, .. } => vec![first.signer],
            Evidence::ConflictingCertificates { first, second } => {
                let (Some(a), Some(b)) = (&first.cert, &second.cert) else {
                    return Vec::new();
                };
                let theirs: std::collections::BTreeSet<usize> = b.signers.iter_ones().collect();
                a.signers
                    .iter_ones()
                    .filter(|i| theirs.contains(i))
                    .filter_map(|i| u32::try_from(i).ok())
                    .collect()
            }
        }
    }

    /// The chain and epoch the proof is about (its statements' or
    /// certificates' own, which `verify` checks them against).
    pub fn scope(&self) -> (ChainId, Epoch) {
        match self {
            Evidence::Equivocation { first, .. } => (first.data.chain, first.data.epoch),
            Evidence::ConflictingCertificates { first, .. } => (first.chain, first.epoch),
        }
    }

    /// A short name of the proof's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Evidence::Equivocation { .. } => "equivocation",
            Evidence::ConflictingCertificates { .. } => "conflicting_certificates",
        }
    }
    /// True if the two statements conflict under `protocol`'s one-vote rule.
    pub fn statements_conflict(
        protocol: Protocol,
        a: &SignedStatement,
        b: &SignedStatement,
    ) -> bool {
        let (Some((ka, ba)), Some((kb, bb))) = (
            voted_block(&a.data.statement),
            voted_block(&b.data.statement),
        ) else {
            return false;
        };
        a.signer == b.signer
            && a.data.chain == b.data.chain
            && a.data.epoch == b.data.epoch
            && ka == kb
            && protocol.vote_slot(a.data.round) == protocol.vote_slot(b.data.round)
            && (ba != bb || a.data.round != b.data.round)
    }

    /// Verifies the proof and returns the committee positions it blames.
    pub fn verify(
        &self,
        protocol: Protocol,
        chain: ChainId,
        epoch: Epoch,
        genesis: &Digest,
        committee: &Committee,
        threshold: QuorumThreshold,
    ) -> Result<Vec<u32>, EvidenceError> {
        match self {
            Evidence::Equivocation { first, second } => {
                if first.signer != second.signer {
                    return Err(EvidenceError::DifferentSigners);
                }
                if !Self::statements_conflict(protocol, first, second) {
                    return Err(EvidenceError::NoConflict);
                }
                first.verify(chain, epoch, committee)?;
                second.verify(chain, epoch, committee)?;
                Ok(vec![first.signer])
            }
            Evidence::ConflictingCertificates { .. } if committee.group().is_some() => {
                // A threshold certificate's record of shares is the
                // collector's word: it names no one provably.
                Err(EvidenceError::Unattributable)
            }
            Evidence::ConflictingCertificates { first, second } => {
                if protocol.vote_slot(first.round) != protocol.vote_slot(second.round)
                    || (first.block == second.block && first.round == second.round)
                {
                    return Err(EvidenceError::NoConflict);
                }
                first.verify(chain, epoch, genesis, committee, threshold)?;
                second.verify(chain, epoch, genesis, committee, threshold)?;
                let (Some(a), Some(b)) = (&first.cert, &second.cert) else {
                    return Err(EvidenceError::NoConflict);
                };
                Ok(a.signers
                    .iter_ones()
                    .filter(|&i| b.signers.get(i))
                    .map(|i| i as u32)
                    .collect())
            }
        }
    }
}
