//! Proof of a key's value in a chain's executed state, for clients that
//! trust only the genesis (`GET /v1/state/{key}/proof`): the value (or its
//! absence) with its sparse Merkle proof against the state root a committed
//! header names (`BlockHeader::state_height`, `state_root`), and the commit
//! proof of that header (`consensus::commit_proof`, as transaction proofs
//! carry). `tier::light::check_state_proof` checks one offline.

use parity_scale_codec::Encode;
use serde::Serialize;
use strata_chains::consensus::commit_proof;
use strata_chains::execution::{ObjectHead, OBJECT_KEY_PREFIX};
use strata_chains::store::{RocksStore, Store};
use strata_chains::types::{BlockHeader, ChainId, Height, Protocol, QuorumCertificate};

use crate::chain::state::StateStore;

/// Committed heights tried, from the tip down, for one whose commit proof
/// the store holds (the newest committed blocks' proofs need headers that
/// are not committed yet).
const PROOF_SEARCH: u64 = 16;

#[derive(Clone, Debug, Serialize)]
pub struct StateProofView {
    pub chain: u32,
    /// The key, hex.
    pub key: String,
    /// The value, hex; `null` when the proof shows the key is absent.
    pub value: Option<String>,
    /// An object head's value, decoded (for `object/` keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectHead>,
    /// The height whose executed state this is, and its root.
    pub state_height: Height,
    pub state_root: String,
    /// SCALE-encoded `strata_chains::auth::StateProof`, hex.
    pub proof: String,
    /// The committed header naming the state and its commit proof.
    #[serde(flatten)]
    pub commit: CommitProofView,
}

/// A block's commit proof as the API shows it (`consensus::commit_proof`):
/// the block's header, the headers after it up to where the commit rule
/// holds, and the last one's certificate; each SCALE-encoded, hex.
#[derive(Clone, Debug, Serialize)]
pub struct CommitProofView {
    pub header: String,
    pub commit_headers: Vec<String>,
    pub certificate: String,
}

impl CommitProofView {
    /// `headers`: the block's header first; `certificate`: the last one's.
    pub fn new(headers: &[BlockHeader], certificate: &QuorumCertificate) -> CommitProofView {
        CommitProofView {
            header: headers
                .first()
                .map(|h| hex::encode(h.encode()))
                .unwrap_or_default(),
            commit_headers: headers
                .iter()
                .skip(1)
                .map(|h| hex::encode(h.encode()))
                .collect(),
            certificate: hex::encode(certificate.encode()),
        }
    }
}

/// Why no proof is given.
#[derive(Debug, thiserror::Error)]
pub enum StateProofError {
    #[error("no committed block with a commit proof names an executed state yet")]
    NotYet,
    #[error("{0}")]
    Store(String),
}

/// The proof of `key` in the newest state a committed, provable header
/// names.
pub fn build(
    store: &RocksStore,
    state: &StateStore,
    protocol: Protocol,
    chain: ChainId,
    key: &[u8],
) -> Result<StateProofView, StateProofError> {
    let err = |e: &dyn std::fmt::Display| StateProofError::Store(e.to_string());
    let tip = store
        .committed_tip()
        .map_err(|e| err(&e))?
        .map_or(0, |(h, _)| h);
    for height in (0..=tip).rev().take(PROOF_SEARCH as usize) {
        let Some((headers, certificate)) =
            commit_proof::build(store, protocol, height).map_err(|e| err(&e))?
        else {
            continue;
        };
        let Some(header) = headers.first() else {
            continue;
        };
        let proof = state.prove(key, header.state_height).map_err(|e| err(&e))?;
        let object = match (key.strip_prefix(OBJECT_KEY_PREFIX), &proof.value) {
            (Some(_), Some(v)) => parity_scale_codec::Decode::decode(&mut &v[..]).ok(),
            _ => None,
        };
        return Ok(StateProofView {
            chain: chain.0,
            key: hex::encode(key),
            value: proof.value.as_ref().map(hex::encode),
            object,
            state_height: header.state_height,
            state_root: header.state_root.to_hex(),
            proof: hex::encode(proof.encode()),
            commit: CommitProofView::new(&headers, &certificate),
        });
    }
    Err(StateProofError::NotYet)
}
