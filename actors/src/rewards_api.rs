//! Rewards as a node's executed state records them (issue 27, point 5;
//! `strata_chains::dynasty::rewards`):
//!
//! - `GET /v1/rewards/{validator}?chain=C&height=H`: a validator's (hex
//!   BLS key) balance and forfeits on each dynasty chain this node runs (or
//!   on C), after its last executed height or after `H` of C (kept heights
//!   only), with the state
//!   key whose proof `GET /v1/state/{key}/proof?chain=C` gives, so anyone
//!   checks the balance against a committed header offline.
//! - `GET /v1/rewards/{chain}/epochs/{e}`: what epoch e paid: its pot, the
//!   leaders' and voters' parts, and each member's points and payment.
//!
//! `strata audit` recomputes the same from an exported chain.

use actix_web::{web, HttpResponse};
use parity_scale_codec::Decode;
use serde::Deserialize;
use serde_json::json;
use strata_chains::dynasty::rewards;
use strata_chains::types::{ChainId, Epoch, Height};
use strata_crypto::PublicKey;

use crate::api::{parse_chain, ApiError, ApiState, ChainHandles};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/rewards/{validator}", web::get().to(get_balance))
        .route(
            "/v1/rewards/{chain}/epochs/{epoch}",
            web::get().to(get_epoch),
        );
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct BalanceQuery {
    /// Only this chain (`global`, `local-N`).
    chain: Option<String>,
    /// After this height of the chain (with `chain`: heights are per chain).
    #[param(value_type = Option<u64>)]
    height: Option<Height>,
}

pub(crate) fn parse_validator(hex_key: &str) -> Result<PublicKey, ApiError> {
    let bytes = hex::decode(hex_key)
        .map_err(|_| ApiError::malformed("a validator is its BLS public key, hex"))?;
    PublicKey::from_bytes(&bytes).map_err(|_| ApiError::malformed("not a BLS public key"))
}

/// A `u64` state value at `key` after `height` (kept heights only).
fn value_at(c: &ChainHandles, key: &[u8], height: Height) -> Result<u64, ApiError> {
    let proof = c
        .state
        .prove(key, height)
        .map_err(|e| ApiError::not_found(e.to_string()))?;
    match proof.value {
        None => Ok(0),
        Some(bytes) => u64::decode(&mut bytes.as_slice()).map_err(ApiError::internal),
    }
}

#[utoipa::path(
    get,
    path = "/v1/rewards/{validator}",
    tag = "rewards",
    params(
        ("validator" = String, Path, description = "A validator's BLS public key in hex", pattern = "^[0-9a-f]{96}$"),
        BalanceQuery,
    ),
    responses(
        (status = 200, description = "The validator's reward balance", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_balance(
    path: web::Path<String>,
    query: web::Query<BalanceQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let key = parse_validator(&path)?;
    let only = query.chain.as_deref().map(parse_chain).transpose()?;
    if query.height.is_some() && only.is_none() {
        return Err(ApiError::malformed(
            "a height is of one chain: name it with `chain`",
        ));
    }
    let mut chains = Vec::new();
    let mut total: u64 = 0;
    for (&chain, c) in state
        .chains
        .iter()
        .filter(|(id, _)| only.is_none_or(|o| o == **id))
    {
        if rewards::schedule(&c.state)
            .map_err(ApiError::internal)?
            .is_none()
        {
            continue;
        }
        let executed = c.state.applied_height().map_err(ApiError::internal)?;
        let height = query.height.unwrap_or(executed);
        let balance_key = rewards::balance_key(chain, &key);
        let (balance, forfeited) = if query.height.is_some() {
            (
                value_at(c, &balance_key, height)?,
                value_at(c, &rewards::forfeited_key(chain, &key), height)?,
            )
        } else {
            (
                rewards::balance(&c.state, chain, &key).map_err(ApiError::internal)?,
                rewards::forfeited(&c.state, chain, &key).map_err(ApiError::internal)?,
            )
        };
        total = total.saturating_add(balance);
        chains.push(json!({
            "chain": chain.to_string(),
            "height": height,
            "balance": balance,
            "forfeited": forfeited,
            "state_key": hex::encode(&balance_key),
        }));
    }
    if chains.is_empty() {
        return Err(ApiError::not_found(
            "no chain this node runs pays rewards (the genesis has no [rewards])",
        ));
    }
    Ok(HttpResponse::Ok().json(json!({
        "validator": hex::encode(key.to_bytes()),
        "total": total,
        "chains": chains,
    })))
}

#[utoipa::path(
    get,
    path = "/v1/rewards/{chain}/epochs/{epoch}",
    tag = "rewards",
    params(
        ("chain" = String, Path, description = "A chain: `global` or `local-N`", pattern = "^(global|local-[0-9]+)$"),
        ("epoch" = u64, Path, description = "An epoch"),
    ),
    responses(
        (status = 200, description = "What the epoch paid, per member", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_epoch(
    path: web::Path<(String, Epoch)>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (chain, epoch) = path.into_inner();
    let chain: ChainId = parse_chain(&chain)?;
    let c = state
        .chains
        .get(&chain)
        .ok_or_else(|| ApiError::not_found(format!("this node does not serve chain {chain}")))?;
    let r = rewards::epoch_rewards(&c.state, chain, epoch)
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "epoch {epoch} of {chain} has not paid (not ended here, or no rewards)"
            ))
        })?;
    Ok(HttpResponse::Ok().json(json!({
        "chain": chain.to_string(),
        "epoch": epoch,
        "pot": r.pot,
        "leader_pot": r.leader_pot,
        "voter_pot": r.voter_pot,
        "unpaid": r.unpaid,
        "payments": r.payments.iter().map(|p| json!({
            "validator": hex::encode(p.validator.to_bytes()),
            "led": p.points.led,
            "voted": p.points.voted,
            "leader": p.leader,
            "voter": p.voter,
        })).collect::<Vec<_>>(),
    })))
}
