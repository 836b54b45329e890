//! The hierarchy end to end with real processes (issue 25): 4 cloud nodes
//! and 2 domains of 4 edge nodes, as `strata testnet` runs them. Records
//! of both domains and of the global chain reach `global`; their receipts
//! verify offline with the genesis alone after every node is stopped, and
//! each tampered link fails naming it; the member that submitted the last
//! anchor is killed with -9 and anchoring goes on from where the global
//! chain is; the objects' life rules refuse a double transfer.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use parity_scale_codec::{Decode, Encode};
use serde_json::Value;
use strata::client::Client;
use strata_chains::execution::TRANSFER_TO_KEY;
use strata_chains::types::{
    domain_of, Anchor, BlockHeader, MetaEntry, Op, QuorumCertificate, Transaction, GLOBAL_DOMAIN,
};
use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;

mod common;
use common::*;

fn strata(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("the strata binary runs")
}

/// An object name of `domain` (of 2).
fn object_in(domain: u32, tag: &str) -> String {
    (0..)
        .map(|i| format!("{tag}-{i}"))
        .find(|o| domain_of(o.as_bytes(), 2) == domain)
        .unwrap()
}

/// Waits for `hash` to reach `level` on `c`; its status.
fn reach(c: &Client, hash: &str, level: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..6 {
        last = c
            .get_ok(&format!("/v1/tx/{hash}?wait={level}&timeout_ms=10000"))
            .unwrap();
        if last["level"] == level || last["level"] == "global" {
            return last;
        }
    }
    panic!("{hash} did not reach {level} on {}: {last}", c.base());
}

fn anchors(c: &Client, domain: u32) -> Value {
    c.get_ok(&format!("/v1/anchors/{domain}")).unwrap()
}

fn anchored_height(c: &Client, domain: u32) -> u64 {
    anchors(c, domain)["anchored"]["height"]
        .as_u64()
        .unwrap_or(0)
}

fn submitted(net: &Net, name: &str) -> f64 {
    metric(&metrics_text(net, name), "strata_anchors_submitted_total")
}

/// A node's API URL.
fn api_of(net: &Net, name: &str) -> String {
    net.cluster.hierarchy.node(name).unwrap().api_url()
}

/// A node's metrics text (empty if it does not answer).
fn metrics_text(net: &Net, name: &str) -> String {
    let m = net.cluster.hierarchy.node(name).unwrap();
    Client::new(&format!("http://{}", m.metrics))
        .get_text("/metrics")
        .unwrap_or_default()
}

fn verify(receipt: &Path, genesis: &Path) -> (bool, String) {
    let out = strata(&[
        "verify",
        receipt.to_str().unwrap(),
        "--genesis",
        genesis.to_str().unwrap(),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn records_of_both_tiers_reach_global_and_their_receipts_verify_offline() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut net = start_with(
        61,
        4,
        4,
        |s| strata::init::HierarchySpec { domains: 2, ..s },
        |c| c,
    );
    let genesis = net.cluster.hierarchy.dir.join("genesis.toml");
    let key = TxKeypair::from_seed(&[61; 32]);
    let cloud = client(&net, "cloud-0");

    // Records of each domain and of the global chain, created then updated.
    let mut records: Vec<(String, String)> = Vec::new(); // (node, hash)
    let mut nonce = 0;
    for (node, domain) in [
        ("edge-0-1", 0u32),
        ("edge-1-2", 1),
        ("cloud-1", GLOBAL_DOMAIN),
    ] {
        let object = if domain == GLOBAL_DOMAIN {
            "dataset-global".to_string()
        } else {
            object_in(domain, "dataset")
        };
        for op in [Op::Create, Op::Update] {
            let mut p = record(&key, domain, &object, nonce);
            p.op = op;
            nonce += 1;
            let tx = Transaction::Provenance(p.sign(&key));
            let c = client(&net, node);
            assert_eq!(post(&c, &tx).status, 202);
            records.push((node.to_string(), tx.hash().to_hex()));
        }
    }
    for (node, hash) in &records {
        let status = reach(&client(&net, node), hash, "global");
        assert_eq!(status["state"]["refused"], Value::Null, "{status}");
        if node.starts_with("edge") {
            let a = status["anchored_height"].as_u64().unwrap();
            assert!(a >= status["state"]["height"].as_u64().unwrap());
            assert!(status["global"]["global_height"].as_u64().unwrap() > 0);
        }
    }
    // Both domains are anchored on the global chain; the global nodes
    // count what they executed, and serve (with a proof) the evidence of
    // a height, here none.
    for d in 0..2 {
        let a = anchored_height(&cloud, d);
        assert!(a > 0);
        let conflict = cloud
            .get_ok(&format!("/v1/anchors/{d}/conflict/{a}"))
            .unwrap();
        assert_eq!(conflict["conflict"], Value::Null, "{conflict}");
        assert_eq!(conflict["proof"]["value"], Value::Null, "{conflict}");
    }
    let text = metrics_text(&net, "cloud-0");
    assert!(
        metric(
            &text,
            "strata_anchors_executed_total{domain=\"0\",outcome=\"recorded\"}"
        ) > 0.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "strata_anchors_executed_total{domain=\"0\",outcome=\"conflict\"}"
        ),
        0.0
    );

    // The objects' life rules: a double transfer is refused.
    let bob = TxKeypair::from_seed(&[62; 32]);
    let object = object_in(0, "deed");
    let edge = client(&net, "edge-0-0");
    let mut hashes = Vec::new();
    for (i, op) in [Op::Create, Op::Transfer, Op::Transfer]
        .into_iter()
        .enumerate()
    {
        let mut p = record(&key, 0, &object, 100 + i as u64);
        p.op = op;
        if op == Op::Transfer {
            p.meta = BoundedVec::new(vec![MetaEntry {
                key: BoundedBytes::new(TRANSFER_TO_KEY.to_vec()).unwrap(),
                value: BoundedBytes::new(hex::encode(bob.public().to_bytes()).into_bytes())
                    .unwrap(),
            }])
            .unwrap();
        }
        let tx = Transaction::Provenance(p.sign(&key));
        assert_eq!(post(&edge, &tx).status, 202);
        // One at a time, so the order is the order sent.
        committed(&edge, &tx.hash());
        hashes.push(tx.hash());
    }
    assert_eq!(committed(&edge, &hashes[1])["refused"], Value::Null);
    assert_eq!(
        committed(&edge, &hashes[2])["refused"],
        "not the object's holder"
    );

    // Cross-domain lineage with the CLI: a record of domain 1 derived from
    // an object of domain 0 carries the parent record's receipt; a
    // receipt that is only local is refused, a global one accepted.
    let key_file = net.cluster.hierarchy.client_key.clone();
    let api = |name: &str| api_of(&net, name);
    let source = object_in(0, "sensor");
    let out = strata(&[
        "submit",
        "--node",
        &api("edge-0-0"),
        "--key",
        key_file.to_str().unwrap(),
        "--object",
        &source,
        "--op",
        "create",
        "--wait",
        "local",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let parent_hash = status["hash"].as_str().unwrap().to_string();
    let lineage_dir = tempfile::tempdir().unwrap();
    let parent_receipt = lineage_dir.path().join("parent.json");
    let derived = object_in(1, "summary");
    let derive = |receipt: &Path| {
        strata(&[
            "submit",
            "--node",
            &api("edge-1-0"),
            "--key",
            key_file.to_str().unwrap(),
            "--object",
            &derived,
            "--op",
            "derive",
            "--parent-receipt",
            receipt.to_str().unwrap(),
            "--wait",
            "local",
        ])
    };
    // A commit proof needs the blocks after the record's: retry briefly.
    let fetch = |hash: &str| {
        for _ in 0..100 {
            let out = strata(&["receipt", "--node", &api("edge-0-0"), hash]);
            if out.status.success() {
                return out.stdout;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no receipt of {hash}");
    };
    let early = fetch(&parent_hash);
    std::fs::write(&parent_receipt, &early).unwrap();
    let early_json: Value = serde_json::from_slice(&early).unwrap();
    if early_json["summary"]["levels"] == serde_json::json!(["local"]) {
        let refused = derive(&parent_receipt);
        assert!(
            !refused.status.success(),
            "a local-only parent was accepted"
        );
    }
    reach(&client(&net, "edge-0-0"), &parent_hash, "global");
    let late = fetch(&parent_hash);
    std::fs::write(&parent_receipt, &late).unwrap();
    let accepted = derive(&parent_receipt);
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let child: Value = serde_json::from_slice(&accepted.stdout).unwrap();
    assert_eq!(child["state"]["refused"], Value::Null, "{child}");
    // Asked of another member, once it has executed the record too.
    let other = client(&net, "edge-1-1");
    let child_hash = Digest::from_hex(child["hash"].as_str().unwrap()).unwrap();
    committed(&other, &child_hash);
    let mut lineage = Value::Null;
    wait_until(
        "the other member's lineage of the derived object",
        Duration::from_secs(10),
        || {
            lineage = other
                .get_ok(&format!("/v1/object/{derived}/lineage"))
                .unwrap();
            lineage["other_domains"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        },
    );
    let remote = &lineage["other_domains"][0];
    assert_eq!(remote["object"], source.as_str(), "{lineage}");
    assert_eq!(remote["record"], parent_hash.as_str(), "{lineage}");
    assert!(
        remote["verified"]["Ok"]
            .as_str()
            .unwrap()
            .contains("levels: local, global"),
        "{lineage}"
    );

    // Receipts, fetched with the CLI while the nodes run.
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (node, hash)) in records.iter().enumerate() {
        let api = api_of(&net, node);
        let out = strata(&["receipt", "--node", &api, hash]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = dir.path().join(format!("receipt-{i}.json"));
        std::fs::write(&path, &out.stdout).unwrap();
        files.push(path);
    }

    // Kill -9 the member that submitted the latest anchor of domain 0:
    // anchoring resumes from the global chain's record, never lower.
    let members = ["edge-0-0", "edge-0-1", "edge-0-2", "edge-0-3"];
    let before: Vec<f64> = members.iter().map(|m| submitted(&net, m)).collect();
    let a0 = anchored_height(&cloud, 0);
    wait_until(
        "another anchor of domain 0",
        Duration::from_secs(30),
        || anchored_height(&cloud, 0) > a0,
    );
    let after: Vec<f64> = members.iter().map(|m| submitted(&net, m)).collect();
    let last = (0..members.len())
        .max_by(|&a, &b| (after[a] - before[a]).total_cmp(&(after[b] - before[b])))
        .unwrap();
    let victim = members[last];
    let count_before = anchors(&cloud, 0)["anchors"].as_u64().unwrap();
    let height_before = anchored_height(&cloud, 0);
    net.cluster.kill(victim).unwrap();
    wait_until(
        "anchoring without the killed member",
        Duration::from_secs(40),
        || anchored_height(&cloud, 0) > height_before + 20,
    );
    net.cluster.start(victim).unwrap();
    net.cluster
        .wait_healthy(victim, Duration::from_secs(30))
        .unwrap();
    let h = anchored_height(&cloud, 0);
    wait_until(
        "anchoring with the member back",
        Duration::from_secs(40),
        || anchored_height(&cloud, 0) > h + 20,
    );
    // Every anchor the global chain accepted is one more, higher and
    // linked to the one before (the executor's rules): none twice.
    let count_after = anchors(&cloud, 0)["anchors"].as_u64().unwrap();
    assert!(
        count_after >= count_before + 2,
        "{count_before} -> {count_after}"
    );
    // The restarted member learned where anchoring is from the global chain.
    let back = client(&net, victim);
    wait_until(
        "the restarted member knows the anchored height",
        Duration::from_secs(20),
        || {
            chain_status(&back, "local-0")
                .and_then(|s| s["anchored_height"].as_u64())
                .is_some_and(|a| a > height_before)
        },
    );

    // Both chains exported from a member while the nodes run.
    let exports = tempfile::tempdir().unwrap();
    for (node, chain) in [("cloud-2", "global"), ("edge-0-2", "local-0")] {
        let api = api_of(&net, node);
        let dir = exports.path().join(chain);
        let out = strata(&[
            "export",
            "--node",
            &api,
            "--chain",
            chain,
            "--genesis",
            genesis.to_str().unwrap(),
            dir.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Every node stopped: the receipts verify with the genesis alone.
    net.cluster.stop_all();
    // The exports audit: every block, certificate, root, anchor.
    for chain in ["global", "local-0"] {
        let dir = exports.path().join(chain);
        let out = strata(&["audit", dir.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{chain}: {text}");
        assert!(text.contains(&format!("audited {chain}:")), "{text}");
        if chain == "global" {
            assert!(!text.contains(" 0 recorded"), "{text}");
            assert!(text.contains(" 0 conflicts"), "{text}");
        }
    }
    // A block of the local export tampered with: the audit names it.
    let blocks = exports.path().join("local-0").join("blocks.scale");
    let mut bytes = std::fs::read(&blocks).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&blocks, bytes).unwrap();
    let out = strata(&["audit", exports.path().join("local-0").to_str().unwrap()]);
    assert!(!out.status.success(), "a tampered export audits");
    for f in &files {
        let (ok, text) = verify(f, &genesis);
        assert!(ok, "{}: {text}", f.display());
        assert!(text.starts_with("verified: record "), "{text}");
    }
    let (_, text) = verify(&files[0], &genesis);
    assert!(text.contains("levels: local, global"), "{text}");
    let (_, text) = verify(&files[4], &genesis);
    assert!(
        text.contains("on global") && text.contains("levels: global"),
        "{text}"
    );

    // Each link tampered in turn fails, naming it.
    let original: Value = serde_json::from_slice(&std::fs::read(&files[1]).unwrap()).unwrap();
    type Edit = fn(&str) -> String;
    let tampers: [(&str, Edit, &str); 10] = [
        ("/record", flip_near_end, "record"),
        ("/record_path", flip_middle, "record path"),
        (
            "/block_header",
            |h| header(h, |h| h.tx_root = Digest::ZERO),
            "record path",
        ),
        (
            "/block_header",
            |h| header(h, |h| h.timestamp_ms += 1),
            "block link",
        ),
        ("/anchored/block_link", flip_middle, "block link"),
        ("/anchored/anchor", anchor_header_moved, "anchor"),
        (
            "/anchored/anchor_block_header",
            |h| header(h, |h| h.tx_root = Digest::ZERO),
            "anchor path",
        ),
        ("/anchored/anchor_path", flip_middle, "anchor path"),
        (
            "/anchored/global_commit/certificate",
            certificate_moved,
            "global commit",
        ),
        ("/summary/height", |_| String::new(), "summary"),
    ];
    for (pointer, edit, link) in tampers {
        let mut r = original.clone();
        let v = r.pointer_mut(pointer).unwrap();
        *v = match v {
            Value::String(s) => Value::String(edit(s)),
            Value::Number(n) => Value::from(n.as_u64().unwrap() + 1),
            other => panic!("{pointer}: {other}"),
        };
        let path = dir.path().join("tampered.json");
        std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
        let (ok, text) = verify(&path, &genesis);
        assert!(!ok, "{pointer} tampered still verifies");
        assert!(
            text.contains(&format!("does not verify: {link}: ")),
            "{pointer}: expected the {link} link to fail: {text}"
        );
    }
}

fn flip_at(s: &str, at: impl Fn(usize) -> usize) -> String {
    let mut bytes = hex::decode(s).unwrap();
    let i = at(bytes.len());
    bytes[i] ^= 0x01;
    hex::encode(bytes)
}

/// A byte of the record's signature.
fn flip_near_end(s: &str) -> String {
    flip_at(s, |n| n - 2)
}

/// A byte inside a proof's hashes.
fn flip_middle(s: &str) -> String {
    flip_at(s, |n| n / 2)
}

fn header(s: &str, f: impl Fn(&mut BlockHeader)) -> String {
    let mut h = BlockHeader::decode(&mut &hex::decode(s).unwrap()[..]).unwrap();
    f(&mut h);
    hex::encode(h.encode())
}

/// The anchor's header changed under its certificate.
fn anchor_header_moved(s: &str) -> String {
    let mut a = Anchor::decode(&mut &hex::decode(s).unwrap()[..]).unwrap();
    a.header.timestamp_ms += 1;
    hex::encode(a.encode())
}

/// The global certificate moved to another view.
fn certificate_moved(s: &str) -> String {
    let mut c = QuorumCertificate::decode(&mut &hex::decode(s).unwrap()[..]).unwrap();
    c.round.view += 1;
    hex::encode(c.encode())
}

/// An IoT light client follows its domain's chain (headers and
/// certificates checked, no execution), answers `wait=global` for its own
/// submissions with a receipt it verified, and with `--prune` keeps only a
/// window below the anchored height, across a restart; full nodes keep
/// serving receipts for what it pruned.
#[test]
fn an_iot_light_client_follows_prunes_restarts_and_proves_global() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut net = start_with(
        62,
        4,
        4,
        |s| strata::init::HierarchySpec {
            iot_per_domain: 1,
            ..s
        },
        |c| c.with_node_args("iot-0-0", &["--prune", "20"]),
    );
    let genesis = net.cluster.hierarchy.dir.join("genesis.toml");
    let key = TxKeypair::from_seed(&[63; 32]);
    let iot = client(&net, "iot-0-0");
    let tx = signed(&key, 0, "meter-1", 0);
    assert_eq!(post(&iot, &tx).status, 202);
    let hash = tx.hash().to_hex();
    let mut status = Value::Null;
    for _ in 0..6 {
        status = iot
            .get_ok(&format!("/v1/tx/{hash}?wait=global&timeout_ms=10000"))
            .unwrap();
        if status["level"] == "global" {
            break;
        }
    }
    assert_eq!(status["level"], "global", "{status}");
    assert_eq!(status["verified"], true, "{status}");
    assert_eq!(
        status["receipt"]["levels"],
        serde_json::json!(["local", "global"])
    );

    let following = |c: &Client| c.get_ok("/v1/status").unwrap()["following"].clone();
    wait_until(
        "the light client prunes below the anchored height",
        Duration::from_secs(60),
        || {
            let f = following(&iot);
            f["lowest"].as_u64().unwrap_or(0) > 0 && f["tip"].as_u64().unwrap_or(0) > 40
        },
    );
    let before = following(&iot);
    assert_eq!(before["refused"], 0, "{before}");
    let anchored = before["anchored"].as_u64().unwrap();
    assert!(
        before["lowest"].as_u64().unwrap() + 20 >= anchored.min(before["tip"].as_u64().unwrap()),
        "{before}"
    );

    // Restarted, it goes on from the headers it kept.
    net.cluster.kill("iot-0-0").unwrap();
    net.cluster.start("iot-0-0").unwrap();
    net.cluster
        .wait_healthy("iot-0-0", Duration::from_secs(20))
        .unwrap();
    let iot = client(&net, "iot-0-0");
    let tip_before = before["tip"].as_u64().unwrap();
    wait_until(
        "the restarted light client goes on",
        Duration::from_secs(30),
        || {
            let f = following(&iot);
            f["tip"].as_u64().unwrap_or(0) > tip_before + 5
        },
    );
    let after = following(&iot);
    assert!(
        after["lowest"].as_u64().unwrap() >= before["lowest"].as_u64().unwrap(),
        "{before} {after}"
    );

    // The record's receipt, long pruned here, is served by a full node
    // and verifies offline.
    let edge_api = api_of(&net, "edge-0-0");
    let out = strata(&["receipt", "--node", &edge_api, &hash]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let (ok, text) = verify(&file, &genesis);
    assert!(ok && text.contains("levels: local, global"), "{text}");
}
