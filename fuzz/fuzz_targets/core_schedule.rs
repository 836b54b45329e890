#![no_main]
//! Structure-aware: the four cores of one committee (the protocol chosen by
//! the input) under a schedule the fuzzer picks, step by step: which queued
//! message is delivered, dropped or delivered twice, which node's timer
//! fires, when a leader gets its payload; and what member 3, Byzantine,
//! injects: any message it saw, replayed to anyone, or mutated (another
//! view, height or block, a forged signature, a certificate from elsewhere)
//! and re-signed with its key. The three honest cores must never panic,
//! never sign two votes for one slot, never commit different blocks at one
//! height, and keep their state bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use strata_chains::consensus::{
    Action, ConsensusCore, CoreConfig, Event, LeaderPolicy, PayloadVerdict, Recovery, TimerId,
};
use strata_chains::types::{
    genesis_block, Block, ChainId, ConsensusMessage, GenesisParams, Payload, Protocol, Round,
    SignedStatement, Statement, VoteData,
};
use strata_crypto::hash::Digest;
use strata_crypto::test_support::TestCommittee;
use strata_crypto::SecretKey;

const N: usize = 4;
const BYZANTINE: u32 = 3;
const MAX_STEPS: usize = 256;
const MAX_QUEUE: usize = 512;

#[derive(Arbitrary, Debug)]
enum Mutation {
    View(u8),
    Height(u8),
    Block,
    ForgedSignature,
    /// Another message's certificate in place of this one's.
    Justify(u8),
}

#[derive(Arbitrary, Debug)]
enum Step {
    Deliver(u16),
    Drop(u16),
    Duplicate(u16),
    Timer(u8),
    Payload(u8),
    Replay { pick: u16, to: u8 },
    Mutate { pick: u16, to: u8, how: Mutation },
}

struct World {
    protocol: Protocol,
    cores: Vec<ConsensusCore>,
    keys: Vec<SecretKey>,
    now: u64,
    /// (from, to, message) in flight.
    queue: VecDeque<(u32, u32, ConsensusMessage)>,
    /// Every message member 3 received or sent (what it can replay).
    seen: Vec<ConsensusMessage>,
    timers: Vec<Option<TimerId>>,
    payloads: Vec<Option<Round>>,
    /// Each honest node's vote per slot.
    votes: HashMap<(u32, Round), Digest>,
    /// The committed block at each height (any honest node).
    committed: HashMap<u64, Digest>,
}

impl World {
    fn new(protocol: Protocol) -> World {
        let TestCommittee { keys, committee } = TestCommittee::seeded(90, N);
        let chain = match protocol {
            Protocol::HotStuff => ChainId::GLOBAL,
            Protocol::TwoPhase => ChainId::local(0),
        };
        let genesis = Arc::new(genesis_block(GenesisParams {
            chain,
            epoch: 0,
            state_root: strata_chains::execution::GenesisState::bare(Digest::ZERO).root(),
        }));
        let mut w = World {
            protocol,
            cores: (0..N)
                .map(|i| {
                    let cfg = CoreConfig::new(
                        protocol,
                        committee.clone(),
                        i as u32,
                        LeaderPolicy::RoundRobin,
                        genesis.clone(),
                    );
                    ConsensusCore::new(cfg, keys[i].clone())
                })
                .collect(),
            keys,
            now: 0,
            queue: VecDeque::new(),
            seen: Vec::new(),
            timers: vec![None; N],
            payloads: vec![None; N],
            votes: HashMap::new(),
            committed: HashMap::new(),
        };
        for i in 0..N {
            let recovery = Recovery {
                safety: None,
                committed_tip: genesis.clone(),
                pending: Vec::new(),
            };
            w.feed(i, Event::Restored(Box::new(recovery)));
        }
        w
    }

    fn feed(&mut self, i: usize, event: Event) {
        self.now += 1_000;
        let mut actions = self.cores[i].on_event(self.now, event);
        // Resume at once, as a host does once the actions are carried out.
        while let Some(pos) = actions.iter().position(|a| matches!(a, Action::Yield)) {
            let rest = actions.split_off(pos + 1);
            actions.pop();
            self.apply(i, actions);
            actions = rest;
            self.now += 1;
            actions.extend(self.cores[i].on_event(self.now, Event::Resumed));
        }
        self.apply(i, actions);
    }

    fn enqueue(&mut self, from: u32, to: u32, msg: ConsensusMessage) {
        if to == BYZANTINE || from == BYZANTINE {
            self.seen.push(msg.clone());
            if self.seen.len() > MAX_QUEUE {
                self.seen.remove(0);
            }
        }
        if self.queue.len() < MAX_QUEUE {
            self.queue.push_back((from, to, msg));
        }
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        let me = i as u32;
        for a in actions {
            match a {
                Action::Send { to, msg } => {
                    if let ConsensusMessage::Vote(v) = &msg {
                        self.check_vote(me, v);
                    }
                    self.enqueue(me, to, msg);
                }
                Action::Broadcast(msg) => {
                    for to in (0..N as u32).filter(|&t| t != me) {
                        self.enqueue(me, to, msg.clone());
                    }
                }
                Action::SetTimer { id, .. } => self.timers[i] = Some(id),
                Action::RequestPayload { round } => self.payloads[i] = Some(round),
                Action::CheckPayload(block) => {
                    // The fuzzed leaders propose empty or inline payloads;
                    // the host's check is the fuzzer's to answer below.
                    let verdict = match block.payload {
                        Payload::Inline(ref txs) if !txs.is_empty() => PayloadVerdict::Invalid,
                        _ => PayloadVerdict::Valid,
                    };
                    let answer = Event::PayloadChecked {
                        block: block.hash(),
                        verdict,
                    };
                    self.feed(i, answer);
                }
                Action::Commit(blocks) if me != BYZANTINE => {
                    for b in blocks {
                        let hash = b.hash();
                        let first = *self.committed.entry(b.header.height).or_insert(hash);
                        assert_eq!(first, hash, "two blocks committed at {}", b.header.height);
                    }
                }
                _ => {}
            }
        }
    }

    fn check_vote(&mut self, me: u32, v: &SignedStatement) {
        if me == BYZANTINE {
            return;
        }
        if let Statement::Vote { block } = v.data.statement {
            let slot = self.protocol.vote_slot(v.data.round);
            let first = *self.votes.entry((me, slot)).or_insert(block);
            assert_eq!(first, block, "node {me} voted twice in slot {slot:?}");
        }
    }

    fn pick(&self, k: u16) -> Option<usize> {
        (!self.queue.is_empty()).then(|| k as usize % self.queue.len())
    }

    fn mutate(&self, msg: &ConsensusMessage, how: &Mutation) -> ConsensusMessage {
        let key = &self.keys[BYZANTINE as usize];
        let resign = |data: VoteData| SignedStatement::sign(data, BYZANTINE, key);
        match (msg.clone(), how) {
            (ConsensusMessage::Vote(mut v), how) => {
                match how {
                    Mutation::View(d) => {
                        v.data.round.view = v.data.round.view.wrapping_add(*d as u64)
                    }
                    Mutation::Height(d) => {
                        v.data.round.height = v.data.round.height.wrapping_add(*d as u64)
                    }
                    Mutation::Block | Mutation::Justify(_) => {
                        v.data.statement = Statement::Vote {
                            block: Digest::of("fuzz/block", &v.data.signing_bytes()),
                        }
                    }
                    Mutation::ForgedSignature => {
                        v.signature = key.sign(b"fuzz/not-this");
                        return ConsensusMessage::Vote(v);
                    }
                }
                ConsensusMessage::Vote(resign(v.data))
            }
            (ConsensusMessage::Proposal(b), how) => {
                let mut b: Block = *b;
                match how {
                    Mutation::View(d) => b.header.view = b.header.view.wrapping_add(*d as u64),
                    Mutation::Height(d) => {
                        b.header.height = b.header.height.wrapping_add(*d as u64)
                    }
                    Mutation::Block => {
                        b.header.timestamp_ms = b.header.timestamp_ms.wrapping_add(1)
                    }
                    Mutation::Justify(k) => {
                        if let Some(qc) = self.certificate(*k) {
                            b.header.justify = qc;
                        }
                    }
                    Mutation::ForgedSignature => {}
                }
                b.header.proposer = BYZANTINE;
                let data = Block::proposal_data(&b.header);
                b.signature = match how {
                    Mutation::ForgedSignature => key.sign(b"fuzz/not-this"),
                    _ => key.sign(&data.signing_bytes()),
                };
                ConsensusMessage::Proposal(Box::new(b))
            }
            (ConsensusMessage::Timeout(mut t), how) => {
                match how {
                    Mutation::View(d) => {
                        t.statement.data.round.view =
                            t.statement.data.round.view.wrapping_add(*d as u64)
                    }
                    Mutation::Justify(k) => {
                        if let Some(qc) = self.certificate(*k) {
                            t.high_qc = qc;
                        }
                    }
                    _ => {}
                }
                t.statement = match how {
                    Mutation::ForgedSignature => SignedStatement {
                        signature: key.sign(b"fuzz/not-this"),
                        ..t.statement
                    },
                    _ => resign(t.statement.data),
                };
                ConsensusMessage::Timeout(t)
            }
            (other, _) => other,
        }
    }

    /// Some certificate member 3 has seen.
    fn certificate(&self, k: u8) -> Option<strata_chains::types::QuorumCertificate> {
        let qcs: Vec<_> = self
            .seen
            .iter()
            .filter_map(|m| match m {
                ConsensusMessage::Proposal(b) => Some(b.header.justify.clone()),
                ConsensusMessage::Timeout(t) => Some(t.high_qc.clone()),
                _ => None,
            })
            .collect();
        (!qcs.is_empty()).then(|| qcs[k as usize % qcs.len()].clone())
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Deliver(k) => {
                if let Some(i) = self.pick(k) {
                    if let Some((from, to, msg)) = self.queue.remove(i) {
                        self.feed(to as usize, Event::Message { from, msg });
                    }
                }
            }
            Step::Drop(k) => {
                if let Some(i) = self.pick(k) {
                    self.queue.remove(i);
                }
            }
            Step::Duplicate(k) => {
                if let Some(i) = self.pick(k) {
                    let copy = self.queue[i].clone();
                    if self.queue.len() < MAX_QUEUE {
                        self.queue.push_back(copy);
                    }
                }
            }
            Step::Timer(node) => {
                let i = node as usize % N;
                if let Some(id) = self.timers[i].take() {
                    self.feed(i, Event::Timer(id));
                }
            }
            Step::Payload(node) => {
                let i = node as usize % N;
                if let Some(round) = self.payloads[i].take() {
                    let ev = Event::ProposalReady {
                        round,
                        payload: Payload::empty(),
                        batches_tx_root: None,
                    };
                    self.feed(i, ev);
                }
            }
            Step::Replay { pick, to } => {
                if !self.seen.is_empty() {
                    let msg = self.seen[pick as usize % self.seen.len()].clone();
                    let to = to as u32 % BYZANTINE;
                    self.feed(
                        to as usize,
                        Event::Message {
                            from: BYZANTINE,
                            msg,
                        },
                    );
                }
            }
            Step::Mutate { pick, to, how } => {
                if !self.seen.is_empty() {
                    let msg = self.seen[pick as usize % self.seen.len()].clone();
                    let msg = self.mutate(&msg, &how);
                    let to = to as u32 % BYZANTINE;
                    self.feed(
                        to as usize,
                        Event::Message {
                            from: BYZANTINE,
                            msg,
                        },
                    );
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let protocol = if u.arbitrary::<bool>().unwrap_or(false) {
        Protocol::TwoPhase
    } else {
        Protocol::HotStuff
    };
    let mut world = World::new(protocol);
    for _ in 0..MAX_STEPS {
        let Ok(step) = u.arbitrary::<Step>() else {
            break;
        };
        world.step(step);
    }
    for core in &world.cores[..BYZANTINE as usize] {
        // Bounded state whatever the schedule: the view moves only by
        // certificates (at most one per step), the committed height too.
        assert!(core.view() <= 2 * MAX_STEPS as u64 + 2);
    }
});
