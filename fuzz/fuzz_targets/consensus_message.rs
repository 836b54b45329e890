#![no_main]
//! A consensus message, decoded with its kind's size limit.

use libfuzzer_sys::fuzz_target;
use parity_scale_codec::Encode;
use strata_chains::types::ConsensusMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ConsensusMessage::decode_untrusted(data) {
        assert_eq!(m.encode(), data);
    }
});
