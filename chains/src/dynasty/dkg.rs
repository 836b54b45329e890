//! The next committee's distributed key generation (issue 27, point 1;
//! docs/design.md §3): Joint-Feldman with publicly verifiable encrypted shares
//! (`strata_crypto::dkg`), the chain as its broadcast channel and judge.
//!
//! Once the block at `EpochRecord::decision` has decided committee e+1,
//! each of its n members deals (`DkgDealTx`, in the window after the
//! decision): Feldman commitments to a random polynomial of degree t−1, a
//! proof of possession of its constant term, and each member's share
//! encrypted to that member's registered PVSS key. The executor checks
//! what anyone can (shape, encodings, the proof of possession, the
//! dealer's BLS signature); only a share's recipient can tell whether its
//! share matches the commitments. In the next window a member whose share
//! does not posts a complaint (`DkgComplaintTx`) revealing the share's
//! decryption key with a DLEQ proof, so the executor decrypts the share and
//! judges: the dealer cheated (disqualified) or the complaint is false
//! (refused, with the reason).
//!
//! The block that closes the complaints fixes the result ([`DkgRecord`]):
//! the qualified dealers (every dealing recorded, less the disqualified),
//! and, with at least t of them, the group key Σ A_i0 and every member's
//! share key. Member j's secret share is Σ_i f_i(j) over the qualified
//! dealers, which it decrypts from the chain whenever it needs it
//! ([`secret_share`]): nothing secret is kept outside the chain and its
//! PVSS key, so a restarted member recovers its share from the state.
//!
//! t is the committee's quorum by count, n − f (f = ⌊(n−1)/3⌋): any quorum
//! of signature shares combines into the group's one signature, and f
//! members (or fewer than t, if more fail) learn nothing of the group
//! secret. With fewer than t qualified dealings (more than f members
//! failed to deal or cheated) the record has no group key: the chain
//! keeps multisig certificates for that epoch.

use parity_scale_codec::{Decode, Encode};
use rand::{CryptoRng, RngCore};
use strata_crypto::codec::BoundedVec;
use strata_crypto::dkg::{self, CheckedDealing, DkgContext, Verdict};
use strata_crypto::pvss::{PvssPublicKey, PvssSecretKey};
use strata_crypto::threshold::{GroupPublic, SecretShare};
use strata_crypto::PublicKey;

use super::randshare::{index_list, push_index, pvss_keys};
use super::{epoch_key, fault_bound, read, EpochRecord, Overlay, Phase};
use crate::execution::{CommitteeRecord, GroupKey, StateError, StateView};
use crate::types::dynasty::MAX_DYNASTY_MEMBERS;
use crate::types::{CertificateKind, ChainId, DkgComplaintTx, DkgDealTx, Epoch, Height};

/// What a committee's DKG came to, fixed when its complaints close.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DkgRecord {
    pub epoch: Epoch,
    pub threshold: u32,
    pub participants: u32,
    /// The dealers whose dealings count, in order.
    pub qualified: BoundedVec<u32, MAX_DYNASTY_MEMBERS>,
    /// Dealers an upheld complaint excluded.
    pub disqualified: BoundedVec<u32, MAX_DYNASTY_MEMBERS>,
    /// The group key and the share keys (member j's at j), when at least
    /// t dealings qualified.
    pub group_key: Option<PublicKey>,
    pub share_keys: BoundedVec<PublicKey, MAX_DYNASTY_MEMBERS>,
}

impl DkgRecord {
    /// The group's public side, to verify shares and combined signatures.
    pub fn group(&self) -> Option<GroupPublic> {
        let key = self.group_key?;
        Some(GroupPublic::from_parts(
            self.threshold,
            key,
            self.share_keys.to_vec(),
        ))
    }
}

/// The DKG threshold for a committee of `n`: its quorum by count.
pub fn threshold(n: usize) -> u32 {
    u32::try_from(n.saturating_sub(fault_bound(n))).unwrap_or(u32::MAX)
}

fn deal_key(chain: ChainId, epoch: Epoch, dealer: u32) -> Vec<u8> {
    let mut k = epoch_key(b"dkg/deal/", chain, epoch);
    k.extend_from_slice(&dealer.to_be_bytes());
    k
}

fn dealers_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"dkg/dealers/", chain, epoch)
}

fn disqualified_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"dkg/disqualified/", chain, epoch)
}

fn complaint_key(chain: ChainId, epoch: Epoch, complainer: u32, dealer: u32) -> Vec<u8> {
    let mut k = epoch_key(b"dkg/complaint/", chain, epoch);
    k.extend_from_slice(&complainer.to_be_bytes());
    k.extend_from_slice(&dealer.to_be_bytes());
    k
}

pub fn record_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"dkg/result/", chain, epoch)
}

/// The DKG result of `chain`'s committee of `epoch`, once fixed.
pub fn dkg_record(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Option<DkgRecord>, StateError> {
    read(view, &record_key(chain, epoch), "DKG result")
}

/// A dealing recorded for the committee of `epoch` by `dealer`.
pub fn dkg_dealing(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
    dealer: u32,
) -> Result<Option<DkgDealTx>, StateError> {
    read(view, &deal_key(chain, epoch, dealer), "DKG dealing")
}

/// The dealers with a dealing recorded for the committee of `epoch`.
pub fn dkg_dealers(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Vec<u32>, StateError> {
    index_list(view, &dealers_key(chain, epoch))
}

/// Whether `complainer` has a complaint against `dealer` recorded.
pub fn complained(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
    complainer: u32,
    dealer: u32,
) -> Result<bool, StateError> {
    Ok(view
        .value(&complaint_key(chain, epoch, complainer, dealer))?
        .is_some())
}

/// A DKG run: its context, the members' encryption keys (in committee
/// order) and the committee it keys.
pub type Run = (DkgContext, Vec<PvssPublicKey>, CommitteeRecord);

/// The run keying `chain`'s committee of `epoch`; `None` until decided.
pub fn run(view: &dyn StateView, chain: ChainId, epoch: Epoch) -> Result<Option<Run>, StateError> {
    let Some(committee) = CommitteeRecord::read(view, chain, epoch)? else {
        return Ok(None);
    };
    let keys = pvss_keys(view, &committee)?;
    let ctx = DkgContext {
        chain: chain.0,
        epoch,
        threshold: threshold(keys.len()),
        participants: u32::try_from(keys.len()).unwrap_or(u32::MAX),
    };
    Ok(Some((ctx, keys, committee)))
}

/// The checks every DKG transaction for `epoch` passes: the chain runs
/// dynasties, the epoch is the next one, the window is `phase`, and its
/// committee is decided.
fn open_run(
    s: &Overlay<'_>,
    chain: ChainId,
    epoch: Epoch,
    phase: Phase,
    height: Height,
) -> Result<Result<Run, &'static str>, StateError> {
    let Some(cur) = super::current_epoch(s, chain)? else {
        return Ok(Err("this chain runs no dynasties"));
    };
    if epoch != cur.epoch + 1 {
        return Ok(Err("DKG transaction for another epoch"));
    }
    if cur.phase(height) != Some(phase) {
        return Ok(Err(match phase {
            Phase::DkgDealing => "outside the DKG dealing window",
            _ => "outside the DKG complaint window",
        }));
    }
    Ok(match run(s, chain, epoch)? {
        Some(r) => Ok(r),
        None => Err("the next committee is not decided"),
    })
}

/// Executes a dealing: by a member of the next committee, signed by it, in
/// the dealing window, its first, and checkable by anyone.
pub(crate) fn apply_dkg_deal(
    s: &mut Overlay<'_>,
    chain: ChainId,
    tx: &DkgDealTx,
    height: Height,
) -> Result<Result<(), &'static str>, StateError> {
    if tx.chain != chain {
        return Ok(Err("DKG dealing for another chain"));
    }
    let (ctx, _, committee) = match open_run(s, chain, tx.epoch, Phase::DkgDealing, height)? {
        Ok(r) => r,
        Err(why) => return Ok(Err(why)),
    };
    let dealer = tx.dealing.dealer;
    let Some(member) = committee.members.get(dealer as usize) else {
        return Ok(Err("the dealer is not a member of the next committee"));
    };
    let digest = DkgDealTx::signing_digest(chain, tx.epoch, &tx.dealing);
    if tx.signature.verify(&digest.0, &member.key).is_err() {
        return Ok(Err("DKG dealing not signed by its dealer"));
    }
    if dkg_dealing(s, chain, tx.epoch, dealer)?.is_some() {
        return Ok(Err("already dealt"));
    }
    if dkg::check_dealing(&ctx, &tx.dealing).is_err() {
        return Ok(Err("invalid DKG dealing"));
    }
    s.put(deal_key(chain, tx.epoch, dealer), tx.encode());
    push_index(s, dealers_key(chain, tx.epoch), dealer)?;
    Ok(Ok(()))
}

/// Executes a complaint: by a member of the next committee, signed by it,
/// in the complaint window, against a recorded dealing not disqualified
/// yet; upheld only if the revealed share does not match the dealer's
/// commitments.
pub(crate) fn apply_dkg_complaint(
    s: &mut Overlay<'_>,
    chain: ChainId,
    tx: &DkgComplaintTx,
    height: Height,
) -> Result<Result<(), &'static str>, StateError> {
    if tx.chain != chain {
        return Ok(Err("DKG complaint for another chain"));
    }
    let (ctx, keys, committee) = match open_run(s, chain, tx.epoch, Phase::DkgComplaints, height)? {
        Ok(r) => r,
        Err(why) => return Ok(Err(why)),
    };
    let c = &tx.complaint;
    let (Some(member), Some(pk)) = (
        committee.members.get(c.complainer as usize),
        keys.get(c.complainer as usize),
    ) else {
        return Ok(Err("the complainer is not a member of the next committee"));
    };
    let digest = DkgComplaintTx::signing_digest(chain, tx.epoch, c);
    if tx.signature.verify(&digest.0, &member.key).is_err() {
        return Ok(Err("DKG complaint not signed by its complainer"));
    }
    let Some(dealt) = dkg_dealing(s, chain, tx.epoch, c.dealer)? else {
        return Ok(Err("a complaint against no recorded dealing"));
    };
    let disqualified_list = disqualified(s, chain, tx.epoch)?;
    if disqualified_list.contains(&c.dealer) {
        return Ok(Err("the dealer is already disqualified"));
    }
    if complained(s, chain, tx.epoch, c.complainer, c.dealer)? {
        return Ok(Err("already complained"));
    }
    let Ok(checked) = dkg::check_dealing(&ctx, &dealt.dealing) else {
        return Err(StateError::Corrupt(
            "a recorded DKG dealing does not check".into(),
        ));
    };
    match checked.judge(&ctx, c, pk) {
        Ok(Verdict::DealerCheated) => {
            s.put(
                complaint_key(chain, tx.epoch, c.complainer, c.dealer),
                tx.encode(),
            );
            push_index(s, disqualified_key(chain, tx.epoch), c.dealer)?;
            Ok(Ok(()))
        }
        Ok(Verdict::ShareValid) => Ok(Err("a false complaint: the share matches the commitments")),
        Err(_) => Ok(Err("the complaint's proof does not verify")),
    }
}

fn disqualified(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Vec<u32>, StateError> {
    index_list(view, &disqualified_key(chain, epoch))
}

/// The qualified dealings of `epoch`'s run, checked, in dealer order.
fn qualified_dealings(
    view: &dyn StateView,
    chain: ChainId,
    ctx: &DkgContext,
) -> Result<Vec<CheckedDealing>, StateError> {
    let epoch = ctx.epoch;
    let out = disqualified(view, chain, epoch)?;
    let mut checked = Vec::new();
    for dealer in dkg_dealers(view, chain, epoch)? {
        if out.contains(&dealer) {
            continue;
        }
        let Some(d) = dkg_dealing(view, chain, epoch, dealer)? else {
            return Err(StateError::Corrupt(
                "a listed DKG dealing is missing".into(),
            ));
        };
        let Ok(c) = dkg::check_dealing(ctx, &d.dealing) else {
            return Err(StateError::Corrupt(
                "a recorded DKG dealing does not check".into(),
            ));
        };
        checked.push(c);
    }
    Ok(checked)
}

/// The complaint window's last block: the result of the next committee's
/// DKG.
pub(super) fn close(s: &mut Overlay<'_>, cur: &EpochRecord) -> Result<(), StateError> {
    let (chain, epoch) = (cur.chain, cur.epoch + 1);
    let Some((ctx, _, _)) = run(s, chain, epoch)? else {
        return Ok(());
    };
    let checked = qualified_dealings(s, chain, &ctx)?;
    let group = dkg::group_public(&ctx, &checked).ok();
    let bounded = |v: Vec<u32>| {
        BoundedVec::<u32, MAX_DYNASTY_MEMBERS>::new(v)
            .map_err(|e| StateError::Corrupt(e.to_string()))
    };
    let share_keys = group
        .as_ref()
        .map(|g| g.share_keys().to_vec())
        .unwrap_or_default();
    let record = DkgRecord {
        epoch,
        threshold: ctx.threshold,
        participants: ctx.participants,
        qualified: bounded(checked.iter().map(|c| c.dealer).collect())?,
        disqualified: bounded(disqualified(s, chain, epoch)?)?,
        group_key: group.as_ref().map(|g| *g.group_key()),
        share_keys: BoundedVec::new(share_keys).map_err(|e| StateError::Corrupt(e.to_string()))?,
    };
    s.put(record_key(chain, epoch), record.encode());
    // A threshold chain's committee certifies with the group key from its
    // first view (issue 27, point 2): the key goes into the committee
    // record, which the hand-over proves to whoever follows the chain.
    let threshold_chain = super::epoch_record(s, chain, epoch)?
        .is_some_and(|r| r.params.certificate == CertificateKind::Threshold);
    if let (true, Some(key), Some(mut committee)) = (
        threshold_chain,
        record.group_key,
        CommitteeRecord::read(s, chain, epoch)?,
    ) {
        committee.group = Some(GroupKey {
            threshold: record.threshold,
            key,
        });
        s.put(
            crate::execution::committee_key(chain, epoch),
            committee.encode(),
        );
    }
    Ok(())
}

/// Member `member`'s secret share of `chain`'s committee of `epoch`,
/// decrypted from the qualified dealings with its PVSS key (`None`
/// before the result is fixed, without a group key, or if a qualified
/// share to it does not open: then its complaint was due and it holds no
/// usable share).
pub fn secret_share<R: RngCore + CryptoRng>(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
    member: u32,
    sk: &PvssSecretKey,
    rng: &mut R,
) -> Result<Option<SecretShare>, StateError> {
    let Some(record) = dkg_record(view, chain, epoch)?.filter(|r| r.group_key.is_some()) else {
        return Ok(None);
    };
    let Some((ctx, _, _)) = run(view, chain, epoch)? else {
        return Ok(None);
    };
    let mut opened = Vec::with_capacity(record.qualified.len());
    for c in qualified_dealings(view, chain, &ctx)? {
        match c.open(rng, &ctx, member, sk) {
            Ok(Ok(share)) => opened.push(share),
            _ => return Ok(None),
        }
    }
    Ok(dkg::secret_share(member, &opened).ok())
}
