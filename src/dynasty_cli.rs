//! The operator's commands for dynasties (issue 26; docs/dynasties.md):
//! registering a validator, proposing a reconfiguration from a file, and
//! showing a chain's committee. Each builds its transaction here, signs it
//! with the keys given, and posts it to a node (`POST /v1/system`), which
//! checks it with the executor's own rule and answers with the reason when
//! it refuses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parity_scale_codec::Encode;
use serde::Deserialize;
use serde_json::Value;
use strata_actors::keys;
use strata_chains::dynasty::{approved_change, approved_reconfigure, ValidatorKeys};
use strata_chains::types::{Reconfigure, SystemTx, ValidatorTier};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::{PublicKey, QuorumThreshold};

use crate::client::{Client, ClientError};
use crate::commands::TierArg;

#[derive(Debug, clap::Subcommand)]
pub enum ValidatorCmd {
    /// Register a validator whose keys `strata keygen` wrote: signed by
    /// the validator (its BLS key) and approved by an administrator.
    Register {
        #[arg(long)]
        node: String,
        /// Directory of the validator's key files (NAME.bls, NAME.p2p,
        /// NAME.vrf, NAME.pvss).
        #[arg(long)]
        keys: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        tier: TierArg,
        #[arg(long)]
        domain: Option<u32>,
        /// Stake (cloud, edge) or credit (IoT): its weight in the draws.
        #[arg(long, default_value_t = 1)]
        weight: u64,
        /// An administrator's transaction key (the genesis's `[admins]`).
        #[arg(long)]
        admin_key: PathBuf,
        /// The administrator's position in `[admins].keys`.
        #[arg(long, default_value_t = 0)]
        admin: u32,
        /// Return once the node accepted it instead of waiting until it is
        /// committed and executed.
        #[arg(long)]
        no_wait: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum CommitteeCmd {
    /// Print a chain's committee: the epoch, its members (this node's
    /// position), the next committee once decided, what is pending.
    Show {
        #[arg(long)]
        node: String,
        /// global or local-N.
        #[arg(long, default_value = "global")]
        chain: String,
        /// An earlier (or the next) epoch instead of the current one.
        #[arg(long)]
        epoch: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Turn a file (chain, members to add and remove, committee_size,
    /// epoch_length, threshold, weights) into a reconfiguration signed by
    /// an administrator; it takes effect at the next epoch boundary whose
    /// committee is not decided yet.
    Propose {
        file: PathBuf,
        #[arg(long)]
        node: String,
        /// An administrator's transaction key.
        #[arg(long)]
        key: PathBuf,
        /// The administrator's position in `[admins].keys`.
        #[arg(long, default_value_t = 0)]
        admin: u32,
        /// Return once the node accepted it instead of waiting until it is
        /// committed and executed.
        #[arg(long)]
        no_wait: bool,
    },
}

/// A reconfiguration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconfigureFile {
    /// `global` or `local-N`.
    pub chain: String,
    /// BLS public keys (hex) of registered validators to seat.
    #[serde(default)]
    pub add: Vec<String>,
    /// BLS public keys (hex) to unseat and take off the chain's roster.
    #[serde(default)]
    pub remove: Vec<String>,
    pub committee_size: Option<u32>,
    pub epoch_length: Option<u64>,
    /// A fraction above two thirds, e.g. "3/4".
    pub threshold: Option<String>,
    /// `multisig` or `threshold`: how committees certify from the epoch
    /// this takes effect in (a threshold committee needs its DKG).
    pub certificate: Option<strata_chains::types::CertificateKind>,
    /// New weights by BLS public key (hex).
    #[serde(default)]
    pub weights: BTreeMap<String, u64>,
}

use crate::parse_chain_arg as parse_chain;

fn parse_key(field: &str, s: &str) -> Result<PublicKey, String> {
    let bytes = hex::decode(s.trim()).map_err(|e| format!("{field}: not hex: {e}"))?;
    PublicKey::from_bytes(&bytes).map_err(|e| format!("{field}: not a BLS public key: {e}"))
}

fn bounded<T, const N: usize>(field: &str, v: Vec<T>) -> Result<BoundedVec<T, N>, String> {
    BoundedVec::new(v).map_err(|_| format!("{field}: at most {N} entries"))
}

impl ReconfigureFile {
    pub fn load(path: &Path) -> Result<ReconfigureFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        strata_actors::config::parse_toml(path, &text).map_err(|e| e.to_string())
    }

    /// The reconfiguration, for `epoch` and as the chain's `sequence`-th.
    pub fn reconfigure(&self, epoch: u64, sequence: u64) -> Result<Reconfigure, String> {
        let keys = |field: &str, v: &[String]| -> Result<Vec<PublicKey>, String> {
            v.iter()
                .enumerate()
                .map(|(i, k)| parse_key(&format!("{field}[{i}]"), k))
                .collect()
        };
        let threshold = self
            .threshold
            .as_deref()
            .map(|t| QuorumThreshold::parse(t).map_err(|e| format!("threshold: {e}")))
            .transpose()?;
        let weights = self
            .weights
            .iter()
            .map(|(k, w)| Ok((parse_key(&format!("weights.{k}"), k)?, *w)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Reconfigure {
            chain: parse_chain(&self.chain).map_err(|e| format!("chain: {e}"))?,
            epoch,
            sequence,
            add: bounded("add", keys("add", &self.add)?)?,
            remove: bounded("remove", keys("remove", &self.remove)?)?,
            committee_size: self.committee_size,
            epoch_length: self.epoch_length,
            threshold,
            certificate: self.certificate,
            weights: bounded("weights", weights)?,
        })
    }
}

pub(crate) fn network_of(c: &Client) -> Result<Digest, String> {
    let status = c.get_ok("/v1/status").map_err(|e| e.to_string())?;
    let hex = status["network"]
        .as_str()
        .ok_or("the node names no network")?;
    Digest::from_hex(hex).map_err(|e| format!("the node's network digest: {e}"))
}

/// Posts a system transaction; the node's answer (outcome per chain).
fn post(c: &Client, tx: &SystemTx) -> Result<Value, String> {
    let answer = c
        .post("/v1/system", "application/octet-stream", &tx.encode())
        .map_err(|e| e.to_string())?;
    if (200..300).contains(&answer.status) {
        return Ok(answer.body);
    }
    Err(format!(
        "refused: {}",
        answer
            .body
            .pointer("/error/outcomes")
            .or(answer.body.pointer("/error/message"))
            .unwrap_or(&answer.body)
    ))
}

/// How long a command waits for its transaction to commit.
const COMMIT_WAIT: Duration = Duration::from_secs(90);

/// Waits until every transaction the node accepted (`outcomes[].tx`) is
/// committed and executed, and adds where; an executor refusal is an
/// error with its reason (the node checked the change against its state
/// when it took it, but the chain may have moved on since).
///
/// `still_open` says, each few seconds, whether the transaction can still
/// execute: a change handed on by a node outside the committee and then
/// refused by the members (its window closed meanwhile) never commits,
/// and the command learns it from the chain rather than the clock.
fn until_committed(
    c: &Client,
    mut answer: Value,
    still_open: &dyn Fn() -> Result<(), String>,
) -> Result<Value, String> {
    let deadline = Instant::now() + COMMIT_WAIT;
    let Some(outcomes) = answer.get_mut("outcomes").and_then(Value::as_array_mut) else {
        return Ok(answer);
    };
    for o in outcomes.iter_mut() {
        let Some(tx) = o.get("tx").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        let state = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{tx} was accepted but not committed within {}s; `strata status` tells whether the chain is moving",
                    COMMIT_WAIT.as_secs()
                ));
            }
            let wait = left.min(Duration::from_secs(3)).as_millis();
            match c.get_ok(&format!("/v1/tx/{tx}?wait=local&timeout_ms={wait}")) {
                Ok(v) if v["state"]["status"] == "committed" => break v["state"].clone(),
                // Not committed by the node's executed state, which says
                // too whether it still can be.
                Ok(_) => still_open()?,
                // A node outside the committee hands the change to its
                // members and knows it again once it commits.
                Err(ClientError::Api { status: 404, .. }) => {
                    still_open()?;
                    std::thread::sleep(Duration::from_millis(300))
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        if let Some(why) = state.get("refused").and_then(Value::as_str) {
            return Err(format!(
                "{tx} was committed but the executor refused it: {why}"
            ));
        }
        o["committed"] = state;
    }
    Ok(answer)
}

/// Posts and, unless told not to, waits for the commit.
pub(crate) fn submit(
    node: &str,
    tx: &SystemTx,
    no_wait: bool,
    still_open: &dyn Fn() -> Result<(), String>,
) -> Result<Value, String> {
    let c = Client::with_timeout(node, Duration::from_secs(15));
    let answer = post(&c, tx)?;
    if no_wait {
        return Ok(answer);
    }
    until_committed(&c, answer, still_open)
}

pub fn validator(cmd: &ValidatorCmd) -> Result<Value, String> {
    match cmd {
        ValidatorCmd::Register {
            node,
            keys: dir,
            name,
            tier,
            domain,
            weight,
            admin_key,
            admin,
            no_wait,
        } => {
            let file = |ext: &str| dir.join(format!("{name}.{ext}"));
            let tier = match tier {
                TierArg::Cloud => ValidatorTier::Cloud,
                TierArg::Edge => ValidatorTier::Edge,
                TierArg::Iot => ValidatorTier::Iot,
            };
            let validator = ValidatorKeys {
                bls: keys::read_bls(&file("bls")).map_err(|e| e.to_string())?,
                vrf: keys::read_vrf(&file("vrf")).map_err(|e| e.to_string())?,
                pvss: keys::read_pvss(&file("pvss")).map_err(|e| e.to_string())?,
                tier,
                domain: *domain,
                peer_id: keys::read_network(&file("p2p"))
                    .map_err(|e| e.to_string())?
                    .public()
                    .to_peer_id()
                    .to_string(),
                weight: *weight,
            };
            let admin_key = keys::read_tx_key(admin_key).map_err(|e| e.to_string())?;
            let c = Client::new(node);
            let network = network_of(&c)?;
            // A new validator's first change is its registration.
            let tx = approved_change(
                validator.register(&network, 0),
                &network,
                &[(*admin, &admin_key)],
            );
            submit(node, &SystemTx::Registry(tx), *no_wait, &|| Ok(()))
        }
    }
}

pub fn committee(cmd: &CommitteeCmd) -> Result<Value, String> {
    match cmd {
        CommitteeCmd::Show {
            node, chain, epoch, ..
        } => {
            let c = Client::new(node);
            let path = match epoch {
                Some(e) => format!("/v1/epoch/{chain}/{e}"),
                None => format!("/v1/committee/{chain}"),
            };
            c.get_ok(&path).map_err(|e| e.to_string())
        }
        CommitteeCmd::Propose {
            file,
            node,
            key,
            admin,
            no_wait,
        } => {
            let spec = ReconfigureFile::load(file)?;
            let c = Client::new(node);
            let admin_key = keys::read_tx_key(key).map_err(|e| e.to_string())?;
            let network = network_of(&c)?;
            // A change names the epoch it takes effect from; if the chain
            // decides that epoch's committee before the change executes,
            // it is refused and made again for the next one.
            let mut attempts = 0;
            loop {
                let now = c
                    .get_ok(&format!("/v1/committee/{}", spec.chain))
                    .map_err(|e| e.to_string())?;
                let (Some(epoch), Some(sequence)) =
                    (now["open_epoch"].as_u64(), now["reconfigurations"].as_u64())
                else {
                    return Err(format!("{}: the chain runs no epochs", spec.chain));
                };
                let r = spec
                    .reconfigure(epoch, sequence)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                let tx = approved_reconfigure(r, &network, &[(*admin, &admin_key)]);
                let still_open = || -> Result<(), String> {
                    let now = c
                        .get_ok(&format!("/v1/committee/{}", spec.chain))
                        .map_err(|e| e.to_string())?;
                    match now["open_epoch"].as_u64() {
                        Some(open) if open > epoch => Err(format!(
                            "the chain decided epoch {epoch}'s committee before the change committed: the next epoch open to changes is {open}"
                        )),
                        _ => Ok(()),
                    }
                };
                match submit(node, &SystemTx::Reconfigure(tx), *no_wait, &still_open) {
                    Err(e) if e.contains("open to changes") && attempts < 3 => attempts += 1,
                    done => return done,
                }
            }
        }
    }
}

/// The committee answer as lines for a terminal.
pub fn print_committee(v: &Value) {
    let members = |m: &Value| -> String {
        m.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        format!(
                            "  {:>3}  {}…  {}",
                            x["position"],
                            x["key"].as_str().unwrap_or("").get(..16).unwrap_or(""),
                            x["peer_id"].as_str().unwrap_or("-")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    if let Some(cur) = v.get("current") {
        println!(
            "{}: epoch {} (blocks {}..={}, seed {}… from {}), this node: {}",
            v["chain"].as_str().unwrap_or("?"),
            cur["epoch"],
            cur["start"].as_u64().unwrap_or(0) + 1,
            cur["last_height"],
            cur["seed"].as_str().unwrap_or("").get(..16).unwrap_or(""),
            cur["seed_source"].as_str().unwrap_or("?"),
            match v["me"].as_u64() {
                Some(p) => format!("member {p}"),
                None => "not a member".into(),
            }
        );
    } else if let Some(r) = v.get("record") {
        println!(
            "{}: epoch {} (blocks {}..={}, seed {}… from {}, qualified dealers {}, revealers {})",
            v["chain"].as_str().unwrap_or("?"),
            r["epoch"],
            r["start"].as_u64().unwrap_or(0) + 1,
            r["last_height"],
            v["seed"].as_str().unwrap_or("").get(..16).unwrap_or(""),
            v["seed_source"].as_str().unwrap_or("?"),
            v["qualified"],
            v["revealers"],
        );
    }
    println!("{}", members(&v["members"]));
    if let Some(next) = v.get("next").filter(|n| !n.is_null()) {
        println!(
            "next (epoch {}):\n{}",
            next["epoch"],
            members(&next["members"])
        );
    }
    if let Some(p) = v.get("pending").filter(|n| !n.is_null()) {
        println!("pending reconfiguration: {p}");
    }
}
