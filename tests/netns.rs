//! Real network faults: every node in its own network namespace (veth +
//! bridge, made and removed by the test, see `strata::netlab`), the test in
//! the hub. Under load: the leaders partitioned away, the committees split
//! 2/2, one member isolated, every link delayed 50 ms ± 10 ms with 2% loss,
//! the leaders killed with -9, and f members killed at once; each healed or
//! restarted. After each: no two nodes disagree on any committed block,
//! every accepted record commits on every member of its chain, and commits
//! resume within a bounded time.
//!
//! Needs root (CI runs as root). Elsewhere the tests say so and skip, unless
//! `STRATA_REQUIRE_NETNS` is set (scripts/test sets it when root), in which
//! case an unavailable lab fails them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parity_scale_codec::Encode;
use strata::client::Client;
use strata::cluster::Cluster;
use strata::init::{self, HierarchySpec};
use strata::netlab::{Impairment, LabError, NetLab};
use strata_chains::types::ChainId;
use strata_chains::types::GLOBAL_DOMAIN;
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;

mod common;
use common::*;

/// How long commits may take to resume after a heal or a restart.
const RESUME_BOUND: Duration = Duration::from_secs(30);
/// How long each fault lasts at least (several view timeouts).
const FAULT_TIME: Duration = Duration::from_secs(6);

/// Sleeps until `since` is `FAULT_TIME` ago.
fn hold(since: Instant) {
    std::thread::sleep(FAULT_TIME.saturating_sub(since.elapsed()));
}

struct Lab {
    // Dropped in this order: processes, then namespaces, then files.
    cluster: Cluster,
    lab: NetLab,
    _dir: tempfile::TempDir,
    /// Each chain's name → its members' node indices.
    chains: BTreeMap<String, Vec<usize>>,
    names: Vec<String>,
    /// Heights below which agreement was already checked, per chain.
    checked: BTreeMap<String, u64>,
}

/// Builds the lab and starts `cloud` cloud nodes and one domain of `edge`
/// edge nodes in it, or returns `None` (loudly) where namespaces are
/// unavailable.
fn start(cloud: usize, edge: usize) -> Option<Lab> {
    let lab = match NetLab::create(cloud + edge) {
        Ok(lab) => lab,
        Err(LabError::Unavailable(why)) if std::env::var_os("STRATA_REQUIRE_NETNS").is_none() => {
            eprintln!("\n*** SKIPPED: network-namespace fault test: {why} ***\n");
            return None;
        }
        Err(e) => panic!("network lab: {e}"),
    };
    lab.enter_hub().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = HierarchySpec {
        cloud,
        domains: 1,
        edge_per_domain: edge,
        hosts: lab.addrs(),
        base_port: 23000,
        ..HierarchySpec::default()
    };
    let h = init::write(dir.path(), &spec).unwrap();
    *NETWORK.lock().unwrap_or_else(|e| e.into_inner()) = h.genesis.digest;
    let names: Vec<String> = h.nodes.iter().map(|n| n.name.clone()).collect();
    let index = |name: &String| names.iter().position(|n| n == name).unwrap();
    let chains = [
        ("global".to_string(), ChainId::GLOBAL),
        ("local-0".to_string(), ChainId::local(0)),
    ]
    .into_iter()
    .map(|(label, id)| {
        (
            label,
            h.genesis.chains[&id].members.iter().map(index).collect(),
        )
    })
    .collect();
    let mut cluster = Cluster::new(h, bin_dir());
    for (k, name) in names.iter().enumerate() {
        cluster = cluster.with_node_netns(name, lab.netns(k));
    }
    cluster.start_all(Duration::from_secs(40)).unwrap();
    let dir = if std::env::var_os("STRATA_TEST_KEEP").is_some() {
        eprintln!("keeping {}", dir.path().display());
        let _ = dir.keep();
        tempfile::tempdir().unwrap()
    } else {
        dir
    };
    Some(Lab {
        cluster,
        lab,
        _dir: dir,
        chains,
        names,
        checked: BTreeMap::new(),
    })
}

impl Lab {
    fn client(&self, k: usize) -> Client {
        Client::with_timeout(
            &self.cluster.hierarchy.nodes[k].api_url(),
            Duration::from_secs(30),
        )
    }

    fn members(&self, chain: &str) -> &[usize] {
        &self.chains[chain]
    }

    /// The node index of `chain`'s current leader, as member `via` sees it.
    fn leader(&self, chain: &str, via: usize) -> usize {
        let s = chain_status(&self.client(via), chain).unwrap();
        let slot = s["leader"].as_u64().unwrap() as usize;
        self.members(chain)[slot]
    }

    fn height(&self, chain: &str, k: usize) -> u64 {
        height(&self.client(k), chain)
    }

    /// Waits until each chain, seen from the first of `nodes` in it, has
    /// committed more than `blocks` blocks beyond where it was when called.
    fn wait_progress(&self, nodes: &[usize], blocks: u64, what: &str, timeout: Duration) {
        let before = heights(self, nodes);
        wait_until(what, timeout, || {
            heights(self, nodes)
                .iter()
                .all(|(chain, h)| *h > before[chain] + blocks)
        });
    }

    /// Waits until every member of every chain has committed past what the
    /// most advanced member of `nodes` had committed when called; returns
    /// how long that took.
    fn wait_all_past(&self, nodes: &[usize], what: &str) -> Duration {
        let started = Instant::now();
        for (chain, members) in &self.chains {
            let target = nodes
                .iter()
                .filter(|k| members.contains(k))
                .map(|&k| self.height(chain, k))
                .max()
                .unwrap_or(0);
            for &k in members {
                wait_until(
                    &format!("{} to commit {chain} past {target} ({what})", self.names[k]),
                    RESUME_BOUND.saturating_sub(started.elapsed()),
                    || self.height(chain, k) > target,
                );
            }
        }
        started.elapsed()
    }

    /// No two members of a chain hold different blocks at any height
    /// (checked once per height, up to the lowest member's height).
    fn check_agreement(&mut self) {
        for (chain, members) in self.chains.clone() {
            let top = members
                .iter()
                .map(|&k| self.height(&chain, k))
                .min()
                .unwrap_or(0);
            let from = self.checked.get(&chain).copied().unwrap_or(0) + 1;
            let clients: Vec<Client> = members.iter().map(|&k| self.client(k)).collect();
            for h in from..=top {
                let hashes: Vec<String> = clients
                    .iter()
                    .map(|c| {
                        // The status's height is the core's; the ledger
                        // stores the block a moment later.
                        let path = format!("/v1/block/{chain}/{h}");
                        let mut block = None;
                        wait_until(
                            &format!("{path} on {}", c.base()),
                            Duration::from_secs(10),
                            || {
                                block = c.get_ok(&path).ok();
                                block.is_some()
                            },
                        );
                        block.unwrap()["hash"].as_str().unwrap().to_string()
                    })
                    .collect();
                assert!(
                    hashes.iter().all(|x| *x == hashes[0]),
                    "{chain} height {h}: members disagree: {hashes:?}"
                );
            }
            self.checked.insert(chain, top.max(from - 1));
        }
    }

    /// No member banned another: every fault here is one an honest member
    /// lives through (a member back from a partition once delivered a
    /// backlog of stale messages and was banned for it).
    fn check_no_bans(&self) {
        for node in &self.cluster.hierarchy.nodes {
            let text = Client::new(&format!("http://{}", node.metrics))
                .get_text("/metrics")
                .unwrap();
            let bans = metric(&text, "strata_peer_bans_total");
            assert_eq!(bans, 0.0, "{} banned an honest member:\n{text}", node.name);
        }
    }

    /// Every record in `accepted` commits on every member of its chain, in
    /// the same block.
    fn check_records(&self, accepted: &[(String, Digest)]) {
        for (chain, hash) in accepted {
            let mut block = None;
            for &k in self.members(chain) {
                let state = committed_within(&self.client(k), hash, Duration::from_secs(25));
                let b = state["block"].clone();
                assert!(
                    block.get_or_insert(b.clone()) == &b,
                    "{hash} in different blocks"
                );
            }
        }
    }
}

/// Submits records at a bounded rate through every member of both chains
/// (each to its own chain) until stopped or 300 s; returns each accepted
/// record with its chain.
struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(String, Digest)>>,
}

impl Load {
    fn start(lab: &Lab, seed: u8) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let key = TxKeypair::from_seed(&[seed; 32]);
        let targets: Vec<(String, u32, Client)> = lab
            .chains
            .iter()
            .flat_map(|(chain, members)| {
                let domain = if chain == "global" { GLOBAL_DOMAIN } else { 0 };
                members.iter().map(move |&k| (chain.clone(), domain, k))
            })
            .map(|(chain, domain, k)| {
                let c = Client::with_timeout(
                    &lab.cluster.hierarchy.nodes[k].api_url(),
                    Duration::from_secs(2),
                );
                (chain, domain, c)
            })
            .collect();
        let flag = stop.clone();
        // Spawned from the test's thread: it talks from the hub too.
        let thread = std::thread::spawn(move || {
            let mut accepted = Vec::new();
            let started = Instant::now();
            let mut nonce = 1u64;
            while !flag.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(300) {
                for (chain, domain, c) in &targets {
                    let tx = signed(&key, *domain, &format!("lab-{}", nonce % 17), nonce);
                    nonce += 1;
                    // Killed or overloaded nodes refuse; that is expected.
                    if let Ok(a) = c.post("/v1/tx", "application/octet-stream", &tx.encode()) {
                        if a.status == 202 {
                            accepted.push((chain.clone(), tx.hash()));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(40));
            }
            accepted
        });
        Load { stop, thread }
    }

    fn finish(self) -> Vec<(String, Digest)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Each chain's height on the first of `nodes` that is its member.
fn heights(lab: &Lab, nodes: &[usize]) -> BTreeMap<String, u64> {
    lab.chains
        .iter()
        .map(|(chain, members)| {
            let k = *members.iter().find(|k| nodes.contains(k)).unwrap();
            (chain.clone(), lab.height(chain, k))
        })
        .collect()
}

#[test]
fn partitions_splits_isolation_and_a_slow_lossy_network_heal_without_disagreement() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut lab) = start(4, 4) else { return };
    let all: Vec<usize> = (0..8).collect();
    let load = Load::start(&lab, 61);
    wait_until("both chains to commit", Duration::from_secs(30), || {
        heights(&lab, &all).values().all(|h| *h > 3)
    });

    // --- The leader of each chain partitioned away. ---
    let leaders = [lab.leader("global", 0), lab.leader("local-0", 4)];
    let rest: Vec<usize> = all
        .iter()
        .copied()
        .filter(|k| !leaders.contains(k))
        .collect();
    lab.lab
        .partition(&[&leaders, &rest])
        .expect("cut the leaders off");
    let cut_at = Instant::now();
    lab.wait_progress(
        &rest,
        3,
        "the majority to commit without its leader",
        Duration::from_secs(30),
    );
    hold(cut_at);
    lab.lab.heal().unwrap();
    let took = lab.wait_all_past(&rest, "after the leaders' partition healed");
    eprintln!("leaders partitioned: all caught up {took:.1?} after the heal");
    lab.check_agreement();

    // --- Each committee split 2/2: no quorum anywhere, then a heal. ---
    let (a, b): (Vec<usize>, Vec<usize>) = all.iter().partition(|&&k| k % 4 < 2);
    lab.lab.partition(&[&a, &b]).unwrap();
    std::thread::sleep(FAULT_TIME / 2);
    let stalled = heights(&lab, &all);
    std::thread::sleep(FAULT_TIME / 2);
    assert_eq!(
        heights(&lab, &all),
        stalled,
        "nothing commits without a quorum"
    );
    lab.lab.heal().unwrap();
    let took = lab.wait_all_past(&all, "after the 2/2 split healed");
    eprintln!("2/2 split: commits resumed {took:.1?} after the heal");
    lab.check_agreement();

    // --- One member isolated (not a leader), then let back. ---
    let leader = lab.leader("local-0", 4);
    let lone = *lab
        .members("local-0")
        .iter()
        .find(|&&k| k != leader)
        .unwrap();
    lab.lab.isolate(lone).unwrap();
    let cut_at = Instant::now();
    let others: Vec<usize> = all.iter().copied().filter(|&k| k != lone).collect();
    lab.wait_progress(
        &others,
        5,
        "the others to commit without it",
        Duration::from_secs(20),
    );
    hold(cut_at);
    lab.lab.heal().unwrap();
    let took = lab.wait_all_past(&others, "after the isolated member came back");
    eprintln!("isolated member: caught up {took:.1?} after the heal");
    lab.check_agreement();

    // --- Every link 50 ms ± 10 ms and 2% loss. ---
    lab.lab
        .impair(Impairment {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            loss_bp: 200,
            seed: 61,
        })
        .unwrap();
    let impaired_at = Instant::now();
    let before = heights(&lab, &all);
    lab.wait_progress(
        &all,
        10,
        "commits over the slow lossy network",
        Duration::from_secs(40),
    );
    std::thread::sleep((2 * FAULT_TIME).saturating_sub(impaired_at.elapsed()));
    let impaired_for = impaired_at.elapsed().as_secs_f64();
    let committed_impaired: BTreeMap<String, u64> = heights(&lab, &all)
        .into_iter()
        .map(|(chain, h)| {
            let gained = h - before[&chain];
            (chain, gained)
        })
        .collect();
    eprintln!("impaired network: blocks committed in {impaired_for:.1}s: {committed_impaired:?}");
    let stats = lab.lab.clear_impairment().unwrap();
    let delayed: u64 = stats.iter().map(|s| s.delayed).sum();
    let dropped: u64 = stats.iter().map(|s| s.dropped).sum();
    eprintln!("impaired network: {delayed} packets delayed, {dropped} dropped");
    assert!(
        dropped > 0 && delayed > 20 * dropped,
        "the impairment delayed every packet and dropped about 2%"
    );
    lab.wait_all_past(&all, "after the impairment");

    let accepted = load.finish();
    assert!(accepted.len() > 200, "load accepted {}", accepted.len());
    lab.check_records(&accepted);
    lab.check_agreement();
    lab.check_no_bans();
}

/// kill -9 of the leaders of both chains at once under load, then of f
/// members of each chain at once (the local leader among them), each time
/// restarted: every record a node accepted before its kill commits on every
/// member, and the members agree block by block.
#[test]
fn leaders_and_f_members_killed_with_9_under_load_restart_and_agree() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Four cloud members (f = 1) and seven edge members (f = 2).
    let Some(mut lab) = start(4, 7) else { return };
    let all: Vec<usize> = (0..11).collect();
    let load = Load::start(&lab, 62);
    wait_until("both chains to commit", Duration::from_secs(30), || {
        heights(&lab, &all).values().all(|h| *h > 3)
    });

    for round in ["the leaders", "f members of each chain"] {
        let global_leader = lab.leader("global", 0);
        let local_leader = lab.leader("local-0", 4);
        let mut victims = vec![global_leader, local_leader];
        if round != "the leaders" {
            // f = 2 locally: the leader and one more.
            let more = lab
                .members("local-0")
                .iter()
                .copied()
                .find(|&k| k != local_leader)
                .unwrap();
            victims.push(more);
        }
        let names: Vec<String> = victims.iter().map(|&k| lab.names[k].clone()).collect();
        for name in &names {
            lab.cluster.kill(name).unwrap();
        }
        let killed_at = Instant::now();
        let rest: Vec<usize> = all
            .iter()
            .copied()
            .filter(|k| !victims.contains(k))
            .collect();
        lab.wait_progress(
            &rest,
            3,
            &format!("commits without {}", names.join(", ")),
            Duration::from_secs(30),
        );
        eprintln!(
            "{round} ({}) killed: commits resumed in {:.1?}",
            names.join(", "),
            killed_at.elapsed()
        );
        hold(killed_at);
        for name in &names {
            lab.cluster.start(name).unwrap();
        }
        for name in &names {
            lab.cluster
                .wait_healthy(name, Duration::from_secs(30))
                .unwrap();
        }
        let took = lab.wait_all_past(&rest, "after the restart");
        eprintln!("{round} restarted: all caught up {took:.1?} after their restart");
        lab.check_agreement();
    }

    let accepted = load.finish();
    assert!(accepted.len() > 200, "load accepted {}", accepted.len());
    lab.check_records(&accepted);
    lab.check_agreement();
    lab.check_no_bans();
}

/// `strata init --hosts hosts.toml` for a network spread over hosts (here
/// one network namespace per address): nodes take the pool's addresses in
/// turn or the one pinned to their name, the generated files run as they
/// are on those addresses, each chain commits a record, and `DEPLOY.md` and
/// a systemd unit per node say how to install them.
#[test]
fn a_network_generated_for_separate_hosts_runs_on_them() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = match NetLab::create(8) {
        Ok(l) => l,
        Err(LabError::Unavailable(why)) if std::env::var_os("STRATA_REQUIRE_NETNS").is_none() => {
            eprintln!("\n*** SKIPPED: network-namespace deployment test: {why} ***\n");
            return;
        }
        Err(e) => panic!("network lab: {e}"),
    };
    lab.enter_hub().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addrs = lab.addrs();
    let pool: Vec<String> = addrs[..7].iter().map(|a| format!("\"{a}\"")).collect();
    let hosts = dir.path().join("hosts.toml");
    std::fs::write(
        &hosts,
        format!(
            "hosts = [{}]\ninstall_dir = \"/srv/strata\"\n[nodes]\n\"edge-0-3\" = \"{}\"\n",
            pool.join(", "),
            addrs[7]
        ),
    )
    .unwrap();
    let net = dir.path().join("net");
    let out = std::process::Command::new(bin_dir().join("strata"))
        .args(["init", "--out"])
        .arg(&net)
        .args(["--cloud", "4", "--domains", "1", "--edge-per-domain", "4"])
        .args(["--base-port", "24600", "--hosts"])
        .arg(&hosts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = init::Hierarchy::open(&net).unwrap();
    *NETWORK.lock().unwrap_or_else(|e| e.into_inner()) = h.genesis.digest;
    for (k, n) in h.nodes.iter().enumerate() {
        assert_eq!(n.api.ip(), std::net::IpAddr::V4(addrs[k]), "{}", n.name);
        let unit = std::fs::read_to_string(net.join(format!("systemd/strata-{}.service", n.name)))
            .unwrap();
        assert!(
            unit.contains(&format!("--config /srv/strata/{}.toml", n.name)),
            "{unit}"
        );
    }
    // Prometheus scrapes every node where it runs, with the alerting rules.
    let prom = std::fs::read_to_string(net.join("prometheus/prometheus.yml")).unwrap();
    for n in &h.nodes {
        assert!(prom.contains(&format!("\"{}\"", n.metrics)), "{prom}");
    }
    assert!(net.join("prometheus/alerts.yml").is_file());
    let guide = std::fs::read_to_string(net.join("DEPLOY.md")).unwrap();
    for a in &addrs {
        assert!(guide.contains(&format!("## {a}")), "{a} in\n{guide}");
    }
    let names: Vec<String> = h.nodes.iter().map(|n| n.name.clone()).collect();
    let mut cluster = Cluster::new(h, bin_dir());
    for (k, name) in names.iter().enumerate() {
        cluster = cluster.with_node_netns(name, lab.netns(k));
    }
    cluster.start_all(Duration::from_secs(40)).unwrap();
    let key = TxKeypair::from_seed(&[77; 32]);
    for (node, domain) in [("cloud-1", GLOBAL_DOMAIN), ("edge-0-3", 0)] {
        let c = Client::with_timeout(
            cluster.client(node).unwrap().base(),
            Duration::from_secs(30),
        );
        let tx = signed(&key, domain, &format!("deployed-{node}"), 0);
        let a = post(&c, &tx);
        assert_eq!(a.status, 202, "{}", a.body);
        committed_within(&c, &tx.hash(), Duration::from_secs(30));
    }
    drop(cluster);
}
