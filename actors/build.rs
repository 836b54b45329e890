//! Builds the explorer's receipt check (verify-wasm/: strata-chains'
//! `Receipt::verify` for wasm32) so the node binary serves it with the
//! page (issue 28, point 3): the check the page runs is always the code
//! this build verifies receipts with, never a stale copy.
//!
//! A separate cargo run with its own target directory (the outer build
//! holds this one); it needs the `wasm32-unknown-unknown` standard library
//! and clang (scripts/ensure-deps installs both). `STRATA_NO_RECEIPT_WASM=1`
//! skips it: the page then says that this build cannot check receipts.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let workspace = manifest.parent().expect("actors/ sits in the workspace");
    for input in [
        "verify-wasm/src",
        "verify-wasm/Cargo.toml",
        "chains/src",
        "chains/Cargo.toml",
        "crypto/src",
        "crypto/Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=STRATA_NO_RECEIPT_WASM");
    let module = out.join("receipt.wasm");
    if std::env::var_os("STRATA_NO_RECEIPT_WASM").is_some_and(|v| v != "0") {
        println!("cargo:warning=STRATA_NO_RECEIPT_WASM: the explorer page will not check receipts");
        std::fs::write(&module, []).expect("OUT_DIR is writable");
        return;
    }
    let target_dir = wasm_target_dir(&out);
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // What cargo tells this build script describes the host build (its
    // target's cfg, features, output directory); the nested build's own
    // build scripts would read it as theirs.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if [
            "CARGO_CFG_",
            "CARGO_FEATURE_",
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || [
                "OUT_DIR",
                "TARGET",
                "HOST",
                "PROFILE",
                "OPT_LEVEL",
                "DEBUG",
                "NUM_JOBS",
            ]
            .contains(&name.as_ref())
        {
            cargo.env_remove(name.as_ref());
        }
    }
    cargo
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "strata-receipt-wasm",
        ])
        .args(["--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        // The host's flags (AVX-512 backends, fuzzing instrumentation) are
        // not the module's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        // Small and quick to build: no debug lines, size over speed (one
        // check per page view), one unit so unused code goes.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort");
    let result = cargo.output().expect("cargo runs");
    if !result.status.success() {
        panic!(
            "building the explorer's receipt check (verify-wasm) for {TARGET} failed; it needs \
             `rustup target add {TARGET}` and clang (scripts/ensure-deps installs both), or set \
             STRATA_NO_RECEIPT_WASM=1 to build without it:\n{}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
    let built = target_dir
        .join(TARGET)
        .join("release")
        .join("strata_receipt_wasm.wasm");
    std::fs::copy(&built, &module).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
}

/// `<target>/receipt-wasm`, beside the outer build's profiles (`OUT_DIR` is
/// `<target>/[<triple>/]<profile>/build/<package>-<hash>/out`).
fn wasm_target_dir(out: &Path) -> PathBuf {
    out.ancestors()
        .nth(4)
        .map(|t| t.join("receipt-wasm"))
        .unwrap_or_else(|| out.join("receipt-wasm"))
}
