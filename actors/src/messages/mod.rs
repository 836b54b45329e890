//! The messages the actors of a chain and the network bridge accept from
//! one another, and each actor's port: one `Recipient` per message it
//! accepts. Actors hold each other's ports, never each other's concrete
//! types, so no actor module imports another (the node wires them up).
//! Messages only an actor above them sends (the API's queries, the node's
//! wiring) stay beside their handlers.

use actix::dev::RecipientRequest;
use actix::Message;

pub mod committee;
pub mod ledger;
pub mod mempool;
pub mod network;

pub use committee::CommitteePort;
pub use ledger::LedgerPort;
pub use mempool::MempoolPort;
pub use network::NetworkPort;

/// Sends a message through a port: the port picks the recipient for the
/// message's type, so a call site reads `port.do_send(msg)` as it would on
/// the actor's address.
pub trait Deliver<M>
where
    M: Message + Send,
    M::Result: Send,
{
    fn do_send(&self, msg: M);
    fn send(&self, msg: M) -> RecipientRequest<M>;
}

/// Declares a port: a struct of one recipient per message, built from any
/// actor's address that handles them all, delivering each by its type.
macro_rules! port {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $msg:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            $(pub $field: actix::Recipient<$msg>,)*
        }

        impl $name {
            /// The port of the actor at `addr`.
            pub fn of<A>(addr: &actix::Addr<A>) -> $name
            where
                A: actix::Actor<Context = actix::Context<A>> $(+ actix::Handler<$msg>)*,
            {
                $name {
                    $($field: addr.clone().recipient(),)*
                }
            }
        }

        $(impl $crate::messages::Deliver<$msg> for $name {
            fn do_send(&self, msg: $msg) {
                self.$field.do_send(msg)
            }
            fn send(&self, msg: $msg) -> actix::dev::RecipientRequest<$msg> {
                self.$field.send(msg)
            }
        })*
    };
}
pub(crate) use port;
