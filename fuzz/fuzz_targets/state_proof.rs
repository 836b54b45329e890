#![no_main]
//! A state proof as a light client or `strata state` receives it from an
//! untrusted node: decoded with limits and checked against a root, it
//! answers, never panics, whatever the bytes.

use libfuzzer_sys::fuzz_target;
use strata_chains::auth::StateProof;
use strata_chains::execution::GenesisState;
use strata_crypto::codec::decode_message;
use strata_crypto::hash::Digest;

fuzz_target!(|data: &[u8]| {
    let root = GenesisState::bare(Digest::ZERO).root();
    if let Ok(p) = decode_message::<StateProof>(data, 256 << 10) {
        let _ = p.verify(&root);
    }
    // The proof bytes alone, as the inner Borsh encoding.
    let p = StateProof {
        key: b"genesis/config".to_vec(),
        value: Some(Digest::ZERO.0.to_vec()),
        proof: data.to_vec(),
    };
    let _ = p.verify(&root);
});
