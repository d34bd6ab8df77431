//! `hbwatch report PATH`: read a recording (damaged or not) and print the summary.

use std::io::Write as _;

use anyhow::Context as _;

use crate::{
    analysis::RecordingSummary,
    cli::{Failure, ResultExt as _, args::ReportArgs},
    output::report,
    recording::RecordingReader,
};

pub fn run(a: ReportArgs) -> Result<(), Failure> {
    let summary = summarize_with(&a.path, a.gap_factor).usage()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    report::render(&summary, &a.path.display().to_string(), a.format, &mut out)
        .and_then(|()| out.flush())
        .context("writing the report")
        .runtime()
}

/// Reads a whole recording into its summary, with the read statistics filled in.
pub fn summarize(path: &std::path::Path) -> anyhow::Result<RecordingSummary> {
    summarize_with(path, None)
}

/// [`summarize`], with heartbeat gaps found using `gap_factor` instead of the recorded factor.
pub fn summarize_with(
    path: &std::path::Path,
    gap_factor: Option<f64>,
) -> anyhow::Result<RecordingSummary> {
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
    }
    s.read = reader.stats().clone();
    Ok(s)
}
