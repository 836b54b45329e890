//! The committee actor carrying out its core's actions: a one-member
//! HotStuff committee, with the mempool, ledger and network replaced by
//! small actors behind the same ports (what the ports make possible),
//! asks its mempool for each payload, persists its votes, and hands
//! committed blocks to the ledger once each, in height order.

use std::sync::Mutex;

use strata_chains::consensus::{ConsensusCore, CoreConfig, LeaderPolicy};
use strata_chains::types::{genesis_block, GenesisParams, Payload, Protocol};
use strata_crypto::test_support::TestCommittee;

use super::*;
use crate::messages::ledger::{ServeSync, SyncAnswer};
use crate::messages::mempool::{
    Committed, EnsureBatches, FetchFailed, FetchedBatches, IsPending, PeerBatch, Post,
    ServeBatches, SetSeat,
};
use crate::messages::network::{AdmitPeers, SetCommittee};
use crate::messages::CommitteePort;

/// A mempool that answers each payload request with an empty payload.
#[derive(Default)]
struct EmptyMempool {
    committee: Option<CommitteePort>,
    requests: Arc<Mutex<usize>>,
}

impl Actor for EmptyMempool {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Connect(CommitteePort);

impl Handler<Connect> for EmptyMempool {
    type Result = ();
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        self.committee = Some(msg.0);
    }
}

impl Handler<RequestPayload> for EmptyMempool {
    type Result = ();
    fn handle(&mut self, msg: RequestPayload, _: &mut Context<Self>) {
        *self.requests.lock().unwrap() += 1;
        if let Some(c) = &self.committee {
            c.do_send(PayloadReady {
                round: msg.round,
                payload: Payload::empty(),
                batches_tx_root: None,
            });
        }
    }
}

/// Handlers the test never expects a message for do nothing.
macro_rules! ignores {
    ($actor:ty: $($msg:ty => $ret:expr),* $(,)?) => {
        $(impl Handler<$msg> for $actor {
            type Result = MessageResult<$msg>;
            fn handle(&mut self, _: $msg, _: &mut Context<Self>) -> MessageResult<$msg> {
                MessageResult($ret)
            }
        })*
    };
}

ignores!(EmptyMempool:
    SetSeat => (),
    Post => (),
    CheckPayload => (),
    PeerBatch => (),
    FetchedBatches => (),
    FetchFailed => (),
    ServeBatches => Vec::new(),
    EnsureBatches => Ok(()),
    Committed => (),
    IsPending => false,
);

/// A ledger that records the heights it is asked to execute.
#[derive(Default)]
struct RecordingLedger {
    executed: Arc<Mutex<Vec<Height>>>,
}

impl Actor for RecordingLedger {
    type Context = Context<Self>;
}

impl Handler<Execute> for RecordingLedger {
    type Result = ();
    fn handle(&mut self, msg: Execute, _: &mut Context<Self>) {
        let mut executed = self.executed.lock().unwrap();
        executed.extend(msg.0.iter().map(|b| b.header.height));
    }
}

ignores!(RecordingLedger: ServeSync => SyncAnswer { response: None, lied: false });

/// A network with nobody on it (the committee has one member).
struct NoNetwork;

impl Actor for NoNetwork {
    type Context = Context<Self>;
}

ignores!(NoNetwork: SetCommittee => (), AdmitPeers => (), SendWire => (), Broadcast => (), RequestSync => (), Penalize => ());

#[actix_rt::test]
async fn a_one_member_committee_proposes_persists_and_hands_commits_to_the_ledger_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let kit = TestCommittee::seeded(70, 1);
    let genesis = Arc::new(genesis_block(GenesisParams {
        chain: ChainId::GLOBAL,
        epoch: 0,
        state_root: strata_chains::execution::GenesisState::bare(Digest::ZERO).root(),
    }));
    let cfg = CoreConfig::new(
        Protocol::HotStuff,
        kit.committee.clone(),
        0,
        LeaderPolicy::RoundRobin,
        genesis,
    );
    let setup = CoreSetup {
        key: kit.keys[0].clone(),
        settings: strata_chains::dynasty::CoreSettings {
            leader: LeaderPolicy::RoundRobin,
            base_timeout: cfg.base_timeout,
            max_timeout: cfg.max_timeout,
        },
        peers: vec![PeerId::random()],
    };
    let core = ConsensusCore::new(cfg, kit.keys[0].clone());
    let store = RocksStore::open(&dir.path().join("consensus")).unwrap();
    let state = StateStore::open(
        &dir.path().join("state"),
        ChainId::GLOBAL,
        1,
        &strata_chains::execution::GenesisState::bare(Digest::ZERO),
    )
    .unwrap();
    let persister = SafetyPersister::start("persist-test".into(), store.safety_saver()).unwrap();

    let mempool = EmptyMempool::default();
    let requests = mempool.requests.clone();
    let mempool = mempool.start();
    let ledger = RecordingLedger::default();
    let executed = ledger.executed.clone();
    let ledger = ledger.start();
    let network = NoNetwork.start();

    let actor = CommitteeActor::new(
        ChainId::GLOBAL,
        core,
        setup,
        store.clone(),
        state,
        MempoolPort::of(&mempool),
        LedgerPort::of(&ledger),
        NetworkPort::of(&network),
        Metrics::new(),
        persister,
    )
    .start();
    mempool.do_send(Connect(CommitteePort::of(&actor)));

    let deadline = Instant::now() + Duration::from_secs(20);
    while executed.lock().unwrap().len() < 5 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let executed = executed.lock().unwrap().clone();
    assert!(executed.len() >= 5, "executed {executed:?}");
    let expected: Vec<Height> = (1..=executed.len() as Height).collect();
    assert_eq!(
        executed, expected,
        "commits reach the ledger once each, in order"
    );
    assert!(*requests.lock().unwrap() >= executed.len());
    // The votes behind those commits were persisted (the ledger, not this
    // actor, writes commits to the store).
    let safety = store.load_safety().unwrap().expect("persisted");
    assert!(safety.last_voted.view >= *executed.last().unwrap());
}
