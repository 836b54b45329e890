//! `strata bench consensus`: one committee of real node processes on
//! loopback under open-loop load at fixed rates; committed throughput,
//! end-to-end latency (samples from submission to commit on the node that
//! received them) and consensus latency (proposal received to committed,
//! from the nodes' histograms), and the CPU the node processes used: cores
//! kept busy, per committed transaction and per view. With signed
//! records it first times sr25519 batch verification on this machine and
//! reports the verification ceiling: the rate at which checking every
//! signature on every node alone would keep every core busy.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use serde::Serialize;
use strata_actors::config::ConsensusParams;
use strata_chains::types::dynasty::MIN_EPOCH_LENGTH;
use strata_chains::types::{CertificateKind, ChainId, Protocol};

use super::sigs::sr25519_costs;
use super::timing::Budget;
use crate::cluster::{default_bin_dir, Cluster};
use crate::init::{self, parse_certificate, EpochSpec, HierarchySpec};
use crate::load::{self, LoadSpec, PayloadKind};
use crate::measure::{self, RunResult};
use crate::testnet::{chain_loads, chain_nodes, parse_duration, progress_message, stop_flag};

#[derive(Clone, Debug, clap::Args)]
pub struct ConsensusBenchArgs {
    /// Committee size.
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Offered load in transactions per second; a list (1000,5000,…) runs
    /// each rate on a fresh committee.
    #[arg(long, value_delimiter = ',', default_value = "5000")]
    pub rate: Vec<u64>,
    /// Bytes per encoded transaction.
    #[arg(long, default_value_t = 512)]
    pub tx_size: usize,
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// signed: provenance records, every signature checked by every node;
    /// opaque: bytes ordered without checks.
    #[arg(long, value_enum, default_value = "signed")]
    pub payload: PayloadKind,
    /// Signing keys per node's share of the load, used in turn. 1: four
    /// senders in all (the cheapest mix to verify); 16 or more: batches of
    /// records from distinct senders, as from a population of devices.
    #[arg(long, default_value_t = 1)]
    pub senders_per_node: usize,
    /// hotstuff (the global chain's protocol) or two-phase.
    #[arg(long, default_value = "hotstuff")]
    pub protocol: Protocol,
    /// Loopback address the committee listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: Ipv4Addr,
    #[arg(long, default_value_t = 18000)]
    pub base_port: u16,
    /// One JSON object per rate.
    #[arg(long)]
    pub json: bool,
    /// Keep each rate's keys, data and logs in DIR/rate-R (default: a
    /// temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Each rate runs twice: all members honest, then the last one
    /// misbehaving on purpose (e.g. invalid-batches; the nodes' test mode).
    /// The load goes to the honest members only in both runs, and they are
    /// the ones measured.
    #[arg(long)]
    pub byzantine: Option<String>,
    /// The nodes' batch-log segment size, MiB: small segments make the
    /// staging log's collector run often, to measure what it costs.
    #[arg(long, default_value_t = 256)]
    pub batch_log_segment_mib: u64,
    /// How the committee certifies: multisig (aggregate + bitmap) or
    /// threshold (one group signature from the committee's DKG); a list
    /// (multisig,threshold) runs each rate once per kind, side by side.
    #[arg(long, value_delimiter = ',', value_parser = parse_certificate, default_value = "multisig")]
    pub certificate: Vec<CertificateKind>,
    /// Run the chain in epochs of this many blocks (a dynasty of every
    /// node, with RandShare and, on a threshold chain, a DKG each epoch).
    /// A threshold committee needs epochs (its group key comes from epoch
    /// 0's DKG): with `--certificate threshold` it defaults to
    /// `DEFAULT_THRESHOLD_EPOCH_LENGTH`, and every kind of the run then
    /// uses the same epochs so that they compare.
    #[arg(long)]
    pub epoch_length: Option<u64>,
    /// Draw the throughput–latency curve (end-to-end p50 and p99 against
    /// the committed rate, one line per protocol, payload and certificate
    /// kind, the verification ceiling as a vertical line) in this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
}

/// Blocks per epoch when a threshold kind is benchmarked without
/// `--epoch-length`: long enough that the per-epoch work (RandShare, the
/// next committee's DKG) is a small share of a 30 s run, short enough that
/// epoch 0 (multisig, while the first DKG runs) passes in seconds.
pub const DEFAULT_THRESHOLD_EPOCH_LENGTH: u64 = 128;

impl ConsensusBenchArgs {
    /// Distinct signing keys in the whole load.
    fn senders(&self) -> usize {
        self.nodes * self.senders_per_node
    }

    /// The epochs every run uses, if any.
    fn epoch_length(&self) -> Option<u64> {
        self.epoch_length.or_else(|| {
            self.certificate
                .contains(&CertificateKind::Threshold)
                .then_some(DEFAULT_THRESHOLD_EPOCH_LENGTH)
        })
    }
}

/// The figures of one rate.
#[derive(Clone, Debug, Serialize)]
pub struct ConsensusBenchResult {
    pub nodes: usize,
    pub rate: u64,
    pub tx_size: usize,
    pub duration_s: f64,
    pub payload: PayloadKind,
    pub protocol: String,
    /// multisig or threshold; the threshold run is measured from the first
    /// epoch its group key certifies (epoch 1).
    pub certificate: String,
    pub epoch_length: Option<u64>,
    /// Epochs that began during the measured window.
    pub epochs_during_run: u64,
    /// Distinct signing keys in the load (signed records).
    pub senders: Option<usize>,
    /// What the last member did wrong on purpose in this run, if anything.
    pub byzantine: Option<String>,
    /// Transactions the load generator sent per second of the load window,
    /// and how far its slowest sender fell behind schedule: `sent_tps`
    /// below `rate` means the nodes answered too slowly for the load to
    /// stay open-loop (what was not sent by the window's end is dropped).
    pub sent_tps: f64,
    pub sender_max_lag_ms: u64,
    pub committed_tps: f64,
    pub e2e_latency_p50_ms: Option<f64>,
    pub e2e_latency_p99_ms: Option<f64>,
    pub consensus_latency_p50_ms: Option<f64>,
    pub samples: usize,
    pub uncommitted_samples: usize,
    pub refused: u64,
    pub views: u64,
    pub timeouts: u64,
    /// Cores the node processes kept busy during the load (of the
    /// machine's `available_parallelism`), and that CPU per committed
    /// transaction and per view. `None` where `/proc` cannot be read.
    pub node_cpu_cores: Option<f64>,
    pub node_cpu_us_per_tx: Option<f64>,
    pub node_cpu_ms_per_view: Option<f64>,
    /// Blocks committed during the run, and the nodes' CPU per block: the
    /// per-round cost in both protocols (a two-phase leader keeps its view).
    pub blocks: u64,
    pub node_cpu_ms_per_block: Option<f64>,
    /// Signed records only (else `None`): sr25519 batch verification per
    /// signature on this machine (batches of [`CEILING_BATCH`], timed
    /// before the committee starts) and the verification ceiling, cores /
    /// (nodes × that cost), twice: for records from distinct senders, and
    /// for this load's mix (`senders` keys; a batch verification has
    /// one term per distinct sender). The committed rate is reported as a
    /// fraction of the load's ceiling.
    pub sr25519_batch_verify_us: Option<f64>,
    pub verify_ceiling_tps: Option<f64>,
    pub sr25519_batch_verify_load_us: Option<f64>,
    pub load_verify_ceiling_tps: Option<f64>,
    pub ceiling_fraction: Option<f64>,
}

/// Signatures per batch when timing the verification ceiling: what a
/// node's verifier checks at once under this benchmark's load (its
/// `strata_verifier_batch_signatures` histogram at 5k signed tx/s, the
/// committee saturated: mean 52, most batches of 17–128). Batches of 256
/// cost a third less per signature, but gathering them would hold each
/// transaction back for tens of milliseconds.
pub const CEILING_BATCH: usize = 64;

/// The most signing keys per node `--senders-per-node` takes.
pub const MAX_SENDERS_PER_NODE: usize = 1_000_000;

/// What checking every signature on every node costs here.
#[derive(Clone, Copy, Debug)]
pub struct VerifyCeiling {
    /// Records from distinct senders.
    pub batch_us_per_signature: f64,
    pub tps: f64,
    /// Records from this benchmark's load's senders, in turn.
    pub load_batch_us_per_signature: f64,
    pub load_tps: f64,
    pub cores: usize,
}

impl VerifyCeiling {
    /// Times batch verification now (keep the machine otherwise idle) for
    /// a committee of `nodes` on this machine's cores, with a load signed
    /// by `senders` keys.
    pub fn measure(nodes: usize, senders: usize) -> VerifyCeiling {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let costs = sr25519_costs(CEILING_BATCH, senders, &mut rng, Budget::DEFAULT);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        VerifyCeiling {
            batch_us_per_signature: costs.batch_us_per_signature,
            tps: ceiling_tps(cores, nodes, costs.batch_us_per_signature),
            load_batch_us_per_signature: costs.batch_few_senders_us_per_signature,
            load_tps: ceiling_tps(cores, nodes, costs.batch_few_senders_us_per_signature),
            cores,
        }
    }
}

/// Transactions per second at which `nodes` nodes, each checking every
/// signature at `us_per_signature`, keep `cores` cores busy.
pub fn ceiling_tps(cores: usize, nodes: usize, us_per_signature: f64) -> f64 {
    if nodes == 0 || us_per_signature <= 0.0 {
        return 0.0;
    }
    cores as f64 * 1e6 / (nodes as f64 * us_per_signature)
}

fn one_rate(
    args: &ConsensusBenchArgs,
    rate: u64,
    certificate: CertificateKind,
    ceiling: Option<VerifyCeiling>,
    byzantine: Option<&str>,
) -> Result<ConsensusBenchResult, String> {
    let stop = stop_flag();
    let mut _temp = None;
    let dir = match &args.dir {
        Some(d) => {
            let d = d.join(format!("rate-{rate}-{}", certificate.as_str()));
            if d.exists() {
                std::fs::remove_dir_all(&d)
                    .map_err(|e| format!("cannot clear {}: {e}", d.display()))?;
            }
            d
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("strata-bench-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            let p = t.path().to_path_buf();
            _temp = Some(t);
            p
        }
    };
    let spec = HierarchySpec {
        cloud: args.nodes,
        domains: 0,
        host: args.host,
        base_port: args.base_port,
        global_protocol: args.protocol,
        consensus: ConsensusParams {
            payload: args.payload.into(),
            ..ConsensusParams::default()
        },
        storage: strata_actors::config::StorageSection {
            batch_log_segment_mib: args.batch_log_segment_mib,
        },
        epochs: args.epoch_length().map(|epoch_length| EpochSpec {
            epoch_length,
            // Every node serves in every dynasty: the committee measured is
            // the one `--nodes` names, whatever the draw.
            committee_size: args.nodes as u32,
            threshold: match certificate {
                CertificateKind::Threshold => vec![ChainId::GLOBAL],
                CertificateKind::Multisig => Vec::new(),
            },
        }),
        ..HierarchySpec::default()
    };
    let hierarchy = init::write(&dir, &spec).map_err(|e| e.to_string())?;
    // With a Byzantine member, it is neither loaded nor measured (in both
    // runs, so that they compare).
    let excluded = args
        .byzantine
        .as_ref()
        .and_then(|_| hierarchy.nodes.last())
        .map(|n| (n.name.clone(), n.api_url(), format!("http://{}", n.metrics)));
    let mut chains = chain_nodes(&hierarchy);
    let mut loads = chain_loads(&hierarchy, rate);
    if let Some((_, api, metrics)) = &excluded {
        for c in &mut chains {
            c.apis.retain(|a| a != api);
            c.metrics.retain(|m| m != metrics);
        }
        for l in &mut loads {
            l.nodes.retain(|a| a != api);
        }
    }
    let load_spec = LoadSpec {
        network: hierarchy.genesis.digest,
        chains: loads,
        domains: 0,
        tx_size: args.tx_size,
        duration: args.duration,
        payload: args.payload,
        senders_per_node: args.senders_per_node,
    };
    if !args.json {
        eprintln!(
            "rate {rate}: preparing {} transactions…",
            rate as f64 * args.duration.as_secs_f64()
        );
    }
    let prepared = load::prepare(&load_spec).map_err(|e| e.to_string())?;
    let mut cluster = Cluster::new(hierarchy, default_bin_dir());
    if std::env::var_os("STRATA_LOG").is_none() {
        cluster = cluster.with_env("STRATA_LOG", "warn");
    }
    if let (Some(misdeeds), Some((name, _, _))) = (byzantine, &excluded) {
        cluster = cluster
            .with_env("STRATA_ALLOW_BYZANTINE", "1")
            .with_node_args(name, &["--byzantine", misdeeds]);
    }
    cluster
        .start_all(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    measure::wait_live(&chains, Duration::from_secs(30), &stop)?;
    if let Some(epoch_length) = args.epoch_length() {
        // Epoch 0 is certified by multisig while the first DKG runs; the
        // measurement starts once epoch 1 (the group key's) is under way,
        // for both kinds, so they compare.
        if !args.json {
            eprintln!("waiting for epoch 1 ({epoch_length}-block epochs)…");
        }
        let idle = Duration::from_millis(ConsensusParams::default().max_block_interval_ms);
        let timeout = Duration::from_secs(60) + idle * (2 * epoch_length as u32);
        measure::wait_epoch(&chains, 1, certificate.as_str(), timeout, &stop)?;
    }
    let bar = crate::progress::for_duration(args.duration, args.json);
    let mut last = Vec::new();
    // (wall, node CPU) at the first and the latest progress call.
    let mut cpu: Option<((Instant, Duration), (Instant, Duration))> = None;
    let r: RunResult = measure::run(
        &chains,
        prepared,
        &load_spec,
        stop.clone(),
        |elapsed, now| {
            bar.set_position(elapsed.as_millis() as u64);
            bar.set_message(progress_message(&mut last, now));
            if let Some(used) = cluster.cpu_time() {
                let sample = (Instant::now(), used);
                cpu = Some(cpu.map_or((sample, sample), |(first, _)| (first, sample)));
            }
        },
    );
    bar.finish_and_clear();
    cluster.stop_all();
    if stop.load(Ordering::Relaxed) {
        return Err("interrupted".into());
    }
    let c = r
        .chains
        .first()
        .ok_or_else(|| "the committee has no chain".to_string())?;
    let latency = r.load.latency.get(&c.chain).cloned().unwrap_or_default();
    let cores = cpu.and_then(|((t0, c0), (t1, c1))| {
        let wall = t1.duration_since(t0).as_secs_f64();
        (wall > 0.0).then(|| c1.saturating_sub(c0).as_secs_f64() / wall)
    });
    let per = |cores: f64, per_s: f64, unit: f64| (per_s > 0.0).then(|| cores * unit / per_s);
    let views_per_s = c.views as f64 / r.duration_s;
    let blocks_per_s = c.blocks as f64 / r.duration_s;
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    Ok(ConsensusBenchResult {
        nodes: args.nodes,
        rate,
        tx_size: args.tx_size,
        duration_s: (r.duration_s * 100.0).round() / 100.0,
        payload: args.payload,
        protocol: args.protocol.to_string(),
        certificate: certificate.as_str().to_string(),
        epoch_length: args.epoch_length(),
        epochs_during_run: c.epochs,
        senders: (args.payload == PayloadKind::Signed).then(|| args.senders()),
        byzantine: byzantine.map(str::to_string),
        sent_tps: (r.load.send.sent as f64 / r.duration_s * 10.0).round() / 10.0,
        sender_max_lag_ms: r.load.send.max_lag_ms,
        committed_tps: (c.committed_tps * 10.0).round() / 10.0,
        e2e_latency_p50_ms: latency.p50_ms,
        e2e_latency_p99_ms: latency.p99_ms,
        consensus_latency_p50_ms: c
            .consensus_latency_p50_ms
            .map(|x| (x * 100.0).round() / 100.0),
        samples: latency.samples,
        uncommitted_samples: latency.uncommitted,
        refused: r.load.send.refused.values().sum(),
        views: c.views,
        timeouts: c.timeouts,
        node_cpu_cores: cores.map(round2),
        node_cpu_us_per_tx: cores.and_then(|k| per(k, c.committed_tps, 1e6)).map(round2),
        node_cpu_ms_per_view: cores.and_then(|k| per(k, views_per_s, 1e3)).map(round2),
        blocks: c.blocks,
        node_cpu_ms_per_block: cores.and_then(|k| per(k, blocks_per_s, 1e3)).map(round2),
        sr25519_batch_verify_us: ceiling.map(|v| round2(v.batch_us_per_signature)),
        verify_ceiling_tps: ceiling.map(|v| v.tps.round()),
        sr25519_batch_verify_load_us: ceiling.map(|v| round2(v.load_batch_us_per_signature)),
        load_verify_ceiling_tps: ceiling.map(|v| v.load_tps.round()),
        ceiling_fraction: ceiling
            .filter(|v| v.load_tps > 0.0)
            .map(|v| (c.committed_tps / v.load_tps * 1000.0).round() / 1000.0),
    })
}

pub fn table_header() -> String {
    format!(
        "{:>5} {:>9} {:>8} {:>7} {:>9} {:>12} {:>10} {:>10} {:>13} {:>8} {:>6} {:>8} {:>6} {:>9} {:>10}",
        "nodes",
        "cert",
        "rate",
        "tx_size",
        "sent/s",
        "committed/s",
        "e2e_p50",
        "e2e_p99",
        "consensus_p50",
        "refused",
        "views",
        "timeouts",
        "cpu",
        "cpu/tx",
        "of_ceiling"
    )
}

pub fn table_row(r: &ConsensusBenchResult) -> String {
    let ms = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.1}ms"));
    format!(
        "{:>5} {:>9} {:>8} {:>7} {:>9.0} {:>12.1} {:>10} {:>10} {:>13} {:>8} {:>6} {:>8} {:>6} {:>9} {:>10}",
        r.nodes,
        r.certificate,
        r.rate,
        r.tx_size,
        r.sent_tps,
        r.committed_tps,
        ms(r.e2e_latency_p50_ms),
        ms(r.e2e_latency_p99_ms),
        ms(r.consensus_latency_p50_ms),
        r.refused,
        r.views,
        r.timeouts,
        r.node_cpu_cores.map_or("-".into(), |x| format!("{x:.2}")),
        r.node_cpu_us_per_tx
            .map_or("-".into(), |x| format!("{x:.0}us")),
        r.ceiling_fraction
            .map_or("-".into(), |x| format!("{:.0}%", x * 100.0)),
    )
}

/// Runs every rate; prints a row (or JSON object) per rate as it finishes.
pub fn run(args: &ConsensusBenchArgs) -> Result<Vec<ConsensusBenchResult>, String> {
    if !(1..=64).contains(&args.nodes) {
        return Err("--nodes must be in 1..=64".into());
    }
    if args.rate.contains(&0) {
        return Err("--rate must be above zero".into());
    }
    if args.certificate.is_empty() {
        return Err("--certificate names no kind".into());
    }
    if args.epoch_length().is_some() && args.payload == PayloadKind::Opaque {
        return Err(
            "epochs (and threshold certificates) need --payload signed: an opaque \
                    chain executes no system transactions"
                .into(),
        );
    }
    if let Some(len) = args.epoch_length().filter(|&l| l < MIN_EPOCH_LENGTH) {
        return Err(format!("--epoch-length {len} is below {MIN_EPOCH_LENGTH}"));
    }
    // Every key is derived (a scalar multiplication each) before the run.
    if !(1..=MAX_SENDERS_PER_NODE).contains(&args.senders_per_node) {
        return Err(format!(
            "--senders-per-node must be in 1..={MAX_SENDERS_PER_NODE}"
        ));
    }
    let senders = args.senders();
    let ceiling =
        (args.payload == PayloadKind::Signed).then(|| VerifyCeiling::measure(args.nodes, senders));
    if !args.json {
        if let Some(v) = ceiling {
            println!(
                "sr25519 batch verification here: {:.1}us per signature from distinct senders, \
                 {:.1}us from this load's {} senders; {} nodes checking every signature on {} \
                 cores saturate at {:.0} / {:.0} tx/s (the verification ceilings)",
                v.batch_us_per_signature,
                v.load_batch_us_per_signature,
                senders,
                args.nodes,
                v.cores,
                v.tps,
                v.load_tps
            );
        }
        println!("{}", table_header());
    }
    let mut out = Vec::new();
    for &rate in &args.rate {
        let runs = match &args.byzantine {
            None => vec![None],
            Some(m) => vec![None, Some(m.as_str())],
        };
        let runs = args
            .certificate
            .iter()
            .flat_map(|&kind| runs.iter().map(move |&b| (kind, b)));
        for (certificate, byzantine) in runs {
            let r = one_rate(args, rate, certificate, ceiling, byzantine)?;
            if args.json {
                println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
            } else {
                println!("{}", table_row(&r));
            }
            out.push(r);
        }
    }
    if let Some(path) = &args.plot {
        plot_curves(path, args, &out)?;
        if !args.json {
            println!("plot: {}", path.display());
        }
    }
    Ok(out)
}

/// `--plot`: one curve per protocol, payload, certificate kind and
/// Byzantine mode, over the rates run.
fn plot_curves(
    path: &std::path::Path,
    args: &ConsensusBenchArgs,
    rows: &[ConsensusBenchResult],
) -> Result<(), String> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let title = format!(
        "strata bench consensus: {} nodes, {} B transactions, {:.0} s per rate",
        args.nodes,
        args.tx_size,
        args.duration.as_secs_f64()
    );
    plot_rows(path, &title, &rows)
}

/// The curves of benchmark rows as `--json` prints them (one per protocol,
/// payload, certificate kind, sender count when rows differ in it, and
/// Byzantine mode): `--plot`, and `strata bench plot` over saved lines.
pub fn plot_rows(
    path: &std::path::Path,
    title: &str,
    rows: &[serde_json::Value],
) -> Result<(), String> {
    use crate::plot::{RateCurve, RatePoint};
    let text = |r: &serde_json::Value, k: &str| r[k].as_str().map(str::to_string);
    let senders: std::collections::BTreeSet<u64> =
        rows.iter().filter_map(|r| r["senders"].as_u64()).collect();
    let mut curves: Vec<RateCurve> = Vec::new();
    for r in rows {
        let (Some(tps), Some(p50), Some(p99)) = (
            r["committed_tps"].as_f64(),
            r["e2e_latency_p50_ms"].as_f64(),
            r["e2e_latency_p99_ms"].as_f64(),
        ) else {
            continue;
        };
        let mut label = [
            text(r, "protocol"),
            text(r, "payload"),
            text(r, "certificate"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        if senders.len() > 1 {
            if let Some(n) = r["senders"].as_u64() {
                label.push_str(&format!(" {n} senders"));
            }
        }
        if let Some(b) = text(r, "byzantine") {
            label.push_str(&format!(" byzantine {b}"));
        }
        let point = RatePoint {
            committed_tps: tps,
            p50_ms: p50,
            p99_ms: p99,
        };
        match curves.iter_mut().find(|c| c.label == label) {
            Some(c) => c.points.push(point),
            None => curves.push(RateCurve {
                label,
                points: vec![point],
            }),
        }
    }
    if curves.is_empty() {
        return Err("no row has committed_tps, e2e_latency_p50_ms and e2e_latency_p99_ms".into());
    }
    let ceiling = rows.iter().find_map(|r| r["verify_ceiling_tps"].as_f64());
    crate::plot::throughput_latency(path, title, &curves, ceiling).map_err(|e| e.to_string())
}

/// `strata bench plot`: the curves of saved `--json` lines.
pub fn plot_file(input: &std::path::Path, out: &std::path::Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let rows = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", input.display(), i + 1))
        })
        .collect::<Result<Vec<serde_json::Value>, String>>()?;
    let title = format!("strata bench consensus: {}", input.display());
    plot_rows(out, &title, &rows)?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_is_the_cores_over_every_nodes_verification_cost() {
        // 2 cores, 4 nodes each spending 50 us per signature: 10,000 tx/s.
        assert_eq!(ceiling_tps(2, 4, 50.0), 10_000.0);
        assert_eq!(ceiling_tps(8, 4, 50.0), 40_000.0);
        assert_eq!(ceiling_tps(2, 0, 50.0), 0.0);
        assert_eq!(ceiling_tps(2, 4, 0.0), 0.0);
    }

    #[test]
    fn saved_lines_plot_one_curve_per_protocol_and_sender_count() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("rows.jsonl");
        let row = |p: &str, senders: u64, tps: f64| {
            serde_json::json!({"protocol": p, "payload": "signed", "senders": senders,
                "committed_tps": tps, "e2e_latency_p50_ms": 20.0, "e2e_latency_p99_ms": 40.0,
                "verify_ceiling_tps": 9000.0})
            .to_string()
        };
        let lines = [
            row("hotstuff", 4, 1000.0),
            row("hotstuff", 4, 2000.0),
            row("two-phase", 4, 1000.0),
            row("hotstuff", 4096, 1000.0),
        ];
        std::fs::write(&input, lines.join("\n")).unwrap();
        let out = dir.path().join("curve.svg");
        assert_eq!(plot_file(&input, &out).unwrap(), 4);
        let svg = std::fs::read_to_string(&out).unwrap();
        for label in [
            "hotstuff signed 4 senders p50",
            "two-phase signed 4 senders p99",
            "hotstuff signed 4096 senders p50",
            "verification ceiling 9000",
        ] {
            assert!(svg.contains(label), "{label}");
        }
        std::fs::write(&input, "{not json").unwrap();
        assert!(plot_file(&input, &out)
            .unwrap_err()
            .contains("rows.jsonl:1"));
    }
}
