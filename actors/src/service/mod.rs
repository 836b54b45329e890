//! What serves the whole node, shared by its chains: the network bridge
//! (libp2p in, ports out, peer scores), the signature verifier thread,
//! Prometheus metrics and the wire format.

pub mod bridge;
pub mod metrics;
pub mod peers;
pub mod verifier;
pub mod wire;
