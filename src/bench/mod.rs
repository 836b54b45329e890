//! Benchmarks behind `strata bench` (the criterion suites in `benches/` cover
//! every primitive; these print the figures a user asks for).

pub mod boundary;
pub mod consensus;
pub mod dkg;
pub mod epoch;
pub mod receipts;
pub mod sigs;
pub mod timing;
