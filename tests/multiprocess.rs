//! Real node processes on loopback: a hierarchy commits HTTP submissions on
//! every member; a killed member catches up by range sync; a stopped leader
//! is replaced by a view change; bad HTTP input gets JSON errors; peers
//! outside the genesis and garbage messages are dropped without harm; a
//! Byzantine member is charged and banned while the others commit; the
//! metrics pass `promtool check metrics`.
//!
//! Each test uses its own 127.0.N.1 address, and a lock runs them one at a
//! time (two cores shared by up to nine node processes).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parity_scale_codec::{Decode, Encode};
use serde_json::Value;
use strata::client::{Answer, Client};
use strata_actors::tier::light::check_state_proof;
use strata_chains::auth::StateProof;
use strata_chains::execution::ObjectHead;
use strata_chains::types::GLOBAL_DOMAIN;
use strata_chains::types::{ChainId, Op, Transaction};
use strata_crypto::hash::Digest;
use strata_crypto::sr25519::TxKeypair;

mod common;
use common::*;

#[test]
fn hierarchy_commits_http_transactions_on_every_member_and_refuses_bad_input() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut net = start(41, 4, 4);
    let edges = ["edge-0-0", "edge-0-1", "edge-0-2", "edge-0-3"];
    let clouds = ["cloud-0", "cloud-1", "cloud-2", "cloud-3"];
    let key = TxKeypair::from_seed(&[41; 32]);
    let g0 = height(&client(&net, "cloud-0"), "global");

    // Records of the edge domain through every edge node, and of the
    // global chain through every cloud node.
    let mut sent = Vec::new();
    for (i, name) in edges.iter().chain(&clouds).enumerate() {
        let (domain, chain) = if name.starts_with("edge") {
            (0, "local-0")
        } else {
            (GLOBAL_DOMAIN, "global")
        };
        // The first record of each chain creates the object (the
        // executor refuses updates of an object never created): it
        // commits before the updates are sent.
        let first = i == 0 || i == edges.len();
        let mut p = record(&key, domain, "camera-1/frame", i as u64);
        if first {
            p.op = strata_chains::types::Op::Create;
        }
        let tx = Transaction::Provenance(p.sign(&key));
        let a = post(&client(&net, name), &tx);
        assert_eq!(a.status, 202, "{name}: {:?}", a.body);
        assert_eq!(a.body["hash"], tx.hash().to_hex());
        if first {
            committed(&client(&net, name), &tx.hash());
        }
        sent.push((tx, chain));
    }
    for (tx, chain) in &sent {
        let members: &[&str] = if *chain == "global" { &clouds } else { &edges };
        let states: Vec<Value> = members
            .iter()
            .map(|m| committed(&client(&net, m), &tx.hash()))
            .collect();
        for s in &states {
            assert_eq!(s["chain"], *chain);
            assert_eq!(
                s["block"], states[0]["block"],
                "every member commits the same block"
            );
            assert_eq!(s["height"], states[0]["height"]);
        }
        // The block is served, and holds the transaction.
        let b = client(&net, members[1])
            .get_ok(&format!("/v1/block/{chain}/{}", states[0]["height"]))
            .unwrap();
        assert_eq!(b["hash"], states[0]["block"], "{b}");
    }
    let history = client(&net, "edge-0-2")
        .get_ok("/v1/object/camera-1%2Fframe/history")
        .unwrap();
    let entries = history["entries"].as_array().unwrap();
    // An edge node holds its domain's chain; a cloud node the global one.
    assert_eq!(entries.len(), 4, "{history}");
    assert!(entries
        .iter()
        .all(|e| e["chain"] == "local-0" && e["op"].is_string()));
    let global = client(&net, "cloud-3")
        .get_ok("/v1/object/camera-1%2Fframe/history")
        .unwrap();
    assert_eq!(global["entries"].as_array().unwrap().len(), 4, "{global}");
    let c0 = client(&net, "cloud-0");
    wait_until(
        "the global chain to progress",
        Duration::from_secs(20),
        || height(&c0, "global") > g0 + 3,
    );

    // --- State proofs: the object's head in each chain's authenticated
    // state, proven against a committed header and checked offline with
    // the genesis alone. ---
    let genesis = net.cluster.hierarchy.genesis.clone();
    let head_key = strata_chains::execution::object_key(b"camera-1/frame");
    for (name, chain) in [("edge-0-2", "local-0"), ("cloud-1", "global")] {
        let c = client(&net, name);
        let mut proof = Value::Null;
        wait_until(
            "a committed header to name the state with all four records",
            Duration::from_secs(20),
            || {
                proof = c
                    .get_ok("/v1/state/object:camera-1%2Fframe/proof")
                    .unwrap_or(Value::Null);
                proof["object"]["records"] == 4
            },
        );
        let id = if chain == "global" {
            ChainId::GLOBAL
        } else {
            ChainId::local(0)
        };
        assert_eq!(proof["chain"], id.0, "{proof}");
        let value = check_state_proof(&genesis, &head_key, &proof).unwrap();
        let head: ObjectHead = Decode::decode(&mut &value.unwrap()[..]).unwrap();
        assert_eq!(head.records, 4);
        assert!(sent.iter().any(|(tx, _)| tx.hash() == head.last_tx));
        // A proof whose value was changed does not verify.
        let mut tampered = proof.clone();
        let bytes = hex::decode(proof["proof"].as_str().unwrap()).unwrap();
        let mut state = StateProof::decode(&mut &bytes[..]).unwrap();
        state.value = Some(ObjectHead { records: 5, ..head }.encode());
        tampered["proof"] = Value::String(hex::encode(state.encode()));
        let refused = check_state_proof(&genesis, &head_key, &tampered).unwrap_err();
        assert!(refused.starts_with("state:"), "{refused}");
        // The CLI fetches and checks the same offline.
        let out = std::process::Command::new(bin_dir().join("strata"))
            .args([
                "state",
                "object:camera-1/frame",
                "--node",
                c.base(),
                "--genesis",
            ])
            .arg(net.cluster.hierarchy.dir.join("genesis.toml"))
            .output()
            .unwrap();
        let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(verdict["verified"], true, "{verdict}");
        assert_eq!(verdict["object"]["records"], 4, "{verdict}");
        // Absence is provable too.
        let absent = c.get_ok("/v1/state/object:nothing-here/proof").unwrap();
        let none = strata_chains::execution::object_key(b"nothing-here");
        assert_eq!(check_state_proof(&genesis, &none, &absent).unwrap(), None);
    }

    // --- Bad input: typed JSON errors, never a crash. ---
    let edge = client(&net, "edge-0-1");
    let refusal = |a: &Answer, status: u16, code: &str| {
        assert_eq!(a.status, status, "{:?}", a.body);
        assert_eq!(a.error_code(), Some(code), "{:?}", a.body);
        assert!(a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    };
    let garbage = edge
        .post("/v1/tx", "application/octet-stream", b"\x00\xffgarbage")
        .unwrap();
    refusal(&garbage, 400, "malformed");
    let bad_json = edge
        .post("/v1/tx", "application/json", b"{\"tx\": \"zz\"}")
        .unwrap();
    refusal(&bad_json, 400, "malformed");
    let not_json = edge.post("/v1/tx", "application/json", b"{").unwrap();
    refusal(&not_json, 400, "malformed");
    // Signed, then altered: the signature no longer matches.
    let mut forged = record(&key, 0, "camera-1/frame", 100).sign(&key);
    forged.record.op = Op::Delete;
    refusal(
        &post(&edge, &Transaction::Provenance(forged)),
        400,
        "bad_signature",
    );
    // A domain that does not exist, and the global domain on an edge node.
    refusal(
        &post(&edge, &signed(&key, 7, "camera-1/frame", 101)),
        400,
        "wrong_domain",
    );
    refusal(
        &post(&edge, &signed(&key, GLOBAL_DOMAIN, "x", 102)),
        400,
        "wrong_domain",
    );
    // A new record reusing a committed nonce.
    let mut replay = record(&key, 0, "camera-2", 0);
    replay.op = Op::Read;
    refusal(
        &post(&edge, &Transaction::Provenance(replay.sign(&key))),
        409,
        "replayed_nonce",
    );
    // Over the body limit: refused from the header, before the body.
    let api = net.cluster.hierarchy.node("edge-0-1").unwrap().api;
    let mut s = TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        64 << 20
    )
    .unwrap();
    let mut head = [0u8; 512];
    let n = s.read(&mut head).unwrap();
    let text = String::from_utf8_lossy(&head[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("too_large"), "{text}");
    // Bad paths and parameters.
    refusal(&edge.get("/v1/tx/nothex").unwrap(), 400, "malformed");
    refusal(
        &edge
            .get(&format!("/v1/tx/{}", Digest::ZERO.to_hex()))
            .unwrap(),
        404,
        "not_found",
    );
    refusal(
        &edge.get("/v1/block/local-0/abc").unwrap(),
        400,
        "malformed",
    );
    refusal(&edge.get("/v1/nowhere").unwrap(), 404, "not_found");
    assert_eq!(edge.get("/health").unwrap().status, 200);

    // --- Metrics: Prometheus names, and promtool accepts them. ---
    let m = net.cluster.hierarchy.node("edge-0-1").unwrap().metrics;
    let text = Client::new(&format!("http://{m}"))
        .get_text("/metrics")
        .unwrap();
    for name in [
        "strata_committed_height{chain=\"local-0\"}",
        "strata_committed_transactions_total{chain=\"local-0\"}",
        "strata_current_view",
        "strata_view_changes_total",
        "strata_timeouts_total",
        "strata_qc_formation_seconds_bucket",
        "strata_commit_latency_seconds_bucket",
        "strata_mempool_transactions",
        "strata_peers",
        "strata_network_received_bytes_total",
        "strata_network_sent_bytes_total",
        "strata_verifier_batch_signatures_bucket",
    ] {
        assert!(text.contains(name), "metrics lack {name}:\n{text}");
    }
    assert!(
        metric(
            &text,
            "strata_committed_transactions_total{chain=\"local-0\"}"
        ) >= 4.0
    );
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/ensure-deps installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // --- SIGTERM stops every node cleanly: exit status 0, stores closed
    // before the process exits (an open RocksDB aborts it at exit). ---
    for name in &net.cluster.node_names() {
        let status = net.cluster.terminate(name).unwrap();
        let tail = net.cluster.log_tail(name);
        assert!(status.success(), "{name} stopped with {status}:\n{tail}");
        assert!(!tail.contains("pthread lock"), "{name}:\n{tail}");
    }
}

/// Submits records to the members at a bounded rate until stopped (or
/// 120 s); returns the hashes accepted with the time they were sent.
fn background_load(
    net: &Net,
    members: &[&str],
    key: Arc<TxKeypair>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(Digest, u64)>> {
    let clients: Vec<Client> = members
        .iter()
        .map(|m| {
            Client::with_timeout(
                &net.cluster.hierarchy.node(m).unwrap().api_url(),
                Duration::from_secs(2),
            )
        })
        .collect();
    std::thread::spawn(move || {
        let mut accepted = Vec::new();
        let started = Instant::now();
        let mut nonce = 1_000u64;
        while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
            for c in &clients {
                let tx = signed(&key, 0, &format!("meter-{}", nonce % 13), nonce);
                nonce += 1;
                // A killed member refuses the connection; that is expected.
                if let Ok(a) = c.post("/v1/tx", "application/octet-stream", &tx.encode()) {
                    if a.status == 202 {
                        accepted.push((tx.hash(), now_ms()));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        accepted
    })
}

#[test]
fn killed_member_catches_up_stopped_leader_is_replaced_and_intruders_are_ignored() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut net = start(42, 1, 4);
    let edges = ["edge-0-0", "edge-0-1", "edge-0-2", "edge-0-3"];
    let genesis = net.cluster.hierarchy.genesis.clone();
    let members = genesis.chains[&ChainId::local(0)].members.clone();
    let leader_name = |c: &Client| -> String {
        let s = chain_status(c, "local-0").unwrap();
        members[s["leader"].as_u64().unwrap() as usize].clone()
    };
    let key = Arc::new(TxKeypair::from_seed(&[42; 32]));
    let stop = Arc::new(AtomicBool::new(false));
    let load = background_load(&net, &edges, key.clone(), stop.clone());
    wait_until("the local chain to commit", Duration::from_secs(20), || {
        height(&client(&net, "edge-0-0"), "local-0") > 2
    });

    // --- kill -9 a member that is not the leader. ---
    let leader = leader_name(&client(&net, "edge-0-0"));
    let victim = edges.iter().find(|e| **e != leader).unwrap().to_string();
    let witness = edges
        .iter()
        .find(|e| **e != leader && **e != victim)
        .unwrap()
        .to_string();
    net.cluster.kill(&victim).unwrap();
    let killed_at = now_ms();
    let w = client(&net, &witness);
    let h_kill = height(&w, "local-0");
    wait_until(
        "commits without the killed member",
        Duration::from_secs(20),
        || height(&w, "local-0") > h_kill + 5,
    );

    // --- Intruders while it is down. ---
    intrude(&net, &victim, &leader);
    let leader_metrics = net.cluster.hierarchy.node(&leader).unwrap().metrics;
    let text = Client::new(&format!("http://{leader_metrics}"))
        .get_text("/metrics")
        .unwrap();
    assert!(
        metric(
            &text,
            "strata_rejected_messages_total{reason=\"not_in_genesis\"}"
        ) >= 1.0,
        "a peer outside the genesis is dropped and counted:\n{text}"
    );
    assert!(
        metric(
            &text,
            "strata_peer_penalties_total{reason=\"malformed_message\"}"
        ) >= 4.0,
        "garbage from a member is dropped and charged to it:\n{text}"
    );
    assert!(
        metric(&text, "strata_peer_bans_total") >= 1.0,
        "a member sending garbage is banned for a while:\n{text}"
    );
    assert_eq!(client(&net, &leader).get("/health").unwrap().status, 200);
    std::thread::sleep(Duration::from_secs(2));

    // --- Restart: range sync, then it serves what it missed. ---
    // Records the restarted member itself takes are not "missed": its
    // key's impostor had the target ban it for a while, so those wait for
    // the ban to end (its batches are pushed again until they commit).
    let restarted_at = now_ms();
    net.cluster.start(&victim).unwrap();
    net.cluster
        .wait_healthy(&victim, Duration::from_secs(20))
        .unwrap();
    let target = height(&w, "local-0");
    let v = client(&net, &victim);
    wait_until(
        "the restarted member to catch up",
        Duration::from_secs(40),
        || height(&v, "local-0") >= target,
    );
    stop.store(true, Ordering::Relaxed);
    let accepted = load.join().unwrap();
    let missed: Vec<&(Digest, u64)> = accepted
        .iter()
        .filter(|(_, at)| *at > killed_at && *at < restarted_at)
        .collect();
    assert!(
        missed.len() > 20,
        "load ran while the member was down: {}",
        missed.len()
    );
    for (hash, _) in &missed {
        let on_witness = committed(&w, hash);
        let on_victim = committed(&v, hash);
        assert_eq!(on_victim["block"], on_witness["block"]);
    }

    // --- Stop the leader: a view change, then commits resume. ---
    let leader = leader_name(&w);
    let timeouts_before = chain_status(&w, "local-0").unwrap()["views_by_timeout"]
        .as_u64()
        .unwrap();
    net.cluster.terminate(&leader).unwrap();
    let stopped_at = Instant::now();
    let survivors: Vec<&str> = edges.iter().copied().filter(|e| *e != leader).collect();
    let probe = client(&net, survivors[0]);
    wait_until("a new leader", Duration::from_secs(30), || {
        chain_status(&probe, "local-0")
            .is_some_and(|s| members[s["leader"].as_u64().unwrap() as usize] != leader)
    });
    let h_change = height(&probe, "local-0");
    let key2 = TxKeypair::from_seed(&[43; 32]);
    let after: Vec<Transaction> = (0..5)
        .map(|i| signed(&key2, 0, "after-view-change", i))
        .collect();
    for (i, tx) in after.iter().enumerate() {
        let c = client(&net, survivors[i % survivors.len()]);
        assert_eq!(post(&c, tx).status, 202);
    }
    for tx in &after {
        for s in &survivors {
            committed(&client(&net, s), &tx.hash());
        }
    }
    assert!(height(&probe, "local-0") > h_change);
    let status = chain_status(&probe, "local-0").unwrap();
    assert!(
        status["views_by_timeout"].as_u64().unwrap() > timeouts_before,
        "the leader was replaced by a view change: {status}"
    );
    eprintln!(
        "view change and first commits took {:.1}s after stopping the leader",
        stopped_at.elapsed().as_secs_f64()
    );
}

/// Connects to `target` twice: with the network key of `member` (in the
/// genesis; its process is down) sending garbage, and with a fresh key
/// (not in the genesis).
fn intrude(net: &Net, member: &str, target: &str) {
    let h = &net.cluster.hierarchy;
    let target_cfg = strata_actors::NodeConfig::load(&h.node(target).unwrap().config).unwrap();
    let member_cfg = strata_actors::NodeConfig::load(&h.node(member).unwrap().config).unwrap();
    let target_peer: strata_net::PeerId = h.genesis.validators[target].peer_id.parse().unwrap();
    let target_addr: strata_net::Multiaddr = target_cfg.listen.parse().unwrap();
    let topic = strata_actors::service::wire::consensus_topic(ChainId::local(0));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let identities = [
        strata_actors::keys::read_network(&member_cfg.network_key_file).unwrap(),
        strata_net::identity::Keypair::generate_ed25519(),
    ];
    for keypair in identities {
        let cfg = strata_net::NetConfig {
            keypair,
            listen: "/ip4/127.0.42.1/tcp/0".parse().unwrap(),
            dial: vec![(target_peer, target_addr.clone())],
            allowed: [target_peer].into_iter().collect(),
            topics: vec![topic.clone()],
            max_message_bytes: 1 << 20,
            inbound_capacity: 64,
            inbound_peer_bytes: 16 << 20,
            command_capacity: 64,
            request_timeout: Duration::from_secs(3),
        };
        rt.block_on(async {
            let (handle, mut events) = strata_net::start(cfg).unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let mut connected = false;
            while let Ok(Some(e)) = tokio::time::timeout_at(deadline, events.recv()).await {
                if matches!(e, strata_net::NetEvent::PeerConnected(p) if p == target_peer) {
                    connected = true;
                    break;
                }
            }
            if connected {
                let garbage = [vec![0xff; 64], vec![], b"\x00\x01\x02 not scale".to_vec()];
                for garbage in garbage.iter().cycle().take(6).cloned() {
                    let _ = handle.request(target_peer, garbage.clone());
                    let _ = handle.publish(&topic, garbage);
                }
            }
            // Let the messages (or the disconnection) happen.
            let until = tokio::time::Instant::now() + Duration::from_secs(2);
            while let Ok(Some(_)) = tokio::time::timeout_at(until, events.recv()).await {}
        });
    }
}

/// Resident memory of a process, from `/proc/PID/status`.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A member runs the test-only Byzantine mode (`misdeeds`) beside an honest
/// three under load: they keep committing every record they accepted, stay
/// within a memory bound, charge it for each of `reasons` and ban it.
fn byzantine_member_is_banned_while_the_rest_commit(
    octet: u8,
    misdeeds: &str,
    reasons: &[&str],
    secs: u64,
) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let byzantine = "edge-0-3";
    let net = start_with(
        octet,
        1,
        4,
        |s| s,
        |c| {
            c.with_env("STRATA_ALLOW_BYZANTINE", "1")
                .with_node_args(byzantine, &["--byzantine", misdeeds])
        },
    );
    let honest = ["edge-0-0", "edge-0-1", "edge-0-2"];
    let key = Arc::new(TxKeypair::from_seed(&[octet; 32]));
    let stop = Arc::new(AtomicBool::new(false));
    let load = background_load(&net, &honest, key, stop.clone());
    let probe = client(&net, honest[0]);
    let h0 = height(&probe, "local-0");
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let accepted = load.join().unwrap();
    assert!(accepted.len() > 100, "load accepted: {}", accepted.len());
    assert!(
        height(&probe, "local-0") > h0 + 20,
        "the honest members keep committing under {misdeeds}"
    );
    for name in honest {
        let c = client(&net, name);
        for (hash, _) in accepted.iter().step_by(7) {
            committed(&c, hash);
        }
        let metrics = net.cluster.hierarchy.node(name).unwrap().metrics;
        let text = Client::new(&format!("http://{metrics}"))
            .get_text("/metrics")
            .unwrap();
        for reason in reasons {
            assert!(
                metric(
                    &text,
                    &format!("strata_peer_penalties_total{{reason=\"{reason}\"}}")
                ) >= 1.0,
                "{name} charges {reason} ({misdeeds}):\n{text}"
            );
        }
        assert!(
            metric(&text, "strata_peer_bans_total") >= 1.0,
            "{name} bans the member doing {misdeeds}"
        );
        let rss = rss_bytes(net.cluster.pid(name).unwrap());
        assert!(rss < 1 << 30, "{name} holds {rss} bytes");
    }
}

#[test]
fn a_byzantine_member_flooding_forged_batches_and_lying_syncs_is_banned_while_the_rest_commit() {
    byzantine_member_is_banned_while_the_rest_commit(
        44,
        "invalid-batches,lying-sync",
        &[
            "batch_with_invalid_signatures",
            "sync_request_misstating_its_target",
        ],
        8,
    );
}

#[test]
fn a_byzantine_member_sending_garbage_and_oversized_frames_is_banned_while_the_rest_commit() {
    byzantine_member_is_banned_while_the_rest_commit(
        46,
        "malformed-frames",
        &["malformed_message", "oversized_frame"],
        8,
    );
}

#[test]
fn a_byzantine_member_gossiping_bogus_timeout_certificates_is_banned_while_the_rest_commit() {
    byzantine_member_is_banned_while_the_rest_commit(
        47,
        "bogus-timeouts",
        &["timeout_s_timeout_certificate_invalid"],
        8,
    );
}

#[test]
fn an_equivocating_member_is_convicted_and_banned_while_the_rest_commit() {
    byzantine_member_is_banned_while_the_rest_commit(
        48,
        "equivocate",
        &["evidence_of_equivocation"],
        8,
    );
}

#[test]
fn a_member_replaying_its_old_messages_is_banned_while_the_rest_commit() {
    // Its own messages are replayed once 40 newer ones went out (one vote
    // per block, five blocks a second at this load).
    byzantine_member_is_banned_while_the_rest_commit(49, "replay", &["replayed_message"], 16);
}

#[test]
fn a_member_flooding_its_batch_lane_is_banned_while_the_rest_commit() {
    byzantine_member_is_banned_while_the_rest_commit(
        50,
        "lane-flood",
        &["batch_with_invalid_signatures"],
        8,
    );
}
