//! Epoch boundaries (issue 26, point 5), with a host that does what a node
//! does at one: keep the proof, send it to the chain's nodes, and start the
//! next epoch's core from the last block (or stop, when not a member).
//! Five nodes; the committee of each epoch is four of them, so one member
//! leaves and one joins at every boundary.

use std::collections::VecDeque;
use std::sync::Arc;

use strata_crypto::committee::{Committee, Member};
use strata_crypto::hash::Digest;
use strata_crypto::SecretKey;

use super::with_resumes;
use crate::consensus::commit_proof;
use crate::consensus::*;
use crate::types::{
    genesis_block, Block, ChainId, ConsensusMessage, Epoch, EpochChange, GenesisParams, Payload,
    Protocol,
};

/// Blocks per epoch in these tests.
const LENGTH: u64 = 12;
const NODES: usize = 5;

struct Node {
    key: SecretKey,
    core: Option<ConsensusCore>,
    /// The epoch its core serves (or would, once it has one).
    epoch: Epoch,
    commits: Vec<Arc<Block>>,
    /// Messages of a later epoch than its core's, until it gets there.
    later: Vec<(usize, ConsensusMessage)>,
    ended: Vec<EpochChange>,
    /// Heights its host executed.
    executed: Vec<u64>,
}

struct EpochHarness {
    protocol: Protocol,
    nodes: Vec<Node>,
    /// Node ids of each epoch's committee, in member order.
    members: Vec<Vec<usize>>,
    queue: VecDeque<(usize, usize, ConsensusMessage)>,
    payloads: VecDeque<(usize, Epoch, crate::types::Round)>,
    executions: VecDeque<(usize, u64)>,
    /// Payload checks asked for: every payload here is valid.
    checks: VecDeque<(usize, Epoch, Digest)>,
    /// Nodes whose messages are dropped, in and out.
    cut: Vec<bool>,
    blamed: Vec<(usize, &'static str)>,
    now: Micros,
    /// Hosts start the next epoch's core before they execute its start
    /// block (a node's ledger commits and executes behind its core).
    late_execution: bool,
}

fn committee_of(keys: &[SecretKey], ids: &[usize]) -> Arc<Committee> {
    Arc::new(
        Committee::new(
            ids.iter()
                .map(|&i| Member {
                    key: keys[i].public_key(),
                    weight: 1,
                })
                .collect(),
        )
        .unwrap(),
    )
}

fn root_after(height: u64) -> Digest {
    Digest::of("state", &height.to_le_bytes())
}

impl EpochHarness {
    fn new(protocol: Protocol) -> EpochHarness {
        let keys: Vec<SecretKey> = strata_crypto::test_support::seeded_keys(77, NODES);
        // Epoch e's committee: every node but (e + 4) mod 5.
        let members: Vec<Vec<usize>> = (0..8)
            .map(|e| (0..NODES).filter(|&i| i != (e + 4) % NODES).collect())
            .collect();
        let chain = match protocol {
            Protocol::HotStuff => ChainId::GLOBAL,
            Protocol::TwoPhase => ChainId::local(0),
        };
        let genesis = Arc::new(genesis_block(GenesisParams {
            chain,
            epoch: 0,
            state_root: root_after(0),
        }));
        let mut h = EpochHarness {
            protocol,
            nodes: keys
                .iter()
                .map(|k| Node {
                    key: k.clone(),
                    core: None,
                    epoch: 0,
                    commits: Vec::new(),
                    later: Vec::new(),
                    ended: Vec::new(),
                    executed: Vec::new(),
                })
                .collect(),
            members,
            queue: VecDeque::new(),
            payloads: VecDeque::new(),
            executions: VecDeque::new(),
            checks: VecDeque::new(),
            cut: vec![false; NODES],
            blamed: Vec::new(),
            now: 0,
            late_execution: false,
        };
        for i in 0..NODES {
            h.start_epoch(i, 0, genesis.clone());
        }
        h
    }

    fn keys(&self) -> Vec<SecretKey> {
        self.nodes.iter().map(|n| n.key.clone()).collect()
    }

    fn committee(&self, epoch: Epoch) -> Arc<Committee> {
        committee_of(&self.keys(), &self.members[epoch as usize])
    }

    /// Starts node `i`'s core for `epoch` from `start`, if it is a member.
    fn start_epoch(&mut self, i: usize, epoch: Epoch, start: Arc<Block>) {
        self.nodes[i].epoch = epoch;
        self.nodes[i].core = None;
        // The test's last epoch: nothing runs after it.
        let Some(me) = self
            .members
            .get(epoch as usize)
            .and_then(|m| m.iter().position(|&n| n == i))
        else {
            return;
        };
        let mut cfg = CoreConfig::new(
            self.protocol,
            self.committee(epoch),
            me as u32,
            LeaderPolicy::RoundRobin,
            start.clone(),
        );
        cfg.epoch = epoch;
        cfg.epoch_end = Some(EpochEnd {
            last_height: start.header.height + LENGTH,
            decided_at: start.header.height + LENGTH - 4,
        });
        self.nodes[i].core = Some(ConsensusCore::new(cfg, self.nodes[i].key.clone()));
        let rec = Recovery {
            safety: None,
            committed_tip: start.clone(),
            pending: vec![],
        };
        self.feed(i, Event::Restored(Box::new(rec)));
        // The host reports what it has executed above the state the start
        // block names (as a node's `recent_roots`): the start block too,
        // unless its execution comes later.
        let height = start.header.height;
        if !self.late_execution || height == 0 {
            self.feed(
                i,
                Event::Executed {
                    height,
                    root: root_after(height),
                },
            );
        }
        let since = start.header.state_height;
        if self.late_execution {
            // A host that sat the epoch out syncs and executes its blocks
            // (behind the core, like every execution here).
            let done = self.nodes[i].executed.iter().max().copied().unwrap_or(0);
            let queued: Vec<u64> = self
                .executions
                .iter()
                .filter(|(n, _)| *n == i)
                .map(|(_, h)| *h)
                .collect();
            for h in (done + 1..=height).filter(|h| !queued.contains(h)) {
                self.executions.push_back((i, h));
            }
        }
        let executed: Vec<u64> = self.nodes[i].executed.clone();
        for h in executed.into_iter().filter(|&h| h >= since && h != height) {
            let root = root_after(h);
            self.feed(i, Event::Executed { height: h, root });
        }
        for (from, msg) in std::mem::take(&mut self.nodes[i].later) {
            self.deliver(from, i, msg);
        }
    }

    fn feed(&mut self, i: usize, ev: Event) {
        self.now += 1000;
        let Some(core) = self.nodes[i].core.as_mut() else {
            return;
        };
        let actions = core.on_event(self.now, ev);
        let actions = with_resumes(core, self.now, actions);
        self.apply(i, actions);
    }

    fn member_node(&self, epoch: Epoch, member: u32) -> Option<usize> {
        self.members[epoch as usize].get(member as usize).copied()
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        let epoch = self.nodes[i].epoch;
        for a in actions {
            match a {
                Action::Send { to, msg } => {
                    if let Some(j) = self.member_node(epoch, to) {
                        self.queue.push_back((i, j, msg));
                    }
                }
                Action::Broadcast(msg) => {
                    for &j in &self.members[epoch as usize] {
                        if j != i {
                            self.queue.push_back((i, j, msg.clone()));
                        }
                    }
                }
                Action::Fetch { .. } => {}
                Action::CheckPayload(b) => self.checks.push_back((i, epoch, b.hash())),
                Action::RequestPayload { round } => self.payloads.push_back((i, epoch, round)),
                Action::Commit(blocks) => {
                    for b in &blocks {
                        self.executions.push_back((i, b.header.height));
                    }
                    self.nodes[i].commits.extend(blocks);
                }
                Action::Misbehaviour { reason, .. } => self.blamed.push((i, reason)),
                Action::EpochEnded(proof) => {
                    let proof = proof.expect("the proof is made at the commit");
                    self.nodes[i].ended.push((*proof).clone());
                    // To every node of the chain (old members and new).
                    for j in (0..NODES).filter(|&j| j != i) {
                        let msg = ConsensusMessage::EpochChange(proof.clone());
                        self.queue.push_back((i, j, msg));
                    }
                    let start = Arc::new(proof.blocks[0].clone());
                    self.start_epoch(i, epoch + 1, start);
                    return;
                }
                _ => {}
            }
        }
    }

    /// Routes a message by epoch: to the core of its epoch, kept for a
    /// later one, or (for a node with no core) an epoch change checked
    /// against the committee it ends, which starts this node's next epoch.
    fn deliver(&mut self, from: usize, to: usize, msg: ConsensusMessage) {
        if self.cut[from] || self.cut[to] {
            return;
        }
        let epoch = msg.epoch();
        let mine = self.nodes[to].epoch;
        if epoch.is_some_and(|e| e > mine) {
            self.nodes[to].later.push((from, msg));
            return;
        }
        // A past epoch's messages are nobody's business any more.
        if epoch.is_some_and(|e| e < mine) {
            return;
        }
        if self.nodes[to].core.is_none() {
            if let ConsensusMessage::EpochChange(ec) = msg {
                if ec.epoch == mine && self.verify_end(&ec) {
                    let start = Arc::new(ec.blocks[0].clone());
                    self.start_epoch(to, mine + 1, start);
                }
            }
            return;
        }
        let Some(member) = self
            .members
            .get(mine as usize)
            .and_then(|m| m.iter().position(|&n| n == from))
        else {
            return;
        };
        self.feed(
            to,
            Event::Message {
                from: member as u32,
                msg,
            },
        );
    }

    fn verify_end(&self, ec: &EpochChange) -> bool {
        let last_height = (ec.epoch + 1) * LENGTH;
        let end = EpochEnd {
            last_height,
            decided_at: last_height - 4,
        };
        let committee = self.committee(ec.epoch);
        let threshold = strata_crypto::QuorumThreshold::TWO_THIRDS;
        commit_proof::verify_epoch_change(self.protocol, &committee, threshold, end, ec).is_ok()
    }

    fn run(&mut self, limit: usize) {
        for _ in 0..limit {
            if let Some((from, to, msg)) = self.queue.pop_front() {
                self.deliver(from, to, msg);
            } else if let Some((i, epoch, block)) = self.checks.pop_front() {
                if self.nodes[i].epoch == epoch {
                    let verdict = PayloadVerdict::Valid;
                    self.feed(i, Event::PayloadChecked { block, verdict });
                }
            } else if self.execute_one() {
            } else if let Some((i, epoch, round)) = self.payloads.pop_front() {
                if self.nodes[i].epoch == epoch {
                    let ev = Event::ProposalReady {
                        round,
                        payload: record_payload(round.height),
                        batches_tx_root: None,
                    };
                    self.feed(i, ev);
                }
            } else {
                return;
            }
        }
    }

    /// A host executes its oldest committed block not executed yet.
    fn execute_one(&mut self) -> bool {
        let Some((i, height)) = self.executions.pop_front() else {
            return false;
        };
        let root = root_after(height);
        self.nodes[i].executed.push(height);
        self.feed(i, Event::Executed { height, root });
        true
    }

    fn fire_view_timers(&mut self) {
        for i in 0..NODES {
            if let Some(core) = self.nodes[i].core.as_ref() {
                let ev = Event::Timer(core.view_timer_for_tests());
                self.feed(i, ev);
            }
        }
    }

    /// Delivers one queued item at a time until `done` holds (bounded).
    fn run_until(&mut self, limit: usize, done: impl Fn(&EpochHarness) -> bool) {
        for _ in 0..limit {
            if done(self) {
                return;
            }
            self.run(1);
        }
    }
}

/// A payload of one opaque transaction naming the height, so blocks
/// with transactions are told apart from the empty ones past an epoch.
fn record_payload(height: u64) -> Payload {
    let tx = crate::types::Transaction::Opaque(
        strata_crypto::codec::BoundedBytes::new(height.to_le_bytes().to_vec()).unwrap(),
    );
    Payload::Inline(strata_crypto::codec::BoundedVec::new(vec![tx]).unwrap())
}

fn assert_handover(h: &EpochHarness, epochs: u64) {
    // Every proof a node made or took in proves its epoch's end to anyone
    // who knows that epoch's committee.
    for node in &h.nodes {
        for ec in &node.ended {
            assert!(h.verify_end(ec), "epoch {} proof", ec.epoch);
        }
    }
    for e in 0..epochs {
        let last = (e + 1) * LENGTH;
        for &i in &h.members[e as usize] {
            let node = &h.nodes[i];
            assert!(
                node.ended.iter().any(|ec| ec.epoch == e),
                "node {i} ended epoch {e}"
            );
            let at_last = node.commits.iter().find(|b| b.header.height == last);
            assert_eq!(at_last.map(|b| b.header.epoch), Some(e), "node {i}");
        }
    }
    // One chain: every node's commits agree where they overlap, each height
    // once, and every committed block carries its epoch's transactions
    // (none of the empty blocks past an epoch's end is committed).
    let mut by_height = std::collections::BTreeMap::new();
    for (i, node) in h.nodes.iter().enumerate() {
        let mut prev = None;
        for b in &node.commits {
            let height = b.header.height;
            if let Some(p) = prev {
                // A node that sat an epoch out starts again at the first
                // block of the one it rejoins (its host syncs the rest).
                let rejoins = height > p + 1 && (height - 1) % LENGTH == 0;
                assert!(height == p + 1 || rejoins, "node {i}: {p} then {height}");
            }
            prev = Some(height);
            let hash = b.hash();
            assert_eq!(
                *by_height.entry(height).or_insert(hash),
                hash,
                "height {height}"
            );
            assert_eq!(b.header.epoch, (height - 1) / LENGTH, "height {height}");
            assert!(!b.payload.is_empty(), "height {height} carries its records");
        }
    }
}

#[test]
fn hotstuff_hands_over_to_each_next_committee_at_the_epoch_boundary() {
    // No view timer fires in this run: every boundary passes without a
    // stall (the next committee's first leader proposes on the proof).
    let mut h = EpochHarness::new(Protocol::HotStuff);
    h.run(40_000);
    let reached: Vec<u64> = h.nodes.iter().map(|n| n.epoch).collect();
    let heights: Vec<usize> = h.nodes.iter().map(|n| n.commits.len()).collect();
    assert!(
        reached.iter().all(|&e| e >= 3),
        "{reached:?} {heights:?} {:?}",
        h.blamed
    );
    assert_handover(&h, 3);
    assert!(h.blamed.is_empty(), "{:?}", h.blamed);
}

#[test]
fn two_phase_hands_over_to_each_next_committee_at_the_epoch_boundary() {
    let mut h = EpochHarness::new(Protocol::TwoPhase);
    h.run(40_000);
    let reached: Vec<u64> = h.nodes.iter().map(|n| n.epoch).collect();
    assert!(reached.iter().all(|&e| e >= 3), "{reached:?}");
    assert_handover(&h, 3);
    assert!(h.blamed.is_empty(), "{:?}", h.blamed);
}

#[test]
fn the_next_committee_starts_before_its_hosts_executed_the_last_block() {
    // A node's ledger executes behind its core: the next epoch's cores
    // start on the proof alone, their first proposals name the parent's
    // state, and voters wait for their own execution of what later ones
    // name. No view timer fires: no boundary stalls for execution.
    for protocol in [Protocol::HotStuff, Protocol::TwoPhase] {
        let mut h = EpochHarness::new(protocol);
        h.late_execution = true;
        h.run(60_000);
        let reached: Vec<u64> = h.nodes.iter().map(|n| n.epoch).collect();
        assert!(
            reached.iter().all(|&e| e >= 3),
            "{protocol:?}: {reached:?} {:?}",
            h.blamed
        );
        assert_handover(&h, 3);
        assert!(h.blamed.is_empty(), "{protocol:?}: {:?}", h.blamed);
    }
}

#[test]
fn a_member_cut_off_at_the_boundary_joins_the_next_epoch_from_the_proof() {
    let mut h = EpochHarness::new(Protocol::HotStuff);
    // Node 1 serves epochs 0 and 1; cut it off near the end of epoch 0.
    h.run_until(40_000, |h| {
        h.nodes[0].commits.len() >= (LENGTH - 3) as usize
    });
    h.cut[1] = true;
    h.run(5_000);
    h.fire_view_timers();
    h.run(5_000);
    assert_eq!(h.nodes[1].epoch, 0, "cut off before the boundary");
    h.cut[1] = false;
    // The others moved on; one of them sends the proof again.
    let ec = h.nodes[0].ended[0].clone();
    h.deliver(0, 1, ConsensusMessage::EpochChange(Box::new(ec)));
    h.run(20_000);
    assert!(h.nodes[1].epoch >= 1, "node 1 moved on");
    assert_handover(&h, 1);
}

#[test]
fn a_proposal_with_transactions_past_the_epoch_is_refused() {
    let mut h = EpochHarness::new(Protocol::TwoPhase);
    h.run(40_000);
    // The leader re-signs one of epoch 0's empty blocks past its end with
    // a transaction in it.
    let ec = h.nodes[0].ended[0].clone();
    let mut header = ec.blocks[1].header.clone();
    let payload = record_payload(999);
    if let Payload::Inline(t) = &payload {
        header.tx_root = crate::types::block::tx_root(t);
    }
    let proposer = h.members[0][header.proposer as usize];
    let forged = Block::propose(header, payload, &h.nodes[proposer].key);
    // To a member of epoch 0 that has not moved on.
    let mut fresh = EpochHarness::new(Protocol::TwoPhase);
    let to = h.members[0]
        .iter()
        .copied()
        .find(|&n| n != proposer)
        .unwrap();
    fresh.deliver(proposer, to, ConsensusMessage::Proposal(Box::new(forged)));
    assert!(
        fresh
            .blamed
            .iter()
            .any(|(_, r)| *r == "proposal carries transactions past its epoch"),
        "{:?}",
        fresh.blamed
    );
}

#[test]
fn an_epoch_change_proves_the_end_only_as_made() {
    let mut h = EpochHarness::new(Protocol::HotStuff);
    h.run(40_000);
    let ec = h.nodes[0].ended[0].clone();
    assert!(h.verify_end(&ec));
    let end = EpochEnd {
        last_height: LENGTH,
        decided_at: LENGTH - 4,
    };
    let committee = h.committee(0);
    let t = strata_crypto::QuorumThreshold::TWO_THIRDS;
    let verify = |ec: &EpochChange, end: EpochEnd, c: &Committee| {
        commit_proof::verify_epoch_change(h.protocol, c, t, end, ec)
    };
    // Against another epoch's committee: the certificate fails.
    assert!(matches!(
        verify(&ec, end, &h.committee(1)),
        Err(commit_proof::EpochChangeError::Certificate(_))
    ));
    // Claimed for another last height.
    let shifted = EpochEnd {
        last_height: LENGTH + 1,
        ..end
    };
    assert!(verify(&ec, shifted, &committee).is_err());
    // A decision later than the state the proof certifies.
    let late = EpochEnd {
        decided_at: ec.blocks.last().unwrap().header.state_height + 1,
        ..end
    };
    assert!(matches!(
        verify(&ec, late, &committee),
        Err(commit_proof::EpochChangeError::Undecided { .. })
    ));
    // Cut short of the commit rule: the last block alone is not committed.
    let mut short = ec.clone();
    short.blocks = strata_crypto::codec::BoundedVec::new(vec![ec.blocks[0].clone()]).unwrap();
    short.certificate = ec.blocks[1].header.justify.clone();
    assert!(verify(&short, end, &committee).is_err());
}
