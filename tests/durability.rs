//! What an answer promises survives the node's crash and the loss of its
//! disk: `accepted` records commit after a kill -9 of the node that
//! answered; executed batches leave the staging batch log for the archive,
//! which serves a member that lost its disk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parity_scale_codec::Encode;
use strata::client::Client;
use strata_actors::config::StorageSection;
use strata_chains::types::Transaction;
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;

mod common;
use common::*;

/// `accepted` (202) means stored on the node that answered: killed with
/// -9 right after its answers, and restarted, the node proposes and
/// pushes again what it had sealed, and every record commits everywhere.
#[test]
fn records_accepted_just_before_a_kill_9_of_their_node_commit_after_its_restart() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut net = start(45, 1, 4);
    let edges = ["edge-0-0", "edge-0-1", "edge-0-2", "edge-0-3"];
    let key = TxKeypair::from_seed(&[45; 32]);
    let node = "edge-0-1";
    let mut accepted = Vec::new();
    for round in 0..4u64 {
        let c = client(&net, node);
        for i in 0..4 {
            let tx = signed(&key, 0, &format!("durable-{i}"), 10 + round * 4 + i);
            assert_eq!(post(&c, &tx).status, 202);
            accepted.push(tx.hash());
        }
        net.cluster.kill(node).unwrap();
        net.cluster.start(node).unwrap();
        net.cluster
            .wait_healthy(node, Duration::from_secs(20))
            .unwrap();
    }
    for hash in &accepted {
        for name in edges {
            committed(&client(&net, name), hash);
        }
    }
}

/// Bytes in a directory's files (0 if it does not exist).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A member's directory of its one chain.
fn chain_dir(net: &Net, member: &str) -> PathBuf {
    let data = net.cluster.hierarchy.dir.join("data").join(member);
    std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("chain-"))
        })
        .expect("the member's chain directory")
}

/// Posts a request per round of `per_round` signed records (one object each
/// of 40, fresh nonces) to the members in turn, as fast as they admit
/// them; the hashes accepted.
fn bulk_load(
    net: &Net,
    members: &[&str],
    key: &TxKeypair,
    rounds: std::ops::Range<u64>,
    per_round: u64,
) -> Vec<Digest> {
    let mut accepted = Vec::new();
    for round in rounds {
        let txs: Vec<Transaction> = (0..per_round)
            .map(|i| {
                let nonce = round * per_round + i;
                created_first(key, &format!("bulk-{}", nonce % 40), nonce, 40)
            })
            .collect();
        let member = members[(round as usize) % members.len()];
        // Admission control sheds what would not commit in time (503):
        // wait and offer the same records again.
        let started = Instant::now();
        let answer = loop {
            let answer = client(net, member)
                .post("/v1/txs", "application/octet-stream", &txs.encode())
                .unwrap();
            if answer.status != 503 || started.elapsed() > Duration::from_secs(60) {
                break answer;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        assert_eq!(answer.status, 200, "{member}: {answer:?}");
        let refused: Vec<u64> = answer.body["refused"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["index"].as_u64())
            .collect();
        accepted.extend(
            (0..per_round)
                .zip(&txs)
                .filter(|(i, _)| !refused.contains(i))
                .map(|(_, tx)| tx.hash()),
        );
    }
    accepted
}

/// Executed batches are collected from the staging batch log (segments of
/// 1 MiB here): under a load that writes several segments per member, each
/// member's staging log stays within a few segments while its archive
/// takes the committed batches, through a kill -9 during the load. Then a
/// member loses its executed state and both batch logs; restarted, it
/// replays its committed blocks with batches its peers serve from their
/// archives, and serves every record and object history again (a missing
/// batch at replay stopped the node at every restart before).
#[test]
fn executed_batches_leave_the_staging_log_and_archives_serve_a_member_that_lost_its_disk() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut net = start_with(
        51,
        1,
        4,
        |s| strata::init::HierarchySpec {
            storage: StorageSection {
                batch_log_segment_mib: 1,
            },
            ..s
        },
        |c| c,
    );
    let edges = ["edge-0-0", "edge-0-1", "edge-0-2", "edge-0-3"];
    let key = TxKeypair::from_seed(&[51; 32]);
    let mut records = Vec::new();
    for i in 0..24u64 {
        let tx = created_first(&key, &format!("disk-{}", i % 3), i, 3);
        assert_eq!(
            post(&client(&net, edges[(i % 4) as usize]), &tx).status,
            202
        );
        records.push(tx.hash());
    }
    let bulk_key = TxKeypair::from_seed(&[52; 32]);
    let mut bulk = bulk_load(&net, &edges, &bulk_key, 0..48, 500);
    // A member killed mid-load, possibly mid-collection.
    net.cluster.kill("edge-0-3").unwrap();
    net.cluster.start("edge-0-3").unwrap();
    net.cluster
        .wait_healthy("edge-0-3", Duration::from_secs(30))
        .unwrap();
    bulk.extend(bulk_load(&net, &edges, &bulk_key, 48..96, 500));
    assert!(bulk.len() >= 45_000, "{} of 48,000 accepted", bulk.len());
    let sample: Vec<Digest> = records
        .iter()
        .chain(bulk.iter().step_by(397))
        .chain(bulk.last())
        .copied()
        .collect();
    for name in edges {
        let c = client(&net, name);
        for hash in &sample {
            committed_within(&c, hash, Duration::from_secs(60));
        }
    }

    // Every member's staging log shrinks to a few segments (the one
    // appended to, the newest sealed one, and what was carried); the
    // archive holds the committed batches.
    let deadline = Instant::now() + Duration::from_secs(30);
    for name in edges {
        let dir = chain_dir(&net, name).join("consensus");
        let staging = loop {
            let staging = dir_bytes(&dir.join("batch-log"));
            if staging <= 4 << 20 || Instant::now() > deadline {
                break staging;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let archive = dir_bytes(&dir.join("batch-archive"));
        assert!(staging <= 4 << 20, "{name}: {staging} bytes still staged");
        // About 11 MiB of batches were stored in all.
        assert!(archive >= 6 << 20, "{name}: {archive} bytes archived");
        let metrics = net.cluster.hierarchy.node(name).unwrap().metrics;
        let text = Client::new(&format!("http://{metrics}"))
            .get_text("/metrics")
            .unwrap();
        let archived = metric(
            &text,
            "strata_batch_log_collected_total{chain=\"local-0\",outcome=\"archived\"}",
        );
        assert!(archived >= 1.0 || name == "edge-0-3", "{name}: {text}");
    }

    let victim = "edge-0-2";
    net.cluster.kill(victim).unwrap();
    let dir = chain_dir(&net, victim);
    std::fs::remove_dir_all(dir.join("state")).unwrap();
    for log in ["batch-log", "batch-archive"] {
        std::fs::remove_dir_all(dir.join("consensus").join(log)).unwrap();
    }
    net.cluster.start(victim).unwrap();
    net.cluster
        .wait_healthy(victim, Duration::from_secs(60))
        .unwrap();
    let v = client(&net, victim);
    for hash in &sample {
        committed_within(&v, hash, Duration::from_secs(60));
    }
    for object in ["disk-0", "disk-1", "disk-2", "bulk-7"] {
        let path = format!("/v1/object/{object}/history");
        let theirs = client(&net, "edge-0-0").get_ok(&path).unwrap();
        let ours = v.get_ok(&path).unwrap();
        assert!(!theirs["entries"].as_array().unwrap().is_empty());
        assert_eq!(ours, theirs, "{object}'s history was executed again");
    }
}

/// A record of domain 0 about one of `objects` objects, named by `nonce`
/// modulo their number: the first record of each creates it, the others
/// update it (the executor refuses an update of an object never created).
fn created_first(key: &TxKeypair, object: &str, nonce: u64, objects: u64) -> Transaction {
    let mut p = record(key, 0, object, nonce);
    p.op = if nonce < objects {
        strata_chains::types::Op::Create
    } else {
        strata_chains::types::Op::Update
    };
    Transaction::Provenance(p.sign(key))
}
