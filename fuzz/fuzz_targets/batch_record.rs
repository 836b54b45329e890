#![no_main]
//! A batch-log record as the store reads it back, and a batch's entry (its
//! place in the staging log or the archive).

use libfuzzer_sys::fuzz_target;
use strata_chains::store::{decode_batch_record, parse_batch_log_record, BatchPlace};

fuzz_target!(|data: &[u8]| {
    let _ = decode_batch_record(data);
    let _ = BatchPlace::decode_entry(data);
    if let Some(payload) = parse_batch_log_record(data) {
        let _ = decode_batch_record(payload);
    }
});
