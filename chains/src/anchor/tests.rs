//! Receipts built from a real local chain anchored on a real global chain
//! (both executed, every header certified by its committee), verified
//! against the genesis alone, and each link tampered in turn.

use parity_scale_codec::Encode;
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::merkle::MerkleTree;
use strata_crypto::sr25519::TxKeypair;

use super::*;
use crate::execution::{block_key, GenesisState};
use crate::test_support::{certify, record, CertifiedChain, TestCommittee};
use crate::types::{chain_of_domain, domain_of, Anchor, ChainId, Op, SystemTx, Transaction};

/// A network of one domain: its local chain with three records at height
/// 3, anchored at height 9 by an anchor in global block 1, committed by
/// global blocks 2 and 3.
struct Network {
    genesis: GenesisState,
    local: CertifiedChain,
    global: CertifiedChain,
    records: Vec<Transaction>,
    anchor: Anchor,
}

fn create(key: &TxKeypair, object: &str, nonce: u64) -> Transaction {
    let domain = domain_of(object.as_bytes(), 1);
    let p = crate::types::Provenance {
        op: Op::Create,
        ..record(key, domain, object.as_bytes(), nonce)
    };
    Transaction::Provenance(p.sign(key))
}

fn network() -> Network {
    let (local_kit, global_kit) = (TestCommittee::seeded(1, 4), TestCommittee::seeded(2, 4));
    let bare = GenesisState::bare(Digest::ZERO);
    let probe = |kit, chain| CertifiedChain::new(chain, 1, kit, &bare).committee_record(chain);
    let genesis = GenesisState {
        config: Digest::ZERO,
        committees: vec![
            probe(TestCommittee::seeded(1, 4), chain_of_domain(0)),
            probe(TestCommittee::seeded(2, 4), ChainId::GLOBAL),
        ],
    };
    let mut local = CertifiedChain::new(chain_of_domain(0), 1, local_kit, &genesis);
    let key = TxKeypair::from_seed(&[5; 32]);
    let records: Vec<Transaction> = (0..3).map(|n| create(&key, &format!("o{n}"), n)).collect();
    for h in 1..=12u64 {
        local.push(if h == 3 { records.clone() } else { Vec::new() });
    }
    let header = local.header(10).clone();
    let anchor = Anchor {
        domain: 0,
        qc: certify(&local.kit, &header),
        tip: local.state.prove(&block_key(9), 9).unwrap(),
        link: None,
        header,
    };
    let mut global = CertifiedChain::new(ChainId::GLOBAL, 1, global_kit, &genesis);
    global.push(vec![anchor_tx(&anchor)]);
    global.push(Vec::new());
    global.push(Vec::new());
    // The global chain accepted it.
    assert!(global.state.refused().is_empty());
    Network {
        genesis,
        local,
        global,
        records,
        anchor,
    }
}

fn anchor_tx(anchor: &Anchor) -> Transaction {
    Transaction::System(Box::new(SystemTx::Anchor(Box::new(anchor.clone()))))
}

fn inclusion(chain: &CertifiedChain, height: u64, tx: &Transaction) -> Inclusion {
    let block = &chain.blocks[height as usize];
    let crate::types::Payload::Inline(txs) = &block.payload else {
        unreachable!("the kit's blocks are inline")
    };
    let hashes: Vec<Digest> = txs.iter().map(Transaction::hash).collect();
    let index = hashes.iter().position(|h| *h == tx.hash()).unwrap();
    Inclusion {
        header: block.header.clone(),
        path: MerkleTree::from_leaf_hashes(hashes)
            .proof(index as u64)
            .unwrap(),
    }
}

/// The headers above `height` up to the commit rule, certified.
fn commit(chain: &CertifiedChain, height: u64) -> CommitProof {
    let k = match chain.protocol {
        crate::types::Protocol::HotStuff => 2,
        crate::types::Protocol::TwoPhase => 1,
    };
    let later: Vec<_> = (height + 1..=height + k)
        .map(|h| chain.header(h).clone())
        .collect();
    let certificate = certify(&chain.kit, later.last().unwrap());
    CommitProof {
        later: BoundedVec::new(later).unwrap(),
        certificate,
    }
}

fn anchored_receipt(n: &Network, record: usize) -> Receipt {
    Receipt {
        tx: n.records[record].clone(),
        block: inclusion(&n.local, 3, &n.records[record]),
        finality: Finality::Anchored(Box::new(AnchoredProof {
            block_link: n.local.state.prove(&block_key(3), 9).unwrap(),
            anchored: AnchorInclusion {
                anchor: n.anchor.clone(),
                anchor_block: inclusion(&n.global, 1, &anchor_tx(&n.anchor)),
                global_commit: commit(&n.global, 1),
            },
        })),
    }
}

#[test]
fn a_local_record_anchored_on_the_global_chain_verifies_with_the_genesis_alone() {
    let n = network();
    let trust = Trust::new(&n.genesis);
    let receipt = anchored_receipt(&n, 1);
    let summary = receipt.verify(&trust).unwrap();
    assert_eq!(summary.levels, vec!["local", "global"]);
    assert_eq!(summary.height, 3);
    assert_eq!(summary.anchored_height, Some(9));
    assert_eq!(summary.global_height, Some(1));
    assert_eq!(summary.object, "o1");
    assert!(summary.to_string().starts_with("verified: record "));
    // JSON and SCALE both carry all of it.
    let json = receipt.to_json(summary.clone());
    let text = serde_json::to_string(&json).unwrap();
    let back: ReceiptJson = serde_json::from_str(&text).unwrap();
    assert_eq!(back.verify(&trust).unwrap(), summary);
    let scale = receipt.encode();
    let decoded: Receipt = strata_crypto::codec::decode_message(&scale, MAX_RECEIPT_BYTES).unwrap();
    assert_eq!(decoded, receipt);
    println!(
        "anchored receipt: {} bytes SCALE, {} bytes JSON",
        scale.len(),
        text.len()
    );
}

#[test]
fn local_and_global_records_have_receipts_of_their_own_chain() {
    let n = network();
    let trust = Trust::new(&n.genesis);
    let local = Receipt {
        tx: n.records[0].clone(),
        block: inclusion(&n.local, 3, &n.records[0]),
        finality: Finality::Committed(Box::new(commit(&n.local, 3))),
    };
    assert_eq!(local.verify(&trust).unwrap().levels, vec!["local"]);
    // A local block needs its chain length of certified blocks above it.
    let short = Receipt {
        finality: Finality::Committed(Box::new(CommitProof {
            later: BoundedVec::empty(),
            certificate: certify(&n.local.kit, n.local.header(3)),
        })),
        ..local.clone()
    };
    assert_eq!(short.verify(&trust).unwrap_err().link(), "block commit");
}

/// Every link tampered in turn: the receipt fails, naming that link.
#[test]
fn each_tampered_link_fails_naming_it() {
    let n = network();
    let trust = Trust::new(&n.genesis);
    let good = anchored_receipt(&n, 1);
    let anchored = |r: &Receipt| match &r.finality {
        Finality::Anchored(a) => (**a).clone(),
        Finality::Committed(_) => unreachable!(),
    };
    let with = |f: &dyn Fn(&mut AnchoredProof)| {
        let mut r = good.clone();
        let mut a = anchored(&r);
        f(&mut a);
        r.finality = Finality::Anchored(Box::new(a));
        r.verify(&trust).unwrap_err().link()
    };
    // The record: another record (its path fails), a changed field (its
    // signature fails).
    let mut r = good.clone();
    r.tx = n.records[2].clone();
    assert_eq!(r.verify(&trust).unwrap_err().link(), "record path");
    let mut r = good.clone();
    if let Transaction::Provenance(p) = &mut r.tx {
        p.record.nonce += 1;
    }
    assert_eq!(r.verify(&trust).unwrap_err().link(), "record");
    // The block: another path, another header.
    let mut r = good.clone();
    r.block.path = inclusion(&n.local, 3, &n.records[0]).path;
    assert_eq!(r.verify(&trust).unwrap_err().link(), "record path");
    let mut r = good.clone();
    r.block.header.timestamp_ms += 1;
    assert_eq!(r.verify(&trust).unwrap_err().link(), "block link");
    // The link from the block to the anchored state.
    assert_eq!(
        with(&|a| a.block_link = n.local.state.prove(&block_key(4), 9).unwrap()),
        "block link"
    );
    assert_eq!(
        with(&|a| a.block_link = n.local.state.prove(&block_key(3), 8).unwrap()),
        "block link"
    );
    // The anchor: a certificate by another committee, another header.
    assert_eq!(
        with(&|a| a.anchored.anchor.qc =
            certify(&TestCommittee::seeded(7, 4), &a.anchored.anchor.header)),
        "anchor"
    );
    assert_eq!(
        with(&|a| a.anchored.anchor.tip = n.local.state.prove(&block_key(8), 9).unwrap()),
        "anchor"
    );
    // The anchor's place in the global chain and that block's commit.
    assert_eq!(
        with(&|a| a.anchored.anchor_block.header = n.global.header(2).clone()),
        "anchor path"
    );
    assert_eq!(
        with(&|a| a.anchored.anchor_block.path.leaf_count += 1),
        "anchor path"
    );
    assert_eq!(
        with(&|a| a.anchored.global_commit = commit(&n.global, 0)),
        "global commit"
    );
    assert_eq!(
        with(&|a| a.anchored.global_commit.certificate =
            certify(&TestCommittee::seeded(7, 4), n.global.header(3))),
        "global commit"
    );
    // In JSON: a summary that claims more, and a field that is not hex.
    let summary = good.verify(&trust).unwrap();
    let mut json = good.to_json(summary);
    json.summary.height = 4;
    assert_eq!(json.verify(&trust).unwrap_err().link(), "summary");
    json.block_header.push('z');
    assert_eq!(json.verify(&trust).unwrap_err().link(), "block_header");
}
