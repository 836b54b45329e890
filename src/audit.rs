//! `strata export` and `strata audit`: a whole chain fetched from a node
//! into a directory, and re-verified from it with the genesis alone
//! (`strata_chains::audit`).
//!
//! An export directory holds `export.json` (the chain, the network, the
//! tip), `blocks.scale` (each committed block from the genesis with the
//! batches it names: a little-endian u32 length, then the SCALE
//! `ExportedBlock`) and, when given, `genesis.toml`.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use parity_scale_codec::Encode;
use strata_chains::audit::{AuditReport, Auditor, ExportedBlock};

use strata_crypto::codec::decode_message;

use crate::client::Client;

/// The largest block record read back (a block of the largest size with
/// its batches).
const MAX_RECORD: usize = 1 << 30;

use crate::parse_chain_arg as parse_chain;

/// Fetches every committed block of `chain` from `node` into `dir`; the
/// number of blocks written.
pub fn export(node: &str, chain: &str, dir: &Path, genesis: Option<&Path>) -> Result<u64, String> {
    let id = parse_chain(chain)?;
    let client = Client::new(node);
    let status = client.status().map_err(|e| e.to_string())?;
    let tip = status["chains"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["chain"] == id.to_string()))
        .and_then(|c| c["committed_height"].as_u64())
        .ok_or_else(|| format!("{node} does not serve {id}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("blocks.scale");
    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BufWriter::new(file);
    let mut next = 0u64;
    while next <= tip {
        let bytes = client
            .export(&id.to_string(), next, 256, 64 << 20)
            .map_err(|e| e.to_string())?;
        let blocks: Vec<ExportedBlock> =
            decode_message(&bytes, 64 << 20).map_err(|e| format!("{node}: {e}"))?;
        if blocks.is_empty() {
            return Err(format!("{node} has no block {next} of {id} (tip {tip})"));
        }
        for b in blocks {
            if b.block.header.height != next {
                return Err(format!(
                    "{node} sent height {} for {next}",
                    b.block.header.height
                ));
            }
            let record = b.encode();
            let len = u32::try_from(record.len()).map_err(|_| "a block over 4 GiB")?;
            out.write_all(&len.to_le_bytes())
                .and_then(|_| out.write_all(&record))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            next += 1;
            if next > tip {
                break;
            }
        }
    }
    out.flush()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = serde_json::json!({
        "chain": id.to_string(),
        "network": status["network"],
        "tip": tip,
        "blocks": next,
    });
    std::fs::write(dir.join("export.json"), format!("{meta:#}\n"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    if let Some(g) = genesis {
        std::fs::copy(g, dir.join("genesis.toml")).map_err(|e| format!("{}: {e}", g.display()))?;
    }
    Ok(next)
}

/// Why an audit did not pass.
#[derive(Debug, thiserror::Error)]
pub enum AuditFailure {
    #[error("{0}")]
    Input(String),
    #[error("the chain does not verify at {0}")]
    Block(strata_chains::audit::AuditError),
}

/// Re-verifies the export in `dir` against the genesis (`genesis`, else
/// the export's `genesis.toml`).
pub fn audit(dir: &Path, genesis: Option<&Path>) -> Result<AuditReport, AuditFailure> {
    let input = AuditFailure::Input;
    let meta: serde_json::Value = std::fs::read(dir.join("export.json"))
        .map_err(|e| input(format!("{}: {e}", dir.join("export.json").display())))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| input(format!("export.json: {e}"))))?;
    let chain = parse_chain(meta["chain"].as_str().unwrap_or("")).map_err(input)?;
    let genesis_path: PathBuf = genesis.map_or_else(|| dir.join("genesis.toml"), Path::to_path_buf);
    let genesis =
        strata_actors::config::Genesis::load(&genesis_path).map_err(|e| input(e.to_string()))?;
    let domains = genesis.domains().count() as u32;
    let mut auditor = Auditor::new(&genesis.state, chain, domains).map_err(AuditFailure::Block)?;
    let path = dir.join("blocks.scale");
    let file = std::fs::File::open(&path).map_err(|e| input(format!("{}: {e}", path.display())))?;
    let mut reader = BufReader::new(file);
    loop {
        let mut len = [0u8; 4];
        match reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(input(format!("{}: {e}", path.display()))),
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_RECORD {
            return Err(input(format!(
                "{}: a record of {len} bytes",
                path.display()
            )));
        }
        // Read as the bytes arrive: a length that lies costs no more
        // memory than the file holds.
        let mut record = Vec::new();
        (&mut reader)
            .take(len as u64)
            .read_to_end(&mut record)
            .map_err(|e| input(format!("{}: {e}", path.display())))?;
        if record.len() != len {
            return Err(input(format!("{}: a record is cut short", path.display())));
        }
        let block: ExportedBlock = decode_message(&record, MAX_RECORD)
            .map_err(|e| input(format!("{}: a block does not decode: {e}", path.display())))?;
        auditor.check(&block).map_err(AuditFailure::Block)?;
    }
    Ok(auditor.finish())
}
