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
    let mut svg = Vec::new();
    flamegraph::from_lines(&mut o, text.lines(), &mut svg)?;
    let mut w = w;
    w.write_all(with_diff_legend(&String::from_utf8_lossy(&svg)).as_bytes())?;
    Ok(())
}

/// Colours of the differential flamegraph as inferno draws them, with what each means.
pub const DIFF_LEGEND: [(&str, &str); 3] = [
    (
        "rgb(255,100,100)",
        "grew: more samples in the window than the baseline",
    ),
    ("rgb(137,137,255)", "shrank: fewer in the window"),
    (
        "rgb(250,250,250)",
        "unchanged · deeper colour, larger change",
    ),
];

/// Adds a band under the picture with the colour legend: the SVG grows by the band's height.
fn with_diff_legend(svg: &str) -> String {
    const BAND: u32 = 26;
    let Some(height) = regex::Regex::new(r#"<svg [^>]*?height="(\d+)""#)
        .ok()
        .and_then(|re| re.captures(svg))
        .and_then(|c| c[1].parse::<u32>().ok())
    else {
        return svg.to_owned();
    };
    let grown = height + BAND;
    let mut out = svg
        .replacen(
            &format!("height=\"{height}\""),
            &format!("height=\"{grown}\""),
            1,
        )
        .replacen(&format!(" {height}\""), &format!(" {grown}\""), 1);
    let mut band = format!(
        r#"<g id="hbwatch-legend"><rect x="0" y="{height}" width="100%" height="{BAND}" fill="rgb(255,255,255)"/><text x="10" y="{}">colour:</text>"#,
        height + 17
    );
    let mut x = 70;
    for (fill, what) in DIFF_LEGEND {
        band.push_str(&format!(
            r#"<rect x="{x}" y="{}" width="14" height="14" fill="{fill}" stroke="rgb(120,120,120)" stroke-width="0.5"/><text x="{}" y="{}">{what}</text>"#,
            height + 6,
            x + 20,
            height + 17
        ));
        x += 20 + what.len() as u32 * 7 + 24;
    }
    band.push_str("</g>");
    match out.rfind("</svg>") {
        Some(i) => out.insert_str(i, &band),
        None => out.push_str(&band),
    }
    out
}
