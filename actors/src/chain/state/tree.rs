//! The authenticated state tree (`strata_chains::auth`) in the state
//! store's RocksDB: jmt's nodes and versioned values, the latest value of
//! each key (what the executor reads), and the index of nodes made stale
//! by each version, from which versions older than [`RETAINED_VERSIONS`]
//! are pruned as new ones are written.

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{KeyHash, OwnedValue, Version};
use rocksdb::{Direction, IteratorMode, WriteBatch, DB};
use strata_chains::auth::TreeError;

/// Versions (executed heights) whose proofs stay servable: state proofs
/// are asked against recent certified headers.
pub const RETAINED_VERSIONS: u64 = 4096;

pub const CF_LATEST: &str = "state_latest";
pub const CF_NODES: &str = "tree_nodes";
pub const CF_VALUES: &str = "tree_values";
pub const CF_STALE: &str = "tree_stale";

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn value_key(key: &KeyHash, version: Version) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(&key.0);
    k[32..].copy_from_slice(&version.to_be_bytes());
    k
}

/// The tree as a reader over the database.
pub struct RocksTree<'a> {
    pub db: &'a DB,
}

impl RocksTree<'_> {
    fn cf(&self, name: &str) -> anyhow::Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| anyhow::anyhow!("column family {name} missing"))
    }

    /// Adds `update` (the tree at `version`) to `batch`, with the latest
    /// value of each written key, and prunes what versions older than the
    /// retained ones made stale.
    pub fn write(
        &self,
        batch: &mut WriteBatch,
        version: Version,
        update: &TreeUpdateBatch,
        latest: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), TreeError> {
        let tree = |e: anyhow::Error| TreeError::Tree(e.to_string());
        let nodes = self.cf(CF_NODES).map_err(tree)?;
        for (key, node) in update.node_batch.nodes() {
            let k = borsh::to_vec(key).map_err(|e| tree(err(e)))?;
            let v = borsh::to_vec(node).map_err(|e| tree(err(e)))?;
            batch.put_cf(nodes, k, v);
        }
        let values = self.cf(CF_VALUES).map_err(tree)?;
        for ((v, key), value) in update.node_batch.values() {
            let encoded = borsh::to_vec(value).map_err(|e| tree(err(e)))?;
            batch.put_cf(values, value_key(key, *v), encoded);
        }
        let stale = self.cf(CF_STALE).map_err(tree)?;
        for s in &update.stale_node_index_batch {
            let mut k = s.stale_since_version.to_be_bytes().to_vec();
            k.extend(borsh::to_vec(&s.node_key).map_err(|e| tree(err(e)))?);
            batch.put_cf(stale, k, []);
        }
        let cf_latest = self.cf(CF_LATEST).map_err(tree)?;
        for (k, v) in latest {
            batch.put_cf(cf_latest, k, v);
        }
        if let Some(horizon) = version.checked_sub(RETAINED_VERSIONS) {
            self.prune(batch, horizon).map_err(tree)?;
        }
        Ok(())
    }

    /// Deletes the nodes made stale by version `horizon` (no retained
    /// version reaches them), and the values of stale leaves. Versions are
    /// written one at a time, so each is pruned once, in order; reading
    /// from its own prefix skips the tombstones of those pruned before.
    fn prune(&self, batch: &mut WriteBatch, horizon: Version) -> anyhow::Result<()> {
        let (stale, nodes, values) = (self.cf(CF_STALE)?, self.cf(CF_NODES)?, self.cf(CF_VALUES)?);
        let from = horizon.to_be_bytes();
        for item in self
            .db
            .iterator_cf(stale, IteratorMode::From(&from, Direction::Forward))
        {
            let (k, _) = item?;
            let Some((since, node)) = k.split_first_chunk::<8>() else {
                break;
            };
            if u64::from_be_bytes(*since) != horizon {
                break;
            }
            let node_key: NodeKey = borsh::from_slice(node)?;
            if let Some(Node::Leaf(leaf)) = self.get_node_option(&node_key)? {
                batch.delete_cf(values, value_key(&leaf.key_hash(), node_key.version()));
            }
            batch.delete_cf(nodes, node);
            batch.delete_cf(stale, &k);
        }
        Ok(())
    }
}

impl TreeReader for RocksTree<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let k = borsh::to_vec(node_key)?;
        match self.db.get_pinned_cf(self.cf(CF_NODES)?, k)? {
            Some(bytes) => Ok(Some(borsh::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let from = value_key(&key_hash, max_version);
        let mut it = self.db.iterator_cf(
            self.cf(CF_VALUES)?,
            IteratorMode::From(&from, Direction::Reverse),
        );
        match it.next() {
            Some(item) => {
                let (k, v) = item?;
                if k.get(..32) != Some(&key_hash.0[..]) {
                    return Ok(None);
                }
                let value: Option<OwnedValue> = borsh::from_slice(&v)?;
                Ok(value)
            }
            None => Ok(None),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only restoring from a snapshot asks; state is rebuilt by
        // executing blocks.
        Ok(None)
    }
}
