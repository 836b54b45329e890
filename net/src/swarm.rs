//! The swarm task and its handle.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identity, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::sync::mpsc;

use crate::codec::{BytesCodec, PROTOCOL};
use crate::direct::{self, DirectLanes, Lane};
use crate::events::{NetError, NetEvent, NetStats, ReplyId};
use crate::inbox::{self, Class, Inbox, InboxSender, Limits};

/// How the transport is set up.
#[derive(Clone)]
pub struct NetConfig {
    pub keypair: identity::Keypair,
    pub listen: Multiaddr,
    /// Peers to keep a connection to.
    pub dial: Vec<(PeerId, Multiaddr)>,
    /// Everyone in the genesis; anyone else is disconnected.
    pub allowed: HashSet<PeerId>,
    pub topics: Vec<String>,
    pub max_message_bytes: usize,
    /// Messages queued per peer and class for the node (see `inbox`);
    /// events of the transport itself queue up to this many too.
    pub inbound_capacity: usize,
    /// Bytes queued per peer for the node.
    pub inbound_peer_bytes: usize,
    /// Bound of the queue of commands from the node.
    pub command_capacity: usize,
    pub request_timeout: Duration,
}

enum Command {
    Publish {
        topic: String,
        data: Vec<u8>,
    },
    Request {
        peer: PeerId,
        data: Vec<u8>,
        id: u64,
    },
    Reply {
        reply: ReplyId,
        data: Vec<u8>,
    },
    Direct {
        lane: Lane,
        peer: PeerId,
        data: Vec<u8>,
    },
    Ban {
        peer: PeerId,
        duration: Duration,
    },
    Allow(PeerId),
}

/// The node's side of the transport.
#[derive(Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    next_request: Arc<AtomicU64>,
    pub stats: Arc<NetStats>,
    pub local_peer_id: PeerId,
}

impl NetHandle {
    fn command(&self, c: Command) -> Result<(), NetError> {
        self.commands.try_send(c).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                self.stats.dropped_outbound.fetch_add(1, Ordering::Relaxed);
                NetError::QueueFull
            }
            mpsc::error::TrySendError::Closed(_) => NetError::Stopped,
        })
    }

    /// Publishes to a gossip topic.
    pub fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), NetError> {
        self.command(Command::Publish {
            topic: topic.to_string(),
            data,
        })
    }

    /// Sends a request; its response (or failure) comes back as an event
    /// carrying the returned id.
    pub fn request(&self, peer: PeerId, data: Vec<u8>) -> Result<u64, NetError> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        self.command(Command::Request { peer, data, id })?;
        Ok(id)
    }

    /// Answers an inbound request.
    pub fn reply(&self, reply: ReplyId, data: Vec<u8>) -> Result<(), NetError> {
        self.command(Command::Reply { reply, data })
    }

    /// Sends a one-way message down the peer's `lane` (a request while
    /// the peer is not connected, so that it is dialled and retried as
    /// before).
    pub fn send(&self, lane: Lane, peer: PeerId, data: Vec<u8>) -> Result<(), NetError> {
        self.command(Command::Direct { lane, peer, data })
    }

    /// Disconnects `peer` and refuses its connections, and drops anything
    /// it authored, for `duration`.
    pub fn ban(&self, peer: PeerId, duration: Duration) -> Result<(), NetError> {
        self.command(Command::Ban { peer, duration })
    }

    /// Admits `peer` from now on (a validator registered after genesis).
    pub fn allow(&self, peer: PeerId) -> Result<(), NetError> {
        self.command(Command::Allow(peer))
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    requests: request_response::Behaviour<BytesCodec>,
    lanes: libp2p_stream::Behaviour,
}

struct Task {
    swarm: Swarm<Behaviour>,
    cfg: NetConfig,
    events: InboxSender,
    stats: Arc<NetStats>,
    pending_replies: HashMap<u64, ResponseChannel<Vec<u8>>>,
    next_reply: u64,
    outbound: HashMap<OutboundRequestId, u64>,
    connected: HashSet<PeerId>,
    lanes: DirectLanes,
    /// Peers refused until the given time.
    banned: HashMap<PeerId, Instant>,
    allowed: crate::direct::AllowList,
}

/// Starts the transport on the current tokio runtime.
pub fn start(cfg: NetConfig) -> Result<(NetHandle, Inbox), NetError> {
    let (task, handle, events, commands) = build(cfg)?;
    tokio::spawn(task.run(commands));
    Ok((handle, events))
}

type Parts = (Task, NetHandle, Inbox, mpsc::Receiver<Command>);

fn build(cfg: NetConfig) -> Result<Parts, NetError> {
    let err = |e: &dyn std::fmt::Display| NetError::Transport(e.to_string());
    let gossip_config = gossipsub::ConfigBuilder::default()
        .max_transmit_size(cfg.max_message_bytes)
        .validation_mode(ValidationMode::Strict)
        .heartbeat_interval(Duration::from_millis(500))
        .flood_publish(true)
        .build()
        .map_err(|e| err(&e))?;
    let max = cfg.max_message_bytes;
    let timeout = cfg.request_timeout;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(cfg.keypair.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| err(&e))?
        .with_behaviour(|key| {
            let gossipsub =
                gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gossip_config)
                    .map_err(std::io::Error::other)?;
            let requests = request_response::Behaviour::with_codec(
                BytesCodec { max_bytes: max },
                [(PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(timeout)
                    .with_max_concurrent_streams(1024),
            );
            Ok(Behaviour {
                gossipsub,
                requests,
                lanes: libp2p_stream::Behaviour::new(),
            })
        })
        .map_err(|e| err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    for t in &cfg.topics {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&IdentTopic::new(t))
            .map_err(|e| err(&e))?;
    }
    swarm.listen_on(cfg.listen.clone()).map_err(|e| err(&e))?;
    let (command_tx, command_rx) = mpsc::channel(cfg.command_capacity);
    let stats = Arc::new(NetStats::default());
    let (event_tx, event_rx) = inbox::inbox(
        Limits {
            per_peer: cfg.inbound_capacity,
            peer_bytes: cfg.inbound_peer_bytes,
            control: cfg.inbound_capacity,
        },
        stats.clone(),
    );
    let handle = NetHandle {
        commands: command_tx,
        next_request: Arc::new(AtomicU64::new(1)),
        stats: stats.clone(),
        local_peer_id: *swarm.local_peer_id(),
    };
    let mut control = swarm.behaviour().lanes.new_control();
    let allowed: crate::direct::AllowList = Arc::new(std::sync::RwLock::new(cfg.allowed.clone()));
    direct::accept(
        &mut control,
        event_tx.clone(),
        allowed.clone(),
        stats.clone(),
        cfg.max_message_bytes,
    )?;
    let lanes = DirectLanes::new(control, stats.clone(), cfg.command_capacity);
    let task = Task {
        swarm,
        cfg,
        events: event_tx,
        stats,
        pending_replies: HashMap::new(),
        next_reply: 1,
        outbound: HashMap::new(),
        connected: HashSet::new(),
        lanes,
        banned: HashMap::new(),
        allowed,
    };
    Ok((task, handle, event_rx, command_rx))
}

/// Starts the transport on a thread of its own (with its own tokio
/// runtime), so that encryption, multiplexing and gossip never wait behind
/// the node's actors; the thread ends when every [`NetHandle`] is dropped.
pub fn start_on_thread(cfg: NetConfig) -> Result<(NetHandle, Inbox), NetError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("strata-net".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(NetError::Transport(e.to_string())));
                    return;
                }
            };
            rt.block_on(async move {
                let (task, handle, events, commands) = match build(cfg) {
                    Ok(parts) => parts,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok((handle, events)));
                task.run(commands).await;
            });
        })
        .map_err(|e| NetError::Transport(e.to_string()))?;
    ready_rx
        .recv()
        .map_err(|_| NetError::Transport("the network thread died".into()))?
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut redial = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                _ = redial.tick() => self.redial(),
            }
        }
        tracing::debug!("network task stops");
    }

    fn redial(&mut self) {
        let now = Instant::now();
        self.banned.retain(|_, until| *until > now);
        for (peer, addr) in self.cfg.dial.clone() {
            if !self.swarm.is_connected(&peer) && !self.banned.contains_key(&peer) {
                let _ = self.swarm.dial(addr);
            }
        }
        self.pending_replies.retain(|_, ch| ch.is_open());
    }

    /// Queues an event for the node: messages in their peer's queue
    /// (gossip by its author), the transport's own events apart. False
    /// (counted) when that queue is full.
    fn deliver(&mut self, event: NetEvent) -> bool {
        match event {
            NetEvent::Gossip { author, .. } => {
                self.events.try_push(author, Class::Consensus, event)
            }
            NetEvent::Request { peer, .. } => self.events.try_push(peer, Class::Bulk, event),
            NetEvent::Direct { peer, .. } => self.events.try_push(peer, Class::Bulk, event),
            NetEvent::Response { .. }
            | NetEvent::RequestFailed { .. }
            | NetEvent::PeerConnected(_)
            | NetEvent::PeerDisconnected(_)
            | NetEvent::Malformed { .. } => self.events.control(event),
        }
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Publish { topic, data } => {
                let len = data.len() as u64;
                match self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(IdentTopic::new(topic), data)
                {
                    Ok(_) => {
                        self.stats
                            .bytes_out
                            .fetch_add(len * self.connected.len().max(1) as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        self.stats.unpublished.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!("publish failed: {e}");
                    }
                }
            }
            Command::Request { peer, data, id } => self.send_request(peer, data, Some(id)),
            Command::Direct { lane, peer, data } => {
                if self.connected.contains(&peer) {
                    let _ = self.lanes.send(lane, peer, data);
                } else {
                    self.send_request(peer, data, None);
                }
            }
            Command::Allow(peer) => {
                if let Ok(mut a) = self.allowed.write() {
                    if a.insert(peer) {
                        tracing::info!(%peer, "admitting a newly registered validator");
                    }
                }
            }
            Command::Ban { peer, duration } => {
                tracing::warn!(%peer, ?duration, "banning a peer");
                self.banned.insert(peer, Instant::now() + duration);
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Reply { reply, data } => {
                if let Some(channel) = self.pending_replies.remove(&reply.0) {
                    self.stats
                        .bytes_out
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .requests
                        .send_response(channel, data);
                }
            }
        }
    }

    /// `id`: where the response goes; `None` for a one-way message whose
    /// answer is only an acknowledgement.
    fn send_request(&mut self, peer: PeerId, data: Vec<u8>, id: Option<u64>) {
        self.stats
            .bytes_out
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        let req = self
            .swarm
            .behaviour_mut()
            .requests
            .send_request(&peer, data);
        if let Some(id) = id {
            self.outbound.insert(req, id);
        }
    }

    fn allowed(&self, peer: &PeerId) -> bool {
        self.allowed.read().is_ok_and(|a| a.contains(peer))
    }

    fn is_banned(&self, peer: &PeerId) -> bool {
        let banned = self
            .banned
            .get(peer)
            .is_some_and(|until| *until > Instant::now());
        if banned {
            self.stats.banned_peer.fetch_add(1, Ordering::Relaxed);
        }
        banned
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                if !self.allowed(&peer_id) {
                    self.stats.unknown_peer.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer_id, "disconnecting a peer that is not in the genesis");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if self.is_banned(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if self.connected.insert(peer_id) {
                    self.stats
                        .peers
                        .store(self.connected.len() as u64, Ordering::Relaxed);
                    self.deliver(NetEvent::PeerConnected(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if self.connected.remove(&peer_id) => {
                self.lanes.forget(&peer_id);
                self.stats
                    .peers
                    .store(self.connected.len() as u64, Ordering::Relaxed);
                self.deliver(NetEvent::PeerDisconnected(peer_id));
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message,
                ..
            })) => {
                let author = message.source.unwrap_or(propagation_source);
                if !self.allowed(&author) || !self.allowed(&propagation_source) {
                    self.stats.unknown_peer.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                if self.is_banned(&author) || self.is_banned(&propagation_source) {
                    return;
                }
                self.stats
                    .bytes_in
                    .fetch_add(message.data.len() as u64, Ordering::Relaxed);
                self.deliver(NetEvent::Gossip {
                    topic: message.topic.into_string(),
                    author,
                    data: message.data,
                });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Requests(event)) => self.on_request_event(event),
            _ => {}
        }
    }

    fn on_request_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if !self.allowed(&peer) {
                        self.stats.unknown_peer.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    if self.is_banned(&peer) {
                        return;
                    }
                    self.stats
                        .bytes_in
                        .fetch_add(request.len() as u64, Ordering::Relaxed);
                    let id = self.next_reply;
                    self.next_reply += 1;
                    let delivered = self.deliver(NetEvent::Request {
                        peer,
                        data: request,
                        reply: ReplyId(id),
                    });
                    if delivered {
                        self.pending_replies.insert(id, channel);
                    } else {
                        // Shed load: answer at once, with nothing (no
                        // message is empty), so the peer's stream closes;
                        // the protocol retransmits what matters.
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .requests
                            .send_response(channel, Vec::new());
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.stats
                        .bytes_in
                        .fetch_add(response.len() as u64, Ordering::Relaxed);
                    if let Some(id) = self.outbound.remove(&request_id) {
                        self.deliver(NetEvent::Response {
                            peer,
                            request: id,
                            data: response,
                        });
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(id) = self.outbound.remove(&request_id) {
                    self.deliver(NetEvent::RequestFailed {
                        peer,
                        request: id,
                        error: error.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(i: u8, port: u16, peers: &[(PeerId, Multiaddr)], allowed: &[PeerId]) -> NetConfig {
        NetConfig {
            keypair: crate::identity_from_secret([i; 32]),
            listen: format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap(),
            dial: peers.to_vec(),
            allowed: allowed.iter().copied().collect(),
            topics: vec!["t".into()],
            max_message_bytes: 1 << 20,
            inbound_capacity: 64,
            inbound_peer_bytes: 16 << 20,
            command_capacity: 64,
            request_timeout: Duration::from_secs(5),
        }
    }

    fn peer(i: u8) -> PeerId {
        crate::identity_from_secret([i; 32]).public().to_peer_id()
    }

    async fn next_matching(rx: &mut Inbox, f: impl Fn(&NetEvent) -> bool) -> NetEvent {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let e = rx.recv().await.expect("network alive");
                if f(&e) {
                    return e;
                }
            }
        })
        .await
        .expect("event in time")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_genesis_peers_exchange_requests_lanes_and_gossip_a_stranger_is_refused() {
        let (a, b, stranger) = (peer(1), peer(2), peer(3));
        let addr_b: Multiaddr = "/ip4/127.0.0.1/tcp/39602".parse().unwrap();
        let (ha, mut ra) = start(config(1, 39601, &[(b, addr_b.clone())], &[a, b])).unwrap();
        let (hb, mut rb) = start(config(2, 39602, &[], &[a, b])).unwrap();
        let (_hs, _rs) = start(config(3, 39603, &[(b, addr_b)], &[b])).unwrap();

        next_matching(
            &mut rb,
            |e| matches!(e, NetEvent::PeerConnected(p) if *p == a),
        )
        .await;
        let id = ha.request(b, b"ping".to_vec()).unwrap();
        let req = next_matching(&mut rb, |e| matches!(e, NetEvent::Request { .. })).await;
        let NetEvent::Request { data, reply, peer } = req else {
            unreachable!()
        };
        assert_eq!((data.as_slice(), peer), (&b"ping"[..], a));
        hb.reply(reply, b"pong".to_vec()).unwrap();
        let resp = next_matching(&mut ra, |e| matches!(e, NetEvent::Response { .. })).await;
        assert!(
            matches!(resp, NetEvent::Response { request, ref data, .. } if request == id && data == b"pong")
        );

        // Direct lanes: frames arrive in order, attributed to the sender,
        // each lane on its own stream.
        for (lane, data) in [
            (Lane::Consensus, &b"vote-1"[..]),
            (Lane::Bulk, b"batch-1"),
            (Lane::Consensus, b"vote-2"),
        ] {
            ha.send(lane, b, data.to_vec()).unwrap();
        }
        let mut votes = Vec::new();
        let mut batches = Vec::new();
        while votes.len() + batches.len() < 3 {
            let NetEvent::Direct { peer, data } =
                next_matching(&mut rb, |e| matches!(e, NetEvent::Direct { .. })).await
            else {
                unreachable!()
            };
            assert_eq!(peer, a);
            if data.starts_with(b"vote") {
                votes.push(data);
            } else {
                batches.push(data);
            }
        }
        assert_eq!(votes, vec![b"vote-1".to_vec(), b"vote-2".to_vec()]);
        assert_eq!(batches, vec![b"batch-1".to_vec()]);

        // Gossip needs the mesh to form; publish until it arrives.
        let got = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let _ = ha.publish("t", b"block".to_vec());
                if let Ok(Some(NetEvent::Gossip { data, author, .. })) =
                    tokio::time::timeout(Duration::from_millis(500), rb.recv()).await
                {
                    return (data, author);
                }
            }
        })
        .await
        .expect("gossip delivered");
        assert_eq!(got, (b"block".to_vec(), a));

        // The stranger dialled b and was disconnected, never delivered.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(hb.stats.unknown_peer.load(Ordering::Relaxed) >= 1);
        while let Some(e) = rb.try_recv() {
            assert!(!matches!(e, NetEvent::PeerConnected(p) if p == stranger));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_banned_peer_is_disconnected_refused_and_let_back_after_its_ban() {
        let (a, b) = (peer(11), peer(12));
        let addr_b: Multiaddr = "/ip4/127.0.0.1/tcp/39612".parse().unwrap();
        let (ha, _ra) = start(config(11, 39611, &[(b, addr_b)], &[a, b])).unwrap();
        let (hb, mut rb) = start(config(12, 39612, &[], &[a, b])).unwrap();
        next_matching(
            &mut rb,
            |e| matches!(e, NetEvent::PeerConnected(p) if *p == a),
        )
        .await;
        hb.ban(a, Duration::from_secs(3)).unwrap();
        next_matching(
            &mut rb,
            |e| matches!(e, NetEvent::PeerDisconnected(p) if *p == a),
        )
        .await;
        // a keeps redialling and sending; nothing of it is delivered while
        // the ban lasts.
        let banned_until = tokio::time::Instant::now() + Duration::from_millis(2500);
        while tokio::time::Instant::now() < banned_until {
            let _ = ha.send(Lane::Consensus, b, b"during".to_vec());
            let _ = ha.request(b, b"during".to_vec());
            if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(100), rb.recv()).await {
                assert!(
                    !matches!(
                        e,
                        NetEvent::PeerConnected(_)
                            | NetEvent::Direct { .. }
                            | NetEvent::Request { .. }
                    ),
                    "delivered during the ban: {e:?}"
                );
            }
        }
        assert!(hb.stats.banned_peer.load(Ordering::Relaxed) >= 1);
        // After the ban, a connects again and is heard.
        next_matching(
            &mut rb,
            |e| matches!(e, NetEvent::PeerConnected(p) if *p == a),
        )
        .await;
        let got = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let _ = ha.send(Lane::Consensus, b, b"after".to_vec());
                if let Ok(Some(NetEvent::Direct { data, .. })) =
                    tokio::time::timeout(Duration::from_millis(300), rb.recv()).await
                {
                    return data;
                }
            }
        })
        .await
        .expect("heard after the ban");
        assert_eq!(got, b"after");
    }
}
