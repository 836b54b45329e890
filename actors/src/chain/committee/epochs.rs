//! The committee actor across epochs (issue 26, point 5; docs/dynasties.md
//! "The boundary"): what the simulator's host does around the core
//! (`chains/src/sim/dynasty/host.rs`), for a node. When the core ends its
//! epoch the actor sends the proof to the chain's nodes and starts the
//! next epoch's core — a member's or an observer's — through the one
//! starter both use (`EpochSeat::start`) as soon as its state has decided
//! the next committee (well before the last block: a node whose ledger
//! executes behind its core does not hold the boundary up) and it holds
//! the start block (committed, or in the proof). The epoch's handoff is
//! kept once the ledger has executed the state the proof certifies.
//! Messages of a later epoch wait here until it starts; those of an
//! earlier one are dropped.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::Rng;
use strata_chains::consensus::{Event, KEPT_ROOTS};
use strata_chains::dynasty::{self, epoch_record_key, handoff_records, EpochSeat, SeatError};
use strata_chains::execution::committee_key;
use strata_chains::store::Store;
use strata_chains::types::{CertificateKind, CommitteeHandoff, ConsensusMessage, Epoch, Height};
use strata_crypto::hash::Digest;
use strata_crypto::pvss::PvssSecretKey;
use strata_net::PeerId;

use super::CommitteeActor;
use crate::fatal;
use crate::messages::committee::StateExecuted;
use crate::messages::mempool::SetSeat;
use crate::messages::network::{AdmitPeers, SetCommittee};
use crate::messages::Deliver;

/// Messages of later epochs kept until this node gets there.
const LATER_KEPT: usize = 4096;
/// How often an observer asks a member for the blocks it has not
/// committed (members do not send it proposals: this is how it follows,
/// and its own dynasty transactions wait on what it has executed).
const CATCH_UP_EVERY: Duration = Duration::from_millis(200);
/// How often an observer the next epoch seats asks: it must hold the
/// epoch's last blocks when the proof of its end comes, or the new
/// committee waits for it (found at a testnet boundary: two joining
/// members 1.2–1.4 s behind the old committee's end, and the new epoch's
/// first two views timed out for want of their votes).
const JOINING_CATCH_UP_EVERY: Duration = Duration::from_millis(50);
/// A member whose commits stalled this long asks too.
const STALL: Duration = Duration::from_millis(1000);

/// How often (in executed heights) a node looks for validators new on
/// its chain's roster to admit.
const ADMIT_EVERY: Height = 8;

/// What a chain that runs epochs keeps besides its core.
#[derive(Default)]
pub struct EpochDriver {
    /// Messages of later epochs, by sender.
    later: VecDeque<(PeerId, ConsensusMessage)>,
    /// The epoch the core ended, until the next one starts.
    ending: Option<Epoch>,
    /// Ended epochs whose handoff waits for the ledger to execute the
    /// state their proof certifies.
    handoffs_due: BTreeSet<Epoch>,
    /// This node's dynasty participant, told of every executed height.
    participant: Option<Recipient<StateExecuted>>,
    /// Committed height at the last catch-up tick, and since when.
    progress: (Height, Option<Instant>),
    /// Catch-up ticks so far (an observer not joining asks every fourth).
    ticks: u64,
    /// Whether the next epoch seats this node, once its committee is
    /// decided, for the epoch it follows.
    joining: Option<(Epoch, bool)>,
    /// This node's PVSS key: it opens its share of a threshold
    /// committee's group key.
    pvss: Option<PvssSecretKey>,
    /// Roster keys whose peers the transport was told to admit.
    admitted: BTreeSet<strata_crypto::PublicKey>,
}

impl EpochDriver {
    pub fn new(
        participant: Option<Recipient<StateExecuted>>,
        pvss: Option<PvssSecretKey>,
    ) -> EpochDriver {
        EpochDriver {
            participant,
            pvss,
            ..EpochDriver::default()
        }
    }
}

impl CommitteeActor {
    /// Starts the core of the epoch the executed state is in.
    pub(super) fn begin_epoch(&mut self, ctx: &mut Context<Self>) {
        let key = self.key.public_key();
        // One snapshot: the ledger may be executing (replaying) meanwhile.
        let seat = EpochSeat::read(&self.state.snapshot(), self.chain, &key)
            .unwrap_or_else(|e| fatal("reading this node's seat in the epoch failed", e));
        self.serve(seat, ctx);
    }

    /// Starts the core of `seat`'s epoch.
    fn serve(&mut self, seat: EpochSeat, ctx: &mut Context<Self>) {
        let began = Instant::now();
        let ids = seat
            .peer_ids(&self.state)
            .unwrap_or_else(|e| fatal("reading the committee's peer ids failed", e));
        let peers: Vec<PeerId> = ids
            .iter()
            .map(|id| {
                id.parse().unwrap_or_else(|_| {
                    // The registry keeps what was registered; a member
                    // whose id does not parse is unreachable, not fatal.
                    tracing::warn!(chain = %self.chain, id, "a member's peer id does not parse");
                    PeerId::random()
                })
            })
            .collect();
        let (epoch, start, me, n) = (
            seat.record.epoch,
            seat.record.start,
            seat.me,
            seat.members.len() as u32,
        );
        let roster: Vec<PeerId> = dynasty::roster(&self.state, self.chain)
            .map(|r| r.entries.to_vec())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| dynasty::validator(&self.state, &e.key).ok().flatten())
            .filter_map(|v| {
                String::from_utf8_lossy(v.info.peer_id.as_slice())
                    .parse()
                    .ok()
            })
            .collect();
        // This node's own peer, as registered (not a follower to fetch from).
        let own: Option<PeerId> = dynasty::validator(&self.state, &self.key.public_key())
            .ok()
            .flatten()
            .and_then(|v| {
                String::from_utf8_lossy(v.info.peer_id.as_slice())
                    .parse()
                    .ok()
            });
        let followers: Vec<PeerId> = roster
            .iter()
            .filter(|p| !peers.contains(p) && Some(**p) != own)
            .copied()
            .collect();
        let since = match seat.start_block(&self.store, &self.genesis) {
            Ok(Some(b)) => b.header.state_height,
            _ => 0,
        };
        let roots = self.recent_roots(since);
        let seat = match self.epochs.as_ref().and_then(|d| d.pvss.as_ref()) {
            Some(pvss) => seat
                .with_share(&self.state, pvss, &mut rand::rngs::OsRng)
                .unwrap_or_else(|e| fatal("opening this node's share of the group key failed", e)),
            None => seat,
        };
        if seat.members.group().is_some() {
            tracing::info!(chain = %self.chain, epoch, share = seat.share.is_some(), "a threshold committee");
        } else if epoch > 0 && seat.record.params.certificate == CertificateKind::Threshold {
            let applied = self.state.applied_height().unwrap_or(0);
            tracing::warn!(chain = %self.chain, epoch, applied, "a threshold epoch's committee has no group key here: its DKG gave none, so it certifies by multisig");
        }
        let read_ms = began.elapsed().as_millis() as u64;
        let started = seat
            .start(
                &self.store,
                self.key.clone(),
                &self.settings,
                &self.genesis,
                &roots,
                crate::unix_micros(),
            )
            .unwrap_or_else(|e| fatal("starting the epoch's core failed", e));
        for handle in [
            self.view_timer.take(),
            self.sync_timer.take().map(|(h, _)| h),
        ]
        .into_iter()
        .flatten()
        {
            ctx.cancel_future(handle);
        }
        // Where the members of the epoch before are now (their blocks'
        // batches are fetched from them: `MempoolCore::set_epoch`).
        let previous = if self.core.config().epoch.saturating_add(1) == epoch {
            self.peers
                .iter()
                .map(|p| {
                    peers.iter().position(|q| q == p).or_else(|| {
                        followers
                            .iter()
                            .position(|q| q == p)
                            .map(|i| i + peers.len())
                    })
                })
                .map(|i| i.and_then(|i| u32::try_from(i).ok()))
                .collect()
        } else {
            Vec::new()
        };
        self.core = started.core;
        self.peers = peers.clone();
        self.mempool.do_send(SetSeat {
            me: me.unwrap_or(u32::MAX),
            committee_size: n,
            followers: followers.len() as u32,
            epoch,
            previous,
        });
        self.bridge.do_send(SetCommittee {
            chain: self.chain,
            peers,
            roster,
            followers,
        });
        self.metrics
            .epoch
            .with_label_values(&[self.label.as_str()])
            .set(epoch as i64);
        match me {
            Some(p) => {
                tracing::info!(chain = %self.chain, epoch, start, position = p, members = n, read_ms, start_ms = began.elapsed().as_millis() as u64, "serving the epoch")
            }
            None => {
                tracing::info!(chain = %self.chain, epoch, start, members = n, read_ms, start_ms = began.elapsed().as_millis() as u64, "observing the epoch")
            }
        }
        self.apply(started.actions, ctx);
        // What arrived early for this epoch, in order; later ones wait on.
        let later = self.epochs.as_mut().map(|d| std::mem::take(&mut d.later));
        for (peer, msg) in later.unwrap_or_default() {
            self.inbound(peer, msg, ctx);
        }
    }

    /// The state roots this node executed from `since` on (oldest first,
    /// the last `KEPT_ROOTS` at most): what an epoch's core may be asked
    /// about is above the state its start block names.
    fn recent_roots(&self, since: Height) -> Vec<(Height, Digest)> {
        let applied = self.state.applied_height().unwrap_or(0);
        let first = applied.saturating_sub(KEPT_ROOTS as u64 - 1).max(since);
        (first..=applied)
            .filter_map(|h| self.state.root_at(h).ok().flatten().map(|r| (h, r)))
            .collect()
    }

    /// The core ended its epoch: hand over once the next seat is known.
    pub(super) fn epoch_ended(&mut self) {
        let ended = self.core.config().epoch;
        if let Some(d) = self.epochs.as_mut() {
            d.ending = Some(ended);
            d.handoffs_due.insert(ended);
        }
    }

    /// Starts the next epoch once this node's state has decided its
    /// committee and the start block is here; keeps due handoffs.
    pub(super) fn hand_over_when_ready(&mut self, ctx: &mut Context<Self>) {
        self.keep_due_handoffs();
        let Some(ended) = self.epochs.as_ref().and_then(|d| d.ending) else {
            return;
        };
        let key = self.key.public_key();
        let next = ended.saturating_add(1);
        // Everything below from one snapshot of the state: the ledger
        // executes on its own thread, and a seat read across one of its
        // writes mixes two heights (`StateStore::snapshot`).
        let view = self.state.snapshot();
        // A multisig committee is final at its decision; a threshold one
        // once its DKG closed (its group key is written then), and
        // `read_at` does not decide it before: a node whose ledger runs
        // behind its commits (catching up after a restart) waits for it,
        // and only a threshold chain's nodes wait that long.
        let seat = match EpochSeat::read_at(&view, self.chain, &key, next) {
            Ok(seat) => seat,
            // Not decided in the state this ledger has executed yet.
            Err(SeatError::NoCommittee { .. }) => return,
            Err(e) => fatal("reading this node's seat in the next epoch failed", e),
        };
        drop(view);
        match seat.start_block(&self.store, &self.genesis) {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(e) => fatal("reading the next epoch's start block failed", e),
        }
        if let Some(d) = self.epochs.as_mut() {
            d.ending = None;
        }
        self.serve(seat, ctx);
    }

    /// Keeps the handoff of every ended epoch whose proof's state this
    /// node's ledger has executed (the state is still kept then).
    fn keep_due_handoffs(&mut self) {
        let due: Vec<Epoch> = match self.epochs.as_ref() {
            Some(d) if !d.handoffs_due.is_empty() => d.handoffs_due.iter().copied().collect(),
            _ => return,
        };
        let applied = self.state.applied_height().unwrap_or(0);
        for ending in due {
            let at = match self.store.epoch_change(ending) {
                Ok(Some(ec)) => ec.blocks.last().map(|b| b.header.state_height),
                Ok(None) => None,
                Err(e) => fatal("reading an epoch's proof of end failed", e),
            };
            if at.is_some_and(|at| at > applied) {
                continue;
            }
            self.keep_handoff(ending);
            if let Some(d) = self.epochs.as_mut() {
                d.handoffs_due.remove(&ending);
            }
        }
    }

    /// Makes and keeps the handoff from `ending` to the next epoch: its
    /// proof of end and the next committee and epoch records proven
    /// against the state its certified block names (still kept here: the
    /// ledger has just executed the epoch's last block).
    fn keep_handoff(&mut self, ending: Epoch) {
        let made = (|| -> Result<CommitteeHandoff, String> {
            let change = self
                .store
                .epoch_change(ending)
                .map_err(|e| e.to_string())?
                .ok_or("no proof of the epoch's end is stored")?;
            let at = change
                .blocks
                .last()
                .map(|b| b.header.state_height)
                .ok_or("an empty proof of end")?;
            let next = ending.saturating_add(1);
            let prove = |key: Vec<u8>| self.state.prove(&key, at).map_err(|e| e.to_string());
            let handoff = CommitteeHandoff {
                committee: prove(committee_key(self.chain, next))?,
                epoch: prove(epoch_record_key(self.chain, next))?,
                change,
            };
            handoff_records(&handoff)?;
            Ok(handoff)
        })();
        match made.map(|h| self.store.put_handoff(&h)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => fatal("storing a committee handoff failed", e),
            Err(why) => {
                tracing::warn!(chain = %self.chain, epoch = ending, why, "no committee handoff kept for the epoch")
            }
        }
    }

    /// A consensus message from `peer`: fed to the core from the member it
    /// is, kept if it is of a later epoch, dropped if of an earlier one or
    /// from no member.
    pub(super) fn inbound(&mut self, peer: PeerId, msg: ConsensusMessage, ctx: &mut Context<Self>) {
        let mine = self.core.config().epoch;
        match msg.epoch() {
            Some(e) if e > mine => {
                if let Some(d) = self.epochs.as_mut() {
                    if d.later.len() >= LATER_KEPT {
                        d.later.pop_front();
                    }
                    d.later.push_back((peer, msg));
                }
                return;
            }
            Some(e) if e < mine => return,
            _ => {}
        }
        let Some(from) = self.peers.iter().position(|p| *p == peer) else {
            // A member that left, or a node that never was one.
            return;
        };
        self.feed(
            Event::Message {
                from: from as u32,
                msg,
            },
            ctx,
        );
    }

    /// Tells the participant of an executed height; every
    /// [`ADMIT_EVERY`] heights, admits the roster's newcomers.
    pub(super) fn executed(&mut self, height: Height, root: Digest) {
        if let Some(p) = self.epochs.as_ref().and_then(|d| d.participant.as_ref()) {
            p.do_send(StateExecuted { height, root });
        }
        if height % ADMIT_EVERY == 0 {
            self.admit_roster_newcomers();
        }
    }

    /// Lets the transport admit validators that joined this chain's
    /// roster since the last look (a registration, or a stake on a
    /// network whose genesis names a provider): they follow the chain
    /// from now, not from the next epoch's start. One state read when
    /// nobody joined.
    fn admit_roster_newcomers(&mut self) {
        let Ok(roster) = dynasty::roster(&self.state, self.chain) else {
            return;
        };
        let Some(d) = self.epochs.as_mut() else {
            return;
        };
        let new: Vec<_> = roster
            .entries
            .iter()
            .map(|e| e.key)
            .filter(|k| !d.admitted.contains(k))
            .collect();
        if new.is_empty() {
            return;
        }
        d.admitted.extend(new.iter().copied());
        let peers: Vec<PeerId> = new
            .iter()
            .filter_map(|k| dynasty::validator(&self.state, k).ok().flatten())
            .filter_map(|v| {
                String::from_utf8_lossy(v.info.peer_id.as_slice())
                    .parse()
                    .ok()
            })
            .collect();
        self.bridge.do_send(AdmitPeers { peers });
    }

    /// Whether the committee of the epoch after this core's, once decided
    /// in the executed state, seats this node (read once per epoch).
    fn joins_next_epoch(&mut self) -> bool {
        let epoch = self.core.config().epoch;
        if let Some((e, joins)) = self.epochs.as_ref().and_then(|d| d.joining) {
            if e == epoch {
                return joins;
            }
        }
        let key = self.key.public_key();
        let joins = match EpochSeat::read_at(
            &self.state.snapshot(),
            self.chain,
            &key,
            epoch.saturating_add(1),
        ) {
            Ok(seat) => seat.me.is_some(),
            // Not decided yet: asked again at the next tick.
            Err(_) => return false,
        };
        if let Some(d) = self.epochs.as_mut() {
            d.joining = Some((epoch, joins));
        }
        joins
    }

    /// Now and then, a node that observes, or whose commits stalled, asks
    /// a member of its epoch for the blocks it has not committed (an
    /// observer has no other way to learn them; a member cut off across
    /// a boundary needs the proof).
    pub(super) fn start_catching_up(&mut self, ctx: &mut Context<Self>) {
        let every = (CATCH_UP_EVERY.as_millis() / JOINING_CATCH_UP_EVERY.as_millis()).max(1) as u64;
        ctx.run_interval(JOINING_CATCH_UP_EVERY, move |act, ctx| {
            let height = act.core.committed_height();
            let observer = act.core.config().me as usize >= act.core.config().committee.len();
            let joining = observer && act.joins_next_epoch();
            let Some(d) = act.epochs.as_mut() else {
                return;
            };
            d.ticks = d.ticks.wrapping_add(1);
            if !joining && d.ticks % every != 0 {
                return;
            }
            let now = Instant::now();
            let stalled = match d.progress {
                (h, Some(since)) if h == height => now.duration_since(since) >= STALL,
                _ => {
                    d.progress = (height, Some(now));
                    false
                }
            };
            let n = act.peers.len();
            if (observer || stalled || d.ending.is_some()) && n > 0 {
                let peer = rand::thread_rng().gen_range(0..n) as u32;
                act.feed(Event::CatchUp { peer }, ctx);
            }
            act.hand_over_when_ready(ctx);
        });
    }
}
