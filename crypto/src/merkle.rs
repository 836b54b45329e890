//! Binary Merkle trees with inclusion proofs.
//!
//! The tree is left-balanced (the shape of RFC 9162 §2.1): a level with an odd
//! number of nodes promotes its last node unchanged instead of duplicating it,
//! so no two leaf lists share a root (the duplicated-last-leaf ambiguity of
//! Bitcoin, CVE-2012-2459). Leaves and inner nodes are hashed with different
//! prefixes, so an inner node can never be passed off as a leaf (the
//! second-preimage trick).

use parity_scale_codec::{Decode, Encode, Input};

use crate::codec::decode_vec;
use crate::hash::{Digest, Hasher};

const DOMAIN: &str = "strata/merkle";
const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;
const EMPTY_PREFIX: u8 = 0x02;

/// A tree of at most 2^64 leaves has at most 64 levels above its leaves.
pub const MAX_PROOF_DEPTH: usize = 64;

/// Why a Merkle operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf index {index} is outside a tree of {count} leaves")]
    IndexOutOfRange { index: u64, count: u64 },
    #[error("proof has {got} siblings where the tree shape needs {expected}")]
    WrongPathLength { expected: usize, got: usize },
    #[error("proof leads to a different root")]
    RootMismatch,
}

/// Hash of a leaf's bytes.
pub fn leaf_hash(data: &[u8]) -> Digest {
    let mut h = Hasher::new(DOMAIN);
    h.update(&[LEAF_PREFIX]).update(data);
    h.finalize()
}

fn node_hash(left: &Digest, right: &Digest) -> Digest {
    let mut h = Hasher::new(DOMAIN);
    h.update(&[NODE_PREFIX]).update(&left.0).update(&right.0);
    h.finalize()
}

/// Root of the tree with no leaves.
pub fn empty_root() -> Digest {
    let mut h = Hasher::new(DOMAIN);
    h.update(&[EMPTY_PREFIX]);
    h.finalize()
}

/// A Merkle tree kept whole, so proofs for any leaf cost O(log n).
#[derive(Clone, Debug)]
pub struct MerkleTree {
    /// `levels[0]` are the leaf hashes; the last level holds the root.
    levels: Vec<Vec<Digest>>,
}

impl MerkleTree {
    /// Builds the tree over the leaves' bytes.
    pub fn from_leaves<L: AsRef<[u8]>>(leaves: &[L]) -> MerkleTree {
        Self::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l.as_ref())).collect())
    }

    /// Builds the tree over already computed [`leaf_hash`]es.
    pub fn from_leaf_hashes(leaf_hashes: Vec<Digest>) -> MerkleTree {
        let mut levels = vec![leaf_hashes];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels
                .last()
                .expect("loop condition checked a level exists");
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [l, r] => node_hash(l, r),
                    [lone] => *lone,
                    _ => unreachable!("chunks(2) yields one or two items"),
                })
                .collect();
            levels.push(above);
        }
        MerkleTree { levels }
    }

    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    pub fn root(&self) -> Digest {
        match self.levels.last().and_then(|l| l.first()) {
            Some(root) => *root,
            None => empty_root(),
        }
    }

    /// The inclusion proof of leaf `index`.
    pub fn proof(&self, index: u64) -> Result<InclusionProof, MerkleError> {
        let count = self.len();
        if index >= count {
            return Err(MerkleError::IndexOutOfRange { index, count });
        }
        let mut siblings = Vec::new();
        let mut pos = index as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = pos ^ 1;
            if sibling < level.len() {
                siblings.push(level[sibling]);
            }
            pos /= 2;
        }
        Ok(InclusionProof {
            leaf_index: index,
            leaf_count: count,
            siblings,
        })
    }
}

/// Proof that a leaf sits at `leaf_index` in a tree of `leaf_count` leaves.
#[derive(Clone, Debug, PartialEq, Eq, Encode)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub leaf_count: u64,
    pub siblings: Vec<Digest>,
}

impl Decode for InclusionProof {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        Ok(InclusionProof {
            leaf_index: u64::decode(input)?,
            leaf_count: u64::decode(input)?,
            siblings: decode_vec(input, MAX_PROOF_DEPTH)?,
        })
    }
}

impl InclusionProof {
    /// Checks that `leaf` (the leaf's bytes) is included under `root`.
    pub fn verify(&self, root: &Digest, leaf: &[u8]) -> Result<(), MerkleError> {
        self.verify_hash(root, &leaf_hash(leaf))
    }

    /// Checks that the leaf with hash `leaf` is included under `root`.
    pub fn verify_hash(&self, root: &Digest, leaf: &Digest) -> Result<(), MerkleError> {
        if self.leaf_index >= self.leaf_count {
            return Err(MerkleError::IndexOutOfRange {
                index: self.leaf_index,
                count: self.leaf_count,
            });
        }
        // Replays the tree's shape: at each level the node either has a
        // sibling (left or right) or is the promoted last node.
        let expected = path_length(self.leaf_index, self.leaf_count);
        if self.siblings.len() != expected {
            return Err(MerkleError::WrongPathLength {
                expected,
                got: self.siblings.len(),
            });
        }
        let mut acc = *leaf;
        let mut siblings = self.siblings.iter();
        let (mut pos, mut size) = (self.leaf_index, self.leaf_count);
        while size > 1 {
            if pos % 2 == 1 {
                acc = node_hash(siblings.next().ok_or(MerkleError::RootMismatch)?, &acc);
            } else if pos + 1 < size {
                acc = node_hash(&acc, siblings.next().ok_or(MerkleError::RootMismatch)?);
            }
            pos /= 2;
            size = size.div_ceil(2);
        }
        if acc == *root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        }
    }
}

/// Number of siblings on the path of leaf `index` in a tree of `count` leaves.
fn path_length(mut index: u64, mut count: u64) -> usize {
    let mut len = 0;
    while count > 1 {
        if index % 2 == 1 || index + 1 < count {
            len += 1;
        }
        index /= 2;
        count = count.div_ceil(2);
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The recursive definition of RFC 9162 §2.1.1 (split at the largest
    /// power of two below n), as an independent reference for the shape.
    fn reference_root(leaves: &[Vec<u8>]) -> Digest {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = 1usize << (usize::BITS - (n - 1).leading_zeros() - 1);
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf-{i}").into_bytes()).collect()
    }

    #[test]
    fn root_matches_the_recursive_definition() {
        for n in 0..70 {
            let l = leaves(n);
            assert_eq!(
                MerkleTree::from_leaves(&l).root(),
                reference_root(&l),
                "n = {n}"
            );
        }
    }

    #[test]
    fn empty_and_single_leaf_trees() {
        let empty: Vec<Vec<u8>> = vec![];
        let t = MerkleTree::from_leaves(&empty);
        assert!(t.is_empty());
        assert_eq!(t.root(), empty_root());
        assert_eq!(
            t.proof(0),
            Err(MerkleError::IndexOutOfRange { index: 0, count: 0 })
        );

        let t = MerkleTree::from_leaves(&[b"only"]);
        let p = t.proof(0).unwrap();
        assert!(p.siblings.is_empty());
        assert_eq!(p.verify(&t.root(), b"only"), Ok(()));
    }

    #[test]
    fn duplicated_last_leaf_gives_a_different_root() {
        let three = leaves(3);
        let mut four = three.clone();
        four.push(three[2].clone());
        assert_ne!(
            MerkleTree::from_leaves(&three).root(),
            MerkleTree::from_leaves(&four).root()
        );
    }

    #[test]
    fn inner_node_cannot_pose_as_a_leaf() {
        let l = leaves(4);
        let t = MerkleTree::from_leaves(&l);
        // The concatenation of two leaf hashes, presented as a leaf of a
        // two-leaf tree, must not reproduce the root.
        let mut forged = Vec::new();
        forged.extend_from_slice(&node_hash(&leaf_hash(&l[0]), &leaf_hash(&l[1])).0);
        forged.extend_from_slice(&node_hash(&leaf_hash(&l[2]), &leaf_hash(&l[3])).0);
        let t2 = MerkleTree::from_leaves(&[forged]);
        assert_ne!(t.root(), t2.root());
    }

    #[test]
    fn proof_rejects_index_out_of_range() {
        let t = MerkleTree::from_leaves(&leaves(5));
        let mut p = t.proof(4).unwrap();
        assert_eq!(
            t.proof(5),
            Err(MerkleError::IndexOutOfRange { index: 5, count: 5 })
        );
        p.leaf_index = 5;
        assert_eq!(
            p.verify(&t.root(), b"leaf-4"),
            Err(MerkleError::IndexOutOfRange { index: 5, count: 5 })
        );
    }

    #[test]
    fn proof_rejects_extra_or_missing_siblings() {
        let t = MerkleTree::from_leaves(&leaves(6));
        let mut p = t.proof(1).unwrap();
        p.siblings.push(Digest::ZERO);
        assert!(matches!(
            p.verify(&t.root(), b"leaf-1"),
            Err(MerkleError::WrongPathLength { .. })
        ));
        p.siblings.truncate(1);
        assert!(matches!(
            p.verify(&t.root(), b"leaf-1"),
            Err(MerkleError::WrongPathLength { .. })
        ));
    }

    #[test]
    fn proof_decoding_limits_the_path() {
        let p = InclusionProof {
            leaf_index: 0,
            leaf_count: 1,
            siblings: vec![Digest::ZERO; MAX_PROOF_DEPTH + 1],
        };
        let bytes = p.encode();
        assert!(InclusionProof::decode(&mut &bytes[..]).is_err());
        let ok = MerkleTree::from_leaves(&leaves(9)).proof(3).unwrap();
        assert_eq!(InclusionProof::decode(&mut &ok.encode()[..]).unwrap(), ok);
    }

    proptest! {
        #[test]
        fn every_leaf_proves_and_wrong_inputs_fail(
            data in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..80),
            pick in any::<prop::sample::Index>(),
            other in any::<prop::sample::Index>(),
        ) {
            let t = MerkleTree::from_leaves(&data);
            let root = t.root();
            let i = pick.index(data.len());
            let p = t.proof(i as u64).unwrap();
            prop_assert_eq!(p.verify(&root, &data[i]), Ok(()));

            // Wrong leaf bytes.
            let mut wrong = data[i].clone();
            wrong.push(0xff);
            prop_assert!(p.verify(&root, &wrong).is_err());

            // Wrong root.
            let other_root = Digest::of("other", &root.0);
            prop_assert_eq!(p.verify(&other_root, &data[i]), Err(MerkleError::RootMismatch));

            // The same leaf claimed at another index holding different bytes:
            // the tree binds each position to its content.
            let j = other.index(data.len());
            if data[j] != data[i] {
                let mut moved = p.clone();
                moved.leaf_index = j as u64;
                prop_assert!(moved.verify(&root, &data[i]).is_err());
            }
        }
    }
}
