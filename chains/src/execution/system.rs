//! System transactions: the protocol's own state changes, executed like
//! records so that every node (and the simulator) reaches the same state
//! root. Each kind has its arm here; the issues that build the hierarchy
//! and the dynasties fill them in (anchors: issue 25; registry,
//! candidacies, RandShare dealings and reveals, reconfiguration: issue 26;
//! evidence-driven penalties: issue 27). Until a kind is built it is
//! refused with a reason, never accepted as a no-op: no mempool admits one
//! today (clients and peers may send only provenance records), so only a
//! Byzantine leader could propose one, and it would change nothing.

use std::collections::BTreeMap;

use super::{ChainContext, StateError, StateView};
use crate::types::SystemTx;

/// Applies one system transaction to the block's writes so far (`state`:
/// the authenticated keys written by the block, read before `view`).
/// `Err(reason)` refuses it (the block stays valid; the refusal is
/// recorded like a record's).
pub(super) fn apply_system(
    _view: &dyn StateView,
    _ctx: ChainContext,
    _state: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    tx: &SystemTx,
) -> Result<Result<(), &'static str>, StateError> {
    Ok(Err(match tx {
        SystemTx::Anchor(_) => "anchors are not executed yet",
        SystemTx::Register(_) => "registrations are not executed yet",
        SystemTx::Candidacy(_) => "candidacies are not executed yet",
        SystemTx::PvssDeal(_) | SystemTx::PvssReveal(_) => "RandShare is not executed yet",
        SystemTx::Reconfigure(_) => "reconfigurations are not executed yet",
        SystemTx::Evidence(_) => "evidence is not executed yet",
    }))
}
