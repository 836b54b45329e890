//! Focused tests of the core's rules, with a tiny synchronous harness (the
//! simulator covers faults at scale).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::test_support::TestCommittee;
use strata_crypto::committee::Committee;
use strata_crypto::hash::Digest;
use strata_crypto::SecretKey;

use super::*;
use crate::types::{
    genesis_block, Block, ChainId, ConsensusMessage, Evidence, GenesisParams, Protocol, Round,
    SignedStatement, Statement, VoteData,
};

struct Harness {
    cores: Vec<ConsensusCore>,
    keys: Vec<SecretKey>,
    committee: Arc<Committee>,
    genesis: Arc<Block>,
    queue: VecDeque<(u32, u32, ConsensusMessage)>,
    /// Payload requests, answered once the message queue is empty (a
    /// leader batches for a moment, so late votes arrive first).
    payloads: VecDeque<(usize, Round)>,
    /// Nodes whose `Action::Yield` awaits its `Event::Resumed`.
    resumes: VecDeque<usize>,
    /// Nodes whose outgoing messages are dropped.
    silenced: Vec<bool>,
    /// Nodes whose votes carry a signature over something else.
    bad_votes: Vec<bool>,
    commits: Vec<Vec<Arc<Block>>>,
    /// Committed heights each node's host executes next (delivered when no
    /// message is in flight, or last of all for a slow executor).
    executions: VecDeque<(usize, u64)>,
    slow_executor: Vec<bool>,
    /// Nodes whose executor reaches other roots than everyone else's.
    wrong_roots: Vec<bool>,
    /// Every misbehaviour reported: (reporter, peer, reason).
    blamed: Vec<(usize, u32, &'static str)>,
    evidence: Vec<(u32, Evidence)>,
    timers: Vec<Vec<TimerId>>,
    /// How long each node's latest view timer was set for.
    view_timer_after: Vec<Option<Duration>>,
    persisted: Vec<Option<SafetyState>>,
    now: Micros,
}

/// `actions` and what the core adds when resumed after each
/// [`Action::Yield`] among them, as a host feeds it.
/// Whether the actions send a vote.
fn votes(actions: &[Action]) -> bool {
    actions.iter().any(|a| {
        matches!(
            a,
            Action::Send {
                msg: ConsensusMessage::Vote(_),
                ..
            }
        )
    })
}

fn with_resumes(core: &mut ConsensusCore, now: Micros, mut actions: Vec<Action>) -> Vec<Action> {
    let mut yields = actions
        .iter()
        .filter(|a| matches!(a, Action::Yield))
        .count();
    while yields > 0 {
        yields -= 1;
        let more = core.on_event(now, Event::Resumed);
        yields += more.iter().filter(|a| matches!(a, Action::Yield)).count();
        actions.extend(more);
    }
    actions
}

impl Harness {
    fn new(protocol: Protocol, n: usize, leader: LeaderPolicy) -> Harness {
        let TestCommittee { keys, committee } = TestCommittee::seeded(40, n);
        Harness::of(protocol, keys, committee, leader, None)
    }

    /// A committee whose votes are shares of a group key dealt here, t of
    /// n = 4 (a DKG's result; `dynasty::dkg` tests the DKG itself).
    fn threshold(protocol: Protocol, leader: LeaderPolicy) -> Harness {
        use rand::SeedableRng;
        let TestCommittee { keys, committee } = TestCommittee::seeded(41, 4);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(41);
        let (group, shares) = strata_crypto::threshold::deal(&mut rng, 3, 4).unwrap();
        let committee = Arc::new(Committee::clone(&committee).with_group(group).unwrap());
        let shares = shares.iter().map(|s| s.secret_key().clone()).collect();
        Harness::of(protocol, keys, committee, leader, Some(shares))
    }

    fn of(
        protocol: Protocol,
        keys: Vec<SecretKey>,
        committee: Arc<Committee>,
        leader: LeaderPolicy,
        vote_keys: Option<Vec<SecretKey>>,
    ) -> Harness {
        let n = keys.len();
        let chain = match protocol {
            Protocol::HotStuff => ChainId::GLOBAL,
            Protocol::TwoPhase => ChainId::local(0),
        };
        let genesis = Arc::new(genesis_block(GenesisParams {
            chain,
            epoch: 0,
            state_root: crate::execution::GenesisState::bare(Digest::ZERO).root(),
        }));
        let cores = (0..n)
            .map(|i| {
                let cfg = CoreConfig::new(
                    protocol,
                    committee.clone(),
                    i as u32,
                    leader.clone(),
                    genesis.clone(),
                );
                let mut core = ConsensusCore::new(cfg, keys[i].clone());
                if let Some(share) = vote_keys.as_ref().and_then(|v| v.get(i)) {
                    core.set_vote_key(share.clone());
                }
                core
            })
            .collect();
        let mut h = Harness {
            cores,
            keys,
            committee,
            genesis,
            queue: VecDeque::new(),
            payloads: VecDeque::new(),
            resumes: VecDeque::new(),
            silenced: vec![false; n],
            bad_votes: vec![false; n],
            commits: vec![Vec::new(); n],
            executions: VecDeque::new(),
            slow_executor: vec![false; n],
            wrong_roots: vec![false; n],
            blamed: Vec::new(),
            evidence: Vec::new(),
            timers: vec![Vec::new(); n],
            view_timer_after: vec![None; n],
            persisted: vec![None; n],
            now: 0,
        };
        for i in 0..n {
            let rec = Recovery {
                safety: None,
                committed_tip: h.genesis.clone(),
                pending: vec![],
            };
            h.feed(i, Event::Restored(Box::new(rec)));
        }
        h
    }

    /// Feeds `ev` to node `i`, then resumes every node that yielded, as a
    /// host does right after carrying out the actions.
    fn feed(&mut self, i: usize, ev: Event) {
        self.feed_one(i, ev);
        while let Some(j) = self.resumes.pop_front() {
            self.feed_one(j, Event::Resumed);
        }
    }

    fn feed_one(&mut self, i: usize, ev: Event) {
        self.now += 1000;
        let actions = self.cores[i].on_event(self.now, ev);
        self.apply(i, actions);
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        let n = self.cores.len() as u32;
        for a in actions {
            match a {
                Action::Send { to, msg } if !self.silenced[i] => {
                    let msg = match msg {
                        ConsensusMessage::Vote(mut v) if self.bad_votes[i] => {
                            v.signature = self.keys[i].sign(b"not the vote");
                            ConsensusMessage::Vote(v)
                        }
                        other => other,
                    };
                    self.queue.push_back((i as u32, to, msg))
                }
                Action::Broadcast(msg) if !self.silenced[i] => {
                    for j in (0..n).filter(|&j| j != i as u32) {
                        self.queue.push_back((i as u32, j, msg.clone()));
                    }
                }
                Action::RequestPayload { round } => self.payloads.push_back((i, round)),
                Action::Commit(blocks) => {
                    for b in &blocks {
                        self.executions.push_back((i, b.header.height));
                    }
                    self.commits[i].extend(blocks)
                }
                Action::Misbehaviour { peer, reason, .. } => self.blamed.push((i, peer, reason)),
                Action::Evidence(e) => self.evidence.push((i as u32, e)),
                Action::SetTimer { id, after } => {
                    self.timers[i].push(id);
                    if matches!(id.kind, TimerKind::View(_)) {
                        self.view_timer_after[i] = Some(after);
                    }
                }
                Action::Persist(s) => self.persisted[i] = Some(s),
                Action::Yield => self.resumes.push_back(i),
                _ => {}
            }
        }
    }

    /// Delivers queued messages until none are left or `limit` is reached.
    fn run(&mut self, limit: usize) {
        for _ in 0..limit {
            if let Some(i) = self.resumes.pop_front() {
                self.feed_one(i, Event::Resumed);
            } else if let Some((from, to, msg)) = self.queue.pop_front() {
                self.feed(to as usize, Event::Message { from, msg });
            } else if let Some(k) = self
                .executions
                .iter()
                .position(|&(i, _)| !self.slow_executor[i])
            {
                self.execute(k);
            } else if let Some((i, round)) = self.payloads.pop_front() {
                let ev = Event::ProposalReady {
                    round,
                    payload: crate::types::Payload::empty(),
                    batches_tx_root: None,
                };
                self.feed(i, ev);
            } else if !self.executions.is_empty() {
                self.execute(0);
            } else {
                return;
            }
        }
    }

    /// The state root every honest host reaches after `height` (a stand-in
    /// for the executor: the core only compares roots).
    fn root_after(&self, i: usize, height: u64) -> Digest {
        let domain = if self.wrong_roots[i] {
            "other"
        } else {
            "state"
        };
        Digest::of(domain, &height.to_le_bytes())
    }

    fn execute(&mut self, k: usize) {
        if let Some((i, height)) = self.executions.remove(k) {
            let root = self.root_after(i, height);
            self.feed(i, Event::Executed { height, root });
        }
    }

    /// Fires the latest view timer of every node.
    fn fire_view_timers(&mut self) {
        for i in 0..self.cores.len() {
            if let Some(id) = self.timers[i]
                .iter()
                .rev()
                .find(|t| matches!(t.kind, TimerKind::View(_)))
                .copied()
            {
                self.feed(i, Event::Timer(id));
            }
        }
    }

    fn heights(&self) -> Vec<u64> {
        self.cores.iter().map(|c| c.committed_height()).collect()
    }

    /// `rounds` times: deliver up to `limit` messages, then fire every
    /// node's view timer; then deliver once more.
    fn run_with_timeouts(&mut self, rounds: usize, limit: usize) {
        for _ in 0..rounds {
            self.run(limit);
            self.fire_view_timers();
        }
        self.run(limit);
    }

    /// The chains committed by `nodes` agree with node 0's (as far as
    /// both go).
    fn assert_same_commits(&self, nodes: std::ops::Range<usize>) {
        let hashes =
            |i: usize| -> Vec<Digest> { self.commits[i].iter().map(|b| b.hash()).collect() };
        let first = hashes(0);
        for i in nodes {
            let mine = hashes(i);
            let k = mine.len().min(first.len());
            assert_eq!(mine[..k], first[..k], "node {i}");
        }
    }
}

#[test]
fn hotstuff_commits_with_rotating_leaders_and_three_chains() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    h.run(2_000);
    let heights = h.heights();
    assert!(heights.iter().all(|&x| x >= 20), "{heights:?}");
    h.assert_same_commits(1..4);
    // Leaders rotated every view: no member proposed two views in a row.
    for pair in h.commits[0].windows(2) {
        assert_ne!(pair[0].header.proposer, pair[1].header.proposer);
    }
    let mut proposers: Vec<u32> = h.commits[0].iter().map(|b| b.header.proposer).collect();
    proposers.sort();
    proposers.dedup();
    assert_eq!(proposers, vec![0, 1, 2, 3]);
    // The 3-chain rule: the highest certified block is two views above the
    // committed tip in a fault-free run.
    let tip = h.cores[0].committed_tip().header.view;
    assert!(h.cores[0].high_qc().round.view >= tip + 2);
}

#[test]
fn the_beacon_leader_of_each_view_is_drawn_from_the_group_signature_its_parent_carries() {
    let leader = LeaderPolicy::Beacon {
        seed: Digest::of("seed", b"beacon-test"),
        weights: vec![1, 1, 1, 1],
    };
    let mut h = Harness::threshold(Protocol::HotStuff, leader.clone());
    h.run(2_000);
    assert!(h.heights().iter().all(|&x| x >= 20), "{:?}", h.heights());
    h.assert_same_commits(1..4);
    let committee = h.committee.clone();
    let mut drawn = 0;
    for pair in h.commits[0].windows(2) {
        let (parent, block) = (&pair[0], &pair[1]);
        let Some(value) = beacon::value_of(&parent.header.justify) else {
            continue;
        };
        if block.header.view != parent.header.view + 1 {
            continue;
        }
        let expected = leader
            .beacon_leader(&committee, 0, block.header.view, &value)
            .unwrap();
        assert_eq!(
            block.header.proposer, expected,
            "view {}",
            block.header.view
        );
        drawn += 1;
    }
    assert!(drawn >= 15, "{drawn} views led by the beacon");
    // Drawn, not rotated: somebody leads two views in a row, or some
    // member never leads, as round robin over four never does.
    let proposers: Vec<u32> = h.commits[0].iter().map(|b| b.header.proposer).collect();
    let repeats = proposers.windows(2).any(|w| w[0] == w[1]);
    let rotation = proposers
        .iter()
        .zip(proposers.iter().skip(1))
        .all(|(a, b)| (a + 1) % 4 == *b);
    assert!(repeats || !rotation, "{proposers:?}");
}

#[test]
fn the_first_view_of_an_epoch_waits_out_the_members_start_skew() {
    // Nothing certified since the start: twice the base timeout (members
    // start their cores at different moments); once a view certifies, the
    // base timeout again.
    for protocol in [Protocol::HotStuff, Protocol::TwoPhase] {
        let mut h = Harness::new(protocol, 4, LeaderPolicy::RoundRobin);
        let base = h.cores[0].config().base_timeout;
        assert_eq!(h.view_timer_after[0], Some(base * 2), "{protocol:?}");
        h.run(400);
        assert!(h.heights()[0] >= 1, "{protocol:?} commits");
        assert!(
            h.view_timer_after.iter().all(|a| *a == Some(base)),
            "{protocol:?}: {:?}",
            h.view_timer_after
        );
    }
}

#[test]
fn two_phase_keeps_its_stable_leader_and_commits_on_two_chains() {
    let leader = LeaderPolicy::uptime(&[10, 500, 20, 30]);
    let mut h = Harness::new(Protocol::TwoPhase, 4, leader);
    h.run(2_000);
    assert!(h.heights().iter().all(|&x| x >= 20), "{:?}", h.heights());
    assert!(h.commits[0]
        .iter()
        .all(|b| b.header.proposer == 1 && b.header.view == 1));
    // 2-chain: the tip is one height below the highest certificate.
    let qc = h.cores[0].high_qc().round;
    assert!(qc.height <= h.cores[0].committed_height() + 2);
}

#[test]
fn two_phase_changes_leader_only_when_it_fails() {
    let leader = LeaderPolicy::uptime(&[10, 500, 400, 30]);
    let mut h = Harness::new(Protocol::TwoPhase, 4, leader);
    h.run(300);
    let before = h.heights()[0];
    assert!(before > 0);
    // The leader (member 1) goes silent: nothing commits until timeouts.
    h.silenced[1] = true;
    h.run(2_000);
    let stalled = h.heights()[0];
    h.fire_view_timers();
    h.run(3_000);
    let after = h.heights();
    assert!(after[0] > stalled + 5, "{stalled} -> {after:?}");
    // View 2 is led by the next most available member.
    let later: Vec<&Arc<Block>> = h.commits[0].iter().filter(|b| b.header.view > 1).collect();
    assert!(!later.is_empty());
    assert!(later
        .iter()
        .all(|b| b.header.proposer == 2 && b.header.view == 2));
    // The first block of view 2 carries the timeout certificate of view 1.
    let opener = h.commits[0].iter().find(|b| b.header.view == 2).unwrap();
    assert_eq!(opener.header.timeout.as_ref().map(|tc| tc.view), Some(1));
}

#[test]
fn hotstuff_skips_a_silent_leader_by_timeout_certificate() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    h.silenced[2] = true;
    h.run_with_timeouts(12, 2_000);
    let heights = h.heights();
    assert!(heights[0] >= 5, "{heights:?}");
    assert!(h.commits[0].iter().all(|b| b.header.proposer != 2));
    assert!(h.commits[0].iter().any(|b| b.header.timeout.is_some()));
}

fn vote(h: &Harness, signer: usize, round: Round, block: Digest) -> SignedStatement {
    let data = VoteData {
        chain: h.genesis.header.chain,
        epoch: 0,
        round,
        statement: Statement::Vote { block },
    };
    SignedStatement::sign(data, signer as u32, &h.keys[signer])
}

mod epochs;
mod evidence;
mod hosts;
mod signing;
