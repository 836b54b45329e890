//! `GET /v1/tx/{hash}`: a transaction's status, waiting (bounded in time
//! and in waiters) until it reaches the commit level the client asks for
//! (README, "Commit levels").

use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use futures::StreamExt;
use serde::Deserialize;
use strata_chains::types::ChainId;

use super::{parse_digest, wait_permit, ApiError, ApiState, MAX_WAIT};
use crate::chain::ledger::{GetTx, TxStatus};
use crate::crosschain::anchoring::AnchorView;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WaitQuery {
    /// How far to wait: `accepted`, `local` or `global` (README, Commit levels)
    wait: Option<String>,
    /// The longest wait, in milliseconds
    timeout_ms: Option<u64>,
}

/// How far a client waits: the commit levels (README, "Commit levels").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Level {
    /// In a mempool (or further): answered at once.
    Accepted,
    /// Committed on the record's chain.
    Local,
    /// Anchored on the global chain, the anchor globally final (a global
    /// chain's record: committed).
    Global,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Accepted => "accepted",
            Level::Local => "local",
            Level::Global => "global",
        }
    }
}

/// How often a wait for `global` looks at the anchoring again.
const ANCHOR_WAIT_POLL: Duration = Duration::from_millis(50);

#[utoipa::path(
    get,
    path = "/v1/tx/{hash}",
    tag = "records",
    params(
        ("hash" = String, Path, description = "A transaction hash, 64 hexadecimal characters", pattern = "^[0-9a-f]{64}$"),
        WaitQuery,
    ),
    responses(
        (status = 200, description = "The transaction's status and location", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
pub(crate) async fn get_tx(
    path: web::Path<String>,
    query: web::Query<WaitQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let hash = parse_digest(&path)?;
    let level = match query.wait.as_deref() {
        None | Some("accepted") => Level::Accepted,
        Some("local") => Level::Local,
        Some("global") => Level::Global,
        Some(other) => {
            return Err(ApiError::malformed(format!(
                "wait must be accepted, local or global, not {other:?}"
            )))
        }
    };
    let timeout = Duration::from_millis(query.timeout_ms.unwrap_or(10_000)).min(MAX_WAIT);
    let deadline = Instant::now() + timeout;
    let wait = (level != Level::Accepted).then_some(timeout);
    let _permit = match wait {
        Some(_) => Some(wait_permit(&state.waiting)?),
        None => None,
    };
    let asks = state
        .chains
        .values()
        .map(|c| c.ledger.send(GetTx { hash, wait }));
    // A node in two committees asks both chains; the first commit answers
    // (the other chain would only wait out the timeout).
    let mut answers: futures::stream::FuturesUnordered<_> = asks.collect();
    let mut best = TxStatus::Unknown;
    while let Some(a) = answers.next().await {
        match a {
            Ok(a @ TxStatus::Committed { .. }) => {
                best = a;
                break;
            }
            Ok(TxStatus::Pending) => best = TxStatus::Pending,
            _ => {}
        }
    }
    // What level the record has reached here.
    let reached = |best: &TxStatus| -> (Option<Level>, Option<u64>) {
        let TxStatus::Committed { chain, height, .. } = best else {
            return (
                (*best == TxStatus::Pending).then_some(Level::Accepted),
                None,
            );
        };
        let chain = state
            .chains
            .keys()
            .find(|c| c.to_string() == *chain)
            .copied();
        match chain {
            Some(ChainId::GLOBAL) => (Some(Level::Global), None),
            Some(c) => {
                let anchored = state.anchors.get(&c).and_then(AnchorView::anchored_height);
                match anchored {
                    Some(a) if a >= *height => (Some(Level::Global), Some(a)),
                    a => (Some(Level::Local), a),
                }
            }
            None => (Some(Level::Local), None),
        }
    };
    let (mut at, mut anchored) = reached(&best);
    while level == Level::Global
        && at == Some(Level::Local)
        && Instant::now() + ANCHOR_WAIT_POLL < deadline
    {
        tokio::time::sleep(ANCHOR_WAIT_POLL).await;
        (at, anchored) = reached(&best);
    }
    // For a local record that is global: when it became so here.
    let global = match (&best, at) {
        (TxStatus::Committed { chain, height, .. }, Some(Level::Global)) => state
            .anchors
            .iter()
            .find(|(c, _)| c.to_string() == *chain)
            .and_then(|(_, v)| v.global_at(*height)),
        _ => None,
    };
    match (best, at) {
        (TxStatus::Unknown, _) | (_, None) => Err(ApiError::not_found(format!(
            "transaction {hash} is not known here"
        ))),
        (s, Some(at)) => Ok(HttpResponse::Ok().json(serde_json::json!({
            "hash": hash.to_hex(),
            "state": s,
            "level": at.name(),
            "anchored_height": anchored,
            "global": global,
        }))),
    }
}
