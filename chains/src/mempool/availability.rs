//! Payload availability: a leader's payload is references to held batches;
//! a replica's vote waits until every batch a proposal names is here and
//! its transactions match the header's root (fetching what is missing from
//! the members, one after another); the ledger executes a committed block
//! once its batches are all stored.

use super::*;
use crate::types::limits::MAX_BLOCK_BATCHES;
use crate::types::tx_root_of_hashes;

impl MempoolCore {
    pub(super) fn request_payload(&mut self, round: Round, out: &mut Vec<MempoolAction>) {
        // What is being built goes in: seal it now (answered once stored).
        self.seal(out);
        let has_new = self
            .ready
            .iter()
            .any(|r| !self.inflight.contains_key(&r.digest));
        // Uncommitted payload in flight: propose at once (even empty) so the
        // commit pipeline flushes; otherwise wait a little for transactions.
        if has_new || !self.inflight.is_empty() {
            self.waiting_payload = None;
            return self.answer_payload(round, out);
        }
        let at = self.now.saturating_add(self.cfg.max_block_interval);
        self.waiting_payload = Some((round, at));
        out.push(MempoolAction::WakeAt(at));
    }

    /// Refs for the next block: held batches not already in a proposed,
    /// uncommitted block.
    fn take_refs(&mut self, height: Height) -> Vec<BatchRef> {
        let mut refs = Vec::new();
        let mut txs = 0u64;
        for r in self.ready.iter() {
            if self.inflight.contains_key(&r.digest) {
                continue;
            }
            if refs.len() >= MAX_BLOCK_BATCHES || txs + u64::from(r.tx_count) > MAX_BLOCK_TX_COUNT {
                break;
            }
            txs += u64::from(r.tx_count);
            refs.push(*r);
        }
        for r in &refs {
            self.inflight.insert(r.digest, height);
        }
        refs
    }

    pub(super) fn answer_payload(&mut self, round: Round, out: &mut Vec<MempoolAction>) {
        let refs = self.take_refs(round.height);
        let mut hashes = Vec::new();
        for r in &refs {
            // `ready` lists only held batches.
            if let Some(h) = self.held.get(&r.digest) {
                hashes.extend_from_slice(h);
            }
        }
        let (payload, batches_tx_root) = match strata_crypto::codec::BoundedVec::new(refs) {
            Ok(refs) if !refs.is_empty() => {
                (Payload::Batches(refs), Some(tx_root_of_hashes(hashes)))
            }
            _ => (Payload::empty(), None),
        };
        out.push(MempoolAction::PayloadReady {
            round,
            payload,
            batches_tx_root,
        });
    }

    /// Batches of a proposal are in flight (not proposed again) until its
    /// height commits.
    pub(super) fn mark_inflight(&mut self, block: &Block) {
        if let Payload::Batches(refs) = &block.payload {
            for r in refs.iter() {
                self.inflight.insert(r.digest, block.header.height);
            }
        }
    }

    pub(super) fn check_payload(
        &mut self,
        view: &dyn MempoolView,
        block: Arc<Block>,
        out: &mut Vec<MempoolAction>,
    ) {
        self.mark_inflight(&block);
        if let Payload::Batches(refs) = &block.payload {
            let wanted: Vec<(Digest, u32)> = refs
                .iter()
                .filter(|r| self.is_missing(view, &r.digest))
                .map(|r| (r.digest, r.author))
                .collect();
            self.fetch(&wanted, out);
        }
        self.checks.insert(block.hash(), (block, self.now));
        self.settle(view, out);
    }

    pub(super) fn ensure(
        &mut self,
        view: &dyn MempoolView,
        id: u64,
        batches: Vec<(Digest, u32)>,
        epoch: Option<Epoch>,
        out: &mut Vec<MempoolAction>,
    ) {
        let wanted: Vec<(Digest, u32)> = batches
            .iter()
            .filter(|(d, _)| self.is_missing(view, d))
            .copied()
            .collect();
        let previous = epoch.is_some_and(|e| Some(e.saturating_add(1)) == self.seat_epoch);
        if previous {
            // The block's certifiers, the author first (positions then).
            for &(d, author) in &wanted {
                let n = self.previous_seat.len();
                let prefer: Vec<u32> = (0..n)
                    .filter_map(|k| {
                        let i = (author as usize).wrapping_add(k) % n;
                        self.previous_seat.get(i).copied().flatten()
                    })
                    .collect();
                self.fetching.entry(d).or_insert(Fetching {
                    prefer,
                    first: 0,
                    asked_at: None,
                    asked: None,
                    attempts: 0,
                });
            }
        }
        self.fetch(&wanted, out);
        self.ensures
            .push((id, batches.into_iter().map(|(d, _)| d).collect()));
        self.settle(view, out);
    }

    fn is_missing(&self, view: &dyn MempoolView, digest: &Digest) -> bool {
        !self.held.contains_key(digest) && !view.has_batch(digest)
    }

    /// Batches the pending checks and ensures still lack.
    pub(super) fn wanted(&self, view: &dyn MempoolView) -> Vec<(Digest, u32)> {
        let from_checks = self.checks.values().flat_map(|(b, _)| match &b.payload {
            Payload::Batches(refs) => refs.iter().map(|r| (r.digest, r.author)).collect(),
            Payload::Inline(_) => Vec::new(),
        });
        let from_ensures = self
            .ensures
            .iter()
            .flat_map(|(_, d)| d.iter().map(|d| (*d, 0)));
        from_checks
            .chain(from_ensures)
            .filter(|(d, _)| self.is_missing(view, d))
            .collect()
    }

    /// Asks for missing batches: the author first, then the other members
    /// and then the chain's other followers in turn, skipping peers whose
    /// fetches failed lately.
    pub(super) fn fetch(&mut self, wanted: &[(Digest, u32)], out: &mut Vec<MempoolAction>) {
        let n = self
            .cfg
            .committee_size
            .saturating_add(self.cfg.followers)
            .max(1);
        let now = self.now;
        let me = self.cfg.me;
        let mut by_peer: BTreeMap<u32, Vec<Digest>> = BTreeMap::new();
        for &(d, hint) in wanted {
            let entry = self.fetching.entry(d).or_insert(Fetching {
                prefer: Vec::new(),
                first: hint,
                asked_at: None,
                asked: None,
                attempts: 0,
            });
            if entry
                .asked_at
                .is_some_and(|at| now.saturating_sub(at) < FETCH_RETRY)
            {
                continue;
            }
            // The preferred peers in order, then every position from the
            // first one round.
            let prefer = &entry.prefer;
            let turn = |k: u32| {
                let i = entry.attempts.wrapping_add(k);
                match prefer.get(i as usize) {
                    Some(p) => *p,
                    None => {
                        let past = i.wrapping_sub(prefer.len() as u32);
                        entry.first.wrapping_add(past) % n
                    }
                }
            };
            let unreachable = &self.unreachable;
            let reachable =
                |p: u32| p != me && unreachable.get(&p).is_none_or(|until| *until <= now);
            let tries = n.saturating_add(prefer.len() as u32);
            let Some(skip) = (0..tries).find(|&k| reachable(turn(k)) && turn(k) < n) else {
                continue;
            };
            let peer = turn(skip);
            entry.asked_at = Some(now);
            entry.asked = Some(peer);
            entry.attempts = entry.attempts.wrapping_add(skip + 1);
            by_peer.entry(peer).or_default().push(d);
        }
        for (from, digests) in by_peer {
            for chunk in digests.chunks(self.cfg.max_batches_per_fetch.max(1)) {
                out.push(MempoolAction::Fetch {
                    from,
                    digests: chunk.to_vec(),
                });
            }
        }
    }

    /// `from` answered a fetch without these batches: it does not hold
    /// them (it may never have: a follower, or a member of a later epoch
    /// than the block's), so the next peer is asked at the next tick
    /// instead of after the retry interval.
    pub(super) fn not_held_by(&mut self, from: u32, answered: &[Arc<HashedBatch>]) {
        let due = self.now.saturating_sub(FETCH_RETRY);
        let got: BTreeSet<Digest> = answered.iter().map(|b| b.digest()).collect();
        for (d, f) in self.fetching.iter_mut() {
            if f.asked == Some(from) && !got.contains(d) {
                f.asked = None;
                f.asked_at = Some(f.asked_at.map_or(due, |at| at.min(due)));
            }
        }
    }

    pub(super) fn fetch_failed(&mut self, from: u32) {
        self.unreachable
            .insert(from, self.now.saturating_add(UNREACHABLE_FOR));
        // Due at the next tick, not at once: a node cut off from everyone
        // fails every fetch at once and must not spin.
        let due = self.now.saturating_sub(FETCH_RETRY);
        for f in self.fetching.values_mut() {
            f.asked_at = Some(f.asked_at.map_or(due, |at| at.min(due)));
        }
    }

    /// Answers the payload checks and ensures whose batches are here.
    pub(super) fn settle(&mut self, view: &dyn MempoolView, out: &mut Vec<MempoolAction>) {
        let mut done = Vec::new();
        for (hash, (block, started)) in &self.checks {
            let Payload::Batches(refs) = &block.payload else {
                // A form this runtime never proposes.
                done.push((*hash, PayloadVerdict::Invalid));
                continue;
            };
            if refs.iter().all(|r| !self.is_missing(view, &r.digest)) {
                let verdict = if self.root_matches(view, block) {
                    PayloadVerdict::Valid
                } else {
                    PayloadVerdict::Invalid
                };
                done.push((*hash, verdict));
            } else if self.now.saturating_sub(*started) > CHECK_DEADLINE {
                done.push((*hash, PayloadVerdict::Unavailable));
            }
        }
        for (block, verdict) in done {
            self.checks.remove(&block);
            out.push(MempoolAction::PayloadChecked { block, verdict });
        }
        let ensures = std::mem::take(&mut self.ensures);
        for (id, digests) in ensures {
            if digests.iter().all(|d| !self.is_missing(view, d)) {
                out.push(MempoolAction::Ensured { id });
            } else {
                self.ensures.push((id, digests));
            }
        }
        self.fetching
            .retain(|d, _| !self.held.contains_key(d) && !view.has_batch(d));
    }

    /// Whether the batches' transactions (in order) have the header's root
    /// and each batch the count its reference states.
    fn root_matches(&self, view: &dyn MempoolView, block: &Block) -> bool {
        let Payload::Batches(refs) = &block.payload else {
            return true;
        };
        let mut hashes = Vec::new();
        for r in refs.iter() {
            // A batch committed earlier is no longer held: read its hashes.
            let batch: Option<Vec<Digest>> = match self.held.get(&r.digest) {
                Some(h) => Some(h.to_vec()),
                None => view.batch_tx_hashes(&r.digest),
            };
            match batch {
                Some(h) if h.len() == r.tx_count as usize => hashes.extend(h),
                _ => return false,
            }
        }
        tx_root_of_hashes(hashes) == block.header.tx_root
    }

    /// A block committed: its batches leave the pool, their records stop
    /// being pending, and batches proposed at or below its height that did
    /// not commit (an abandoned fork) may be proposed again.
    pub(super) fn committed(
        &mut self,
        height: Height,
        batches: &[Digest],
        out: &mut Vec<MempoolAction>,
    ) {
        let done: BTreeSet<Digest> = batches.iter().copied().collect();
        for d in &done {
            self.inflight.remove(d);
            self.release_quota(d);
            if let Some(txs) = self.held.remove(d) {
                for t in txs.iter() {
                    self.forget_tx(t);
                }
            }
        }
        let me = self.cfg.me;
        let own: Vec<Digest> = self
            .ready
            .iter()
            .filter(|r| r.author == me && done.contains(&r.digest))
            .map(|r| r.digest)
            .collect();
        if !own.is_empty() {
            out.push(MempoolAction::ForgetUnconfirmed(own));
        }
        self.ready.retain(|r| !done.contains(&r.digest));
        self.inflight.retain(|_, h| *h > height);
    }
}
