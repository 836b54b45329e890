//! Dynasties executed block by block: every validator's participant posts
//! what it would, and the executor decides, as on a node.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use strata_crypto::codec::BoundedVec;
use strata_crypto::committee::{Member, QuorumThreshold};
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;
use strata_crypto::PublicKey;

use super::*;
use crate::execution::{BlockRef, ChainContext, GenesisState, MemState};
use crate::types::{
    AdminSet, Protocol, Reconfigure, RegistryAction, SystemTx, Transaction, ValidatorTier,
};

mod staking;

const CHAIN: ChainId = ChainId::GLOBAL;
/// Short epochs: blocks here execute as they are made (no pipeline).
const LENGTH: u64 = 32;

struct Net {
    chain: ChainId,
    validators: Vec<ValidatorKeys>,
    participants: Vec<Participant>,
    admin: TxKeypair,
    state: MemState,
    network: Digest,
    rng: ChaCha20Rng,
}

fn params(size: u32) -> DynastyParams {
    DynastyParams {
        epoch_length: LENGTH,
        committee_size: size,
        threshold: QuorumThreshold::TWO_THIRDS,
        certificate: crate::types::CertificateKind::Multisig,
    }
}

/// Rewards of the test network: a remainder for the last epoch, a
/// quarter to the leaders.
const SCHEDULE: crate::types::RewardSchedule = crate::types::RewardSchedule {
    total: 1_000_003,
    epochs: 5,
    leader_bps: 2_500,
};

/// `n` cloud validators, the first four the committee of epoch 0.
fn net(n: usize, size: u32, seed: u64) -> Net {
    net_with(n, size, seed, Options::default())
}

/// What a test network differs in.
#[derive(Clone, Copy)]
struct Options {
    /// The chain it runs: the global chain's validators are of the cloud
    /// tier, domain 0's of the edge tier.
    chain: ChainId,
    stake: Option<crate::types::StakePolicy>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            chain: CHAIN,
            stake: None,
        }
    }
}

fn net_with(n: usize, size: u32, seed: u64, options: Options) -> Net {
    let chain = options.chain;
    let (tier, domain) = match chain.domain() {
        None => (ValidatorTier::Cloud, None),
        Some(d) => (ValidatorTier::Edge, Some(d)),
    };
    let validators: Vec<ValidatorKeys> = (0..n)
        .map(|i| ValidatorKeys::seeded(seed * 1000 + i as u64, tier, domain, 100))
        .collect();
    let admin = TxKeypair::from_seed(&[9; 32]);
    let config = Digest::of("strata/test/dynasty", &seed.to_le_bytes());
    let committee = CommitteeRecord {
        chain,
        epoch: 0,
        protocol: Protocol::HotStuff,
        threshold: QuorumThreshold::TWO_THIRDS,
        members: BoundedVec::new(
            validators[..4]
                .iter()
                .map(|v| Member {
                    key: v.bls.public_key(),
                    weight: 1,
                })
                .collect(),
        )
        .unwrap(),
        group: None,
    };
    let genesis = GenesisState {
        config,
        committees: vec![committee],
        admins: AdminSet {
            keys: BoundedVec::new(vec![admin.public()]).unwrap(),
            threshold: 1,
        },
        validators: validators.iter().map(|v| v.info()).collect(),
        dynasties: vec![(chain, params(size))],
        rewards: Some(SCHEDULE),
        stake: options.stake,
    };
    let ctx = ChainContext { chain, domains: 2 };
    Net {
        participants: validators.iter().map(|v| v.participant(chain)).collect(),
        chain,
        validators,
        admin,
        state: MemState::new(ctx, &genesis),
        network: config,
        rng: ChaCha20Rng::seed_from_u64(seed),
    }
}

impl Net {
    fn height(&self) -> u64 {
        self.state.applied_height()
    }

    /// Executes the next block: what every participant posts, and `extra`.
    fn step(&mut self, extra: Vec<Transaction>) {
        let h = self.height();
        let mut txs = Vec::new();
        for p in &mut self.participants {
            txs.extend(p.poll(&self.state, h, &mut self.rng).unwrap());
        }
        txs.extend(extra);
        let hashes: Vec<Digest> = txs.iter().map(|t| t.hash()).collect();
        let mut block = BlockRef::bare(h + 1, Digest::of("block", &(h + 1).to_le_bytes()));
        // Members lead in turn, and one of them misses each certificate.
        let cur = self.epoch();
        let n = committee(&self.state, self.chain, cur.epoch)
            .unwrap()
            .unwrap()
            .members
            .len() as u64;
        let proposer = ((h + 1) % n) as u32;
        let absent = ((h + 2) % n) as u32;
        block.credit = Some(crate::execution::BlockCredit {
            epoch: cur.epoch,
            proposer,
            voters: (0..n as u32).filter(|&v| v != absent).collect(),
        });
        self.state.execute(block, &txs, &hashes).unwrap();
    }

    fn run_to(&mut self, height: u64) {
        while self.height() < height {
            self.step(Vec::new());
        }
    }

    fn epoch(&self) -> EpochRecord {
        current_epoch(&self.state, self.chain).unwrap().unwrap()
    }

    fn committee(&self, epoch: Epoch) -> Vec<PublicKey> {
        committee(&self.state, self.chain, epoch)
            .unwrap()
            .unwrap()
            .members
            .iter()
            .map(|m| m.key)
            .collect()
    }

    fn refusals(&self) -> Vec<String> {
        self.state
            .refused()
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn approved(&self, tx: crate::types::RegistryTx) -> Transaction {
        let tx = approved_change(tx, &self.network, &[(0, &self.admin)]);
        Transaction::System(Box::new(SystemTx::Registry(tx)))
    }

    fn reconfigure(&self, r: Reconfigure) -> Transaction {
        let tx = approved_reconfigure(r, &self.network, &[(0, &self.admin)]);
        Transaction::System(Box::new(SystemTx::Reconfigure(tx)))
    }
}

#[test]
fn epochs_pass_with_randshare_seeds_and_drawn_committees() {
    let mut net = net(7, 4, 1);
    let roster: Vec<PublicKey> = net.validators.iter().map(|v| v.bls.public_key()).collect();
    let mut seeds = vec![net.epoch().seed];
    for e in 1..=4u64 {
        net.run_to(e * LENGTH);
        let cur = net.epoch();
        assert_eq!(cur.epoch, e, "epoch {e} begins after height {}", e * LENGTH);
        assert_eq!(cur.start, e * LENGTH);
        assert_eq!(cur.source, SeedSource::RandShare);
        let seed = seed_record(&net.state, CHAIN, e).unwrap().unwrap();
        assert_eq!(seed.seed, cur.seed);
        // Every member of the dealing committee dealt and revealed.
        assert_eq!(seed.qualified.len(), 4);
        assert_eq!(seed.revealers.len(), 4);
        let members = net.committee(e);
        assert_eq!(members.len(), 4);
        assert!(members.iter().all(|k| roster.contains(k)));
        seeds.push(cur.seed);
    }
    let mut distinct = seeds.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seeds.len(), "every epoch has its own seed");
    assert!(net.refusals().is_empty(), "{:?}", net.refusals());
    // The draws differ: over four epochs of seven validators, not every
    // committee is the first one.
    assert!((1..=4).any(|e| net.committee(e) != net.committee(0)));
}

#[test]
fn the_same_blocks_give_the_same_dynasties_on_every_node() {
    let mut a = net(7, 4, 2);
    a.run_to(2 * LENGTH);
    // A second node executes the blocks the first one's participants made.
    let b_genesis_root = net(7, 4, 2).state.root_at(0).unwrap();
    assert_eq!(a.state.root_at(0).unwrap(), b_genesis_root);
    let mut c = net(7, 4, 3);
    c.run_to(2 * LENGTH);
    assert_ne!(
        a.epoch().seed,
        c.epoch().seed,
        "another network, another seed"
    );
}

#[test]
fn a_dealer_that_withholds_its_reveal_neither_stops_nor_changes_the_seed() {
    let mut honest = net(7, 4, 4);
    let mut withheld = net(7, 4, 4);
    withheld.participants[1] =
        withheld.validators[1]
            .participant(CHAIN)
            .with_faults(ParticipantFaults {
                withhold_reveal: true,
                ..ParticipantFaults::default()
            });
    honest.run_to(LENGTH);
    withheld.run_to(LENGTH);
    let a = seed_record(&honest.state, CHAIN, 1).unwrap().unwrap();
    let b = seed_record(&withheld.state, CHAIN, 1).unwrap().unwrap();
    assert_eq!(b.source, SeedSource::RandShare);
    assert_eq!(b.qualified.len(), 4, "its dealing counts");
    assert_eq!(b.revealers.len(), 3, "its reveal never came");
    // The same dealings (same randomness drawn in the same order), so the
    // recovered secrets, and the seed, are the ones all four reveals give.
    assert_eq!(a.seed, b.seed);
}

#[test]
fn an_invalid_transcript_is_refused_and_left_out_of_the_qualified_set() {
    let mut net = net(7, 4, 5);
    net.participants[2] = net.validators[2]
        .participant(CHAIN)
        .with_faults(ParticipantFaults {
            invalid_dealing: true,
            ..ParticipantFaults::default()
        });
    net.run_to(LENGTH);
    let seed = seed_record(&net.state, CHAIN, 1).unwrap().unwrap();
    assert_eq!(seed.source, SeedSource::RandShare);
    assert_eq!(seed.qualified.to_vec(), vec![0, 1, 3]);
    assert!(net.refusals().iter().any(|r| r == "invalid dealing"));
}

#[test]
fn too_few_dealings_fall_back_to_a_seed_from_the_previous_one() {
    let mut net = net(7, 4, 6);
    // Three of the four members are down: one dealing, fewer than f+1 = 2.
    for i in 1..4 {
        net.participants[i] =
            ValidatorKeys::seeded(999 + i as u64, ValidatorTier::Cloud, None, 1).participant(CHAIN);
    }
    net.run_to(LENGTH);
    let cur = net.epoch();
    assert_eq!(cur.epoch, 1, "the chain moves on");
    assert_eq!(cur.source, SeedSource::Fallback);
    assert_eq!(net.committee(1).len(), 4);
}

#[test]
fn dealings_and_candidacies_outside_their_windows_or_forged_are_refused() {
    let mut net = net(7, 4, 7);
    net.run_to(LENGTH / 4 + 1);
    // A dealing signed by another member than the one it names.
    let keys = randshare::participants(&net.state, &net.epoch()).unwrap();
    let context = crate::types::dynasty::pvss_context(CHAIN, 1, 3);
    let (dealing, _) = strata_crypto::pvss::deal(&mut net.rng, &context, 2, &keys).unwrap();
    let signature = net.validators[0]
        .bls
        .sign(&crate::types::PvssDealTx::signing_digest(&context, &dealing).0);
    let forged = Transaction::System(Box::new(SystemTx::PvssDeal(crate::types::PvssDealTx {
        context,
        dealing,
        signature,
    })));
    // Validator 5 made a candidacy for epoch 1 now, before the seed: refused.
    let early = Transaction::System(Box::new(SystemTx::Candidacy(crate::types::Candidacy {
        chain: CHAIN,
        epoch: 1,
        validator: net.validators[5].bls.public_key(),
        seats: 1,
        proof: net.validators[5].vrf.prove(b"x").1,
    })));
    net.step(vec![forged, early]);
    let refused = net.refusals();
    assert!(
        refused
            .iter()
            .any(|r| r == "dealing not signed by its dealer"),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|r| r == "outside the candidacy window"),
        "{refused:?}"
    );
    // In the window, a proof on another input does not select anyone.
    let cur = net.epoch();
    net.run_to(cur.reveals_close());
    let bad = Transaction::System(Box::new(SystemTx::Candidacy(crate::types::Candidacy {
        chain: CHAIN,
        epoch: 1,
        validator: net.validators[5].bls.public_key(),
        seats: 1,
        proof: net.validators[5].vrf.prove(b"another input").1,
    })));
    net.step(vec![bad]);
    assert!(net
        .refusals()
        .iter()
        .any(|r| r == "the VRF proof does not select this validator"));
}

#[test]
fn registrations_need_approval_count_from_the_next_draw_and_leaving_takes_a_validator_off_the_roster(
) {
    let mut net = net(5, 4, 8);
    let newcomer = ValidatorKeys::seeded(777, ValidatorTier::Cloud, None, 100);
    let network = net.network;
    // Without the administrators' approval: refused.
    net.step(vec![Transaction::System(Box::new(SystemTx::Registry(
        newcomer.register(&network, 0),
    )))]);
    assert!(net
        .refusals()
        .iter()
        .any(|r| r.contains("administrators' approval")));
    let register = net.approved(newcomer.register(&network, 0));
    net.step(vec![register.clone()]);
    let record = validator(&net.state, &newcomer.bls.public_key())
        .unwrap()
        .unwrap();
    assert!(record.active);
    assert_eq!(record.sequence, 1);
    assert!(roster(&net.state, CHAIN)
        .unwrap()
        .get(&record.info.key)
        .is_some());
    // The snapshot of epoch 0 does not hold it: it is drawn from epoch 2 on.
    assert!(roster_at(&net.state, CHAIN, 0)
        .unwrap()
        .get(&record.info.key)
        .is_none());
    // A replay is out of sequence.
    net.step(vec![register]);
    assert!(net.refusals().iter().any(|r| r.contains("out of sequence")));
    net.run_to(LENGTH);
    assert!(roster_at(&net.state, CHAIN, 1)
        .unwrap()
        .get(&record.info.key)
        .is_some());
    // It leaves on its own signature.
    let leave = newcomer.change(&network, 1, RegistryAction::Deregister);
    net.step(vec![Transaction::System(Box::new(SystemTx::Registry(
        leave,
    )))]);
    assert!(
        !validator(&net.state, &record.info.key)
            .unwrap()
            .unwrap()
            .active
    );
    assert!(roster(&net.state, CHAIN)
        .unwrap()
        .get(&record.info.key)
        .is_none());
}

#[test]
fn a_reconfiguration_seats_and_unseats_at_the_next_boundary_and_refuses_what_breaks_the_quorum() {
    let mut net = net(6, 4, 9);
    let keys: Vec<PublicKey> = net.validators.iter().map(|v| v.bls.public_key()).collect();
    let base = Reconfigure {
        chain: CHAIN,
        epoch: 1,
        sequence: 0,
        add: BoundedVec::default(),
        remove: BoundedVec::default(),
        committee_size: None,
        epoch_length: None,
        threshold: None,
        certificate: None,
        weights: BoundedVec::default(),
    };
    // Removing three of six leaves three: refused, with the reason.
    let too_many = Reconfigure {
        remove: BoundedVec::new(keys[..3].to_vec()).unwrap(),
        ..base.clone()
    };
    net.step(vec![net.reconfigure(too_many)]);
    assert!(
        net.refusals().iter().any(|r| r.contains("at least 4")),
        "{:?}",
        net.refusals()
    );
    // A threshold below two thirds: refused.
    let weak = Reconfigure {
        threshold: Some(QuorumThreshold::new(1, 2).unwrap()),
        ..base.clone()
    };
    net.step(vec![net.reconfigure(weak)]);
    assert!(net.refusals().iter().any(|r| r.contains("below 2/3")));
    // Seat validator 5, unseat member 0, and lengthen the epochs.
    let change = Reconfigure {
        add: BoundedVec::new(vec![keys[5]]).unwrap(),
        remove: BoundedVec::new(vec![keys[0]]).unwrap(),
        epoch_length: Some(64),
        ..base
    };
    net.step(vec![net.reconfigure(change.clone())]);
    assert_eq!(
        pending(&net.state, CHAIN).unwrap().unwrap().reconfigure,
        change
    );
    // Replayed: out of sequence.
    net.step(vec![net.reconfigure(change)]);
    assert!(net.refusals().iter().any(|r| r.contains("out of sequence")));
    net.run_to(LENGTH);
    let members = net.committee(1);
    assert_eq!(members.first(), Some(&keys[5]), "seated first");
    assert!(!members.contains(&keys[0]), "unseated");
    let cur = net.epoch();
    assert_eq!(cur.params.epoch_length, 64);
    assert_eq!(cur.last_height(), LENGTH + 64);
    // Seated members stay: epoch 2 seats validator 5 again.
    net.run_to(LENGTH + 64);
    assert_eq!(net.epoch().epoch, 2);
    assert!(net.committee(2).contains(&keys[5]));
    assert!(!net.committee(2).contains(&keys[0]));
}

#[test]
fn a_roster_too_small_for_a_committee_keeps_the_one_serving() {
    let mut net = net(4, 4, 10);
    let first = net.committee(0);
    net.run_to(2 * LENGTH);
    assert_eq!(net.epoch().epoch, 2);
    // Four validators, committee four: whichever way the draw went, the
    // committee is the roster.
    let mut a = net.committee(2);
    let mut b = first;
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

// ------------------------------------------------------------------ DKG

/// The participant of each member of `epoch`'s committee, by position.
fn members_of(net: &Net, epoch: Epoch) -> Vec<usize> {
    net.committee(epoch)
        .iter()
        .map(|k| {
            net.validators
                .iter()
                .position(|v| v.bls.public_key() == *k)
                .unwrap()
        })
        .collect()
}

#[test]
fn the_next_committee_gets_a_group_key_and_any_quorum_of_its_shares_signs_with_it() {
    let mut net = net(7, 4, 11);
    net.run_to(LENGTH);
    let record = dkg::dkg_record(&net.state, CHAIN, 1).unwrap().unwrap();
    assert_eq!((record.threshold, record.participants), (3, 4));
    assert_eq!(record.qualified.to_vec(), vec![0, 1, 2, 3]);
    assert!(record.disqualified.is_empty());
    let group = record.group().expect("a group key");
    // Every member of epoch 1 decrypts its share from the chain alone.
    let message = b"a view's certificate";
    let shares: Vec<_> = members_of(&net, 1)
        .into_iter()
        .map(|i| {
            let share = net.participants[i]
                .dkg_share(&net.state, 1)
                .unwrap()
                .expect("a share");
            assert_eq!(
                &share.public_key(),
                group.share_key(share.index).unwrap(),
                "its share key is on chain"
            );
            share.sign(message)
        })
        .collect();
    // Any three of the four combine into the one signature of the group.
    let mut signatures = Vec::new();
    for left_out in 0..shares.len() {
        let some: Vec<_> = (0..shares.len())
            .filter(|&i| i != left_out)
            .map(|i| shares[i])
            .collect();
        let sig = group.combine(&some).unwrap();
        group.verify(message, &sig).unwrap();
        signatures.push(sig);
    }
    assert!(signatures.windows(2).all(|w| w[0] == w[1]), "unique");
    // Two are not enough.
    assert!(group.combine(&shares[..2]).is_err());
    // A validator outside the committee has no share.
    let outsider = (0..7).find(|i| !members_of(&net, 1).contains(i)).unwrap();
    assert!(net.participants[outsider]
        .dkg_share(&net.state, 1)
        .unwrap()
        .is_none());
}

#[test]
fn a_dealer_whose_share_does_not_open_is_excluded_by_its_recipients_complaint() {
    for seed in 20..40 {
        let mut net = net(7, 4, seed);
        let cheat = 5;
        net.participants[cheat] =
            net.validators[cheat]
                .participant(CHAIN)
                .with_faults(ParticipantFaults {
                    invalid_dealing: true,
                    ..ParticipantFaults::default()
                });
        net.run_to(LENGTH);
        let members = members_of(&net, 1);
        let Some(pos) = members.iter().position(|&i| i == cheat) else {
            continue;
        };
        let record = dkg::dkg_record(&net.state, CHAIN, 1).unwrap().unwrap();
        assert_eq!(
            record.disqualified.to_vec(),
            vec![pos as u32],
            "seed {seed}"
        );
        assert!(!record.qualified.contains(&(pos as u32)));
        assert_eq!(record.qualified.len(), 3);
        // The others' shares still make the group's signature.
        let group = record.group().expect("three qualified dealings of four");
        let shares: Vec<_> = members
            .iter()
            .filter(|&&i| i != cheat)
            .map(|&i| {
                net.participants[i]
                    .dkg_share(&net.state, 1)
                    .unwrap()
                    .unwrap()
                    .sign(b"m")
            })
            .collect();
        group
            .verify(b"m", &group.combine(&shares).unwrap())
            .unwrap();
        return;
    }
    panic!("validator 5 was never drawn into epoch 1's committee");
}

#[test]
fn dkg_transactions_forged_misplaced_or_false_are_refused_with_their_reasons() {
    let mut net = net(7, 4, 12);
    let cur = net.epoch();
    net.run_to(cur.decision() + 1);
    let members = members_of(&net, 1);
    let (a, b) = (members[0], members[1]);
    // Member 1's dealing signed by member 0: forged.
    let (ctx, keys, _) = dkg::run(&net.state, CHAIN, 1).unwrap().unwrap();
    let dealing = strata_crypto::dkg::deal(&mut net.rng, &ctx, 1, &keys).unwrap();
    let digest = crate::types::DkgDealTx::signing_digest(CHAIN, 1, &dealing);
    let forged = crate::types::DkgDealTx {
        chain: CHAIN,
        epoch: 1,
        dealing: dealing.clone(),
        signature: net.validators[a].bls.sign(&digest.0),
    };
    let honest = crate::types::DkgDealTx {
        signature: net.validators[b].bls.sign(&digest.0),
        ..forged.clone()
    };
    let sys = |t| Transaction::System(Box::new(t));
    net.step(vec![sys(SystemTx::DkgDeal(forged))]);
    assert!(net
        .refusals()
        .iter()
        .any(|r| r == "DKG dealing not signed by its dealer"));
    // Too late once the window closed.
    net.run_to(cur.dkg_deals_close());
    net.step(vec![sys(SystemTx::DkgDeal(honest))]);
    assert!(net
        .refusals()
        .iter()
        .any(|r| r == "outside the DKG dealing window" || r == "already dealt"));
    // A complaint against a good share: false.
    let recorded = dkg::dkg_dealing(&net.state, CHAIN, 1, 0).unwrap().unwrap();
    let checked = strata_crypto::dkg::check_dealing(&ctx, &recorded.dealing).unwrap();
    let pvss_b = &net.validators[b].pvss;
    assert!(checked.open(&mut net.rng, &ctx, 1, pvss_b).unwrap().is_ok());
    // Build a complaint as if the share were bad: the key and its proof are
    // honest, the verdict is not the complainer's to make.
    let mut bad = recorded.dealing.clone();
    bad.shares[1][31] ^= 1;
    let complaint = strata_crypto::dkg::check_dealing(&ctx, &bad)
        .unwrap()
        .open(&mut net.rng, &ctx, 1, pvss_b)
        .unwrap()
        .unwrap_err();
    let digest = crate::types::DkgComplaintTx::signing_digest(CHAIN, 1, &complaint);
    let tx = crate::types::DkgComplaintTx {
        chain: CHAIN,
        epoch: 1,
        complaint,
        signature: net.validators[b].bls.sign(&digest.0),
    };
    net.step(vec![sys(SystemTx::DkgComplaint(tx))]);
    assert!(net
        .refusals()
        .iter()
        .any(|r| r == "a false complaint: the share matches the commitments"));
    net.run_to(LENGTH);
    let record = dkg::dkg_record(&net.state, CHAIN, 1).unwrap().unwrap();
    assert!(record.disqualified.is_empty() && record.group_key.is_some());
}

// ------------------------------------------------------- accountability

/// Two votes by committee member `position` of epoch 0 for different
/// blocks in one round: an equivocation.
fn equivocation(net: &Net, position: u32) -> crate::types::Evidence {
    use crate::types::{Round, SignedStatement, Statement, VoteData};
    let key = &net.validators[members_of(net, 0)[position as usize]].bls;
    let vote = |block: &str| {
        let data = VoteData {
            chain: CHAIN,
            epoch: 0,
            round: Round::new(3, 3),
            statement: Statement::Vote {
                block: Digest::of("block", block.as_bytes()),
            },
        };
        SignedStatement::sign(data, position, key)
    };
    crate::types::Evidence::Equivocation {
        first: vote("a"),
        second: vote("b"),
    }
}

#[test]
fn an_equivocator_is_convicted_and_drawn_into_no_later_committee() {
    let mut net = net(7, 4, 12);
    let convict = net.committee(0)[1];
    let proof = equivocation(&net, 1);
    let tx = |e: crate::types::Evidence| Transaction::System(Box::new(SystemTx::Evidence(e)));
    net.step(vec![tx(proof.clone())]);
    assert!(net.refusals().is_empty(), "{:?}", net.refusals());
    let c = super::accountability::conviction(&net.state, CHAIN, &convict)
        .unwrap()
        .expect("convicted");
    assert_eq!((c.epoch, c.kind.as_str()), (0, "equivocation"));
    assert_eq!(
        super::accountability::convicted(&net.state, CHAIN).unwrap(),
        vec![c]
    );
    assert!(registry::roster(&net.state, CHAIN)
        .unwrap()
        .get(&convict)
        .is_none());
    // The same proof again, a proof of nothing, one about another chain:
    // refused with their reasons.
    let mut nothing = equivocation(&net, 2);
    if let crate::types::Evidence::Equivocation { first, second } = &mut nothing {
        *second = first.clone();
    }
    net.step(vec![tx(proof), tx(nothing)]);
    assert_eq!(
        net.refusals(),
        vec![
            "its offenders are convicted already".to_string(),
            "the evidence proves no misbehaviour".to_string()
        ]
    );
    // Every committee decided from now on leaves it out.
    net.run_to(3 * LENGTH);
    for e in 1..=3 {
        assert!(!net.committee(e).contains(&convict), "epoch {e}");
    }
}

// ---------------------------------------------------------------- rewards

fn paid(r: &rewards::EpochRewards) -> u64 {
    r.payments.iter().map(|p| p.leader + p.voter).sum()
}

#[test]
fn each_epoch_pays_its_pot_exactly_by_points_and_a_conviction_forfeits_the_balance() {
    let mut net = net(7, 4, 21);
    net.run_to(LENGTH);
    let r0 = rewards::epoch_rewards(&net.state, CHAIN, 0)
        .unwrap()
        .expect("epoch 0 paid at its last block");
    assert_eq!((r0.pot, r0.unpaid), (SCHEDULE.pot(0), 0));
    assert_eq!(paid(&r0), r0.pot, "the pot is paid to the unit");
    assert_eq!(r0.leader_pot, SCHEDULE.leader_part(r0.pot));
    // Every block of the epoch led once, and voted by three of four.
    let led: u64 = r0.payments.iter().map(|p| u64::from(p.points.led)).sum();
    let voted: u64 = r0.payments.iter().map(|p| u64::from(p.points.voted)).sum();
    assert_eq!((led, voted), (LENGTH, 3 * LENGTH));
    // Each part follows the points, by largest remainder.
    let leads: Vec<u64> = r0
        .payments
        .iter()
        .map(|p| u64::from(p.points.led))
        .collect();
    let votes: Vec<u64> = r0
        .payments
        .iter()
        .map(|p| u64::from(p.points.voted))
        .collect();
    let leaders: Vec<u64> = r0.payments.iter().map(|p| p.leader).collect();
    let voters: Vec<u64> = r0.payments.iter().map(|p| p.voter).collect();
    assert_eq!(rewards::split(r0.leader_pot, &leads), leaders);
    assert_eq!(rewards::split(r0.voter_pot, &votes), voters);
    for p in &r0.payments {
        assert_eq!(
            rewards::balance(&net.state, CHAIN, &p.validator).unwrap(),
            p.leader + p.voter
        );
    }

    // A member of epoch 0 convicted in epoch 1: what it was paid is
    // forfeited, and it is paid nothing more.
    let convict = net.committee(0)[1];
    let earned = rewards::balance(&net.state, CHAIN, &convict).unwrap();
    assert!(earned > 0);
    let proof = equivocation(&net, 1);
    net.step(vec![Transaction::System(Box::new(SystemTx::Evidence(
        proof,
    )))]);
    assert!(net.refusals().is_empty(), "{:?}", net.refusals());
    assert_eq!(rewards::balance(&net.state, CHAIN, &convict).unwrap(), 0);
    assert_eq!(
        rewards::forfeited(&net.state, CHAIN, &convict).unwrap(),
        earned
    );

    // Past the schedule's epochs nothing is paid; over them, exactly the
    // total, to balances and forfeits.
    net.run_to((SCHEDULE.epochs + 1) * LENGTH);
    let mut total = 0;
    let mut holders = std::collections::BTreeSet::new();
    for e in 0..=SCHEDULE.epochs {
        let r = rewards::epoch_rewards(&net.state, CHAIN, e)
            .unwrap()
            .unwrap_or_else(|| panic!("epoch {e} paid"));
        assert_eq!(
            (r.pot, paid(&r) + r.unpaid),
            (SCHEDULE.pot(e), r.pot),
            "epoch {e}"
        );
        if e >= 1 {
            assert!(
                r.payments.iter().all(|p| p.validator != convict),
                "the convict is paid in epoch {e}"
            );
        }
        total += paid(&r);
        holders.extend(r.payments.iter().map(|p| p.validator));
    }
    assert_eq!(total, SCHEDULE.total);
    assert_eq!(
        rewards::epoch_rewards(&net.state, CHAIN, SCHEDULE.epochs)
            .unwrap()
            .unwrap()
            .pot,
        0
    );
    holders.insert(convict);
    let held: u64 = holders
        .iter()
        .map(|k| {
            rewards::balance(&net.state, CHAIN, k).unwrap()
                + rewards::forfeited(&net.state, CHAIN, k).unwrap()
        })
        .sum();
    assert_eq!(held, SCHEDULE.total);
}
