//! Transactions: provenance records signed by devices and clients, and the
//! system transactions of anchoring, registration, dynasties and blame
//! (docs/design.md §6). The SCALE variant indices are fixed, so variants added
//! later never change the encoding of existing ones.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::{TxKeypair, TxPublicKey, TxSigError, TxSignature};

use super::block::BlockHeader;
use super::cert::QuorumCertificate;
use super::dynasty::{
    Candidacy, CommitteeHandoff, DkgComplaintTx, DkgDealTx, PvssDealTx, PvssRevealTx,
    ReconfigureTx, RegistryTx, MAX_ANCHOR_HANDOFFS,
};
use super::evidence::Evidence;
use super::limits::*;
use super::receipt::ParentReceipt;
use super::stake::StakeTx;
use super::ChainId;
use super::Height;
use crate::auth::StateProof;

/// An object's identifier (at most 128 bytes, usually a readable name).
pub type ObjectId = BoundedBytes<MAX_OBJECT_ID>;

/// What happened to the data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode)]
pub enum Op {
    #[codec(index = 0)]
    Create,
    #[codec(index = 1)]
    Read,
    #[codec(index = 2)]
    Update,
    #[codec(index = 3)]
    Transfer,
    #[codec(index = 4)]
    Derive,
    #[codec(index = 5)]
    Delete,
}

impl std::str::FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Op, String> {
        Ok(match s {
            "create" => Op::Create,
            "read" => Op::Read,
            "update" => Op::Update,
            "transfer" => Op::Transfer,
            "derive" => Op::Derive,
            "delete" => Op::Delete,
            _ => {
                return Err(format!(
                    "unknown operation {s:?} (create, read, update, transfer, derive, delete)"
                ))
            }
        })
    }
}

/// A free-form metadata entry, bounded.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct MetaEntry {
    pub key: BoundedBytes<MAX_META_KEY>,
    pub value: BoundedBytes<MAX_META_VALUE>,
}

/// Hash domain of the digest a record's sender signs.
pub const PROVENANCE_SIGNING_DOMAIN: &str = "strata/provenance/v1";

/// A provenance record (VOLT's verifiable ledger entry).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Provenance {
    /// The network the record is for: its genesis digest. Part of what the
    /// sender signs, so a record signed for one network (a testnet, say)
    /// is not valid on another.
    pub network: Digest,
    /// The edge domain that owns `object_id`.
    pub domain: u32,
    pub object_id: ObjectId,
    pub op: Op,
    /// Digest of the data itself; the data stays off-chain.
    pub payload_digest: Digest,
    /// Objects this one derives from or is transferred from.
    pub parents: BoundedVec<ObjectId, MAX_PARENTS>,
    pub meta: BoundedVec<MetaEntry, MAX_META>,
    pub sender: TxPublicKey,
    /// Per-sender sequence number; a replayed record reuses a spent nonce.
    pub nonce: u64,
    /// The sender's clock, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl Provenance {
    /// What the sender signs (under the sr25519 context of Strata): the
    /// record's domain-separated SHA-256 digest, not the record itself.
    /// schnorrkel absorbs the message into a Keccak transcript, which costs
    /// ~10% of a batched verification for a 470-byte record; SHA-256 has
    /// hardware support on the machines nodes run on, and a device signs
    /// 32 bytes whatever the record's size (hash-then-sign, as Ed25519ph).
    pub fn signing_digest(&self) -> Digest {
        Digest::of_encoding(PROVENANCE_SIGNING_DOMAIN, self)
    }

    pub fn sign(self, key: &TxKeypair) -> SignedProvenance {
        let signature = key.sign(self.signing_digest().as_bytes());
        SignedProvenance {
            record: self,
            signature,
        }
    }

    /// Signs reproducibly (see `TxKeypair::sign_deterministic`).
    pub fn sign_deterministic(self, key: &TxKeypair) -> SignedProvenance {
        let signature = key.sign_deterministic(self.signing_digest().as_bytes());
        SignedProvenance {
            record: self,
            signature,
        }
    }
}

/// A provenance record with its sender's signature.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SignedProvenance {
    pub record: Provenance,
    pub signature: TxSignature,
}

impl SignedProvenance {
    pub fn verify(&self) -> Result<(), TxSigError> {
        self.record
            .sender
            .verify(self.record.signing_digest().as_bytes(), &self.signature)
    }
}

/// A local chain's checkpoint submitted to the global chain (issue 25;
/// the rules are `execution/anchor.rs`'s). What it anchors is the state
/// its certified header names: the state after `header.state_height`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Anchor {
    pub domain: u32,
    /// A certified header of the domain's local chain.
    pub header: BlockHeader,
    /// The local committee's certificate of `header`.
    pub qc: QuorumCertificate,
    /// The hash of the block at `header.state_height`, proven against
    /// `header.state_root`.
    pub tip: StateProof,
    /// The block the domain's last anchor recorded, proven against
    /// `header.state_root` (none for a domain's first anchor).
    pub link: Option<StateProof>,
    /// The domain's committees of the epochs after the last one the global
    /// state records, up to the header's, each proven from the end of the
    /// epoch before (issue 26, point 7; usually none, one at a boundary).
    pub handoffs: BoundedVec<CommitteeHandoff, MAX_ANCHOR_HANDOFFS>,
}

impl Anchor {
    /// The local height whose state is anchored.
    pub fn anchored_height(&self) -> Height {
        self.header.state_height
    }
}

/// Transactions the system itself issues.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum SystemTx {
    #[codec(index = 0)]
    Anchor(Box<Anchor>),
    /// A change to the validator registry (`types::dynasty`).
    #[codec(index = 1)]
    Registry(RegistryTx),
    #[codec(index = 2)]
    Candidacy(Candidacy),
    #[codec(index = 3)]
    PvssDeal(PvssDealTx),
    #[codec(index = 4)]
    PvssReveal(PvssRevealTx),
    #[codec(index = 5)]
    Reconfigure(ReconfigureTx),
    #[codec(index = 6)]
    Evidence(Evidence),
    #[codec(index = 7)]
    DkgDeal(DkgDealTx),
    #[codec(index = 8)]
    DkgComplaint(DkgComplaintTx),
    /// A validator's resource stake (CloudPoS; `types::stake`).
    #[codec(index = 9)]
    Stake(StakeTx),
}

impl SystemTx {
    /// What kind it is, for logs and answers.
    pub fn kind(&self) -> &'static str {
        match self {
            SystemTx::Anchor(_) => "anchor",
            SystemTx::Registry(_) => "registry",
            SystemTx::Candidacy(_) => "candidacy",
            SystemTx::PvssDeal(_) => "pvss-deal",
            SystemTx::PvssReveal(_) => "pvss-reveal",
            SystemTx::Reconfigure(_) => "reconfigure",
            SystemTx::Evidence(_) => "evidence",
            SystemTx::DkgDeal(_) => "dkg-deal",
            SystemTx::DkgComplaint(_) => "dkg-complaint",
            SystemTx::Stake(_) => "stake",
        }
    }

    /// Whether `chain` takes this transaction: anchors go to the global
    /// chain; a registry change to the global chain and to the domain of
    /// the validator it names (each executes it against its own roster);
    /// the dynasty transactions to the chain they name.
    pub fn goes_to(&self, chain: ChainId) -> bool {
        match self {
            SystemTx::Anchor(_) => chain == ChainId::GLOBAL,
            SystemTx::Registry(_) => true,
            SystemTx::Candidacy(c) => c.chain == chain,
            SystemTx::PvssDeal(d) => d.context.chain == chain.0,
            SystemTx::PvssReveal(r) => r.chain == chain,
            SystemTx::Reconfigure(r) => r.reconfigure.chain == chain,
            SystemTx::Evidence(e) => e.scope().0 == chain,
            SystemTx::DkgDeal(d) => d.chain == chain,
            SystemTx::DkgComplaint(c) => c.chain == chain,
            SystemTx::Stake(_) => chain == ChainId::GLOBAL,
        }
    }
}

/// A transaction on any chain. Provenance records, nearly all of a block,
/// stay inline; the rare system transactions are boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Transaction {
    #[codec(index = 0)]
    Provenance(SignedProvenance),
    #[codec(index = 1)]
    System(Box<SystemTx>),
    /// Bytes ordered without interpretation or signature check; accepted
    /// only by chains configured for opaque payloads (ordering benchmarks).
    #[codec(index = 2)]
    Opaque(BoundedBytes<MAX_OPAQUE_TX>),
    /// A provenance record with parents in other domains, and the receipts
    /// proving those parents globally final.
    #[codec(index = 3)]
    Linked(Box<LinkedRecord>),
}

/// The metadata key naming a cross-domain parent record by its hash (hex),
/// under the record's signature.
pub const PARENT_RECORD_KEY: &[u8] = b"parent-record";

/// A provenance record whose parents include objects of other domains
/// (issue 25, point 5): it names each such parent's record by hash in its
/// metadata (`parent-record`), and carries their receipts; its executor
/// accepts it only if each receipt proves that record globally final.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct LinkedRecord {
    pub record: SignedProvenance,
    pub parents: BoundedVec<ParentReceipt, MAX_LINKED_PARENTS>,
}

impl LinkedRecord {
    /// The digest of the parents' receipts (part of the transaction's hash).
    pub fn links(&self) -> Digest {
        Digest::of_encoding("strata/linked-parents", &self.parents)
    }
}

/// The hash of a linked record's transaction: the record and the digest of
/// its parents' receipts (so a receipt of it never carries them).
pub fn linked_hash(record: &SignedProvenance, links: &Digest) -> Digest {
    let mut h = strata_crypto::hash::Hasher::new("strata/linked-tx");
    h.update(&record.encode()).update(&links.0);
    h.finalize()
}

impl Transaction {
    /// The transaction's identifier: the hash of its encoding (a linked
    /// record's: [`linked_hash`]).
    pub fn hash(&self) -> Digest {
        match self {
            Transaction::Linked(l) => linked_hash(&l.record, &l.links()),
            _ => Digest::of_encoding("strata/tx", self),
        }
    }

    /// The provenance record a transaction carries, if any.
    pub fn provenance(&self) -> Option<&SignedProvenance> {
        match self {
            Transaction::Provenance(p) => Some(p),
            Transaction::Linked(l) => Some(&l.record),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(nonce: u64, key: &TxKeypair) -> SignedProvenance {
        Provenance {
            network: Digest::ZERO,
            domain: 0,
            object_id: ObjectId::new(b"sensor-7/reading".to_vec()).unwrap(),
            op: Op::Update,
            payload_digest: Digest::of("data", &nonce.to_le_bytes()),
            parents: BoundedVec::empty(),
            meta: BoundedVec::new(vec![MetaEntry {
                key: BoundedBytes::new(b"unit".to_vec()).unwrap(),
                value: BoundedBytes::new(b"celsius".to_vec()).unwrap(),
            }])
            .unwrap(),
            sender: key.public(),
            nonce,
            timestamp_ms: 1_700_000_000_000 + nonce,
        }
        .sign(key)
    }

    #[test]
    fn provenance_signatures_bind_every_field() {
        let key = TxKeypair::from_seed(&[3; 32]);
        let tx = record(1, &key);
        assert_eq!(tx.verify(), Ok(()));
        let mut replayed = tx.clone();
        replayed.record.nonce = 2;
        assert_eq!(replayed.verify(), Err(TxSigError::InvalidSignature));
        let mut moved = tx.clone();
        moved.record.domain = 1;
        assert!(moved.verify().is_err());
    }

    #[test]
    fn transactions_round_trip_and_hash_their_encoding() {
        let key = TxKeypair::from_seed(&[4; 32]);
        let tx = Transaction::Provenance(record(9, &key));
        let bytes = tx.encode();
        let back = Transaction::decode(&mut &bytes[..]).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.hash(), tx.hash());
        assert_ne!(Transaction::Provenance(record(10, &key)).hash(), tx.hash());
    }

    #[test]
    fn oversized_fields_are_refused_when_decoding() {
        let key = TxKeypair::from_seed(&[5; 32]);
        let mut bytes = Transaction::Provenance(record(1, &key)).encode();
        // The object id's compact length prefix sits after the variant byte
        // and the domain: claim 129 bytes.
        let id_len_at = 1 + 4;
        let long = parity_scale_codec::Compact(129u32).encode();
        bytes.splice(id_len_at..id_len_at + 1, long);
        assert!(Transaction::decode(&mut &bytes[..]).is_err());
    }

    #[test]
    fn operations_parse() {
        assert_eq!("derive".parse::<Op>(), Ok(Op::Derive));
        assert!("erase".parse::<Op>().is_err());
    }
}
