//! Transaction signature checks, off the event loop: a worker thread batch
//! verifies sr25519 signatures (one multi-scalar multiplication per batch,
//! bisection only when a batch fails).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use prometheus::Histogram;
use strata_chains::types::Transaction;
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::{
    verify_batch_cached, BatchItem, KeyCache, TxPublicKey, TxSigError, TxSignature,
};
use tokio::sync::oneshot;

/// At most this many signatures go into one multi-scalar multiplication.
const MAX_COALESCED: usize = 4096;
/// Decompressed sender keys kept by the verifier thread (about 200 bytes
/// each).
const KEY_CACHE: usize = 16_384;

/// What checking one transaction's signature needs: the thread gets these,
/// built on the caller's thread from borrowed transactions, rather than
/// copies of whole transactions (a deep clone and a free per record).
enum SignatureCheck {
    /// The signature, and whether the rest of the transaction holds (a
    /// linked record's parent receipts, judged by the node's
    /// [`SystemCheck`]).
    Sr25519(Digest, TxPublicKey, TxSignature, bool),
    /// Judged on the caller's thread: a system transaction by the node's
    /// [`SystemCheck`], or a kind that is never valid here.
    Decided(bool),
}

/// How a node judges what its mempools take beyond signatures: anchors
/// (their certificate and proofs, `execution::check_certified`), linked
/// records' parent receipts and dynasty transactions. Rare, so run on the
/// submitting thread. The flag says whether the transaction came in a
/// peer's batch (`PeerBatch`) rather than from a client or this node.
/// A refusal says why, as the chain's rule does.
pub type SystemCheck = Arc<dyn Fn(&Transaction, Origin) -> Result<(), String> + Send + Sync>;

/// Where a transaction under check came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client, or this node's own dynasty participant.
    Submitted,
    /// A member's batch.
    PeerBatch,
}

fn signature_check(
    tx: &Transaction,
    system: Option<&SystemCheck>,
    origin: Origin,
) -> SignatureCheck {
    match tx {
        Transaction::Provenance(p) => SignatureCheck::Sr25519(
            p.record.signing_digest(),
            p.record.sender,
            p.signature,
            true,
        ),
        Transaction::Linked(l) => SignatureCheck::Sr25519(
            l.record.record.signing_digest(),
            l.record.record.sender,
            l.record.signature,
            system.is_some_and(|check| check(tx, origin).is_ok()),
        ),
        Transaction::System(_) => {
            SignatureCheck::Decided(system.is_some_and(|check| check(tx, origin).is_ok()))
        }
        Transaction::Opaque(_) => SignatureCheck::Decided(false),
    }
}

struct Job {
    txs: Vec<SignatureCheck>,
    /// Peers' batches go first: votes wait for them, clients can wait.
    urgent: bool,
    reply: oneshot::Sender<Vec<bool>>,
}

/// Jobs received and not yet checked, urgent ones apart.
#[derive(Default)]
struct Waiting {
    urgent: VecDeque<Job>,
    normal: VecDeque<Job>,
}

impl Waiting {
    fn push(&mut self, job: Job) {
        if job.urgent {
            self.urgent.push_back(job)
        } else {
            self.normal.push_back(job)
        }
    }

    fn is_empty(&self) -> bool {
        self.urgent.is_empty() && self.normal.is_empty()
    }

    /// The next batch: urgent jobs first, then others, up to `max`
    /// signatures (at least one job, whatever its size).
    fn take(&mut self, max: usize) -> Vec<Job> {
        let mut batch = Vec::new();
        let mut count = 0;
        for queue in [&mut self.urgent, &mut self.normal] {
            while let Some(job) = queue.front() {
                if !batch.is_empty() && count + job.txs.len() > max {
                    return batch;
                }
                count += job.txs.len();
                batch.extend(queue.pop_front());
            }
        }
        batch
    }
}

/// The handle of the verifier thread. Requests that queue up while a batch
/// is being checked are verified together: per-signature cost falls with
/// the batch size (one multi-scalar multiplication for all), so the
/// verifier gets cheaper exactly when it is busiest.
#[derive(Clone)]
pub struct Verifier {
    jobs: mpsc::Sender<Job>,
    /// Signatures queued or being checked.
    backlog: Arc<AtomicUsize>,
    /// Measured cost of one signature in the latest batches, nanoseconds
    /// (a moving average).
    ns_per_signature: Arc<AtomicU64>,
    system: Option<SystemCheck>,
}

/// The cost per signature assumed before any batch is measured.
const FIRST_NS_PER_SIGNATURE: u64 = 40_000;

impl Verifier {
    /// Starts the thread; it ends when the last handle is dropped. Each
    /// batch's size is observed in `batch_sizes`.
    pub fn start(batch_sizes: Histogram) -> std::io::Result<Verifier> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let backlog = Arc::new(AtomicUsize::new(0));
        let done = backlog.clone();
        let ns_per_signature = Arc::new(AtomicU64::new(FIRST_NS_PER_SIGNATURE));
        let cost = ns_per_signature.clone();
        std::thread::Builder::new()
            .name("strata-verifier".into())
            .spawn(move || {
                let mut keys = KeyCache::new(KEY_CACHE);
                let mut waiting = Waiting::default();
                loop {
                    if waiting.is_empty() {
                        match queue.recv() {
                            Ok(job) => waiting.push(job),
                            Err(_) => break,
                        }
                    }
                    while let Ok(job) = queue.try_recv() {
                        waiting.push(job);
                    }
                    let batch = waiting.take(MAX_COALESCED);
                    let mut all = Vec::new();
                    let mut replies = Vec::with_capacity(batch.len());
                    for job in batch {
                        replies.push((job.txs.len(), job.reply));
                        all.extend(job.txs);
                    }
                    batch_sizes.observe(all.len() as f64);
                    let started = Instant::now();
                    let mut verdicts = verify_checks(&all, &mut keys).into_iter();
                    if let Some(per) = u64::try_from(started.elapsed().as_nanos())
                        .ok()
                        .and_then(|ns| ns.checked_div(all.len() as u64))
                    {
                        // A moving average weighted 1/4 to the newest.
                        let old = cost.load(Ordering::Relaxed);
                        cost.store((old * 3 + per) / 4, Ordering::Relaxed);
                    }
                    done.fetch_sub(all.len(), Ordering::Relaxed);
                    for (len, reply) in replies {
                        let _ = reply.send(verdicts.by_ref().take(len).collect());
                    }
                }
            })?;
        Ok(Verifier {
            jobs,
            backlog,
            ns_per_signature,
            system: None,
        })
    }

    /// The same verifier, judging system transactions with `check`.
    pub fn with_system_check(mut self, check: SystemCheck) -> Verifier {
        self.system = Some(check);
        self
    }

    /// The node's rule for a submitted system transaction, with its
    /// reason: judged on the caller's thread, before (and instead of) the
    /// verifier thread, so a refusal reaches the client and the log as the
    /// rule says it, not as a bad signature.
    pub fn judge_system(&self, tx: &Transaction) -> Result<(), String> {
        match &self.system {
            Some(check) => check(tx, Origin::Submitted),
            None => Err("this node takes no system transactions".into()),
        }
    }

    /// How long the signatures queued now take to check, at the measured
    /// cost per signature.
    pub fn backlog_time(&self) -> Duration {
        let ns =
            (self.backlog() as u64).saturating_mul(self.ns_per_signature.load(Ordering::Relaxed));
        Duration::from_nanos(ns)
    }

    /// Signatures waiting for or in a check: the mempool refuses new client
    /// transactions while this is high (peers' batches are always checked).
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Checks the signatures of `txs`; the answer says, per transaction,
    /// whether it is a validly signed provenance record (an error if the
    /// verifier has stopped).
    pub fn check<'a>(
        &self,
        txs: impl IntoIterator<Item = &'a Transaction>,
    ) -> oneshot::Receiver<Vec<bool>> {
        self.submit(txs, false)
    }

    /// `check` ahead of every client check: a peer's batch, which a
    /// proposal may be waiting for.
    pub fn check_urgent<'a>(
        &self,
        txs: impl IntoIterator<Item = &'a Transaction>,
    ) -> oneshot::Receiver<Vec<bool>> {
        self.submit(txs, true)
    }

    fn submit<'a>(
        &self,
        txs: impl IntoIterator<Item = &'a Transaction>,
        urgent: bool,
    ) -> oneshot::Receiver<Vec<bool>> {
        let txs: Vec<SignatureCheck> = txs
            .into_iter()
            .map(|t| {
                let origin = if urgent {
                    Origin::PeerBatch
                } else {
                    Origin::Submitted
                };
                signature_check(t, self.system.as_ref(), origin)
            })
            .collect();
        let (reply, answer) = oneshot::channel();
        let n = txs.len();
        self.backlog.fetch_add(n, Ordering::Relaxed);
        // A send error drops `reply`, so the receiver reports it.
        if self.jobs.send(Job { txs, urgent, reply }).is_err() {
            self.backlog.fetch_sub(n, Ordering::Relaxed);
        }
        answer
    }
}

/// Batch check of provenance records' signatures (other kinds are `false`).
fn verify_checks(checks: &[SignatureCheck], keys: &mut KeyCache) -> Vec<bool> {
    let mut ok = vec![false; checks.len()];
    let mut positions = Vec::with_capacity(checks.len());
    let mut items = Vec::with_capacity(checks.len());
    for (i, check) in checks.iter().enumerate() {
        match check {
            SignatureCheck::Sr25519(digest, key, signature, rest) => {
                if !rest {
                    continue;
                }
                positions.push(i);
                items.push(BatchItem {
                    message: digest.as_bytes(),
                    key,
                    signature,
                });
            }
            SignatureCheck::Decided(valid) => ok[i] = *valid,
        }
    }
    let failed = match verify_batch_cached(&items, keys) {
        Ok(()) => Vec::new(),
        Err(TxSigError::BatchFailed { failed }) => failed,
        Err(_) => (0..items.len()).collect(),
    };
    for &i in &positions {
        ok[i] = true;
    }
    for f in failed {
        ok[positions[f]] = false;
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_crypto::sr25519::TxKeypair;

    fn tx(key: &TxKeypair, nonce: u64) -> Transaction {
        strata_chains::test_support::signed_record(key, 0, b"o", nonce)
    }

    #[test]
    fn coalesced_requests_get_their_own_verdicts() {
        let key = TxKeypair::from_seed(&[3; 32]);
        let metrics = crate::service::metrics::Metrics::new();
        let verifier = Verifier::start(metrics.verifier_batch_signatures.clone()).unwrap();
        let mut bad = tx(&key, 2);
        if let Transaction::Provenance(p) = &mut bad {
            p.record.nonce = 99;
        }
        let requests = [
            vec![tx(&key, 0), tx(&key, 1)],
            vec![bad, tx(&key, 3)],
            vec![Transaction::Opaque(Default::default())],
            vec![],
        ];
        let answers: Vec<_> = requests.iter().map(|r| verifier.check(r)).collect();
        let got: Vec<Vec<bool>> = answers
            .into_iter()
            .map(|a| a.blocking_recv().unwrap())
            .collect();
        assert_eq!(
            got,
            vec![vec![true, true], vec![false, true], vec![false], vec![]]
        );
        assert_eq!(verifier.backlog(), 0, "answered work leaves the backlog");
        // However the requests coalesced, every transaction was in a batch.
        let sizes = &metrics.verifier_batch_signatures;
        assert_eq!(sizes.get_sample_sum(), 5.0);
        assert!((1..=4).contains(&sizes.get_sample_count()));
    }

    #[test]
    fn urgent_jobs_are_taken_first_within_the_batch_limit() {
        let job = |n: usize, urgent: bool| Job {
            txs: (0..n).map(|_| SignatureCheck::Decided(false)).collect(),
            urgent,
            reply: oneshot::channel().0,
        };
        let mut w = Waiting::default();
        w.push(job(3, false));
        w.push(job(2, true));
        w.push(job(4, false));
        w.push(job(1, true));
        let sizes = |b: Vec<Job>| {
            b.iter()
                .map(|j| (j.txs.len(), j.urgent))
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(w.take(6)), vec![(2, true), (1, true), (3, false)]);
        assert_eq!(sizes(w.take(2)), vec![(4, false)], "one job even if larger");
        assert!(w.is_empty());
    }
}
