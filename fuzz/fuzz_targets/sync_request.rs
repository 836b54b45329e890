#![no_main]
//! A peer's sync request served from a store of 200 committed blocks: the response stays within its limits whatever the request claims.

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use parity_scale_codec::Encode;
use strata_chains::consensus::sync;
use strata_chains::store::{MemStore, Store};
use strata_chains::test_support::chain_of_blocks;
use strata_chains::types::limits::{MAX_SYNC_BLOCKS, MAX_SYNC_BYTES};
use strata_chains::types::{Block, SyncRequest};
use strata_crypto::codec::decode_message;
use strata_crypto::hash::Digest;

fn store() -> &'static (MemStore, Vec<Digest>) {
    static STORE: OnceLock<(MemStore, Vec<Digest>)> = OnceLock::new();
    STORE.get_or_init(|| {
        let blocks = chain_of_blocks(200);
        let mut s = MemStore::new();
        for b in &blocks {
            s.put_block(b).expect("memory");
        }
        s.commit(&blocks[..150]).expect("consecutive");
        (s, blocks.iter().map(Block::hash).collect())
    })
}

fuzz_target!(|data: &[u8]| {
    let (s, hashes) = store();
    let Ok(mut req) = decode_message::<SyncRequest>(data, 1024) else {
        return;
    };
    // Aim at real blocks half of the time, whatever heights are claimed.
    if let Some(&b) = data.first() {
        if b % 2 == 0 {
            req.target = hashes[usize::from(b) % hashes.len()];
        }
    }
    if let Ok(Some(resp)) = sync::serve(s, &req) {
        // An empty range says "nothing here": it certifies and ends nothing.
        if resp.blocks.is_empty() {
            assert!(resp.certificate.is_none() && resp.epoch_change.is_none());
        }
        assert!(resp.blocks.len() <= MAX_SYNC_BLOCKS);
        assert!(resp.encode().len() <= MAX_SYNC_BYTES);
        for pair in resp.blocks.windows(2) {
            assert_eq!(pair[1].header.parent, pair[0].hash());
        }
    }
});
