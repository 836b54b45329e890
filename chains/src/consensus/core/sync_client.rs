//! The sync client: fetching a missing ancestor range from one member at a
//! time (one request in flight, the next member on failure), and taking in
//! the certified blocks that come back.

use super::*;

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
        if let Some(s) = self.sync.as_mut() {
            let known = s
                .later
                .map_or(s.target_height, |(_, h)| h.max(s.target_height));
            if target_height > known {
                s.later = Some((target, target_height));
            }
            return;
        }
        self.sync = Some(SyncInFlight {
            target,
            target_height,
            peer,
            attempts: 0,
            later: None,
        });
        self.send_sync_request(out);
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
                from_height: self.committed_height() + 1,
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

    pub(super) fn retry_sync(&mut self, out: &mut Vec<Action>) {
        let n = self.cfg.committee.len() as u32;
        let me = self.cfg.me;
        let Some(s) = self.sync.as_mut() else {
            return;
        };
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
        // work nobody asked this node to do.
        let Some(sync) = self.sync.as_ref().filter(|s| s.peer == from) else {
            return self.unhelpful(from, "unsolicited sync response", out);
        };
        let target = sync.target;
        if !self.in_scope(resp.chain, resp.epoch) {
            return self.unhelpful(from, "sync response for another chain or epoch", out);
        }
        let committed = self.committed_height();
        let blocks: Vec<Arc<Block>> = resp
            .blocks
            .into_inner()
            .into_iter()
            .filter(|b| b.header.height > committed)
            .map(Arc::new)
            .collect();
        let Some(top) = blocks.last() else {
            return;
        };
        // Hash links, heights and per-block rules.
        let Some(first_parent) = self.tree.get(&blocks[0].header.parent).cloned() else {
            return self.unhelpful(from, "sync response does not connect", out);
        };
        let mut parent = first_parent;
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
        let top_certified = top_hash == target
            || resp.certificate.as_ref().is_some_and(|qc| {
                qc.block == top_hash && qc.round == top.round() && self.verify_qc(qc)
            });
        if !top_certified {
            return self.unhelpful(from, "sync response is not certified", out);
        }
        // Everything below is authenticated by the hash links: its embedded
        // certificates were checked by the honest voters of each child.
        for (b, hash) in blocks.iter().zip(hashes) {
            self.observe_proposal(&b.proposal_statement(), out);
            if self.tree.insert(b.clone(), hash).unwrap_or(false) {
                out.push(Action::StoreBlock(b.clone()));
                self.certified_arrived(b, hash, out);
            }
            let j = b.header.justify.clone();
            self.verified.insert(j.id());
            self.process_qc(&j, out);
        }
        if let Some(qc) = resp.certificate {
            self.process_qc(&qc, out);
        }
        let reached = top.header.height.max(self.committed_height());
        if let Some(s) = self.sync.take() {
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
                });
                self.send_sync_request(out);
            }
        }
        self.adopt_orphans(out);
        self.try_propose(out);
    }
}
