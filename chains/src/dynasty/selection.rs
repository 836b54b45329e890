//! Sortition and the committee decision (Microchain §IV "Committee
//! Selection"; docs/design.md §4), and reconfiguration (issue 26, point 6).
//!
//! A validator on the roster at epoch e's start evaluates
//! VRF(sk, seed(e+1) ‖ chain ‖ e+1); it is selected when its output wins at
//! least one seat for its weight out of the roster's total, with twice the
//! committee size expected in all (`strata_crypto::sortition`, integer
//! arithmetic), and posts a candidacy in the candidacy window.
//!
//! The block that closes the window decides committee e+1:
//! 1. the seated members a reconfiguration added, in its order;
//! 2. then the candidates by lowest VRF output, up to `committee_size`;
//! 3. if that leaves fewer than [`MIN_COMMITTEE`] (or `committee_size`, if
//!    smaller): the members of committee e still on the roster, then other
//!    roster members, each group ordered by H(seed ‖ key) — a draw nobody
//!    chooses, so too few candidacies (a quiet or partitioned network)
//!    keeps the chain live with a committee still fixed by the seed;
//! 4. if the roster itself holds fewer than that, committee e serves on.
//!
//! Each member has one vote: the stake or credit weighs the draw, not the
//! vote (Microchain's dynasty members are equals in its final-committee
//! consensus).

use parity_scale_codec::{Decode, Encode};
use strata_crypto::codec::BoundedVec;
use strata_crypto::committee::{Member, QuorumThreshold};
use strata_crypto::hash::Digest;
use strata_crypto::sortition::{sortition_input, verify_candidate, SortitionParams};
use strata_crypto::PublicKey;

use super::randshare::seed_record;
use super::registry::{self, roster, roster_at, validator, write_record, MAX_ROSTER};
use super::{chain_key, epoch_key, epoch_record_key, read, EpochRecord, Overlay, Phase};
use crate::execution::{ChainContext, CommitteeRecord, StateError, StateView};
use crate::types::dynasty::{MAX_DYNASTY_MEMBERS, MIN_COMMITTEE, MIN_EPOCH_LENGTH};
use crate::types::{Candidacy, ChainId, DynastyParams, Epoch, Height, Reconfigure, ReconfigureTx};

/// Most candidacies kept per epoch (the lowest outputs).
const MAX_CANDIDATES: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Candidate {
    pub key: PublicKey,
    pub output: [u8; 64],
    pub seats: u64,
}

/// The valid candidacies for an epoch, by output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Candidates {
    pub list: BoundedVec<Candidate, MAX_CANDIDATES>,
}

/// A reconfiguration waiting for its epoch's decision.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PendingReconfigure {
    pub reconfigure: Reconfigure,
    pub executed_at: Height,
}

pub fn candidates_key(chain: ChainId, epoch: Epoch) -> Vec<u8> {
    epoch_key(b"candidates/", chain, epoch)
}

pub fn pending_key(chain: ChainId) -> Vec<u8> {
    chain_key(b"dynasty/pending/", chain)
}

fn reconfigs_key(chain: ChainId) -> Vec<u8> {
    chain_key(b"dynasty/reconfigs/", chain)
}

fn seated_key(chain: ChainId) -> Vec<u8> {
    chain_key(b"dynasty/seated/", chain)
}

type Keys = BoundedVec<PublicKey, MAX_DYNASTY_MEMBERS>;

pub fn candidates(
    view: &dyn StateView,
    chain: ChainId,
    epoch: Epoch,
) -> Result<Candidates, StateError> {
    Ok(read(view, &candidates_key(chain, epoch), "candidates")?.unwrap_or_default())
}

pub fn pending(
    view: &dyn StateView,
    chain: ChainId,
) -> Result<Option<PendingReconfigure>, StateError> {
    read(view, &pending_key(chain), "pending reconfiguration")
}

/// Reconfigurations of `chain` executed so far (the next one's sequence).
pub fn reconfigurations(view: &dyn StateView, chain: ChainId) -> Result<u64, StateError> {
    Ok(read(view, &reconfigs_key(chain), "reconfiguration count")?.unwrap_or(0))
}

/// Members a reconfiguration seated, who serve until one removes them.
pub fn seated(view: &dyn StateView, chain: ChainId) -> Result<Vec<PublicKey>, StateError> {
    Ok(read::<Keys>(view, &seated_key(chain), "seated members")?
        .map(|k| k.into_inner())
        .unwrap_or_default())
}

/// The expected seats of a draw: twice the committee, so the cap usually
/// binds and too few candidacies are rare.
pub fn sortition_params(roster_total: u64, params: &DynastyParams) -> SortitionParams {
    SortitionParams {
        total_weight: roster_total,
        expected_seats: u64::from(params.committee_size).saturating_mul(2).max(1),
    }
}

/// Executes a candidacy for the next epoch, in the candidacy window.
pub(crate) fn apply_candidacy(
    s: &mut Overlay<'_>,
    chain: ChainId,
    c: &Candidacy,
    height: Height,
) -> Result<Result<(), &'static str>, StateError> {
    let Some(cur) = super::current_epoch(s, chain)? else {
        return Ok(Err("this chain runs no dynasties"));
    };
    if c.chain != chain || c.epoch != cur.epoch + 1 {
        return Ok(Err("candidacy for another chain or epoch"));
    }
    if cur.phase(height) != Some(Phase::Candidacy) {
        return Ok(Err("outside the candidacy window"));
    }
    let Some(seed) = seed_record(s, chain, c.epoch)? else {
        return Err(StateError::Corrupt(
            "no seed in the candidacy window".into(),
        ));
    };
    let snapshot = roster_at(s, chain, cur.epoch)?;
    let Some(entry) = snapshot.get(&c.validator) else {
        return Ok(Err("not on the roster when the epoch began"));
    };
    let Some(record) = validator(s, &c.validator)?.filter(|r| r.active && r.since <= cur.start)
    else {
        return Ok(Err("not registered since before the epoch began"));
    };
    let input = sortition_input(&seed.seed, chain.0, c.epoch);
    let params = sortition_params(snapshot.total_weight(), &cur.params);
    let output = match verify_candidate(
        &record.info.vrf_key,
        &input,
        &c.proof,
        entry.weight,
        params,
        c.seats,
    ) {
        Ok(o) => o,
        Err(_) => return Ok(Err("the VRF proof does not select this validator")),
    };
    let mut list = candidates(s, chain, c.epoch)?.list.into_inner();
    if list.iter().any(|x| x.key == c.validator) {
        return Ok(Err("already a candidate"));
    }
    list.push(Candidate {
        key: c.validator,
        output: output.0,
        seats: c.seats,
    });
    list.sort_by(|a, b| a.output.cmp(&b.output).then(a.key.cmp(&b.key)));
    list.truncate(MAX_CANDIDATES);
    let kept = Candidates {
        list: BoundedVec::new(list).unwrap_or_default(),
    };
    s.put(candidates_key(chain, c.epoch), kept.encode());
    Ok(Ok(()))
}

fn by_seed(seed: &Digest, key: &PublicKey) -> Digest {
    Digest::of_encoding("strata/dynasty-fill/v1", &(seed, key))
}

/// The candidacy window's last block: the next committee and epoch record.
pub(super) fn decide(
    s: &mut Overlay<'_>,
    cur: &EpochRecord,
    height: Height,
) -> Result<(), StateError> {
    let chain = cur.chain;
    let next = cur.epoch + 1;
    let mut params = cur.params;
    if let Some(p) = pending(s, chain)?.filter(|p| p.reconfigure.epoch == next) {
        apply_pending(s, chain, &p.reconfigure, &mut params, height)?;
    }
    let seed = match seed_record(s, chain, next)? {
        Some(r) => (r.seed, r.source),
        None => return Err(StateError::Corrupt("no seed at the decision".into())),
    };
    let now = roster(s, chain)?;
    let size = params.committee_size as usize;
    let mut members: Vec<PublicKey> = Vec::new();
    let take = |key: PublicKey, members: &mut Vec<PublicKey>, cap: usize| {
        if members.len() < cap && now.get(&key).is_some() && !members.contains(&key) {
            members.push(key);
        }
    };
    for key in seated(s, chain)? {
        take(key, &mut members, size);
    }
    for c in candidates(s, chain, next)?.list.iter() {
        take(c.key, &mut members, size);
    }
    let floor = size.min(MIN_COMMITTEE as usize);
    let current = CommitteeRecord::read(s, chain, cur.epoch)?
        .ok_or_else(|| StateError::Corrupt("no current committee".into()))?;
    if members.len() < floor {
        let mut incumbents: Vec<PublicKey> = current.members.iter().map(|m| m.key).collect();
        incumbents.sort_by_key(|k| by_seed(&seed.0, k));
        let mut others: Vec<PublicKey> = now.entries.iter().map(|e| e.key).collect();
        others.sort_by_key(|k| by_seed(&seed.0, k));
        for key in incumbents.into_iter().chain(others) {
            take(key, &mut members, floor);
        }
    }
    let members: Vec<Member> = if members.len() < floor {
        current.members.to_vec()
    } else {
        members
            .into_iter()
            .map(|key| Member { key, weight: 1 })
            .collect()
    };
    let record = CommitteeRecord {
        chain,
        epoch: next,
        protocol: current.protocol,
        threshold: params.threshold,
        members: BoundedVec::new(members).map_err(|e| StateError::Corrupt(e.to_string()))?,
        group: None,
    };
    s.put(
        crate::execution::committee_key(chain, next),
        record.encode(),
    );
    let keys: Vec<PublicKey> = record.members.iter().map(|m| m.key).collect();
    super::stake::fix_available_time(s, chain, next, &keys)?;
    let epoch = EpochRecord {
        chain,
        epoch: next,
        start: cur.last_height(),
        params,
        seed: seed.0,
        source: seed.1,
    };
    s.put(epoch_record_key(chain, next), epoch.encode());
    Ok(())
}

/// A pending reconfiguration takes effect: weights, removals, seats and
/// parameters (checked when it executed; the roster may have changed
/// since, so each step is applied only where it still applies).
fn apply_pending(
    s: &mut Overlay<'_>,
    chain: ChainId,
    r: &Reconfigure,
    params: &mut DynastyParams,
    _height: Height,
) -> Result<(), StateError> {
    for (key, weight) in r.weights.iter() {
        if let Some(mut rec) = validator(s, key)?.filter(|v| v.active) {
            rec.weight = *weight;
            let _ = write_record(s, chain, &rec)?;
        }
    }
    unseat(s, chain, &r.remove)?;
    let mut seats = seated(s, chain)?;
    for key in r.add.iter() {
        if !seats.contains(key) {
            seats.push(*key);
        }
    }
    let seats: Keys = BoundedVec::new(seats).unwrap_or_default();
    s.put(seated_key(chain), seats.encode());
    if let Some(size) = r.committee_size {
        params.committee_size = size;
    }
    if let Some(len) = r.epoch_length {
        params.epoch_length = len;
    }
    if let Some(t) = r.threshold {
        params.threshold = t;
    }
    if let Some(c) = r.certificate {
        params.certificate = c;
    }
    Ok(())
}

/// Takes validators off a chain's roster and seats: no committee decided
/// from now on draws them (a reconfiguration's removals, a conviction).
pub(super) fn unseat(
    s: &mut Overlay<'_>,
    chain: ChainId,
    keys: &[PublicKey],
) -> Result<(), StateError> {
    let mut now = roster(s, chain)?;
    for key in keys {
        now.remove(key);
    }
    s.put(registry::roster_key(chain), now.encode());
    let mut seats = seated(s, chain)?;
    seats.retain(|k| !keys.contains(k));
    let seats: Keys = BoundedVec::new(seats).unwrap_or_default();
    s.put(seated_key(chain), seats.encode());
    Ok(())
}

/// The next epoch whose committee is still open to a reconfiguration.
pub fn open_epoch(cur: &EpochRecord, height: Height) -> Epoch {
    if height < cur.decision() {
        cur.epoch + 1
    } else {
        cur.epoch + 2
    }
}

/// Why a reconfiguration cannot apply to the state it would meet (`None`:
/// it can). The CLI asks the same before it signs.
pub fn check_reconfigure(
    view: &dyn StateView,
    cur: &EpochRecord,
    r: &Reconfigure,
) -> Result<Option<String>, StateError> {
    let chain = cur.chain;
    let size = r.committee_size.unwrap_or(cur.params.committee_size);
    if size < MIN_COMMITTEE || size as usize > MAX_DYNASTY_MEMBERS {
        return Ok(Some(format!(
            "committee_size {size} is outside {MIN_COMMITTEE}..={MAX_DYNASTY_MEMBERS}"
        )));
    }
    if let Some(len) = r.epoch_length {
        if len < MIN_EPOCH_LENGTH {
            return Ok(Some(format!(
                "epoch_length {len} is below {MIN_EPOCH_LENGTH}"
            )));
        }
    }
    if let Some(t) = r.threshold {
        let two_thirds = QuorumThreshold::TWO_THIRDS;
        if u128::from(t.numerator()) * u128::from(two_thirds.denominator())
            < u128::from(two_thirds.numerator()) * u128::from(t.denominator())
        {
            return Ok(Some(format!(
                "threshold {}/{} is below 2/3: two quorums need not share an honest member",
                t.numerator(),
                t.denominator()
            )));
        }
    }
    if r.weights.iter().any(|(_, w)| *w == 0) {
        return Ok(Some("a weight of 0 (remove the validator instead)".into()));
    }
    let mut now = roster(view, chain)?;
    for key in r.add.iter() {
        if r.remove.contains(key) {
            return Ok(Some(format!("{key} is both added and removed")));
        }
        if now.get(key).is_none() {
            return Ok(Some(format!(
                "{key} is not a registered validator of this chain (register it first)"
            )));
        }
    }
    for key in r.remove.iter() {
        if now.get(key).is_none() {
            return Ok(Some(format!("{key} is not on this chain's roster")));
        }
        now.remove(key);
    }
    if now.len() < MIN_COMMITTEE as usize {
        return Ok(Some(format!(
            "it would leave {} validators on the roster; a committee needs at least {MIN_COMMITTEE} to keep a quorum with one fault",
            now.len()
        )));
    }
    let mut seats = seated(view, chain)?;
    seats.retain(|k| !r.remove.contains(k));
    seats.extend(
        r.add
            .iter()
            .filter(|k| !seats.contains(k))
            .copied()
            .collect::<Vec<_>>(),
    );
    if seats.len() > size as usize {
        return Ok(Some(format!(
            "{} seated members exceed the committee size {size}",
            seats.len()
        )));
    }
    if now.len() > MAX_ROSTER {
        return Ok(Some("the roster is full".into()));
    }
    Ok(None)
}

/// Executes a reconfiguration: approved, in sequence, for the next open
/// epoch, none pending, and leaving a chain that keeps a quorum.
pub(crate) fn apply_reconfigure(
    s: &mut Overlay<'_>,
    ctx: ChainContext,
    tx: &ReconfigureTx,
    height: Height,
) -> Result<Result<(), String>, StateError> {
    let r = &tx.reconfigure;
    if r.chain != ctx.chain {
        return Ok(Err("reconfiguration of another chain".into()));
    }
    let Some(cur) = super::current_epoch(s, ctx.chain)? else {
        return Ok(Err("this chain runs no dynasties".into()));
    };
    let digest = r.signing_digest(&super::network(s)?);
    if !registry::authorised(s, &digest, &tx.approvals)? {
        return Ok(Err("not approved by enough administrators".into()));
    }
    if r.sequence != reconfigurations(s, ctx.chain)? {
        return Ok(Err(
            "reconfiguration out of sequence (replayed or early)".into()
        ));
    }
    let open = open_epoch(&cur, height);
    if r.epoch != open {
        return Ok(Err(format!(
            "for epoch {}, but the next epoch open to changes is {open}",
            r.epoch
        )));
    }
    if pending(s, ctx.chain)?.is_some_and(|p| p.reconfigure.epoch >= open) {
        return Ok(Err(format!(
            "a reconfiguration for epoch {open} is already pending"
        )));
    }
    if let Some(why) = check_reconfigure(s, &cur, r)? {
        return Ok(Err(why));
    }
    s.put(
        pending_key(ctx.chain),
        PendingReconfigure {
            reconfigure: r.clone(),
            executed_at: height,
        }
        .encode(),
    );
    s.put(reconfigs_key(ctx.chain), (r.sequence + 1).encode());
    Ok(Ok(()))
}
