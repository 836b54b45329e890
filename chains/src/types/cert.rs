//! Signed statements and the certificates made of them.
//!
//! Everything a validator signs is a [`VoteData`]: (chain, epoch, round,
//! statement), so a signature can never be replayed on another chain, in
//! another epoch, or as another kind of statement. A quorum of votes on a
//! block is a [`QuorumCertificate`]; a quorum of timeouts on a view is a
//! [`TimeoutCertificate`]. Both carry the crypto crate's one certificate
//! type: an aggregate signature with a signer bitmap.

use parity_scale_codec::{Decode, Encode};
use strata_crypto::bls::SignatureCheck;
use strata_crypto::codec::BoundedVec;
use strata_crypto::committee::{Committee, QuorumThreshold};
use strata_crypto::hash::Digest;
use strata_crypto::qc::{QcError, QuorumCert};
use strata_crypto::{SecretKey, Signature};

use super::limits::MAX_COMMITTEE;
use super::{ChainId, Epoch, Round, View};

/// How a chain's committees certify (issue 27; genesis `certificate`,
/// changed by a reconfiguration): `Multisig`, an aggregate of the members'
/// own signatures with a bitmap; `Threshold`, the one signature of the
/// epoch's DKG group key that any t vote shares combine into (a chain's
/// first epoch, and an epoch whose DKG failed, certify by multisig: no
/// group key exists for them).
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CertificateKind {
    #[default]
    #[codec(index = 0)]
    Multisig,
    #[codec(index = 1)]
    Threshold,
}

impl CertificateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateKind::Multisig => "multisig",
            CertificateKind::Threshold => "threshold",
        }
    }
}

/// What a signature attests.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode)]
pub enum Statement {
    /// "I propose this block" (the leader's signature on its block).
    #[codec(index = 0)]
    Proposal { block: Digest },
    /// "I vote for this block" (the basic phase's vote).
    #[codec(index = 1)]
    Vote { block: Digest },
    /// "I leave this view; my highest certificate is at `high_qc`."
    #[codec(index = 2)]
    Timeout { high_qc: Round },
}

/// The signed content of every statement.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode)]
pub struct VoteData {
    pub chain: ChainId,
    pub epoch: Epoch,
    /// The block's round; for a timeout, `(view, 0)`.
    pub round: Round,
    pub statement: Statement,
}

impl VoteData {
    /// The bytes given to BLS (which hashes them to the curve).
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = b"strata/vote/v1".to_vec();
        self.encode_to(&mut out);
        out
    }
}

/// Why a signed statement or certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("signed for chain {got}, expected {expected}")]
    WrongChain { expected: ChainId, got: ChainId },
    #[error("signed for epoch {got}, expected {expected}")]
    WrongEpoch { expected: Epoch, got: Epoch },
    #[error("signer {0} is not in the committee")]
    UnknownSigner(u32),
    #[error("signature does not verify")]
    BadSignature,
    #[error("certificate without signatures that is not this chain's genesis certificate")]
    NotGenesis,
    #[error("timeout certificate lists {rounds} rounds for {signers} signers")]
    RoundsMismatch { rounds: usize, signers: usize },
    #[error("timeout statement does not match its certificate")]
    InconsistentTimeout,
    #[error(transparent)]
    Quorum(#[from] QcError),
}

fn check_scope(
    chain: ChainId,
    epoch: Epoch,
    want_chain: ChainId,
    want_epoch: Epoch,
) -> Result<(), CertError> {
    if chain != want_chain {
        return Err(CertError::WrongChain {
            expected: want_chain,
            got: chain,
        });
    }
    if epoch != want_epoch {
        return Err(CertError::WrongEpoch {
            expected: want_epoch,
            got: epoch,
        });
    }
    Ok(())
}

/// One validator's signed statement (a vote, a proposal's signature, a
/// timeout).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SignedStatement {
    pub data: VoteData,
    /// Position of the signer in the epoch's committee.
    pub signer: u32,
    pub signature: Signature,
}

impl SignedStatement {
    pub fn sign(data: VoteData, signer: u32, key: &SecretKey) -> SignedStatement {
        SignedStatement {
            data,
            signer,
            signature: key.sign(&data.signing_bytes()),
        }
    }

    /// Checks the scope, the signer and the signature.
    pub fn verify(
        &self,
        chain: ChainId,
        epoch: Epoch,
        committee: &Committee,
    ) -> Result<(), CertError> {
        self.signature_check(chain, epoch, committee)?
            .verify()
            .map_err(|_| CertError::BadSignature)
    }

    /// The scope and signer checks of `verify`; the pairing check is
    /// returned, to run alone or in a batch.
    pub fn signature_check(
        &self,
        chain: ChainId,
        epoch: Epoch,
        committee: &Committee,
    ) -> Result<SignatureCheck, CertError> {
        check_scope(self.data.chain, self.data.epoch, chain, epoch)?;
        // A vote of a threshold committee is a share: checked against the
        // member's share key (proposals and timeouts: its own key).
        let key = match self.data.statement {
            Statement::Vote { .. } => committee.vote_key(self.signer as usize),
            _ => committee.member(self.signer as usize).map(|m| m.key),
        }
        .ok_or(CertError::UnknownSigner(self.signer))?;
        Ok(SignatureCheck::single(
            self.data.signing_bytes(),
            &key,
            &self.signature,
        ))
    }
}

/// A quorum's votes on a block; `cert` is `None` only for the genesis
/// certificate, which every node accepts by definition.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct QuorumCertificate {
    pub chain: ChainId,
    pub epoch: Epoch,
    pub round: Round,
    pub block: Digest,
    pub cert: Option<QuorumCert>,
}

impl QuorumCertificate {
    /// The certificate of a genesis block.
    pub fn genesis(chain: ChainId, epoch: Epoch, genesis: Digest) -> QuorumCertificate {
        QuorumCertificate {
            chain,
            epoch,
            round: Round::GENESIS,
            block: genesis,
            cert: None,
        }
    }

    /// The certificate of the block an epoch starts from: the genesis in
    /// epoch 0, the previous epoch's last block after (whose commit its
    /// committee proved: `types::EpochChange`). Unsigned; a core accepts
    /// exactly this one (`consensus::core`).
    pub fn start_of(
        chain: ChainId,
        epoch: Epoch,
        start: &super::block::BlockHeader,
    ) -> QuorumCertificate {
        QuorumCertificate {
            chain,
            epoch,
            round: start.round(),
            block: start.hash(),
            cert: None,
        }
    }

    /// What each vote in this certificate signed.
    pub fn vote_data(&self) -> VoteData {
        VoteData {
            chain: self.chain,
            epoch: self.epoch,
            round: self.round,
            statement: Statement::Vote { block: self.block },
        }
    }

    /// Checks the certificate against the chain's genesis and committee.
    pub fn verify(
        &self,
        chain: ChainId,
        epoch: Epoch,
        genesis: &Digest,
        committee: &Committee,
        threshold: QuorumThreshold,
    ) -> Result<(), CertError> {
        match self.signature_check(chain, epoch, genesis, committee, threshold)? {
            None => Ok(()),
            Some(check) => check
                .verify()
                .map_err(|e| CertError::Quorum(QcError::BadSignature(e))),
        }
    }

    /// The checks of `verify` short of the pairing, which is returned (none
    /// for the genesis certificate) to run alone or in a batch.
    pub fn signature_check(
        &self,
        chain: ChainId,
        epoch: Epoch,
        genesis: &Digest,
        committee: &Committee,
        threshold: QuorumThreshold,
    ) -> Result<Option<SignatureCheck>, CertError> {
        check_scope(self.chain, self.epoch, chain, epoch)?;
        match &self.cert {
            None if self.round == Round::GENESIS && self.block == *genesis => Ok(None),
            None => Err(CertError::NotGenesis),
            Some(qc) => Ok(Some(qc.signature_check(
                committee,
                threshold,
                self.vote_data().signing_bytes(),
            )?)),
        }
    }

    /// A digest identifying the certificate's content, for caching checks.
    pub fn id(&self) -> Digest {
        Digest::of("strata/qc-id", &self.encode())
    }
}

/// A validator leaving a view, with its highest certificate (so the next
/// leader can extend it) and the certificate that ended the previous view.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct TimeoutMessage {
    pub statement: SignedStatement,
    pub high_qc: QuorumCertificate,
    pub last_tc: Option<TimeoutCertificate>,
}

impl TimeoutMessage {
    pub fn view(&self) -> View {
        self.statement.data.round.view
    }

    /// The statement must be a timeout naming `high_qc`'s round.
    pub fn is_consistent(&self) -> bool {
        self.statement.data.round.height == 0
            && self.statement.data.statement
                == Statement::Timeout {
                    high_qc: self.high_qc.round,
                }
    }
}

/// A quorum's timeouts for one view. Each signer signed its own highest
/// certified round; they are listed in signer order, so the maximum is known
/// and verifiable (Jolteon's rule for the first block of the next view).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct TimeoutCertificate {
    pub chain: ChainId,
    pub epoch: Epoch,
    pub view: View,
    pub high_qc_rounds: BoundedVec<Round, MAX_COMMITTEE>,
    pub cert: QuorumCert,
}

impl TimeoutCertificate {
    /// The highest certified round among the signers.
    pub fn max_high_qc(&self) -> Round {
        self.high_qc_rounds
            .iter()
            .copied()
            .max()
            .unwrap_or(Round::GENESIS)
    }

    pub fn timeout_data(chain: ChainId, epoch: Epoch, view: View, high_qc: Round) -> VoteData {
        VoteData {
            chain,
            epoch,
            round: Round::new(view, 0),
            statement: Statement::Timeout { high_qc },
        }
    }

    pub fn verify(
        &self,
        chain: ChainId,
        epoch: Epoch,
        committee: &Committee,
        threshold: QuorumThreshold,
    ) -> Result<(), CertError> {
        check_scope(self.chain, self.epoch, chain, epoch)?;
        let signers: Vec<usize> = self.cert.signers.iter_ones().collect();
        if signers.len() != self.high_qc_rounds.len() {
            return Err(CertError::RoundsMismatch {
                rounds: self.high_qc_rounds.len(),
                signers: signers.len(),
            });
        }
        let round_of = |i: usize| {
            let pos = signers.binary_search(&i).expect("signer from the bitmap");
            self.high_qc_rounds[pos]
        };
        self.cert.verify_per_signer(committee, threshold, |i| {
            Self::timeout_data(self.chain, self.epoch, self.view, round_of(i)).signing_bytes()
        })?;
        Ok(())
    }

    pub fn id(&self) -> Digest {
        Digest::of("strata/tc-id", &self.encode())
    }
}
