//! The mempool core's rules, event by event.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::test_support::signed_record;
use crate::types::{block, genesis_block, BlockHeader, GenesisParams, QuorumCertificate};
use strata_crypto::sr25519::TxKeypair;

/// The node's disk as the core sees it.
#[derive(Default)]
struct Disk {
    batches: BTreeMap<Digest, Vec<Digest>>,
    executed: BTreeSet<Digest>,
    nonces: BTreeSet<([u8; 32], u64)>,
    committed: BTreeSet<Digest>,
}

impl MempoolView for Disk {
    fn has_batch(&self, d: &Digest) -> bool {
        self.batches.contains_key(d)
    }
    fn batch_tx_hashes(&self, d: &Digest) -> Option<Vec<Digest>> {
        self.batches.get(d).cloned()
    }
    fn batch_executed(&self, d: &Digest) -> bool {
        self.executed.contains(d)
    }
    fn nonce_used(&self, sender: &[u8; 32], nonce: u64) -> bool {
        self.nonces.contains(&(*sender, nonce))
    }
    fn tx_committed(&self, tx: &Digest) -> bool {
        self.committed.contains(tx)
    }
}

impl Disk {
    /// Carries out the storage actions, as a host does.
    fn store(&mut self, actions: &[MempoolAction]) {
        for a in actions {
            if let MempoolAction::StoreOwn(b) | MempoolAction::StorePeer(b) = a {
                self.batches.insert(b.digest(), b.tx_hashes().to_vec());
            }
        }
    }
}

fn config(me: u32) -> MempoolConfig {
    MempoolConfig {
        chain: ChainId::GLOBAL,
        network: Digest::ZERO,
        domains: 1,
        me,
        committee_size: 4,
        followers: 0,
        payload: PayloadKind::Signed,
        capacity: 100,
        max_batch_bytes: 1 << 20,
        max_batch_delay: 10_000,
        max_block_interval: 100_000,
        max_batches_per_fetch: 64,
    }
}

fn tx(nonce: u64) -> Transaction {
    let key = TxKeypair::from_seed(&[5; 32]);
    signed_record(&key, crate::types::GLOBAL_DOMAIN, b"obj", nonce)
}

fn with_hash(t: Transaction) -> (Transaction, Digest) {
    let h = t.hash();
    (t, h)
}

fn stored_own(actions: &[MempoolAction]) -> Option<Arc<HashedBatch>> {
    actions.iter().find_map(|a| match a {
        MempoolAction::StoreOwn(b) => Some(b.clone()),
        _ => None,
    })
}

fn proposal(refs: Vec<BatchRef>, tx_root: Digest, height: Height) -> Arc<Block> {
    let g = genesis_block(GenesisParams {
        chain: ChainId::GLOBAL,
        epoch: 0,
        state_root: crate::execution::GenesisState::bare(Digest::ZERO).root(),
    });
    let header = BlockHeader {
        view: height,
        height,
        parent: g.hash(),
        proposer: 1,
        tx_root,
        justify: QuorumCertificate::genesis(ChainId::GLOBAL, 0, g.hash()),
        ..g.header.clone()
    };
    let key = strata_crypto::test_support::seeded_key(3, 1);
    Arc::new(block::Block::propose(
        header,
        Payload::Batches(strata_crypto::codec::BoundedVec::new(refs).unwrap()),
        &key,
    ))
}

#[test]
fn own_records_are_batched_stored_pushed_proposed_and_forgotten_at_commit() {
    let mut disk = Disk::default();
    let mut m = MempoolCore::new(config(0));
    let two = tx(2);
    let (verdicts, actions) = m.admit(
        1_000,
        vec![with_hash(tx(1)), with_hash(two.clone()), with_hash(two)],
    );
    assert_eq!(verdicts[..2], [Ok(()), Ok(())]);
    assert_eq!(verdicts[2], Err(TxRefusal::Duplicate));
    assert!(actions
        .iter()
        .any(|a| matches!(a, MempoolAction::WakeAt(11_000))));
    assert!(stored_own(&actions).is_none(), "small: sealed at its delay");
    // The same nonce in another record is a replay.
    let other = {
        let mut t = tx(1);
        if let Transaction::Provenance(p) = &mut t {
            p.record.timestamp_ms += 1;
        }
        t
    };
    assert_eq!(
        m.admit(2_000, vec![with_hash(other)]).0[0],
        Err(TxRefusal::ReplayedNonce)
    );
    // The delay passes: sealed, stored by the host, then pushed and held.
    let sealed = m.on_event(11_000, &disk, MempoolEvent::Tick);
    let batch = stored_own(&sealed).expect("sealed at the tick");
    assert_eq!(batch.tx_hashes().len(), 2);
    disk.store(&sealed);
    let after = m.on_event(
        11_000,
        &disk,
        MempoolEvent::OwnStored {
            digest: batch.digest(),
            stored: true,
        },
    );
    assert!(after
        .iter()
        .any(|a| matches!(a, MempoolAction::Push(b) if b.digest() == batch.digest())));
    assert!(m.holds(&batch.digest()));
    // A leader's request: the batch, with the root over its records.
    let round = Round::new(1, 1);
    let p = m.on_event(12_000, &disk, MempoolEvent::RequestPayload { round });
    let Some(MempoolAction::PayloadReady {
        payload: Payload::Batches(refs),
        batches_tx_root: Some(root),
        ..
    }) = p.last()
    else {
        panic!("{p:?}");
    };
    assert_eq!(refs[0], batch.reference());
    assert_eq!(*root, tx_root_of(&batch));
    // In flight: not proposed twice; an empty payload at once.
    let again = m.on_event(
        13_000,
        &disk,
        MempoolEvent::RequestPayload {
            round: Round::new(2, 2),
        },
    );
    assert!(
        matches!(again.last(), Some(MempoolAction::PayloadReady { payload, .. }) if payload.is_empty())
    );
    // Unconfirmed: pushed again after a while.
    let later = m.on_event(11_000 + REPUSH_AFTER, &disk, MempoolEvent::Tick);
    assert!(later
        .iter()
        .any(|a| matches!(a, MempoolAction::Repush(d) if *d == batch.digest())));
    // Committed: forgotten, its records no longer pending.
    let c = m.on_event(
        20_000,
        &disk,
        MempoolEvent::Committed {
            height: 1,
            batches: vec![batch.digest()],
        },
    );
    assert!(c
        .iter()
        .any(|a| matches!(a, MempoolAction::ForgetUnconfirmed(d) if d == &vec![batch.digest()])));
    assert_eq!(m.pending(), 0);
    assert!(!m.holds(&batch.digest()));
}

fn tx_root_of(b: &HashedBatch) -> Digest {
    crate::types::tx_root_of_hashes(b.tx_hashes().to_vec())
}

#[test]
fn a_failed_store_refuses_nothing_twice_and_holds_nothing() {
    let disk = Disk::default();
    let mut m = MempoolCore::new(config(0));
    let (_, a) = m.admit(0, vec![with_hash(tx(1))]);
    assert!(stored_own(&a).is_none());
    let sealed = m.on_event(
        0,
        &disk,
        MempoolEvent::RequestPayload {
            round: Round::new(1, 1),
        },
    );
    let batch = stored_own(&sealed).unwrap();
    m.on_event(
        0,
        &disk,
        MempoolEvent::OwnStored {
            digest: batch.digest(),
            stored: false,
        },
    );
    assert!(!m.holds(&batch.digest()));
    assert_eq!(m.pending(), 0);
    assert_eq!(
        m.admit(0, vec![with_hash(tx(1))]).0[0],
        Ok(()),
        "offered again"
    );
}

fn peer_batch(author: u32, nonces: std::ops::Range<u64>) -> Arc<HashedBatch> {
    Arc::new(batch_of(ChainId::GLOBAL, author, 1, nonces.map(tx).collect()).unwrap())
}

#[test]
fn peer_batches_are_attributed_bounded_verified_and_refusals_remembered() {
    let mut disk = Disk::default();
    let mut m = MempoolCore::new(config(0));
    let b = peer_batch(2, 0..3);
    // Pushed by someone else than its author: charged a little (across
    // an epoch boundary an honest member's batch names its old position),
    // not verified.
    let a = m.on_event(
        0,
        &disk,
        MempoolEvent::PeerBatch {
            from: 1,
            batch: b.clone(),
        },
    );
    assert!(matches!(
        a[..],
        [MempoolAction::Penalize {
            member: 1,
            fault: Fault::Unhelpful,
            ..
        }]
    ));
    // By its author: verified by the host, then stored and held.
    let a = m.on_event(
        0,
        &disk,
        MempoolEvent::PeerBatch {
            from: 2,
            batch: b.clone(),
        },
    );
    assert!(matches!(a[..], [MempoolAction::Verify { from: 2, .. }]));
    let a = m.on_event(
        0,
        &disk,
        MempoolEvent::Verified {
            from: 2,
            batch: b.clone(),
            valid: true,
        },
    );
    disk.store(&a);
    assert!(m.holds(&b.digest()) && m.pending() == 3);
    // An invalid one is charged, and charged again without a second check.
    let bad = peer_batch(3, 10..12);
    m.on_event(
        0,
        &disk,
        MempoolEvent::PeerBatch {
            from: 3,
            batch: bad.clone(),
        },
    );
    let a = m.on_event(
        0,
        &disk,
        MempoolEvent::Verified {
            from: 3,
            batch: bad.clone(),
            valid: false,
        },
    );
    assert!(matches!(a[..], [MempoolAction::Penalize { member: 3, .. }]));
    let a = m.on_event(
        0,
        &disk,
        MempoolEvent::PeerBatch {
            from: 3,
            batch: bad,
        },
    );
    assert!(matches!(
        a[..],
        [MempoolAction::Penalize {
            member: 3,
            reason: "batch refused before",
            ..
        }]
    ));
    // A flooding author stops being verified at its quota.
    let mut verifies = 0;
    for s in 0..(AUTHOR_QUOTA_BATCHES as u64 + 10) {
        let b = Arc::new(batch_of(ChainId::GLOBAL, 1, s, vec![tx(1000 + s)]).unwrap());
        let a = m.on_event(0, &disk, MempoolEvent::PeerBatch { from: 1, batch: b });
        verifies += a
            .iter()
            .filter(|a| matches!(a, MempoolAction::Verify { .. }))
            .count();
    }
    assert_eq!(verifies, AUTHOR_QUOTA_BATCHES);
}

#[test]
fn a_proposal_is_valid_once_its_batches_are_here_and_match_its_root() {
    let mut disk = Disk::default();
    let mut m = MempoolCore::new(config(0));
    let b = peer_batch(2, 0..4);
    let good = proposal(vec![b.reference()], tx_root_of(&b), 1);
    // Missing: fetched from its author; no verdict yet.
    let a = m.on_event(
        0,
        &disk,
        MempoolEvent::CheckPayload {
            block: good.clone(),
        },
    );
    assert!(
        matches!(&a[..], [MempoolAction::Fetch { from: 2, digests }] if digests == &vec![b.digest()])
    );
    // No answer in time: asked of the next member.
    let a = m.on_event(FETCH_RETRY, &disk, MempoolEvent::Tick);
    assert!(
        matches!(&a[..], [MempoolAction::Fetch { from: 3, .. }]),
        "{a:?}"
    );
    // The answer comes, is verified and stored: the proposal is valid.
    m.on_event(
        FETCH_RETRY,
        &disk,
        MempoolEvent::Fetched {
            from: 3,
            batches: vec![b.clone()],
        },
    );
    let a = m.on_event(
        FETCH_RETRY,
        &disk,
        MempoolEvent::Verified {
            from: 3,
            batch: b.clone(),
            valid: true,
        },
    );
    disk.store(&a);
    assert!(a.iter().any(|a| matches!(a, MempoolAction::PayloadChecked { block, verdict: PayloadVerdict::Valid } if *block == good.hash())));
    // A proposal naming the same batch under another root is invalid.
    let lying = proposal(vec![b.reference()], Digest::of("t", b"root"), 2);
    let a = m.on_event(
        FETCH_RETRY,
        &disk,
        MempoolEvent::CheckPayload {
            block: lying.clone(),
        },
    );
    assert!(a.iter().any(|a| matches!(
        a,
        MempoolAction::PayloadChecked {
            verdict: PayloadVerdict::Invalid,
            ..
        }
    )));
    // One naming a batch nobody has is unavailable after the deadline.
    let ghost = BatchRef {
        author: 1,
        digest: Digest::of("t", b"ghost"),
        tx_count: 1,
    };
    let unavailable = proposal(vec![ghost], Digest::ZERO, 3);
    m.on_event(
        FETCH_RETRY,
        &disk,
        MempoolEvent::CheckPayload {
            block: unavailable.clone(),
        },
    );
    let a = m.on_event(FETCH_RETRY + CHECK_DEADLINE + 1, &disk, MempoolEvent::Tick);
    assert!(a.iter().any(|a| matches!(a, MempoolAction::PayloadChecked { block, verdict: PayloadVerdict::Unavailable } if *block == unavailable.hash())));
    // The ledger's wait for a committed block's batches.
    let a = m.on_event(
        0,
        &disk,
        MempoolEvent::Ensure {
            id: 7,
            batches: vec![(b.digest(), 2)],
            epoch: None,
        },
    );
    assert!(a
        .iter()
        .any(|a| matches!(a, MempoolAction::Ensured { id: 7 })));
}

/// The member a fetch among `actions` asks, if any.
fn fetched_from(actions: &[MempoolAction]) -> Option<u32> {
    actions.iter().find_map(|x| match x {
        MempoolAction::Fetch { from, .. } => Some(*from),
        _ => None,
    })
}

/// Whom a missing batch is asked of, in turn, when each peer asked
/// answers without it (the next is asked at the next tick), from the
/// actions `first` on, until `done` says so; with the time reached.
fn fetch_order(
    m: &mut MempoolCore,
    disk: &Disk,
    mut now: Micros,
    first: Vec<MempoolAction>,
    done: impl Fn(&[u32]) -> bool,
) -> (Vec<u32>, Micros) {
    let mut asked = Vec::new();
    let mut a = first;
    while let Some(from) = fetched_from(&a) {
        asked.push(from);
        if done(&asked) {
            break;
        }
        m.on_event(
            now,
            disk,
            MempoolEvent::Fetched {
                from,
                batches: vec![],
            },
        );
        // The next tick, well within the retry interval.
        now += FETCH_RETRY / 4;
        a = m.on_event(now, disk, MempoolEvent::Tick);
    }
    (asked, now)
}

#[test]
fn a_committed_batch_no_member_holds_is_fetched_from_the_chains_followers() {
    // A block of an earlier epoch: the members of this one never had its
    // batch; each answers without it and the next is asked at the next
    // tick, then the followers (positions past the committee).
    let mut disk = Disk::default();
    let mut m = MempoolCore::new(config(0));
    m.set_followers(2);
    let b = peer_batch(1, 0..3);
    let now = 10 * FETCH_RETRY;
    let a = m.on_event(
        now,
        &disk,
        MempoolEvent::Ensure {
            id: 1,
            batches: vec![(b.digest(), 1)],
            epoch: None,
        },
    );
    // Each member answers without it; the loop stops at the first follower.
    let (asked, now) = fetch_order(&mut m, &disk, now, a, |asked| {
        asked.last().is_some_and(|&p| p >= 4) || asked.len() == 5
    });
    assert_eq!(asked, vec![1, 2, 3, 4], "members first, then a follower");
    m.on_event(
        now,
        &disk,
        MempoolEvent::Fetched {
            from: 4,
            batches: vec![b.clone()],
        },
    );
    let a = m.on_event(
        now,
        &disk,
        MempoolEvent::Verified {
            from: 4,
            batch: b.clone(),
            valid: true,
        },
    );
    disk.store(&a);
    let after = m.on_event(now, &disk, MempoolEvent::Tick);
    assert!(
        a.iter()
            .chain(&after)
            .any(|x| matches!(x, MempoolAction::Ensured { id: 1 })),
        "the ledger's wait ends: {a:?} {after:?}"
    );
}

#[test]
fn a_batch_of_the_previous_epochs_block_is_fetched_from_that_epochs_members() {
    // Seated in epoch 5 at position 0 of 4, with 6 followers; epoch 4's
    // members were followers 7 and 9, this node, and member 2.
    let disk = Disk::default();
    let mut m = MempoolCore::new(config(0));
    m.set_followers(6);
    m.set_epoch(5, vec![Some(7), Some(9), Some(0), Some(2)]);
    let b = peer_batch(1, 0..3);
    let now = 10 * FETCH_RETRY;
    let ensure = |epoch| MempoolEvent::Ensure {
        id: 1,
        batches: vec![(b.digest(), 1)],
        epoch: Some(epoch),
    };
    let first = m.on_event(now, &disk, ensure(4));
    let (asked, now) = fetch_order(&mut m, &disk, now, first, |asked| asked.len() == 4);
    // The author (epoch 4's member 1) first, then the others who
    // certified the block, skipping itself; then the rest in turn.
    assert_eq!(asked, vec![9, 2, 7, 1]);
    // A block of this epoch's goes to this epoch's author.
    let mut m = MempoolCore::new(config(0));
    m.set_followers(6);
    m.set_epoch(5, vec![Some(7), Some(9), Some(0), Some(2)]);
    let a = m.on_event(now, &disk, ensure(5));
    assert_eq!(fetched_from(&a), Some(1));
}

#[test]
fn a_batch_made_in_another_seat_goes_to_members_as_records_until_they_execute() {
    let mut disk = Disk::default();
    let mut m = MempoolCore::new(config(0));
    let record = tx(1);
    let (digest, a) = sealed_own(&mut m, &mut disk, &record);
    assert!(
        a.iter().any(|x| matches!(x, MempoolAction::Push(_))),
        "a member pushes: {a:?}"
    );
    // The next epoch leaves this node out: the batch names position 0,
    // which is someone else's now.
    m.set_seat(u32::MAX, 4);
    // Not proposed by this node either: no member holds it.
    let round = Round::new(5, 5);
    let mut p = m.on_event(21_000, &disk, MempoolEvent::RequestPayload { round });
    // With nothing to propose the answer waits for the block interval.
    p.extend(m.on_event(21_000 + 200_000, &disk, MempoolEvent::Tick));
    assert!(
        p.iter().any(
            |x| matches!(x, MempoolAction::PayloadReady { payload, .. } if payload.is_empty())
        ),
        "an empty payload: {p:?}"
    );
    let later = 221_000 + REPUSH_AFTER + 1;
    let a = m.on_event(later, &disk, MempoolEvent::Tick);
    assert!(
        a.iter()
            .any(|x| matches!(x, MempoolAction::Forward { digest: d, attempt: 1 } if *d == digest)),
        "handed to a member, not pushed: {a:?}"
    );
    assert!(!a.iter().any(|x| matches!(x, MempoolAction::Repush(_))));
    // Its record executes in a member's batch: the batch is let go.
    let Transaction::Provenance(p) = &record else {
        unreachable!("a provenance record")
    };
    disk.nonces
        .insert((p.record.sender.to_bytes(), p.record.nonce));
    let a = m.on_event(later + 2 * REPUSH_AFTER + 1, &disk, MempoolEvent::Tick);
    assert!(
        a.iter()
            .any(|x| matches!(x, MempoolAction::ForgetUnconfirmed(d) if d == &vec![digest])),
        "{a:?}"
    );
    let a = m.on_event(later + 4 * REPUSH_AFTER, &disk, MempoolEvent::Tick);
    assert!(
        !a.iter().any(|x| matches!(x, MempoolAction::Forward { .. })),
        "{a:?}"
    );
}

#[test]
fn a_forwarded_system_transaction_is_handed_on_until_a_committed_block_lists_it() {
    // A registration submitted to a node outside the committee has no
    // nonce to say it executed: a lost forward must be sent again.
    let mut disk = Disk::default();
    let mut m = MempoolCore::new(config(u32::MAX));
    let fixture = crate::test_support::ReceiptFixture::new();
    let system = crate::test_support::anchor_tx(&fixture.anchor);
    let (digest, a) = sealed_own(&mut m, &mut disk, &system);
    assert!(
        a.iter()
            .any(|x| matches!(x, MempoolAction::Forward { digest: d, attempt: 0 } if *d == digest)),
        "{a:?}"
    );
    let mut now = 20_000;
    for attempt in 1..4 {
        now += REPUSH_AFTER + 1;
        let a = m.on_event(now, &disk, MempoolEvent::Tick);
        assert!(
            a.iter().any(
                |x| matches!(x, MempoolAction::Forward { digest: d, attempt: n } if *d == digest && *n == attempt)
            ),
            "attempt {attempt}: {a:?}"
        );
        assert!(!a
            .iter()
            .any(|x| matches!(x, MempoolAction::ForgetUnconfirmed(_))));
    }
    // A member's block lists it: the batch is let go, and not forwarded.
    disk.committed.insert(system.hash());
    now += REPUSH_AFTER + 1;
    let a = m.on_event(now, &disk, MempoolEvent::Tick);
    assert!(
        a.iter()
            .any(|x| matches!(x, MempoolAction::ForgetUnconfirmed(d) if d == &vec![digest])),
        "{a:?}"
    );
    let a = m.on_event(now + 2 * REPUSH_AFTER, &disk, MempoolEvent::Tick);
    assert!(
        !a.iter().any(|x| matches!(x, MempoolAction::Forward { .. })),
        "{a:?}"
    );
}

#[test]
fn a_member_batches_again_the_records_of_its_orphaned_batch() {
    let mut disk = Disk::default();
    let mut m = MempoolCore::new(config(u32::MAX));
    let record = tx(1);
    let (digest, a) = sealed_own(&mut m, &mut disk, &record);
    assert!(
        a.iter().any(|x| matches!(x, MempoolAction::Forward { .. })),
        "outside the committee its records go to a member: {a:?}"
    );
    // Drawn into the committee: the batch stays orphaned (no member holds
    // it); its records are let go and admitted again into a batch of this
    // seat.
    m.set_seat(1, 4);
    let a = m.on_event(20_000 + REPUSH_AFTER + 1, &disk, MempoolEvent::Tick);
    assert!(
        a.iter()
            .any(|x| matches!(x, MempoolAction::Rebatch(d) if *d == digest)),
        "{a:?}"
    );
    assert!(!m.holds(&digest));
    let (verdicts, _) = m.admit(20_000 + REPUSH_AFTER + 2, vec![with_hash(record)]);
    assert_eq!(verdicts, vec![Ok(())], "no longer pending: admitted again");
}

/// Admits `record`, seals and stores its batch (at 20 ms): the batch's
/// digest and what storing it asked for.
fn sealed_own(
    m: &mut MempoolCore,
    disk: &mut Disk,
    record: &Transaction,
) -> (Digest, Vec<MempoolAction>) {
    let (_, actions) = m.admit(1_000, vec![with_hash(record.clone())]);
    let a = if stored_own(&actions).is_some() {
        actions
    } else {
        m.on_event(20_000, disk, MempoolEvent::Tick)
    };
    disk.store(&a);
    let digest = stored_own(&a).expect("sealed").digest();
    let a = m.on_event(
        20_000,
        disk,
        MempoolEvent::OwnStored {
            digest,
            stored: true,
        },
    );
    (digest, a)
}

/// The refs a payload request answers with (the block interval waited out).
fn proposed_refs(m: &mut MempoolCore, disk: &Disk, now: Micros, height: Height) -> Vec<BatchRef> {
    let round = Round::new(height, height);
    let mut p = m.on_event(now, disk, MempoolEvent::RequestPayload { round });
    p.extend(m.on_event(now + 200_000, disk, MempoolEvent::Tick));
    p.iter()
        .find_map(|x| match x {
            MempoolAction::PayloadReady {
                payload: Payload::Batches(refs),
                ..
            } => Some(refs.to_vec()),
            MempoolAction::PayloadReady { .. } => Some(Vec::new()),
            _ => None,
        })
        .expect("a payload")
}

/// A member at position 0 of epoch 4 holding a batch by member 1 and one
/// of its own: the two batches' digests.
fn holding_a_peers_and_its_own_batch(m: &mut MempoolCore, disk: &mut Disk) -> (Digest, Digest) {
    m.set_epoch(4, vec![]);
    let peer = peer_batch(1, 100..103);
    m.on_event(
        0,
        disk,
        MempoolEvent::PeerBatch {
            from: 1,
            batch: peer.clone(),
        },
    );
    let a = m.on_event(
        0,
        disk,
        MempoolEvent::Verified {
            from: 1,
            batch: peer.clone(),
            valid: true,
        },
    );
    disk.store(&a);
    let (own, _) = sealed_own(m, disk, &tx(1));
    (peer.digest(), own)
}

#[test]
fn a_new_epoch_proposes_no_peer_batch_named_by_an_old_position() {
    // Epoch 5 keeps this member at position 0; whoever sits at position
    // 1 now never held member 1's batch, so a block naming it would send
    // the new members fetching from the wrong peer (the first views of a
    // boundary timed out on that). Its own batch still names its author.
    let mut disk = Disk::default();
    let mut same_epoch = MempoolCore::new(config(0));
    holding_a_peers_and_its_own_batch(&mut same_epoch, &mut disk);
    let refs = proposed_refs(&mut same_epoch, &disk, 30_000, 7);
    assert_eq!(refs.len(), 2, "both proposable within epoch 4: {refs:?}");

    let mut disk = Disk::default();
    let mut m = MempoolCore::new(config(0));
    let (peer, own) = holding_a_peers_and_its_own_batch(&mut m, &mut disk);
    m.set_seat(0, 4);
    m.set_epoch(5, vec![Some(0), Some(5), Some(6), Some(7)]);
    assert!(m.holds(&peer), "still held for blocks of epoch 4");
    let refs = proposed_refs(&mut m, &disk, 30_000, 7);
    let digests: Vec<Digest> = refs.iter().map(|r| r.digest).collect();
    assert_eq!(
        digests,
        vec![own],
        "only its own batch is proposed in epoch 5"
    );

    // Member 1 keeping its position: its batch is still named right.
    let mut disk = Disk::default();
    let mut m = MempoolCore::new(config(0));
    let (peer, own) = holding_a_peers_and_its_own_batch(&mut m, &mut disk);
    m.set_seat(0, 4);
    m.set_epoch(5, vec![Some(0), Some(1), Some(6), Some(7)]);
    let refs = proposed_refs(&mut m, &disk, 30_000, 7);
    let mut digests: Vec<Digest> = refs.iter().map(|r| r.digest).collect();
    digests.sort();
    let mut both = vec![peer, own];
    both.sort();
    assert_eq!(
        digests, both,
        "an author in the same seat keeps its batch proposable"
    );
}
