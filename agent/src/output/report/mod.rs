//! `hbwatch report`: the recording summary as text for people or JSON for machines.

pub mod heartbeats;
pub mod json;
pub mod ksched;
pub mod packet;
pub mod text;

use std::io::Write;

use crate::analysis::RecordingSummary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

pub fn render(
    s: &RecordingSummary,
    path: &str,
    format: ReportFormat,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        ReportFormat::Text => text::render(s, path, out),
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &json::Report::new(s, path))?;
            writeln!(out)
        }
    }
}
