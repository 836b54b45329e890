//! The node-facing commands end to end: `strata testnet --json`, `strata
//! bench consensus --json`, `strata init` + the tier binaries + `strata
//! submit` / `strata status`, `strata keygen`, and a tier binary refusing a
//! bad node file with the file and field named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use strata::cluster::Cluster;
use strata::init::Hierarchy;

static SERIAL: Mutex<()> = Mutex::new(());

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("strata runs")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn testnet_json_reports_every_chain() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("timeline.svg");
    let out = stdout(&strata(&[
        "testnet",
        "--json",
        "--duration",
        "4s",
        "--rate",
        "600",
        "--base-port",
        "22000",
        "--plot",
        svg.to_str().unwrap(),
    ]));
    // The timeline: a rate and a latency panel per chain.
    let plot = std::fs::read_to_string(&svg).unwrap();
    for chain in ["global", "local-0", "local-1"] {
        assert!(
            plot.contains(&format!("{chain}: committed tx/s"))
                && plot.contains(&format!("{chain}: commit latency p50")),
            "{chain}"
        );
    }
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    let chains = v["chains"].as_array().unwrap();
    let names: Vec<&str> = chains
        .iter()
        .map(|c| c["chain"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["global", "local-0", "local-1"]);
    for c in chains {
        for field in [
            "committed_tx",
            "committed_tps",
            "latency_p50_ms",
            "latency_p99_ms",
            "views",
            "timeouts",
        ] {
            assert!(c.get(field).is_some(), "{field} missing: {c}");
        }
        assert!(c["committed_tx"].as_u64().unwrap() > 0, "{c}");
        assert!(c["latency_p50_ms"].as_f64().unwrap() > 0.0, "{c}");
        assert!(
            c["latency_p99_ms"].as_f64() >= c["latency_p50_ms"].as_f64(),
            "{c}"
        );
    }
}

/// `--certificate multisig,threshold`: each rate runs once per kind on
/// the same epochs, the threshold committee measured once its DKG's group
/// key certifies (epoch 1 on).
#[test]
fn bench_consensus_runs_each_certificate_kind_side_by_side() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("curve.svg");
    let out = stdout(&strata(&[
        "bench",
        "consensus",
        "--json",
        "--plot",
        svg.to_str().unwrap(),
        "--nodes",
        "4",
        "--rate",
        "500",
        "--duration",
        "4s",
        "--certificate",
        "multisig,threshold",
        "--epoch-length",
        "64",
        "--host",
        "127.0.44.2",
        "--base-port",
        "23100",
    ]));
    let runs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per run"))
        .collect();
    assert_eq!(runs.len(), 2, "{out}");
    for (v, kind) in runs.iter().zip(["multisig", "threshold"]) {
        assert_eq!(v["certificate"], kind, "{v}");
        assert_eq!(v["epoch_length"], 64, "{v}");
        assert!(v["committed_tps"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v["e2e_latency_p50_ms"].as_f64().unwrap() > 0.0, "{v}");
    }
    // The curve: one p50 and one p99 line per kind, and the ceiling.
    let plot = std::fs::read_to_string(&svg).unwrap();
    for kind in ["multisig", "threshold"] {
        assert!(
            plot.contains(&format!("hotstuff signed {kind} p50"))
                && plot.contains(&format!("hotstuff signed {kind} p99")),
            "{kind}"
        );
    }
    assert!(plot.contains("verification ceiling"));
    for (args, why) in [
        (&["--epoch-length", "8"][..], "below 64"),
        (
            &["--certificate", "threshold", "--payload", "opaque"][..],
            "need --payload signed",
        ),
    ] {
        let bad = strata(&[&["bench", "consensus"][..], args].concat());
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert!(!bad.status.success() && stderr.contains(why), "{stderr}");
    }
}

#[test]
fn bench_consensus_json_has_the_figures() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for payload in ["signed", "opaque"] {
        let out = stdout(&strata(&[
            "bench",
            "consensus",
            "--json",
            "--nodes",
            "4",
            "--rate",
            "800",
            "--tx-size",
            "512",
            "--duration",
            "4s",
            "--payload",
            payload,
            "--senders-per-node",
            "3",
            "--host",
            "127.0.44.1",
            "--base-port",
            "23000",
        ]));
        let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
        assert_eq!(v["nodes"], 4);
        assert_eq!(v["rate"], 800);
        assert_eq!(v["tx_size"], 512);
        assert_eq!(v["payload"], payload);
        assert!(v["duration_s"].as_f64().unwrap() >= 3.9);
        assert!(v["committed_tps"].as_f64().unwrap() > 0.0, "{v}");
        // The whole load goes out, and never faster than asked.
        let sent = v["sent_tps"].as_f64().unwrap();
        assert!(sent > 0.0 && sent <= 800.0 * 1.01, "{v}");
        assert!(v["sender_max_lag_ms"].is_u64(), "{v}");
        for field in [
            "e2e_latency_p50_ms",
            "e2e_latency_p99_ms",
            "consensus_latency_p50_ms",
            "node_cpu_cores",
            "node_cpu_us_per_tx",
            "node_cpu_ms_per_view",
            "node_cpu_ms_per_block",
        ] {
            assert!(v[field].as_f64().unwrap() > 0.0, "{field}: {v}");
        }
        assert!(v["blocks"].as_u64().unwrap() > 0, "{v}");
        // Read from /proc: the nodes cannot keep more cores busy than exist.
        let cores = std::thread::available_parallelism().unwrap().get() as f64;
        assert!(v["node_cpu_cores"].as_f64().unwrap() <= cores + 0.5, "{v}");
        // The verification ceiling is measured for signed records only.
        let ceiling = [
            "sr25519_batch_verify_us",
            "verify_ceiling_tps",
            "sr25519_batch_verify_load_us",
            "load_verify_ceiling_tps",
            "ceiling_fraction",
        ];
        if payload == "signed" {
            assert_eq!(v["senders"], 12, "{v}");
            let mut tps = 0.0;
            for (cost, ceiling) in [
                ("sr25519_batch_verify_us", "verify_ceiling_tps"),
                ("sr25519_batch_verify_load_us", "load_verify_ceiling_tps"),
            ] {
                let us = v[cost].as_f64().unwrap();
                tps = v[ceiling].as_f64().unwrap();
                assert!(us > 0.0 && tps > 0.0, "{v}");
                assert!(
                    (tps - cores * 1e6 / (4.0 * us)).abs() <= 1.0 + tps * 1e-3,
                    "{v}"
                );
            }
            // Against the load's own ceiling (the last pair above).
            let fraction = v["ceiling_fraction"].as_f64().unwrap();
            let expected = v["committed_tps"].as_f64().unwrap() / tps;
            assert!((fraction - expected).abs() < 0.002, "{v}");
        } else {
            assert!(v["senders"].is_null(), "{v}");
            for field in ceiling {
                assert!(v[field].is_null(), "{field}: {v}");
            }
        }
    }
    let bad = strata(&["bench", "consensus", "--nodes", "0"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--nodes"));
    for senders in ["0", "1000001"] {
        let bad = strata(&["bench", "consensus", "--senders-per-node", senders]);
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("--senders-per-node"));
    }
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_strata-cloud"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn init_submit_status_keygen_and_config_errors() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let o = stdout(&strata(&[
        "init",
        "--out",
        out.to_str().unwrap(),
        "--cloud",
        "1",
        "--domains",
        "1",
        "--edge-per-domain",
        "1",
        "--iot-per-domain",
        "1",
        "--host",
        "127.0.45.1",
        "--base-port",
        "24000",
    ]));
    assert!(
        o.contains("strata-edge --config") && o.contains("strata-iot --config"),
        "{o}"
    );
    // A second init into the same directory is refused.
    assert!(!strata(&["init", "--out", out.to_str().unwrap()])
        .status
        .success());

    let h = Hierarchy::open(&out).unwrap();
    assert_eq!(h.nodes.len(), 3);
    let mut cluster = Cluster::new(h.clone(), bin_dir());
    cluster.start_all(Duration::from_secs(30)).unwrap();
    let edge = h.node("edge-0-0").unwrap().api_url();
    let key = out.join("keys/client.tx");
    let data = dir.path().join("reading.json");
    std::fs::write(&data, b"{\"celsius\": 21.5}").unwrap();
    let o = stdout(&strata(&[
        "submit",
        "--node",
        &edge,
        "--key",
        key.to_str().unwrap(),
        "--object",
        "greenhouse/temp",
        "--op",
        "create",
        "--payload",
        data.to_str().unwrap(),
        "--meta",
        "unit=celsius",
        "--wait",
    ]));
    let v: Value = serde_json::from_str(o.trim()).unwrap();
    assert_eq!(v["state"]["status"], "committed", "{v}");
    assert_eq!(v["state"]["chain"], "local-0");
    // The IoT light client forwards a submission upstream.
    let iot = h.node("iot-0-0").unwrap().api_url();
    let o = stdout(&strata(&[
        "submit",
        "--node",
        &iot,
        "--key",
        key.to_str().unwrap(),
        "--object",
        "greenhouse/humidity",
    ]));
    assert!(o.contains("hash"), "{o}");
    // The light client checks the upstream's proof of commit (headers up
    // to the two-phase commit rule, the last certified) against the
    // genesis alone.
    let hash = serde_json::from_str::<Value>(o.trim()).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let light = strata::client::Client::new(&iot);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let a = light.get(&format!("/v1/tx/{hash}")).unwrap();
        if a.body["verified"] == true {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the light client never verified {hash}: {}",
            a.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The light client serves its metrics: the headers it follows, the
    // record it forwarded, the lookup it verified.
    let metrics_url = format!("http://{}", h.node("iot-0-0").unwrap().metrics);
    let value = |text: &str, name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    };
    let followed = "strata_light_followed_height{chain=\"local-0\"}";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = strata::client::Client::new(&metrics_url)
            .get_text("/metrics")
            .unwrap();
        if value(&text, followed) >= 1.0 {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        value(&text, "strata_light_forwarded_total{outcome=\"accepted\"}"),
        1.0,
        "{text}"
    );
    assert!(
        value(&text, "strata_light_lookups_total{verdict=\"verified\"}") >= 1.0,
        "{text}"
    );
    assert!(
        value(&text, "strata_data_dir_capacity_bytes") > 0.0,
        "{text}"
    );
    let bad_op = strata(&["submit", "--key", "k", "--object", "o", "--op", "explode"]);
    assert!(!bad_op.status.success());
    let s = stdout(&strata(&["status", "--node", &edge]));
    assert!(s.contains("local-0") && s.contains("two-phase"), "{s}");
    let j: Value =
        serde_json::from_str(stdout(&strata(&["status", "--node", &edge, "--json"])).trim())
            .unwrap();
    assert!(
        j["chains"][0]["committed_transactions"].as_u64().unwrap() >= 1,
        "{j}"
    );
    // Version, genesis digest, peers, and per chain what it executed and
    // whether it is catching up.
    assert_eq!(j["version"], env!("CARGO_PKG_VERSION"), "{j}");
    assert_eq!(j["network"], h.genesis.digest.to_hex(), "{j}");
    assert!(j["peers"].is_i64(), "{j}");
    let c = &j["chains"][0];
    assert!(c["executed_height"].as_u64().unwrap() >= 1, "{j}");
    assert!(c["certified_height"].is_u64(), "{j}");
    assert_eq!(c["catching_up"], false, "{j}");
    assert!(
        s.contains(&format!("genesis {}", h.genesis.digest.to_hex()))
            && s.contains(&format!("strata {}", env!("CARGO_PKG_VERSION")))
            && s.contains("in step"),
        "{s}"
    );
    // A client without SCALE: the record as JSON, the digest to sign from
    // the node, the signature over those 32 bytes, the record posted as
    // JSON, committed (README, "Submitting without SCALE").
    let api = strata::client::Client::new(&edge);
    let device = strata_crypto::sr25519::TxKeypair::from_seed(&[42; 32]);
    let record = serde_json::json!({
        "network": j["network"],
        "domain": 0,
        "object_id": "greenhouse/co2",
        "op": "create",
        "payload_digest": strata_crypto::hash::Digest::of("data", b"412 ppm").to_hex(),
        "meta": [{"key": "unit", "value": "ppm"}],
        "sender": hex::encode(device.public().to_bytes()),
        "nonce": 0,
        "timestamp_ms": 1_733_000_000_000u64,
    });
    let digest = api.signing_digest(&record).unwrap();
    assert_eq!(digest["context"], "strata/tx/v1");
    let to_sign = hex::decode(digest["signing_digest"].as_str().unwrap()).unwrap();
    let signature = hex::encode(device.sign(&to_sign).to_bytes());
    let post = |signature: &str| {
        let body = serde_json::json!({ "record": record, "signature": signature }).to_string();
        api.post("/v1/tx", "application/json", body.as_bytes())
            .unwrap()
    };
    // A field out of shape is named; a wrong signature is refused.
    let mut bad = record.clone();
    bad["op"] = "explode".into();
    let a = api
        .post(
            "/v1/tx",
            "application/json",
            serde_json::json!({ "record": bad, "signature": signature })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("op:"),
        "{}",
        a.body
    );
    let forged = post(&hex::encode([7u8; 64]));
    assert_eq!(forged.status / 100, 4, "{}", forged.body);
    let hash = api.submit_json(&record, &signature).unwrap();
    let state = api
        .tx(
            &hash,
            Some((strata::client::Level::Local, Duration::from_secs(30))),
        )
        .unwrap();
    assert_eq!(state["state"]["status"], "committed", "{state}");
    // A second copy of a running node (same ports; same or another data
    // directory) stops with what is in the way, not a panic.
    let cloud_file = out.join("cloud-0.toml");
    let copy = out.join("cloud-0-copy.toml");
    let text = std::fs::read_to_string(&cloud_file).unwrap();
    assert!(text.contains("data_dir = \"data/cloud-0\""), "{text}");
    std::fs::write(&copy, text.replace("data/cloud-0\"", "data/cloud-0-copy\"")).unwrap();
    for (file, why) in [(&cloud_file, "LOCK"), (&copy, "Address already in use")] {
        let o = Command::new(bin_dir().join("strata-cloud"))
            .args(["--config", file.to_str().unwrap()])
            .env("STRATA_LOG", "warn")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains(why) && !err.contains("internal error"),
            "{err}"
        );
    }
    drop(cluster);

    // A data directory serves the genesis it was written under: an edited
    // genesis (here its network name) is refused with both digests, not
    // silently started as a new network on the old data.
    let genesis_file = out.join("genesis.toml");
    let genesis = std::fs::read_to_string(&genesis_file).unwrap();
    assert!(out.join("data/cloud-0/GENESIS").exists());
    let edited = genesis.replacen("network = \"", "network = \"edited-", 1);
    assert_ne!(edited, genesis);
    std::fs::write(&genesis_file, edited).unwrap();
    let o = Command::new(bin_dir().join("strata-cloud"))
        .args(["--config", cloud_file.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("written under genesis"), "{err}");
    std::fs::write(&genesis_file, genesis).unwrap();
    // Every binary says its version.
    for bin in ["strata", "strata-cloud", "strata-edge", "strata-iot"] {
        let o = Command::new(bin_dir().join(bin))
            .arg("--version")
            .output()
            .unwrap();
        let v = stdout(&o);
        assert!(
            v.starts_with(bin) && v.contains(env!("CARGO_PKG_VERSION")),
            "{v}"
        );
    }

    let keys = dir.path().join("newkeys");
    let k = stdout(&strata(&[
        "keygen",
        "--out",
        keys.to_str().unwrap(),
        "--name",
        "edge-9",
        "--tier",
        "edge",
        "--domain",
        "0",
    ]));
    assert!(
        k.contains("[[validators]]") && k.contains("name = \"edge-9\""),
        "{k}"
    );
    assert!(
        k.contains("bls_key") && k.contains("pop") && k.contains("peer_id"),
        "{k}"
    );
    assert!(keys.join("edge-9.bls").exists() && keys.join("edge-9.p2p").exists());
    // Refuses to overwrite an existing key.
    assert!(!strata(&[
        "keygen",
        "--out",
        keys.to_str().unwrap(),
        "--name",
        "edge-9"
    ])
    .status
    .success());

    // A wrong field in a node file: the binary names the file and field.
    let node_file = out.join("edge-0-0.toml");
    let text = std::fs::read_to_string(&node_file).unwrap();
    let broken = text.replace("api = \"127.0.45.1:", "api = \"not-an-address:");
    std::fs::write(&node_file, broken).unwrap();
    let o = Command::new(bin_dir().join("strata-edge"))
        .args(["--config", node_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("edge-0-0.toml") && err.contains("api"),
        "{err}"
    );
    // The wrong tier binary is refused too.
    let o = Command::new(bin_dir().join("strata-cloud"))
        .args(["--config", out.join("iot-0-0.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("strata-iot"));
}
