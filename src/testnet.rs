//! `strata testnet`: a local hierarchy as real processes of the tier
//! binaries under signed provenance load, with a live progress line and a
//! summary per chain. Every process it starts is stopped at the end, on
//! Ctrl-C or SIGTERM too (and by the kernel if this process dies: the
//! nodes are started with a parent-death signal).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strata_actors::Tier;
use strata_chains::types::ChainId;
use strata_chains::types::GLOBAL_DOMAIN;

use crate::cluster::{default_bin_dir, Cluster};
use crate::init::{self, Hierarchy, HierarchySpec};
use crate::load::{self, ChainLoad, LoadSpec, PayloadKind};
use crate::measure::{self, ChainNodes, RunResult};

#[derive(Clone, Debug, clap::Args)]
pub struct TestnetArgs {
    /// Directory of the hierarchy: reused if it holds a genesis, else
    /// written there (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// How long the load runs (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Transactions per second over all chains.
    #[arg(long, default_value_t = 2000)]
    pub rate: u64,
    /// Bytes per encoded transaction.
    #[arg(long, default_value_t = 512)]
    pub tx_size: usize,
    /// Print one JSON object at the end instead of the table.
    #[arg(long)]
    pub json: bool,
    /// First port of the hierarchy (with a new directory).
    #[arg(long, default_value_t = 17000)]
    pub base_port: u16,
    /// Run without anchoring (with a new directory): to measure what
    /// anchoring costs the local chains.
    #[arg(long)]
    pub no_anchoring: bool,
    /// Every chain runs epochs of this many blocks (at least 64; with a
    /// new directory): committees are drawn by sortition each epoch.
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Committee size with `--epochs`.
    #[arg(long, default_value_t = 4)]
    pub committee_size: u32,
    /// With `--epochs`: chains (`global`, `local-N`; repeat or
    /// comma-separate) whose committees certify with threshold BLS.
    #[arg(long, value_delimiter = ',', value_parser = crate::parse_chain_arg)]
    pub threshold: Vec<ChainId>,
    /// Cloud nodes (with a new directory).
    #[arg(long, default_value_t = 4)]
    pub cloud: usize,
    /// Edge nodes per domain (with a new directory).
    #[arg(long, default_value_t = 4)]
    pub edge: usize,
    /// Also run Prometheus (Debian's `prometheus`) scraping every node,
    /// with the alerting rules of configs/prometheus/alerts.yml, and print
    /// its URL; its config and data stay in DIR/prometheus.
    #[arg(long)]
    pub monitor: bool,
    /// Where Prometheus listens with `--monitor` (default: the nodes' host,
    /// the port below the first node's).
    #[arg(long)]
    pub monitor_listen: Option<std::net::SocketAddr>,
    /// Draw each chain's commit rate and commit latency over the run, with
    /// view changes and epoch boundaries marked, in this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
}

/// Parses a duration as humantime does (`30s`, `1500ms`, `2m`, `1m30s`),
/// or a bare number of seconds; above zero and at most a day.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = match s.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("{s:?} is not a duration (e.g. 30s, 500ms, 2m): {e}"))?,
    };
    if d.is_zero() || d > Duration::from_secs(24 * 3600) {
        return Err(format!("{s:?} must be above zero and at most a day"));
    }
    Ok(d)
}

pub fn chain_nodes(h: &Hierarchy) -> Vec<ChainNodes> {
    h.genesis
        .chains
        .values()
        .map(|spec| {
            let members: Vec<_> = spec.members.iter().filter_map(|m| h.node(m)).collect();
            ChainNodes {
                label: spec.id.to_string(),
                apis: members.iter().map(|n| n.api_url()).collect(),
                metrics: members
                    .iter()
                    .map(|n| format!("http://{}", n.metrics))
                    .collect(),
            }
        })
        .collect()
}

/// Load for every chain, `rate` split evenly; records of the global chain
/// belong to no domain.
pub fn chain_loads(h: &Hierarchy, rate: u64) -> Vec<ChainLoad> {
    let chains = chain_nodes(h);
    let n = chains.len() as u64;
    h.genesis
        .chains
        .keys()
        .zip(chains)
        .enumerate()
        .map(|(i, (id, c))| ChainLoad {
            label: c.label,
            domain: id.domain().unwrap_or(GLOBAL_DOMAIN),
            nodes: c.apis,
            rate: rate / n + u64::from((i as u64) < rate % n),
        })
        .collect()
}

/// A flag set by Ctrl-C or SIGTERM (installed once per process).
pub fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        if let Err(e) = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: leave now; the nodes die with us.
                std::process::exit(130);
            }
            eprintln!("\nstrata: stopping…");
        }) {
            eprintln!("strata: cannot catch Ctrl-C ({e}); nodes still stop when strata exits");
        }
        flag
    })
    .clone()
}

/// Formats the progress message: each chain's height and recent rate.
pub fn progress_message(
    last: &mut Vec<(u64, std::time::Instant)>,
    now: &[(String, u64, u64)],
) -> String {
    let t = std::time::Instant::now();
    if last.len() != now.len() {
        *last = now.iter().map(|(_, _, tx)| (*tx, t)).collect();
    }
    now.iter()
        .zip(last.iter_mut())
        .map(|((label, height, tx), prev)| {
            let dt = t.duration_since(prev.1).as_secs_f64();
            let rate = if dt > 0.0 {
                tx.saturating_sub(prev.0) as f64 / dt
            } else {
                0.0
            };
            *prev = (*tx, t);
            format!("{label} h{height} {rate:.0}/s")
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

/// The summary table.
pub fn print_table(r: &RunResult) {
    println!(
        "{:<10} {:>12} {:>9} {:>9} {:>9} {:>10} {:>10} {:>6} {:>8} {:>8} {:>9}",
        "chain",
        "committed_tx",
        "tx/s",
        "p50_ms",
        "p99_ms",
        "global_p50",
        "global_p99",
        "views",
        "timeouts",
        "height",
        "anchored"
    );
    for c in &r.chains {
        println!(
            "{:<10} {:>12} {:>9.1} {:>9} {:>9} {:>10} {:>10} {:>6} {:>8} {:>8} {:>9}",
            c.chain,
            c.committed_tx,
            c.committed_tps,
            fmt_ms(c.latency_p50_ms),
            fmt_ms(c.latency_p99_ms),
            fmt_ms(c.global_latency_p50_ms),
            fmt_ms(c.global_latency_p99_ms),
            c.views,
            c.timeouts,
            c.height,
            c.anchored_height.map_or("-".into(), |a| a.to_string())
        );
    }
    println!("(p50/p99: end to end to local commit, or to global commit on the global chain; global_p50/p99: a local record's end to end to global, anchored and the anchor final)");
    let s = &r.load.send;
    let refused: u64 = s.refused.values().sum();
    println!(
        "load: {} sent, {} accepted, {} refused {:?}, {} failed requests, sender lag ≤ {} ms over {:.1}s{}",
        s.sent,
        s.accepted,
        refused,
        s.refused,
        s.failed_requests,
        s.max_lag_ms,
        r.duration_s,
        if r.interrupted { " (interrupted)" } else { "" }
    );
}

/// The `--json` object.
pub fn json_summary(r: &RunResult) -> serde_json::Value {
    serde_json::json!({
        "chains": r.chains.iter().map(|c| serde_json::json!({
            "chain": c.chain,
            "committed_tx": c.committed_tx,
            "committed_tps": (c.committed_tps * 10.0).round() / 10.0,
            "latency_p50_ms": measure::round2(c.latency_p50_ms),
            "latency_p99_ms": measure::round2(c.latency_p99_ms),
            "global_latency_p50_ms": measure::round2(c.global_latency_p50_ms),
            "global_latency_p99_ms": measure::round2(c.global_latency_p99_ms),
            "anchored_height": c.anchored_height,
            "views": c.views,
            "blocks": c.blocks,
            "timeouts": c.timeouts,
        })).collect::<Vec<_>>(),
    })
}

/// Runs the testnet; returns the process exit code.
pub fn run(args: &TestnetArgs) -> Result<RunResult, String> {
    let stop = stop_flag();
    let mut _temp = None;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let t = tempfile::Builder::new()
                .prefix("strata-testnet-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            let p = t.path().to_path_buf();
            _temp = Some(t);
            p
        }
    };
    let hierarchy = if dir.join("genesis.toml").exists() {
        Hierarchy::open(&dir).map_err(|e| e.to_string())?
    } else {
        let spec = HierarchySpec {
            base_port: args.base_port,
            anchoring: !args.no_anchoring,
            cloud: args.cloud,
            edge_per_domain: args.edge,
            epochs: args.epochs.map(|epoch_length| init::EpochSpec {
                epoch_length,
                committee_size: args.committee_size,
                threshold: args.threshold.clone(),
            }),
            ..HierarchySpec::default()
        };
        init::write(&dir, &spec).map_err(|e| e.to_string())?
    };
    let say = |m: &str| {
        if !args.json {
            eprintln!("{m}");
        }
    };
    let count = |t: Tier| {
        hierarchy
            .nodes
            .iter()
            .filter(|n| n.tier == t && !n.light)
            .count()
    };
    say(&format!(
        "strata testnet: {} cloud, {} edge, {} IoT nodes in {}",
        count(Tier::Cloud),
        count(Tier::Edge),
        count(Tier::Iot),
        dir.display()
    ));
    let chains = chain_nodes(&hierarchy);
    let spec = LoadSpec {
        network: hierarchy.genesis.digest,
        chains: chain_loads(&hierarchy, args.rate),
        domains: hierarchy
            .genesis
            .chains
            .keys()
            .filter(|c| **c != ChainId::GLOBAL)
            .count() as u32,
        tx_size: args.tx_size,
        duration: args.duration,
        payload: PayloadKind::Signed,
        senders_per_node: 1,
    };
    say(&format!(
        "signing {} transactions of {} bytes…",
        args.rate * args.duration.as_secs().max(1),
        args.tx_size
    ));
    let prepared = load::prepare(&spec).map_err(|e| e.to_string())?;
    let mut cluster = Cluster::new(hierarchy, default_bin_dir());
    say("starting nodes…");
    cluster
        .start_all(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    measure::wait_live(&chains, Duration::from_secs(60), &stop)?;
    let _monitor = if args.monitor {
        let listen = args
            .monitor_listen
            .or_else(|| {
                cluster
                    .hierarchy
                    .nodes
                    .first()
                    .map(|n| crate::monitor::default_listen(n.metrics))
            })
            .ok_or("the hierarchy has no node")?;
        let m = crate::monitor::Monitor::start(&cluster.hierarchy, listen)?;
        // On stderr even with --json: the URL is for the operator.
        eprintln!(
            "prometheus: {} (alerts at {}/alerts; config in {})",
            m.url,
            m.url,
            m.dir.display()
        );
        Some(m)
    } else {
        None
    };
    say(&format!(
        "every chain is committing; {} tx/s for {:.0}s (Ctrl-C stops)",
        args.rate,
        args.duration.as_secs_f64()
    ));
    let bar = crate::progress::for_duration(args.duration, args.json);
    let mut last = Vec::new();
    let mut recorder = args
        .plot
        .as_ref()
        .map(|_| crate::timeline::TimelineRecorder::new(&chains));
    if let Some(r) = recorder.as_mut() {
        r.sample();
    }
    let result = measure::run(&chains, prepared, &spec, stop.clone(), |elapsed, now| {
        bar.set_position(elapsed.as_millis() as u64);
        bar.set_message(progress_message(&mut last, now));
        if let Some(r) = recorder.as_mut() {
            r.sample();
        }
    });
    bar.finish_and_clear();
    cluster.stop_all();
    if let (Some(path), Some(r)) = (&args.plot, &recorder) {
        let title = format!(
            "strata testnet: {} tx/s offered for {:.0} s",
            args.rate,
            args.duration.as_secs_f64()
        );
        crate::plot::timeline(path, &title, r.timelines()).map_err(|e| e.to_string())?;
        say(&format!("plot: {}", path.display()));
    }
    if args.dir.is_some() {
        say(&format!("logs and data stay in {}", dir.display()));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("25h").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
