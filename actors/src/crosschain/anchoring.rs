//! Anchoring a domain's local chain on the global chain, as a member of the
//! domain's committee: the host of the pure `AnchorSubmitter`
//! (`strata_chains::anchor::submitter`), on a thread of its own (it talks
//! to the global chain's nodes over their HTTP API, blocking).
//!
//! Every 100 ms it looks at the local chain's committed tip: the block
//! below the tip is certified by the tip's justify, and the state that
//! block names is committed. It asks the global chain's nodes
//! (`global_api` in the node file) for the domain's last anchor — the
//! answer is an [`AnchorInclusion`], checked here against the genesis
//! before it is believed — and submits anchors when the machine says so,
//! built from this node's own state (the tip proof and the link to the
//! last anchor). What it learns is shared with the API ([`AnchorView`]):
//! `wait=global`, receipts.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context};
use parity_scale_codec::Encode;
use strata_chains::anchor::{
    AnchorInclusion, AnchorSubmitter, SubmitterAction, SubmitterConfig, SubmitterEvent, Trust,
    MAX_RECEIPT_BYTES,
};
use strata_chains::dynasty::EpochSeat;
use strata_chains::execution::{block_key, AnchorRecord, CommitteeRecord, GenesisState};
use strata_chains::store::{RocksStore, Store};
use strata_chains::types::dynasty::MAX_ANCHOR_HANDOFFS;
use strata_chains::types::{
    Anchor, BlockHeader, ChainId, CommitteeHandoff, Epoch, Height, QuorumCertificate, SystemTx,
    Transaction,
};
use strata_crypto::codec::{decode_message, BoundedVec};
use strata_crypto::hash::Digest;

use crate::chain::state::StateStore;
use crate::service::metrics::{chain_label, Metrics};

/// What a domain's members know of its anchoring, shared with the API: the
/// last anchor, and when this node learned of each anchor (the time a
/// record became global here, for `wait=global` and latency figures).
#[derive(Clone, Default)]
pub struct AnchorView(Arc<RwLock<ViewState>>);

#[derive(Default)]
struct ViewState {
    last: Option<Arc<Anchored>>,
    /// (anchored local height, global height, learned at Unix ms), oldest
    /// first, at most `HISTORY` of them.
    learned: std::collections::VecDeque<(Height, Height, u64)>,
}

/// Anchors remembered with the time they were learned.
const HISTORY: usize = 4096;

/// When a record of a local height became global on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GlobalAt {
    /// The first anchor learned here that covers the height.
    pub anchored_height: Height,
    pub global_height: Height,
    /// When this node learned of it (Unix ms).
    pub at_ms: u64,
}

/// The domain's last anchor the global chain committed, as checked here.
#[derive(Debug)]
pub struct Anchored {
    pub record: AnchorRecord,
    pub inclusion: AnchorInclusion,
}

impl AnchorView {
    pub fn get(&self) -> Option<Arc<Anchored>> {
        self.0.read().ok().and_then(|g| g.last.clone())
    }

    /// When the record of local height `height` became global here, if it
    /// has (and the anchor is among the remembered ones).
    pub fn global_at(&self, height: Height) -> Option<GlobalAt> {
        let g = self.0.read().ok()?;
        let i = g.learned.partition_point(|(a, _, _)| *a < height);
        g.learned
            .get(i)
            .map(|&(anchored_height, global_height, at_ms)| GlobalAt {
                anchored_height,
                global_height,
                at_ms,
            })
    }

    /// The local height whose state the global chain last anchored.
    pub fn anchored_height(&self) -> Option<Height> {
        self.get().map(|a| a.record.height)
    }

    fn set(&self, a: Anchored) {
        if let Ok(mut g) = self.0.write() {
            let at_ms = crate::unix_micros() / 1000;
            g.learned
                .push_back((a.record.height, a.record.global_height, at_ms));
            while g.learned.len() > HISTORY {
                g.learned.pop_front();
            }
            g.last = Some(Arc::new(a));
        }
    }
}

/// How often the tip is looked at and the machine ticks.
const TICK: Duration = Duration::from_millis(100);
/// One request to a global node at most.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest answer read from a global node.
const MAX_ANSWER_BYTES: u64 = MAX_RECEIPT_BYTES as u64;

pub struct AnchorSubmitterActor {
    chain: ChainId,
    domain: u32,
    machine: AnchorSubmitter,
    store: RocksStore,
    state: StateStore,
    global_api: Vec<String>,
    /// The global node asked next (rotated after a failure).
    next_api: usize,
    agent: ureq::Agent,
    view: AnchorView,
    metrics: Arc<Metrics>,
    label: String,
    started: Instant,
    /// The committed height whose certified parent was fed last.
    fed: Height,
    /// Committees across epochs (issue 26).
    epochs: EpochFollower,
}

/// What the anchoring of a chain that runs epochs follows: the committee
/// histories of both chains as this node's own stores prove them, the
/// domain's epochs the global chain's state has recorded, and this
/// member's seat in the domain's current epoch.
pub struct EpochFollower {
    /// This node's global chain (its store and executed state), if it runs
    /// it: edge validators do on a network with epochs.
    pub global: Option<(RocksStore, StateStore)>,
    /// This node's BLS key (for its seat).
    pub key: strata_crypto::PublicKey,
    /// Committees learned from handoffs, for the global chain's answers.
    trust: Trust<'static>,
    /// The next ending epoch whose handoff `trust` learns, per chain
    /// (local, global).
    learn_next: (Epoch, Epoch),
    /// The domain's newest epoch whose committee the global state records.
    recorded: Epoch,
    /// Ticks until the seat is read again.
    seat_in: u32,
}

impl EpochFollower {
    pub fn new(
        genesis: &GenesisState,
        global: Option<(RocksStore, StateStore)>,
        key: strata_crypto::PublicKey,
    ) -> EpochFollower {
        EpochFollower {
            global,
            key,
            trust: Trust::new(genesis).into_owned(),
            learn_next: (0, 0),
            recorded: 0,
            seat_in: 0,
        }
    }
}

impl AnchorSubmitterActor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain: ChainId,
        cfg: SubmitterConfig,
        store: RocksStore,
        state: StateStore,
        global_api: Vec<String>,
        view: AnchorView,
        metrics: Arc<Metrics>,
        epochs: EpochFollower,
    ) -> AnchorSubmitterActor {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .new_agent();
        AnchorSubmitterActor {
            chain,
            domain: chain.domain().unwrap_or(0),
            machine: AnchorSubmitter::new(cfg),
            store,
            state,
            global_api,
            next_api: 0,
            agent,
            view,
            metrics,
            label: chain_label(chain),
            started: Instant::now(),
            fed: 0,
            epochs,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn tick(&mut self) {
        self.follow_seat();
        let mut events = self.certified();
        events.push(SubmitterEvent::Tick);
        for e in events {
            let actions = self.machine.on_event(self.now_ms(), e);
            for a in actions {
                self.carry_out(a);
            }
        }
    }

    /// The newest certified header below the committed tip, once per tip.
    fn certified(&mut self) -> Vec<SubmitterEvent> {
        let Ok(Some((tip, _))) = self.store.committed_tip() else {
            return Vec::new();
        };
        if tip <= self.fed || tip < 2 {
            return Vec::new();
        }
        self.fed = tip;
        let (Ok(Some(top)), Ok(Some(below))) =
            (self.store.block_at(tip), self.store.block_at(tip - 1))
        else {
            return Vec::new();
        };
        let qc = top.header.justify;
        if qc.block != below.hash() {
            return Vec::new();
        }
        vec![SubmitterEvent::Certified {
            header: below.header,
            qc,
        }]
    }

    fn carry_out(&mut self, action: SubmitterAction) {
        match action {
            SubmitterAction::Poll => self.poll(),
            SubmitterAction::Submit {
                header,
                qc,
                link_from,
            } => self.submit(header, qc, link_from),
        }
    }

    fn api(&self) -> Option<&str> {
        self.global_api
            .get(self.next_api % self.global_api.len().max(1))
            .map(String::as_str)
    }

    fn failed(&mut self) {
        self.next_api = self.next_api.wrapping_add(1);
    }

    /// Builds the anchor of `header` from this node's state and posts it.
    fn submit(&mut self, header: BlockHeader, qc: QuorumCertificate, link_from: Option<Height>) {
        let Some((header, qc, handoffs)) = self.with_handoffs(header, qc) else {
            tracing::debug!(chain = %self.chain, "the domain's committee history is not here yet");
            return;
        };
        let s = header.state_height;
        let built = (|| {
            let tip = self.state.prove(&block_key(s), s).ok()?;
            let link = match link_from {
                Some(l) => Some(self.state.prove(&block_key(l), s).ok()?),
                None => None,
            };
            Some(Anchor {
                domain: self.domain,
                header,
                qc,
                tip,
                link,
                handoffs: BoundedVec::new(handoffs).ok()?,
            })
        })();
        let Some(anchor) = built else {
            // Not executed here yet (or pruned): the machine retries.
            tracing::debug!(chain = %self.chain, height = s, "anchor state not available here yet");
            return;
        };
        let Some(api) = self.api().map(str::to_string) else {
            return;
        };
        let body = anchor.encode();
        let answer = self
            .agent
            .post(&format!("{api}/v1/anchors"))
            .header("content-type", "application/octet-stream")
            .send(&body[..]);
        match answer {
            Ok(r) if r.status().is_success() => {
                self.metrics
                    .anchors_submitted
                    .with_label_values(&[self.label.as_str()])
                    .inc();
                tracing::debug!(chain = %self.chain, height = s, api, "anchor submitted");
            }
            Ok(r) => {
                tracing::debug!(chain = %self.chain, height = s, status = %r.status(), "anchor refused");
            }
            Err(e) => {
                tracing::debug!(chain = %self.chain, api, error = %e, "global node unreachable");
                self.failed();
            }
        }
    }

    /// Asks a global node for the domain's last anchor and checks it.
    fn poll(&mut self) {
        let Some(api) = self.api().map(str::to_string) else {
            return;
        };
        let answer = self
            .agent
            .get(&format!("{api}/v1/anchors/{}", self.domain))
            .call();
        let body = match answer {
            Ok(mut r) if r.status().is_success() => r
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER_BYTES)
                .read_to_string(),
            _ => {
                self.failed();
                self.machine
                    .on_event(self.now_ms(), SubmitterEvent::Unreachable);
                return;
            }
        };
        match body.map_err(|e| e.to_string()).and_then(|b| self.learn(&b)) {
            Ok(event) => {
                let actions = self.machine.on_event(self.now_ms(), event);
                for a in actions {
                    self.carry_out(a);
                }
            }
            Err(why) if why.contains("no committee of global") => {
                // The global chain is an epoch ahead of this node's copy
                // of it: its handoff arrives with the next commits here.
                tracing::debug!(chain = %self.chain, api, why, "a global node's anchor answer is of an epoch not followed here yet");
            }
            Err(why) => {
                tracing::warn!(chain = %self.chain, api, why, "a global node's anchor answer does not hold");
                self.failed();
            }
        }
    }

    /// What a global node's answer proves: the domain's last anchor
    /// (never below one already proven here), or none yet.
    fn learn(&mut self, body: &str) -> Result<SubmitterEvent, String> {
        let json: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
        let Some(hex_inclusion) = json.get("inclusion").and_then(|v| v.as_str()) else {
            // No anchor yet (or none with a commit proof yet).
            return Ok(match self.view.get() {
                Some(a) => SubmitterEvent::Recorded(Some(a.record.clone())),
                None if json.get("anchored").is_some_and(|v| v.is_null()) => {
                    SubmitterEvent::Recorded(None)
                }
                None => SubmitterEvent::Unreachable,
            });
        };
        let bytes = hex::decode(hex_inclusion).map_err(|e| e.to_string())?;
        let inclusion: AnchorInclusion =
            decode_message(&bytes, MAX_RECEIPT_BYTES).map_err(|e| e.to_string())?;
        self.learn_committees();
        inclusion
            .verify(&self.epochs.trust)
            .map_err(|e| e.to_string())?;
        let a = &inclusion.anchor;
        if a.domain != self.domain {
            return Err("an anchor of another domain".into());
        }
        let record = record_of(&inclusion)?;
        if let Some(known) = self.view.get() {
            if known.record.height >= record.height {
                return Ok(SubmitterEvent::Recorded(Some(known.record.clone())));
            }
        }
        // The global chain's state of this height against this node's.
        if let Ok(Some(mine)) = self.state.root_at(record.height) {
            if mine != record.state_root {
                self.metrics
                    .anchor_conflicts
                    .with_label_values(&[self.label.as_str()])
                    .inc();
                tracing::error!(chain = %self.chain, height = record.height, "the global chain anchored a state of this domain that differs from this node's: evidence against the domain's committee");
            }
        }
        self.metrics
            .anchored_height
            .with_label_values(&[self.label.as_str()])
            .set(i64::try_from(record.height).unwrap_or(i64::MAX));
        self.view.set(Anchored {
            record: record.clone(),
            inclusion,
        });
        Ok(SubmitterEvent::Recorded(Some(record)))
    }
}

impl AnchorSubmitterActor {
    /// Reads this member's seat in the domain's current epoch now and then.
    fn follow_seat(&mut self) {
        if self.epochs.seat_in > 0 {
            self.epochs.seat_in -= 1;
            return;
        }
        self.epochs.seat_in = 10;
        if let Ok(seat) = EpochSeat::read(&self.state, self.chain, &self.epochs.key) {
            self.machine
                .set_seat(seat.position(), seat.members.len() as u32);
        }
    }

    /// Takes in the handoffs this node's stores hold beyond what the trust
    /// knows, for both chains.
    fn learn_committees(&mut self) {
        let f = &mut self.epochs;
        let mut learn = |store: &RocksStore, chain: ChainId, next: &mut Epoch| {
            while let Ok(Some(h)) = store.handoff(*next) {
                if let Err(e) = f.trust.learn(&h) {
                    tracing::warn!(%chain, epoch = *next, "a kept handoff does not verify: {e}");
                    return;
                }
                *next += 1;
            }
        };
        let (mut local, mut global) = f.learn_next;
        learn(&self.store, self.chain, &mut local);
        if let Some((g, _)) = &f.global {
            let g = g.clone();
            learn(&g, ChainId::GLOBAL, &mut global);
        }
        self.epochs.learn_next = (local, global);
    }

    /// The handoffs the global chain needs to check an anchor of `header`
    /// (the domain's epochs after the last it records, up to
    /// `MAX_ANCHOR_HANDOFFS`); a header too far ahead is replaced by the
    /// last block of the furthest epoch they reach (certified by its
    /// proof of end), so anchoring catches up an epoch span at a time.
    /// `None`: a handoff is not here.
    fn with_handoffs(
        &mut self,
        header: BlockHeader,
        qc: QuorumCertificate,
    ) -> Option<(BlockHeader, QuorumCertificate, Vec<CommitteeHandoff>)> {
        let Some((_, global)) = &self.epochs.global else {
            return Some((header, qc, Vec::new()));
        };
        while let Ok(Some(_)) = CommitteeRecord::read(global, self.chain, self.epochs.recorded + 1)
        {
            self.epochs.recorded += 1;
        }
        let known = self.epochs.recorded;
        if header.epoch <= known {
            return Some((header, qc, Vec::new()));
        }
        let reach = header.epoch.min(known + MAX_ANCHOR_HANDOFFS as u64);
        let handoffs = (known..reach)
            .map(|e| self.store.handoff(e).ok().flatten())
            .collect::<Option<Vec<_>>>()?;
        if header.epoch == reach {
            return Some((header, qc, handoffs));
        }
        let end = self.store.epoch_change(reach).ok().flatten()?;
        let last = end.blocks.first()?.header.clone();
        let qc = match end.blocks.get(1) {
            Some(b) => b.header.justify.clone(),
            None => end.certificate.clone(),
        };
        Some((last, qc, handoffs))
    }
}

/// The record a checked anchor inclusion makes.
fn record_of(inclusion: &AnchorInclusion) -> Result<AnchorRecord, String> {
    let a = &inclusion.anchor;
    let block: [u8; 32] = a
        .tip
        .value
        .as_deref()
        .and_then(|v| v.try_into().ok())
        .ok_or("the tip proof holds no block hash")?;
    let tx = Transaction::System(Box::new(SystemTx::Anchor(Box::new(a.clone()))));
    Ok(AnchorRecord {
        height: a.header.state_height,
        state_root: a.header.state_root,
        block_hash: Digest(block),
        header_hash: a.header.hash(),
        epoch: a.header.epoch,
        tx: tx.hash(),
        global_height: inclusion.anchor_block.header.height,
    })
}

impl Actor for AnchorSubmitterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(TICK, |act, _| act.tick());
    }
}
