//! What a validator posts for its chain's dynasties, and when: a pure
//! machine over the executed state, run by the node's dynasty actor and by
//! the simulator alike. After each executed height the host asks
//! [`Participant::poll`] and submits what it returns to its own chain.
//!
//! Each transaction is made once per epoch and kept, so a retry (when it
//! has not executed [`retry_blocks`] blocks later: lost in a crash, a full
//! mempool, a partition) resubmits the same bytes, which mempools take
//! once. A dealing needs fresh randomness, passed in (no hidden
//! randomness, docs/design.md §2); reveals and candidacies are deterministic.

use std::collections::BTreeMap;

use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use strata_crypto::codec::BoundedVec;
use strata_crypto::dkg::DkgComplaint;
use strata_crypto::hash::Digest;
use strata_crypto::pvss::{self, PvssSecretKey};
use strata_crypto::sortition::{seats, sortition_input};
use strata_crypto::threshold::SecretShare;
use strata_crypto::vrf::VrfSecretKey;
use strata_crypto::{PublicKey, SecretKey};

use super::dkg;
use super::randshare::{dealing, participants, qualified, revealed, seed_record, threshold};
use super::registry::{roster_at, validator};
use super::selection::{candidates, sortition_params};
use super::{current_epoch, EpochRecord, Phase};
use crate::execution::{CommitteeRecord, StateError, StateView};
use crate::types::dynasty::pvss_context;
use crate::types::{
    Candidacy, ChainId, DkgComplaintTx, DkgDealTx, Epoch, Height, PvssDealTx, PvssRevealTx,
    SystemTx, Transaction,
};

/// Blocks after which an unexecuted dynasty transaction is submitted again,
/// at least: a quarter of the window it must land in beyond that. A
/// non-member's retry goes to another member (the first may be down or
/// behind), so a retry sooner than a transaction's way into a block
/// (about ten blocks under load at 25 ms blocks, tests/dynasties/main.rs) only
/// puts a copy in a second batch, refused there as a duplicate.
pub const RETRY_BLOCKS: u64 = 3;

/// The retry interval in an epoch of `epoch_length` blocks.
pub fn retry_blocks(epoch_length: u64) -> u64 {
    RETRY_BLOCKS.max(epoch_length / 8 / 4)
}

/// The secret keys a validator takes part with.
pub struct ParticipantKeys {
    pub bls: SecretKey,
    pub vrf: VrfSecretKey,
    pub pvss: PvssSecretKey,
}

/// Misbehaviour for tests and the simulator's Byzantine members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParticipantFaults {
    /// Deals, but never reveals.
    pub withhold_reveal: bool,
    /// Deals a transcript whose proofs do not hold.
    pub invalid_dealing: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Deal,
    Reveal,
    Candidacy,
    DkgDeal,
    /// Against this dealer's DKG dealing.
    DkgComplaint(u32),
}

pub struct Participant {
    chain: ChainId,
    keys: ParticipantKeys,
    public: PublicKey,
    faults: ParticipantFaults,
    /// What was made for (epoch, kind), and when it was last submitted.
    made: BTreeMap<(Epoch, Kind), (Transaction, Height)>,
    /// The next committee's DKG dealings this member opened: the complaint
    /// each one's share to it earns (`None`: the share is good). Checked
    /// once each: a dealing costs a pairing to check.
    opened: BTreeMap<(Epoch, u32), Option<DkgComplaint>>,
}

impl Participant {
    pub fn new(chain: ChainId, keys: ParticipantKeys) -> Participant {
        let public = keys.bls.public_key();
        Participant {
            chain,
            keys,
            public,
            faults: ParticipantFaults::default(),
            made: BTreeMap::new(),
            opened: BTreeMap::new(),
        }
    }

    pub fn with_faults(mut self, faults: ParticipantFaults) -> Participant {
        self.faults = faults;
        self
    }

    pub fn chain(&self) -> ChainId {
        self.chain
    }

    /// What to submit now, given the state after executing `height`.
    pub fn poll<R: RngCore + CryptoRng>(
        &mut self,
        view: &dyn StateView,
        height: Height,
        rng: &mut R,
    ) -> Result<Vec<Transaction>, StateError> {
        let Some(cur) = current_epoch(view, self.chain)? else {
            return Ok(Vec::new());
        };
        if cur.params.epoch_length == 0 {
            return Ok(Vec::new());
        }
        // Forget what earlier epochs needed.
        self.made = self.made.split_off(&(cur.epoch + 1, Kind::Deal));
        self.opened = self.opened.split_off(&(cur.epoch + 1, 0));
        let Some(kind) = self.due(view, &cur, height + 1)? else {
            return Ok(Vec::new());
        };
        let slot = (cur.epoch + 1, kind);
        if let Some((tx, last)) = self.made.get_mut(&slot) {
            if height < last.saturating_add(retry_blocks(cur.params.epoch_length)) {
                return Ok(Vec::new());
            }
            *last = height;
            return Ok(vec![tx.clone()]);
        }
        let made = match kind {
            Kind::Deal => self.make_deal(view, &cur, rng)?,
            Kind::Reveal => self.make_reveal(view, &cur)?,
            Kind::Candidacy => self.make_candidacy(view, &cur)?,
            Kind::DkgDeal => self.make_dkg_deal(view, &cur, rng)?,
            Kind::DkgComplaint(dealer) => self.make_dkg_complaint(&cur, dealer),
        };
        Ok(made
            .map(|tx| {
                self.made.insert(slot, (tx.clone(), height));
                vec![tx]
            })
            .unwrap_or_default())
    }

    fn my_index(&self, view: &dyn StateView, cur: &EpochRecord) -> Result<Option<u32>, StateError> {
        Ok(
            CommitteeRecord::read(view, self.chain, cur.epoch)?.and_then(|c| {
                c.members
                    .iter()
                    .position(|m| m.key == self.public)
                    .map(|i| i as u32)
            }),
        )
    }

    /// This validator's position in the committee of `epoch`.
    fn index_in(&self, view: &dyn StateView, epoch: Epoch) -> Result<Option<u32>, StateError> {
        Ok(
            CommitteeRecord::read(view, self.chain, epoch)?.and_then(|c| {
                c.members
                    .iter()
                    .position(|m| m.key == self.public)
                    .and_then(|i| u32::try_from(i).ok())
            }),
        )
    }

    /// What the block at `next` could take from this validator that the
    /// state does not hold yet.
    fn due(
        &mut self,
        view: &dyn StateView,
        cur: &EpochRecord,
        next: Height,
    ) -> Result<Option<Kind>, StateError> {
        let epoch = cur.epoch + 1;
        Ok(match cur.phase(next) {
            Some(Phase::Dealing) => match self.my_index(view, cur)? {
                Some(me) if dealing(view, self.chain, epoch, me)?.is_none() => Some(Kind::Deal),
                _ => None,
            },
            Some(Phase::Revealing) if !self.faults.withhold_reveal => {
                match self.my_index(view, cur)? {
                    Some(me)
                        if !revealed(view, self.chain, epoch, me)?
                            && qualified(view, self.chain, epoch)?.is_some_and(|q| q.enough) =>
                    {
                        Some(Kind::Reveal)
                    }
                    _ => None,
                }
            }
            Some(Phase::Candidacy) => {
                let listed = candidates(view, self.chain, epoch)?
                    .list
                    .iter()
                    .any(|c| c.key == self.public);
                (!listed).then_some(Kind::Candidacy)
            }
            Some(Phase::DkgDealing) => match self.index_in(view, epoch)? {
                Some(me) if dkg::dkg_dealing(view, self.chain, epoch, me)?.is_none() => {
                    Some(Kind::DkgDeal)
                }
                _ => None,
            },
            Some(Phase::DkgComplaints) => match self.index_in(view, epoch)? {
                Some(me) => self.bad_share(view, epoch, me)?.map(Kind::DkgComplaint),
                None => None,
            },
            _ => None,
        })
    }

    /// A dealer whose DKG share to this member does not open, and whom it
    /// has not complained about yet.
    fn bad_share(
        &mut self,
        view: &dyn StateView,
        epoch: Epoch,
        me: u32,
    ) -> Result<Option<u32>, StateError> {
        let Some((ctx, _, _)) = dkg::run(view, self.chain, epoch)? else {
            return Ok(None);
        };
        for dealer in dkg::dkg_dealers(view, self.chain, epoch)? {
            if dealer == me || dkg::complained(view, self.chain, epoch, me, dealer)? {
                continue;
            }
            if !self.opened.contains_key(&(epoch, dealer)) {
                let Some(d) = dkg::dkg_dealing(view, self.chain, epoch, dealer)? else {
                    continue;
                };
                // Deterministic: the complaint's proof nonce comes from
                // the member's key and the dealing, no hidden randomness.
                let mut rng = ChaCha20Rng::from_seed(
                    Digest::of_encoding("strata/dkg/complaint-nonce", &(self.public, &d)).0,
                );
                let complaint = strata_crypto::dkg::check_dealing(&ctx, &d.dealing)
                    .ok()
                    .and_then(|c| c.open(&mut rng, &ctx, me, &self.keys.pvss).ok())
                    .and_then(Result::err);
                self.opened.insert((epoch, dealer), complaint);
            }
            if self
                .opened
                .get(&(epoch, dealer))
                .is_some_and(|c| c.is_some())
            {
                return Ok(Some(dealer));
            }
        }
        Ok(None)
    }

    fn make_dkg_deal<R: RngCore + CryptoRng>(
        &self,
        view: &dyn StateView,
        cur: &EpochRecord,
        rng: &mut R,
    ) -> Result<Option<Transaction>, StateError> {
        let epoch = cur.epoch + 1;
        let (Some((ctx, keys, _)), Some(me)) = (
            dkg::run(view, self.chain, epoch)?,
            self.index_in(view, epoch)?,
        ) else {
            return Ok(None);
        };
        let Ok(mut dealing) = strata_crypto::dkg::deal(rng, &ctx, me, &keys) else {
            return Ok(None);
        };
        if self.faults.invalid_dealing {
            // A share that does not match the commitments, to the next
            // member: only that member can tell, and its complaint must
            // exclude this dealer.
            let victim = (me as usize + 1) % dealing.shares.len().max(1);
            if let Some(share) = dealing.shares.get_mut(victim) {
                share[31] ^= 1;
            }
        }
        let digest = DkgDealTx::signing_digest(self.chain, epoch, &dealing);
        let signature = self.keys.bls.sign(&digest.0);
        Ok(Some(system(SystemTx::DkgDeal(DkgDealTx {
            chain: self.chain,
            epoch,
            dealing,
            signature,
        }))))
    }

    fn make_dkg_complaint(&self, cur: &EpochRecord, dealer: u32) -> Option<Transaction> {
        let epoch = cur.epoch + 1;
        let complaint = self.opened.get(&(epoch, dealer))?.clone()?;
        let digest = DkgComplaintTx::signing_digest(self.chain, epoch, &complaint);
        let signature = self.keys.bls.sign(&digest.0);
        Some(system(SystemTx::DkgComplaint(DkgComplaintTx {
            chain: self.chain,
            epoch,
            complaint,
            signature,
        })))
    }

    /// This validator's secret share of its chain's committee of `epoch`
    /// (for threshold signatures), decrypted from the chain's DKG record.
    pub fn dkg_share(
        &self,
        view: &dyn StateView,
        epoch: Epoch,
    ) -> Result<Option<SecretShare>, StateError> {
        let Some(me) = self.index_in(view, epoch)? else {
            return Ok(None);
        };
        let mut rng =
            ChaCha20Rng::from_seed(Digest::of_encoding("strata/dkg/open", &(self.public, epoch)).0);
        dkg::secret_share(view, self.chain, epoch, me, &self.keys.pvss, &mut rng)
    }

    fn make_deal<R: RngCore + CryptoRng>(
        &self,
        view: &dyn StateView,
        cur: &EpochRecord,
        rng: &mut R,
    ) -> Result<Option<Transaction>, StateError> {
        let Some(me) = self.my_index(view, cur)? else {
            return Ok(None);
        };
        let keys = participants(view, cur)?;
        let context = pvss_context(self.chain, cur.epoch + 1, me);
        let Ok((mut dealing, _)) = pvss::deal(rng, &context, threshold(keys.len()), &keys) else {
            return Ok(None);
        };
        if self.faults.invalid_dealing {
            if let Some(r) = dealing.responses.first_mut() {
                r[0] ^= 1;
            }
        }
        let signature = self
            .keys
            .bls
            .sign(&PvssDealTx::signing_digest(&context, &dealing).0);
        Ok(Some(system(SystemTx::PvssDeal(PvssDealTx {
            context,
            dealing,
            signature,
        }))))
    }

    fn make_reveal(
        &self,
        view: &dyn StateView,
        cur: &EpochRecord,
    ) -> Result<Option<Transaction>, StateError> {
        let Some(me) = self.my_index(view, cur)? else {
            return Ok(None);
        };
        let epoch = cur.epoch + 1;
        let Some(q) = qualified(view, self.chain, epoch)? else {
            return Ok(None);
        };
        let mut shares = Vec::new();
        for dealer in q.dealers.iter() {
            let Some(d) = dealing(view, self.chain, epoch, *dealer)? else {
                continue;
            };
            let ctx = pvss_context(self.chain, epoch, *dealer);
            if let Ok(share) = pvss::decrypt_share(&self.keys.pvss, &ctx, me, &d.dealing) {
                shares.push((*dealer, share));
            }
        }
        let Ok(shares) = BoundedVec::new(shares) else {
            return Ok(None);
        };
        Ok(Some(system(SystemTx::PvssReveal(PvssRevealTx {
            chain: self.chain,
            epoch,
            member: me,
            shares,
        }))))
    }

    /// A candidacy, when this validator's draw selects it.
    fn make_candidacy(
        &self,
        view: &dyn StateView,
        cur: &EpochRecord,
    ) -> Result<Option<Transaction>, StateError> {
        let epoch = cur.epoch + 1;
        let Some(seed) = seed_record(view, self.chain, epoch)? else {
            return Ok(None);
        };
        let snapshot = roster_at(view, self.chain, cur.epoch)?;
        let Some(entry) = snapshot.get(&self.public) else {
            return Ok(None);
        };
        if !validator(view, &self.public)?.is_some_and(|r| r.active && r.since <= cur.start) {
            return Ok(None);
        }
        let input = sortition_input(&seed.seed, self.chain.0, epoch);
        let (output, proof) = self.keys.vrf.prove(&input);
        let params = sortition_params(snapshot.total_weight(), &cur.params);
        let won = seats(&output, entry.weight, params).unwrap_or(0);
        Ok((won > 0).then(|| {
            system(SystemTx::Candidacy(Candidacy {
                chain: self.chain,
                epoch,
                validator: self.public,
                seats: won,
                proof,
            }))
        }))
    }
}

fn system(tx: SystemTx) -> Transaction {
    Transaction::System(Box::new(tx))
}
