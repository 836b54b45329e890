//! A network over several hosts (issue 28; docs/operations.md): the hosts
//! file that places each node on an address, and what `strata init` writes
//! beside the node files for installing them there: one systemd unit per
//! node and `DEPLOY.md`, which says what to copy to which host.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use strata_actors::config::Tier;

use crate::init::NodePlan;

/// `hosts.toml`: the addresses nodes are spread over, in the hierarchy's
/// order (cloud, then each domain's edge and IoT nodes), and nodes pinned
/// to an address by name; where the files go on every host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostsFile {
    /// Addresses the nodes not named under `[nodes]` take in turn.
    #[serde(default)]
    pub hosts: Vec<Ipv4Addr>,
    /// Node name → address.
    #[serde(default)]
    pub nodes: BTreeMap<String, Ipv4Addr>,
    /// Where each host keeps the node files, keys and data.
    #[serde(default = "default_install_dir")]
    pub install_dir: PathBuf,
    /// Where the tier binaries are installed.
    #[serde(default = "default_bin_dir")]
    pub bin_dir: PathBuf,
    /// The account the nodes run as.
    #[serde(default = "default_user")]
    pub user: String,
}

fn default_install_dir() -> PathBuf {
    PathBuf::from("/var/lib/strata")
}

fn default_bin_dir() -> PathBuf {
    PathBuf::from("/usr/local/bin")
}

fn default_user() -> String {
    "strata".into()
}

impl Default for HostsFile {
    fn default() -> Self {
        HostsFile {
            hosts: Vec::new(),
            nodes: BTreeMap::new(),
            install_dir: default_install_dir(),
            bin_dir: default_bin_dir(),
            user: default_user(),
        }
    }
}

impl HostsFile {
    /// Reads a hosts file; an error names the file, the line and the key.
    pub fn load(path: &Path) -> Result<HostsFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Every node's address, in the plan's order.
    pub fn assign(&self, plan: &[NodePlan]) -> Result<Vec<Ipv4Addr>, String> {
        if let Some(unknown) = self
            .nodes
            .keys()
            .find(|n| !plan.iter().any(|p| &p.name == *n))
        {
            return Err(format!(
                "nodes.{unknown}: no node of that name (nodes are cloud-N, edge-D-N, iot-D-N)"
            ));
        }
        let mut pool = self.hosts.iter().cycle();
        plan.iter()
            .map(|p| match self.nodes.get(&p.name) {
                Some(a) => Ok(*a),
                None => pool.next().copied().ok_or_else(|| {
                    format!(
                        "hosts: empty, and node {} has no address under [nodes]",
                        p.name
                    )
                }),
            })
            .collect()
    }
}

fn binary(tier: Tier) -> &'static str {
    match tier {
        Tier::Cloud => "strata-cloud",
        Tier::Edge => "strata-edge",
        Tier::Iot => "strata-iot",
    }
}

/// The systemd unit of one node: restarted on failure, stopped with
/// SIGTERM (a node flushes and stops; nothing acknowledged is lost even
/// to SIGKILL), JSON logs to the journal, writing only its install dir.
pub fn systemd_unit(h: &HostsFile, node: &NodePlan) -> String {
    let dir = h.install_dir.display();
    format!(
        "[Unit]
Description=Strata {tier} node {name}
Documentation=file:{dir}/DEPLOY.md
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
WorkingDirectory={dir}
ExecStart={bin}/{binary} --config {dir}/{name}.toml
Environment=STRATA_LOG_FORMAT=json
Restart=on-failure
RestartSec=2
KillSignal=SIGTERM
TimeoutStopSec=30
LimitNOFILE=65536
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
ReadWritePaths={dir}

[Install]
WantedBy=multi-user.target
",
        tier = node.tier,
        name = node.name,
        user = h.user,
        bin = h.bin_dir.display(),
        binary = binary(node.tier),
    )
}

/// The files a node's host needs: the genesis, its node file and its own
/// keys (never another node's).
pub fn node_files(node: &NodePlan) -> Vec<String> {
    let mut files = vec!["genesis.toml".to_string(), format!("{}.toml", node.name)];
    files.extend(
        ["bls", "p2p", "vrf", "pvss"]
            .iter()
            .map(|k| format!("keys/{}.{k}", node.name)),
    );
    files.push(format!("systemd/strata-{}.service", node.name));
    files
}

/// Writes `systemd/strata-<node>.service` per node and `DEPLOY.md` (per
/// host: its nodes, the files to copy, the commands to run) into `out`.
pub fn write(
    out: &Path,
    h: &HostsFile,
    plan: &[NodePlan],
    addrs: &[Ipv4Addr],
) -> Result<(), String> {
    let units = out.join("systemd");
    std::fs::create_dir_all(&units).map_err(|e| format!("{}: {e}", units.display()))?;
    let mut by_host: BTreeMap<Ipv4Addr, Vec<&NodePlan>> = BTreeMap::new();
    for (node, addr) in plan.iter().zip(addrs) {
        let path = units.join(format!("strata-{}.service", node.name));
        std::fs::write(&path, systemd_unit(h, node))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        by_host.entry(*addr).or_default().push(node);
    }
    let dir = h.install_dir.display();
    let mut md = format!(
        "# Deploying this network\n\n\
         Generated by `strata init --hosts`. Every host needs the tier binaries in \
         `{bin}` and an account `{user}`; each node's files go to `{dir}` on its host \
         (paths in a node file are relative to it). Copy a node's keys to its own host \
         only. docs/operations.md in the Strata repository explains every step.\n",
        bin = h.bin_dir.display(),
        user = h.user,
    );
    for (addr, nodes) in &by_host {
        md.push_str(&format!("\n## {addr}\n\n"));
        for n in nodes {
            md.push_str(&format!(
                "- `{}` ({}): {}\n",
                n.name,
                n.tier,
                node_files(n).join(", ")
            ));
        }
        let names: Vec<String> = nodes.iter().map(|n| format!("strata-{}", n.name)).collect();
        md.push_str(&format!(
            "\n```sh\n# on {addr}, after copying the files above into {dir}:\n\
             sudo install -d -o {user} -g {user} -m 0700 {dir} {dir}/keys\n\
             sudo chown -R {user}:{user} {dir} && sudo chmod 0600 {dir}/keys/*\n\
             sudo cp {dir}/systemd/*.service /etc/systemd/system/\n\
             sudo systemctl daemon-reload && sudo systemctl enable --now {units}\n```\n",
            user = h.user,
            units = names.join(" "),
        ));
    }
    let path = out.join("DEPLOY.md");
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{node_plan, HierarchySpec};

    fn plan() -> Vec<NodePlan> {
        node_plan(&HierarchySpec {
            cloud: 2,
            domains: 1,
            edge_per_domain: 2,
            iot_per_domain: 1,
            ..HierarchySpec::default()
        })
    }

    #[test]
    fn nodes_take_the_pool_in_turn_unless_pinned_and_unknown_names_are_refused() {
        let h: HostsFile = toml::from_str(
            r#"
            hosts = ["10.0.0.1", "10.0.0.2"]
            [nodes]
            "iot-0-0" = "10.9.9.9"
            "#,
        )
        .unwrap();
        let a = h.assign(&plan()).unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            a,
            vec![
                ip("10.0.0.1"),
                ip("10.0.0.2"),
                ip("10.0.0.1"),
                ip("10.0.0.2"),
                ip("10.9.9.9")
            ]
        );
        let bad: HostsFile = toml::from_str("[nodes]\n\"edge-7-0\" = \"10.0.0.1\"\n").unwrap();
        assert!(bad
            .assign(&plan())
            .unwrap_err()
            .starts_with("nodes.edge-7-0"));
        let empty = HostsFile::default();
        assert!(empty.assign(&plan()).unwrap_err().contains("cloud-0"));
        let e = toml::from_str::<HostsFile>("hosts = [\"10.0.0.300\"]\n").unwrap_err();
        assert!(e.to_string().contains("hosts"), "{e}");
        assert!(toml::from_str::<HostsFile>("colour = 1\n").is_err());
    }

    #[test]
    fn units_and_the_deploy_guide_name_each_nodes_files() {
        let dir = tempfile::tempdir().unwrap();
        let h = HostsFile {
            hosts: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
            ..HostsFile::default()
        };
        let p = plan();
        let addrs = h.assign(&p).unwrap();
        write(dir.path(), &h, &p, &addrs).unwrap();
        let unit =
            std::fs::read_to_string(dir.path().join("systemd/strata-edge-0-1.service")).unwrap();
        assert!(unit.contains(
            "ExecStart=/usr/local/bin/strata-edge --config /var/lib/strata/edge-0-1.toml"
        ));
        assert!(unit.contains("ReadWritePaths=/var/lib/strata") && unit.contains("User=strata"));
        let guide = std::fs::read_to_string(dir.path().join("DEPLOY.md")).unwrap();
        assert!(guide.contains("## 10.0.0.1") && guide.contains("## 10.0.0.2"));
        // A host's section lists its own nodes' keys, not another's.
        let first = &guide[guide.find("## 10.0.0.1").unwrap()..guide.find("## 10.0.0.2").unwrap()];
        assert!(first.contains("keys/cloud-0.bls") && !first.contains("keys/cloud-1.bls"));
        assert!(
            first.contains("systemctl daemon-reload && sudo systemctl enable --now strata-cloud-0")
        );
    }
}
