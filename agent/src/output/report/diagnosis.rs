//! The `diagnosis` object of the JSON report (shape in docs/report-json.md) and the one-paragraph
//! verdict shared by every format.

use serde::Serialize;

use crate::{
    analysis::{
        RecordingSummary,
        diagnosis::{Cause, Diagnosis, FlowFate, GapDiagnosis, GapEvidence, TimeoutAdvice},
        recommendation::Recommendation,
    },
    output::units::ns,
};

#[derive(Serialize)]
pub struct DiagnosisJson {
    /// The verdict in one or two sentences.
    pub verdict: String,
    pub gaps: Vec<GapJson>,
    pub timeout_advice: Vec<AdviceJson>,
    /// CPUs found to take the heartbeat flows' receive work.
    pub rx_cpus: Vec<u32>,
    /// What could not be measured: unavailable collectors and lost events.
    pub not_measured: Vec<String>,
}

#[derive(Serialize)]
pub struct GapJson {
    pub number: u32,
    pub source: u32,
    pub source_spec: String,
    pub kind: crate::analysis::gaps::GapKind,
    pub open: bool,
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub length_ns: u64,
    pub onset_mono_ns: u64,
    pub detected_mono_ns: u64,
    pub expected_interval_ns: Option<u64>,
    pub findings: Vec<FindingJson>,
    pub flow: Option<FlowFate>,
    pub evidence: GapEvidence,
    pub recommendations: Vec<Recommendation>,
}

#[derive(Serialize)]
pub struct FindingJson {
    pub cause: Cause,
    pub confidence: f64,
    pub evidence: Vec<String>,
}

#[derive(Serialize)]
pub struct AdviceJson {
    pub source: u32,
    pub source_spec: String,
    #[serde(flatten)]
    pub advice: TimeoutAdvice,
}

pub fn json(s: &RecordingSummary, d: &Diagnosis) -> DiagnosisJson {
    DiagnosisJson {
        verdict: verdict(s, d),
        gaps: d.gaps.iter().map(gap_json).collect(),
        timeout_advice: d
            .timeout_advice
            .iter()
            .map(|(src, a)| AdviceJson {
                source: *src,
                source_spec: crate::analysis::diagnosis::source_spec(s, *src),
                advice: a.clone(),
            })
            .collect(),
        rx_cpus: d.rx_cpus.clone(),
        not_measured: not_measured(d),
    }
}

fn gap_json(g: &GapDiagnosis) -> GapJson {
    GapJson {
        number: g.number,
        source: g.gap.source,
        source_spec: g.source_spec.clone(),
        kind: g.gap.kind,
        open: g.gap.open,
        start_mono_ns: g.gap.start_mono_ns,
        end_mono_ns: g.gap.end_mono_ns,
        length_ns: g.gap.length_ns,
        onset_mono_ns: onset(g),
        detected_mono_ns: g.gap.detected_mono_ns,
        expected_interval_ns: g.gap.expected_interval_ns,
        findings: g
            .findings
            .iter()
            .map(|f| FindingJson {
                cause: f.cause,
                // Two decimals: stable across platforms and enough to rank by.
                confidence: (f.confidence * 100.0).round() / 100.0,
                evidence: f.evidence.clone(),
            })
            .collect(),
        flow: g.evidence.flow.clone(),
        evidence: g.evidence.clone(),
        recommendations: g.recommendations.clone(),
    }
}

pub fn onset(g: &GapDiagnosis) -> u64 {
    g.gap.onset_estimate_mono_ns.unwrap_or(g.gap.start_mono_ns)
}

/// Unavailable collectors and lost events, one line each.
pub fn not_measured(d: &Diagnosis) -> Vec<String> {
    let mut v = d.unavailable.clone();
    if d.lost_events > 0 {
        v.push(format!(
            "{} event(s) were lost (ring buffer full or unreadable): evidence may be missing",
            d.lost_events
        ));
    }
    v
}

/// The conclusion in one or two sentences: what happened and what to do first.
pub fn verdict(s: &RecordingSummary, d: &Diagnosis) -> String {
    if s.heartbeats.is_empty() {
        return "No heartbeat source was watched, so there are no gaps to explain; record again with \
                --heartbeat (e.g. --heartbeat udp:5405) to get a verdict."
            .to_owned();
    }
    if d.gaps.is_empty() {
        return format!(
            "No heartbeat gaps in {:.0} s: heartbeats arrived on time on this host.",
            s.duration_ns() as f64 / 1e9
        );
    }
    // The cause behind most gaps (ties: the more confident).
    let mut by: std::collections::BTreeMap<Cause, (usize, f64)> = Default::default();
    for g in &d.gaps {
        let f = g.verdict();
        let e = by.entry(f.cause).or_default();
        e.0 += 1;
        e.1 = e.1.max(f.confidence);
    }
    let (cause, (n, conf)) = by
        .iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(a.1.1.total_cmp(&b.1.1)))
        .map(|(c, v)| (*c, *v))
        .unwrap_or((Cause::Unknown, (0, 0.0)));
    let total = d.gaps.len();
    let longest = d.gaps.iter().map(|g| g.gap.length_ns).max().unwrap_or(0);
    let mut out = format!(
        "{total} heartbeat gap{} (longest {}). ",
        if total == 1 { "" } else { "s" },
        ns(longest)
    );
    if cause == Cause::Unknown {
        out.push_str(&if n == total {
            "None of them can be explained from what was recorded; see \"Not measured\".".to_owned()
        } else {
            format!("{n} of them cannot be explained from what was recorded.")
        });
    } else {
        out.push_str(&format!(
            "{}: {} ({} confidence).",
            if n == total {
                "Cause".to_owned()
            } else {
                format!("Most likely cause ({n} of {total})")
            },
            cause.phrase(),
            pct(conf),
        ));
    }
    let others: Vec<String> = by
        .iter()
        .filter(|(c, _)| **c != cause)
        .map(|(c, (k, _))| format!("{c} ({k})"))
        .collect();
    if !others.is_empty() {
        out.push_str(&format!(" Other gaps: {}.", others.join(", ")));
    }
    let first = d
        .gaps
        .iter()
        .find(|g| g.verdict().cause == cause)
        .and_then(|g| g.recommendations.first());
    if let Some(r) = first {
        out.push_str(&format!(" First fix: {}.", r.title.trim_end_matches('.')));
    }
    out
}

pub fn pct(c: f64) -> String {
    format!("{:.0}%", c * 100.0)
}
