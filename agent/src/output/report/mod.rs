//! `hbwatch report`: the recording summary as text for people or JSON for machines.

pub mod cpu_users;
pub mod diagnosis;
pub mod fix_script;
pub mod heartbeats;
pub mod incidents;
pub mod json;
#[cfg(test)]
mod json_tests;
pub mod ksched;
pub mod merged;
pub mod packet;
pub mod rejections;
pub mod text;
pub mod verdict;

use std::io::Write;

use crate::analysis::{RecordingSummary, diagnosis::Diagnosis};
pub use verdict::Style;

/// A monotonic instant for people: "+12.3s (2026-11-22 07:00:12.345 UTC)", the offset from the
/// recording's start and the wall clock.
pub fn at(s: &RecordingSummary, mono_ns: u64) -> String {
    let off = (mono_ns as i128 - s.first_mono_ns as i128) as f64 / 1e9;
    format!(
        "{off:+.1}s ({})",
        crate::clock::display_realtime(s.realtime_of(mono_ns))
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Text,
    Json,
    Markdown,
}

/// The report without a diagnosis (no records at hand): gaps are listed, not judged.
pub fn render(
    s: &RecordingSummary,
    path: &str,
    format: ReportFormat,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    render_with(
        s,
        &Diagnosis::default(),
        path,
        format,
        Style::default(),
        out,
    )
}

/// The full report with `d`, the diagnosis of the recording's gaps.
pub fn render_with(
    s: &RecordingSummary,
    d: &Diagnosis,
    path: &str,
    format: ReportFormat,
    st: Style,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        ReportFormat::Text => text::render(s, d, path, st, out),
        ReportFormat::Markdown => verdict::markdown(s, d, path, out),
        ReportFormat::Json => {
            serde_json::to_writer_pretty(
                &mut *out,
                &json::Report::new(s, path).with_diagnosis(s, d),
            )?;
            writeln!(out)
        }
    }
}
