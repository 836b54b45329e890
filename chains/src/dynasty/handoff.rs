//! A chain's committee history as another chain's state learns it (issue
//! 26, point 7): the global chain checks a domain's anchors against the
//! domain's committee of the anchored header's epoch, so it must follow
//! the domain's dynasties. It starts from the genesis (every chain's epoch
//! 0 committee and record are in every chain's genesis state), and each
//! later epoch comes with an anchor as a [`CommitteeHandoff`]: the end of
//! the epoch before, certified by the committee the state already holds,
//! and the next committee and epoch records proven against the state that
//! end certifies. Nobody but the ending committee can make one, and it can
//! only certify what its chain decided.

use parity_scale_codec::Encode;
use strata_crypto::codec::decode_message;

use super::{epoch_record, epoch_record_key, EpochRecord, Overlay};
use crate::auth::MAX_VALUE_BYTES;
use crate::consensus::{commit_proof, EpochEnd};
use crate::execution::{committee_key, CommitteeRecord, StateError, StateView};
use crate::types::CommitteeHandoff;

/// The end of `record`'s epoch, as a core or a verifier checks it.
pub fn epoch_end(record: &EpochRecord) -> EpochEnd {
    EpochEnd {
        last_height: record.last_height(),
        decided_at: record.decision(),
    }
}

/// Why a handoff is not checkable here: its ending epoch's committee is
/// not recorded (the handoffs before it have not executed here yet).
pub const ENDING_NOT_RECORDED: &str = "the ending epoch's committee is not recorded here";

/// Checks a handoff against what `view` records of its chain; returns the
/// next epoch's committee and record.
pub fn check_handoff(
    view: &dyn StateView,
    handoff: &CommitteeHandoff,
) -> Result<Result<(CommitteeRecord, EpochRecord), &'static str>, StateError> {
    let change = &handoff.change;
    let (chain, ending) = (change.chain, change.epoch);
    if ending.checked_add(1).is_none() {
        return Ok(Err("no epoch follows"));
    }
    let (Some(committee), Some(record)) = (
        CommitteeRecord::read(view, chain, ending)?,
        epoch_record(view, chain, ending)?,
    ) else {
        return Ok(Err(ENDING_NOT_RECORDED));
    };
    let Ok(members) = committee.committee() else {
        return Ok(Err("the recorded committee is invalid"));
    };
    if commit_proof::verify_epoch_change(
        committee.protocol,
        &members,
        committee.threshold,
        epoch_end(&record),
        change,
    )
    .is_err()
    {
        return Ok(Err("the epoch change does not verify"));
    }
    match handoff_records(handoff) {
        Ok(records) => Ok(Ok(records)),
        Err(_) => Ok(Err("the next committee is not proven")),
    }
}

/// The next epoch's committee and record a handoff proves against the
/// state its (already verified) epoch change certifies.
pub fn handoff_records(
    handoff: &CommitteeHandoff,
) -> Result<(CommitteeRecord, EpochRecord), String> {
    let change = &handoff.change;
    let (chain, next) = (change.chain, change.epoch.saturating_add(1));
    let unproven = || "the next committee is not proven".to_string();
    let Some(root) = handoff.state_root() else {
        return Err(unproven());
    };
    let proven = |p: &crate::auth::StateProof, key: Vec<u8>| -> Option<Vec<u8>> {
        (p.key == key && p.verify(&root).is_ok())
            .then(|| p.value.clone())
            .flatten()
    };
    let (Some(c), Some(e)) = (
        proven(&handoff.committee, committee_key(chain, next)),
        proven(&handoff.epoch, epoch_record_key(chain, next)),
    ) else {
        return Err(unproven());
    };
    let (Ok(c), Ok(e)) = (
        decode_message::<CommitteeRecord>(&c, MAX_VALUE_BYTES),
        decode_message::<EpochRecord>(&e, MAX_VALUE_BYTES),
    ) else {
        return Err(unproven());
    };
    if c.chain != chain || c.epoch != next || e.chain != chain || e.epoch != next {
        return Err(unproven());
    }
    Ok((c, e))
}

/// Records a handoff's committee (once: a second one of the same epoch
/// changes nothing).
pub(crate) fn apply_handoff(
    s: &mut Overlay<'_>,
    handoff: &CommitteeHandoff,
) -> Result<Result<(), &'static str>, StateError> {
    let chain = handoff.change.chain;
    let next = handoff.change.epoch.saturating_add(1);
    if CommitteeRecord::read(s, chain, next)?.is_some() {
        return Ok(Ok(()));
    }
    match check_handoff(s, handoff)? {
        Ok((committee, record)) => {
            s.put(committee_key(chain, next), committee.encode());
            s.put(epoch_record_key(chain, next), record.encode());
            Ok(Ok(()))
        }
        Err(why) => Ok(Err(why)),
    }
}
