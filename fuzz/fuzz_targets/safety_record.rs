#![no_main]
//! A safety file as a restarted node reads it back.

use libfuzzer_sys::fuzz_target;
use strata_chains::consensus::SafetyState;
use strata_chains::store::parse_safety_record;
use strata_crypto::codec::decode_message;

fuzz_target!(|data: &[u8]| {
    if let Some((_, payload)) = parse_safety_record(data) {
        let _ = decode_message::<SafetyState>(&payload, 1 << 20);
    }
});
