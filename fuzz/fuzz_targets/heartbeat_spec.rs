//! Any text as a `--heartbeat` spec: a source or a positioned error, never a panic; an error's
//! position lies within the spec.
#![no_main]

use hbwatch::protocol::spec::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    match parse(s) {
        Ok(spec) => {
            let _ = spec.kind();
            let _ = spec.expected_interval();
        }
        Err(e) => assert!(
            e.position <= s.chars().count() + 1,
            "position {} past the spec",
            e.position
        ),
    }
});
