//! The ledger's part of receipts (`strata_chains::anchor::receipt`): a
//! committed transaction, its place in its block, and that block's commit
//! proof, read from this node's store; and a state proof of a block's hash
//! in an anchored state. The API adds the anchor (`crosschain::anchoring`)
//! and serves the receipt.

use actix::prelude::*;
use strata_chains::anchor::{CommitProof, Inclusion};
use strata_chains::audit::ExportedBlock;
use strata_chains::auth::StateProof;
use strata_chains::consensus;
use strata_chains::execution::block_key;
use strata_chains::store::{Store, TxLocation};
use strata_chains::types::{Block, Height, Payload, Transaction};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::merkle::MerkleTree;

use super::Ledger;

/// A committed transaction with its place in its block, and the block's
/// commit proof when this node holds the blocks that make it.
#[derive(Debug)]
pub struct Included {
    pub tx: Transaction,
    pub block: Inclusion,
    pub commit: Option<CommitProof>,
}

/// The committed transaction `0`, with its inclusion.
#[derive(Message)]
#[rtype(result = "Option<Included>")]
pub struct GetIncluded(pub Digest);

impl Handler<GetIncluded> for Ledger {
    type Result = Option<Included>;
    fn handle(&mut self, msg: GetIncluded, _: &mut Context<Self>) -> Option<Included> {
        let (loc, _) = self.location(&msg.0)?;
        let block = self.store.block_at(loc.height).ok().flatten()?;
        let hashes = self.tx_hashes(&block)?;
        let tx = self.transaction_at(&block, loc.index as usize)?;
        if tx.hash() != msg.0 {
            return None;
        }
        let path = MerkleTree::from_leaf_hashes(hashes)
            .proof(u64::from(loc.index))
            .ok()?;
        let commit = consensus::commit_proof::build(&self.store, self.protocol, loc.height)
            .ok()
            .flatten()
            .and_then(|(headers, certificate)| {
                Some(CommitProof {
                    later: BoundedVec::new(headers.into_iter().skip(1).collect()).ok()?,
                    certificate: consensus::commit_proof::compact(&self.state, certificate),
                })
            });
        Some(Included {
            tx,
            block: Inclusion {
                header: block.header,
                path,
            },
            commit,
        })
    }
}

impl Ledger {
    /// Counts the anchors a block of the global chain executed, by domain
    /// and outcome: recorded, refused (with the reason's words), or a
    /// conflict (a second certified state for a recorded height: evidence
    /// against the domain's committee, kept in the state at
    /// `anchor-conflict/…` and served by `GET /v1/anchors/{d}/conflict/{h}`).
    pub(crate) fn count_anchors(
        &self,
        txs: &[Transaction],
        hashes: &[Digest],
        refused: &[(Digest, String)],
    ) {
        use strata_chains::execution::{conflict_key, AnchorConflict, StateView};
        use strata_chains::types::SystemTx;
        for (tx, hash) in txs.iter().zip(hashes) {
            let Transaction::System(sys) = tx else {
                continue;
            };
            let SystemTx::Anchor(a) = &**sys else {
                continue;
            };
            let outcome = if refused.iter().any(|(h, _)| h == hash) {
                "refused"
            } else {
                let conflict = self
                    .state
                    .value(&conflict_key(a.domain, a.anchored_height()))
                    .ok()
                    .flatten()
                    .and_then(|v| {
                        <AnchorConflict as parity_scale_codec::Decode>::decode(&mut &v[..]).ok()
                    });
                if conflict.is_some_and(|c| c.conflicting.tx == *hash) {
                    tracing::error!(domain = a.domain, height = a.anchored_height(), "two certified states of one height of a domain: evidence against its committee");
                    "conflict"
                } else {
                    "recorded"
                }
            };
            self.metrics
                .anchors_executed
                .with_label_values(&[a.domain.to_string().as_str(), outcome])
                .inc();
        }
    }

    /// Where a committed transaction is, and the executor's refusal if it
    /// refused it. The index names a transaction's latest occurrence; one
    /// committed twice (a client retrying through another node: both
    /// copies admitted before either committed) was executed at its first
    /// and refused as a replay at the second, so a "replayed nonce" with
    /// the record in its object's history is answered with the executed
    /// occurrence and no refusal.
    pub(crate) fn location(&self, hash: &Digest) -> Option<(TxLocation, Option<String>)> {
        let loc = self.store.tx_location(hash).ok().flatten()?;
        let refused = self.state.refusal(hash).ok().flatten();
        if refused.as_deref() != Some("replayed nonce") {
            return Some((loc, refused));
        }
        let executed = (|| {
            let block = self.store.block_at(loc.height).ok().flatten()?;
            let Transaction::Provenance(p) = self.transaction_at(&block, loc.index as usize)?
            else {
                return None;
            };
            let entry = self
                .state
                .history(&p.record.object_id, usize::MAX)
                .ok()?
                .into_iter()
                .find(|e| e.tx == *hash)?;
            let first = self.store.block_at(entry.height).ok().flatten()?;
            let index = self.tx_hashes(&first)?.iter().position(|h| h == hash)?;
            Some(TxLocation {
                height: entry.height,
                index: u32::try_from(index).ok()?,
            })
        })();
        match executed {
            Some(first) => Some((first, None)),
            None => Some((loc, refused)),
        }
    }

    /// The transaction at `index` of a committed block (in the order the
    /// block lists them), read from its batch.
    fn transaction_at(&self, block: &Block, index: usize) -> Option<Transaction> {
        match &block.payload {
            Payload::Inline(txs) => txs.get(index).cloned(),
            Payload::Batches(refs) => {
                let mut before = 0usize;
                for r in refs.iter() {
                    let count = self.store.batch_tx_hashes(&r.digest).ok().flatten()?.len();
                    if index < before.saturating_add(count) {
                        let batch = self.store.batch(&r.digest).ok().flatten()?;
                        return batch
                            .batch()
                            .transactions
                            .get(index.checked_sub(before)?)
                            .cloned();
                    }
                    before = before.saturating_add(count);
                }
                None
            }
        }
    }
}

/// The proof that the state after `anchored` records the block at
/// `height` (`block/<height>`).
#[derive(Message)]
#[rtype(result = "Option<StateProof>")]
pub struct GetBlockLink {
    pub height: Height,
    pub anchored: Height,
}

impl Handler<GetBlockLink> for Ledger {
    type Result = Option<StateProof>;
    fn handle(&mut self, msg: GetBlockLink, _: &mut Context<Self>) -> Option<StateProof> {
        self.state.prove(&block_key(msg.height), msg.anchored).ok()
    }
}

/// Committed headers from `from`, at most `count` (light clients follow a
/// chain with them).
#[derive(Message)]
#[rtype(result = "Vec<strata_chains::types::BlockHeader>")]
pub struct GetHeaders {
    pub from: Height,
    pub count: u64,
}

impl Handler<GetHeaders> for Ledger {
    type Result = Vec<strata_chains::types::BlockHeader>;
    fn handle(&mut self, msg: GetHeaders, _: &mut Context<Self>) -> Self::Result {
        (0..msg.count)
            .filter_map(|i| msg.from.checked_add(i))
            .map_while(|h| self.store.block_at(h).ok().flatten())
            .map(|b| b.header)
            .collect()
    }
}

/// Committed blocks from `from`, with their batches, for an export: at
/// most `count`, and no more than `EXPORT_BUDGET` bytes of batches (at
/// least one block).
#[derive(Message)]
#[rtype(result = "Vec<ExportedBlock>")]
pub struct GetExport {
    pub from: Height,
    pub count: u64,
}

/// Bytes of blocks and batches in one export answer (a block is sent even
/// if it alone is larger).
pub const EXPORT_BUDGET: usize = 8 << 20;

impl Handler<GetExport> for Ledger {
    type Result = Vec<ExportedBlock>;
    fn handle(&mut self, msg: GetExport, _: &mut Context<Self>) -> Vec<ExportedBlock> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for h in (0..msg.count).filter_map(|i| msg.from.checked_add(i)) {
            let Some(block) = self.store.block_at(h).ok().flatten() else {
                break;
            };
            let mut batches = Vec::new();
            if let Payload::Batches(refs) = &block.payload {
                for r in refs.iter() {
                    match self.store.batch(&r.digest).ok().flatten() {
                        Some(b) => batches.push(b.batch().clone()),
                        None => return out,
                    }
                }
            }
            let Ok(batches) = BoundedVec::new(batches) else {
                return out;
            };
            let e = ExportedBlock { block, batches };
            bytes = bytes.saturating_add(parity_scale_codec::Encode::encoded_size(&e));
            if !out.is_empty() && bytes > EXPORT_BUDGET {
                break;
            }
            out.push(e);
        }
        out
    }
}
