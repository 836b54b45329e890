//! Receipts as data (issue 25, point 3): what proves a record through its
//! chain and, once anchored, through the global chain. Their checks are
//! `anchor::receipt`'s; they are types here because a record can carry
//! its cross-domain parents' receipts (`LinkedRecord`).

use parity_scale_codec::{Decode, Encode};
use strata_crypto::codec::BoundedVec;
use strata_crypto::merkle::InclusionProof;

use super::block::BlockHeader;
use super::cert::QuorumCertificate;
use super::limits::MAX_COMMIT_PROOF_HEADERS;
use super::tx::{Anchor, Transaction};
use crate::auth::StateProof;

/// A transaction's place in a block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Inclusion {
    pub header: BlockHeader,
    pub path: InclusionProof,
}

/// The headers above a block up to its chain's commit rule, and the
/// certificate of the last (`consensus::commit_proof`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CommitProof {
    pub later: BoundedVec<BlockHeader, MAX_COMMIT_PROOF_HEADERS>,
    pub certificate: QuorumCertificate,
}

/// An anchor as the global chain ordered it: the anchor, its transaction's
/// place in a global block, and that block's commit. What a domain's
/// members learn from the global chain (`GET /v1/anchors/{domain}`) and
/// put in their receipts.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AnchorInclusion {
    pub anchor: Anchor,
    pub anchor_block: Inclusion,
    pub global_commit: CommitProof,
}

/// How a local record reaches the global chain.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AnchoredProof {
    /// The record's block hash at its height, in the anchored state.
    pub block_link: StateProof,
    pub anchored: AnchorInclusion,
}

/// How far the receipt proves the record.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Finality {
    /// The record's block is committed on its chain.
    #[codec(index = 0)]
    Committed(Box<CommitProof>),
    /// A local record's block is in an anchored state.
    #[codec(index = 1)]
    Anchored(Box<AnchoredProof>),
}

/// A self-contained receipt (SCALE: this type's encoding).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Receipt {
    pub tx: Transaction,
    pub block: Inclusion,
    pub finality: Finality,
    /// The committee history the links need beyond the genesis: each
    /// chain's handoffs from epoch 0 up to the epoch a certificate of the
    /// receipt names, each proven by the committee before it
    /// (`anchor::history`). Empty while every link is of epoch 0.
    pub history: BoundedVec<super::dynasty::CommitteeHandoff, MAX_RECEIPT_HANDOFFS>,
}

/// Handoffs in one receipt at most (with epochs of a few thousand blocks,
/// years of history; `MAX_RECEIPT_BYTES` bounds it in bytes too).
pub const MAX_RECEIPT_HANDOFFS: usize = 8192;

/// The receipt of a record another domain's record names as its parent
/// (cross-domain lineage, issue 25 point 5): the parent record itself
/// rather than its transaction, so that receipts never nest (a parent that
/// was itself a linked record is named by `links`, the digest of its own
/// parents' receipts).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ParentReceipt {
    pub record: super::tx::SignedProvenance,
    /// `Some` when the parent's transaction was a linked record.
    pub links: Option<strata_crypto::hash::Digest>,
    pub block: Inclusion,
    pub finality: Finality,
    /// The committee history its links need beyond epoch 0, as in a
    /// [`Receipt`]: the checking chain's state knows its own committees
    /// and every chain's first, not another domain's or the global
    /// chain's later ones.
    pub history: BoundedVec<super::dynasty::CommitteeHandoff, MAX_PARENT_HANDOFFS>,
}

/// Handoffs in a parent's receipt at most: each costs every node that
/// executes the linked record a certificate check.
pub const MAX_PARENT_HANDOFFS: usize = 1024;

impl ParentReceipt {
    /// The parent transaction's hash.
    pub fn tx_hash(&self) -> strata_crypto::hash::Digest {
        match &self.links {
            None => Transaction::Provenance(self.record.clone()).hash(),
            Some(links) => super::tx::linked_hash(&self.record, links),
        }
    }
}
