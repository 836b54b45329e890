//! Chain data types (docs/design.md §3, §6). Every certificate names its chain and
//! epoch; every collection is bounded when decoded.

pub mod block;
mod cert;
pub mod dynasty;
mod evidence;
mod message;
mod payload;
mod receipt;
mod routing;
mod rules;
pub mod stake;
mod tx;

pub use block::{genesis_block, state_link_valid, Block, BlockHeader, GenesisParams};
pub use cert::{
    CertError, CertificateKind, QuorumCertificate, SignedStatement, Statement, TimeoutCertificate,
    TimeoutMessage, VoteData,
};
pub use dynasty::{
    AdminSet, Approval, Candidacy, CommitteeHandoff, DkgComplaintTx, DkgDealTx, DynastyParams,
    PvssDealTx, PvssRevealTx, Reconfigure, ReconfigureTx, RegistryAction, RegistryChange,
    RegistryTx, RewardSchedule, ValidatorInfo, ValidatorTier,
};
pub use evidence::{Evidence, EvidenceError};
pub use message::{ConsensusMessage, EpochChange, SyncRequest, SyncResponse};
pub use payload::{batched_tx_root, tx_root_of_hashes, Batch, BatchRef, HashedBatch, Payload};
pub use receipt::{
    AnchorInclusion, AnchoredProof, CommitProof, Finality, Inclusion, ParentReceipt, Receipt,
    MAX_PARENT_HANDOFFS, MAX_RECEIPT_HANDOFFS,
};
pub use routing::{chain_of_domain, domain_of, GLOBAL_DOMAIN};
pub use rules::{ChainRules, HotStuff3, TwoPhaseBft, ViewStep, VoteRecipient};
pub use stake::{Resources, StakePolicy, StakeTx};
pub use tx::{
    linked_hash, Anchor, LinkedRecord, MetaEntry, ObjectId, Op, Provenance, SignedProvenance,
    SystemTx, Transaction, PARENT_RECORD_KEY, PROVENANCE_SIGNING_DOMAIN,
};

use parity_scale_codec::{Decode, Encode};

/// A dynasty's index; committees are per chain and per epoch.
pub type Epoch = u64;
/// A view: one block per view in HotStuff, one leader term in two-phase BFT.
pub type View = u64;
/// Position of a block in its chain (genesis is 0).
pub type Height = u64;

/// Which chain: the global chain, or the local chain of an edge domain.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Encode, Decode)]
pub struct ChainId(pub u32);

impl ChainId {
    pub const GLOBAL: ChainId = ChainId(0);

    /// The local chain of edge domain `domain`.
    pub fn local(domain: u32) -> ChainId {
        ChainId(domain + 1)
    }

    /// The edge domain of a local chain; `None` for the global chain.
    pub fn domain(&self) -> Option<u32> {
        self.0.checked_sub(1)
    }
}

impl std::fmt::Display for ChainId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.domain() {
            None => f.write_str("global"),
            Some(d) => write!(f, "local-{d}"),
        }
    }
}

/// The position of a block, ordered by view then height. Two-phase BFT
/// orders its safety rules by this pair (Jolteon's "round" generalised to a
/// stable leader that proposes many heights per view).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Encode, Decode)]
pub struct Round {
    pub view: View,
    pub height: Height,
}

impl Round {
    pub const GENESIS: Round = Round { view: 0, height: 0 };

    pub fn new(view: View, height: Height) -> Round {
        Round { view, height }
    }
}

impl std::fmt::Display for Round {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}h{}", self.view, self.height)
    }
}

/// The consensus protocol of a chain (docs/design.md §1-2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode)]
pub enum Protocol {
    /// Chained HotStuff (Yin et al. 2019): leader rotates every view, one
    /// block per view, 3-chain commit. The global chain.
    #[codec(index = 0)]
    HotStuff,
    /// Two-phase BFT with Jolteon/DiemBFT-v4 safety: a stable leader per
    /// view, views change only on failure, 2-chain commit. Local chains.
    #[codec(index = 1)]
    TwoPhase,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::HotStuff => "hotstuff",
            Protocol::TwoPhase => "two-phase",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Protocol, String> {
        match s {
            "hotstuff" => Ok(Protocol::HotStuff),
            "two-phase" => Ok(Protocol::TwoPhase),
            _ => Err(format!("unknown protocol {s:?} (hotstuff, two-phase)")),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Limits on what a node accepts from the network.
pub mod limits {
    /// Transactions inline in one block.
    pub const MAX_BLOCK_TXS: usize = 20_000;
    /// Batches referenced by one block.
    pub const MAX_BLOCK_BATCHES: usize = 1024;
    /// Transactions in one batch.
    pub const MAX_BATCH_TXS: usize = 20_000;
    /// Encoded size of one batch.
    pub const MAX_BATCH_BYTES: usize = 8 << 20;
    /// An opaque transaction (benchmarks of the ordering engine alone).
    pub const MAX_OPAQUE_TX: usize = 64 << 10;
    /// Encoded size of one consensus message (a proposal with its block).
    pub const MAX_MESSAGE_BYTES: usize = 24 << 20;
    /// Blocks in one sync response.
    pub const MAX_SYNC_BLOCKS: usize = 64;
    /// Encoded size of one sync response: one block of the largest size
    /// and its certificate fit, and so does a response of
    /// [`SYNC_RESPONSE_BUDGET`] (the transport's frame limit is above it).
    pub const MAX_SYNC_BYTES: usize = 32 << 20;
    /// A responder stops adding blocks to a sync response past this many
    /// bytes (it always sends at least one).
    pub const SYNC_RESPONSE_BUDGET: usize = 8 << 20;
    const _: () = assert!(MAX_MESSAGE_BYTES + (1 << 20) <= MAX_SYNC_BYTES);
    const _: () = assert!(SYNC_RESPONSE_BUDGET < MAX_SYNC_BYTES);
    /// Object identifiers.
    pub const MAX_OBJECT_ID: usize = 128;
    /// Parents of a provenance record (derive/transfer lineage).
    pub const MAX_PARENTS: usize = 16;
    /// Metadata entries of a provenance record, and their sizes.
    pub const MAX_META: usize = 16;
    pub const MAX_META_KEY: usize = 64;
    pub const MAX_META_VALUE: usize = 1024;
    /// Committee size (same bound as the crypto crate's bitmaps).
    pub const MAX_COMMITTEE: usize = strata_crypto::committee::MAX_COMMITTEE_SIZE;
    /// System transactions carrying PVSS material.
    pub const MAX_PVSS_ITEMS: usize = 1024;
    /// Headers in one commit proof at most (a block more than this far
    /// below the next direct commit has no proof).
    pub const MAX_COMMIT_PROOF_HEADERS: usize = 64;
    /// Cross-domain parents a linked record proves (each receipt costs its
    /// checker two pairings).
    pub const MAX_LINKED_PARENTS: usize = 4;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_order_by_view_then_height() {
        assert!(Round::new(1, 9) < Round::new(2, 0));
        assert!(Round::new(2, 3) < Round::new(2, 4));
        assert_eq!(Round::GENESIS, Round::default());
    }

    #[test]
    fn chain_ids_name_their_domain() {
        assert_eq!(ChainId::GLOBAL.domain(), None);
        assert_eq!(ChainId::local(3).domain(), Some(3));
        assert_eq!(ChainId::local(0).to_string(), "local-0");
        assert_eq!(ChainId::GLOBAL.to_string(), "global");
    }
}
