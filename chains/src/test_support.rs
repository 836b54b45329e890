//! The test kit's blocks and chains (feature `test-support`; always in
//! this crate's own tests), beside the crypto kit's keys and committees
//! (re-exported): for unit tests, fuzz targets and benchmarks.

use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;
pub use strata_crypto::test_support::{seeded_key, seeded_keys, TestCommittee};

use crate::types::{
    genesis_block, Batch, Block, BlockHeader, ChainId, GenesisParams, HashedBatch, Height,
    ObjectId, Op, Payload, Provenance, QuorumCertificate, Transaction,
};

/// A provenance record of `key`'s about `object` in `domain` with `nonce`:
/// an update whose payload digest is derived from the nonce, no parents or
/// metadata, network `Digest::ZERO`, timestamp = nonce. Unsigned, so a test
/// can change a field first (`Provenance { op: …, ..record(…) }`).
pub fn record(key: &TxKeypair, domain: u32, object: &[u8], nonce: u64) -> Provenance {
    Provenance {
        network: Digest::ZERO,
        domain,
        object_id: ObjectId::new(object.to_vec()).expect("a short object id"),
        op: Op::Update,
        payload_digest: Digest::of("strata/test-payload", &nonce.to_le_bytes()),
        parents: BoundedVec::empty(),
        meta: BoundedVec::empty(),
        sender: key.public(),
        nonce,
        timestamp_ms: nonce,
    }
}

/// [`record`], signed, as a transaction.
pub fn signed_record(key: &TxKeypair, domain: u32, object: &[u8], nonce: u64) -> Transaction {
    Transaction::Provenance(record(key, domain, object, nonce).sign(key))
}

/// The global chain's genesis and `n - 1` empty blocks above it, one per
/// view, each justified by a genesis-style certificate of its parent and
/// proposed by member 0 of a one-key kit committee. Hash-linked, not
/// certified: for stores, trees and sync, not for the consensus rules.
pub fn chain_of_blocks(n: u64) -> Vec<Block> {
    let key = seeded_key(9, 0);
    let mut out = vec![genesis_block(GenesisParams {
        chain: ChainId::GLOBAL,
        epoch: 0,
        state_root: crate::execution::GenesisState::bare(Digest::ZERO).root(),
    })];
    for h in 1..n {
        let Some(parent) = out.last() else { break };
        let header = BlockHeader {
            view: h,
            height: h,
            parent: parent.hash(),
            proposer: 0,
            justify: QuorumCertificate::genesis(ChainId::GLOBAL, 0, parent.hash()),
            ..parent.header.clone()
        };
        out.push(Block::propose(header, Payload::empty(), &key));
    }
    out
}

/// The genesis and `n` blocks above it, each with one batch (author 0,
/// sequence = height) of `per_block` opaque transactions; the batches in
/// height order.
pub fn batched_chain(n: u64, per_block: usize) -> (Vec<Block>, Vec<HashedBatch>) {
    let mut blocks = chain_of_blocks(1);
    let mut batches = Vec::new();
    for h in 1..=n {
        let txs: Vec<Transaction> = (0..per_block)
            .map(|i| {
                let bytes = format!("tx-{h}-{i}").into_bytes();
                Transaction::Opaque(BoundedBytes::new(bytes).expect("a short transaction"))
            })
            .collect();
        let batch = Batch {
            chain: ChainId::GLOBAL,
            author: 0,
            sequence: h,
            transactions: BoundedVec::new(txs).expect("a batch within its limit"),
        }
        .hashed();
        let Some(parent) = blocks.last() else { break };
        let mut b: Block = parent.clone();
        b.header.height = h;
        b.header.parent = parent.hash();
        b.payload =
            Payload::Batches(BoundedVec::new(vec![batch.reference()]).expect("one reference"));
        blocks.push(b);
        batches.push(batch);
    }
    (blocks, batches)
}

/// A certificate of `header` signed by every member of `kit`.
pub fn certify(kit: &TestCommittee, header: &BlockHeader) -> QuorumCertificate {
    let unsigned = QuorumCertificate {
        chain: header.chain,
        epoch: header.epoch,
        round: header.round(),
        block: header.hash(),
        cert: None,
    };
    let message = unsigned.vote_data().signing_bytes();
    let votes: Vec<strata_crypto::Signature> = kit.keys.iter().map(|k| k.sign(&message)).collect();
    let signature = strata_crypto::Signature::aggregate(votes.iter()).expect("a non-empty kit");
    QuorumCertificate {
        cert: Some(strata_crypto::QuorumCert {
            signers: strata_crypto::SignerBitmap::from_indices(kit.len(), 0..kit.len()),
            signature,
        }),
        ..unsigned
    }
}

/// A chain of blocks with inline transactions, executed as it grows, each
/// header certified by a kit committee: for anchors and receipts. The
/// header at height h names the state after h - 1; HotStuff blocks take
/// one view each, two-phase blocks share view 1, so any block followed by
/// its chain length of blocks is committed under its protocol's rule.
pub struct CertifiedChain {
    pub kit: TestCommittee,
    pub protocol: crate::types::Protocol,
    pub state: crate::execution::MemState,
    pub blocks: Vec<Block>,
}

impl CertifiedChain {
    /// The genesis of `chain` in a network whose genesis state is `genesis`.
    pub fn new(
        chain: ChainId,
        domains: u32,
        kit: TestCommittee,
        genesis: &crate::execution::GenesisState,
    ) -> CertifiedChain {
        let protocol = if chain == ChainId::GLOBAL {
            crate::types::Protocol::HotStuff
        } else {
            crate::types::Protocol::TwoPhase
        };
        let ctx = crate::execution::ChainContext { chain, domains };
        let state = crate::execution::MemState::new(ctx, genesis);
        let first = genesis_block(GenesisParams {
            chain,
            epoch: 0,
            state_root: genesis.root(),
        });
        CertifiedChain {
            kit,
            protocol,
            state,
            blocks: vec![first],
        }
    }

    /// This chain's committee as a genesis state records it.
    pub fn committee_record(&self, chain: ChainId) -> crate::execution::CommitteeRecord {
        crate::execution::CommitteeRecord {
            chain,
            epoch: 0,
            protocol: self.protocol,
            threshold: strata_crypto::QuorumThreshold::TWO_THIRDS,
            members: BoundedVec::new(self.kit.committee.members().to_vec()).expect("a small kit"),
            group: None,
        }
    }

    /// Proposes, certifies (in the next header's justify) and executes the
    /// next block, holding `txs` inline.
    pub fn push(&mut self, txs: Vec<Transaction>) -> &Block {
        let parent = self
            .blocks
            .last()
            .expect("the genesis at least")
            .header
            .clone();
        let height = parent.height + 1;
        let view = match self.protocol {
            crate::types::Protocol::HotStuff => height,
            crate::types::Protocol::TwoPhase => 1,
        };
        let header = BlockHeader {
            view,
            height,
            parent: parent.hash(),
            tx_root: crate::types::block::tx_root(&txs),
            state_height: parent.height,
            state_root: self.state.root_at(parent.height).expect("executed"),
            proposer: 0,
            justify: certify(&self.kit, &parent),
            ..parent
        };
        let hashes: Vec<Digest> = txs.iter().map(Transaction::hash).collect();
        let block = Block::propose(
            header,
            Payload::Inline(BoundedVec::new(txs.clone()).expect("a small block")),
            &self.kit.keys[0],
        );
        let at = crate::execution::BlockRef::of(&block);
        self.state.execute(at, &txs, &hashes).expect("in order");
        self.blocks.push(block);
        self.blocks.last().expect("just pushed")
    }

    /// The header at `height`.
    pub fn header(&self, height: Height) -> &BlockHeader {
        &self.blocks[height as usize].header
    }
}

/// A network of one domain for receipts: its local chain holds three
/// records at height 3 and is anchored at height 9 by an anchor in global
/// block 1, committed by global blocks 2 and 3 (tests, benchmarks).
pub struct ReceiptFixture {
    pub genesis: crate::execution::GenesisState,
    pub local: CertifiedChain,
    pub global: CertifiedChain,
    pub records: Vec<Transaction>,
    pub anchor: crate::types::Anchor,
}

/// The transaction of an anchor.
pub fn anchor_tx(anchor: &crate::types::Anchor) -> Transaction {
    Transaction::System(Box::new(crate::types::SystemTx::Anchor(Box::new(
        anchor.clone(),
    ))))
}

/// `tx`'s place in the block at `height` of `chain`.
pub fn inclusion(
    chain: &CertifiedChain,
    height: u64,
    tx: &Transaction,
) -> crate::anchor::Inclusion {
    let block = &chain.blocks[height as usize];
    let Payload::Inline(txs) = &block.payload else {
        unreachable!("the kit's blocks are inline")
    };
    let hashes: Vec<Digest> = txs.iter().map(Transaction::hash).collect();
    let index = hashes
        .iter()
        .position(|h| *h == tx.hash())
        .expect("in the block");
    crate::anchor::Inclusion {
        header: block.header.clone(),
        path: strata_crypto::merkle::MerkleTree::from_leaf_hashes(hashes)
            .proof(index as u64)
            .expect("an index in the tree"),
    }
}

/// The headers above `height` up to the commit rule, certified.
pub fn commit(chain: &CertifiedChain, height: u64) -> crate::anchor::CommitProof {
    let k = match chain.protocol {
        crate::types::Protocol::HotStuff => 2,
        crate::types::Protocol::TwoPhase => 1,
    };
    let later: Vec<_> = (height + 1..=height + k)
        .map(|h| chain.header(h).clone())
        .collect();
    let certificate = certify(&chain.kit, later.last().expect("k > 0"));
    crate::anchor::CommitProof {
        later: BoundedVec::new(later).expect("a short proof"),
        certificate,
    }
}

impl Default for ReceiptFixture {
    fn default() -> ReceiptFixture {
        ReceiptFixture::new()
    }
}

impl ReceiptFixture {
    pub fn new() -> ReceiptFixture {
        use crate::execution::{block_key, GenesisState};
        let bare = GenesisState::bare(Digest::ZERO);
        let probe = |kit, chain| CertifiedChain::new(chain, 1, kit, &bare).committee_record(chain);
        let local_chain = crate::types::chain_of_domain(0);
        let genesis = GenesisState {
            config: Digest::ZERO,
            committees: vec![
                probe(TestCommittee::seeded(1, 4), local_chain),
                probe(TestCommittee::seeded(2, 4), ChainId::GLOBAL),
            ],
            ..GenesisState::default()
        };
        let mut local = CertifiedChain::new(local_chain, 1, TestCommittee::seeded(1, 4), &genesis);
        let key = TxKeypair::from_seed(&[5; 32]);
        let records: Vec<Transaction> = (0..3u64)
            .map(|n| {
                let object = format!("o{n}");
                let domain = crate::types::domain_of(object.as_bytes(), 1);
                let p = Provenance {
                    op: Op::Create,
                    ..record(&key, domain, object.as_bytes(), n)
                };
                Transaction::Provenance(p.sign(&key))
            })
            .collect();
        for h in 1..=12u64 {
            local.push(if h == 3 { records.clone() } else { Vec::new() });
        }
        let header = local.header(10).clone();
        let anchor = crate::types::Anchor {
            domain: 0,
            qc: certify(&local.kit, &header),
            tip: local.state.prove(&block_key(9), 9).expect("executed"),
            link: None,
            handoffs: Default::default(),
            header,
        };
        let mut global =
            CertifiedChain::new(ChainId::GLOBAL, 1, TestCommittee::seeded(2, 4), &genesis);
        global.push(vec![anchor_tx(&anchor)]);
        global.push(Vec::new());
        global.push(Vec::new());
        assert!(
            global.state.refused().is_empty(),
            "the global chain took the anchor"
        );
        ReceiptFixture {
            genesis,
            local,
            global,
            records,
            anchor,
        }
    }

    /// The receipt of record `i` through the anchor.
    pub fn anchored_receipt(&self, i: usize) -> crate::anchor::Receipt {
        use crate::anchor::{AnchorInclusion, AnchoredProof, Finality, Receipt};
        Receipt {
            tx: self.records[i].clone(),
            block: inclusion(&self.local, 3, &self.records[i]),
            finality: Finality::Anchored(Box::new(AnchoredProof {
                block_link: self
                    .local
                    .state
                    .prove(&crate::execution::block_key(3), 9)
                    .expect("executed"),
                anchored: AnchorInclusion {
                    anchor: self.anchor.clone(),
                    anchor_block: inclusion(&self.global, 1, &anchor_tx(&self.anchor)),
                    global_commit: commit(&self.global, 1),
                },
            })),
            history: Default::default(),
        }
    }
}
