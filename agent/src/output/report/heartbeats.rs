//! The heartbeat part of the report: sources with their line, probe and lag figures, and the gaps
//! found, as text and as JSON values.

use std::io::Write;

use serde::Serialize;

use crate::{
    analysis::{
        RecordingSummary,
        gaps::{ClockExcused, Gap, GapKind},
        heartbeats::SourceStats,
    },
    clock,
    output::report::verdict::wrap,
    recording::records::LineCounts,
    units,
};

#[derive(Serialize)]
pub struct HeartbeatsJson {
    pub gap_factor: f64,
    pub sources: Vec<SourceJson>,
    pub gaps: Vec<GapJson>,
    pub clock_excused: Vec<ClockExcused>,
}

#[derive(Serialize)]
pub struct SourceJson {
    pub source: u32,
    pub spec: String,
    pub kind: String,
    pub preset: Option<String>,
    pub expected_interval_ns: Option<u64>,
    pub interval_learned: bool,
    /// How the gap threshold was chosen ("learned from 57 inter-arrivals ...", "given: 100ms").
    pub interval_basis: String,
    /// Peers heard, each followed on its own.
    pub peers: Vec<String>,
    pub arrivals: u64,
    pub events: std::collections::BTreeMap<String, u64>,
    pub lines: LineCounts,
    pub probe_attempts: u64,
    pub probe_failures: u64,
    pub probe_latency_mean_ns: Option<u64>,
    pub probe_latency_max_ns: u64,
    pub log_lag_mean_ns: Option<i64>,
    pub log_lag_max_ns: Option<i64>,
    pub warnings: Vec<WarningJson>,
}

#[derive(Serialize)]
pub struct WarningJson {
    pub at_s: f64,
    pub kind: String,
    pub detail: String,
}

#[derive(Serialize)]
pub struct GapJson {
    pub source: u32,
    pub spec: String,
    #[serde(flatten)]
    pub gap: Gap,
    /// Seconds from the start of the recording.
    pub start_s: f64,
    pub end_s: f64,
    pub detected_s: f64,
    pub onset_estimate_s: Option<f64>,
    /// Wall-clock start, RFC 3339 UTC.
    pub started_at: String,
}

fn rel(s: &RecordingSummary, mono: u64) -> f64 {
    (mono as i64 - s.first_mono_ns as i64) as f64 / 1e9
}

fn spec_of(s: &RecordingSummary, source: u32) -> String {
    s.heartbeats
        .sources
        .get(&source)
        .and_then(|x| x.declared.as_ref())
        .map_or_else(|| format!("#{source}"), |d| d.spec.clone())
}

pub fn json(s: &RecordingSummary) -> HeartbeatsJson {
    let a = s.heartbeats.gaps(s.last_mono_ns);
    let learned = |id: u32| a.sources.iter().find(|x| x.source == id);
    HeartbeatsJson {
        gap_factor: a.gap_factor,
        sources: s
            .heartbeats
            .sources
            .iter()
            .map(|(id, st)| {
                let l = learned(*id);
                let d = st.declared.as_ref();
                SourceJson {
                    source: *id,
                    spec: spec_of(s, *id),
                    kind: d.map(|d| d.kind.clone()).unwrap_or_default(),
                    preset: d.and_then(|d| d.preset.clone()),
                    expected_interval_ns: l.and_then(|l| l.expected_interval_ns),
                    interval_learned: l.is_some_and(|l| l.interval_learned),
                    interval_basis: l.map_or_else(String::new, |l| l.interval_basis.clone()),
                    peers: l.map_or_else(Vec::new, |l| l.peers.clone()),
                    arrivals: l.map_or(0, |l| l.arrivals),
                    // JSON keys in snake_case, like every other name in the report.
                    events: st
                        .events
                        .iter()
                        .map(|(k, v)| (k.replace('-', "_"), *v))
                        .collect(),
                    lines: st.lines.clone(),
                    probe_attempts: st.probe_attempts,
                    probe_failures: st.probe_failures,
                    probe_latency_mean_ns: st.mean_probe_latency_ns(),
                    probe_latency_max_ns: st.probe_latency_max_ns,
                    log_lag_mean_ns: st.mean_log_lag_ns(),
                    log_lag_max_ns: st.log_lag_max_ns,
                    warnings: st
                        .warnings
                        .iter()
                        .map(|w| WarningJson {
                            at_s: rel(s, w.at_mono_ns),
                            kind: format!("{:?}", w.kind).to_lowercase(),
                            detail: w.detail.clone(),
                        })
                        .collect(),
                }
            })
            .collect(),
        gaps: a
            .gaps
            .iter()
            .map(|g| GapJson {
                source: g.source,
                spec: spec_of(s, g.source),
                start_s: rel(s, g.start_mono_ns),
                end_s: rel(s, g.end_mono_ns),
                detected_s: rel(s, g.detected_mono_ns),
                onset_estimate_s: g.onset_estimate_mono_ns.map(|o| rel(s, o)),
                started_at: clock::rfc3339(s.realtime_of(g.start_mono_ns)),
                gap: g.clone(),
            })
            .collect(),
        clock_excused: a.clock_excused,
    }
}

fn source_line(
    out: &mut dyn Write,
    s: &RecordingSummary,
    a: &crate::analysis::GapAnalysis,
    id: u32,
    st: &SourceStats,
) -> std::io::Result<()> {
    let d = st.declared.as_ref();
    let row = a.sources.iter().find(|x| x.source == id);
    let iv = row.and_then(|x| x.expected_interval_ns.map(|i| (i, x.interval_learned)));
    let iv = match iv {
        Some((i, true)) => format!("interval {} (learned)", units::ns(i)),
        Some((i, false)) => format!("interval {}", units::ns(i)),
        None => "interval unknown".to_owned(),
    };
    let preset = d
        .and_then(|d| d.preset.as_deref())
        .map(|p| format!(" · preset {p}"))
        .unwrap_or_default();
    writeln!(out, "  #{id} {}{preset} · {iv}", spec_of(s, id))?;
    if let Some(r) = row.filter(|r| !r.interval_basis.is_empty()) {
        writeln!(
            out,
            "     threshold: {}",
            wrap(&r.interval_basis, 84, "       ")
        )?;
        if r.peers.len() > 1 {
            writeln!(
                out,
                "     peers, each followed on its own: {}",
                wrap(&r.peers.join(", "), 60, "       ")
            )?;
        }
    }
    let mut parts: Vec<String> = st.events.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let l = &st.lines;
    if l.lines > 0 {
        parts.push(format!(
            "lines {} (matched {}, cut {}, bad UTF-8 {}, bad stamps {})",
            units::count(l.lines),
            l.matched,
            l.long_lines_cut,
            l.invalid_utf8,
            l.bad_timestamps
        ));
    }
    if st.probe_attempts > 0 {
        parts.push(format!(
            "probes {} ({} failed) latency mean {} max {}",
            st.probe_attempts,
            st.probe_failures,
            st.mean_probe_latency_ns().map_or("-".into(), units::ns),
            units::ns(st.probe_latency_max_ns)
        ));
    }
    if let (Some(mean), Some(max)) = (st.mean_log_lag_ns(), st.log_lag_max_ns) {
        parts.push(format!(
            "log lag mean {} max {}",
            signed_ns(mean),
            signed_ns(max)
        ));
    }
    if !parts.is_empty() {
        writeln!(out, "     {}", parts.join(" · "))?;
    }
    for w in &st.warnings {
        writeln!(
            out,
            "     WARNING {:?} at +{:.1} s: {}",
            w.kind,
            rel(s, w.at_mono_ns),
            w.detail
        )?;
    }
    Ok(())
}

fn signed_ns(v: i64) -> String {
    if v < 0 {
        format!("-{}", units::ns(v.unsigned_abs()))
    } else {
        units::ns(v as u64)
    }
}

/// The heartbeat section. `judged`: the gaps were listed with the incidents at the top of the
/// report, so here they are only counted.
pub fn text(s: &RecordingSummary, judged: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let hb = &s.heartbeats;
    if hb.is_empty() {
        return Ok(());
    }
    let a = hb.gaps(s.last_mono_ns);
    writeln!(out)?;
    writeln!(out, "Heartbeat sources")?;
    for (id, st) in &hb.sources {
        source_line(out, s, &a, *id, st)?;
    }
    writeln!(out)?;
    if judged && !a.gaps.is_empty() {
        writeln!(
            out,
            "Heartbeat gaps: {} (silence > {} × interval), listed with the incidents above; \
             --gap N shows one",
            a.gaps.len(),
            a.gap_factor
        )?;
    } else if a.gaps.is_empty() {
        writeln!(
            out,
            "Heartbeat gaps: none (silence > {} × interval)",
            a.gap_factor
        )?;
    } else {
        writeln!(
            out,
            "Heartbeat gaps ({}; silence > {} × interval; times from recording start)",
            a.gaps.len(),
            a.gap_factor
        )?;
        writeln!(
            out,
            "  {:<4} {:<12} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "src", "kind", "start", "end", "length", "detected", "onset≈",
        )?;
        for g in &a.gaps {
            let kind = match g.kind {
                GapKind::Silence if g.open => "silence…",
                GapKind::Silence => "silence",
                GapKind::PeerSilence => "peer-silence",
                GapKind::SelfStall => "self-stall",
            };
            writeln!(
                out,
                // Peer and wall clock on their own line: the row stays within 100 columns.
                "  #{:<3} {:<12} {:>+9.3}s {:>+9.3}s {:>10} {:>+9.3}s {:>10}\n       {}{}",
                g.source,
                kind,
                rel(s, g.start_mono_ns),
                rel(s, g.end_mono_ns),
                units::ns(g.length_ns),
                rel(s, g.detected_mono_ns),
                g.onset_estimate_mono_ns
                    .map_or("-".to_owned(), |o| format!("{:+.3}s", rel(s, o))),
                g.peer
                    .as_deref()
                    .map(|p| format!("{p} · "))
                    .unwrap_or_default(),
                clock::display_realtime(s.realtime_of(g.start_mono_ns)),
            )?;
        }
    }
    for c in &a.clock_excused {
        writeln!(
            out,
            "  not a gap: #{} silent +{:.3}s → +{:.3}s across a wall-clock step{}",
            c.source,
            rel(s, c.start_mono_ns),
            rel(s, c.end_mono_ns),
            c.step_ns
                .map_or(String::new(), |st| format!(" of {:+} ms", st / 1_000_000))
        )?;
    }
    for e in hb.notable.iter().take(20) {
        writeln!(
            out,
            "  line #{} {:?}: {}",
            e.source,
            e.kind,
            e.line.trim_end()
        )?;
    }
    Ok(())
}
