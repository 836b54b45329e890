//! A chain's executed state in memory: what the simulator runs on every
//! node, and what tests execute against.

use std::collections::{BTreeMap, BTreeSet};

use strata_crypto::hash::Digest;

use super::{apply, next_state_digest, nonce_key, ChainContext, HistoryEntry, StateError};
use super::{StateView, Writes};
use crate::types::{Height, Transaction};

/// The executed state of one chain, in memory.
#[derive(Clone, Debug)]
pub struct MemState {
    ctx: ChainContext,
    nonces: BTreeSet<[u8; 40]>,
    histories: BTreeMap<Vec<u8>, Vec<HistoryEntry>>,
    refused: Vec<(Digest, String)>,
    executed: u64,
    applied: Height,
    digest: Digest,
}

impl MemState {
    pub fn new(ctx: ChainContext) -> MemState {
        MemState {
            ctx,
            nonces: BTreeSet::new(),
            histories: BTreeMap::new(),
            refused: Vec::new(),
            executed: 0,
            applied: 0,
            digest: Digest::ZERO,
        }
    }

    /// Executes a committed block; returns the state digest after it.
    pub fn execute(
        &mut self,
        height: Height,
        txs: &[Transaction],
        hashes: &[Digest],
    ) -> Result<Digest, StateError> {
        let writes = apply(self, self.ctx, height, txs, hashes)?;
        Ok(self.write(writes))
    }

    /// Takes in what `apply` decided.
    pub fn write(&mut self, writes: Writes) -> Digest {
        self.digest = next_state_digest(&self.digest, &writes);
        self.applied = writes.height;
        self.executed = self.executed.saturating_add(writes.accepted);
        self.nonces.extend(writes.nonces);
        for (object, _, entry) in writes.histories {
            self.histories.entry(object).or_default().push(entry);
        }
        self.refused.extend(writes.refused);
        self.digest
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn applied_height(&self) -> Height {
        self.applied
    }

    pub fn executed(&self) -> u64 {
        self.executed
    }

    pub fn history(&self, object: &[u8]) -> &[HistoryEntry] {
        self.histories.get(object).map_or(&[], Vec::as_slice)
    }

    pub fn refused(&self) -> &[(Digest, String)] {
        &self.refused
    }
}

impl StateView for MemState {
    fn nonce_used(&self, sender: &[u8; 32], nonce: u64) -> Result<bool, StateError> {
        Ok(self.nonces.contains(&nonce_key(sender, nonce)))
    }
}
