//! Resource stake with real processes (issue 27, point 4): the testnet's
//! genesis names a provider (`keys/provider.tx`); a validator registered
//! after genesis is off the global roster until it stakes; a declaration
//! whose certificate the provider did not sign, or whose γ(R − Rᵘ)
//! exceeds what the certificate locks, is refused by the node with the
//! reason; a valid one counts with weight ‖X / scaling‖ on the roster.

use std::path::Path;

use strata::client::Client;

use super::strata;

/// The fresh validator's weight on the global roster, as a node says.
fn roster_weight(c: &Client, key: &str) -> Option<u64> {
    c.get_ok(&format!("/v1/stake/{key}")).unwrap()["global"]["roster_weight"].as_u64()
}

fn certify(c: &Client, provider: &Path, key: &str, locked: &str, out: &Path) {
    let out = strata(&[
        "stake",
        "certify",
        "--node",
        c.base(),
        "--provider-key",
        provider.to_str().unwrap(),
        "--validator",
        key,
        "--allocated",
        "8,16384,100000",
        "--locked",
        locked,
        "--expires",
        "1000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "certify: {out:?}");
}

fn declare(c: &Client, keys: &Path, certificate: &Path, usage: &str) -> std::process::Output {
    strata(&[
        "stake",
        "declare",
        "--node",
        c.base(),
        "--keys",
        keys.to_str().unwrap(),
        "--name",
        "fresh-0",
        "--certificate",
        certificate.to_str().unwrap(),
        "--usage",
        usage,
        "--greediness",
        "50,50,50",
    ])
}

/// Stakes `fresh-0` (keys in `keys`) through `c`, after showing the
/// refusals.
pub fn stake_fresh(c: &Client, dir: &Path, keys: &Path, key: &str) {
    assert_eq!(roster_weight(c, key), None, "registered, not staked");
    // Signed by the administrator's key, not the provider's: forged.
    let forged = dir.join("forged.stake.json");
    certify(c, &dir.join("keys/admin.tx"), key, "4,8192,50000", &forged);
    let out = declare(c, keys, &forged, "0,0,0");
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && text.contains("forged"),
        "a forged certificate is refused with the reason: {text}"
    );
    // Half of 8 free CPU slices is 4, but only 2 are locked: over-claimed.
    let short = dir.join("short.stake.json");
    certify(
        c,
        &dir.join("keys/provider.tx"),
        key,
        "2,8192,50000",
        &short,
    );
    let out = declare(c, keys, &short, "0,0,0");
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && text.contains("over-claimed cpu"),
        "an over-claimed stake is refused with the reason: {text}"
    );
    assert_eq!(roster_weight(c, key), None, "nothing refused counts");
    // X = ½·(R − 0) = ⟨4, 8 MiB, 50 Mbps⟩: weight ⌊√(16 + 64 + 2500)⌋ = 50.
    let good = dir.join("fresh-0.stake.json");
    certify(c, &dir.join("keys/provider.tx"), key, "4,8192,50000", &good);
    let out = declare(c, keys, &good, "0,0,0");
    assert!(out.status.success(), "declare: {out:?}");
    assert_eq!(roster_weight(c, key), Some(50));
    let shown = c.get_ok(&format!("/v1/stake/{key}")).unwrap();
    assert_eq!(shown["global"]["stake"]["weight"], 50, "{shown}");
    assert_eq!(shown["global"]["next_sequence"], 1, "{shown}");
}
