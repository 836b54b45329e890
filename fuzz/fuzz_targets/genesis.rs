#![no_main]
//! Genesis files: every field checked, errors name the field.

use libfuzzer_sys::fuzz_target;
use std::path::Path;

use strata_actors::Genesis;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Genesis::parse(Path::new("fuzz/genesis.toml"), text);
    }
});
