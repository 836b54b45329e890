//! The node file: one process's name, keys, addresses, peers and storage,
//! checked against the genesis it names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strata_chains::types::ChainId;

use super::*;

/// A peer as the node file lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    pub name: String,
    pub address: String,
}

/// The node file as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub name: String,
    pub tier: Tier,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<u32>,
    /// Relative to the node file.
    pub genesis: String,
    pub data_dir: String,
    pub bls_key_file: String,
    pub network_key_file: String,
    pub listen: String,
    pub api: String,
    pub metrics: String,
    #[serde(default)]
    pub peers: Vec<PeerEntry>,
    /// Light clients: the node that takes their submissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Edge nodes: the APIs of global-chain nodes (`http://host:port`)
    /// through which they submit their domain's anchors and learn what
    /// the global chain anchored (any one answering is enough).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global_api: Vec<String>,
    #[serde(default)]
    pub storage: StorageSection,
    /// A validator registered after genesis (`strata validator register`),
    /// not in the genesis: it follows the chains running epochs that its
    /// tier and domain make it eligible for, and serves when drawn.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub registered: bool,
}

/// `[storage]` of a node file: how a chain's data is laid out on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Size of a batch-log segment, MiB. The staging log is collected a
    /// segment at a time, so it holds about two segments (plus what is
    /// still wanted); smaller segments mean less disk and more frequent,
    /// shorter collections.
    #[serde(default = "StorageSection::default_segment_mib")]
    pub batch_log_segment_mib: u64,
}

impl StorageSection {
    const MAX_SEGMENT_MIB: u64 = 4096;

    fn default_segment_mib() -> u64 {
        strata_chains::store::StoreOptions::default().segment_bytes >> 20
    }
}

impl Default for StorageSection {
    fn default() -> StorageSection {
        StorageSection {
            batch_log_segment_mib: StorageSection::default_segment_mib(),
        }
    }
}

/// A validated node configuration.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub file: PathBuf,
    pub name: String,
    pub tier: Tier,
    pub domain: Option<u32>,
    pub genesis: Arc<Genesis>,
    pub data_dir: PathBuf,
    pub bls_key_file: PathBuf,
    pub network_key_file: PathBuf,
    pub listen: String,
    pub api: std::net::SocketAddr,
    pub metrics: std::net::SocketAddr,
    /// (validator name, peer id, address)
    pub peers: Vec<(String, String, String)>,
    pub upstream: Option<String>,
    /// Global-chain APIs for anchoring (edge nodes).
    pub global_api: Vec<String>,
    /// How each chain's store is laid out.
    pub store: strata_chains::store::StoreOptions,
    /// Test mode only (never from the file): what this node does wrong on
    /// purpose (see `byzantine`).
    pub byzantine: Vec<crate::misdeed::Misdeed>,
    /// Light clients (`--prune N`): keep only the N headers below the
    /// chain's last anchored height.
    pub prune: Option<u64>,
    /// Registered after genesis (`NodeFile::registered`).
    pub registered: bool,
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, "(file)", format!("cannot read: {e}")))?;
        let file: NodeFile = parse_toml(path, &text)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &str| dir.join(p);
        let genesis = Arc::new(Genesis::load(&rel(&file.genesis))?);
        let addr = |field: &str, s: &str| -> Result<std::net::SocketAddr, ConfigError> {
            s.parse().map_err(|e| {
                ConfigError::new(path, field, format!("not a host:port socket address: {e}"))
            })
        };
        file.listen.parse::<strata_net::Multiaddr>().map_err(|e| {
            ConfigError::new(
                path,
                "listen",
                format!("expected a multiaddr like /ip4/127.0.0.1/tcp/7000: {e}"),
            )
        })?;
        match (file.tier, genesis.validators.get(&file.name)) {
            (Tier::Iot, None) => {
                if file.upstream.is_none() {
                    return Err(ConfigError::new(
                        path,
                        "upstream",
                        "an IoT light client needs an upstream node URL",
                    ));
                }
            }
            (_, None) if file.registered => {
                if !genesis.chains.values().any(|c| c.dynasty.is_some()) {
                    return Err(ConfigError::new(
                        path,
                        "registered",
                        "no chain of this genesis runs epochs: only its validators serve",
                    ));
                }
            }
            (_, None) => {
                return Err(ConfigError::new(
                    path,
                    "name",
                    format!(
                        "{:?} is not a validator in the genesis (a validator registered since says `registered = true`)",
                        file.name
                    ),
                ));
            }
            (tier, Some(v)) => {
                if v.tier != tier {
                    return Err(ConfigError::new(
                        path,
                        "tier",
                        format!("the genesis registers {:?} as {}", file.name, v.tier),
                    ));
                }
                if v.domain != file.domain {
                    return Err(ConfigError::new(
                        path,
                        "domain",
                        format!(
                            "the genesis places {:?} in domain {:?}",
                            file.name, v.domain
                        ),
                    ));
                }
            }
        }
        let segment_mib = file.storage.batch_log_segment_mib;
        if !(1..=StorageSection::MAX_SEGMENT_MIB).contains(&segment_mib) {
            return Err(ConfigError::new(
                path,
                "storage.batch_log_segment_mib",
                format!(
                    "must be 1 to {} (MiB), not {segment_mib}",
                    StorageSection::MAX_SEGMENT_MIB
                ),
            ));
        }
        let store = strata_chains::store::StoreOptions {
            segment_bytes: segment_mib << 20,
            ..Default::default()
        };
        let mut peers = Vec::new();
        for (i, p) in file.peers.iter().enumerate() {
            let v = genesis.validators.get(&p.name).ok_or_else(|| {
                ConfigError::new(
                    path,
                    format!("peers[{i}].name"),
                    format!("unknown validator {:?}", p.name),
                )
            })?;
            p.address.parse::<strata_net::Multiaddr>().map_err(|e| {
                ConfigError::new(
                    path,
                    format!("peers[{i}].address"),
                    format!("expected a multiaddr: {e}"),
                )
            })?;
            peers.push((p.name.clone(), v.peer_id.clone(), p.address.clone()));
        }
        Ok(NodeConfig {
            file: path.to_path_buf(),
            name: file.name.clone(),
            tier: file.tier,
            domain: file.domain,
            genesis,
            data_dir: rel(&file.data_dir),
            bls_key_file: rel(&file.bls_key_file),
            network_key_file: rel(&file.network_key_file),
            listen: file.listen.clone(),
            api: addr("api", &file.api)?,
            metrics: addr("metrics", &file.metrics)?,
            peers,
            upstream: file.upstream.clone(),
            prune: None,
            global_api: file
                .global_api
                .iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .collect(),
            store,
            byzantine: Vec::new(),
            registered: file.registered,
        })
    }

    /// Chains this node takes part in.
    pub fn chains(&self) -> Vec<ChainId> {
        if self.registered {
            let tier = dynasty::tier(self.tier);
            return self
                .genesis
                .chains
                .values()
                .filter(|c| {
                    c.dynasty.is_some()
                        && strata_chains::types::dynasty::eligible(tier, self.domain, c.id)
                })
                .map(|c| c.id)
                .collect();
        }
        self.genesis.chains_of(&self.name)
    }
}
