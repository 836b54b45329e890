use parity_scale_codec::Encode;
use strata_chains::anchor::Trust;
use strata_chains::execution::GenesisState;
use strata_chains::test_support::ReceiptFixture;
use strata_crypto::hash::Digest;

use super::verify;

/// The fixture's genesis (SCALE) and an anchored receipt of it (JSON).
fn anchored() -> (ReceiptFixture, Vec<u8>, serde_json::Value) {
    let fixture = ReceiptFixture::new();
    let receipt = fixture.anchored_receipt(0);
    let summary = receipt
        .verify(&Trust::new(&fixture.genesis))
        .expect("the fixture's receipt verifies");
    let json = serde_json::to_value(receipt.to_json(summary)).expect("serializes");
    let genesis = fixture.genesis.encode();
    (fixture, genesis, json)
}

fn bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serializes")
}

#[test]
fn a_served_receipt_verifies_against_its_genesis() {
    let (fixture, genesis, json) = anchored();
    let verdict = verify(&genesis, &bytes(&json));
    assert!(verdict.verified, "{verdict:?}");
    let summary = verdict.summary.expect("a summary");
    assert_eq!(summary.anchored_height, Some(9));
    assert!(summary.global_height.is_some());
    assert_eq!(verdict.genesis, Some(hex::encode(fixture.genesis.config.0)));
}

#[test]
fn a_tampered_receipt_names_the_link_that_fails() {
    let (_, genesis, mut json) = anchored();
    let record = json["record"].as_str().expect("hex").to_string();
    // Flip one hex digit near the end (the record's signature).
    let mut chars: Vec<char> = record.chars().collect();
    let at = chars.len() - 3;
    chars[at] = if chars[at] == '0' { '1' } else { '0' };
    json["record"] = serde_json::Value::String(chars.into_iter().collect());
    let verdict = verify(&genesis, &bytes(&json));
    assert!(!verdict.verified);
    let error = verdict.error.expect("a reason");
    assert!(error.contains("record"), "{error}");
}

#[test]
fn a_summary_that_claims_more_than_the_links_is_refused() {
    let (_, genesis, mut json) = anchored();
    json["summary"]["height"] = serde_json::json!(7);
    let verdict = verify(&genesis, &bytes(&json));
    assert!(!verdict.verified);
    assert!(verdict.error.expect("a reason").contains("summary"));
}

#[test]
fn another_networks_genesis_does_not_verify_it() {
    let (fixture, _, json) = anchored();
    let other = GenesisState {
        config: Digest::of("test", b"another network"),
        ..fixture.genesis.clone()
    };
    let verdict = verify(&other.encode(), &bytes(&json));
    assert!(!verdict.verified, "{verdict:?}");
}

#[test]
fn input_that_is_not_a_genesis_or_a_receipt_is_refused_by_name() {
    let (_, genesis, _) = anchored();
    let v = verify(&[0xff; 7], b"{}");
    assert!(v.error.expect("a reason").contains("genesis"));
    let v = verify(&genesis, b"not json");
    assert!(v.error.expect("a reason").contains("not a JSON receipt"));
}
