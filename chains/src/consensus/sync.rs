//! Serving block sync: the host answers a [`SyncRequest`] from its store
//! (the core only asks and verifies). A response is at most
//! `MAX_SYNC_BLOCKS` consecutive blocks and about `SYNC_RESPONSE_BUDGET`
//! bytes, lowest first; when it stops short of the target it carries the
//! certificate of its last block (the next block's justify), so the
//! requester verifies one certificate per response and the hash links for
//! the rest. A node with nothing for the range answers an empty response
//! ("nothing here"), so the asker moves on without waiting for a timer.
//!
//! Everything in a request is the asker's claim: the work done for it is
//! bounded by counts here, never by the heights it names (a request that
//! claimed height 1 for a block at height 1,000 once made the walk collect
//! a thousand blocks and the response's bounded vector panic).

use parity_scale_codec::Encode;
use strata_crypto::codec::BoundedVec;

use crate::store::{Store, StoreError};
use crate::types::limits::{MAX_SYNC_BLOCKS, SYNC_RESPONSE_BUDGET};
use crate::types::{Block, Height, QuorumCertificate, SyncRequest, SyncResponse};

pub fn serve(store: &dyn Store, req: &SyncRequest) -> Result<Option<SyncResponse>, StoreError> {
    let Some(span) = req.target_height.checked_sub(req.from_height) else {
        return Ok(None);
    };
    // The request's epoch may have ended here: blocks past its last one
    // belong to the next epoch (certified by another committee), so a
    // range stops at the last block, and the epoch's end proof certifies
    // it (`consensus::core::epoch_end`).
    let end = store.epoch_change(req.epoch)?;
    let last = end.as_ref().and_then(|ec| ec.last_height());
    if last.is_some_and(|l| req.from_height > l) {
        return Ok(None);
    }
    let (blocks, certificate) = if span >= MAX_SYNC_BLOCKS as u64 {
        // A long range: committed blocks by height, then the certificate of
        // the last one from its committed child.
        by_height(store, req.from_height, last)?
    } else {
        // Up to the target by parent links (the target's own certificate is
        // what the requester already holds).
        (walk_down(store, req)?, None)
    };
    // Nothing to send is answered too, empty: the asker moves on at once
    // instead of waiting out its timer (an observer asking above a new
    // epoch's start waited a whole second for a silence).
    let (blocks, certificate) = within_budget(blocks, certificate).unwrap_or_default();
    let ends_epoch = last.is_some() && blocks.last().map(|b| b.header.height) == last;
    let Ok(blocks) = BoundedVec::new(blocks) else {
        return Ok(None);
    };
    Ok(Some(SyncResponse {
        chain: req.chain,
        epoch: req.epoch,
        blocks,
        certificate: if ends_epoch { None } else { certificate },
        epoch_change: end.filter(|_| ends_epoch).map(Box::new),
    }))
}

/// Whether the request names a block this node holds at another height
/// than the one it claims: only a faulty asker lies about that (an honest
/// one copies the height from the certificate it holds).
pub fn misstates_target(store: &dyn Store, req: &SyncRequest) -> Result<bool, StoreError> {
    Ok(store
        .block(&req.target)?
        .is_some_and(|b| b.header.height != req.target_height))
}

/// Up to `MAX_SYNC_BLOCKS` committed blocks from `from`, with the
/// certificate of the last: its committed child's justify or, where the
/// committed chain ends inside the range, the top block's justify (which
/// certifies the one below it, so the top block is left out).
fn by_height(
    store: &dyn Store,
    from: u64,
    last: Option<Height>,
) -> Result<(Vec<Block>, Option<QuorumCertificate>), StoreError> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut next = None;
    let heights = (0..=MAX_SYNC_BLOCKS as u64).filter_map(|i| from.checked_add(i));
    for h in heights.take_while(|h| last.is_none_or(|l| *h <= l)) {
        match store.block_at(h)? {
            Some(b) if blocks.len() < MAX_SYNC_BLOCKS => blocks.push(b),
            Some(child) => {
                next = Some(child);
                break;
            }
            None => break,
        }
    }
    let at_last = last.is_some() && blocks.last().map(|b| b.header.height) == last;
    let certificate = match next {
        Some(child) => Some(child.header.justify),
        // The epoch's last block: its end proof certifies it.
        None if at_last => None,
        None if blocks.len() >= 2 => blocks.pop().map(|top| top.header.justify),
        // One committed block whose certificate is not committed here yet:
        // uncertified, it would be useless to the asker.
        None => {
            blocks.clear();
            None
        }
    };
    Ok((blocks, certificate))
}

/// Blocks from `from_height` up to `target` found by walking parent links
/// from the target, at most `span + 1` steps; empty if the target is not
/// at the height the request claims, or the walk breaks off.
fn walk_down(store: &dyn Store, req: &SyncRequest) -> Result<Vec<Block>, StoreError> {
    let steps = req.target_height.saturating_sub(req.from_height) + 1;
    let mut out: Vec<Block> = Vec::new();
    let mut cur = req.target;
    let mut expect = req.target_height;
    for _ in 0..steps.min(MAX_SYNC_BLOCKS as u64) {
        let Some(b) = store.block(&cur)? else {
            return Ok(Vec::new());
        };
        if b.header.height != expect {
            // A lying height, or a store whose links skip heights.
            return Ok(Vec::new());
        }
        cur = b.header.parent;
        out.push(b);
        match expect.checked_sub(1) {
            Some(below) if expect > req.from_height => expect = below,
            _ => break,
        }
    }
    out.reverse();
    if out.first().map(|b| b.header.height) != Some(req.from_height) {
        return Ok(Vec::new());
    }
    Ok(out)
}

/// The longest prefix of `blocks` within `SYNC_RESPONSE_BUDGET` encoded
/// bytes (at least one block: a block alone is within the message limit);
/// a shortened response carries the certificate of its last block, the
/// justify of the first block left out. `None` when there is nothing to
/// send or a shortened one cannot be certified.
fn within_budget(
    blocks: Vec<Block>,
    certificate: Option<QuorumCertificate>,
) -> Option<(Vec<Block>, Option<QuorumCertificate>)> {
    within_budget_of(blocks, certificate, SYNC_RESPONSE_BUDGET)
}

fn within_budget_of(
    mut blocks: Vec<Block>,
    certificate: Option<QuorumCertificate>,
    budget: usize,
) -> Option<(Vec<Block>, Option<QuorumCertificate>)> {
    let mut bytes = certificate.as_ref().map_or(0, |c| c.encoded_size());
    let mut keep = 0;
    for b in &blocks {
        bytes = bytes.saturating_add(b.encoded_size());
        if keep > 0 && bytes > budget {
            break;
        }
        keep += 1;
    }
    if keep == 0 {
        return None;
    }
    if keep == blocks.len() {
        return Some((blocks, certificate));
    }
    let last = blocks.get(keep - 1)?.hash();
    let justify = blocks.get(keep)?.header.justify.clone();
    if justify.block != last {
        return None;
    }
    blocks.truncate(keep);
    Some((blocks, Some(justify)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use crate::test_support::chain_of_blocks as chain;
    use crate::types::ChainId;
    use parity_scale_codec::Encode;

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

    /// Found in review: a request claiming height 1 for a block at height
    /// 120 made the walk collect 120 blocks and the response panic.
    #[test]
    fn a_request_lying_about_its_target_height_gets_nothing_and_no_walk() {
        let blocks = chain(130);
        let mut store = MemStore::new();
        for b in &blocks {
            store.put_block(b).unwrap();
        }
        store.commit(&blocks[..10]).unwrap();
        let mut lie = request(1, &blocks[120]);
        lie.target_height = 1;
        assert!(nothing(serve(&store, &lie).unwrap()));
        assert!(misstates_target(&store, &lie).unwrap());
        assert!(!misstates_target(&store, &request(1, &blocks[120])).unwrap());
        lie.target_height = 5;
        assert!(nothing(serve(&store, &lie).unwrap()));
        // Heights near the top of the range do not overflow.
        let mut top = request(u64::MAX - 1, &blocks[120]);
        top.target_height = u64::MAX;
        assert!(nothing(serve(&store, &top).unwrap()));
        let mut long = request(u64::MAX - 200, &blocks[120]);
        long.target_height = u64::MAX;
        assert!(nothing(serve(&store, &long).unwrap()));
    }

    /// No response, or the empty one that says "nothing here".
    fn nothing(r: Option<SyncResponse>) -> bool {
        r.is_none_or(|r| r.blocks.is_empty() && r.certificate.is_none())
    }

    #[test]
    fn a_response_over_the_byte_budget_is_cut_and_certified_by_the_next_block() {
        let blocks = chain(8);
        let size = blocks[1].encoded_size();
        let whole = within_budget(blocks[1..8].to_vec(), None).unwrap();
        assert_eq!((whole.0.len(), whole.1), (7, None));
        let cut = within_budget_of(blocks[1..8].to_vec(), None, size * 3 + size / 2).unwrap();
        assert_eq!(cut.0.len(), 3);
        assert_eq!(cut.1.unwrap(), blocks[4].header.justify);
    }

    #[test]
    fn unknown_targets_and_inverted_ranges_get_nothing() {
        let blocks = chain(10);
        let mut store = MemStore::new();
        store.commit(&blocks[..5]).unwrap();
        assert!(nothing(serve(&store, &request(3, &blocks[8])).unwrap()));
        assert!(nothing(serve(&store, &request(9, &blocks[4])).unwrap()));
    }
}
