//! The dynasty simulator's own checks, and what other parts (anchors,
//! receipt verifiers) take from a simulated chain's real epochs.
use super::*;

fn check(protocol: Protocol, seed: u64, faults: FaultSet) -> DynastySimReport {
    let cfg = DynastySimConfig::new(protocol, seed, faults);
    let r = run_dynasty(&cfg);
    assert!(r.passed(), "{}", r.failure_text(&cfg));
    r
}

/// The handoff from `e` to `e + 1` a process can serve: its store's
/// end of `e` and its state's proofs of the next committee.
fn handoff_of(p: &Proc, chain: ChainId, e: Epoch) -> crate::types::CommitteeHandoff {
    let change = p.store.epoch_change(e).unwrap().unwrap();
    let at = change.blocks.last().unwrap().header.state_height;
    crate::types::CommitteeHandoff {
        committee: p
            .state
            .prove(&crate::execution::committee_key(chain, e + 1), at)
            .unwrap(),
        epoch: p
            .state
            .prove(&crate::dynasty::epoch_record_key(chain, e + 1), at)
            .unwrap(),
        change,
    }
}

/// A fault-free HotStuff run through several epochs (seed 4).
fn hotstuff_config() -> DynastySimConfig {
    DynastySimConfig::new(Protocol::HotStuff, 4, FaultSet::default())
}

fn ran(cfg: &DynastySimConfig) -> DynastySim<'_> {
    let mut sim = DynastySim::new(cfg);
    sim.execute();
    assert!(sim.liveness_failure.is_none(), "{:?}", sim.liveness_failure);
    sim
}

/// The process that executed the most.
fn furthest<'a>(sim: &'a DynastySim<'_>) -> &'a Proc {
    sim.procs
        .iter()
        .max_by_key(|p| p.state.applied_height())
        .expect("processes")
}

/// A receipt verifier learns the committee history from the genesis:
/// each epoch's committee proven by the one before.
#[test]
fn a_verifier_learns_the_committee_history_and_checks_later_commits() {
    use crate::consensus::commit_proof;
    use crate::types::CommitProof;
    let cfg = hotstuff_config();
    let sim = ran(&cfg);
    let (chain, p) = (sim.chain, furthest(&sim));
    let record = crate::dynasty::epoch_record(&p.state, chain, 2)
        .unwrap()
        .unwrap();
    let (headers, certificate) =
        commit_proof::build(&p.store, Protocol::HotStuff, record.start + 3)
            .unwrap()
            .unwrap();
    let first = headers[0].clone();
    let proof = CommitProof {
        later: BoundedVec::new(headers[1..].to_vec()).unwrap(),
        certificate,
    };
    let mut trust = crate::anchor::Trust::new(&sim.genesis_state);
    assert!(
        trust.check_commit(&first, &proof).is_err(),
        "epoch 2 unknown yet"
    );
    assert!(trust.learn(&handoff_of(p, chain, 1)).is_err(), "1 before 0");
    let mut forged = handoff_of(p, chain, 0);
    forged.committee = handoff_of(p, chain, 1).committee;
    assert!(
        trust.learn(&forged).is_err(),
        "a proof of another epoch's committee"
    );
    trust.learn(&handoff_of(p, chain, 0)).unwrap();
    trust.learn(&handoff_of(p, chain, 1)).unwrap();
    trust.check_commit(&first, &proof).unwrap();
}

/// The receipt of the first record committed in epoch 2, with the
/// committee history from the genesis on and its commit's certificate as
/// a node serves it (`commit_proof::compact`).
fn receipt_in_epoch_2(p: &Proc, chain: ChainId) -> crate::anchor::Receipt {
    use crate::anchor::{Finality, Inclusion, Receipt};
    use crate::consensus::commit_proof;
    use crate::types::{CommitProof, Payload, Transaction};
    let start = crate::dynasty::epoch_record(&p.state, chain, 2)
        .unwrap()
        .unwrap()
        .start;
    // The first block of epoch 2 that carries a record.
    let (block, tx) = (start + 1..start + 100)
        .filter_map(|h| p.store.block_at(h).unwrap())
        .find_map(|b| {
            let Payload::Inline(txs) = &b.payload else {
                return None;
            };
            let tx = txs
                .iter()
                .find(|t| matches!(t, Transaction::Provenance(_)))?
                .clone();
            Some((b, tx))
        })
        .expect("a record committed in epoch 2");
    let Payload::Inline(txs) = &block.payload else {
        unreachable!()
    };
    let hashes: Vec<_> = txs.iter().map(Transaction::hash).collect();
    let index = hashes.iter().position(|h| *h == tx.hash()).unwrap();
    let (headers, certificate) =
        commit_proof::build(&p.store, Protocol::HotStuff, block.header.height)
            .unwrap()
            .unwrap();
    Receipt {
        tx,
        block: Inclusion {
            header: block.header.clone(),
            path: strata_crypto::merkle::MerkleTree::from_leaf_hashes(hashes)
                .proof(index as u64)
                .unwrap(),
        },
        finality: Finality::Committed(Box::new(CommitProof {
            later: BoundedVec::new(headers[1..].to_vec()).unwrap(),
            certificate: commit_proof::compact(&p.state, certificate),
        })),
        history: BoundedVec::new(vec![handoff_of(p, chain, 1), handoff_of(p, chain, 0)]).unwrap(),
    }
}

/// A record committed in a later epoch: its receipt carries the
/// committee history from the genesis on and verifies with the genesis
/// alone; without it, or with a handoff out of its chain, it does not.
#[test]
fn a_receipt_of_a_later_epoch_verifies_with_its_committee_history() {
    use crate::anchor::{Receipt, ReceiptJson, ReceiptSummary, Trust};
    let cfg = hotstuff_config();
    let sim = ran(&cfg);
    let (chain, p) = (sim.chain, furthest(&sim));
    let receipt = receipt_in_epoch_2(p, chain);
    let block = receipt.block.clone();
    assert_eq!(
        crate::anchor::history::epochs_named(&receipt).get(&chain),
        Some(&2)
    );
    let trust = Trust::new(&sim.genesis_state);
    // Handoffs in any order: learned chain by chain in epoch order.
    let summary: ReceiptSummary = receipt.verify(&trust).unwrap();
    assert_eq!(summary.height, block.header.height);
    // Through its JSON form too.
    let json: ReceiptJson =
        serde_json::from_str(&serde_json::to_string(&receipt.to_json(summary)).unwrap()).unwrap();
    json.verify(&trust).unwrap();
    // Without its history the epoch-2 certificate names no known committee.
    let bare = Receipt {
        history: BoundedVec::empty(),
        ..receipt.clone()
    };
    assert_eq!(bare.verify(&trust).unwrap_err().link(), "block commit");
    // A history holding what the links do not need, or a handoff twice,
    // is refused before any of it is checked.
    for extra in [
        vec![
            handoff_of(p, chain, 0),
            handoff_of(p, chain, 1),
            handoff_of(p, chain, 2),
        ],
        vec![
            handoff_of(p, chain, 0),
            handoff_of(p, chain, 0),
            handoff_of(p, chain, 1),
        ],
    ] {
        let padded = Receipt {
            history: BoundedVec::new(extra).unwrap(),
            ..receipt.clone()
        };
        assert_eq!(
            padded.verify(&trust).unwrap_err().link(),
            "committee history"
        );
    }
    // A history with a gap does not verify, and says so.
    let gap = Receipt {
        history: BoundedVec::new(vec![handoff_of(p, chain, 1)]).unwrap(),
        ..receipt
    };
    assert_eq!(gap.verify(&trust).unwrap_err().link(), "committee history");
}

/// A threshold chain (issue 27): from epoch 1 its committees certify with
/// their DKG's group key; a receipt carries the one group signature (no
/// record of shares) and verifies with the genesis and the history, whose
/// handoffs prove each committee's group key.
#[test]
fn a_threshold_chains_receipt_carries_the_group_signature_alone() {
    use crate::anchor::{Finality, Trust};
    use crate::types::CertificateKind;
    let cfg = DynastySimConfig {
        certificate: CertificateKind::Threshold,
        ..hotstuff_config()
    };
    let sim = ran(&cfg);
    let (chain, p) = (sim.chain, furthest(&sim));
    let group = crate::execution::CommitteeRecord::read(&p.state, chain, 2)
        .unwrap()
        .unwrap()
        .group
        .expect("epoch 2's committee keyed by its DKG");
    let receipt = receipt_in_epoch_2(p, chain);
    let Finality::Committed(proof) = &receipt.finality else {
        unreachable!("committed")
    };
    let cert = proof.certificate.cert.clone().unwrap();
    assert_eq!(proof.certificate.epoch, 2);
    assert_eq!(cert.signers.len(), 0, "the compact form");
    cert.signature
        .verify(&proof.certificate.vote_data().signing_bytes(), &group.key)
        .expect("the group's signature");
    let trust = Trust::new(&sim.genesis_state);
    receipt.verify(&trust).unwrap();
    // Another signature in its place does not verify.
    let mut forged = receipt.clone();
    if let Finality::Committed(proof) = &mut forged.finality {
        let other = proof.later[0].justify.cert.clone().unwrap();
        if let Some(c) = proof.certificate.cert.as_mut() {
            c.signature = other.signature;
        }
    }
    assert_eq!(forged.verify(&trust).unwrap_err().link(), "block commit");
    // The blocks of a keyed epoch record who sent shares: at least t.
    let justify = proof.later[0].justify.cert.clone().unwrap();
    assert!(justify.signers.count() >= group.threshold as usize);

    // The beacon (point 3): each certified view of a keyed epoch has one
    // value, the same on every process that committed it.
    use crate::consensus::beacon;
    let committee = crate::execution::CommitteeRecord::read(&p.state, chain, 2)
        .unwrap()
        .unwrap()
        .committee()
        .unwrap();
    let view = receipt.block.header.view;
    let entry = beacon::in_view(&p.store, view)
        .unwrap()
        .expect("a certified view");
    let value = entry.value(&committee).unwrap();
    let mut agreeing = 0;
    for q in &sim.procs {
        if let Ok(Some(e)) = beacon::in_view(&q.store, view) {
            assert_eq!(e.value(&committee).unwrap(), value);
            agreeing += 1;
        }
    }
    assert!(agreeing >= 3, "{agreeing} processes");
    // Epoch 0 certified by multisig: no beacon.
    let genesis_committee = crate::execution::CommitteeRecord::read(&p.state, chain, 0)
        .unwrap()
        .unwrap()
        .committee()
        .unwrap();
    let early = beacon::at_height(&p.store, 3)
        .unwrap()
        .expect("height 3 certified");
    assert_eq!(
        beacon::at_height(&p.store, entry.header.height)
            .unwrap()
            .map(|e| e.value(&committee).unwrap()),
        Some(value),
        "by height as by view"
    );
    assert!(matches!(
        early.value(&genesis_committee),
        Err(beacon::BeaconError::NotThreshold(0))
    ));
}

/// The global chain learns a domain's committees from its anchors:
/// each epoch's from the end of the one before.
#[test]
fn anchors_carry_a_domains_committees_across_epochs_to_the_global_state() {
    use crate::execution::{block_key, BlockRef};
    use crate::types::{Anchor, CommitteeHandoff, SystemTx};
    let cfg = DynastySimConfig::new(Protocol::TwoPhase, 3, FaultSet::default());
    let mut sim = DynastySim::new(&cfg);
    sim.execute();
    assert!(sim.liveness_failure.is_none(), "{:?}", sim.liveness_failure);
    let chain = sim.chain;
    let p = sim
        .procs
        .iter()
        .max_by_key(|p| p.state.applied_height())
        .unwrap();
    let handoff = |e: Epoch| handoff_of(p, chain, e);
    let anchor_in = |e: Epoch, handoffs: Vec<CommitteeHandoff>| {
        let record = crate::dynasty::epoch_record(&p.state, chain, e)
            .unwrap()
            .unwrap();
        let h = record.start + 5;
        let block = p.store.block_at(h).unwrap().unwrap();
        let qc = p.store.block_at(h + 1).unwrap().unwrap().header.justify;
        let at = block.header.state_height;
        Transaction::System(Box::new(SystemTx::Anchor(Box::new(Anchor {
            domain: 0,
            tip: p.state.prove(&block_key(at), at).unwrap(),
            header: block.header,
            qc,
            link: None,
            handoffs: BoundedVec::new(handoffs).unwrap(),
        }))))
    };
    let ctx = ChainContext {
        chain: ChainId::GLOBAL,
        domains: 1,
    };
    let mut global = MemState::new(ctx, &sim.genesis_state);
    let mut height = 0;
    let mut execute = |global: &mut MemState, tx: Transaction| {
        height += 1;
        let block = BlockRef::bare(height, Digest::of("g", &[height as u8]));
        let before = global.refused().len();
        global
            .execute(block, std::slice::from_ref(&tx), &[tx.hash()])
            .unwrap();
        global.refused()[before..].first().map(|(_, r)| r.clone())
    };
    // Without the handoff the global state knows no committee of
    // epoch 1.
    let refused = execute(&mut global, anchor_in(1, vec![]));
    assert_eq!(
        refused.as_deref(),
        Some("no committee is recorded for the domain in that epoch")
    );
    // A handoff whose committee proof is of another key.
    let mut wrong = handoff(0);
    wrong.committee = handoff(1).committee;
    let refused = execute(&mut global, anchor_in(1, vec![wrong]));
    assert_eq!(refused.as_deref(), Some("the next committee is not proven"));
    // Two epochs at once: the handoffs of 0 → 1 and 1 → 2.
    let refused = execute(&mut global, anchor_in(2, vec![handoff(0), handoff(1)]));
    assert_eq!(refused, None);
    for e in 1..=2 {
        assert_eq!(
            CommitteeRecord::read(&global, chain, e).unwrap(),
            CommitteeRecord::read(&p.state, chain, e).unwrap(),
            "epoch {e}"
        );
    }
}

#[test]
fn epochs_change_committees_without_faults() {
    for protocol in [Protocol::HotStuff, Protocol::TwoPhase] {
        let r = check(protocol, 1, FaultSet::default());
        eprintln!("{protocol:?}: {r:?}");
        assert!(r.epochs_min >= 2);
        assert!(r.randshare_seeds >= 2, "{r:?}");
        assert!(r.reconfigured);
    }
}
