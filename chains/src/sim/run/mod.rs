//! The simulation loop.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strata_crypto::codec::BoundedVec;
use strata_crypto::committee::Committee;
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;
use strata_crypto::test_support::TestCommittee;
use strata_crypto::SecretKey;

mod faults;
mod hierarchy;
mod host;
mod outbound;
mod pool;

use pool::BatchMsg;

use super::byzantine::Behavior;
use super::checker::Checker;
use super::network::NetConditions;
use super::{SimConfig, SimReport};
use crate::consensus::{
    sync, Action, ConsensusCore, CoreConfig, Event, LeaderPolicy, PayloadVerdict, Recovery, TimerId,
};
use crate::execution::{ChainContext, CommitteeRecord, GenesisState, MemState};
use crate::store::{MemStore, Store};
use crate::types::{
    genesis_block, Block, ChainId, ConsensusMessage, GenesisParams, Height, MetaEntry, ObjectId,
    Op, Payload, Protocol, Provenance, Round, Transaction, GLOBAL_DOMAIN,
};

const TRACE_TAIL: usize = 300;
const EVENT_BUDGET: u64 = 3_000_000;
const CAPTURED: usize = 64;

#[derive(Debug)]
enum SimEvent {
    Deliver {
        to: u32,
        from: u32,
        msg: Arc<ConsensusMessage>,
    },
    Timer {
        node: u32,
        incarnation: u64,
        id: TimerId,
    },
    /// The mempool's payload for a node's proposal.
    Payload {
        node: u32,
        incarnation: u64,
        round: Round,
        payload: Payload,
        batches_tx_root: Option<Digest>,
    },
    /// A mempool message (`pool.rs`).
    BatchDeliver {
        to: u32,
        from: u32,
        msg: Arc<BatchMsg>,
    },
    /// A node's mempool is due (`periodic`: its regular tick).
    MempoolTick {
        node: u32,
        incarnation: u64,
        periodic: bool,
    },
    /// The host's signature check of a peer batch.
    BatchVerified {
        node: u32,
        incarnation: u64,
        from: u32,
        batch: Arc<crate::types::HashedBatch>,
        valid: bool,
    },
    /// Client records arrive at a random node.
    ClientLoad,
    /// The answer to a node's [`Action::Yield`].
    Resume {
        node: u32,
        incarnation: u64,
    },
    /// The host's answer to [`Action::CheckPayload`].
    PayloadChecked {
        node: u32,
        incarnation: u64,
        block: Digest,
        verdict: PayloadVerdict,
    },
    /// The node's executor finished a committed height.
    Executed {
        node: u32,
        incarnation: u64,
        height: Height,
        root: Digest,
    },
    Crash(u32),
    Restart(u32),
    Partition(Vec<bool>),
    Heal,
    Replay(u32),
    LyingSync(u32),
    Gst,
    Deadline,
}

struct Entry {
    time: u64,
    seq: u64,
    event: SimEvent,
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

/// One trace line, formatted only when printed.
#[derive(Clone, Debug)]
struct TraceEvent {
    time: u64,
    what: String,
}

struct SimNode {
    key: SecretKey,
    /// Its place in the committee; a twin shares its original's.
    position: usize,
    core: Option<ConsensusCore>,
    store: MemStore,
    /// The executed state, on this node's "disk" with its store: every
    /// committed block is executed, and honest nodes must agree on the
    /// state digest at each height.
    state: MemState,
    /// The mempool core (in memory: lost at a crash).
    mempool: Option<crate::mempool::MempoolCore>,
    /// Committed blocks waiting for execution (for their batches).
    exec_queue: VecDeque<Block>,
    ensuring: bool,
    incarnation: u64,
    behaviors: Vec<Behavior>,
    captured: VecDeque<Arc<ConsensusMessage>>,
}

impl SimNode {
    fn honest(&self) -> bool {
        self.behaviors.is_empty()
    }
    fn has(&self, b: Behavior) -> bool {
        self.behaviors.contains(&b)
    }
}

struct Sim<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Entry>>,
    nodes: Vec<SimNode>,
    committee: Arc<Committee>,
    genesis: Arc<Block>,
    leader: LeaderPolicy,
    net: NetConditions,
    checker: Checker,
    gst: u64,
    after_gst: bool,
    targets: Vec<Option<u64>>,
    done: bool,
    liveness_failure: Option<String>,
    events: u64,
    trace: VecDeque<TraceEvent>,
    client: TxKeypair,
    nonce: u64,
    /// The client load's objects (of this chain's domain).
    objects: Vec<ObjectId>,
    genesis_state: Arc<GenesisState>,
    f: usize,
    pool: super::PoolStats,
    /// Heights some honest node has committed, and for each the virtual
    /// time from its proposal to that first commit.
    first_commits: std::collections::HashSet<u64>,
    commit_latency_ms: Vec<u32>,
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

impl<'a> Sim<'a> {
    fn new(cfg: &'a SimConfig) -> Sim<'a> {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let n = cfg.nodes;
        // The kit's keys salted with the run's seed (or the chain's salt
        // in a hierarchy).
        let salt = cfg.seat.as_ref().map_or(cfg.seed, |s| s.salt);
        let TestCommittee { keys, committee } = TestCommittee::seeded(salt, n);
        let chain = match (&cfg.seat, cfg.protocol) {
            (Some(seat), _) => seat.chain,
            (None, Protocol::HotStuff) => ChainId::GLOBAL,
            (None, Protocol::TwoPhase) => ChainId::local(0),
        };
        let domains = cfg.seat.as_ref().map_or(1, |s| s.domains);
        let genesis_state = match &cfg.seat {
            Some(seat) => (*seat.genesis).clone(),
            None => GenesisState {
                config: Digest::of("strata/sim/genesis", &cfg.seed.to_le_bytes()),
                committees: vec![sim_committee(chain, cfg.protocol, &committee)],
                ..GenesisState::default()
            },
        };
        // Objects of this chain's domain for the client load.
        let objects: Vec<ObjectId> = (0u64..)
            .map(|i| format!("sim-object-{i}"))
            .filter(|o| match chain.domain() {
                Some(d) => crate::types::domain_of(o.as_bytes(), domains) == d,
                None => true,
            })
            .take(5)
            .map(|o| ObjectId::new(o.into_bytes()).expect("short id"))
            .collect();
        let genesis = genesis_block(GenesisParams {
            chain,
            epoch: 0,
            state_root: genesis_state.root(),
        });
        let leader = match cfg.protocol {
            Protocol::HotStuff if cfg.seed % 2 == 0 => LeaderPolicy::RoundRobin,
            Protocol::HotStuff => LeaderPolicy::stake_weighted(Digest::of(
                "strata/sim/leader-seed",
                &cfg.seed.to_le_bytes(),
            )),
            Protocol::TwoPhase => {
                let uptime: Vec<u64> = (0..n).map(|_| rng.gen_range(0..1000)).collect();
                LeaderPolicy::uptime(&uptime)
            }
        };
        let f = (n - 1) / 3;
        let mut behaviors = vec![Vec::new(); n];
        if cfg.faults.byzantine && f > 0 {
            let count = rng.gen_range(1..=f);
            let mut ids: Vec<usize> = (0..n).collect();
            ids.shuffle(&mut rng);
            for &i in &ids[..count] {
                let mut set: Vec<Behavior> = Behavior::ALL
                    .iter()
                    .copied()
                    .filter(|_| rng.gen_bool(0.5))
                    .collect();
                if set.is_empty() {
                    set.push(*Behavior::ALL.choose(&mut rng).expect("non-empty"));
                }
                // Twins run honest code only: what they do wrong is each
                // other's doing.
                if set.contains(&Behavior::Twins) {
                    set = vec![Behavior::Twins];
                }
                behaviors[i] = set;
            }
        }
        let genesis_store = {
            let mut st = MemStore::new();
            st.commit(std::slice::from_ref(&genesis))
                .expect("an empty store takes the genesis block");
            st
        };
        let twinned = behaviors.iter().position(|b| b.contains(&Behavior::Twins));
        // Alone, one edge domain: the two-phase chain is its local chain.
        let exec_ctx = ChainContext { chain, domains };
        let mut nodes: Vec<SimNode> = keys
            .iter()
            .zip(behaviors)
            .enumerate()
            .map(|(position, (key, behaviors))| SimNode {
                key: key.clone(),
                position,
                core: None,
                store: genesis_store.clone(),
                state: MemState::new(exec_ctx, &genesis_state),
                mempool: None,
                exec_queue: VecDeque::new(),
                ensuring: false,
                incarnation: 0,
                behaviors,
                captured: VecDeque::new(),
            })
            .collect();
        // One more process, after the committee's: the twin of a Byzantine
        // member, with its key and position, and an honest core.
        if let Some(p) = twinned {
            nodes.push(SimNode {
                key: keys[p].clone(),
                position: p,
                core: None,
                store: genesis_store.clone(),
                state: MemState::new(exec_ctx, &genesis_state),
                mempool: None,
                exec_queue: VecDeque::new(),
                ensuring: false,
                incarnation: 0,
                behaviors: vec![Behavior::Twins],
                captured: VecDeque::new(),
            });
        }
        let honest: Vec<bool> = nodes.iter().map(|n| n.behaviors.is_empty()).collect();
        let processes = nodes.len();
        let net = NetConditions {
            min_delay_us: 1_000,
            max_delay_us: 30_000,
            loss: if cfg.faults.loss {
                rng.gen_range(0.01..0.2)
            } else {
                0.0
            },
            duplicate: 0.03,
            straggle: 0.03,
            straggle_us: 300_000,
            partition: None,
        };
        let mut client_seed = [7u8; 32];
        client_seed[..8].copy_from_slice(&cfg.seed.to_le_bytes());
        Sim {
            checker: Checker::new(cfg.protocol, chain, 0, committee.clone(), honest),
            cfg,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            committee,
            genesis: Arc::new(genesis),
            leader,
            net,
            gst: us(cfg.fault_phase),
            after_gst: false,
            targets: vec![None; processes],
            done: false,
            liveness_failure: None,
            events: 0,
            first_commits: Default::default(),
            commit_latency_ms: Vec::new(),
            trace: VecDeque::new(),
            client: TxKeypair::from_seed(&client_seed),
            nonce: 0,
            objects,
            genesis_state: Arc::new(genesis_state),
            f,
            pool: super::PoolStats::default(),
        }
    }

    fn push(&mut self, at: u64, event: SimEvent) {
        self.seq += 1;
        self.queue.push(Reverse(Entry {
            time: at,
            seq: self.seq,
            event,
        }));
    }

    fn log(&mut self, what: impl FnOnce() -> String) {
        let keep_all = self.cfg.full_trace;
        self.trace.push_back(TraceEvent {
            time: self.now,
            what: what(),
        });
        if !keep_all && self.trace.len() > TRACE_TAIL {
            self.trace.pop_front();
        }
    }

    fn start_node(&mut self, i: usize) {
        let cfg = {
            let mut c = CoreConfig::new(
                self.cfg.protocol,
                self.committee.clone(),
                self.nodes[i].position as u32,
                self.leader.clone(),
                self.genesis.clone(),
            );
            c.base_timeout = self.cfg.base_timeout;
            c.max_timeout = self.cfg.base_timeout * 16;
            c
        };
        let node = &mut self.nodes[i];
        let store = &node.store;
        let tip = match store.committed_tip() {
            Ok(Some((h, _))) => store
                .block_at(h)
                .ok()
                .flatten()
                .map(Arc::new)
                .unwrap_or_else(|| self.genesis.clone()),
            _ => self.genesis.clone(),
        };
        let recovery = Recovery {
            safety: store.load_safety().ok().flatten(),
            committed_tip: tip,
            pending: store.uncommitted_blocks().unwrap_or_default(),
        };
        let mut core = ConsensusCore::new(cfg, node.key.clone());
        let mut actions = core.on_event(self.now, Event::Restored(Box::new(recovery)));
        // The executed state survives on the node's disk: its host reports
        // the recent executed heights, as a restarted node does.
        let applied = node.state.applied_height();
        let first = applied.saturating_sub(crate::consensus::KEPT_ROOTS as u64 - 1);
        for height in first..=applied {
            if let Some(root) = node.state.root_at(height) {
                actions.extend(core.on_event(self.now, Event::Executed { height, root }));
            }
        }
        node.core = Some(core);
        self.start_pool(i);
        self.apply(i, actions);
    }

    /// The first events: every node starts, faults are scheduled, the
    /// client load begins.
    fn start(&mut self) {
        for i in 0..self.nodes.len() {
            let at = self.rng.gen_range(0..5_000);
            self.push(at, SimEvent::Restart(i as u32));
        }
        self.schedule_faults();
        self.push(pool::CLIENT_EVERY_US, SimEvent::ClientLoad);
    }

    /// Handles every event due by virtual time `t` (in a hierarchy, which
    /// decides when the run ends).
    fn run_until(&mut self, t: u64) {
        while self.queue.peek().is_some_and(|Reverse(e)| e.time <= t) {
            let Some(Reverse(entry)) = self.queue.pop() else {
                break;
            };
            self.now = entry.time;
            self.events += 1;
            if self.events > EVENT_BUDGET {
                self.liveness_failure = Some(format!("event budget of {EVENT_BUDGET} exhausted"));
                return;
            }
            self.handle(entry.event);
        }
        self.now = self.now.max(t);
    }

    fn execute(&mut self) {
        self.start();
        while let Some(Reverse(entry)) = self.queue.pop() {
            if self.done {
                break;
            }
            self.now = entry.time;
            self.events += 1;
            if self.events > EVENT_BUDGET {
                self.liveness_failure = Some(format!("event budget of {EVENT_BUDGET} exhausted"));
                break;
            }
            self.handle(entry.event);
        }
    }

    fn handle(&mut self, event: SimEvent) {
        match event {
            SimEvent::Deliver { to, from, msg } => self.deliver(to as usize, from, msg),
            SimEvent::Timer {
                node,
                incarnation,
                id,
            } => {
                self.feed_core(node, incarnation, Event::Timer(id));
            }
            SimEvent::Payload {
                node,
                incarnation,
                round,
                payload,
                batches_tx_root,
            } => {
                self.feed_core(
                    node,
                    incarnation,
                    Event::ProposalReady {
                        round,
                        payload,
                        batches_tx_root,
                    },
                );
            }
            SimEvent::BatchDeliver { to, from, msg } => self.deliver_batch(to as usize, from, msg),
            SimEvent::MempoolTick {
                node,
                incarnation,
                periodic,
            } => {
                let i = node as usize;
                if self.nodes[i].incarnation == incarnation && self.nodes[i].mempool.is_some() {
                    self.pool_event(i, crate::mempool::MempoolEvent::Tick);
                    if periodic && !self.done {
                        let next = SimEvent::MempoolTick {
                            node,
                            incarnation,
                            periodic,
                        };
                        self.push(self.now + 250_000, next);
                    }
                }
            }
            SimEvent::BatchVerified {
                node,
                incarnation,
                from,
                batch,
                valid,
            } => {
                let i = node as usize;
                if self.nodes[i].incarnation == incarnation {
                    let event = crate::mempool::MempoolEvent::Verified { from, batch, valid };
                    self.pool_event(i, event);
                }
            }
            SimEvent::ClientLoad => self.client_load(),
            SimEvent::Resume { node, incarnation } => {
                self.feed_core(node, incarnation, Event::Resumed);
            }
            SimEvent::PayloadChecked {
                node,
                incarnation,
                block,
                verdict,
            } => {
                self.feed_core(node, incarnation, Event::PayloadChecked { block, verdict });
            }
            SimEvent::Executed {
                node,
                incarnation,
                height,
                root,
            } => {
                self.feed_core(node, incarnation, Event::Executed { height, root });
            }
            SimEvent::Crash(node) => {
                let i = node as usize;
                if self.nodes[i].honest()
                    && self.nodes[i].core.is_some()
                    && self.down_count() < self.f.max(1)
                    && !self.after_gst
                {
                    self.crash(i, "scheduled");
                }
            }
            SimEvent::Restart(node) => {
                let i = node as usize;
                if self.nodes[i].core.is_none() {
                    self.log(|| format!("n{i} starts"));
                    self.start_node(i);
                }
            }
            SimEvent::Partition(side) => {
                if !self.after_gst {
                    self.log(|| format!("partition {side:?}"));
                    self.net.partition = Some(side);
                }
            }
            SimEvent::Heal => {
                self.log(|| "partition heals".to_string());
                self.net.partition = None;
            }
            SimEvent::Replay(node) => self.replay(node as usize),
            SimEvent::LyingSync(node) => self.lying_sync(node as usize),
            SimEvent::Gst => self.gst_reached(),
            SimEvent::Deadline => {
                let missing: Vec<String> = (0..self.cfg.nodes)
                    .filter(|&i| self.nodes[i].honest())
                    .filter_map(|i| {
                        let target = self.targets[i]?;
                        let h = self.executed_height(i);
                        (h < target).then(|| format!("n{i} at height {h}, needed {target}"))
                    })
                    .collect();
                if !missing.is_empty() {
                    self.liveness_failure = Some(format!(
                        "{:?} after the heal: {}",
                        self.cfg.liveness_deadline,
                        missing.join(", ")
                    ));
                }
                self.done = true;
            }
        }
    }

    /// Feeds a core event to node `node` if it is still the incarnation
    /// the event was meant for.
    fn feed_core(&mut self, node: u32, incarnation: u64, event: Event) {
        let i = node as usize;
        if self.nodes[i].incarnation == incarnation {
            if let Some(core) = self.nodes[i].core.as_mut() {
                let actions = core.on_event(self.now, event);
                self.apply(i, actions);
            }
        }
    }

    /// How far node `i` committed and executed (its store's committed tip:
    /// a block is written there once its batches are here).
    fn executed_height(&self, i: usize) -> Height {
        self.nodes[i]
            .store
            .committed_tip()
            .ok()
            .flatten()
            .map_or(0, |t| t.0)
    }

    fn check_done(&mut self) {
        if !self.after_gst {
            return;
        }
        let all = (0..self.cfg.nodes)
            .filter(|&i| self.nodes[i].honest())
            .all(|i| {
                let h = self.executed_height(i);
                self.targets[i].is_some_and(|t| h >= t)
            });
        if all {
            self.done = true;
        }
    }

    fn payload(&mut self) -> Vec<Transaction> {
        (0..2)
            .map(|_| {
                self.nonce += 1;
                let chain = self.genesis.header.chain;
                let object = (self.nonce as usize) % self.objects.len().max(1);
                let record = Provenance {
                    network: Digest::ZERO,
                    domain: chain.domain().unwrap_or(GLOBAL_DOMAIN),
                    object_id: self.objects[object].clone(),
                    // Each of the five objects is created first, then
                    // updated (records reordered by the network may be
                    // refused by the executor's life rules: that is fine).
                    op: if self.nonce <= 5 {
                        Op::Create
                    } else {
                        Op::Update
                    },
                    payload_digest: Digest::of("sim/payload", &self.nonce.to_le_bytes()),
                    parents: BoundedVec::empty(),
                    meta: BoundedVec::<MetaEntry, 16>::empty(),
                    sender: self.client.public(),
                    nonce: self.nonce,
                    timestamp_ms: self.now / 1000,
                };
                Transaction::Provenance(record.sign_deterministic(&self.client))
            })
            .collect()
    }

    fn report(self) -> SimReport {
        let honest: Vec<usize> = (0..self.cfg.nodes)
            .filter(|&i| self.nodes[i].honest())
            .collect();
        let committed_min = honest
            .iter()
            .map(|&i| self.executed_height(i))
            .min()
            .unwrap_or(0);
        let views_max = self
            .nodes
            .iter()
            .filter_map(|n| n.core.as_ref().map(|c| c.view()))
            .max()
            .unwrap_or(0);
        let failed = !self.checker.violations.is_empty()
            || self.liveness_failure.is_some()
            || !self.checker.missed_evidence().is_empty();
        let trace = if failed || self.cfg.full_trace {
            self.trace
                .iter()
                .map(|t| format!("{:>10.3} ms  {}", t.time as f64 / 1000.0, t.what))
                .collect()
        } else {
            Vec::new()
        };
        SimReport {
            seed: self.cfg.seed,
            safety_violations: self.checker.violations.clone(),
            liveness_failure: self.liveness_failure.clone(),
            evidence_missed: self.checker.missed_evidence(),
            committed_min,
            virtual_time: Duration::from_micros(self.now),
            events: self.events,
            byzantine: self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| !n.honest())
                .map(|(i, n)| (i as u32, n.behaviors.clone()))
                .collect(),
            evidence_emitted: self.checker.evidence_count,
            views_max,
            view_changes: self
                .nodes
                .iter()
                .filter_map(|n| n.core.as_ref().map(|c| c.stats().views_by_timeout))
                .max()
                .unwrap_or(0),
            commit_latency_ms: self.commit_latency_ms,
            executed_heights: self.checker.executed_heights(),
            highest_named_state: self.checker.highest_named_state(),
            pool: self.pool,
            trace,
        }
    }
}

/// A simulated chain's committee as its genesis state records it.
pub(super) fn sim_committee(
    chain: ChainId,
    protocol: Protocol,
    committee: &Committee,
) -> CommitteeRecord {
    CommitteeRecord {
        chain,
        epoch: 0,
        protocol,
        threshold: strata_crypto::QuorumThreshold::TWO_THIRDS,
        members: BoundedVec::new(committee.members().to_vec())
            .expect("a simulated committee is small"),
        group: None,
    }
}

fn describe(msg: &ConsensusMessage) -> String {
    match msg {
        ConsensusMessage::Proposal(b) => format!(
            "proposal {} by n{} {}",
            b.round(),
            b.header.proposer,
            &b.hash().to_hex()[..8]
        ),
        ConsensusMessage::Vote(v) => format!("vote {} by n{}", v.data.round, v.signer),
        ConsensusMessage::Timeout(t) => format!(
            "timeout v{} by n{} high {}",
            t.view(),
            t.statement.signer,
            t.high_qc.round
        ),
        ConsensusMessage::SyncRequest(r) => {
            format!("sync request {}..{}", r.from_height, r.target_height)
        }
        ConsensusMessage::SyncResponse(r) => format!("sync response of {} blocks", r.blocks.len()),
        ConsensusMessage::Evidence(e) => {
            format!("evidence of {} against {:?}", e.kind(), e.offenders())
        }
        ConsensusMessage::EpochChange(ec) => format!("end of epoch {}", ec.epoch),
    }
}

/// Runs one seed.
pub use hierarchy::{run_hierarchy, HierarchyConfig, HierarchyReport};

pub fn run(cfg: &SimConfig) -> SimReport {
    let mut sim = Sim::new(cfg);
    sim.execute();
    sim.report()
}

/// Runs seeds `first..first+count` on `threads` threads; reports in seed
/// order.
pub fn run_many(template: &SimConfig, first: u64, count: u64, threads: usize) -> Vec<SimReport> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(count as usize));
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed) as u64;
                if k >= count {
                    break;
                }
                let mut cfg = template.clone();
                cfg.seed = first + k;
                let report = run(&cfg);
                results
                    .lock()
                    .expect("no panics while holding the lock")
                    .push(report);
            });
        }
    });
    let mut results = results.into_inner().expect("threads joined");
    results.sort_by_key(|r| r.seed);
    results
}
