//! `strata init`: a network's keys, genesis and node files; with
//! `--hosts`, also what installs it over several hosts (systemd units, a
//! Prometheus config, `DEPLOY.md`: `deploy.rs`).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use strata_actors::config::ConsensusParams;
use strata_chains::types::{ChainId, Protocol};

use crate::init::{self, HierarchySpec};
use crate::load::PayloadKind;
use crate::parse_chain_arg;

#[derive(clap::Args)]
pub struct InitArgs {
    /// Directory to write (created; must not hold a genesis yet).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 4)]
    pub cloud: usize,
    #[arg(long, default_value_t = 2)]
    pub domains: u32,
    #[arg(long, default_value_t = 4)]
    pub edge_per_domain: usize,
    #[arg(long, default_value_t = 0)]
    pub iot_per_domain: usize,
    /// IoT devices vote in their domain's committee (else light clients).
    #[arg(long)]
    pub iot_in_committee: bool,
    /// Every chain runs epochs of this many blocks (at least 64): its
    /// committees are drawn by sortition each epoch; an administrator's
    /// key is written to keys/admin.tx.
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Committee size with --epochs.
    #[arg(long, default_value_t = 4)]
    pub committee_size: u32,
    /// With --epochs: chains (`global`, `local-N`; repeat or comma-separate)
    /// whose committees certify with threshold BLS (the others multisig).
    #[arg(long, value_delimiter = ',', value_parser = parse_chain_arg)]
    pub threshold: Vec<ChainId>,
    /// Loopback address the nodes listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: Ipv4Addr,
    /// Nodes on separate hosts: a hosts file (`hosts.toml`: addresses the
    /// nodes take in turn, nodes pinned by name, where they install; see
    /// docs/operations.md), or addresses comma-separated that the nodes
    /// take in turn (cloud, then each domain's edge and IoT nodes). Writes
    /// a systemd unit per node (`systemd/`) and `DEPLOY.md`.
    #[arg(long, value_name = "hosts.toml|ADDR,…")]
    pub hosts: Option<String>,
    /// Node k listens on base+3k (libp2p), base+3k+1 (API), base+3k+2
    /// (metrics).
    #[arg(long, default_value_t = 17000)]
    pub base_port: u16,
    /// Protocol of the global chain.
    #[arg(long, default_value = "hotstuff")]
    pub global_protocol: Protocol,
    /// Protocol of the local chains.
    #[arg(long, default_value = "two-phase")]
    pub local_protocol: Protocol,
    /// Payloads of every chain: signed records or opaque bytes.
    #[arg(long, value_enum, default_value = "signed")]
    pub payload: PayloadKind,
}

/// Writes the network `a` describes into `a.out`, and prints how to start
/// its nodes.
pub fn run(a: &InitArgs) -> Result<(), String> {
    if a.out.join("genesis.toml").exists() {
        return Err(format!("{} already holds a genesis", a.out.display()));
    }
    let mut spec = HierarchySpec {
        cloud: a.cloud,
        domains: a.domains,
        edge_per_domain: a.edge_per_domain,
        iot_per_domain: a.iot_per_domain,
        iot_in_committee: a.iot_in_committee,
        host: a.host,
        base_port: a.base_port,
        global_protocol: a.global_protocol,
        local_protocol: a.local_protocol,
        consensus: ConsensusParams {
            payload: a.payload.into(),
            ..ConsensusParams::default()
        },
        epochs: a.epochs.map(|epoch_length| init::EpochSpec {
            epoch_length,
            committee_size: a.committee_size,
            threshold: a.threshold.clone(),
        }),
        ..HierarchySpec::default()
    };
    let deployment = match a.hosts.as_deref().map(hosts_of) {
        None => None,
        Some(Err(e)) => return Err(format!("--hosts: {e}")),
        Some(Ok(file)) => {
            let plan = init::node_plan(&spec);
            match file.assign(&plan) {
                Ok(addrs) => {
                    spec.hosts = addrs.clone();
                    Some((file, plan, addrs))
                }
                Err(e) => return Err(format!("--hosts: {e}")),
            }
        }
    };
    match init::write(&a.out, &spec) {
        Ok(h) => {
            if let Some((file, plan, addrs)) = &deployment {
                crate::deploy::write(&a.out, file, plan, addrs)?;
                // Prometheus for the deployment: every node, the rules.
                let prom = a.out.join("prometheus");
                let written = std::fs::create_dir_all(&prom)
                    .and_then(|_| {
                        std::fs::write(
                            prom.join("prometheus.yml"),
                            crate::monitor::scrape_config(&h, 15, "strata init --hosts"),
                        )
                    })
                    .and_then(|_| {
                        std::fs::write(prom.join("alerts.yml"), crate::monitor::ALERT_RULES)
                    });
                if let Err(e) = written {
                    return Err(format!("{}: {e}", prom.display()));
                }
                println!(
                    "systemd units in {}, what goes to which host in {}, Prometheus config in {}",
                    a.out.join("systemd").display(),
                    a.out.join("DEPLOY.md").display(),
                    prom.display()
                );
            }
            println!("wrote {} nodes to {}:", h.nodes.len(), h.dir.display());
            for n in &h.nodes {
                println!(
                    "  {} --config {}   (api {}, metrics {})",
                    n.binary(),
                    n.config.display(),
                    n.api,
                    n.metrics
                );
            }
            println!("client key: {}", h.client_key.display());
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// `--hosts`: a hosts file, or addresses comma-separated.
fn hosts_of(arg: &str) -> Result<crate::deploy::HostsFile, String> {
    let path = std::path::Path::new(arg);
    if arg.ends_with(".toml") || path.is_file() {
        return crate::deploy::HostsFile::load(path);
    }
    let hosts = arg
        .split(',')
        .map(|a| {
            a.trim()
                .parse::<Ipv4Addr>()
                .map_err(|e| format!("{a:?} is not an IPv4 address ({e}) nor a hosts file"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::deploy::HostsFile {
        hosts,
        ..crate::deploy::HostsFile::default()
    })
}
