//! A node's seat in the epoch its executed state is in: the committee, its
//! own position (or none: an observer), and the core configuration that
//! serves the epoch. The one place both the simulator's hosts and a node's
//! committee actor start an epoch's core from (issue 26, point 5).

use std::sync::Arc;

use strata_crypto::committee::Committee;
use strata_crypto::PublicKey;

use super::{current_epoch, epoch_end, EpochRecord};
use crate::consensus::{CoreConfig, LeaderPolicy};
use crate::execution::{CommitteeRecord, StateError, StateView};
use crate::types::{Block, ChainId};

/// Why an epoch's seat could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SeatError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0} runs no epochs")]
    NoEpochs(ChainId),
    #[error("no committee of {chain} in epoch {epoch} is recorded")]
    NoCommittee { chain: ChainId, epoch: u64 },
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
}

impl EpochSeat {
    /// Reads the seat of the validator with BLS key `key`.
    pub fn read(
        view: &dyn StateView,
        chain: ChainId,
        key: &PublicKey,
    ) -> Result<EpochSeat, SeatError> {
        let record = current_epoch(view, chain)?.ok_or(SeatError::NoEpochs(chain))?;
        let epoch = record.epoch;
        let committee = CommitteeRecord::read(view, chain, epoch)?
            .ok_or(SeatError::NoCommittee { chain, epoch })?;
        let members =
            committee
                .committee()
                .map_err(|why| SeatError::Invalid { chain, epoch, why })?;
        let me = members.index_of(key).map(|i| i as u32);
        Ok(EpochSeat {
            record,
            committee,
            members: Arc::new(members),
            me,
        })
    }

    /// The position a core of this seat runs at: the member's, or one past
    /// the committee (an observer: `CoreConfig::me`).
    pub fn position(&self) -> u32 {
        self.me.unwrap_or(u32::MAX)
    }

    /// The core configuration of the epoch, starting from `start` (the
    /// block at `record.start`: the genesis, or the last block of the
    /// epoch before).
    pub fn core_config(&self, leader: LeaderPolicy, start: Arc<Block>) -> CoreConfig {
        let mut cfg = CoreConfig::new(
            self.committee.protocol,
            self.members.clone(),
            self.position(),
            leader,
            start,
        );
        cfg.epoch = self.record.epoch;
        cfg.threshold = self.committee.threshold;
        cfg.epoch_end = Some(epoch_end(&self.record));
        cfg
    }
}
