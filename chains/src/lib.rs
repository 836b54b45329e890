//! Chain data types, storage, the pure protocol machines and the
//! deterministic simulator (docs/design.md §2).

pub mod anchor;
pub mod audit;
pub mod auth;
pub mod consensus;
pub mod dynasty;
pub mod execution;
pub mod mempool;
pub mod sim;
pub mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod types;
