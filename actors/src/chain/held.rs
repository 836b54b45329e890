//! The batches a node holds and has not committed, with their transaction
//! hashes. The mempool adds a batch once it is stored and verified and
//! forgets it when it commits; the committee actor reads the same map to
//! check a proposal's payload on its own thread, so a vote does not wait
//! for the mempool thread to be scheduled (one hop fewer on every view's
//! critical path). Only a payload naming a batch not held here goes to
//! the mempool, which fetches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use strata_chains::types::{tx_root_of_hashes, BatchRef};
use strata_crypto::hash::Digest;

#[derive(Clone, Default)]
pub struct HeldBatches(Arc<Mutex<HashMap<Digest, Arc<[Digest]>>>>);

impl HeldBatches {
    fn map(&self) -> MutexGuard<'_, HashMap<Digest, Arc<[Digest]>>> {
        // A panic while holding the lock cannot leave the map half-written
        // (each operation is one map call), so a poisoned lock is usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, batch: Digest, tx_hashes: Arc<[Digest]>) {
        self.map().insert(batch, tx_hashes);
    }

    pub fn remove(&self, batch: &Digest) -> Option<Arc<[Digest]>> {
        self.map().remove(batch)
    }

    /// Batches held.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, batch: &Digest) -> bool {
        self.map().contains_key(batch)
    }

    pub fn get(&self, batch: &Digest) -> Option<Arc<[Digest]>> {
        self.map().get(batch).cloned()
    }

    /// The transaction hashes of a batched payload, in order, if every
    /// batch is held: `Some(Err(()))` when a batch's declared transaction
    /// count is not what it holds, `None` when a batch is not held.
    pub fn payload_hashes(&self, refs: &[BatchRef]) -> Option<Result<Vec<Digest>, ()>> {
        let map = self.map();
        let mut held = Vec::with_capacity(refs.len());
        for r in refs {
            held.push(map.get(&r.digest)?.clone());
        }
        drop(map);
        let mut hashes = Vec::new();
        for (r, h) in refs.iter().zip(held) {
            if h.len() != r.tx_count as usize {
                return Some(Err(()));
            }
            hashes.extend_from_slice(&h);
        }
        Some(Ok(hashes))
    }

    /// Whether a batched payload matches `tx_root`, if every batch is held.
    pub fn check_payload(&self, refs: &[BatchRef], tx_root: &Digest) -> Option<bool> {
        Some(match self.payload_hashes(refs)? {
            Ok(hashes) => tx_root_of_hashes(hashes) == *tx_root,
            Err(()) => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(tag: &str, n: usize) -> Arc<[Digest]> {
        (0..n)
            .map(|i| Digest::of(tag, &[i as u8]))
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn payload_checks_need_every_batch_and_the_right_counts_and_root() {
        let held = HeldBatches::default();
        let (a, b) = (Digest::of("batch", b"a"), Digest::of("batch", b"b"));
        let (ha, hb) = (hashes("a", 2), hashes("b", 3));
        let refs = [
            BatchRef {
                author: 0,
                digest: a,
                tx_count: 2,
            },
            BatchRef {
                author: 1,
                digest: b,
                tx_count: 3,
            },
        ];
        held.insert(a, ha.clone());
        let root = tx_root_of_hashes(ha.iter().chain(hb.iter()).copied().collect());
        assert_eq!(held.check_payload(&refs, &root), None, "b is not held");
        held.insert(b, hb);
        assert_eq!(held.check_payload(&refs, &root), Some(true));
        assert_eq!(held.check_payload(&[refs[1], refs[0]], &root), Some(false));
        let mut lie = refs;
        lie[1].tx_count = 4;
        assert_eq!(held.check_payload(&lie, &root), Some(false));
        assert!(held.remove(&a).is_some());
        assert!(!held.contains(&a));
        assert_eq!(held.check_payload(&refs, &root), None);
    }
}
