//! A validator's part in a chain's dynasties, as an actor: after each
//! height its ledger executes, it asks the pure participant
//! (`strata_chains::dynasty::Participant`, the one the simulator runs)
//! what to post — its RandShare dealing and reveal as a member, its
//! candidacy when sortition draws it — and posts it through the chain's
//! mempool, which hands it to a member when this node is not one. On a
//! thread of its own: a dealing costs milliseconds at large committees.

use actix::prelude::*;
use strata_chains::dynasty::Participant;

use crate::chain::state::StateStore;
use crate::messages::committee::StateExecuted;
use crate::messages::mempool::Post;

pub struct ParticipantActor {
    participant: Participant,
    state: StateStore,
    mempool: Recipient<Post>,
}

impl ParticipantActor {
    pub fn new(
        participant: Participant,
        state: StateStore,
        mempool: Recipient<Post>,
    ) -> ParticipantActor {
        ParticipantActor {
            participant,
            state,
            mempool,
        }
    }
}

impl Actor for ParticipantActor {
    type Context = Context<Self>;
}

fn tx_kind(tx: &strata_chains::types::Transaction) -> &'static str {
    match tx {
        strata_chains::types::Transaction::System(s) => s.kind(),
        _ => "record",
    }
}

impl Handler<StateExecuted> for ParticipantActor {
    type Result = ();
    fn handle(&mut self, msg: StateExecuted, _: &mut Context<Self>) {
        // The state may already be past `height` (the ledger runs ahead
        // of this mailbox): the participant reads what is current, and
        // what it made for an epoch it keeps and resubmits unchanged.
        let txs = match self
            .participant
            .poll(&self.state, msg.height, &mut rand::rngs::OsRng)
        {
            Ok(txs) => txs,
            Err(e) => {
                tracing::error!(chain = %self.participant.chain(), "reading the dynasty state failed: {e}");
                return;
            }
        };
        for tx in txs {
            tracing::debug!(chain = %self.participant.chain(), height = msg.height, tx = %tx.hash(), kind = tx_kind(&tx), "posting a dynasty transaction");
            self.mempool.do_send(Post {
                txs: vec![tx],
                forwarded: false,
            });
        }
    }
}
