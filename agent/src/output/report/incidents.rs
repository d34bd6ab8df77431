//! Incidents in the text and Markdown reports: each incident's span, time lost, sources, ranked
//! causes with their evidence, and its gaps (the report's one gap table).

use std::io::{Result, Write};

use super::{
    diagnosis::pct,
    verdict::{Style, cpu_lines, gap_row, numbered, recommendations, rel, wrap},
};
use crate::{
    analysis::{
        RecordingSummary,
        diagnosis::{Diagnosis, Incident},
    },
    units::ns,
};

/// Gap rows shown per incident in the overview; `--incident N` shows them all.
const GAP_ROWS: usize = 8;

fn span(s: &RecordingSummary, i: &Incident) -> String {
    format!(
        "{} → {}",
        rel(s, i.start_mono_ns),
        if i.open {
            "open".to_owned()
        } else {
            rel(s, i.end_mono_ns)
        }
    )
}

/// The "Incidents" section: one block per incident with its gaps under it.
pub fn text(s: &RecordingSummary, d: &Diagnosis, st: Style, out: &mut dyn Write) -> Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        st.bold("Incidents (gaps of all sources close in time; times from recording start)")
    )?;
    for i in &d.incidents {
        block(s, d, i, st, GAP_ROWS, out)?;
    }
    Ok(())
}

fn block(
    s: &RecordingSummary,
    d: &Diagnosis,
    i: &Incident,
    st: Style,
    rows: usize,
    out: &mut dyn Write,
) -> Result<()> {
    let f = i.cause();
    writeln!(
        out,
        "  {} {} ({}, {} heartbeat time lost) · {} {}",
        st.bold(&format!("#{}", i.number)),
        span(s, i),
        ns(i.length_ns),
        ns(i.lost_ns),
        st.cause_name(f.cause),
        pct(f.confidence),
    )?;
    let mut who = i.sources.join(", ");
    if !i.peers.is_empty() {
        who.push_str(&format!(" · peers {}", i.peers.join(", ")));
    }
    writeln!(out, "    seen by {}", wrap(&who, 86, "      "))?;
    for e in f.evidence.iter().take(3) {
        writeln!(out, "    · {}", wrap(e, 92, "      "))?;
    }
    let gaps: Vec<_> = d.gaps.iter().filter(|g| g.incident == i.number).collect();
    for g in gaps.iter().take(rows) {
        gap_row(s, g, st, out)?;
    }
    if gaps.len() > rows {
        writeln!(
            out,
            "  … and {} more gap(s): hbwatch report --incident {}",
            gaps.len() - rows,
            i.number
        )?;
    }
    if let Some(g) = gaps.iter().find(|g| g.verdict().cause == f.cause) {
        cpu_lines(g, "    ", out)?;
    }
    Ok(())
}

/// One incident in full (`--incident N`): every cause with its evidence, every gap, the fixes.
pub fn text_one(
    s: &RecordingSummary,
    d: &Diagnosis,
    i: &Incident,
    st: Style,
    out: &mut dyn Write,
) -> Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        st.bold(&format!("Incident {} of {}", i.number, d.totals.incidents))
    )?;
    block(s, d, i, st, usize::MAX, out)?;
    writeln!(out, "  Causes, most likely first:")?;
    for (n, f) in i.findings.iter().enumerate() {
        writeln!(
            out,
            "  {}. {} ({}): {}",
            n + 1,
            st.cause_name(f.cause),
            pct(f.confidence),
            wrap(f.cause.phrase(), 80, "       ")
        )?;
        for e in &f.evidence {
            writeln!(out, "       · {}", wrap(e, 88, "         "))?;
        }
    }
    let recs = numbered(d, |r| i.recommendations.contains(&r.id));
    recommendations(&recs, st, out)
}

/// The "Incidents" section of the Markdown report.
pub fn markdown(s: &RecordingSummary, d: &Diagnosis, out: &mut dyn Write) -> Result<()> {
    if d.incidents.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "## Incidents")?;
    writeln!(out)?;
    writeln!(
        out,
        "| # | span | length | heartbeat time lost | sources | gaps | cause | confidence |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|")?;
    for i in &d.incidents {
        let gaps: Vec<String> = i.gaps.iter().map(u32::to_string).collect();
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | `{}` | {} |",
            i.number,
            span(s, i),
            ns(i.length_ns),
            ns(i.lost_ns),
            i.sources
                .iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", "),
            gaps.join(", "),
            i.cause().cause,
            pct(i.cause().confidence)
        )?;
    }
    for i in &d.incidents {
        writeln!(out)?;
        writeln!(out, "### Incident {}: `{}`", i.number, i.cause().cause)?;
        writeln!(out)?;
        if !i.peers.is_empty() {
            writeln!(out, "Peers: {}.", i.peers.join(", "))?;
            writeln!(out)?;
        }
        super::verdict::findings_md(&i.findings, out)?;
        let recs: Vec<String> = numbered(d, |r| i.recommendations.contains(&r.id))
            .iter()
            .map(|(n, r)| format!("[{n}] `{}`", r.id))
            .collect();
        if !recs.is_empty() {
            writeln!(out)?;
            writeln!(out, "Fixes: {}.", recs.join(", "))?;
        }
    }
    Ok(())
}
