//! The sync client: fetching a missing ancestor range from one member at a
//! time (one request in flight, the next member on failure), and taking in
//! the certified blocks that come back.

use super::*;
use crate::types::limits::MAX_SYNC_BLOCKS;

impl ConsensusCore {
    pub(super) fn request_sync(
        &mut self,
        peer: u32,
        target: Digest,
        target_height: Height,
        out: &mut Vec<Action>,
    ) {
        if target_height <= self.committed_height() || peer == self.cfg.me {
            return;
        }
        // One request in flight at a time. A lagging node hears of a new
        // block every view; asking again for each would have a peer serve
        // the same range over and over (and fill the connection with
        // streams) while the first answer is on its way.
        if let Some(s) = self.sync.as_mut().filter(|s| !s.catch_up) {
            let known = s
                .later
                .map_or(s.target_height, |(_, h)| h.max(s.target_height));
            if target_height > known {
                s.later = Some((target, target_height));
            }
            return;
        }
        // A catch-up in flight gives way to a block this node needs.
        self.sync = Some(SyncInFlight {
            target,
            target_height,
            peer,
            attempts: 0,
            later: None,
            catch_up: false,
        });
        self.send_sync_request(out);
    }

    /// Takes in a chain of blocks whose top is certified (by a certificate
    /// the caller checked): everything below it is authenticated by the
    /// hash links, its embedded certificates checked by the honest voters
    /// of each child.
    pub(super) fn take_certified_chain<'b>(
        &mut self,
        chain: impl Iterator<Item = (&'b Arc<Block>, Digest)>,
        out: &mut Vec<Action>,
    ) {
        for (b, hash) in chain {
            self.observe_proposal(&b.proposal_statement(), out);
            if self.tree.insert(b.clone(), hash).unwrap_or(false) {
                out.push(Action::StoreBlock(b.clone()));
                self.certified_arrived(b, hash, out);
            }
            let j = b.header.justify.clone();
            self.verified.insert(j.id());
            self.process_qc(&j, out);
        }
    }

    /// Asks `peer` for the committed blocks above this node's (one range;
    /// more only while full ranges come back), unless a sync is in flight:
    /// how an observer follows, and a member that fell behind catches up
    /// without a certificate to sync to.
    pub(super) fn catch_up(&mut self, peer: u32, out: &mut Vec<Action>) {
        if self.sync.is_some() || peer as usize >= self.cfg.committee.len() || peer == self.cfg.me {
            return;
        }
        // A span of at least a full range, which is served by height
        // (`consensus::sync::serve`); a shorter one would be walked down
        // from a target hash, and a catch-up has none (found by the
        // dynasty simulator: observers asked for 63 and got nothing).
        let target_height = self
            .committed_height()
            .saturating_add(MAX_SYNC_BLOCKS as u64 + 1);
        self.sync = Some(SyncInFlight {
            target: Digest::ZERO,
            target_height,
            peer,
            attempts: 0,
            later: None,
            catch_up: true,
        });
        self.send_sync_request(out);
    }

    /// Where a range asked for starts: above the committed tip, or at the
    /// epoch's last block once that is committed here and the epoch has
    /// not ended (a node that crashed in the epoch and came back after it
    /// ended: the members serve nothing above the last block of it, and
    /// the range ending there carries the epoch's proof of end).
    fn sync_from(&self) -> Height {
        let committed = self.committed_height();
        match self.cfg.epoch_end {
            Some(end) if committed >= end.last_height => end.last_height,
            _ => committed + 1,
        }
    }

    pub(super) fn send_sync_request(&mut self, out: &mut Vec<Action>) {
        let Some(s) = &self.sync else {
            return;
        };
        self.stats.syncs_requested += 1;
        out.push(Action::Fetch {
            from: s.peer,
            request: SyncRequest {
                chain: self.cfg.chain,
                epoch: self.cfg.epoch,
                from_height: self.sync_from(),
                target: s.target,
                target_height: s.target_height,
            },
        });
        self.sync_generation += 1;
        out.push(Action::SetTimer {
            id: TimerId {
                kind: TimerKind::Sync,
                generation: self.sync_generation,
            },
            after: self.cfg.base_timeout,
        });
    }

    /// The member asked has nothing above what this node committed: a
    /// catch-up is done until the host's next tick; a sync for a target
    /// asks the next member now (the one asked is behind, or the target
    /// committed here meanwhile).
    fn nothing_served(&mut self, out: &mut Vec<Action>) {
        let committed = self.committed_height();
        match &self.sync {
            Some(s) if s.catch_up || s.target_height <= committed => self.sync = None,
            Some(_) => self.retry_sync(out),
            None => {}
        }
    }

    pub(super) fn retry_sync(&mut self, out: &mut Vec<Action>) {
        let n = self.cfg.committee.len() as u32;
        let me = self.cfg.me;
        let Some(s) = self.sync.as_mut() else {
            return;
        };
        if s.catch_up {
            // Unanswered (nothing new there): the host asks again later.
            self.sync = None;
            return;
        }
        s.attempts += 1;
        if s.attempts > 3 * n {
            self.sync = None;
            return;
        }
        s.peer = (s.peer + 1) % n;
        if s.peer == me {
            s.peer = (s.peer + 1) % n;
        }
        if let Some((target, height)) = s.later.take() {
            (s.target, s.target_height) = (target, height);
        }
        self.send_sync_request(out);
    }

    pub(super) fn handle_sync_response(
        &mut self,
        from: u32,
        resp: SyncResponse,
        out: &mut Vec<Action>,
    ) {
        // Only the member asked last may answer: anyone else's response is
        // work nobody asked this node to do. Not a fault, though: a host
        // delivers only answers to requests this node made (the bridge
        // charges a response sent as a request), so this is a late answer
        // to an earlier one, which a slow or lossy network makes common
        // (charged, it got an honest member banned in the netns test).
        let Some(sync) = self.sync.as_ref().filter(|s| s.peer == from) else {
            return;
        };
        let target = sync.target;
        if !self.in_scope(resp.chain, resp.epoch) {
            return self.unhelpful(from, "sync response for another chain or epoch", out);
        }
        let committed = self.committed_height();
        let resp_len = resp.blocks.len();
        let blocks: Vec<Arc<Block>> = resp
            .blocks
            .into_inner()
            .into_iter()
            .filter(|b| b.header.height > committed)
            .map(Arc::new)
            .collect();
        let Some(top) = blocks.last() else {
            return self.nothing_served(out);
        };
        // Hash links, heights and per-block rules.
        let Some(first_parent) = self.tree.get(&blocks[0].header.parent).cloned() else {
            return self.unhelpful(from, "sync response does not connect", out);
        };
        let mut parent = first_parent;
        let hashes_len = resp_len;
        let mut hashes = Vec::with_capacity(blocks.len());
        for b in &blocks {
            let hash = b.hash();
            let ok = b.header.parent == parent.hash()
                && parent.header.height.checked_add(1) == Some(b.header.height)
                && self.in_scope(b.header.chain, b.header.epoch)
                && check_block_rules(self.protocol(), b).is_ok()
                && b.inline_tx_root_matches() != Some(false)
                && block::state_link_valid(&b.header, &parent.header);
            if !ok {
                return self.misbehaviour(from, "sync response blocks do not chain", out);
            }
            hashes.push(hash);
            parent = b.clone();
        }
        // The top block is authenticated by a certificate: the one that made
        // us ask (for the target) or the one in the response.
        let top_hash = *hashes.last().expect("non-empty");
        let epoch_change = resp.epoch_change.filter(|ec| {
            ec.last().is_some_and(|b| b.hash() == top_hash) && self.epoch_change_valid(ec)
        });
        let top_certified = top_hash == target
            || epoch_change.is_some()
            || resp.certificate.as_ref().is_some_and(|qc| {
                qc.block == top_hash && qc.round == top.round() && self.verify_qc(qc)
            });
        if !top_certified {
            return self.unhelpful(from, "sync response is not certified", out);
        }
        self.take_certified_chain(blocks.iter().zip(hashes), out);
        if let Some(qc) = resp.certificate {
            self.process_qc(&qc, out);
        }
        if let Some(ec) = epoch_change {
            self.handle_epoch_change(from, *ec, out);
        }
        let reached = top.header.height.max(self.committed_height());
        let full = hashes_len >= MAX_SYNC_BLOCKS;
        if let Some(s) = self.sync.take_if(|s| s.catch_up) {
            // A full range may have more behind it; a short one is all.
            if full {
                self.catch_up(s.peer, out);
            }
        } else if let Some(s) = self.sync.take() {
            let next = if s.target_height > reached {
                Some((s.target, s.target_height))
            } else {
                s.later.filter(|&(_, h)| h > reached)
            };
            if let Some((target, target_height)) = next {
                let later = s.later.filter(|&(_, h)| h > target_height);
                self.sync = Some(SyncInFlight {
                    target,
                    target_height,
                    peer: from,
                    attempts: 0,
                    later,
                    catch_up: false,
                });
                self.send_sync_request(out);
            }
        }
        self.adopt_orphans(out);
        self.retry_held_epoch_change(out);
        self.try_propose(out);
    }
}
