//! Configuration files (docs/design.md §7): a node file per process and one
//! genesis shared by all. Loading validates everything and names the file
//! and field that is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_chains::consensus::LeaderPolicy;
use strata_chains::execution::{CommitteeRecord, GenesisState};
use strata_chains::types::{
    genesis_block, Block, CertificateKind, ChainId, GenesisParams, Protocol,
};
use strata_crypto::codec::BoundedVec;
use strata_crypto::committee::{Committee, Member};
use strata_crypto::hash::Digest;
use strata_crypto::QuorumThreshold;
use strata_crypto::{ProofOfPossession, PublicKey, Signature};

mod dynasty;
mod node;
pub use dynasty::{AdminsEntry, RewardsEntry, ScalingEntry, StakeEntry};
pub use node::{NodeConfig, NodeFile, PeerEntry, StorageSection};

/// A configuration problem, with where it is: the file, the line and
/// column when the problem is in the text (syntax, a wrong type, an
/// unknown key), and the key path (`validators[3].peer_id`).
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {field}: {message}", location(.at))]
pub struct ConfigError {
    pub file: String,
    /// 1-based line and column.
    pub at: Option<(usize, usize)>,
    pub field: String,
    pub message: String,
}

fn location(at: &Option<(usize, usize)>) -> String {
    at.map_or(String::new(), |(line, column)| format!(":{line}:{column}"))
}

/// Deserializes a TOML file's text; a failure names the file, the line
/// and column, and the key path serde was at.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    let located = |field: String, e: &toml::de::Error| ConfigError {
        at: e.span().map(|span| line_column(text, span.start)),
        ..ConfigError::new(path, field, e.message())
    };
    let de = toml::Deserializer::parse(text).map_err(|e| located("(syntax)".into(), &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = match e.path().to_string() {
            p if p == "." => "(file)".to_string(),
            p => p,
        };
        located(field, e.inner())
    })
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl ConfigError {
    pub fn new(
        file: &Path,
        field: impl Into<String>,
        message: impl std::fmt::Display,
    ) -> ConfigError {
        ConfigError {
            file: file.display().to_string(),
            at: None,
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// Which binary a node runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Cloud,
    Edge,
    Iot,
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tier::Cloud => "cloud",
            Tier::Edge => "edge",
            Tier::Iot => "iot",
        })
    }
}

/// How a chain treats transaction payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PayloadMode {
    /// Signed provenance records; every signature checked by every node.
    #[default]
    Signed,
    /// Opaque bytes ordered without checks (to measure ordering alone).
    Opaque,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LeaderKind {
    #[default]
    RoundRobin,
    StakeWeighted,
    /// Drawn from each certificate's threshold signature (issue 27,
    /// point 3): a HotStuff chain with threshold certificates only.
    Beacon,
}

/// Parameters shared by every chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusParams {
    pub base_timeout_ms: u64,
    pub max_timeout_ms: u64,
    /// A batch is sealed at this size…
    pub max_batch_bytes: usize,
    /// …or this long after its first transaction, unless a submission
    /// leaves 8 KiB or more to seal at once. Short: a record waits
    /// for its batch to be sealed before any leader can propose it, and
    /// sealing more often did not cost CPU per transaction (3 vs 10 ms,
    /// same-window runs: 1k signed tx/s p50 63–70 vs 76–77 ms; CPU per
    /// transaction at 5k and 8k signed and 30k opaque equal or lower).
    pub max_batch_delay_ms: u64,
    /// A leader proposes at least this often (empty blocks keep views
    /// alive and flush the commit pipeline).
    pub max_block_interval_ms: u64,
    /// Transactions a mempool holds before it refuses more.
    pub mempool_capacity: usize,
    pub payload: PayloadMode,
}

impl Default for ConsensusParams {
    fn default() -> ConsensusParams {
        ConsensusParams {
            base_timeout_ms: 1000,
            max_timeout_ms: 20_000,
            max_batch_bytes: 512 << 10,
            max_batch_delay_ms: 3,
            max_block_interval_ms: 200,
            mempool_capacity: 200_000,
            payload: PayloadMode::Signed,
        }
    }
}

/// A registered validator.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorEntry {
    pub name: String,
    pub tier: Tier,
    /// The edge domain of edge and IoT validators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<u32>,
    /// BLS public key (hex, 48 bytes compressed).
    pub bls_key: String,
    /// Proof of possession of the BLS key (hex, 96 bytes).
    pub pop: String,
    /// libp2p peer id (base58), bound to this validator.
    pub peer_id: String,
    /// Voting weight (stake or credit).
    pub weight: u64,
    /// Accumulated available time (IoT credit; local leader ranking).
    #[serde(default)]
    pub available_time: u64,
    /// VRF public key (hex, 32 bytes): its sortition draws. Needed on a
    /// chain that runs epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf_key: Option<String>,
    /// PVSS public key (hex, 32 bytes): RandShare shares are encrypted to
    /// it. Needed on a chain that runs epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvss_key: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalChainEntry {
    pub protocol: String,
    #[serde(default)]
    pub leader: LeaderKind,
    /// Seed of the stake-weighted leader draw (hex, 32 bytes).
    pub seed: String,
    /// The committee of epoch 0.
    pub members: Vec<String>,
    /// Blocks per epoch; 0 (the default): no epochs, the genesis
    /// committee serves for ever.
    #[serde(default)]
    pub epoch_length: u64,
    /// Members of each later committee (default: as many as `members`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committee_size: Option<u32>,
    /// `multisig` (the default) or `threshold`: committees from epoch 1
    /// on certify with their DKG's group key (needs epochs).
    #[serde(default)]
    pub certificate: CertificateKind,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainEntry {
    pub id: u32,
    pub protocol: String,
    pub members: Vec<String>,
    /// Local heights between two anchors of the domain on the global chain.
    #[serde(default = "DomainEntry::default_anchor_interval")]
    pub anchor_interval: u64,
    /// As the global chain's.
    #[serde(default)]
    pub epoch_length: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committee_size: Option<u32>,
    #[serde(default)]
    pub certificate: CertificateKind,
}

impl DomainEntry {
    /// At the testnet's load a local chain commits 10 heights in about
    /// 0.3-1 s: a record is global about a second after it is local, and
    /// the global chain orders a few anchors a second.
    pub const DEFAULT_ANCHOR_INTERVAL: u64 = 10;

    fn default_anchor_interval() -> u64 {
        DomainEntry::DEFAULT_ANCHOR_INTERVAL
    }
}

/// The genesis file as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFile {
    pub network: String,
    #[serde(default)]
    pub consensus: ConsensusParams,
    pub global: GlobalChainEntry,
    #[serde(default)]
    pub domains: Vec<DomainEntry>,
    pub validators: Vec<ValidatorEntry>,
    /// Who approves registry changes and reconfigurations (none: the
    /// registry and the committees change only by sortition).
    #[serde(default, skip_serializing_if = "AdminsEntry::is_empty")]
    pub admins: AdminsEntry,
    /// What the dynasty chains pay their committees (none: no rewards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewards: Option<RewardsEntry>,
    /// Who certifies resource stake (none: weights as registered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stake: Option<StakeEntry>,
}

/// A validated validator.
#[derive(Clone, Debug)]
pub struct Validator {
    pub name: String,
    pub tier: Tier,
    pub domain: Option<u32>,
    pub key: PublicKey,
    pub pop: Signature,
    pub peer_id: String,
    pub weight: u64,
    pub available_time: u64,
    pub vrf_key: Option<strata_crypto::vrf::VrfPublicKey>,
    pub pvss_key: Option<strata_crypto::pvss::PvssPublicKey>,
}

impl Validator {
    /// Whether `chain`'s dynasties may draw it (`ValidatorInfo::eligible_for`;
    /// never without dynasty keys).
    pub fn eligible_for(&self, chain: ChainId) -> bool {
        dynasty::validator_info(self).is_some_and(|i| i.eligible_for(chain))
    }
}

/// One chain's static description.
#[derive(Clone, Debug)]
pub struct ChainSpec {
    pub id: ChainId,
    pub protocol: Protocol,
    /// Validator names in committee order.
    pub members: Vec<String>,
    pub committee: Arc<Committee>,
    pub leader: LeaderPolicy,
    pub genesis: Arc<Block>,
    /// Local chains: heights between two anchors (0 for the global chain).
    pub anchor_interval: u64,
    /// Epochs and committee sizes, when the chain runs dynasties.
    pub dynasty: Option<strata_chains::types::DynastyParams>,
}

impl ChainSpec {
    pub fn position(&self, validator: &str) -> Option<u32> {
        self.members
            .iter()
            .position(|m| m == validator)
            .map(|p| p as u32)
    }
}

/// The validated genesis.
#[derive(Clone, Debug)]
pub struct Genesis {
    pub network: String,
    pub params: ConsensusParams,
    pub validators: BTreeMap<String, Validator>,
    pub chains: BTreeMap<ChainId, ChainSpec>,
    /// Digest of the genesis file's canonical content.
    pub digest: Digest,
    /// The state every chain starts from.
    pub state: GenesisState,
}

fn committee_record(chain: ChainId, protocol: Protocol, committee: &Committee) -> CommitteeRecord {
    CommitteeRecord {
        chain,
        epoch: 0,
        protocol,
        threshold: QuorumThreshold::TWO_THIRDS,
        members: BoundedVec::new(committee.members().to_vec())
            .expect("a committee is bounded by the same limit"),
        group: None,
    }
}

fn parse_hex<const N: usize>(file: &Path, field: &str, s: &str) -> Result<[u8; N], ConfigError> {
    let bytes =
        hex::decode(s).map_err(|e| ConfigError::new(file, field, format!("not hex: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        ConfigError::new(file, field, format!("expected {N} bytes, got {}", b.len()))
    })
}

fn parse_protocol(file: &Path, field: &str, s: &str) -> Result<Protocol, ConfigError> {
    s.parse()
        .map_err(|e: String| ConfigError::new(file, field, e))
}

impl Genesis {
    pub fn load(path: &Path) -> Result<Genesis, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, "(file)", format!("cannot read: {e}")))?;
        Genesis::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Genesis, ConfigError> {
        let file: GenesisFile = parse_toml(path, text)?;
        Genesis::from_file(path, file)
    }

    pub fn from_file(path: &Path, file: GenesisFile) -> Result<Genesis, ConfigError> {
        let p = &file.consensus;
        if p.base_timeout_ms == 0 || p.max_timeout_ms < p.base_timeout_ms {
            return Err(ConfigError::new(
                path,
                "consensus.max_timeout_ms",
                "must be at least base_timeout_ms > 0",
            ));
        }
        if p.max_batch_bytes == 0
            || p.max_batch_bytes > strata_chains::types::limits::MAX_BATCH_BYTES
        {
            return Err(ConfigError::new(
                path,
                "consensus.max_batch_bytes",
                "must be in 1..=8 MiB",
            ));
        }
        for (field, value) in [
            ("consensus.max_batch_delay_ms", p.max_batch_delay_ms),
            ("consensus.max_block_interval_ms", p.max_block_interval_ms),
            ("consensus.mempool_capacity", p.mempool_capacity as u64),
        ] {
            if value == 0 {
                return Err(ConfigError::new(path, field, "must be positive"));
            }
        }
        let domain_ids: BTreeSet<u32> = file.domains.iter().map(|d| d.id).collect();
        for (i, d) in file.domains.iter().enumerate() {
            if d.anchor_interval == 0 {
                return Err(ConfigError::new(
                    path,
                    format!("domains[{i}].anchor_interval"),
                    "must be positive (blocks between anchors)",
                ));
            }
        }
        let mut validators = BTreeMap::new();
        let mut peer_ids = BTreeSet::new();
        for (i, v) in file.validators.iter().enumerate() {
            let field = |f: &str| format!("validators[{i}].{f}");
            let key_bytes: [u8; 48] = parse_hex(path, &field("bls_key"), &v.bls_key)?;
            let key = PublicKey::from_bytes(&key_bytes)
                .map_err(|e| ConfigError::new(path, field("bls_key"), e))?;
            let pop_bytes: [u8; 96] = parse_hex(path, &field("pop"), &v.pop)?;
            let pop = Signature::from_bytes(&pop_bytes)
                .map_err(|e| ConfigError::new(path, field("pop"), e))?;
            ProofOfPossession(pop)
                .verify(&key)
                .map_err(|e| ConfigError::new(path, field("pop"), e))?;
            if v.weight == 0 {
                return Err(ConfigError::new(path, field("weight"), "must be positive"));
            }
            if v.peer_id.parse::<strata_net::PeerId>().is_err() {
                return Err(ConfigError::new(
                    path,
                    field("peer_id"),
                    "not a libp2p peer id",
                ));
            }
            if !peer_ids.insert(v.peer_id.clone()) {
                return Err(ConfigError::new(
                    path,
                    field("peer_id"),
                    "used by two validators",
                ));
            }
            if v.tier != Tier::Cloud && v.domain.is_none() {
                return Err(ConfigError::new(
                    path,
                    field("domain"),
                    "edge and IoT validators belong to a domain",
                ));
            }
            if let Some(d) = v.domain.filter(|d| !domain_ids.contains(d)) {
                return Err(ConfigError::new(
                    path,
                    field("domain"),
                    format!("no [[domains]] entry has id {d}"),
                ));
            }
            let (vrf_key, pvss_key) =
                dynasty::parse_keys(path, i, v.vrf_key.as_deref(), v.pvss_key.as_deref())?;
            let entry = Validator {
                name: v.name.clone(),
                tier: v.tier,
                domain: v.domain,
                key,
                pop,
                peer_id: v.peer_id.clone(),
                weight: v.weight,
                available_time: v.available_time,
                vrf_key,
                pvss_key,
            };
            if validators.insert(v.name.clone(), entry).is_some() {
                return Err(ConfigError::new(
                    path,
                    field("name"),
                    format!("duplicate validator {:?}", v.name),
                ));
            }
        }
        let digest = Digest::of(
            "strata/genesis-file",
            toml::to_string(&file).unwrap_or_default().as_bytes(),
        );

        let committee = |field: &str, names: &[String]| -> Result<Committee, ConfigError> {
            let mut members = Vec::with_capacity(names.len());
            for (j, n) in names.iter().enumerate() {
                let v = validators.get(n).ok_or_else(|| {
                    ConfigError::new(
                        path,
                        format!("{field}[{j}]"),
                        format!("unknown validator {n:?}"),
                    )
                })?;
                members.push(Member {
                    key: v.key,
                    weight: v.weight,
                });
            }
            Committee::new(members).map_err(|e| ConfigError::new(path, field, e))
        };
        // Every chain's committee of epoch 0 is in every chain's genesis
        // state (the global chain checks anchors against it).
        let mut records = Vec::new();
        let g = &file.global;
        let global_protocol = parse_protocol(path, "global.protocol", &g.protocol)?;
        let global_committee = Arc::new(committee("global.members", &g.members)?);
        records.push(committee_record(
            ChainId::GLOBAL,
            global_protocol,
            &global_committee,
        ));
        let mut locals = Vec::new();
        for (i, d) in file.domains.iter().enumerate() {
            let field = format!("domains[{i}]");
            let members = committee(&format!("{field}.members"), &d.members)?;
            let protocol = parse_protocol(path, &format!("{field}.protocol"), &d.protocol)?;
            records.push(committee_record(ChainId::local(d.id), protocol, &members));
            locals.push((protocol, Arc::new(members)));
        }
        let global_dynasty = dynasty::params(
            path,
            "global",
            ChainId::GLOBAL,
            dynasty::EpochsEntry {
                epoch_length: g.epoch_length,
                committee_size: g.committee_size,
                certificate: g.certificate,
            },
            g.members.len(),
            &validators,
        )?;
        let mut dynasties: Vec<_> = global_dynasty
            .map(|p| (ChainId::GLOBAL, p))
            .into_iter()
            .collect();
        for (i, d) in file.domains.iter().enumerate() {
            let id = ChainId::local(d.id);
            let field = format!("domains[{i}]");
            let params = dynasty::params(
                path,
                &field,
                id,
                dynasty::EpochsEntry {
                    epoch_length: d.epoch_length,
                    committee_size: d.committee_size,
                    certificate: d.certificate,
                },
                d.members.len(),
                &validators,
            )?;
            dynasties.extend(params.map(|p| (id, p)));
        }
        if !dynasties.is_empty() && file.consensus.payload == PayloadMode::Opaque {
            // An opaque chain's mempool admits only opaque bytes and its
            // executor runs nothing: the RandShare dealings, candidacies
            // and handoffs an epoch ends with would never commit, and the
            // chain would stall at its first boundary.
            return Err(ConfigError::new(
                path,
                "consensus.payload",
                "\"opaque\" cannot run epochs (their system transactions are executed): set epoch_length = 0 or payload = \"signed\"",
            ));
        }
        let genesis_state = GenesisState {
            config: digest,
            committees: records,
            admins: dynasty::parse_admins(path, &file.admins)?,
            validators: validators
                .values()
                .filter_map(dynasty::validator_info)
                .collect(),
            dynasties: dynasties.clone(),
            rewards: file
                .rewards
                .as_ref()
                .map(|r| dynasty::parse_rewards(path, r))
                .transpose()?,
            stake: file
                .stake
                .as_ref()
                .map(|s| dynasty::parse_stake(path, s))
                .transpose()?,
        };
        let dynasty_of = |id: ChainId| dynasties.iter().find(|(c, _)| *c == id).map(|(_, p)| *p);
        let state_root = genesis_state.root();
        let mut chains = BTreeMap::new();
        let seed = Digest(parse_hex(path, "global.seed", &g.seed)?);
        let leader = match g.leader {
            LeaderKind::RoundRobin => LeaderPolicy::RoundRobin,
            LeaderKind::StakeWeighted => LeaderPolicy::stake_weighted(seed),
            LeaderKind::Beacon => {
                let threshold = dynasty_of(ChainId::GLOBAL)
                    .is_some_and(|p| p.certificate == CertificateKind::Threshold);
                if global_protocol != Protocol::HotStuff || !threshold {
                    return Err(ConfigError::new(
                        path,
                        "global.leader",
                        "\"beacon\" needs a HotStuff chain with epochs and certificate = \"threshold\" (only a threshold signature is unique)",
                    ));
                }
                LeaderPolicy::Beacon {
                    seed,
                    weights: Vec::new(),
                }
            }
        };
        let genesis_of = |chain: ChainId| {
            Arc::new(genesis_block(GenesisParams {
                chain,
                epoch: 0,
                state_root,
            }))
        };
        chains.insert(
            ChainId::GLOBAL,
            ChainSpec {
                id: ChainId::GLOBAL,
                protocol: global_protocol,
                members: g.members.clone(),
                committee: global_committee,
                leader,
                genesis: genesis_of(ChainId::GLOBAL),
                anchor_interval: 0,
                dynasty: dynasty_of(ChainId::GLOBAL),
            },
        );
        for ((i, d), (protocol, members)) in file.domains.iter().enumerate().zip(locals) {
            let field = format!("domains[{i}]");
            if d.anchor_interval == 0 {
                return Err(ConfigError::new(
                    path,
                    format!("{field}.anchor_interval"),
                    "must be at least 1",
                ));
            }
            for (j, n) in d.members.iter().enumerate() {
                if validators[n].domain != Some(d.id) {
                    return Err(ConfigError::new(
                        path,
                        format!("{field}.members[{j}]"),
                        format!("{n:?} is not in domain {}", d.id),
                    ));
                }
            }
            let uptime: Vec<u64> = d
                .members
                .iter()
                .map(|n| validators[n].available_time)
                .collect();
            let id = ChainId::local(d.id);
            let spec = ChainSpec {
                id,
                protocol,
                members: d.members.clone(),
                committee: members,
                leader: LeaderPolicy::uptime(&uptime),
                genesis: genesis_of(id),
                anchor_interval: d.anchor_interval,
                dynasty: dynasty_of(id),
            };
            if chains.insert(id, spec).is_some() {
                return Err(ConfigError::new(
                    path,
                    format!("{field}.id"),
                    format!("duplicate domain {}", d.id),
                ));
            }
        }
        Ok(Genesis {
            network: file.network.clone(),
            params: file.consensus.clone(),
            validators,
            chains,
            digest,
            state: genesis_state,
        })
    }

    pub fn domains(&self) -> impl Iterator<Item = u32> + '_ {
        self.chains.keys().filter_map(|c| c.domain())
    }

    /// The chains a validator runs: those whose genesis committee it is
    /// in, and those running epochs whose dynasties may draw it (it
    /// follows them as an observer until it is drawn).
    pub fn chains_of(&self, validator: &str) -> Vec<ChainId> {
        let v = self.validators.get(validator);
        self.chains
            .values()
            .filter(|c| {
                c.position(validator).is_some()
                    || (c.dynasty.is_some() && v.is_some_and(|v| v.eligible_for(c.id)))
            })
            .map(|c| c.id)
            .collect()
    }

    pub fn base_timeout(&self) -> Duration {
        Duration::from_millis(self.params.base_timeout_ms)
    }
}

#[cfg(test)]
mod tests;
