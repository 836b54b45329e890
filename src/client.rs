//! The node's HTTP client is its own crate, `strata-client`
//! (`client/`); this module keeps its paths for the CLI's modules.

pub use strata_client::*;
