//! An open-loop load generator for running nodes. The load is signed
//! before it starts (so the client costs little while it runs), cut into
//! one request per node per 20 ms tick, and sent on schedule whether or not
//! earlier requests have committed or even been answered: each node has
//! several connections, so a slow answer does not hold the next request
//! back (one connection made the load closed-loop as soon as a node took
//! longer than a tick to answer). The first transaction of every request
//! is a latency sample: after the run its commit time is read back from the
//! node it was sent to.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parity_scale_codec::Encode;
use serde::Serialize;
use strata_chains::types::limits::MAX_META_VALUE;
use strata_chains::types::{domain_of, GLOBAL_DOMAIN};
use strata_chains::types::{MetaEntry, ObjectId, Op, Provenance, Transaction};
use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;

use crate::client::Client;

/// How often each sender posts a request.
pub const TICK: Duration = Duration::from_millis(20);
/// Samples read back per run, at most.
const MAX_SAMPLES: usize = 4000;
/// Requests in flight per node, at most: the schedule holds while a node
/// answers within this many ticks.
pub const CONNECTIONS_PER_NODE: usize = 4;

/// What the transactions carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadKind {
    /// Signed provenance records.
    Signed,
    /// Opaque bytes (the chain must be configured for them).
    Opaque,
}

impl From<PayloadKind> for strata_actors::config::PayloadMode {
    fn from(k: PayloadKind) -> Self {
        match k {
            PayloadKind::Signed => strata_actors::config::PayloadMode::Signed,
            PayloadKind::Opaque => strata_actors::config::PayloadMode::Opaque,
        }
    }
}

/// One chain's share of the load.
#[derive(Clone, Debug)]
pub struct ChainLoad {
    pub label: String,
    /// The domain the records belong to (`GLOBAL_DOMAIN` for the global
    /// chain).
    pub domain: u32,
    /// API base URLs of the chain's members; requests rotate over them.
    pub nodes: Vec<String>,
    /// Transactions per second.
    pub rate: u64,
}

#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// The network (genesis digest) the records are for.
    pub network: Digest,
    pub chains: Vec<ChainLoad>,
    /// Domains in the genesis (objects are routed by `domain_of`).
    pub domains: u32,
    pub tx_size: usize,
    pub duration: Duration,
    pub payload: PayloadKind,
    /// Signing keys per node's share of signed records, used in turn (at
    /// least 1). A batch signature check costs one multi-scalar term per
    /// distinct sender, so few senders make verification cheaper than a
    /// population of devices each signing its own records.
    pub senders_per_node: usize,
}

/// A request ready to send.
struct Request {
    /// Offset from the start of the run.
    due: Duration,
    body: Vec<u8>,
    count: usize,
    sample: Option<Digest>,
}

/// Prepared load for one node.
struct NodeLoad {
    chain: usize,
    url: String,
    requests: Vec<Request>,
}

/// The load, signed and encoded.
pub struct PreparedLoad {
    nodes: Vec<NodeLoad>,
    labels: Vec<String>,
    pub transactions: usize,
    /// The load window: a request not sent by its end is not sent.
    duration: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("--tx-size {size}: {why}")]
    TxSize { size: usize, why: String },
    #[error("chain {0} has no nodes to send to")]
    NoNodes(String),
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Object ids of `domain`, found by rejection sampling over `domain_of`.
fn objects_of(domain: u32, domains: u32, count: usize, salt: u64) -> Vec<ObjectId> {
    let mut out = Vec::with_capacity(count);
    let mut i = 0u64;
    while out.len() < count {
        // Fixed width, so every record of a run pads to the same size.
        let name = format!("dataset-{salt:016x}-{i:08}");
        i += 1;
        if domain == GLOBAL_DOMAIN || domain_of(name.as_bytes(), domains) == domain {
            out.push(ObjectId::new(name.into_bytes()).expect("short object id"));
        }
    }
    out
}

fn record(
    network: Digest,
    domain: u32,
    object: &ObjectId,
    key: &TxKeypair,
    nonce: u64,
    op: Op,
    pad: usize,
) -> Provenance {
    Provenance {
        network,
        domain,
        object_id: object.clone(),
        op,
        payload_digest: Digest::of("load/data", &nonce.to_le_bytes()),
        parents: BoundedVec::empty(),
        meta: BoundedVec::new(vec![MetaEntry {
            key: BoundedBytes::new(b"pad".to_vec()).expect("short key"),
            value: BoundedBytes::new(vec![b'x'; pad]).expect("checked pad"),
        }])
        .expect("one entry"),
        sender: key.public(),
        nonce,
        timestamp_ms: unix_ms(),
    }
}

/// The meta padding that makes a signed record exactly `size` bytes.
fn padding_for(
    network: Digest,
    size: usize,
    domain: u32,
    object: &ObjectId,
    key: &TxKeypair,
) -> Result<usize, LoadError> {
    let encoded = |pad| {
        Transaction::Provenance(record(network, domain, object, key, 0, Op::Create, pad).sign(key))
            .encoded_size()
    };
    let base = encoded(0);
    if size < base {
        return Err(LoadError::TxSize {
            size,
            why: format!("a signed record needs at least {base} bytes"),
        });
    }
    let max = encoded(MAX_META_VALUE);
    if size > max {
        return Err(LoadError::TxSize {
            size,
            why: format!("a signed load record holds at most {max} bytes"),
        });
    }
    // The length prefix grows by a byte at 64 and again at 16384.
    let mut pad = size - base;
    for _ in 0..3 {
        let got = encoded(pad);
        if got == size {
            return Ok(pad);
        }
        pad = (pad + size).saturating_sub(got);
    }
    Err(LoadError::TxSize {
        size,
        why: "no padding reaches exactly this size (try a size one byte larger)".into(),
    })
}

fn opaque_tx(size: usize, tag: u64) -> Result<Transaction, LoadError> {
    let overhead = Transaction::Opaque(BoundedBytes::new(vec![0u8; size]).expect("fits"))
        .encoded_size()
        - size;
    let len = size.checked_sub(overhead).ok_or(LoadError::TxSize {
        size,
        why: "too small".into(),
    })?;
    let mut bytes = vec![0u8; len];
    let t = tag.to_le_bytes();
    bytes[..t.len().min(len)].copy_from_slice(&t[..t.len().min(len)]);
    BoundedBytes::new(bytes)
        .map(Transaction::Opaque)
        .map_err(|e| LoadError::TxSize {
            size,
            why: e.to_string(),
        })
}

/// Signs and encodes the whole load on every core.
pub fn prepare(spec: &LoadSpec) -> Result<PreparedLoad, LoadError> {
    let ticks = (spec.duration.as_millis() / TICK.as_millis()).max(1) as u64;
    let salt = unix_ms() ^ (std::process::id() as u64) << 40;
    let mut jobs = Vec::new();
    for (ci, chain) in spec.chains.iter().enumerate() {
        if chain.nodes.is_empty() {
            return Err(LoadError::NoNodes(chain.label.clone()));
        }
        let objects = objects_of(chain.domain, spec.domains, 1, salt);
        let probe_key = TxKeypair::from_seed(&[1; 32]);
        let pad = match spec.payload {
            PayloadKind::Signed => padding_for(
                spec.network,
                spec.tx_size,
                chain.domain,
                &objects[0],
                &probe_key,
            )?,
            PayloadKind::Opaque => {
                opaque_tx(spec.tx_size, 0)?;
                0
            }
        };
        for (ni, url) in chain.nodes.iter().enumerate() {
            // This node's share: transactions over ticks, spread evenly.
            let n = chain.nodes.len() as u64;
            let share = chain.rate / n + u64::from((ni as u64) < chain.rate % n);
            // Each node's generator has objects of its own: it creates
            // each once, then updates them (the executor refuses an update
            // of an object that does not exist, or a second create).
            let objects = objects_of(chain.domain, spec.domains, 256, salt ^ ((ni as u64) << 32));
            jobs.push((ci, ni, url.clone(), share, pad, objects));
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let queue = Arc::new(Mutex::new(jobs));
    let results = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            let queue = queue.clone();
            let results = results.clone();
            s.spawn(move || loop {
                let Some((ci, ni, url, share, pad, objects)) =
                    queue.lock().expect("no panics").pop()
                else {
                    break;
                };
                let domain = spec.chains[ci].domain;
                let keys: Vec<TxKeypair> = match spec.payload {
                    PayloadKind::Signed => (0..spec.senders_per_node.max(1))
                        .map(|_| {
                            let mut seed = [0u8; 32];
                            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
                            TxKeypair::from_seed(&seed)
                        })
                        .collect(),
                    PayloadKind::Opaque => Vec::new(),
                };
                // Records of one sender carry consecutive nonces.
                let mut nonces = vec![0u64; keys.len()];
                let mut nonce = 0u64;
                let mut requests = Vec::new();
                for t in 0..ticks {
                    // Cumulative rounding keeps the rate exact over the run.
                    let before = share * t / ticks * spec.duration.as_millis() as u64 / 1000;
                    let after = share * (t + 1) / ticks * spec.duration.as_millis() as u64 / 1000;
                    let count = (after - before) as usize;
                    if count == 0 {
                        continue;
                    }
                    let mut txs = Vec::with_capacity(count);
                    for _ in 0..count {
                        let tx = match spec.payload {
                            PayloadKind::Signed => {
                                let object = &objects[(nonce as usize) % objects.len()];
                                let k = (nonce as usize) % keys.len();
                                let key = &keys[k];
                                nonces[k] += 1;
                                let op = if (nonce as usize) < objects.len() {
                                    Op::Create
                                } else {
                                    Op::Update
                                };
                                Transaction::Provenance(
                                    record(
                                        spec.network,
                                        domain,
                                        object,
                                        key,
                                        nonces[k] - 1,
                                        op,
                                        pad,
                                    )
                                    .sign(key),
                                )
                            }
                            PayloadKind::Opaque => {
                                opaque_tx(spec.tx_size, salt ^ ((ni as u64) << 48) ^ nonce)
                                    .expect("size checked")
                            }
                        };
                        nonce += 1;
                        txs.push(tx);
                    }
                    let sample = Some(txs[0].hash());
                    requests.push(Request {
                        due: TICK * t as u32,
                        count,
                        body: txs.encode(),
                        sample,
                    });
                }
                results.lock().expect("no panics").push(NodeLoad {
                    chain: ci,
                    url,
                    requests,
                });
            });
        }
    });
    let mut nodes = std::mem::take(&mut *results.lock().expect("no panics"));
    nodes.sort_by(|a, b| (a.chain, &a.url).cmp(&(b.chain, &b.url)));
    // Keep at most MAX_SAMPLES samples, evenly spaced.
    let total_samples: usize = nodes.iter().map(|n| n.requests.len()).sum();
    let every = total_samples.div_ceil(MAX_SAMPLES).max(1);
    for n in &mut nodes {
        for (i, r) in n.requests.iter_mut().enumerate() {
            if i % every != 0 {
                r.sample = None;
            }
        }
    }
    let transactions = nodes
        .iter()
        .flat_map(|n| &n.requests)
        .map(|r| r.count)
        .sum();
    Ok(PreparedLoad {
        nodes,
        labels: spec.chains.iter().map(|c| c.label.clone()).collect(),
        transactions,
        duration: spec.duration,
    })
}

/// A sample's fate.
#[derive(Clone, Debug)]
struct Sample {
    chain: usize,
    url: String,
    hash: Digest,
    sent_ms: u64,
}

/// What the senders did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SendReport {
    /// Transactions sent within the load window (fewer than prepared when
    /// the senders fell behind schedule).
    pub sent: u64,
    pub accepted: u64,
    /// Refusals by error code (e.g. `busy` when a mempool is full).
    pub refused: BTreeMap<String, u64>,
    /// Requests that failed in transport.
    pub failed_requests: u64,
    /// How far the slowest sender fell behind its schedule, ms.
    pub max_lag_ms: u64,
}

/// Latency of one chain's samples, ms.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencyReport {
    pub samples: usize,
    pub uncommitted: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Local chains' records: from sending to the node knowing the record
    /// global (anchored on the global chain, the anchor final).
    pub global_samples: usize,
    pub global_p50_ms: Option<f64>,
    pub global_p99_ms: Option<f64>,
}

/// A running or finished load.
pub struct LoadRun {
    handles: Vec<std::thread::JoinHandle<(SendReport, Vec<Sample>)>>,
    labels: Vec<String>,
    pub started: Instant,
}

/// Starts `CONNECTIONS_PER_NODE` sender threads per node, which take the
/// node's requests in schedule order; `stop` ends the run early.
pub fn start(load: PreparedLoad, stop: Arc<AtomicBool>) -> LoadRun {
    let started = Instant::now();
    let mut handles = Vec::new();
    for node in load.nodes {
        let node = Arc::new(SharedNodeLoad {
            next: AtomicUsize::new(0),
            load: node,
        });
        for _ in 0..CONNECTIONS_PER_NODE {
            let (node, stop) = (node.clone(), stop.clone());
            let window = load.duration;
            handles.push(std::thread::spawn(move || {
                send(&node, started, window, &stop)
            }));
        }
    }
    LoadRun {
        handles,
        labels: load.labels,
        started,
    }
}

/// One node's requests, shared by its sender threads.
struct SharedNodeLoad {
    /// Index of the next request to send.
    next: AtomicUsize,
    load: NodeLoad,
}

fn send(
    node: &SharedNodeLoad,
    started: Instant,
    window: Duration,
    stop: &AtomicBool,
) -> (SendReport, Vec<Sample>) {
    let client = Client::with_timeout(&node.load.url, Duration::from_secs(10));
    let mut report = SendReport::default();
    let mut samples = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Some(req) = node
            .load
            .requests
            .get(node.next.fetch_add(1, Ordering::Relaxed))
        else {
            break;
        };
        let now = started.elapsed();
        if now >= window {
            // Past the window the nodes are measured over: what is still
            // unsent stays unsent (the shortfall shows in `sent`) rather
            // than arriving as load sent late.
            break;
        }
        if req.due > now {
            std::thread::sleep(req.due - now);
        } else {
            report.max_lag_ms = report.max_lag_ms.max((now - req.due).as_millis() as u64);
        }
        let sent_ms = unix_ms();
        report.sent += req.count as u64;
        match client.post("/v1/txs", "application/octet-stream", &req.body) {
            Ok(answer) if answer.status == 200 => {
                report.accepted += answer.body["accepted"].as_u64().unwrap_or(0);
                let mut sample_refused = false;
                if let Some(refused) = answer.body["refused"].as_array() {
                    for r in refused {
                        let code = r["code"].as_str().unwrap_or("unknown").to_string();
                        *report.refused.entry(code).or_default() += 1;
                        sample_refused |= r["index"].as_u64() == Some(0);
                    }
                }
                if let (Some(hash), false) = (req.sample, sample_refused) {
                    samples.push(Sample {
                        chain: node.load.chain,
                        url: node.load.url.clone(),
                        hash,
                        sent_ms,
                    });
                }
            }
            Ok(answer) => {
                let code = answer.error_code().unwrap_or("http_error").to_string();
                *report.refused.entry(code).or_default() += req.count as u64;
            }
            Err(_) => report.failed_requests += 1,
        }
    }
    (report, samples)
}

/// The outcome of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadOutcome {
    pub send: SendReport,
    /// Per chain label.
    pub latency: BTreeMap<String, LatencyReport>,
}

/// p50 and p99 of latencies in milliseconds, through an HDR histogram
/// (microsecond resolution, three significant digits).
pub fn percentiles(values: &mut [f64]) -> (Option<f64>, Option<f64>) {
    let Ok(mut h) = hdrhistogram::Histogram::<u64>::new(3) else {
        return (None, None);
    };
    for &ms in values.iter().filter(|v| v.is_finite() && **v >= 0.0) {
        // Whole microseconds; the histogram grows to hold any value.
        let _ = h.record((ms * 1000.0).round() as u64);
    }
    if h.is_empty() {
        return (None, None);
    }
    let at = |q: f64| Some(h.value_at_quantile(q) as f64 / 1000.0);
    (at(0.5), at(0.99))
}

impl LoadRun {
    /// Waits for the senders, then reads every sample's commit time back,
    /// waiting up to `drain` for the last ones to commit. A sample still
    /// uncommitted counts with the time waited (a lower bound).
    pub fn finish(self, drain: Duration) -> LoadOutcome {
        let mut outcome = LoadOutcome::default();
        let mut samples = Vec::new();
        for h in self.handles {
            if let Ok((r, s)) = h.join() {
                let o = &mut outcome.send;
                o.sent += r.sent;
                o.accepted += r.accepted;
                o.failed_requests += r.failed_requests;
                o.max_lag_ms = o.max_lag_ms.max(r.max_lag_ms);
                for (k, v) in r.refused {
                    *o.refused.entry(k).or_default() += v;
                }
                samples.extend(s);
            }
        }
        let deadline = Instant::now() + drain;
        let mut latencies: BTreeMap<usize, (Vec<f64>, usize)> = BTreeMap::new();
        let mut global: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        let mut global_stuck = false;
        let mut clients: BTreeMap<String, Client> = BTreeMap::new();
        for s in samples {
            let client = clients
                .entry(s.url.clone())
                .or_insert_with(|| Client::with_timeout(&s.url, Duration::from_secs(15)));
            let entry = latencies.entry(s.chain).or_default();
            let path = format!("/v1/tx/{}", s.hash.to_hex());
            // Whether the node anchors its chain (it names the anchored
            // height once it knows one).
            let mut anchoring = false;
            let committed = loop {
                let wait = deadline.saturating_duration_since(Instant::now());
                let answer = client.get(&format!(
                    "{path}?wait=local&timeout_ms={}",
                    wait.as_millis().min(5000)
                ));
                match answer.ok().and_then(|a| a.ok("").ok()) {
                    Some(body) if body["state"]["status"] == "committed" => {
                        anchoring = !body["anchored_height"].is_null() && !global_stuck;
                        break body["state"]["committed_at_ms"].as_u64();
                    }
                    _ if Instant::now() >= deadline => break None,
                    _ => std::thread::sleep(Duration::from_millis(100)),
                }
            };
            let local_chain = self
                .labels
                .get(s.chain)
                .is_some_and(|l| l.starts_with("local"));
            if committed.is_some() && local_chain && anchoring {
                // When the node learned the record global.
                let wait = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_secs(5));
                let answer = client.get(&format!(
                    "{path}?wait=global&timeout_ms={}",
                    wait.as_millis().min(10_000)
                ));
                match answer
                    .ok()
                    .and_then(|a| a.ok("").ok())
                    .and_then(|b| b["global"]["at_ms"].as_u64())
                {
                    Some(at) => global
                        .entry(s.chain)
                        .or_default()
                        .push(at.saturating_sub(s.sent_ms) as f64),
                    // Not global in time: no more global waits this run.
                    None => global_stuck = true,
                }
            }
            match committed {
                Some(at) => entry.0.push(at.saturating_sub(s.sent_ms) as f64),
                None => {
                    entry.1 += 1;
                    entry.0.push(unix_ms().saturating_sub(s.sent_ms) as f64);
                }
            }
        }
        for (ci, (mut values, uncommitted)) in latencies {
            let (p50, p99) = percentiles(&mut values);
            let mut g = global.remove(&ci).unwrap_or_default();
            let (g50, g99) = percentiles(&mut g);
            outcome.latency.insert(
                self.labels[ci].clone(),
                LatencyReport {
                    samples: values.len(),
                    uncommitted,
                    p50_ms: p50,
                    p99_ms: p99,
                    global_samples: g.len(),
                    global_p50_ms: g50,
                    global_p99_ms: g99,
                },
            );
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Decode;

    fn spec(payload: PayloadKind, size: usize) -> LoadSpec {
        LoadSpec {
            network: Digest::ZERO,
            chains: vec![ChainLoad {
                label: "local-1".into(),
                domain: 1,
                nodes: vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()],
                rate: 1000,
            }],
            domains: 2,
            tx_size: size,
            duration: Duration::from_secs(1),
            payload,
            senders_per_node: 1,
        }
    }

    #[test]
    fn senders_take_turns_and_each_counts_its_own_nonces() {
        let load = prepare(&LoadSpec {
            senders_per_node: 3,
            ..spec(PayloadKind::Signed, 512)
        })
        .unwrap();
        let mut senders = std::collections::BTreeSet::new();
        for node in &load.nodes {
            let mut nonces: BTreeMap<_, Vec<u64>> = BTreeMap::new();
            for r in &node.requests {
                for tx in Vec::<Transaction>::decode(&mut &r.body[..]).unwrap() {
                    let Transaction::Provenance(p) = tx else {
                        panic!("a record")
                    };
                    p.verify().unwrap();
                    nonces
                        .entry(p.record.sender)
                        .or_default()
                        .push(p.record.nonce);
                }
            }
            assert_eq!(nonces.len(), 3, "three senders per node");
            for (sender, n) in nonces {
                assert!(n.iter().copied().eq(0..n.len() as u64), "nonces 0, 1, 2, …");
                assert!((166..=167).contains(&n.len()), "{} records", n.len());
                senders.insert(sender);
            }
        }
        assert_eq!(senders.len(), 6, "no sender shared between nodes");
    }

    #[test]
    fn signed_load_has_the_rate_the_size_and_the_domain() {
        let load = prepare(&spec(PayloadKind::Signed, 512)).unwrap();
        assert_eq!(load.transactions, 1000);
        assert_eq!(load.nodes.len(), 2);
        for node in &load.nodes {
            assert_eq!(node.requests.iter().map(|r| r.count).sum::<usize>(), 500);
            let first = &node.requests[0];
            let txs = Vec::<Transaction>::decode(&mut &first.body[..]).unwrap();
            assert_eq!(txs.len(), first.count);
            assert_eq!(first.sample, Some(txs[0].hash()));
            for tx in &txs {
                assert_eq!(tx.encoded_size(), 512);
                let Transaction::Provenance(p) = tx else {
                    panic!("a record")
                };
                p.verify().unwrap();
                assert_eq!(p.record.domain, 1);
                assert_eq!(domain_of(&p.record.object_id, 2), 1);
            }
        }
    }

    #[test]
    fn opaque_load_and_sizes() {
        let load = prepare(&spec(PayloadKind::Opaque, 512)).unwrap();
        let txs = Vec::<Transaction>::decode(&mut &load.nodes[0].requests[0].body[..]).unwrap();
        assert!(txs
            .iter()
            .all(|t| matches!(t, Transaction::Opaque(_)) && t.encoded_size() == 512));
        // Distinct transactions, so none is deduplicated away.
        let mut hashes: Vec<_> = txs.iter().map(|t| t.hash()).collect();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), txs.len());
        for size in [300, 1000] {
            let load = prepare(&spec(PayloadKind::Signed, size)).unwrap();
            let txs = Vec::<Transaction>::decode(&mut &load.nodes[0].requests[0].body[..]).unwrap();
            assert!(txs.iter().all(|t| t.encoded_size() == size), "size {size}");
        }
        assert!(matches!(
            prepare(&spec(PayloadKind::Signed, 50)),
            Err(LoadError::TxSize { .. })
        ));
    }

    /// A node that answers every submission after `delay`, counting how
    /// many submissions it holds at once.
    fn slow_node(delay: Duration) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (held, peak) = (in_flight.clone(), most.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (held, peak) = (held.clone(), peak.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut conn = conn;
                    loop {
                        let (mut line, mut length, mut post) = (String::new(), 0, false);
                        while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                            let lower = line.to_ascii_lowercase();
                            post |= lower.starts_with("post ");
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap();
                            }
                            line.clear();
                        }
                        if line.is_empty() {
                            return;
                        }
                        let mut body = vec![0u8; length];
                        reader.read_exact(&mut body).unwrap();
                        let answer = if post {
                            let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(delay);
                            held.fetch_sub(1, Ordering::SeqCst);
                            let n = Vec::<Transaction>::decode(&mut &body[..]).unwrap().len();
                            format!("{{\"accepted\":{n}}}")
                        } else {
                            "{}".to_string()
                        };
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        if conn.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, in_flight, most)
    }

    #[test]
    fn a_slow_answer_does_not_hold_the_next_request_back() {
        // Answers take three ticks; one connection would send a request per
        // three ticks and the load would turn closed-loop.
        let (url, _, most) = slow_node(TICK * 3);
        let mut spec = spec(PayloadKind::Opaque, 200);
        spec.chains[0].nodes = vec![url];
        spec.chains[0].rate = 500;
        spec.duration = TICK * 20;
        let load = prepare(&spec).unwrap();
        let total = load.transactions as u64;
        let outcome = start(load, Arc::new(AtomicBool::new(false))).finish(Duration::ZERO);
        // What the window ended with unsent is not sent late.
        assert!(outcome.send.sent > 0);
        assert!(outcome.send.sent <= total);
        assert_eq!(outcome.send.accepted, outcome.send.sent);
        let most = most.load(Ordering::SeqCst);
        assert!(
            (2..=CONNECTIONS_PER_NODE).contains(&most),
            "{most} requests in flight at once"
        );
    }

    #[test]
    fn percentiles_of_latencies() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let (p50, p99) = percentiles(&mut v);
        // Three significant digits: within 0.1% of the exact ranks.
        let near = |got: Option<f64>, want: f64| (got.unwrap() - want).abs() <= want * 1e-3;
        assert!(near(p50, 50.0), "{p50:?}");
        assert!(near(p99, 99.0), "{p99:?}");
        assert_eq!(percentiles(&mut []), (None, None));
        assert_eq!(percentiles(&mut [f64::NAN]), (None, None));
    }
}
