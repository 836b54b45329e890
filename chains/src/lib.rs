//! Chain data types, storage, the pure protocol machines and the
//! deterministic simulator (DESIGN.md §2).

pub mod consensus;
pub mod sim;
pub mod store;
pub mod types;
