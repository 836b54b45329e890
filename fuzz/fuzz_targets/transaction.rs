#![no_main]
//! Transactions and batches as clients and peers send them.

use libfuzzer_sys::fuzz_target;
use parity_scale_codec::Encode;
use strata_chains::types::limits::MAX_MESSAGE_BYTES;
use strata_chains::types::{Batch, Transaction};
use strata_crypto::codec::decode_message;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = decode_message::<Transaction>(data, MAX_MESSAGE_BYTES) {
        assert_eq!(t.encode(), data);
        if let Transaction::Provenance(p) = &t {
            // A signature check on hostile bytes answers, never panics.
            let _ = p.verify();
        }
    }
    if let Ok(b) = decode_message::<Batch>(data, MAX_MESSAGE_BYTES) {
        assert_eq!(b.encode(), data);
        let _ = b.hashed();
    }
});
