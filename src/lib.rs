//! The `strata` command line and the tools behind it.

pub mod audit;
pub mod bench;
pub mod client;
pub mod cluster;
pub mod commands;
pub mod dynasty_cli;
pub mod init;
pub mod load;
pub mod measure;
pub mod netlab;
pub mod node_main;
pub mod receipts;
pub mod seeds;
pub mod simulate;
pub mod simulate_dynasty;
pub mod simulate_hierarchy;
pub mod testnet;
