//! Clients of the tiers that run no committee member: the IoT light client
//! (submits through an upstream node and verifies commit proofs against
//! the genesis).

pub mod follow;
pub mod light;
pub mod light_metrics;
