//! `strata`: the command line of Strata.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strata::bench::sigs;
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
    }
}
