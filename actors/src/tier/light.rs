//! An IoT device that is in no committee runs as a light client: it takes
//! submissions and passes them to its upstream node, and it checks what the
//! upstream says about a transaction against the genesis alone: the block
//! must be committed under its chain's rule (its header and those after it
//! up to the commit, the last certified by a quorum of the chain's
//! committee: `consensus::commit_proof`), and the transaction must be in
//! the header's transaction root. Everything the upstream sends is read
//! with a size limit and decoded with the codec's limits.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use strata_chains::auth::StateProof;
use strata_chains::consensus::commit_proof::{self, MAX_COMMIT_PROOF_HEADERS};
use strata_chains::types::{BlockHeader, ChainId, QuorumCertificate};
use strata_crypto::codec::decode_message;
use strata_crypto::hash::Digest;
use strata_crypto::merkle::InclusionProof;

use super::light_metrics::LightMetrics;
use crate::api::ApiError;
use crate::config::{Genesis, NodeConfig};
use crate::process::{spawn_server, stop_on_signals, NodeError, SERVER_SHUTDOWN_SECS};

#[derive(Clone)]
struct LightState {
    name: String,
    upstream: String,
    genesis: std::sync::Arc<Genesis>,
    agent: ureq::Agent,
    /// The domain's chain as followed here (headers checked, no execution).
    follow: Option<std::sync::Arc<std::sync::Mutex<super::follow::FollowStatus>>>,
    metrics: std::sync::Arc<LightMetrics>,
}

pub fn start(cfg: &NodeConfig) -> Result<(), NodeError> {
    let upstream = cfg
        .upstream
        .clone()
        .ok_or_else(|| NodeError::Start("a light client needs an upstream node".into()))?;
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(UPSTREAM_TIMEOUT))
        .build()
        .new_agent();
    let follow = match cfg.domain {
        Some(d) => Some(
            super::follow::start(
                &cfg.data_dir.join("light-headers"),
                &cfg.genesis,
                strata_chains::types::ChainId::local(d),
                &upstream,
                cfg.prune,
            )
            .map_err(|e| NodeError::Start(format!("following the domain's chain: {e}")))?,
        ),
        None => None,
    };
    let metrics = std::sync::Arc::new(LightMetrics::new());
    serve_light_metrics(cfg, metrics.clone(), follow.clone())?;
    let data = web::Data::new(LightState {
        name: cfg.name.clone(),
        upstream: upstream.trim_end_matches('/').to_string(),
        genesis: cfg.genesis.clone(),
        agent,
        follow,
        metrics,
    });
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .configure(crate::api::json_errors)
            .route("/v1/tx", web::post().to(forward_tx))
            .route("/v1/tx/{hash}", web::get().to(get_tx))
            .route("/v1/status", web::get().to(status))
            .route("/health", web::get().to(crate::api::health))
            .default_service(web::to(not_served))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(SERVER_SHUTDOWN_SECS)
    .bind(cfg.api)
    .map_err(|e| NodeError::Start(format!("cannot listen for the API on {}: {e}", cfg.api)))?
    .run();
    spawn_server(server);
    stop_on_signals();
    tracing::info!(node = %cfg.name, upstream = %upstream, "light client started");
    Ok(())
}

/// `/metrics` on the node file's metrics address, as a full node's.
fn serve_light_metrics(
    cfg: &NodeConfig,
    metrics: std::sync::Arc<LightMetrics>,
    follow: Option<std::sync::Arc<std::sync::Mutex<super::follow::FollowStatus>>>,
) -> Result<(), NodeError> {
    let data_dir = cfg.data_dir.clone();
    crate::process::serve_metrics_text(
        cfg.metrics,
        std::sync::Arc::new(move || {
            let status = follow
                .as_ref()
                .and_then(|f| f.lock().ok().map(|s| s.clone()));
            metrics.render(status.as_ref(), &data_dir)
        }),
    )
}

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read from the upstream (a proof is a few KiB).
const MAX_UPSTREAM_BYTES: u64 = 1 << 20;
/// Largest header or certificate decoded from an upstream proof.
const MAX_PROOF_ITEM_BYTES: usize = 256 << 10;

async fn not_served() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "a light client serves POST /v1/tx, GET /v1/tx/{hash}, /v1/status and /health",
    ))
}

/// A light client takes part in no chain; it names its upstream and the
/// domain count clients need to route their records.
async fn status(state: web::Data<LightState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "node": state.name,
        "tier": "iot",
        "light": true,
        "upstream": state.upstream,
        "domains": state.genesis.domains().count(),
        "network": state.genesis.digest.to_hex(),
        "chains": [],
        "following": state.follow.as_ref().and_then(|f| f.lock().ok().map(|s| s.clone())),
    }))
}

fn upstream_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "upstream",
        format!("the upstream node failed: {e}"),
    )
}

async fn forward_tx(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<LightState>,
) -> Result<HttpResponse, ApiError> {
    let body = crate::api::read_body(&req, payload, crate::api::MAX_BODY).await?;
    let url = format!("{}/v1/tx", state.upstream);
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let agent = state.agent.clone();
    let answer = web::block(move || -> Result<(u16, String), String> {
        let mut resp = agent
            .post(&url)
            .header("content-type", &content_type)
            .send(&body[..])
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_UPSTREAM_BYTES)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok((status, text))
    })
    .await
    .map_err(upstream_error)
    .and_then(|r| r.map_err(upstream_error));
    let outcome = match &answer {
        Ok((s, _)) if (200..300).contains(s) => "accepted",
        Ok(_) => "refused",
        Err(_) => "upstream_error",
    };
    state.metrics.forwarded.with_label_values(&[outcome]).inc();
    let (status, text) = answer?;
    Ok(
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
            .content_type("application/json")
            .body(text),
    )
}

fn fetch_json(agent: &ureq::Agent, url: &str) -> Result<(u16, serde_json::Value), String> {
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(MAX_UPSTREAM_BYTES)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let v = serde_json::from_str(&text).map_err(|e| format!("upstream answered non-JSON: {e}"))?;
    Ok((status, v))
}

#[derive(Serialize)]
struct Verified {
    hash: String,
    level: serde_json::Value,
    state: serde_json::Value,
    /// Whether the commit was checked here against the genesis committee.
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// The header a proof names, once its commit proof holds: the headers up
/// to the commit, the last certified by the genesis committee of the
/// proof's chain.
fn check_commit(genesis: &Genesis, proof: &serde_json::Value) -> Result<BlockHeader, String> {
    let field = |k: &str| proof.get(k).ok_or_else(|| format!("proof lacks {k}"));
    let hex_field = |k: &str| -> Result<Vec<u8>, String> {
        hex::decode(field(k)?.as_str().ok_or(format!("{k} is not a string"))?)
            .map_err(|e| format!("{k}: {e}"))
    };
    let header: BlockHeader = decode_message(&hex_field("header")?, MAX_PROOF_ITEM_BYTES)
        .map_err(|e| format!("header: {e}"))?;
    let cert: QuorumCertificate = decode_message(&hex_field("certificate")?, MAX_PROOF_ITEM_BYTES)
        .map_err(|e| format!("certificate: {e}"))?;
    let later = field("commit_headers")?
        .as_array()
        .ok_or("commit_headers is not a list")?;
    if later.len() >= MAX_COMMIT_PROOF_HEADERS {
        return Err("commit_headers is too long".into());
    }
    let mut headers = vec![header];
    for h in later {
        let bytes = hex::decode(h.as_str().ok_or("a commit header is not a string")?)
            .map_err(|e| format!("commit header: {e}"))?;
        headers.push(
            decode_message(&bytes, MAX_PROOF_ITEM_BYTES)
                .map_err(|e| format!("commit header: {e}"))?,
        );
    }
    let chain = u32::try_from(field("chain")?.as_u64().ok_or("chain is not a number")?)
        .map(ChainId)
        .map_err(|_| "chain is out of range")?;
    let spec = genesis
        .chains
        .get(&chain)
        .ok_or(format!("the genesis has no chain {chain}"))?;
    commit_proof::verify(
        spec.protocol,
        chain,
        &spec.genesis.hash(),
        &spec.committee,
        strata_crypto::QuorumThreshold::TWO_THIRDS,
        &headers,
        &cert,
    )
    .map_err(|e| format!("commit: {e}"))?;
    headers
        .into_iter()
        .next()
        .ok_or_else(|| "no header".to_string())
}

/// Checks a state proof (`GET /v1/state/{key}/proof`) offline against the
/// genesis: the header naming the state is committed, and the key has the
/// value the proof gives (or is absent) in the state that header names.
/// Returns the proven value.
pub fn check_state_proof(
    genesis: &Genesis,
    key: &[u8],
    proof: &serde_json::Value,
) -> Result<Option<Vec<u8>>, String> {
    let header = check_commit(genesis, proof)?;
    let bytes = proof
        .get("proof")
        .and_then(|p| p.as_str())
        .ok_or("proof lacks proof")?;
    let bytes = hex::decode(bytes).map_err(|e| format!("proof: {e}"))?;
    let state: StateProof =
        decode_message(&bytes, MAX_PROOF_ITEM_BYTES).map_err(|e| format!("proof: {e}"))?;
    if state.key != key {
        return Err("the proof is for another key".into());
    }
    state
        .verify(&header.state_root)
        .map_err(|e| format!("state: {e}"))?;
    Ok(state.value)
}

/// Checks an upstream receipt against the genesis: it must verify and be
/// the receipt of `hash`.
fn check_receipt(
    genesis: &Genesis,
    hash: &Digest,
    receipt: &serde_json::Value,
) -> Result<strata_chains::anchor::ReceiptSummary, String> {
    let json: strata_chains::anchor::ReceiptJson =
        serde_json::from_value(receipt.clone()).map_err(|e| e.to_string())?;
    let summary = json
        .verify(&strata_chains::anchor::Trust::new(&genesis.state))
        .map_err(|e| e.to_string())?;
    if summary.record != hash.to_hex() {
        return Err("the receipt is of another record".into());
    }
    Ok(summary)
}

/// Checks an upstream proof: the block committed under its chain's rule
/// (headers up to the commit, the last certified by the genesis committee)
/// and the transaction under the block header's root.
pub fn check_proof(
    genesis: &Genesis,
    hash: &Digest,
    proof: &serde_json::Value,
) -> Result<(), String> {
    let field = |k: &str| proof.get(k).ok_or_else(|| format!("proof lacks {k}"));
    let header = check_commit(genesis, proof)?;
    let siblings = field("siblings")?
        .as_array()
        .ok_or("siblings is not a list")?
        .iter()
        .map(|s| {
            s.as_str()
                .ok_or("sibling is not a string")
                .and_then(|s| Digest::from_hex(s).map_err(|_| "sibling is not a digest"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let inclusion = InclusionProof {
        leaf_index: field("index")?.as_u64().ok_or("index is not a number")?,
        leaf_count: field("leaf_count")?
            .as_u64()
            .ok_or("leaf_count is not a number")?,
        siblings,
    };
    inclusion
        .verify_hash(&header.tx_root, hash)
        .map_err(|e| format!("inclusion: {e}"))
}

#[derive(serde::Deserialize)]
struct WaitQuery {
    wait: Option<String>,
    timeout_ms: Option<u64>,
}

async fn get_tx(
    path: web::Path<String>,
    query: web::Query<WaitQuery>,
    state: web::Data<LightState>,
) -> Result<HttpResponse, ApiError> {
    let hash = Digest::from_hex(&path).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            "a transaction hash is 64 hexadecimal characters",
        )
    })?;
    let wait = match query.wait.as_deref() {
        None => String::new(),
        Some(level @ ("accepted" | "local" | "global")) => format!(
            "?wait={level}&timeout_ms={}",
            query.timeout_ms.unwrap_or(10_000).min(30_000)
        ),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("wait must be accepted, local or global, not {other:?}"),
            ))
        }
    };
    let upstream = state.clone();
    let (status, body, proof) = web::block(move || -> Result<_, String> {
        let base = &upstream.upstream;
        let (status, body) = fetch_json(
            &upstream.agent,
            &format!("{base}/v1/tx/{}{wait}", hash.to_hex()),
        )?;
        let committed = body.pointer("/state/status").and_then(|s| s.as_str()) == Some("committed");
        if status == 200 && body["level"] == "global" {
            // Global: the receipt proves it, checked here.
            let receipt = fetch_json(
                &upstream.agent,
                &format!("{base}/v1/tx/{}/receipt", hash.to_hex()),
            );
            return Ok((status, body, Some(receipt.map(|(s, r)| (s, r, true)))));
        }
        let proof = if status == 200 && committed {
            Some(fetch_json(
                &upstream.agent,
                &format!("{base}/v1/tx/{}/proof", hash.to_hex()),
            ))
        } else {
            None
        };
        Ok((status, body, proof.map(|p| p.map(|(s, v)| (s, v, false)))))
    })
    .await
    .map_err(upstream_error)?
    .map_err(upstream_error)?;
    if status != 200 {
        return Ok(HttpResponse::build(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        )
        .json(body));
    }
    let (verified, reason) = match proof {
        None => (false, None),
        Some(Ok((200, receipt, true))) => match check_receipt(&state.genesis, &hash, &receipt) {
            Ok(summary) => {
                state.metrics.proofs.with_label_values(&["verified"]).inc();
                return Ok(HttpResponse::Ok().json(serde_json::json!({
                    "hash": hash.to_hex(),
                    "state": body.get("state"),
                    "level": "global",
                    "verified": true,
                    "receipt": summary,
                })));
            }
            Err(e) => (
                false,
                Some(format!("the upstream's receipt does not verify: {e}")),
            ),
        },
        Some(Ok((200, proof, _))) => match check_proof(&state.genesis, &hash, &proof) {
            Ok(()) => (true, None),
            Err(e) => (
                false,
                Some(format!("the upstream's proof does not verify: {e}")),
            ),
        },
        // The block's certificate arrives with the next block.
        Some(Ok((s, _, _))) => (
            false,
            Some(format!("the upstream has no proof yet (HTTP {s})")),
        ),
        Some(Err(e)) => (false, Some(format!("fetching the proof failed: {e}"))),
    };
    let verdict = match (verified, &reason) {
        (true, _) => "verified",
        (false, None) => "pending",
        (false, Some(_)) => "unverified",
    };
    state.metrics.proofs.with_label_values(&[verdict]).inc();
    Ok(HttpResponse::Ok().json(Verified {
        level: body
            .get("level")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
        hash: hash.to_hex(),
        state: body
            .get("state")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
        verified,
        reason,
    }))
}
