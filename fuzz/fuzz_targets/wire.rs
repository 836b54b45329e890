#![no_main]
//! Every message a peer sends arrives in this envelope.

use libfuzzer_sys::fuzz_target;
use strata_actors::service::wire::Wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = Wire::from_bytes(data) {
        // What decodes re-encodes to the same bytes (one encoding per value).
        assert_eq!(w.to_bytes(), data);
    }
});
