//! The staging batch log's collector (`strata_chains::store::batch_gc`): an
//! actor per chain on a background thread that collects the log every few
//! seconds, so that batches of committed blocks leave it for the archive
//! and batches nobody wants (never proposed, flooded, duplicates) leave the
//! disk. A pass copies up to a segment per collectable segment and blocks
//! only this thread.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Recipient, WrapFuture};
use strata_chains::store::RocksStore;
use strata_chains::types::ChainId;
use strata_crypto::hash::DigestSet;

use crate::messages::mempool::HeldBatchDigests;
use crate::service::metrics::{chain_label, Metrics};

/// How often the staging log is looked at. A segment fills in tens of
/// seconds at the highest loads measured (256 MiB at ~10 MB/s), so a pass
/// rarely finds more than one segment to collect.
pub const COLLECT_EVERY: Duration = Duration::from_secs(2);

pub struct BatchLogCollector {
    chain: ChainId,
    store: RocksStore,
    /// Asks the mempool for its held batches (uncommitted, still to be
    /// proposed) before each pass: a batch held after the answer is in the
    /// newest segment, which a pass never collects.
    mempool: Recipient<HeldBatchDigests>,
    metrics: Arc<Metrics>,
    busy: bool,
}

impl BatchLogCollector {
    pub fn new(
        chain: ChainId,
        store: RocksStore,
        mempool: Recipient<HeldBatchDigests>,
        metrics: Arc<Metrics>,
    ) -> BatchLogCollector {
        BatchLogCollector {
            chain,
            store,
            mempool,
            metrics,
            busy: false,
        }
    }

    /// One pass: the mempool's held batches, then the collection (a pass
    /// at a time; none while the mempool does not answer).
    fn pass(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let ask = self.mempool.send(HeldBatchDigests);
        ctx.spawn(ask.into_actor(self).map(|held, act, _| {
            if let Ok(held) = held {
                let held: DigestSet<strata_crypto::hash::Digest> = held.into_iter().collect();
                act.collect(&held);
            }
            act.busy = false;
        }));
    }

    fn collect(&mut self, held: &DigestSet<strata_crypto::hash::Digest>) {
        let label = chain_label(self.chain);
        match self.store.collect_batch_log(&|d| held.contains(d)) {
            Ok(r) => {
                for (outcome, n) in [
                    ("archived", r.archived),
                    ("carried", r.carried),
                    ("dropped", r.dropped),
                ] {
                    self.metrics
                        .batch_log_collected
                        .with_label_values(&[label.as_str(), outcome])
                        .inc_by(n as u64);
                }
                for (log, bytes) in [("staging", r.staging_bytes), ("archive", r.archive_bytes)] {
                    self.metrics
                        .batch_log_bytes
                        .with_label_values(&[label.as_str(), log])
                        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
                }
                if r.segments > 0 {
                    tracing::debug!(
                        chain = %self.chain,
                        segments = r.segments,
                        archived = r.archived,
                        carried = r.carried,
                        dropped = r.dropped,
                        "collected the staging batch log"
                    );
                }
            }
            // The log stays as it is and the next pass tries again; reads
            // and writes do not depend on collection.
            Err(e) => tracing::warn!(chain = %self.chain, "collecting the batch log failed: {e}"),
        }
    }
}

impl Actor for BatchLogCollector {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.pass(ctx);
        ctx.run_interval(COLLECT_EVERY, |act, ctx| act.pass(ctx));
    }
}
