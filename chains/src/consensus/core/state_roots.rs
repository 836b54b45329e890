//! The state a block names (`types/block.rs` explains the choice): the
//! proposer names the latest state its host executed, a voter checks the
//! root against its own execution of that height, waiting for its host
//! when the height is committed but not yet executed here. A root that
//! differs from this node's is a proposer's fault: honest execution is
//! deterministic (the simulator checks all honest nodes agree).

use super::*;

/// Executed roots kept for checking proposals: proposers name recent ones.
pub const KEPT_ROOTS: usize = 1024;

/// What a voter can say of a proposal's state root.
pub(super) enum StateCheck {
    Matches,
    Differs,
    /// This node has not executed the named height yet.
    NotYet,
    /// The named height is older than the roots this node keeps.
    Unknown,
}

#[derive(Debug, Default)]
pub(super) struct ExecutedRoots {
    roots: BTreeMap<Height, Digest>,
    /// Proposals waiting for this node to execute the height they name:
    /// block → (who sent it, the height).
    waiting: BTreeMap<Digest, (u32, Height)>,
}

impl ExecutedRoots {
    /// A view ended: its proposals can no longer get this node's vote.
    pub(super) fn forget_waits(&mut self) {
        self.waiting.clear();
    }

    fn latest(&self) -> Option<(Height, Digest)> {
        self.roots.last_key_value().map(|(h, r)| (*h, *r))
    }
}

impl ConsensusCore {
    /// The host executed `height`.
    pub(super) fn on_executed(&mut self, height: Height, root: Digest, out: &mut Vec<Action>) {
        let roots = &mut self.executed.roots;
        roots.insert(height, root);
        while roots.len() > KEPT_ROOTS {
            roots.pop_first();
        }
        let ready: Vec<(Digest, u32)> = self
            .executed
            .waiting
            .iter()
            .filter(|(_, (_, needed))| *needed <= height)
            .map(|(hash, (from, _))| (*hash, *from))
            .collect();
        for (hash, from) in ready {
            self.executed.waiting.remove(&hash);
            if let Some(block) = self.tree.get(&hash).cloned() {
                if block.header.view == self.view {
                    self.vote_when_available(from, &block, hash, out);
                }
            }
        }
    }

    /// What a proposal at `height` on `parent` names: the newest executed
    /// state that the proposal's own ancestry commits, if newer than the
    /// parent's; else the parent's. Not simply this node's newest: it may
    /// have committed a height through a fork the others never saw (a
    /// certificate it collected and crashed before sending), and voters
    /// would wait for a commit that this chain does not give them.
    pub(super) fn state_to_name(&self, parent: &Arc<Block>, height: Height) -> (Height, Digest) {
        let limit = self.ancestry_commit(parent).min(height.saturating_sub(1));
        match self.executed.roots.range(..=limit).next_back() {
            Some((&h, &root)) if h > parent.header.state_height => (h, root),
            _ => (parent.header.state_height, parent.header.state_root),
        }
    }

    /// The highest height the chain rules commit in the ancestry of the
    /// certified block `tip` (the first block from `tip` down whose chain
    /// of direct links commits the block below it), 0 if none above this
    /// node's committed root does. Every voter that processes a proposal on
    /// `tip` has committed at least this (`apply_chain_rules`).
    fn ancestry_commit(&self, tip: &Arc<Block>) -> Height {
        const MAX_WALK: usize = 64;
        let rules = self.rules();
        let root = self.committed_height();
        let mut certified = tip.clone();
        for _ in 0..MAX_WALK {
            let mut child = certified.clone();
            let mut direct = true;
            for _ in 1..rules.chain_length() {
                match self.tree.get(&child.header.parent) {
                    Some(p) if rules.is_direct(p.round(), child.round()) => child = p.clone(),
                    _ => {
                        direct = false;
                        break;
                    }
                }
            }
            if direct {
                return child.header.height;
            }
            if certified.header.height <= root {
                return 0;
            }
            match self.tree.get(&certified.header.parent) {
                Some(p) => certified = p.clone(),
                None => return 0,
            }
        }
        0
    }

    /// A voter's check of a proposal (attached, so its link to the parent
    /// held: a root named again is the parent's, checked by its voters).
    pub(super) fn check_state_root(&self, block: &Block) -> StateCheck {
        let h = &block.header;
        let parent_named = self
            .tree
            .get(&h.parent)
            .is_some_and(|p| p.header.state_height == h.state_height);
        if parent_named {
            return StateCheck::Matches;
        }
        match self.executed.roots.get(&h.state_height) {
            Some(root) if *root == h.state_root => StateCheck::Matches,
            Some(_) => StateCheck::Differs,
            None => match self.executed.latest() {
                Some((latest, _)) if latest > h.state_height => StateCheck::Unknown,
                _ => StateCheck::NotYet,
            },
        }
    }

    /// Parks a proposal until this node executes the height it names
    /// (bounded; the view's timer ends a wait that never ends).
    pub(super) fn wait_for_execution(&mut self, from: u32, block: &Block, hash: Digest) {
        if self.executed.waiting.len() < MAX_ORPHANS && block.header.view == self.view {
            self.executed
                .waiting
                .insert(hash, (from, block.header.state_height));
        }
    }
}
