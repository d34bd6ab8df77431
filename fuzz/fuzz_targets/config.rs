//! Any text as a `--config` TOML file: sources or a one-line error, never a panic.
#![no_main]

use std::path::Path;

use hbwatch::protocol::spec::parse_config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(e) = parse_config(Path::new("fuzz.toml"), text) {
        assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
    }
});
