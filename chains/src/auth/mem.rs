//! The tree in memory: the simulator's nodes, tests, and the genesis root.
//! Keeps every version (simulated chains are short).

use std::collections::BTreeMap;

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{KeyHash, OwnedValue, Version};
use strata_crypto::hash::Digest;

use super::TreeError;

#[derive(Clone, Debug, Default)]
pub struct MemTree {
    nodes: BTreeMap<NodeKey, Node>,
    values: BTreeMap<(KeyHash, Version), Option<OwnedValue>>,
}

impl MemTree {
    /// Takes in what [`super::update`] computed.
    pub fn write(&mut self, batch: TreeUpdateBatch) {
        let nodes = batch.node_batch.nodes().clone();
        self.nodes.extend(nodes);
        for ((version, key), value) in batch.node_batch.values() {
            self.values.insert((*key, *version), value.clone());
        }
    }

    /// [`super::update`] then [`MemTree::write`]: the root at `version`.
    pub fn update(
        &mut self,
        version: Version,
        updates: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Digest, TreeError> {
        let (root, batch) = super::update(self, version, updates)?;
        self.write(batch);
        Ok(root)
    }
}

impl TreeReader for MemTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self
            .values
            .range((key_hash, 0)..=(key_hash, max_version))
            .next_back()
            .and_then(|(_, v)| v.clone()))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only restoring a tree from a snapshot asks this; Strata rebuilds
        // state by executing blocks instead.
        Ok(None)
    }
}
