//! Any text as a duration, alone and through the command line parser: a value or an error,
//! never a panic; accepted values are positive.
#![no_main]

use clap::Parser as _;
use hbwatch::{cli::Cli, units::parse_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(d) = parse_duration(s) {
        assert!(!d.is_zero());
    }
    let _ = Cli::try_parse_from(["hbwatch", "record", "--duration", s]);
    let _ = Cli::try_parse_from(["hbwatch", "record", "--interval", s]);
});
