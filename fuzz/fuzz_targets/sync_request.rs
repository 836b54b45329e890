#![no_main]
//! A peer's sync request served from a store of 200 committed blocks: the response stays within its limits whatever the request claims.

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use parity_scale_codec::Encode;
use strata_chains::consensus::sync;
use strata_chains::store::{MemStore, Store};
use strata_chains::types::limits::{MAX_SYNC_BLOCKS, MAX_SYNC_BYTES};
use strata_chains::types::{
    genesis_block, Block, BlockHeader, ChainId, GenesisParams, Payload, QuorumCertificate,
    SyncRequest,
};
use strata_crypto::codec::decode_message;
use strata_crypto::hash::Digest;
use strata_crypto::SecretKey;

fn store() -> &'static (MemStore, Vec<Digest>) {
    static STORE: OnceLock<(MemStore, Vec<Digest>)> = OnceLock::new();
    STORE.get_or_init(|| {
        let key = SecretKey::from_seed(&[9; 32]).expect("a seed");
        let g = genesis_block(GenesisParams {
            chain: ChainId::GLOBAL,
            epoch: 0,
            config_digest: Digest::ZERO,
        });
        let mut blocks = vec![g];
        for h in 1..200u64 {
            let parent = blocks.last().expect("the genesis");
            let header = BlockHeader {
                view: h,
                height: h,
                parent: parent.hash(),
                proposer: 0,
                justify: QuorumCertificate::genesis(ChainId::GLOBAL, 0, parent.hash()),
                ..parent.header.clone()
            };
            blocks.push(Block::propose(header, Payload::empty(), &key));
        }
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
        assert!(!resp.blocks.is_empty() && resp.blocks.len() <= MAX_SYNC_BLOCKS);
        assert!(resp.encode().len() <= MAX_SYNC_BYTES);
        for pair in resp.blocks.windows(2) {
            assert_eq!(pair[1].header.parent, pair[0].hash());
        }
    }
});
