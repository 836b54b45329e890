//! Receipts built from a real local chain anchored on a real global chain
//! (both executed, every header certified by its committee), verified
//! against the genesis alone, and each link tampered in turn.

use parity_scale_codec::Encode;
use strata_crypto::codec::BoundedVec;

use super::*;
use crate::execution::block_key;
use crate::test_support::{certify, commit, inclusion, ReceiptFixture as Network, TestCommittee};
use crate::types::Transaction;

fn network() -> Network {
    Network::new()
}

fn anchored_receipt(n: &Network, record: usize) -> Receipt {
    n.anchored_receipt(record)
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
        history: BoundedVec::empty(),
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
