//! The `diagnosis` object of the JSON report (shape in docs/report-json.md) and the one-paragraph
//! verdict shared by every format.

use serde::Serialize;

use crate::{
    analysis::{
        RecordingSummary,
        diagnosis::{
            Cause, CauseRank, Diagnosis, FlowFate, Focus, GapDiagnosis, GapEvidence, Incident,
            TimeoutAdvice, Totals, rules::Finding,
        },
        recommendation::Recommendation,
    },
    units::ns,
};

#[derive(Serialize)]
pub struct DiagnosisJson {
    /// The verdict in one or two sentences.
    pub verdict: String,
    /// The cause the verdict's headline names; null without incidents.
    pub top_cause: Option<Cause>,
    /// Causes in the verdict's order (by heartbeat time lost, then incidents).
    pub ranking: Vec<CauseRank>,
    /// Whole-recording counts (kept when `--gap`/`--incident` narrows the view).
    pub totals: Totals,
    /// What `--gap N` / `--incident N` narrowed the view to.
    pub focus: Option<Focus>,
    pub incidents: Vec<IncidentJson>,
    pub gaps: Vec<GapJson>,
    pub timeout_advice: Vec<AdviceJson>,
    /// CPUs found to take the heartbeat flows' receive work.
    pub rx_cpus: Vec<u32>,
    /// What could not be measured: unavailable collectors and lost events.
    pub not_measured: Vec<String>,
}

#[derive(Serialize)]
pub struct IncidentJson {
    pub number: u32,
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub length_ns: u64,
    pub lost_ns: u64,
    pub open: bool,
    pub sources: Vec<String>,
    pub peers: Vec<String>,
    pub gaps: Vec<u32>,
    pub findings: Vec<FindingJson>,
    pub recommendations: Vec<String>,
}

#[derive(Serialize)]
pub struct GapJson {
    pub number: u32,
    /// The incident it belongs to.
    pub incident: u32,
    /// The peer whose heartbeats stopped ("10.0.0.2:5405", a node name), when known.
    pub peer: Option<String>,
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
        top_cause: d.top_cause(),
        ranking: d.ranking.clone(),
        totals: d.totals,
        focus: d.focus,
        incidents: d.incidents.iter().map(incident_json).collect(),
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

fn findings_json(f: &[Finding]) -> Vec<FindingJson> {
    f.iter()
        .map(|f| FindingJson {
            cause: f.cause,
            // Two decimals: stable across platforms and enough to rank by.
            confidence: (f.confidence * 100.0).round() / 100.0,
            evidence: f.evidence.clone(),
        })
        .collect()
}

fn incident_json(i: &Incident) -> IncidentJson {
    IncidentJson {
        number: i.number,
        start_mono_ns: i.start_mono_ns,
        end_mono_ns: i.end_mono_ns,
        length_ns: i.length_ns,
        lost_ns: i.lost_ns,
        open: i.open,
        sources: i.sources.clone(),
        peers: i.peers.clone(),
        gaps: i.gaps.clone(),
        findings: findings_json(&i.findings),
        recommendations: i.recommendations.clone(),
    }
}

fn gap_json(g: &GapDiagnosis) -> GapJson {
    GapJson {
        number: g.number,
        incident: g.incident,
        peer: g.gap.peer.clone(),
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
        findings: findings_json(&g.findings),
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

/// The conclusion in one or two sentences: how many incidents, their main cause, the first fix.
/// Causes are ranked by heartbeat time lost and incidents ([`Diagnosis::ranking`]), never by how
/// many gaps (log lines) an incident made; "first fix" is recommendation [1].
pub fn verdict(s: &RecordingSummary, d: &Diagnosis) -> String {
    if s.heartbeats.is_empty() {
        if let Some(lost) = declarations_lost(s) {
            return lost;
        }
        return "No heartbeat source was watched, so there are no gaps to explain; record again with \
                --heartbeat (e.g. --heartbeat udp:5405) to get a verdict."
            .to_owned();
    }
    let t = &d.totals;
    if t.incidents == 0 {
        return format!(
            "No heartbeat gaps in {:.0} s: heartbeats arrived on time on this host.",
            s.duration_ns() as f64 / 1e9
        );
    }
    let Some(top) = d.ranking.first() else {
        return String::new();
    };
    let mut out = format!(
        "{} incident{} ({} heartbeat gap{}, {} of heartbeat time lost; longest incident {}). ",
        t.incidents,
        plural(t.incidents),
        t.gaps,
        plural(t.gaps),
        ns(t.lost_ns),
        ns(t.longest_incident_ns)
    );
    let share = if top.incidents == t.incidents {
        String::new()
    } else {
        format!(
            " ({} of {} incidents, {} lost)",
            top.incidents,
            t.incidents,
            ns(top.lost_ns)
        )
    };
    if top.cause == Cause::Unknown {
        out.push_str(&if top.incidents == t.incidents {
            "None of them can be explained from what was recorded; see \"Not measured\".".to_owned()
        } else {
            format!(
                "{} of them cannot be explained from what was recorded.",
                top.incidents
            )
        });
    } else {
        out.push_str(&format!(
            "{}{share}: {} ({} confidence).",
            if top.incidents == t.incidents {
                "Cause"
            } else {
                "Most likely cause"
            },
            top.cause.phrase(),
            pct(top.confidence),
        ));
    }
    let others: Vec<String> = d.ranking[1..]
        .iter()
        .map(|r| format!("{} ({}, {})", r.cause, r.incidents, ns(r.lost_ns)))
        .collect();
    if !others.is_empty() {
        out.push_str(&format!(" Other incidents: {}.", others.join(", ")));
    }
    if let Some(r) = d.recommendations.first() {
        out.push_str(&format!(
            " First fix: [1] {}.",
            r.title.trim_end_matches('.')
        ));
    }
    out
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Heartbeat sources were asked for (the recorded command line says so) but their declarations
/// did not survive the recording's damage: say that, not "no source was watched".
fn declarations_lost(s: &RecordingSummary) -> Option<String> {
    let asked = s
        .header
        .command
        .iter()
        .filter(|a| *a == "--heartbeat" || a.starts_with("--heartbeat=") || *a == "--config")
        .count();
    let r = &s.read;
    let damaged = r.corrupt_frames > 0 || r.truncated_tail_bytes > 0;
    (asked > 0).then(|| {
        format!(
            "The recording was made with {asked} heartbeat source option(s) ({}), but no source \
             declaration survived{}: gaps cannot be judged from this file.",
            s.header.command.join(" "),
            if damaged {
                format!(
                    " its damage ({} corrupt frame(s), {} B torn tail)",
                    r.corrupt_frames, r.truncated_tail_bytes
                )
            } else {
                " (the frames that held them are missing)".to_owned()
            }
        )
    })
}

/// The context line of a narrowed view: "gap 3 of 110, in incident 2 of 6".
pub fn focus_line(d: &Diagnosis) -> Option<String> {
    let t = &d.totals;
    match d.focus? {
        Focus::Gap(n) => {
            let inc = d.gaps.first().map_or(0, |g| g.incident);
            Some(format!(
                "gap {n} of {}, in incident {inc} of {}",
                t.gaps, t.incidents
            ))
        }
        Focus::Incident(n) => Some(format!("incident {n} of {}", t.incidents)),
    }
}

pub fn pct(c: f64) -> String {
    format!("{:.0}%", c * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_source_declarations_are_named_not_taken_for_no_source() {
        let mut h = crate::output::export::synthetic::header();
        h.command = ["hbwatch", "record", "--heartbeat", "udp:5405"]
            .map(String::from)
            .to_vec();
        let mut s = RecordingSummary::new(h, (1, 2));
        s.read.corrupt_frames = 3;
        let v = verdict(&s, &Diagnosis::default());
        assert!(v.contains("no source declaration survived"), "{v}");
        assert!(v.contains("3 corrupt frame(s)"), "{v}");
        assert!(!v.contains("No heartbeat source was watched"), "{v}");
        s.header.command = ["hbwatch", "record"].map(String::from).to_vec();
        assert!(verdict(&s, &Diagnosis::default()).starts_with("No heartbeat source was watched"));
    }
}
