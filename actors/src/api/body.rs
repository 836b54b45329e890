//! Reading and decoding request bodies: a size limit before any work,
//! then the codec's limits (SCALE), or bounded JSON (the record form, or
//! `{"tx": hex}`). Every failure is a 4xx `ApiError`, never a crash.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use futures::StreamExt;
use serde::Deserialize;
use strata_chains::types::Transaction;
use strata_crypto::codec::{decode_message, BoundedVec};

use super::{ApiError, MAX_BODY, MAX_TXS_PER_REQUEST};
use crate::tx_json::{self, TxBody};

/// A JSON record to digest: its bounded fields, escaped, fit in far less.
pub(crate) const MAX_JSON_RECORD: usize = 256 << 10;

/// Reads a body of at most `limit` bytes, refusing early on a larger
/// Content-Length and aborting a stream that grows past the limit.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    };
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::malformed(format!("reading the body failed: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(crate) fn decode_tx(req: &HttpRequest, body: &[u8]) -> Result<Transaction, ApiError> {
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    decode_tx_body(is_json, body)
}

/// The JSON body of `POST /v1/tx` in its SCALE form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleHex {
    tx: String,
}

/// The body of `POST /v1/tx`: SCALE bytes; or JSON, either a signed
/// record in the JSON form (`tx_json`) or `{"tx": "<SCALE hex>"}` (the
/// fuzzing entry point of the API's decoding).
pub fn decode_tx_body(is_json: bool, body: &[u8]) -> Result<Transaction, ApiError> {
    let bytes = if is_json {
        // A JSON record fits in `MAX_JSON_RECORD`; a larger body can only be
        // the hex form, read as exactly that (an untagged enum would first
        // buffer the whole document as a tree, arrays of tiny strings
        // included).
        let j: TxBody = if body.len() > MAX_JSON_RECORD {
            serde_json::from_slice::<ScaleHex>(body)
                .map(|h| TxBody::Scale { tx: h.tx })
                .map_err(|e| {
                    ApiError::malformed(format!(
                        "invalid JSON ({e}): a body over {MAX_JSON_RECORD} bytes must be {{\"tx\": \"<hex>\"}}"
                    ))
                })?
        } else {
            serde_json::from_slice(body).map_err(|e| {
            ApiError::malformed(format!(
                "invalid JSON ({e}): expected {{\"record\": …, \"signature\": …}} or {{\"tx\": \"<hex>\"}}"
            ))
        })?
        };
        match j {
            TxBody::Signed { record, signature } => {
                return tx_json::signed_transaction(&record, &signature)
                    .map_err(|e| ApiError::malformed(e.to_string()));
            }
            TxBody::Scale { tx } => hex::decode(tx.trim())
                .map_err(|e| ApiError::malformed(format!("`tx` is not hex: {e}")))?,
        }
    } else {
        body.to_vec()
    };
    decode_message(&bytes, MAX_BODY)
        .map_err(|e| ApiError::malformed(format!("not a transaction: {e}")))
}

/// The body of `POST /v1/txs`: a SCALE vector of transactions.
pub fn decode_txs_body(
    body: &[u8],
) -> Result<BoundedVec<Transaction, MAX_TXS_PER_REQUEST>, ApiError> {
    decode_message(body, MAX_BODY)
        .map_err(|e| ApiError::malformed(format!("not a vector of transactions: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found in review: a large JSON body in the record form (an array of
    /// tiny strings) was buffered whole as a tree before any bound held;
    /// past `MAX_JSON_RECORD` only the hex form is read.
    #[test]
    fn a_large_json_body_is_read_only_as_the_hex_form() {
        let parents = vec!["p"; MAX_JSON_RECORD / 3];
        let big =
            serde_json::json!({"record": {"parents": parents}, "signature": "00"}).to_string();
        assert!(big.len() > MAX_JSON_RECORD);
        let e = decode_tx_body(true, big.as_bytes()).unwrap_err();
        assert_eq!(e.code, "malformed");
        assert!(e.message.contains("must be {\"tx\""), "{}", e.message);
        // The hex form of a transaction over the bound still decodes.
        let tx = Transaction::Opaque(
            strata_crypto::codec::BoundedBytes::new(vec![7; 60 << 10]).unwrap(),
        );
        use parity_scale_codec::Encode;
        // (Padded with whitespace past the bound: a transaction that large
        // in hex is a system transaction, which this test does not build.)
        let hex_body = format!(
            "{}{}",
            serde_json::json!({"tx": hex::encode(tx.encode())}),
            " ".repeat(MAX_JSON_RECORD)
        );
        assert!(hex_body.len() > MAX_JSON_RECORD);
        assert_eq!(decode_tx_body(true, hex_body.as_bytes()).unwrap(), tx);
    }

    #[test]
    fn bodies_decode_as_scale_or_json_hex_and_anything_else_is_malformed() {
        use strata_crypto::codec::BoundedBytes;
        let tx = Transaction::Opaque(BoundedBytes::new(b"record".to_vec()).unwrap());
        let scale = parity_scale_codec::Encode::encode(&tx);
        assert_eq!(decode_tx_body(false, &scale).unwrap(), tx);
        let json = format!("{{\"tx\": \" {} \"}}", hex::encode(&scale));
        assert_eq!(decode_tx_body(true, json.as_bytes()).unwrap(), tx);
        for (is_json, body) in [
            (true, b"{\"tx\": 5}".to_vec()),
            (true, b"{\"tx\": \"zz\"}".to_vec()),
            (true, scale.clone()),
            (false, b"\xff\xff\xff".to_vec()),
            (false, [scale.as_slice(), b"trailing"].concat()),
        ] {
            let e = decode_tx_body(is_json, &body).unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "malformed"));
        }
        let many = parity_scale_codec::Encode::encode(&vec![tx.clone(), tx]);
        assert_eq!(decode_txs_body(&many).unwrap().len(), 2);
        assert_eq!(decode_txs_body(&scale).unwrap_err().code, "malformed");
    }
}
