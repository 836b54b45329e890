//! The network bridge: between the libp2p task and the actors. Inbound
//! messages are decoded (with limits) and routed to the chain's actor
//! (with the sending peer: the actor places it in the committee of the
//! epoch the message names) or mempool (batches from the epoch's members,
//! by the positions the committee actor sets); anything malformed,
//! misrouted or from outside the committee is dropped, never fatal, and
//! charged to the peer that sent it ([`PeerScores`]): enough of it bans
//! the peer for a while.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use strata_chains::consensus::Fault;
use strata_chains::types::{ChainId, ConsensusMessage};
use strata_net::{Lane, NetEvent, NetHandle, PeerId};

use crate::messages::committee::{Inbound, SyncFailed};
use crate::messages::ledger::ServeSync;
use crate::messages::mempool::{FetchFailed, FetchedBatches, PeerBatch, Post, ServeBatches};
use crate::messages::network::{
    is_exchange, AdmitPeers, Broadcast, Penalize, RequestSync, SendWire, SetCommittee,
};
use crate::messages::{CommitteePort, Deliver, LedgerPort, MempoolPort};
use crate::service::metrics::Metrics;
use crate::service::peers::PeerScores;
use crate::service::wire::{consensus_topic, Wire};

/// What a sent request expects back.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Ack,
    Sync { chain: ChainId },
    Batches { chain: ChainId, from: u32 },
}

pub struct NetworkBridge {
    net: NetHandle,
    metrics: Arc<Metrics>,
    peers: HashMap<ChainId, Vec<PeerId>>,
    /// Each chain's followers outside its committee (`SetCommittee`).
    followers: HashMap<ChainId, Vec<PeerId>>,
    positions: HashMap<(ChainId, PeerId), u32>,
    chains: HashMap<ChainId, CommitteePort>,
    ledgers: HashMap<ChainId, LedgerPort>,
    mempools: HashMap<ChainId, MempoolPort>,
    pending: HashMap<u64, Expect>,
    seen: [u64; 6],
    serving: ServiceSlots,
    scores: PeerScores<PeerId>,
}

/// Requests a peer may have in service here at once (sync ranges and batch
/// fetches, answered asynchronously by the ledger and the mempool). An
/// honest member keeps one sync and a few fetches open; a member asking
/// for more would only queue work for our actors and streams on the
/// connection, so the excess is answered at once with an empty `Ack`
/// (the asker retries later).
const MAX_IN_SERVICE_PER_PEER: usize = 32;

/// Per peer, how many of its requests are in service.
#[derive(Debug, Default)]
struct ServiceSlots {
    taken: HashMap<PeerId, usize>,
}

impl ServiceSlots {
    /// Takes a slot for `peer`, unless it has all of them.
    fn take(&mut self, peer: PeerId) -> bool {
        let n = self.taken.entry(peer).or_default();
        if *n >= MAX_IN_SERVICE_PER_PEER {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&mut self, peer: &PeerId) {
        if let Some(n) = self.taken.get_mut(peer) {
            *n -= 1;
            if *n == 0 {
                self.taken.remove(peer);
            }
        }
    }
}

impl NetworkBridge {
    /// `committees`: per chain, the peer id of each committee position.
    pub fn new(
        net: NetHandle,
        metrics: Arc<Metrics>,
        committees: HashMap<ChainId, Vec<PeerId>>,
    ) -> NetworkBridge {
        let mut positions = HashMap::new();
        for (chain, peers) in &committees {
            for (i, p) in peers.iter().enumerate() {
                positions.insert((*chain, *p), i as u32);
            }
        }
        NetworkBridge {
            net,
            metrics,
            peers: committees,
            followers: HashMap::new(),
            positions,
            chains: HashMap::new(),
            ledgers: HashMap::new(),
            mempools: HashMap::new(),
            pending: HashMap::new(),
            seen: [0; 6],
            serving: ServiceSlots::default(),
            scores: PeerScores::default(),
        }
    }

    /// Charges `peer` for a failed check; bans it when its score says so.
    fn charge(&mut self, peer: PeerId, fault: Fault, reason: &'static str) {
        self.metrics.penalty(reason);
        tracing::debug!(%peer, reason, ?fault, "peer charged");
        if let Some(ban) = self.scores.penalize(&peer, fault, Instant::now()) {
            tracing::warn!(%peer, reason, ?ban, "banning a peer whose checks keep failing");
            self.metrics.peer_bans.inc();
            if self.net.ban(peer, ban).is_err() {
                self.metrics.reject("outbound queue full");
            }
        }
    }

    fn position(&self, chain: ChainId, peer: &PeerId) -> Option<u32> {
        self.positions.get(&(chain, *peer)).copied()
    }

    /// The peer at committee position `to` (positions past the committee
    /// are the chain's followers), unless it is this node.
    fn peer_at(&self, chain: ChainId, to: u32) -> Option<PeerId> {
        let members = self.peers.get(&chain)?;
        let to = to as usize;
        match to.checked_sub(members.len()) {
            None => members.get(to),
            Some(f) => self.followers.get(&chain).and_then(|p| p.get(f)),
        }
        .copied()
        .filter(|p| *p != self.net.local_peer_id)
    }

    /// A committee member's peer (never a follower): what positions in
    /// consensus messages and penalties name.
    fn member_at(&self, chain: ChainId, member: u32) -> Option<PeerId> {
        let members = self.peers.get(&chain)?;
        members
            .get(member as usize)
            .copied()
            .filter(|p| *p != self.net.local_peer_id)
    }

    fn send_one_way(&mut self, chain: ChainId, to: u32, lane: Lane, bytes: Vec<u8>) {
        let Some(peer) = self.peer_at(chain, to) else {
            return;
        };
        tracing::trace!(to, ?lane, len = bytes.len(), "lane send");
        if let Err(e) = self.net.send(lane, peer, bytes) {
            tracing::debug!("message to {peer} not sent: {e}");
            self.metrics.reject("outbound queue full");
        }
    }

    fn request(&mut self, chain: ChainId, to: u32, bytes: Vec<u8>, expect: Expect) {
        let Some(peer) = self.peer_at(chain, to) else {
            return;
        };
        match self.net.request(peer, bytes) {
            Ok(id) => {
                if !matches!(expect, Expect::Ack) || self.pending.len() < 100_000 {
                    self.pending.insert(id, expect);
                }
            }
            Err(e) => {
                tracing::debug!("request to {peer} not sent: {e}");
                self.metrics.reject("outbound queue full");
            }
        }
    }

    fn reply(&self, reply: strata_net::ReplyId, wire: &Wire) {
        let _ = self.net.reply(reply, wire.to_bytes());
    }

    fn on_gossip(&mut self, author: PeerId, data: Vec<u8>) {
        match Wire::from_bytes(&data) {
            Ok(Wire::Consensus { chain, msg }) => {
                // Any validator the transport admits may speak on a chain
                // it runs: the committee actor places the sender in the
                // epoch the message names and drops what no member sent.
                let Some(actor) = self.chains.get(&chain) else {
                    return self.charge(
                        author,
                        Fault::Unhelpful,
                        "gossip for a chain not run here",
                    );
                };
                if !matches!(
                    msg,
                    ConsensusMessage::Proposal(_)
                        | ConsensusMessage::Timeout(_)
                        | ConsensusMessage::Evidence(_)
                        | ConsensusMessage::EpochChange(_)
                ) {
                    return self.charge(author, Fault::Invalid, "unexpected gossip");
                }
                actor.do_send(Inbound { peer: author, msg });
            }
            Ok(_) => self.charge(author, Fault::Invalid, "unexpected gossip"),
            Err(_) => self.charge(author, Fault::Invalid, "malformed message"),
        }
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        data: Vec<u8>,
        reply: strata_net::ReplyId,
        ctx: &mut Context<Self>,
    ) {
        let wire = match Wire::from_bytes(&data) {
            Ok(w) => w,
            Err(_) => {
                self.charge(peer, Fault::Invalid, "malformed message");
                return self.reply(reply, &Wire::Ack);
            }
        };
        match wire {
            Wire::Consensus { chain, msg } => {
                // Sync is served to any validator following the chain (an
                // observer catching up, a member that left).
                let Some(actor) = self.chains.get(&chain).cloned() else {
                    self.charge(peer, Fault::Unhelpful, "request for a chain not run here");
                    return self.reply(reply, &Wire::Ack);
                };
                match msg {
                    ConsensusMessage::SyncRequest(req) => {
                        let Some(ledger) = self.ledgers.get(&chain).cloned() else {
                            return self.reply(reply, &Wire::Ack);
                        };
                        if !self.serving.take(peer) {
                            // Flow control, not a fault: a member catching
                            // up asks for much at once, and asks again.
                            self.metrics.reject("requests over the per-peer limit");
                            return self.reply(reply, &Wire::Ack);
                        }
                        let fut = ledger.send(ServeSync(req));
                        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
                            act.serving.release(&peer);
                            let res = res.ok().and_then(|a| {
                                if a.lied {
                                    act.charge(
                                        peer,
                                        Fault::Invalid,
                                        "sync request misstating its target",
                                    );
                                }
                                a.response
                            });
                            let answer = match res {
                                Some(resp) => Wire::Consensus {
                                    chain,
                                    msg: ConsensusMessage::SyncResponse(Box::new(resp)),
                                },
                                None => Wire::Ack,
                            };
                            act.reply(reply, &answer);
                        }));
                    }
                    // Responses come back on the asker's own exchange,
                    // never as a request of their own.
                    ConsensusMessage::SyncResponse(_) => {
                        self.charge(peer, Fault::Invalid, "unsolicited sync response");
                        self.reply(reply, &Wire::Ack);
                    }
                    other => {
                        actor.do_send(Inbound { peer, msg: other });
                        self.reply(reply, &Wire::Ack);
                    }
                }
            }
            Wire::Batch(batch) => {
                self.route_batch(&peer, *batch);
                self.reply(reply, &Wire::Ack);
            }
            Wire::BatchRequest { chain, digests } => {
                // Observers fetch the batches of what they commit too.
                let Some(m) = self.mempools.get(&chain).cloned() else {
                    self.charge(peer, Fault::Unhelpful, "request for a chain not run here");
                    return self.reply(reply, &Wire::Ack);
                };
                if !self.serving.take(peer) {
                    self.metrics.reject("requests over the per-peer limit");
                    return self.reply(reply, &Wire::Ack);
                }
                let fut = m.send(ServeBatches(digests.into_inner()));
                ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
                    act.serving.release(&peer);
                    let batches = res.unwrap_or_default();
                    let answer = Wire::BatchResponse {
                        chain,
                        batches: strata_crypto::codec::BoundedVec::new(batches)
                            .unwrap_or_else(|_| strata_crypto::codec::BoundedVec::empty()),
                    };
                    act.reply(reply, &answer);
                }));
            }
            Wire::Forward { chain, txs } => {
                // Taken only by a member (checked like a client's); a node
                // that is no longer one drops it and the sender, which
                // retries until its records execute, tries another.
                let member = self.position(chain, &self.net.local_peer_id).is_some();
                match self.mempools.get(&chain) {
                    Some(m) if member => m.do_send(Post {
                        txs: txs.into_inner(),
                        forwarded: true,
                    }),
                    Some(_) => {}
                    None => self.charge(peer, Fault::Unhelpful, "forward for a chain not run here"),
                }
                self.reply(reply, &Wire::Ack);
            }
            Wire::BatchResponse { .. } | Wire::Ack => {
                self.charge(peer, Fault::Invalid, "unexpected message");
                self.reply(reply, &Wire::Ack);
            }
        }
    }

    fn route_batch(&mut self, peer: &PeerId, batch: strata_chains::types::Batch) {
        let chain = batch.chain;
        match (self.position(chain, peer), self.mempools.get(&chain)) {
            (Some(from), Some(m)) => m.do_send(PeerBatch { from, batch }),
            _ => self.charge(*peer, Fault::Unhelpful, "batch from outside the committee"),
        }
    }

    /// A one-way message from a direct lane: what `lane_of` sends there.
    fn on_direct(&mut self, peer: PeerId, data: Vec<u8>) {
        tracing::trace!(len = data.len(), "lane message");
        match Wire::from_bytes(&data) {
            Ok(Wire::Batch(batch)) => self.route_batch(&peer, *batch),
            Ok(Wire::Consensus { chain, msg }) if !is_exchange(&msg) => {
                match self.chains.get(&chain) {
                    Some(actor) => actor.do_send(Inbound { peer, msg }),
                    None => self.charge(peer, Fault::Unhelpful, "message for a chain not run here"),
                }
            }
            Ok(_) => self.charge(peer, Fault::Invalid, "unexpected message"),
            Err(_) => self.charge(peer, Fault::Invalid, "malformed message"),
        }
    }

    fn on_response(&mut self, peer: PeerId, request: u64, data: Vec<u8>) {
        let Some(expect) = self.pending.remove(&request) else {
            return;
        };
        if data.is_empty() {
            // The peer's transport shed the request (its node's queue was
            // full): no answer, and no fault; the asker retries.
            return;
        }
        match (expect, Wire::from_bytes(&data)) {
            (Expect::Ack, _) => {}
            (
                Expect::Sync { chain },
                Ok(Wire::Consensus {
                    chain: c,
                    msg: msg @ ConsensusMessage::SyncResponse(_),
                }),
            ) if c == chain => {
                if let Some(actor) = self.chains.get(&chain) {
                    actor.do_send(Inbound { peer, msg });
                }
            }
            (Expect::Batches { chain, from }, Ok(Wire::BatchResponse { chain: c, batches }))
                if c == chain =>
            {
                if let Some(m) = self.mempools.get(&chain) {
                    m.do_send(FetchedBatches {
                        from,
                        batches: batches.into_inner(),
                    });
                }
            }
            (Expect::Sync { .. }, Ok(Wire::Ack)) => {}
            (_, Err(_)) => self.charge(peer, Fault::Invalid, "malformed message"),
            _ => self.charge(peer, Fault::Invalid, "unexpected response"),
        }
    }

    fn export_stats(&mut self) {
        let s = &self.net.stats;
        let now = [
            s.bytes_in.load(Ordering::Relaxed),
            s.bytes_out.load(Ordering::Relaxed),
            s.unknown_peer.load(Ordering::Relaxed),
            s.dropped_inbound.load(Ordering::Relaxed),
            s.dropped_outbound.load(Ordering::Relaxed),
            s.refused_streams.load(Ordering::Relaxed),
        ];
        let d: Vec<u64> = now
            .iter()
            .zip(self.seen)
            .map(|(n, b)| n.saturating_sub(b))
            .collect();
        self.metrics.received_bytes.inc_by(d[0]);
        self.metrics.sent_bytes.inc_by(d[1]);
        for _ in 0..d[2] {
            self.metrics.reject("not in genesis");
        }
        for _ in 0..d[3] {
            self.metrics.reject("inbound queue full");
        }
        for _ in 0..d[4] {
            self.metrics.reject("outbound queue full");
        }
        for _ in 0..d[5] {
            self.metrics.reject("too many lane streams");
        }
        self.seen = now;
        self.metrics
            .peers
            .set(s.peers.load(Ordering::Relaxed) as i64);
        // Requests whose answer never comes are forgotten eventually.
        if self.pending.len() > 50_000 {
            self.pending.clear();
        }
        self.scores.prune(Instant::now());
    }
}

impl Actor for NetworkBridge {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(16384);
        ctx.run_interval(Duration::from_secs(1), |act, _| act.export_stats());
    }
}

/// The transport's events, as a stream into the bridge.
pub struct NetEvents(pub NetEvent);

impl Message for NetEvents {
    type Result = ();
}

impl StreamHandler<NetEvents> for NetworkBridge {
    fn handle(&mut self, item: NetEvents, ctx: &mut Context<Self>) {
        match item.0 {
            NetEvent::Gossip { author, data, .. } => self.on_gossip(author, data),
            NetEvent::Request { peer, data, reply } => self.on_request(peer, data, reply, ctx),
            NetEvent::Response {
                peer,
                request,
                data,
            } => self.on_response(peer, request, data),
            NetEvent::Direct { peer, data } => self.on_direct(peer, data),
            NetEvent::RequestFailed { request, .. } => match self.pending.remove(&request) {
                Some(Expect::Sync { chain, .. }) => {
                    if let Some(actor) = self.chains.get(&chain) {
                        actor.do_send(SyncFailed);
                    }
                }
                Some(Expect::Batches { chain, from }) => {
                    if let Some(m) = self.mempools.get(&chain) {
                        m.do_send(FetchFailed { from });
                    }
                }
                _ => {}
            },
            NetEvent::PeerConnected(p) => tracing::info!(peer = %p, "peer connected"),
            NetEvent::PeerDisconnected(p) => tracing::info!(peer = %p, "peer disconnected"),
            NetEvent::Malformed { peer, reason } => self.charge(peer, Fault::Invalid, reason),
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {
        tracing::error!("node stops: the network task ended");
        eprintln!("strata: node stops: the network task ended");
        System::current().stop_with_code(70);
    }
}

impl Handler<Penalize> for NetworkBridge {
    type Result = ();
    fn handle(&mut self, msg: Penalize, _: &mut Context<Self>) {
        if let Some(peer) = self.member_at(msg.chain, msg.member) {
            self.charge(peer, msg.fault, msg.reason);
        }
    }
}

/// Connects a chain's actors to the bridge.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterChain {
    pub chain: ChainId,
    pub actor: CommitteePort,
    pub ledger: LedgerPort,
    pub mempool: MempoolPort,
}

impl Handler<RegisterChain> for NetworkBridge {
    type Result = ();
    fn handle(&mut self, msg: RegisterChain, _: &mut Context<Self>) {
        self.chains.insert(msg.chain, msg.actor);
        self.ledgers.insert(msg.chain, msg.ledger);
        self.mempools.insert(msg.chain, msg.mempool);
    }
}

impl Handler<SetCommittee> for NetworkBridge {
    type Result = ();
    fn handle(&mut self, msg: SetCommittee, _: &mut Context<Self>) {
        for peer in msg.roster.iter().chain(&msg.peers) {
            if *peer != self.net.local_peer_id && self.net.allow(*peer).is_err() {
                self.metrics.reject("outbound queue full");
            }
        }
        self.positions.retain(|(chain, _), _| *chain != msg.chain);
        for (i, p) in msg.peers.iter().enumerate() {
            self.positions.insert((msg.chain, *p), i as u32);
        }
        self.peers.insert(msg.chain, msg.peers);
        self.followers.insert(msg.chain, msg.followers);
    }
}

impl Handler<AdmitPeers> for NetworkBridge {
    type Result = ();
    fn handle(&mut self, msg: AdmitPeers, _: &mut Context<Self>) {
        for peer in &msg.peers {
            if *peer != self.net.local_peer_id && self.net.allow(*peer).is_err() {
                self.metrics.reject("outbound queue full");
            }
        }
    }
}

impl Handler<SendWire> for NetworkBridge {
    type Result = ();
    fn handle(&mut self, msg: SendWire, _: &mut Context<Self>) {
        let expect = if msg.fetches_batches {
            Expect::Batches {
                chain: msg.chain,
                from: msg.to,
            }
        } else {
            Expect::Ack
        };
        let bytes = Arc::try_unwrap(msg.bytes).unwrap_or_else(|shared| (*shared).clone());
        match msg.lane {
            Some(lane) => self.send_one_way(msg.chain, msg.to, lane, bytes),
            None => self.request(msg.chain, msg.to, bytes, expect),
        }
    }
}

impl Handler<Broadcast> for NetworkBridge {
    type Result = ();
    fn handle(&mut self, msg: Broadcast, _: &mut Context<Self>) {
        if self
            .net
            .publish(&consensus_topic(msg.chain), msg.wire.to_bytes())
            .is_err()
        {
            self.metrics.reject("outbound queue full");
        }
    }
}

impl Handler<RequestSync> for NetworkBridge {
    type Result = ();
    fn handle(&mut self, msg: RequestSync, _: &mut Context<Self>) {
        let wire = Wire::Consensus {
            chain: msg.chain,
            msg: ConsensusMessage::SyncRequest(msg.request),
        };
        self.request(
            msg.chain,
            msg.to,
            wire.to_bytes(),
            Expect::Sync { chain: msg.chain },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_to_the_others_goes_to_every_member_but_the_sender_on_one_encoding() {
        let msg = SendWire::new(ChainId(0), 0, &Wire::Ack);
        let sent: Vec<SendWire> = msg.to_others(2, 5).collect();
        assert_eq!(
            sent.iter().map(|m| m.to).collect::<Vec<_>>(),
            vec![0, 1, 3, 4]
        );
        assert!(sent.iter().all(|m| Arc::ptr_eq(&m.bytes, &msg.bytes)));
    }

    #[test]
    fn a_peer_gets_a_bounded_number_of_requests_in_service() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut slots = ServiceSlots::default();
        for _ in 0..MAX_IN_SERVICE_PER_PEER {
            assert!(slots.take(a));
        }
        assert!(!slots.take(a), "one over the limit");
        assert!(slots.take(b), "other peers are not affected");
        slots.release(&a);
        assert!(slots.take(a), "a finished request frees its slot");
        for _ in 0..MAX_IN_SERVICE_PER_PEER {
            slots.release(&a);
        }
        slots.release(&b);
        assert!(slots.taken.is_empty(), "nothing kept for idle peers");
    }
}
