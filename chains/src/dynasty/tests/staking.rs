//! Resource stake and credit executed block by block (issue 27, point 4).

use strata_crypto::sr25519::TxKeypair;

use super::*;
use crate::types::stake::{Greediness, StakeCertificate, StakeDeclaration, StakeTx};
use crate::types::{Resources, StakePolicy};

fn provider() -> TxKeypair {
    TxKeypair::from_seed(&[0x5e; 32])
}

/// CPU slices count one each, memory by the MiB, network by the Mbps.
fn policy() -> StakePolicy {
    StakePolicy {
        provider: provider().public(),
        scaling: Resources {
            cpu: 1,
            mem: 1024,
            net: 1000,
        },
    }
}

fn staking_net(seed: u64) -> Net {
    net_with(
        6,
        4,
        seed,
        Options {
            stake: Some(policy()),
            ..Options::default()
        },
    )
}

/// A declaration of half of what `who` does not use: X = ⟨6, 12 MiB,
/// 30 Mbps⟩, weight ⌊√(6² + 12² + 30²)⌋ = 32, locked exactly; `edit`
/// changes it before `signer` signs the certificate as provider and `who`
/// the declaration.
fn declaration(
    net: &Net,
    who: &ValidatorKeys,
    signer: &TxKeypair,
    expires: Epoch,
    edit: impl FnOnce(&mut StakeDeclaration),
) -> Transaction {
    let certificate = StakeCertificate {
        validator: who.bls.public_key(),
        allocated: Resources {
            cpu: 16,
            mem: 32 * 1024,
            net: 100_000,
        },
        locked: Resources {
            cpu: 6,
            mem: 12 * 1024,
            net: 30_000,
        },
        instance: Digest::of("stake-instance", &who.bls.public_key().to_bytes()),
        expires,
    };
    let mut d = StakeDeclaration {
        sequence: 0,
        usage: Resources {
            cpu: 4,
            mem: 8 * 1024,
            net: 40_000,
        },
        greediness: Greediness {
            cpu: 5_000,
            mem: 5_000,
            net: 5_000,
        },
        provider_signature: signer.sign(&certificate.signing_digest(&net.network).0),
        certificate,
    };
    edit(&mut d);
    d.provider_signature = signer.sign(&d.certificate.signing_digest(&net.network).0);
    let tx = StakeTx {
        validator_signature: who.bls.sign(&d.signing_digest(&net.network).0),
        declaration: d,
    };
    Transaction::System(Box::new(SystemTx::Stake(tx)))
}

fn weight(net: &Net, key: &PublicKey) -> Option<u64> {
    roster(&net.state, net.chain)
        .unwrap()
        .get(key)
        .map(|e| e.weight)
}

#[test]
fn stake_certificates_forged_expired_or_over_claimed_are_refused_with_reasons_and_a_valid_one_weighs_its_norm(
) {
    let mut net = staking_net(40);
    let who = net.validators[5].clone();
    let key = who.bls.public_key();
    // A genesis validator weighs its genesis weight until it stakes.
    assert_eq!(weight(&net, &key), Some(100));
    let p = provider();
    let other = TxKeypair::from_seed(&[0x66; 32]);
    let bad = vec![
        declaration(&net, &who, &other, 2, |_| {}),
        declaration(&net, &who, &p, 0, |_| {}),
        declaration(&net, &who, &p, 2, |d| d.certificate.locked.net = 20_000),
        declaration(&net, &who, &p, 2, |d| d.usage.cpu = 17),
        declaration(&net, &who, &p, 2, |d| d.greediness.mem = 0),
    ];
    // The provider's signature no longer covers an edited certificate.
    let tampered = {
        let Transaction::System(sys) = declaration(&net, &who, &p, 2, |_| {}) else {
            unreachable!()
        };
        let SystemTx::Stake(mut tx) = *sys else {
            unreachable!()
        };
        tx.declaration.certificate.allocated.cpu = 1_000;
        tx.declaration.certificate.locked.cpu = 500;
        tx.validator_signature = who.bls.sign(&tx.declaration.signing_digest(&net.network).0);
        Transaction::System(Box::new(SystemTx::Stake(tx)))
    };
    net.step(bad.into_iter().chain([tampered]).collect());
    let refusals = net.refusals();
    let expected = [
        "forged: the stake certificate is not signed by the genesis provider key",
        "the stake certificate expired: it covers epochs before 0, and the global chain is in epoch 0",
        "over-claimed net: the stake γ(R − Rᵘ) = 30000 exceeds the 20000 the certificate locks",
        "over-claimed cpu: usage 17 exceeds the allocation 16",
        "greediness of mem is 0 basis points, outside 1..=10000 (γ in (0, 1])",
        "forged: the stake certificate is not signed by the genesis provider key",
    ];
    assert_eq!(refusals, expected);
    assert_eq!(weight(&net, &key), Some(100), "nothing refused counts");

    let valid = declaration(&net, &who, &p, 2, |_| {});
    net.step(vec![valid.clone()]);
    assert_eq!(net.refusals().len(), expected.len(), "{:?}", net.refusals());
    assert_eq!(weight(&net, &key), Some(32));
    let record = crate::dynasty::stake::stake_record(&net.state, &key)
        .unwrap()
        .unwrap();
    assert_eq!(
        (record.sequence, record.expires, record.stake.weight),
        (1, 2, 32)
    );
    assert_eq!(
        record.stake.staked,
        Resources {
            cpu: 6,
            mem: 12 * 1024,
            net: 30_000
        }
    );
    // The same declaration again is a replay.
    net.step(vec![valid]);
    assert!(net
        .refusals()
        .last()
        .is_some_and(|r| r.contains("out of sequence")));

    // It counts in epoch 1's draw, and lapses at epoch 2's start.
    net.run_to(LENGTH);
    assert_eq!(
        roster_at(&net.state, CHAIN, 1)
            .unwrap()
            .get(&key)
            .map(|e| e.weight),
        Some(32)
    );
    net.run_to(2 * LENGTH);
    assert_eq!(net.epoch().epoch, 2);
    assert_eq!(weight(&net, &key), None, "an expired stake weighs nothing");
    assert!(roster_at(&net.state, CHAIN, 2).unwrap().get(&key).is_none());
    // The other genesis validators keep their genesis weight.
    assert_eq!(weight(&net, &net.validators[4].bls.public_key()), Some(100));
}

#[test]
fn a_validator_registered_on_a_staking_network_is_drawn_only_once_it_stakes() {
    let mut net = staking_net(41);
    let newcomer = ValidatorKeys::seeded(4141, ValidatorTier::Cloud, None, 100);
    let key = newcomer.bls.public_key();
    let register = net.approved(newcomer.register(&net.network, 0));
    net.step(vec![register]);
    assert!(validator(&net.state, &key).unwrap().unwrap().active);
    assert_eq!(weight(&net, &key), None, "registered, not staked");
    let p = provider();
    net.step(vec![declaration(&net, &newcomer, &p, 10, |_| {})]);
    assert!(net.refusals().is_empty(), "{:?}", net.refusals());
    assert_eq!(weight(&net, &key), Some(32));
    // An IoT validator weighs by credit and cannot stake.
    let iot = ValidatorKeys::seeded(4142, ValidatorTier::Iot, Some(0), 5);
    let register = net.approved(iot.register(&net.network, 0));
    net.step(vec![register]);
    net.step(vec![declaration(&net, &iot, &p, 10, |_| {})]);
    assert_eq!(
        net.refusals(),
        vec!["IoT validators weigh by credit (available time), not stake".to_string()]
    );
}

#[test]
fn stake_is_refused_on_a_network_without_a_provider() {
    let mut net = net(5, 4, 42);
    let who = net.validators[4].clone();
    net.step(vec![declaration(&net, &who, &provider(), 10, |_| {})]);
    assert_eq!(
        net.refusals(),
        vec!["this network names no stake provider in its genesis".to_string()]
    );
}

#[test]
fn a_domain_chain_weighs_each_validator_by_its_availability_and_accrues_its_certified_blocks() {
    let mut net = net_with(
        6,
        4,
        43,
        Options {
            chain: ChainId::local(0),
            ..Options::default()
        },
    );
    let chain = net.chain;
    let members = net.committee(0);
    net.run_to(LENGTH);
    assert!(net.refusals().is_empty(), "{:?}", net.refusals());
    let points = rewards::points(&net.state, chain, 0).unwrap();
    for v in &net.validators {
        let key = v.bls.public_key();
        let credit = crate::dynasty::stake::credit(&net.state, chain, &key).unwrap();
        let voted = members
            .iter()
            .position(|k| *k == key)
            .map_or(0, |i| u64::from(points[i].voted));
        assert_eq!(
            credit.blocks, voted,
            "credit is the blocks its vote certified"
        );
        // Availability: the share of the epoch's blocks it certified.
        assert_eq!(u64::from(credit.availability_bps), voted * 10_000 / LENGTH);
        let expected = 100 + 100 * voted / LENGTH;
        assert_eq!(weight(&net, &key), Some(expected));
        assert_eq!(
            roster_at(&net.state, chain, 1)
                .unwrap()
                .get(&key)
                .map(|e| e.weight),
            Some(expected),
            "epoch 1's draw weighs the availability of epoch 0"
        );
    }
    // Every member voted in most of epoch 0's blocks (one misses each),
    // weighing well above a validator that did not serve, and at most
    // twice its registered weight.
    for k in &members {
        let w = weight(&net, k).unwrap();
        assert!((150..=200).contains(&w), "{w}");
    }
    // Accumulated over the epochs each served: the uptime leader's rank,
    // fixed for epoch 2's committee when it was decided (in epoch 1: epoch
    // 0's blocks only), whenever a node reads it.
    net.run_to(2 * LENGTH);
    let fixed = crate::dynasty::stake::available_time(&net.state, chain, 2).unwrap();
    let second = net.committee(2);
    assert_eq!(fixed.len(), second.len());
    for (k, t) in second.iter().zip(&fixed) {
        let served = members
            .iter()
            .position(|m| m == k)
            .map_or(0, |i| u64::from(points[i].voted));
        assert_eq!(*t, served, "fixed at the decision");
    }
    for k in net.committee(1) {
        let before = if members.contains(&k) { LENGTH / 2 } else { 0 };
        let c = crate::dynasty::stake::credit(&net.state, chain, &k).unwrap();
        assert!(c.blocks >= before + LENGTH / 2, "{c:?}");
    }
}
