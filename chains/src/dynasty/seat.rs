//! A node's seat in the epoch its executed state is in: the committee, its
//! own position (or none: an observer), and the core configuration that
//! serves the epoch. The one place both the simulator's hosts and a node's
//! committee actor start an epoch's core from (issue 26, point 5).

use std::sync::Arc;

use std::time::Duration;

use rand::{CryptoRng, RngCore};
use strata_crypto::committee::Committee;
use strata_crypto::hash::Digest;
use strata_crypto::pvss::PvssSecretKey;
use strata_crypto::threshold::SecretShare;
use strata_crypto::{PublicKey, SecretKey};

use super::{current_epoch, epoch_end, epoch_record, roster_at, validator, EpochRecord};
use crate::consensus::{Action, ConsensusCore, CoreConfig, Event, LeaderPolicy, Micros, Recovery};
use crate::execution::{CommitteeRecord, StateError, StateView};
use crate::store::{Store, StoreError};
use crate::types::{Block, CertificateKind, ChainId, Epoch, Height};

/// Why an epoch's seat could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SeatError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0} runs no epochs")]
    NoEpochs(ChainId),
    #[error("no committee of {chain} in epoch {epoch} is recorded")]
    NoCommittee { chain: ChainId, epoch: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the start block of epoch {epoch} (height {height}) is not stored")]
    NoStart { epoch: u64, height: Height },
    #[error("the committee of {chain} in epoch {epoch} is invalid: {why}")]
    Invalid {
        chain: ChainId,
        epoch: u64,
        why: String,
    },
}

/// The epoch a chain's state is in, and this node's place in it.
#[derive(Clone, Debug)]
pub struct EpochSeat {
    pub record: EpochRecord,
    pub committee: CommitteeRecord,
    pub members: Arc<Committee>,
    /// This node's position, if it is a member.
    pub me: Option<u32>,
    /// A member's secret share of a threshold committee's group key, which
    /// it signs its votes with (`with_share`).
    pub share: Option<SecretShare>,
    /// Each member's stake or credit as the draw of this committee weighed
    /// it (the roster snapshot of the epoch before; 1 where it names no
    /// weight: a member a reconfiguration seated): what the stake-weighted
    /// beacon leaders draw by (`leader_policy`).
    pub draw_weights: Vec<u64>,
    /// Each member's accumulated available time on a domain's chain (its
    /// credit's certified blocks) as the decision of its committee fixed it
    /// (`stake::fix_available_time`): what the uptime leader ranks by.
    pub available_time: Vec<u64>,
}

impl EpochSeat {
    /// Reads the seat of the validator with BLS key `key` in the epoch
    /// the state is in.
    pub fn read(
        view: &dyn StateView,
        chain: ChainId,
        key: &PublicKey,
    ) -> Result<EpochSeat, SeatError> {
        let record = current_epoch(view, chain)?.ok_or(SeatError::NoEpochs(chain))?;
        Self::of_record(view, chain, key, record)
    }

    /// Reads the seat in `epoch`, decided by the state (the next epoch's
    /// is decided before the current one's last block: a node hands over
    /// without waiting for that block's execution).
    pub fn read_at(
        view: &dyn StateView,
        chain: ChainId,
        key: &PublicKey,
        epoch: Epoch,
    ) -> Result<EpochSeat, SeatError> {
        let record =
            epoch_record(view, chain, epoch)?.ok_or(SeatError::NoCommittee { chain, epoch })?;
        Self::of_record(view, chain, key, record)
    }

    fn of_record(
        view: &dyn StateView,
        chain: ChainId,
        key: &PublicKey,
        record: EpochRecord,
    ) -> Result<EpochSeat, SeatError> {
        let epoch = record.epoch;
        let committee = CommitteeRecord::read(view, chain, epoch)?
            .ok_or(SeatError::NoCommittee { chain, epoch })?;
        // A threshold chain's committee is known once its DKG closed (it
        // may name a group key); until then it is not decided.
        let dkg = super::dkg::dkg_record(view, chain, epoch)?;
        if epoch > 0 && record.params.certificate == CertificateKind::Threshold && dkg.is_none() {
            return Err(SeatError::NoCommittee { chain, epoch });
        }
        let invalid = |why: String| SeatError::Invalid { chain, epoch, why };
        let members = match (committee.group, dkg.and_then(|d| d.group())) {
            // A collector needs every share key, not only the group's.
            (Some(g), Some(group)) if *group.group_key() == g.key => {
                Committee::new(committee.members.to_vec())
                    .and_then(|c| c.with_group(group))
                    .map_err(|e| invalid(e.to_string()))?
            }
            _ => committee.committee().map_err(invalid)?,
        };
        let me = members.index_of(key).map(|i| i as u32);
        let snapshot = roster_at(view, chain, epoch.saturating_sub(1))?;
        let draw_weights = committee
            .members
            .iter()
            .map(|m| snapshot.get(&m.key).map_or(1, |e| e.weight.max(1)))
            .collect();
        let available_time = super::stake::available_time(view, chain, epoch)?;
        Ok(EpochSeat {
            record,
            committee,
            members: Arc::new(members),
            me,
            share: None,
            draw_weights,
            available_time,
        })
    }

    /// The seat with this member's share of a threshold committee's group
    /// key, decrypted from the chain's DKG with its PVSS key (none for an
    /// observer, a multisig committee, or a member whose share did not
    /// open: it cannot vote this epoch, and t of n suffice).
    pub fn with_share<R: RngCore + CryptoRng>(
        mut self,
        view: &dyn StateView,
        pvss: &PvssSecretKey,
        rng: &mut R,
    ) -> Result<EpochSeat, SeatError> {
        if let (Some(me), Some(_)) = (self.me, self.members.group()) {
            let (chain, epoch) = (self.committee.chain, self.record.epoch);
            self.share = super::dkg::secret_share(view, chain, epoch, me, pvss, rng)?;
        }
        Ok(self)
    }

    /// The position a core of this seat runs at: the member's, or one past
    /// the committee (an observer: `CoreConfig::me`).
    pub fn position(&self) -> u32 {
        self.me.unwrap_or(u32::MAX)
    }

    /// The node's leader policy as this epoch applies it (docs/design.md §5):
    /// a stake-weighted or beacon draw is seeded by the epoch's RandShare
    /// seed and weighs the members' stake (global chain) or credit (a
    /// domain's chain) as the epoch's draw weighed them, and the uptime
    /// ranking orders them by accumulated available time (LCBFT Alg. 2);
    /// round robin is as configured. Epoch
    /// 0's committee was not drawn: the genesis policy serves it.
    pub fn leader_policy(&self, configured: LeaderPolicy) -> LeaderPolicy {
        if self.record.epoch == 0 {
            return configured;
        }
        let weights = self.draw_weights.clone();
        let seed = self.record.seed;
        match configured {
            LeaderPolicy::RoundRobin => LeaderPolicy::RoundRobin,
            LeaderPolicy::StakeWeighted { .. } => LeaderPolicy::StakeWeighted { seed, weights },
            LeaderPolicy::Beacon { .. } => LeaderPolicy::Beacon { seed, weights },
            // Fixed for every member, or none (ranked by position).
            LeaderPolicy::Uptime { .. }
                if self.available_time.len() == self.committee.members.len() =>
            {
                LeaderPolicy::uptime(&self.available_time)
            }
            LeaderPolicy::Uptime { .. } => {
                LeaderPolicy::uptime(&vec![0; self.committee.members.len()])
            }
        }
    }

    /// The core configuration of the epoch, starting from `start` (the
    /// block at `record.start`: the genesis, or the last block of the
    /// epoch before).
    pub fn core_config(&self, leader: LeaderPolicy, start: Arc<Block>) -> CoreConfig {
        let mut cfg = CoreConfig::new(
            self.committee.protocol,
            self.members.clone(),
            self.position(),
            self.leader_policy(leader),
            start,
        );
        cfg.epoch = self.record.epoch;
        cfg.threshold = self.committee.threshold;
        cfg.epoch_end = Some(epoch_end(&self.record));
        cfg
    }
}

impl EpochSeat {
    /// The block this seat's epoch starts from, once this node holds it:
    /// committed in `store`, or the first block of the stored proof of
    /// the epoch before's end (which proves it committed).
    pub fn start_block<S: Store + ?Sized>(
        &self,
        store: &S,
        genesis: &Arc<Block>,
    ) -> Result<Option<Arc<Block>>, SeatError> {
        let record = &self.record;
        if record.start == 0 {
            return Ok(Some(genesis.clone()));
        }
        if let Some(b) = store.block_at(record.start)? {
            return Ok(Some(Arc::new(b)));
        }
        let Some(before) = record.epoch.checked_sub(1) else {
            return Ok(None);
        };
        Ok(store.epoch_change(before)?.and_then(|ec| {
            ec.blocks
                .first()
                .filter(|b| b.header.height == record.start)
                .map(|b| Arc::new(b.clone()))
        }))
    }
}

/// How a node runs its cores, whatever the epoch.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    pub leader: LeaderPolicy,
    pub base_timeout: Duration,
    pub max_timeout: Duration,
}

/// A core started for the epoch a chain's state is in, and what its
/// restoration asks of the host first.
pub struct EpochCore {
    pub seat: EpochSeat,
    pub core: ConsensusCore,
    pub actions: Vec<Action>,
}

impl EpochSeat {
    /// The libp2p peer id (text) of each member, in committee order, as
    /// the registry records them (empty where a member has no record).
    pub fn peer_ids(&self, view: &dyn StateView) -> Result<Vec<String>, StateError> {
        let mut ids = Vec::with_capacity(self.members.len());
        for m in self.committee.members.iter() {
            let id = validator(view, &m.key)?
                .map(|r| String::from_utf8_lossy(r.info.peer_id.as_slice()).into_owned())
                .unwrap_or_default();
            ids.push(id);
        }
        Ok(ids)
    }

    /// Starts this seat's core from what `store` keeps (the safety state,
    /// the committed tip, blocks not yet committed) and the state roots
    /// the host executed lately (`recent_roots`, oldest first). The one
    /// start of an epoch's core, for nodes and the simulator alike.
    pub fn start<S: Store + ?Sized>(
        self,
        store: &S,
        key: SecretKey,
        settings: &CoreSettings,
        genesis: &Arc<Block>,
        recent_roots: &[(Height, Digest)],
        now: Micros,
    ) -> Result<EpochCore, SeatError> {
        let record = &self.record;
        let start = self
            .start_block(store, genesis)?
            .ok_or(SeatError::NoStart {
                epoch: record.epoch,
                height: record.start,
            })?;
        let tip = match store.committed_tip()? {
            Some((h, _)) => store.block_at(h)?.map(Arc::new),
            None => None,
        }
        .unwrap_or_else(|| genesis.clone());
        // The host may not have written the epoch before's last blocks
        // yet (its ledger commits them behind the core): the start block,
        // proven committed, is where this core's chain is rooted.
        let tip = if tip.header.height < start.header.height {
            start.clone()
        } else {
            tip
        };
        let recovery = Recovery {
            safety: store.load_safety()?,
            committed_tip: tip,
            pending: store.uncommitted_blocks()?,
        };
        let start_state = start.header.state_height;
        let mut cfg = self.core_config(settings.leader.clone(), start);
        cfg.base_timeout = settings.base_timeout;
        cfg.max_timeout = settings.max_timeout;
        let mut core = ConsensusCore::new(cfg, key);
        if let Some(share) = &self.share {
            core.set_vote_key(share.secret_key().clone());
        }
        let mut actions = core.on_event(now, Event::Restored(Box::new(recovery)));
        // Roots above the state the start block names: the next epoch's
        // first proposals may name them (the start block executes later
        // when the ledger runs behind), and a voter that lacked a root
        // older than its newest would take the proposal for a stale one.
        let since = start_state;
        for &(height, root) in recent_roots.iter().filter(|(h, _)| *h >= since) {
            actions.extend(core.on_event(now, Event::Executed { height, root }));
        }
        Ok(EpochCore {
            seat: self,
            core,
            actions,
        })
    }
}
