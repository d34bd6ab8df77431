//! Any line through the matcher of every preset: a match or nothing, never a panic; matched
//! durations and counts are what the line says, so they must not be negative.
#![no_main]

use std::cell::RefCell;

use hbwatch::protocol::{matcher::LineMatcher, presets::PRESETS, timestamp::TsContext};
use jiff::tz::TimeZone;
use libfuzzer_sys::fuzz_target;

thread_local! {
    // Compiling every preset's regexes per input would dominate the run.
    static MATCHERS: RefCell<Vec<LineMatcher>> = RefCell::new(
        PRESETS
            .iter()
            .map(|p| LineMatcher::preset(p, TsContext::new(TimeZone::UTC, 1_795_327_200_000_000_000)))
            .collect(),
    );
}

fuzz_target!(|line: &str| {
    MATCHERS.with(|m| {
        for matcher in m.borrow_mut().iter_mut() {
            let _ = matcher.match_line(line);
        }
    });
});
