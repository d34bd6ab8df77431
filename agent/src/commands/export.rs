//! `hbwatch export PATH`: writes the chosen window of a recording in the formats other tools read.

use std::{
    io::{BufWriter, Write},
    os::unix::fs::DirBuilderExt as _,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context as _;

use crate::{
    analysis::{RecordingSummary, StackFilter, diagnosis::diagnose},
    cli::args::ExportArgs,
    commands::{Failure, ResultExt as _},
    output::export::{
        ExportInput,
        adapt::{self, Recording, RecordingData, StackFold},
        flamegraph, hdr, inputs, series, timeline, trace,
        window::{self, WindowSpec},
    },
    recording::{
        format::RecordingError,
        input,
        writer::{check_output_path, create_output},
    },
    units,
};

pub fn run(a: ExportArgs) -> Result<(), Failure> {
    // (flag, path, whether `-` may mean standard output)
    let outputs: Vec<(&str, &PathBuf, bool)> = [
        ("--flamegraph", &a.flamegraph, false),
        ("--folded", &a.folded, true),
        ("--timeline", &a.timeline, false),
        ("--trace", &a.trace, true),
        ("--json", &a.json, true),
        ("--ndjson", &a.ndjson, true),
    ]
    .into_iter()
    .filter_map(|(flag, p, stdout_ok)| p.as_ref().map(|p| (flag, p, stdout_ok)))
    .collect();
    if outputs.is_empty() && a.histograms.is_none() {
        return Err(anyhow::anyhow!(
            "nothing to export: give at least one of --flamegraph, --folded, --histograms, --timeline, --trace, --json, --ndjson"
        ))
        .usage();
    }
    // Refuse bad output paths before reading anything.
    check_outputs(&a.path, &outputs, a.force).usage()?;
    for p in &a.more {
        check_outputs(p, &outputs, a.force).usage()?;
    }
    if !a.more.is_empty() {
        return merged_timeline(&a);
    }
    if let Some(dir) = &a.histograms
        && dir.exists()
        && !dir.is_dir()
    {
        return Err(anyhow::anyhow!(
            "{}: --histograms needs a folder",
            dir.display()
        ))
        .usage();
    }
    let started = Instant::now();
    let rec = Recording::read(&a.path).usage()?;
    let summary = fold(&rec);
    let data = RecordingData::from_records(rec.header.clone(), rec.records.iter().cloned());
    let filter = if a.all_stacks {
        StackFilter::All
    } else {
        StackFilter::Softirq
    };
    let fold_stacks = |start, end| inputs::fold_stacks(&rec.records, start, end, filter);
    let mut inputs = inputs::analysis_inputs(&summary, &rec.records);
    if !inputs.gaps.is_empty() {
        inputs::add_verdicts(&mut inputs.gaps, &diagnose(&summary, &rec.records));
    }
    inputs.stacks =
        inputs::stack_kind(&summary, filter).map(|kind| (&fold_stacks as StackFold, kind));
    let spec = match (a.gap, &a.from, &a.to) {
        (Some(n), _, _) => WindowSpec::Gap(n),
        (None, None, None) => WindowSpec::Whole,
        (None, from, to) => WindowSpec::Range {
            from: from.clone(),
            to: to.clone(),
        },
    };
    let w = window::resolve(&spec, &data, &inputs.gaps).usage()?;
    let input = adapt::build(&data, &inputs, w);
    if (a.flamegraph.is_some() || a.folded.is_some()) && input.stacks.window.is_empty() {
        let w = &input.window;
        return Err(anyhow::anyhow!(
            "{} ({}): {}",
            a.path.display(),
            w.label,
            inputs::why_no_stacks(&rec.records, w.start_mono_ns, w.end_mono_ns, filter)
        ))
        .usage();
    }
    eprintln!(
        "hbwatch: exporting {} of {} ({:.1} s, {} softirq intervals)",
        input.window.label,
        a.path.display(),
        input.window.duration_ns() as f64 / 1e9,
        input.softirq.len()
    );
    write_all(&a, &input)?;
    eprintln!(
        "hbwatch: export done in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `export A B … --timeline OUT.svg`: the recordings merged as `report A B …` merges them, drawn
/// on one time axis.
fn merged_timeline(a: &ExportArgs) -> Result<(), Failure> {
    let mut inputs = Vec::new();
    for p in std::iter::once(&a.path).chain(&a.more) {
        inputs.push(crate::analysis::read::merge_input(p).usage()?);
    }
    let m = crate::analysis::merge::merge(&inputs);
    if let Some(p) = &a.timeline {
        write_file(p, a.force, |w| {
            Ok(crate::output::export::merged_timeline::write_svg(&m, w)?)
        })?;
        eprintln!(
            "hbwatch: merged timeline of {} recordings ({} paired flow(s)) written to {}",
            inputs.len(),
            m.flows.len(),
            p.display()
        );
    }
    Ok(())
}

/// Each output must be writable, none may be the recording being read (by inode, so neither
/// `--force` nor another spelling of the path gets past it), no two may be one file, and at most
/// one may be standard output.
fn check_outputs(
    input: &Path,
    outputs: &[(&str, &PathBuf, bool)],
    force: bool,
) -> anyhow::Result<()> {
    let input_id = input::identity_of_input(input);
    let mut seen: Vec<(&str, &PathBuf, input::OutputIdentity)> = Vec::new();
    let mut stdout_flag: Option<&str> = None;
    for &(flag, p, stdout_ok) in outputs {
        if input::is_stdio(p) {
            if !stdout_ok {
                anyhow::bail!(
                    "{flag} -: only --folded, --trace, --json and --ndjson can write to standard output"
                );
            }
            if let Some(other) = stdout_flag {
                anyhow::bail!("{other} - and {flag} -: only one export can go to standard output");
            }
            stdout_flag = Some(flag);
            continue;
        }
        let id = input::identity_of_output(p);
        if id.inode.is_some() && id.inode == input_id {
            return Err(RecordingError::IsTheInput {
                path: p.to_path_buf(),
            }
            .into());
        }
        check_output_path(p, force)?;
        if let Some((other, op, _)) = seen.iter().find(|(_, _, o)| o.same_as(&id)) {
            anyhow::bail!(
                "{other} {} and {flag} {}: are one file; give each export its own path",
                op.display(),
                p.display()
            );
        }
        seen.push((flag, p, id));
    }
    Ok(())
}

/// The summary every analysis input starts from, folded as `report` folds it.
fn fold(rec: &Recording) -> RecordingSummary {
    let mut s = RecordingSummary::new(rec.header.clone(), rec.version);
    for r in &rec.records {
        s.add(r);
    }
    s
}

fn write_all(a: &ExportArgs, input: &ExportInput) -> Result<(), Failure> {
    if let Some(p) = &a.flamegraph {
        write_file(p, a.force, |w| {
            if a.diff_baseline {
                flamegraph::write_diff_svg(input, w).map_err(anyhow::Error::from)
            } else {
                flamegraph::write_svg(input, w).map_err(anyhow::Error::from)
            }
        })?;
    }
    if let Some(p) = &a.folded {
        write_file(p, a.force, |w| {
            Ok(flamegraph::write_folded(&input.stacks.window, w)?)
        })?;
    }
    if let Some(p) = &a.timeline {
        write_file(p, a.force, |w| Ok(timeline::write_svg(input, w)?))?;
    }
    if let Some(p) = &a.trace {
        write_file(p, a.force, |w| Ok(trace::write(input, w)?))?;
    }
    if let Some(p) = &a.json {
        write_file(p, a.force, |w| Ok(series::write_json(input, w)?))?;
    }
    if let Some(p) = &a.ndjson {
        write_file(p, a.force, |w| Ok(series::write_ndjson(input, w)?))?;
    }
    if let Some(dir) = &a.histograms {
        write_histograms(dir, a.force, input)?;
    }
    Ok(())
}

fn write_histograms(dir: &Path, force: bool, input: &ExportInput) -> Result<(), Failure> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))
            .usage()?;
    }
    let hists = hdr::histograms(input)
        .context("building HdrHistograms")
        .runtime()?;
    for h in hists {
        let p = dir.join(format!("{}.hgrm", h.name));
        write_file(&p, force, |w| Ok(hdr::write_hgrm(&h.hist, w)?))?;
    }
    for kind in ["wait", "run"] {
        let p = dir.join(format!("softirq-{kind}.hlog"));
        write_file(&p, force, |w| Ok(hdr::write_softirq_hlog(input, kind, w)?))?;
    }
    if !input.heartbeats.is_empty() {
        let p = dir.join("heartbeat-interarrival.hlog");
        write_file(&p, force, |w| Ok(hdr::write_heartbeat_hlog(input, w)?))?;
    }
    Ok(())
}

/// Creates `path` (0600, no symlinks, no overwrite without `--force`), writes it and reports;
/// `-` writes to standard output.
fn write_file(
    path: &Path,
    force: bool,
    f: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> Result<(), Failure> {
    if input::is_stdio(path) {
        let mut w = BufWriter::new(std::io::stdout().lock());
        return match f(&mut w).and_then(|()| w.flush().map_err(anyhow::Error::from)) {
            // The reader went away (`export … --ndjson - | head`): not an error of ours.
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
            {
                Ok(())
            }
            other => other.context("writing to standard output").runtime(),
        };
    }
    let file = create_output(path, force).usage()?;
    let mut w = BufWriter::new(file);
    f(&mut w)
        .and_then(|()| w.flush().map_err(anyhow::Error::from))
        .with_context(|| format!("writing {}", path.display()))
        .runtime()?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    eprintln!("  wrote {} ({})", path.display(), units::bytes(size));
    Ok(())
}
