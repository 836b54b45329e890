//! `strata keygen`, `strata submit` and `strata status`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use parity_scale_codec::Encode;
use strata_actors::config::ValidatorEntry;
use strata_actors::keys;
use strata_actors::Tier;
use strata_chains::types::{domain_of, GLOBAL_DOMAIN};
use strata_chains::types::{MetaEntry, ObjectId, Op, Provenance, Transaction};
use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::hash::Digest;

use crate::client::{Client, Level};

#[derive(Clone, Debug, clap::Args)]
pub struct KeygenArgs {
    /// Directory for the key files.
    #[arg(long, default_value = "keys")]
    pub out: PathBuf,
    /// The validator's name (the key files are NAME.bls, NAME.p2p, NAME.tx,
    /// NAME.vrf and NAME.pvss).
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum, default_value = "edge")]
    pub tier: TierArg,
    /// The edge domain of an edge or IoT validator.
    #[arg(long)]
    pub domain: Option<u32>,
    #[arg(long, default_value_t = 1)]
    pub weight: u64,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum TierArg {
    Cloud,
    Edge,
    Iot,
}

impl From<TierArg> for Tier {
    fn from(t: TierArg) -> Tier {
        match t {
            TierArg::Cloud => Tier::Cloud,
            TierArg::Edge => Tier::Edge,
            TierArg::Iot => Tier::Iot,
        }
    }
}

/// Writes a validator's secrets and returns its `[[validators]]` entry
/// for the genesis (TOML).
pub fn keygen(args: &KeygenArgs) -> Result<String, String> {
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "--name {:?}: use letters, digits, '-' and '_'",
            args.name
        ));
    }
    let k = keys::generate();
    let file = |ext: &str| args.out.join(format!("{}.{ext}", args.name));
    let secrets = [
        ("bls", &k.bls),
        ("p2p", &k.network),
        ("tx", &k.tx),
        ("vrf", &k.vrf),
        ("pvss", &k.pvss),
    ];
    for (ext, _) in secrets {
        if file(ext).exists() {
            return Err(format!(
                "{} exists; refusing to overwrite a key",
                file(ext).display()
            ));
        }
    }
    for (ext, secret) in secrets {
        if file(ext).exists() {
            return Err(format!(
                "{} exists; refusing to overwrite a key",
                file(ext).display()
            ));
        }
        keys::write_secret(&file(ext), secret).map_err(|e| e.to_string())?;
    }
    let entry = crate::init::validator_entry(
        &args.name,
        args.tier.into(),
        args.domain,
        &k,
        args.weight,
        0,
    )
    .map_err(|e| e.to_string())?;
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        validators: [&'a ValidatorEntry; 1],
    }
    toml::to_string(&Entry {
        validators: [&entry],
    })
    .map_err(|e| e.to_string())
}

#[derive(Clone, Debug, clap::Args)]
pub struct SubmitArgs {
    /// API of the node to submit to.
    #[arg(long, default_value = "http://127.0.0.1:17001")]
    pub node: String,
    /// The sender's transaction key (hex seed; `strata init` writes
    /// keys/client.tx).
    #[arg(long)]
    pub key: PathBuf,
    /// The object the record is about.
    #[arg(long)]
    pub object: String,
    /// create, read, update, transfer, derive or delete.
    #[arg(long, default_value = "update")]
    pub op: Op,
    /// A file whose SHA-256 digest the record carries (the data stays
    /// off-chain).
    #[arg(long)]
    pub payload: Option<PathBuf>,
    /// Objects this one derives from (repeatable).
    #[arg(long)]
    pub parent: Vec<String>,
    /// Metadata entries key=value (repeatable).
    #[arg(long)]
    pub meta: Vec<String>,
    /// Record the object on the global chain instead of its edge domain.
    #[arg(long)]
    pub global: bool,
    /// Per-sender nonce (default: microseconds since the Unix epoch).
    #[arg(long)]
    pub nonce: Option<u64>,
    /// The receipt (JSON, from `strata receipt`) of a parent record in
    /// another domain, globally final (repeatable): its object becomes a
    /// parent, the record names it by hash, and the receipt travels with
    /// the record (a linked record).
    #[arg(long)]
    pub parent_receipt: Vec<PathBuf>,
    /// Wait until the record reaches a commit level (local: committed on
    /// its chain; global: anchored on the global chain, the anchor final)
    /// and print its status; `--wait` alone waits for local.
    #[arg(long, num_args = 0..=1, default_missing_value = "local", value_parser = ["local", "global"])]
    pub wait: Option<String>,
}

fn bytes<const N: usize>(what: &str, v: &[u8]) -> Result<BoundedBytes<N>, String> {
    BoundedBytes::new(v.to_vec()).map_err(|e| format!("{what}: {e}"))
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn payload_digest(path: Option<&Path>) -> Result<Digest, String> {
    match path {
        Some(p) => std::fs::read(p)
            .map(|data| Digest::of("strata/data", &data))
            .map_err(|e| format!("{}: {e}", p.display())),
        None => Ok(Digest::ZERO),
    }
}

/// Builds, signs and submits one record; returns the node's answer.
pub fn submit(args: &SubmitArgs) -> Result<serde_json::Value, String> {
    let key = keys::read_tx_key(&args.key).map_err(|e| e.to_string())?;
    let client = Client::new(&args.node);
    let status = client.status().map_err(|e| e.to_string())?;
    let domains = status["domains"].as_u64().unwrap_or(0) as u32;
    let network = status["network"]
        .as_str()
        .and_then(|h| Digest::from_hex(h).ok())
        .ok_or_else(|| format!("{} does not name its network in /v1/status", args.node))?;
    let domain = if args.global || domains == 0 {
        GLOBAL_DOMAIN
    } else {
        domain_of(args.object.as_bytes(), domains)
    };
    let meta = args
        .meta
        .iter()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("--meta {kv:?}: expected key=value"))?;
            Ok(MetaEntry {
                key: bytes("--meta key", k.as_bytes())?,
                value: bytes("--meta value", v.as_bytes())?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut parents = args
        .parent
        .iter()
        .map(|p| bytes("--parent", p.as_bytes()))
        .collect::<Result<Vec<ObjectId>, String>>()?;
    let mut meta = meta;
    let mut linked = Vec::new();
    for path in &args.parent_receipt {
        let receipt = parent_receipt(path)?;
        let object = receipt.record.record.object_id.clone();
        if !parents.contains(&object) {
            parents.push(object);
        }
        meta.push(MetaEntry {
            key: bytes("parent-record", strata_chains::types::PARENT_RECORD_KEY)?,
            value: bytes("parent-record", receipt.tx_hash().to_hex().as_bytes())?,
        });
        linked.push(receipt);
    }
    let record = Provenance {
        network,
        domain,
        object_id: bytes("--object", args.object.as_bytes())?,
        op: args.op,
        payload_digest: payload_digest(args.payload.as_deref())?,
        parents: BoundedVec::new(parents).map_err(|e| format!("--parent: {e}"))?,
        meta: BoundedVec::new(meta).map_err(|e| format!("--meta: {e}"))?,
        sender: key.public(),
        nonce: args.nonce.unwrap_or_else(now_micros),
        timestamp_ms: now_micros() / 1000,
    };
    let signed = record.sign(&key);
    let tx = if linked.is_empty() {
        Transaction::Provenance(signed)
    } else {
        Transaction::Linked(Box::new(strata_chains::types::LinkedRecord {
            record: signed,
            parents: BoundedVec::new(linked).map_err(|e| format!("--parent-receipt: {e}"))?,
        }))
    };
    let hash = client.submit(&tx.encode()).map_err(|e| e.to_string())?;
    let Some(level) = &args.wait else {
        return Ok(serde_json::json!({ "hash": hash }));
    };
    let wait = if level == "global" {
        Level::Global
    } else {
        Level::Local
    };
    let status = client
        .tx(&hash, Some((wait, std::time::Duration::from_secs(30))))
        .map_err(|e| e.to_string())?;
    // Global is further than local.
    let reached = status["level"].as_str();
    if reached != Some(level.as_str()) && reached != Some("global") {
        return Err(format!(
            "the record did not reach {level} within 30 s: {status}"
        ));
    }
    Ok(status)
}

/// A parent record's receipt, read from a JSON receipt file.
fn parent_receipt(path: &Path) -> Result<strata_chains::types::ParentReceipt, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: strata_chains::anchor::ReceiptJson =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let receipt = json
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (record, links) = match receipt.tx {
        Transaction::Provenance(p) => (p, None),
        Transaction::Linked(l) => {
            let links = l.links();
            (l.record, Some(links))
        }
        _ => return Err(format!("{}: not the receipt of a record", path.display())),
    };
    let history = BoundedVec::new(receipt.history.into_inner())
        .map_err(|e| format!("{}: committee history: {e}", path.display()))?;
    Ok(strata_chains::types::ParentReceipt {
        record,
        links,
        block: receipt.block,
        finality: receipt.finality,
        history,
    })
}

/// A node's `/v1/status` as a table.
pub fn status_table(status: &serde_json::Value) -> String {
    let network = status["network"].as_str().unwrap_or("?");
    let mut out = format!(
        "node {} ({}), strata {}, up {}s, {} peers\ngenesis {}\n{:<10} {:<10} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9} {:>12} {:>8} {:>12}\n",
        status["node"].as_str().unwrap_or("?"),
        status["tier"].as_str().unwrap_or("?"),
        status["version"].as_str().unwrap_or("?"),
        status["uptime_s"],
        status["peers"],
        network,
        "chain",
        "protocol",
        "height",
        "executed",
        "cert'd",
        "view",
        "leader",
        "me",
        "timeouts",
        "committed_tx",
        "pending",
        "state"
    );
    for c in status["chains"].as_array().into_iter().flatten() {
        let state = if c["catching_up"] == true {
            "catching up"
        } else {
            "in step"
        };
        out += &format!(
            "{:<10} {:<10} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9} {:>12} {:>8} {:>12}\n",
            c["chain"].as_str().unwrap_or("?"),
            c["protocol"].as_str().unwrap_or("?"),
            c["committed_height"],
            c["executed_height"],
            c["certified_height"],
            c["view"],
            c["leader"],
            c["me"],
            c["local_timeouts"],
            c["committed_transactions"],
            c["pending_transactions"],
            state
        );
    }
    out
}

/// `strata state`: fetches a key's state proof from `node` and checks it
/// against the genesis at `genesis_path`; the verdict as JSON (the proven
/// value, and the object head decoded for an object key).
pub fn prove_state(
    node: &str,
    genesis_path: &std::path::Path,
    key: &str,
    chain: Option<&str>,
) -> Result<serde_json::Value, String> {
    use strata_chains::execution::{nonce_window_key, object_key, ObjectHead};
    let genesis = strata_actors::config::Genesis::load(genesis_path).map_err(|e| e.to_string())?;
    let raw = if let Some(id) = key.strip_prefix("object:") {
        object_key(id.as_bytes())
    } else if let Some(rest) = key.strip_prefix("nonces:") {
        let (sender, nonce) = rest.split_once(':').ok_or("nonces:<sender hex>:<nonce>")?;
        let sender: [u8; 32] = hex::decode(sender)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("a sender is 64 hexadecimal characters")?;
        nonce_window_key(&sender, nonce.parse().map_err(|_| "a nonce is a number")?)
    } else {
        hex::decode(key).map_err(|_| "a key is object:<id>, nonces:<sender>:<nonce> or hex")?
    };
    let path_key: String = url_escape(key);
    let query = chain.map(|c| format!("?chain={c}")).unwrap_or_default();
    let proof = crate::client::Client::new(node)
        .get_ok(&format!("/v1/state/{path_key}/proof{query}"))
        .map_err(|e| e.to_string())?;
    let value = strata_actors::tier::light::check_state_proof(&genesis, &raw, &proof)
        .map_err(|e| format!("the proof does not verify: {e}"))?;
    let object = value.as_ref().and_then(|v| {
        raw.starts_with(strata_chains::execution::OBJECT_KEY_PREFIX)
            .then(|| <ObjectHead as parity_scale_codec::Decode>::decode(&mut &v[..]).ok())
            .flatten()
    });
    Ok(serde_json::json!({
        "verified": true,
        "chain": proof["chain"],
        "key": key,
        "state_height": proof["state_height"],
        "state_root": proof["state_root"],
        "value": value.map(hex::encode),
        "object": object,
    }))
}

/// Percent-escapes what a path segment cannot hold as is.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
