//! What a validator weighs, as a node's executed state records it (issue
//! 27, point 4; `strata_chains::dynasty::stake`):
//!
//! - `GET /v1/stake/{validator}`: for the global chain, the network's
//!   stake provider and scaling, the validator's last stake declaration
//!   (what it staked, its weight, the provider's lock instance, when the
//!   lock expires, the sequence its next declaration carries) and its
//!   weight on the roster now; for each domain chain this node runs, its
//!   credit (blocks its vote certified, and its availability in the last
//!   epoch it served) and roster weight there.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use strata_chains::dynasty::{roster, stake};
use strata_chains::types::{ChainId, Resources};

use crate::api::{ApiError, ApiState};
use crate::rewards_api::parse_validator;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/stake/{validator}", web::get().to(get_stake));
}

fn resources(r: &Resources) -> Value {
    json!({ "cpu": r.cpu, "mem": r.mem, "net": r.net })
}

#[utoipa::path(
    get,
    path = "/v1/stake/{validator}",
    tag = "rewards",
    params(
        ("validator" = String, Path, description = "A validator's BLS public key in hex", pattern = "^[0-9a-f]{96}$"),
    ),
    responses(
        (status = 200, description = "The validator's stake", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_stake(
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let key = parse_validator(&path)?;
    let mut chains = Vec::new();
    let mut global = Value::Null;
    for (&chain, c) in &state.chains {
        let weight = roster(&c.state, chain)
            .map_err(ApiError::internal)?
            .get(&key)
            .map(|e| e.weight);
        if chain == ChainId::GLOBAL {
            let policy = stake::policy(&c.state).map_err(ApiError::internal)?;
            let record = stake::stake_record(&c.state, &key).map_err(ApiError::internal)?;
            global = json!({
                "provider": policy.map(|p| hex::encode(p.provider.to_bytes())),
                "scaling": policy.map(|p| resources(&p.scaling)),
                "stake": record.as_ref().map(|r| json!({
                    "staked": resources(&r.stake.staked),
                    "weight": r.stake.weight,
                    "expires": r.expires,
                    "instance": r.instance.to_hex(),
                    "height": r.height,
                })),
                "next_sequence": record.map_or(0, |r| r.sequence),
                "roster_weight": weight,
            });
        } else {
            let credit = stake::credit(&c.state, chain, &key).map_err(ApiError::internal)?;
            chains.push(json!({
                "chain": chain.to_string(),
                "credit_blocks": credit.blocks,
                "availability_bps": credit.availability_bps,
                "roster_weight": weight,
            }));
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "validator": hex::encode(key.to_bytes()),
        "global": global,
        "domains": chains,
    })))
}
