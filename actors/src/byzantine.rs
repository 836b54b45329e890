//! A member that misbehaves on purpose, for tests and benchmarks only: the
//! tier binaries accept `--byzantine` only when `STRATA_ALLOW_BYZANTINE=1`
//! is set in their environment, and say so loudly in their log. It sends
//! real bytes on the wire to every other member of each of its chains,
//! alongside an otherwise honest node, so tests can show that honest
//! members keep committing, stay within their memory, and charge it.

use std::time::Duration;

use actix::prelude::*;
use strata_chains::store::{RocksStore, Store};
use strata_chains::types::{Batch, ChainId, ObjectId, Op, Provenance, SyncRequest, Transaction};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;

use crate::bridge::{NetworkBridge, RequestSync, SendWire};
use crate::state::domain_of;
use crate::wire::Wire;

/// What a Byzantine member does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misdeed {
    /// Pushes batches of records whose signatures do not verify, again and
    /// again (each a new batch, so none is known yet).
    InvalidBatches,
    /// Asks for sync ranges whose target height is a lie (the block at
    /// the tip, claimed to be at height 1).
    LyingSync,
}

impl std::str::FromStr for Misdeed {
    type Err = String;
    fn from_str(s: &str) -> Result<Misdeed, String> {
        match s {
            "invalid-batches" => Ok(Misdeed::InvalidBatches),
            "lying-sync" => Ok(Misdeed::LyingSync),
            other => Err(format!(
                "unknown misdeed {other:?} (invalid-batches, lying-sync)"
            )),
        }
    }
}

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
    sequence: u64,
    tick: u64,
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
            // Far from an honest author's own sequence numbers.
            sequence: u64::MAX / 2,
            tick: 0,
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
                    let msg = SendWire::new(self.chain, 0, &wire);
                    for m in msg.to_others(self.me, self.size) {
                        self.bridge.do_send(m);
                    }
                }
                Misdeed::LyingSync => {
                    let Ok(Some((height, tip))) = self.store.committed_tip() else {
                        return;
                    };
                    if height < 2 {
                        return;
                    }
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
