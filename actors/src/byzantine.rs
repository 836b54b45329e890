//! A member that misbehaves on purpose, for tests and benchmarks only: the
//! tier binaries accept `--byzantine` only when `STRATA_ALLOW_BYZANTINE=1`
//! is set in their environment, and say so loudly in their log. It sends
//! real bytes on the wire to every other member of each of its chains,
//! alongside an otherwise honest node, so tests can show that honest
//! members keep committing, stay within their memory, and charge it.

use std::collections::VecDeque;
use std::time::Duration;

use actix::prelude::*;
use strata_chains::store::{RocksStore, Store};
use strata_chains::types::{
    Batch, Block, ChainId, ConsensusMessage, ObjectId, Op, Provenance, Round, SignedStatement,
    Statement, SyncRequest, TimeoutCertificate, TimeoutMessage, Transaction, VoteData,
};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::qc::{QuorumCert, SignerBitmap};
use strata_crypto::sr25519::TxKeypair;
use strata_crypto::SecretKey;
use strata_net::Lane;

use crate::chain::committee::Tapped;
use crate::messages::network::{Broadcast, RequestSync, SendWire};
use crate::service::bridge::NetworkBridge;
use crate::service::wire::{Wire, MAX_WIRE_BYTES};
use strata_chains::types::domain_of;

pub use crate::misdeed::Misdeed;

/// Parses a comma-separated list of misdeeds.
pub fn parse_misdeeds(list: &str) -> Result<Vec<Misdeed>, String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

/// How often each misdeed is repeated.
const EVERY: Duration = Duration::from_millis(20);
/// Records per invalid batch.
const BAD_RECORDS: usize = 64;
/// Own messages kept for replaying.
const KEPT: usize = 256;
/// A message is replayed once this many newer ones were sent (at most one
/// vote per view: older than the 32 views a node still tracks).
const REPLAY_AGE: usize = 40;
/// Copies of one batch per tick of a lane flood.
const FLOOD_COPIES: usize = 20;

pub struct ByzantineDriver {
    chain: ChainId,
    network: Digest,
    me: u32,
    size: u32,
    domains: u32,
    misdeeds: Vec<Misdeed>,
    bridge: Addr<NetworkBridge>,
    store: RocksStore,
    key: TxKeypair,
    bls: SecretKey,
    sequence: u64,
    tick: u64,
    /// Own consensus messages, newest last (for replays).
    sent: VecDeque<Tapped>,
    /// The batch a lane flood repeats.
    flood: Option<SendWire>,
}

impl ByzantineDriver {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain: ChainId,
        network: Digest,
        me: u32,
        size: u32,
        domains: u32,
        misdeeds: Vec<Misdeed>,
        bridge: Addr<NetworkBridge>,
        store: RocksStore,
        bls: SecretKey,
    ) -> ByzantineDriver {
        ByzantineDriver {
            chain,
            network,
            me,
            size,
            domains,
            misdeeds,
            bridge,
            store,
            key: TxKeypair::from_seed(&[0xbd; 32]),
            bls,
            // Far from an honest author's own sequence numbers.
            sequence: u64::MAX / 2,
            tick: 0,
            sent: VecDeque::new(),
            flood: None,
        }
    }

    fn invalid_batch(&mut self) -> Batch {
        self.sequence = self.sequence.wrapping_add(1);
        let domain = self.chain.domain().unwrap_or(u32::MAX);
        let records = (0..BAD_RECORDS as u64)
            .filter_map(|i| {
                let nonce = self.sequence.wrapping_mul(1_000).wrapping_add(i);
                let mut id = format!("forged-{nonce}");
                // An object of this chain's domain, so only the signature
                // is wrong.
                for salt in 0..64 {
                    if self.chain.domain().is_none()
                        || object(&id).is_some_and(|o| domain_of(&o, self.domains) == domain)
                    {
                        break;
                    }
                    id = format!("forged-{nonce}-{salt}");
                }
                let mut signed = Provenance {
                    network: self.network,
                    domain,
                    object_id: object(&id)?,
                    op: Op::Create,
                    payload_digest: Digest::ZERO,
                    parents: BoundedVec::empty(),
                    meta: BoundedVec::empty(),
                    sender: self.key.public(),
                    nonce,
                    timestamp_ms: 0,
                }
                .sign(&self.key);
                signed.record.nonce = nonce.wrapping_add(1);
                Some(Transaction::Provenance(signed))
            })
            .collect();
        Batch {
            chain: self.chain,
            author: self.me,
            sequence: self.sequence,
            transactions: BoundedVec::new(records).unwrap_or_else(|_| BoundedVec::empty()),
        }
    }

    /// One misdeed per tick, in turn.
    fn misbehave(&mut self) {
        self.tick = self.tick.wrapping_add(1);
        let turn = (self.tick % self.misdeeds.len().max(1) as u64) as usize;
        if let Some(misdeed) = self.misdeeds.get(turn).copied() {
            match misdeed {
                Misdeed::InvalidBatches => {
                    let wire = Wire::Batch(Box::new(self.invalid_batch()));
                    self.to_others(SendWire::new(self.chain, 0, &wire));
                }
                Misdeed::MalformedFrames => self.malformed_frames(),
                Misdeed::BogusTimeouts => self.bogus_timeout(),
                Misdeed::Replay => self.replay(),
                Misdeed::LaneFlood => self.lane_flood(),
                // Carried out as its own messages go by.
                Misdeed::Equivocate => {}
                Misdeed::LyingSync => {
                    // The genesis block, which every member holds at
                    // height 0, claimed at height 1: a lie from the first
                    // tick (waiting for a tip of its own raced the ban its
                    // other misdeeds earn first).
                    let Ok(Some(genesis)) = self.store.block_at(0) else {
                        return;
                    };
                    let tip = genesis.hash();
                    for to in (0..self.size).filter(|&i| i != self.me) {
                        self.bridge.do_send(RequestSync {
                            chain: self.chain,
                            to,
                            request: SyncRequest {
                                chain: self.chain,
                                epoch: 0,
                                from_height: 1,
                                target: tip,
                                target_height: 1,
                            },
                        });
                    }
                }
            }
        }
    }
}

impl ByzantineDriver {
    fn to_others(&self, wire: SendWire) {
        for m in wire.to_others(self.me, self.size) {
            self.bridge.do_send(m);
        }
    }

    fn tip(&self) -> Option<Block> {
        let (height, _) = self.store.committed_tip().ok()??;
        self.store.block_at(height).ok()?
    }

    fn malformed_frames(&mut self) {
        let garbage = match self.tick % 3 {
            0 => vec![0xff; 64],
            1 => b"\x00\x07 not a message".to_vec(),
            _ => Vec::new(),
        };
        for lane in [Lane::Consensus, Lane::Bulk] {
            self.to_others(SendWire::raw(self.chain, 0, lane, garbage.clone()));
        }
        // A frame over the limit every 2 s (the receiver refuses it on its
        // length, before reading it).
        if self.tick % 100 == 1 {
            let oversized = vec![0u8; MAX_WIRE_BYTES + 1];
            self.to_others(SendWire::raw(self.chain, 0, Lane::Bulk, oversized));
        }
    }

    /// A timeout for a view ahead of everyone, with a real high
    /// certificate and a timeout certificate for the view before it signed
    /// by no one (a signature of this member's on other bytes).
    fn bogus_timeout(&mut self) {
        // A real certificate to carry: the genesis block's placeholder is
        // none (sending it would be charged as such, not for the TC).
        let Some(tip) = self.tip().filter(|b| b.header.height >= 2) else {
            return;
        };
        let view = tip.header.view.saturating_add(5);
        let high_qc = tip.header.justify.clone();
        let quorum = self.size as usize - (self.size as usize).saturating_sub(1) / 3;
        let rounds: Vec<Round> = (0..quorum).map(|_| high_qc.round).collect();
        let tc = TimeoutCertificate {
            chain: self.chain,
            epoch: 0,
            view: view - 1,
            high_qc_rounds: BoundedVec::new(rounds).unwrap_or_else(|_| BoundedVec::empty()),
            cert: QuorumCert {
                signers: SignerBitmap::from_indices(self.size as usize, 0..quorum),
                signature: self.bls.sign(&self.tick.to_le_bytes()),
            },
        };
        let data = VoteData {
            chain: self.chain,
            epoch: 0,
            round: Round { view, height: 0 },
            statement: Statement::Timeout {
                high_qc: high_qc.round,
            },
        };
        let timeout = TimeoutMessage {
            statement: SignedStatement::sign(data, self.me, &self.bls),
            high_qc,
            last_tc: Some(tc),
        };
        self.bridge.do_send(Broadcast {
            chain: self.chain,
            wire: Wire::Consensus {
                chain: self.chain,
                msg: ConsensusMessage::Timeout(Box::new(timeout)),
            },
        });
    }

    /// Four of its old messages (from a window of eight, so each comes
    /// again and again) to every other member.
    fn replay(&mut self) {
        if self.sent.len() <= REPLAY_AGE {
            return;
        }
        for k in 0..4u64 {
            let pick = ((self.tick.wrapping_mul(4).wrapping_add(k)) % 8) as usize;
            let Some(old) = self.sent.get(pick).cloned() else {
                return;
            };
            let wire = SendWire::new(
                self.chain,
                0,
                &Wire::Consensus {
                    chain: self.chain,
                    msg: old.msg,
                },
            );
            self.to_others(wire);
        }
    }

    fn lane_flood(&mut self) {
        // One batch, many copies (after the first, each a duplicate); a
        // new one every second.
        if self.tick % 50 == 1 || self.flood.is_none() {
            let batch = self.invalid_batch();
            self.flood = Some(SendWire::new(self.chain, 0, &Wire::Batch(Box::new(batch))));
        }
        if let Some(wire) = self.flood.clone() {
            for _ in 0..FLOOD_COPIES {
                self.to_others(wire.clone());
            }
        }
    }

    /// A second statement beside one of its own: another vote in the same
    /// round, or another block for the same view sent to the odd members.
    fn equivocate(&mut self, tapped: &Tapped) {
        match &tapped.msg {
            ConsensusMessage::Vote(v) => {
                let mut data = v.data;
                data.statement = Statement::Vote {
                    block: Digest::of("strata/byzantine", v.data.signing_bytes().as_slice()),
                };
                let twin = SignedStatement::sign(data, self.me, &self.bls);
                let wire = Wire::Consensus {
                    chain: self.chain,
                    msg: ConsensusMessage::Vote(twin),
                };
                let targets: Vec<u32> = match tapped.to {
                    Some(to) => vec![to],
                    None => (0..self.size).filter(|&i| i != self.me).collect(),
                };
                for to in targets {
                    self.bridge.do_send(SendWire::new(self.chain, to, &wire));
                }
            }
            ConsensusMessage::Proposal(b) => {
                let mut twin = (**b).clone();
                twin.header.timestamp_ms = twin.header.timestamp_ms.wrapping_add(1);
                let data = Block::proposal_data(&twin.header);
                twin.signature = self.bls.sign(&data.signing_bytes());
                let wire = Wire::Consensus {
                    chain: self.chain,
                    msg: ConsensusMessage::Proposal(Box::new(twin)),
                };
                for to in (0..self.size).filter(|&i| i != self.me && i % 2 == 1) {
                    self.bridge.do_send(SendWire::new(self.chain, to, &wire));
                }
            }
            _ => {}
        }
    }
}

impl Handler<Tapped> for ByzantineDriver {
    type Result = ();
    fn handle(&mut self, msg: Tapped, _: &mut Context<Self>) {
        if self.misdeeds.contains(&Misdeed::Equivocate) {
            self.equivocate(&msg);
        }
        self.sent.push_back(msg);
        if self.sent.len() > KEPT {
            self.sent.pop_front();
        }
    }
}

fn object(id: &str) -> Option<ObjectId> {
    ObjectId::new(id.as_bytes().to_vec()).ok()
}

impl Actor for ByzantineDriver {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::warn!(chain = %self.chain, misdeeds = ?self.misdeeds, "THIS NODE MISBEHAVES ON PURPOSE (test mode)");
        ctx.run_interval(EVERY, |act, _| act.misbehave());
    }
}
