//! libp2p transport of Strata (docs/design.md §7).
//!
//! TCP + noise + yamux. Gossipsub carries what every committee member needs
//! and may relay (blocks, timeouts); direct lanes (long-lived streams)
//! carry one-way messages to one member (votes, batches pushed to each
//! member); request-response carries exchanges (sync, batch fetches).
//! Only peers listed in the genesis may stay connected, and messages
//! authored by anyone else are dropped. Every message has a size limit
//! (gossipsub's transmit size, the frame read limit of lanes and requests), and
//! the queues to and from the node are bounded. Inbound, each peer has its
//! own queues, taken in turn ([`Inbox`]): when the node falls behind a
//! peer, that peer's lane is held back (yamux flow control) and its other
//! messages are dropped and counted, while other peers' messages go on.
//!
//! The swarm runs in one task; the node talks to it through a [`NetHandle`]
//! (commands) and a receiver of [`NetEvent`]s.

mod codec;
mod direct;
mod events;
mod inbox;
mod swarm;

pub use direct::Lane;
pub use events::{NetError, NetEvent, NetStats, ReplyId};
pub use inbox::Inbox;
pub use libp2p::{identity, Multiaddr, PeerId};
pub use swarm::{start, start_on_thread, NetConfig, NetHandle};

/// Loads or derives an ed25519 identity from 32 secret bytes.
pub fn identity_from_secret(secret: [u8; 32]) -> identity::Keypair {
    let mut secret = secret;
    identity::Keypair::ed25519_from_bytes(&mut secret)
        .expect("any 32 bytes are an ed25519 secret key")
}
