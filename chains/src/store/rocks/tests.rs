//! The RocksDB store's own behaviour beyond the shared contract.
use super::*;

#[test]
fn rocks_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = RocksStore::open(dir.path()).unwrap();
    super::super::contract::exercise(&mut store);
}

#[test]
fn reopening_keeps_commits_safety_and_pending_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = crate::test_support::chain_of_blocks(5);
    {
        let mut store = RocksStore::open(dir.path()).unwrap();
        for b in &blocks {
            store.put_block(b).unwrap();
        }
        store.commit(&blocks[..3]).unwrap();
        let s = SafetyState::fresh(crate::types::ChainId::GLOBAL, 0, blocks[0].hash());
        store.save_safety(&s).unwrap();
    }
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(store.committed_tip().unwrap(), Some((2, blocks[2].hash())));
    assert_eq!(store.uncommitted_blocks().unwrap(), blocks[3..].to_vec());
    assert!(store.load_safety().unwrap().is_some());
    let tx_free = store.block_at(2).unwrap().unwrap();
    assert_eq!(tx_free, blocks[2]);
}

#[test]
fn the_transaction_index_is_found_in_memory_in_runs_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (blocks, batches) = crate::test_support::batched_chain(3, 3);
    let located = |store: &RocksStore| {
        for (h, batch) in (1..).zip(&batches) {
            for (i, tx) in (0..).zip(batch.tx_hashes()) {
                assert_eq!(
                    store.tx_location(tx).unwrap(),
                    Some(TxLocation {
                        height: h,
                        index: i
                    }),
                    "transaction {i} of height {h}"
                );
            }
        }
        assert_eq!(store.tx_location(&Digest::ZERO).unwrap(), None);
    };
    {
        let mut store = RocksStore::open_with_index_runs(dir.path(), 4).unwrap();
        for batch in &batches {
            store.put_batch(batch).unwrap();
        }
        for b in &blocks {
            store.commit(std::slice::from_ref(b)).unwrap();
        }
        // Heights 1 and 2 reached four entries: they went to disk as a
        // run; height 3's are in memory.
        assert_eq!(store.indexed_through().unwrap(), Some(2));
        assert_eq!(store.pending_index().len(), 3);
        assert!(!dir.path().join(RUN_FILE).exists(), "RocksDB took the run");
        located(&store);
    }
    let store = RocksStore::open_with_index_runs(dir.path(), 4).unwrap();
    assert_eq!(store.pending_index().len(), 3, "rebuilt from height 3");
    located(&store);
}

#[test]
fn a_batch_listed_again_keeps_its_first_location_after_a_restart() {
    use crate::types::Payload;
    let dir = tempfile::tempdir().unwrap();
    let (mut blocks, batches) = crate::test_support::batched_chain(3, 3);
    // Height 3 lists height 1's batch again before its own.
    blocks[3].payload = Payload::Batches(
        BoundedVec::new(vec![batches[0].reference(), batches[2].reference()]).unwrap(),
    );
    let first = batches[0].tx_hashes().to_vec();
    {
        let mut store = RocksStore::open_with_index_runs(dir.path(), 1000).unwrap();
        for batch in &batches {
            store.put_batch(batch).unwrap();
        }
        // As the ledger indexes: the repeated batch is not indexed again.
        let mut third: Vec<Digest> = first.iter().map(|_| super::super::NOT_INDEXED).collect();
        third.extend(batches[2].tx_hashes().iter().copied());
        let hashes = vec![
            Vec::new(),
            first.clone(),
            batches[1].tx_hashes().to_vec(),
            third,
        ];
        store.commit_indexed(&blocks, &hashes).unwrap();
        assert_eq!(store.tx_location(&first[0]).unwrap().unwrap().height, 1);
    }
    // Killed before the index reached the disk: rebuilt the same way.
    let store = RocksStore::open_with_index_runs(dir.path(), 1000).unwrap();
    assert_eq!(store.tx_location(&first[0]).unwrap().unwrap().height, 1);
    assert_eq!(
        store.tx_location(&batches[2].tx_hashes()[0]).unwrap(),
        Some(TxLocation {
            height: 3,
            index: 3
        })
    );
}

#[test]
fn a_batch_lost_from_the_log_is_reported_missing_and_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let (_, batches) = crate::test_support::batched_chain(2, 2);
    {
        let mut store = RocksStore::open(dir.path()).unwrap();
        for b in &batches {
            store.put_batch(b).unwrap();
        }
    }
    // A crash kept the index entries but only the first record.
    let segment = dir.path().join(BATCH_LOG_DIR).join("00000000.seg");
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() - 1]).unwrap();
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(
        store.batch(&batches[0].digest()).unwrap().as_ref(),
        Some(&batches[0])
    );
    assert_eq!(
        store
            .batch_tx_hashes(&batches[0].digest())
            .unwrap()
            .as_deref(),
        Some(batches[0].tx_hashes())
    );
    assert!(store.has_batch(&batches[1].digest()).unwrap());
    assert_eq!(store.batch_tx_hashes(&batches[1].digest()).unwrap(), None);
    assert!(!store.has_batch(&batches[1].digest()).unwrap());
    // Written again (fetched), then lost again: the full read forgets
    // it too.
    let mut store = store;
    store.put_batch(&batches[1]).unwrap();
    let segment = dir.path().join(BATCH_LOG_DIR).join("00000001.seg");
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() - 1]).unwrap();
    assert!(store.has_batch(&batches[1].digest()).unwrap());
    assert_eq!(store.batch(&batches[1].digest()).unwrap(), None);
    assert!(
        !store.has_batch(&batches[1].digest()).unwrap(),
        "so that the node fetches it again"
    );
}

#[test]
fn the_safety_state_moves_from_the_meta_column_to_its_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = Digest([7; 32]);
    let mut legacy = SafetyState::fresh(crate::types::ChainId::GLOBAL, 0, genesis);
    legacy.last_voted = crate::types::Round::new(3, 0);
    {
        let store = RocksStore::open(dir.path()).unwrap();
        store
            .db
            .put_cf(store.cf(CF_META), KEY_SAFETY, legacy.encode())
            .unwrap();
        assert_eq!(store.load_safety().unwrap(), Some(legacy.clone()));
    }
    let mut newer = legacy.clone();
    newer.last_voted = crate::types::Round::new(4, 0);
    {
        let mut store = RocksStore::open(dir.path()).unwrap();
        assert_eq!(store.load_safety().unwrap(), Some(legacy));
        store.save_safety(&newer).unwrap();
        assert_eq!(store.load_safety().unwrap(), Some(newer.clone()));
    }
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(store.load_safety().unwrap(), Some(newer));
}

#[test]
fn corrupt_records_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(dir.path()).unwrap();
    store
        .db
        .put_cf(store.cf(CF_META), KEY_SAFETY, b"\\x01garbage")
        .unwrap();
    assert!(matches!(
        store.load_safety(),
        Err(StoreError::Corrupt { .. })
    ));
    store
        .db
        .put_cf(store.cf(CF_HEIGHTS), 5u64.to_be_bytes(), b"short")
        .unwrap();
    assert!(matches!(store.block_at(5), Err(StoreError::Corrupt { .. })));
}

#[test]
fn a_record_whose_stored_hashes_differ_from_its_batch_decodes_without_a_panic() {
    // Found by the batch_record fuzz target: a record whose hash list has
    // the right length but other values once tripped an assertion.
    let (_, batches) = crate::test_support::batched_chain(1, 2);
    let batch = batches[0].batch().clone();
    let wrong: Vec<Digest> = vec![Digest::default(); batch.transactions.len()];
    let bytes = (wrong.clone(), batch).encode();
    let decoded = decode_batch_record(&bytes).unwrap();
    assert_eq!(decoded.tx_hashes(), &wrong[..]);
    let short = (Vec::<Digest>::new(), batches[0].batch().clone()).encode();
    assert!(matches!(
        decode_batch_record(&short),
        Err(StoreError::Corrupt { .. })
    ));
}
