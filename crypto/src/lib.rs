//! Cryptographic primitives of Strata (docs/design.md §3, §4).
//!
//! Every module is a small, self-contained primitive with a typed error for
//! each way its input can be bad. Types that cross the wire implement SCALE
//! `Encode`/`Decode`; decoding validates (points on the curve, keys in the
//! subgroup, collection sizes within their limits) so that a value of a type
//! here is always well-formed.

pub mod aggregator;
pub mod bitmap;
pub mod bls;
pub mod codec;
pub mod committee;
pub mod dkg;
pub mod hash;
pub mod merkle;
mod message_point;
pub mod pvss;
pub mod qc;
pub mod scalar;
pub mod sortition;
pub mod sr25519;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod threshold;
pub mod vrf;

pub use aggregator::{CheckPolicy, VoteAggregator, VoteError, VoteOutcome};
pub use bls::{BlsError, ProofOfPossession, PublicKey, SecretKey, Signature};
pub use committee::{Committee, CommitteeError, Member, QuorumThreshold};
pub use hash::{Digest, Hasher};
pub use merkle::{InclusionProof, MerkleError, MerkleTree};
pub use qc::{QcError, QuorumCert, SignerBitmap};
