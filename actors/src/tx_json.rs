//! The JSON form of a provenance record, for clients that do not speak
//! SCALE (issue 28, point 6; README, "Submitting without SCALE").
//!
//! A client builds the record as JSON, asks any node for the digest to
//! sign (`POST /v1/tx/digest`), signs those 32 bytes with its sr25519 key
//! under the signing context `strata/tx/v1`, and posts the record with
//! the signature (`POST /v1/tx`, `Content-Type: application/json`). The
//! node converts the JSON to the one binary record every node checks and
//! orders; the JSON is never signed or stored itself, so there is one
//! encoding of a record however it arrived.
//!
//! Strings are UTF-8 and become the bytes of object ids and metadata;
//! ids or metadata that are not UTF-8 need the SCALE form. Every bound of
//! the binary record applies, and a field that breaks one is named.

use serde::{Deserialize, Serialize};
use strata_chains::types::{MetaEntry, Provenance, SignedProvenance, Transaction};
use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::{TxPublicKey, TxSignature, SIGNING_CONTEXT};

/// A record as a JSON client writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordJson {
    /// The network's genesis digest, hex (`GET /v1/status` → `network`).
    pub network: String,
    pub domain: u32,
    pub object_id: String,
    /// create, read, update, transfer, derive or delete.
    pub op: String,
    /// SHA-256 (or any 32-byte digest) of the data, hex.
    pub payload_digest: String,
    #[serde(default)]
    pub parents: Vec<String>,
    /// Metadata entries, in the order they are signed.
    #[serde(default)]
    pub meta: Vec<MetaJson>,
    /// The sender's sr25519 public key, hex (32 bytes).
    pub sender: String,
    pub nonce: u64,
    pub timestamp_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaJson {
    pub key: String,
    pub value: String,
}

/// `POST /v1/tx/digest`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestRequest {
    pub record: RecordJson,
}

/// `POST /v1/tx/digest`'s answer: what to sign, and the record's binary
/// form for clients that want to check it.
#[derive(Debug, Serialize)]
pub struct DigestAnswer {
    /// The 32 bytes to sign, hex.
    pub signing_digest: String,
    /// The sr25519 signing context.
    pub context: &'static str,
    /// The unsigned record, SCALE, hex.
    pub record_scale: String,
}

/// A JSON body of `POST /v1/tx`: a signed record, or a SCALE transaction
/// in hex (any transaction kind).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TxBody {
    Signed {
        record: RecordJson,
        /// The sender's signature of `signing_digest`, hex (64 bytes).
        signature: String,
    },
    Scale {
        /// The SCALE-encoded transaction, hex.
        tx: String,
    },
}

/// What is wrong with a JSON record, naming the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {reason}")]
pub struct JsonFieldError {
    pub field: String,
    pub reason: String,
}

fn bad(field: impl Into<String>, reason: impl std::fmt::Display) -> JsonFieldError {
    JsonFieldError {
        field: field.into(),
        reason: reason.to_string(),
    }
}

fn hex_bytes(field: &str, s: &str, len: usize) -> Result<Vec<u8>, JsonFieldError> {
    let b = hex::decode(s.trim()).map_err(|e| bad(field, format!("not hex ({e})")))?;
    if b.len() != len {
        return Err(bad(field, format!("{} bytes, expected {len}", b.len())));
    }
    Ok(b)
}

fn digest(field: &str, s: &str) -> Result<Digest, JsonFieldError> {
    Digest::from_hex(s.trim()).map_err(|e| bad(field, e))
}

fn bounded<const MAX: usize>(field: &str, s: &str) -> Result<BoundedBytes<MAX>, JsonFieldError> {
    BoundedBytes::new(s.as_bytes().to_vec())
        .map_err(|_| bad(field, format!("{} bytes, at most {MAX}", s.len())))
}

impl RecordJson {
    /// The binary record, every bound checked.
    pub fn to_record(&self) -> Result<Provenance, JsonFieldError> {
        let parents = self
            .parents
            .iter()
            .enumerate()
            .map(|(i, p)| bounded(&format!("parents[{i}]"), p))
            .collect::<Result<Vec<_>, _>>()?;
        let meta = self
            .meta
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Ok(MetaEntry {
                    key: bounded(&format!("meta[{i}].key"), &m.key)?,
                    value: bounded(&format!("meta[{i}].value"), &m.value)?,
                })
            })
            .collect::<Result<Vec<_>, JsonFieldError>>()?;
        let sender = TxPublicKey::from_bytes(&hex_bytes("sender", &self.sender, 32)?)
            .map_err(|e| bad("sender", e))?;
        Ok(Provenance {
            network: digest("network", &self.network)?,
            domain: self.domain,
            object_id: bounded("object_id", &self.object_id)?,
            op: self.op.parse().map_err(|e: String| bad("op", e))?,
            payload_digest: digest("payload_digest", &self.payload_digest)?,
            parents: BoundedVec::new(parents)
                .map_err(|e| bad("parents", format!("too many ({e})")))?,
            meta: BoundedVec::new(meta).map_err(|e| bad("meta", format!("too many ({e})")))?,
            sender,
            nonce: self.nonce,
            timestamp_ms: self.timestamp_ms,
        })
    }

    /// The JSON form of a record whose ids and metadata are UTF-8.
    pub fn of(record: &Provenance) -> Option<RecordJson> {
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
        Some(RecordJson {
            network: record.network.to_hex(),
            domain: record.domain,
            object_id: text(&record.object_id)?,
            op: format!("{:?}", record.op).to_lowercase(),
            payload_digest: record.payload_digest.to_hex(),
            parents: record
                .parents
                .iter()
                .map(|p| text(p))
                .collect::<Option<_>>()?,
            meta: record
                .meta
                .iter()
                .map(|m| {
                    Some(MetaJson {
                        key: text(&m.key)?,
                        value: text(&m.value)?,
                    })
                })
                .collect::<Option<_>>()?,
            sender: hex::encode(record.sender.to_bytes()),
            nonce: record.nonce,
            timestamp_ms: record.timestamp_ms,
        })
    }
}

/// The answer to `POST /v1/tx/digest`.
pub fn digest_answer(record: &RecordJson) -> Result<DigestAnswer, JsonFieldError> {
    use parity_scale_codec::Encode;
    let r = record.to_record()?;
    Ok(DigestAnswer {
        signing_digest: r.signing_digest().to_hex(),
        context: std::str::from_utf8(SIGNING_CONTEXT).unwrap_or("strata/tx/v1"),
        record_scale: hex::encode(r.encode()),
    })
}

/// A signed JSON record as the transaction nodes order. The signature is
/// checked with every other record's, in the mempool's batches.
pub fn signed_transaction(
    record: &RecordJson,
    signature: &str,
) -> Result<Transaction, JsonFieldError> {
    let record = record.to_record()?;
    let signature = TxSignature::from_bytes(&hex_bytes("signature", signature, 64)?)
        .map_err(|e| bad("signature", e))?;
    Ok(Transaction::Provenance(SignedProvenance {
        record,
        signature,
    }))
}

#[cfg(test)]
mod tests {
    use strata_chains::test_support::signed_record;
    use strata_crypto::sr25519::TxKeypair;

    use super::*;

    fn key() -> TxKeypair {
        TxKeypair::from_seed(&[7; 32])
    }

    fn record_json() -> RecordJson {
        let Transaction::Provenance(p) = signed_record(&key(), 1, b"sensor-17", 4) else {
            panic!("a provenance record")
        };
        let mut j = RecordJson::of(&p.record).expect("UTF-8 ids");
        j.parents = vec!["sensor-1".into()];
        j.meta = vec![MetaJson {
            key: "unit".into(),
            value: "°C".into(),
        }];
        j
    }

    #[test]
    fn a_json_record_signed_over_its_digest_is_the_binary_record_and_verifies() {
        let j = record_json();
        let answer = digest_answer(&j).unwrap();
        // The client signs the 32 bytes the node named, nothing else.
        let digest = hex::decode(&answer.signing_digest).unwrap();
        let sig = key().sign(&digest);
        let tx = signed_transaction(&j, &hex::encode(sig.to_bytes())).unwrap();
        let Transaction::Provenance(p) = &tx else {
            panic!("a provenance record")
        };
        assert_eq!(p.record.signing_digest().to_hex(), answer.signing_digest);
        assert!(p.verify().is_ok());
        assert_eq!(&*p.record.object_id, b"sensor-17");
        assert_eq!(&*p.record.meta[0].value, "°C".as_bytes());
        // The JSON round-trips, and the SCALE the node showed is the record.
        assert_eq!(
            RecordJson::of(&p.record).unwrap().to_record().unwrap(),
            p.record
        );
        use parity_scale_codec::Encode;
        assert_eq!(answer.record_scale, hex::encode(p.record.encode()));
    }

    #[test]
    fn a_bad_field_is_named() {
        type Breaks = fn(&mut RecordJson);
        let cases: Vec<(Breaks, &str)> = vec![
            (|j| j.op = "rename".into(), "op"),
            (|j| j.sender = "zz".into(), "sender"),
            (|j| j.sender = "00".into(), "sender"),
            (|j| j.network = "12".into(), "network"),
            (|j| j.payload_digest = String::new(), "payload_digest"),
            (|j| j.object_id = "x".repeat(4096), "object_id"),
            (|j| j.parents.push("p".repeat(4096)), "parents[1]"),
            (|j| j.meta[0].value = "v".repeat(1 << 16), "meta[0].value"),
            (|j| j.parents = vec!["p".into(); 10_000], "parents"),
        ];
        for (break_it, field) in cases {
            let mut j = record_json();
            break_it(&mut j);
            let e = j.to_record().unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
        let e = signed_transaction(&record_json(), "abcd").unwrap_err();
        assert_eq!(e.field, "signature");
    }

    #[test]
    fn unknown_fields_are_refused_and_both_post_forms_parse() {
        let mut v = serde_json::to_value(record_json()).unwrap();
        v["colour"] = "red".into();
        assert!(serde_json::from_value::<RecordJson>(v).is_err());
        let signed = serde_json::json!({"record": record_json(), "signature": "00"});
        assert!(matches!(
            serde_json::from_value::<TxBody>(signed).unwrap(),
            TxBody::Signed { .. }
        ));
        let scale = serde_json::json!({"tx": "00"});
        assert!(matches!(
            serde_json::from_value::<TxBody>(scale).unwrap(),
            TxBody::Scale { .. }
        ));
    }
}
