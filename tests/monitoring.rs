//! The monitoring files in `configs/prometheus`: the alerting rules are
//! valid for Prometheus (`promtool check rules`) and fire on the series they
//! are for, and only then (`promtool test rules`, cases in
//! `alerts_test.yml`); every metric a rule reads is one a node exports.

use std::path::Path;
use std::process::Command;

fn promtool(args: &[&str]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/prometheus");
    let o = Command::new("promtool")
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("promtool (Debian package prometheus; scripts/ensure-deps installs it)");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "promtool {args:?}:\n{out}");
    out
}

/// Four cloud nodes and a domain of four edge nodes on `host`, started
/// (with `env` set for every node); the directory goes with the first.
fn four_and_four(
    host: &str,
    base_port: u16,
    env: Option<(&str, &str)>,
) -> (
    tempfile::TempDir,
    strata::init::Hierarchy,
    strata::cluster::Cluster,
) {
    use strata::init::{self, HierarchySpec};
    let dir = tempfile::tempdir().unwrap();
    let spec = HierarchySpec {
        cloud: 4,
        domains: 1,
        edge_per_domain: 4,
        host: host.parse().unwrap(),
        base_port,
        ..HierarchySpec::default()
    };
    let hierarchy = init::write(dir.path(), &spec).unwrap();
    let bins = Path::new(env!("CARGO_BIN_EXE_strata-cloud"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut cluster = strata::cluster::Cluster::new(hierarchy.clone(), bins);
    if let Some((k, v)) = env {
        cluster = cluster.with_env(k, v);
    }
    cluster
        .start_all(std::time::Duration::from_secs(30))
        .unwrap();
    (dir, hierarchy, cluster)
}

#[test]
fn the_alerting_rules_are_valid_and_fire_on_what_they_are_for() {
    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn every_metric_the_rules_read_is_one_a_node_exports() {
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/prometheus/alerts.yml"),
    )
    .unwrap();
    let metrics = strata_actors::service::metrics::Metrics::new();
    // Every family appears in the text once it has a series.
    metrics
        .committed_height
        .with_label_values(&["global"])
        .set(1);
    metrics
        .anchored_height
        .with_label_values(&["local-0"])
        .set(1);
    metrics.evidence.with_label_values(&["global"]).inc();
    metrics.votes.with_label_values(&["global"]).inc();
    metrics
        .anchor_conflicts
        .with_label_values(&["local-0"])
        .inc();
    metrics
        .anchors_submitted
        .with_label_values(&["local-0"])
        .inc();
    metrics
        .anchors_executed
        .with_label_values(&["0", "accepted"])
        .inc();
    let text = metrics.render();
    let mut names: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("strata_"))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        assert!(
            text.contains(&format!("\n{name}")) || text.contains(&format!("\n{name}{{")),
            "the rules read {name}, which no node exports:\n{text}"
        );
    }
}

/// `strata testnet --monitor`'s Prometheus scrapes every node of a running
/// hierarchy: each target is up through Prometheus's own HTTP API, the
/// series the rules read arrive (a committed height per chain, the disk
/// gauges per node), the rules are loaded, and every panel query of the
/// Grafana dashboard (`configs/grafana/strata.json`) returns data.
#[test]
fn the_generated_prometheus_scrapes_every_node() {
    use std::time::{Duration, Instant};
    use strata::monitor::{default_listen, Monitor};

    let (_dir, hierarchy, cluster) = four_and_four("127.0.46.1", 25000, None);
    let listen = default_listen(hierarchy.nodes[0].metrics);
    let monitor = Monitor::start(&hierarchy, listen).unwrap();
    let names: Vec<String> = hierarchy
        .nodes
        .iter()
        .filter(|n| !n.light)
        .map(|n| n.name.clone())
        .collect();
    assert_eq!(names.len(), 8);
    let deadline = Instant::now() + Duration::from_secs(60);
    let up = loop {
        let up = monitor.query("up{job=\"strata\"} == 1").unwrap();
        let heights = monitor
            .query("max by (chain) (strata_committed_height)")
            .unwrap();
        let disks = monitor.query("strata_data_dir_capacity_bytes > 0").unwrap();
        if up.len() == names.len() && heights.len() == 2 && disks.len() == names.len() {
            break up;
        }
        assert!(
            Instant::now() < deadline,
            "up: {up:?}\nheights: {heights:?}\ndisks: {disks:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut instances: Vec<String> = up
        .iter()
        .map(|(labels, _)| labels["instance"].as_str().unwrap().to_string())
        .collect();
    instances.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(instances, expected);
    // The rules loaded and evaluate (nothing fires on a healthy network).
    let rules = strata::client::Client::new(&monitor.url)
        .get_ok("/api/v1/rules")
        .unwrap();
    let loaded = rules["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(loaded, 8, "{rules}");

    // Every query of the Grafana dashboard returns data against this
    // Prometheus once a few records have committed (rates need two
    // scrapes inside their window).
    let key = hierarchy.client_key.to_str().unwrap().to_string();
    for (i, node) in ["cloud-0", "edge-0-0"].iter().enumerate() {
        let url = hierarchy.node(node).unwrap().api_url();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["submit", "--node", &url, "--key", &key, "--object"])
            .arg(format!("monitoring/{i}"))
            .args(if *node == "cloud-0" {
                &["--global", "--wait"][..]
            } else {
                &["--wait"][..]
            })
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/grafana/strata.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let queries: Vec<(String, String)> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            p["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| {
                    (
                        title.clone(),
                        t["expr"].as_str().unwrap().replace("$chain", ".*"),
                    )
                })
        })
        .collect();
    assert!(queries.len() >= 15, "{queries:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let empty: Vec<&(String, String)> = queries
            .iter()
            .filter(|(_, q)| monitor.query(q).map_or(true, |r| r.is_empty()))
            .collect();
        if empty.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dashboard queries without data: {empty:#?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    drop(monitor);
    drop(cluster);
}

/// `STRATA_LOG_FORMAT=json`: every line a node writes is one JSON object
/// with a timestamp and a level, and each chain's commits come as at most
/// one `committed` line a second that together count every block once.
#[test]
fn json_logs_with_at_most_one_commit_line_a_second() {
    use std::time::{Duration, Instant};

    let started = Instant::now();
    let (_dir, _, mut cluster) =
        four_and_four("127.0.47.1", 26000, Some(("STRATA_LOG_FORMAT", "json")));
    let c = cluster.client("cloud-0").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = c.get_ok("/v1/status").unwrap();
        let global = status["chains"]
            .as_array()
            .and_then(|cs| cs.iter().find(|s| s["chain"] == "global"))
            .and_then(|s| s["committed_height"].as_u64())
            .unwrap_or(0);
        if global >= 40 && started.elapsed() >= Duration::from_secs(4) {
            break;
        }
        assert!(Instant::now() < deadline, "global at {global}");
        std::thread::sleep(Duration::from_millis(200));
    }
    cluster.stop_all();
    let ran_for = started.elapsed().as_secs();
    let log = std::fs::read_to_string(cluster.log_path("cloud-0")).unwrap();
    let mut per_chain: std::collections::BTreeMap<String, Vec<(u64, u64)>> = Default::default();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        if v["message"] == "committed" {
            let chain = v["chain"].as_str().unwrap().to_string();
            let height = v["height"].as_u64().unwrap();
            let blocks = v["blocks"].as_u64().unwrap();
            per_chain.entry(chain).or_default().push((height, blocks));
        }
    }
    let global = per_chain
        .get("global")
        .expect("committed lines of the global chain");
    assert!(global.len() >= 2, "{global:?}");
    for (chain, lines) in &per_chain {
        assert!(
            lines.len() as u64 <= ran_for + 1,
            "{chain}: {} commit lines in {ran_for}s",
            lines.len()
        );
        // Every block between the first line's and the last line's is
        // counted by exactly one line.
        let (first_height, first_blocks) = lines[0];
        let last_height = lines[lines.len() - 1].0;
        let counted: u64 = lines.iter().map(|&(_, b)| b).sum();
        assert_eq!(
            counted,
            last_height - first_height + first_blocks,
            "{chain}: {lines:?}"
        );
    }
    let global_blocks: u64 = global.iter().map(|&(_, b)| b).sum();
    assert!(
        global_blocks > global.len() as u64,
        "lines sum several blocks each: {global:?}"
    );
}
