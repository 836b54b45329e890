//! Direct lanes: one long-lived stream per peer and lane, carrying
//! length-prefixed frames one way. Messages to one member that need no
//! answer (votes, batches pushed to each member) go this way. A
//! request-response exchange opens a stream and negotiates its protocol for
//! every message and sends an answer back; on a busy 2-core machine those
//! extra wakeups made a vote's trip ~2× a gossiped proposal's. Two lanes, so
//! that a large batch never queues ahead of a vote.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::mpsc;

use crate::codec::{put_frame, read_frame};
use crate::events::{NetError, NetEvent, NetStats};
use crate::inbox::{Class, InboxSender};

/// The reader's first byte: it has the stream.
const GREETING: [u8; 1] = [0x5a];
const GREETING_WAIT: Duration = Duration::from_secs(2);
const OPEN_ATTEMPTS: u32 = 5;
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Which stream of a peer a message takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Small, latency-critical consensus messages.
    Consensus,
    /// Batches of transactions.
    Bulk,
}

impl Lane {
    const ALL: [Lane; 2] = [Lane::Consensus, Lane::Bulk];

    fn protocol(self) -> StreamProtocol {
        match self {
            Lane::Consensus => StreamProtocol::new("/strata/lane/consensus/1"),
            Lane::Bulk => StreamProtocol::new("/strata/lane/bulk/1"),
        }
    }
}

/// The outbound side: a writer task per (lane, peer), fed through a
/// bounded queue.
pub(crate) struct DirectLanes {
    control: Control,
    writers: HashMap<(Lane, PeerId), mpsc::Sender<Vec<u8>>>,
    stats: Arc<NetStats>,
    queue: usize,
}

impl DirectLanes {
    pub(crate) fn new(control: Control, stats: Arc<NetStats>, queue: usize) -> DirectLanes {
        DirectLanes {
            control,
            writers: HashMap::new(),
            stats,
            queue,
        }
    }

    /// Queues `data` for `peer`, opening the lane's stream if there is none
    /// (or the last one ended). A full queue drops the message: a peer that
    /// reads this slowly is not allowed to grow our memory, and the
    /// protocols retransmit what matters.
    pub(crate) fn send(&mut self, lane: Lane, peer: PeerId, data: Vec<u8>) -> Result<(), NetError> {
        let key = (lane, peer);
        let data = match self.writers.get(&key) {
            Some(tx) => match tx.try_send(data) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.stats.dropped_outbound.fetch_add(1, Ordering::Relaxed);
                    return Err(NetError::QueueFull);
                }
                Err(mpsc::error::TrySendError::Closed(data)) => data,
            },
            None => data,
        };
        let (tx, rx) = mpsc::channel(self.queue);
        // A fresh queue has room for one.
        let _ = tx.try_send(data);
        self.writers.insert(key, tx);
        tokio::spawn(write_lane(
            self.control.clone(),
            peer,
            lane,
            rx,
            self.stats.clone(),
        ));
        Ok(())
    }

    /// The peer's connection closed: its streams are gone with it.
    pub(crate) fn forget(&mut self, peer: &PeerId) {
        self.writers.retain(|(_, p), _| p != peer);
    }
}

async fn write_lane(
    mut control: Control,
    peer: PeerId,
    lane: Lane,
    mut queue: mpsc::Receiver<Vec<u8>>,
    stats: Arc<NetStats>,
) {
    let Some(mut stream) = open_lane(&mut control, peer, lane).await else {
        return;
    };
    while let Some(first) = queue.recv().await {
        // Whatever queued meanwhile leaves in the same flush.
        let mut sent = first.len();
        tracing::trace!(len = sent, ?lane, "lane write");
        if put_frame(&mut stream, &first).await.is_err() {
            return;
        }
        while let Ok(more) = queue.try_recv() {
            sent += more.len();
            if put_frame(&mut stream, &more).await.is_err() {
                return;
            }
        }
        if stream.flush().await.is_err() {
            return;
        }
        stats.bytes_out.fetch_add(sent as u64, Ordering::Relaxed);
    }
    let _ = stream.close().await;
}

/// Opens the lane and waits for the reader's greeting: libp2p-stream hands
/// inbound streams over through a one-slot channel and drops those that
/// arrive while it is taken (several peers opening lanes at once), so
/// nothing is written before the peer's reader has the stream. Retries a
/// few times; the queued messages wait meanwhile.
async fn open_lane(control: &mut Control, peer: PeerId, lane: Lane) -> Option<Stream> {
    for attempt in 1..=OPEN_ATTEMPTS {
        match control.open_stream(peer, lane.protocol()).await {
            Ok(mut stream) => {
                let mut greeting = [0u8; 1];
                let greeted = tokio::time::timeout(GREETING_WAIT, stream.read_exact(&mut greeting))
                    .await
                    .is_ok_and(|r| r.is_ok() && greeting == GREETING);
                if greeted {
                    return Some(stream);
                }
                tracing::debug!(%peer, ?lane, attempt, "lane not taken by the peer");
            }
            Err(e) => tracing::debug!(%peer, ?lane, attempt, "opening a lane failed: {e}"),
        }
        tokio::time::sleep(RETRY_PAUSE * attempt).await;
    }
    None
}

/// Streams a peer may have open per lane at once: its live one, and one
/// replacing it across a reconnection. More are refused (dropped): each is
/// a task and a buffer here.
const MAX_STREAMS_PER_LANE: usize = 2;

/// Counts each (peer, lane)'s open inbound streams.
#[derive(Clone, Default)]
struct OpenStreams(Arc<std::sync::Mutex<HashMap<(PeerId, Lane), usize>>>);

/// One open stream; counted down when its reader ends.
struct StreamSlot {
    open: OpenStreams,
    key: (PeerId, Lane),
}

impl OpenStreams {
    fn take(&self, peer: PeerId, lane: Lane) -> Option<StreamSlot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry((peer, lane)).or_default();
        if *n >= MAX_STREAMS_PER_LANE {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            open: self.clone(),
            key: (peer, lane),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The peers this node talks to (the genesis's validators and those
/// registered since), shared by the swarm task and the lanes' acceptors.
pub(crate) type AllowList = Arc<std::sync::RwLock<std::collections::HashSet<PeerId>>>;

/// Registers the lanes' protocols and spawns their accept loops.
pub(crate) fn accept(
    control: &mut Control,
    events: InboxSender,
    allowed: AllowList,
    stats: Arc<NetStats>,
    max_bytes: usize,
) -> Result<(), NetError> {
    let open = OpenStreams::default();
    for lane in Lane::ALL {
        let incoming = control
            .accept(lane.protocol())
            .map_err(|e| NetError::Transport(e.to_string()))?;
        tokio::spawn(accept_lane(
            lane,
            incoming,
            events.clone(),
            allowed.clone(),
            open.clone(),
            stats.clone(),
            max_bytes,
        ));
    }
    Ok(())
}

async fn accept_lane(
    lane: Lane,
    mut incoming: IncomingStreams,
    events: InboxSender,
    allowed: AllowList,
    open: OpenStreams,
    stats: Arc<NetStats>,
    max_bytes: usize,
) {
    while let Some((peer, stream)) = incoming.next().await {
        if !allowed.read().is_ok_and(|a| a.contains(&peer)) {
            stats.unknown_peer.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let Some(slot) = open.take(peer, lane) else {
            stats.refused_streams.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, ?lane, "lane stream refused: too many open");
            continue;
        };
        tokio::spawn(read_lane(
            peer,
            lane,
            stream,
            events.clone(),
            slot,
            stats.clone(),
            max_bytes,
        ));
    }
}

/// Delivers the peer's frames in order, into its own queue. Waiting for
/// room there holds the stream back, and the peer's writer with it (yamux
/// flow control): backpressure on that peer alone, instead of an unbounded
/// buffer.
async fn read_lane(
    peer: PeerId,
    lane: Lane,
    mut stream: Stream,
    events: InboxSender,
    _slot: StreamSlot,
    stats: Arc<NetStats>,
    max_bytes: usize,
) {
    if stream.write_all(&GREETING).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    let class = match lane {
        Lane::Consensus => Class::Consensus,
        Lane::Bulk => Class::Bulk,
    };
    loop {
        let data = match read_frame(&mut stream, max_bytes).await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(%peer, "lane closed: {e}");
                // A frame over the limit is the peer's doing (an ended
                // stream need not be).
                if e.kind() == std::io::ErrorKind::InvalidData {
                    events.control(NetEvent::Malformed {
                        peer,
                        reason: "oversized frame",
                    });
                }
                return;
            }
        };
        tracing::trace!(len = data.len(), "lane read");
        stats
            .bytes_in
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if !events
            .push(peer, class, NetEvent::Direct { peer, data })
            .await
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_two_open_streams_per_lane_and_a_slot_back_when_one_ends() {
        let open = OpenStreams::default();
        let (p, q) = (PeerId::random(), PeerId::random());
        let first = open.take(p, Lane::Bulk).unwrap();
        let _second = open.take(p, Lane::Bulk).unwrap();
        assert!(open.take(p, Lane::Bulk).is_none(), "a third is refused");
        assert!(open.take(p, Lane::Consensus).is_some(), "per lane");
        assert!(open.take(q, Lane::Bulk).is_some(), "per peer");
        drop(first);
        assert!(open.take(p, Lane::Bulk).is_some(), "the ended one's slot");
    }
}
