//! Helpers shared by the multi-process test binaries: signed records for
//! the running hierarchy, HTTP probes of a node's chains, waiting.
#![allow(dead_code)] // each test binary uses a part

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parity_scale_codec::Encode;
use serde_json::Value;
use strata::client::{Answer, Client};
use strata::cluster::Cluster;
use strata::init::{self, HierarchySpec};
use strata_chains::types::{ObjectId, Op, Provenance, Transaction};
use strata_crypto::codec::BoundedVec;
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;

pub static SERIAL: Mutex<()> = Mutex::new(());
/// The genesis digest of the hierarchy the running test started (tests run
/// one at a time): records name their network.
pub static NETWORK: Mutex<Digest> = Mutex::new(Digest::ZERO);

pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_strata-cloud"))
        .parent()
        .expect("binaries live in a directory")
        .to_path_buf()
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn record(key: &TxKeypair, domain: u32, object: &str, nonce: u64) -> Provenance {
    Provenance {
        network: *NETWORK.lock().unwrap_or_else(|e| e.into_inner()),
        domain,
        object_id: ObjectId::new(object.as_bytes().to_vec()).unwrap(),
        op: if nonce == 0 { Op::Create } else { Op::Update },
        payload_digest: Digest::of("test/data", &nonce.to_le_bytes()),
        parents: BoundedVec::empty(),
        meta: BoundedVec::empty(),
        sender: key.public(),
        nonce,
        timestamp_ms: now_ms(),
    }
}

pub fn signed(key: &TxKeypair, domain: u32, object: &str, nonce: u64) -> Transaction {
    Transaction::Provenance(record(key, domain, object, nonce).sign(key))
}

/// Submits one record as a client should: a 503 `overloaded` (the chain's
/// admission gate is closed, e.g. while a view change stalls commits) is
/// offered again after a pause, for up to 60 s (a member its peers ban for 30 s
/// cannot commit what it holds until the ban ends); any other answer is
/// returned as it is.
pub fn post(c: &Client, tx: &Transaction) -> Answer {
    let started = Instant::now();
    loop {
        let answer = c
            .post("/v1/tx", "application/octet-stream", &tx.encode())
            .unwrap();
        let overloaded = answer.status == 503 && answer.body["error"]["code"] == "overloaded";
        if !overloaded || started.elapsed() > Duration::from_secs(60) {
            return answer;
        }
        eprintln!("{}: overloaded, offering the record again", c.base());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The chain's entry in a node's `/v1/status`.
pub fn chain_status(c: &Client, chain: &str) -> Option<Value> {
    let s = c.get_ok("/v1/status").ok()?;
    s["chains"]
        .as_array()?
        .iter()
        .find(|x| x["chain"] == chain)
        .cloned()
}

pub fn height(c: &Client, chain: &str) -> u64 {
    chain_status(c, chain).map_or(0, |s| s["committed_height"].as_u64().unwrap_or(0))
}

pub fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The committed state of `hash` on `c`, waiting up to 20 s.
pub fn committed(c: &Client, hash: &Digest) -> Value {
    committed_within(c, hash, Duration::from_secs(20))
}

/// The committed state of `hash` on `c`, waiting up to `timeout`.
pub fn committed_within(c: &Client, hash: &Digest, timeout: Duration) -> Value {
    let a = c
        .get_ok(&format!(
            "/v1/tx/{}?wait=local&timeout_ms={}",
            hash.to_hex(),
            timeout.as_millis()
        ))
        .unwrap();
    assert_eq!(
        a["state"]["status"],
        "committed",
        "{} on {}: {a}",
        hash,
        c.base()
    );
    a["state"].clone()
}

pub fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A hierarchy of real node processes on 127.0.`octet`.1.
pub struct Net {
    // Dropped first: stops the processes before the directory goes.
    pub cluster: Cluster,
    _dir: tempfile::TempDir,
}

pub fn start(octet: u8, cloud: usize, edge: usize) -> Net {
    start_with(octet, cloud, edge, |s| s, |c| c)
}

/// `start` with the hierarchy's spec and the cluster adjusted first.
pub fn start_with(
    octet: u8,
    cloud: usize,
    edge: usize,
    spec: impl FnOnce(HierarchySpec) -> HierarchySpec,
    setup: impl FnOnce(Cluster) -> Cluster,
) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(HierarchySpec {
        cloud,
        domains: 1,
        edge_per_domain: edge,
        host: Ipv4Addr::new(127, 0, octet, 1),
        base_port: 21000,
        ..HierarchySpec::default()
    });
    let h = init::write(dir.path(), &spec).unwrap();
    *NETWORK.lock().unwrap_or_else(|e| e.into_inner()) = h.genesis.digest;
    let mut cluster = setup(Cluster::new(h, bin_dir()));
    cluster.start_all(Duration::from_secs(30)).unwrap();
    if std::env::var_os("STRATA_TEST_KEEP").is_some() {
        // The nodes' data and logs stay for a look after a failure.
        eprintln!("keeping {}", dir.path().display());
        let _ = dir.keep();
        let dir = tempfile::tempdir().unwrap();
        return Net { cluster, _dir: dir };
    }
    Net { cluster, _dir: dir }
}

pub fn client(net: &Net, name: &str) -> Client {
    net.cluster.client(name).unwrap()
}
