//! Accountability with real processes (issue 27, point 6): a member of a
//! dynasty chain running the test-only Byzantine mode `equivocate` signs
//! conflicting votes and blocks beside its honest ones. The honest members
//! catch it, post the proof as an `Evidence` transaction, and the chain
//! convicts it: `GET /v1/committee` lists the conviction, the member is
//! off the roster (`GET /v1/stake` names no weight), no committee decided
//! after the conviction seats it, and the epochs that end after it pay it
//! nothing while they pay the honest members; the chain keeps committing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parity_scale_codec::Encode;
use serde_json::Value;
use strata::client::Client;
use strata::init::{EpochSpec, HierarchySpec};
use strata_crypto::sr25519::TxKeypair;

mod common;
use common::*;

const CHAIN: &str = "local-0";

fn committee(c: &Client) -> Value {
    c.get_ok(&format!("/v1/committee/{CHAIN}")).unwrap()
}

fn epoch_members(c: &Client, e: u64) -> Option<Vec<String>> {
    let v = c.get_ok(&format!("/v1/epoch/{CHAIN}/{e}")).ok()?;
    Some(
        v["members"]
            .as_array()?
            .iter()
            .filter_map(|m| m["key"].as_str().map(str::to_string))
            .collect(),
    )
}

#[test]
fn an_equivocating_member_of_a_dynasty_chain_is_convicted_loses_its_weight_and_earns_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let byzantine = "edge-0-3";
    // Five edge validators, committees of four: once the equivocator is
    // off the roster the four honest ones still fill a committee.
    let net = start_with(
        73,
        4,
        5,
        |s| HierarchySpec {
            epochs: Some(EpochSpec {
                epoch_length: 64,
                committee_size: 4,
                threshold: Vec::new(),
            }),
            ..s
        },
        |c| {
            c.with_env("STRATA_ALLOW_BYZANTINE", "1")
                .with_node_args(byzantine, &["--byzantine", "equivocate"])
        },
    );
    let key = hex::encode(
        net.cluster.hierarchy.genesis.validators[byzantine]
            .key
            .to_bytes(),
    );
    let honest = client(&net, "edge-0-0");
    assert!(
        epoch_members(&honest, 0).is_some_and(|m| m.contains(&key)),
        "{byzantine} serves epoch 0"
    );
    // A light load keeps blocks coming.
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let c = Client::with_timeout(honest.base(), Duration::from_secs(2));
        let stop = stop.clone();
        std::thread::spawn(move || {
            let tx_key = TxKeypair::from_seed(&[73; 32]);
            for nonce in 0..20_000u64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let _ = c.post(
                    "/v1/tx",
                    "application/octet-stream",
                    &signed(&tx_key, 0, &format!("acct-{}", nonce % 17), nonce).encode(),
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let mut conviction = Value::Null;
    wait_until(
        "the chain to convict the equivocator",
        Duration::from_secs(120),
        || {
            conviction = committee(&honest)["convicted"]
                .as_array()
                .and_then(|a| a.iter().find(|c| c["validator"] == key.as_str()))
                .cloned()
                .unwrap_or(Value::Null);
            !conviction.is_null()
        },
    );
    assert!(
        conviction["kind"]
            .as_str()
            .is_some_and(|k| k.contains("equivoc")),
        "{conviction}"
    );
    let convicted_at = conviction["height"].as_u64().unwrap();
    let epoch_then = committee(&honest)["current"]["epoch"].as_u64().unwrap();
    eprintln!("{byzantine} convicted at height {convicted_at}, in epoch {epoch_then}");

    // Weight zero from then on: off the roster at once, and no committee
    // decided after the conviction seats it.
    let stake = honest.get_ok(&format!("/v1/stake/{key}")).unwrap();
    let here = stake["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["chain"] == CHAIN)
        .cloned()
        .unwrap();
    assert!(here["roster_weight"].is_null(), "{stake}");
    let later = epoch_then + 2;
    wait_until(
        "two epochs past the conviction",
        Duration::from_secs(180),
        || committee(&honest)["current"]["epoch"].as_u64().unwrap_or(0) > later,
    );
    for e in epoch_then + 1..=later {
        let members = epoch_members(&honest, e).unwrap();
        assert_eq!(members.len(), 4, "epoch {e}: {members:?}");
        assert!(!members.contains(&key), "epoch {e} seats no convict");
    }
    // Paid nothing by the epochs that ended since; the honest are paid.
    for e in epoch_then..later {
        let paid = honest
            .get_ok(&format!("/v1/rewards/{CHAIN}/epochs/{e}"))
            .unwrap();
        let payments = paid["payments"].as_array().unwrap();
        let to = |k: &str| {
            payments
                .iter()
                .filter(|p| p["validator"] == k)
                .map(|p| p["leader"].as_u64().unwrap_or(0) + p["voter"].as_u64().unwrap_or(0))
                .sum::<u64>()
        };
        assert_eq!(to(&key), 0, "epoch {e} pays the convict nothing: {paid}");
        let total: u64 = payments
            .iter()
            .map(|p| p["leader"].as_u64().unwrap_or(0) + p["voter"].as_u64().unwrap_or(0))
            .sum();
        assert!(total > 0, "epoch {e} pays the honest members: {paid}");
    }
    let balance = honest
        .get_ok(&format!("/v1/rewards/{key}?chain={CHAIN}"))
        .unwrap();
    assert_eq!(balance["total"], 0, "{balance}");
    stop.store(true, Ordering::Relaxed);
    loader.join().unwrap();
}
