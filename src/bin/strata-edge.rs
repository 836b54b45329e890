//! `strata-edge --config FILE.toml`: runs a edge-tier Strata node.

fn main() -> std::process::ExitCode {
    strata::node_main::main(strata_actors::Tier::Edge)
}
