//! The `strata` command line and the tools behind it.

pub mod bench;
pub mod simulate;
