//! `strata init`: keys, a genesis and node files for a local hierarchy on
//! loopback ports, ready to start with the tier binaries.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use strata_actors::config::{
    ConsensusParams, DomainEntry, GenesisFile, GlobalChainEntry, LeaderKind, NodeFile, PeerEntry,
    StorageSection, ValidatorEntry,
};
use strata_actors::keys::{self, GeneratedKeys};
use strata_actors::{Genesis, NodeConfig, Tier};
use strata_chains::types::{CertificateKind, ChainId, Protocol};
use strata_crypto::SecretKey;

/// Why a hierarchy could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error(transparent)]
    Config(#[from] strata_actors::ConfigError),
    #[error("{0}")]
    Invalid(String),
}

/// The shape of a local hierarchy.
#[derive(Clone, Debug)]
pub struct HierarchySpec {
    pub network: String,
    pub cloud: usize,
    pub domains: u32,
    pub edge_per_domain: usize,
    pub iot_per_domain: usize,
    /// IoT devices vote in their domain's committee instead of running as
    /// light clients.
    pub iot_in_committee: bool,
    /// Loopback address every node listens on (any of 127.0.0.0/8).
    pub host: Ipv4Addr,
    /// One address per node, in the hierarchy's order (cloud, then each
    /// domain's edge and IoT nodes), for nodes on hosts or in network
    /// namespaces of their own; empty: every node listens on `host`.
    pub hosts: Vec<Ipv4Addr>,
    /// Node k listens on `base_port + 3k` (libp2p), `+1` (API), `+2`
    /// (metrics).
    pub base_port: u16,
    pub global_protocol: Protocol,
    pub local_protocol: Protocol,
    pub leader: LeaderKind,
    pub consensus: ConsensusParams,
    /// Every node file's `[storage]` section.
    pub storage: StorageSection,
    /// Local chains' members anchor them on the global chain (their node
    /// files name the global chain's APIs); off only to measure what
    /// anchoring costs.
    pub anchoring: bool,
    /// Every chain runs epochs of this many blocks with dynasties of this
    /// size (`None`: committees fixed at genesis).
    pub epochs: Option<EpochSpec>,
}

/// `multisig` or `threshold`, as command lines name a certificate kind.
pub fn parse_certificate(s: &str) -> Result<CertificateKind, String> {
    match s {
        "multisig" => Ok(CertificateKind::Multisig),
        "threshold" => Ok(CertificateKind::Threshold),
        _ => Err(format!("{s:?}: multisig or threshold")),
    }
}

/// Epochs for every chain of a written hierarchy.
#[derive(Clone, Debug)]
pub struct EpochSpec {
    pub epoch_length: u64,
    pub committee_size: u32,
    /// Chains whose committees certify with threshold signatures (the
    /// others by multisig).
    pub threshold: Vec<ChainId>,
}

impl EpochSpec {
    fn certificate(&self, chain: ChainId) -> CertificateKind {
        if self.threshold.contains(&chain) {
            CertificateKind::Threshold
        } else {
            CertificateKind::Multisig
        }
    }
}

impl Default for HierarchySpec {
    fn default() -> HierarchySpec {
        HierarchySpec {
            network: "strata-local".into(),
            cloud: 4,
            domains: 2,
            edge_per_domain: 4,
            iot_per_domain: 0,
            iot_in_committee: false,
            host: Ipv4Addr::LOCALHOST,
            hosts: Vec::new(),
            base_port: 17000,
            global_protocol: Protocol::HotStuff,
            local_protocol: Protocol::TwoPhase,
            leader: LeaderKind::RoundRobin,
            consensus: ConsensusParams::default(),
            storage: StorageSection::default(),
            anchoring: true,
            epochs: None,
        }
    }
}

/// One node of a written hierarchy.
#[derive(Clone, Debug)]
pub struct NodeEntry {
    pub name: String,
    pub tier: Tier,
    pub domain: Option<u32>,
    pub config: PathBuf,
    pub api: SocketAddr,
    pub metrics: SocketAddr,
    /// A light client (an IoT device in no committee).
    pub light: bool,
}

impl NodeEntry {
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// The binary that runs this node.
    pub fn binary(&self) -> &'static str {
        match self.tier {
            Tier::Cloud => "strata-cloud",
            Tier::Edge => "strata-edge",
            Tier::Iot => "strata-iot",
        }
    }
}

/// A hierarchy on disk.
#[derive(Clone, Debug)]
pub struct Hierarchy {
    pub dir: PathBuf,
    pub genesis: std::sync::Arc<Genesis>,
    pub nodes: Vec<NodeEntry>,
    /// A transaction key clients of this hierarchy may use.
    pub client_key: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InitError + '_ {
    move |e| InitError::Io(path.to_path_buf(), e)
}

fn write_file(path: &Path, text: &str) -> Result<(), InitError> {
    std::fs::write(path, text).map_err(io(path))
}

struct Planned {
    name: String,
    tier: Tier,
    domain: Option<u32>,
    voter: bool,
    keys: GeneratedKeys,
    index: u16,
}

/// The genesis entry of a validator with these keys: public BLS key, proof
/// of possession and libp2p peer id.
pub fn validator_entry(
    name: &str,
    tier: Tier,
    domain: Option<u32>,
    secrets: &GeneratedKeys,
    weight: u64,
    available_time: u64,
) -> Result<ValidatorEntry, InitError> {
    let sk = SecretKey::from_bytes(&secrets.bls).map_err(|e| InitError::Invalid(e.to_string()))?;
    Ok(ValidatorEntry {
        name: name.to_string(),
        tier,
        domain,
        bls_key: hex::encode(sk.public_key().to_bytes()),
        pop: hex::encode(sk.prove_possession().0.to_bytes()),
        peer_id: keys::peer_id_of(secrets.network).to_string(),
        weight,
        available_time,
        vrf_key: Some(hex::encode(
            keys::vrf_public(secrets.vrf).map_err(|e| InitError::Invalid(e.to_string()))?,
        )),
        pvss_key: Some(hex::encode(
            keys::pvss_public(secrets.pvss).map_err(|e| InitError::Invalid(e.to_string()))?,
        )),
    })
}

/// A node of the hierarchy before its keys: its name, tier, domain and
/// whether it votes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    pub name: String,
    pub tier: Tier,
    pub domain: Option<u32>,
    pub voter: bool,
}

/// The hierarchy's nodes in order: cloud, then each domain's edge and IoT
/// nodes (the order of `HierarchySpec::hosts` and of the ports).
pub fn node_plan(spec: &HierarchySpec) -> Vec<NodePlan> {
    let mut out = Vec::new();
    for i in 0..spec.cloud {
        out.push(NodePlan {
            name: format!("cloud-{i}"),
            tier: Tier::Cloud,
            domain: None,
            voter: true,
        });
    }
    for d in 0..spec.domains {
        for i in 0..spec.edge_per_domain {
            out.push(NodePlan {
                name: format!("edge-{d}-{i}"),
                tier: Tier::Edge,
                domain: Some(d),
                voter: true,
            });
        }
        for i in 0..spec.iot_per_domain {
            out.push(NodePlan {
                name: format!("iot-{d}-{i}"),
                tier: Tier::Iot,
                domain: Some(d),
                voter: spec.iot_in_committee,
            });
        }
    }
    out
}

/// Writes keys, `genesis.toml` and one `<node>.toml` per node into `out`.
pub fn write(out: &Path, spec: &HierarchySpec) -> Result<Hierarchy, InitError> {
    if spec.cloud == 0 {
        return Err(InitError::Invalid(
            "the global chain needs at least one cloud node".into(),
        ));
    }
    if spec.domains > 0
        && spec.edge_per_domain == 0
        && !(spec.iot_in_committee && spec.iot_per_domain > 0)
    {
        return Err(InitError::Invalid(
            "each domain needs committee members (edge nodes or IoT members)".into(),
        ));
    }
    let total = spec.cloud + spec.domains as usize * (spec.edge_per_domain + spec.iot_per_domain);
    if !spec.hosts.is_empty() && spec.hosts.len() != total {
        return Err(InitError::Invalid(format!(
            "{} host addresses for {total} nodes",
            spec.hosts.len()
        )));
    }
    if spec.base_port as usize + 3 * total > u16::MAX as usize {
        return Err(InitError::Invalid(format!(
            "{total} nodes do not fit above port {}",
            spec.base_port
        )));
    }
    std::fs::create_dir_all(out.join("keys")).map_err(io(out))?;
    let planned: Vec<Planned> = node_plan(spec)
        .into_iter()
        .enumerate()
        .map(|(index, n)| Planned {
            name: n.name,
            tier: n.tier,
            domain: n.domain,
            voter: n.voter,
            keys: keys::generate(),
            index: index as u16,
        })
        .collect();
    let port = |p: &Planned, offset: u16| spec.base_port + 3 * p.index + offset;
    let host = |p: &Planned| {
        spec.hosts
            .get(p.index as usize)
            .copied()
            .unwrap_or(spec.host)
    };
    let listen = |p: &Planned| format!("/ip4/{}/tcp/{}", host(p), port(p, 0));
    let socket = |p: &Planned, offset| SocketAddr::from((host(p), port(p, offset)));

    let mut validators = Vec::new();
    for p in planned.iter().filter(|p| p.voter) {
        // Edge nodes rank above IoT members for the local leader (LCBFT
        // Alg. 2 uses accumulated available time); earlier nodes first.
        let available_time = match p.tier {
            Tier::Iot => 100,
            _ => 1_000_000 - p.index as u64,
        };
        validators.push(validator_entry(
            &p.name,
            p.tier,
            p.domain,
            &p.keys,
            1,
            available_time,
        )?);
    }
    // With epochs, the genesis committee is the first `committee_size`
    // of the chain's nodes; the others follow the chain until drawn.
    let cap = spec
        .epochs
        .as_ref()
        .map_or(usize::MAX, |e| e.committee_size as usize);
    let certificate = |chain: ChainId| {
        spec.epochs
            .as_ref()
            .map_or(CertificateKind::Multisig, |e| e.certificate(chain))
    };
    let members_of = |domain: Option<u32>, tiers: &[Tier]| -> Vec<String> {
        planned
            .iter()
            .filter(|p| p.voter && p.domain == domain && tiers.contains(&p.tier))
            .map(|p| p.name.clone())
            .take(cap)
            .collect()
    };
    let (epoch_length, committee_size) = match &spec.epochs {
        Some(e) => (e.epoch_length, Some(e.committee_size)),
        None => (0, None),
    };
    // The administrator who approves registrations and reconfigurations
    // (`strata validator register`, `strata committee propose`).
    let admins = match &spec.epochs {
        Some(_) => {
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            std::fs::create_dir_all(out.join("keys")).map_err(io(out))?;
            keys::write_secret(&out.join("keys/admin.tx"), &secret)?;
            let public = strata_crypto::sr25519::TxKeypair::from_seed(&secret).public();
            strata_actors::config::AdminsEntry {
                keys: vec![hex::encode(public.to_bytes())],
                threshold: 1,
            }
        }
        None => Default::default(),
    };
    // The provider whose certificates lock resource stake (`strata stake
    // certify`): a testnet's stands in for the cloud provider's.
    let stake = match &spec.epochs {
        Some(_) => {
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            keys::write_secret(&out.join("keys/provider.tx"), &secret)?;
            let public = strata_crypto::sr25519::TxKeypair::from_seed(&secret).public();
            Some(strata_actors::config::StakeEntry {
                provider: hex::encode(public.to_bytes()),
                scaling: Default::default(),
            })
        }
        None => None,
    };
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let genesis_file = GenesisFile {
        network: spec.network.clone(),
        consensus: spec.consensus.clone(),
        global: GlobalChainEntry {
            protocol: spec.global_protocol.to_string(),
            leader: spec.leader,
            seed: hex::encode(seed),
            members: members_of(None, &[Tier::Cloud]),
            epoch_length,
            committee_size,
            certificate: certificate(ChainId::GLOBAL),
        },
        domains: (0..spec.domains)
            .map(|d| DomainEntry {
                id: d,
                protocol: spec.local_protocol.to_string(),
                members: members_of(Some(d), &[Tier::Edge, Tier::Iot]),
                anchor_interval: DomainEntry::DEFAULT_ANCHOR_INTERVAL,
                epoch_length,
                committee_size,
                certificate: certificate(ChainId::local(d)),
            })
            .collect(),
        validators,
        admins,
        rewards: spec
            .epochs
            .as_ref()
            .map(|_| strata_actors::config::RewardsEntry::TESTNET),
        stake,
    };
    let genesis_path = out.join("genesis.toml");
    let genesis_text = format!(
        "# Strata genesis: chains, committees and protocol parameters, shared by\n\
         # every node of the network (written by `strata init`).\n\n{}",
        toml::to_string(&genesis_file).map_err(|e| InitError::Invalid(e.to_string()))?
    );
    write_file(&genesis_path, &genesis_text)?;
    let genesis = Genesis::load(&genesis_path)?;

    let client_key = out.join("keys/client.tx");
    let mut client_secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut client_secret);
    keys::write_secret(&client_key, &client_secret)?;

    let mut nodes = Vec::new();
    for p in &planned {
        let bls_file = format!("keys/{}.bls", p.name);
        let net_file = format!("keys/{}.p2p", p.name);
        keys::write_secret(&out.join(&bls_file), &p.keys.bls)?;
        keys::write_secret(&out.join(&net_file), &p.keys.network)?;
        keys::write_secret(&out.join(format!("keys/{}.vrf", p.name)), &p.keys.vrf)?;
        keys::write_secret(&out.join(format!("keys/{}.pvss", p.name)), &p.keys.pvss)?;
        let chains = if p.voter {
            genesis.chains_of(&p.name)
        } else {
            Vec::new()
        };
        // Peers: every member of every chain this node votes in.
        let peers: Vec<PeerEntry> = planned
            .iter()
            .filter(|q| q.name != p.name && q.voter)
            .filter(|q| {
                let theirs = genesis.chains_of(&q.name);
                chains.iter().any(|c| theirs.contains(c))
            })
            .map(|q| PeerEntry {
                name: q.name.clone(),
                address: listen(q),
            })
            .collect();
        // A light client submits through its domain's first edge node.
        let upstream = (!p.voter).then(|| {
            planned
                .iter()
                .find(|q| q.tier == Tier::Edge && q.domain == p.domain)
                .or_else(|| planned.iter().find(|q| q.tier == Tier::Cloud))
                .map(|q| format!("http://{}", socket(q, 1)))
                .unwrap_or_default()
        });
        // Members of a local chain anchor it through the global chain's
        // nodes.
        let global_api = if spec.anchoring && chains.iter().any(|c| c.domain().is_some()) {
            planned
                .iter()
                .filter(|q| {
                    q.voter
                        && genesis
                            .chains_of(&q.name)
                            .contains(&strata_chains::types::ChainId::GLOBAL)
                })
                .map(|q| format!("http://{}", socket(q, 1)))
                .collect()
        } else {
            Vec::new()
        };
        let node_file = NodeFile {
            name: p.name.clone(),
            tier: p.tier,
            domain: p.domain,
            genesis: "genesis.toml".into(),
            data_dir: format!("data/{}", p.name),
            bls_key_file: bls_file,
            network_key_file: net_file,
            listen: listen(p),
            api: socket(p, 1).to_string(),
            metrics: socket(p, 2).to_string(),
            peers,
            upstream,
            global_api,
            storage: spec.storage.clone(),
            registered: false,
        };
        let path = out.join(format!("{}.toml", p.name));
        let text = format!(
            "# Strata node {} ({}); paths are relative to this file.\n\n{}",
            p.name,
            p.tier,
            toml::to_string(&node_file).map_err(|e| InitError::Invalid(e.to_string()))?
        );
        write_file(&path, &text)?;
        nodes.push(NodeEntry {
            name: p.name.clone(),
            tier: p.tier,
            domain: p.domain,
            config: path,
            api: socket(p, 1),
            metrics: socket(p, 2),
            light: !p.voter,
        });
    }
    Ok(Hierarchy {
        dir: out.to_path_buf(),
        genesis: std::sync::Arc::new(genesis),
        nodes,
        client_key,
    })
}

impl Hierarchy {
    /// Reads a hierarchy `strata init` wrote (every node file beside
    /// `genesis.toml`), validating each file.
    pub fn open(dir: &Path) -> Result<Hierarchy, InitError> {
        let genesis = std::sync::Arc::new(Genesis::load(&dir.join("genesis.toml"))?);
        let mut nodes = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && !p.ends_with("genesis.toml"))
            .collect();
        entries.sort();
        for path in entries {
            let cfg = NodeConfig::load(&path)?;
            nodes.push(NodeEntry {
                light: !cfg.genesis.validators.contains_key(&cfg.name),
                name: cfg.name,
                tier: cfg.tier,
                domain: cfg.domain,
                config: path,
                api: cfg.api,
                metrics: cfg.metrics,
            });
        }
        // Cloud first, then by domain, as `write` orders them.
        nodes.sort_by_key(|n| {
            (
                n.tier != Tier::Cloud,
                n.domain,
                n.tier == Tier::Iot,
                n.name.clone(),
            )
        });
        Ok(Hierarchy {
            dir: dir.to_path_buf(),
            genesis,
            nodes,
            client_key: dir.join("keys/client.tx"),
        })
    }

    pub fn node(&self, name: &str) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_chains::types::ChainId;

    #[test]
    fn writes_a_hierarchy_that_loads_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let spec = HierarchySpec {
            cloud: 4,
            domains: 2,
            edge_per_domain: 3,
            iot_per_domain: 1,
            host: Ipv4Addr::new(127, 0, 3, 1),
            ..HierarchySpec::default()
        };
        let h = write(dir.path(), &spec).unwrap();
        assert_eq!(h.nodes.len(), 4 + 2 * 4);
        let g = &h.genesis;
        assert_eq!(g.chains.len(), 3);
        assert_eq!(g.chains[&ChainId::GLOBAL].members.len(), 4);
        assert_eq!(
            g.chains[&ChainId::local(1)].members,
            vec!["edge-1-0", "edge-1-1", "edge-1-2"]
        );
        for n in &h.nodes {
            let cfg = NodeConfig::load(&n.config).unwrap();
            assert_eq!(cfg.api, n.api);
            assert_eq!(cfg.api.ip().to_string(), "127.0.3.1");
            if n.light {
                assert_eq!(n.tier, Tier::Iot);
                assert!(cfg
                    .upstream
                    .as_deref()
                    .unwrap()
                    .starts_with("http://127.0.3.1:"));
                assert!(cfg.peers.is_empty());
            } else {
                assert_eq!(cfg.chains().len(), 1, "{}", n.name);
                let want = if n.tier == Tier::Cloud { 3 } else { 2 };
                assert_eq!(cfg.peers.len(), want, "{} peers with its committee", n.name);
                keys::read_bls(&cfg.bls_key_file).unwrap();
            }
        }
        let reopened = Hierarchy::open(dir.path()).unwrap();
        let names = |h: &Hierarchy| h.nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&reopened), names(&h));
        keys::read_tx_key(&h.client_key).unwrap();
    }

    #[test]
    fn nodes_listen_on_their_own_hosts_when_given() {
        let dir = tempfile::tempdir().unwrap();
        let hosts: Vec<Ipv4Addr> = (0..3).map(|k| Ipv4Addr::new(10, 9, 0, 10 + k)).collect();
        let spec = HierarchySpec {
            cloud: 1,
            domains: 1,
            edge_per_domain: 2,
            hosts: hosts.clone(),
            ..HierarchySpec::default()
        };
        let h = write(dir.path(), &spec).unwrap();
        for (n, host) in h.nodes.iter().zip(&hosts) {
            let cfg = NodeConfig::load(&n.config).unwrap();
            assert_eq!(cfg.api.ip(), std::net::IpAddr::V4(*host), "{}", n.name);
            assert!(cfg.listen.starts_with(&format!("/ip4/{host}/")));
            for peer in &cfg.peers {
                let theirs = h.node(&peer.0).unwrap().api.ip();
                assert!(peer.2.starts_with(&format!("/ip4/{theirs}/")), "{peer:?}");
            }
        }
        let short = HierarchySpec {
            hosts: hosts[..2].to_vec(),
            ..spec
        };
        let other = tempfile::tempdir().unwrap();
        assert!(matches!(
            write(other.path(), &short),
            Err(InitError::Invalid(_))
        ));
    }

    #[test]
    fn iot_members_vote_in_their_domain() {
        let dir = tempfile::tempdir().unwrap();
        let spec = HierarchySpec {
            cloud: 1,
            domains: 1,
            edge_per_domain: 2,
            iot_per_domain: 2,
            iot_in_committee: true,
            ..HierarchySpec::default()
        };
        let h = write(dir.path(), &spec).unwrap();
        assert!(h.nodes.iter().all(|n| !n.light));
        let local = &h.genesis.chains[&ChainId::local(0)];
        assert_eq!(
            local.members,
            vec!["edge-0-0", "edge-0-1", "iot-0-0", "iot-0-1"]
        );
    }

    #[test]
    fn refuses_impossible_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let no_cloud = HierarchySpec {
            cloud: 0,
            ..HierarchySpec::default()
        };
        assert!(matches!(
            write(dir.path(), &no_cloud),
            Err(InitError::Invalid(_))
        ));
        let empty_domain = HierarchySpec {
            edge_per_domain: 0,
            ..HierarchySpec::default()
        };
        assert!(matches!(
            write(dir.path(), &empty_domain),
            Err(InitError::Invalid(_))
        ));
    }
}
