//! Key files: one hex line per secret, readable only by its owner.

use std::path::Path;

use rand_core_shim::fill_random;
use strata_crypto::pvss::PvssSecretKey;
use strata_crypto::sr25519::TxKeypair;
use strata_crypto::vrf::VrfSecretKey;
use strata_crypto::SecretKey;
use strata_net::identity;

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

fn err(path: &Path, message: impl std::fmt::Display) -> KeyError {
    KeyError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Writes a secret as hex, with owner-only permissions.
pub fn write_secret(path: &Path, secret: &[u8]) -> Result<(), KeyError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(path, e))?;
    }
    // Owner-only before a byte of the secret is written: a new file is
    // created 0600, and an existing one (an overwritten key) is emptied
    // and narrowed first.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| err(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(path, e))?;
    }
    use std::io::Write;
    file.write_all(format!("{}\n", hex::encode(secret)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| err(path, e))?;
    Ok(())
}

fn read_secret(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
    let bytes = hex::decode(text.trim()).map_err(|e| err(path, format!("not hex: {e}")))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| err(path, format!("expected 32 bytes, got {}", b.len())))
}

pub fn read_bls(path: &Path) -> Result<SecretKey, KeyError> {
    SecretKey::from_bytes(&read_secret(path)?).map_err(|e| err(path, e))
}

pub fn read_network(path: &Path) -> Result<identity::Keypair, KeyError> {
    Ok(strata_net::identity_from_secret(read_secret(path)?))
}

pub fn read_tx_key(path: &Path) -> Result<TxKeypair, KeyError> {
    Ok(TxKeypair::from_seed(&read_secret(path)?))
}

pub fn read_vrf(path: &Path) -> Result<VrfSecretKey, KeyError> {
    VrfSecretKey::from_bytes(read_secret(path)?).map_err(|e| err(path, e))
}

pub fn read_pvss(path: &Path) -> Result<PvssSecretKey, KeyError> {
    PvssSecretKey::from_bytes(read_secret(path)?).map_err(|e| err(path, e))
}

/// Fresh secrets for a validator: BLS, network identity, a transaction key
/// for its own records, and the keys of its dynasty draws (VRF) and
/// RandShare shares (PVSS).
pub struct GeneratedKeys {
    pub bls: [u8; 32],
    pub network: [u8; 32],
    pub tx: [u8; 32],
    pub vrf: [u8; 32],
    pub pvss: [u8; 32],
}

pub fn generate() -> GeneratedKeys {
    let mut ikm = [0u8; 32];
    fill_random(&mut ikm);
    let bls = SecretKey::from_seed(&ikm)
        .expect("32 bytes of key material")
        .to_bytes();
    let mut network = [0u8; 32];
    fill_random(&mut network);
    let mut tx = [0u8; 32];
    fill_random(&mut tx);
    let vrf = VrfSecretKey::random(&mut rand::rngs::OsRng).to_bytes();
    let pvss = PvssSecretKey::random(&mut rand::rngs::OsRng).to_bytes();
    GeneratedKeys {
        bls,
        network,
        tx,
        vrf,
        pvss,
    }
}

/// The public VRF key of a VRF secret.
pub fn vrf_public(secret: [u8; 32]) -> Result<[u8; 32], strata_crypto::vrf::VrfError> {
    Ok(VrfSecretKey::from_bytes(secret)?.public_key().to_bytes())
}

/// The public PVSS key of a PVSS secret.
pub fn pvss_public(secret: [u8; 32]) -> Result<[u8; 32], strata_crypto::pvss::PvssError> {
    Ok(PvssSecretKey::from_bytes(secret)?.public_key().to_bytes())
}

/// The peer id of a network secret.
pub fn peer_id_of(network_secret: [u8; 32]) -> strata_net::PeerId {
    strata_net::identity_from_secret(network_secret)
        .public()
        .to_peer_id()
}

mod rand_core_shim {
    use rand::RngCore;

    pub fn fill_random(buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_bad_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let keys = generate();
        let p = dir.path().join("k/node.bls");
        write_secret(&p, &keys.bls).unwrap();
        assert_eq!(read_bls(&p).unwrap().to_bytes(), keys.bls);
        std::fs::write(&p, "zz").unwrap();
        let e = read_bls(&p).unwrap_err().to_string();
        assert!(e.contains("node.bls") && e.contains("not hex"), "{e}");
        let n = dir.path().join("n.key");
        write_secret(&n, &keys.network).unwrap();
        assert_eq!(
            read_network(&n).unwrap().public().to_peer_id(),
            peer_id_of(keys.network)
        );
        let v = dir.path().join("n.vrf");
        write_secret(&v, &keys.vrf).unwrap();
        assert_eq!(read_vrf(&v).unwrap().to_bytes(), keys.vrf);
        let s = dir.path().join("n.pvss");
        write_secret(&s, &keys.pvss).unwrap();
        assert_eq!(read_pvss(&s).unwrap().to_bytes(), keys.pvss);
        write_secret(&s, &[0u8; 32]).unwrap();
        assert!(read_pvss(&s).is_err(), "a zero PVSS key is refused");
    }

    #[cfg(unix)]
    #[test]
    fn secrets_are_owner_only_even_over_a_world_readable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.bls");
        write_secret(&fresh, &[7; 32]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), 0o600);
        let old = dir.path().join("old.bls");
        std::fs::write(&old, "a previous secret, longer than the new one\n").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_secret(&old, &[7; 32]).unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(
            std::fs::read_to_string(&old).unwrap(),
            format!("{}\n", hex::encode([7u8; 32]))
        );
    }
}
