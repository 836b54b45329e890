#![no_main]
//! The bodies of POST /v1/tx (SCALE or JSON) and POST /v1/txs.

use libfuzzer_sys::fuzz_target;
use strata_actors::api::{decode_tx_body, decode_txs_body};

fuzz_target!(|data: &[u8]| {
    let _ = decode_tx_body(false, data);
    let _ = decode_tx_body(true, data);
    let _ = decode_txs_body(data);
});
