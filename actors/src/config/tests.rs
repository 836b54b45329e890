//! The genesis and node files: what they build and what they refuse, each
//! refusal naming the field.

use super::*;
use strata_crypto::test_support::seeded_key;

/// Validator `i` with kit keys: 0–3 cloud, 4–7 edge in domain 0.
fn validator(i: usize) -> ValidatorEntry {
    let key = seeded_key(60, i);
    let (tier, domain) = if i < 4 {
        (Tier::Cloud, None)
    } else {
        (Tier::Edge, Some(0))
    };
    ValidatorEntry {
        name: format!("v{i}"),
        tier,
        domain,
        bls_key: hex::encode(key.public_key().to_bytes()),
        pop: hex::encode(key.prove_possession().0.to_bytes()),
        peer_id: crate::keys::peer_id_of([i as u8 + 1; 32]).to_string(),
        weight: 1,
        available_time: 0,
        vrf_key: None,
        pvss_key: None,
    }
}

/// Validator `i` with dynasty keys too.
fn keyed_validator(i: usize) -> ValidatorEntry {
    let k = strata_chains::dynasty::ValidatorKeys::seeded(
        600 + i as u64,
        strata_chains::types::ValidatorTier::Cloud,
        None,
        1,
    );
    ValidatorEntry {
        vrf_key: Some(hex::encode(k.vrf.public_key().to_bytes())),
        pvss_key: Some(hex::encode(k.pvss.public_key().to_bytes())),
        ..validator(i)
    }
}

fn genesis_file() -> GenesisFile {
    let names = |r: std::ops::Range<usize>| r.map(|i| format!("v{i}")).collect();
    GenesisFile {
        network: "test".into(),
        consensus: ConsensusParams::default(),
        global: GlobalChainEntry {
            protocol: "hotstuff".into(),
            leader: LeaderKind::RoundRobin,
            seed: hex::encode([0u8; 32]),
            members: names(0..4),
            epoch_length: 0,
            committee_size: None,
            certificate: CertificateKind::Multisig,
        },
        domains: vec![DomainEntry {
            id: 0,
            protocol: "two-phase".into(),
            members: names(4..8),
            anchor_interval: 10,
            epoch_length: 0,
            committee_size: None,
            certificate: CertificateKind::Multisig,
        }],
        validators: (0..8).map(validator).collect(),
        admins: AdminsEntry::default(),
        rewards: None,
        stake: None,
    }
}

#[test]
fn a_chain_with_epochs_seeds_the_registry_and_names_what_is_missing() {
    // The global chain runs epochs: its validators need dynasty keys.
    let mut f = genesis_file();
    f.global.epoch_length = 128;
    let e = parse(f.clone()).expect_err("keys missing");
    assert!(e.message.contains("vrf_key"), "{e}");
    // Edge validators may serve the global chain too.
    let mut partly = f.clone();
    for i in 0..4 {
        partly.validators[i] = keyed_validator(i);
    }
    assert_eq!(refused_field(partly), "validators.v4");
    for i in 0..8 {
        f.validators[i] = keyed_validator(i);
    }
    let admin = strata_crypto::sr25519::TxKeypair::from_seed(&[3; 32]);
    f.admins = AdminsEntry {
        keys: vec![hex::encode(admin.public().to_bytes())],
        threshold: 1,
    };
    let g = parse(f.clone()).unwrap();
    let params = g.chains[&ChainId::GLOBAL].dynasty.unwrap();
    assert_eq!((params.epoch_length, params.committee_size), (128, 4));
    assert!(g.chains[&ChainId::local(0)].dynasty.is_none());
    assert_eq!(
        g.state.validators.len(),
        8,
        "the keyed validators are registered"
    );
    assert_eq!(g.state.admins.threshold, 1);
    // Epoch 0 of the global chain is in the genesis state.
    let ctx = strata_chains::execution::ChainContext {
        chain: ChainId::GLOBAL,
        domains: 1,
    };
    let state = strata_chains::execution::MemState::new(ctx, &g.state);
    let epoch = strata_chains::dynasty::current_epoch(&state, ChainId::GLOBAL)
        .unwrap()
        .unwrap();
    assert_eq!((epoch.epoch, epoch.last_height()), (0, 128));
    // Too short an epoch, too small a committee, a threshold over the keys.
    let mut short = f.clone();
    short.global.epoch_length = 32;
    assert_eq!(refused_field(short), "global.epoch_length");
    let mut small = f.clone();
    small.global.committee_size = Some(3);
    assert_eq!(refused_field(small), "global.committee_size");
    let mut over = f.clone();
    over.admins.threshold = 2;
    assert_eq!(refused_field(over), "admins.threshold");
    // A reward schedule: in the genesis state, so every chain pays by it;
    // no epochs to pay over, or leaders taking more than the whole, refused.
    let mut paying = f;
    paying.rewards = Some(RewardsEntry {
        total: 1_000,
        epochs: 10,
        leader_percent: 30,
    });
    let g = parse(paying.clone()).unwrap();
    let schedule = g.state.rewards.expect("a schedule");
    assert_eq!((schedule.pot(0), schedule.leader_part(100)), (100, 30));
    let state = strata_chains::execution::MemState::new(ctx, &g.state);
    assert_eq!(
        strata_chains::dynasty::rewards::schedule(&state).unwrap(),
        Some(schedule)
    );
    let mut none = paying.clone();
    none.rewards = Some(RewardsEntry {
        epochs: 0,
        ..RewardsEntry::TESTNET
    });
    assert_eq!(refused_field(none), "rewards.epochs");
    let mut greedy = paying.clone();
    greedy.rewards = Some(RewardsEntry {
        leader_percent: 101,
        ..RewardsEntry::TESTNET
    });
    assert_eq!(refused_field(greedy), "rewards.leader_percent");

    // A stake provider: in the genesis state, with its scaling; a key that
    // is not one, or a scaling of zero, refused with the field.
    let provider = strata_crypto::sr25519::TxKeypair::from_seed(&[4; 32]).public();
    let mut staking = paying.clone();
    staking.stake = Some(StakeEntry {
        provider: hex::encode(provider.to_bytes()),
        scaling: ScalingEntry::default(),
    });
    let g = parse(staking.clone()).unwrap();
    let state = strata_chains::execution::MemState::new(ctx, &g.state);
    let policy = strata_chains::dynasty::stake::policy(&state)
        .unwrap()
        .expect("a policy");
    assert_eq!(policy.provider, provider);
    assert_eq!(
        (policy.scaling.cpu, policy.scaling.mem, policy.scaling.net),
        (1, 1024, 1000)
    );
    let mut zero = staking.clone();
    if let Some(s) = zero.stake.as_mut() {
        s.scaling.mem = 0;
    }
    assert_eq!(refused_field(zero), "stake.scaling.mem");
    let mut not_hex = staking;
    if let Some(s) = not_hex.stake.as_mut() {
        s.provider = "zz".into();
    }
    assert_eq!(refused_field(not_hex), "stake.provider");

    // Epochs need executed system transactions: an opaque payload, whose
    // mempool admits only opaque bytes, is refused with the field.
    let mut opaque = paying.clone();
    opaque.consensus.payload = PayloadMode::Opaque;
    assert_eq!(refused_field(opaque), "consensus.payload");

    // The beacon leader needs a threshold chain: refused on a multisig one.
    let mut beacon = paying;
    beacon.global.leader = LeaderKind::Beacon;
    assert_eq!(refused_field(beacon.clone()), "global.leader");
    beacon.global.certificate = CertificateKind::Threshold;
    let g = parse(beacon).unwrap();
    assert!(matches!(
        g.chains[&ChainId::GLOBAL].leader,
        LeaderPolicy::Beacon { .. }
    ));
}

fn parse(file: GenesisFile) -> Result<Genesis, ConfigError> {
    Genesis::from_file(Path::new("genesis.toml"), file)
}

fn refused_field(file: GenesisFile) -> String {
    parse(file).expect_err("refused").field
}

#[test]
fn a_genesis_builds_each_chains_committee_and_binds_its_digest() {
    let g = parse(genesis_file()).unwrap();
    assert_eq!(g.chains.len(), 2);
    assert_eq!(g.chains[&ChainId::GLOBAL].committee.len(), 4);
    assert_eq!(g.chains[&ChainId::local(0)].protocol, Protocol::TwoPhase);
    assert_eq!(g.chains_of("v5"), vec![ChainId::local(0)]);
    assert_eq!(g.domains().collect::<Vec<_>>(), vec![0]);
    // The digest names the network: any change to the file changes it.
    let mut other = genesis_file();
    other.network = "another".into();
    assert_ne!(parse(other).unwrap().digest, g.digest);
    assert_ne!(
        g.chains[&ChainId::GLOBAL].genesis.hash(),
        g.chains[&ChainId::local(0)].genesis.hash()
    );
}

#[test]
fn bad_genesis_entries_are_refused_naming_the_field() {
    let mut f = genesis_file();
    f.validators[1].weight = 0;
    assert_eq!(refused_field(f), "validators[1].weight");

    let mut f = genesis_file();
    f.validators[2].pop = f.validators[3].pop.clone();
    assert_eq!(refused_field(f), "validators[2].pop");

    let mut f = genesis_file();
    f.validators[3].peer_id = f.validators[0].peer_id.clone();
    assert_eq!(refused_field(f), "validators[3].peer_id");

    let mut f = genesis_file();
    f.validators[5].domain = None;
    assert_eq!(refused_field(f), "validators[5].domain");

    let mut f = genesis_file();
    f.global.members.push("nobody".into());
    assert_eq!(refused_field(f), "global.members[4]");

    let mut f = genesis_file();
    f.domains[0].members[1] = "v0".into();
    assert_eq!(refused_field(f), "domains[0].members[1]");

    let mut f = genesis_file();
    f.consensus.base_timeout_ms = 0;
    assert_eq!(refused_field(f), "consensus.max_timeout_ms");

    let mut f = genesis_file();
    f.global.protocol = "paxos".into();
    assert_eq!(refused_field(f), "global.protocol");

    // Zero capacities and intervals, and a validator of no domain.
    let mut f = genesis_file();
    f.consensus.mempool_capacity = 0;
    assert_eq!(refused_field(f), "consensus.mempool_capacity");
    let mut f = genesis_file();
    f.consensus.max_block_interval_ms = 0;
    assert_eq!(refused_field(f), "consensus.max_block_interval_ms");
    let mut f = genesis_file();
    f.consensus.max_batch_delay_ms = 0;
    assert_eq!(refused_field(f), "consensus.max_batch_delay_ms");
    let mut f = genesis_file();
    f.domains[0].anchor_interval = 0;
    assert_eq!(refused_field(f), "domains[0].anchor_interval");
    let mut f = genesis_file();
    let edge = f
        .validators
        .iter()
        .position(|v| v.domain.is_some())
        .expect("an edge validator");
    f.validators[edge].domain = Some(9);
    assert_eq!(refused_field(f), format!("validators[{edge}].domain"));
}

/// Writes the genesis and a node file for `name` (with `extra` appended)
/// into `dir`, and loads the node file.
fn load_node(dir: &Path, name: &str, tier: &str, extra: &str) -> Result<NodeConfig, ConfigError> {
    std::fs::write(
        dir.join("genesis.toml"),
        toml::to_string(&genesis_file()).unwrap(),
    )
    .unwrap();
    let domain = if tier == "cloud" { "" } else { "domain = 0\n" };
    let text = format!(
        "name = \"{name}\"\ntier = \"{tier}\"\n{domain}genesis = \"genesis.toml\"\n\
         data_dir = \"data\"\nbls_key_file = \"bls.key\"\nnetwork_key_file = \"net.key\"\n\
         listen = \"/ip4/127.0.0.1/tcp/7000\"\napi = \"127.0.0.1:7001\"\n\
         metrics = \"127.0.0.1:7002\"\n{extra}"
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    NodeConfig::load(&path)
}

#[test]
fn node_files_are_checked_against_the_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = load_node(d, "v4", "edge", "").unwrap();
    assert_eq!(cfg.chains(), vec![ChainId::local(0)]);
    assert_eq!(cfg.data_dir, d.join("data"));
    assert_eq!(cfg.store.segment_bytes, 256 << 20, "the default segment");

    let cfg = load_node(d, "v4", "edge", "[storage]\nbatch_log_segment_mib = 8\n").unwrap();
    assert_eq!(cfg.store.segment_bytes, 8 << 20);

    let field = |r: Result<NodeConfig, ConfigError>| r.expect_err("refused").field;
    assert_eq!(
        field(load_node(
            d,
            "v4",
            "edge",
            "[storage]\nbatch_log_segment_mib = 0\n"
        )),
        "storage.batch_log_segment_mib"
    );
    assert_eq!(field(load_node(d, "stranger", "edge", "")), "name");
    assert_eq!(field(load_node(d, "v4", "cloud", "")), "tier");
    assert_eq!(
        field(load_node(
            d,
            "v0",
            "cloud",
            "[[peers]]\nname = \"nobody\"\naddress = \"/ip4/127.0.0.1/tcp/1\"\n"
        )),
        "peers[0].name"
    );
    // Text errors name the line, the column and the key.
    let e = load_node(d, "v0", "cloud", "unknown_key = 1\n").expect_err("refused");
    assert_eq!(
        (e.field.as_str(), e.at),
        ("unknown_key", Some((10, 1))),
        "{e}"
    );
    assert!(e.to_string().contains("v0.toml:10:1: unknown_key"), "{e}");
    let e = load_node(
        d,
        "v0",
        "cloud",
        "[storage]\nbatch_log_segment_mib = \"8\"\n",
    )
    .expect_err("refused");
    assert_eq!(e.field, "storage.batch_log_segment_mib", "{e}");
    assert_eq!(e.at, Some((11, 25)), "{e}");
    let e = load_node(d, "v0", "cloud", "api = [\n").expect_err("refused");
    assert_eq!(e.field, "(syntax)", "{e}");
    assert!(e.at.is_some(), "{e}");
}

/// A wrong type deep in the genesis: its key path through arrays, with the
/// line and column of the value.
#[test]
fn genesis_text_errors_name_the_key_path_line_and_column() {
    let text = toml::to_string(&genesis_file()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let peer_lines: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("peer_id = "))
        .map(|(i, _)| i)
        .collect();
    let fourth = peer_lines[3];
    lines[fourth] = "peer_id = 7".into();
    let e = Genesis::parse(Path::new("genesis.toml"), &lines.join("\n")).expect_err("refused");
    assert_eq!(e.field, "validators[3].peer_id", "{e}");
    assert_eq!(e.at, Some((fourth + 1, 11)), "{e}");
    assert!(
        e.to_string().starts_with(&format!(
            "genesis.toml:{}:11: validators[3].peer_id: ",
            fourth + 1
        )),
        "{e}"
    );
}
