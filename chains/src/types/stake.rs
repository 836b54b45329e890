//! Resource stake (CloudPoS §IV-B/C; docs/design.md §5; issue 27,
//! point 4): the forms of a stake declaration and of the provider's
//! certificate that locks it, and the stake arithmetic. What executing
//! one does to the state is the dynasty stake module's (`dynasty/stake.rs`).
//!
//! A cloud or edge validator is allocated resources R = ⟨cpu, mem, net⟩
//! by the provider, uses Rᵘ of them for its own business and stakes, with
//! greediness γ ∈ (0, 1] per resource, X = γ(R − Rᵘ) (eq. 1–4). The
//! provider locks X in an instance nobody can use (VMCREATE) and signs a
//! certificate naming the allocation, what the instance locks, the
//! instance's identity Δ and the global epoch from which the lock is no
//! longer guaranteed; anyone checks that certificate against the provider
//! key the genesis names (VMVERIFY, made offline-checkable). A validator
//! counts with weight ‖X‖, each component first divided by the genesis
//! scaling so CPU slices, kilobytes and Kbps weigh comparably.
//!
//! All arithmetic is in integers: γ in basis points, products in 128 bits,
//! the norm by integer square root. No float decides a weight.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::{TxPublicKey, TxSignature};
use strata_crypto::{PublicKey, Signature};

use super::Epoch;

/// One amount per resource: CPU slices, memory (KiB), network rate (Kbps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Resources {
    pub cpu: u64,
    pub mem: u64,
    pub net: u64,
}

/// The resources by name, in a fixed order (for checks and reasons).
pub const RESOURCE_NAMES: [&str; 3] = ["cpu", "mem", "net"];

impl Resources {
    pub fn parts(&self) -> [u64; 3] {
        [self.cpu, self.mem, self.net]
    }

    pub fn from_parts([cpu, mem, net]: [u64; 3]) -> Resources {
        Resources { cpu, mem, net }
    }
}

/// Greediness γ per resource, in basis points: 1 ..= 10,000 is (0, 1].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Greediness {
    pub cpu: u16,
    pub mem: u16,
    pub net: u16,
}

impl Greediness {
    pub const WHOLE_BPS: u16 = 10_000;

    pub fn parts(&self) -> [u16; 3] {
        [self.cpu, self.mem, self.net]
    }
}

/// What the genesis says about stake: whose certificates lock it, and how
/// resource units become weight (units of each resource per unit of
/// weight, each at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StakePolicy {
    pub provider: TxPublicKey,
    pub scaling: Resources,
}

/// The provider's certificate of a locked stake (VMCREATE's output).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StakeCertificate {
    pub validator: PublicKey,
    /// R: what the provider allocated to the validator.
    pub allocated: Resources,
    /// What the stake instance locks away from the validator.
    pub locked: Resources,
    /// Δ: the stake instance's identity.
    pub instance: Digest,
    /// The first global epoch the lock no longer covers.
    pub expires: Epoch,
}

impl StakeCertificate {
    /// What the provider signs (bound to the network).
    pub fn signing_digest(&self, network: &Digest) -> Digest {
        Digest::of_encoding("strata/stake-certificate/v1", &(network, self))
    }
}

/// A validator's stake: its usage and greediness, and the provider's
/// certificate of the lock.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StakeDeclaration {
    /// How many stake declarations of this validator executed before.
    pub sequence: u64,
    /// Rᵘ: what it needs for its own business (averaged at the epoch's
    /// start, fixed through the epoch: §IV-B).
    pub usage: Resources,
    pub greediness: Greediness,
    pub certificate: StakeCertificate,
    pub provider_signature: TxSignature,
}

impl StakeDeclaration {
    /// What the validator signs (bound to the network).
    pub fn signing_digest(&self, network: &Digest) -> Digest {
        Digest::of_encoding("strata/stake-declaration/v1", &(network, self))
    }
}

/// A stake declaration signed by the validator's BLS key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StakeTx {
    pub declaration: StakeDeclaration,
    pub validator_signature: Signature,
}

/// Why a stake does not count, for the submitter and the block's record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StakeRefusal {
    #[error("this network names no stake provider in its genesis")]
    NoProvider,
    #[error("forged: the stake certificate is not signed by the genesis provider key")]
    Forged,
    #[error("the declaration is not signed by the validator the certificate names")]
    Unsigned,
    #[error("the stake certificate expired: it covers epochs before {expires}, and the global chain is in epoch {epoch}")]
    Expired { expires: Epoch, epoch: Epoch },
    #[error("greediness of {resource} is {bps} basis points, outside 1..=10000 (γ in (0, 1])")]
    Greediness { resource: &'static str, bps: u16 },
    #[error("over-claimed {resource}: usage {usage} exceeds the allocation {allocated}")]
    UsageAboveAllocation {
        resource: &'static str,
        usage: u64,
        allocated: u64,
    },
    #[error("over-claimed {resource}: the stake γ(R − Rᵘ) = {staked} exceeds the {locked} the certificate locks")]
    OverClaimed {
        resource: &'static str,
        staked: u64,
        locked: u64,
    },
    #[error("the stake weighs nothing at this network's scaling")]
    Zero,
    #[error("stake declaration out of sequence (replayed or early)")]
    Sequence,
    #[error("not a registered validator")]
    NotRegistered,
    #[error("IoT validators weigh by credit (available time), not stake")]
    NotStaking,
    #[error("the validator is convicted on this chain")]
    Convicted,
}

/// A checked stake: X and the weight ‖X‖ it counts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Stake {
    pub staked: Resources,
    pub weight: u64,
}

/// Checks a declaration's arithmetic and signatures against `policy` on
/// network `network` with the global chain in `epoch`: the provider signed
/// the certificate, the validator signed the declaration, the lock still
/// holds, γ is in (0, 1], Rᵘ ≤ R, and γ(R − Rᵘ) is no more than what the
/// certificate locks, per resource. The weight is ‖X / scaling‖.
pub fn assess(
    policy: &StakePolicy,
    network: &Digest,
    epoch: Epoch,
    tx: &StakeTx,
) -> Result<Stake, StakeRefusal> {
    let d = &tx.declaration;
    let cert = &d.certificate;
    policy
        .provider
        .verify(&cert.signing_digest(network).0, &d.provider_signature)
        .map_err(|_| StakeRefusal::Forged)?;
    tx.validator_signature
        .verify(&d.signing_digest(network).0, &cert.validator)
        .map_err(|_| StakeRefusal::Unsigned)?;
    if epoch >= cert.expires {
        return Err(StakeRefusal::Expired {
            expires: cert.expires,
            epoch,
        });
    }
    let staked = staked(d)?;
    let weight = weight_of(&staked, &policy.scaling);
    if weight == 0 {
        return Err(StakeRefusal::Zero);
    }
    Ok(Stake { staked, weight })
}

/// X = γ(R − Rᵘ) per resource, rounded down, each within what the
/// certificate locks.
pub fn staked(d: &StakeDeclaration) -> Result<Resources, StakeRefusal> {
    let cert = &d.certificate;
    let mut out = [0u64; 3];
    for (i, resource) in RESOURCE_NAMES.iter().copied().enumerate() {
        let (allocated, usage, locked, bps) = (
            cert.allocated.parts()[i],
            d.usage.parts()[i],
            cert.locked.parts()[i],
            d.greediness.parts()[i],
        );
        if bps == 0 || bps > Greediness::WHOLE_BPS {
            return Err(StakeRefusal::Greediness { resource, bps });
        }
        let free = allocated
            .checked_sub(usage)
            .ok_or(StakeRefusal::UsageAboveAllocation {
                resource,
                usage,
                allocated,
            })?;
        // free < 2^64 and bps ≤ 10^4: the product fits in 128 bits, and
        // the quotient is at most free.
        let x = u128::from(free) * u128::from(bps) / u128::from(Greediness::WHOLE_BPS);
        let x = u64::try_from(x).unwrap_or(free);
        if x > locked {
            return Err(StakeRefusal::OverClaimed {
                resource,
                staked: x,
                locked,
            });
        }
        out[i] = x;
    }
    Ok(Resources::from_parts(out))
}

/// ‖X / scaling‖: the Euclidean norm of the scaled components, by
/// integer square root (a scaling of 0 counts as 1).
pub fn weight_of(staked: &Resources, scaling: &Resources) -> u64 {
    let mut sum: u128 = 0;
    for (x, s) in staked.parts().into_iter().zip(scaling.parts()) {
        let c = u128::from(x / s.max(1));
        sum = sum.saturating_add(c.saturating_mul(c));
    }
    u64::try_from(sum.isqrt()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_is_the_integer_norm_of_the_scaled_stake() {
        let one = Resources {
            cpu: 1,
            mem: 1,
            net: 1,
        };
        let x = Resources {
            cpu: 3,
            mem: 4,
            net: 0,
        };
        assert_eq!(weight_of(&x, &one), 5);
        let scaled = Resources {
            cpu: 3,
            mem: 4096 * 4,
            net: 0,
        };
        let scaling = Resources {
            cpu: 1,
            mem: 4096,
            net: 1000,
        };
        assert_eq!(weight_of(&scaled, &scaling), 5);
        // No overflow at the extremes: the norm of three u64::MAX is
        // capped by the saturating sum, not wrapped.
        let max = Resources::from_parts([u64::MAX; 3]);
        assert!(weight_of(&max, &Resources::default()) >= u64::MAX - 1);
        assert_eq!(weight_of(&Resources::default(), &one), 0);
    }
}
