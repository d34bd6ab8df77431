//! The text report, readable at 100 columns.

use std::io::Write;

use super::verdict::{self, Style};
use crate::{
    analysis::{Distribution, RecordingSummary, SoftirqAgg, diagnosis::Diagnosis},
    clock,
    recording::records::CollectorState,
    units,
};

/// The whole text report: run facts, verdict and gap timeline, detail sections, recommendations.
pub fn render(
    s: &RecordingSummary,
    d: &Diagnosis,
    path: &str,
    st: Style,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    render_header(s, path, out)?;
    verdict::text_top(s, d, st, out)?;
    render_details(s, !d.gaps.is_empty(), out)?;
    verdict::text_bottom(s, d, st, out)
}

/// The run facts: host, NICs, damage, collectors, lost events, clock steps.
pub fn render_header(s: &RecordingSummary, path: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let h = &s.header;
    writeln!(out, "hbwatch report: {path}")?;
    writeln!(
        out,
        "host {} · kernel {} · {} CPUs · started {} · {:.1} s{}",
        h.host,
        h.kernel_release,
        h.cpus,
        clock::display_realtime(h.anchor.realtime_ns),
        s.duration_ns() as f64 / 1e9,
        if s.stop.is_some() {
            ""
        } else {
            " · recorder did not stop cleanly"
        }
    )?;
    let nics: Vec<String> = h
        .nics
        .iter()
        .map(|n| {
            format!(
                "{} ({}, {} rx queue{})",
                n.name,
                n.driver.as_deref().unwrap_or("?"),
                n.rx_queues,
                if n.rx_queues == 1 { "" } else { "s" }
            )
        })
        .collect();
    if !nics.is_empty() {
        writeln!(out, "NICs: {}", nics.join(", "))?;
    }
    if let Some(m) = &s.rx_model {
        writeln!(out, "receive model: {}", m.describe())?;
    }
    if let Some(n) = &s.scope {
        writeln!(
            out,
            "scope: network namespace {} (inode {}): its devices, sockets, drops, NAPI and watched \
             flows; softirq, CPU and scheduling evidence is host-wide (shared)",
            n.spec, n.inode
        )?;
    }
    let r = &s.read;
    if r.corrupt_frames + r.truncated_tail_bytes + r.unknown_records > 0 {
        writeln!(
            out,
            "recording damage: {} corrupt frame(s) skipped ({} B), {} B torn tail, {} unknown record(s)",
            r.corrupt_frames, r.skipped_bytes, r.truncated_tail_bytes, r.unknown_records
        )?;
    }
    // Running collectors are listed by name only; the others with what went wrong.
    let running: Vec<&str> = s
        .collectors
        .values()
        .filter(|c| c.state == CollectorState::Running)
        .map(|c| c.collector.as_str())
        .collect();
    if !running.is_empty() {
        // Wrapped to stay within 100 columns.
        let mut line = String::from("collectors running:");
        for (i, name) in running.iter().enumerate() {
            let piece = if i + 1 < running.len() {
                format!(" {name},")
            } else {
                format!(" {name}")
            };
            if line.chars().count() + piece.chars().count() > 100 {
                writeln!(out, "{line}")?;
                line = String::from(" ");
            }
            line.push_str(&piece);
        }
        writeln!(out, "{line}")?;
    }
    for c in s
        .collectors
        .values()
        .filter(|c| c.state != CollectorState::Running)
    {
        writeln!(
            out,
            "collector {}: {:?} — {}",
            c.collector, c.state, c.detail
        )?;
    }
    if s.lost.is_empty() {
        writeln!(out, "lost events: none")?;
    } else {
        let parts: Vec<String> = s.lost.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(out, "LOST EVENTS: {}", parts.join(", "))?;
    }
    for st in &s.clock_steps {
        writeln!(
            out,
            "wall clock stepped {:+} ms at +{:.1} s",
            st.step_ns / 1_000_000,
            (st.at_mono_ns.saturating_sub(s.first_mono_ns)) as f64 / 1e9
        )?;
    }
    Ok(())
}

/// Latency tables, scheduling, packet path and heartbeat sources.
/// `judged`: the gaps were listed with the incidents above, so the heartbeat section does not
/// repeat them.
pub fn render_details(
    s: &RecordingSummary,
    judged: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "Softirq latency by vector (wait = raise→entry, run = entry→exit; ≤ bucket bound)"
    )?;
    header(out, "vector")?;
    let by_vector = s.latency.by_vector();
    for (v, a) in &by_vector {
        row(out, &s.vector_name(*v), a.entries, a)?;
    }
    for (v, a) in by_vector.iter().filter(|(_, a)| a.untimed() > 0) {
        writeln!(
            out,
            "{} latency sampled: {:.1} % of {} softirqs timed (the rest over the per-tick \
             budget: counted only)",
            s.vector_name(*v),
            100.0 * (a.entries - a.untimed()) as f64 / a.entries as f64,
            units::count(a.entries),
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Per CPU")?;
    header(out, "cpu vector")?;
    for ((cpu, v), a) in &s.latency.cells {
        row(
            out,
            &format!("{cpu:>3} {}", s.vector_name(*v)),
            a.entries,
            a,
        )?;
    }
    super::ksched::render_text(s, out)?;
    super::packet::render(&s.packet, &|t| super::at(s, t), out)?;
    super::heartbeats::text(s, judged, out)
}

fn header(out: &mut dyn Write, first: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "{first:<12} {:>7} {:>6} │ {:>8} {:>8} {:>8} {:>8} │ {:>8} {:>8} {:>8}",
        "count", "ksoft", "wait p50", "p99", "p99.9", "max", "run p50", "p99", "max"
    )
}

fn row(out: &mut dyn Write, name: &str, count: u64, a: &SoftirqAgg) -> std::io::Result<()> {
    let w = a.wait.distribution();
    let r = a.run.distribution();
    writeln!(
        out,
        "{name:<12} {:>7} {:>6} │ {:>8} {:>8} {:>8} {:>8} │ {:>8} {:>8} {:>8}",
        units::count(count),
        units::count(a.ksoftirqd_entries),
        units::ns(w.p50_ns),
        units::ns(w.p99_ns),
        units::ns(w.p999_ns),
        max(&w),
        units::ns(r.p50_ns),
        units::ns(r.p99_ns),
        max(&r),
    )
}

fn max(d: &Distribution) -> String {
    if d.max_exact {
        units::ns(d.max_ns)
    } else {
        format!("≤{}", units::ns(d.max_ns))
    }
}
