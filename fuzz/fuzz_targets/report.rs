//! Any bytes as a recording, all the way through the summary and both report formats.
#![no_main]

use hbwatch::{
    analysis::RecordingSummary,
    output::report::{ReportFormat, render},
    recording::RecordingReader,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = RecordingReader::from_bytes(std::path::Path::new("fuzz.hbw"), data.to_vec())
    else {
        return;
    };
    let mut s = RecordingSummary::new(r.header().clone(), r.version());
    for rec in r.by_ref() {
        s.add(&rec);
    }
    s.read = r.stats().clone();
    for format in [ReportFormat::Text, ReportFormat::Json] {
        render(&s, "fuzz.hbw", format, &mut std::io::sink()).expect("rendering to a sink");
    }
});
