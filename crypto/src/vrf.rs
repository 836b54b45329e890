//! Verifiable random function: RFC 9381 ECVRF-RISTRETTO255-SHA512 (the
//! c2sp.org/vrf-r255 ciphersuite) via `vrf-r255`.
//!
//! Used for sortition (docs/design.md §4): a validator's output on the epoch seed
//! decides its seats, and its proof lets everyone check that decision.

use parity_scale_codec::{Decode, Encode, Input, Output};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest as _, Sha512};

pub const VRF_SECRET_KEY_LEN: usize = 32;
pub const VRF_PUBLIC_KEY_LEN: usize = 32;
/// Gamma (32) ‖ c (16) ‖ s (32).
pub const VRF_PROOF_LEN: usize = 80;
pub const VRF_OUTPUT_LEN: usize = 64;

/// Suite string and proof-to-hash framing of c2sp.org/vrf-r255 (RFC 9381
/// §5.2): the output is a function of Gamma alone, so a prover can compute
/// it from its own proof without verifying it.
const SUITE_STRING: &[u8] = b"\xFFc2sp.org/vrf-r255";
const PROOF_TO_HASH_FRONT: u8 = 0x03;
const PROOF_TO_HASH_BACK: u8 = 0x00;

/// Why VRF input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VrfError {
    #[error("VRF secret key is not a canonical non-zero scalar")]
    InvalidSecretKey,
    #[error("VRF public key is not a valid ristretto255 point")]
    InvalidPublicKey,
    #[error("VRF proof encoding is malformed")]
    MalformedProof,
    #[error("VRF proof does not verify")]
    InvalidProof,
}

#[derive(Clone)]
pub struct VrfSecretKey(vrf_r255::SecretKey);

impl VrfSecretKey {
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> VrfSecretKey {
        VrfSecretKey(vrf_r255::SecretKey::generate(rng))
    }

    pub fn from_bytes(bytes: [u8; VRF_SECRET_KEY_LEN]) -> Result<VrfSecretKey, VrfError> {
        Option::from(vrf_r255::SecretKey::from_bytes(bytes))
            .map(VrfSecretKey)
            .ok_or(VrfError::InvalidSecretKey)
    }

    pub fn to_bytes(&self) -> [u8; VRF_SECRET_KEY_LEN] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> VrfPublicKey {
        let pk = vrf_r255::PublicKey::from(self.0);
        VrfPublicKey {
            bytes: pk.to_bytes(),
            key: pk,
        }
    }

    /// Evaluates the VRF on `input`, returning the output and its proof.
    pub fn prove(&self, input: &[u8]) -> (VrfOutput, VrfProof) {
        let proof = VrfProof(self.0.prove(input).to_bytes());
        (proof.output(), proof)
    }
}

impl std::fmt::Debug for VrfSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VrfSecretKey(<redacted>)")
    }
}

#[derive(Clone, Copy)]
pub struct VrfPublicKey {
    key: vrf_r255::PublicKey,
    bytes: [u8; VRF_PUBLIC_KEY_LEN],
}

impl VrfPublicKey {
    pub fn from_bytes(bytes: [u8; VRF_PUBLIC_KEY_LEN]) -> Result<VrfPublicKey, VrfError> {
        vrf_r255::PublicKey::from_bytes(bytes)
            .map(|key| VrfPublicKey { key, bytes })
            .ok_or(VrfError::InvalidPublicKey)
    }

    pub fn to_bytes(&self) -> [u8; VRF_PUBLIC_KEY_LEN] {
        self.bytes
    }

    /// Verifies `proof` for `input` and returns the VRF output.
    pub fn verify(&self, input: &[u8], proof: &VrfProof) -> Result<VrfOutput, VrfError> {
        let parsed = vrf_r255::Proof::from_bytes(proof.0).ok_or(VrfError::MalformedProof)?;
        Option::<[u8; VRF_OUTPUT_LEN]>::from(self.key.verify(input, &parsed))
            .map(VrfOutput)
            .ok_or(VrfError::InvalidProof)
    }
}

impl PartialEq for VrfPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for VrfPublicKey {}

impl std::fmt::Debug for VrfPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VrfPublicKey({})", &hex::encode(self.bytes)[..16])
    }
}

impl Encode for VrfPublicKey {
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&self.bytes)
    }
}

impl Decode for VrfPublicKey {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let bytes = <[u8; VRF_PUBLIC_KEY_LEN]>::decode(input)?;
        VrfPublicKey::from_bytes(bytes).map_err(|_| "invalid VRF public key".into())
    }
}

/// A VRF proof, kept as bytes; parsed when verified.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct VrfProof(pub [u8; VRF_PROOF_LEN]);

impl VrfProof {
    /// ECVRF_proof_to_hash: the output this proof attests (meaningful only
    /// once the proof has been verified, or for one's own proof).
    fn output(&self) -> VrfOutput {
        let mut h = Sha512::new();
        h.update(SUITE_STRING);
        h.update([PROOF_TO_HASH_FRONT]);
        h.update(&self.0[..32]);
        h.update([PROOF_TO_HASH_BACK]);
        VrfOutput(h.finalize().into())
    }
}

impl std::fmt::Debug for VrfProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VrfProof({})", &hex::encode(self.0)[..16])
    }
}

/// A VRF output (beta string).
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct VrfOutput(pub [u8; VRF_OUTPUT_LEN]);

impl std::fmt::Debug for VrfOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VrfOutput({})", &hex::encode(self.0)[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// The test vector of c2sp.org/vrf-r255.
    #[test]
    fn known_answer_vector() {
        let sk = VrfSecretKey::from_bytes(unhex(
            "3431c2b03533e280b23232e280b34e2c3132c2b03238e280b23131e280b34500",
        ))
        .unwrap();
        let pk = sk.public_key();
        assert_eq!(
            pk.to_bytes(),
            unhex::<32>("54136cd90d99fbd1d4e855d9556efea87ba0337f2a6ce22028d0f5726fcb854e")
        );
        let alpha = hex::decode("633273702e6f72672f7672662d72323535").unwrap();
        let (output, proof) = sk.prove(&alpha);
        assert_eq!(proof.0, unhex::<80>("0a97d961262fb549b4175c5117860f42ae44a123f93c476c439eddd1c0cff9265c805525233e2284dbed45e593b8eea31d5ca9734d72bcbba9738d5237f955f3b2422351149d1312503b6441a47c940c"));
        let beta = unhex::<64>("dd653f0879b48c3ef69e13551239bec4cbcc1c18fe8894de2e9e1c790e18273603bf1c6c25d7a797aeff3c43fd32b974d3fcbd4bcce916007097922a3ea3a794");
        assert_eq!(output.0, beta);
        assert_eq!(pk.verify(&alpha, &proof), Ok(VrfOutput(beta)));
    }

    #[test]
    fn prover_output_equals_verified_output() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        for i in 0..8u8 {
            let sk = VrfSecretKey::random(&mut rng);
            let (out, proof) = sk.prove(&[i; 5]);
            assert_eq!(sk.public_key().verify(&[i; 5], &proof), Ok(out));
        }
    }

    #[test]
    fn rejects_wrong_input_key_and_tampered_proofs() {
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let sk = VrfSecretKey::random(&mut rng);
        let other = VrfSecretKey::random(&mut rng).public_key();
        let (_, proof) = sk.prove(b"seed");
        let pk = sk.public_key();
        assert_eq!(pk.verify(b"seeds", &proof), Err(VrfError::InvalidProof));
        assert_eq!(other.verify(b"seed", &proof), Err(VrfError::InvalidProof));
        let mut tampered = proof;
        tampered.0[40] ^= 1;
        assert_eq!(pk.verify(b"seed", &tampered), Err(VrfError::InvalidProof));
        let mut garbage = proof;
        garbage.0[..32].copy_from_slice(&[0xff; 32]);
        assert_eq!(pk.verify(b"seed", &garbage), Err(VrfError::MalformedProof));
    }

    #[test]
    fn rejects_bad_keys() {
        assert_eq!(
            VrfPublicKey::from_bytes([0xff; 32]).unwrap_err(),
            VrfError::InvalidPublicKey
        );
        assert_eq!(
            VrfSecretKey::from_bytes([0xff; 32]).unwrap_err(),
            VrfError::InvalidSecretKey
        );
        let bytes = [0xffu8; 32].encode();
        assert!(VrfPublicKey::decode(&mut &bytes[..]).is_err());
    }
}
