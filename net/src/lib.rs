//! libp2p transport for Strata (DESIGN.md §7). Filled in by the node work.
