//! Receipts (issue 25, point 3; VOLT's verifiable receipts): everything
//! needed to check offline, with the genesis alone, that a record is in a
//! committed block of its chain and, for a local chain's record, that the
//! global chain anchored it.
//!
//! The links, in the order [`Receipt::verify`] checks them (an error names
//! the first that fails):
//! 1. `record`: a signed provenance record of this network, for the chain
//!    its block belongs to;
//! 2. `record path`: its hash's Merkle path to the block header's
//!    transaction root;
//! 3. either `block commit`: the headers above the block up to its chain's
//!    commit rule and the certificate of the last (a global record, or a
//!    local record not anchored yet: level `local`);
//! 4. or, anchored: `block link`, a state proof that the anchored local
//!    state records this block's hash at its height (`block/<height>`:
//!    one proof, never the headers in between); `anchor`, the certified
//!    local header naming that state, its certificate checked against the
//!    domain's committee; `anchor path`, the anchor transaction's Merkle
//!    path in a global block; `global commit`, that block's commit proof.
//!
//! What each level proves: `local` — the block is committed on its chain;
//! `global` — for a global record, the same; for a local record, its state
//! was anchored by a transaction in a committed global block.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;

use crate::consensus::commit_proof::{self, MAX_COMMIT_PROOF_HEADERS};
use crate::execution::{block_key, check_certified, CommitteeRecord, GenesisState};
use crate::types::{
    genesis_block, AnchorInclusion, AnchoredProof, BlockHeader, ChainId, CommitProof,
    CommitteeHandoff, Finality, GenesisParams, Height, Inclusion, ParentReceipt, Receipt,
    SignedProvenance, SystemTx, Transaction, MAX_RECEIPT_HANDOFFS,
};

/// The largest receipt a verifier reads (its committee history included).
pub const MAX_RECEIPT_BYTES: usize = 8 << 20;

impl AnchorInclusion {
    /// Checks the anchor's certificate against its domain's committee, its
    /// place in the global block and that block's commit.
    pub fn verify(&self, trust: &Trust<'_>) -> Result<(), ReceiptError> {
        let anchor = &self.anchor;
        let chain = ChainId::local(anchor.domain);
        let committee = trust
            .committee(chain, anchor.header.epoch)
            .ok_or_else(|| ReceiptError::Anchor("no committee of the domain is known".into()))?;
        check_certified(anchor, committee).map_err(|e| ReceiptError::Anchor(e.into()))?;
        let anchor_tx = Transaction::System(Box::new(SystemTx::Anchor(Box::new(anchor.clone()))));
        if self.anchor_block.header.chain != ChainId::GLOBAL {
            return Err(ReceiptError::AnchorPath("the block is not global".into()));
        }
        self.anchor_block
            .path
            .verify_hash(&self.anchor_block.header.tx_root, &anchor_tx.hash())
            .map_err(|e| ReceiptError::AnchorPath(e.to_string()))?;
        trust
            .check_commit(&self.anchor_block.header, &self.global_commit)
            .map_err(ReceiptError::GlobalCommit)
    }
}

/// What a receipt proves, in a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptSummary {
    pub record: String,
    pub object: String,
    pub op: String,
    pub chain: String,
    pub height: Height,
    /// The global height of the anchor (local records) or of the record's
    /// own block (global records); `None` for a local-only receipt.
    pub global_height: Option<Height>,
    /// The anchored local height, for anchored records.
    pub anchored_height: Option<Height>,
    pub levels: Vec<String>,
}

impl std::fmt::Display for ReceiptSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verified: record {} ({} of {:?}) on {} at height {}",
            self.record, self.op, self.object, self.chain, self.height
        )?;
        if let Some(a) = self.anchored_height {
            write!(f, ", anchored at local height {a}")?;
        }
        if let Some(g) = self.global_height {
            write!(f, ", global height {g}")?;
        }
        write!(f, "; levels: {}", self.levels.join(", "))
    }
}

/// The first link of a receipt that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("record: {0}")]
    Record(String),
    #[error("record path: {0}")]
    RecordPath(String),
    #[error("block commit: {0}")]
    BlockCommit(String),
    #[error("block link: {0}")]
    BlockLink(String),
    #[error("anchor: {0}")]
    Anchor(String),
    #[error("anchor path: {0}")]
    AnchorPath(String),
    #[error("global commit: {0}")]
    GlobalCommit(String),
    #[error("summary: {0}")]
    Summary(String),
    #[error("committee history: {0}")]
    History(String),
    #[error("{field}: {why}")]
    Format { field: String, why: String },
}

impl ReceiptError {
    /// The link's name, as `strata verify` reports it.
    pub fn link(&self) -> String {
        match self {
            ReceiptError::Record(_) => "record".into(),
            ReceiptError::RecordPath(_) => "record path".into(),
            ReceiptError::BlockCommit(_) => "block commit".into(),
            ReceiptError::BlockLink(_) => "block link".into(),
            ReceiptError::Anchor(_) => "anchor".into(),
            ReceiptError::AnchorPath(_) => "anchor path".into(),
            ReceiptError::GlobalCommit(_) => "global commit".into(),
            ReceiptError::Summary(_) => "summary".into(),
            ReceiptError::History(_) => "committee history".into(),
            ReceiptError::Format { field, .. } => field.clone(),
        }
    }
}

/// What verification needs of the genesis: the network and the committees
/// (`GenesisState`), with each chain's genesis hash derived from it.
#[derive(Clone)]
pub struct Trust<'a> {
    genesis: std::borrow::Cow<'a, GenesisState>,
    root: Digest,
    domains: u32,
    /// Epoch records learned from handoffs (`learn`).
    learned: Vec<crate::dynasty::EpochRecord>,
}

impl<'a> Trust<'a> {
    pub fn new(genesis: &'a GenesisState) -> Trust<'a> {
        let domains = genesis
            .committees
            .iter()
            .filter(|c| c.epoch == 0 && c.chain.domain().is_some())
            .count();
        Trust {
            root: genesis.root(),
            genesis: std::borrow::Cow::Borrowed(genesis),
            domains: u32::try_from(domains).unwrap_or(u32::MAX),
            learned: Vec::new(),
        }
    }

    /// The same trust, owning its genesis (to keep and grow).
    pub fn into_owned(self) -> Trust<'static> {
        Trust {
            genesis: std::borrow::Cow::Owned(self.genesis.into_owned()),
            root: self.root,
            domains: self.domains,
            learned: self.learned,
        }
    }

    /// A trust built from a chain's state (its configuration digest and
    /// the committees it records, `root` its genesis root): what an
    /// executor checks a cross-domain parent's receipt against.
    pub fn from_state(genesis: GenesisState, root: Digest, domains: u32) -> Trust<'static> {
        Trust {
            genesis: std::borrow::Cow::Owned(genesis),
            root,
            domains,
            learned: Vec::new(),
        }
    }

    fn committee(&self, chain: ChainId, epoch: u64) -> Option<&CommitteeRecord> {
        self.genesis
            .committees
            .iter()
            .find(|c| c.chain == chain && c.epoch == epoch)
    }

    /// The epoch record a verifier holds for `chain` in `epoch`: epoch 0's
    /// from the genesis (as `dynasty::genesis_updates` writes it), later
    /// ones learned.
    fn epoch_record(&self, chain: ChainId, epoch: u64) -> Option<crate::dynasty::EpochRecord> {
        if let Some(r) = self
            .learned
            .iter()
            .find(|r| r.chain == chain && r.epoch == epoch)
        {
            return Some(r.clone());
        }
        let (_, params) = self.genesis.dynasties.iter().find(|(c, _)| *c == chain)?;
        (epoch == 0).then(|| crate::dynasty::EpochRecord {
            chain,
            epoch: 0,
            start: 0,
            params: *params,
            seed: crate::dynasty::genesis_seed(&self.genesis.config, chain),
            source: crate::dynasty::SeedSource::Genesis,
        })
    }

    /// Learns a chain's next committee from the end of an epoch whose
    /// committee this trust holds (issue 26: receipts of later epochs are
    /// checked against committees learned this way, each proven by the
    /// one before, back to the genesis).
    pub fn learn(&mut self, handoff: &crate::types::CommitteeHandoff) -> Result<(), String> {
        let (chain, ending) = (handoff.change.chain, handoff.change.epoch);
        let next = ending.checked_add(1).ok_or("no epoch follows")?;
        if self.committee(chain, next).is_some() {
            return Ok(());
        }
        let committee = self
            .committee(chain, ending)
            .ok_or_else(|| format!("no committee of {chain} in epoch {ending} is known"))?;
        let record = self
            .epoch_record(chain, ending)
            .ok_or_else(|| format!("no epoch record of {chain} in epoch {ending} is known"))?;
        let members = committee.committee()?;
        commit_proof::verify_epoch_change(
            committee.protocol,
            &members,
            committee.threshold,
            crate::dynasty::epoch_end(&record),
            &handoff.change,
        )
        .map_err(|e| format!("epoch {ending} of {chain}: {e}"))?;
        let (c, e) = crate::dynasty::handoff_records(handoff)?;
        self.genesis.to_mut().committees.push(c);
        self.learned.push(e);
        Ok(())
    }

    fn domains(&self) -> u32 {
        self.domains
    }

    /// Checks that `first` is committed by `proof` under its chain's rule.
    pub fn check_commit(&self, first: &BlockHeader, proof: &CommitProof) -> Result<(), String> {
        let chain = first.chain;
        let epoch = proof.certificate.epoch;
        let record = self
            .committee(chain, epoch)
            .ok_or_else(|| format!("no committee of {chain} in epoch {epoch} is known"))?;
        let committee = record.committee()?;
        let genesis = genesis_block(GenesisParams {
            chain,
            epoch: 0,
            state_root: self.root,
        });
        let mut headers = Vec::with_capacity(proof.later.len() + 1);
        headers.push(first.clone());
        headers.extend(proof.later.iter().cloned());
        commit_proof::verify(
            record.protocol,
            chain,
            &genesis.hash(),
            &committee,
            record.threshold,
            &headers,
            &proof.certificate,
        )
        .map_err(|e| e.to_string())
    }
}

impl Receipt {
    /// Checks every link against the genesis (grown by the receipt's
    /// committee history); what the receipt proves.
    pub fn verify(&self, trust: &Trust<'_>) -> Result<ReceiptSummary, ReceiptError> {
        let p = match &self.tx {
            Transaction::Provenance(p) => p,
            Transaction::Linked(l) => &l.record,
            _ => return Err(ReceiptError::Record("not a provenance record".into())),
        };
        let hash = self.tx.hash();
        super::history::checked_with(trust, &self.history, &self.block, &self.finality, |t| {
            verify_parts(t, p, hash, &self.block, &self.finality)
        })
    }
}

impl ParentReceipt {
    /// Checks the parent record's receipt against `trust`, grown by the
    /// receipt's committee history.
    pub fn verify(&self, trust: &Trust<'_>) -> Result<ReceiptSummary, ReceiptError> {
        let hash = self.tx_hash();
        super::history::checked_with(trust, &self.history, &self.block, &self.finality, |t| {
            verify_parts(t, &self.record, hash, &self.block, &self.finality)
        })
    }
}

/// The checks of a receipt of `record`, whose transaction hashes to
/// `tx_hash`, in `block` with `finality`.
fn verify_parts(
    trust: &Trust<'_>,
    p: &SignedProvenance,
    tx_hash: Digest,
    block: &Inclusion,
    finality: &Finality,
) -> Result<ReceiptSummary, ReceiptError> {
    let r = &p.record;
    let chain = block.header.chain;
    if r.network != trust.genesis.config {
        return Err(ReceiptError::Record("signed for another network".into()));
    }
    p.verify()
        .map_err(|e| ReceiptError::Record(format!("signature: {e}")))?;
    if r.home_chain(trust.domains()) != Some(chain) {
        return Err(ReceiptError::Record(format!(
            "its domain's chain is not the block's ({chain})"
        )));
    }
    block
        .path
        .verify_hash(&block.header.tx_root, &tx_hash)
        .map_err(|e| ReceiptError::RecordPath(e.to_string()))?;
    let height = block.header.height;
    let mut summary = ReceiptSummary {
        record: tx_hash.to_hex(),
        object: String::from_utf8_lossy(&r.object_id).into_owned(),
        op: format!("{:?}", r.op).to_lowercase(),
        chain: chain.to_string(),
        height,
        global_height: None,
        anchored_height: None,
        levels: Vec::new(),
    };
    match finality {
        Finality::Committed(commit) => {
            trust
                .check_commit(&block.header, commit)
                .map_err(ReceiptError::BlockCommit)?;
            if chain == ChainId::GLOBAL {
                summary.global_height = Some(height);
                summary.levels = vec!["global".into()];
            } else {
                summary.levels = vec!["local".into()];
            }
        }
        Finality::Anchored(a) => {
            let anchored = check_anchored(trust, &block.header, a)?;
            summary.anchored_height = Some(anchored);
            summary.global_height = Some(a.anchored.anchor_block.header.height);
            summary.levels = vec!["local".into(), "global".into()];
        }
    }
    Ok(summary)
}

/// The anchored links of a block; the anchored local height.
fn check_anchored(
    trust: &Trust<'_>,
    block: &BlockHeader,
    a: &AnchoredProof,
) -> Result<Height, ReceiptError> {
    let anchor = &a.anchored.anchor;
    let anchored = anchor.header.state_height;
    if block.chain.domain() != Some(anchor.domain) {
        return Err(ReceiptError::BlockLink(
            "the anchor is of another domain".into(),
        ));
    }
    if block.height > anchored {
        return Err(ReceiptError::BlockLink(format!(
            "the block (height {}) is above the anchored height {anchored}",
            block.height
        )));
    }
    if a.block_link.key != block_key(block.height)
        || a.block_link.value.as_deref() != Some(&block.hash().0[..])
    {
        return Err(ReceiptError::BlockLink(
            "it is not the proof of this block's hash at its height".into(),
        ));
    }
    a.block_link
        .verify(&anchor.header.state_root)
        .map_err(|e| ReceiptError::BlockLink(e.to_string()))?;
    a.anchored.verify(trust)?;
    Ok(anchored)
}

/// A receipt as JSON (`GET /v1/tx/{hash}/receipt`): each link SCALE-encoded
/// in hex under its name, and a summary for people that verification
/// checks too (a summary that says more than the links is refused).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiptJson {
    pub format: String,
    pub summary: ReceiptSummary,
    pub record: String,
    pub block_header: String,
    pub record_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_commit: Option<CommitJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchored: Option<AnchoredJson>,
    /// The committee handoffs the links need beyond the genesis (hex).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommitJson {
    pub headers: Vec<String>,
    pub certificate: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AnchoredJson {
    pub block_link: String,
    pub anchor: String,
    pub anchor_block_header: String,
    pub anchor_path: String,
    pub global_commit: CommitJson,
}

/// The format tag of JSON receipts.
pub const RECEIPT_FORMAT: &str = "strata-receipt/1";

fn hex_of<T: Encode>(v: &T) -> String {
    hex::encode(v.encode())
}

fn from_hex<T: Decode>(field: &str, s: &str) -> Result<T, ReceiptError> {
    let format = |why: String| ReceiptError::Format {
        field: field.to_string(),
        why,
    };
    let bytes = hex::decode(s).map_err(|e| format(format!("not hex: {e}")))?;
    strata_crypto::codec::decode_message(&bytes, MAX_RECEIPT_BYTES)
        .map_err(|e| format(format!("does not decode: {e}")))
}

impl CommitJson {
    fn of(c: &CommitProof) -> CommitJson {
        CommitJson {
            headers: c.later.iter().map(hex_of).collect(),
            certificate: hex_of(&c.certificate),
        }
    }

    fn parse(&self, field: &str) -> Result<CommitProof, ReceiptError> {
        if self.headers.len() > MAX_COMMIT_PROOF_HEADERS {
            return Err(ReceiptError::Format {
                field: format!("{field}.headers"),
                why: "too many headers".into(),
            });
        }
        let later = self
            .headers
            .iter()
            .map(|h| from_hex(&format!("{field}.headers"), h))
            .collect::<Result<Vec<BlockHeader>, _>>()?;
        Ok(CommitProof {
            later: BoundedVec::new(later).map_err(|e| ReceiptError::Format {
                field: format!("{field}.headers"),
                why: e.to_string(),
            })?,
            certificate: from_hex(&format!("{field}.certificate"), &self.certificate)?,
        })
    }
}

impl Receipt {
    /// The JSON form, with the summary `verify` gave.
    pub fn to_json(&self, summary: ReceiptSummary) -> ReceiptJson {
        let (block_commit, anchored) = match &self.finality {
            Finality::Committed(c) => (Some(CommitJson::of(c)), None),
            Finality::Anchored(a) => (
                None,
                Some(AnchoredJson {
                    block_link: hex_of(&a.block_link),
                    anchor: hex_of(&a.anchored.anchor),
                    anchor_block_header: hex_of(&a.anchored.anchor_block.header),
                    anchor_path: hex_of(&a.anchored.anchor_block.path),
                    global_commit: CommitJson::of(&a.anchored.global_commit),
                }),
            ),
        };
        ReceiptJson {
            format: RECEIPT_FORMAT.into(),
            summary,
            record: hex_of(&self.tx),
            block_header: hex_of(&self.block.header),
            record_path: hex_of(&self.block.path),
            block_commit,
            anchored,
            history: self.history.iter().map(hex_of).collect(),
        }
    }
}

impl ReceiptJson {
    /// The receipt its links make.
    pub fn parse(&self) -> Result<Receipt, ReceiptError> {
        if self.format != RECEIPT_FORMAT {
            return Err(ReceiptError::Format {
                field: "format".into(),
                why: format!("expected {RECEIPT_FORMAT:?}"),
            });
        }
        let finality = match (&self.block_commit, &self.anchored) {
            (Some(c), None) => Finality::Committed(Box::new(c.parse("block_commit")?)),
            (None, Some(a)) => Finality::Anchored(Box::new(AnchoredProof {
                block_link: from_hex("anchored.block_link", &a.block_link)?,
                anchored: AnchorInclusion {
                    anchor: from_hex("anchored.anchor", &a.anchor)?,
                    anchor_block: Inclusion {
                        header: from_hex("anchored.anchor_block_header", &a.anchor_block_header)?,
                        path: from_hex("anchored.anchor_path", &a.anchor_path)?,
                    },
                    global_commit: a.global_commit.parse("anchored.global_commit")?,
                },
            })),
            _ => {
                return Err(ReceiptError::Format {
                    field: "block_commit".into(),
                    why: "a receipt has either block_commit or anchored".into(),
                })
            }
        };
        if self.history.len() > MAX_RECEIPT_HANDOFFS {
            return Err(ReceiptError::Format {
                field: "history".into(),
                why: "too many handoffs".into(),
            });
        }
        let history = self
            .history
            .iter()
            .map(|h| from_hex("history", h))
            .collect::<Result<Vec<CommitteeHandoff>, _>>()?;
        Ok(Receipt {
            tx: from_hex("record", &self.record)?,
            block: Inclusion {
                header: from_hex("block_header", &self.block_header)?,
                path: from_hex("record_path", &self.record_path)?,
            },
            finality,
            history: BoundedVec::new(history).map_err(|e| ReceiptError::Format {
                field: "history".into(),
                why: e.to_string(),
            })?,
        })
    }

    /// Parses and verifies; the summary must be what the links prove.
    pub fn verify(&self, trust: &Trust<'_>) -> Result<ReceiptSummary, ReceiptError> {
        let proven = self.parse()?.verify(trust)?;
        if proven != self.summary {
            return Err(ReceiptError::Summary(
                "it does not say what the links prove".into(),
            ));
        }
        Ok(proven)
    }
}
