//! Signing after persisting: the order of persists, signatures and sends,
//! and commit proofs.

use super::*;

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
