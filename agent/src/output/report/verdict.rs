//! The diagnosis in the text and Markdown reports: verdict first, the incidents with their gaps,
//! then (after the detail sections) recommendations, timeout advice and what could not be
//! measured.

use std::io::{Result, Write};

use super::diagnosis::{focus_line, not_measured, onset, pct, verdict};
use crate::{
    analysis::{
        RecordingSummary,
        diagnosis::{Diagnosis, GapDiagnosis},
        recommendation::Recommendation,
    },
    units::ns,
};

/// ANSI colour on a terminal, plain text otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Colour when `out` is a terminal and NO_COLOR is unset or empty.
    pub fn for_stdout() -> Self {
        use std::io::IsTerminal as _;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    fn cause(&self, g: &GapDiagnosis) -> String {
        self.cause_name(g.verdict().cause)
    }
    pub(super) fn cause_name(&self, c: crate::analysis::diagnosis::Cause) -> String {
        let code = if c.is_network() {
            "1;31"
        } else if c == crate::analysis::diagnosis::Cause::Unknown {
            "1;33"
        } else {
            "1;35"
        };
        self.paint(code, c.as_str())
    }
}

/// Seconds since the recording's start.
pub(super) fn rel(s: &RecordingSummary, mono: u64) -> String {
    format!("+{:.1}s", mono.saturating_sub(s.first_mono_ns) as f64 / 1e9)
}

/// Wraps `text` at `width` columns of text, with `indent` before continuation lines.
pub(super) fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        let w = word.chars().count();
        if line > 0 && line + 1 + w > width {
            out.push('\n');
            out.push_str(indent);
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += w;
    }
    out
}

/// Verdict and incidents: the top of the text report. A narrowed view (`--gap`, `--incident`)
/// keeps the whole recording's verdict and says where it stands ("gap 3 of 110, in incident 2
/// of 6").
pub fn text_top(s: &RecordingSummary, d: &Diagnosis, st: Style, out: &mut dyn Write) -> Result<()> {
    writeln!(out)?;
    writeln!(out, "{}", st.bold("Verdict"))?;
    writeln!(out, "  {}", wrap(&verdict(s, d), 96, "  "))?;
    if let Some(f) = focus_line(d) {
        writeln!(out, "  This view: {f}.")?;
    }
    if d.incidents.is_empty() || d.focus.is_some() {
        return Ok(());
    }
    super::incidents::text(s, d, st, out)
}

/// The CPU users behind a softirq or backlog verdict, where they were measured (`--gap N`,
/// Markdown and JSON always carry them, "not measured" included).
pub(super) fn cpu_lines(g: &GapDiagnosis, indent: &str, out: &mut dyn Write) -> Result<()> {
    let cpu_cause = matches!(
        g.verdict().cause,
        crate::analysis::diagnosis::Cause::SoftirqDelay
            | crate::analysis::diagnosis::Cause::CpuBacklogOverflow
    );
    if cpu_cause && g.evidence.nic_cpu_users.is_some() {
        for l in super::cpu_users::lines(&g.evidence) {
            writeln!(out, "{indent}{}", wrap(&l, 90, &format!("{indent}  ")))?;
        }
    }
    Ok(())
}

/// A peer within `width` columns: without its port when too long, then cut with "…" (a cut
/// port would name another one).
fn short_peer(peer: &str, width: usize) -> String {
    if peer.chars().count() <= width {
        return peer.to_owned();
    }
    let host = peer
        .parse::<std::net::SocketAddr>()
        .map_or_else(|_| peer.to_owned(), |a| a.ip().to_string());
    if host.chars().count() <= width {
        return host;
    }
    let mut cut: String = host.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// One gap's row: number, source, peer, onset, end, length, cause, confidence.
pub(super) fn gap_row(
    s: &RecordingSummary,
    g: &GapDiagnosis,
    st: Style,
    out: &mut dyn Write,
) -> Result<()> {
    let f = g.verdict();
    let spec: String = g.source_spec.chars().take(17).collect();
    let peer = short_peer(g.gap.peer.as_deref().unwrap_or("-"), 15);
    // Pad the visible cause name, not the escape codes around it.
    let pad = 22usize.saturating_sub(f.cause.as_str().len());
    writeln!(
        out,
        "  gap {:>3} {:<17} {:<15} {:>7} → {:>7} {:>7}  {}{:pad$} {:>4}",
        g.number,
        spec,
        peer,
        rel(s, onset(g)),
        if g.gap.open {
            "open".to_owned()
        } else {
            rel(s, g.gap.end_mono_ns)
        },
        ns(g.gap.length_ns),
        st.cause(g),
        "",
        pct(f.confidence),
    )
}

/// One gap in full: every finding, the flow, the recommendations (for `--gap N`), numbered as
/// in the whole report's list.
pub fn text_gap(
    s: &RecordingSummary,
    d: &Diagnosis,
    g: &GapDiagnosis,
    st: Style,
    out: &mut dyn Write,
) -> Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{} — {}{} from {} to {}{} ({}), detected {}",
        st.bold(&format!(
            "Gap {} of {} (incident {} of {})",
            g.number, d.totals.gaps, g.incident, d.totals.incidents
        )),
        g.source_spec,
        g.gap
            .peer
            .as_deref()
            .map(|p| format!(", peer {p}"))
            .unwrap_or_default(),
        rel(s, onset(g)),
        rel(s, g.gap.end_mono_ns),
        if g.gap.open { " (still open)" } else { "" },
        ns(g.gap.length_ns),
        rel(s, g.gap.detected_mono_ns)
    )?;
    for (i, f) in g.findings.iter().enumerate() {
        writeln!(
            out,
            "  {}. {} ({}): {}",
            i + 1,
            if i == 0 {
                st.cause(g)
            } else {
                f.cause.as_str().to_owned()
            },
            pct(f.confidence),
            wrap(f.cause.phrase(), 80, "       ")
        )?;
        for e in &f.evidence {
            writeln!(out, "       · {}", wrap(e, 88, "         "))?;
        }
    }
    if let Some(fl) = &g.evidence.flow {
        let dropped: Vec<String> = fl.dropped.iter().map(|(r, n)| format!("{n} {r}")).collect();
        writeln!(
            out,
            "  heartbeat packets during the gap: {} seen at the device, {} queued to the socket, {} read, dropped: {}",
            fl.seen_at_device,
            fl.queued_to_socket,
            fl.read_by_app,
            if dropped.is_empty() {
                "none".to_owned()
            } else {
                dropped.join(", ")
            }
        )?;
    }
    if let Some(e) = &g.gap.estimate {
        writeln!(out, "  length estimated from {}", wrap(e, 80, "    "))?;
    }
    for l in super::cpu_users::lines(&g.evidence) {
        writeln!(out, "  {}", wrap(&l, 96, "    "))?;
    }
    let recs = numbered(d, |r| {
        g.recommendations
            .iter()
            .any(|x| x.id == r.id && x.subject == r.subject)
    });
    recommendations(&recs, st, out)
}

/// The report's recommendations that `keep` selects, with their number in the whole list.
pub(super) fn numbered(
    d: &Diagnosis,
    keep: impl Fn(&Recommendation) -> bool,
) -> Vec<(usize, &Recommendation)> {
    d.recommendations
        .iter()
        .enumerate()
        .filter(|(_, r)| keep(r))
        .map(|(i, r)| (i + 1, r))
        .collect()
}

pub(super) fn recommendations(
    recs: &[(usize, &Recommendation)],
    st: Style,
    out: &mut dyn Write,
) -> Result<()> {
    for (i, r) in recs {
        writeln!(
            out,
            "  {}",
            st.bold(&format!("[{i}] {} ({})", r.title, r.id))
        )?;
        writeln!(out, "      why:    {}", wrap(&r.risk, 86, "              "))?;
        for e in &r.evidence {
            let line = format!("{}: {}", e.what, e.value);
            writeln!(out, "              {}", wrap(&line, 84, "                "))?;
        }
        for c in &r.apply {
            writeln!(out, "      now:    {c}")?;
        }
        for p in &r.persist {
            let content = p.content.replace('\n', "; ");
            match &p.file {
                Some(f) => writeln!(out, "      keep:   {} ({f}): {content}", p.mechanism)?,
                None => writeln!(out, "      keep:   {}: {content}", p.mechanism)?,
            }
        }
        if !r.cost.is_empty() {
            writeln!(out, "      risk:   {}", wrap(&r.cost, 86, "              "))?;
        }
        for v in &r.verify {
            writeln!(out, "      verify: {v}")?;
        }
        for u in &r.undo {
            writeln!(out, "      undo:   {u}")?;
        }
    }
    Ok(())
}

/// Recommendations (each once, in the verdict's order), timeout advice, and what was not
/// measured.
pub fn text_bottom(
    s: &RecordingSummary,
    d: &Diagnosis,
    st: Style,
    out: &mut dyn Write,
) -> Result<()> {
    let recs = numbered(d, |_| true);
    if !recs.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            st.bold("Recommendations (nothing is applied; --fix-script writes them as a script)")
        )?;
        recommendations(&recs, st, out)?;
    }
    if !d.timeout_advice.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", st.bold("Heartbeat timeout advice"))?;
        for (src, a) in &d.timeout_advice {
            let spec = crate::analysis::diagnosis::source_spec(s, *src);
            writeln!(
                out,
                "  {}",
                wrap(&format!("{spec}: {}", a.text), 94, "    ")
            )?;
        }
    }
    let nm = not_measured(d);
    writeln!(out)?;
    writeln!(out, "{}", st.bold("Not measured"))?;
    if nm.is_empty() {
        writeln!(
            out,
            "  nothing: every collector ran and no events were lost"
        )?;
    }
    for l in nm {
        writeln!(out, "  {}", wrap(&l, 96, "    "))?;
    }
    super::rejections::render_text(s, out)?;
    Ok(())
}

/// Every recommendation, each id+subject once, in the verdict's order ([1] is the first fix).
pub fn unique_recommendations(d: &Diagnosis) -> Vec<Recommendation> {
    d.recommendations.clone()
}

/// The Markdown report: verdict, incidents, gap details, recommendations, advice, not measured.
pub fn markdown(
    s: &RecordingSummary,
    d: &Diagnosis,
    path: &str,
    out: &mut dyn Write,
) -> Result<()> {
    let h = &s.header;
    writeln!(out, "# hbwatch report: `{path}`")?;
    writeln!(out)?;
    writeln!(
        out,
        "Host `{}`, kernel `{}`, {} CPUs, {:.1} s recorded.",
        h.host,
        h.kernel_release,
        h.cpus,
        s.duration_ns() as f64 / 1e9
    )?;
    writeln!(out)?;
    writeln!(out, "## Verdict")?;
    writeln!(out)?;
    writeln!(out, "{}", verdict(s, d))?;
    if let Some(f) = focus_line(d) {
        writeln!(out)?;
        writeln!(out, "This view: {f}.")?;
    }
    super::incidents::markdown(s, d, out)?;
    if !d.gaps.is_empty() {
        writeln!(out)?;
        writeln!(out, "## Gaps")?;
        writeln!(out)?;
        writeln!(
            out,
            "| # | incident | source | peer | onset | detected | end | length | cause | confidence |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|---|---|---|")?;
        for g in &d.gaps {
            writeln!(
                out,
                "| {} | {} | `{}` | {} | {} | {} | {} | {} | `{}` | {} |",
                g.number,
                g.incident,
                g.source_spec,
                g.gap.peer.as_deref().unwrap_or("-"),
                rel(s, onset(g)),
                rel(s, g.gap.detected_mono_ns),
                if g.gap.open {
                    "open".to_owned()
                } else {
                    rel(s, g.gap.end_mono_ns)
                },
                ns(g.gap.length_ns),
                g.verdict().cause,
                pct(g.verdict().confidence)
            )?;
        }
        for g in &d.gaps {
            writeln!(out)?;
            writeln!(out, "### Gap {}: `{}`", g.number, g.verdict().cause)?;
            writeln!(out)?;
            findings_md(&g.findings, out)?;
            let cu = super::cpu_users::lines(&g.evidence);
            writeln!(out)?;
            writeln!(out, "{}", cu[0].replacen("top", "Top", 1))?;
            if cu.len() > 1 {
                writeln!(out)?;
            }
            for l in &cu[1..] {
                writeln!(out, "- {l}")?;
            }
        }
    }
    if !d.recommendations.is_empty() {
        writeln!(out)?;
        writeln!(out, "## Recommendations")?;
        for (i, r) in d.recommendations.iter().enumerate() {
            writeln!(out)?;
            writeln!(out, "### [{}] {} (`{}`)", i + 1, r.title, r.id)?;
            writeln!(out)?;
            writeln!(out, "{}", r.risk)?;
            writeln!(out)?;
            for e in &r.evidence {
                writeln!(out, "- {}: {}", e.what, e.value)?;
            }
            block(out, "Now", &r.apply)?;
            let keep: Vec<String> = r
                .persist
                .iter()
                .map(|p| match &p.file {
                    Some(f) => format!("# {} ({f})\n{}", p.mechanism, p.content),
                    None => format!("# {}: {}", p.mechanism, p.content),
                })
                .collect();
            block(out, "Persist", &keep)?;
            if !r.cost.is_empty() {
                writeln!(out)?;
                writeln!(out, "Risk: {}", r.cost)?;
            }
            block(out, "Verify", &r.verify)?;
            block(out, "Undo", &r.undo)?;
        }
    }
    if !d.timeout_advice.is_empty() {
        writeln!(out)?;
        writeln!(out, "## Heartbeat timeout advice")?;
        writeln!(out)?;
        for (src, a) in &d.timeout_advice {
            writeln!(
                out,
                "- `{}`: {}",
                crate::analysis::diagnosis::source_spec(s, *src),
                a.text
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "## Not measured")?;
    writeln!(out)?;
    let nm = not_measured(d);
    if nm.is_empty() {
        writeln!(out, "Nothing: every collector ran and no events were lost.")?;
    }
    for l in nm {
        writeln!(out, "- {l}")?;
    }
    writeln!(out)?;
    writeln!(out, "## Details")?;
    writeln!(out)?;
    writeln!(out, "```text")?;
    super::text::render_details(s, !d.gaps.is_empty(), out)?;
    writeln!(out, "```")
}

fn block(out: &mut dyn Write, title: &str, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{title}:")?;
    writeln!(out)?;
    writeln!(out, "```sh")?;
    for l in lines {
        writeln!(out, "{l}")?;
    }
    writeln!(out, "```")
}

/// Ranked findings as a markdown list: cause, confidence, what it means, then the evidence.
pub(super) fn findings_md(
    findings: &[crate::analysis::diagnosis::rules::Finding],
    out: &mut dyn Write,
) -> Result<()> {
    for f in findings {
        writeln!(
            out,
            "- **{}** ({}): {}",
            f.cause,
            pct(f.confidence),
            f.cause.phrase()
        )?;
        for e in &f.evidence {
            writeln!(out, "  - {e}")?;
        }
    }
    Ok(())
}
