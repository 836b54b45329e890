//! An IoT light client follows its domain's chain (issue 25, point 7): it
//! pulls the committed headers from its upstream node and keeps those
//! whose links and certificates it checked here (`audit::check_header`:
//! height, parent hash, the next header's justify a certificate of the
//! committee in the genesis); no execution. With `--prune N` it keeps only
//! the N headers below the chain's last anchored height (and all above):
//! what is anchored is provable from the global chain, and full nodes keep
//! serving receipts for it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parity_scale_codec::{Decode, Encode};
use rocksdb::{IteratorMode, WriteBatch, DB};
use serde::Serialize;
use strata_chains::audit::check_header;
use strata_chains::types::{BlockHeader, ChainId, Height};
use strata_crypto::codec::decode_message;
use strata_crypto::committee::Committee;

use crate::config::Genesis;

/// What the follower knows, shared with the light client's API.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FollowStatus {
    pub chain: String,
    /// The highest header checked here.
    pub tip: Height,
    /// The lowest header kept (above 0 once pruned).
    pub lowest: Height,
    /// The chain's last anchored height, as the upstream reports it.
    pub anchored: Option<Height>,
    pub pruned: u64,
    /// Headers refused (their link or certificate did not hold).
    pub refused: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

const POLL: Duration = Duration::from_millis(300);
const PAGE: u64 = 512;
const MAX_ANSWER: u64 = 8 << 20;
const TIP_KEY: &[u8] = b"tip";

fn header_key(h: Height) -> Vec<u8> {
    let mut k = b"h".to_vec();
    k.extend_from_slice(&h.to_be_bytes());
    k
}

struct Follower {
    db: DB,
    chain: ChainId,
    committee: Committee,
    record: strata_chains::execution::CommitteeRecord,
    genesis_hash: strata_crypto::hash::Digest,
    upstream: String,
    agent: ureq::Agent,
    prune: Option<u64>,
    status: Arc<Mutex<FollowStatus>>,
}

/// Starts following `chain` from `upstream` on a thread of its own, with
/// the headers kept in `dir`.
pub fn start(
    dir: &Path,
    genesis: &Genesis,
    chain: ChainId,
    upstream: &str,
    prune: Option<u64>,
) -> Result<Arc<Mutex<FollowStatus>>, String> {
    let spec = genesis
        .chains
        .get(&chain)
        .ok_or_else(|| format!("the genesis has no chain {chain}"))?;
    let record = genesis
        .state
        .committees
        .iter()
        .find(|c| c.chain == chain && c.epoch == 0)
        .cloned()
        .ok_or_else(|| format!("the genesis records no committee of {chain}"))?;
    let db = DB::open_default(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if db.get(TIP_KEY).map_err(|e| e.to_string())?.is_none() {
        let mut b = WriteBatch::default();
        b.put(header_key(0), spec.genesis.header.encode());
        b.put(TIP_KEY, 0u64.to_be_bytes());
        db.write(b).map_err(|e| e.to_string())?;
    }
    let status = Arc::new(Mutex::new(FollowStatus {
        chain: chain.to_string(),
        ..FollowStatus::default()
    }));
    let mut f = Follower {
        db,
        chain,
        committee: (*spec.committee).clone(),
        record,
        genesis_hash: spec.genesis.hash(),
        upstream: upstream.trim_end_matches('/').to_string(),
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent(),
        prune,
        status: status.clone(),
    };
    std::thread::Builder::new()
        .name("strata-follow".into())
        .spawn(move || loop {
            if let Err(e) = f.step() {
                tracing::debug!(error = %e, "following the chain");
                if let Ok(mut s) = f.status.lock() {
                    s.error = Some(e);
                }
            }
            std::thread::sleep(POLL);
        })
        .map_err(|e| e.to_string())?;
    Ok(status)
}

impl Follower {
    fn tip(&self) -> Result<Height, String> {
        let b = self.db.get(TIP_KEY).map_err(|e| e.to_string())?;
        let bytes: [u8; 8] = b
            .and_then(|v| v.try_into().ok())
            .ok_or("the header store has no tip")?;
        Ok(u64::from_be_bytes(bytes))
    }

    fn header(&self, h: Height) -> Result<Option<BlockHeader>, String> {
        self.db
            .get(header_key(h))
            .map_err(|e| e.to_string())?
            .map(|v| BlockHeader::decode(&mut &v[..]).map_err(|e| e.to_string()))
            .transpose()
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.upstream))
            .call()
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("{path}: HTTP {}", r.status()));
        }
        r.body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| e.to_string())
    }

    /// Pulls and checks the next headers; prunes.
    fn step(&mut self) -> Result<(), String> {
        let tip = self.tip()?;
        let mut prev = self.header(tip)?.ok_or("the tip header is missing")?;
        let bytes = self.get(&format!(
            "/v1/headers/{}/{}?count={PAGE}",
            self.chain,
            tip + 1
        ))?;
        let headers: Vec<BlockHeader> =
            decode_message(&bytes, MAX_ANSWER as usize).map_err(|e| e.to_string())?;
        let mut batch = WriteBatch::default();
        let mut checked = tip;
        let mut refused = 0;
        for h in headers {
            match check_header(
                &prev,
                &h,
                self.chain,
                &self.genesis_hash,
                &self.committee,
                &self.record,
            ) {
                Ok(()) => {
                    batch.put(header_key(h.height), h.encode());
                    checked = h.height;
                    prev = h;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the upstream sent a header that does not hold");
                    refused += 1;
                    break;
                }
            }
        }
        batch.put(TIP_KEY, checked.to_be_bytes());
        self.db.write(batch).map_err(|e| e.to_string())?;
        let status: serde_json::Value =
            serde_json::from_slice(&self.get("/v1/status")?).map_err(|e| e.to_string())?;
        let anchored = status["chains"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["chain"] == self.chain.to_string()))
            .and_then(|c| c["anchored_height"].as_u64());
        let pruned = match (self.prune, anchored) {
            (Some(window), Some(a)) => self.prune_below(a.saturating_sub(window).min(checked))?,
            _ => 0,
        };
        let lowest = self.lowest()?;
        if let Ok(mut s) = self.status.lock() {
            s.tip = checked;
            s.lowest = lowest;
            s.anchored = anchored;
            s.pruned += pruned;
            s.refused += refused;
            s.error = None;
        }
        Ok(())
    }

    fn lowest(&self) -> Result<Height, String> {
        match self.db.iterator(IteratorMode::Start).next() {
            Some(Ok((k, _))) if k.first() == Some(&b'h') && k.len() == 9 => {
                let bytes: [u8; 8] = k[1..].try_into().map_err(|_| "a bad key")?;
                Ok(u64::from_be_bytes(bytes))
            }
            _ => Ok(0),
        }
    }

    /// Deletes the headers below `keep_from`; how many.
    fn prune_below(&self, keep_from: Height) -> Result<u64, String> {
        let lowest = self.lowest()?;
        if keep_from <= lowest {
            return Ok(0);
        }
        let mut batch = WriteBatch::default();
        batch.delete_range(header_key(lowest), header_key(keep_from));
        self.db.write(batch).map_err(|e| e.to_string())?;
        Ok(keep_from - lowest)
    }
}
