//! actix actors that run the protocol machines (DESIGN.md §7). Filled in by
//! the node work.
