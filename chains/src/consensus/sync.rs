//! Serving block sync: the host answers a [`SyncRequest`] from its store
//! (the core only asks and verifies). A response is at most
//! `MAX_SYNC_BLOCKS` consecutive blocks, lowest first; when it stops short
//! of the target it carries the certificate of its last block (the next
//! block's justify), so the requester verifies one certificate per response
//! and the hash links for the rest.

use strata_crypto::codec::BoundedVec;

use crate::store::{Store, StoreError};
use crate::types::limits::MAX_SYNC_BLOCKS;
use crate::types::{Block, SyncRequest, SyncResponse};

/// Longest parent walk a responder does for one request.
const MAX_WALK: u64 = 4 * MAX_SYNC_BLOCKS as u64;

pub fn serve(store: &dyn Store, req: &SyncRequest) -> Result<Option<SyncResponse>, StoreError> {
    if req.target_height < req.from_height {
        return Ok(None);
    }
    let last = req
        .target_height
        .min(req.from_height + MAX_SYNC_BLOCKS as u64 - 1);
    let mut blocks = Vec::new();
    let mut certificate = None;
    if last < req.target_height {
        // A long range: committed blocks by height, then the certificate of
        // the last one from its committed child.
        for h in req.from_height..=last {
            match store.block_at(h)? {
                Some(b) => blocks.push(b),
                None => break,
            }
        }
        if let Some(top) = blocks.last() {
            certificate = store
                .block_at(top.header.height + 1)?
                .map(|child| child.header.justify);
        }
        if certificate.is_none() && blocks.len() >= 2 {
            // The responder's committed chain ends inside the range: its top
            // block certifies the one below it.
            let top = blocks.pop().expect("at least two blocks");
            certificate = Some(top.header.justify);
        }
    }
    if blocks.is_empty() || certificate.is_none() {
        // Up to the target by parent links (the target's own certificate is
        // what the requester already holds).
        blocks = walk_down(store, req, last)?;
        certificate = None;
        if blocks.last().map(|b| b.hash()) != Some(req.target) {
            // The walk reached only part of the range; the top block is
            // certified by its child on the path to the target.
            return Ok(None);
        }
    }
    if blocks.is_empty() {
        return Ok(None);
    }
    Ok(Some(SyncResponse {
        chain: req.chain,
        epoch: req.epoch,
        blocks: BoundedVec::new(blocks).expect("at most MAX_SYNC_BLOCKS collected"),
        certificate,
    }))
}

/// Blocks from `from_height` up to `target` found by walking parent links
/// from the target; empty if the walk would be too long or breaks off, or if
/// the range does not end at the target.
fn walk_down(store: &dyn Store, req: &SyncRequest, last: u64) -> Result<Vec<Block>, StoreError> {
    if last != req.target_height || req.target_height - req.from_height >= MAX_WALK {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut cur = req.target;
    loop {
        let Some(b) = store.block(&cur)? else {
            return Ok(Vec::new());
        };
        let height = b.header.height;
        cur = b.header.parent;
        out.push(b);
        if height <= req.from_height || height == 0 {
            break;
        }
    }
    out.reverse();
    if out.first().map(|b| b.header.height) != Some(req.from_height) {
        return Ok(Vec::new());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::chain;
    use crate::store::MemStore;
    use crate::types::ChainId;

    fn request(from: u64, to: &Block) -> SyncRequest {
        SyncRequest {
            chain: ChainId::GLOBAL,
            epoch: 0,
            from_height: from,
            target: to.hash(),
            target_height: to.header.height,
        }
    }

    #[test]
    fn short_ranges_walk_to_the_target_long_ones_use_the_height_index() {
        let blocks = chain(150);
        let mut store = MemStore::new();
        for b in &blocks {
            store.put_block(b).unwrap();
        }
        store.commit(&blocks[..140]).unwrap();

        // Uncommitted tip: walked by parent links.
        let r = serve(&store, &request(138, &blocks[145])).unwrap().unwrap();
        assert_eq!(r.blocks.len(), 8);
        assert_eq!(r.blocks.last().unwrap().hash(), blocks[145].hash());
        assert!(r.certificate.is_none());

        // Long range: first 64 committed blocks with the certificate of the
        // 64th taken from block 65's justify.
        let r = serve(&store, &request(1, &blocks[149])).unwrap().unwrap();
        assert_eq!(r.blocks.len(), MAX_SYNC_BLOCKS);
        assert_eq!(r.blocks[0].header.height, 1);
        assert_eq!(r.certificate.unwrap(), blocks[65].header.justify);
    }

    #[test]
    fn a_responder_behind_the_range_serves_what_it_has_certified() {
        let blocks = chain(100);
        let mut store = MemStore::new();
        store.commit(&blocks[..31]).unwrap();
        let r = serve(&store, &request(1, &blocks[99])).unwrap().unwrap();
        assert_eq!(r.blocks.last().unwrap().header.height, 29);
        assert_eq!(r.certificate.unwrap(), blocks[30].header.justify);
    }

    #[test]
    fn unknown_targets_and_inverted_ranges_get_nothing() {
        let blocks = chain(10);
        let mut store = MemStore::new();
        store.commit(&blocks[..5]).unwrap();
        assert!(serve(&store, &request(3, &blocks[8])).unwrap().is_none());
        assert!(serve(&store, &request(9, &blocks[4])).unwrap().is_none());
    }
}
