//! The invariants checked after every simulated step.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use parity_scale_codec::Encode;
use strata_crypto::committee::Committee;
use strata_crypto::hash::Digest;

use crate::types::{
    Block, ChainId, Epoch, Evidence, Height, Protocol, Round, SignedStatement, Statement,
};

type SlotKey = (Round, u32, u8);

fn slot_key(protocol: Protocol, s: &SignedStatement) -> Option<SlotKey> {
    let kind = match s.data.statement {
        Statement::Proposal { .. } => 0,
        Statement::Vote { .. } => 1,
        Statement::Timeout { .. } => return None,
    };
    Some((protocol.vote_slot(s.data.round), s.signer, kind))
}

pub struct Checker {
    protocol: Protocol,
    chain: ChainId,
    epoch: Epoch,
    committee: Arc<Committee>,
    honest: Vec<bool>,
    /// The decided chain: the first committed hash at each height.
    decided: BTreeMap<Height, Digest>,
    proposed: HashSet<Digest>,
    certified: HashSet<Digest>,
    pub violations: Vec<String>,
    /// Statements delivered to each (node, incarnation), by slot.
    seen: HashMap<(u32, u64), BTreeMap<SlotKey, Vec<SignedStatement>>>,
    valid: HashMap<Digest, bool>,
    /// Equivocations each honest node saw, which need evidence.
    expected: BTreeMap<(u32, SlotKey), String>,
    emitted: BTreeSet<(u32, SlotKey)>,
    pub evidence_count: u64,
    /// The state digest after each height, as the first honest node to
    /// execute it computed it.
    states: BTreeMap<Height, (u32, Digest)>,
    /// State roots committed blocks named, by the height they name, with
    /// the naming block's height: each must be the honest nodes' root.
    named_states: BTreeMap<Height, (Digest, Height)>,
    /// Batches whose records were checked when first executed.
    checked_batches: std::collections::BTreeSet<Digest>,
}

impl Checker {
    pub fn new(
        protocol: Protocol,
        chain: ChainId,
        epoch: Epoch,
        committee: Arc<Committee>,
        honest: Vec<bool>,
    ) -> Checker {
        Checker {
            protocol,
            chain,
            epoch,
            committee,
            honest,
            decided: BTreeMap::new(),
            proposed: HashSet::new(),
            certified: HashSet::new(),
            violations: Vec::new(),
            seen: HashMap::new(),
            valid: HashMap::new(),
            expected: BTreeMap::new(),
            emitted: BTreeSet::new(),
            evidence_count: 0,
            states: BTreeMap::new(),
            named_states: BTreeMap::new(),
            checked_batches: std::collections::BTreeSet::new(),
        }
    }

    /// A proposal left some node (honest or not).
    pub fn on_proposed(&mut self, block: &Block) {
        self.proposed.insert(block.hash());
        self.certified.insert(block.header.justify.block);
    }

    /// Blocks in a sync response are certified by their children.
    pub fn on_certified(&mut self, hash: Digest) {
        self.certified.insert(hash);
    }

    fn is_valid(&mut self, s: &SignedStatement) -> bool {
        let id = Digest::of("sim/statement", &s.encode());
        if let Some(v) = self.valid.get(&id) {
            return *v;
        }
        let v = s.verify(self.chain, self.epoch, &self.committee).is_ok();
        self.valid.insert(id, v);
        v
    }

    /// A proposal's or vote's statement reached `node`; `tracked` says
    /// whether the node's core was in its detection window for it.
    pub fn on_delivered(
        &mut self,
        node: u32,
        incarnation: u64,
        tracked: bool,
        s: &SignedStatement,
    ) {
        if !tracked || !self.honest[node as usize] {
            return;
        }
        let Some(key) = slot_key(self.protocol, s) else {
            return;
        };
        let known = self
            .seen
            .entry((node, incarnation))
            .or_default()
            .entry(key)
            .or_default()
            .clone();
        if known.iter().any(|k| k.data == s.data) || known.len() >= 4 {
            return;
        }
        let mut conflict = None;
        for prev in &known {
            if Evidence::statements_conflict(self.protocol, prev, s)
                && self.is_valid(prev)
                && self.is_valid(s)
            {
                conflict = Some(prev.clone());
                break;
            }
        }
        if let Some(prev) = conflict {
            if self.honest[s.signer as usize] {
                self.violations.push(format!(
                    "honest node {} signed two conflicting statements in slot {} ({:?} / {:?})",
                    s.signer, key.0, prev.data.statement, s.data.statement
                ));
            }
            self.expected.entry((node, key)).or_insert_with(|| {
                format!(
                    "node {node} saw signer {} equivocate in slot {} (kind {})",
                    s.signer, key.0, key.2
                )
            });
        }
        if let Some(list) = self
            .seen
            .get_mut(&(node, incarnation))
            .and_then(|m| m.get_mut(&key))
        {
            list.push(s.clone());
        }
    }

    pub fn on_evidence(&mut self, node: u32, e: &Evidence) {
        self.evidence_count += 1;
        match e {
            Evidence::Equivocation { first, .. } => {
                if let Some(key) = slot_key(self.protocol, first) {
                    self.emitted.insert((node, key));
                }
            }
            Evidence::ConflictingCertificates { first, second } => {
                // Needs more than a third of the weight to equivocate.
                self.violations.push(format!(
                    "conflicting certificates for slot {}: {} and {}",
                    first.round, first.block, second.block
                ));
            }
        }
    }

    /// `node` committed `blocks`.
    pub fn on_commit(&mut self, node: u32, blocks: &[Arc<Block>]) {
        if !self.honest[node as usize] {
            return;
        }
        for b in blocks {
            let hash = b.hash();
            let h = b.header.height;
            if !self.proposed.contains(&hash) {
                self.violations.push(format!(
                    "node {node} committed block {hash} at height {h} that nobody proposed"
                ));
            }
            if !self.certified.contains(&hash) {
                self.violations.push(format!(
                    "node {node} committed block {hash} at height {h} without a certificate"
                ));
            }
            match self.decided.get(&h) {
                Some(d) if *d != hash => self.violations.push(format!(
                    "SAFETY: node {node} committed {hash} at height {h}, another node committed {d}"
                )),
                Some(_) => {}
                None => {
                    self.decided.insert(h, hash);
                }
            }
            let named = (b.header.state_height, b.header.state_root);
            self.check_named_state(named.0, named.1, h);
            self.named_states.insert(named.0, (named.1, h));
        }
    }

    /// A committed block named the state after `height` with `root`: the
    /// root honest nodes reached there, once known.
    fn check_named_state(&mut self, height: Height, root: Digest, by: Height) {
        if let Some(&(_, reached)) = self.states.get(&height) {
            if reached != root {
                self.violations.push(format!(
                    "STATE: block at height {by} committed naming state {root} after height {height}; honest nodes reached {reached}"
                ));
            }
        }
    }

    /// An honest node's state digest after executing `height`: every
    /// honest node must reach the same one (execution is deterministic).
    pub fn on_executed(&mut self, node: u32, height: Height, digest: Digest) {
        if !self.honest[node as usize] {
            return;
        }
        match self.states.get(&height) {
            Some(&(first, d)) if d != digest => self.violations.push(format!(
                "STATE: node {node} reached state {digest} at height {height}, node {first} reached {d}"
            )),
            Some(_) => {}
            None => {
                self.states.insert(height, (node, digest));
                if let Some(&(root, by)) = self.named_states.get(&height) {
                    self.check_named_state(height, root, by);
                }
            }
        }
    }

    /// Whether every one of these batches' records was checked already.
    pub fn batches_checked(&self, batches: &[Digest]) -> bool {
        batches.iter().all(|b| self.checked_batches.contains(b))
    }

    pub fn mark_batches_checked(&mut self, batches: &[Digest]) {
        self.checked_batches.extend(batches.iter().copied());
    }

    /// The highest height whose state a committed block named.
    pub fn highest_named_state(&self) -> Height {
        self.named_states.last_key_value().map_or(0, |(h, _)| *h)
    }

    /// Heights whose executed state honest nodes compared.
    pub fn executed_heights(&self) -> usize {
        self.states.len()
    }

    /// Equivocations seen by honest nodes that produced no evidence.
    pub fn missed_evidence(&self) -> Vec<String> {
        self.expected
            .iter()
            .filter(|(k, _)| !self.emitted.contains(k))
            .map(|(_, v)| v.clone())
            .collect()
    }
}
