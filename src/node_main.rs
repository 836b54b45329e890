//! The tier binaries `strata-cloud`, `strata-edge` and `strata-iot`: each
//! loads a node file, checks it is for its tier, and runs the node until
//! SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use strata_actors::{NodeConfig, Tier};

#[derive(Parser)]
#[command(version)]
struct NodeArgs {
    /// The node file (TOML), e.g. net/edge-0-0.toml from `strata init`.
    #[arg(long)]
    config: PathBuf,
    /// Log filter (tracing syntax); `STRATA_LOG` overrides it.
    #[arg(long, default_value = "info,libp2p=warn,actix_server=warn")]
    log: String,
    /// Test mode: misbehave on purpose (a comma-separated list of
    /// misdeeds). Refused unless STRATA_ALLOW_BYZANTINE=1.
    #[arg(long, hide = true)]
    byzantine: Option<String>,
    /// Light clients: keep only this many of the domain chain's headers
    /// below its last anchored height (full nodes keep serving receipts).
    #[arg(long)]
    prune: Option<u64>,
}

/// The `main` of a tier binary.
pub fn main(tier: Tier) -> ExitCode {
    let name = match tier {
        Tier::Cloud => "strata-cloud",
        Tier::Edge => "strata-edge",
        Tier::Iot => "strata-iot",
    };
    // The binary's own name in usage, errors and `--version`.
    let matches = NodeArgs::command()
        .name(name)
        .bin_name(name)
        .get_matches_from(std::env::args_os());
    let args = match NodeArgs::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let filter = std::env::var("STRATA_LOG").unwrap_or(args.log);
    if let Err(e) = init_logs(&filter, std::env::var("STRATA_LOG_FORMAT").ok().as_deref()) {
        eprintln!("{name}: {e}");
        return ExitCode::from(2);
    }
    let mut cfg = match NodeConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    if cfg.tier != tier {
        eprintln!(
            "{name}: {}: tier: this node is a {} node; run it with strata-{}",
            args.config.display(),
            cfg.tier,
            cfg.tier
        );
        return ExitCode::from(2);
    }
    cfg.prune = args.prune;
    if let Some(list) = &args.byzantine {
        if std::env::var("STRATA_ALLOW_BYZANTINE").as_deref() != Ok("1") {
            eprintln!("{name}: --byzantine is a test mode, refused outside tests");
            return ExitCode::from(2);
        }
        match strata_actors::byzantine::parse_misdeeds(list) {
            Ok(m) => cfg.byzantine = m,
            Err(e) => {
                eprintln!("{name}: --byzantine: {e}");
                return ExitCode::from(2);
            }
        }
    }
    match strata_actors::run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The node's log on stderr: `STRATA_LOG_FORMAT=json` writes one JSON
/// object per line (timestamp, level, target, fields) for log shippers;
/// unset or `text`, the human-readable form.
fn init_logs(filter: &str, format: Option<&str>) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match format.unwrap_or("text") {
        "text" | "" => builder.init(),
        "json" => builder.json().flatten_event(true).init(),
        other => {
            return Err(format!(
                "STRATA_LOG_FORMAT: unknown format `{other}` (expected `text` or `json`)"
            ))
        }
    }
    Ok(())
}
