//! `hbwatch report`: the recording summary as text for people or JSON for machines.

pub mod cpu_users;
pub mod diagnosis;
pub mod fix_script;
pub mod heartbeats;
pub mod incidents;
pub mod json;
pub mod ksched;
pub mod packet;
pub mod text;
pub mod verdict;

use std::io::Write;

use crate::analysis::{RecordingSummary, diagnosis::Diagnosis};
pub use verdict::Style;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
