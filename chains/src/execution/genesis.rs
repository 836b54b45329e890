//! The state every chain starts from (version 0 of its tree): the genesis
//! configuration's digest and every chain's committee. The global chain
//! checks an anchor's local certificate against the domain's committee *as
//! its own state records it* (issue 25), so committees live in the state,
//! keyed by chain and epoch: the genesis writes epoch 0 of each, and the
//! dynasties (issue 26) write the later ones as system transactions. A
//! local chain's state holds them too, so a receipt can prove a
//! committee's membership from any certified header.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::codec::{decode_message, BoundedVec};
use strata_crypto::committee::{Committee, Member, QuorumThreshold};
use strata_crypto::hash::Digest;
use strata_crypto::threshold::GroupPublic;
use strata_crypto::PublicKey;

use super::{StateError, StateView};
use crate::auth::{self, MemTree, GENESIS_CONFIG_KEY};
use crate::types::limits::MAX_COMMITTEE;
use crate::types::{
    AdminSet, ChainId, DynastyParams, Epoch, Protocol, RewardSchedule, StakePolicy, ValidatorInfo,
};

/// What every committee key starts with.
pub const COMMITTEE_KEY_PREFIX: &[u8] = b"committee/";

/// The tree key of a chain's committee in an epoch.
pub fn committee_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    let mut k = COMMITTEE_KEY_PREFIX.to_vec();
    k.extend_from_slice(&chain.0.to_be_bytes());
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

/// A chain's committee for one epoch, as the state records it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CommitteeRecord {
    pub chain: ChainId,
    pub epoch: Epoch,
    pub protocol: Protocol,
    pub threshold: QuorumThreshold,
    pub members: BoundedVec<Member, MAX_COMMITTEE>,
    /// A threshold committee's group key, written when its DKG closes
    /// (`dynasty::dkg`); `None`: the committee certifies by multisig.
    pub group: Option<GroupKey>,
}

/// A threshold committee's group key and t, as its DKG fixed them: what a
/// verifier (a receipt's reader among them) checks certificates against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct GroupKey {
    pub threshold: u32,
    pub key: PublicKey,
}

impl CommitteeRecord {
    /// The committee with its aggregate keys, for checking certificates.
    pub fn committee(&self) -> Result<Committee, String> {
        let committee = Committee::new(self.members.to_vec()).map_err(|e| e.to_string())?;
        match self.group {
            Some(g) => committee
                .with_group(GroupPublic::from_parts(g.threshold, g.key, Vec::new()))
                .map_err(|e| e.to_string()),
            None => Ok(committee),
        }
    }

    /// The record a state holds for `chain` in `epoch`, if any.
    pub fn read(
        view: &dyn StateView,
        chain: ChainId,
        epoch: Epoch,
    ) -> Result<Option<CommitteeRecord>, StateError> {
        match view.value(&committee_key(chain, epoch))? {
            None => Ok(None),
            Some(bytes) => decode_message(&bytes, auth::MAX_VALUE_BYTES)
                .map(Some)
                .map_err(|e| StateError::Corrupt(format!("committee record: {e}"))),
        }
    }
}

/// The genesis state of a network: the same for every chain of it.
#[derive(Clone, Debug, PartialEq, Eq, Default, Encode, Decode)]
pub struct GenesisState {
    /// Digest of the genesis configuration.
    pub config: Digest,
    /// Every chain's committee of epoch 0.
    pub committees: Vec<CommitteeRecord>,
    /// Who approves registry changes and reconfigurations.
    pub admins: AdminSet,
    /// The validators registered at genesis (every committee member among
    /// them, when a chain runs dynasties).
    pub validators: Vec<ValidatorInfo>,
    /// The chains that run dynasties, with their parameters.
    pub dynasties: Vec<(ChainId, DynastyParams)>,
    /// What the dynasty chains pay their committees (none: no rewards).
    pub rewards: Option<RewardSchedule>,
    /// Who certifies resource stake, and its scaling (none: the global
    /// chain weighs validators as registered).
    pub stake: Option<StakePolicy>,
}

impl GenesisState {
    /// A genesis state with no committee recorded (tests of one chain).
    pub fn bare(config: Digest) -> GenesisState {
        GenesisState {
            config,
            ..GenesisState::default()
        }
    }

    /// The keys and values of version 0.
    pub fn updates(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut u = vec![(GENESIS_CONFIG_KEY.to_vec(), self.config.0.to_vec())];
        for c in &self.committees {
            u.push((committee_key(c.chain, c.epoch), c.encode()));
        }
        u.extend(crate::dynasty::genesis_updates(self));
        u.sort();
        u.dedup_by(|a, b| a.0 == b.0);
        u
    }

    /// The root of version 0: what every genesis header names.
    pub fn root(&self) -> Digest {
        let mut tree = MemTree::default();
        tree.update(0, &self.updates()).unwrap_or(Digest::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::{ChainContext, MemState};

    #[test]
    fn committees_recorded_at_genesis_are_read_back_and_change_the_root() {
        let committee = strata_crypto::test_support::TestCommittee::seeded(7, 4);
        let record = CommitteeRecord {
            chain: ChainId::local(1),
            epoch: 0,
            protocol: Protocol::TwoPhase,
            threshold: QuorumThreshold::TWO_THIRDS,
            members: BoundedVec::new(committee.committee.members().to_vec()).unwrap(),
            group: None,
        };
        let genesis = GenesisState {
            config: Digest::of("cfg", b"x"),
            committees: vec![record.clone()],
            ..GenesisState::default()
        };
        assert_ne!(genesis.root(), GenesisState::bare(genesis.config).root());
        let ctx = ChainContext {
            chain: ChainId::GLOBAL,
            domains: 2,
        };
        let state = MemState::new(ctx, &genesis);
        assert_eq!(state.root(), genesis.root());
        let back = CommitteeRecord::read(&state, ChainId::local(1), 0)
            .unwrap()
            .unwrap();
        assert_eq!(back, record);
        assert_eq!(back.committee().unwrap().len(), 4);
        assert!(CommitteeRecord::read(&state, ChainId::local(1), 1)
            .unwrap()
            .is_none());
    }
}
