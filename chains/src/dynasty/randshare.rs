//! RandShare over SCRAPE PVSS (Microchain §IV "Committee Change"; Syta et
//! al., "Scalable Bias-Resistant Distributed Randomness", S&P 2017, §4;
//! docs/design.md §4), with the chain as the broadcast channel.
//!
//! The n members of committee e deal: each shares a random secret among
//! all n with threshold t = f+1 (f = ⌊(n−1)/3⌋), proven correct by the
//! dealing itself. The block that closes the dealing window fixes the
//! qualified set: the valid dealings, at least f+1 of them, so at least one
//! is an honest member's whose secret no coalition of f knows. Members then
//! reveal their decrypted shares of every qualified dealing; the block that
//! closes the reveal window recovers each qualified secret from any t
//! valid shares (the n−f honest members hold enough), so a dealer that
//! withholds its own reveal can neither stop nor steer the result: the
//! seed of e+1 is H(e+1 ‖ Σ recovered secrets).
//!
//! When the window closes with fewer than f+1 dealings, or a qualified
//! secret cannot be recovered (more than f members failed to take part,
//! beyond what the protocol tolerates), the chain must still move on: the
//! seed is then derived from the previous one ([`SeedSource::Fallback`]),
//! predictable but not choosable, and the record says so.

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::{Digest, Hasher};
use strata_crypto::pvss::{self, DecryptedShare, PvssPublicKey, PvssSecret};

use super::registry::validator;
use super::{epoch_key, fault_bound, read, EpochRecord, Overlay, Phase};
use crate::execution::{CommitteeRecord, StateError, StateView};
use crate::types::dynasty::{pvss_context, MAX_DYNASTY_MEMBERS};
use crate::types::{ChainId, Epoch, Height, PvssDealTx, PvssRevealTx};

/// Where a seed came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SeedSource {
    /// The genesis (epoch 0).
    #[codec(index = 0)]
    Genesis,
    /// RandShare: the qualified dealers' recovered secrets.
    #[codec(index = 1)]
    RandShare,
    /// RandShare could not complete; derived from the previous seed.
    #[codec(index = 2)]
    Fallback,
}

impl SeedSource {
    pub fn name(self) -> &'static str {
        match self {
            SeedSource::Genesis => "genesis",
            SeedSource::RandShare => "randshare",
            SeedSource::Fallback => "fallback",
        }
    }
}

/// The dealers whose dealings count, fixed when the dealing window closes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Qualified {
    pub dealers: BoundedVec<u32, MAX_DYNASTY_MEMBERS>,
    /// At least f+1 of them: RandShare goes on to reveals.
    pub enough: bool,
}

/// The seed of an epoch, fixed when the reveal window before it closes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SeedRecord {
    pub seed: Digest,
    pub source: SeedSource,
    pub qualified: BoundedVec<u32, MAX_DYNASTY_MEMBERS>,
    /// Members whose reveals counted.
    pub revealers: BoundedVec<u32, MAX_DYNASTY_MEMBERS>,
}

fn deal_key(chain: ChainId, epoch: Epoch, dealer: u32) -> Vec<u8> {
    let mut k = epoch_key(b"randshare/deal/", chain, epoch);
    k.extend_from_slice(&dealer.to_be_bytes());
    k
}

fn reveal_key(chain: ChainId, epoch: Epoch, member: u32) -> Vec<u8> {
    let mut k = epoch_key(b"randshare/reveal/", chain, epoch);
    k.extend_from_slice(&member.to_be_bytes());
    k
}

fn dealers_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"randshare/dealers/", chain, epoch)
}

fn revealers_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"randshare/revealers/", chain, epoch)
}

pub fn qualified_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"randshare/qualified/", chain, epoch)
}

pub fn seed_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"randshare/seed/", chain, epoch)
}

/// A dealing recorded for `epoch` by `dealer`.
pub fn dealing(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
    dealer: u32,
) -> Result<Option<PvssDealTx>, StateError> {
    read(view, &deal_key(chain, epoch, dealer), "dealing")
}

pub fn qualified(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Option<Qualified>, StateError> {
    read(view, &qualified_key(chain, epoch), "qualified set")
}

pub fn seed_record(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Option<SeedRecord>, StateError> {
    read(view, &seed_key(chain, epoch), "seed")
}

/// Whether `member` has a reveal recorded for `epoch`.
pub fn revealed(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
    member: u32,
) -> Result<bool, StateError> {
    Ok(view.value(&reveal_key(chain, epoch, member))?.is_some())
}

/// The seed RandShare's recovered secrets give for `epoch`.
pub fn seed_of(chain: ChainId, epoch: Epoch, sum: &PvssSecret) -> Digest {
    let mut h = Hasher::new("strata/seed/v1");
    h.update(&chain.0.to_be_bytes())
        .update(&epoch.to_be_bytes())
        .update(&sum.to_bytes());
    h.finalize()
}

fn fallback_seed(chain: ChainId, epoch: Epoch, previous: &Digest) -> Digest {
    let mut h = Hasher::new("strata/seed/fallback/v1");
    h.update(&chain.0.to_be_bytes())
        .update(&epoch.to_be_bytes())
        .update(&previous.0);
    h.finalize()
}

/// The participants of the RandShare run by `cur`'s committee: their PVSS
/// keys in committee order. Every member of a dynasty is a registered
/// validator (the genesis registers its committees' members), so a member
/// without a record means a corrupt state.
pub(super) fn participants(
    view: &dyn StateView,
    cur: &EpochRecord,
) -> Result<Vec<PvssPublicKey>, StateError> {
    let committee = CommitteeRecord::read(view, cur.chain, cur.epoch)?
        .ok_or_else(|| StateError::Corrupt(format!("no committee for epoch {}", cur.epoch)))?;
    pvss_keys(view, &committee)
}

/// The PVSS keys of `committee`'s members, in committee order.
pub(super) fn pvss_keys(
    view: &dyn StateView,
    committee: &CommitteeRecord,
) -> Result<Vec<PvssPublicKey>, StateError> {
    committee
        .members
        .iter()
        .map(|m| {
            validator(view, &m.key)?
                .map(|r| r.info.pvss_key)
                .ok_or_else(|| {
                    StateError::Corrupt(format!("committee member {} is not registered", m.key))
                })
        })
        .collect()
}

/// RandShare's threshold for `n` participants.
pub fn threshold(n: usize) -> usize {
    fault_bound(n) + 1
}

/// A sorted list of member positions kept under `key` (dealers,
/// revealers, excluded dealers).
pub(super) fn index_list(view: &dyn StateView, key: &[u8]) -> Result<Vec<u32>, StateError> {
    Ok(
        read::<BoundedVec<u32, MAX_DYNASTY_MEMBERS>>(view, key, "index list")?
            .map(|v| v.into_inner())
            .unwrap_or_default(),
    )
}

pub(super) fn push_index(s: &mut Overlay<'_>, key: Vec<u8>, index: u32) -> Result<(), StateError> {
    let mut list = index_list(s, &key)?;
    if !list.contains(&index) {
        list.push(index);
        list.sort_unstable();
    }
    let bounded: BoundedVec<u32, MAX_DYNASTY_MEMBERS> =
        BoundedVec::new(list).map_err(|e| StateError::Corrupt(e.to_string()))?;
    s.put(key, bounded.encode());
    Ok(())
}

/// Executes a dealing: by a member of the current committee, in the
/// dealing window, for the next epoch, signed by that member, valid, and
/// its first.
pub(crate) fn apply_deal(
    s: &mut Overlay<'_>,
    chain: ChainId,
    tx: &PvssDealTx,
    height: Height,
) -> Result<Result<(), &'static str>, StateError> {
    let Some(cur) = super::current_epoch(s, chain)? else {
        return Ok(Err("this chain runs no dynasties"));
    };
    let ctx = tx.context;
    if ctx.chain != chain.0 || ctx.epoch != cur.epoch + 1 {
        return Ok(Err("dealing for another chain or epoch"));
    }
    if cur.phase(height) != Some(Phase::Dealing) {
        return Ok(Err("outside the dealing window"));
    }
    let committee = CommitteeRecord::read(s, chain, cur.epoch)?
        .ok_or_else(|| StateError::Corrupt("no committee".into()))?;
    let Some(member) = committee.members.get(ctx.dealer as usize) else {
        return Ok(Err("the dealer is not a committee member"));
    };
    let digest = PvssDealTx::signing_digest(&ctx, &tx.dealing);
    if tx.signature.verify(&digest.0, &member.key).is_err() {
        return Ok(Err("dealing not signed by its dealer"));
    }
    if dealing(s, chain, ctx.epoch, ctx.dealer)?.is_some() {
        return Ok(Err("already dealt"));
    }
    let keys = participants(s, &cur)?;
    if pvss::verify_dealing(&ctx, threshold(keys.len()), &keys, &tx.dealing).is_err() {
        return Ok(Err("invalid dealing"));
    }
    s.put(deal_key(chain, ctx.epoch, ctx.dealer), tx.encode());
    push_index(s, dealers_key(chain, ctx.epoch), ctx.dealer)?;
    Ok(Ok(()))
}

/// The dealing window's last block: the valid dealings become the
/// qualified set.
pub(super) fn close_deals(s: &mut Overlay<'_>, cur: &EpochRecord) -> Result<(), StateError> {
    let next = cur.epoch + 1;
    let dealers: BoundedVec<u32, MAX_DYNASTY_MEMBERS> =
        read(s, &dealers_key(cur.chain, next), "dealers")?.unwrap_or_default();
    let n = participants(s, cur)?.len();
    let q = Qualified {
        enough: dealers.len() > fault_bound(n),
        dealers,
    };
    s.put(qualified_key(cur.chain, next), q.encode());
    Ok(())
}

/// Executes a reveal: a member's valid shares of qualified dealings, in the
/// reveal window, its first.
pub(crate) fn apply_reveal(
    s: &mut Overlay<'_>,
    chain: ChainId,
    tx: &PvssRevealTx,
    height: Height,
) -> Result<Result<(), &'static str>, StateError> {
    let Some(cur) = super::current_epoch(s, chain)? else {
        return Ok(Err("this chain runs no dynasties"));
    };
    if tx.chain != chain || tx.epoch != cur.epoch + 1 {
        return Ok(Err("reveal for another chain or epoch"));
    }
    if cur.phase(height) != Some(Phase::Revealing) {
        return Ok(Err("outside the reveal window"));
    }
    let Some(q) = qualified(s, chain, tx.epoch)?.filter(|q| q.enough) else {
        return Ok(Err("no RandShare to reveal for"));
    };
    let keys = participants(s, &cur)?;
    let Some(key) = keys.get(tx.member as usize) else {
        return Ok(Err("the revealer is not a committee member"));
    };
    if revealed(s, chain, tx.epoch, tx.member)? {
        return Ok(Err("already revealed"));
    }
    if tx.shares.is_empty() {
        return Ok(Err("a reveal without shares"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (dealer, share) in tx.shares.iter() {
        if !q.dealers.contains(dealer) {
            return Ok(Err("a share of a dealing that is not qualified"));
        }
        if !seen.insert(*dealer) || share.index != tx.member {
            return Ok(Err("a share repeated or of another member"));
        }
        let Some(deal) = dealing(s, chain, tx.epoch, *dealer)? else {
            return Err(StateError::Corrupt("qualified dealing missing".into()));
        };
        if pvss::verify_share(
            &pvss_context(chain, tx.epoch, *dealer),
            key,
            &deal.dealing,
            share,
        )
        .is_err()
        {
            return Ok(Err("invalid decrypted share"));
        }
    }
    s.put(reveal_key(chain, tx.epoch, tx.member), tx.shares.encode());
    push_index(s, revealers_key(chain, tx.epoch), tx.member)?;
    Ok(Ok(()))
}

/// The reveal window's last block: every qualified secret recovered, and
/// the seed of the next epoch fixed.
pub(super) fn close_reveals(s: &mut Overlay<'_>, cur: &EpochRecord) -> Result<(), StateError> {
    let chain = cur.chain;
    let next = cur.epoch + 1;
    let q = qualified(s, chain, next)?.unwrap_or_default();
    let revealers: BoundedVec<u32, MAX_DYNASTY_MEMBERS> =
        read(s, &revealers_key(chain, next), "revealers")?.unwrap_or_default();
    let n = participants(s, cur)?.len();
    let t = threshold(n);
    let mut by_dealer: BTreeMap<u32, Vec<DecryptedShare>> = BTreeMap::new();
    for member in revealers.iter() {
        let shares: BoundedVec<(u32, DecryptedShare), { crate::types::limits::MAX_PVSS_ITEMS }> =
            read(s, &reveal_key(chain, next, *member), "reveal")?.unwrap_or_default();
        for (dealer, share) in shares.iter() {
            by_dealer.entry(*dealer).or_default().push(*share);
        }
    }
    let secrets: Option<Vec<PvssSecret>> = if q.enough {
        q.dealers
            .iter()
            .map(|d| {
                by_dealer
                    .get(d)
                    .and_then(|shares| pvss::recover(t, shares).ok())
            })
            .collect()
    } else {
        None
    };
    let (seed, source) = match secrets {
        Some(secrets) => (
            seed_of(chain, next, &PvssSecret::sum(&secrets)),
            SeedSource::RandShare,
        ),
        None => (fallback_seed(chain, next, &cur.seed), SeedSource::Fallback),
    };
    let record = SeedRecord {
        seed,
        source,
        qualified: q.dealers,
        revealers,
    };
    s.put(seed_key(chain, next), record.encode());
    Ok(())
}
