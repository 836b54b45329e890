//! The HTTP API of a node (docs/design.md §8). Bad input never crashes the node:
//! bodies are read with a size limit, decoded with the codec's limits, and
//! every refusal is `{"error": {"code", "message"}}` with a 4xx status.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix::Addr;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use strata_chains::types::{ChainId, Transaction};
use strata_crypto::hash::Digest;

use crate::chain::committee::{CommitteeActor, GetStatus};
use crate::chain::ledger::{GetBlock, GetEvidence, GetStateProof, GetTxProof, Ledger};
use crate::chain::mempool::{Mempool, PendingCount, Submit, TxRefusal};
use crate::chain::state::{HistoryEntry, StateStore};
use crate::config::Tier;
use crate::crosschain::anchoring::AnchorView;
use crate::tx_json::{self, DigestRequest};
use strata_chains::execution::GenesisState;
use strata_chains::types::domain_of;

mod body;
pub(crate) mod tx_status;

pub(crate) use body::read_body;
use body::{decode_tx, MAX_JSON_RECORD};
pub use body::{decode_tx_body, decode_txs_body};

/// Largest request body (one transaction, or a batch of them).
pub const MAX_BODY: usize = 8 << 20;
/// Transactions in one `POST /v1/txs`.
pub const MAX_TXS_PER_REQUEST: usize = 20_000;
/// Longest `wait` on a transaction.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);
/// Requests waiting for a commit at once (each holds a connection, a
/// future and a waiter at a ledger): past this, a new one is refused with
/// 503 `too_many_waiting` instead of growing the node's memory.
pub const MAX_WAITING: usize = 8192;

/// A refusal as the API reports it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A failure of the node itself (storage, a broken invariant), not of
    /// the request: 500 with the reason.
    pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }

    pub(crate) fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the node is busy; retry",
        )
    }
}

impl From<TxRefusal> for ApiError {
    fn from(r: TxRefusal) -> ApiError {
        let (status, code) = match r {
            TxRefusal::BadSignature => (StatusCode::BAD_REQUEST, "bad_signature"),
            TxRefusal::WrongDomain => (StatusCode::BAD_REQUEST, "wrong_domain"),
            TxRefusal::ReplayedNonce => (StatusCode::CONFLICT, "replayed_nonce"),
            TxRefusal::Duplicate => (StatusCode::CONFLICT, "duplicate"),
            TxRefusal::Full => (StatusCode::SERVICE_UNAVAILABLE, "mempool_full"),
            TxRefusal::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            TxRefusal::WrongNetwork => (StatusCode::BAD_REQUEST, "wrong_network"),
            TxRefusal::WrongKind(_) => (StatusCode::BAD_REQUEST, "wrong_kind"),
            TxRefusal::Refused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
        };
        ApiError::new(status, code, r.to_string())
    }
}

/// Every error answer's body: `{"error": {"code", "message"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorInner<'a> {
    /// A stable machine-readable code (`malformed`, `not_found`,
    /// `overloaded`, `refused`, ...).
    code: &'a str,
    /// The reason, for people.
    message: &'a str,
}

/// The refusals every operation may answer, in the one error shape: named
/// once and listed in each operation's responses (a document type, never
/// built).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum ErrorResponses {
    /// The request is refused: its code and reason.
    #[response(
        status = "4XX",
        description = "The request is refused: its code and reason"
    )]
    Refused(ErrorBody<'static>),
    /// The node is busy (503) or failed (500).
    #[response(status = "5XX", description = "The node is busy (503) or failed (500)")]
    Failed(ErrorBody<'static>),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody {
            error: ErrorInner {
                code: self.code,
                message: &self.message,
            },
        })
    }
}

/// One chain's handles.
#[derive(Clone)]
pub struct ChainHandles {
    pub actor: Addr<CommitteeActor>,
    pub ledger: Addr<Ledger>,
    pub mempool: Addr<Mempool>,
    pub state: StateStore,
    /// The chain's consensus store (epoch proofs and handoffs).
    pub store: strata_chains::store::RocksStore,
    /// Whether the chain admits client records now (read before a body).
    pub admission: crate::chain::admission::AdmissionFlag,
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub node: String,
    pub tier: Tier,
    pub domains: u32,
    /// The network's genesis digest: records name it (and sign it).
    pub network: Digest,
    pub chains: BTreeMap<ChainId, ChainHandles>,
    pub started: Instant,
    /// Connected committee peers (the metrics' gauge, shared).
    pub peers: prometheus::IntGauge,
    /// Permits for requests that wait (`MAX_WAITING`).
    pub waiting: std::sync::Arc<tokio::sync::Semaphore>,
    /// What this node knows of its local chains' anchoring.
    pub anchors: BTreeMap<ChainId, AnchorView>,
    /// The network's genesis state, which receipts are verified against.
    pub genesis_state: std::sync::Arc<GenesisState>,
    /// `GET /v1/genesis`'s answer, encoded once at the first ask (the
    /// state never changes; a registry of thousands is megabytes of hex).
    pub genesis_answer: std::sync::OnceLock<web::Bytes>,
}

/// A permit to wait for a commit, if fewer than the limit wait now.
pub(crate) fn wait_permit(
    waiting: &std::sync::Arc<tokio::sync::Semaphore>,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    waiting.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_waiting",
            format!("{MAX_WAITING} requests already wait for a commit here; retry without wait or later"),
        )
    })
}

impl ApiState {
    /// Refuses a submission before its body is read when no chain of this
    /// node admits client records now: under overload a refusal costs no
    /// decoding and no signature check.
    fn admission_open(&self) -> Result<(), ApiError> {
        if self.chains.values().any(|c| c.admission.is_open()) {
            return Ok(());
        }
        Err(TxRefusal::Overloaded.into())
    }

    /// The chain a transaction goes to on this node.
    fn chain_for(&self, tx: &Transaction) -> Result<(ChainId, &ChainHandles), ApiError> {
        let chain = match tx.provenance() {
            Some(p) => p
                .record
                .home_chain(self.domains)
                .ok_or(ApiError::from(TxRefusal::WrongDomain))?,
            // Opaque payloads go to this node's local chain, else global.
            None => self
                .chains
                .keys()
                .copied()
                .find(|c| c.domain().is_some())
                .unwrap_or(ChainId::GLOBAL),
        };
        self.chains.get(&chain).map(|h| (chain, h)).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "wrong_domain",
                format!("this node does not serve chain {chain}"),
            )
        })
    }
}

#[derive(Serialize)]
struct Accepted {
    hash: String,
}

#[utoipa::path(
    post,
    path = "/v1/tx",
    tag = "records",
    request_body(content((Vec<u8> = "application/octet-stream"), (serde_json::Value = "application/json")), description = "A SCALE-encoded transaction, or JSON: {\"tx\": hex} or {\"record\", \"signature\"} (README, Submitting without SCALE)"),
    responses(
        (status = 202, description = "Accepted: the transaction's hash", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn post_tx(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    state.admission_open()?;
    let body = read_body(&req, payload, MAX_BODY).await?;
    let tx = decode_tx(&req, &body)?;
    let (_, chain) = state.chain_for(&tx)?;
    let mut verdicts = chain
        .mempool
        .send(Submit(vec![tx]))
        .await
        .map_err(|_| ApiError::unavailable())?;
    let hash = verdicts.pop().ok_or_else(ApiError::unavailable)??;
    Ok(HttpResponse::Accepted().json(Accepted {
        hash: hash.to_hex(),
    }))
}

/// `POST /v1/tx/digest`: the digest a JSON record's sender signs (the
/// record's own bytes are never signed; `tx_json`).
#[utoipa::path(
    post,
    path = "/v1/tx/digest",
    tag = "records",
    request_body(content((serde_json::Value = "application/json")), description = "A record in JSON without its signature"),
    responses(
        (status = 200, description = "The digest the sender signs", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn post_tx_digest(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, MAX_JSON_RECORD).await?;
    let ask: DigestRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::malformed(format!("invalid JSON ({e}): expected {{\"record\": …}}"))
    })?;
    let answer =
        tx_json::digest_answer(&ask.record).map_err(|e| ApiError::malformed(e.to_string()))?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Serialize)]
struct Refused {
    index: usize,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct BatchAccepted {
    accepted: usize,
    refused: Vec<Refused>,
}

/// Many transactions at once: a SCALE-encoded vector (the load generator's
/// path).
#[utoipa::path(
    post,
    path = "/v1/txs",
    tag = "records",
    request_body(content((Vec<u8> = "application/octet-stream"), (serde_json::Value = "application/json")), description = "Several SCALE-encoded transactions, or JSON {\"txs\": [hex]}"),
    responses(
        (status = 200, description = "Each transaction's hash or refusal", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn post_txs(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    state.admission_open()?;
    let body = read_body(&req, payload, MAX_BODY).await?;
    let txs = decode_txs_body(&body)?;
    let mut by_chain: BTreeMap<ChainId, Vec<(usize, Transaction)>> = BTreeMap::new();
    let mut refused = Vec::new();
    for (i, tx) in txs.into_inner().into_iter().enumerate() {
        match state.chain_for(&tx) {
            Ok((chain, _)) => by_chain.entry(chain).or_default().push((i, tx)),
            Err(e) => refused.push(Refused {
                index: i,
                code: e.code,
                message: e.message,
            }),
        }
    }
    let mut accepted = 0;
    for (chain, items) in by_chain {
        let (idx, txs): (Vec<usize>, Vec<Transaction>) = items.into_iter().unzip();
        let verdicts = state.chains[&chain]
            .mempool
            .send(Submit(txs))
            .await
            .map_err(|_| ApiError::unavailable())?;
        for (i, v) in idx.into_iter().zip(verdicts) {
            match v {
                Ok(_) => accepted += 1,
                Err(r) => {
                    let e = ApiError::from(r);
                    refused.push(Refused {
                        index: i,
                        code: e.code,
                        message: e.message,
                    });
                }
            }
        }
    }
    refused.sort_by_key(|r| r.index);
    Ok(HttpResponse::Ok().json(BatchAccepted { accepted, refused }))
}

pub(crate) fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::from_hex(s)
        .map_err(|_| ApiError::malformed("a transaction hash is 64 hexadecimal characters"))
}

#[utoipa::path(
    get,
    path = "/v1/tx/{hash}/proof",
    tag = "records",
    params(
        ("hash" = String, Path, description = "A transaction hash, 64 hexadecimal characters", pattern = "^[0-9a-f]{64}$"),
    ),
    responses(
        (status = 200, description = "The transaction's inclusion proof in its block", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_tx_proof(
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let hash = parse_digest(&path)?;
    for c in state.chains.values() {
        if let Ok(Some(p)) = c.ledger.send(GetTxProof(hash)).await {
            return Ok(HttpResponse::Ok().json(p));
        }
    }
    Err(ApiError::not_found(format!(
        "no committed transaction {hash} with a certified block here"
    )))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct StateQuery {
    /// The chain whose state it is (`global`, `local-N`)
    chain: Option<String>,
}

/// A state key as a client names it: `object:<id>` (an object's head),
/// `nonces:<sender hex>:<nonce>` (the window of a sender's nonces), or the
/// key's bytes in hex. With the chain whose state it is by default: an
/// object's domain chain if this node serves it, else the global chain.
fn parse_state_key(s: &str, state: &ApiState) -> Result<(Vec<u8>, ChainId), ApiError> {
    use strata_chains::execution::{nonce_window_key, object_key};
    let global = ChainId::GLOBAL;
    if let Some(id) = s.strip_prefix("object:") {
        if id.is_empty() || id.len() > strata_chains::types::limits::MAX_OBJECT_ID {
            return Err(ApiError::malformed("object ids are 1 to 128 bytes"));
        }
        let local = ChainId::local(domain_of(id.as_bytes(), state.domains));
        let chain = if state.chains.contains_key(&local) {
            local
        } else {
            global
        };
        return Ok((object_key(id.as_bytes()), chain));
    }
    if let Some(rest) = s.strip_prefix("nonces:") {
        let (sender, nonce) = rest
            .split_once(':')
            .ok_or_else(|| ApiError::malformed("nonces:<sender hex>:<nonce>"))?;
        let sender: [u8; 32] = hex::decode(sender)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ApiError::malformed("a sender is 64 hexadecimal characters"))?;
        let nonce = nonce
            .parse()
            .map_err(|_| ApiError::malformed("a nonce is a number"))?;
        return Ok((nonce_window_key(&sender, nonce), global));
    }
    let key = hex::decode(s).map_err(|_| {
        ApiError::malformed("a state key is object:<id>, nonces:<sender>:<nonce> or hex")
    })?;
    if key.is_empty() || key.len() > strata_chains::auth::MAX_KEY_BYTES {
        return Err(ApiError::malformed("a state key is 1 to 1024 bytes"));
    }
    Ok((key, global))
}

#[utoipa::path(
    get,
    path = "/v1/state/{key}/proof",
    tag = "state",
    params(
        ("key" = String, Path, description = "`object:<id>`, `nonces:<sender hex>:<nonce>` or the key's bytes in hex"),
        StateQuery,
    ),
    responses(
        (status = 200, description = "The value and its proof against a committed state root", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_state_proof(
    path: web::Path<String>,
    query: web::Query<StateQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (key, default_chain) = parse_state_key(&path, &state)?;
    let chain = match &query.chain {
        Some(c) => parse_chain(c)?,
        None => default_chain,
    };
    let c = state
        .chains
        .get(&chain)
        .ok_or_else(|| ApiError::not_found(format!("this node does not serve {chain}")))?;
    match c.ledger.send(GetStateProof(key)).await {
        Ok(Ok(p)) => Ok(HttpResponse::Ok().json(p)),
        Ok(Err(e)) => Err(ApiError::not_found(e.to_string())),
        Err(_) => Err(ApiError::unavailable()),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// The most records answered
    limit: Option<usize>,
}

#[derive(Serialize)]
struct HistoryItem {
    chain: String,
    #[serde(flatten)]
    entry: HistoryEntry,
}

#[utoipa::path(
    get,
    path = "/v1/object/{id}/history",
    tag = "records",
    params(
        ("id" = String, Path, description = "An object id"),
        HistoryQuery,
    ),
    responses(
        (status = 200, description = "The object's records, newest first", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_history(
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if id.is_empty() || id.len() > strata_chains::types::limits::MAX_OBJECT_ID {
        return Err(ApiError::malformed("object ids are 1 to 128 bytes"));
    }
    let limit = query.limit.unwrap_or(1000).min(10_000);
    let local = ChainId::local(domain_of(id.as_bytes(), state.domains));
    let mut entries = Vec::new();
    for chain in [ChainId::GLOBAL, local] {
        if let Some(c) = state.chains.get(&chain) {
            let h = c
                .state
                .history(id.as_bytes(), limit)
                .map_err(|_| ApiError::unavailable())?;
            entries.extend(h.into_iter().map(|entry| HistoryItem {
                chain: chain.to_string(),
                entry,
            }));
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "object": id, "entries": entries })))
}

pub(crate) fn parse_chain(s: &str) -> Result<ChainId, ApiError> {
    if s == "global" {
        return Ok(ChainId::GLOBAL);
    }
    if let Some(d) = s.strip_prefix("local-") {
        return d
            .parse()
            .map(ChainId::local)
            .map_err(|_| ApiError::malformed("chains are `global` or `local-N`"));
    }
    s.parse()
        .map(ChainId)
        .map_err(|_| ApiError::malformed("chains are `global` or `local-N`"))
}

#[utoipa::path(
    get,
    path = "/v1/block/{chain}/{height}",
    tag = "chains",
    params(
        ("chain" = String, Path, description = "A chain: `global` or `local-N`", pattern = "^(global|local-[0-9]+)$"),
        ("height" = String, Path, description = "A committed height"),
    ),
    responses(
        (status = 200, description = "The committed block", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_block(
    path: web::Path<(String, String)>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (chain, height) = path.into_inner();
    let chain = parse_chain(&chain)?;
    let height: u64 = height
        .parse()
        .map_err(|_| ApiError::malformed("heights are numbers"))?;
    let c = state
        .chains
        .get(&chain)
        .ok_or_else(|| ApiError::not_found(format!("this node does not serve chain {chain}")))?;
    match c
        .ledger
        .send(GetBlock(height))
        .await
        .map_err(|_| ApiError::unavailable())?
    {
        Some(b) => Ok(HttpResponse::Ok().json(b)),
        None => Err(ApiError::not_found(format!(
            "no committed block at height {height} of {chain}"
        ))),
    }
}

/// The proofs of misbehaviour this node holds for a chain.
#[utoipa::path(
    get,
    path = "/v1/evidence/{chain}",
    tag = "chains",
    params(
        ("chain" = String, Path, description = "A chain: `global` or `local-N`", pattern = "^(global|local-[0-9]+)$"),
    ),
    responses(
        (status = 200, description = "Evidence of misbehaviour this node holds", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_evidence(
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let chain = parse_chain(&path)?;
    let c = state
        .chains
        .get(&chain)
        .ok_or_else(|| ApiError::not_found(format!("this node does not serve chain {chain}")))?;
    let evidence = c
        .ledger
        .send(GetEvidence)
        .await
        .map_err(|_| ApiError::unavailable())?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "chain": chain.to_string(), "evidence": evidence })))
}

/// Heights a chain may trail what this node has seen (certified or
/// committed) before its status says it is catching up: the commit rule's
/// depth and a block or two in flight stay below it.
const CATCHING_UP_GAP: u64 = 8;

#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "node",
    responses(
        (status = 200, description = "The node's version, network and chains", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_status(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let mut chains = Vec::new();
    for (chain, c) in &state.chains {
        let mut s = c
            .actor
            .send(GetStatus)
            .await
            .map_err(|_| ApiError::unavailable())?;
        s.anchored_height = state
            .anchors
            .get(chain)
            .and_then(AnchorView::anchored_height);
        s.pending_transactions = c
            .mempool
            .send(PendingCount)
            .await
            .map_err(|_| ApiError::unavailable())?;
        s.executed_height = c.state.applied_height().map_err(ApiError::internal)?;
        // Behind what it has seen certified, or executing behind what it
        // committed (a node cut off from every newer certificate cannot
        // know it is behind: compare with a peer's status).
        s.catching_up = s.certified_height > s.committed_height.saturating_add(CATCHING_UP_GAP)
            || s.committed_height > s.executed_height.saturating_add(CATCHING_UP_GAP);
        chains.push(s);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "node": state.node,
        "version": env!("CARGO_PKG_VERSION"),
        "tier": state.tier,
        "domains": state.domains,
        // The genesis digest: the network's identity (records sign it).
        "network": state.network.to_hex(),
        "peers": state.peers.get(),
        "uptime_s": state.started.elapsed().as_secs(),
        "chains": chains,
    })))
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "node",
    responses(
        (status = 200, description = "The node answers", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
pub(crate) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("no such endpoint"))
}

/// The routes of a full node.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/tx", web::post().to(post_tx))
        .route("/v1/tx/digest", web::post().to(post_tx_digest))
        .route("/v1/txs", web::post().to(post_txs))
        .route("/v1/tx/{hash}", web::get().to(tx_status::get_tx))
        .route("/v1/tx/{hash}/proof", web::get().to(get_tx_proof))
        .route("/v1/object/{id}/history", web::get().to(get_history))
        .route("/v1/state/{key}/proof", web::get().to(get_state_proof))
        .route("/v1/block/{chain}/{height}", web::get().to(get_block))
        .route("/v1/evidence/{chain}", web::get().to(get_evidence))
        .route("/v1/status", web::get().to(get_status))
        .route("/health", web::get().to(health))
        .default_service(web::to(not_found));
}

/// Query-string and path errors as JSON too.
pub fn json_errors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default().error_handler(|e, _| ApiError::malformed(e.to_string()).into()),
    )
    .app_data(
        web::PathConfig::default().error_handler(|e, _| ApiError::malformed(e.to_string()).into()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_crypto::codec::decode_message;

    /// Found in review: `?wait=` registered waiters without a bound.
    #[test]
    fn waits_beyond_the_limit_are_refused_and_a_finished_one_frees_its_place() {
        let waiting = std::sync::Arc::new(tokio::sync::Semaphore::new(2));
        let a = wait_permit(&waiting).unwrap();
        let _b = wait_permit(&waiting).unwrap();
        let refused = wait_permit(&waiting).unwrap_err();
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.code, "too_many_waiting");
        drop(a);
        assert!(wait_permit(&waiting).is_ok());
    }

    #[test]
    fn refusals_map_to_their_documented_status_and_code() {
        for (refusal, status, code) in [
            (TxRefusal::BadSignature, 400, "bad_signature"),
            (TxRefusal::WrongDomain, 400, "wrong_domain"),
            (TxRefusal::WrongNetwork, 400, "wrong_network"),
            (TxRefusal::WrongKind("opaque"), 400, "wrong_kind"),
            (
                TxRefusal::Refused("outside the reveal window".into()),
                422,
                "refused",
            ),
            (TxRefusal::ReplayedNonce, 409, "replayed_nonce"),
            (TxRefusal::Duplicate, 409, "duplicate"),
            (TxRefusal::Full, 503, "mempool_full"),
            (TxRefusal::Overloaded, 503, "overloaded"),
        ] {
            let e = ApiError::from(refusal);
            assert_eq!((e.status.as_u16(), e.code), (status, code));
        }
        assert_eq!(parse_chain("global").unwrap(), ChainId::GLOBAL);
        assert_eq!(parse_chain("local-3").unwrap(), ChainId::local(3));
        assert_eq!(parse_chain("local-x").unwrap_err().code, "malformed");
        assert!(parse_digest("00").is_err());
    }

    /// Routing, JSON errors and admission, on a node with no chain.
    #[actix_web::test]
    async fn the_http_surface_answers_json_errors() {
        use actix_web::{test, App};
        let state = ApiState {
            node: "n".into(),
            tier: Tier::Cloud,
            domains: 1,
            network: Digest::ZERO,
            chains: BTreeMap::new(),
            started: Instant::now(),
            peers: prometheus::IntGauge::new("peers", "test").unwrap(),
            waiting: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
            anchors: BTreeMap::new(),
            genesis_state: std::sync::Arc::new(GenesisState::bare(Digest::of("test", b"net"))),
            genesis_answer: Default::default(),
        };
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(state))
                .configure(json_errors)
                .configure(routes)
                .configure(crate::hierarchy_api::routes),
        )
        .await;
        let call = |req: test::TestRequest| {
            let app = &app;
            async move {
                let resp = test::call_service(app, req.to_request()).await;
                let status = resp.status().as_u16();
                let body: serde_json::Value = test::read_body_json(resp).await;
                (status, body)
            }
        };
        let (status, body) = call(test::TestRequest::get().uri("/health")).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
        let (status, body) = call(test::TestRequest::get().uri("/v1/nothing")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
        let (status, body) = call(test::TestRequest::get().uri("/v1/tx/not-hex")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("malformed"))
        );
        // The genesis, encoded once and answered the same each time.
        let (status, first) = call(test::TestRequest::get().uri("/v1/genesis")).await;
        assert_eq!(status, 200);
        assert_eq!(first["digest"], Digest::of("test", b"net").to_hex());
        let bytes = hex::decode(first["state"].as_str().unwrap()).unwrap();
        let decoded: GenesisState = decode_message(&bytes, 1 << 20).unwrap();
        assert_eq!(decoded, GenesisState::bare(Digest::of("test", b"net")));
        let (_, again) = call(test::TestRequest::get().uri("/v1/genesis")).await;
        assert_eq!(first, again);
        // No chain admits records here: refused before the body is read.
        let (status, body) = call(test::TestRequest::post().uri("/v1/tx").set_payload("x")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("overloaded"))
        );
    }
}
