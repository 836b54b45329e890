//! The dynasty part of a full node's HTTP API (issue 26): a chain's epochs
//! and committees as its executed state records them (so every node that
//! executed the same blocks answers the same), and the submission of the
//! administrators' transactions — registry changes and reconfigurations —
//! checked first by the executor's own rule, so a bad one is refused with
//! the reason instead of being committed as a refusal.
//!
//! - `GET /v1/committee/{chain}`: the current epoch, its committee (with
//!   this node's position), the next committee once decided, and the
//!   pending reconfiguration.
//! - `GET /v1/epoch/{chain}/{e}`: an epoch's record, seed (and where it
//!   came from: RandShare's qualified dealers and revealers, or a fallback)
//!   and committee, and its DKG result (threshold, qualified and excluded
//!   dealers, group key).
//! - `GET /v1/epochs/{chain}/handoffs?from=E`: the kept committee handoffs
//!   from epoch E on (SCALE, hex), for verifiers that learn the committee
//!   history from the genesis (`anchor::Trust::learn`).
//! - `POST /v1/system`: a SCALE-encoded `SystemTx` (registry change or
//!   reconfiguration), to every chain it goes to that this node runs.

use actix_web::{web, HttpRequest, HttpResponse};
use parity_scale_codec::Encode;
use serde::Serialize;
use serde_json::{json, Value};
use strata_chains::dynasty::{self, EpochRecord};
use strata_chains::execution::{check_system, ChainContext, CommitteeRecord};
use strata_chains::mempool::TxRefusal;
use strata_chains::store::Store;
use strata_chains::types::{ChainId, Epoch, SystemTx, Transaction};
use strata_crypto::codec::decode_message;

use crate::api::{parse_chain, read_body, ApiError, ApiState, ChainHandles};
use crate::chain::mempool::Submit;
use crate::chain::state::StateStore;

/// The largest system transaction taken here (a registry change or a
/// reconfiguration is a few hundred bytes to a few KiB).
const MAX_SYSTEM_BYTES: usize = 64 * 1024;
/// Handoffs in one answer.
const MAX_HANDOFFS_PER_ANSWER: u64 = 16;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/committee/{chain}", web::get().to(get_committee))
        .route("/v1/epoch/{chain}/{epoch}", web::get().to(get_epoch))
        .route("/v1/epochs/{chain}/handoffs", web::get().to(get_handoffs))
        .route("/v1/beacon/{chain}/{view}", web::get().to(get_beacon))
        .route(
            "/v1/beacon/{chain}/height/{height}",
            web::get().to(get_beacon_at),
        )
        .route("/v1/system", web::post().to(post_system));
}

fn chain_of<'a>(state: &'a ApiState, chain: &str) -> Result<(ChainId, &'a ChainHandles), ApiError> {
    let chain = parse_chain(chain)?;
    let c = state
        .chains
        .get(&chain)
        .ok_or_else(|| ApiError::not_found(format!("this node does not serve chain {chain}")))?;
    Ok((chain, c))
}

#[derive(Serialize)]
struct MemberView {
    position: u32,
    key: String,
    peer_id: Option<String>,
}

fn members(state: &StateStore, c: &CommitteeRecord) -> Vec<MemberView> {
    (0u32..)
        .zip(c.members.iter())
        .map(|(position, m)| MemberView {
            position,
            key: hex::encode(m.key.to_bytes()),
            peer_id: dynasty::validator(state, &m.key)
                .ok()
                .flatten()
                .map(|r| String::from_utf8_lossy(r.info.peer_id.as_slice()).into_owned()),
        })
        .collect()
}

fn certificate_json(c: &CommitteeRecord) -> Value {
    match c.group {
        Some(g) => json!({
            "kind": "threshold",
            "threshold": g.threshold,
            "group_key": hex::encode(g.key.to_bytes()),
        }),
        None => json!({ "kind": "multisig" }),
    }
}

fn epoch_json(r: &EpochRecord) -> Value {
    json!({
        "epoch": r.epoch,
        "start": r.start,
        "last_height": r.last_height(),
        "epoch_length": r.params.epoch_length,
        "committee_size": r.params.committee_size,
        "certificate_kind": r.params.certificate.as_str(),
        "seed": r.seed.to_hex(),
        "seed_source": r.source.name(),
    })
}

#[utoipa::path(
    get,
    path = "/v1/committee/{chain}",
    tag = "dynasties",
    params(
        ("chain" = String, Path, description = "A chain: `global` or `local-N`", pattern = "^(global|local-[0-9]+)$"),
    ),
    responses(
        (status = 200, description = "The current committee and what is pending", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_committee(
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (chain, c) = chain_of(&state, &path)?;
    let s = &c.state;
    let Some(cur) = dynasty::current_epoch(s, chain).map_err(ApiError::internal)? else {
        // A chain without epochs: its genesis committee serves for ever.
        let committee = CommitteeRecord::read(s, chain, 0)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("no committee is recorded"))?;
        return Ok(HttpResponse::Ok().json(json!({
            "chain": chain.to_string(),
            "epochs": false,
            "epoch": 0,
            "members": members(s, &committee),
        })));
    };
    let committee = CommitteeRecord::read(s, chain, cur.epoch)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("no committee is recorded for the epoch"))?;
    let next =
        CommitteeRecord::read(s, chain, cur.epoch.saturating_add(1)).map_err(ApiError::internal)?;
    let pending = dynasty::pending(s, chain).map_err(ApiError::internal)?;
    let status = c
        .actor
        .send(crate::chain::committee::GetStatus)
        .await
        .map_err(|_| ApiError::unavailable())?;
    let me = (status.me < committee.members.len() as u32).then_some(status.me);
    let executed = s.applied_height().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!({
        "chain": chain.to_string(),
        "epochs": true,
        "executed_height": executed,
        // What a reconfiguration submitted now names.
        "open_epoch": dynasty::open_epoch(&cur, executed.saturating_add(1)),
        "reconfigurations": dynasty::reconfigurations(s, chain).map_err(ApiError::internal)?,
        "core_epoch": status.epoch,
        "current": epoch_json(&cur),
        "members": members(s, &committee),
        "certificate": certificate_json(&committee),
        // Validators this chain convicted on committed evidence (issue 27,
        // point 6): off the roster, drawn into no later committee.
        "convicted": dynasty::accountability::convicted(s, chain)
            .map_err(ApiError::internal)?
            .iter()
            .map(|c| json!({
                "validator": hex::encode(c.validator.to_bytes()),
                "epoch": c.epoch,
                "kind": c.kind,
                "height": c.height,
                "evidence": c.evidence.to_hex(),
            }))
            .collect::<Vec<_>>(),
        "me": me,
        "next": next.map(|n| json!({ "epoch": n.epoch, "members": members(s, &n) })),
        "pending": pending.map(|p| json!({
            "epoch": p.reconfigure.epoch,
            "add": p.reconfigure.add.iter().map(|k| hex::encode(k.to_bytes())).collect::<Vec<_>>(),
            "remove": p.reconfigure.remove.iter().map(|k| hex::encode(k.to_bytes())).collect::<Vec<_>>(),
            "committee_size": p.reconfigure.committee_size,
            "epoch_length": p.reconfigure.epoch_length,
            "executed_at": p.executed_at,
        })),
    })))
}

#[utoipa::path(
    get,
    path = "/v1/epoch/{chain}/{epoch}",
    tag = "dynasties",
    params(
        ("chain" = String, Path, description = "A chain: `global` or `local-N`", pattern = "^(global|local-[0-9]+)$"),
        ("epoch" = u64, Path, description = "An epoch"),
    ),
    responses(
        (status = 200, description = "The epoch's record: seed, qualified dealers, committee, DKG", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_epoch(
    path: web::Path<(String, Epoch)>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (chain, epoch) = path.into_inner();
    let (chain, c) = chain_of(&state, &chain)?;
    let s = &c.state;
    let record = dynasty::epoch_record(s, chain, epoch)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no epoch {epoch} of {chain} is recorded")))?;
    let committee = CommitteeRecord::read(s, chain, epoch).map_err(ApiError::internal)?;
    let seed = dynasty::seed_record(s, chain, epoch).map_err(ApiError::internal)?;
    let dkg = dynasty::dkg::dkg_record(s, chain, epoch).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!({
        "chain": chain.to_string(),
        "record": epoch_json(&record),
        "seed": record.seed.to_hex(),
        "seed_source": record.source.name(),
        "qualified": seed.as_ref().map(|r| r.qualified.to_vec()),
        "revealers": seed.as_ref().map(|r| r.revealers.to_vec()),
        "members": committee.as_ref().map(|c| members(s, c)),
        // How this epoch's certificates verify: against the group key a
        // threshold committee's DKG gave it, else the members' keys.
        "certificate": committee.as_ref().map(certificate_json),
        // The committee's DKG (issue 27): absent for epoch 0 and before
        // its complaints close.
        "dkg": dkg.map(|d| json!({
            "threshold": d.threshold,
            "participants": d.participants,
            "qualified": d.qualified.to_vec(),
            "disqualified": d.disqualified.to_vec(),
            "group_key": d.group_key.map(|k| hex::encode(k.to_bytes())),
        })),
    })))
}

/// A threshold chain's random value of `view` (issue 27, point 3): the
/// hash of the group signature that certified the view's (last) block,
/// with what checks it offline (the certificate, and the header it
/// certifies).
#[utoipa::path(
    get,
    path = "/v1/beacon/{chain}/{view}",
    tag = "dynasties",
    params(
        ("chain" = String, Path, description = "A chain: `global` or `local-N`", pattern = "^(global|local-[0-9]+)$"),
        ("view" = u64, Path, description = "A view"),
    ),
    responses(
        (status = 200, description = "The beacon value of the view's certificate", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_beacon(
    path: web::Path<(String, u64)>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (chain, view) = path.into_inner();
    let (chain, c) = chain_of(&state, &chain)?;
    let entry =
        strata_chains::consensus::beacon::in_view(&c.store, view).map_err(ApiError::internal)?;
    beacon_answer(c, chain, entry, &format!("view {view}"))
}

/// The beacon of the committed block at a height: one value per certified
/// block (a two-phase chain's leader keeps its view for many).
#[utoipa::path(
    get,
    path = "/v1/beacon/{chain}/height/{height}",
    tag = "dynasties",
    params(
        ("chain" = String, Path, description = "A chain: `global` or `local-N`", pattern = "^(global|local-[0-9]+)$"),
        ("height" = u64, Path, description = "A committed height"),
    ),
    responses(
        (status = 200, description = "The beacon value of the certificate of the block at the height", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_beacon_at(
    path: web::Path<(String, u64)>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (chain, height) = path.into_inner();
    let (chain, c) = chain_of(&state, &chain)?;
    let entry = strata_chains::consensus::beacon::at_height(&c.store, height)
        .map_err(ApiError::internal)?;
    beacon_answer(c, chain, entry, &format!("height {height}"))
}

fn beacon_answer(
    c: &ChainHandles,
    chain: ChainId,
    entry: Option<strata_chains::consensus::beacon::BeaconEntry>,
    what: &str,
) -> Result<HttpResponse, ApiError> {
    use strata_chains::consensus::beacon::BeaconError;
    let entry = entry.ok_or_else(|| {
        ApiError::not_found(format!(
            "no certified block of {what} of {chain} is committed here (a view that timed out has none; the last has its certificate in the next block)"
        ))
    })?;
    let view = entry.header.view;
    let epoch = entry.certificate.epoch;
    let record = CommitteeRecord::read(&c.state, chain, epoch)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no committee of epoch {epoch} is recorded")))?;
    let committee = record.committee().map_err(ApiError::internal)?;
    let value = entry.value(&committee).map_err(|e| match e {
        BeaconError::NotThreshold(_) => ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "not_threshold",
            format!("{e}: {chain} has no beacon in epoch {epoch}"),
        ),
        other => ApiError::internal(other),
    })?;
    Ok(HttpResponse::Ok().json(json!({
        "chain": chain.to_string(),
        "view": view,
        "value": value.to_hex(),
        "epoch": epoch,
        "height": entry.header.height,
        "block": entry.header.hash().to_hex(),
        "group_key": record.group.map(|g| hex::encode(g.key.to_bytes())),
        "certificate": hex::encode(entry.certificate.encode()),
        "header": hex::encode(entry.header.encode()),
    })))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct From {
    /// The first epoch
    #[param(value_type = Option<u64>)]
    from: Option<Epoch>,
}

#[utoipa::path(
    get,
    path = "/v1/epochs/{chain}/handoffs",
    tag = "dynasties",
    params(
        ("chain" = String, Path, description = "A chain: `global` or `local-N`", pattern = "^(global|local-[0-9]+)$"),
        From,
    ),
    responses(
        (status = 200, description = "Committee handoffs from an epoch on", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn get_handoffs(
    path: web::Path<String>,
    query: web::Query<From>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (chain, c) = chain_of(&state, &path)?;
    let from = query.from.unwrap_or(0);
    let mut handoffs = Vec::new();
    for e in from..from.saturating_add(MAX_HANDOFFS_PER_ANSWER) {
        match c.store.handoff(e).map_err(ApiError::internal)? {
            Some(h) => handoffs.push(hex::encode(h.encode())),
            None => break,
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "chain": chain.to_string(),
        "from": from,
        "handoffs": handoffs,
    })))
}

/// The chains a system transaction goes to.
fn chains_of(tx: &SystemTx, domains: u32) -> Vec<ChainId> {
    std::iter::once(ChainId::GLOBAL)
        .chain((0..domains).map(ChainId::local))
        .filter(|c| tx.goes_to(*c))
        .collect()
}

#[utoipa::path(
    post,
    path = "/v1/system",
    tag = "dynasties",
    request_body(content((Vec<u8> = "application/octet-stream"), (serde_json::Value = "application/json")), description = "A SCALE-encoded system transaction (registry change, reconfiguration, stake), or JSON {\"tx\": hex}"),
    responses(
        (status = 202, description = "Accepted: the transaction's hash", body = serde_json::Value),
        crate::api::ErrorResponses,
    ),
)]
async fn post_system(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let bytes = read_body(&req, body, MAX_SYSTEM_BYTES).await?;
    let tx: SystemTx = decode_message(&bytes, MAX_SYSTEM_BYTES)
        .map_err(|e| ApiError::malformed(format!("not a system transaction: {e}")))?;
    if !matches!(
        tx,
        SystemTx::Registry(_) | SystemTx::Reconfigure(_) | SystemTx::Stake(_)
    ) {
        return Err(ApiError::malformed(
            "only registry changes, stake declarations and reconfigurations are submitted here",
        ));
    }
    let mut outcomes = Vec::new();
    for chain in chains_of(&tx, state.domains) {
        let Some(c) = state.chains.get(&chain) else {
            continue;
        };
        // The executor's rule against this node's state of the chain now.
        let height = c
            .state
            .applied_height()
            .map_err(ApiError::internal)?
            .saturating_add(1);
        let ctx = ChainContext {
            chain,
            domains: state.domains,
        };
        if let Err(why) = check_system(&c.state, ctx, &tx, height).map_err(ApiError::internal)? {
            outcomes.push(json!({ "chain": chain.to_string(), "refused": why }));
            continue;
        }
        let wrapped = Transaction::System(Box::new(tx.clone()));
        let verdict = c
            .mempool
            .send(Submit(vec![wrapped]))
            .await
            .map_err(|_| ApiError::unavailable())?
            .into_iter()
            .next()
            .ok_or_else(ApiError::unavailable)?;
        // The mempool judges a system transaction by the same rule, and
        // says why it refuses one: the state may have moved since the check
        // above (a window closed while it waited); the CLI makes a
        // reconfiguration again on "open to changes".
        let why = match verdict {
            Ok(hash) => {
                outcomes.push(json!({ "chain": chain.to_string(), "tx": hash.to_hex() }));
                continue;
            }
            Err(TxRefusal::Refused(why)) => why,
            Err(other) => other.to_string(),
        };
        outcomes.push(json!({ "chain": chain.to_string(), "refused": why }));
    }
    if outcomes.is_empty() {
        return Err(ApiError::not_found(
            "this node runs none of the chains the transaction goes to",
        ));
    }
    let accepted = outcomes.iter().any(|o| o.get("tx").is_some());
    let body = json!({ "outcomes": outcomes });
    Ok(if accepted {
        HttpResponse::Accepted().json(body)
    } else {
        HttpResponse::UnprocessableEntity().json(json!({
            "error": { "code": "refused", "message": "refused on every chain", "outcomes": body["outcomes"] }
        }))
    })
}
