//! The genesis's dynasty settings (issue 26): the administrators who
//! approve registry changes and reconfigurations, each validator's VRF
//! and PVSS keys, and each chain's epochs. A chain with `epoch_length = 0`
//! (the default) keeps its genesis committee for ever.

use std::path::Path;

use serde::{Deserialize, Serialize};
use strata_chains::types::dynasty::{MAX_ADMINS, MAX_PEER_ID, MIN_COMMITTEE, MIN_EPOCH_LENGTH};
use strata_chains::types::{
    AdminSet, CertificateKind, ChainId, DynastyParams, Resources, RewardSchedule, StakePolicy,
    ValidatorInfo, ValidatorTier,
};
use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::pvss::PvssPublicKey;
use strata_crypto::sr25519::TxPublicKey;
use strata_crypto::vrf::VrfPublicKey;
use strata_crypto::{ProofOfPossession, QuorumThreshold};

use super::{parse_hex, ConfigError, Tier, Validator};

/// `[admins]`: sr25519 public keys (hex) and how many must approve.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminsEntry {
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub threshold: u32,
}

impl AdminsEntry {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.threshold == 0
    }
}

/// `[rewards]`: what the dynasty chains pay their committees (issue 27,
/// point 5): `total` base units over the first `epochs` epochs of each
/// chain, `leader_percent` of each epoch's pot to its leaders by blocks
/// proposed, the rest to its voters by certificates signed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RewardsEntry {
    pub total: u64,
    pub epochs: u64,
    pub leader_percent: u16,
}

impl RewardsEntry {
    /// What `strata init` writes for a network with epochs.
    pub const TESTNET: RewardsEntry = RewardsEntry {
        total: 1_000_000_000,
        epochs: 1_000,
        leader_percent: 25,
    };
}

pub fn parse_rewards(path: &Path, r: &RewardsEntry) -> Result<RewardSchedule, ConfigError> {
    if r.epochs == 0 {
        return Err(ConfigError::new(
            path,
            "rewards.epochs",
            "at least one epoch",
        ));
    }
    if r.leader_percent > 100 {
        return Err(ConfigError::new(
            path,
            "rewards.leader_percent",
            "at most 100",
        ));
    }
    Ok(RewardSchedule {
        total: r.total,
        epochs: r.epochs,
        leader_bps: r.leader_percent * 100,
    })
}

/// `[stake]`: the provider whose certificates lock resource stake (issue
/// 27, point 4; CloudPoS VMCREATE/VMVERIFY) and how resources become
/// weight. Without it the global chain weighs validators as registered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StakeEntry {
    /// The provider's sr25519 public key (hex).
    pub provider: String,
    /// Resource units per unit of weight.
    #[serde(default)]
    pub scaling: ScalingEntry,
}

/// Units of each resource per unit of weight: CPU slices, KiB of memory,
/// Kbps of network rate (defaults: 1 slice, 1 MiB, 1 Mbps).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScalingEntry {
    pub cpu: u64,
    pub mem: u64,
    pub net: u64,
}

impl Default for ScalingEntry {
    fn default() -> ScalingEntry {
        ScalingEntry {
            cpu: 1,
            mem: 1024,
            net: 1000,
        }
    }
}

pub fn parse_stake(path: &Path, s: &StakeEntry) -> Result<StakePolicy, ConfigError> {
    let bytes: [u8; 32] = parse_hex(path, "stake.provider", &s.provider)?;
    let provider =
        TxPublicKey::from_bytes(&bytes).map_err(|e| ConfigError::new(path, "stake.provider", e))?;
    for (field, v) in [
        ("cpu", s.scaling.cpu),
        ("mem", s.scaling.mem),
        ("net", s.scaling.net),
    ] {
        if v == 0 {
            return Err(ConfigError::new(
                path,
                format!("stake.scaling.{field}"),
                "at least 1",
            ));
        }
    }
    Ok(StakePolicy {
        provider,
        scaling: Resources {
            cpu: s.scaling.cpu,
            mem: s.scaling.mem,
            net: s.scaling.net,
        },
    })
}

pub fn parse_admins(path: &Path, a: &AdminsEntry) -> Result<AdminSet, ConfigError> {
    if a.keys.len() > MAX_ADMINS {
        return Err(ConfigError::new(
            path,
            "admins.keys",
            format!("at most {MAX_ADMINS} administrators"),
        ));
    }
    let mut keys = Vec::with_capacity(a.keys.len());
    for (i, k) in a.keys.iter().enumerate() {
        let field = format!("admins.keys[{i}]");
        let bytes: [u8; 32] = parse_hex(path, &field, k)?;
        keys.push(TxPublicKey::from_bytes(&bytes).map_err(|e| ConfigError::new(path, &field, e))?);
    }
    if a.threshold as usize > keys.len() || (a.threshold == 0 && !keys.is_empty()) {
        return Err(ConfigError::new(
            path,
            "admins.threshold",
            format!("must be in 1..={} (the number of keys)", keys.len()),
        ));
    }
    Ok(AdminSet {
        keys: BoundedVec::new(keys).unwrap_or_default(),
        threshold: a.threshold,
    })
}

/// A validator's VRF and PVSS keys, if the entry names them.
pub fn parse_keys(
    path: &Path,
    index: usize,
    vrf: Option<&str>,
    pvss: Option<&str>,
) -> Result<(Option<VrfPublicKey>, Option<PvssPublicKey>), ConfigError> {
    let vrf = vrf
        .map(|k| {
            let field = format!("validators[{index}].vrf_key");
            let b: [u8; 32] = parse_hex(path, &field, k)?;
            VrfPublicKey::from_bytes(b).map_err(|e| ConfigError::new(path, &field, e))
        })
        .transpose()?;
    let pvss = pvss
        .map(|k| {
            let field = format!("validators[{index}].pvss_key");
            let b: [u8; 32] = parse_hex(path, &field, k)?;
            PvssPublicKey::from_bytes(b).map_err(|e| ConfigError::new(path, &field, e))
        })
        .transpose()?;
    Ok((vrf, pvss))
}

pub fn tier(t: Tier) -> ValidatorTier {
    match t {
        Tier::Cloud => ValidatorTier::Cloud,
        Tier::Edge => ValidatorTier::Edge,
        Tier::Iot => ValidatorTier::Iot,
    }
}

/// The registry record the genesis writes for a validator with dynasty
/// keys (none without them: it can serve only a chain without epochs).
pub fn validator_info(v: &Validator) -> Option<ValidatorInfo> {
    Some(ValidatorInfo {
        key: v.key,
        proof_of_possession: ProofOfPossession(v.pop),
        vrf_key: v.vrf_key?,
        pvss_key: v.pvss_key?,
        tier: tier(v.tier),
        domain: v.domain,
        peer_id: BoundedBytes::<MAX_PEER_ID>::new(v.peer_id.as_bytes().to_vec()).ok()?,
        weight: v.weight,
    })
}

/// What a chain's genesis entry says of its epochs.
pub struct EpochsEntry {
    pub epoch_length: u64,
    pub committee_size: Option<u32>,
    pub certificate: CertificateKind,
}

/// A chain's dynasty parameters from its entry (`None`: no epochs).
pub fn params(
    path: &Path,
    field: &str,
    chain: ChainId,
    entry: EpochsEntry,
    members: usize,
    validators: &std::collections::BTreeMap<String, Validator>,
) -> Result<Option<DynastyParams>, ConfigError> {
    let EpochsEntry {
        epoch_length,
        committee_size,
        certificate,
    } = entry;
    if epoch_length == 0 {
        if certificate == CertificateKind::Threshold {
            return Err(ConfigError::new(
                path,
                format!("{field}.certificate"),
                "threshold certificates need epochs (each dynasty keys itself by a DKG): set epoch_length",
            ));
        }
        return Ok(None);
    }
    if epoch_length < MIN_EPOCH_LENGTH {
        return Err(ConfigError::new(
            path,
            format!("{field}.epoch_length"),
            format!("must be 0 (no epochs) or at least {MIN_EPOCH_LENGTH}"),
        ));
    }
    let size = committee_size.unwrap_or(members as u32);
    if size < MIN_COMMITTEE {
        return Err(ConfigError::new(
            path,
            format!("{field}.committee_size"),
            format!("must be at least {MIN_COMMITTEE} (a quorum that survives one fault)"),
        ));
    }
    for v in validators.values() {
        let eligible = validator_info(v).is_some_and(|i| i.eligible_for(chain));
        let could_serve = match chain.domain() {
            None => v.tier != Tier::Iot,
            Some(d) => v.tier != Tier::Cloud && v.domain == Some(d),
        };
        if could_serve && !eligible {
            return Err(ConfigError::new(
                path,
                format!("validators.{}", v.name),
                format!("{chain} runs epochs: its validators need vrf_key and pvss_key"),
            ));
        }
    }
    Ok(Some(DynastyParams {
        epoch_length,
        committee_size: size,
        threshold: QuorumThreshold::TWO_THIRDS,
        certificate,
    }))
}
