//! The HTTP routes of the hierarchy (issue 25): anchors on the global
//! chain's nodes, receipts on any full node.
//!
//! - `POST /v1/anchors` (global nodes; body: a SCALE `Anchor`): the anchor
//!   goes to the global chain's mempool, which checks its certificate
//!   against the domain's committee before admitting it; an anchor at or
//!   below the domain's last anchored height is answered at once (200,
//!   `already_anchored`), without any check.
//! - `GET /v1/anchors/{domain}` (global nodes): the domain's last anchor
//!   as the global state records it, with its `inclusion` (the anchor, its
//!   place in a committed global block and that block's commit proof;
//!   SCALE, hex) once the block's commit proof is here.
//! - `GET /v1/tx/{hash}/receipt[?format=scale]`: the record's receipt
//!   (`strata_chains::anchor::receipt`), anchored when the domain's last
//!   anchor covers its block, else committed on its own chain; verified
//!   here before it is served.
//! - `GET /v1/genesis`: the genesis state receipts are verified against
//!   (SCALE, hex) with its configuration digest: what the explorer page
//!   hands its in-page receipt check.

use std::sync::Mutex;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use parity_scale_codec::{Decode, Encode};
use serde::Deserialize;
use strata_chains::anchor::{AnchorInclusion, AnchoredProof, Finality, Receipt, Trust};
use strata_chains::execution::{anchor_key, AnchorHead, StateView};
use strata_chains::mempool::MAX_ANCHOR_BYTES;
use strata_chains::store::Store;
use strata_chains::types::{Anchor, ChainId, SystemTx, Transaction};
use strata_crypto::codec::decode_message;

use crate::api::{parse_digest, read_body, ApiError, ApiState};
use crate::chain::ledger::{GetBlockLink, GetExport, GetHeaders, GetIncluded};
use crate::chain::mempool::Submit;

/// Anchors checked per second at most (each costs a pairing): anchors
/// come a few per second per domain; more is a client's flood.
const ANCHOR_CHECKS_PER_SECOND: u32 = 64;

/// The anchors checked in the current second.
static ANCHOR_BUDGET: Mutex<Option<(Instant, u32)>> = Mutex::new(None);

fn take_anchor_budget() -> bool {
    let Ok(mut budget) = ANCHOR_BUDGET.lock() else {
        return false;
    };
    let now = Instant::now();
    let (since, used) = budget.get_or_insert((now, 0));
    if now.duration_since(*since).as_secs() >= 1 {
        *since = now;
        *used = 0;
    }
    if *used >= ANCHOR_CHECKS_PER_SECOND {
        return false;
    }
    *used += 1;
    true
}

fn global(state: &ApiState) -> Result<&crate::api::ChainHandles, ApiError> {
    state.chains.get(&ChainId::GLOBAL).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_served",
            "this node does not serve the global chain",
        )
    })
}

fn last_anchor(state: &dyn StateView, domain: u32) -> Result<Option<AnchorHead>, ApiError> {
    let bytes = state
        .value(&anchor_key(domain))
        .map_err(|_| ApiError::unavailable())?;
    Ok(bytes.and_then(|b| AnchorHead::decode(&mut &b[..]).ok()))
}

#[utoipa::path(
    post,
    path = "/v1/anchors",
    tag = "anchors",
    request_body(content((Vec<u8> = "application/octet-stream"), (serde_json::Value = "application/json")), description = "A SCALE-encoded anchor transaction, or JSON {\"tx\": hex}"),
    responses(
        (status = 202, description = "Accepted: the anchor's hash", body = serde_json::Value),
        (status = 200, description = "The domain is anchored at or past this height already", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn post_anchor(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let g = global(&state)?;
    let bytes = read_body(&req, body, MAX_ANCHOR_BYTES).await?;
    let anchor: Anchor = decode_message(&bytes, MAX_ANCHOR_BYTES)
        .map_err(|e| ApiError::malformed(format!("not an anchor: {e}")))?;
    if state.domains <= anchor.domain {
        return Err(ApiError::malformed(format!(
            "the network has no domain {}",
            anchor.domain
        )));
    }
    if let Some(head) = last_anchor(&g.state, anchor.domain)? {
        if head.last.height >= anchor.anchored_height() {
            return Ok(HttpResponse::Ok().json(serde_json::json!({
                "already_anchored": head.last.height,
            })));
        }
    }
    if !take_anchor_budget() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many anchors to check this second; retry",
        ));
    }
    let tx = Transaction::System(Box::new(SystemTx::Anchor(Box::new(anchor))));
    let verdict = g
        .mempool
        .send(Submit(vec![tx]))
        .await
        .map_err(|_| ApiError::unavailable())?
        .into_iter()
        .next()
        .ok_or_else(ApiError::unavailable)?;
    let hash = verdict.map_err(ApiError::from)?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "tx": hash.to_hex() })))
}

/// The domain's last anchor with its inclusion in a committed global block.
async fn anchor_inclusion(
    g: &crate::api::ChainHandles,
    head: &AnchorHead,
) -> Option<AnchorInclusion> {
    let included = g.ledger.send(GetIncluded(head.last.tx)).await.ok()??;
    let Transaction::System(sys) = included.tx else {
        return None;
    };
    let SystemTx::Anchor(anchor) = *sys else {
        return None;
    };
    Some(AnchorInclusion {
        anchor: *anchor,
        anchor_block: included.block,
        global_commit: included.commit?,
    })
}

#[utoipa::path(
    get,
    path = "/v1/anchors/{domain}",
    tag = "anchors",
    params(
        ("domain" = u32, Path, description = "A domain"),
    ),
    responses(
        (status = 200, description = "The domain's latest anchor on the global chain", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_anchor(
    path: web::Path<u32>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let domain = path.into_inner();
    let g = global(&state)?;
    let Some(head) = last_anchor(&g.state, domain)? else {
        return Ok(HttpResponse::Ok().json(serde_json::json!({
            "domain": domain,
            "anchored": null,
            "anchors": 0,
        })));
    };
    let inclusion = anchor_inclusion(g, &head)
        .await
        .map(|i| hex::encode(i.encode()));
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "domain": domain,
        "anchored": head.last,
        "anchors": head.anchors,
        "inclusion": inclusion,
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ReceiptQuery {
    /// `json` (the default) or `scale`
    format: Option<String>,
}

/// `receipt` with the committee history its certificates need: each
/// chain's handoffs from epoch 0 on, as this node kept them when it handed
/// over (`Store::put_handoff`).
fn with_history(state: &ApiState, mut receipt: Receipt) -> Result<Receipt, ApiError> {
    let mut history = Vec::new();
    for (chain, epoch) in strata_chains::anchor::history::epochs_named(&receipt) {
        if epoch == 0 {
            continue;
        }
        let Some(c) = state.chains.get(&chain) else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "history_unknown",
                format!(
                    "this node does not run {chain}, whose committee history the receipt needs"
                ),
            ));
        };
        for e in 0..epoch {
            match c.store.handoff(e) {
                Ok(Some(h)) => history.push(h),
                Ok(None) => {
                    return Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "history_unknown",
                        format!("this node keeps no handoff of {chain} epoch {e}"),
                    ))
                }
                Err(e) => {
                    return Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        e.to_string(),
                    ))
                }
            }
        }
    }
    receipt.history = strata_crypto::codec::BoundedVec::new(history).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "history_too_long",
            e.to_string(),
        )
    })?;
    Ok(receipt)
}

/// The receipt of a committed record on this node, the strongest it can
/// prove now.
pub(crate) async fn build_receipt(
    state: &ApiState,
    hash: strata_crypto::hash::Digest,
) -> Result<Receipt, ApiError> {
    for (chain, c) in &state.chains {
        let Ok(Some(included)) = c.ledger.send(GetIncluded(hash)).await else {
            continue;
        };
        // A receipt proves a provenance record; a system transaction or an
        // opaque payload is committed too, but has none.
        let kind = match &included.tx {
            Transaction::Provenance(_) | Transaction::Linked(_) => None,
            Transaction::System(s) => Some(s.kind()),
            Transaction::Opaque(_) => Some("opaque"),
        };
        if let Some(kind) = kind {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_a_record",
                format!(
                    "{hash} is a committed {kind} transaction: receipts prove provenance records"
                ),
            ));
        }
        let height = included.block.header.height;
        let anchored = state.anchors.get(chain).and_then(|v| v.get());
        if let Some(a) = anchored.filter(|a| a.record.height >= height) {
            let link = c
                .ledger
                .send(GetBlockLink {
                    height,
                    anchored: a.record.height,
                })
                .await
                .ok()
                .flatten();
            if let Some(block_link) = link {
                return with_history(
                    state,
                    Receipt {
                        tx: included.tx,
                        block: included.block,
                        finality: Finality::Anchored(Box::new(AnchoredProof {
                            block_link,
                            anchored: a.inclusion.clone(),
                        })),
                        history: Default::default(),
                    },
                );
            }
        }
        if let Some(commit) = included.commit {
            return with_history(
                state,
                Receipt {
                    tx: included.tx,
                    block: included.block,
                    finality: Finality::Committed(Box::new(commit)),
                    history: Default::default(),
                },
            );
        }
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_yet_provable",
            format!("transaction {hash} is committed; its commit proof needs the next blocks"),
        ));
    }
    Err(ApiError::not_found(format!(
        "no committed transaction {hash} here"
    )))
}

#[utoipa::path(
    get,
    path = "/v1/tx/{hash}/receipt",
    tag = "records",
    params(
        ("hash" = String, Path, description = "A transaction hash, 64 hexadecimal characters", pattern = "^[0-9a-f]{64}$"),
        ReceiptQuery,
    ),
    responses(
        (status = 200, description = "A receipt that proves the record offline against the genesis: JSON, or SCALE with `format=scale`", content((serde_json::Value = "application/json"), (Vec<u8> = "application/octet-stream"))),
        crate::api::ErrorResponses,
    ),
)]
async fn get_receipt(
    path: web::Path<String>,
    query: web::Query<ReceiptQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let hash = parse_digest(&path)?;
    let receipt = build_receipt(&state, hash).await?;
    let genesis = state.genesis_state.clone();
    // Verified before it is served (a receipt this node cannot verify is
    // a bug here, not the client's problem).
    let (receipt, summary) = web::block(move || {
        let summary = receipt.verify(&Trust::new(&genesis));
        (receipt, summary)
    })
    .await
    .map_err(|_| ApiError::unavailable())?;
    let summary = summary.map_err(|e| {
        tracing::error!(%hash, error = %e, "a receipt built here does not verify");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "receipt_invalid",
            format!("the receipt built here does not verify: {e}"),
        )
    })?;
    match query.format.as_deref() {
        Some("scale") => Ok(HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(receipt.encode())),
        None | Some("json") => Ok(HttpResponse::Ok().json(receipt.to_json(summary))),
        Some(other) => Err(ApiError::malformed(format!(
            "format must be json or scale, not {other:?}"
        ))),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// The most blocks or headers answered
    count: Option<u64>,
}

/// Blocks per export answer at most.
const EXPORT_PAGE: u64 = 256;
/// Headers per answer at most.
pub const HEADERS_PAGE: u64 = 512;

/// A page of a served chain: its handles, where it starts, how many.
fn page(
    state: &ApiState,
    path: (String, u64),
    count: Option<u64>,
    max: u64,
) -> Result<(&crate::api::ChainHandles, u64, u64), ApiError> {
    let (chain, from) = path;
    let chain = crate::api::parse_chain(&chain)?;
    let c = state
        .chains
        .get(&chain)
        .ok_or_else(|| ApiError::not_found(format!("this node does not serve chain {chain}")))?;
    Ok((c, from, count.unwrap_or(max).clamp(1, max)))
}

fn scale(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(body)
}

/// `GET /v1/export/{chain}/{from}?count=N`: committed blocks from `from`
/// with their batches (SCALE `Vec<ExportedBlock>`), for `strata export`.
#[utoipa::path(
    get,
    path = "/v1/export/{chain}/{from}",
    tag = "chains",
    params(
        ("chain" = String, Path, description = "A chain: `global` or `local-N`", pattern = "^(global|local-[0-9]+)$"),
        ("from" = u64, Path, description = "The first height"),
        ExportQuery,
    ),
    responses(
        (status = 200, description = "Committed blocks with their certificates, for an audit (SCALE)", body = Vec<u8>, content_type = "application/octet-stream"),
        crate::api::ErrorResponses,
    ),
)]
async fn get_export(
    path: web::Path<(String, u64)>,
    query: web::Query<ExportQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (c, from, count) = page(&state, path.into_inner(), query.count, EXPORT_PAGE)?;
    let blocks = c.ledger.send(GetExport { from, count }).await;
    Ok(scale(blocks.map_err(|_| ApiError::unavailable())?.encode()))
}

/// `GET /v1/headers/{chain}/{from}?count=N`: committed headers from
/// `from` (SCALE `Vec<BlockHeader>`), for light clients.
#[utoipa::path(
    get,
    path = "/v1/headers/{chain}/{from}",
    tag = "chains",
    params(
        ("chain" = String, Path, description = "A chain: `global` or `local-N`", pattern = "^(global|local-[0-9]+)$"),
        ("from" = u64, Path, description = "The first height"),
        ExportQuery,
    ),
    responses(
        (status = 200, description = "Committed headers with their certificates, for light clients (SCALE)", body = Vec<u8>, content_type = "application/octet-stream"),
        crate::api::ErrorResponses,
    ),
)]
async fn get_headers(
    path: web::Path<(String, u64)>,
    query: web::Query<ExportQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (c, from, count) = page(&state, path.into_inner(), query.count, HEADERS_PAGE)?;
    let headers = c.ledger.send(GetHeaders { from, count }).await;
    Ok(scale(
        headers.map_err(|_| ApiError::unavailable())?.encode(),
    ))
}

/// Steps of a lineage answer at most.
const LINEAGE_STEPS: usize = 64;

/// `GET /v1/object/{id}/lineage`: the object's ancestry, newest first: each
/// record of the object and of its ancestors this node's chains hold, with
/// its receipt; an ancestor of another domain appears with the receipt the
/// record that names it carried, checked here against the genesis.
#[utoipa::path(
    get,
    path = "/v1/object/{id}/lineage",
    tag = "records",
    params(
        ("id" = String, Path, description = "An object id"),
    ),
    responses(
        (status = 200, description = "The object's ancestors across domains", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_lineage(
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if id.is_empty() || id.len() > strata_chains::types::limits::MAX_OBJECT_ID {
        return Err(ApiError::malformed("object ids are 1 to 128 bytes"));
    }
    let trust_state = state.genesis_state.clone();
    let mut steps = Vec::new();
    let mut remote = Vec::new();
    let mut queue = std::collections::VecDeque::from([id.clone().into_bytes()]);
    let mut seen = std::collections::BTreeSet::new();
    while let Some(object) = queue.pop_front() {
        if steps.len() >= LINEAGE_STEPS || !seen.insert(object.clone()) {
            continue;
        }
        let home = ChainId::local(strata_chains::types::domain_of(&object, state.domains));
        for chain in [home, ChainId::GLOBAL] {
            let Some(c) = state.chains.get(&chain) else {
                continue;
            };
            let history = c
                .state
                .history(&object, LINEAGE_STEPS)
                .map_err(|_| ApiError::unavailable())?;
            for entry in history.into_iter().rev() {
                if steps.len() >= LINEAGE_STEPS {
                    break;
                }
                let receipt = match build_receipt(&state, entry.tx).await {
                    Ok(r) => {
                        let genesis = trust_state.clone();
                        let summary = web::block(move || {
                            let s = r.verify(&Trust::new(&genesis));
                            (r, s)
                        })
                        .await
                        .ok()
                        .and_then(|(r, s)| s.ok().map(|s| r.to_json(s)));
                        summary.map(|j| serde_json::to_value(j).unwrap_or_default())
                    }
                    Err(_) => None,
                };
                // Parents: this node's chains, or the receipts the record
                // carried for parents of other domains.
                if let Ok(Some(included)) = c.ledger.send(GetIncluded(entry.tx)).await {
                    if let Transaction::Linked(l) = &included.tx {
                        for p in l.parents.iter() {
                            let genesis = trust_state.clone();
                            let pr = p.clone();
                            let verdict = web::block(move || pr.verify(&Trust::new(&genesis)))
                                .await
                                .map_err(|_| ApiError::unavailable())?;
                            remote.push(serde_json::json!({
                                "named_by": entry.tx.to_hex(),
                                "object": String::from_utf8_lossy(&p.record.record.object_id),
                                "domain": p.record.record.domain,
                                "record": p.tx_hash().to_hex(),
                                "verified": verdict.as_ref().map(|s| s.to_string()).map_err(|e| e.to_string()),
                                "receipt": hex::encode(p.encode()),
                            }));
                        }
                    }
                }
                for parent in &entry.parents {
                    queue.push_back(parent.clone());
                }
                steps.push(serde_json::json!({
                    "object": String::from_utf8_lossy(&object),
                    "chain": chain.to_string(),
                    "entry": entry,
                    "receipt": receipt,
                }));
            }
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "object": id,
        "steps": steps,
        "other_domains": remote,
    })))
}

/// `GET /v1/anchors/{domain}/conflict/{height}`: the evidence the global
/// chain recorded against a domain's committee at a height (two certified
/// states), with its state proof against a committed global header.
#[utoipa::path(
    get,
    path = "/v1/anchors/{domain}/conflict/{height}",
    tag = "anchors",
    params(
        ("domain" = u32, Path, description = "A domain"),
        ("height" = u64, Path, description = "A local height"),
    ),
    responses(
        (status = 200, description = "Conflicting anchors of the domain at the height", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_conflict(
    path: web::Path<(u32, u64)>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (domain, height) = path.into_inner();
    let g = global(&state)?;
    let key = strata_chains::execution::conflict_key(domain, height);
    let proof = g
        .ledger
        .send(crate::chain::ledger::GetStateProof(key))
        .await
        .map_err(|_| ApiError::unavailable())?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_yet", e.to_string()))?;
    let conflict = proof
        .value
        .as_deref()
        .and_then(|v| hex::decode(v).ok())
        .and_then(|v| strata_chains::execution::AnchorConflict::decode(&mut &v[..]).ok());
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "domain": domain,
        "height": height,
        "conflict": conflict,
        "proof": proof,
    })))
}

/// The genesis a receipt is checked against.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct GenesisJson {
    /// The digest of the genesis configuration (the network's identity,
    /// as `GET /v1/status` names it), hex.
    pub digest: String,
    /// `GenesisState` SCALE-encoded, hex: the committees of epoch 0, the
    /// registry and the dynasty parameters.
    pub state: String,
}

#[utoipa::path(
    get,
    path = "/v1/genesis",
    tag = "records",
    responses(
        (status = 200, description = "The genesis state receipts are verified against", body = GenesisJson),
        crate::api::ErrorResponses,
    ),
)]
async fn get_genesis(state: web::Data<ApiState>) -> HttpResponse {
    let body = state.genesis_answer.get_or_init(|| {
        let answer = GenesisJson {
            digest: hex::encode(state.genesis_state.config.0),
            state: hex::encode(state.genesis_state.encode()),
        };
        serde_json::to_vec(&answer).unwrap_or_default().into()
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.clone())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/object/{id}/lineage", web::get().to(get_lineage))
        .route(
            "/v1/anchors/{domain}/conflict/{height}",
            web::get().to(get_conflict),
        );
    cfg.route("/v1/export/{chain}/{from}", web::get().to(get_export))
        .route("/v1/headers/{chain}/{from}", web::get().to(get_headers))
        .route("/v1/anchors", web::post().to(post_anchor))
        .route("/v1/anchors/{domain}", web::get().to(get_anchor))
        .route("/v1/tx/{hash}/receipt", web::get().to(get_receipt))
        .route("/v1/genesis", web::get().to(get_genesis));
}
