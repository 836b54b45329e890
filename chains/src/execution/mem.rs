//! A chain's executed state in memory: what the simulator runs on every
//! node, and what tests execute against.

use std::collections::{BTreeMap, BTreeSet};

use parity_scale_codec::Decode;
use strata_crypto::hash::Digest;

use super::StateError;
use super::{apply, object_key, BlockRef, ChainContext, GenesisState, HistoryEntry, ObjectHead};
use super::{StateView, Writes};
use crate::auth::{self, MemTree, StateProof};
use crate::types::{Height, Transaction};

/// The executed state of one chain, in memory.
#[derive(Clone, Debug)]
pub struct MemState {
    ctx: ChainContext,
    /// The authenticated state: latest values, and the tree of every version.
    latest: BTreeMap<Vec<u8>, Vec<u8>>,
    tree: MemTree,
    roots: BTreeMap<Height, Digest>,
    histories: BTreeMap<Vec<u8>, Vec<HistoryEntry>>,
    refused: Vec<(Digest, String)>,
    /// Batches whose transactions were executed (each batch once, as a
    /// node's ledger does).
    executed_batches: BTreeSet<Digest>,
    executed: u64,
    applied: Height,
}

fn tree_error(e: auth::TreeError) -> StateError {
    StateError::Backend(e.to_string())
}

impl MemState {
    /// The genesis state (version 0) of a chain.
    pub fn new(ctx: ChainContext, genesis: &GenesisState) -> MemState {
        let mut state = MemState {
            ctx,
            latest: BTreeMap::new(),
            tree: MemTree::default(),
            roots: BTreeMap::new(),
            histories: BTreeMap::new(),
            refused: Vec::new(),
            executed_batches: BTreeSet::new(),
            executed: 0,
            applied: 0,
        };
        let genesis = genesis.updates();
        let root = state.tree.update(0, &genesis).unwrap_or(Digest::ZERO);
        state.latest.extend(genesis);
        state.roots.insert(0, root);
        state
    }

    /// Executes the committed block at the next height; returns the state
    /// root after it.
    pub fn execute(
        &mut self,
        block: BlockRef,
        txs: &[Transaction],
        hashes: &[Digest],
    ) -> Result<Digest, StateError> {
        let height = block.height;
        if height != self.applied.saturating_add(1) {
            return Err(StateError::Backend(format!(
                "height {height} executed after {}",
                self.applied
            )));
        }
        let writes = apply(self, self.ctx, block, txs, hashes)?;
        self.write(writes)
    }

    /// Takes in what `apply` decided.
    fn write(&mut self, writes: Writes) -> Result<Digest, StateError> {
        let root = self
            .tree
            .update(writes.height, &writes.state)
            .map_err(tree_error)?;
        self.roots.insert(writes.height, root);
        self.applied = writes.height;
        self.executed = self.executed.saturating_add(writes.accepted);
        self.latest.extend(writes.state);
        for (object, _, entry) in writes.histories {
            self.histories.entry(object).or_default().push(entry);
        }
        self.refused.extend(writes.refused);
        Ok(root)
    }

    /// The state root after the last executed height.
    pub fn root(&self) -> Digest {
        self.root_at(self.applied).unwrap_or(Digest::ZERO)
    }

    /// The state root after `height`, if executed.
    pub fn root_at(&self, height: Height) -> Option<Digest> {
        self.roots.get(&height).copied()
    }

    /// A key's value after `height` with its proof.
    pub fn prove(&self, key: &[u8], height: Height) -> Result<StateProof, StateError> {
        auth::prove(&self.tree, key, height).map_err(tree_error)
    }

    /// Batches executed now (with the block `execute` gets their records
    /// in): a batch named again by a later block is not executed twice.
    pub fn mark_batches_executed(&mut self, batches: impl IntoIterator<Item = Digest>) {
        self.executed_batches.extend(batches);
    }

    pub fn batch_executed(&self, batch: &Digest) -> bool {
        self.executed_batches.contains(batch)
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

    pub fn object_head(&self, object: &[u8]) -> Option<ObjectHead> {
        let bytes = self.latest.get(&object_key(object))?;
        ObjectHead::decode(&mut &bytes[..]).ok()
    }

    pub fn refused(&self) -> &[(Digest, String)] {
        &self.refused
    }

    /// The latest values of every key starting with `prefix`, in key order
    /// (the simulator's invariants look over them).
    pub fn entries_with_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.latest
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl StateView for MemState {
    fn value(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.latest.get(key).cloned())
    }
}
