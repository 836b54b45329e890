//! The consensus protocols as pure state machines (docs/design.md §2):
//! `on_event(now, event) -> Vec<Action>`, no I/O, no clock, no randomness.
//!
//! One core runs both protocols; they differ only where the published rules
//! differ (see [`crate::types::Protocol`] and [`safety`]): HotStuff rotates
//! the leader every view and commits on a 3-chain; two-phase BFT keeps a
//! stable leader, changes views only on timeout, and commits on a 2-chain.
//! The basic phase (collect votes into a certificate, LCBFT Alg. 4) is
//! [`phase::Phase`], used for block votes in both protocols and for the
//! timeouts of the view change.

pub mod beacon;
pub mod commit_proof;
pub mod core;
pub mod leader;
pub mod phase;
pub mod safety;
pub mod sync;
pub mod tree;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use strata_crypto::committee::{Committee, QuorumThreshold};

pub use self::core::{ConsensusCore, KEPT_ROOTS};
pub use leader::LeaderPolicy;
pub use safety::SafetyState;

use strata_crypto::hash::Digest;

use crate::types::{
    Block, ChainId, ConsensusMessage, Epoch, Evidence, Height, Payload, Protocol, Round,
    SyncRequest, View,
};

/// Time as the host sees it, in microseconds (virtual in the simulator).
pub type Micros = u64;

/// Static parameters of one chain's consensus at one node for one epoch.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub protocol: Protocol,
    pub chain: ChainId,
    pub epoch: Epoch,
    pub committee: Arc<Committee>,
    pub threshold: QuorumThreshold,
    /// This node's position in the committee; any number past the
    /// committee's end makes the core an observer: it verifies and
    /// commits what the members certify (a node that left, or one that
    /// joins and is catching up), and never votes, proposes or times out.
    pub me: u32,
    pub leader: LeaderPolicy,
    pub genesis: Arc<Block>,
    /// First view timeout; doubled after each consecutive timeout.
    pub base_timeout: Duration,
    pub max_timeout: Duration,
    /// Messages for views further ahead than this are dropped.
    pub future_views: u64,
    /// In two-phase BFT, votes more than this many heights ahead of the
    /// highest certificate are dropped.
    pub future_heights: u64,
    /// Where the epoch ends (`None`: never): see `core/epoch_end.rs`.
    pub epoch_end: Option<EpochEnd>,
}

/// Where an epoch ends, from its record in the state
/// (`dynasty::EpochRecord`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEnd {
    /// The epoch's last block.
    pub last_height: Height,
    /// The height whose execution decided the next committee: the end's
    /// proof certifies a state at or after it (`core/epoch_end.rs`).
    pub decided_at: Height,
}

impl CoreConfig {
    pub fn new(
        protocol: Protocol,
        committee: Arc<Committee>,
        me: u32,
        leader: LeaderPolicy,
        genesis: Arc<Block>,
    ) -> CoreConfig {
        CoreConfig {
            protocol,
            chain: genesis.header.chain,
            epoch: genesis.header.epoch,
            committee,
            threshold: QuorumThreshold::TWO_THIRDS,
            me,
            leader,
            genesis,
            base_timeout: Duration::from_millis(1000),
            max_timeout: Duration::from_secs(30),
            future_views: 64,
            future_heights: 64,
            epoch_end: None,
        }
    }
}

/// The host's answer about a proposal's payload.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PayloadVerdict {
    /// Held here, and every transaction valid: vote.
    Valid,
    /// A batch it names could not be had in time (possibly the network's
    /// fault): no vote.
    Unavailable,
    /// Provably invalid: a forged record, a transaction root or count that
    /// does not match the batches it names, a form the host never uses.
    Invalid,
}

/// How sure a check is that its sender is faulty.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Fault {
    /// Provably invalid (a signature, a certificate, a rule every honest
    /// member keeps): only a faulty member sends it.
    Invalid,
    /// Useless here but possibly honest (a member behind, ahead or
    /// partitioned sends such things): costs little, adds up under a flood.
    Unhelpful,
    /// Signed proof of misbehaviour (evidence): two conflicting statements
    /// under the member's own key.
    Proven,
}

/// What a timer is for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum TimerKind {
    /// The view timer of the pacemaker.
    View(View),
    /// Retry of an unanswered sync request.
    Sync,
}

/// A timer set by the core; a firing whose generation is stale is ignored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TimerId {
    pub kind: TimerKind,
    pub generation: u64,
}

/// What the host loads from storage when a node starts.
#[derive(Clone, Debug)]
pub struct Recovery {
    pub safety: Option<SafetyState>,
    /// Highest committed block (the genesis block on a fresh node).
    pub committed_tip: Arc<Block>,
    /// Stored blocks above the committed tip, lowest first.
    pub pending: Vec<Block>,
}

// Events are moved once into the core; boxing the message would only add
// an allocation per delivery.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Event {
    /// Must be the first event: the persisted state (or a fresh start).
    Restored(Box<Recovery>),
    /// A message from committee member `from`.
    Message { from: u32, msg: ConsensusMessage },
    /// A timer fired.
    Timer(TimerId),
    /// The payload the core asked for with [`Action::RequestPayload`]; for
    /// batches, with the transaction root the host computed over them.
    ProposalReady {
        round: Round,
        payload: Payload,
        batches_tx_root: Option<Digest>,
    },
    /// The host's answer to [`Action::CheckPayload`].
    PayloadChecked {
        block: Digest,
        verdict: PayloadVerdict,
    },
    /// The host's answer to [`Action::Yield`]: every action before it has
    /// been carried out.
    Resumed,
    /// The host executed the committed block at `height`; `root` is the
    /// authenticated state root after it. Proposals name executed roots and
    /// votes check them (`core/state_roots.rs`). After a restart, the host
    /// reports the roots of its last [`KEPT_ROOTS`] executed heights: a
    /// proposer behind it names an older one, which this node must check.
    Executed { height: Height, root: Digest },
    /// Ask member `peer` for the committed blocks above this node's: how an
    /// observer (or a member that fell behind) follows the chain between
    /// the certificates it hears of. The host sends it now and then.
    CatchUp { peer: u32 },
}

/// What the host must do, in order. A `Persist` must be durable before any
/// later `Send`/`Broadcast` leaves the node (also one that comes after an
/// [`Action::Yield`]); until then the host may go on with other work.
#[derive(Clone, Debug)]
pub enum Action {
    Send {
        to: u32,
        msg: ConsensusMessage,
    },
    /// To every other committee member.
    Broadcast(ConsensusMessage),
    /// Store a validated block (not yet committed).
    StoreBlock(Arc<Block>),
    /// Durably save the safety state.
    Persist(SafetyState),
    SetTimer {
        id: TimerId,
        after: Duration,
    },
    /// Before voting for another member's block with a non-empty payload:
    /// the host gets any batch it references and is missing, checks the
    /// transaction root against them and that every transaction is valid
    /// (signature, kind), and answers with [`Event::PayloadChecked`] (what
    /// makes data available and records authentic: an honest node votes
    /// only for payloads it holds and has checked). A host may refuse a
    /// payload form it never uses.
    CheckPayload(Arc<Block>),
    /// Ask the host for a payload for the block at `round`.
    RequestPayload {
        round: Round,
    },
    /// Blocks are final, lowest first, each extending the previous commit.
    Commit(Vec<Arc<Block>>),
    /// Send a sync request to member `from` (a request-response exchange).
    Fetch {
        from: u32,
        request: SyncRequest,
    },
    /// Proof of misbehaviour to publish.
    Evidence(Evidence),
    /// The epoch's last block is committed (`core/epoch_end.rs`), with the
    /// proof to send to the chain's nodes and keep for sync (`None` only
    /// when the proof could not be made: restored after the end, or a
    /// commit chain longer than a proof may be). The core is quiet after.
    EpochEnded(Option<Box<crate::types::EpochChange>>),
    /// A peer sent something invalid or useless (for metrics and peer
    /// scoring: the host makes it cost the peer by `fault`).
    Misbehaviour {
        peer: u32,
        reason: &'static str,
        fault: Fault,
    },
    /// Carry out the actions before this one (its sends leave the node;
    /// its `Persist` may still be on its way to the disk), then feed
    /// [`Event::Resumed`]. Work the core can put off then runs off the
    /// critical path: a leader's vote on its own proposal after the
    /// proposal has left, and each signature behind a `Persist` (a vote's,
    /// a proposal's) while the host makes that state durable.
    Yield,
}
