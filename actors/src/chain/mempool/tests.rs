//! The mempool's tests: sealing, peers' batches (forged, over quota,
//! another network), recovery after a restart.
use super::*;
use parity_scale_codec::Encode;
use strata_chains::mempool::{AUTHOR_QUOTA_BATCHES, EARLY_SEAL_BYTES};
use strata_chains::test_support::record;
use strata_chains::types::{MetaEntry, Provenance, GLOBAL_DOMAIN};
use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::sr25519::TxKeypair;

fn opaque(i: u32, size: usize) -> Transaction {
    let mut bytes = vec![0u8; size];
    bytes[..4].copy_from_slice(&i.to_le_bytes());
    Transaction::Opaque(BoundedBytes::new(bytes).expect("fits"))
}

/// A signed record of about `size` bytes, its padding in the metadata
/// (as the load generator pads them).
fn signed(i: u32, size: usize) -> Transaction {
    let key = TxKeypair::from_seed(&[7; 32]);
    let pad = MetaEntry {
        key: BoundedBytes::new(b"pad".to_vec()).expect("short"),
        value: BoundedBytes::new(vec![b'x'; size.saturating_sub(200)]).expect("fits"),
    };
    Transaction::Provenance(
        Provenance {
            meta: BoundedVec::new(vec![pad]).expect("one entry"),
            ..record(&key, GLOBAL_DOMAIN, &i.to_le_bytes(), u64::from(i))
        }
        .sign(&key),
    )
}

/// With a seal delay far longer than the test, only a submission's
/// own size can seal a batch.
fn seals_a_batch_worth_at_once(payload: PayloadMode, make: fn(u32, usize) -> Transaction) {
    let dir = tempfile::tempdir().unwrap();
    let params = ConsensusParams {
        max_batch_delay_ms: 600_000,
        payload,
        ..ConsensusParams::default()
    };
    let (mempool, _) = mempool_in(dir.path(), params);
    actix::System::new().block_on(async move {
        let addr = mempool.start();
        let small: Vec<Transaction> = (0..2).map(|i| make(i, 512)).collect();
        assert!(small.iter().all(|t| t.encoded_size().abs_diff(512) < 64));
        // Answered only once stored, at the seal: not yet.
        let small_answers = addr.send(Submit(small));
        let small_answers = actix::spawn(small_answers);
        addr.send(PendingCount).await.unwrap();
        assert!(
            addr.send(HeldBatchDigests).await.unwrap().is_empty(),
            "two records wait for more"
        );
        assert!(!small_answers.is_finished(), "answered before stored");

        let count = (EARLY_SEAL_BYTES / 512) as u32;
        let big: Vec<Transaction> = (2..2 + count).map(|i| make(i, 512)).collect();
        let answers = addr.send(Submit(big)).await.unwrap();
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(
            addr.send(HeldBatchDigests).await.unwrap().len(),
            1,
            "a batch's worth is sealed with the two before it"
        );
        let answers = small_answers.await.unwrap().unwrap();
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    });
}

#[test]
fn a_submission_of_a_batch_worth_seals_at_once_and_small_ones_wait() {
    seals_a_batch_worth_at_once(PayloadMode::Opaque, opaque);
}

/// A signed record's padding is in a vector of metadata entries, which
/// SCALE's size hint undercounts: the batch's size is the encoded size.
#[test]
fn signed_records_seal_a_batch_worth_at_once() {
    seals_a_batch_worth_at_once(PayloadMode::Signed, signed);
}

/// Member 0 of 4 on the global chain, its stores in `dir`.
fn mempool_in(dir: &std::path::Path, params: ConsensusParams) -> (Mempool, Arc<Metrics>) {
    let store = RocksStore::open(&dir.join("consensus")).unwrap();
    let state = StateStore::open(
        &dir.join("state"),
        ChainId::GLOBAL,
        1,
        &strata_chains::execution::GenesisState::bare(Digest::ZERO),
    )
    .unwrap();
    let metrics = Metrics::new();
    let verifier = Verifier::start(metrics.verifier_batch_signatures.clone()).unwrap();
    let mempool = Mempool::new(
        ChainId::GLOBAL,
        Digest::ZERO,
        0,
        4,
        params,
        1,
        store,
        state,
        verifier,
        metrics.clone(),
    );
    (mempool, metrics)
}

fn start_mempool(payload: PayloadMode) -> (tempfile::TempDir, Mempool, Arc<Metrics>) {
    let dir = tempfile::tempdir().unwrap();
    let params = ConsensusParams {
        payload,
        ..ConsensusParams::default()
    };
    let (mempool, metrics) = mempool_in(dir.path(), params);
    (dir, mempool, metrics)
}

fn batch(author: u32, sequence: u64, txs: Vec<Transaction>) -> Batch {
    Batch {
        chain: ChainId::GLOBAL,
        author,
        sequence,
        transactions: BoundedVec::new(txs).unwrap(),
    }
}

fn penalties(metrics: &Metrics, reason: &str) -> u64 {
    metrics.peer_penalties.with_label_values(&[reason]).get()
}

/// Found in review: invalid batches cost the victim a verification
/// each time, and no penalty followed.
#[test]
fn a_batch_with_a_forged_record_is_refused_charged_and_not_verified_again() {
    let (_dir, mempool, metrics) = start_mempool(PayloadMode::Signed);
    let mut forged = signed(1, 300);
    if let Transaction::Provenance(p) = &mut forged {
        p.record.nonce += 1;
    }
    let bad = batch(2, 1, vec![signed(2, 300), forged]);
    actix::System::new().block_on(async move {
        let addr = mempool.start();
        addr.send(PeerBatch {
            from: 2,
            batch: bad.clone(),
        })
        .await
        .unwrap();
        // The verification runs on the verifier thread.
        for _ in 0..200 {
            if penalties(&metrics, "batch_with_invalid_signatures") == 1 {
                break;
            }
            actix::clock::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(penalties(&metrics, "batch_with_invalid_signatures"), 1);
        let verified = metrics.verifier_batch_signatures.get_sample_count();
        addr.send(PeerBatch {
            from: 2,
            batch: bad.clone(),
        })
        .await
        .unwrap();
        addr.send(PendingCount).await.unwrap();
        assert_eq!(penalties(&metrics, "batch_refused_before"), 1);
        assert_eq!(
            metrics.verifier_batch_signatures.get_sample_count(),
            verified,
            "a refused batch is not verified again"
        );
        // A batch pushed by someone other than its author.
        addr.send(PeerBatch {
            from: 3,
            batch: batch(2, 2, vec![signed(3, 300)]),
        })
        .await
        .unwrap();
        assert_eq!(penalties(&metrics, "batch_pushed_by_a_non_author"), 1);
        assert!(addr.send(HeldBatchDigests).await.unwrap().is_empty());
    });
}

/// Found in review: no per-author quota of held batches or bytes.
#[test]
fn one_member_cannot_make_a_node_hold_more_than_its_quota() {
    let (_dir, mempool, metrics) = start_mempool(PayloadMode::Opaque);
    actix::System::new().block_on(async move {
        let addr = mempool.start();
        let extra = 10;
        for i in 0..(AUTHOR_QUOTA_BATCHES + extra) as u32 {
            addr.send(PeerBatch {
                from: 1,
                batch: batch(1, u64::from(i), vec![opaque(i, 16)]),
            })
            .await
            .unwrap();
        }
        // Another member's batches are still taken.
        addr.send(PeerBatch {
            from: 2,
            batch: batch(2, 1, vec![opaque(1, 16)]),
        })
        .await
        .unwrap();
        addr.send(PendingCount).await.unwrap();
        assert_eq!(
            addr.send(HeldBatchDigests).await.unwrap().len(),
            AUTHOR_QUOTA_BATCHES + 1
        );
        assert_eq!(
            metrics
                .rejected_messages
                .with_label_values(&["batch_over_the_author_quota"])
                .get(),
            extra as u64
        );
        // Committing frees the quota.
        let first: Vec<Digest> = (0..extra as u32)
            .map(|i| batch(1, u64::from(i), vec![opaque(i, 16)]).digest())
            .collect();
        addr.send(Committed {
            height: 1,
            batches: first,
        })
        .await
        .unwrap();
        let i = (AUTHOR_QUOTA_BATCHES + extra) as u32;
        addr.send(PeerBatch {
            from: 1,
            batch: batch(1, u64::from(i), vec![opaque(i, 16)]),
        })
        .await
        .unwrap();
        addr.send(PendingCount).await.unwrap();
        assert_eq!(
            addr.send(HeldBatchDigests).await.unwrap().len(),
            AUTHOR_QUOTA_BATCHES + 1 - extra + 1
        );
    });
}

/// `accepted` means stored: a node restarted after a kill holds the
/// batches it had sealed and not committed, and proposes and pushes
/// them again.
#[test]
fn a_restarted_node_holds_again_the_batches_it_sealed_and_had_not_committed() {
    let dir = tempfile::tempdir().unwrap();
    let open = |dir: &std::path::Path| {
        let params = ConsensusParams {
            payload: PayloadMode::Opaque,
            ..ConsensusParams::default()
        };
        mempool_in(dir, params).0
    };
    let first = open(dir.path());
    actix::System::new().block_on(async move {
        let addr = first.start();
        let txs: Vec<Transaction> = (0..3).map(|i| opaque(i, 64)).collect();
        let answers = addr.send(Submit(txs)).await.unwrap();
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    });
    // The first system and its mempool (and store) are gone: a restart.
    let noted = RocksStore::open(&dir.path().join("consensus"))
        .unwrap()
        .unconfirmed()
        .unwrap();
    assert_eq!(noted.len(), 1, "the sealed batch is noted");
    let second = open(dir.path());
    actix::System::new().block_on(async move {
        let addr = second.start();
        assert_eq!(addr.send(PendingCount).await.unwrap(), 3);
        assert_eq!(addr.send(HeldBatchDigests).await.unwrap().len(), 1);
        // Once it commits, its note is gone.
        addr.send(Committed {
            height: 1,
            batches: noted,
        })
        .await
        .unwrap();
    });
    let store = RocksStore::open(&dir.path().join("consensus")).unwrap();
    assert!(store.unconfirmed().unwrap().is_empty());
}

/// Found in review: provenance signatures were not bound to the
/// network, so a record signed for a testnet was valid on any network.
#[test]
fn records_for_another_network_are_refused_by_clients_and_in_peers_batches() {
    let (_dir, mempool, metrics) = start_mempool(PayloadMode::Signed);
    let key = TxKeypair::from_seed(&[7; 32]);
    let elsewhere = Transaction::Provenance(
        Provenance {
            network: Digest::of("another", b"genesis"),
            ..record(&key, GLOBAL_DOMAIN, b"o", 1)
        }
        .sign(&key),
    );
    actix::System::new().block_on(async move {
        let addr = mempool.start();
        let answers = addr.send(Submit(vec![elsewhere.clone()])).await.unwrap();
        assert_eq!(answers, vec![Err(TxRefusal::WrongNetwork)]);
        addr.send(PeerBatch {
            from: 2,
            batch: batch(2, 1, vec![elsewhere]),
        })
        .await
        .unwrap();
        assert_eq!(
            penalties(&metrics, "batch_with_records_of_the_wrong_kind_or_network"),
            1
        );
        assert!(addr.send(HeldBatchDigests).await.unwrap().is_empty());
    });
}
