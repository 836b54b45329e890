//! Known-answer tests from the Ethereum BLS test suite
//! (ethereum/bls12-381-tests), run through the public API of this crate.
//!
//! One deliberate difference: the suite's G1 deserialization accepts the
//! identity point, while `PublicKey::from_bytes` is deserialization plus
//! KeyValidate (which rejects it), so that vector expects a refusal here.

use serde_json::Value;
use strata_crypto::{PublicKey, SecretKey, Signature};

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/bls12-381-eth.json")).expect("vector file is JSON")
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn cases<'a>(v: &'a Value, name: &str) -> &'a Vec<Value> {
    let c = v[name].as_array().expect("case list");
    assert!(!c.is_empty(), "{name} has cases");
    c
}

#[test]
fn sk_to_pk() {
    let v = vectors();
    for c in cases(&v, "sk_to_pk") {
        let sk = SecretKey::from_bytes(&bytes(&c["privkey"])).unwrap();
        assert_eq!(sk.public_key().to_bytes().to_vec(), bytes(&c["pubkey"]));
    }
}

#[test]
fn sign() {
    let v = vectors();
    for c in cases(&v, "sign") {
        let sk = SecretKey::from_bytes(&bytes(&c["privkey"]));
        match &c["signature"] {
            Value::Null => assert!(sk.is_err(), "zero key must be refused"),
            expected => {
                let sig = sk.unwrap().sign(&bytes(&c["message"]));
                assert_eq!(sig.to_bytes().to_vec(), bytes(expected));
            }
        }
    }
}

fn verify_case(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (PublicKey::from_bytes(pk), Signature::from_bytes(sig)) else {
        return false;
    };
    sig.verify(msg, &pk).is_ok()
}

#[test]
fn verify() {
    let v = vectors();
    for c in cases(&v, "verify") {
        let got = verify_case(
            &bytes(&c["pubkey"]),
            &bytes(&c["message"]),
            &bytes(&c["signature"]),
        );
        assert_eq!(got, c["output"].as_bool().unwrap(), "{c}");
    }
}

#[test]
fn aggregate() {
    let v = vectors();
    for c in cases(&v, "aggregate") {
        let sigs: Vec<Signature> = c["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| Signature::from_bytes(&bytes(s)).unwrap())
            .collect();
        match &c["output"] {
            Value::Null => assert!(Signature::aggregate(&sigs).is_err()),
            expected => assert_eq!(
                Signature::aggregate(&sigs).unwrap().to_bytes().to_vec(),
                bytes(expected)
            ),
        }
    }
}

fn fast_aggregate_verify(pks: &[Vec<u8>], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(pks) = pks
        .iter()
        .map(|p| PublicKey::from_bytes(p))
        .collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    let (Ok(apk), Ok(sig)) = (PublicKey::aggregate(&pks), Signature::from_bytes(sig)) else {
        return false;
    };
    sig.verify_aggregate(msg, &apk).is_ok()
}

#[test]
fn fast_aggregate_verify_cases() {
    let v = vectors();
    for c in cases(&v, "fast_aggregate_verify") {
        let pks: Vec<Vec<u8>> = c["pubkeys"].as_array().unwrap().iter().map(bytes).collect();
        let got = fast_aggregate_verify(&pks, &bytes(&c["message"]), &bytes(&c["signature"]));
        assert_eq!(got, c["output"].as_bool().unwrap(), "{c}");
    }
}

#[test]
fn deserialization_g1() {
    let v = vectors();
    for c in cases(&v, "deserialization_G1") {
        let ok = PublicKey::from_bytes(&bytes(&c["pubkey"])).is_ok();
        assert_eq!(ok, c["output"].as_bool().unwrap(), "{}", c["name"]);
    }
}

#[test]
fn deserialization_g2() {
    let v = vectors();
    for c in cases(&v, "deserialization_G2") {
        // A signature "deserializes" in the suite's sense when it decodes and
        // lies in G2; decoding checks the curve, `in_subgroup` the rest.
        let ok = Signature::from_bytes(&bytes(&c["signature"])).is_ok_and(|s| s.in_subgroup());
        assert_eq!(ok, c["output"].as_bool().unwrap(), "{}", c["name"]);
    }
}
