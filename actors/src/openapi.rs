//! The HTTP API's contract: an OpenAPI 3 document generated from the
//! handlers' own annotations (`#[utoipa::path]` beside each handler), served
//! at `GET /v1/openapi.json`. The test below reads the routes the node
//! registers from the source and fails when one is missing from the
//! document or the document names one that is not served, so the two
//! cannot drift; `scripts/api-contract` runs schemathesis against a running
//! node with it (no 5xx, every error in the documented shape).

use actix_web::{web, HttpResponse};
use utoipa::OpenApi;

use crate::{api, dynasty_api, hierarchy_api, rewards_api, stake_api};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Strata node API",
        description = "Records, receipts, chains, dynasties and rewards of a Strata full node. \
                       Every error answers `{\"error\": {\"code\", \"message\"}}` with its HTTP status."
    ),
    paths(
        api::post_tx,
        api::post_tx_digest,
        api::post_txs,
        api::tx_status::get_tx,
        api::get_tx_proof,
        api::get_state_proof,
        api::get_history,
        api::get_block,
        api::get_evidence,
        api::get_status,
        api::health,
        dynasty_api::get_committee,
        dynasty_api::get_epoch,
        dynasty_api::get_handoffs,
        dynasty_api::get_beacon,
        dynasty_api::get_beacon_at,
        dynasty_api::post_system,
        hierarchy_api::get_lineage,
        hierarchy_api::get_conflict,
        hierarchy_api::get_export,
        hierarchy_api::get_headers,
        hierarchy_api::post_anchor,
        hierarchy_api::get_anchor,
        hierarchy_api::get_receipt,
        hierarchy_api::get_genesis,
        rewards_api::get_balance,
        rewards_api::get_epoch,
        stake_api::get_stake,
        get_openapi,
    ),
    components(schemas(api::ErrorBody, api::ErrorInner))
)]
pub struct ApiDoc;

/// The document, built once.
fn document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default())
}

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "node",
    responses(
        (status = 200, description = "This document", body = serde_json::Value),
    ),
)]
async fn get_openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/openapi.json", web::get().to(get_openapi));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The `(method, path)` of every `.route(...)` a full node registers,
    /// read from the files that register them.
    fn served() -> BTreeSet<(String, String)> {
        let sources = [
            include_str!("api/mod.rs"),
            include_str!("dynasty_api.rs"),
            include_str!("hierarchy_api.rs"),
            include_str!("rewards_api.rs"),
            include_str!("stake_api.rs"),
            include_str!("openapi.rs"),
        ];
        let mut out = BTreeSet::new();
        for src in sources {
            // Up to the tests: their own apps are not the node's.
            let src = src.split("#[cfg(test)]").next().unwrap_or(src);
            for piece in src.split(".route(").skip(1) {
                let Some(path) = piece.split('"').nth(1) else {
                    continue;
                };
                // The method named before the handler.
                let head = piece.split(".to(").next().unwrap_or("");
                let method = if head.contains("web::post()") {
                    "post"
                } else {
                    "get"
                };
                out.insert((method.to_string(), path.to_string()));
            }
        }
        out
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(document()).unwrap();
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.insert((method.clone(), path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_served_route_is_documented_and_nothing_else() {
        let (served, documented) = (served(), documented());
        assert!(served.len() >= 28, "{served:?}");
        assert_eq!(served, documented);
    }

    #[test]
    fn every_operation_documents_its_errors_in_the_one_error_shape() {
        let doc: serde_json::Value = serde_json::from_str(document()).unwrap();
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if path == "/v1/openapi.json" {
                    continue;
                }
                for range in ["4XX", "5XX"] {
                    let schema =
                        &op["responses"][range]["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema.as_str(),
                        Some("#/components/schemas/ErrorBody"),
                        "{method} {path} {range}"
                    );
                }
            }
        }
        let body = &doc["components"]["schemas"]["ErrorBody"];
        assert!(body["properties"]["error"].is_object(), "{body}");
    }
}
