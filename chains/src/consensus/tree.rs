//! The tree of uncommitted blocks above the last committed block.

use std::collections::HashMap;
use std::sync::Arc;

use strata_crypto::hash::Digest;

use crate::types::{Block, Height};

/// Why a block cannot join the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("parent block is unknown")]
    UnknownParent,
    #[error("block is at or below the committed height")]
    BelowCommitted,
}

#[derive(Debug)]
pub struct BlockTree {
    root: Arc<Block>,
    root_hash: Digest,
    blocks: HashMap<Digest, Arc<Block>>,
}

impl BlockTree {
    pub fn new(root: Arc<Block>) -> BlockTree {
        BlockTree {
            root_hash: root.hash(),
            root,
            blocks: HashMap::new(),
        }
    }

    /// The last committed block.
    pub fn root(&self) -> &Arc<Block> {
        &self.root
    }

    pub fn root_hash(&self) -> Digest {
        self.root_hash
    }

    pub fn committed_height(&self) -> Height {
        self.root.header.height
    }

    pub fn get(&self, hash: &Digest) -> Option<&Arc<Block>> {
        if *hash == self.root_hash {
            Some(&self.root)
        } else {
            self.blocks.get(hash)
        }
    }

    pub fn contains(&self, hash: &Digest) -> bool {
        *hash == self.root_hash || self.blocks.contains_key(hash)
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Adds a block whose parent is in the tree. Returns false if it was
    /// already there.
    pub fn insert(&mut self, block: Arc<Block>, hash: Digest) -> Result<bool, TreeError> {
        if block.header.height <= self.committed_height() {
            return Err(TreeError::BelowCommitted);
        }
        if self.blocks.contains_key(&hash) {
            return Ok(false);
        }
        if !self.contains(&block.header.parent) {
            return Err(TreeError::UnknownParent);
        }
        self.blocks.insert(hash, block);
        Ok(true)
    }

    /// Whether `descendant` is `ancestor` or extends it; `None` if either is
    /// not in the tree.
    pub fn extends(&self, descendant: &Digest, ancestor: &Digest) -> Option<bool> {
        let target = self.get(ancestor)?;
        let target_height = target.header.height;
        let mut cur = self.get(descendant)?;
        let mut cur_hash = *descendant;
        while cur.header.height > target_height {
            cur_hash = cur.header.parent;
            cur = self.get(&cur_hash)?;
        }
        Some(cur_hash == *ancestor)
    }

    /// The blocks from just above the root up to `hash`, lowest first.
    pub fn path_from_root(&self, hash: &Digest) -> Option<Vec<Arc<Block>>> {
        let mut path = Vec::new();
        let mut cur = *hash;
        while cur != self.root_hash {
            let b = self.blocks.get(&cur)?;
            path.push(b.clone());
            cur = b.header.parent;
        }
        path.reverse();
        Some(path)
    }

    /// Commits `hash` and its uncommitted ancestors: returns them lowest
    /// first, makes `hash` the root and drops every block not extending it.
    pub fn commit(&mut self, hash: &Digest) -> Option<Vec<Arc<Block>>> {
        let path = self.path_from_root(hash)?;
        let new_root = path.last()?.clone();
        self.root = new_root;
        self.root_hash = *hash;
        let keep: Vec<Digest> = self
            .blocks
            .keys()
            .filter(|h| self.extends(h, hash) == Some(true) && *h != hash)
            .copied()
            .collect();
        let mut kept = HashMap::with_capacity(keep.len());
        for h in keep {
            if let Some(b) = self.blocks.remove(&h) {
                kept.insert(h, b);
            }
        }
        self.blocks = kept;
        Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::chain_of_blocks as chain;

    fn fork_of(parent: &Block, salt: u64) -> Block {
        let mut b = parent.clone();
        b.header.parent = parent.hash();
        b.header.height = parent.header.height + 1;
        b.header.timestamp_ms = salt;
        b
    }

    #[test]
    fn insert_extend_commit_and_prune() {
        let blocks: Vec<Arc<Block>> = chain(5).into_iter().map(Arc::new).collect();
        let mut tree = BlockTree::new(blocks[0].clone());
        assert_eq!(
            tree.insert(blocks[2].clone(), blocks[2].hash()),
            Err(TreeError::UnknownParent)
        );
        for b in &blocks[1..] {
            assert_eq!(tree.insert(b.clone(), b.hash()), Ok(true));
        }
        assert_eq!(tree.insert(blocks[1].clone(), blocks[1].hash()), Ok(false));
        // A fork off block 1.
        let fork = Arc::new(fork_of(&blocks[1], 99));
        tree.insert(fork.clone(), fork.hash()).unwrap();
        assert_eq!(
            tree.extends(&blocks[4].hash(), &blocks[1].hash()),
            Some(true)
        );
        assert_eq!(tree.extends(&fork.hash(), &blocks[2].hash()), Some(false));
        assert_eq!(tree.extends(&blocks[4].hash(), &Digest::ZERO), None);

        let committed = tree.commit(&blocks[2].hash()).unwrap();
        assert_eq!(
            committed
                .iter()
                .map(|b| b.header.height)
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(tree.committed_height(), 2);
        assert!(!tree.contains(&fork.hash()), "the fork is pruned");
        assert_eq!(tree.len(), 2);
        assert_eq!(
            tree.insert(blocks[2].clone(), blocks[2].hash()),
            Err(TreeError::BelowCommitted)
        );
    }
}
