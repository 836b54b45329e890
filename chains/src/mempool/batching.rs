//! This node's batches: client transactions (verified by the host) into
//! the batch being built, sealed at its size, its delay or a leader's
//! request; stored (the records' acknowledgement waits for it), pushed to
//! every member, pushed again while uncommitted.

use super::*;
use crate::types::limits::MAX_BATCH_TXS;

impl MempoolCore {
    /// Client transactions whose signatures the host verified (each with
    /// its hash), added to the batch being built. One verdict per
    /// transaction: another submission may have added the same record or
    /// spent the same nonce while these were verified.
    pub fn admit(
        &mut self,
        now: Micros,
        txs: Vec<(Transaction, Digest)>,
    ) -> (Vec<Result<(), TxRefusal>>, Vec<MempoolAction>) {
        self.now = self.now.max(now);
        let mut out = Vec::new();
        let mut verdicts = Vec::with_capacity(txs.len());
        for (tx, hash) in txs {
            if self.pending_txs.contains(&hash) {
                verdicts.push(Err(TxRefusal::Duplicate));
                continue;
            }
            if let Some(p) = tx.provenance() {
                let key = (p.record.sender.to_bytes(), p.record.nonce);
                if !self.nonce_set.insert(key) {
                    verdicts.push(Err(TxRefusal::ReplayedNonce));
                    continue;
                }
                self.pending_nonces.insert(hash, key);
            }
            self.pending_txs.insert(hash);
            // The exact size: SCALE's `size_hint` counts a vector of records
            // by its elements' in-memory size and misses their padding.
            self.building_bytes += parity_scale_codec::Encode::encoded_size(&tx);
            self.building.push(tx);
            self.building_hashes.push(hash);
            verdicts.push(Ok(()));
            if self.building_bytes >= self.cfg.max_batch_bytes
                || self.building.len() >= MAX_BATCH_TXS
            {
                self.seal(&mut out);
            } else if self.seal_at.is_none() {
                let at = self.now.saturating_add(self.cfg.max_batch_delay);
                self.seal_at = Some(at);
                out.push(MempoolAction::WakeAt(at));
            }
        }
        if self.building_bytes >= EARLY_SEAL_BYTES {
            self.seal(&mut out);
        }
        (verdicts, out)
    }

    /// Seals the batch being built and asks the host to store it.
    pub(super) fn seal(&mut self, out: &mut Vec<MempoolAction>) {
        self.seal_at = None;
        if self.building.is_empty() {
            return;
        }
        self.sequence += 1;
        let txs = std::mem::take(&mut self.building);
        let hashes = std::mem::take(&mut self.building_hashes);
        self.building_bytes = 0;
        let Ok(transactions) = strata_crypto::codec::BoundedVec::new(txs) else {
            return; // sealed at the batch limit: cannot happen
        };
        let batch = Batch {
            chain: self.cfg.chain,
            author: self.cfg.me,
            sequence: self.sequence,
            transactions,
        };
        let batch = Arc::new(HashedBatch::from_parts(batch, hashes));
        self.storing.insert(batch.digest(), batch.clone());
        out.push(MempoolAction::StoreOwn(batch));
    }

    /// The host stored (or failed to store) a sealed batch: push and hold
    /// it, or forget its records (their submissions are refused).
    pub(super) fn own_stored(
        &mut self,
        view: &dyn MempoolView,
        digest: Digest,
        stored: bool,
        out: &mut Vec<MempoolAction>,
    ) {
        let Some(batch) = self.storing.remove(&digest) else {
            return;
        };
        if !stored {
            for h in batch.tx_hashes() {
                self.forget_tx(h);
            }
            return;
        }
        let author = batch.batch().author;
        if self.orphaned(author) {
            out.push(MempoolAction::Forward { digest, attempt: 0 });
        } else {
            out.push(MempoolAction::Push(batch.clone()));
        }
        self.unconfirmed.push_back(Unconfirmed {
            digest,
            at: self.now,
            author,
            attempts: 1,
            orphaned: self.orphaned(author),
        });
        self.hold(view, &batch, out);
    }

    pub(super) fn forget_tx(&mut self, hash: &Digest) {
        self.pending_txs.remove(hash);
        if let Some(key) = self.pending_nonces.remove(hash) {
            self.nonce_set.remove(&key);
        }
    }

    /// Pushes again this node's batches that have not committed
    /// `REPUSH_AFTER` after their last push, a few at a time: a push can be
    /// lost (a full queue, a member down or refusing this node for a
    /// while), and only a leader holding a batch proposes it.
    pub(super) fn repush(&mut self, view: &dyn MempoolView, out: &mut Vec<MempoolAction>) {
        let mut pushed = 0;
        while pushed < REPUSH_PER_TICK {
            let Some(&u) = self.unconfirmed.front() else {
                break;
            };
            if self.now.saturating_sub(u.at) < REPUSH_AFTER {
                break;
            }
            self.unconfirmed.pop_front();
            if !self.held.contains_key(&u.digest) {
                continue; // committed meanwhile
            }
            if u.orphaned || self.orphaned(u.author) {
                if self.executed_elsewhere(view, &u.digest) {
                    // Its records committed in members' batches.
                    self.release_own(&u.digest, out);
                    continue;
                }
                if self.cfg.me < self.cfg.committee_size {
                    // A member now: its records go into a batch of its
                    // seat (the host admits them again once released).
                    self.release_own(&u.digest, out);
                    out.push(MempoolAction::Rebatch(u.digest));
                    continue;
                }
                out.push(MempoolAction::Forward {
                    digest: u.digest,
                    attempt: u.attempts,
                });
            } else {
                out.push(MempoolAction::Repush(u.digest));
            }
            pushed += 1;
            self.unconfirmed.push_back(Unconfirmed {
                at: self.now,
                attempts: u.attempts.saturating_add(1),
                orphaned: u.orphaned || self.orphaned(u.author),
                ..u
            });
        }
    }

    /// Whether a batch of this node's cannot go to the members as it is:
    /// this node is in no committee now, or it made the batch in another
    /// seat (members place its pushes by its position now: across an
    /// epoch boundary the batch's author position is someone else's). Its
    /// records go to a member to batch instead (issue 26: records in the
    /// mempool at a boundary are carried over).
    pub(crate) fn orphaned(&self, author: u32) -> bool {
        author != self.cfg.me || self.cfg.me >= self.cfg.committee_size
    }

    /// Whether every transaction of a held batch of this node's has
    /// committed, whichever batch carried it: a committed block lists it
    /// (executed or refused there), or, for a record, its nonce is spent.
    /// A system transaction has no nonce: only the chain's index says it
    /// committed, and until it does the batch is handed on again (a
    /// forward lost in a full lane must not lose an answered `accepted`).
    fn executed_elsewhere(&self, view: &dyn MempoolView, digest: &Digest) -> bool {
        let Some(hashes) = self.held.get(digest) else {
            return true;
        };
        hashes.iter().all(|h| {
            view.tx_committed(h)
                || matches!(self.pending_nonces.get(h),
                    Some((sender, nonce)) if view.nonce_used(sender, *nonce))
        })
    }

    /// Forgets an orphaned batch of this node's whose records executed.
    fn release_own(&mut self, digest: &Digest, out: &mut Vec<MempoolAction>) {
        self.ready.retain(|r| r.digest != *digest);
        if let Some(hashes) = self.held.remove(digest) {
            for h in hashes.iter() {
                self.forget_tx(h);
            }
        }
        out.push(MempoolAction::ForgetUnconfirmed(vec![*digest]));
    }

    /// After a restart: this node's batches that had not committed are
    /// held, proposed and pushed again (their records were answered
    /// `accepted`).
    pub(super) fn recovered(
        &mut self,
        view: &dyn MempoolView,
        batches: Vec<Arc<HashedBatch>>,
        out: &mut Vec<MempoolAction>,
    ) {
        for batch in batches {
            if view.batch_executed(&batch.digest()) {
                out.push(MempoolAction::ForgetUnconfirmed(vec![batch.digest()]));
                continue;
            }
            for tx in batch.batch().transactions.iter() {
                if let Some(p) = tx.provenance() {
                    let key = (p.record.sender.to_bytes(), p.record.nonce);
                    self.nonce_set.insert(key);
                    self.pending_nonces.insert(tx.hash(), key);
                }
            }
            self.pending_txs.extend(batch.tx_hashes().iter().copied());
            self.sequence = self.sequence.max(batch.batch().sequence);
            // Due for a push at once.
            let due = self.now.saturating_sub(REPUSH_AFTER);
            let author = batch.batch().author;
            self.unconfirmed.push_back(Unconfirmed {
                digest: batch.digest(),
                at: due,
                author,
                attempts: 0,
                orphaned: self.orphaned(author),
            });
            self.hold(view, &batch, out);
        }
    }
}
