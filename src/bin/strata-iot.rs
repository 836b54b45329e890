//! `strata-iot --config FILE.toml`: runs an IoT-tier Strata node.

fn main() -> std::process::ExitCode {
    strata::node_main::main(strata_actors::Tier::Iot)
}
