//! Payload availability: what the mempool answers the committee actor. A
//! leader's payload is references to held batches (`RequestPayload`); a
//! replica votes only once every batch a proposal names is here and its
//! transactions match the header's root (`CheckPayload`, fetching what is
//! missing from the members, one after another); the ledger executes only
//! once every batch of a committed block is stored (`EnsureBatches`); and
//! this node serves its batches to members that fetch them.

use super::*;

impl Mempool {
    /// Refs for the next block: held batches not already in a proposed,
    /// uncommitted block.
    pub(super) fn take_refs(&mut self, height: Height) -> Vec<BatchRef> {
        let mut refs = Vec::new();
        let mut txs = 0u64;
        for r in self.ready.iter() {
            if self.inflight.contains_key(&r.digest) {
                continue;
            }
            if refs.len() >= MAX_BLOCK_BATCHES || txs + r.tx_count as u64 > MAX_BLOCK_TX_COUNT {
                break;
            }
            txs += r.tx_count as u64;
            refs.push(*r);
        }
        for r in &refs {
            self.inflight.insert(r.digest, height);
        }
        refs
    }

    pub(super) fn answer_payload(&mut self, round: Round) {
        let refs = self.take_refs(round.height);
        if tracing::enabled!(tracing::Level::TRACE) {
            let listed: Vec<String> = refs.iter().map(|r| r.digest.short()).collect();
            tracing::trace!(height = round.height, batches = ?listed, "payload");
        }
        let (payload, root) = if refs.is_empty() {
            (Payload::empty(), None)
        } else {
            // `ready` lists only held batches, with their counts.
            let Some(Ok(hashes)) = self.held.payload_hashes(&refs) else {
                tracing::error!("a ready batch is not held; proposing an empty block");
                for r in &refs {
                    self.inflight.remove(&r.digest);
                }
                self.ready.retain(|r| self.held.contains(&r.digest));
                return self.send_payload(round, Payload::empty(), None);
            };
            (
                Payload::Batches(BoundedVec::new(refs).expect("capped at the block limit")),
                Some(tx_root_of_hashes(hashes)),
            )
        };
        self.send_payload(round, payload, root);
    }

    pub(super) fn send_payload(
        &self,
        round: Round,
        payload: Payload,
        batches_tx_root: Option<Digest>,
    ) {
        if let Some(chain) = &self.chain_actor {
            chain.do_send(PayloadReady {
                round,
                payload,
                batches_tx_root,
            });
        }
    }

    pub(super) fn missing(&self, digests: &[Digest]) -> Vec<Digest> {
        digests
            .iter()
            .filter(|d| !self.held.contains(d) && !matches!(self.store.has_batch(d), Ok(true)))
            .copied()
            .collect()
    }

    /// Asks for missing batches (the author first, then others in turn).
    pub(super) fn fetch(&mut self, wanted: &[(Digest, u32)]) {
        let Some(bridge) = self.bridge.clone() else {
            return;
        };
        let mut by_peer: HashMap<u32, Vec<Digest>> = HashMap::new();
        let now = Instant::now();
        for &(d, hint) in wanted {
            let entry = self
                .fetching
                .entry(d)
                .or_insert((hint, now - FETCH_RETRY, 0));
            if now.duration_since(entry.1) < FETCH_RETRY {
                continue;
            }
            // The next member in turn that is not this node and has not
            // failed a fetch lately (any, if all have).
            let n = self.committee_size.max(1);
            let turn = |k: u32| entry.0.wrapping_add(entry.2).wrapping_add(k) % n;
            let reachable =
                |p: u32| p != self.me && self.unreachable.get(&p).is_none_or(|until| *until <= now);
            let Some(skip) = (0..n).find(|&k| reachable(turn(k))) else {
                continue;
            };
            let peer = turn(skip);
            entry.1 = now;
            entry.2 = entry.2.wrapping_add(skip + 1);
            by_peer.entry(peer).or_default().push(d);
        }
        for (peer, digests) in by_peer {
            for chunk in digests.chunks(MAX_BATCHES_PER_EXCHANGE) {
                let wire = Wire::BatchRequest {
                    chain: self.chain,
                    digests: BoundedVec::new(chunk.to_vec()).expect("chunked"),
                };
                bridge.do_send(SendWire::new(self.chain, peer, &wire));
            }
        }
    }

    /// Answers the payload checks and commit waits whose batches are here.
    pub(super) fn settle_waiters(&mut self, _ctx: &mut Context<Self>) {
        let now = Instant::now();
        let mut done = Vec::new();
        for (hash, (block, started)) in &self.checks {
            let Payload::Batches(refs) = &block.payload else {
                // A form this runtime never proposes.
                done.push((*hash, PayloadVerdict::Invalid));
                continue;
            };
            let digests: Vec<Digest> = refs.iter().map(|r| r.digest).collect();
            if self.missing(&digests).is_empty() {
                let verdict = if self.root_matches(block) {
                    PayloadVerdict::Valid
                } else {
                    PayloadVerdict::Invalid
                };
                done.push((*hash, verdict));
            } else if now.duration_since(*started) > CHECK_DEADLINE {
                done.push((*hash, PayloadVerdict::Unavailable));
            }
        }
        for (hash, verdict) in done {
            self.checks.remove(&hash);
            if let Some(chain) = &self.chain_actor {
                chain.do_send(PayloadChecked {
                    block: hash,
                    verdict,
                });
            }
        }
        let ensures = std::mem::take(&mut self.ensures);
        for (digests, reply) in ensures {
            if self.missing(&digests).is_empty() {
                let _ = reply.send(());
            } else {
                self.ensures.push((digests, reply));
            }
        }
    }

    pub(super) fn root_matches(&self, block: &Block) -> bool {
        let Payload::Batches(refs) = &block.payload else {
            return true;
        };
        // A batch committed earlier is no longer held: read it from the store.
        let mut hashes = Vec::new();
        for r in refs.iter() {
            match self.held.get(&r.digest) {
                Some(h) if h.len() == r.tx_count as usize => hashes.extend_from_slice(&h),
                Some(_) => return false,
                None => match self.store.batch(&r.digest) {
                    Ok(Some(b)) if b.reference() == *r => hashes.extend_from_slice(b.tx_hashes()),
                    _ => return false,
                },
            }
        }
        tx_root_of_hashes(hashes) == block.header.tx_root
    }
}

impl Handler<FetchedBatches> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: FetchedBatches, ctx: &mut Context<Self>) {
        for b in msg.batches {
            let b = b.hashed();
            if self.fetching.contains_key(&b.digest()) {
                self.accept_peer_batch(msg.from, b, true, ctx);
            }
            // Else a second member's late answer to a fetch retried there:
            // answers come only to this node's own requests, so nothing to
            // charge.
        }
    }
}

impl Handler<FetchFailed> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: FetchFailed, _: &mut Context<Self>) {
        let now = Instant::now();
        self.unreachable.insert(msg.from, now + UNREACHABLE_FOR);
        // Due at the next tick (every 250 ms), not at once: a node cut off
        // from everyone fails every fetch at once, and must not spin.
        let due = Instant::now().checked_sub(FETCH_RETRY);
        for entry in self.fetching.values_mut() {
            if let Some(due) = due {
                entry.1 = entry.1.min(due);
            }
        }
    }
}

impl Handler<ServeBatches> for Mempool {
    type Result = Vec<Batch>;
    fn handle(&mut self, msg: ServeBatches, _: &mut Context<Self>) -> Vec<Batch> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for d in msg.0 {
            if let Ok(Some(b)) = self.store.batch(&d) {
                bytes += parity_scale_codec::Encode::encoded_size(b.batch());
                if bytes > BATCH_RESPONSE_BUDGET && !out.is_empty() {
                    break;
                }
                out.push(b.into_batch());
            }
        }
        out
    }
}

impl Handler<RequestPayload> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: RequestPayload, ctx: &mut Context<Self>) {
        if let Some((_, t)) = self.waiting_payload.take() {
            ctx.cancel_future(t);
        }
        // Include what is being built: seal it now.
        self.seal(ctx);
        let has_new = self
            .ready
            .iter()
            .any(|r| !self.inflight.contains_key(&r.digest));
        // Uncommitted payload in flight: propose at once (even empty) so the
        // commit pipeline flushes; otherwise wait a little for transactions.
        if has_new || !self.inflight.is_empty() {
            self.answer_payload(msg.round);
            return;
        }
        let wait = Duration::from_millis(self.params.max_block_interval_ms);
        let round = msg.round;
        let timer = ctx.run_later(wait, move |act, _| {
            if act
                .waiting_payload
                .as_ref()
                .is_some_and(|(r, _)| *r == round)
            {
                act.waiting_payload = None;
                act.answer_payload(round);
            }
        });
        self.waiting_payload = Some((round, timer));
    }
}

impl Handler<CheckPayload> for Mempool {
    type Result = ();
    fn handle(&mut self, msg: CheckPayload, ctx: &mut Context<Self>) {
        let block = msg.block;
        if msg.answered {
            if let Payload::Batches(refs) = &block.payload {
                for r in refs.iter() {
                    self.inflight.insert(r.digest, block.header.height);
                }
            }
            return;
        }
        if let Payload::Batches(refs) = &block.payload {
            let wanted: Vec<(Digest, u32)> = refs
                .iter()
                .filter(|r| self.missing(&[r.digest]).len() == 1)
                .map(|r| (r.digest, r.author))
                .collect();
            for r in refs.iter() {
                self.inflight.insert(r.digest, block.header.height);
            }
            self.fetch(&wanted);
        }
        self.checks.insert(block.hash(), (block, Instant::now()));
        self.settle_waiters(ctx);
    }
}

impl Handler<EnsureBatches> for Mempool {
    type Result = ResponseFuture<Result<(), ()>>;
    fn handle(&mut self, msg: EnsureBatches, _: &mut Context<Self>) -> Self::Result {
        let digests: Vec<Digest> = msg.0.iter().map(|(d, _)| *d).collect();
        let (tx, rx) = oneshot::channel();
        if self.missing(&digests).is_empty() {
            let _ = tx.send(());
        } else {
            let wanted: Vec<(Digest, u32)> = msg
                .0
                .into_iter()
                .filter(|(d, _)| self.missing(&[*d]).len() == 1)
                .collect();
            self.fetch(&wanted);
            self.ensures.push((digests, tx));
        }
        Box::pin(async move { rx.await.map_err(|_| ()) })
    }
}
