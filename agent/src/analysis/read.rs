//! A recording file read into analysis results: the summary, then the diagnosis, in two passes
//! that never hold the records; and the per-host input of a merged report.

use super::{RecordingSummary, diagnosis, merge};
use crate::recording::{RecordingReader, reader::softirq_times, records::Record};

/// One recording as the merge needs it: what it kept of the watched flows, and its diagnosis.
pub fn merge_input(path: &std::path::Path) -> anyhow::Result<merge::HostInput> {
    let mut h = merge::HostInput {
        label: path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        ..Default::default()
    };
    let (s, reader) = fold_file(path, None, |r| h.add(&r))?;
    h.diagnosis = second_pass(&s, reader);
    h.host = s.header.host.clone();
    h.boot_id = s.header.boot_id.clone();
    h.wall_offset_ns = s.header.anchor.offset_ns();
    h.first_mono_ns = s.first_mono_ns;
    Ok(h)
}

/// Two passes over the recording, never holding its records: the summary, then the diagnosis
/// (which keeps only what the gap windows and baselines need).
pub fn summarize_and_diagnose(
    path: &std::path::Path,
    gap_factor: Option<f64>,
) -> anyhow::Result<(RecordingSummary, diagnosis::Diagnosis)> {
    let (s, reader) = first_pass(path, gap_factor)?;
    let d = second_pass(&s, reader);
    Ok((s, d))
}

/// The diagnosis pass over a spent reader.
fn second_pass(s: &RecordingSummary, mut reader: RecordingReader) -> diagnosis::Diagnosis {
    reader.rewind();
    let mut f = diagnosis::DiagnosisFold::new(s);
    // Softirq intervals (the bulk of a recording) matter only inside the gap windows.
    let windows = f.windows();
    reader.skip_records(move |raw| {
        softirq_times(raw).is_some_and(|(a, b)| !windows.iter().any(|&(f, t)| a < t && b > f))
    });
    for r in reader {
        f.add(&r);
    }
    f.finish()
}

fn first_pass(
    path: &std::path::Path,
    gap_factor: Option<f64>,
) -> anyhow::Result<(RecordingSummary, RecordingReader)> {
    fold_file(path, gap_factor, drop)
}

/// Folds every record into the summary and hands each to `each`; returns the spent reader too.
fn fold_file(
    path: &std::path::Path,
    gap_factor: Option<f64>,
    mut each: impl FnMut(Record),
) -> anyhow::Result<(RecordingSummary, RecordingReader)> {
    if path.is_dir() {
        anyhow::bail!(
            "{}: is a directory, expected a recording file",
            path.display()
        );
    }
    let mut reader = RecordingReader::open(path)?;
    let mut s = RecordingSummary::new(reader.header().clone(), reader.version());
    if let Some(k) = gap_factor {
        s.heartbeats.override_factor(k);
    }
    for r in reader.by_ref() {
        s.add(&r);
        each(r);
    }
    s.read = reader.stats().clone();
    Ok((s, reader))
}
