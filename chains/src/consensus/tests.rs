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
    evidence: Vec<(u32, Evidence)>,
    timers: Vec<Vec<TimerId>>,
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
        let chain = match protocol {
            Protocol::HotStuff => ChainId::GLOBAL,
            Protocol::TwoPhase => ChainId::local(0),
        };
        let genesis = Arc::new(genesis_block(GenesisParams {
            chain,
            epoch: 0,
            config_digest: Digest::ZERO,
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
                ConsensusCore::new(cfg, keys[i].clone())
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
            evidence: Vec::new(),
            timers: vec![Vec::new(); n],
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
                Action::Commit(blocks) => self.commits[i].extend(blocks),
                Action::Evidence(e) => self.evidence.push((i as u32, e)),
                Action::SetTimer { id, .. } => self.timers[i].push(id),
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
            } else if let Some((i, round)) = self.payloads.pop_front() {
                let ev = Event::ProposalReady {
                    round,
                    payload: crate::types::Payload::empty(),
                    batches_tx_root: None,
                };
                self.feed(i, ev);
            } else {
                return;
            }
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

#[test]
fn a_double_vote_produces_evidence_that_verifies() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    // Votes for view 1 go to the leader of view 2 (member 2).
    let a = vote(&h, 3, Round::new(1, 1), Digest::of("t", b"a"));
    let b = vote(&h, 3, Round::new(1, 1), Digest::of("t", b"b"));
    h.feed(
        2,
        Event::Message {
            from: 3,
            msg: ConsensusMessage::Vote(a),
        },
    );
    h.feed(
        2,
        Event::Message {
            from: 3,
            msg: ConsensusMessage::Vote(b.clone()),
        },
    );
    // Repeats are not reported twice.
    h.feed(
        2,
        Event::Message {
            from: 3,
            msg: ConsensusMessage::Vote(b),
        },
    );
    assert_eq!(h.evidence.len(), 1);
    let (who, e) = &h.evidence[0];
    assert_eq!(*who, 2);
    let blamed = e
        .verify(
            Protocol::HotStuff,
            ChainId::GLOBAL,
            0,
            &h.genesis.hash(),
            &h.committee,
            strata_crypto::QuorumThreshold::TWO_THIRDS,
        )
        .unwrap();
    assert_eq!(blamed, vec![3]);
}

/// Only the leader a vote goes to can see a double vote; the proof it
/// finds is gossiped, and every other member checks it and convicts the
/// offender too. A proof that does not verify is charged to its sender.
#[test]
fn evidence_found_by_one_member_is_gossiped_and_checked_by_every_other() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    let a = vote(&h, 3, Round::new(1, 1), Digest::of("t", b"a"));
    let b = vote(&h, 3, Round::new(1, 1), Digest::of("t", b"b"));
    for v in [a.clone(), b] {
        h.feed(
            2,
            Event::Message {
                from: 3,
                msg: ConsensusMessage::Vote(v),
            },
        );
    }
    h.run(200);
    let mut convicting: Vec<u32> = h
        .evidence
        .iter()
        .filter(|(_, e)| e.offenders() == vec![3])
        .map(|(who, _)| *who)
        .collect();
    convicting.sort();
    convicting.dedup();
    assert_eq!(convicting, vec![0, 1, 2, 3], "every member took it in");

    // A forged second statement: refused and charged to the sender.
    let mut forged = vote(&h, 3, Round::new(1, 1), Digest::of("t", b"c"));
    forged.signature = h.keys[1].sign(b"not 3's vote");
    let bogus = Evidence::Equivocation {
        first: a,
        second: forged,
    };
    let actions = h.cores[0].on_event(
        h.now + 1,
        Event::Message {
            from: 1,
            msg: ConsensusMessage::Evidence(Box::new(bogus)),
        },
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Evidence(_))));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Misbehaviour {
            peer: 1,
            reason: "invalid evidence",
            fault: Fault::Invalid,
        }
    )));
}

/// A message for a round long past is dropped before any check; the
/// first time it costs nothing (a member back from a partition delivers a
/// backlog of them), a repeat of it costs its sender (a replay), in both
/// protocols (a two-phase view can last thousands of blocks).
#[test]
fn stale_messages_are_dropped_unchecked_and_a_replayed_one_is_charged() {
    for protocol in [Protocol::HotStuff, Protocol::TwoPhase] {
        let mut h = Harness::new(protocol, 4, LeaderPolicy::RoundRobin);
        h.run(3000);
        assert!(h.cores[0].committed_height() > 40, "{protocol:?}");
        let old = vote(&h, 3, Round::new(1, 1), Digest::of("t", b"old"));
        let deliver = |h: &mut Harness| {
            h.cores[0].on_event(
                h.now + 1,
                Event::Message {
                    from: 3,
                    msg: ConsensusMessage::Vote(old.clone()),
                },
            )
        };
        let first = deliver(&mut h);
        assert!(first.is_empty(), "{protocol:?}: {first:?}");
        let again = deliver(&mut h);
        assert!(
            matches!(
                again.as_slice(),
                [Action::Misbehaviour {
                    peer: 3,
                    reason: "replayed message",
                    fault: Fault::Unhelpful,
                }]
            ),
            "{protocol:?}: {again:?}"
        );
    }
}

#[test]
fn a_vote_with_a_forged_signature_is_not_evidence() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    let a = vote(&h, 3, Round::new(1, 1), Digest::of("t", b"a"));
    let mut b = vote(&h, 3, Round::new(1, 1), Digest::of("t", b"b"));
    b.signature = h.keys[0].sign(b"forged");
    h.feed(
        2,
        Event::Message {
            from: 3,
            msg: ConsensusMessage::Vote(a),
        },
    );
    h.feed(
        2,
        Event::Message {
            from: 0,
            msg: ConsensusMessage::Vote(b),
        },
    );
    assert!(h.evidence.is_empty());
}

#[test]
fn an_equivocating_leader_gets_one_vote_per_view_and_evidence() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    // Build two blocks for view 1 by its leader (member 1).
    let qc = crate::types::QuorumCertificate::genesis(ChainId::GLOBAL, 0, h.genesis.hash());
    let make = |salt: u64, h: &Harness| {
        let header = crate::types::BlockHeader {
            view: 1,
            height: 1,
            parent: h.genesis.hash(),
            proposer: 1,
            timestamp_ms: salt,
            justify: qc.clone(),
            state_root: crate::types::state_root_after(
                &h.genesis.header.state_root,
                1,
                &h.genesis.header.tx_root,
            ),
            ..h.genesis.header.clone()
        };
        Block::propose(header, crate::types::Payload::empty(), &h.keys[1])
    };
    let (a, b) = (make(1, &h), make(2, &h));
    h.feed(
        0,
        Event::Message {
            from: 1,
            msg: ConsensusMessage::Proposal(Box::new(a)),
        },
    );
    let voted_once = h.persisted[0].clone().unwrap().last_voted;
    h.feed(
        0,
        Event::Message {
            from: 1,
            msg: ConsensusMessage::Proposal(Box::new(b)),
        },
    );
    assert_eq!(h.persisted[0].clone().unwrap().last_voted, voted_once);
    let votes_for_view_1 = h
        .queue
        .iter()
        .filter(|(from, _, m)| {
            *from == 0 && matches!(m, ConsensusMessage::Vote(v) if v.data.round.view == 1)
        })
        .count();
    assert_eq!(votes_for_view_1, 1);
    assert_eq!(h.evidence.len(), 1);
    assert!(matches!(h.evidence[0].1, Evidence::Equivocation { .. }));
}

/// View 1's block by its leader (member 1), with the BLS signature
/// replaced by one over other bytes.
fn badly_signed_first_block(h: &Harness) -> Block {
    let qc = crate::types::QuorumCertificate::genesis(ChainId::GLOBAL, 0, h.genesis.hash());
    let header = crate::types::BlockHeader {
        view: 1,
        height: 1,
        parent: h.genesis.hash(),
        proposer: 1,
        justify: qc,
        state_root: crate::types::state_root_after(
            &h.genesis.header.state_root,
            1,
            &h.genesis.header.tx_root,
        ),
        ..h.genesis.header.clone()
    };
    let mut block = Block::propose(header, crate::types::Payload::empty(), &h.keys[1]);
    block.signature = h.keys[1].sign(b"not this block");
    block
}

#[test]
fn a_proposal_is_authenticated_by_its_channel_a_relayed_one_by_its_signature() {
    let votes_of = |h: &Harness, from: u32| {
        h.queue
            .iter()
            .filter(|(f, _, m)| *f == from && matches!(m, ConsensusMessage::Vote(_)))
            .count()
    };
    // Relayed by member 2: the signature is all that vouches for it.
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    let block = badly_signed_first_block(&h);
    h.feed(
        0,
        Event::Message {
            from: 2,
            msg: ConsensusMessage::Proposal(Box::new(block.clone())),
        },
    );
    assert_eq!(votes_of(&h, 0), 0);
    // Sent by its proposer over the authenticated channel: voted for.
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    h.feed(
        0,
        Event::Message {
            from: 1,
            msg: ConsensusMessage::Proposal(Box::new(block)),
        },
    );
    assert_eq!(votes_of(&h, 0), 1);
}

#[test]
fn a_badly_signed_proposal_is_not_evidence_of_equivocation() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    let bad = badly_signed_first_block(&h);
    let mut good_header = bad.header.clone();
    good_header.timestamp_ms += 1;
    let good = Block::propose(good_header, crate::types::Payload::empty(), &h.keys[1]);
    for b in [bad, good] {
        h.feed(
            0,
            Event::Message {
                from: 1,
                msg: ConsensusMessage::Proposal(Box::new(b)),
            },
        );
    }
    assert!(h.evidence.is_empty());
}

/// A collector persists the certificates it formed without checking them.
/// A restarted node checks the one it reads back; a bad one is replaced by
/// the justify of the block it names (checked by that block's voters).
#[test]
fn a_restarted_node_checks_the_certificate_it_persisted() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    h.run(200);
    let mut state = h.persisted[1].clone().expect("persisted");
    let blocks: Vec<Block> = h.commits[0].iter().map(|b| (**b).clone()).collect();
    assert!(blocks.len() > 4);
    // The certificate of the second highest committed block, as if it were
    // the one persisted.
    let certified = &blocks[blocks.len() - 2];
    let good = blocks[blocks.len() - 1].header.justify.clone();
    assert_eq!(good.block, certified.hash());
    let restore = |safety: SafetyState| {
        let cfg = h.cores[1].config().clone();
        let mut core = ConsensusCore::new(cfg, h.keys[1].clone());
        core.on_event(
            0,
            Event::Restored(Box::new(Recovery {
                safety: Some(safety),
                committed_tip: h.genesis.clone(),
                pending: blocks.clone(),
            })),
        );
        core.high_qc().clone()
    };
    state.high_qc = good.clone();
    assert_eq!(restore(state.clone()), good, "a good one is kept");
    // The same certificate with its signature replaced.
    let mut bad = good.clone();
    if let Some(cert) = bad.cert.as_mut() {
        cert.signature = h.keys[0].sign(b"something else");
    }
    state.high_qc = bad;
    assert_eq!(
        restore(state),
        certified.header.justify,
        "the certified block's own justify takes its place"
    );
}

#[test]
fn a_restarted_node_does_not_vote_twice() {
    let mut h = Harness::new(Protocol::TwoPhase, 4, LeaderPolicy::uptime(&[9, 1, 1, 1]));
    h.run(60);
    let state = h.persisted[2].clone().expect("voted at least once");
    let chain: Vec<Block> = h.commits[2].iter().map(|b| (**b).clone()).collect();
    assert!(chain.len() >= 3);
    let (known, last) = chain.split_at(chain.len() - 1);
    let last = last[0].clone();
    assert!(Protocol::TwoPhase.vote_slot(last.round()) <= state.last_voted);

    // The same recovery with and without the persisted safety state: only
    // the node that forgot its votes would vote again.
    let votes_after_restart = |safety: Option<SafetyState>| {
        let cfg = h.cores[2].config().clone();
        let mut core = ConsensusCore::new(cfg, h.keys[2].clone());
        core.on_event(
            0,
            Event::Restored(Box::new(Recovery {
                safety,
                committed_tip: h.genesis.clone(),
                pending: known.to_vec(),
            })),
        );
        let actions = core.on_event(
            1,
            Event::Message {
                from: 0,
                msg: ConsensusMessage::Proposal(Box::new(last.clone())),
            },
        );
        let actions = with_resumes(&mut core, 1, actions);
        actions.iter().any(|a| {
            matches!(
                a,
                Action::Send {
                    msg: ConsensusMessage::Vote(_),
                    ..
                }
            )
        })
    };
    assert!(!votes_after_restart(Some(state)));
    assert!(
        votes_after_restart(None),
        "control: a fresh node votes for it"
    );
}

#[test]
fn far_future_votes_are_dropped_and_do_not_grow_state() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    for v in 0..500u64 {
        let far = vote(
            &h,
            3,
            Round::new(1_000 + v, 1),
            Digest::of("t", &v.to_le_bytes()),
        );
        h.feed(
            0,
            Event::Message {
                from: 3,
                msg: ConsensusMessage::Vote(far),
            },
        );
    }
    assert_eq!(h.cores[0].open_vote_subjects(), 0);
    assert_eq!(h.cores[0].tracked_statements(), 0);
}

#[test]
fn garbage_bytes_never_decode_into_messages() {
    for bytes in [
        vec![],
        vec![0u8],
        vec![9u8; 100],
        vec![1u8; 7],
        vec![4u8, 0xff, 0xff, 0xff, 0xff],
    ] {
        assert!(ConsensusMessage::decode_untrusted(&bytes).is_err());
    }
}

#[test]
fn batched_payloads_are_voted_only_once_the_host_holds_them() {
    use crate::types::{BatchRef, Payload};
    let mut h = Harness::new(Protocol::TwoPhase, 4, LeaderPolicy::uptime(&[9, 1, 1, 1]));
    // A block at (1, 1) by the leader (member 0) referencing one batch.
    let refs = vec![BatchRef {
        author: 2,
        digest: Digest::of("batch", b"b"),
        tx_count: 3,
    }];
    let make = |h: &Harness, root: Digest| {
        let qc =
            crate::types::QuorumCertificate::genesis(h.genesis.header.chain, 0, h.genesis.hash());
        let header = crate::types::BlockHeader {
            view: 1,
            height: 1,
            parent: h.genesis.hash(),
            proposer: 0,
            tx_root: root,
            justify: qc,
            state_root: crate::types::state_root_after(&h.genesis.header.state_root, 1, &root),
            ..h.genesis.header.clone()
        };
        Block::propose(
            header,
            Payload::Batches(strata_crypto::codec::BoundedVec::new(refs.clone()).unwrap()),
            &h.keys[0],
        )
    };
    let block = make(&h, Digest::of("root", b"r"));
    let actions = h.cores[1].on_event(
        1,
        Event::Message {
            from: 0,
            msg: ConsensusMessage::Proposal(Box::new(block.clone())),
        },
    );
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::CheckPayload(b) if b.hash() == block.hash())));
    assert!(!votes(&actions), "no vote before the payload is confirmed");
    let after = h.cores[1].on_event(
        2,
        Event::PayloadChecked {
            block: block.hash(),
            verdict: super::PayloadVerdict::Valid,
        },
    );
    assert!(!votes(&after), "signed once the host resumes");
    let after = with_resumes(&mut h.cores[1], 2, after);
    assert!(votes(&after));

    // An unavailable or mismatched payload gets blame, not a vote.
    let other = make(&h, Digest::of("root", b"other"));
    h.cores[2].on_event(
        3,
        Event::Message {
            from: 0,
            msg: ConsensusMessage::Proposal(Box::new(other.clone())),
        },
    );
    let after = h.cores[2].on_event(
        4,
        Event::PayloadChecked {
            block: other.hash(),
            verdict: super::PayloadVerdict::Invalid,
        },
    );
    let after = with_resumes(&mut h.cores[2], 4, after);
    assert!(!votes(&after));
    assert!(after
        .iter()
        .any(|a| matches!(a, Action::Misbehaviour { peer: 0, .. })));
}

/// Found in review: replicas voted for inline records on the proposer's
/// word, so a Byzantine leader could commit forged records in any
/// sender's name. Every non-empty payload waits for the host's check.
#[test]
fn inline_payloads_are_voted_only_after_the_host_checks_them() {
    use crate::types::{ObjectId, Op, Payload, Provenance, Transaction};
    use strata_crypto::codec::BoundedVec;
    use strata_crypto::sr25519::TxKeypair;
    let mut h = Harness::new(Protocol::TwoPhase, 4, LeaderPolicy::uptime(&[9, 1, 1, 1]));
    let key = TxKeypair::from_seed(&[3; 32]);
    let mut forged = Provenance {
        network: Digest::ZERO,
        domain: 0,
        object_id: ObjectId::new(b"victim".to_vec()).unwrap(),
        op: Op::Delete,
        payload_digest: Digest::ZERO,
        parents: BoundedVec::empty(),
        meta: BoundedVec::empty(),
        sender: key.public(),
        nonce: 7,
        timestamp_ms: 0,
    }
    .sign(&key);
    forged.record.nonce = 8; // the signature no longer matches
    let txs = vec![Transaction::Provenance(forged)];
    let root = crate::types::block::tx_root(&txs);
    let qc = crate::types::QuorumCertificate::genesis(h.genesis.header.chain, 0, h.genesis.hash());
    let header = crate::types::BlockHeader {
        view: 1,
        height: 1,
        parent: h.genesis.hash(),
        proposer: 0,
        tx_root: root,
        justify: qc,
        state_root: crate::types::state_root_after(&h.genesis.header.state_root, 1, &root),
        ..h.genesis.header.clone()
    };
    let block = Block::propose(
        header,
        Payload::Inline(strata_crypto::codec::BoundedVec::new(txs).unwrap()),
        &h.keys[0],
    );
    let actions = h.cores[1].on_event(
        1,
        Event::Message {
            from: 0,
            msg: ConsensusMessage::Proposal(Box::new(block.clone())),
        },
    );
    let actions = with_resumes(&mut h.cores[1], 1, actions);
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::CheckPayload(b) if b.hash() == block.hash())));
    assert!(!votes(&actions), "no vote on the proposer's word");
    let after = h.cores[1].on_event(
        2,
        Event::PayloadChecked {
            block: block.hash(),
            verdict: super::PayloadVerdict::Invalid,
        },
    );
    let after = with_resumes(&mut h.cores[1], 2, after);
    assert!(!votes(&after));
    assert!(after.iter().any(|a| matches!(
        a,
        Action::Misbehaviour {
            peer: 0,
            fault: super::Fault::Invalid,
            ..
        }
    )));
}

/// The harness answers payload requests only once no message is in flight,
/// so every HotStuff leader holds a late fourth vote when it proposes.
/// Folding it costs a pairing on the leader's critical path: the leader
/// folds only a voter the previous certificate also left out, which still
/// certifies every member at least every other view (its Carousel turns).
#[test]
fn hotstuff_folds_a_late_vote_only_for_a_member_left_out_before() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    h.run(3_000);
    let blocks: Vec<&Arc<Block>> = h.commits[0].iter().filter(|b| b.header.view > 2).collect();
    assert!(blocks.len() > 10, "{} blocks", blocks.len());
    let signers = |b: &Block| -> Vec<usize> {
        b.header
            .justify
            .cert
            .as_ref()
            .map(|c| c.signers.iter_ones().collect())
            .unwrap_or_default()
    };
    assert!(
        blocks.iter().any(|b| signers(b).len() == 3),
        "some late votes were not folded"
    );
    for pair in blocks.windows(2) {
        let (a, b) = (signers(pair[0]), signers(pair[1]));
        for member in 0..4 {
            assert!(
                a.contains(&member) || b.contains(&member),
                "member {member} left out of two certificates in a row: {a:?} {b:?}"
            );
        }
    }
}

/// A node that fell behind hears of a new block every view. It keeps one
/// sync request in flight and remembers the highest block heard of: a
/// request per proposal had its peers serve the same range over and over
/// (seen in the multi-process restart test, where the streams of those
/// requests filled the connection until it was reset).
#[test]
fn a_lagging_node_keeps_one_sync_request_in_flight() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    h.run(1_500);
    let blocks: Vec<Arc<Block>> = h.commits[0].iter().skip(4).take(8).cloned().collect();
    assert_eq!(blocks.len(), 8);
    // A fresh member 3 that heard nothing so far.
    let mut fresh = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    let mut fetches = Vec::new();
    for b in &blocks {
        let actions = fresh.cores[3].on_event(
            fresh.now,
            Event::Message {
                from: b.header.proposer,
                msg: ConsensusMessage::Proposal(Box::new((**b).clone())),
            },
        );
        for a in &actions {
            if let Action::Fetch { request, .. } = a {
                fetches.push(request.clone());
            }
        }
        fresh.apply(3, actions);
    }
    assert_eq!(
        fetches.len(),
        1,
        "one request for {} proposals",
        blocks.len()
    );
    assert!(fetches[0].target_height < blocks[7].header.height - 1);
    // Its retry asks for the highest block heard of meanwhile.
    let timer = *fresh.timers[3]
        .iter()
        .rev()
        .find(|t| t.kind == TimerKind::Sync)
        .expect("a sync timer");
    let retry = fresh.cores[3].on_event(fresh.now, Event::Timer(timer));
    let targets: Vec<u64> = retry
        .iter()
        .filter_map(|a| match a {
            Action::Fetch { request, .. } => Some(request.target_height),
            _ => None,
        })
        .collect();
    assert_eq!(targets, vec![blocks[7].header.height - 1]);
}

/// Found in review: sync responses nobody asked for were processed (hash
/// links, certificates) like answers. Only the member asked may answer.
#[test]
fn unsolicited_sync_responses_are_refused_and_charged() {
    use crate::types::SyncResponse;
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    h.run(600);
    let blocks: Vec<Block> = h.commits[0].iter().take(3).map(|b| (**b).clone()).collect();
    let mut fresh = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    let resp = SyncResponse {
        chain: blocks[0].header.chain,
        epoch: 0,
        certificate: Some(blocks[2].header.justify.clone()),
        blocks: strata_crypto::codec::BoundedVec::new(blocks[..2].to_vec()).unwrap(),
    };
    let actions = fresh.cores[3].on_event(
        fresh.now,
        Event::Message {
            from: 1,
            msg: ConsensusMessage::SyncResponse(Box::new(resp)),
        },
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::StoreBlock(_))));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Misbehaviour {
            peer: 1,
            reason: "unsolicited sync response",
            ..
        }
    )));
}

/// A leader forms its certificate from a quorum of votes without the
/// pairing check (the channel authenticates each vote's sender). A member
/// whose vote signatures are bad spoils such a certificate: the replicas
/// reject the proposal and the view times out. The leader then checks the
/// certificate, re-forms it without the bad vote (or falls back and times
/// out the failed view too), and checks that member's votes one by one
/// from then on, so the chain goes on committing with no more failures
/// from it.
#[test]
fn a_bad_vote_spoils_one_unchecked_certificate_per_leader() {
    for protocol in [Protocol::HotStuff, Protocol::TwoPhase] {
        let leader = match protocol {
            Protocol::HotStuff => LeaderPolicy::RoundRobin,
            Protocol::TwoPhase => LeaderPolicy::uptime(&[10, 500, 20, 30]),
        };
        let mut h = Harness::new(protocol, 4, leader);
        h.bad_votes[3] = true;
        h.run_with_timeouts(6, 500);
        let heights = h.heights();
        assert!(
            heights[..3].iter().all(|&x| x >= 20),
            "{protocol:?}: {heights:?}"
        );
        h.assert_same_commits(1..3);
        let failed: Vec<u64> = h
            .cores
            .iter()
            .map(|c| c.stats().unchecked_qcs_failed)
            .collect();
        assert!(failed.iter().any(|&f| f > 0), "{protocol:?}: never hit");
        assert!(failed.iter().all(|&f| f <= 1), "{protocol:?}: {failed:?}");
        // The committed chain carries only certificates that verify.
        let chain = h.genesis.header.chain;
        for b in &h.commits[0] {
            let j = &b.header.justify;
            let threshold = strata_crypto::QuorumThreshold::TWO_THIRDS;
            assert!(j
                .verify(chain, 0, &h.genesis.hash(), &h.committee, threshold)
                .is_ok());
        }
    }
}

/// Each signature comes after a yield behind the persist it needs, so
/// the host can make the state durable while the core signs; and the
/// leader's own vote comes after its proposal has left.
#[test]
fn signatures_follow_their_persist_and_the_proposal_leaves_before_the_leaders_vote() {
    for protocol in [Protocol::HotStuff, Protocol::TwoPhase] {
        let mut h = Harness::new(protocol, 4, LeaderPolicy::RoundRobin);
        let (leader, round) = h
            .payloads
            .pop_front()
            .expect("the first leader asks for a payload");
        h.now += 1000;
        let ready = Event::ProposalReady {
            round,
            payload: crate::types::Payload::empty(),
            batches_tx_root: None,
        };
        let proposal = |a: &Action| matches!(a, Action::Broadcast(ConsensusMessage::Proposal(_)));
        let voted = |actions: &[Action]| {
            actions.iter().any(
                |a| matches!(a, Action::Persist(s) if s.last_voted == protocol.vote_slot(round)),
            )
        };
        let actions = h.cores[leader].on_event(h.now, ready);
        assert!(
            matches!(actions.as_slice(), [Action::Persist(s), Action::Yield] if s.last_proposed == round),
            "{protocol:?}: the round is persisted as proposed before it is signed: {actions:?}"
        );

        h.now += 1000;
        let signed = h.cores[leader].on_event(h.now, Event::Resumed);
        assert!(signed.iter().any(proposal), "{protocol:?}: {signed:?}");
        assert!(matches!(signed.last(), Some(Action::Yield)));
        assert!(
            !voted(&signed),
            "{protocol:?}: no vote before the proposal leaves"
        );

        h.now += 1000;
        let vote = h.cores[leader].on_event(h.now, Event::Resumed);
        assert!(voted(&vote), "{protocol:?}: the vote once resumed");
        assert!(matches!(vote.last(), Some(Action::Yield)));
        assert!(!vote.iter().any(|a| matches!(a, Action::Send { .. })));

        h.now += 1000;
        let sent = h.cores[leader].on_event(h.now, Event::Resumed);
        assert!(!sent.iter().any(|a| matches!(a, Action::Persist(_))));
        // Resuming again finds nothing left to do.
        assert!(h.cores[leader].on_event(h.now, Event::Resumed).is_empty());
    }
}

/// A vote persisted as cast but not yet signed when its view is left
/// stays unsent (its slot stays spent: abstaining is always safe).
#[test]
fn a_vote_whose_view_ends_before_it_is_signed_is_not_sent() {
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    let (leader, round) = h.payloads.pop_front().expect("a payload request");
    let ready = Event::ProposalReady {
        round,
        payload: crate::types::Payload::empty(),
        batches_tx_root: None,
    };
    h.feed(leader, ready);
    // Not the next leader, to whom a HotStuff vote goes.
    let replica = (leader + 2) % 4;
    let (_, _, msg) = h
        .queue
        .iter()
        .find(|(_, to, m)| *to == replica as u32 && matches!(m, ConsensusMessage::Proposal(_)))
        .cloned()
        .expect("the proposal is queued");
    let now = h.now + 1000;
    let actions = h.cores[replica].on_event(
        now,
        Event::Message {
            from: leader as u32,
            msg,
        },
    );
    assert!(actions.iter().any(
        |a| matches!(a, Action::Persist(s) if s.last_voted == Protocol::HotStuff.vote_slot(round))
    ));
    assert!(matches!(actions.last(), Some(Action::Yield)));
    // The view times out before the host resumes.
    let timer = *h.timers[replica].last().expect("a view timer");
    h.cores[replica].on_event(now + 1, Event::Timer(timer));
    let resumed = h.cores[replica].on_event(now + 2, Event::Resumed);
    assert!(
        !resumed.iter().any(|a| matches!(
            a,
            Action::Send {
                msg: ConsensusMessage::Vote(_),
                ..
            }
        )),
        "{resumed:?}"
    );
}

/// A certificate is not a commit: the proof a light client checks carries
/// the headers up to the protocol's commit rule and the last one's
/// certificate, and fails when a header is changed, missing or the
/// certificate names another block.
#[test]
fn commit_proofs_carry_the_commit_rule_and_fail_when_tampered() {
    use super::commit_proof::{build, verify, CommitProofError};
    use crate::store::{MemStore, Store};
    for protocol in [Protocol::HotStuff, Protocol::TwoPhase] {
        let leader = match protocol {
            Protocol::HotStuff => LeaderPolicy::RoundRobin,
            Protocol::TwoPhase => LeaderPolicy::uptime(&[9, 1, 1, 1]),
        };
        let mut h = Harness::new(protocol, 4, leader);
        h.run(1_500);
        let blocks: Vec<Block> = std::iter::once((*h.genesis).clone())
            .chain(h.commits[0].iter().map(|b| (**b).clone()))
            .collect();
        assert!(blocks.len() > 10, "{protocol}: {} committed", blocks.len());
        let mut store = MemStore::new();
        for b in &blocks {
            store.put_block(b).unwrap();
        }
        store.commit(&blocks).unwrap();
        let check = |headers: &[crate::types::BlockHeader],
                     cert: &crate::types::QuorumCertificate| {
            verify(
                protocol,
                h.genesis.header.chain,
                &h.genesis.hash(),
                &h.committee,
                strata_crypto::QuorumThreshold::TWO_THIRDS,
                headers,
                cert,
            )
        };
        let height = blocks[3].header.height;
        let (headers, cert) = build(&store, protocol, height).unwrap().unwrap();
        assert_eq!(headers[0], blocks[3].header);
        let rule = match protocol {
            Protocol::HotStuff => 3,
            Protocol::TwoPhase => 2,
        };
        assert!(
            headers.len() >= rule,
            "{protocol}: {} headers",
            headers.len()
        );
        check(&headers, &cert).unwrap();
        // The block's own certificate alone is not a commit.
        let (alone, _) = build(&store, protocol, height).unwrap().unwrap();
        let own_cert = alone[1].justify.clone();
        assert_eq!(
            check(&alone[..1], &own_cert),
            Err(CommitProofError::NoCommit(protocol))
        );
        // A changed header breaks the links above it.
        let mut changed = headers.clone();
        changed[0].timestamp_ms += 1;
        assert_eq!(check(&changed, &cert), Err(CommitProofError::Link(1)));
        // The certificate of another block.
        let other = blocks[9].header.justify.clone();
        assert_eq!(
            check(&headers, &other),
            Err(CommitProofError::CertificateSubject)
        );
    }
}
