//! The authenticated state (issue 24, point 2): every key the executor
//! reads and writes lives in a Jellyfish Merkle tree (the `jmt` crate, the
//! sparse Merkle tree of Diem/Aptos and Penumbra), one version per executed
//! height. Its root is what block headers commit to (`BlockHeader::
//! state_root`, see `types/block.rs` for which height), and it gives short
//! inclusion and exclusion proofs for any key against that root, which a
//! light client or a receipt checks offline with [`StateProof::verify`].
//!
//! This module knows trees, keys and proofs, not what the keys mean (that
//! is the executor's, `execution/`). Storage is behind jmt's `TreeReader`:
//! [`MemTree`] here (simulator, tests, the genesis root), RocksDB in the
//! node (`strata_actors::chain::state`).

mod mem;

pub use jmt::storage::{TreeReader, TreeUpdateBatch};
pub use jmt::{KeyHash, Version};
pub use mem::MemTree;

use jmt::proof::SparseMerkleProof;
use jmt::{JellyfishMerkleTree, RootHash};
use parity_scale_codec::{Decode, Encode};
use strata_crypto::hash::Digest;

/// The hash function of the tree (leaves, internal nodes, key hashes).
pub type TreeHasher = sha2::Sha256;

/// Keys and values are bounded so a proof stays small and a hostile proof
/// cannot make a verifier work for long.
pub const MAX_KEY_BYTES: usize = 1024;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
const MAX_PROOF_BYTES: usize = 64 * 1024;

/// Why the tree could not be read, updated or proven.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("state tree: {0}")]
    Tree(String),
}

fn tree_error(e: impl std::fmt::Display) -> TreeError {
    TreeError::Tree(e.to_string())
}

/// The tree's position of a key.
pub fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash::with::<TreeHasher>(key)
}

/// The key under which the genesis state records its configuration digest
/// (what else version 0 holds is the executor's: `execution::GenesisState`).
pub const GENESIS_CONFIG_KEY: &[u8] = b"genesis/config";

/// Computes the tree at `version` from the tree at `version - 1` (the
/// empty tree for version 0) and `updates` (key, new value; each key at
/// most once). Pure: reads through `reader`, returns the root and what to
/// write.
pub fn update(
    reader: &impl TreeReader,
    version: Version,
    updates: &[(Vec<u8>, Vec<u8>)],
) -> Result<(Digest, TreeUpdateBatch), TreeError> {
    let tree = JellyfishMerkleTree::<_, TreeHasher>::new(reader);
    let set = updates.iter().map(|(k, v)| (key_hash(k), Some(v.clone())));
    let (root, batch) = tree.put_value_set(set, version).map_err(tree_error)?;
    Ok((Digest(root.0), batch))
}

/// The root of the tree at `version`.
pub fn root_at(reader: &impl TreeReader, version: Version) -> Result<Digest, TreeError> {
    let tree = JellyfishMerkleTree::<_, TreeHasher>::new(reader);
    let root = tree.get_root_hash(version).map_err(tree_error)?;
    Ok(Digest(root.0))
}

/// A key's value (or its absence) at a version, with the proof.
pub fn prove(
    reader: &impl TreeReader,
    key: &[u8],
    version: Version,
) -> Result<StateProof, TreeError> {
    let tree = JellyfishMerkleTree::<_, TreeHasher>::new(reader);
    let (value, proof) = tree
        .get_with_proof(key_hash(key), version)
        .map_err(tree_error)?;
    let proof = borsh::to_vec(&proof).map_err(tree_error)?;
    Ok(StateProof {
        key: key.to_vec(),
        value,
        proof,
    })
}

/// A key's value in the state with a root (or that the key is absent),
/// and the sparse Merkle proof that says so. Self-contained: a verifier
/// needs only the root, from a certified header.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StateProof {
    pub key: Vec<u8>,
    /// `None`: the proof shows the key is absent.
    pub value: Option<Vec<u8>>,
    /// The `jmt` sparse Merkle proof, Borsh-encoded as the crate defines it.
    pub proof: Vec<u8>,
}

/// Why a state proof does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("the proof is larger than any proof of this state ({0} bytes)")]
    Oversized(usize),
    #[error("the proof does not decode: {0}")]
    Malformed(String),
    #[error("the proof does not lead to the root: {0}")]
    Mismatch(String),
}

impl StateProof {
    /// Checks the proof against `root`: the key has `value` (or is absent).
    pub fn verify(&self, root: &Digest) -> Result<(), ProofError> {
        let size = self.key.len() + self.value.as_ref().map_or(0, Vec::len) + self.proof.len();
        if self.key.len() > MAX_KEY_BYTES
            || self
                .value
                .as_ref()
                .is_some_and(|v| v.len() > MAX_VALUE_BYTES)
            || self.proof.len() > MAX_PROOF_BYTES
        {
            return Err(ProofError::Oversized(size));
        }
        let proof: SparseMerkleProof<TreeHasher> =
            borsh::from_slice(&self.proof).map_err(|e| ProofError::Malformed(e.to_string()))?;
        proof
            .verify(RootHash(root.0), key_hash(&self.key), self.value.as_deref())
            .map_err(|e| ProofError::Mismatch(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn proofs_of_presence_and_absence_verify_against_their_version_only() {
        let mut tree = MemTree::default();
        let g = tree.update(0, &[kv("genesis/config", "x")]).unwrap();
        assert_ne!(g, Digest::ZERO);
        let r1 = tree.update(1, &[kv("a", "1"), kv("b", "2")]).unwrap();
        let r2 = tree.update(2, &[kv("a", "3")]).unwrap();
        // An empty block keeps the root and still makes a version.
        let r3 = tree.update(3, &[]).unwrap();
        assert_eq!(r2, r3);
        assert_eq!(root_at(&tree, 1).unwrap(), r1);

        let a1 = prove(&tree, b"a", 1).unwrap();
        assert_eq!(a1.value.as_deref(), Some(&b"1"[..]));
        a1.verify(&r1).unwrap();
        assert!(matches!(a1.verify(&r2), Err(ProofError::Mismatch(_))));
        let a3 = prove(&tree, b"a", 3).unwrap();
        assert_eq!(a3.value.as_deref(), Some(&b"3"[..]));
        a3.verify(&r3).unwrap();

        // Absence, and a lie about it.
        let c = prove(&tree, b"c", 3).unwrap();
        assert_eq!(c.value, None);
        c.verify(&r3).unwrap();
        let lie = StateProof {
            value: Some(b"9".to_vec()),
            ..c.clone()
        };
        assert!(lie.verify(&r3).is_err());
        let tampered = StateProof {
            value: Some(b"4".to_vec()),
            ..a3.clone()
        };
        assert!(tampered.verify(&r3).is_err());
        let garbage = StateProof {
            proof: vec![0xff; 7],
            ..a3
        };
        assert!(matches!(garbage.verify(&r3), Err(ProofError::Malformed(_))));
    }

    #[test]
    fn the_root_depends_on_the_contents_not_the_order_of_writes() {
        let mut x = MemTree::default();
        let mut y = MemTree::default();
        x.update(0, &[kv("a", "1"), kv("b", "2")]).unwrap();
        y.update(0, &[kv("b", "2")]).unwrap();
        let rx = x.update(1, &[]).unwrap();
        let ry = y.update(1, &[kv("a", "1")]).unwrap();
        assert_eq!(rx, ry);
    }
}
