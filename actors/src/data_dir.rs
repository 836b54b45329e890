//! A data directory belongs to one network: the first start writes the
//! genesis digest into it (`GENESIS`), and every later start under a
//! different genesis is refused. Without this an edited genesis file
//! silently became a new network on top of the old chains' data.

use std::path::{Path, PathBuf};

use strata_crypto::Digest;

use crate::process::{start_err, NodeError};

/// The file naming the genesis a data directory was written under.
pub const GENESIS_FILE: &str = "GENESIS";

fn marker(dir: &Path) -> PathBuf {
    dir.join(GENESIS_FILE)
}

/// Claims `dir` for the network of `genesis`: writes the marker on a
/// first start (durably: temporary file, fsync, rename), accepts a start
/// under the same genesis, refuses any other with both digests named.
pub fn claim(dir: &Path, genesis: &Digest) -> Result<(), NodeError> {
    let path = marker(dir);
    let shown = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let written = text.trim();
            if written == genesis.to_hex() {
                Ok(())
            } else {
                Err(start_err(
                    &shown,
                    format!(
                        "this data directory was written under genesis {written}, the node file's \
                         genesis is {}: start with the genesis it was written under, or give the \
                         node a new data_dir",
                        genesis.to_hex()
                    ),
                ))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| start_err(&shown, e))?;
            let tmp = dir.join(format!("{GENESIS_FILE}.tmp"));
            let write = || -> std::io::Result<()> {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(format!("{}\n", genesis.to_hex()).as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(dir)?.sync_all()
            };
            write().map_err(|e| start_err(&shown, e))
        }
        Err(e) => Err(start_err(&shown, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_serves_only_the_genesis_it_was_written_under() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = Digest::of("test", b"genesis one");
        claim(&data, &first).unwrap();
        claim(&data, &first).expect("the same genesis starts again");
        let other = Digest::of("test", b"genesis two");
        let e = claim(&data, &other).unwrap_err().to_string();
        assert!(
            e.contains(&first.to_hex()) && e.contains(&other.to_hex()) && e.contains("GENESIS"),
            "{e}"
        );
        claim(&data, &first).expect("a refusal changes nothing");
    }
}
