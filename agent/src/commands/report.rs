//! `hbwatch report PATH`: read a recording (damaged or not), judge its heartbeat gaps and print
//! the report; optionally write the recommendations as a fix script.

use std::io::Write as _;

use anyhow::Context as _;

use crate::{
    analysis::{RecordingSummary, diagnosis},
    cli::{Failure, ResultExt as _, args::ReportArgs},
    output::report::{self, ReportFormat, Style, verdict},
    recording::{RecordingReader, reader::softirq_times, records::Record},
};

pub fn run(a: ReportArgs) -> Result<(), Failure> {
    if let Some(p) = &a.fix_script {
        let id = crate::recording::input::identity_of_output(p);
        if id.inode.is_some() && id.inode == crate::recording::input::identity_of_input(&a.path) {
            return Err(crate::recording::format::RecordingError::IsTheInput { path: p.clone() })
                .usage();
        }
        crate::recording::writer::check_output_path(p, a.force).usage()?;
    }
    let (summary, mut d) = summarize_and_diagnose(&a.path, a.gap_factor).usage()?;
    let (gaps, incidents) = (d.totals.gaps, d.totals.incidents);
    if let Some(n) = a.gap
        && d.focus_gap(n).is_none()
    {
        return Err(anyhow::anyhow!(
            "--gap {n}: the recording has {gaps} heartbeat gap(s), in {incidents} incident(s)"
        ))
        .usage();
    }
    if let Some(n) = a.incident
        && d.focus_incident(n).is_none()
    {
        return Err(anyhow::anyhow!(
            "--incident {n}: the recording has {incidents} incident(s) ({gaps} heartbeat gap(s))"
        ))
        .usage();
    }
    let path = a.path.display().to_string();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let st = Style::for_stdout();
    // A narrowed text view: the run facts, the whole recording's verdict, then the one gap or
    // incident in full.
    let written = match (a.format, &d.gaps[..], &d.incidents[..]) {
        (ReportFormat::Text, [g], _) if a.gap.is_some() => {
            report::text::render_header(&summary, &path, &mut out)
                .and_then(|()| verdict::text_top(&summary, &d, st, &mut out))
                .and_then(|()| verdict::text_gap(&summary, &d, g, st, &mut out))
        }
        (ReportFormat::Text, _, [i]) if a.incident.is_some() => {
            report::text::render_header(&summary, &path, &mut out)
                .and_then(|()| verdict::text_top(&summary, &d, st, &mut out))
                .and_then(|()| report::incidents::text_one(&summary, &d, i, st, &mut out))
        }
        (f, _, _) => report::render_with(&summary, &d, &path, f, st, &mut out),
    };
    match written.and_then(|()| out.flush()) {
        // The reader went away (`hbwatch report … | head`): not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        other => other.context("writing the report").runtime()?,
    }
    if let Some(p) = &a.fix_script {
        let recs = verdict::unique_recommendations(&d);
        report::fix_script::write(p, &recs, &path, a.force)
            .with_context(|| format!("writing the fix script {}", p.display()))
            .runtime()?;
        eprintln!(
            "fix script written to {} ({} recommendation(s); review it, then `sh {} list`; nothing was applied)",
            p.display(),
            recs.len(),
            p.display()
        );
    }
    Ok(())
}

/// Two passes over the recording, never holding its records: the summary, then the diagnosis
/// (which keeps only what the gap windows and baselines need).
pub fn summarize_and_diagnose(
    path: &std::path::Path,
    gap_factor: Option<f64>,
) -> anyhow::Result<(RecordingSummary, diagnosis::Diagnosis)> {
    let (s, mut reader) = first_pass(path, gap_factor)?;
    reader.rewind();
    let mut f = diagnosis::DiagnosisFold::new(&s);
    // Softirq intervals (the bulk of a recording) matter only inside the gap windows.
    let windows = f.windows();
    reader.skip_records(move |raw| {
        softirq_times(raw).is_some_and(|(a, b)| !windows.iter().any(|&(f, t)| a < t && b > f))
    });
    for r in reader {
        f.add(&r);
    }
    let d = f.finish();
    Ok((s, d))
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
