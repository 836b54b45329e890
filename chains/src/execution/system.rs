//! System transactions: the protocol's own state changes, executed like
//! records so that every node (and the simulator) reaches the same state
//! root. Each kind has its arm here: anchors (issue 25, `anchor.rs`);
//! registry, candidacies, RandShare dealings and reveals, reconfiguration
//! (issue 26); evidence-driven penalties (issue 27). Until a kind is built
//! it is refused with a reason, never accepted as a no-op: no mempool
//! admits one, so only a Byzantine leader could propose one, and it would
//! change nothing.

use super::records::{At, Overlay};
use super::{anchor, ChainContext, StateError};
use crate::types::SystemTx;

/// Applies one system transaction to the block's writes so far.
/// `Ok(Err(reason))` refuses it (the block stays valid; the refusal is
/// recorded like a record's).
pub(super) fn apply_system(
    s: &mut Overlay<'_>,
    ctx: ChainContext,
    tx: &SystemTx,
    at: At,
) -> Result<Result<(), &'static str>, StateError> {
    Ok(Err(match tx {
        SystemTx::Anchor(a) => return anchor::apply_anchor(s, ctx, a, at),
        SystemTx::Register(_) => "registrations are not executed yet",
        SystemTx::Candidacy(_) => "candidacies are not executed yet",
        SystemTx::PvssDeal(_) | SystemTx::PvssReveal(_) => "RandShare is not executed yet",
        SystemTx::Reconfigure(_) => "reconfigurations are not executed yet",
        SystemTx::Evidence(_) => "evidence is not executed yet",
    }))
}
