//! The system transactions of dynasties (docs/design.md §4, issue 26): the
//! validator registry, RandShare dealings and reveals, sortition
//! candidacies and reconfigurations. What they do to the state is
//! `crate::dynasty`'s; here are their forms and what each signs.
//!
//! Authority: the genesis names an administrator key set (sr25519 keys and
//! how many must approve). A registration, a weight change and a
//! reconfiguration need that many administrators' approvals; a
//! registration and a weight change also the validator's own BLS
//! signature (its consent; the proof of possession alone would let an
//! administrator enrol a key whose owner never asked). A validator may
//! leave on its own signature. Every signed digest names the network (the
//! genesis configuration digest), so nothing signed for one network counts
//! on another, and a per-validator (per-chain for reconfigurations)
//! sequence number, so nothing counts twice.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::committee::QuorumThreshold;
use strata_crypto::dkg::{DkgComplaint, DkgDealing};
use strata_crypto::hash::Digest;
use strata_crypto::pvss::{Dealing, DealingContext, DecryptedShare, PvssPublicKey};
use strata_crypto::sr25519::{TxPublicKey, TxSignature};
use strata_crypto::vrf::{VrfProof, VrfPublicKey};
use strata_crypto::{ProofOfPossession, PublicKey, Signature};

use super::limits::{MAX_COMMITTEE, MAX_PVSS_ITEMS};
use super::{ChainId, Epoch};

/// Most administrators a genesis may name.
pub const MAX_ADMINS: usize = 16;
/// Longest network identity (a libp2p peer id in text) a validator names.
pub const MAX_PEER_ID: usize = 64;
/// Most keys one reconfiguration adds, removes or reweighs.
pub const MAX_RECONFIGURE_KEYS: usize = 64;

/// Which tier a validator serves from (docs/design.md §1): cloud validators
/// may serve the global chain; edge validators their domain's chain and
/// the global chain; IoT validators their domain's chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode, PartialOrd, Ord)]
pub enum ValidatorTier {
    #[codec(index = 0)]
    Cloud,
    #[codec(index = 1)]
    Edge,
    #[codec(index = 2)]
    Iot,
}

impl ValidatorTier {
    pub fn name(self) -> &'static str {
        match self {
            ValidatorTier::Cloud => "cloud",
            ValidatorTier::Edge => "edge",
            ValidatorTier::Iot => "iot",
        }
    }
}

/// Everything a validator registers: its keys, where it serves, how it is
/// reached and its weight (stake on the global chain, credit by available
/// time on a local one: docs/design.md §5).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ValidatorInfo {
    /// The BLS key it votes with.
    pub key: PublicKey,
    pub proof_of_possession: ProofOfPossession,
    /// The key of its sortition draws.
    pub vrf_key: VrfPublicKey,
    /// The key RandShare dealings encrypt its shares to.
    pub pvss_key: PvssPublicKey,
    pub tier: ValidatorTier,
    /// Its edge domain (edge and IoT validators).
    pub domain: Option<u32>,
    /// Its libp2p peer id, in text.
    pub peer_id: BoundedBytes<MAX_PEER_ID>,
    pub weight: u64,
}

impl ValidatorInfo {
    /// Whether it may be drawn into `chain`'s dynasties.
    pub fn eligible_for(&self, chain: ChainId) -> bool {
        eligible(self.tier, self.domain, chain)
    }
}

/// Whether a validator of `tier` in `domain` may be drawn into `chain`'s
/// dynasties (docs/design.md §1): cloud and edge validators for the global
/// chain, a domain's edge and IoT validators for its chain.
pub fn eligible(tier: ValidatorTier, domain: Option<u32>, chain: ChainId) -> bool {
    match chain.domain() {
        None => matches!(tier, ValidatorTier::Cloud | ValidatorTier::Edge),
        Some(d) => matches!(tier, ValidatorTier::Edge | ValidatorTier::Iot) && domain == Some(d),
    }
}

/// What a registry change does to one validator.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum RegistryAction {
    #[codec(index = 0)]
    Register(Box<ValidatorInfo>),
    #[codec(index = 1)]
    Deregister,
    #[codec(index = 2)]
    SetWeight(u64),
}

/// One change to the registry, for the validator with key `validator`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct RegistryChange {
    pub validator: PublicKey,
    /// How many changes of this validator the registry has executed
    /// before this one.
    pub sequence: u64,
    pub action: RegistryAction,
}

impl RegistryChange {
    /// What the validator and the administrators sign.
    pub fn signing_digest(&self, network: &Digest) -> Digest {
        Digest::of_encoding("strata/registry-change/v1", &(network, self))
    }
}

/// An administrator's signature on a change.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Approval {
    /// Its position in the genesis administrator set.
    pub admin: u32,
    pub signature: TxSignature,
}

/// The administrators and how many of them must approve.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct AdminSet {
    pub keys: BoundedVec<TxPublicKey, MAX_ADMINS>,
    pub threshold: u32,
}

/// A signed registry change.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct RegistryTx {
    pub change: RegistryChange,
    /// The validator's BLS signature on the change's digest (required for
    /// a registration and a weight change; enough alone to leave).
    pub validator_signature: Option<Signature>,
    pub approvals: BoundedVec<Approval, MAX_ADMINS>,
}

/// A RandShare dealing of a committee member (SCRAPE PVSS, bound by its
/// context to the chain, the epoch it seeds and the dealer's position),
/// signed by the dealer, so nobody can deal in another member's name.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct PvssDealTx {
    pub context: DealingContext,
    pub dealing: Dealing,
    pub signature: Signature,
}

impl PvssDealTx {
    pub fn signing_digest(context: &DealingContext, dealing: &Dealing) -> Digest {
        Digest::of_encoding("strata/pvss-deal/v1", &(context, dealing))
    }
}

/// One member's decrypted shares of the qualified dealings, each with its
/// proof (which binds it to the member's PVSS key: no signature needed).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct PvssRevealTx {
    pub chain: ChainId,
    /// The epoch the dealings seed.
    pub epoch: Epoch,
    /// The revealer's position in the dealing committee.
    pub member: u32,
    /// (dealer, share of that dealer's dealing).
    pub shares: BoundedVec<(u32, DecryptedShare), MAX_PVSS_ITEMS>,
}

/// A member of the next committee's DKG dealing (issue 27, point 1;
/// `dynasty/dkg.rs`), for the committee of `epoch`, signed by the
/// dealer's BLS key so nobody deals in another member's name.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct DkgDealTx {
    pub chain: ChainId,
    pub epoch: Epoch,
    pub dealing: DkgDealing,
    pub signature: Signature,
}

impl DkgDealTx {
    pub fn signing_digest(chain: ChainId, epoch: Epoch, dealing: &DkgDealing) -> Digest {
        Digest::of_encoding("strata/dkg-deal/v1", &(chain, epoch, dealing))
    }
}

/// A member's complaint against a DKG dealing whose share to it does not
/// match the dealer's commitments (its DLEQ proof lets anyone judge it),
/// signed by the complainer.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct DkgComplaintTx {
    pub chain: ChainId,
    pub epoch: Epoch,
    pub complaint: DkgComplaint,
    pub signature: Signature,
}

impl DkgComplaintTx {
    pub fn signing_digest(chain: ChainId, epoch: Epoch, complaint: &DkgComplaint) -> Digest {
        Digest::of_encoding("strata/dkg-complaint/v1", &(chain, epoch, complaint))
    }
}

/// A sortition candidacy for `chain`'s committee of `epoch`; the VRF proof
/// authenticates it (only the holder of the VRF key can make one).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Candidacy {
    pub chain: ChainId,
    pub epoch: Epoch,
    pub validator: PublicKey,
    pub seats: u64,
    pub proof: VrfProof,
}

/// A chain's dynasty parameters (genesis; changed by reconfiguration).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct DynastyParams {
    /// Blocks per epoch; 0: one epoch forever (no dynasties).
    pub epoch_length: u64,
    /// Most members of a committee.
    pub committee_size: u32,
    pub threshold: QuorumThreshold,
    /// How committees from the second epoch on certify.
    pub certificate: super::CertificateKind,
}

/// The genesis reward schedule (issue 27, point 5; CloudPoS): `total`
/// paid over the first `epochs` epochs of each dynasty chain, `total /
/// epochs` per epoch and the remainder with the last, `leader_bps`
/// basis points of each epoch's pot to its leaders and the rest to its
/// voters (`dynasty::rewards`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct RewardSchedule {
    pub total: u64,
    pub epochs: u64,
    pub leader_bps: u16,
}

impl RewardSchedule {
    /// Basis points in the whole.
    pub const WHOLE_BPS: u16 = 10_000;

    /// What `epoch` pays: `total / epochs`, the last with the remainder, so
    /// the schedule pays exactly `total`; nothing past it.
    pub fn pot(&self, epoch: Epoch) -> u64 {
        if self.epochs == 0 || epoch >= self.epochs {
            return 0;
        }
        let each = self.total / self.epochs;
        if epoch + 1 == self.epochs {
            each + self.total % self.epochs
        } else {
            each
        }
    }

    /// The leaders' part of `pot` (rounded down; the voters take the rest).
    pub fn leader_part(&self, pot: u64) -> u64 {
        let bps = u128::from(self.leader_bps.min(Self::WHOLE_BPS));
        u64::try_from(u128::from(pot) * bps / u128::from(Self::WHOLE_BPS)).unwrap_or(pot)
    }
}

/// Smallest epoch a dynasty chain runs: its RandShare, candidacy, DKG and
/// hand-over windows are an eighth of it each, at least eight blocks. A
/// transaction a member posts once it has executed a window's opening
/// height reaches a block three or four heights later (HotStuff has three
/// blocks in flight above the one it commits, two-phase two), so a window
/// of four blocks could close before any of them lands (the simulator
/// found it: RandShare fell back in most epochs at 32 blocks).
pub const MIN_EPOCH_LENGTH: u64 = 64;
/// Smallest committee a reconfiguration may leave (tolerates one fault).
pub const MIN_COMMITTEE: u32 = 4;

/// An administrators' change of a chain's committee and parameters,
/// effective from `epoch` (the next one, decided at its boundary).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Reconfigure {
    pub chain: ChainId,
    pub epoch: Epoch,
    /// How many reconfigurations of this chain executed before this one.
    pub sequence: u64,
    /// Registered validators to seat from `epoch` on, before any drawn.
    pub add: BoundedVec<PublicKey, MAX_RECONFIGURE_KEYS>,
    /// Validators to unseat and take off this chain's roster.
    pub remove: BoundedVec<PublicKey, MAX_RECONFIGURE_KEYS>,
    pub committee_size: Option<u32>,
    pub epoch_length: Option<u64>,
    pub threshold: Option<QuorumThreshold>,
    pub certificate: Option<super::CertificateKind>,
    /// New weights.
    pub weights: BoundedVec<(PublicKey, u64), MAX_RECONFIGURE_KEYS>,
}

impl Reconfigure {
    pub fn signing_digest(&self, network: &Digest) -> Digest {
        Digest::of_encoding("strata/reconfigure/v1", &(network, self))
    }
}

/// A reconfiguration with its approvals.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ReconfigureTx {
    pub reconfigure: Reconfigure,
    pub approvals: BoundedVec<Approval, MAX_ADMINS>,
}

/// Committee sizes are bounded by the signer bitmap.
pub const MAX_DYNASTY_MEMBERS: usize = MAX_COMMITTEE;

/// The context a dealing for `chain`'s `epoch` by `dealer` is bound to.
pub fn pvss_context(chain: ChainId, epoch: Epoch, dealer: u32) -> DealingContext {
    DealingContext {
        epoch,
        chain: chain.0,
        dealer,
    }
}

/// Most handoffs one anchor carries.
pub const MAX_ANCHOR_HANDOFFS: usize = 4;

/// A chain's next committee, proven to whoever knows the ending one: the
/// end of epoch `change.epoch` (`consensus::commit_proof::
/// verify_epoch_change`), and the committee and epoch records of the next
/// epoch proven against the state root its certified last header names
/// (a state at or after the decision). The global chain learns each
/// domain's committees this way from its anchors (issue 26, point 7).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct CommitteeHandoff {
    pub change: super::EpochChange,
    /// `committee/<chain><epoch + 1>`.
    pub committee: crate::auth::StateProof,
    /// `epoch/<chain><epoch + 1>`.
    pub epoch: crate::auth::StateProof,
}

impl CommitteeHandoff {
    /// The state root the proofs are against.
    pub fn state_root(&self) -> Option<Digest> {
        self.change.blocks.last().map(|b| b.header.state_root)
    }
}
