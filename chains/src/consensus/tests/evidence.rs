//! Equivocation and authentication: double votes and proposals become
//! evidence that verifies and reaches every member; forged or relayed
//! messages do not.

use super::*;

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
