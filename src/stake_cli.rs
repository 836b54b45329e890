//! `strata stake` (issue 27, point 4; CloudPoS §IV-C): the
//! provider certifies a validator's locked resources (VMCREATE: `certify`
//! writes the signed certificate to a file it hands the validator), and
//! the validator declares its stake with that certificate (`declare`):
//! its usage Rᵘ and greediness γ, signed with its BLS key, posted to a
//! node, which checks it with the executor's rule (the provider's
//! signature, the lock covering γ(R − Rᵘ), the expiry) and answers with
//! the reason when it refuses. `show` prints what the chain records.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_actors::keys;
use strata_chains::types::stake::{Greediness, StakeCertificate, StakeDeclaration};
use strata_chains::types::{Resources, StakeTx, SystemTx};
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxSignature;
use strata_crypto::PublicKey;

use crate::client::Client;
use crate::dynasty_cli::{network_of, submit};

#[derive(Debug, clap::Subcommand)]
pub enum StakeCmd {
    /// As the provider: certify that a validator's stake instance locks
    /// resources, and write the signed certificate to a file.
    Certify {
        /// A node of the network (its genesis digest is signed).
        #[arg(long)]
        node: String,
        /// The provider's transaction key (the genesis's `[stake].provider`).
        #[arg(long)]
        provider_key: PathBuf,
        /// The validator's BLS public key (hex).
        #[arg(long)]
        validator: String,
        /// R: what the validator is allocated, "cpu,mem,net" (slices, KiB, Kbps).
        #[arg(long)]
        allocated: String,
        /// What its stake instance locks, "cpu,mem,net".
        #[arg(long)]
        locked: String,
        /// The first global epoch the lock no longer covers.
        #[arg(long)]
        expires: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// As the validator: declare a stake with the provider's certificate.
    Declare {
        #[arg(long)]
        node: String,
        /// Directory of the validator's key files (NAME.bls).
        #[arg(long)]
        keys: PathBuf,
        #[arg(long)]
        name: String,
        /// The file `strata stake certify` wrote.
        #[arg(long)]
        certificate: PathBuf,
        /// Rᵘ: what it needs for its own business, "cpu,mem,net".
        #[arg(long)]
        usage: String,
        /// γ per resource in percent (0 < γ ≤ 100), "cpu,mem,net".
        #[arg(long)]
        greediness: String,
        #[arg(long)]
        no_wait: bool,
    },
    /// What the chains record of a validator's stake and credit.
    Show {
        #[arg(long)]
        node: String,
        /// The validator's BLS public key (hex).
        validator: String,
    },
}

/// The certificate as a file: what the provider signed, and its signature.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFile {
    pub validator: String,
    pub allocated: [u64; 3],
    pub locked: [u64; 3],
    pub instance: String,
    pub expires: u64,
    pub provider_signature: String,
}

fn triple(field: &str, s: &str) -> Result<[u64; 3], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [cpu, mem, net] = parts.as_slice() else {
        return Err(format!("--{field}: three numbers, \"cpu,mem,net\""));
    };
    let n = |v: &str| {
        v.parse::<u64>()
            .map_err(|e| format!("--{field}: {v:?} is not a number: {e}"))
    };
    Ok([n(cpu)?, n(mem)?, n(net)?])
}

fn bls_key(field: &str, s: &str) -> Result<PublicKey, String> {
    let bytes = hex::decode(s.trim()).map_err(|e| format!("{field}: not hex: {e}"))?;
    PublicKey::from_bytes(&bytes).map_err(|e| format!("{field}: not a BLS public key: {e}"))
}

impl CertificateFile {
    fn certificate(&self) -> Result<(StakeCertificate, TxSignature), String> {
        let sig = hex::decode(&self.provider_signature)
            .ok()
            .and_then(|b| TxSignature::from_bytes(&b).ok())
            .ok_or("provider_signature: not a signature")?;
        Ok((
            StakeCertificate {
                validator: bls_key("validator", &self.validator)?,
                allocated: Resources::from_parts(self.allocated),
                locked: Resources::from_parts(self.locked),
                instance: Digest::from_hex(&self.instance).map_err(|e| format!("instance: {e}"))?,
                expires: self.expires,
            },
            sig,
        ))
    }
}

pub fn run(cmd: &StakeCmd) -> Result<Value, String> {
    match cmd {
        StakeCmd::Certify {
            node,
            provider_key,
            validator,
            allocated,
            locked,
            expires,
            out,
        } => {
            let provider = keys::read_tx_key(provider_key).map_err(|e| e.to_string())?;
            let network = network_of(&Client::new(node))?;
            let validator = bls_key("--validator", validator)?;
            let (allocated, locked) = (
                Resources::from_parts(triple("allocated", allocated)?),
                Resources::from_parts(triple("locked", locked)?),
            );
            // Δ: the instance's identity, as the provider would name the
            // VM it started (here: what it locks, for whom, until when).
            let instance = Digest::of_encoding(
                "strata/stake-instance/v1",
                &(&network, &validator, &locked, expires),
            );
            let cert = StakeCertificate {
                validator,
                allocated,
                locked,
                instance,
                expires: *expires,
            };
            let sig = provider.sign(&cert.signing_digest(&network).0);
            let file = CertificateFile {
                validator: hex::encode(validator.to_bytes()),
                allocated: allocated.parts(),
                locked: locked.parts(),
                instance: instance.to_hex(),
                expires: *expires,
                provider_signature: hex::encode(sig.to_bytes()),
            };
            let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
            std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))?;
            Ok(
                serde_json::json!({ "certificate": out.display().to_string(), "instance": instance.to_hex() }),
            )
        }
        StakeCmd::Declare {
            node,
            keys: dir,
            name,
            certificate,
            usage,
            greediness,
            no_wait,
        } => {
            let bls =
                keys::read_bls(&dir.join(format!("{name}.bls"))).map_err(|e| e.to_string())?;
            let text = std::fs::read_to_string(certificate)
                .map_err(|e| format!("{}: {e}", certificate.display()))?;
            let file: CertificateFile = serde_json::from_str(&text)
                .map_err(|e| format!("{}: {e}", certificate.display()))?;
            let (cert, provider_signature) = file
                .certificate()
                .map_err(|e| format!("{}: {e}", certificate.display()))?;
            if cert.validator != bls.public_key() {
                return Err(format!(
                    "{}: the certificate is for another validator",
                    certificate.display()
                ));
            }
            let [g_cpu, g_mem, g_net] = triple("greediness", greediness)?;
            let bps = |p: u64| u16::try_from(p.saturating_mul(100)).unwrap_or(u16::MAX);
            let c = Client::new(node);
            let network = network_of(&c)?;
            let now = c
                .get_ok(&format!(
                    "/v1/stake/{}",
                    hex::encode(cert.validator.to_bytes())
                ))
                .map_err(|e| e.to_string())?;
            let declaration = StakeDeclaration {
                sequence: now["global"]["next_sequence"].as_u64().unwrap_or(0),
                usage: Resources::from_parts(triple("usage", usage)?),
                greediness: Greediness {
                    cpu: bps(g_cpu),
                    mem: bps(g_mem),
                    net: bps(g_net),
                },
                certificate: cert,
                provider_signature,
            };
            let tx = StakeTx {
                validator_signature: bls.sign(&declaration.signing_digest(&network).0),
                declaration,
            };
            submit(node, &SystemTx::Stake(tx), *no_wait, &|| Ok(()))
        }
        StakeCmd::Show { node, validator } => Client::new(node)
            .get_ok(&format!("/v1/stake/{validator}"))
            .map_err(|e| e.to_string()),
    }
}
