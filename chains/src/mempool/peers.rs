//! Batches other members push or send when fetched: attributed to their
//! author, bounded per author (`AUTHOR_QUOTA_*`) before any verification,
//! verified by the host, refused ones remembered and charged.

use super::*;

impl MempoolCore {
    /// A peer's batch: checks before the signature check, then asks the
    /// host to verify it. `fetched`: asked for because a block references
    /// it (not counted against the author's quota).
    pub(super) fn peer_batch(
        &mut self,
        view: &dyn MempoolView,
        from: u32,
        batch: Arc<HashedBatch>,
        fetched: bool,
        out: &mut Vec<MempoolAction>,
    ) {
        if batch.batch().chain != self.cfg.chain {
            return self.penalize(from, Fault::Invalid, "batch for another chain", out);
        }
        let digest = batch.digest();
        if self.refused.contains(&digest) {
            return self.penalize(from, Fault::Invalid, "batch refused before", out);
        }
        if self.held.contains_key(&digest) || self.verifying.contains(&digest) {
            return;
        }
        if view.batch_executed(&digest) {
            self.fetching.remove(&digest);
            return;
        }
        let txs = &batch.batch().transactions;
        let kinds_ok = txs.iter().all(|t| match self.cfg.payload {
            PayloadKind::Opaque => matches!(t, Transaction::Opaque(_)),
            PayloadKind::Signed => match t {
                Transaction::Provenance(p) => p.record.network == self.cfg.network,
                Transaction::Linked(l) => l.record.record.network == self.cfg.network,
                Transaction::System(s) => {
                    self.takes_system(s)
                        && parity_scale_codec::Encode::encoded_size(t) <= MAX_ANCHOR_BYTES
                }
                Transaction::Opaque(_) => false,
            },
        }) && txs.iter().map(pairings).sum::<usize>() <= MAX_PAIRINGS_PER_BATCH;
        if !kinds_ok {
            self.refuse(digest);
            return self.penalize(
                from,
                Fault::Invalid,
                "batch with records of the wrong kind or network",
                out,
            );
        }
        if !fetched {
            let bytes = parity_scale_codec::Encode::encoded_size(batch.batch());
            if !self.take_quota(batch.batch().author, digest, bytes) {
                out.push(MempoolAction::Dropped {
                    reason: "batch over the author quota",
                });
                return;
            }
        }
        self.verifying.insert(digest);
        match self.cfg.payload {
            PayloadKind::Opaque => self.verified(view, from, batch, true, out),
            PayloadKind::Signed => out.push(MempoolAction::Verify { from, batch }),
        }
    }

    /// The host's verdict on a peer batch's signatures.
    pub(super) fn verified(
        &mut self,
        view: &dyn MempoolView,
        from: u32,
        batch: Arc<HashedBatch>,
        valid: bool,
        out: &mut Vec<MempoolAction>,
    ) {
        let digest = batch.digest();
        if !self.verifying.remove(&digest) {
            return;
        }
        if !valid {
            self.release_quota(&digest);
            self.refuse(digest);
            return self.penalize(from, Fault::Invalid, "batch with invalid signatures", out);
        }
        out.push(MempoolAction::StorePeer(batch.clone()));
        self.hold(view, &batch, out);
    }

    fn refuse(&mut self, digest: Digest) {
        if self.refused.insert(digest) {
            self.refused_order.push_back(digest);
        }
        while self.refused_order.len() > REFUSED_REMEMBERED {
            if let Some(old) = self.refused_order.pop_front() {
                self.refused.remove(&old);
            }
        }
    }

    /// Counts a pushed batch against its author's quota; false if it has
    /// no room left.
    fn take_quota(&mut self, author: u32, digest: Digest, bytes: usize) -> bool {
        if self.charged.contains_key(&digest) {
            return false;
        }
        let load = self.author_load.entry(author).or_default();
        if load.batches >= AUTHOR_QUOTA_BATCHES
            || load.bytes.saturating_add(bytes) > AUTHOR_QUOTA_BYTES
        {
            return false;
        }
        load.batches += 1;
        load.bytes = load.bytes.saturating_add(bytes);
        self.charged.insert(digest, (author, bytes));
        true
    }

    /// A batch counted against its author's quota committed or failed.
    pub(super) fn release_quota(&mut self, digest: &Digest) {
        let Some((author, bytes)) = self.charged.remove(digest) else {
            return;
        };
        if let Some(load) = self.author_load.get_mut(&author) {
            load.batches = load.batches.saturating_sub(1);
            load.bytes = load.bytes.saturating_sub(bytes);
            if load.batches == 0 {
                self.author_load.remove(&author);
            }
        }
    }
}
