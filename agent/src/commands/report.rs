//! `hbwatch report PATH`: read a recording (damaged or not), judge its heartbeat gaps and print
//! the report; optionally write the recommendations as a fix script.

use std::io::Write as _;

use anyhow::Context as _;

use crate::{
    analysis::{
        merge,
        read::{merge_input, summarize_and_diagnose},
    },
    cli::args::ReportArgs,
    commands::{Failure, ResultExt as _},
    output::report::{self, ReportFormat, Style, verdict},
};

pub fn run(a: ReportArgs) -> Result<(), Failure> {
    if !a.more.is_empty() {
        return run_merged(&a);
    }
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

/// `report A B …`: each recording summarised and diagnosed on its own, then merged.
fn run_merged(a: &ReportArgs) -> Result<(), Failure> {
    let mut inputs = Vec::new();
    let paths: Vec<&std::path::Path> = std::iter::once(a.path.as_path())
        .chain(a.more.iter().map(|p| p.as_path()))
        .collect();
    for (i, p) in paths.iter().enumerate() {
        if paths[..i].contains(p) {
            return Err(anyhow::anyhow!("{} is given twice", p.display())).usage();
        }
        inputs.push(merge_input(p).usage()?);
    }
    // Files of one name from several folders (node1/x.hbw, node2/x.hbw) are told by their path.
    let labels: Vec<String> = inputs.iter().map(|h| h.label.clone()).collect();
    for (h, p) in inputs.iter_mut().zip(&paths) {
        if labels.iter().filter(|l| **l == h.label).count() > 1 {
            h.label = p.display().to_string();
        }
    }
    let m = merge::merge(&inputs);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match report::merged::render(&m, a.format, &mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report").runtime(),
    }
}
