//! What a simulated node sends on its way to the network: the Byzantine
//! behaviours that rewrite, double or invent messages (equivocation,
//! double votes, bad signatures, forged payloads, bogus timeout
//! certificates, lying sync requests, replays), and delivery to every
//! process at a committee position (a member and its twin).

use std::sync::Arc;

use rand::Rng;

use super::{describe, Sim, SimEvent};
use crate::sim::byzantine::{
    bogus_timeout, conflicting_block, conflicting_vote, corrupt_signatures, forged_record,
    lying_sync_request, unavailable_batch, wrong_batch_root, wrong_state_root, Behavior,
};
use crate::store::Store;
use crate::types::ConsensusMessage;

impl Sim<'_> {
    pub(super) fn send(&mut self, i: usize, to: usize, msg: ConsensusMessage) {
        if let ConsensusMessage::Vote(v) = &msg {
            if self.nodes[i].has(Behavior::WithholdVotes) {
                return;
            }
            if self.nodes[i].has(Behavior::DoubleVote) {
                let second = conflicting_vote(v, &self.nodes[i].key);
                self.transmit(i, to, Arc::new(ConsensusMessage::Vote(second)));
            }
        }
        let msg = if self.nodes[i].has(Behavior::InvalidSignatures) {
            corrupt_signatures(&msg, &self.nodes[i].key)
        } else {
            msg
        };
        self.transmit(i, to, Arc::new(msg));
    }

    pub(super) fn broadcast(&mut self, i: usize, msg: ConsensusMessage) {
        let n = self.cfg.nodes;
        let me = self.nodes[i].position;
        let others: Vec<usize> = (0..n).filter(|&j| j != me).collect();
        if let ConsensusMessage::Timeout(t) = &msg {
            if self.nodes[i].has(Behavior::BogusTimeouts) {
                let ahead = self.rng.gen_range(1..=8);
                let bogus = Arc::new(bogus_timeout(t, &self.nodes[i].key, n, ahead));
                self.log(|| format!("n{i} gossips a bogus timeout certificate"));
                for &j in &others {
                    self.transmit(i, j, bogus.clone());
                }
            }
        }
        if let ConsensusMessage::Proposal(b) = &msg {
            if self.nodes[i].has(Behavior::ForgePayload) && self.rng.gen_bool(0.5) {
                // A record in someone's name that does not verify, a batch
                // nobody has, or real batches under another root.
                let (block, what) = match self.rng.gen_range(0..3) {
                    0 => {
                        let forged = forged_record(self.payload().remove(0));
                        let block = conflicting_block(b, &self.nodes[i].key, forged);
                        (block, "a forged record")
                    }
                    1 => (
                        unavailable_batch(b, &self.nodes[i].key),
                        "a batch nobody has",
                    ),
                    _ => (
                        wrong_batch_root(b, &self.nodes[i].key),
                        "batches under another root",
                    ),
                };
                self.log(|| format!("n{i} proposes {what} at {}", b.round()));
                let msg = Arc::new(ConsensusMessage::Proposal(Box::new(block)));
                for j in others {
                    self.transmit(i, j, msg.clone());
                }
                return;
            }
            if self.nodes[i].has(Behavior::WrongStateRoot) && self.rng.gen_bool(0.5) {
                let block = wrong_state_root(b, &self.nodes[i].key);
                self.log(|| format!("n{i} names a wrong state root at {}", b.round()));
                let msg = Arc::new(ConsensusMessage::Proposal(Box::new(block)));
                for j in others {
                    self.transmit(i, j, msg.clone());
                }
                return;
            }
            if self.nodes[i].has(Behavior::Equivocate) && others.len() >= 2 {
                let junk = self.payload().remove(0);
                let twin = conflicting_block(b, &self.nodes[i].key, junk);
                let a = Arc::new(msg.clone());
                let twin = Arc::new(ConsensusMessage::Proposal(Box::new(twin)));
                let both = others[self.rng.gen_range(0..others.len())];
                self.log(|| format!("n{i} equivocates at {}", b.round()));
                for (k, &j) in others.iter().enumerate() {
                    if j == both {
                        self.transmit(i, j, a.clone());
                        self.transmit(i, j, twin.clone());
                    } else if k % 2 == 0 {
                        self.transmit(i, j, a.clone());
                    } else {
                        self.transmit(i, j, twin.clone());
                    }
                }
                return;
            }
        }
        let msg = if self.nodes[i].has(Behavior::InvalidSignatures) {
            corrupt_signatures(&msg, &self.nodes[i].key)
        } else {
            msg
        };
        let msg = Arc::new(msg);
        for j in others {
            self.transmit(i, j, msg.clone());
        }
    }

    /// Sends from process `from` to every process at committee position
    /// `to`: the member, and its twin if it has one, each receiving
    /// a message with probability 0.7 on its own (so the twins diverge).
    pub(super) fn transmit(&mut self, from: usize, to: usize, msg: Arc<ConsensusMessage>) {
        if let ConsensusMessage::Proposal(b) = msg.as_ref() {
            self.checker.on_proposed(b);
        }
        let from_position = self.nodes[from].position as u32;
        let receivers: Vec<usize> = (0..self.nodes.len())
            .filter(|&p| self.nodes[p].position == to && p != from)
            .collect();
        let twinned = receivers.len() > 1;
        for p in receivers {
            if twinned && !self.rng.gen_bool(0.7) {
                continue;
            }
            for d in self.net.delays(&mut self.rng, from, p) {
                self.push(
                    self.now + d,
                    SimEvent::Deliver {
                        to: p as u32,
                        from: from_position,
                        msg: msg.clone(),
                    },
                );
            }
        }
    }

    /// A Byzantine node asks every other for the range up to its tip,
    /// claiming the tip is at height 1.
    pub(super) fn lying_sync(&mut self, i: usize) {
        if self.done {
            return;
        }
        let tip = self.nodes[i].store.committed_tip().ok().flatten();
        if let (Some((height, hash)), true) = (tip, self.nodes[i].core.is_some()) {
            if height >= 2 {
                let lie = Arc::new(lying_sync_request(self.genesis.header.chain, hash));
                self.log(|| format!("n{i} sends lying sync requests"));
                let me = self.nodes[i].position;
                for j in (0..self.cfg.nodes).filter(|&j| j != me) {
                    self.transmit(i, j, lie.clone());
                }
            }
        }
        let next = self.now + self.rng.gen_range(100_000..400_000);
        self.push(next, SimEvent::LyingSync(i as u32));
    }

    pub(super) fn replay(&mut self, i: usize) {
        if self.done {
            return;
        }
        let n = self.cfg.nodes;
        if !self.nodes[i].captured.is_empty() && self.nodes[i].core.is_some() {
            let k = self.rng.gen_range(0..self.nodes[i].captured.len());
            let msg = self.nodes[i].captured[k].clone();
            let to = self.rng.gen_range(0..n);
            if to != self.nodes[i].position {
                self.log(|| format!("n{i} replays {} to n{to}", describe(&msg)));
                self.transmit(i, to, msg);
            }
        }
        let next = self.now + self.rng.gen_range(100_000..400_000);
        self.push(next, SimEvent::Replay(i as u32));
    }
}
