//! `strata`: the command line of Strata.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use strata::bench::consensus::{self as consensus_bench, ConsensusBenchArgs};
use strata::bench::sigs;
use strata::commands::{self, KeygenArgs, SubmitArgs};
use strata::init::parse_certificate;
use strata::simulate::{print_table, replay, simulate, SimArgs};
use strata::testnet::{self, TestnetArgs};
use strata_chains::sim::FaultSet;
use strata_chains::types::{CertificateKind, Protocol};
use strata_crypto::QuorumThreshold;

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Strata: a BFT ledger for data provenance"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local hierarchy (4 cloud nodes, 2 edge domains of 4) as real
    /// processes under signed provenance load, with a live display and a
    /// summary per chain.
    Testnet(TestnetArgs),
    /// Write keys, node files and a genesis for a local hierarchy.
    Init(strata::init_cli::InitArgs),
    /// Generate a validator's keys and print its genesis entry.
    Keygen(KeygenArgs),
    /// Sign and submit one provenance record to a node.
    Submit(SubmitArgs),
    /// Validators of a network with epochs: registration.
    #[command(subcommand)]
    Validator(strata::dynasty_cli::ValidatorCmd),
    /// A chain's committee: show it, propose a reconfiguration.
    #[command(subcommand)]
    Committee(strata::dynasty_cli::CommitteeCmd),
    /// Resource stake: a provider's certificate, a validator's declaration.
    #[command(subcommand)]
    Stake(strata::stake_cli::StakeCmd),
    /// Show a node's chains.
    Status {
        #[arg(long, default_value = "http://127.0.0.1:17001")]
        node: String,
        /// The raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch a key's value in a chain's executed state with its proof, and
    /// check the proof here against the genesis alone (the header naming
    /// the state is committed; the value, or its absence, is under that
    /// header's state root).
    State {
        /// object:<id>, nonces:<sender hex>:<nonce>, or the key in hex.
        key: String,
        #[arg(long, default_value = "http://127.0.0.1:17001")]
        node: String,
        /// The network's genesis file (what the proof is checked against).
        #[arg(long)]
        genesis: std::path::PathBuf,
        /// global or local-N (default: an object's domain chain if the
        /// node serves it, else the global chain).
        #[arg(long)]
        chain: Option<String>,
    },
    /// Fetch a record's receipt from a node (JSON on standard output):
    /// its proof through its chain and, for a local record once anchored,
    /// through the global chain.
    Receipt {
        /// The record's hash.
        hash: String,
        #[arg(long, default_value = "http://127.0.0.1:17001")]
        node: String,
    },
    /// Check a receipt offline against the genesis alone; exits 0 with a
    /// one-line summary, or 1 naming the first link that fails.
    Verify {
        /// A receipt written by `strata receipt` (JSON).
        receipt: PathBuf,
        /// The network's genesis file.
        #[arg(long)]
        genesis: PathBuf,
    },
    /// Fetch every committed block of a chain (with its batches) from a
    /// node into a directory, for `strata audit`.
    Export {
        #[arg(long, default_value = "http://127.0.0.1:17001")]
        node: String,
        /// global or local-N.
        #[arg(long)]
        chain: String,
        /// Copy this genesis file into the export.
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// The directory to write.
        dir: PathBuf,
    },
    /// Re-verify an exported chain with the genesis alone: every block's
    /// hash link, certificate, proposer signature and Merkle root, and
    /// every state root by executing every block (on the global chain,
    /// every anchor's checks). Exits 1 naming the first block that fails.
    Audit {
        dir: PathBuf,
        /// The genesis (default: the export's genesis.toml).
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// Print the report as JSON (with every member's reward balance).
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run the deterministic fault simulator over many seeds.
    Sim {
        /// hotstuff (global chain) or two-phase (local chains).
        #[arg(long, default_value = "hotstuff")]
        protocol: Protocol,
        #[arg(long, default_value_t = 4)]
        nodes: usize,
        /// Number of seeds to run.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// First seed of the range.
        #[arg(long, default_value_t = 0)]
        first_seed: u64,
        /// Replay a single seed with its full trace.
        #[arg(long)]
        seed: Option<u64>,
        /// Faults to inject: any of crash,partition,loss,byzantine (or none).
        #[arg(long, default_value = "crash,partition,loss,byzantine")]
        faults: String,
        /// With --seed: print every event.
        #[arg(long)]
        trace: bool,
        /// Simulate the hierarchy: the global chain (HotStuff) and
        /// --domains local chains (two-phase), with anchoring, under the
        /// same faults (--protocol is then ignored).
        #[arg(long)]
        hierarchy: bool,
        /// Local chains of the hierarchy.
        #[arg(long, default_value_t = 2)]
        domains: u32,
        /// Simulate dynasties: one chain of --protocol through epoch
        /// changes (7 validators, committees of 4, epochs of 32 blocks;
        /// RandShare, sortition, a registration and a reconfiguration)
        /// under the same faults (--nodes is then ignored).
        #[arg(long)]
        dynasty: bool,
        /// With --dynasty: how committees after the first certify
        /// (`threshold`: with the group key of their DKG).
        #[arg(long, default_value = "multisig", value_parser = parse_certificate)]
        certificate: CertificateKind,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// One JSON object with the summary.
        #[arg(long)]
        json: bool,
        /// Draw the commit latency (virtual ms, proposal to first honest
        /// commit) and the view changes per seed as histograms in this SVG
        /// file (one chain's protocol; not with --hierarchy or --dynasty).
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// A committee of real node processes under load at fixed rates.
    Consensus(ConsensusBenchArgs),
    /// The throughput-latency curve of saved `bench consensus --json`
    /// lines (e.g. docs/benchmarks/*.jsonl) as an SVG.
    Plot {
        /// The JSON lines.
        input: PathBuf,
        /// The SVG to write.
        #[arg(long, value_name = "FILE.svg")]
        out: PathBuf,
    },
    /// Offline verification of a receipt: its cost and its size.
    Receipts {
        /// Verifications measured per kind of receipt.
        #[arg(long, default_value_t = 200)]
        runs: usize,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Dynasty costs by committee size: RandShare (PVSS deal, verify,
    /// decrypt, recover; the executor's work per epoch) and the sortition
    /// draw.
    Epoch {
        /// Committee sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "4,16,64,128")]
        members: Vec<usize>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// What an epoch boundary costs on a running network with epochs:
    /// block latency and commit gaps near the boundaries against the rest.
    Boundary {
        /// A node of the chain; give every node (`--node` again) to
        /// measure the chain's commits, not only this node's.
        #[arg(long, default_value = "http://127.0.0.1:17001")]
        node: Vec<String>,
        #[arg(long, default_value = "global")]
        chain: String,
        /// Heights on each side of a boundary that count as its window.
        #[arg(long, default_value_t = 4)]
        window: u64,
        /// The newest blocks read.
        #[arg(long, default_value_t = 4000)]
        blocks: u64,
        /// The run's last height: blocks above it are not read (a network
        /// restarted to be read after its run has its restart there).
        #[arg(long)]
        until: Option<u64>,
    },
    /// Signature verification and aggregation costs by committee size.
    Sigs {
        /// Committee sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "4,16,64,256,1024")]
        signers: Vec<usize>,
        /// Quorum fraction (weight must exceed it), as a decimal or a/b; the
        /// threshold-BLS t is ⌈fraction·n⌉.
        #[arg(long, default_value = "0.67")]
        threshold_fraction: String,
        /// Also the committee DKG's costs at these sizes (t = ⌈2n/3⌉),
        /// e.g. 4,16,64,128.
        #[arg(long, value_delimiter = ',')]
        dkg: Vec<u32>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Testnet(args) => match testnet::run(&args) {
            Ok(r) => {
                if args.json {
                    println!("{}", testnet::json_summary(&r));
                } else {
                    testnet::print_table(&r);
                }
                if r.interrupted {
                    ExitCode::from(130)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => fail(&e),
        },
        Command::Init(a) => match strata::init_cli::run(&a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Command::Keygen(a) => match commands::keygen(&a) {
            Ok(entry) => {
                print!("{entry}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Validator(cmd) => match strata::dynasty_cli::validator(&cmd) {
            Ok(answer) => {
                println!("{answer}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Stake(cmd) => match strata::stake_cli::run(&cmd) {
            Ok(answer) => {
                println!("{answer}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Committee(cmd) => match strata::dynasty_cli::committee(&cmd) {
            Ok(answer) => {
                match &cmd {
                    strata::dynasty_cli::CommitteeCmd::Show { json: false, .. } => {
                        strata::dynasty_cli::print_committee(&answer)
                    }
                    _ => println!("{answer}"),
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Submit(a) => match commands::submit(&a) {
            Ok(answer) => {
                println!("{answer}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::State {
            key,
            node,
            genesis,
            chain,
        } => match commands::prove_state(&node, &genesis, &key, chain.as_deref()) {
            Ok(verdict) => {
                println!("{verdict:#}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Receipt { hash, node } => match strata::receipts::fetch(&node, &hash) {
            Ok(r) => {
                println!("{r:#}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Verify { receipt, genesis } => {
            match strata::receipts::verify_file(&receipt, &genesis) {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e @ strata::receipts::VerifyError::Link(_)) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Export {
            node,
            chain,
            genesis,
            dir,
        } => match strata::audit::export(&node, &chain, &dir, genesis.as_deref()) {
            Ok(n) => {
                println!("exported {n} blocks of {chain} to {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Audit { dir, genesis, json } => {
            match strata::audit::audit(&dir, genesis.as_deref()) {
                Ok(r) if json => {
                    println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Ok(r) => {
                    println!(
                    "audited {}: {} blocks (tip {}), {} transactions ({} refused), anchors: {} recorded, {} refused, {} conflicts; state root {}",
                    r.chain,
                    r.blocks,
                    r.tip,
                    r.transactions,
                    r.refused,
                    r.anchors_recorded,
                    r.anchors_refused,
                    r.anchor_conflicts,
                    r.state_root
                );
                    if !r.rewards.is_empty() {
                        let paid: u64 = r.rewards.iter().map(|b| b.balance + b.forfeited).sum();
                        println!(
                            "rewards over {} epochs: {paid} paid to {} members",
                            r.epochs,
                            r.rewards.len()
                        );
                        for b in &r.rewards {
                            println!(
                                "  {} {} (forfeited {})",
                                b.validator, b.balance, b.forfeited
                            );
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e @ strata::audit::AuditFailure::Block(_)) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        Command::Status { node, json } => match strata::client::Client::new(&node).status() {
            Ok(s) if json => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Ok(s) => {
                print!("{}", commands::status_table(&s));
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        Command::Bench(BenchCommand::Plot { input, out }) => {
            match consensus_bench::plot_file(&input, &out) {
                Ok(n) => {
                    println!("plot: {} ({n} rows)", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Bench(BenchCommand::Consensus(args)) => match consensus_bench::run(&args) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Command::Bench(BenchCommand::Boundary {
            node,
            chain,
            window,
            blocks,
            until,
        }) => match strata::bench::boundary::run(&node, &chain, window, blocks, until) {
            Ok(r) => {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Bench(BenchCommand::Epoch { members, json }) => {
            let rows = strata::bench::epoch::run(&members);
            if !json {
                println!(
                    "{:>7} {:>3} {:>9} {:>10} {:>9} {:>9} {:>9} {:>12} {:>9} {:>9} {:>9} {:>10}",
                    "members",
                    "t",
                    "deal_us",
                    "verify_us",
                    "decrypt",
                    "vshare",
                    "recover",
                    "epoch_ms",
                    "deal_B",
                    "reveal_B",
                    "vrf_us",
                    "cand_us"
                );
            }
            for r in rows {
                if json {
                    println!("{}", serde_json::to_string(&r).expect("rows serialise"));
                } else {
                    println!(
                        "{:>7} {:>3} {:>9.0} {:>10.0} {:>9.0} {:>9.0} {:>9.0} {:>12.1} {:>9} {:>9} {:>9.0} {:>10.0}",
                        r.members, r.threshold, r.deal_us, r.verify_dealing_us, r.decrypt_share_us,
                        r.verify_share_us, r.recover_us, r.executor_per_epoch_ms, r.dealing_bytes,
                        r.reveal_bytes, r.vrf_prove_us, r.candidacy_verify_us
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Command::Bench(BenchCommand::Receipts { runs, json }) => {
            let rows = strata::bench::receipts::run(runs);
            if !json {
                println!(
                    "{:<28} {:>11} {:>10} {:>14} {:>14}",
                    "receipt", "scale_bytes", "json_bytes", "verify_p50_us", "verify_p99_us"
                );
            }
            for r in rows {
                if json {
                    println!("{}", serde_json::to_string(&r).expect("rows serialise"));
                } else {
                    println!(
                        "{:<28} {:>11} {:>10} {:>14.0} {:>14.0}",
                        r.kind, r.scale_bytes, r.json_bytes, r.verify_p50_us, r.verify_p99_us
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Command::Bench(BenchCommand::Sigs {
            signers,
            threshold_fraction,
            dkg,
            json,
        }) => {
            let fraction = match QuorumThreshold::parse(&threshold_fraction) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: --threshold-fraction: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(bad) = signers.iter().find(|&&n| n == 0 || n > 4096) {
                eprintln!("error: --signers: {bad} is not in 1..=4096");
                return ExitCode::from(2);
            }
            if !json {
                println!("{}", sigs::table_header());
            }
            for n in signers {
                let (row, leader) = sigs::measure(n, fraction);
                if json {
                    println!("{}", serde_json::to_string(&row).expect("rows serialise"));
                } else {
                    println!("{}", sigs::table_row(&row, &leader));
                }
            }
            if let Some(bad) = dkg.iter().find(|&&n| n == 0 || n > 4096) {
                eprintln!("error: --dkg: {bad} is not in 1..=4096");
                return ExitCode::from(2);
            }
            if !dkg.is_empty() && !json {
                println!("\n{}", strata::bench::dkg::table_header());
            }
            for r in strata::bench::dkg::run(&dkg) {
                if json {
                    println!("{}", serde_json::to_string(&r).expect("rows serialise"));
                } else {
                    println!("{}", strata::bench::dkg::table_row(&r));
                }
            }
            ExitCode::SUCCESS
        }
        Command::Sim {
            protocol,
            nodes,
            seeds,
            first_seed,
            seed,
            faults,
            trace,
            threads,
            json,
            hierarchy,
            domains,
            dynasty,
            certificate,
            plot,
        } => {
            if plot.is_some() && (hierarchy || dynasty || seed.is_some()) {
                eprintln!("error: --plot draws a run of seeds of one protocol: not with --hierarchy, --dynasty or --seed");
                return ExitCode::from(2);
            }
            let faults = match FaultSet::parse(&faults) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: --faults: {e}");
                    return ExitCode::from(2);
                }
            };
            if !(1..=256).contains(&nodes) {
                eprintln!("error: --nodes must be in 1..=256");
                return ExitCode::from(2);
            }
            if hierarchy {
                if !(1..=16).contains(&domains) {
                    eprintln!("error: --domains must be in 1..=16");
                    return ExitCode::from(2);
                }
                let threads = threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                let (first, count) = match seed {
                    Some(s) => (s, 1),
                    None => (first_seed, seeds),
                };
                let (summary, _) = strata::simulate_hierarchy::simulate(
                    domains, nodes, count, first, faults, threads, json,
                );
                if json {
                    println!("{}", serde_json::to_string(&summary).expect("serialises"));
                } else {
                    println!(
                        "hierarchy: {} domains × {} nodes, {} seeds: {} failed ({} safety, {} liveness), {} anchors, {:.0} virtual s in {:.1} s",
                        summary.domains,
                        summary.nodes,
                        summary.seeds,
                        summary.failed,
                        summary.safety_violations,
                        summary.liveness_failures,
                        summary.anchors,
                        summary.virtual_seconds,
                        summary.wall_seconds
                    );
                }
                return if summary.failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                };
            }
            if dynasty {
                return simulate_dynasty(
                    protocol,
                    certificate,
                    seeds,
                    first_seed,
                    seed,
                    faults,
                    trace,
                    threads,
                    json,
                );
            }
            if let Some(seed) = seed {
                let report = replay(protocol, nodes, seed, faults);
                if trace {
                    for line in &report.trace {
                        println!("{line}");
                    }
                }
                println!(
                    "seed {seed}: {} (committed {} blocks on every honest node, {} events, {:.1} virtual s, byzantine {:?})",
                    if report.passed() { "passed" } else { "FAILED" },
                    report.committed_min,
                    report.events,
                    report.virtual_time.as_secs_f64(),
                    report.byzantine
                );
                for v in report
                    .safety_violations
                    .iter()
                    .chain(&report.evidence_missed)
                    .chain(&report.liveness_failure)
                {
                    println!("  {v}");
                }
                return if report.passed() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                };
            }
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let args = SimArgs {
                protocol,
                nodes,
                seeds,
                first_seed,
                faults,
                threads,
                json,
            };
            let (summary, reports) = simulate(&args);
            if let Some(path) = &plot {
                let latencies: Vec<u32> = reports
                    .iter()
                    .flat_map(|r| r.commit_latency_ms.iter().copied())
                    .collect();
                let changes: Vec<u64> = reports.iter().map(|r| r.view_changes).collect();
                let title = format!(
                    "strata sim: {} on {} nodes, {} seeds, faults {}",
                    summary.protocol, summary.nodes, summary.seeds, faults
                );
                if let Err(e) = strata::plot::sim_histograms(path, &title, &latencies, &changes) {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
                if !json {
                    eprintln!("plot: {}", path.display());
                }
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&summary).expect("summary serialises")
                );
            } else {
                print_table(&summary);
            }
            if reports.iter().all(|r| r.passed()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// `strata sim --dynasty`.
#[allow(clippy::too_many_arguments)]
fn simulate_dynasty(
    protocol: Protocol,
    certificate: CertificateKind,
    seeds: u64,
    first_seed: u64,
    seed: Option<u64>,
    faults: FaultSet,
    trace: bool,
    threads: Option<usize>,
    json: bool,
) -> ExitCode {
    use strata::simulate_dynasty;
    if let Some(seed) = seed {
        let r = simulate_dynasty::replay(protocol, certificate, seed, faults);
        if trace {
            for line in &r.trace {
                println!("{line}");
            }
        }
        println!(
            "seed {seed}: {} (epoch {} on every honest process, {} RandShare and {} fallback seeds, {} group keys, {} DKG dealers excluded, {} threshold epochs, {} committee changes, reconfigured {}, newcomer served {}, {} events, {:.1} virtual s, byzantine {:?})",
            if r.passed() { "passed" } else { "FAILED" },
            r.epochs_min,
            r.randshare_seeds,
            r.fallback_seeds,
            r.group_keys,
            r.dkg_excluded,
            r.threshold_epochs,
            r.committee_changes,
            r.reconfigured,
            r.newcomer_served,
            r.events,
            r.virtual_time.as_secs_f64(),
            r.byzantine
        );
        if !r.passed() {
            let cfg = simulate_dynasty::config(protocol, certificate, seed, faults);
            eprint!("{}", r.failure_text(&cfg));
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (s, _) = simulate_dynasty::simulate(
        protocol,
        certificate,
        seeds,
        first_seed,
        faults,
        threads,
        json,
    );
    if json {
        println!("{}", serde_json::to_string(&s).expect("serialises"));
    } else {
        println!(
            "dynasty {}: {} validators, committees of {}, epochs of {} blocks, {} seeds: {} failed ({} safety, {} liveness); epoch >= {} everywhere; {} RandShare / {} fallback seeds; {} group keys, {} DKG dealers excluded; {} epochs certified by threshold; {} convicted; {} epochs paid rewards; {} committee changes; reconfigured in {}, newcomer served in {}; {:.0} virtual s in {:.1} s",
            s.protocol,
            s.validators,
            s.committee_size,
            s.epoch_length,
            s.seeds,
            s.failed,
            s.safety_violations,
            s.liveness_failures,
            s.epochs_min,
            s.randshare_seeds,
            s.fallback_seeds,
            s.group_keys,
            s.dkg_excluded,
            s.threshold_epochs,
            s.convicted,
            s.rewarded_epochs,
            s.committee_changes,
            s.reconfigured,
            s.newcomer_served,
            s.virtual_seconds,
            s.wall_seconds
        );
    }
    if s.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
