//! The `strata` command line and the tools behind it.

pub mod bench;
pub mod client;
pub mod init;
pub mod node_main;
pub mod simulate;
