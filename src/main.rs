//! `strata`: the command line of Strata.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strata::bench::sigs;
use strata::simulate::{print_table, replay, simulate, SimArgs};
use strata_chains::sim::FaultSet;
use strata_chains::types::Protocol;
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
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// One JSON object with the summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Signature verification and aggregation costs by committee size.
    Sigs {
        /// Committee sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "4,16,64,256,1024")]
        signers: Vec<usize>,
        /// Quorum fraction (weight must exceed it), as a decimal or a/b; the
        /// threshold-BLS t is ⌈fraction·n⌉.
        #[arg(long, default_value = "0.67")]
        threshold_fraction: String,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(BenchCommand::Sigs {
            signers,
            threshold_fraction,
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
        } => {
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
