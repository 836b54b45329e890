//! The node's inbound queue, fair between peers.
//!
//! One shared FIFO let a member that floods (lanes full of batches, gossip,
//! requests) sit its messages ahead of every other member's votes and
//! timeouts, and made the others' gossip drop when it filled. Here each peer
//! has its own bounded queues, and the node takes one message per peer in
//! turn (round robin), so a flooding member delays only itself: another
//! member's next message waits for at most one message of each other peer.
//!
//! Within a peer, consensus traffic (the consensus lane, gossip) goes ahead
//! of bulk traffic (the batch lane, requests). Events the transport makes
//! itself (connections, answers to our own requests, failures) have a queue
//! of their own, taken first. When a peer's queue is full, its lane readers
//! wait (yamux flow control then holds back that peer alone) and its gossip
//! and requests are dropped and counted.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use libp2p::PeerId;
use tokio::sync::Notify;

use crate::events::{NetEvent, NetStats};

/// Which of a peer's queues a message joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Consensus lane frames and gossip (proposals, votes, timeouts).
    Consensus,
    /// Batch lane frames and requests (batches, fetches, sync).
    Bulk,
}

/// Bounds of each peer's queues.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Messages per peer and class.
    pub per_peer: usize,
    /// Bytes held per peer (both classes).
    pub peer_bytes: usize,
    /// Events of the transport itself.
    pub control: usize,
}

#[derive(Default)]
struct PeerQueue {
    consensus: VecDeque<NetEvent>,
    bulk: VecDeque<NetEvent>,
    bytes: usize,
}

impl PeerQueue {
    fn is_empty(&self) -> bool {
        self.consensus.is_empty() && self.bulk.is_empty()
    }
}

#[derive(Default)]
struct Queues {
    control: VecDeque<NetEvent>,
    peers: HashMap<PeerId, PeerQueue>,
    /// Peers with something queued, in turn order; each at most once.
    turn: VecDeque<PeerId>,
    consumer: Option<Waker>,
    senders: usize,
}

struct Shared {
    queues: Mutex<Queues>,
    /// Lane readers waiting for room.
    room: Notify,
    limits: Limits,
    stats: Arc<NetStats>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A panic while holding the lock cannot leave the queues
        // inconsistent (each operation is one push or pop).
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn size(event: &NetEvent) -> usize {
    match event {
        NetEvent::Gossip { data, .. }
        | NetEvent::Request { data, .. }
        | NetEvent::Response { data, .. }
        | NetEvent::Direct { data, .. } => data.len(),
        _ => 0,
    }
}

/// The transport's side: puts messages in their peer's queue.
pub(crate) struct InboxSender {
    shared: Arc<Shared>,
}

/// The node's side: a stream of events, one peer after another.
pub struct Inbox {
    shared: Arc<Shared>,
}

pub(crate) fn inbox(limits: Limits, stats: Arc<NetStats>) -> (InboxSender, Inbox) {
    let shared = Arc::new(Shared {
        queues: Mutex::new(Queues {
            senders: 1,
            ..Queues::default()
        }),
        room: Notify::new(),
        limits,
        stats,
    });
    (
        InboxSender {
            shared: shared.clone(),
        },
        Inbox { shared },
    )
}

impl Clone for InboxSender {
    fn clone(&self) -> InboxSender {
        self.shared.lock().senders += 1;
        InboxSender {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for InboxSender {
    fn drop(&mut self) {
        let mut q = self.shared.lock();
        q.senders -= 1;
        if q.senders == 0 {
            if let Some(w) = q.consumer.take() {
                w.wake();
            }
        }
    }
}

impl InboxSender {
    /// Queues an event of the transport itself; false (counted) if full.
    pub(crate) fn control(&self, event: NetEvent) -> bool {
        let mut q = self.shared.lock();
        if q.control.len() >= self.shared.limits.control {
            drop(q);
            self.shared
                .stats
                .dropped_inbound
                .fetch_add(1, Ordering::Relaxed);
            return false;
        }
        q.control.push_back(event);
        if let Some(w) = q.consumer.take() {
            w.wake();
        }
        true
    }

    /// Queues a message from `peer` if its queue has room; false (counted)
    /// if not.
    pub(crate) fn try_push(&self, peer: PeerId, class: Class, event: NetEvent) -> bool {
        match self.offer(peer, class, event) {
            None => true,
            Some(_) => {
                self.shared
                    .stats
                    .dropped_inbound
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues a message from `peer`, waiting for room in its queue (other
    /// peers' messages go on meanwhile). Returns false once the node has
    /// stopped reading.
    pub(crate) async fn push(&self, peer: PeerId, class: Class, mut event: NetEvent) -> bool {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.offer(peer, class, event) {
                None => return true,
                Some(back) => event = back,
            }
            if Arc::strong_count(&self.shared) == self.shared.lock().senders {
                // Only senders are left: nobody will make room.
                return false;
            }
            room.await;
        }
    }

    /// Queues the event, or gives it back when the peer's queue is full.
    fn offer(&self, peer: PeerId, class: Class, event: NetEvent) -> Option<NetEvent> {
        let limits = self.shared.limits;
        let bytes = size(&event);
        let mut q = self.shared.lock();
        let queue = q.peers.entry(peer).or_default();
        let len = match class {
            Class::Consensus => queue.consensus.len(),
            Class::Bulk => queue.bulk.len(),
        };
        // An empty queue takes one message whatever its size (a frame is
        // already bounded by the transport's limit).
        let over_bytes = queue.bytes > 0 && queue.bytes.saturating_add(bytes) > limits.peer_bytes;
        if len >= limits.per_peer || over_bytes {
            return Some(event);
        }
        let was_empty = queue.is_empty();
        queue.bytes = queue.bytes.saturating_add(bytes);
        match class {
            Class::Consensus => queue.consensus.push_back(event),
            Class::Bulk => queue.bulk.push_back(event),
        }
        if was_empty {
            q.turn.push_back(peer);
        }
        if let Some(w) = q.consumer.take() {
            w.wake();
        }
        None
    }
}

impl Inbox {
    /// The next event, or `None` once the transport has stopped.
    pub async fn recv(&mut self) -> Option<NetEvent> {
        futures::StreamExt::next(self).await
    }

    /// The next event if one is queued now.
    pub fn try_recv(&mut self) -> Option<NetEvent> {
        self.pop()
    }

    fn pop(&self) -> Option<NetEvent> {
        let mut q = self.shared.lock();
        if let Some(e) = q.control.pop_front() {
            return Some(e);
        }
        let peer = q.turn.pop_front()?;
        let queue = q.peers.get_mut(&peer)?;
        let event = queue
            .consensus
            .pop_front()
            .or_else(|| queue.bulk.pop_front())?;
        queue.bytes = queue.bytes.saturating_sub(size(&event));
        if queue.is_empty() {
            q.peers.remove(&peer);
        } else {
            q.turn.push_back(peer);
        }
        drop(q);
        self.shared.room.notify_waiters();
        Some(event)
    }
}

impl futures::Stream for Inbox {
    type Item = NetEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<NetEvent>> {
        if let Some(e) = self.pop() {
            return Poll::Ready(Some(e));
        }
        let mut q = self.shared.lock();
        // Something may have arrived between the pop and the lock.
        if !q.control.is_empty() || !q.turn.is_empty() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if q.senders == 0 {
            return Poll::Ready(None);
        }
        q.consumer = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        // Lane readers waiting for room give up.
        self.shared.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn limits() -> Limits {
        Limits {
            per_peer: 4,
            peer_bytes: 1 << 20,
            control: 8,
        }
    }

    fn direct(peer: PeerId, tag: u8) -> NetEvent {
        NetEvent::Direct {
            peer,
            data: vec![tag; 10],
        }
    }

    fn tag(e: &NetEvent) -> (PeerId, u8) {
        match e {
            NetEvent::Direct { peer, data } => (*peer, data[0]),
            NetEvent::Gossip { author, data, .. } => (*author, data[0]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_flooding_peer_delays_only_itself() {
        let stats = Arc::new(NetStats::default());
        let (tx, mut rx) = inbox(limits(), stats.clone());
        let (flooder, honest) = (PeerId::random(), PeerId::random());
        for i in 0..4 {
            assert!(tx.try_push(flooder, Class::Bulk, direct(flooder, i)));
        }
        // The flooder's queue is full: more is refused and counted, while
        // the honest member's vote still gets in.
        assert!(!tx.try_push(flooder, Class::Bulk, direct(flooder, 9)));
        assert_eq!(stats.dropped_inbound.load(Ordering::Relaxed), 1);
        assert!(tx.try_push(honest, Class::Consensus, direct(honest, 100)));
        let first = tag(&rx.next().await.unwrap());
        let second = tag(&rx.next().await.unwrap());
        assert_eq!(first, (flooder, 0));
        assert_eq!(
            second,
            (honest, 100),
            "the honest vote waits for one message, not four"
        );
    }

    #[tokio::test]
    async fn consensus_messages_of_a_peer_go_ahead_of_its_bulk_and_control_first() {
        let (tx, mut rx) = inbox(limits(), Arc::new(NetStats::default()));
        let p = PeerId::random();
        assert!(tx.try_push(p, Class::Bulk, direct(p, 1)));
        assert!(tx.try_push(p, Class::Bulk, direct(p, 2)));
        assert!(tx.try_push(p, Class::Consensus, direct(p, 3)));
        assert!(tx.control(NetEvent::PeerConnected(p)));
        assert!(matches!(rx.next().await, Some(NetEvent::PeerConnected(_))));
        let order: Vec<u8> = [
            rx.next().await.unwrap(),
            rx.next().await.unwrap(),
            rx.next().await.unwrap(),
        ]
        .iter()
        .map(|e| tag(e).1)
        .collect();
        assert_eq!(order, vec![3, 1, 2]);
    }

    #[tokio::test]
    async fn a_lane_waits_for_room_in_its_own_queue_only() {
        let (tx, mut rx) = inbox(limits(), Arc::new(NetStats::default()));
        let (slow, other) = (PeerId::random(), PeerId::random());
        for i in 0..4 {
            assert!(tx.push(slow, Class::Consensus, direct(slow, i)).await);
        }
        let waiting = {
            let tx = tx.clone();
            tokio::spawn(async move { tx.push(slow, Class::Consensus, direct(slow, 4)).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the fifth waits for room");
        // Another peer is not held back by it.
        assert!(tx.push(other, Class::Consensus, direct(other, 50)).await);
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(tag(&rx.next().await.unwrap()));
        }
        assert!(waiting.await.unwrap());
        assert_eq!(seen[1], (other, 50));
        assert_eq!(
            seen.iter().filter(|(p, _)| *p == slow).count(),
            5,
            "the waiting frame got in once room was made"
        );
    }

    #[tokio::test]
    async fn a_peer_is_held_to_its_byte_bound() {
        let limits = Limits {
            per_peer: 100,
            peer_bytes: 25,
            control: 8,
        };
        let (tx, _rx) = inbox(limits, Arc::new(NetStats::default()));
        let p = PeerId::random();
        assert!(tx.try_push(p, Class::Bulk, direct(p, 0)));
        assert!(tx.try_push(p, Class::Bulk, direct(p, 1)));
        assert!(!tx.try_push(p, Class::Bulk, direct(p, 2)), "30 bytes > 25");
    }

    #[tokio::test]
    async fn the_stream_ends_when_every_sender_is_gone() {
        let (tx, mut rx) = inbox(limits(), Arc::new(NetStats::default()));
        let p = PeerId::random();
        assert!(tx.try_push(p, Class::Bulk, direct(p, 7)));
        drop(tx);
        assert_eq!(tag(&rx.next().await.unwrap()).1, 7);
        assert!(rx.next().await.is_none());
    }
}
