//! The simulated hierarchy (issue 25, point 8): the global chain and
//! `domains` local chains, each a simulation of its own under its own
//! faults (crashes, partitions, loss, Byzantine members), stepped together
//! in virtual time. Every honest member of a local chain runs the
//! `AnchorSubmitter` a node runs (`anchor/submitter.rs`): it follows its
//! store's certified tip, builds anchors from its own executed state and
//! submits them to a random global node's mempool after a network delay;
//! it polls a global node's executed state for the domain's last anchor
//! (answers lost while that node is down). The global chain executes the
//! anchors with the executor a node runs.
//!
//! Checked, besides each chain's own safety and liveness:
//! - the global chain never records two certified states for one (domain,
//!   height) (`anchor-conflict/…` in an honest global node's state);
//! - every anchored block is the block each honest local member committed
//!   at that height;
//! - honest members of a domain agree on where each committed record is
//!   (height, index, block): what their receipts would say;
//! - liveness: after the heal, every domain's anchors reach the height its
//!   members had committed at the heal within a bounded virtual time.

use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

use parity_scale_codec::Decode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strata_crypto::hash::Digest;
use strata_crypto::test_support::TestCommittee;

use super::{sim_committee, Sim};
use crate::anchor::{AnchorSubmitter, SubmitterAction, SubmitterConfig, SubmitterEvent};
use crate::execution::{anchor_key, block_key, AnchorHead, AnchorRecord, GenesisState, StateView};
use crate::sim::{FaultSet, Seat, SimConfig, SimReport};
use crate::store::Store;
use crate::types::{Anchor, ChainId, Height, Protocol, SystemTx, Transaction};

/// A simulated hierarchy's parameters.
#[derive(Clone, Debug)]
pub struct HierarchyConfig {
    pub domains: u32,
    /// Members of every chain.
    pub nodes: usize,
    pub seed: u64,
    pub faults: FaultSet,
    /// Virtual time after the heal within which every domain's anchors
    /// must reach what its members had committed at the heal.
    pub anchor_deadline: Duration,
}

impl HierarchyConfig {
    pub fn new(domains: u32, nodes: usize, seed: u64, faults: FaultSet) -> HierarchyConfig {
        HierarchyConfig {
            domains,
            nodes,
            seed,
            faults,
            anchor_deadline: Duration::from_secs(60),
        }
    }
}

/// What a simulated hierarchy did.
#[derive(Clone, Debug)]
pub struct HierarchyReport {
    pub seed: u64,
    /// Each chain's own report, the global chain first.
    pub chains: Vec<SimReport>,
    pub violations: Vec<String>,
    pub liveness_failure: Option<String>,
    /// Anchors each domain had on the global chain at the end, and its
    /// last anchored height.
    pub anchors: Vec<u64>,
    pub anchored: Vec<Height>,
    /// Forged anchors Byzantine local members submitted, and anchors the
    /// global chain refused (as an honest global node executed them).
    pub forged: u64,
    /// Anchors refused before admission (their certificate or proofs do
    /// not hold: the forged ones), and anchors the global chain executed
    /// and refused (honest duplicates: "already anchored", a stale link).
    pub refused_at_admission: u64,
    pub anchors_refused: u64,
    pub virtual_time: Duration,
}

impl HierarchyReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
            && self.liveness_failure.is_none()
            && self.chains.iter().all(SimReport::passed)
    }
}

/// Local heights between anchors in the simulation.
const INTERVAL: u64 = 4;
/// The step of the lockstep, virtual µs.
const STEP_US: u64 = 10_000;

/// A message between tiers, due at a virtual time.
#[derive(Debug)]
enum CrossChain {
    /// An anchor for global node `to`'s mempool.
    Anchor { to: usize, tx: Box<Transaction> },
    /// A global node's answer to a local member's poll.
    Recorded {
        domain: usize,
        member: usize,
        incarnation: u64,
        record: Option<Box<AnchorRecord>>,
    },
}

struct Due {
    at: u64,
    seq: u64,
    msg: CrossChain,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// A local member's anchoring duty, per incarnation of the member.
struct Duty {
    incarnation: u64,
    machine: AnchorSubmitter,
    fed: Height,
}

fn seat_salt(seed: u64, chain: ChainId) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(u64::from(chain.0) << 40)
}

/// Runs one seed of a hierarchy.
pub fn run_hierarchy(cfg: &HierarchyConfig) -> HierarchyReport {
    let n = cfg.nodes;
    let chains: Vec<ChainId> = std::iter::once(ChainId::GLOBAL)
        .chain((0..cfg.domains).map(ChainId::local))
        .collect();
    let protocol = |c: ChainId| {
        if c == ChainId::GLOBAL {
            Protocol::HotStuff
        } else {
            Protocol::TwoPhase
        }
    };
    let genesis = Arc::new(GenesisState {
        config: Digest::of("strata/sim/hierarchy", &cfg.seed.to_le_bytes()),
        committees: chains
            .iter()
            .map(|&c| {
                let kit = TestCommittee::seeded(seat_salt(cfg.seed, c), n);
                sim_committee(c, protocol(c), &kit.committee)
            })
            .collect(),
        ..GenesisState::default()
    });
    let configs: Vec<SimConfig> = chains
        .iter()
        .map(|&c| {
            let mut s = SimConfig::new(
                protocol(c),
                n,
                cfg.seed ^ (u64::from(c.0) << 56),
                cfg.faults,
            );
            s.seat = Some(Seat {
                chain: c,
                domains: cfg.domains,
                salt: seat_salt(cfg.seed, c),
                genesis: genesis.clone(),
            });
            s
        })
        .collect();
    let h = Hierarchy {
        cfg,
        sims: configs.iter().map(Sim::new).collect(),
        duties: (0..cfg.domains)
            .map(|_| (0..n).map(|_| None).collect())
            .collect(),
        due: BinaryHeap::new(),
        seq: 0,
        rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x616e_6368_6f72),
        violations: Vec::new(),
        now: 0,
        forged: 0,
        refused_at_admission: 0,
    };
    h.run()
}

struct Hierarchy<'a> {
    cfg: &'a HierarchyConfig,
    /// The global chain's simulation first, then each domain's.
    sims: Vec<Sim<'a>>,
    duties: Vec<Vec<Option<Duty>>>,
    due: BinaryHeap<Due>,
    seq: u64,
    rng: ChaCha8Rng,
    violations: Vec<String>,
    now: u64,
    /// Forged anchors Byzantine members submitted.
    forged: u64,
    /// Anchors a global node's check refused before admission.
    refused_at_admission: u64,
}

impl Hierarchy<'_> {
    fn run(mut self) -> HierarchyReport {
        for s in &mut self.sims {
            s.start();
        }
        let heal = self.sims[0].gst;
        let deadline = heal + self.cfg.anchor_deadline.as_micros() as u64;
        // What each domain's members had committed at the heal.
        let mut targets: Option<Vec<Height>> = None;
        let mut liveness_failure = None;
        let mut t = 0;
        loop {
            t += STEP_US;
            self.now = t;
            for s in &mut self.sims {
                s.run_until(t);
            }
            self.deliver_due();
            self.anchoring();
            if t % 1_000_000 == 0 {
                self.check(false);
            }
            if targets.is_none() && t >= heal {
                targets = Some(
                    (0..self.cfg.domains as usize)
                        .map(|d| self.local_tip(d))
                        .collect(),
                );
            }
            if let Some(targets) = &targets {
                let anchored = self.anchored();
                let reached = targets.iter().zip(&anchored).all(|(t, a)| a >= t);
                let chains_done = self
                    .sims
                    .iter()
                    .all(|s| s.done || s.liveness_failure.is_some());
                if reached && chains_done {
                    break;
                }
                if t >= deadline {
                    liveness_failure = Some(format!(
                        "anchors did not reach the heights committed at the heal within {:?}: targets {targets:?}, anchored {anchored:?}",
                        self.cfg.anchor_deadline
                    ));
                    break;
                }
            }
            if self.sims.iter().any(|s| s.events > super::EVENT_BUDGET) {
                liveness_failure = Some("event budget exhausted".into());
                break;
            }
        }
        self.check(true);
        let anchored = self.anchored();
        let anchors = (0..self.cfg.domains)
            .map(|d| self.best_head(d).map_or(0, |h| h.anchors))
            .collect();
        let now = self.now;
        let anchors_refused = (0..self.cfg.nodes)
            .filter(|&j| self.sims[0].nodes[j].honest())
            .map(|j| {
                self.sims[0].nodes[j]
                    .state
                    .refused()
                    .iter()
                    .filter(|(_, why)| why.contains("anchor") || why.contains("certificate"))
                    .count() as u64
            })
            .max()
            .unwrap_or(0);
        let forged = self.forged;
        let refused_at_admission = self.refused_at_admission;
        HierarchyReport {
            forged,
            refused_at_admission,
            anchors_refused,
            seed: self.cfg.seed,
            chains: self.sims.into_iter().map(Sim::report).collect(),
            violations: self.violations,
            liveness_failure,
            anchors,
            anchored,
            virtual_time: Duration::from_micros(now),
        }
    }

    fn push(&mut self, at: u64, msg: CrossChain) {
        self.seq += 1;
        self.due.push(Due {
            at,
            seq: self.seq,
            msg,
        });
    }

    fn delay(&mut self) -> u64 {
        self.rng.gen_range(1_000..30_000)
    }

    fn deliver_due(&mut self) {
        while self.due.peek().is_some_and(|d| d.at <= self.now) {
            let Some(d) = self.due.pop() else { break };
            match d.msg {
                CrossChain::Anchor { to, tx } => {
                    if !self.sims[0].submit(to, *tx) {
                        self.refused_at_admission += 1;
                    }
                }
                CrossChain::Recorded {
                    domain,
                    member,
                    incarnation,
                    record,
                } => {
                    let now_ms = self.now / 1000;
                    let actions = match self.duties[domain][member].as_mut() {
                        Some(duty) if duty.incarnation == incarnation => duty
                            .machine
                            .on_event(now_ms, SubmitterEvent::Recorded(record.map(|r| *r))),
                        _ => continue,
                    };
                    self.carry_out(domain, member, actions);
                }
            }
        }
    }

    /// Every honest, running member of every domain takes its turn.
    fn anchoring(&mut self) {
        let now_ms = self.now / 1000;
        for d in 0..self.cfg.domains as usize {
            for i in 0..self.cfg.nodes {
                let sim = &self.sims[d + 1];
                let node = &sim.nodes[i];
                if node.mempool.is_none() {
                    continue;
                }
                if !node.honest() {
                    self.forge_anchor(d, i);
                    continue;
                }
                let incarnation = node.incarnation;
                let fresh =
                    !matches!(&self.duties[d][i], Some(duty) if duty.incarnation == incarnation);
                if fresh {
                    // A restarted member knows nothing: it learns from the
                    // global chain.
                    self.duties[d][i] = Some(Duty {
                        incarnation,
                        machine: AnchorSubmitter::new(SubmitterConfig {
                            interval: INTERVAL,
                            position: i as u32,
                            members: self.cfg.nodes as u32,
                            stagger: Duration::from_millis(300),
                            retry: Duration::from_millis(1000),
                            poll: Duration::from_millis(200),
                        }),
                        fed: 0,
                    });
                }
                let mut events = Vec::new();
                if let Some(duty) = self.duties[d][i].as_mut() {
                    if let Some((tip, header, qc)) = certified_tip(&sim.nodes[i].store) {
                        if tip > duty.fed {
                            duty.fed = tip;
                            events.push(SubmitterEvent::Certified { header, qc });
                        }
                    }
                    events.push(SubmitterEvent::Tick);
                }
                for e in events {
                    let actions = match self.duties[d][i].as_mut() {
                        Some(duty) => duty.machine.on_event(now_ms, e),
                        None => Vec::new(),
                    };
                    self.carry_out(d, i, actions);
                }
            }
        }
    }

    /// A Byzantine member, about once a second, submits an anchor of its
    /// chain's certified tip with the state root changed under the
    /// certificate: the global chain must refuse it.
    fn forge_anchor(&mut self, d: usize, i: usize) {
        if !self.rng.gen_bool(0.01) {
            return;
        }
        let node = &self.sims[d + 1].nodes[i];
        let Some((_, mut header, qc)) = certified_tip(&node.store) else {
            return;
        };
        let s = header.state_height;
        let Ok(tip) = node.state.prove(&block_key(s), s) else {
            return;
        };
        header.state_root = Digest::of("strata/sim/forged-root", &s.to_le_bytes());
        let anchor = Anchor {
            domain: d as u32,
            header,
            qc,
            tip,
            link: None,
            handoffs: Default::default(),
        };
        self.forged += 1;
        self.send_anchor(anchor);
    }

    /// An anchor on its way to a random global node's mempool.
    fn send_anchor(&mut self, anchor: Anchor) {
        let to = self.rng.gen_range(0..self.cfg.nodes);
        let at = self.now + self.delay();
        let tx = Transaction::System(Box::new(SystemTx::Anchor(Box::new(anchor))));
        self.push(
            at,
            CrossChain::Anchor {
                to,
                tx: Box::new(tx),
            },
        );
    }

    fn carry_out(&mut self, d: usize, i: usize, actions: Vec<SubmitterAction>) {
        for a in actions {
            match a {
                SubmitterAction::Submit {
                    header,
                    qc,
                    link_from,
                } => {
                    let state = &self.sims[d + 1].nodes[i].state;
                    let s = header.state_height;
                    let Ok(tip) = state.prove(&block_key(s), s) else {
                        continue;
                    };
                    let link = match link_from.map(|l| state.prove(&block_key(l), s)) {
                        Some(Ok(p)) => Some(p),
                        Some(Err(_)) => continue,
                        None => None,
                    };
                    self.send_anchor(Anchor {
                        domain: d as u32,
                        header,
                        qc,
                        tip,
                        link,
                        handoffs: Default::default(),
                    });
                }
                SubmitterAction::Poll => {
                    let j = self.rng.gen_range(0..self.cfg.nodes);
                    let global = &self.sims[0].nodes[j];
                    // A down global node does not answer.
                    if global.mempool.is_none() {
                        continue;
                    }
                    let record = head(&global.state, d as u32).map(|h| Box::new(h.last));
                    let incarnation = self.sims[d + 1].nodes[i].incarnation;
                    let at = self.now + self.delay() + self.delay();
                    self.push(
                        at,
                        CrossChain::Recorded {
                            domain: d,
                            member: i,
                            incarnation,
                            record,
                        },
                    );
                }
            }
        }
    }

    /// The highest height honest members of domain `d` executed.
    fn local_tip(&self, d: usize) -> Height {
        let sim = &self.sims[d + 1];
        (0..self.cfg.nodes)
            .filter(|&i| sim.nodes[i].honest())
            .map(|i| sim.executed_height(i))
            .max()
            .unwrap_or(0)
    }

    /// The domain's last anchor in the most advanced honest global state.
    fn best_head(&self, d: u32) -> Option<AnchorHead> {
        let g = &self.sims[0];
        (0..self.cfg.nodes)
            .filter(|&j| g.nodes[j].honest())
            .filter_map(|j| head(&g.nodes[j].state, d))
            .max_by_key(|h| h.last.height)
    }

    fn anchored(&self) -> Vec<Height> {
        (0..self.cfg.domains)
            .map(|d| self.best_head(d).map_or(0, |h| h.last.height))
            .collect()
    }

    /// The invariants over honest nodes' stores and states.
    fn check(&mut self, final_check: bool) {
        let g = &self.sims[0];
        let mut found = Vec::new();
        for j in (0..self.cfg.nodes).filter(|&j| g.nodes[j].honest()) {
            let state = &g.nodes[j].state;
            for (k, _) in state.entries_with_prefix(b"anchor-conflict/") {
                found.push(format!(
                    "global n{j} recorded an anchor conflict {}",
                    hex::encode(&k)
                ));
            }
            for (k, v) in state.entries_with_prefix(b"anchored/") {
                let Ok(record) = AnchorRecord::decode(&mut &v[..]) else {
                    found.push(format!("global n{j}: an undecodable anchor record"));
                    continue;
                };
                let Some(d) = k
                    .get(b"anchored/".len()..b"anchored/".len() + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)
                else {
                    continue;
                };
                let Some(local) = self.sims.get(d as usize + 1) else {
                    found.push(format!("global n{j} anchored unknown domain {d}"));
                    continue;
                };
                for i in (0..self.cfg.nodes).filter(|&i| local.nodes[i].honest()) {
                    let block = local.nodes[i].store.block_at(record.height).ok().flatten();
                    if let Some(b) = block {
                        if b.hash() != record.block_hash {
                            found.push(format!(
                                "domain {d}: the global chain anchored block {} at height {}, member n{i} committed {}",
                                &record.block_hash.to_hex()[..8],
                                record.height,
                                &b.hash().to_hex()[..8]
                            ));
                        }
                    }
                }
            }
        }
        // Where honest members say each committed record is (its first
        // occurrence: the executed one), over the heights they all hold.
        if final_check {
            for d in 0..self.cfg.domains as usize {
                let local = &self.sims[d + 1];
                let honest: Vec<usize> = (0..self.cfg.nodes)
                    .filter(|&i| local.nodes[i].honest())
                    .collect();
                let common = honest
                    .iter()
                    .map(|&i| local.executed_height(i))
                    .min()
                    .unwrap_or(0);
                let mut places: Vec<BTreeMap<Digest, (Height, usize, Digest)>> = Vec::new();
                for &i in &honest {
                    let store = &local.nodes[i].store;
                    let mut first = BTreeMap::new();
                    for h in 1..=common {
                        let Some(block) = store.block_at(h).ok().flatten() else {
                            continue;
                        };
                        for (index, tx) in super::pool::committed_hashes(store, &block)
                            .into_iter()
                            .enumerate()
                        {
                            first.entry(tx).or_insert((h, index, block.hash()));
                        }
                    }
                    places.push(first);
                }
                for (k, p) in places.iter().enumerate().skip(1) {
                    if *p != places[0] {
                        found.push(format!(
                            "domain {d}: members n{} and n{} disagree on where records are up to height {common}",
                            honest[0], honest[k]
                        ));
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        for f in found {
            if !self.violations.contains(&f) {
                self.violations.push(f);
            }
        }
    }
}

/// The domain's last anchor in a global node's state.
fn head(state: &dyn StateView, d: u32) -> Option<AnchorHead> {
    let bytes = state.value(&anchor_key(d)).ok().flatten()?;
    AnchorHead::decode(&mut &bytes[..]).ok()
}

/// A store's committed tip, the header below it and the tip's justify
/// (the certificate of that header).
fn certified_tip(
    store: &crate::store::MemStore,
) -> Option<(
    Height,
    crate::types::BlockHeader,
    crate::types::QuorumCertificate,
)> {
    let (tip, _) = store.committed_tip().ok().flatten()?;
    if tip < 2 {
        return None;
    }
    let top = store.block_at(tip).ok().flatten()?;
    let below = store.block_at(tip - 1).ok().flatten()?;
    (top.header.justify.block == below.hash()).then_some((tip, below.header, top.header.justify))
}
