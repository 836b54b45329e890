//! Auditing a whole exported chain (issue 25, point 4; `strata export`,
//! `strata audit`): every committed block from the genesis, with the
//! batches its payload names, checked with nothing but the genesis state,
//! the way a member checks a proposal and the ledger executes it:
//!
//! - the genesis block is the one the genesis state gives;
//! - each block extends the one before (height, parent hash, chain), its
//!   proposer's signature verifies, and its justify is a certificate of
//!   the block before, verified against the chain's committee;
//! - its transaction root is its transactions' (inline, or its batches',
//!   each batch matching its reference);
//! - its state fields link to its parent's, and the state root it names is
//!   the one the audit computes by executing every block itself (so every
//!   record's verdict, every object's life and, on the global chain, every
//!   anchor's checks are redone: anchors refused or recorded as conflicts
//!   are counted);
//! - on a dynasty chain, each epoch's first block starts the epoch the
//!   audit's own execution decided, on the previous epoch's last block,
//!   and the epoch's certificates verify against the committee that
//!   execution recorded; the rewards each member was paid are reported.
//!
//! Pure: the CLI reads the export and feeds the blocks in order.

use std::collections::BTreeSet;

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use strata_crypto::codec::BoundedVec;
use strata_crypto::committee::Committee;
use strata_crypto::hash::Digest;
use strata_crypto::PublicKey;

use crate::execution::{
    conflict_key, BlockRef, ChainContext, CommitteeRecord, GenesisState, MemState, StateView,
};
use crate::types::limits::MAX_BLOCK_BATCHES;
use crate::types::{
    batched_tx_root, genesis_block, state_link_valid, Batch, Block, BlockHeader, ChainId,
    GenesisParams, HashedBatch, Payload, QuorumCertificate, SystemTx, Transaction,
};

/// A committed block as exported: the block and, for a batched payload,
/// its batches in the order it names them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ExportedBlock {
    pub block: Block,
    pub batches: BoundedVec<Batch, MAX_BLOCK_BATCHES>,
}

/// The first block of an export that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("height {height}: {link}: {why}")]
pub struct AuditError {
    pub height: u64,
    pub link: &'static str,
    pub why: String,
}

/// What an audit found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub chain: String,
    pub blocks: u64,
    pub transactions: u64,
    pub refused: u64,
    pub anchors_recorded: u64,
    pub anchors_refused: u64,
    pub anchor_conflicts: u64,
    pub tip: u64,
    pub state_root: String,
    /// Committees the chain went through (1 without dynasties).
    pub epochs: u64,
    /// Every member of those committees: its reward balance and forfeits
    /// after the last block, as the audit's own execution computed them
    /// (`dynasty::rewards`; empty when the genesis pays none).
    pub rewards: Vec<RewardBalance>,
}

/// A validator's rewards after an audited chain's last block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RewardBalance {
    /// Its BLS public key, hex.
    pub validator: String,
    pub balance: u64,
    pub forfeited: u64,
}

/// Checks that `h` is the next header of `chain` after `prev`: height,
/// parent hash, and its justify a certificate of `prev` by the committee
/// (what a light client following a chain checks of each header, and an
/// audit of each block).
pub fn check_header(
    prev: &BlockHeader,
    h: &BlockHeader,
    chain: ChainId,
    genesis_hash: &Digest,
    committee: &Committee,
    record: &CommitteeRecord,
) -> Result<(), AuditError> {
    let height = h.height;
    if h.chain != chain || prev.height.checked_add(1) != Some(height) {
        return Err(fail(
            height,
            "hash link",
            "not the next block of this chain",
        ));
    }
    if h.parent != prev.hash() {
        return Err(fail(
            height,
            "hash link",
            "its parent is not the block before",
        ));
    }
    if h.justify.block != prev.hash() || h.justify.round != prev.round() {
        return Err(fail(
            height,
            "certificate",
            "its justify is not of the block before",
        ));
    }
    h.justify
        .verify(
            chain,
            h.justify.epoch,
            genesis_hash,
            committee,
            record.threshold,
        )
        .map_err(|e| {
            fail(
                height,
                "certificate",
                format!("of height {}: {e}", prev.height),
            )
        })
}

/// Checks a chain's blocks in order from its genesis.
pub struct Auditor {
    chain: ChainId,
    committee: Committee,
    record: CommitteeRecord,
    state: MemState,
    prev: Option<BlockHeader>,
    genesis_hash: Digest,
    executed_batches: BTreeSet<Digest>,
    /// Every committee member seen, for the rewards of the report.
    members: BTreeSet<PublicKey>,
    report: AuditReport,
}

fn fail(height: u64, link: &'static str, why: impl Into<String>) -> AuditError {
    AuditError {
        height,
        link,
        why: why.into(),
    }
}

impl Auditor {
    /// An audit of `chain` in a network of `domains` domains whose genesis
    /// state is `genesis`.
    pub fn new(
        genesis: &GenesisState,
        chain: ChainId,
        domains: u32,
    ) -> Result<Auditor, AuditError> {
        let record = genesis
            .committees
            .iter()
            .find(|c| c.chain == chain && c.epoch == 0)
            .cloned()
            .ok_or_else(|| fail(0, "genesis", format!("the genesis has no chain {chain}")))?;
        let committee = record
            .committee()
            .map_err(|e| fail(0, "genesis", format!("its committee: {e}")))?;
        let genesis_hash = genesis_block(GenesisParams {
            chain,
            epoch: 0,
            state_root: genesis.root(),
        })
        .hash();
        let members = record.members.iter().map(|m| m.key).collect();
        Ok(Auditor {
            chain,
            committee,
            record,
            members,
            state: MemState::new(ChainContext { chain, domains }, genesis),
            prev: None,
            genesis_hash,
            executed_batches: BTreeSet::new(),
            report: AuditReport {
                chain: chain.to_string(),
                epochs: 1,
                ..AuditReport::default()
            },
        })
    }

    /// Checks and executes the next block.
    pub fn check(&mut self, b: &ExportedBlock) -> Result<(), AuditError> {
        let h = &b.block.header;
        let height = h.height;
        let Some(prev) = self.prev.clone() else {
            if height != 0 || b.block.hash() != self.genesis_hash {
                return Err(fail(
                    height,
                    "genesis",
                    "not the genesis block of this genesis",
                ));
            }
            self.prev = Some(h.clone());
            self.report.blocks = 1;
            return Ok(());
        };
        if h.epoch != self.record.epoch {
            self.enter_epoch(&prev, h)?;
        } else {
            check_header(
                &prev,
                h,
                self.chain,
                &self.genesis_hash,
                &self.committee,
                &self.record,
            )?;
        }
        b.block
            .proposal_statement()
            .verify(self.chain, h.epoch, &self.committee)
            .map_err(|e| fail(height, "proposer signature", e.to_string()))?;
        let (txs, hashes) = self.contents(b)?;
        if !state_link_valid(h, &prev) {
            return Err(fail(
                height,
                "state root",
                "its state height does not follow its parent's",
            ));
        }
        if self.state.root_at(h.state_height) != Some(h.state_root) {
            return Err(fail(
                height,
                "state root",
                format!(
                    "the state after height {} is not the one it names",
                    h.state_height
                ),
            ));
        }
        let refused_before = self.state.refused().len();
        let conflicts_before = self.conflicts(&txs);
        self.state
            .execute(BlockRef::of(&b.block), &txs, &hashes)
            .map_err(|e| fail(height, "execution", e.to_string()))?;
        let refused: BTreeSet<Digest> = self.state.refused()[refused_before..]
            .iter()
            .map(|(d, _)| *d)
            .collect();
        for (tx, hash) in txs.iter().zip(&hashes) {
            if let Transaction::System(s) = tx {
                if matches!(**s, SystemTx::Anchor(_)) {
                    if refused.contains(hash) {
                        self.report.anchors_refused += 1;
                    } else {
                        self.report.anchors_recorded += 1;
                    }
                }
            }
        }
        let conflicts = self.conflicts(&txs).saturating_sub(conflicts_before);
        self.report.anchor_conflicts += conflicts;
        self.report.anchors_recorded = self.report.anchors_recorded.saturating_sub(conflicts);
        self.report.blocks += 1;
        self.report.transactions += txs.len() as u64;
        self.report.refused += refused.len() as u64;
        self.report.tip = height;
        self.prev = Some(h.clone());
        Ok(())
    }

    /// The first block of the next epoch: its committee is the one the
    /// audit's own execution decided, and its `justify` is the unsigned
    /// start certificate naming the previous epoch's last block (whose
    /// commit the new committee vouches for by building on it, as a
    /// node's `EpochChange` proves).
    fn enter_epoch(&mut self, prev: &BlockHeader, h: &BlockHeader) -> Result<(), AuditError> {
        let height = h.height;
        let next = self.record.epoch.saturating_add(1);
        if h.epoch != next {
            return Err(fail(
                height,
                "epoch",
                format!("epoch {} after epoch {}", h.epoch, self.record.epoch),
            ));
        }
        let starts_here = crate::dynasty::epoch_record(&self.state, self.chain, next)
            .map_err(|e| fail(height, "epoch", e.to_string()))?
            .is_some_and(|r| r.start == prev.height);
        if !starts_here {
            return Err(fail(
                height,
                "epoch",
                format!(
                    "the executed state does not start epoch {next} after height {}",
                    prev.height
                ),
            ));
        }
        let record = CommitteeRecord::read(&self.state, self.chain, next)
            .map_err(|e| fail(height, "epoch", e.to_string()))?
            .ok_or_else(|| {
                fail(
                    height,
                    "epoch",
                    format!("no committee of epoch {next} was decided"),
                )
            })?;
        let committee = record
            .committee()
            .map_err(|e| fail(height, "epoch", format!("its committee: {e}")))?;
        if h.chain != self.chain
            || prev.height.checked_add(1) != Some(height)
            || h.parent != prev.hash()
            || h.justify != QuorumCertificate::start_of(self.chain, next, prev)
        {
            return Err(fail(
                height,
                "hash link",
                "not the start of the next epoch on the block before",
            ));
        }
        self.members.extend(record.members.iter().map(|m| m.key));
        self.committee = committee;
        self.record = record;
        self.report.epochs += 1;
        Ok(())
    }

    /// The conflicts recorded for the anchors' heights named by `txs`.
    fn conflicts(&self, txs: &[Transaction]) -> u64 {
        txs.iter()
            .filter_map(|t| match t {
                Transaction::System(s) => match &**s {
                    SystemTx::Anchor(a) => Some(conflict_key(a.domain, a.anchored_height())),
                    _ => None,
                },
                _ => None,
            })
            .filter(|k| self.state.value(k).ok().flatten().is_some())
            .count() as u64
    }

    /// The block's transactions to execute (a batch named again is executed
    /// once, as a node's ledger does) after checking its transaction root.
    fn contents(
        &mut self,
        b: &ExportedBlock,
    ) -> Result<(Vec<Transaction>, Vec<Digest>), AuditError> {
        let height = b.block.header.height;
        match &b.block.payload {
            Payload::Inline(txs) => {
                if b.block.inline_tx_root_matches() != Some(true) {
                    return Err(fail(
                        height,
                        "transaction root",
                        "not its transactions' root",
                    ));
                }
                let hashes = txs.iter().map(Transaction::hash).collect();
                Ok((txs.to_vec(), hashes))
            }
            Payload::Batches(refs) => {
                let hashed: Vec<HashedBatch> =
                    b.batches.iter().cloned().map(Batch::hashed).collect();
                let borrowed: Vec<&HashedBatch> = hashed.iter().collect();
                if batched_tx_root(refs, &borrowed) != Some(b.block.header.tx_root) {
                    return Err(fail(
                        height,
                        "transaction root",
                        "the batches are not the ones the block names, or not its root",
                    ));
                }
                let (mut txs, mut hashes) = (Vec::new(), Vec::new());
                for batch in hashed {
                    if !self.executed_batches.insert(batch.digest()) {
                        continue;
                    }
                    hashes.extend_from_slice(batch.tx_hashes());
                    txs.extend(batch.batch().transactions.iter().cloned());
                }
                Ok((txs, hashes))
            }
        }
    }

    /// The report, with the state root after the last block.
    pub fn finish(mut self) -> AuditReport {
        self.report.state_root = self.state.root().to_hex();
        if crate::dynasty::rewards::schedule(&self.state).is_ok_and(|s| s.is_some()) {
            for key in &self.members {
                let balance =
                    crate::dynasty::rewards::balance(&self.state, self.chain, key).unwrap_or(0);
                let forfeited =
                    crate::dynasty::rewards::forfeited(&self.state, self.chain, key).unwrap_or(0);
                self.report.rewards.push(RewardBalance {
                    validator: hex::encode(key.to_bytes()),
                    balance,
                    forfeited,
                });
            }
        }
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ReceiptFixture;

    fn export(chain: &crate::test_support::CertifiedChain) -> Vec<ExportedBlock> {
        chain
            .blocks
            .iter()
            .map(|b| ExportedBlock {
                block: b.clone(),
                batches: BoundedVec::empty(),
            })
            .collect()
    }

    fn audit(
        genesis: &GenesisState,
        chain: ChainId,
        blocks: &[ExportedBlock],
    ) -> Result<AuditReport, AuditError> {
        let mut a = Auditor::new(genesis, chain, 1)?;
        for b in blocks {
            a.check(b)?;
        }
        Ok(a.finish())
    }

    #[test]
    fn an_exported_chain_audits_and_each_tampered_link_fails_at_its_height() {
        let f = ReceiptFixture::new();
        let local = export(&f.local);
        let report = audit(&f.genesis, f.local.blocks[1].header.chain, &local).unwrap();
        assert_eq!(
            (report.blocks, report.transactions, report.refused),
            (13, 3, 0)
        );
        let global = audit(&f.genesis, ChainId::GLOBAL, &export(&f.global)).unwrap();
        assert_eq!(global.anchors_recorded, 1);
        assert_eq!(global.anchor_conflicts, 0);

        let chain = f.local.blocks[1].header.chain;
        let tampered = |at: usize, edit: &dyn Fn(&mut ExportedBlock)| {
            let mut blocks = local.clone();
            edit(&mut blocks[at]);
            let e = audit(&f.genesis, chain, &blocks).unwrap_err();
            (e.height, e.link)
        };
        // A record swapped out of block 3 (its root no longer matches).
        assert_eq!(
            tampered(3, &|b| {
                if let Payload::Inline(txs) = &mut b.block.payload {
                    let mut v = txs.to_vec();
                    v.swap(0, 1);
                    *txs = BoundedVec::new(v).unwrap();
                }
            }),
            (3, "transaction root")
        );
        // A header changed: its signature, then the next block's link fail.
        assert_eq!(
            tampered(5, &|b| b.block.header.timestamp_ms += 1),
            (5, "proposer signature")
        );
        // A state root the audit does not compute, signed by the proposer.
        assert_eq!(
            tampered(6, &|b| {
                let mut h = b.block.header.clone();
                h.state_root = Digest::ZERO;
                b.block = Block::propose(h, b.block.payload.clone(), &f.local.kit.keys[0]);
            }),
            (6, "state root")
        );
        assert_eq!(
            tampered(0, &|b| b.block.header.timestamp_ms += 1),
            (0, "genesis")
        );
        assert_eq!(
            tampered(7, &|b| b.block.header.justify =
                f.local.blocks[5].header.justify.clone()),
            (7, "certificate")
        );
        let mut short = local.clone();
        short.remove(4);
        assert_eq!(
            audit(&f.genesis, chain, &short).unwrap_err().link,
            "hash link"
        );
    }
}
