//! Kernel stacks as folded text (flamegraph.pl, speedscope) and as interactive SVG flamegraphs
//! drawn in-process with inferno, including a differential one (window against baseline).

use std::{collections::BTreeMap, io::Write};

use inferno::flamegraph::{self, Options};

use super::{ExportInput, StackInput};

#[derive(Debug, thiserror::Error)]
pub enum FlamegraphError {
    #[error("no kernel stacks were sampled in {0}; record with stack sampling to get flamegraphs")]
    NoStacks(String),
    #[error(
        "no baseline stacks outside {0}: a differential flamegraph needs samples before or after the window"
    )]
    NoBaseline(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Folded lines, "frame;frame;frame count", sorted (the order flamegraph.pl expects).
pub fn write_folded(stacks: &BTreeMap<String, u64>, mut w: impl Write) -> std::io::Result<()> {
    for (stack, n) in stacks.iter().filter(|(_, n)| **n > 0) {
        writeln!(w, "{stack} {n}")?;
    }
    Ok(())
}

fn options(input: &ExportInput, title: String, samples: String) -> Options<'static> {
    let mut o = Options::default();
    o.title = title;
    o.subtitle = Some(format!("{} · {samples}", input.title_context()));
    o.count_name = "samples".into();
    // Same input, same picture: golden files and diffs between runs stay stable.
    o.deterministic = true;
    o.hash = true;
    o
}

fn kind(s: &StackInput) -> &str {
    if s.kind.is_empty() {
        "kernel stacks"
    } else {
        &s.kind
    }
}

/// The window's stacks as an SVG flamegraph.
pub fn write_svg(input: &ExportInput, w: impl Write) -> Result<(), FlamegraphError> {
    let s = &input.stacks;
    let n = StackInput::samples(&s.window);
    if n == 0 {
        return Err(FlamegraphError::NoStacks(input.window.label.clone()));
    }
    let mut folded = Vec::new();
    write_folded(&s.window, &mut folded)?;
    let text = String::from_utf8_lossy(&folded);
    let mut o = options(
        input,
        format!("hbwatch: {} on {}", kind(s), input.host),
        format!("{n} samples"),
    );
    flamegraph::from_lines(&mut o, text.lines(), w)?;
    Ok(())
}

/// Differential flamegraph: frame widths from the window, colour by the change against the
/// baseline (red grew, blue shrank), both normalised to the same sample count.
pub fn write_diff_svg(input: &ExportInput, w: impl Write) -> Result<(), FlamegraphError> {
    let s = &input.stacks;
    let after = StackInput::samples(&s.window);
    if after == 0 {
        return Err(FlamegraphError::NoStacks(input.window.label.clone()));
    }
    let Some(base) = s.baseline.as_ref().filter(|b| StackInput::samples(b) > 0) else {
        return Err(FlamegraphError::NoBaseline(input.window.label.clone()));
    };
    let before = StackInput::samples(base);
    let (mut b, mut a) = (Vec::new(), Vec::new());
    write_folded(base, &mut b)?;
    write_folded(&s.window, &mut a)?;
    let mut diff = Vec::new();
    let diff_opts = inferno::differential::Options {
        normalize: true,
        ..Default::default()
    };
    inferno::differential::from_readers(diff_opts, b.as_slice(), a.as_slice(), &mut diff)?;
    let text = String::from_utf8_lossy(&diff);
    let mut o = options(
        input,
        format!("hbwatch: {} on {}, window vs baseline", kind(s), input.host),
        format!("{after} samples in window, {before} in baseline"),
    );
    flamegraph::from_lines(&mut o, text.lines(), w)?;
    Ok(())
}
