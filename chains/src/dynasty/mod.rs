//! Dynasties (docs/design.md §4; Microchain §IV "Committee Change";
//! issue 26): the validator registry, epochs, RandShare randomness, VRF
//! sortition and reconfiguration, as rules of the executor. Everything
//! here runs inside `execution::apply`, a pure function of the state and
//! the committed block, so every node and the simulator reach the same
//! committee, seed and roster at the same height; a node's actors only
//! post the transactions (`participant.rs` says which, when).
//!
//! ## The life of an epoch
//!
//! Epoch e of a chain is the `length` blocks after its start block (the
//! epoch record's `start`; epoch 0 starts at the genesis block). With
//! w = length / 8, by offset o = height − start:
//!
//! | offsets | what the chain takes |
//! |---|---|
//! | 1 .. length/4 | records only |
//! | length/4 .. +w | RandShare dealings by the members of committee e (`randshare.rs`); the block that closes the window fixes the qualified set |
//! | .. +2w | reveals: each member's decrypted shares of the qualified dealings; the block that closes the window recovers every qualified secret from any f+1 shares and fixes the seed of e+1 |
//! | .. +3w | candidacies for e+1, each a VRF proof on the seed (`selection.rs`); the block that closes the window decides committee e+1 and writes its epoch record |
//! | .. +4w | the DKG of committee e+1 (`dkg.rs`): each of its members deals |
//! | .. +5w | complaints against bad shares; the block that closes the window fixes the qualified dealers and e+1's group key |
//! | .. length | hand-over: members that join sync; the last block is committed by committee e, and e+1 starts after it |
//!
//! The roster (who may be drawn, with what weight) is snapshot at each
//! epoch's start: the draw for e+1 uses the weights and VRF keys of e's
//! start, fixed before any dealing of e, so nobody can choose keys or
//! weights once the seed can be known. A registration made during e
//! counts from the draw for e+2.
//!
//! ## State keys (all in the authenticated tree)
//!
//! `dynasty/admins`, `dynasty/current/<chain>`, `epoch/<chain><e>`,
//! `committee/<chain><e>` (`execution::CommitteeRecord`), `validator/<key>`,
//! `roster/<chain>` and its snapshot `roster/<chain><e>`,
//! `dynasty/pending/<chain>` and `dynasty/reconfigs/<chain>`, and the
//! RandShare and sortition working sets under `randshare/` and
//! `candidates/`, kept as the epoch's public record; the rewards under
//! `rewards/` (`rewards.rs`).

pub mod accountability;
pub mod dkg;
mod handoff;
mod keys;
mod participant;
mod randshare;
mod registry;
pub mod rewards;
mod seat;
mod selection;
pub mod stake;

#[cfg(test)]
mod tests;

pub use handoff::{check_handoff, epoch_end, handoff_records, ENDING_NOT_RECORDED};
pub use keys::{approve, approved_change, approved_reconfigure, ValidatorKeys};
pub use participant::{Participant, ParticipantFaults, ParticipantKeys, RETRY_BLOCKS};
pub use randshare::{qualified, seed_of, seed_record, Qualified, SeedRecord, SeedSource};
pub use registry::{
    roster, roster_at, validator, Roster, RosterEntry, ValidatorRecord, MAX_ROSTER,
};
pub use seat::{CoreSettings, EpochCore, EpochSeat, SeatError};
pub use selection::{
    candidates, check_reconfigure, open_epoch, pending, reconfigurations, seated, Candidate,
    Candidates, PendingReconfigure,
};

use parity_scale_codec::{Decode, Encode};
use strata_crypto::codec::decode_message;
use strata_crypto::hash::Digest;

use crate::auth;
use crate::execution::{CommitteeRecord, StateError, StateView};
use crate::types::{AdminSet, ChainId, DynastyParams, Epoch, Height};

/// An epoch of a chain, as its state records it (written when the epoch's
/// committee is decided, in the epoch before).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct EpochRecord {
    pub chain: ChainId,
    pub epoch: Epoch,
    /// The height of the block the epoch follows (its last block is
    /// `start + params.epoch_length`).
    pub start: Height,
    pub params: DynastyParams,
    /// The randomness its committee was drawn with (and its own RandShare
    /// dealings are bound to the next one's).
    pub seed: Digest,
    pub source: SeedSource,
}

/// What part of its epoch a height is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Records,
    Dealing,
    Revealing,
    Candidacy,
    DkgDealing,
    DkgComplaints,
    Handover,
}

impl EpochRecord {
    /// The epoch's last height.
    pub fn last_height(&self) -> Height {
        self.start.saturating_add(self.params.epoch_length)
    }

    /// Whether `height` is in this epoch.
    pub fn contains(&self, height: Height) -> bool {
        height > self.start && height <= self.last_height()
    }

    fn window(&self) -> u64 {
        self.params.epoch_length / 8
    }

    /// The first offset of the dealing window.
    fn deal_from(&self) -> u64 {
        self.params.epoch_length / 4
    }

    /// The height whose block closes the dealing window (its last).
    pub fn deals_close(&self) -> Height {
        self.start + self.deal_from() + self.window() - 1
    }

    /// The height whose block fixes the seed of the next epoch.
    pub fn reveals_close(&self) -> Height {
        self.deals_close() + self.window()
    }

    /// The height whose block decides the next committee.
    pub fn decision(&self) -> Height {
        self.reveals_close() + self.window()
    }

    /// The height whose block closes the next committee's DKG dealings.
    pub fn dkg_deals_close(&self) -> Height {
        self.decision() + self.window()
    }

    /// The height whose block closes the DKG's complaints and fixes the
    /// next committee's group key.
    pub fn dkg_close(&self) -> Height {
        self.dkg_deals_close() + self.window()
    }

    /// The part of the epoch `height` is in (`None` outside it).
    pub fn phase(&self, height: Height) -> Option<Phase> {
        if !self.contains(height) {
            return None;
        }
        let deal_from = self.start + self.deal_from();
        Some(if height < deal_from {
            Phase::Records
        } else if height <= self.deals_close() {
            Phase::Dealing
        } else if height <= self.reveals_close() {
            Phase::Revealing
        } else if height <= self.decision() {
            Phase::Candidacy
        } else if height <= self.dkg_deals_close() {
            Phase::DkgDealing
        } else if height <= self.dkg_close() {
            Phase::DkgComplaints
        } else {
            Phase::Handover
        })
    }
}

// ------------------------------------------------------------------ keys

fn chain_key(prefix: &[u8], chain: ChainId) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&chain.0.to_be_bytes());
    k
}

fn epoch_key(prefix: &[u8], chain: ChainId, epoch: Epoch) -> Vec<u8> {
    let mut k = chain_key(prefix, chain);
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

pub const ADMINS_KEY: &[u8] = b"dynasty/admins";
pub const EPOCH_KEY_PREFIX: &[u8] = b"epoch/";

pub fn current_key(chain: ChainId) -> Vec<u8> {
    chain_key(b"dynasty/current/", chain)
}

pub fn epoch_record_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(EPOCH_KEY_PREFIX, chain, epoch)
}

// --------------------------------------------------------------- readers

pub(crate) fn read<T: Decode>(
    view: &dyn StateView,
    key: &[u8],
    what: &str,
) -> Result<Option<T>, StateError> {
    match view.value(key)? {
        None => Ok(None),
        Some(bytes) => decode_message(&bytes, auth::MAX_VALUE_BYTES)
            .map(Some)
            .map_err(|e| StateError::Corrupt(format!("{what}: {e}"))),
    }
}

/// The epoch `chain` is in, if it runs dynasties.
pub fn current_epoch(
    view: &dyn StateView,
    chain: ChainId,
) -> Result<Option<EpochRecord>, StateError> {
    let Some(epoch) = read::<Epoch>(view, &current_key(chain), "current epoch")? else {
        return Ok(None);
    };
    epoch_record(view, chain, epoch)
}

pub fn epoch_record(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Option<EpochRecord>, StateError> {
    read(view, &epoch_record_key(chain, epoch), "epoch record")
}

pub fn admins(view: &dyn StateView) -> Result<AdminSet, StateError> {
    Ok(read(view, ADMINS_KEY, "administrators")?.unwrap_or_default())
}

/// The network a state belongs to: its genesis configuration digest, what
/// signed registry changes and reconfigurations name.
pub fn network(view: &dyn StateView) -> Result<Digest, StateError> {
    match view.value(auth::GENESIS_CONFIG_KEY)? {
        Some(b) if b.len() == 32 => {
            let mut d = [0u8; 32];
            d.copy_from_slice(&b);
            Ok(Digest(d))
        }
        _ => Err(StateError::Corrupt(
            "no genesis configuration digest".into(),
        )),
    }
}

/// The seed of a chain's epoch 0: every later one comes from RandShare.
pub fn genesis_seed(config: &Digest, chain: ChainId) -> Digest {
    Digest::of_encoding("strata/genesis-seed/v1", &(config, chain))
}

/// The first two-thirds of a committee of `n`: f = ⌊(n−1)/3⌋ may fail, and
/// RandShare needs f+1 dealings and f+1 shares per dealing.
pub fn fault_bound(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

// ------------------------------------------------------------ the hooks

use crate::execution::Overlay;

/// What the executor calls after a block's transactions: the block's
/// reward credit (`rewards.rs`), then the windows' closings and the
/// epoch's end, keyed on the height alone, so they run exactly once per
/// chain height on every node.
pub(crate) fn end_block(
    s: &mut Overlay<'_>,
    chain: ChainId,
    height: Height,
    credit: Option<&crate::execution::BlockCredit>,
) -> Result<(), StateError> {
    let Some(cur) = current_epoch(s, chain)? else {
        return Ok(());
    };
    if cur.params.epoch_length == 0 {
        return Ok(());
    }
    if let Some(credit) = credit {
        rewards::credit_block(s, &cur, height, credit)?;
    }
    if height == cur.deals_close() {
        randshare::close_deals(s, &cur)?;
    }
    if height == cur.reveals_close() {
        randshare::close_reveals(s, &cur)?;
    }
    if height == cur.decision() {
        selection::decide(s, &cur, height)?;
    }
    if height == cur.dkg_close() {
        dkg::close(s, &cur)?;
    }
    if height == cur.last_height() {
        rewards::pay_epoch(s, &cur)?;
        let next = cur.epoch + 1;
        // The decision wrote the next epoch's record; a chain whose
        // decision could not run (it cannot: the height is in every
        // epoch) would keep its epoch rather than end without a successor.
        if epoch_record(s, chain, next)?.is_some() {
            s.put(current_key(chain), next.encode());
            stake::accrue_credit(s, &cur)?;
            registry::reweigh(s, chain, next)?;
            registry::snapshot_roster(s, chain, next)?;
        }
    }
    Ok(())
}

/// What the genesis writes for dynasties: the administrators, the
/// registered validators (on every chain: the genesis state is one for
/// the network; later changes go to the chains they concern), each chain's
/// roster, and epoch 0 of each chain that runs dynasties.
pub(crate) fn genesis_updates(g: &crate::execution::GenesisState) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut u = Vec::new();
    if g.admins != AdminSet::default() {
        u.push((ADMINS_KEY.to_vec(), g.admins.encode()));
    }
    if let Some(schedule) = g.rewards {
        u.push((rewards::SCHEDULE_KEY.to_vec(), schedule.encode()));
    }
    if let Some(policy) = g.stake {
        u.push((stake::POLICY_KEY.to_vec(), policy.encode()));
    }
    let mut chains: Vec<ChainId> = g.committees.iter().map(|c| c.chain).collect();
    chains.extend(g.dynasties.iter().map(|(c, _)| *c));
    chains.sort();
    chains.dedup();
    for info in &g.validators {
        let record = ValidatorRecord {
            info: info.clone(),
            weight: info.weight,
            sequence: 1,
            active: true,
            since: 0,
        };
        u.push((registry::validator_key(&info.key), record.encode()));
    }
    for &chain in &chains {
        let mut roster = Roster::default();
        for info in g.validators.iter().filter(|i| i.eligible_for(chain)) {
            // A roster over MAX_ROSTER is refused by the genesis loader.
            let _ = roster.set(info.key, info.weight);
        }
        if !roster.is_empty() {
            u.push((registry::roster_key(chain), roster.encode()));
        }
        if let Some((_, params)) = g.dynasties.iter().find(|(c, _)| *c == chain) {
            let record = EpochRecord {
                chain,
                epoch: 0,
                start: 0,
                params: *params,
                seed: genesis_seed(&g.config, chain),
                source: SeedSource::Genesis,
            };
            u.push((epoch_record_key(chain, 0), record.encode()));
            u.push((current_key(chain), 0u64.encode()));
            u.push((registry::roster_snapshot_key(chain, 0), roster.encode()));
        }
    }
    u
}

/// The committee of `chain` in `epoch` as a state records it.
pub fn committee(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Option<CommitteeRecord>, StateError> {
    CommitteeRecord::read(view, chain, epoch)
}

pub(crate) use accountability::apply_evidence;
pub(crate) use dkg::{apply_dkg_complaint, apply_dkg_deal};
pub(crate) use handoff::apply_handoff;
pub(crate) use randshare::{apply_deal, apply_reveal};
pub(crate) use registry::{apply_registry, apply_stake};
pub(crate) use selection::{apply_candidacy, apply_reconfigure};
