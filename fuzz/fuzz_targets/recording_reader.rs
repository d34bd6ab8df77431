//! Any bytes given to the recording reader: it opens or refuses with an error, iterates to the
//! end, and its statistics account for every byte after the header.
#![no_main]

use hbwatch::recording::RecordingReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(mut r) = RecordingReader::from_bytes(std::path::Path::new("fuzz.hbw"), data.to_vec())
    {
        let records = r.by_ref().count() as u64;
        let s = r.stats();
        assert_eq!(s.records, records);
        assert!(s.skipped_bytes + s.truncated_tail_bytes <= len);
    }
});
