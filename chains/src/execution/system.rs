//! System transactions: the protocol's own state changes, executed like
//! records so that every node (and the simulator) reaches the same state
//! root. Each kind has its arm here: anchors (issue 25, `anchor.rs`); the
//! registry, RandShare dealings and reveals, candidacies and
//! reconfigurations (issue 26, `crate::dynasty`); evidence-driven
//! penalties (issue 27). Until a kind is built it is refused with a
//! reason, never accepted as a no-op: no mempool admits one, so only a
//! Byzantine leader could propose one, and it would change nothing.

use super::records::{At, Overlay};
use super::{anchor, ChainContext, StateError};
use crate::dynasty;
use crate::types::SystemTx;

/// Applies one system transaction to the block's writes so far.
/// `Ok(Err(reason))` refuses it (the block stays valid; the refusal is
/// recorded like a record's).
pub(super) fn apply_system(
    s: &mut Overlay<'_>,
    ctx: ChainContext,
    tx: &SystemTx,
    at: At,
) -> Result<Result<(), String>, StateError> {
    let h = at.height;
    let verdict = match tx {
        SystemTx::Anchor(a) => anchor::apply_anchor(s, ctx, a, at)?,
        SystemTx::Registry(r) => dynasty::apply_registry(s, ctx, r, h)?,
        SystemTx::Candidacy(c) => dynasty::apply_candidacy(s, ctx.chain, c, h)?,
        SystemTx::PvssDeal(d) => dynasty::apply_deal(s, ctx.chain, d, h)?,
        SystemTx::PvssReveal(r) => dynasty::apply_reveal(s, ctx.chain, r, h)?,
        SystemTx::Reconfigure(r) => return dynasty::apply_reconfigure(s, ctx, r, h),
        SystemTx::Evidence(e) => dynasty::apply_evidence(s, ctx.chain, e, h)?,
        SystemTx::DkgDeal(d) => dynasty::apply_dkg_deal(s, ctx.chain, d, h)?,
        SystemTx::DkgComplaint(c) => dynasty::apply_dkg_complaint(s, ctx.chain, c, h)?,
        SystemTx::Stake(t) => return dynasty::apply_stake(s, ctx, t, h),
    };
    Ok(verdict.map_err(str::to_string))
}
