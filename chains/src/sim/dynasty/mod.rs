//! The simulator of dynasties (issue 26, point 8): one chain through
//! epoch changes, with the same cores, executor, RandShare participants,
//! stores and sync serving that nodes run, under crash, partition, loss
//! and Byzantine faults.
//!
//! Every validator is a process. Each runs a core per epoch: a member's,
//! or an observer's when it is not in that epoch's committee (it follows
//! by sync and the epoch proofs, and serves reads); it executes every
//! block it commits, and its participant posts dealings, reveals and
//! candidacies, which it gossips to every process's pool. One validator
//! is registered only after the start (it may be drawn from the third
//! epoch on), and an administrator reconfigures the committee once
//! (seating one validator, unseating another). A Byzantine validator
//! deals an invalid transcript or withholds its reveal, and may
//! equivocate as leader and double vote.
//!
//! Invariants: honest processes never commit different blocks at a
//! height, never reach different state roots (so never different seeds,
//! committees or rosters), never commit a transaction twice, and every
//! committed block belongs to the epoch its height is in; after the heal,
//! every honest process passes two more epoch boundaries within the
//! deadline. The main simulator (`run/`) covers the consensus faults of
//! one epoch in more depth (twins, batch floods, lying sync).

mod convictions;
mod host;
mod rewards;

use rewards::SIM_REWARDS;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parity_scale_codec::Encode;
use rand::{Rng, SeedableRng};
use rand_chacha::{ChaCha20Rng, ChaCha8Rng};
use strata_crypto::codec::BoundedVec;
use strata_crypto::committee::{Member, QuorumThreshold};
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;

use super::network::NetConditions;
use super::FaultSet;
use crate::consensus::{ConsensusCore, TimerId};
use crate::dynasty::{Participant, ParticipantFaults, SeedSource, ValidatorKeys};
use crate::execution::{ChainContext, CommitteeRecord, GenesisState, MemState};
use crate::store::{MemStore, Store};
use crate::types::{
    genesis_block, AdminSet, Block, ChainId, ConsensusMessage, DynastyParams, Epoch, GenesisParams,
    Height, Protocol, Round, Transaction, ValidatorTier,
};

const EVENT_BUDGET: u64 = 4_000_000;
const TRACE_TAIL: usize = 400;
/// Messages of a later epoch a process keeps until it gets there.
const LATER_KEPT: usize = 1024;
/// Virtual time the records submitted after the heal have to execute once
/// the epochs are reached.
const DRAIN_US: u64 = 30_000_000;

/// Blocks within which a posted proof of misbehaviour commits (a system
/// transaction lands three or four heights after it is posted; a view
/// change or two on top).
const EVIDENCE_COMMITS_WITHIN: Height = 12;

/// One run's parameters; with the seed they determine it.
#[derive(Clone, Debug)]
pub struct DynastySimConfig {
    pub protocol: Protocol,
    /// Validators, the last one registered after the start.
    pub validators: usize,
    pub committee_size: u32,
    pub epoch_length: u64,
    /// How committees after the first certify (threshold: with the group
    /// key of their DKG).
    pub certificate: crate::types::CertificateKind,
    pub seed: u64,
    pub faults: FaultSet,
    pub fault_phase: Duration,
    /// Epoch boundaries every honest process must pass after the heal…
    pub epochs_after_heal: u64,
    /// …within this much virtual time.
    pub deadline: Duration,
    pub base_timeout: Duration,
    pub block_interval: Duration,
    pub full_trace: bool,
}

impl DynastySimConfig {
    pub fn new(protocol: Protocol, seed: u64, faults: FaultSet) -> DynastySimConfig {
        DynastySimConfig {
            protocol,
            validators: 7,
            committee_size: 4,
            epoch_length: crate::types::dynasty::MIN_EPOCH_LENGTH,
            certificate: crate::types::CertificateKind::Multisig,
            seed,
            faults,
            fault_phase: Duration::from_secs(6),
            epochs_after_heal: 2,
            deadline: Duration::from_secs(120),
            base_timeout: Duration::from_millis(400),
            block_interval: Duration::from_millis(40),
            full_trace: false,
        }
    }
}

/// What one seed did.
#[derive(Clone, Debug, Default)]
pub struct DynastySimReport {
    pub seed: u64,
    pub violations: Vec<String>,
    pub liveness_failure: Option<String>,
    /// Lowest epoch an honest process reached.
    pub epochs_min: Epoch,
    /// Lowest height an honest process committed.
    pub committed_min: Height,
    /// Seeds of the epochs after the first, by source.
    pub randshare_seeds: u64,
    pub fallback_seeds: u64,
    /// Committees after the first whose DKG gave a group key, and dealers
    /// an upheld complaint excluded (a Byzantine dealer's bad share).
    pub group_keys: u64,
    pub dkg_excluded: u64,
    /// Epochs whose committee certified with its group key.
    pub threshold_epochs: u64,
    /// Epochs whose committee differs from the one before.
    pub committee_changes: u64,
    /// The reconfiguration executed (and took effect at its boundary).
    pub reconfigured: bool,
    /// The validator registered after the start was drawn or seated.
    pub newcomer_served: bool,
    /// Validators the chain convicted on committed evidence.
    pub convicted: u64,
    /// Epochs that paid their rewards, and what they paid in all.
    pub rewarded_epochs: u64,
    pub rewards_paid: u64,
    /// Records submitted after the heal still waiting in pools at the end
    /// (a slow chain's backlog; none is lost).
    pub records_pending: u64,
    pub byzantine: Option<(usize, String)>,
    pub events: u64,
    pub virtual_time: Duration,
    pub trace: Vec<String>,
}

impl DynastySimReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.liveness_failure.is_none()
    }

    pub fn failure_text(&self, cfg: &DynastySimConfig) -> String {
        let mut s = format!(
            "seed {} failed (replay: strata sim --dynasty --protocol {} --faults {} --seed {} --trace)\n",
            self.seed, cfg.protocol, cfg.faults, self.seed
        );
        for v in &self.violations {
            s += &format!("  safety: {v}\n");
        }
        if let Some(l) = &self.liveness_failure {
            s += &format!("  liveness: {l}\n");
        }
        s += &format!("  byzantine: {:?}\n  last events:\n", self.byzantine);
        for t in &self.trace {
            s += &format!("    {t}\n");
        }
        s
    }
}

#[derive(Debug)]
enum Ev {
    Deliver {
        to: usize,
        from: usize,
        msg: Arc<ConsensusMessage>,
    },
    Gossip {
        to: usize,
        tx: Arc<Transaction>,
    },
    Timer {
        node: usize,
        incarnation: u64,
        id: TimerId,
    },
    Payload {
        node: usize,
        incarnation: u64,
        epoch: Epoch,
        round: Round,
    },
    Resume {
        node: usize,
        incarnation: u64,
    },
    Checked {
        node: usize,
        incarnation: u64,
        block: Digest,
        valid: bool,
    },
    Executed {
        node: usize,
        incarnation: u64,
        height: Height,
        root: Digest,
    },
    CatchUp {
        node: usize,
        incarnation: u64,
    },
    /// A client submits records to a process, which gossips them.
    ClientLoad,
    Register,
    Crash(usize),
    Restart(usize),
    Partition(Vec<bool>),
    Heal,
    Gst,
    Deadline,
    /// The end of the drain: what has not executed by now never will.
    DrainEnd,
}

struct Entry {
    time: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(o.time, o.seq))
    }
}

/// What the Byzantine validator does.
#[derive(Clone, Copy, Debug, Default)]
struct Misdeeds {
    dealer: ParticipantFaults,
    equivocate: bool,
    double_vote: bool,
}

struct Proc {
    keys: ValidatorKeys,
    participant: Participant,
    /// Its dealings' randomness.
    rng: ChaCha20Rng,
    core: Option<ConsensusCore>,
    /// The epoch its core serves.
    epoch: Epoch,
    /// Node ids of that epoch's committee, in member order.
    members: Vec<usize>,
    store: MemStore,
    state: MemState,
    /// Transactions to propose (dynasty transactions and client records
    /// gossiped to it), and those it proposed lately, with when (back in
    /// the pool if not committed a while later: an abandoned fork).
    pool: BTreeMap<Digest, Transaction>,
    proposed: BTreeMap<Digest, (Transaction, u64)>,
    /// Transactions its executor accepted (each at most once).
    accepted: BTreeSet<Digest>,
    later: VecDeque<(usize, Arc<ConsensusMessage>)>,
    up: bool,
    incarnation: u64,
    misdeeds: Option<Misdeeds>,
}

/// Safety as the honest processes see it.
#[derive(Default)]
struct Agreement {
    blocks: BTreeMap<Height, Digest>,
    roots: BTreeMap<Height, Digest>,
    committees: BTreeMap<Epoch, Digest>,
    violations: Vec<String>,
}

impl Agreement {
    fn same<K: Ord + Copy + std::fmt::Debug>(
        map: &mut BTreeMap<K, Digest>,
        violations: &mut Vec<String>,
        what: &str,
        node: usize,
        key: K,
        value: Digest,
    ) {
        let first = *map.entry(key).or_insert(value);
        if first != value {
            violations.push(format!("n{node}: another {what} at {key:?}"));
        }
    }
}

pub struct DynastySim<'a> {
    cfg: &'a DynastySimConfig,
    chain: ChainId,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Entry>>,
    procs: Vec<Proc>,
    net: NetConditions,
    gst: u64,
    after_gst: bool,
    /// Epoch each honest process must reach after the heal.
    target_epoch: Option<Epoch>,
    done: bool,
    liveness_failure: Option<String>,
    agreement: Agreement,
    events: u64,
    trace: VecDeque<String>,
    admin: TxKeypair,
    network: Digest,
    client: TxKeypair,
    nonce: u64,
    /// Client records submitted after the heal: every one must execute.
    after_heal: Vec<Digest>,
    /// The epochs are reached; the run waits for the records to execute.
    draining: bool,
    reconfigure_sent: bool,
    /// The executed height of the first honest process to post a proof of
    /// misbehaviour, when it did.
    evidence_posted: Option<Height>,
    genesis: Arc<Block>,
    /// What tests build other chains' states from.
    #[cfg(test)]
    genesis_state: Arc<GenesisState>,
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// Runs one seed.
pub fn run_dynasty(cfg: &DynastySimConfig) -> DynastySimReport {
    let mut sim = DynastySim::new(cfg);
    sim.execute();
    sim.report()
}

impl<'a> DynastySim<'a> {
    fn new(cfg: &'a DynastySimConfig) -> DynastySim<'a> {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let (chain, tier, domain) = match cfg.protocol {
            Protocol::HotStuff => (ChainId::GLOBAL, ValidatorTier::Cloud, None),
            Protocol::TwoPhase => (ChainId::local(0), ValidatorTier::Edge, Some(0)),
        };
        let keys: Vec<ValidatorKeys> = (0..cfg.validators)
            .map(|i| {
                let weight = rng.gen_range(50..150);
                ValidatorKeys::seeded(
                    cfg.seed.wrapping_mul(1_000) + i as u64,
                    tier,
                    domain,
                    weight,
                )
            })
            .collect();
        let admin = TxKeypair::from_seed(&[0xad; 32]);
        let network = Digest::of("strata/sim/dynasty", &cfg.seed.to_le_bytes());
        let size = cfg.committee_size as usize;
        let registered = cfg.validators - 1;
        let genesis_state = GenesisState {
            config: network,
            committees: vec![CommitteeRecord {
                chain,
                epoch: 0,
                protocol: cfg.protocol,
                threshold: QuorumThreshold::TWO_THIRDS,
                members: BoundedVec::new(
                    keys[..size]
                        .iter()
                        .map(|k| Member {
                            key: k.bls.public_key(),
                            weight: 1,
                        })
                        .collect(),
                )
                .unwrap_or_default(),
                group: None,
            }],
            admins: AdminSet {
                keys: BoundedVec::new(vec![admin.public()]).unwrap_or_default(),
                threshold: 1,
            },
            validators: keys[..registered].iter().map(|k| k.info()).collect(),
            dynasties: vec![(
                chain,
                DynastyParams {
                    epoch_length: cfg.epoch_length,
                    committee_size: cfg.committee_size,
                    threshold: QuorumThreshold::TWO_THIRDS,
                    certificate: cfg.certificate,
                },
            )],
            rewards: Some(SIM_REWARDS),
            stake: None,
        };
        let genesis = Arc::new(genesis_block(GenesisParams {
            chain,
            epoch: 0,
            state_root: genesis_state.root(),
        }));
        let byzantine = (cfg.faults.byzantine).then(|| {
            let who = rng.gen_range(0..registered);
            let dealer = if rng.gen_bool(0.5) {
                ParticipantFaults {
                    withhold_reveal: true,
                    ..ParticipantFaults::default()
                }
            } else {
                ParticipantFaults {
                    invalid_dealing: true,
                    ..ParticipantFaults::default()
                }
            };
            let misdeeds = Misdeeds {
                dealer,
                equivocate: rng.gen_bool(0.5),
                double_vote: rng.gen_bool(0.5),
            };
            (who, misdeeds)
        });
        let ctx = ChainContext { chain, domains: 1 };
        let mut store = MemStore::new();
        let _ = store.commit(std::slice::from_ref(&genesis));
        let procs = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let misdeeds = byzantine.filter(|(b, _)| *b == i).map(|(_, m)| m);
                let participant = k
                    .participant(chain)
                    .with_faults(misdeeds.map(|m| m.dealer).unwrap_or_default());
                Proc {
                    keys: k.clone(),
                    participant,
                    rng: ChaCha20Rng::seed_from_u64(cfg.seed ^ (i as u64 + 1) << 32),
                    core: None,
                    epoch: 0,
                    members: Vec::new(),
                    store: store.clone(),
                    state: MemState::new(ctx, &genesis_state),
                    pool: BTreeMap::new(),
                    proposed: BTreeMap::new(),
                    accepted: BTreeSet::new(),
                    later: VecDeque::new(),
                    up: false,
                    incarnation: 0,
                    misdeeds,
                }
            })
            .collect();
        let loss = if cfg.faults.loss {
            rng.gen_range(0.01..0.15)
        } else {
            0.0
        };
        let mut client_seed = [0xc1; 32];
        client_seed[..8].copy_from_slice(&cfg.seed.to_le_bytes());
        DynastySim {
            cfg,
            chain,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            procs,
            net: NetConditions {
                min_delay_us: 1_000,
                max_delay_us: 20_000,
                loss,
                duplicate: 0.02,
                straggle: 0.02,
                straggle_us: 200_000,
                partition: None,
            },
            gst: us(cfg.fault_phase),
            after_gst: false,
            target_epoch: None,
            done: false,
            liveness_failure: None,
            agreement: Agreement::default(),
            events: 0,
            trace: VecDeque::new(),
            admin,
            network,
            client: TxKeypair::from_seed(&client_seed),
            nonce: 0,
            after_heal: Vec::new(),
            draining: false,
            reconfigure_sent: false,
            evidence_posted: None,
            genesis,
            #[cfg(test)]
            genesis_state: Arc::new(genesis_state),
        }
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Entry {
            time: at,
            seq: self.seq,
            ev,
        }));
    }

    fn log(&mut self, what: impl FnOnce() -> String) {
        self.trace
            .push_back(format!("{:>10.3} ms  {}", self.now as f64 / 1000.0, what()));
        if !self.cfg.full_trace && self.trace.len() > TRACE_TAIL {
            self.trace.pop_front();
        }
    }

    fn honest(&self, i: usize) -> bool {
        self.procs[i].misdeeds.is_none()
    }

    fn execute(&mut self) {
        for i in 0..self.procs.len() {
            let at = self.rng.gen_range(0..5_000);
            self.push(at, Ev::Restart(i));
        }
        self.push(200_000, Ev::Register);
        self.push(100_000, Ev::ClientLoad);
        self.schedule_faults();
        self.push(self.gst, Ev::Gst);
        while let Some(Reverse(e)) = self.queue.pop() {
            if self.done {
                break;
            }
            self.now = e.time;
            self.events += 1;
            if self.events > EVENT_BUDGET {
                self.liveness_failure = Some(format!("event budget of {EVENT_BUDGET} spent"));
                break;
            }
            self.handle(e.ev);
        }
        if !self.done && self.liveness_failure.is_none() {
            self.liveness_failure = Some("the run stopped before its deadline".into());
        }
    }

    fn schedule_faults(&mut self) {
        let f = self.cfg.faults;
        let n = self.procs.len();
        let phase = self.gst;
        if f.crash {
            for _ in 0..self.rng.gen_range(1..=3) {
                let at = self.rng.gen_range(0..phase);
                let who = self.rng.gen_range(0..n);
                self.push(at, Ev::Crash(who));
            }
        }
        if f.partition {
            for _ in 0..self.rng.gen_range(1..=2) {
                let at = self.rng.gen_range(0..phase);
                let side: Vec<bool> = (0..n).map(|_| self.rng.gen_bool(0.5)).collect();
                self.push(at, Ev::Partition(side));
                let heal = (at + self.rng.gen_range(300_000..2_000_000)).min(phase);
                self.push(heal, Ev::Heal);
            }
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver { to, from, msg } => self.deliver(to, from, msg),
            Ev::Gossip { to, tx } => self.take_tx(to, &tx),
            Ev::Timer {
                node,
                incarnation,
                id,
            } => self.feed(node, incarnation, crate::consensus::Event::Timer(id)),
            Ev::Payload {
                node,
                incarnation,
                epoch,
                round,
            } => self.payload(node, incarnation, epoch, round),
            Ev::Resume { node, incarnation } => {
                self.feed(node, incarnation, crate::consensus::Event::Resumed)
            }
            Ev::Checked {
                node,
                incarnation,
                block,
                valid,
            } => {
                let verdict = if valid {
                    crate::consensus::PayloadVerdict::Valid
                } else {
                    crate::consensus::PayloadVerdict::Invalid
                };
                let ev = crate::consensus::Event::PayloadChecked { block, verdict };
                self.feed(node, incarnation, ev)
            }
            Ev::Executed {
                node,
                incarnation,
                height,
                root,
            } => self.feed(
                node,
                incarnation,
                crate::consensus::Event::Executed { height, root },
            ),
            Ev::CatchUp { node, incarnation } => self.catch_up(node, incarnation),
            Ev::Register => self.register_newcomer(),
            Ev::ClientLoad => self.client_load(),
            Ev::Crash(i) => {
                let down = self.procs.iter().filter(|p| !p.up).count();
                if self.procs[i].up && !self.after_gst && down == 0 && self.honest(i) {
                    self.log(|| format!("n{i} crashes"));
                    self.crash(i);
                    let back = (self.now + self.rng.gen_range(300_000..1_500_000)).min(self.gst);
                    self.push(back, Ev::Restart(i));
                }
            }
            Ev::Restart(i) => {
                if !self.procs[i].up {
                    self.log(|| format!("n{i} starts"));
                    self.restart(i);
                }
            }
            Ev::Partition(side) => {
                if !self.after_gst {
                    self.log(|| format!("partition {side:?}"));
                    self.net.partition = Some(side);
                }
            }
            Ev::Heal => {
                self.log(|| "partition heals".into());
                self.net.partition = None;
            }
            Ev::Gst => self.gst_reached(),
            Ev::DrainEnd => self.done = true,
            Ev::Deadline if self.draining => {}
            Ev::Deadline => {
                let behind: Vec<String> = (0..self.procs.len())
                    .filter(|&i| self.honest(i))
                    .filter(|&i| Some(self.procs[i].epoch) < self.target_epoch)
                    .map(|i| format!("n{i} in epoch {}", self.procs[i].epoch))
                    .collect();
                if !behind.is_empty() {
                    self.liveness_failure = Some(format!(
                        "{:?} after the heal, epoch {:?} not reached: {}",
                        self.cfg.deadline,
                        self.target_epoch,
                        behind.join(", ")
                    ));
                }
                self.done = true;
            }
        }
    }

    fn gst_reached(&mut self) {
        self.after_gst = true;
        self.net = NetConditions::synchronous();
        self.log(|| "faults end".into());
        for i in 0..self.procs.len() {
            if !self.procs[i].up {
                self.restart(i);
            }
        }
        let reached = (0..self.procs.len())
            .filter(|&i| self.honest(i))
            .map(|i| self.procs[i].epoch)
            .max()
            .unwrap_or(0);
        self.target_epoch = Some(reached + self.cfg.epochs_after_heal);
        self.push(self.now + us(self.cfg.deadline), Ev::Deadline);
    }

    /// Whether every honest process reached the target (the run ends).
    fn check_done(&mut self) {
        let Some(target) = self.target_epoch else {
            return;
        };
        let honest: Vec<usize> = (0..self.procs.len()).filter(|&i| self.honest(i)).collect();
        if !self.draining {
            if honest.iter().all(|&i| self.procs[i].epoch >= target) {
                // The epochs are done: no new records; the run ends when
                // every record submitted after the heal has executed
                // everywhere (or the drain's deadline says one never will).
                self.draining = true;
                self.log(|| "epochs reached; draining the client records".into());
                self.push(self.now + DRAIN_US, Ev::DrainEnd);
            }
            return;
        }
        let drained = honest.iter().all(|&i| {
            let accepted = &self.procs[i].accepted;
            self.after_heal.iter().all(|h| accepted.contains(h))
        });
        if drained {
            self.done = true;
        }
    }

    /// The validator left out of the genesis registers (approved by the
    /// administrator), gossiped to every process.
    fn register_newcomer(&mut self) {
        let Some(last) = self.procs.last() else {
            return;
        };
        let tx = last.keys.register(&self.network, 0);
        let tx = crate::dynasty::approved_change(tx, &self.network, &[(0, &self.admin)]);
        let tx = Transaction::System(Box::new(crate::types::SystemTx::Registry(tx)));
        self.log(|| "the newcomer registers".into());
        self.gossip_from(0, tx);
    }

    fn gossip_from(&mut self, from: usize, tx: Transaction) {
        let tx = Arc::new(tx);
        self.take_tx(from, &tx);
        for to in 0..self.procs.len() {
            if to == from {
                continue;
            }
            for d in self.net.delays(&mut self.rng, from, to) {
                self.push(self.now + d, Ev::Gossip { to, tx: tx.clone() });
            }
        }
    }

    fn take_tx(&mut self, i: usize, tx: &Transaction) {
        let p = &mut self.procs[i];
        let hash = tx.hash();
        let known = p.accepted.contains(&hash) || p.proposed.contains_key(&hash);
        if p.up && !known && p.pool.len() < 4096 {
            p.pool.insert(hash, tx.clone());
        }
    }

    /// Two client records to a random process that is up (not after the
    /// run has what it needs).
    fn client_load(&mut self) {
        if self.done || self.draining {
            return;
        }
        let up: Vec<usize> = (0..self.procs.len())
            .filter(|&i| self.procs[i].up)
            .collect();
        if let Some(&i) = up.get(self.rng.gen_range(0..up.len().max(1))) {
            for tx in self.client_records(2) {
                if self.after_gst {
                    self.after_heal.push(tx.hash());
                }
                self.gossip_from(i, tx);
            }
        }
        self.push(self.now + 100_000, Ev::ClientLoad);
    }

    fn report(self) -> DynastySimReport {
        let honest: Vec<usize> = (0..self.procs.len()).filter(|&i| self.honest(i)).collect();
        let epochs_min = honest
            .iter()
            .map(|&i| self.procs[i].epoch)
            .min()
            .unwrap_or(0);
        let committed_min = honest
            .iter()
            .map(|&i| self.procs[i].state.applied_height())
            .min()
            .unwrap_or(0);
        // What the chain says, read from the most advanced honest state.
        let best = honest
            .iter()
            .copied()
            .max_by_key(|&i| self.procs[i].state.applied_height());
        let mut report = DynastySimReport {
            seed: self.cfg.seed,
            violations: self.agreement.violations.clone(),
            liveness_failure: self.liveness_failure.clone(),
            epochs_min,
            committed_min,
            byzantine: self
                .procs
                .iter()
                .position(|p| p.misdeeds.is_some())
                .map(|i| (i, format!("{:?}", self.procs[i].misdeeds))),
            events: self.events,
            virtual_time: Duration::from_micros(self.now),
            ..DynastySimReport::default()
        };
        if let Some(b) = best {
            let state = &self.procs[b].state;
            let newcomer = self.procs.last().map(|p| p.keys.bls.public_key());
            let mut previous: Option<Vec<strata_crypto::PublicKey>> = None;
            for e in 0.. {
                let Ok(Some(c)) = crate::dynasty::committee(state, self.chain, e) else {
                    break;
                };
                let keys: Vec<_> = c.members.iter().map(|m| m.key).collect();
                if previous.as_ref().is_some_and(|p| *p != keys) {
                    report.committee_changes += 1;
                }
                if newcomer.is_some_and(|n| keys.contains(&n)) {
                    report.newcomer_served = true;
                }
                previous = Some(keys);
                report.threshold_epochs += u64::from(c.group.is_some());
                if let Ok(Some(d)) = crate::dynasty::dkg::dkg_record(state, self.chain, e) {
                    report.group_keys += u64::from(d.group_key.is_some());
                    report.dkg_excluded += d.disqualified.len() as u64;
                }
                if let Ok(Some(r)) = crate::dynasty::epoch_record(state, self.chain, e) {
                    match r.source {
                        SeedSource::RandShare => report.randshare_seeds += 1,
                        SeedSource::Fallback => report.fallback_seeds += 1,
                        SeedSource::Genesis => {}
                    }
                }
            }
            report.reconfigured =
                crate::dynasty::reconfigurations(state, self.chain).is_ok_and(|n| n > 0);
            self.check_convictions(state, committed_min, &mut report);
            self.check_rewards(state, &mut report);
        }
        // No record submitted after the heal is lost: once the run has
        // drained them, each is executed by the most advanced honest
        // process, or still waits in an honest pool (a chain slowed by a
        // Byzantine leader may not have reached it yet; it is not lost).
        if report.liveness_failure.is_none() {
            if let Some(b) = best {
                let waiting = |h: &Digest| {
                    honest.iter().any(|&i| {
                        let p = &self.procs[i];
                        p.pool.contains_key(h) || p.proposed.contains_key(h)
                    })
                };
                let lost = self
                    .after_heal
                    .iter()
                    .filter(|h| !self.procs[b].accepted.contains(h) && !waiting(h))
                    .count();
                if lost > 0 {
                    report.violations.push(format!(
                        "{lost} records submitted after the heal neither executed nor waiting in any honest pool"
                    ));
                }
                report.records_pending = self
                    .after_heal
                    .iter()
                    .filter(|h| !self.procs[b].accepted.contains(h))
                    .count() as u64;
            }
        }
        if !report.passed() || self.cfg.full_trace {
            report.trace = self.trace.into_iter().collect();
        }
        report
    }

    /// A committee record's digest, for the agreement check.
    fn committee_digest(record: &CommitteeRecord) -> Digest {
        Digest::of("strata/sim/committee", &record.encode())
    }
}

#[cfg(test)]
mod tests;
