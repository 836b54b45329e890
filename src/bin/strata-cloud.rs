//! `strata-cloud --config FILE.toml`: runs a cloud-tier Strata node.

fn main() -> std::process::ExitCode {
    strata::node_main::main(strata_actors::Tier::Cloud)
}
