//! Starting a node: keys, stores, transport, the actors of each chain, the
//! HTTP API and the metrics endpoint, and a clean stop on SIGTERM/SIGINT.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{web, App, HttpServer};
use futures::StreamExt;
use strata_chains::anchor::SubmitterConfig;
use strata_chains::consensus::{ConsensusCore, CoreConfig};
use strata_chains::dynasty::{CoreSettings, Participant, ParticipantKeys};
use strata_chains::execution::AnchorCheck;
use strata_chains::store::RocksStore;
use strata_chains::types::{ChainId, SystemTx, Transaction};
use strata_net::{NetConfig, PeerId};

use crate::api::{self, ApiState, ChainHandles};
use crate::chain::committee::{CommitteeActor, CoreSetup};
use crate::chain::ledger::Ledger;
use crate::chain::mempool::{Connect, Mempool};
use crate::chain::participant::ParticipantActor;
use crate::chain::persister::SafetyPersister;
use crate::chain::state::StateStore;
use crate::config::{NodeConfig, Tier};
use crate::crosschain::anchoring::{AnchorSubmitterActor, AnchorView, EpochFollower};
use crate::keys;
use crate::messages::ledger::ReportExecutedTo;
use crate::messages::{CommitteePort, LedgerPort, MempoolPort, NetworkPort};
use crate::process::{
    join_threads, own_thread, spawn_server, start_err, stop_on_signals, NodeError,
    SERVER_SHUTDOWN_SECS,
};
use crate::service::bridge::{NetEvents, NetworkBridge, RegisterChain};
use crate::service::metrics::Metrics;
use crate::service::verifier::{Origin, SystemCheck, Verifier};
use crate::service::wire::{consensus_topic, MAX_WIRE_BYTES};
use crate::threads::{label_current_thread, ThreadRole};
use crate::tier::light;

/// Runs a node until it is stopped; returns its exit status.
pub fn run(cfg: NodeConfig) -> Result<(), NodeError> {
    std::panic::set_hook(Box::new(|info| {
        // A bug, never bad input: the backtrace is for the report.
        let trace = std::backtrace::Backtrace::force_capture();
        eprintln!("strata: node stops: internal error: {info}\n{trace}");
        std::process::exit(101);
    }));
    crate::data_dir::claim(&cfg.data_dir, &cfg.genesis.digest)?;
    let system = actix::System::new();
    let started = system.block_on(async move {
        let started = match cfg.genesis.validators.get(&cfg.name) {
            None if cfg.tier == Tier::Iot && !cfg.registered => light::start(&cfg),
            _ => start(&cfg),
        };
        // A start that failed half way has actors already spawned: they
        // must stop inside the event loop (dropping it with them unstarted
        // runs their `started` outside any runtime, which panics).
        if started.is_err() {
            System::current().stop_with_code(1);
        }
        started
    });
    let outcome = system
        .run()
        .map_err(|e| start_err("the event loop failed", e));
    join_threads();
    started.and(outcome)
}

/// Reads the data directory's filesystem into the disk gauges (for the
/// disk-almost-full alert); a failed read leaves the last values.
fn read_disk(metrics: &Metrics, data_dir: &std::path::Path) {
    if let Some((available, capacity)) = crate::process::data_dir_bytes(data_dir) {
        metrics.data_dir_available_bytes.set(available);
        metrics.data_dir_capacity_bytes.set(capacity);
    }
}

fn serve_metrics(
    metrics: Arc<Metrics>,
    addr: std::net::SocketAddr,
    data_dir: std::path::PathBuf,
) -> Result<(), NodeError> {
    crate::process::serve_metrics_text(
        addr,
        Arc::new(move || {
            read_disk(&metrics, &data_dir);
            metrics.render()
        }),
    )
}

pub(crate) fn serve_api(
    state: ApiState,
    addr: std::net::SocketAddr,
    routes: fn(&mut web::ServiceConfig),
) -> Result<(), NodeError> {
    let server = HttpServer::new(move || {
        // The factory runs once on each worker thread.
        label_current_thread("strata-api", ThreadRole::Foreground);
        App::new()
            .app_data(web::Data::new(state.clone()))
            .configure(api::json_errors)
            .configure(routes)
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(SERVER_SHUTDOWN_SECS)
    .bind(addr)
    .map_err(|e| start_err(&format!("cannot listen for the API on {addr}"), e))?
    .run();
    spawn_server(server);
    Ok(())
}

/// Routes of a full node: the hierarchy's, then the rest (whose default
/// answers what matches nothing).
fn full_node_routes(cfg: &mut web::ServiceConfig) {
    crate::hierarchy_api::routes(cfg);
    crate::dynasty_api::routes(cfg);
    crate::rewards_api::routes(cfg);
    crate::stake_api::routes(cfg);
    crate::openapi::routes(cfg);
    crate::explorer::routes(cfg);
    api::routes(cfg);
}

/// Members in turn wait this long after the one whose turn it is before
/// they submit an anchor too.
const ANCHOR_STAGGER: Duration = Duration::from_millis(1000);
/// An anchor not recorded this long after its submission goes again.
const ANCHOR_RETRY: Duration = Duration::from_millis(3000);
/// How often a domain's members ask the global chain for its last anchor.
const ANCHOR_POLL: Duration = Duration::from_millis(250);

/// The check of system transactions a mempool admits. An anchor: its
/// certificate and tip against the domain's committee as the global
/// chain's state records it (a node without the global chain admits
/// none). A dynasty transaction: the executor's own rule against the
/// state of the chain it is for (`execution::check_system`), as the next
/// block would execute it.
fn system_check(
    states: Arc<std::sync::RwLock<BTreeMap<ChainId, StateStore>>>,
    genesis: Arc<strata_chains::execution::GenesisState>,
    domains: u32,
) -> SystemCheck {
    Arc::new(move |tx: &Transaction, origin: Origin| {
        if let Transaction::Linked(l) = tx {
            // Each parent's receipt proves its record globally final.
            let trust = strata_chains::anchor::Trust::new(&genesis);
            let final_ = l.parents.iter().all(|p| {
                p.verify(&trust)
                    .is_ok_and(|s| s.levels.iter().any(|l| l == "global"))
            });
            return if final_ {
                Ok(())
            } else {
                Err("a parent's receipt does not prove its record globally final".into())
            };
        }
        let Transaction::System(sys) = tx else {
            return Err("not a system transaction".into());
        };
        let Ok(states) = states.read() else {
            return Err("the node's state is unavailable".into());
        };
        let chain = match &**sys {
            SystemTx::Anchor(a) if origin == Origin::PeerBatch => {
                // Whether it is new is the executor's call (two members
                // may anchor the same height), and so is an anchor of a
                // domain epoch this node's global state has not learned
                // yet: its sender is not at fault for this node's lag.
                let Some(state) = states.get(&ChainId::GLOBAL) else {
                    return Err("this node does not run the global chain".into());
                };
                return match strata_chains::execution::check_anchor(state, domains, a) {
                    Ok(AnchorCheck::Valid | AnchorCheck::Beyond) => Ok(()),
                    Ok(AnchorCheck::Invalid(why)) => Err(why.into()),
                    Err(_) => Err("the node's state is unreadable".into()),
                };
            }
            SystemTx::Anchor(_) => Some(ChainId::GLOBAL),
            SystemTx::Registry(_) => states.keys().next().copied(),
            SystemTx::Candidacy(c) => Some(c.chain),
            SystemTx::PvssDeal(d) => Some(ChainId(d.context.chain)),
            SystemTx::PvssReveal(r) => Some(r.chain),
            SystemTx::Reconfigure(r) => Some(r.reconfigure.chain),
            SystemTx::Evidence(e) => Some(e.scope().0),
            SystemTx::DkgDeal(d) => Some(d.chain),
            SystemTx::DkgComplaint(c) => Some(c.chain),
            SystemTx::Stake(_) => Some(ChainId::GLOBAL),
        };
        if origin == Origin::PeerBatch {
            // The member whose batch it is checked it against its state
            // when it admitted it; this node's state may be a block behind
            // or ahead (a window opening or closing), and the executor
            // refuses, with the reason, what no longer holds. A member
            // filling batches with refusals gains nothing: each counts
            // against its batch's budget.
            return chain
                .map(|_| ())
                .ok_or_else(|| "for a chain this node does not run".into());
        }
        let Some((chain, state)) = chain.and_then(|c| states.get(&c).map(|s| (c, s))) else {
            return Err("for a chain this node does not run".into());
        };
        let height = state.applied_height().unwrap_or(0).saturating_add(1);
        let ctx = strata_chains::execution::ChainContext { chain, domains };
        match strata_chains::execution::check_system(state, ctx, sys, height) {
            Ok(verdict) => verdict,
            Err(_) => Err("the node's state is unreadable".into()),
        }
    })
}

fn start(cfg: &NodeConfig) -> Result<(), NodeError> {
    let genesis = cfg.genesis.clone();
    let bls = keys::read_bls(&cfg.bls_key_file)?;
    let network_key = keys::read_network(&cfg.network_key_file)?;
    let my_peer = network_key.public().to_peer_id();
    // A genesis validator's keys are those the genesis binds to its name;
    // a validator registered since is known by its keys alone (a chain
    // seats it only once its registration executed).
    if let Some(me) = genesis.validators.get(&cfg.name) {
        if bls.public_key() != me.key {
            return Err(start_err(
                &cfg.bls_key_file.display().to_string(),
                format!(
                    "this key is not the BLS key the genesis registers for {:?}",
                    cfg.name
                ),
            ));
        }
        if my_peer.to_string() != me.peer_id {
            return Err(start_err(
                &cfg.network_key_file.display().to_string(),
                format!(
                    "this key's peer id {my_peer} is not the one the genesis binds to {:?}",
                    cfg.name
                ),
            ));
        }
    } else if !cfg.registered {
        return Err(start_err(&cfg.name, "is not a validator in the genesis"));
    }
    let chains = cfg.chains();
    if chains.is_empty() {
        return Err(start_err(
            "config",
            format!("{:?} is in no committee of the genesis", cfg.name),
        ));
    }
    let metrics = Metrics::new();
    let peer = |s: &str| s.parse::<PeerId>().map_err(|e| start_err("peer id", e));
    let mut allowed = HashSet::new();
    for v in genesis.validators.values() {
        allowed.insert(peer(&v.peer_id)?);
    }
    let mut dial = Vec::new();
    for (_, id, addr) in &cfg.peers {
        dial.push((
            peer(id)?,
            addr.parse().map_err(|e| start_err("peer address", e))?,
        ));
    }
    let net_cfg = NetConfig {
        keypair: network_key,
        listen: cfg
            .listen
            .parse()
            .map_err(|e| start_err("listen address", e))?,
        dial,
        allowed,
        topics: chains.iter().map(|c| consensus_topic(*c)).collect(),
        max_message_bytes: MAX_WIRE_BYTES,
        // Per peer and class; a flooding member fills only its own.
        inbound_capacity: 2048,
        inbound_peer_bytes: 64 << 20,
        command_capacity: 16384,
        request_timeout: Duration::from_secs(15),
    };
    let (net, events) =
        strata_net::start_on_thread(net_cfg).map_err(|e| start_err("network", e))?;
    let mut committees: HashMap<ChainId, Vec<PeerId>> = HashMap::new();
    for c in &chains {
        // The genesis committee; a chain that runs epochs sets each
        // epoch's as it starts (`SetCommittee`).
        let spec = &genesis.chains[c];
        let mut ids = Vec::new();
        for m in &spec.members {
            ids.push(peer(&genesis.validators[m].peer_id)?);
        }
        committees.insert(*c, ids);
    }
    let bridge_metrics = metrics.clone();
    let bridge_committees = committees.clone();
    let bridge = NetworkBridge::create(move |ctx| {
        ctx.add_stream(events.map(NetEvents));
        NetworkBridge::new(net, bridge_metrics, bridge_committees)
    });
    // System transactions are checked against the state of the chain
    // they are for (once this node has opened it).
    let states: Arc<std::sync::RwLock<BTreeMap<ChainId, StateStore>>> = Arc::default();
    let domains = genesis.domains().count() as u32;
    let verifier = Verifier::start(metrics.verifier_batch_signatures.clone())
        .map_err(|e| start_err("the verifier thread", e))?
        .with_system_check(system_check(
            states.clone(),
            Arc::new(genesis.state.clone()),
            domains,
        ));
    let genesis_state = Arc::new(genesis.state.clone());
    let mut anchors = BTreeMap::new();
    let mut handles = BTreeMap::new();
    // This node's global chain (opened first: chains run in id order), for
    // its local chains' anchoring to follow committees across epochs.
    let mut global_chain = None;
    for chain in chains {
        let spec = &genesis.chains[&chain];
        // Outside the genesis committee of a chain that runs epochs: an
        // observer until a dynasty draws this node.
        let me = spec.position(&cfg.name).unwrap_or(u32::MAX);
        let dir = cfg.data_dir.join(format!("chain-{}", chain.0));
        let store = RocksStore::open_with(&dir.join("consensus"), cfg.store)
            .map_err(|e| start_err(&dir.display().to_string(), e))?;
        let state = StateStore::open(&dir.join("state"), chain, domains, &genesis.state)
            .map_err(|e| start_err(&dir.display().to_string(), e))?;
        if let Ok(mut s) = states.write() {
            s.insert(chain, state.clone());
        }
        if chain == ChainId::GLOBAL {
            global_chain = Some((store.clone(), state.clone()));
        }
        let mut core_cfg = CoreConfig::new(
            spec.protocol,
            spec.committee.clone(),
            me,
            spec.leader.clone(),
            spec.genesis.clone(),
        );
        core_cfg.base_timeout = genesis.base_timeout();
        core_cfg.max_timeout = Duration::from_millis(genesis.params.max_timeout_ms);
        let setup = CoreSetup {
            key: bls.clone(),
            settings: CoreSettings {
                leader: spec.leader.clone(),
                base_timeout: core_cfg.base_timeout,
                max_timeout: core_cfg.max_timeout,
            },
            peers: committees[&chain].clone(),
        };
        let core = ConsensusCore::new(core_cfg, bls.clone());
        // Each of a chain's actors has its own thread: votes and proposals
        // never queue behind batching, execution or reads.
        let mempool = Mempool::new(
            chain,
            genesis.digest,
            me,
            spec.committee.len() as u32,
            genesis.params.clone(),
            domains,
            store.clone(),
            state.clone(),
            verifier.clone(),
            metrics.clone(),
        );
        let admission = mempool.admission();
        let mempool = Mempool::start_in_arbiter(
            &own_thread(format!("mempool-{chain}"), ThreadRole::Foreground)?,
            |_| mempool,
        );
        let collector = crate::chain::collector::BatchLogCollector::new(
            chain,
            store.clone(),
            mempool.clone().recipient(),
            metrics.clone(),
        );
        crate::chain::collector::BatchLogCollector::start_in_arbiter(
            &own_thread(format!("collect-{chain}"), ThreadRole::Background)?,
            |_| collector,
        );
        let ledger = Ledger::new(
            chain,
            store.clone(),
            state.clone(),
            MempoolPort::of(&mempool),
            metrics.clone(),
            genesis.params.payload,
            spec.protocol,
        );
        let ledger = Ledger::start_in_arbiter(
            &own_thread(format!("ledger-{chain}"), ThreadRole::Foreground)?,
            |_| ledger,
        );
        let persister = SafetyPersister::start(format!("persist-{chain}"), store.safety_saver())
            .map_err(|e| start_err("the safety state's writer thread", e))?;
        let driver_store = store.clone();
        let api_store = store.clone();
        let anchor_store = store.clone();
        let participant = match spec.dynasty {
            Some(_) => Some(start_participant(
                cfg,
                &bls,
                chain,
                state.clone(),
                mempool.clone().recipient(),
            )?),
            None => None,
        };
        let actor = CommitteeActor::new(
            chain,
            core,
            setup,
            store,
            state.clone(),
            MempoolPort::of(&mempool),
            LedgerPort::of(&ledger),
            NetworkPort::of(&bridge),
            metrics.clone(),
            persister,
        );
        let actor = match spec.dynasty {
            Some(_) => actor.with_epochs(
                participant,
                Some(keys::read_pvss(&cfg.bls_key_file.with_extension("pvss"))?),
            ),
            None => actor,
        };
        let actor = CommitteeActor::start_in_arbiter(
            &own_thread(format!("chain-{chain}"), ThreadRole::Foreground)?,
            |_| actor,
        );
        ledger.do_send(ReportExecutedTo(actor.clone().recipient()));
        if !cfg.byzantine.is_empty() {
            let driver = crate::byzantine::ByzantineDriver::new(
                chain,
                genesis.digest,
                me,
                spec.committee.len() as u32,
                domains,
                cfg.byzantine.clone(),
                bridge.clone(),
                driver_store,
                bls.clone(),
            );
            let driver = driver.start();
            actor.do_send(crate::chain::committee::TapOutgoing(driver.recipient()));
        }
        if chain.domain().is_some() {
            let view = AnchorView::default();
            anchors.insert(chain, view.clone());
            if cfg.global_api.is_empty() {
                tracing::warn!(%chain, "no global_api in the node file: this member does not anchor its domain");
            } else {
                let submitter = AnchorSubmitterActor::new(
                    chain,
                    SubmitterConfig {
                        interval: spec.anchor_interval,
                        position: me,
                        members: spec.committee.len() as u32,
                        stagger: ANCHOR_STAGGER,
                        retry: ANCHOR_RETRY,
                        poll: ANCHOR_POLL,
                    },
                    anchor_store.clone(),
                    state.clone(),
                    cfg.global_api.clone(),
                    view,
                    metrics.clone(),
                    EpochFollower::new(&genesis.state, global_chain.clone(), bls.public_key()),
                );
                AnchorSubmitterActor::start_in_arbiter(
                    &own_thread(format!("anchor-{chain}"), ThreadRole::Background)?,
                    |_| submitter,
                );
            }
        }
        mempool.do_send(Connect {
            bridge: NetworkPort::of(&bridge),
            chain: CommitteePort::of(&actor),
        });
        bridge.do_send(RegisterChain {
            chain,
            actor: CommitteePort::of(&actor),
            ledger: LedgerPort::of(&ledger),
            mempool: MempoolPort::of(&mempool),
        });
        handles.insert(
            chain,
            ChainHandles {
                actor,
                ledger,
                mempool,
                state,
                store: api_store,
                admission,
            },
        );
    }
    let api_state = ApiState {
        node: cfg.name.clone(),
        tier: cfg.tier,
        domains,
        chains: handles,
        network: genesis.digest,
        waiting: std::sync::Arc::new(tokio::sync::Semaphore::new(crate::api::MAX_WAITING)),
        started: Instant::now(),
        peers: metrics.peers.clone(),
        anchors,
        genesis_state,
        genesis_answer: Default::default(),
    };
    serve_api(api_state, cfg.api, full_node_routes)?;
    serve_metrics(metrics, cfg.metrics, cfg.data_dir.clone())?;
    stop_on_signals();
    tracing::info!(node = %cfg.name, tier = %cfg.tier, api = %cfg.api, "node started");
    Ok(())
}

/// The dynasty participant of a chain that runs epochs, on its own
/// thread; its VRF and PVSS keys sit beside the BLS key (`NAME.vrf`,
/// `NAME.pvss`, as `strata keygen` writes them).
fn start_participant(
    cfg: &NodeConfig,
    bls: &strata_crypto::SecretKey,
    chain: ChainId,
    state: StateStore,
    mempool: Recipient<crate::messages::mempool::Post>,
) -> Result<Recipient<crate::messages::committee::StateExecuted>, NodeError> {
    let keys = ParticipantKeys {
        bls: bls.clone(),
        vrf: keys::read_vrf(&cfg.bls_key_file.with_extension("vrf"))?,
        pvss: keys::read_pvss(&cfg.bls_key_file.with_extension("pvss"))?,
    };
    let actor = ParticipantActor::new(Participant::new(chain, keys), state, mempool);
    let addr = ParticipantActor::start_in_arbiter(
        &own_thread(format!("dynasty-{chain}"), ThreadRole::Background)?,
        |_| actor,
    );
    Ok(addr.recipient())
}
