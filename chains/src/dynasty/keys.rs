//! A validator's secret keys and the signed transactions made with them:
//! what `strata keygen` writes, what a node's dynasty actor and the
//! simulator take part with, and what tests register.

use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::hash::Digest;
use strata_crypto::pvss::PvssSecretKey;
use strata_crypto::sr25519::TxKeypair;
use strata_crypto::vrf::VrfSecretKey;
use strata_crypto::SecretKey;

use super::participant::{Participant, ParticipantKeys};
use crate::types::dynasty::MAX_ADMINS;
use crate::types::{
    Approval, ChainId, Reconfigure, ReconfigureTx, RegistryAction, RegistryChange, RegistryTx,
    ValidatorInfo, ValidatorTier,
};

/// Everything a validator signs and draws with, and where it serves.
#[derive(Clone)]
pub struct ValidatorKeys {
    pub bls: SecretKey,
    pub vrf: VrfSecretKey,
    pub pvss: PvssSecretKey,
    pub tier: ValidatorTier,
    pub domain: Option<u32>,
    pub peer_id: String,
    pub weight: u64,
}

impl ValidatorKeys {
    pub fn generate<R: RngCore + CryptoRng>(
        rng: &mut R,
        tier: ValidatorTier,
        domain: Option<u32>,
        weight: u64,
    ) -> ValidatorKeys {
        ValidatorKeys {
            bls: SecretKey::random(rng),
            vrf: VrfSecretKey::random(rng),
            pvss: PvssSecretKey::random(rng),
            tier,
            domain,
            peer_id: String::new(),
            weight,
        }
    }

    /// Keys drawn from a seed (tests and the simulator).
    pub fn seeded(
        seed: u64,
        tier: ValidatorTier,
        domain: Option<u32>,
        weight: u64,
    ) -> ValidatorKeys {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        ValidatorKeys::generate(&mut rng, tier, domain, weight)
    }

    /// The public record it registers.
    pub fn info(&self) -> ValidatorInfo {
        ValidatorInfo {
            key: self.bls.public_key(),
            proof_of_possession: self.bls.prove_possession(),
            vrf_key: self.vrf.public_key(),
            pvss_key: self.pvss.public_key(),
            tier: self.tier,
            domain: self.domain,
            peer_id: BoundedBytes::new(self.peer_id.as_bytes().to_vec()).unwrap_or_default(),
            weight: self.weight,
        }
    }

    /// Its part in `chain`'s dynasties.
    pub fn participant(&self, chain: ChainId) -> Participant {
        Participant::new(
            chain,
            ParticipantKeys {
                bls: self.bls.clone(),
                vrf: self.vrf.clone(),
                pvss: self.pvss.clone(),
            },
        )
    }

    /// A signed registry change of this validator (approvals added by
    /// [`approve`]).
    pub fn change(&self, network: &Digest, sequence: u64, action: RegistryAction) -> RegistryTx {
        let change = RegistryChange {
            validator: self.bls.public_key(),
            sequence,
            action,
        };
        let signature = self.bls.sign(&change.signing_digest(network).0);
        RegistryTx {
            change,
            validator_signature: Some(signature),
            approvals: BoundedVec::default(),
        }
    }

    /// Its registration.
    pub fn register(&self, network: &Digest, sequence: u64) -> RegistryTx {
        self.change(
            network,
            sequence,
            RegistryAction::Register(Box::new(self.info())),
        )
    }
}

/// Approvals of `digest` by the administrators given with their positions.
pub fn approve(digest: &Digest, admins: &[(u32, &TxKeypair)]) -> BoundedVec<Approval, MAX_ADMINS> {
    let approvals: Vec<Approval> = admins
        .iter()
        .take(MAX_ADMINS)
        .map(|(admin, key)| Approval {
            admin: *admin,
            signature: key.sign_deterministic(&digest.0),
        })
        .collect();
    BoundedVec::new(approvals).unwrap_or_default()
}

/// A registry change with the administrators' approvals.
pub fn approved_change(
    mut tx: RegistryTx,
    network: &Digest,
    admins: &[(u32, &TxKeypair)],
) -> RegistryTx {
    tx.approvals = approve(&tx.change.signing_digest(network), admins);
    tx
}

/// A reconfiguration with the administrators' approvals.
pub fn approved_reconfigure(
    reconfigure: Reconfigure,
    network: &Digest,
    admins: &[(u32, &TxKeypair)],
) -> ReconfigureTx {
    let approvals = approve(&reconfigure.signing_digest(network), admins);
    ReconfigureTx {
        reconfigure,
        approvals,
    }
}
