//! The core and its host: restarts from the persisted state, bounded
//! buffering, payload checks before a vote, late votes, sync requests and
//! responses, bad votes in a collected certificate.

use super::*;

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
        // Its host executed what it had committed before the restart.
        let executed = last.header.state_height;
        let root = h.root_after(2, executed);
        core.on_event(
            1,
            Event::Executed {
                height: executed,
                root,
            },
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

/// An observer's catch-up above what the member asked has committed (the
/// first views of a new epoch) was answered with silence, and the
/// observer waited out its one-second timer before asking anyone again:
/// every observer committed a new epoch's first block about a second
/// late. The member answers "nothing here" (an empty range), which ends
/// the catch-up, so the next tick asks again; a targeted sync answered so
/// asks the next member at once.
#[test]
fn an_empty_sync_answer_ends_a_catch_up_and_moves_a_sync_on() {
    use crate::store::{MemStore, Store};
    use crate::types::SyncResponse;
    let mut h = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    h.run(600);
    let committed: Vec<Block> = std::iter::once(&h.genesis)
        .chain(h.commits[0].iter())
        .map(|b| (**b).clone())
        .collect();
    assert!(committed.len() > 3);
    // A member that committed all of it answers a catch-up from its top.
    let mut store = MemStore::new();
    for b in &committed {
        store.put_block(b).unwrap();
    }
    store.commit(&committed).unwrap();
    let fetch = |actions: &[Action]| {
        actions.iter().find_map(|a| match a {
            Action::Fetch { from, request } => Some((*from, request.clone())),
            _ => None,
        })
    };
    let core = &mut h.cores[0];
    let (peer, mut request) = fetch(&core.on_event(h.now, Event::CatchUp { peer: 1 })).unwrap();
    request.from_height = committed.last().unwrap().header.height + 1;
    let answer = crate::consensus::sync::serve(&store, &request)
        .unwrap()
        .expect("nothing above the tip is answered, empty");
    assert!(answer.blocks.is_empty() && answer.certificate.is_none());
    let msg = ConsensusMessage::SyncResponse(Box::new(answer));
    let actions = core.on_event(h.now, Event::Message { from: peer, msg });
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::Misbehaviour { .. })));
    assert!(
        fetch(&core.on_event(h.now, Event::CatchUp { peer: 2 })).is_some(),
        "the next tick asks again (before: nothing until the timer fired)"
    );
    // A sync for a block above the tip, answered empty: the next member.
    let mut fresh = Harness::new(Protocol::HotStuff, 4, LeaderPolicy::RoundRobin);
    let mut request = None;
    for b in committed.iter().skip(5).take(8) {
        let actions = fresh.cores[3].on_event(
            fresh.now,
            Event::Message {
                from: b.header.proposer,
                msg: ConsensusMessage::Proposal(Box::new(b.clone())),
            },
        );
        request = request.or(fetch(&actions));
        fresh.apply(3, actions);
    }
    let (asked, request) = request.expect("a sync for what it missed");
    let empty = SyncResponse {
        chain: request.chain,
        epoch: request.epoch,
        blocks: strata_crypto::codec::BoundedVec::new(Vec::new()).unwrap(),
        certificate: None,
        epoch_change: None,
    };
    let msg = ConsensusMessage::SyncResponse(Box::new(empty));
    let next = fetch(&fresh.cores[3].on_event(fresh.now, Event::Message { from: asked, msg }));
    let (next_peer, next_request) = next.expect("asks another member at once");
    assert_ne!(next_peer, asked);
    // (for the highest block heard of meanwhile, as a retry asks)
    assert!(next_request.target_height >= request.target_height);
}

/// Found in review: sync responses nobody asked for were processed (hash
/// links, certificates) like answers. Only the member asked may answer;
/// another's is a late answer to an earlier request (the runtime delivers
/// no other), refused without charging its sender.
#[test]
fn unsolicited_sync_responses_are_refused() {
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
        epoch_change: None,
    };
    let actions = fresh.cores[3].on_event(
        fresh.now,
        Event::Message {
            from: 1,
            msg: ConsensusMessage::SyncResponse(Box::new(resp)),
        },
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::StoreBlock(_))));
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::Misbehaviour { .. })));
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

/// Blocks name the state their proposer executed; a voter whose executor
/// is behind waits for it, then votes; a proposer whose roots differ from
/// everyone's gets no votes for them and is blamed, and the chain goes on.
#[test]
fn proposals_name_executed_roots_that_voters_check_or_wait_for() {
    for protocol in [Protocol::HotStuff, Protocol::TwoPhase] {
        let mut h = Harness::new(protocol, 4, LeaderPolicy::RoundRobin);
        h.slow_executor[3] = true;
        h.wrong_roots[1] = true;
        h.run_with_timeouts(20, 3_000);
        let committed = &h.commits[0];
        assert!(
            committed.len() >= 10,
            "{protocol:?}: {} committed",
            committed.len()
        );
        let named: Vec<u64> = committed.iter().map(|b| b.header.state_height).collect();
        assert!(
            named.last().is_some_and(|&n| n >= 3),
            "{protocol:?}: named {named:?}"
        );
        for b in committed.iter().filter(|b| b.header.state_height > 0) {
            assert_eq!(
                b.header.state_root,
                h.root_after(0, b.header.state_height),
                "{protocol:?}: committed block at {} names a root no honest node reached",
                b.header.height
            );
        }
        assert!(
            h.blamed
                .iter()
                .any(|&(_, peer, why)| peer == 1 && why == "proposal state root differs"),
            "{protocol:?}: the member with other roots was blamed"
        );
        assert!(
            !h.blamed
                .iter()
                .any(|&(by, peer, why)| by == 3 && peer != 1 && why.contains("state")),
            "{protocol:?}: the slow executor waited instead of blaming"
        );
        h.assert_same_commits(0..4);
    }
}
