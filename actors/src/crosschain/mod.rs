//! Services that span chains: a node that is a member of a local chain and
//! talks to the global chain runs them here, each as an actor holding
//! ports into the chains it spans.
//!
//! - `anchoring`: the domain's committed state anchored on the global chain
//!   (`AnchorSubmitterActor`, the host of the pure submitter), and what
//!   the domain's members learn of it (`AnchorView`: commit levels and
//!   receipts);
//! - next: committee history (each chain's dynasties as the global chain
//!   records them, for verifying old certificates).

pub mod anchoring;
