//! `strata testnet --monitor`: a real Prometheus (Debian's `prometheus`,
//! installed by scripts/ensure-deps) scraping every node of a hierarchy on
//! loopback, with the project's alerting rules loaded. Its files live in
//! the hierarchy's directory (`prometheus/`), so a kept testnet directory
//! keeps the scraped series.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::init::Hierarchy;

/// The alerting rules every generated config loads.
pub const ALERT_RULES: &str = include_str!("../configs/prometheus/alerts.yml");

/// Seconds between scrapes: a testnet lasts seconds to minutes.
const SCRAPE_INTERVAL_S: u64 = 1;

/// The scrape config for every node of `hierarchy` (full nodes and light
/// clients), one target per node labelled with its name, tier and domain,
/// under `job="strata"` as the rules expect; scraped every `interval_s`
/// seconds (1 for a testnet that lasts minutes; 15 for a deployment).
pub fn scrape_config(hierarchy: &Hierarchy, interval_s: u64, written_by: &str) -> String {
    let mut out = format!(
        "# Written by `{written_by}` for the nodes of {}.\n\
         global:\n  scrape_interval: {interval_s}s\n  evaluation_interval: {interval_s}s\n\
         rule_files:\n  - alerts.yml\n\
         scrape_configs:\n  - job_name: strata\n    static_configs:\n",
        hierarchy.dir.display()
    );
    for n in &hierarchy.nodes {
        out.push_str(&format!(
            "      - targets: [\"{}\"]\n        labels:\n          instance: \"{}\"\n          tier: \"{}\"\n",
            n.metrics, n.name, n.tier
        ));
        if let Some(d) = n.domain {
            out.push_str(&format!("          domain: \"{d}\"\n"));
        }
    }
    out
}

/// A running Prometheus; stopped when dropped.
pub struct Monitor {
    child: Child,
    pub url: String,
    pub dir: PathBuf,
}

impl Monitor {
    /// Writes the config and rules into `hierarchy.dir/prometheus` and
    /// starts Prometheus on `listen`; returns once it answers ready.
    pub fn start(hierarchy: &Hierarchy, listen: SocketAddr) -> Result<Monitor, String> {
        let dir = hierarchy.dir.join("prometheus");
        std::fs::create_dir_all(dir.join("data"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
        };
        write(
            "prometheus.yml",
            &scrape_config(hierarchy, SCRAPE_INTERVAL_S, "strata testnet --monitor"),
        )?;
        write("alerts.yml", ALERT_RULES)?;
        let log = std::fs::File::create(dir.join("prometheus.log"))
            .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
        let arg = |k: &str, v: &Path| format!("--{k}={}", v.display());
        let child = Command::new("prometheus")
            .arg(arg("config.file", &dir.join("prometheus.yml")))
            .arg(arg("storage.tsdb.path", &dir.join("data")))
            .arg(format!("--web.listen-address={listen}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                format!("cannot start prometheus ({e}): install Debian's prometheus (scripts/ensure-deps does)")
            })?;
        let mut monitor = Monitor {
            child,
            url: format!("http://{listen}"),
            dir,
        };
        monitor.wait_ready(Duration::from_secs(30))?;
        Ok(monitor)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let client = Client::with_timeout(&self.url, Duration::from_secs(2));
        loop {
            // 503 while it starts (replaying its data directory).
            if client.get("/-/ready").is_ok_and(|a| a.status == 200) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "prometheus exited ({status}); see {}",
                    self.dir.join("prometheus.log").display()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "prometheus not ready within {}s",
                    timeout.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// An instant query through Prometheus's HTTP API: each series' labels
    /// and value.
    pub fn query(&self, promql: &str) -> Result<Vec<(serde_json::Value, f64)>, String> {
        let query: String = form_urlencoded::byte_serialize(promql.as_bytes()).collect();
        let path = format!("/api/v1/query?query={query}");
        let v = Client::with_timeout(&self.url, Duration::from_secs(5))
            .get_ok(&path)
            .map_err(|e| e.to_string())?;
        let result = v["data"]["result"]
            .as_array()
            .ok_or_else(|| format!("{promql}: no result in {v}"))?;
        Ok(result
            .iter()
            .map(|s| {
                let value = s["value"][1]
                    .as_str()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(f64::NAN);
                (s["metric"].clone(), value)
            })
            .collect())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `strata testnet --monitor` listens by default: the nodes' host,
/// the port below the first node's (`strata init` gives node k the ports
/// base + 3k … base + 3k + 2, metrics last).
pub fn default_listen(first_node_metrics: SocketAddr) -> SocketAddr {
    SocketAddr::new(
        first_node_metrics.ip(),
        first_node_metrics.port().saturating_sub(3),
    )
}
