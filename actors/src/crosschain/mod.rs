//! Services that span chains: a node that is a member of a local chain and
//! of the global chain (or watches both) runs them here. Empty for now;
//! what comes next lives here, each as an actor holding ports into the
//! chains it spans:
//!
//! - anchoring: the local chain's committed headers and certificates
//!   submitted to the global chain (`AnchorSubmitter`), and the receipts
//!   that prove a record through both tiers;
//! - committee history: each chain's dynasties (epochs, members, keys) as
//!   the global chain records them, for verifying old certificates.
