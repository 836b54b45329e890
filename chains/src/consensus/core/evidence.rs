//! Equivocation and proofs of misbehaviour: the first signed statement of
//! each signer per slot, the conflict that makes a proof, and the proofs
//! this node publishes and takes in from others.

use std::collections::{BTreeMap, BTreeSet};

use strata_crypto::hash::Digest;

use super::ConsensusCore;
use crate::consensus::Action;
use crate::types::{ConsensusMessage, Evidence, Round, SignedStatement, Statement};

/// First-seen statements per (slot, signer, kind), to catch equivocation.
#[derive(Debug, Default)]
pub(super) struct EquivocationTracker {
    pub(super) first: BTreeMap<(Round, u32, u8), (SignedStatement, bool)>,
    pub(super) reported: BTreeSet<(Round, u32, u8)>,
}

pub(super) enum Seen {
    New,
    Repeat,
    Conflict(Box<Evidence>),
    Ignore,
}

impl ConsensusCore {
    pub(super) fn observe_proposal(&mut self, statement: &SignedStatement, out: &mut Vec<Action>) {
        if let Seen::Conflict(e) = self.observe_statement(statement, false) {
            self.publish_evidence(*e, out);
        }
    }

    /// A proof this node found: kept by the host and gossiped to the
    /// committee, so that every member convicts the offender.
    pub(super) fn publish_evidence(&mut self, e: Evidence, out: &mut Vec<Action>) {
        let id = Digest::of_encoding("strata/evidence", &e);
        if self.known_evidence.contains(&id) {
            return;
        }
        self.known_evidence.insert(id);
        self.stats.evidence_emitted += 1;
        out.push(Action::Evidence(e.clone()));
        out.push(Action::Broadcast(ConsensusMessage::Evidence(Box::new(e))));
    }

    /// A proof another member publishes: checked (two signatures or two
    /// certificates) once, then kept by the host like one found here. A
    /// proof that does not verify is the sender's misdeed.
    pub(super) fn handle_evidence(&mut self, from: u32, e: Evidence, out: &mut Vec<Action>) {
        let id = Digest::of_encoding("strata/evidence", &e);
        if self.known_evidence.contains(&id) {
            return;
        }
        if self.failed.contains(&id) {
            return self.misbehaviour(from, "invalid evidence", out);
        }
        let (chain, epoch) = match &e {
            Evidence::Equivocation { first, .. } => (first.data.chain, first.data.epoch),
            Evidence::ConflictingCertificates { first, .. } => (first.chain, first.epoch),
        };
        if !self.in_scope(chain, epoch) {
            return self.unhelpful(from, "evidence for another chain or epoch", out);
        }
        let verdict = e.verify(
            self.protocol(),
            self.cfg.chain,
            self.cfg.epoch,
            &self.genesis_hash,
            &self.cfg.committee,
            self.cfg.threshold,
        );
        match verdict {
            Ok(_) => {
                self.known_evidence.insert(id);
                self.stats.evidence_received += 1;
                out.push(Action::Evidence(e));
            }
            Err(_) => {
                self.failed.insert(id);
                self.misbehaviour(from, "invalid evidence", out);
            }
        }
    }

    /// Records a signed proposal or vote; reports a conflict with the first
    /// statement of the same signer in the same slot (both verified).
    pub(super) fn observe_statement(&mut self, s: &SignedStatement, verified: bool) -> Seen {
        let kind = match s.data.statement {
            Statement::Proposal { .. } => 0u8,
            Statement::Vote { .. } => 1,
            Statement::Timeout { .. } => return Seen::New,
        };
        if !self.tracks_equivocation_at(s.data.round) {
            return Seen::New;
        }
        let key = (self.protocol().vote_slot(s.data.round), s.signer, kind);
        let Some((first, first_ok)) = self.equivocation.first.get(&key).cloned() else {
            self.equivocation.first.insert(key, (s.clone(), verified));
            return Seen::New;
        };
        if first.data == s.data {
            return Seen::Repeat;
        }
        if self.equivocation.reported.contains(&key) {
            return Seen::Ignore;
        }
        let (chain, epoch) = (self.cfg.chain, self.cfg.epoch);
        let valid = |x: &SignedStatement| x.verify(chain, epoch, &self.cfg.committee).is_ok();
        if !verified && !valid(s) {
            return Seen::Ignore;
        }
        if !first_ok && !valid(&first) {
            self.equivocation.first.insert(key, (s.clone(), true));
            return Seen::Ignore;
        }
        self.equivocation.reported.insert(key);
        Seen::Conflict(Box::new(Evidence::Equivocation {
            first,
            second: s.clone(),
        }))
    }
}
